// ReviewServiceImpl: the gRPC ReviewService of sb-recording (docs/reviews.md). Thin handlers over
// the QA core (services/recording/core: roles, workflow, scoring, calibration, coaching, sampling)
// and the RecordingStore: validate -> principal -> core check/transition -> one store transaction
// -> tell the sink -> map back.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "recording/core/form.h"
#include "recording/core/qa_config.h"
#include "recording/service/review_intake.h"
#include "recording/storage/store.h"
#include "switchboard/recording/v1/recording.grpc.pb.h"

namespace sb::recording {

// ReviewServiceImpl
//
// Every RPC checks the principal's role with the core's access rules and answers with the
// canonical gRPC code and the stable reason first in the message (PERMISSION_DENIED "NOT_OWN:
// ...", FAILED_PRECONDITION "INVALID_TRANSITION: ...", INVALID_ARGUMENT "MISSING_ANSWER: ...").
// Each change is one store transaction, so a refused request changes nothing. The sink hears of
// every review created or moved to a new state, after the commit.
//
// Thread safety: a synchronous gRPC service; handlers run concurrently on gRPC's threads and
// share nothing but the (thread-safe) store, the immutable config and the sink. The store, config
// and sink are borrowed and must outlive the service. `now_ms` (default: the system clock) is the
// only clock read; tests pass a fake.
class ReviewServiceImpl final : public switchboard::recording::v1::ReviewService::Service {
 public:
  ReviewServiceImpl(storage::RecordingStore* store, const qa::QaConfig* config,
                    ReviewEventSink* sink, std::function<int64_t()> now_ms = nullptr);

  grpc::Status ListReviews(grpc::ServerContext* context,
                           const switchboard::recording::v1::ListReviewsRequest* request,
                           switchboard::recording::v1::ListReviewsResponse* response) override;
  grpc::Status GetReview(grpc::ServerContext* context,
                         const switchboard::recording::v1::GetReviewRequest* request,
                         switchboard::recording::v1::ReviewDetail* response) override;
  grpc::Status FlagInteraction(grpc::ServerContext* context,
                               const switchboard::recording::v1::FlagInteractionRequest* request,
                               switchboard::recording::v1::Review* response) override;
  grpc::Status SubmitEvaluation(grpc::ServerContext* context,
                                const switchboard::recording::v1::SubmitEvaluationRequest* request,
                                switchboard::recording::v1::Evaluation* response) override;
  grpc::Status Acknowledge(grpc::ServerContext* context,
                           const switchboard::recording::v1::ReviewActionRequest* request,
                           switchboard::recording::v1::Review* response) override;
  grpc::Status Dispute(grpc::ServerContext* context,
                       const switchboard::recording::v1::ReviewActionRequest* request,
                       switchboard::recording::v1::Review* response) override;
  grpc::Status ResolveDispute(grpc::ServerContext* context,
                              const switchboard::recording::v1::ResolveDisputeRequest* request,
                              switchboard::recording::v1::Review* response) override;
  grpc::Status GetCalibration(grpc::ServerContext* context,
                              const switchboard::recording::v1::GetCalibrationRequest* request,
                              switchboard::recording::v1::CalibrationReport* response) override;
  grpc::Status ListCoachingTasks(
      grpc::ServerContext* context,
      const switchboard::recording::v1::ListCoachingTasksRequest* request,
      switchboard::recording::v1::ListCoachingTasksResponse* response) override;
  grpc::Status PutForm(grpc::ServerContext* context,
                       const switchboard::recording::v1::PutFormRequest* request,
                       switchboard::recording::v1::Form* response) override;
  grpc::Status GetForm(grpc::ServerContext* context,
                       const switchboard::recording::v1::GetFormRequest* request,
                       switchboard::recording::v1::Form* response) override;
  grpc::Status RunWeeklySample(
      grpc::ServerContext* context,
      const switchboard::recording::v1::RunWeeklySampleRequest* request,
      switchboard::recording::v1::RunWeeklySampleResponse* response) override;

  // The evaluation form `form_id` at `version` (0: the latest) of the tenant, falling back to the
  // compiled-in default form (qa::DefaultForm()) when the store has none with that id. NOT_FOUND
  // "FORM_NOT_FOUND: ..." otherwise.
  absl::StatusOr<qa::Form> LoadForm(const std::string& tenant, const std::string& form_id,
                                    int32_t version);

 private:
  using v1Review = switchboard::recording::v1::Review;

  absl::StatusOr<switchboard::recording::v1::ListReviewsResponse> DoListReviews(
      const switchboard::recording::v1::ListReviewsRequest& request);
  absl::StatusOr<switchboard::recording::v1::ReviewDetail> DoGetReview(
      const switchboard::recording::v1::GetReviewRequest& request);
  absl::StatusOr<v1Review> DoFlag(
      const switchboard::recording::v1::FlagInteractionRequest& request);
  absl::StatusOr<switchboard::recording::v1::Evaluation> DoSubmit(
      const switchboard::recording::v1::SubmitEvaluationRequest& request);
  absl::StatusOr<v1Review> DoRespond(const switchboard::recording::v1::ReviewActionRequest& request,
                                     bool dispute);
  absl::StatusOr<v1Review> DoResolve(
      const switchboard::recording::v1::ResolveDisputeRequest& request);
  absl::StatusOr<switchboard::recording::v1::CalibrationReport> DoCalibration(
      const switchboard::recording::v1::GetCalibrationRequest& request);
  absl::StatusOr<switchboard::recording::v1::ListCoachingTasksResponse> DoListCoaching(
      const switchboard::recording::v1::ListCoachingTasksRequest& request);
  absl::StatusOr<switchboard::recording::v1::Form> DoPutForm(
      const switchboard::recording::v1::PutFormRequest& request);
  absl::StatusOr<switchboard::recording::v1::Form> DoGetForm(
      const switchboard::recording::v1::GetFormRequest& request);
  absl::StatusOr<switchboard::recording::v1::RunWeeklySampleResponse> DoWeeklySample(
      const switchboard::recording::v1::RunWeeklySampleRequest& request);

  void Publish(const v1Review& review);

  storage::RecordingStore* store_;
  const qa::QaConfig* config_;
  ReviewEventSink* sink_;
  std::function<int64_t()> now_ms_;
};

}  // namespace sb::recording
