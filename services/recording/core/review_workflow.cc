#include "recording/core/review_workflow.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

ReviewState FromState(ReviewAction action) {
  return action == ReviewAction::kSubmit    ? ReviewState::kOpen
         : action == ReviewAction::kResolve ? ReviewState::kDisputed
                                            : ReviewState::kSubmitted;
}

absl::Status Permission(ReviewAction action, const Review& review, const Principal& p) {
  switch (action) {
    case ReviewAction::kSubmit:
      return CanScore(review, p);
    case ReviewAction::kAcknowledge:
      return CanAcknowledge(review, p);
    case ReviewAction::kDispute:
      return CanDispute(review, p);
    case ReviewAction::kResolve:
      return CanResolve(review, p);
  }
  return absl::InternalError("unknown action");
}

// Steps 1 and 2 of the header's order.
absl::Status Check(ReviewAction action, const Review& review, const Principal& p) {
  if (absl::Status s = Permission(action, review, p); !s.ok()) return s;
  if (review.state != FromState(action)) {
    return FailedPrecondition(
        "INVALID_TRANSITION",
        absl::StrCat("cannot ", ReviewActionName(action), " review '", review.review_id,
                     "': it is ", ReviewStateName(review.state), " (allowed from ",
                     ReviewStateName(FromState(action)), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckText(std::string_view text, std::string_view reason, std::string_view what) {
  if (absl::StripAsciiWhitespace(Av(text)).empty()) {
    return InvalidArgument(reason, absl::StrCat(Av(what), " must not be blank"));
  }
  if (text.size() > kMaxWorkflowTextLength) {
    return InvalidArgument("TEXT_TOO_LONG",
                           absl::StrCat(Av(what), " is ", text.size(), " bytes long (at most ",
                                        kMaxWorkflowTextLength, ")"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* ReviewActionName(ReviewAction action) {
  switch (action) {
    case ReviewAction::kSubmit:
      return "submit";
    case ReviewAction::kAcknowledge:
      return "acknowledge";
    case ReviewAction::kDispute:
      return "dispute";
    case ReviewAction::kResolve:
      return "resolve";
  }
  return "?";
}

absl::StatusOr<Review> Submit(const Review& review, const Principal& principal,
                              const ScoreResult& evaluation, int64_t now_ms) {
  if (absl::Status s = Check(ReviewAction::kSubmit, review, principal); !s.ok()) return s;
  Review next = review;
  next.state = ReviewState::kSubmitted;
  next.reviewer = principal.subject;
  next.submitted_at_ms = now_ms;
  next.score = evaluation.score;
  next.critical_failed = evaluation.critical_failed;
  return next;
}

absl::StatusOr<Review> Acknowledge(const Review& review, const Principal& principal,
                                   int64_t now_ms) {
  if (absl::Status s = Check(ReviewAction::kAcknowledge, review, principal); !s.ok()) return s;
  Review next = review;
  next.state = ReviewState::kAcknowledged;
  next.responded_at_ms = now_ms;
  return next;
}

absl::StatusOr<Review> Dispute(const Review& review, const Principal& principal,
                               std::string_view reason, int64_t now_ms) {
  if (absl::Status s = Check(ReviewAction::kDispute, review, principal); !s.ok()) return s;
  if (absl::Status s = CheckText(reason, "DISPUTE_REASON_REQUIRED", "reason"); !s.ok()) return s;
  Review next = review;
  next.state = ReviewState::kDisputed;
  next.responded_at_ms = now_ms;
  next.dispute_reason = std::string(reason);
  return next;
}

absl::StatusOr<Review> Resolve(const Review& review, const Principal& principal,
                               Resolution resolution, std::string_view note,
                               const std::optional<ScoreResult>& amended, int64_t now_ms) {
  if (absl::Status s = Check(ReviewAction::kResolve, review, principal); !s.ok()) return s;
  if (resolution == Resolution::kNone) {
    return InvalidArgument("RESOLUTION_REQUIRED", "resolution must be UPHELD or AMENDED");
  }
  if (absl::Status s = CheckText(note, "RESOLUTION_NOTE_REQUIRED", "note"); !s.ok()) return s;
  if (resolution == Resolution::kAmended && !amended.has_value()) {
    return InvalidArgument("AMENDED_SCORE_REQUIRED",
                           "an AMENDED resolution carries the re-scored evaluation");
  }
  if (resolution == Resolution::kUpheld && amended.has_value()) {
    return InvalidArgument("UPHELD_TAKES_NO_SCORE",
                           "an UPHELD resolution keeps the score; send AMENDED to change it");
  }
  Review next = review;
  next.state = ReviewState::kResolved;
  next.resolution = resolution;
  next.resolution_note = std::string(note);
  next.resolved_by = principal.subject;
  next.resolved_at_ms = now_ms;
  if (amended.has_value()) {
    next.score_before_amendment = review.score;
    next.score = amended->score;
    next.critical_failed = amended->critical_failed;
  }
  return next;
}

std::vector<ReviewAction> AllowedActions(const Review& review, const Principal& principal) {
  std::vector<ReviewAction> out;
  for (ReviewAction a : {ReviewAction::kSubmit, ReviewAction::kAcknowledge, ReviewAction::kDispute,
                         ReviewAction::kResolve}) {
    if (Check(a, review, principal).ok()) out.push_back(a);
  }
  return out;
}

}  // namespace sb::recording::qa
