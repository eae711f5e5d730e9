// The wire mapping (floor.h), the request parsing with its stable reasons, the metrics' series
// bookkeeping, and LiveInsights' interval writing rule against a fake store.
#include "insights/service/floor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <tuple>

#include "google/protobuf/util/time_util.h"
#include "insights/service/live_insights.h"
#include "insights/service/metrics.h"

namespace sb::insights::service {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(Floor, PresenceNamesAreTheEnumNamesInLowerCase) {
  EXPECT_EQ(PresenceName(rv1::PRESENCE_AVAILABLE), "available");
  EXPECT_EQ(PresenceName(rv1::PRESENCE_AUX), "aux");
  EXPECT_EQ(PresenceName(rv1::PRESENCE_OFFLINE), "offline");
  EXPECT_EQ(PresenceName(rv1::PRESENCE_UNSPECIFIED), "unspecified");
}

TEST(Floor, UndefinedFiguresStayUnset) {
  WindowStats w;
  w.window_ms = 900000;
  w.from_ms = 1'700'000'000'123;
  w.counts.offered = 3;
  w.counts.answered = 2;
  w.service_level = 0.5;
  iv1::WindowStats out;
  ToProto(w, &out);
  EXPECT_EQ(out.window_ms(), 900000);
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(out.from()), w.from_ms);
  EXPECT_EQ(out.offered(), 3);
  EXPECT_EQ(out.answered(), 2);
  ASSERT_TRUE(out.has_service_level());
  EXPECT_DOUBLE_EQ(out.service_level(), 0.5);
  EXPECT_FALSE(out.has_asa_ms());
  EXPECT_FALSE(out.has_aht_ms());
  EXPECT_FALSE(out.has_occupancy());
  EXPECT_FALSE(out.has_abandon_rate());
}

TEST(Floor, QueueAndAgentFigures) {
  QueueSnapshot q;
  q.queue_id = "support";
  q.sl_threshold_ms = 20000;
  q.sl_target = 0.8;
  q.waiting = 4;
  q.agents_busy = 2;
  q.windows.resize(2);
  q.windows[0].window_ms = 900000;
  q.windows[1].window_ms = 3600000;
  q.offer_spread.agents = 3;
  AgentSnapshot a;
  a.agent_id = "ann";
  a.presence = rv1::PRESENCE_AUX;
  a.reason = "lunch";
  a.occupancy_today = 0.25;
  FloorParts parts;
  parts.queues = {q};
  parts.agents = {a};
  iv1::Floor floor = BuildFloor("t1", 1000, parts, 42);
  EXPECT_EQ(floor.tenant_id(), "t1");
  EXPECT_EQ(floor.events_applied(), 42);
  ASSERT_EQ(floor.queues_size(), 1);
  EXPECT_EQ(floor.queues(0).waiting(), 4);
  EXPECT_EQ(floor.queues(0).agents_busy(), 2);
  ASSERT_EQ(floor.queues(0).windows_size(), 2);
  EXPECT_EQ(floor.queues(0).windows(1).window_ms(), 3600000);
  EXPECT_EQ(floor.queues(0).offer_spread().agents(), 3);
  EXPECT_FALSE(floor.queues(0).offer_spread().has_gini());
  ASSERT_EQ(floor.agents_size(), 1);
  EXPECT_EQ(floor.agents(0).presence(), "aux");
  EXPECT_EQ(floor.agents(0).reason(), "lunch");
  EXPECT_FALSE(floor.agents(0).has_aht_ms_today());
  EXPECT_DOUBLE_EQ(floor.agents(0).occupancy_today(), 0.25);
}

TEST(Requests, ParseDay) {
  // 2026-11-23T07:00:00Z
  const int64_t now = 1795417200000;
  absl::StatusOr<int64_t> tomorrow = ParseDay("", now);
  ASSERT_TRUE(tomorrow.ok());
  EXPECT_EQ(DayName(*tomorrow), "2026-11-24");
  absl::StatusOr<int64_t> d = ParseDay("2024-02-29", now);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d % kDayMs, 0);
  EXPECT_EQ(DayName(*d), "2024-02-29");
  EXPECT_EQ(*ParseDay("1970-01-01", now), 0);
  for (const char* bad : {"2026-13-01", "2026-02-30", "2023-02-29", "26-11-23", "2026/11/23",
                          "2026-11-2x", "tomorrow"}) {
    absl::StatusOr<int64_t> r = ParseDay(bad, now);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(r.status().message()), StartsWith("BAD_DAY: ")) << bad;
  }
}

TEST(Requests, ForecastOptionsDefaultsAndReasons) {
  iv1::GetForecastRequest req;
  req.set_tenant_id("t");
  req.set_queue_id("q");
  absl::StatusOr<ForecastOptions> o = ForecastOptionsFrom(req, std::nullopt);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->seasonality, Seasonality::kWeekly);
  EXPECT_EQ(o->periods, 4);
  EXPECT_DOUBLE_EQ(o->sl_target, 0.8);
  EXPECT_EQ(o->sl_threshold_ms, 20000);
  EXPECT_FALSE(o->patience_ms.has_value());
  EXPECT_EQ(ForecastHistoryFromMs(*o, 100 * kDayMs), 72 * kDayMs);

  o = ForecastOptionsFrom(req, QueueTargets{0.9, 30000});
  ASSERT_TRUE(o.ok());
  EXPECT_DOUBLE_EQ(o->sl_target, 0.9);
  EXPECT_EQ(o->sl_threshold_ms, 30000);

  req.set_seasonality("daily");
  req.set_periods(3);
  req.set_sl_target(0.7);
  req.set_patience_ms(60000);
  o = ForecastOptionsFrom(req, QueueTargets{0.9, 30000});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->seasonality, Seasonality::kDaily);
  EXPECT_DOUBLE_EQ(o->sl_target, 0.7);
  EXPECT_EQ(*o->patience_ms, 60000);
  EXPECT_EQ(ForecastHistoryFromMs(*o, 100 * kDayMs), 97 * kDayMs);

  auto reason = [](const iv1::GetForecastRequest& r) {
    absl::StatusOr<ForecastOptions> x = ForecastOptionsFrom(r, std::nullopt);
    EXPECT_FALSE(x.ok());
    return std::string(x.status().message());
  };
  iv1::GetForecastRequest bad = req;
  bad.set_periods(400);
  EXPECT_THAT(reason(bad), StartsWith("BAD_OPTION: periods"));
  bad = req;
  bad.set_sl_target(1.5);
  EXPECT_THAT(reason(bad), StartsWith("BAD_OPTION: sl_target"));
  bad = req;
  bad.set_seasonality("monthly");
  EXPECT_THAT(reason(bad), StartsWith("BAD_OPTION: seasonality"));
  bad = req;
  bad.set_weighting("median");
  EXPECT_THAT(reason(bad), StartsWith("BAD_OPTION: weighting"));
  bad = req;
  bad.clear_queue_id();
  EXPECT_THAT(reason(bad), StartsWith("BAD_QUEUE: "));
  bad = req;
  bad.clear_tenant_id();
  EXPECT_THAT(reason(bad), StartsWith("BAD_TENANT: "));
}

TEST(Requests, IntervalsRange) {
  iv1::GetIntervalsRequest req;
  absl::StatusOr<TimeRange> r = ParseIntervalsRange(req, 10 * kDayMs);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("BAD_TENANT: "));
  req.set_tenant_id("t");
  r = ParseIntervalsRange(req, 10 * kDayMs);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->to_ms, 10 * kDayMs);
  EXPECT_EQ(r->from_ms, 3 * kDayMs);
  *req.mutable_from() = TimeUtil::MillisecondsToTimestamp(5000);
  *req.mutable_to() = TimeUtil::MillisecondsToTimestamp(5000);
  r = ParseIntervalsRange(req, 10 * kDayMs);
  EXPECT_THAT(std::string(r.status().message()), StartsWith("BAD_TIME_RANGE: "));
}

TEST(Requests, OneLengthKeepsTheMostFrequent) {
  std::vector<IntervalAggregate> v(3);
  v[0].length_ms = 900000;
  v[1].length_ms = 2000;
  v[2].length_ms = 900000;
  std::vector<IntervalAggregate> one = OneLength(v);
  ASSERT_EQ(one.size(), 2u);
  EXPECT_EQ(one[0].length_ms, 900000);
}

TEST(Metrics, SeriesFollowTheFiguresAndTheCap) {
  InsightsMetrics m(/*max_queue_series=*/1);
  QueueSnapshot q1;
  q1.queue_id = "a";
  q1.sl_target = 0.8;
  q1.today.service_level = 0.75;
  QueueSnapshot q2 = q1;
  q2.queue_id = "b";
  m.RefreshFloor({{"t", {q1, q2}, {}}});
  std::string text = m.Serialize();
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(switchboard_insights_queue_service_level{queue="a",tenant="t",window="today"} 0.75)"));
  EXPECT_THAT(text, Not(HasSubstr(R"(queue="b")")));
  EXPECT_THAT(text, HasSubstr("switchboard_insights_queue_series_dropped 1"));
  EXPECT_THAT(text, HasSubstr(R"(switchboard_insights_agents{presence="available",tenant="t"} 0)"));
  // The SL becomes undefined: its series goes; the queue's other series stay.
  q1.today.service_level.reset();
  m.RefreshFloor({{"t", {q1, q2}, {}}});
  text = m.Serialize();
  EXPECT_THAT(text, Not(HasSubstr(R"(switchboard_insights_queue_service_level{)")));
  EXPECT_THAT(text, HasSubstr(R"(switchboard_insights_queue_waiting{queue="a",tenant="t"} 0)"));
}

// The interval store port, in memory, with the Put semantics of interval_store.h.
class FakeStore : public storage::IntervalStore {
 public:
  using Key = std::tuple<std::string, std::string, int64_t, int64_t>;
  absl::StatusOr<int64_t> Put(const std::vector<IntervalAggregate>& records,
                              bool replace) override {
    if (fail) return absl::UnavailableError("DB_UNAVAILABLE: down");
    int64_t n = 0;
    for (const IntervalAggregate& r : records) {
      Key k{r.tenant_id, r.queue_id, r.start_ms, r.length_ms};
      if (replace || !rows.contains(k)) {
        rows[k] = r;
        ++n;
      }
    }
    return n;
  }
  absl::StatusOr<std::vector<IntervalAggregate>> Range(std::string_view tenant,
                                                       std::string_view queue, int64_t from_ms,
                                                       int64_t to_ms) override {
    std::vector<IntervalAggregate> out;
    for (const auto& [k, r] : rows) {
      if (r.tenant_id == tenant && (queue.empty() || r.queue_id == queue) &&
          r.start_ms >= from_ms && r.start_ms < to_ms) {
        out.push_back(r);
      }
    }
    return out;
  }
  absl::StatusOr<std::vector<std::string>> Tenants() override { return std::vector<std::string>{}; }
  absl::StatusOr<int64_t> DeleteBefore(int64_t) override { return 0; }

  bool fail = false;
  std::map<Key, IntervalAggregate> rows;
};

rv1::RoutingEvent Queued(const std::string& id, int64_t t_ms, const std::string& interaction) {
  rv1::RoutingEvent e;
  e.set_tenant_id("t");
  e.set_event_id(id);
  *e.mutable_time() = TimeUtil::MillisecondsToTimestamp(t_ms);
  e.mutable_interaction_queued()->set_interaction_id(interaction);
  e.mutable_interaction_queued()->set_queue_id("q");
  e.mutable_interaction_queued()->set_cause("enqueued");
  return e;
}

TEST(LiveInsights, PartialIntervalsDoNotOverwriteAndFailedWritesAreRetried) {
  StatisticsOptions so;
  so.short_abandon_ms = 0;
  so.intervals.length_ms = 1000;
  so.intervals.grace_ms = 0;
  FakeStore store;
  // A complete row of [0, 1000) written by an earlier run.
  IntervalAggregate complete;
  complete.tenant_id = "t";
  complete.queue_id = "q";
  complete.start_ms = 0;
  complete.length_ms = 1000;
  complete.offered = 5;
  store.rows[{"t", "q", 0, 1000}] = complete;

  InsightsMetrics metrics;
  int64_t now = 0;
  LiveInsights live(so, &store, &metrics, [&] { return now; });
  // This run's first event is in the middle of [0, 1000): that interval is partial.
  live.Apply(Queued("0/1/0", 500, "c1"));
  live.Apply(Queued("0/1/0", 500, "c1"));  // a duplicate
  live.Apply(Queued("0/2/0", 1500, "c2"));
  store.fail = true;
  live.Apply(Queued("0/3/0", 2500, "c3"));  // closes [1000, 2000)
  EXPECT_FALSE(live.Flush(false).ok());
  EXPECT_EQ(live.pending(), 2u);
  store.fail = false;
  ASSERT_TRUE(live.Flush(false).ok());
  EXPECT_EQ(live.pending(), 0u);
  EXPECT_EQ(store.rows.at({"t", "q", 0, 1000}).offered, 5);     // kept
  EXPECT_EQ(store.rows.at({"t", "q", 1000, 1000}).offered, 1);  // fully seen: written
  EXPECT_THAT(metrics.Serialize(), HasSubstr("switchboard_insights_events_duplicate_total 1"));
  EXPECT_THAT(metrics.Serialize(), HasSubstr("switchboard_insights_store_errors_total 1"));

  // GetIntervals: stored plus open.
  iv1::GetIntervalsRequest req;
  req.set_tenant_id("t");
  *req.mutable_from() = TimeUtil::MillisecondsToTimestamp(0);
  *req.mutable_to() = TimeUtil::MillisecondsToTimestamp(10000);
  req.set_include_open(true);
  absl::StatusOr<iv1::GetIntervalsResponse> resp = live.GetIntervals(req);
  ASSERT_TRUE(resp.ok()) << resp.status();
  ASSERT_EQ(resp->intervals_size(), 3);
  EXPECT_FALSE(resp->intervals(1).open());
  EXPECT_TRUE(resp->intervals(2).open());
  EXPECT_EQ(TimeUtil::TimestampToMilliseconds(resp->intervals(2).start()), 2000);

  iv1::GetFloorRequest unknown;
  unknown.set_tenant_id("nobody");
  EXPECT_THAT(std::string(live.GetFloor(unknown).status().message()),
              StartsWith("NO_SUCH_TENANT: "));
  iv1::GetFloorRequest known;
  known.set_tenant_id("t");
  now = 2600;
  absl::StatusOr<iv1::Floor> floor = live.GetFloor(known);
  ASSERT_TRUE(floor.ok());
  EXPECT_EQ(floor->events_applied(), 3);
  ASSERT_EQ(floor->queues_size(), 1);
  EXPECT_EQ(floor->queues(0).waiting(), 3);
}

}  // namespace
}  // namespace sb::insights::service
