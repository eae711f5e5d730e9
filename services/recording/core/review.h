// The review record the QA workflow moves through its states (docs/qa.md, "Workflow").
//
// A Review is a plain value owned by whoever holds it (the storage, a handler); the workflow
// functions (review_workflow.h) take one and return the next version, so the storage can apply a
// transition with a compare-and-set on `state`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sb::recording::qa {

// Why a review exists.
enum class ReviewKind {
  kDisconnect,  // the agent ended the call on the caller (policy obligation; mandatory)
  kEscalation,  // the call was escalated to a supervisor (mandatory)
  kLowCsat,     // the customer gave a low CSAT that is not about the queue
  kSample,      // the weekly random sample per agent
  kManual,      // flagged by a supervisor, a QA reviewer, or the agent themselves
  kPolicy,      // another policy obligation (create_review with some other reason)
};
// "DISCONNECT", "ESCALATION", "LOW_CSAT", "SAMPLE", "MANUAL", "POLICY".
const char* ReviewKindName(ReviewKind kind);
std::optional<ReviewKind> ParseReviewKind(std::string_view name);

enum class ReviewState { kOpen, kSubmitted, kAcknowledged, kDisputed, kResolved };
// "OPEN", "SUBMITTED", "ACKNOWLEDGED", "DISPUTED", "RESOLVED".
const char* ReviewStateName(ReviewState state);
std::optional<ReviewState> ParseReviewState(std::string_view name);

enum class Resolution { kNone, kUpheld, kAmended };
// "", "UPHELD", "AMENDED".
const char* ResolutionName(Resolution resolution);
std::optional<Resolution> ParseResolution(std::string_view name);

struct Review {
  std::string review_id;
  std::string tenant;
  std::string interaction_id;
  std::string agent_id;  // the agent whose call is reviewed
  std::string team;      // the agent's team when the review was created (for supervisors)
  std::string queue;
  ReviewKind kind = ReviewKind::kManual;
  bool mandatory = false;
  std::string reason;  // why it was created, e.g. "agent_disconnect", "csat 1"
  int64_t created_at_ms = 0;

  ReviewState state = ReviewState::kOpen;
  // SUBMITTED
  std::string reviewer;  // subject of who scored it
  int64_t submitted_at_ms = 0;
  double score = 0;  // 0..100 (see scoring.h); the amended score after an AMENDED resolution
  bool critical_failed = false;
  // ACKNOWLEDGED / DISPUTED
  int64_t responded_at_ms = 0;
  std::string dispute_reason;
  // RESOLVED
  std::string resolved_by;
  int64_t resolved_at_ms = 0;
  Resolution resolution = Resolution::kNone;
  std::string resolution_note;
  std::optional<double> score_before_amendment;

  bool operator==(const Review&) const = default;
};

}  // namespace sb::recording::qa
