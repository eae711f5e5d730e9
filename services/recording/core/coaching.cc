#include "recording/core/coaching.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {

absl::StatusOr<std::optional<CoachingTaskSpec>> EvaluateCoaching(
    const std::string& tenant, const std::string& agent_id, const std::string& team,
    const std::vector<ScoredEvaluation>& evaluations, const CoachingSettings& settings,
    int64_t now_ms) {
  const auto fail = [](std::string message) {
    return InvalidArgument("INVALID_COACHING", message);
  };
  if (tenant.empty()) return fail("tenant: required");
  if (agent_id.empty()) return fail("agent_id: required");
  if (!(settings.target >= 0 && settings.target <= 100)) {
    return fail(absl::StrCat("target: ", settings.target, " is outside 0..100"));
  }
  if (settings.window < 1 || settings.window > 100) {
    return fail(absl::StrCat("window: ", settings.window, " is outside 1..100"));
  }
  if (settings.max_age_days < 1 || settings.max_age_days > 3650) {
    return fail(absl::StrCat("max_age_days: ", settings.max_age_days, " is outside 1..3650"));
  }
  const int64_t oldest = now_ms - static_cast<int64_t>(settings.max_age_days) * 86400000LL;
  std::vector<const ScoredEvaluation*> recent;
  for (const ScoredEvaluation& e : evaluations) {
    if (!(e.score >= 0 && e.score <= 100)) {
      return fail(
          absl::StrCat("evaluation '", e.review_id, "': score ", e.score, " is outside 0..100"));
    }
    if (e.submitted_at_ms > oldest && e.submitted_at_ms <= now_ms) recent.push_back(&e);
  }
  // Newest first; ties broken by review id so the choice does not depend on input order.
  std::sort(recent.begin(), recent.end(), [](const ScoredEvaluation* a, const ScoredEvaluation* b) {
    if (a->submitted_at_ms != b->submitted_at_ms) return a->submitted_at_ms > b->submitted_at_ms;
    return a->review_id > b->review_id;
  });
  if (recent.size() < static_cast<size_t>(settings.window)) return std::nullopt;
  recent.resize(settings.window);
  double sum = 0;
  for (const ScoredEvaluation* e : recent) sum += e->score;
  const double average = sum / settings.window;
  if (!(average < settings.target)) return std::nullopt;

  CoachingTaskSpec task;
  task.tenant = tenant;
  task.agent_id = agent_id;
  task.team = team;
  task.iso_week = IsoWeekOf(now_ms).ToString();
  task.average = average;
  task.target = settings.target;
  for (const ScoredEvaluation* e : recent) task.review_ids.push_back(e->review_id);
  task.reason = absl::StrFormat(
      "average %.1f over the last %d evaluations (within %d days) is "
      "below the target %.1f",
      average, settings.window, settings.max_age_days, settings.target);
  task.dedupe_key = DedupeKey("coaching", {tenant, agent_id, task.iso_week});
  task.created_at_ms = now_ms;
  return task;
}

}  // namespace sb::recording::qa
