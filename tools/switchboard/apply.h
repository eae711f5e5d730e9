// Reading a routing config argument and sending it with ConfigService.ApplyConfig: shared by
// `switchboard apply` and `switchboard up`. Main thread only.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"
#include "routing/config/routing_config.h"
#include "switchboard/routing/v1/routing_service.pb.h"
#include "switchboard/rpc.h"

namespace sb::cli {

// Parses FILE, or stdin for "-" (named "<stdin>" in errors). Errors read
// "file:line: field.path: what is wrong".
absl::StatusOr<routing::config::RoutingConfig> ReadConfigArgument(const std::string& file);

// ApplyConfig of every queue and agent of `config`, in file order, to `tenant`.
grpc::Status ApplyConfig(ServerSet& servers, const std::string& tenant,
                         const routing::config::RoutingConfig& config, bool dry_run,
                         ::switchboard::routing::v1::ApplyConfigResponse* response);

}  // namespace sb::cli
