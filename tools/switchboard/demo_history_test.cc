#include "switchboard/demo_history.h"

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "insights/storage/interval_store.h"
#include "switchboard/example_config.h"

namespace sb::cli {
namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000;
constexpr int64_t kToday = 1795392000000;  // 2026-11-23T00:00:00Z

class DemoHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sb-demo-history-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    url_ = "sqlite://" + dir_ + "/insights.db";
    absl::StatusOr<routing::config::RoutingConfig> config =
        routing::config::ParseRoutingConfig(kExampleConfigYaml, "example");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  DemoHistoryOptions Options(int days, double calls_per_second = 0.1) const {
    DemoHistoryOptions o;
    o.queue_ids = {"billing", "sales", "support"};
    o.calls_per_second = calls_per_second;
    o.days = days;
    o.seed = 7;
    o.today_start_ms = kToday;
    return o;
  }

  std::string dir_;
  std::string url_;
  routing::config::RoutingConfig config_;
};

TEST_F(DemoHistoryTest, OneSimulatedDayRepeatedOverThePastDays) {
  absl::StatusOr<DemoHistory> h = SeedDemoHistory(config_, Options(3, 0.2), url_);
  ASSERT_TRUE(h.ok()) << h.status();
  // ~0.2 calls/s over a day: 17,280 expected arrivals (Poisson sd ~131; 3% is ~4 sd).
  EXPECT_NEAR(h->calls_per_day, 17280, 518);

  auto store = insights::storage::OpenIntervalStore(url_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto rows = (*store)->Range("demo", "", kToday - 3 * kDayMs, kToday + kDayMs);
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(static_cast<int64_t>(rows->size()), h->intervals_written);
  // The same day three times: per (queue, time of day) the three records are equal; nothing is
  // written for today or later.
  std::map<std::pair<std::string, int64_t>, std::vector<insights::IntervalAggregate>> by_slot;
  int64_t offered = 0;
  for (const insights::IntervalAggregate& r : *rows) {
    ASSERT_LT(r.start_ms, kToday);
    ASSERT_GE(r.start_ms, kToday - 3 * kDayMs);
    by_slot[{r.queue_id, r.start_ms % kDayMs}].push_back(r);
    offered += r.offered + r.short_abandoned;
  }
  ASSERT_FALSE(by_slot.empty());
  for (const auto& [slot, records] : by_slot) {
    ASSERT_EQ(records.size(), 3u) << slot.first << " @" << slot.second;
    EXPECT_EQ(records[0].offered, records[2].offered);
    EXPECT_EQ(records[0].answered, records[1].answered);
    EXPECT_EQ(records[0].talk_ms, records[2].talk_ms);
  }
  // Arrivals in the three copies: three times the simulated day (arrivals are counted in the
  // queue they enter, including overflows, so at least that many).
  EXPECT_GE(offered, 3 * h->calls_per_day - 3 * 100);
  // The day curve: the small hours are quieter than the late morning.
  int64_t night = 0, morning = 0;
  for (const insights::IntervalAggregate& r : *rows) {
    const int64_t hour = (r.start_ms % kDayMs) / 3600000;
    if (hour >= 1 && hour < 4) night += r.offered;
    if (hour >= 9 && hour < 12) morning += r.offered;
  }
  EXPECT_GT(morning, 5 * night);
}

TEST_F(DemoHistoryTest, NeverOverwritesWhatIsStored) {
  ASSERT_TRUE(SeedDemoHistory(config_, Options(2), url_).ok());
  auto store = insights::storage::OpenIntervalStore(url_);
  ASSERT_TRUE(store.ok());
  auto before = (*store)->Range("demo", "", kToday - 2 * kDayMs, kToday);
  ASSERT_TRUE(before.ok());
  // Another seed simulates a different day; the stored one must stay as it was.
  DemoHistoryOptions other = Options(2);
  other.seed = 8;
  absl::StatusOr<DemoHistory> again = SeedDemoHistory(config_, other, url_);
  ASSERT_TRUE(again.ok()) << again.status();
  auto after = (*store)->Range("demo", "", kToday - 2 * kDayMs, kToday);
  ASSERT_TRUE(after.ok());
  ASSERT_GE(after->size(), before->size());
  size_t kept = 0;
  for (const auto& b : *before) {
    for (const auto& a : *after) {
      if (a.queue_id == b.queue_id && a.start_ms == b.start_ms) {
        EXPECT_EQ(a, b);
        ++kept;
      }
    }
  }
  EXPECT_EQ(kept, before->size());
  EXPECT_EQ(again->intervals_written, static_cast<int64_t>(after->size() - before->size()));
}

TEST_F(DemoHistoryTest, NothingToDo) {
  absl::StatusOr<DemoHistory> h = SeedDemoHistory(config_, Options(0), url_);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->intervals_written, 0);
}

TEST_F(DemoHistoryTest, BadStoreIsAnError) {
  absl::StatusOr<DemoHistory> h = SeedDemoHistory(config_, Options(1), "mysql://nope");
  EXPECT_FALSE(h.ok());
}

}  // namespace
}  // namespace sb::cli
