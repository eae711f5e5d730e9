// Customer feedback (CSAT 1..5 with a comment) and whether a low score is about the queue or the
// agent (docs/qa.md, "Customer feedback").
//
// The classification is a small documented heuristic, not a language model:
//   not low   csat > low_csat_threshold                                  -> NOT_LOW
//   QUEUE     the caller waited longer than the queue's target
//   AGENT     the comment mentions waiting but the wait was short (<= short_wait): it cannot
//             be about the queue
//   QUEUE     the comment mentions waiting (and the wait is unknown or longer than short_wait)
//   AGENT     the wait is known (and within target) and the comment does not mention waiting
//   UNKNOWN   no wait known and no mention of waiting
// "Mentions waiting" means one of the configured keywords appears as a word (case-insensitive;
// a keyword with a space matches a phrase). Whether a review is created for a low score depends
// on its cause: by default AGENT and UNKNOWN do, QUEUE does not.
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sb::recording::qa {

enum class FeedbackCause { kNotLow, kQueue, kAgent, kUnknown };
// "NOT_LOW", "QUEUE", "AGENT", "UNKNOWN".
const char* FeedbackCauseName(FeedbackCause cause);
std::optional<FeedbackCause> ParseFeedbackCause(std::string_view name);  // also lowercase

inline constexpr size_t kMaxFeedbackCommentLength = 4000;

struct FeedbackSettings {
  int32_t low_csat_threshold = 2;  // csat <= this is low (1..4)
  int64_t short_wait_ms = 10000;   // a wait this short cannot be what the caller complains about
  // The queue's answer-time target when the interaction does not carry it.
  int64_t default_queue_target_ms = 60000;
  std::vector<std::string> waiting_keywords = {"wait",     "waited",  "waiting", "queue",
                                               "queued",   "forever", "ages",    "long time",
                                               "too long", "so long"};
  // The causes of a low score that open a LOW_CSAT review.
  std::vector<FeedbackCause> review_causes = {FeedbackCause::kAgent, FeedbackCause::kUnknown};
};

struct Feedback {
  std::string tenant;
  std::string feedback_id;  // the source event or request id (dedupe)
  std::string interaction_id;
  std::string agent_id;  // empty when no agent took the call (abandoned)
  std::string team;
  std::string queue;
  int32_t csat = 0;  // 1..5
  std::string comment;
  int64_t received_at_ms = 0;
  // Attached from the interaction's routing events, when known.
  std::optional<int64_t> wait_ms;
  std::optional<int64_t> queue_target_ms;
};

// InvalidArgument with reason MISSING_FIELD (tenant, feedback_id, interaction_id),
// CSAT_OUT_OF_RANGE ("csat: 7 is not 1..5"), COMMENT_TOO_LONG or NEGATIVE_WAIT.
absl::Status ValidateFeedback(const Feedback& feedback);

struct FeedbackClassification {
  bool low = false;
  FeedbackCause cause = FeedbackCause::kNotLow;
  std::string explanation;     // e.g. "waited 4m10s, over the queue's 20s target"
  bool create_review = false;  // low, a cause in review_causes, and an agent to review
};

// Classifies validated feedback (call ValidateFeedback first).
FeedbackClassification ClassifyFeedback(const Feedback& feedback, const FeedbackSettings& settings);

// Whether `comment` contains one of `keywords` as a whole word or phrase, case-insensitively.
bool MentionsAny(std::string_view comment, const std::vector<std::string>& keywords);

}  // namespace sb::recording::qa
