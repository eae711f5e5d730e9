#include "recording/core/calibration.h"

#include <cmath>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"
#include "recording/core/qa_test_util.h"

namespace sb::recording::qa {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;

TEST(SpreadTest, PopulationStatistics) {
  const Spread s = SpreadOf({2, 4, 4, 4, 5, 5, 7, 9});
  EXPECT_EQ(s.count, 8);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.min, 2);
  EXPECT_DOUBLE_EQ(s.max, 9);
  EXPECT_DOUBLE_EQ(s.range, 7);
  EXPECT_DOUBLE_EQ(s.stddev, 2);  // the textbook example: population sd 2
  EXPECT_EQ(SpreadOf({}).count, 0);
  EXPECT_EQ(SpreadOf({3}).stddev, 0);
}

TEST(CalibrationTest, ReportsSpreadAndDisagreements) {
  const std::vector<CalibrationEntry> entries = {
      {"ann", 80, {{"greet", 1.0}, {"solve", 1.0}, {"hold", std::nullopt}}},
      {"bob", 70, {{"greet", 1.0}, {"solve", 0.5}, {"hold", 1.0}}},
      {"cid", 90, {{"greet", 1.0}, {"solve", 0.75}, {"hold", std::nullopt}}},
  };
  auto r = Calibrate(entries, CalibrationOptions{0.25});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->reviewers, 3);
  EXPECT_DOUBLE_EQ(r->overall.mean, 80);
  EXPECT_DOUBLE_EQ(r->overall.range, 20);
  EXPECT_NEAR(r->overall.stddev, std::sqrt(200.0 / 3), 1e-12);
  EXPECT_FALSE(r->overall_disagrees);  // 20 points <= 25
  ASSERT_EQ(r->questions.size(), 3u);  // by id: greet, hold, solve
  EXPECT_EQ(r->questions[0].question_id, "greet");
  EXPECT_FALSE(r->questions[0].disagrees);
  EXPECT_EQ(r->questions[1].question_id, "hold");
  EXPECT_EQ(r->questions[1].na_count, 2);
  EXPECT_TRUE(r->questions[1].na_mismatch);
  EXPECT_EQ(r->questions[2].question_id, "solve");
  EXPECT_DOUBLE_EQ(r->questions[2].spread.range, 0.5);
  EXPECT_DOUBLE_EQ(r->questions[2].spread.mean, 0.75);
  EXPECT_TRUE(r->questions[2].disagrees);
  EXPECT_THAT(r->disagreements, ElementsAre("hold", "solve"));

  auto loose = Calibrate(entries, CalibrationOptions{0.5});
  ASSERT_TRUE(loose.ok());
  EXPECT_THAT(loose->disagreements, ElementsAre("hold"));  // 0.5 is not beyond 0.5
  auto strict = Calibrate(entries, CalibrationOptions{0.1});
  ASSERT_TRUE(strict.ok());
  EXPECT_TRUE(strict->overall_disagrees);  // 20 points > 10
}

TEST(CalibrationTest, RangeEqualToThresholdUpToRoundingDoesNotDisagree) {
  auto r = Calibrate({{"a", 50, {{"q", 1.0}}}, {"b", 50, {{"q", 0.8}}}}, CalibrationOptions{0.2});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->disagreements.empty());
}

TEST(CalibrationTest, FromScores) {
  const Form form = testing::SmallForm();
  Answers a{{"greet", Answer::Yes()},
            {"solve", Answer::Value(4)},
            {"notes", Answer::Value(2)},
            {"hold", Answer::Yes()},
            {"empathy", Answer::Value(5)}};
  Answers b = a;
  b["solve"] = Answer::Value(0);  // critical failure: overall 0
  auto ra = Score(form, a);
  auto rb = Score(form, b);
  ASSERT_TRUE(ra.ok() && rb.ok());
  auto r = Calibrate({EntryFromScore("ann", *ra), EntryFromScore("bob", *rb)}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_DOUBLE_EQ(r->overall.range, 100);
  EXPECT_TRUE(r->overall_disagrees);
  EXPECT_THAT(r->disagreements, ElementsAre("solve"));
}

TEST(CalibrationTest, Errors) {
  const CalibrationEntry a{"ann", 50, {}};
  const CalibrationEntry b{"bob", 60, {}};
  struct Case {
    std::vector<CalibrationEntry> entries;
    CalibrationOptions options;
    std::string want;
  };
  const Case cases[] = {
      {{a}, {}, "INVALID_CALIBRATION: calibration needs at least two evaluations (got 1)"},
      {{a, a}, {}, "INVALID_CALIBRATION: entries[1].reviewer: 'ann' appears twice"},
      {{a, {"", 1, {}}}, {}, "INVALID_CALIBRATION: entries[1].reviewer: missing"},
      {{a, {"bob", 101, {}}}, {}, "INVALID_CALIBRATION: entries[1].overall: 101 is outside"},
      {{a, {"bob", 1, {{"q", 1.5}}}}, {}, "INVALID_CALIBRATION: entries[1].normalized.q: 1.5"},
      {{a, b}, {1.5}, "INVALID_CALIBRATION: disagreement_threshold: 1.5 is outside 0..1"},
  };
  for (const Case& c : cases) {
    auto r = Calibrate(c.entries, c.options);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.want;
    EXPECT_THAT(std::string(r.status().message()), StartsWith(c.want));
  }
}

}  // namespace
}  // namespace sb::recording::qa
