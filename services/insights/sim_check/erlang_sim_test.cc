// The simulation check of the insights figures against Erlang C (docs/insights.md): the
// simulator runs the routing engine on an M/M/c queue, every routing event goes through
// sb::insights::Statistics exactly as the service applies it, and the service level and ASA that
// Statistics reports (from its 15-minute interval aggregates) must agree with
// sb::insights::ErlangC.
//
// This closes the loop engine -> events -> Statistics -> interval aggregates -> figures, and checks
// insights' own Erlang C (erlang.cc) against an independent simulation: an error in either side —
// waits summed or attributed wrongly, events lost or counted twice, the SL threshold misread
// (units; taking the default instead of the queue's is caught by the stamped threshold), the SL or
// ASA formula — shows up as a bias. (Subtler slips that the M/M/c setting cannot see, such as the
// wait measured to the offer instead of the answer, or `<` instead of `<=` at T with millisecond
// waits, are for the unit tests in core/.)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/substitute.h"
#include "gtest/gtest.h"
#include "insights/core/erlang.h"
#include "insights/core/intervals.h"
#include "insights/core/stats.h"
#include "simulator/report.h"
#include "simulator/scenario.h"
#include "simulator/simulator.h"

namespace sb::insights {
namespace {

namespace v1 = ::switchboard::routing::v1;

// SB_SIM_TEST_SEED overrides the fixed default seed (replication r runs with seed + r), so a
// failure can be replayed and other seeds tried. Always printed.
uint64_t TestSeed(uint64_t fallback) {
  const char* env = std::getenv("SB_SIM_TEST_SEED");
  const uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : fallback;
  std::cout << "[ seed     ] " << seed << " (set SB_SIM_TEST_SEED to change)\n";
  return seed;
}

// The length of each replication, as a multiple of 100 simulated hours: SB_SIM_TEST_SCALE, by
// default 1, or 0.1 under AddressSanitizer (Debug + ASan runs this ~60x slower than Release, ~3
// min of CPU at full length; the ASan stage of CI runs the unit tests for memory errors, and the
// Release run keeps the full statistical check). > 1 for a tighter check by hand. Printed.
double TestScale() {
#if defined(__SANITIZE_ADDRESS__)  // GCC; clang: __has_feature(address_sanitizer)
  constexpr double kDefault = 0.1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  constexpr double kDefault = 0.1;
#else
  constexpr double kDefault = 1.0;
#endif
#else
  constexpr double kDefault = 1.0;
#endif
  const char* env = std::getenv("SB_SIM_TEST_SCALE");
  double scale = env != nullptr ? std::strtod(env, nullptr) : kDefault;
  if (!(scale > 0)) scale = kDefault;
  std::cout << "[ scale    ] " << scale << " x 100 h per replication (set SB_SIM_TEST_SCALE)\n";
  return scale;
}

struct MeanSe {
  double mean = 0;
  double se = 0;  // standard error of the mean, from the spread of the replications
};

MeanSe MeanAndSe(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  const double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  return {m, sd / std::sqrt(static_cast<double>(v.size()))};
}

TEST(ErlangSimTest, StatisticsServiceLevelAndAsaMatchErlangC) {
  // c = 12 agents, lambda = 108 calls/h, exponential handle time with mean 5 min: A = 9 Erlangs,
  // occupancy 0.75, C(12, 9) = 0.27, SL(15 s) = 0.77, ASA = 26.6 s. No abandonment, no wrap-up,
  // agents answer at once (accept delay 0), one queue, one skill: the engine is a FIFO M/M/c
  // queue. The SL threshold (15 s) is set on the queue and differs from Statistics'
  // default (20 s), so it must come from the QueueUpserted event.
  constexpr int kAgents = 12;
  constexpr double kLambdaPerHour = 108;
  constexpr double kAhtS = 300;
  constexpr int64_t kThresholdMs = 15000;
  constexpr int64_t kWarmupMs = 2 * 3600000;  // a whole number of 15-minute intervals
  const double scale = TestScale();
  const int64_t measured_ms =
      std::max<int64_t>(kIntervalMs, std::llround(scale * 100 * 3600000.0 / kIntervalMs) *
                                         kIntervalMs);  // 100 h per replication by default
  const std::string yaml = absl::Substitute(R"(
duration: $0s
warmup: $1s
tenant: t
routing:
  queues:
    - {id: q, service_level: {target: 0.8, threshold: $2s}}
  agents:
    - {count: $3, id_prefix: a-}
arrivals:
  - {queue: q, rate_per_hour: $4}
handle_time:
  q: {dist: exponential, mean: $5s}
agent_behavior:
  accept_delay: 0s
)",
                                            (kWarmupMs + measured_ms) / 1000, kWarmupMs / 1000,
                                            kThresholdMs / 1000, kAgents, kLambdaPerHour, kAhtS);
  absl::StatusOr<sim::Scenario> sc = sim::ParseScenario(yaml, "erlang_sim_test.yaml");
  ASSERT_TRUE(sc.ok()) << sc.status();

  const ErlangCResult theory =
      ErlangC(kAgents, kLambdaPerHour / 3600, kAhtS, kThresholdMs / 1000.0);
  ASSERT_TRUE(theory.stable);

  // Independent replications (different seeds) give independent estimates, so their spread
  // measures the standard error honestly despite the strong autocorrelation of successive waits
  // within a run (a busy spell delays many callers in a row). 40 x 100 h x 108/h ~ 432,000
  // callers: about 3 s of CPU in Release (see TestScale for ASan).
  constexpr int kReplications = 40;
  const uint64_t base = TestSeed(7001);
  std::vector<double> sl;
  std::vector<double> asa_s;
  for (int rep = 0; rep < kReplications; ++rep) {
    Statistics stats;
    int64_t connected = 0;
    sim::SimOptions options;
    options.seed = base + static_cast<uint64_t>(rep);
    options.observer = [&](const v1::RoutingCommand&, const std::vector<v1::RoutingEvent>& es) {
      for (const v1::RoutingEvent& e : es) {
        // The engine leaves event_id empty (the partition owner stamps it), so nothing is
        // deduplicated here: every event is applied.
        stats.Apply(e);
        if (e.has_interaction_connected()) ++connected;
      }
    };
    absl::StatusOr<sim::Report> report = sim::RunSimulation(*sc, options);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_EQ(report->total.abandoned, 0);

    // Every interval, closed or still open. Answers and waits count in the interval in which
    // the answer happened; the intervals from the end of the warm-up on hold the answers of a
    // stationary queue (started empty, it relaxes within minutes, and 2 h are discarded), and
    // in steady state the waits of the answers in a fixed window have the stationary wait
    // distribution. The few callers still waiting at the end are not counted (a bias of order
    // Lq / answered ~ 1e-4, far below the standard error).
    stats.AdvanceTime(sim::kSimEpochMs + kWarmupMs + measured_ms + 3600000);
    std::vector<IntervalAggregate> intervals = stats.TakeClosedIntervals();
    for (IntervalAggregate& a : stats.OpenIntervals("t")) intervals.push_back(std::move(a));
    IntervalAggregate total;
    int64_t answered_all = 0;
    for (const IntervalAggregate& a : intervals) {
      ASSERT_EQ(a.tenant_id, "t");
      ASSERT_EQ(a.queue_id, "q");
      ASSERT_EQ(a.sl_threshold_ms, kThresholdMs);
      answered_all += a.answered;
      if (a.start_ms < sim::kSimEpochMs + kWarmupMs) continue;
      total.answered += a.answered;
      total.answered_within_sl += a.answered_within_sl;
      total.abandoned_after_sl += a.abandoned_after_sl;
      total.wait_answered_ms += a.wait_answered_ms;
    }
    // Conservation: Statistics counted every answer the engine made, once.
    ASSERT_EQ(answered_all, connected);
    ASSERT_GT(total.answered, 0);
    ASSERT_EQ(total.abandoned_after_sl, 0);
    // The definitions of docs/insights.md, as WindowStats derives them.
    const double rep_sl = static_cast<double>(total.answered_within_sl) /
                          static_cast<double>(total.answered + total.abandoned_after_sl);
    const double rep_asa_s =
        static_cast<double>(total.wait_answered_ms) / static_cast<double>(total.answered) / 1000;
    std::cout << "[ replica  ] " << rep << ", seed " << *options.seed << ": " << total.answered
              << " answered, SL(" << kThresholdMs / 1000 << " s) " << rep_sl << ", ASA "
              << rep_asa_s << " s\n";
    sl.push_back(rep_sl);
    asa_s.push_back(rep_asa_s);
  }

  const MeanSe sl_sim = MeanAndSe(sl);
  const MeanSe asa_sim = MeanAndSe(asa_s);
  std::cout << "[ erlang c ] SL(" << kThresholdMs / 1000 << " s) theory " << theory.service_level
            << ", simulated " << sl_sim.mean << " +- " << sl_sim.se << " (se)\n"
            << "[ erlang c ] ASA theory " << theory.asa_s << " s, simulated " << asa_sim.mean
            << " +- " << asa_sim.se << " s (se)\n";

  // Tolerance, two conditions on each figure:
  // 1. Statistical: |simulated - theory| <= 4 standard errors. The mean of 40 replications over
  //    its standard error follows Student's t with 39 degrees of freedom if the replications are
  //    normal (3.56 would leave 0.1% in the two tails); a replication's ASA is somewhat
  //    right-skewed (a rare long busy spell), hence the margin. Over 40 independent seed blocks
  //    (SB_SIM_TEST_SEED = 1005, 2005, ..., 40005) the t values had a standard deviation of 0.95
  //    and stayed within [-2.2, 2.7]. At the default length the standard errors are about 0.0034
  //    in SL and 0.8 s (3%) in ASA, so this detects a bias of about 0.014 in SL or 3.3 s (12%)
  //    in ASA. The run is deterministic for a seed: the default seed passes or fails the same
  //    way every time.
  // 2. Absolute: |simulated - theory| <= 0.02 in SL and <= 15% of the ASA, about 6 and 5
  //    standard errors at the default length: it binds only when the replications scatter far
  //    more than they should, so a broken pipeline whose figures are mostly noise cannot pass on
  //    its own large standard error. Widened by 1/sqrt(scale) for shorter runs.
  // Runs with SB_SIM_TEST_SCALE=10 (1000 h per replication) and 20 replications, seeds 100000
  // and 200000, gave SL(15 s) 0.7706 +- 0.0015 and 0.7701 +- 0.0012 and ASA 26.85 +- 0.33 s and
  // 26.91 +- 0.40 s, against 0.7710 and 26.60 s: no visible bias.
  constexpr double kT = 4.0;
  const double widen = std::max(1.0, 1.0 / std::sqrt(scale));
  EXPECT_NEAR(sl_sim.mean, theory.service_level, kT * sl_sim.se);
  EXPECT_NEAR(asa_sim.mean, theory.asa_s, kT * asa_sim.se);
  EXPECT_NEAR(sl_sim.mean, theory.service_level, 0.02 * widen);
  EXPECT_NEAR(asa_sim.mean, theory.asa_s, 0.15 * theory.asa_s * widen);
}

}  // namespace
}  // namespace sb::insights
