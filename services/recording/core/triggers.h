// Review task rules: which events open a review, and the weekly random sample per agent
// (docs/qa.md, "Where reviews come from" and "Weekly sampling").
//
// Inputs are plain structs (the service maps protobuf to them), outputs are ReviewTaskSpecs the
// storage inserts idempotently by `dedupe_key`. The key is derived from what the review is about
// -- kind, tenant, interaction and agent (plus the reason for other policy obligations) -- not from
// the id of the event that caused it: the policy decision of an escalation and the routing
// escalation event describe the same escalation and must open one review, and a replayed or
// duplicated event lands on the same key. The source event id is kept in the spec for the audit.
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recording/core/access.h"
#include "recording/core/feedback.h"
#include "recording/core/review.h"

namespace sb::recording::qa {

// What the storage needs to open a review task.
struct ReviewTaskSpec {
  std::string tenant;
  std::string interaction_id;
  std::string agent_id;
  std::string team;
  std::string queue;
  ReviewKind kind = ReviewKind::kManual;
  bool mandatory = false;
  std::string reason;           // readable: "agent_disconnect", "csat 1: AGENT (...)"
  std::string source_event_id;  // the decision, event, feedback or flag that caused it
  std::string requested_by;     // manual flags: the principal's subject
  std::string dedupe_key;       // e.g. "escalation:acme:int-7:agent-3"
  int64_t created_at_ms = 0;

  // An OPEN review for this task with the given id.
  Review ToReview(std::string review_id) const;
};

// The review dedupe key: DedupeKey(lowercase kind, {tenant, interaction, agent[, reason]}).
std::string ReviewDedupeKey(ReviewKind kind, const std::string& tenant,
                            const std::string& interaction_id, const std::string& agent_id,
                            const std::string& reason = "");

// A policy decision that carries a create_review obligation (sb.policy.decisions.v1).
struct PolicyReviewObligation {
  std::string tenant;
  std::string decision_id;  // the decision's id: the source event
  std::string interaction_id;
  std::string agent_id;
  std::string team;
  std::string queue;
  std::string reason;  // the obligation's reason, e.g. "agent_disconnect"
  bool mandatory = false;
  int64_t time_ms = 0;
};
// The obligation's reason picks the kind: "agent_disconnect" or "disconnect" -> DISCONNECT,
// "escalation" -> ESCALATION, "low_csat" -> LOW_CSAT, anything else -> POLICY (keyed by the
// reason too). DISCONNECT and ESCALATION reviews are always mandatory; other kinds are mandatory
// when the obligation says so. InvalidArgument "MISSING_FIELD: ..." when an id is empty.
absl::StatusOr<ReviewTaskSpec> ReviewForPolicyObligation(const PolicyReviewObligation& obligation);

// An interaction escalated to a supervisor (a routing event).
struct EscalationEvent {
  std::string tenant;
  std::string event_id;
  std::string interaction_id;
  std::string agent_id;  // the agent who had the call
  std::string team;
  std::string queue;
  std::string reason;  // e.g. "caller_request"; optional
  int64_t time_ms = 0;
};
// A mandatory ESCALATION review.
absl::StatusOr<ReviewTaskSpec> ReviewForEscalation(const EscalationEvent& event);

// What customer feedback leads to: its classification and, when it calls for one, a LOW_CSAT
// review (not mandatory).
struct FeedbackOutcome {
  FeedbackClassification classification;
  std::optional<ReviewTaskSpec> review;
};
// Validates (ValidateFeedback), classifies (ClassifyFeedback) and builds the review.
absl::StatusOr<FeedbackOutcome> ReviewForFeedback(const Feedback& feedback,
                                                  const FeedbackSettings& settings);

// "Please review this call", from a supervisor, a QA reviewer, an admin, or the agent about their
// own call.
struct ManualFlag {
  std::string tenant;
  std::string flag_id;  // the request id
  std::string interaction_id;
  std::string agent_id;
  std::string team;
  std::string queue;
  std::string note;  // optional, at most kMaxFlagNoteLength bytes
  int64_t time_ms = 0;
};
inline constexpr size_t kMaxFlagNoteLength = 2000;
// Checks CanFlag (PermissionDenied reasons of access.h), then builds a MANUAL review.
absl::StatusOr<ReviewTaskSpec> ReviewForManualFlag(const ManualFlag& flag,
                                                   const Principal& principal);

// --- Weekly sampling ----------------------------------------------------------------------------

// How many of an agent's interactions a week are sampled for review.
struct SamplePolicy {
  enum class Mode {
    kCount,  // exactly min(per_agent_per_week, n) of the agent's n interactions
    kRate,   // each interaction with probability `rate`, at most max_per_agent_per_week
  };
  Mode mode = Mode::kCount;
  int32_t per_agent_per_week = 2;      // kCount: 0..1000 (0 turns sampling off)
  double rate = 0;                     // kRate: 0..1
  int32_t max_per_agent_per_week = 0;  // kRate: 0 = no cap
  uint64_t seed = 0;  // keep it private: with the seed, the sample can be predicted
  // Candidates with the same scope are sampled together: "" for the tenant's policy, the queue id
  // for a queue with a policy of its own (set by QaConfig).
  std::string scope;
};

// A completed interaction an agent handled.
struct SampleCandidate {
  std::string tenant;
  std::string agent_id;
  std::string team;
  std::string queue;
  std::string interaction_id;
  int64_t ended_at_ms = 0;  // picks the ISO week (UTC)
};

// The candidate's rank in [0, 1): a hash of (seed, tenant, agent, ISO week, interaction id).
// Uniform, independent between interactions, and the same every time it is computed.
double SampleRank(const SampleCandidate& candidate, uint64_t seed);

// SelectWeeklySample
//
// Groups the candidates by (tenant, agent, ISO week of ended_at, policy scope), where each
// candidate's policy is policy_for(tenant, queue), and picks in each group:
//   kCount  the per_agent_per_week candidates of lowest rank (a bottom-k sample: every subset of
//           that size is equally likely);
//   kRate   the candidates whose rank is below `rate`, the lowest-ranked first, capped at
//           max_per_agent_per_week.
// The result depends only on the set of candidates (not their order; a repeated interaction id
// counts once per group), so the job can be re-run after the week ends and produce the same
// tasks. Returns SAMPLE tasks ordered by group then rank. InvalidArgument "MISSING_FIELD:
// candidates[3].agent_id: required" or "INVALID_SAMPLE_POLICY: ..." on bad input.
absl::StatusOr<std::vector<ReviewTaskSpec>> SelectWeeklySample(
    const std::vector<SampleCandidate>& candidates,
    const std::function<SamplePolicy(const std::string& tenant, const std::string& queue)>&
        policy_for,
    int64_t now_ms);

}  // namespace sb::recording::qa
