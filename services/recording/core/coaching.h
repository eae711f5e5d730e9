// Coaching: an agent whose recent review scores fall below the target gets a coaching task for
// their supervisor (docs/qa.md, "Coaching").
//
// Rule: take the agent's evaluations submitted in the last `max_age_days` up to `now`, keep the
// `window` most recent; if there are `window` of them and their mean score is below `target`, a
// coaching task is due. One task per agent per ISO week (the dedupe key), so re-evaluating after
// every new score never opens a second task that week.
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sb::recording::qa {

struct CoachingSettings {
  double target = 80;         // 0..100
  int32_t window = 5;         // evaluations averaged (1..100)
  int32_t max_age_days = 30;  // older evaluations are ignored (1..3650)
};

// One submitted evaluation of the agent (after any AMENDED resolution, its amended score).
struct ScoredEvaluation {
  std::string review_id;
  double score = 0;  // 0..100
  int64_t submitted_at_ms = 0;
};

struct CoachingTaskSpec {
  std::string tenant;
  std::string agent_id;
  std::string team;      // whose supervisors see the task
  std::string iso_week;  // of `now`, e.g. "2026-W07"
  double average = 0;
  double target = 0;
  std::vector<std::string> review_ids;  // the evaluations averaged, newest first
  std::string reason;                   // readable, e.g. "average 62.5 over the last 5 ..."
  std::string dedupe_key;               // "coaching:<tenant>:<agent>:<iso week>"
  int64_t created_at_ms = 0;
};

// EvaluateCoaching
//
// The coaching task due for the agent now, or nullopt. Evaluations in the future of `now_ms` are
// ignored. InvalidArgument "INVALID_COACHING: ..." when tenant or agent_id is empty, the settings
// are out of range or a score is outside 0..100.
absl::StatusOr<std::optional<CoachingTaskSpec>> EvaluateCoaching(
    const std::string& tenant, const std::string& agent_id, const std::string& team,
    const std::vector<ScoredEvaluation>& evaluations, const CoachingSettings& settings,
    int64_t now_ms);

}  // namespace sb::recording::qa
