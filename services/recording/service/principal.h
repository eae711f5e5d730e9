// The caller of a ReviewService/FeedbackService request, from the proto Principal that rides on
// every request (authentication comes later), and the absl -> gRPC status mapping the handlers
// use. Pure functions; any thread.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/status.h"
#include "recording/core/access.h"
#include "switchboard/recording/v1/recording.pb.h"

namespace sb::recording {

// ToPrincipal
//
// The principal of a request of `tenant`. UNAUTHENTICATED "NO_PRINCIPAL: ..." when the request
// has no principal, no subject or no tenant; INVALID_ARGUMENT "BAD_ROLE: ..." for a role other
// than agent, supervisor, qa_reviewer, admin.
absl::StatusOr<qa::Principal> ToPrincipal(const std::string& tenant,
                                          const switchboard::recording::v1::Principal& principal);

// The same code (absl codes map 1:1 to gRPC codes) and message: the stable reason stays first.
grpc::Status ToGrpc(const absl::Status& status);

}  // namespace sb::recording
