#include "recording/core/coaching.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

constexpr int64_t kDay = 86400000LL;
constexpr int64_t kNow = 20499LL * kDay + 3600000;  // 2026-02-15 01:00 UTC, a Sunday

std::vector<ScoredEvaluation> Evals(std::vector<std::pair<double, int64_t>> score_days_ago) {
  std::vector<ScoredEvaluation> out;
  int i = 0;
  for (const auto& [score, days] : score_days_ago) {
    out.push_back({"rv-" + std::to_string(i++), score, kNow - days * kDay});
  }
  return out;
}

TEST(CoachingTest, BelowTargetOpensATask) {
  const CoachingSettings s{80, 3, 30};
  auto task = EvaluateCoaching("acme", "agent-a", "red",
                               Evals({{70, 1}, {60, 2}, {75, 3}, {100, 4}}), s, kNow);
  ASSERT_TRUE(task.ok()) << task.status();
  ASSERT_TRUE(task->has_value());
  const CoachingTaskSpec& t = **task;
  EXPECT_DOUBLE_EQ(t.average, (70 + 60 + 75) / 3.0);  // the 100 is outside the window
  EXPECT_EQ(t.target, 80);
  EXPECT_THAT(t.review_ids, ElementsAre("rv-0", "rv-1", "rv-2"));
  EXPECT_EQ(t.iso_week, IsoWeekOf(kNow).ToString());
  EXPECT_EQ(t.dedupe_key, "coaching:acme:agent-a:" + t.iso_week);
  EXPECT_EQ(t.team, "red");
  EXPECT_EQ(t.created_at_ms, kNow);
  EXPECT_EQ(t.reason,
            "average 68.3 over the last 3 evaluations (within 30 days) is below the target 80.0");
}

TEST(CoachingTest, AtOrAboveTargetNoTask) {
  const CoachingSettings s{80, 3, 30};
  auto task = EvaluateCoaching("acme", "a", "", Evals({{80, 1}, {80, 2}, {80, 3}}), s, kNow);
  ASSERT_TRUE(task.ok());
  EXPECT_FALSE(task->has_value());
}

TEST(CoachingTest, NeedsAFullWindowOfRecentEvaluations) {
  const CoachingSettings s{80, 3, 30};
  // Two recent, one 31 days old: not enough evidence.
  auto task = EvaluateCoaching("acme", "a", "", Evals({{10, 1}, {10, 2}, {10, 31}}), s, kNow);
  ASSERT_TRUE(task.ok());
  EXPECT_FALSE(task->has_value());
  // An evaluation "from the future" (clock skew) is ignored too.
  task = EvaluateCoaching("acme", "a", "", Evals({{10, 1}, {10, 2}, {10, -1}}), s, kNow);
  ASSERT_TRUE(task.ok());
  EXPECT_FALSE(task->has_value());
}

TEST(CoachingTest, SameWeekSameKeyAndOrderIndependent) {
  const CoachingSettings s{80, 2, 30};
  auto e = Evals({{50, 1}, {50, 2}, {50, 2}});
  auto a = EvaluateCoaching("acme", "a", "", e, s, kNow);
  std::reverse(e.begin(), e.end());
  auto b = EvaluateCoaching("acme", "a", "", e, s, kNow - kDay);  // Saturday, same ISO week
  ASSERT_TRUE(a.ok() && b.ok() && a->has_value() && b->has_value());
  EXPECT_EQ((*a)->dedupe_key, (*b)->dedupe_key);
  EXPECT_THAT((*a)->review_ids, ElementsAre("rv-0", "rv-2"));  // ties broken by id
  auto next_week = EvaluateCoaching("acme", "a", "", Evals({{50, 0}, {50, 0}}), s, kNow + kDay);
  ASSERT_TRUE(next_week.ok() && next_week->has_value());
  EXPECT_NE((*next_week)->dedupe_key, (*a)->dedupe_key);
}

TEST(CoachingTest, Errors) {
  const auto err = [](const std::string& tenant, const std::string& agent, CoachingSettings s,
                      std::vector<ScoredEvaluation> e) {
    return EvaluateCoaching(tenant, agent, "", e, s, kNow).status();
  };
  const CoachingSettings ok{80, 3, 30};
  EXPECT_EQ(err("", "a", ok, {}).message(), "INVALID_COACHING: tenant: required");
  EXPECT_EQ(err("t", "", ok, {}).message(), "INVALID_COACHING: agent_id: required");
  EXPECT_THAT(std::string(err("t", "a", {101, 3, 30}, {}).message()),
              StartsWith("INVALID_COACHING: target: 101"));
  EXPECT_THAT(std::string(err("t", "a", {80, 0, 30}, {}).message()),
              StartsWith("INVALID_COACHING: window: 0"));
  EXPECT_THAT(std::string(err("t", "a", {80, 3, 0}, {}).message()),
              StartsWith("INVALID_COACHING: max_age_days: 0"));
  EXPECT_THAT(std::string(err("t", "a", ok, {{"rv", 120, kNow}}).message()),
              StartsWith("INVALID_COACHING: evaluation 'rv': score 120"));
  EXPECT_EQ(err("", "a", ok, {}).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sb::recording::qa
