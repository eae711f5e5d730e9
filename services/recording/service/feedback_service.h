// FeedbackServiceImpl: the gRPC FeedbackService of sb-recording (docs/reviews.md, "Customer
// feedback"): CSAT 1-5 with a comment, attached to the interaction with its wait time, classified
// by the QA core (queue or agent?), stored, and a LOW_CSAT review opened when the core says so.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "recording/core/qa_config.h"
#include "recording/service/review_intake.h"
#include "recording/storage/store.h"
#include "switchboard/recording/v1/recording.grpc.pb.h"

namespace sb::recording {

// FeedbackServiceImpl
//
// Idempotent by feedback_id (default "<interaction_id>/csat"): the same feedback again returns
// the stored one and opens nothing new; different content under the same id is ALREADY_EXISTS.
// The request carries no principal (it comes from the customer-facing survey edge). A feedback
// for an interaction the service has not seen is stored without agent or wait (cause UNKNOWN or
// QUEUE by its comment) and opens no review (there is no agent to review).
//
// Thread safety: a synchronous gRPC service, handlers run concurrently; the store, config and
// sink are borrowed and must outlive it. `now_ms` defaults to the system clock.
class FeedbackServiceImpl final : public switchboard::recording::v1::FeedbackService::Service {
 public:
  FeedbackServiceImpl(storage::RecordingStore* store, const qa::QaConfig* config,
                      ReviewEventSink* sink, std::function<int64_t()> now_ms = nullptr);

  grpc::Status SubmitFeedback(grpc::ServerContext* context,
                              const switchboard::recording::v1::SubmitFeedbackRequest* request,
                              switchboard::recording::v1::Feedback* response) override;

  absl::StatusOr<switchboard::recording::v1::Feedback> Submit(
      const switchboard::recording::v1::SubmitFeedbackRequest& request);

 private:
  storage::RecordingStore* store_;
  const qa::QaConfig* config_;
  ReviewEventSink* sink_;
  std::function<int64_t()> now_ms_;
};

}  // namespace sb::recording
