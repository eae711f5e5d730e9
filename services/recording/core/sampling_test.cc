// Weekly sampling: determinism, the exact count, and the statistics of a seeded random workload.
// The workload seed is printed; rerun a failure with SB_TEST_SEED=<seed>.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"
#include "recording/core/triggers.h"

namespace sb::recording::qa {
namespace {

constexpr int64_t kDay = 86400000LL;
constexpr int64_t kWeek0 = 20458LL * kDay;  // Monday 2026-01-05 00:00 UTC

uint64_t TestSeed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("SB_TEST_SEED");
    const uint64_t s = env != nullptr ? std::strtoull(env, nullptr, 10) : 20260214ull;
    std::cout << "sampling test workload seed: " << s << " (set SB_TEST_SEED to change)\n";
    return s;
  }();
  return seed;
}

std::function<SamplePolicy(const std::string&, const std::string&)> Fixed(SamplePolicy p) {
  return [p](const std::string&, const std::string&) { return p; };
}

SamplePolicy Count(int k, uint64_t seed = 7) {
  SamplePolicy p;
  p.mode = SamplePolicy::Mode::kCount;
  p.per_agent_per_week = k;
  p.seed = seed;
  return p;
}

SamplePolicy Rate(double rate, int cap = 0, uint64_t seed = 7) {
  SamplePolicy p;
  p.mode = SamplePolicy::Mode::kRate;
  p.rate = rate;
  p.max_per_agent_per_week = cap;
  p.seed = seed;
  return p;
}

SampleCandidate C(const std::string& agent, const std::string& interaction, int64_t at,
                  const std::string& queue = "q") {
  return SampleCandidate{"acme", agent, "red", queue, interaction, at};
}

std::string RandomId(std::mt19937_64& rng) { return "int-" + Hex16(rng()); }

TEST(SamplingTest, WeekStartIsAMonday) { EXPECT_EQ(IsoWeekOf(kWeek0).start_unix_ms, kWeek0); }

TEST(SamplingTest, CountModeTakesExactlyKPerAgentWeek) {
  std::mt19937_64 rng(TestSeed());
  std::vector<SampleCandidate> candidates;
  std::map<std::string, int> sizes;
  for (int a = 0; a < 60; ++a) {
    const std::string agent = "agent-" + std::to_string(a);
    const int n = static_cast<int>(rng() % 12);
    sizes[agent] = n;
    for (int i = 0; i < n; ++i) {
      candidates.push_back(
          C(agent, RandomId(rng), kWeek0 + static_cast<int64_t>(rng() % (7 * kDay))));
    }
  }
  auto tasks = SelectWeeklySample(candidates, Fixed(Count(3)), kWeek0 + 8 * kDay);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  std::map<std::string, int> got;
  std::set<std::string> keys;
  for (const ReviewTaskSpec& t : *tasks) {
    ++got[t.agent_id];
    EXPECT_TRUE(keys.insert(t.dedupe_key).second) << t.dedupe_key;
    EXPECT_EQ(t.kind, ReviewKind::kSample);
    EXPECT_FALSE(t.mandatory);
    EXPECT_EQ(t.created_at_ms, kWeek0 + 8 * kDay);
  }
  for (const auto& [agent, n] : sizes) EXPECT_EQ(got[agent], std::min(n, 3)) << agent;
  ASSERT_FALSE(tasks->empty());
  EXPECT_EQ(tasks->front().reason,
            "weekly sample " + IsoWeekOf(kWeek0).ToString() + " (3 per agent)");
}

// Bottom-k over hash ranks: over many weeks, each of an agent's n interactions is picked with
// probability k/n, whatever its position in the input.
TEST(SamplingTest, CountModeIsUniform) {
  std::mt19937_64 rng(TestSeed() + 1);
  constexpr int kN = 10;
  constexpr int kK = 2;
  constexpr int kWeeks = 4000;
  std::vector<int> hits(kN, 0);
  std::vector<SampleCandidate> candidates;
  std::map<std::string, int> position;
  for (int w = 0; w < kWeeks; ++w) {
    for (int i = 0; i < kN; ++i) {
      const std::string id = RandomId(rng);
      position[id] = i;
      candidates.push_back(C("agent-a", id, kWeek0 + w * 7 * kDay + i * 3600000));
    }
  }
  auto tasks = SelectWeeklySample(candidates, Fixed(Count(kK, rng())), 0);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), static_cast<size_t>(kWeeks * kK));
  for (const ReviewTaskSpec& t : *tasks) ++hits[position.at(t.interaction_id)];
  const double p = static_cast<double>(kK) / kN;
  const double mean = kWeeks * p;
  const double sd = std::sqrt(kWeeks * p * (1 - p));
  for (int i = 0; i < kN; ++i) {
    EXPECT_NEAR(hits[i], mean, 5 * sd) << "position " << i << " seed " << TestSeed();
  }
}

TEST(SamplingTest, RateModeHitsTheRate) {
  std::mt19937_64 rng(TestSeed() + 2);
  constexpr int kTotal = 20000;
  constexpr double kRate = 0.07;
  std::vector<SampleCandidate> candidates;
  for (int i = 0; i < kTotal; ++i) {
    candidates.push_back(C("agent-" + std::to_string(rng() % 200), RandomId(rng),
                           kWeek0 + static_cast<int64_t>(rng() % (28 * kDay))));
  }
  auto tasks = SelectWeeklySample(candidates, Fixed(Rate(kRate, 0, rng())), 0);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  const double sd = std::sqrt(kTotal * kRate * (1 - kRate));
  EXPECT_NEAR(static_cast<double>(tasks->size()), kTotal * kRate, 5 * sd) << "seed " << TestSeed();
  // The rank behind each pick is below the rate.
  for (const ReviewTaskSpec& t : *tasks) EXPECT_THAT(t.reason, ::testing::HasSubstr("rate 0.07"));
}

TEST(SamplingTest, RateModeCapsPerAgentWeek) {
  std::vector<SampleCandidate> candidates;
  for (int a = 0; a < 50; ++a) {
    for (int i = 0; i < 20; ++i) {
      candidates.push_back(C("agent-" + std::to_string(a), "int-" + std::to_string(a * 100 + i),
                             kWeek0 + i * 3600000));
    }
  }
  auto tasks = SelectWeeklySample(candidates, Fixed(Rate(0.5, 2)), 0);
  ASSERT_TRUE(tasks.ok());
  std::map<std::string, int> per_agent;
  for (const ReviewTaskSpec& t : *tasks) ++per_agent[t.agent_id];
  for (const auto& [agent, n] : per_agent) EXPECT_LE(n, 2) << agent;
  // With 20 interactions at rate 0.5, an agent has fewer than 2 picks with probability 21/2^20.
  EXPECT_EQ(tasks->size(), 100u);
  EXPECT_THAT(tasks->front().reason, ::testing::HasSubstr("rate 0.5, at most 2"));
}

TEST(SamplingTest, DependsOnTheSetNotTheOrder) {
  std::mt19937_64 rng(TestSeed() + 3);
  std::vector<SampleCandidate> candidates;
  for (int i = 0; i < 300; ++i) {
    candidates.push_back(C("agent-" + std::to_string(i % 7), RandomId(rng),
                           kWeek0 + static_cast<int64_t>(rng() % (14 * kDay))));
  }
  auto a = SelectWeeklySample(candidates, Fixed(Count(4)), 0);
  std::shuffle(candidates.begin(), candidates.end(), rng);
  candidates.push_back(candidates[5]);  // a duplicate counts once
  auto b = SelectWeeklySample(candidates, Fixed(Count(4)), 0);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), 7u * 2 * 4);  // 7 agents, 2 weeks, 4 each (each has ~21 a week)
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].interaction_id, (*b)[i].interaction_id);
    EXPECT_EQ((*a)[i].dedupe_key, (*b)[i].dedupe_key);
  }
}

TEST(SamplingTest, SeedTenantAndWeekChangeTheSample) {
  std::vector<SampleCandidate> candidates;
  for (int i = 0; i < 100; ++i)
    candidates.push_back(C("agent-a", "int-" + std::to_string(i), kWeek0));
  auto pick = [&](uint64_t seed) {
    std::set<std::string> ids;
    auto tasks = SelectWeeklySample(candidates, Fixed(Count(5, seed)), 0);
    EXPECT_TRUE(tasks.ok()) << tasks.status();
    if (!tasks.ok()) return ids;
    for (const ReviewTaskSpec& t : *tasks) ids.insert(t.interaction_id);
    return ids;
  };
  EXPECT_EQ(pick(1), pick(1));
  EXPECT_NE(pick(1), pick(2));
  const SampleCandidate c = C("agent-a", "int-1", kWeek0);
  SampleCandidate next_week = c;
  next_week.ended_at_ms += 7 * kDay;
  SampleCandidate same_week = c;
  same_week.ended_at_ms += 6 * kDay;
  SampleCandidate other_tenant = c;
  other_tenant.tenant = "globex";
  EXPECT_EQ(SampleRank(c, 1), SampleRank(same_week, 1));
  EXPECT_NE(SampleRank(c, 1), SampleRank(next_week, 1));
  EXPECT_NE(SampleRank(c, 1), SampleRank(other_tenant, 1));
  EXPECT_GE(SampleRank(c, 1), 0);
  EXPECT_LT(SampleRank(c, 1), 1);
}

TEST(SamplingTest, GroupsByWeekAndQueueScope) {
  const std::vector<SampleCandidate> candidates = {
      C("a", "w1-1", kWeek0),
      C("a", "w1-2", kWeek0 + kDay),
      C("a", "w2-1", kWeek0 + 7 * kDay),
      C("a", "w2-2", kWeek0 + 8 * kDay),
      C("a", "vip-1", kWeek0, "vip"),
      C("a", "vip-2", kWeek0, "vip"),
  };
  auto policy = [](const std::string&, const std::string& queue) {
    SamplePolicy p = Count(1);
    if (queue == "vip") {
      p = Count(2);
      p.scope = "vip";
    }
    return p;
  };
  auto tasks = SelectWeeklySample(candidates, policy, 0);
  ASSERT_TRUE(tasks.ok());
  std::map<std::string, int> by_prefix;
  for (const ReviewTaskSpec& t : *tasks) ++by_prefix[t.interaction_id.substr(0, 3)];
  EXPECT_EQ(by_prefix["w1-"], 1);
  EXPECT_EQ(by_prefix["w2-"], 1);
  EXPECT_EQ(by_prefix["vip"], 2);
  EXPECT_EQ(tasks->size(), 4u);
  bool vip_reason = false;
  for (const ReviewTaskSpec& t : *tasks) {
    vip_reason |= t.reason.find("queue vip") != std::string::npos;
  }
  EXPECT_TRUE(vip_reason);
}

TEST(SamplingTest, ZeroTurnsSamplingOff) {
  auto tasks = SelectWeeklySample({C("a", "i", kWeek0)}, Fixed(Count(0)), 0);
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->empty());
  tasks = SelectWeeklySample({C("a", "i", kWeek0)}, Fixed(Rate(0)), 0);
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->empty());
  tasks = SelectWeeklySample({C("a", "i", kWeek0)}, Fixed(Rate(1)), 0);
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(tasks->size(), 1u);
}

TEST(SamplingTest, Errors) {
  SampleCandidate c = C("", "i", kWeek0);
  auto r = SelectWeeklySample({C("a", "i", kWeek0), c}, Fixed(Count(1)), 0);
  EXPECT_EQ(r.status().message(), "MISSING_FIELD: candidates[1].agent_id: required");
  r = SelectWeeklySample({C("a", "i", kWeek0)}, Fixed(Rate(1.5)), 0);
  EXPECT_EQ(ReasonOf(r.status()), "INVALID_SAMPLE_POLICY");
  r = SelectWeeklySample({C("a", "i", kWeek0)}, Fixed(Count(-1)), 0);
  EXPECT_EQ(ReasonOf(r.status()), "INVALID_SAMPLE_POLICY");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sb::recording::qa
