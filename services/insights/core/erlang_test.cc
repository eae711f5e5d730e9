// Unit tests of Erlang B/C/A and the patience estimate.

#include "insights/core/erlang.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

namespace sb::insights {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Erlang B by its definition, A^N/N! / sum_k A^k/k!, for small N.
double ErlangBDirect(int n, double a) {
  double term = 1, sum = 1;
  for (int k = 1; k <= n; ++k) {
    term *= a / k;
    sum += term;
  }
  return term / sum;
}

TEST(ErlangB, MatchesTheDefinitionForSmallN) {
  for (int n : {1, 2, 5, 10, 20}) {
    for (double a : {0.5, 3.0, 9.5, 25.0}) {
      EXPECT_NEAR(ErlangB(n, a), ErlangBDirect(n, a), 1e-12) << n << " " << a;
    }
  }
}

// Published example: "Erlang C calculator" by Vicente Ruiz,
// http://personal.telefonica.terra.es/web/vr/erlang/eng/mcerlc.htm :
//   "If in one hour there are 600 calls with call length of 120 seconds, that is a traffic of 20
//    erlangs. For a target delay probability of 15% the number of circuits needed are 26. The
//    average delay is 2.5 sec/CCS, so, 1800 total seconds or 3 seconds per call. If circuits are
//    incremented to 30, delay is reduced to 2.5%."
// (The page rounds: 26 agents give P(wait) = 14.34% and ASA 2.87 s; 25 agents give 20.9%.)
TEST(ErlangC, PublishedExampleTwentyErlangs) {
  const double rate = 600.0 / 3600.0, aht = 120;
  const ErlangCResult r26 = ErlangC(26, rate, aht, 20);
  EXPECT_NEAR(r26.load, 20.0, 1e-9);
  EXPECT_LT(r26.probability_wait, 0.15);
  EXPECT_NEAR(r26.probability_wait, 0.1434, 5e-4);
  EXPECT_NEAR(r26.asa_s, 3.0, 0.2);                                       // "3 seconds per call"
  EXPECT_GT(ErlangC(25, rate, aht, 20).probability_wait, 0.15);           // so 26 are needed
  EXPECT_NEAR(ErlangC(30, rate, aht, 20).probability_wait, 0.025, 5e-4);  // "reduced to 2.5%"
  EXPECT_NEAR(r26.occupancy, 20.0 / 26.0, 1e-12);
}

// The same example in service-level form: SL(T) = 1 - C exp(-(N - A) T / AHT).
TEST(ErlangC, ServiceLevelAndRequiredAgents) {
  const double rate = 100.0 / 1800.0, aht = 180;  // 100 calls per 30 min, AHT 3 min: 10 Erlangs
  const ErlangCResult r = ErlangC(11, rate, aht, 20);
  EXPECT_NEAR(r.probability_wait, 0.6821, 1e-4);
  EXPECT_NEAR(r.service_level, 1 - 0.6821182 * std::exp(-1.0 * 20 / 180), 1e-6);
  // 80% in 20 s: 13 agents give 79.6%, 14 give 88.8%.
  EXPECT_LT(ErlangC(13, rate, aht, 20).service_level, 0.8);
  EXPECT_GT(ErlangC(14, rate, aht, 20).service_level, 0.8);
  EXPECT_EQ(ErlangCRequiredAgents(rate, aht, 20, 0.8), 14);
  // An occupancy cap of 60% needs ceil(10 / 0.6) = 17.
  EXPECT_EQ(ErlangCRequiredAgents(rate, aht, 20, 0.8, 0.6), 17);
  EXPECT_EQ(ErlangCRequiredAgents(0, aht, 20, 0.8), 0);
}

TEST(ErlangC, UnstableAndNoTraffic) {
  const ErlangCResult r = ErlangC(10, 10.0 / 180, 180, 20);  // N = A
  EXPECT_FALSE(r.stable);
  EXPECT_EQ(r.probability_wait, 1);
  EXPECT_EQ(r.service_level, 0);
  EXPECT_TRUE(std::isinf(r.asa_s));
  const ErlangCResult idle = ErlangC(3, 0, 180, 20);
  EXPECT_EQ(idle.service_level, 1);
  EXPECT_EQ(idle.probability_wait, 0);
}

TEST(ErlangC, StableForHundredsOfAgents) {
  // 950 Erlangs on 1000 agents: A^N / N! overflows a double; the recursion does not.
  const ErlangCResult r = ErlangC(1000, 950.0 / 180, 180, 20);
  EXPECT_TRUE(std::isfinite(r.probability_wait));
  EXPECT_GT(r.probability_wait, 0);
  EXPECT_LT(r.probability_wait, 1);
  EXPECT_GT(r.service_level, 0.5);
  const int n = ErlangCRequiredAgents(950.0 / 180, 180, 20, 0.9);
  EXPECT_GT(n, 950);
  EXPECT_LT(n, 1100);
  EXPECT_GE(ErlangC(n, 950.0 / 180, 180, 20).service_level, 0.9);
  EXPECT_LT(ErlangC(n - 1, 950.0 / 180, 180, 20).service_level, 0.9);
}

TEST(ErlangA, ConvergesToErlangCAsPatienceGrows) {
  const double rate = 100.0 / 1800.0, aht = 180;
  for (int n : {11, 12, 14, 20}) {
    const ErlangCResult c = ErlangC(n, rate, aht, 20);
    const ErlangAResult a = ErlangA(n, rate, aht, 1e8, 20);
    EXPECT_NEAR(a.probability_wait, c.probability_wait, 1e-4) << n;
    EXPECT_NEAR(a.service_level, c.service_level, 1e-4) << n;
    EXPECT_NEAR(a.asa_s, c.asa_s, 1e-2 * c.asa_s + 1e-3) << n;
    EXPECT_LT(a.probability_abandon, 1e-4) << n;
    const ErlangAResult inf = ErlangA(n, rate, aht, kInf, 20);
    EXPECT_DOUBLE_EQ(inf.service_level, c.service_level);
  }
}

TEST(ErlangA, AbandonFallsAsPatienceGrows) {
  const double rate = 100.0 / 1800.0, aht = 180;
  double previous = 1.1;
  for (double patience : {5.0, 30.0, 60.0, 120.0, 300.0, 1000.0, 1e4, 1e5}) {
    const ErlangAResult r = ErlangA(11, rate, aht, patience, 20);
    EXPECT_LT(r.probability_abandon, previous) << patience;
    previous = r.probability_abandon;
  }
}

TEST(ErlangA, HandlesOverloadUnlikeErlangC) {
  // 10 Erlangs on 8 agents: Erlang C has no steady state; with patience 60 s there is one.
  const ErlangAResult r = ErlangA(8, 10.0 / 180, 180, 60, 20);
  EXPECT_TRUE(std::isfinite(r.asa_s));
  EXPECT_GT(r.probability_abandon, 0.1);
  EXPECT_LT(r.probability_abandon, 1);
  EXPECT_GT(r.service_level, 0);
  EXPECT_LE(r.occupancy, 1);
  // Carried load: at most N busy.
  EXPECT_NEAR(r.occupancy, 10 * (1 - r.probability_abandon) / 8, 1e-9);
}

TEST(ErlangA, RequiredAgentsNeverAboveErlangC) {
  const double rate = 100.0 / 1800.0, aht = 180;
  const int c = ErlangCRequiredAgents(rate, aht, 20, 0.8);
  const int a = ErlangARequiredAgents(rate, aht, 120, 20, 0.8);
  EXPECT_GT(a, 0);
  EXPECT_LE(a, c);
  EXPECT_GE(ErlangA(a, rate, aht, 120, 20).service_level, 0.8);
  EXPECT_LT(ErlangA(a - 1, rate, aht, 120, 20).service_level, 0.8);
  EXPECT_EQ(ErlangARequiredAgents(rate, aht, kInf, 20, 0.8), c);
  EXPECT_EQ(ErlangARequiredAgents(0, aht, 120, 20, 0.8), 0);
}

// With a long threshold, the SL (abandons within T neutral) is met by an overloaded queue whose
// callers all wait a little under T; the abandon cap prevents staffing for that.
TEST(ErlangA, AbandonCap) {
  const double rate = 2000.0 / 900, aht = 300, patience = 315, t = 120;  // 667 Erlangs
  const int sl_only = ErlangARequiredAgents(rate, aht, patience, t, 0.8);
  EXPECT_LT(sl_only, 667);
  EXPECT_GT(ErlangA(sl_only, rate, aht, patience, t).probability_abandon, 0.2);
  const int capped = ErlangARequiredAgents(rate, aht, patience, t, 0.8, 1.0, 0.05);
  EXPECT_LE(ErlangA(capped, rate, aht, patience, t).probability_abandon, 0.05);
  EXPECT_GT(ErlangA(capped - 1, rate, aht, patience, t).probability_abandon, 0.05);
}

TEST(ErlangA, HundredsOfAgents) {
  const ErlangAResult r = ErlangA(500, 480.0 / 180, 180, 90, 20);
  EXPECT_TRUE(std::isfinite(r.service_level));
  EXPECT_GT(r.service_level, 0);
  EXPECT_LE(r.service_level, 1);
  const int n = ErlangARequiredAgents(480.0 / 180, 180, 90, 20, 0.9);
  EXPECT_GT(n, 400);
  EXPECT_LT(n, 600);
}

// Randomized properties; the seed is printed so a failure can be replayed.
TEST(ErlangA, RandomizedProperties) {
  const uint32_t seed = std::random_device{}();
  std::cout << "ErlangA.RandomizedProperties seed=" << seed << "\n";
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> agents(1, 120);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int i = 0; i < 60; ++i) {
    const int n = agents(rng);
    const double aht = 30 + 600 * unit(rng);
    const double load = n * (0.3 + 1.2 * unit(rng));  // up to 150% overload
    const double rate = load / aht;
    const double patience = 5 + 900 * unit(rng);
    const double t = 60 * unit(rng);
    SCOPED_TRACE(testing::Message() << "n=" << n << " aht=" << aht << " load=" << load
                                    << " patience=" << patience << " t=" << t);
    const ErlangAResult r = ErlangA(n, rate, aht, patience, t);
    EXPECT_GE(r.service_level, 0);
    EXPECT_LE(r.service_level, 1);
    EXPECT_GE(r.probability_abandon, 0);
    EXPECT_LE(r.probability_abandon, 1);
    EXPECT_LE(r.probability_answered_within_threshold + r.probability_abandon_within_threshold,
              1 + 1e-9);
    // Little + exponential patience: P(abandon) = mean wait of all / mean patience.
    EXPECT_NEAR(r.probability_abandon, r.mean_wait_s / patience, 1e-6);
    // More agents never hurt.
    const ErlangAResult more = ErlangA(n + 1, rate, aht, patience, t);
    EXPECT_GE(more.service_level, r.service_level - 1e-9);
    EXPECT_LE(more.probability_abandon, r.probability_abandon + 1e-9);
    // More patience, fewer abandons.
    EXPECT_LE(ErlangA(n, rate, aht, patience * 2, t).probability_abandon,
              r.probability_abandon + 1e-9);
  }
}

TEST(Patience, MaximumLikelihoodEstimate) {
  // 3 abandons; callers waited 10 + 20 + 30 (abandoned) + 40 + 50 (answered) = 150 s.
  EXPECT_DOUBLE_EQ(*EstimateMeanPatienceS(150, 3), 50);
  EXPECT_FALSE(EstimateMeanPatienceS(150, 0).has_value());
}

}  // namespace
}  // namespace sb::insights
