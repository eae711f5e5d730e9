#include "recording/service/feedback_service.h"

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "recording/core/feedback.h"
#include "recording/core/qa_common.h"
#include "recording/core/triggers.h"
#include "recording/service/principal.h"
#include "recording/service/review_records.h"

namespace sb::recording {

namespace v1 = ::switchboard::recording::v1;

FeedbackServiceImpl::FeedbackServiceImpl(storage::RecordingStore* store, const qa::QaConfig* config,
                                         ReviewEventSink* sink, std::function<int64_t()> now_ms)
    : store_(store),
      config_(config),
      sink_(sink),
      now_ms_(now_ms ? std::move(now_ms) : std::function<int64_t()>(SystemNowMs)) {}

absl::StatusOr<v1::Feedback> FeedbackServiceImpl::Submit(const v1::SubmitFeedbackRequest& req) {
  if (req.tenant_id().empty()) {
    return qa::InvalidArgument("MISSING_FIELD", "tenant_id: required");
  }
  if (req.interaction_id().empty()) {
    return qa::InvalidArgument("MISSING_FIELD", "interaction_id: required");
  }
  const std::string& tenant = req.tenant_id();
  const std::string feedback_id =
      req.feedback_id().empty() ? absl::StrCat(req.interaction_id(), "/csat") : req.feedback_id();
  // The interaction as the routing events described it.
  storage::InteractionRecord ix;
  if (auto found = store_->GetInteraction(tenant, req.interaction_id()); found.ok()) {
    ix = *std::move(found);
  } else if (found.status().code() != absl::StatusCode::kNotFound) {
    return found.status();
  }
  const qa::QaSettings& settings = config_->For(tenant, ix.queue_id);
  qa::Feedback fb;
  fb.tenant = tenant;
  fb.feedback_id = feedback_id;
  fb.interaction_id = req.interaction_id();
  fb.agent_id = ix.agent_id;
  fb.team = ix.team_id;
  fb.queue = ix.queue_id;
  fb.csat = req.csat();
  fb.comment = req.comment();
  fb.received_at_ms = now_ms_();
  if (ix.wait_ms >= 0) {
    fb.wait_ms = ix.wait_ms;
  } else if (ix.enqueued_at_ms > 0 && ix.connected_at_ms >= ix.enqueued_at_ms) {
    fb.wait_ms = ix.connected_at_ms - ix.enqueued_at_ms;
  }
  if (!ix.queue_id.empty()) fb.queue_target_ms = settings.feedback.default_queue_target_ms;
  // Validates (CSAT 1..5, comment length, ids), classifies, and builds the review if any.
  auto outcome = qa::ReviewForFeedback(fb, settings.feedback);
  if (!outcome.ok()) return outcome.status();

  storage::Feedback row;
  row.id = feedback_id;
  row.tenant_id = tenant;
  row.interaction_id = req.interaction_id();
  row.agent_id = ix.agent_id;
  row.queue_id = ix.queue_id;
  row.customer_id = ix.customer_id;
  row.csat = req.csat();
  row.comment = req.comment();
  row.wait_ms = fb.wait_ms.value_or(0);
  row.at_ms = fb.received_at_ms;

  std::optional<v1::Review> opened;
  std::string review_id;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    opened.reset();
    review_id.clear();
    // A repeat (same id) returns what was stored; its receive time differs, so look first.
    auto existing = tx.ListFeedbackByInteraction(tenant, req.interaction_id());
    if (!existing.ok()) return existing.status();
    for (const storage::Feedback& f : *existing) {
      if (f.id != feedback_id) continue;
      if (f.csat != row.csat || f.comment != row.comment) {
        return absl::AlreadyExistsError(absl::StrCat("ALREADY_EXISTS: feedback '", feedback_id,
                                                     "' exists with a different score or "
                                                     "comment"));
      }
      row = f;
    }
    if (row.at_ms == fb.received_at_ms) {
      auto created = tx.CreateFeedback(row);
      if (!created.ok()) return created.status();
    }
    if (outcome->review) {
      auto review = CreateReviewFromSpec(tx, *outcome->review, /*flagged_by_agent=*/false);
      if (!review.ok()) return review.status();
      review_id = review->value.id;
      if (review->created) {
        auto details = tx.GetReviewDetails(tenant, review_id);
        if (!details.ok()) return details.status();
        opened = ToProto(review->value, &*details);
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (opened && sink_ != nullptr) sink_->ReviewChanged(*opened);

  v1::Feedback out;
  out.set_feedback_id(row.id);
  out.set_interaction_id(row.interaction_id);
  out.set_agent_id(row.agent_id);
  out.set_queue_id(row.queue_id);
  out.set_csat(row.csat);
  out.set_comment(row.comment);
  out.set_wait_ms(row.wait_ms);
  out.set_cause(qa::FeedbackCauseName(outcome->classification.cause));
  out.set_review_id(review_id);
  return out;
}

grpc::Status FeedbackServiceImpl::SubmitFeedback(grpc::ServerContext*,
                                                 const v1::SubmitFeedbackRequest* request,
                                                 v1::Feedback* response) {
  auto result = Submit(*request);
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace sb::recording
