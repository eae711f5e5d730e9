// Unit tests of the staffing forecast.

#include "insights/core/forecast.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "insights/core/erlang.h"

namespace sb::insights {
namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kDay = 24 * 3600 * kSec;
constexpr int64_t kNine = 9 * 3600 * kSec;  // 09:00, interval 36 of the day
constexpr int64_t kDayStart = 28 * kDay;

IntervalAggregate Record(int64_t start, int64_t offered, int64_t aht_s = 180) {
  IntervalAggregate a;
  a.tenant_id = "t";
  a.queue_id = "q";
  a.start_ms = start;
  a.offered = offered;
  a.answered = offered;
  a.handled = offered;
  a.talk_ms = offered * (aht_s - 30) * kSec;
  a.wrap_ms = offered * 30 * kSec;
  a.wait_answered_ms = offered * 10 * kSec;
  return a;
}

TEST(Forecast, WeeklyAverageAndStaffing) {
  std::vector<IntervalAggregate> history;
  for (int w = 1; w <= 4; ++w) history.push_back(Record(kDayStart - w * 7 * kDay + kNine, 100));
  history.push_back(Record(kDayStart + kNine, 999));  // the day itself: ignored
  IntervalAggregate other = Record(kDayStart - 7 * kDay + kNine, 500);
  other.queue_id = "other";
  history.push_back(other);
  ForecastOptions o;
  o.patience_ms = 120 * kSec;
  auto table = Forecast("t", "q", kDayStart, history, o);
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_EQ(table->rows.size(), 96u);
  const ForecastRow& r = table->rows[36];
  EXPECT_EQ(r.start_ms, kDayStart + kNine);
  EXPECT_EQ(r.observations, 4);
  EXPECT_DOUBLE_EQ(r.offered, 100);
  EXPECT_DOUBLE_EQ(r.aht_s, 180);
  EXPECT_DOUBLE_EQ(r.rate_per_hour, 400);
  EXPECT_NEAR(r.load_erlangs, 20, 1e-9);
  const double rate = 100.0 / 900;
  EXPECT_EQ(r.agents_erlang_c, ErlangCRequiredAgents(rate, 180, 20, 0.8));
  EXPECT_GE(r.sl_erlang_c, 0.8);
  EXPECT_EQ(r.agents_erlang_a, ErlangARequiredAgents(rate, 180, 120, 20, 0.8));
  EXPECT_LE(r.agents_erlang_a, r.agents_erlang_c);
  EXPECT_GE(r.sl_erlang_a, 0.8);
  EXPECT_GT(r.abandon_erlang_a, 0);
  // Quiet intervals within the history are zero traffic, zero agents.
  EXPECT_EQ(table->rows[0].observations, 4);
  EXPECT_EQ(table->rows[0].offered, 0);
  EXPECT_EQ(table->rows[0].agents_erlang_c, 0);
  EXPECT_DOUBLE_EQ(table->total_offered(), 100);
  EXPECT_DOUBLE_EQ(table->agent_hours_erlang_c(), r.agents_erlang_c * 0.25);
  const std::string text = FormatTable(*table);
  EXPECT_NE(text.find("09:00"), std::string::npos);
  EXPECT_NE(text.find("total offered 100.0"), std::string::npos);
}

TEST(Forecast, ExponentialWeightsDaily) {
  std::vector<IntervalAggregate> history = {Record(kDayStart - kDay + kNine, 100, 200),
                                            Record(kDayStart - 2 * kDay + kNine, 50, 100)};
  ForecastOptions o;
  o.seasonality = Seasonality::kDaily;
  o.periods = 2;
  o.weighting = Weighting::kExponential;
  o.alpha = 0.5;
  auto table = Forecast("t", "q", kDayStart, history, o);
  ASSERT_TRUE(table.ok());
  const ForecastRow& r = table->rows[36];
  // Weights 0.5 (yesterday) and 0.25: (0.5 x 100 + 0.25 x 50) / 0.75.
  EXPECT_NEAR(r.offered, 62.5 / 0.75, 1e-9);
  // AHT: weighted handle time over weighted handled: (0.5 x 100 x 200 + 0.25 x 50 x 100) /
  // (0.5 x 100 + 0.25 x 50) = 11250 / 62.5 = 180 s.
  EXPECT_NEAR(r.aht_s, 180, 1e-9);
}

TEST(Forecast, OnlyDaysWithHistoryAreObservations) {
  std::vector<IntervalAggregate> history = {Record(kDayStart - 7 * kDay + kNine, 40)};
  auto table = Forecast("t", "q", kDayStart, history, ForecastOptions{});
  ASSERT_TRUE(table.ok());
  EXPECT_EQ(table->rows[36].observations, 1);  // weeks before the first record do not count
  EXPECT_DOUBLE_EQ(table->rows[36].offered, 40);
  // No handled interaction in a quiet interval: the history's overall AHT.
  EXPECT_DOUBLE_EQ(table->rows[0].aht_s, 180);
  // No abandons in the history: no patience, Erlang A = Erlang C.
  EXPECT_FALSE(table->patience_s.has_value());
  EXPECT_EQ(table->rows[36].agents_erlang_a, table->rows[36].agents_erlang_c);
}

TEST(Forecast, PatienceEstimatedFromHistory) {
  IntervalAggregate a = Record(kDayStart - 7 * kDay + kNine, 100);
  a.answered = 90;
  a.wait_answered_ms = 90 * 20 * kSec;  // 1800 s
  a.abandoned = 10;
  a.wait_abandoned_ms = 10 * 30 * kSec;            // 300 s
  EXPECT_DOUBLE_EQ(*EstimatePatienceS({a}), 210);  // 2100 s / 10 abandons
  auto table = Forecast("t", "q", kDayStart, {a}, ForecastOptions{});
  ASSERT_TRUE(table.ok());
  EXPECT_TRUE(table->patience_estimated);
  EXPECT_DOUBLE_EQ(*table->patience_s, 210);
}

TEST(Forecast, RejectsBadInput) {
  EXPECT_EQ(Forecast("t", "q", kDayStart + 1, {}, ForecastOptions{}).status().code(),
            absl::StatusCode::kInvalidArgument);
  ForecastOptions o;
  o.sl_target = 1.5;
  EXPECT_EQ(Forecast("t", "q", kDayStart, {}, o).status().code(),
            absl::StatusCode::kInvalidArgument);
  // No history at all: a day of zeros.
  auto empty = Forecast("t", "q", kDayStart, {}, ForecastOptions{});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->rows.size(), 96u);
  EXPECT_EQ(empty->rows[0].observations, 0);
}

}  // namespace
}  // namespace sb::insights
