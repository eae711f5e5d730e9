// Statistics fed by the real routing engine: checks that the event sequences the engine emits
// (as opposed to the hand-built ones of stats_test.cc) give the intended figures.

#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "insights/core/stats.h"
#include "routing/engine/engine_test_util.h"

namespace sb::insights {
namespace {

namespace rt = ::sb::routing::test;
using RE = rv1::RoutingEvent;
using rt::kMin;
using rt::kSec;

class EngineFeed {
 public:
  // Stamps the events of the command just applied like the routing service does
  // ("<partition>/<command offset>/<index>") and applies them.
  void Feed(rt::Events events) {
    const int64_t n = static_cast<int64_t>(d.log().size());
    for (size_t i = 0; i < events.size(); ++i) {
      auto& e = events[i];
      e.set_partition(0);
      e.set_command_offset(n);
      e.set_event_id("0/" + std::to_string(n) + "/" + std::to_string(i));
      EXPECT_TRUE(stats.Apply(e)) << e.ShortDebugString();
      all.push_back(e);
    }
  }
  rt::Driver d;
  Statistics stats;
  rt::Events all;
};

TEST(StatisticsWithEngine, AnsweredAbandonedAndHandled) {
  EngineFeed f;
  const int64_t t0 = f.d.now();
  auto q = rt::Queue("support");
  q.mutable_service_level()->set_target(0.8);
  *q.mutable_service_level()->mutable_threshold() = rt::Dur(20 * kSec);
  *q.mutable_wrap_up() = rt::Dur(30 * kSec);
  f.Feed(f.d.UpsertQueue(q));
  f.Feed(f.d.UpsertAgent(rt::Agent("a1")));
  f.Feed(f.d.Login("a1"));
  f.Feed(f.d.Enqueue("i1", "support"));  // offered to a1 at once
  f.d.Advance(4 * kSec);
  f.Feed(f.d.AcceptOf("i1"));  // waited 4 s
  f.d.Advance(6 * kSec);
  f.Feed(f.d.Enqueue("i2", "support"));  // a1 is busy: waits
  f.d.Advance(25 * kSec);
  f.Feed(f.d.Cancel("i2"));  // abandoned after 25 s > 20 s
  f.d.Advance(29 * kSec);
  f.Feed(f.d.Complete("a1", "i1"));  // talk 60 s
  f.d.Advance(10 * kSec);
  f.Feed(f.d.EndWrapUp("a1", "i1"));  // wrap-up 10 s

  const int64_t now = t0 + 100 * kSec;
  const QueueSnapshot s = *f.stats.Queue("tenant-1", "support", now);
  const Counts& c = s.today.counts;
  EXPECT_EQ(c.offered, 2);
  EXPECT_EQ(c.answered, 1);
  EXPECT_EQ(c.answered_within_sl, 1);
  EXPECT_EQ(c.abandoned, 1);
  EXPECT_EQ(c.abandoned_after_sl, 1);
  EXPECT_EQ(c.handled, 1);
  EXPECT_EQ(c.offers, 1);
  EXPECT_DOUBLE_EQ(*s.today.service_level, 0.5);
  EXPECT_DOUBLE_EQ(*s.today.asa_ms, 4 * kSec);
  EXPECT_DOUBLE_EQ(*s.today.aht_ms, 70 * kSec);
  EXPECT_EQ(s.waiting, 0);
  EXPECT_EQ(s.members, 1);
  EXPECT_EQ(s.agents_available, 1);
  const AgentSnapshot a = f.stats.Agents("tenant-1", now)[0];
  EXPECT_EQ(a.presence, rv1::PRESENCE_AVAILABLE);
  EXPECT_EQ(a.handled_today, 1);
  EXPECT_DOUBLE_EQ(*a.occupancy_today, 0.7);  // busy 4..74 s of 100 s
  // A replay changes nothing.
  for (const auto& e : f.all) EXPECT_FALSE(f.stats.Apply(e));
  EXPECT_EQ(f.stats.Queue("tenant-1", "support", now)->today.counts.offered, 2);
}

TEST(StatisticsWithEngine, TransferStartsANewWaitInTheTargetQueue) {
  EngineFeed f;
  const int64_t t0 = f.d.now();
  f.Feed(f.d.UpsertQueue(rt::Queue("support")));
  f.Feed(f.d.UpsertQueue(rt::Queue("billing")));
  f.Feed(f.d.UpsertAgent(rt::Agent("a1")));
  f.Feed(f.d.Login("a1"));
  f.Feed(f.d.Enqueue("i1", "support"));
  f.d.Advance(2 * kSec);
  f.Feed(f.d.AcceptOf("i1"));
  f.d.Advance(30 * kSec);
  f.Feed(f.d.Transfer("a1", "i1", "billing"));  // a1 is excluded: i1 waits in billing
  const int64_t now = t0 + 2 * kMin;
  const QueueSnapshot support = *f.stats.Queue("tenant-1", "support", now);
  const QueueSnapshot billing = *f.stats.Queue("tenant-1", "billing", now);
  EXPECT_EQ(support.today.counts.answered, 1);
  EXPECT_EQ(support.today.counts.handled, 1);  // no wrap-up configured: handled at the transfer
  EXPECT_DOUBLE_EQ(*support.today.aht_ms, 30 * kSec);
  EXPECT_EQ(billing.today.counts.offered, 1);
  EXPECT_EQ(billing.waiting, 1);
  EXPECT_EQ(billing.longest_wait_ms, 2 * kMin - 32 * kSec);
}

// Random traffic through the real engine (the seed is printed): every arrival into a queue is
// answered, abandoned, left otherwise, or still waiting; figures stay in range; a replay of the
// whole stream changes nothing.
TEST(StatisticsWithEngine, RandomTrafficConservesCallers) {
  const uint32_t seed = std::random_device{}();
  std::cout << "StatisticsWithEngine.RandomTrafficConservesCallers seed=" << seed << "\n";
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  EngineFeed f;
  const std::vector<std::string> queues = {"support", "billing"};
  auto support = rt::Queue("support");
  *support.mutable_wrap_up() = rt::Dur(5 * kSec);
  *support.mutable_max_wait() = rt::Dur(90 * kSec);
  support.set_overflow_action(rv1::OVERFLOW_ACTION_QUEUE);
  auto billing = rt::Queue("billing");
  *billing.mutable_offer_timeout() = rt::Dur(8 * kSec);
  f.Feed(f.d.UpsertQueue(billing));
  support.set_overflow_queue("billing");
  f.Feed(f.d.UpsertQueue(support));
  for (const char* a : {"a1", "a2", "a3"}) {
    f.Feed(f.d.UpsertAgent(rt::Agent(a)));
    f.Feed(f.d.Login(a));
  }
  // Feeds a command's events, and answers most of the offers they make at once.
  auto feed = [&](rt::Events events) {
    const std::vector<rv1::OfferCreated> offers = rt::Offers(events);
    f.Feed(std::move(events));
    for (const auto& o : offers) {
      if (rng() % 5 != 0) f.Feed(f.d.Accept(o.agent_id(), o.offer_id()));
    }
  };
  std::vector<std::string> ids, all_ids;
  for (int step = 0; step < 1500; ++step) {
    const int action = static_cast<int>(rng() % 10);
    if (action == 0 || ids.empty()) {
      ids.push_back("i" + std::to_string(step));
      all_ids.push_back(ids.back());
      feed(f.d.Enqueue(ids.back(), queues[rng() % 2]));
    } else if (action <= 6) {
      const size_t k = rng() % ids.size();
      const std::string id = ids[k];
      auto r = f.d.engine().GetInteraction(id);
      if (!r) {  // ended: forget it, so live ones are picked more often
        ids[k] = ids.back();
        ids.pop_back();
        continue;
      }
      if (r->state() == rv1::INTERACTION_STATE_OFFERED) {
        feed(rng() % 4 == 0 ? f.d.RejectOf(id) : f.d.AcceptOf(id));
      } else if (r->state() == rv1::INTERACTION_STATE_CONNECTED) {
        if (rng() % 5 == 0) {
          feed(f.d.Transfer(r->agent_id(), id, queues[rng() % 2]));
        } else {
          feed(f.d.Complete(r->agent_id(), id));
        }
      } else if (r->state() == rv1::INTERACTION_STATE_QUEUED) {
        feed(f.d.Cancel(
            id, rng() % 3 == 0 ? rv1::CANCEL_REASON_CANCELLED : rv1::CANCEL_REASON_ABANDONED));
      }
    } else if (action == 7) {
      // Back from "not_responding" (a missed offer puts the agent in AUX).
      feed(f.d.Available("a" + std::to_string(1 + rng() % 3)));
    } else {
      f.d.Advance(static_cast<int64_t>(rng() % 15000));
      feed(f.d.Tick());
    }
  }
  const int64_t now = f.d.now();
  int64_t waiting_total = 0;
  for (const std::string& id : all_ids) {
    auto r = f.d.engine().GetInteraction(id);
    if (r && (r->state() == rv1::INTERACTION_STATE_QUEUED ||
              r->state() == rv1::INTERACTION_STATE_OFFERED)) {
      ++waiting_total;
    }
  }
  int64_t waiting_seen = 0, answered = 0, abandoned = 0, left = 0;
  for (const QueueSnapshot& q : f.stats.Queues("tenant-1", now)) {
    const Counts& c = q.today.counts;
    EXPECT_EQ(c.offered, c.answered + c.abandoned + c.left_unanswered + q.waiting) << q.queue_id;
    EXPECT_LE(c.answered_within_sl, c.answered);
    EXPECT_LE(c.abandoned_after_sl, c.abandoned);
    if (q.today.occupancy) {
      EXPECT_GE(*q.today.occupancy, 0);
      EXPECT_LE(*q.today.occupancy, 1);
    }
    if (q.today.service_level) {
      EXPECT_LE(*q.today.service_level, 1);
    }
    answered += c.answered;
    abandoned += c.abandoned + c.short_abandoned;
    left += c.left_unanswered;
    EXPECT_GE(q.longest_wait_ms, 0);
    waiting_seen += q.waiting;
  }
  EXPECT_EQ(waiting_seen, waiting_total);
  EXPECT_EQ(answered, rt::Count(f.all, RE::kInteractionConnected));
  EXPECT_GT(answered, 0);  // the traffic exercised the paths
  EXPECT_GT(abandoned, 0);
  std::cout << "offers " << rt::Count(f.all, RE::kOfferCreated) << ", timeouts "
            << rt::Count(f.all, RE::kOfferTimedOut) << ", rejects "
            << rt::Count(f.all, RE::kCommandRejected) << "; answered " << answered << ", abandoned "
            << abandoned << ", left " << left << ", waiting " << waiting_seen << "\n";
  for (const AgentSnapshot& a : f.stats.Agents("tenant-1", now)) {
    if (a.occupancy_today) {
      EXPECT_LE(*a.occupancy_today, 1);
    }
  }
  const auto before = f.stats.Queues("tenant-1", now);
  for (const auto& e : f.all) EXPECT_FALSE(f.stats.Apply(e));
  const auto after = f.stats.Queues("tenant-1", now);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].today.counts.offered, after[i].today.counts.offered);
    EXPECT_EQ(before[i].today.counts.answered, after[i].today.counts.answered);
    EXPECT_EQ(before[i].waiting, after[i].waiting);
  }
}

}  // namespace
}  // namespace sb::insights
