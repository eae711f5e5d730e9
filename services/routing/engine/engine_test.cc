// Unit tests of the routing engine, through its public API (engine.h) only.
//
// Every command goes through test::Driver (engine_test_util.h), which stamps ids and a virtual
// time and, after each command, checks CheckInvariants(), the event envelope and the explanation of
// every OfferCreated. Tests assert on the events a command emits and on GetInteraction / GetAgent
// / GetQueue.
//
// Tests that document an engine bug start with GTEST_SKIP() << "engine bug: ..." so the suite stays
// green; remove the skip once the engine is fixed.

#include "routing/engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "routing/engine/engine_test_util.h"

namespace sb::routing::test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using RE = v1::RoutingEvent;

class EngineTest : public ::testing::Test {
 protected:
  // The snapshot without the remembered command ids (a rejected command's id is remembered by the
  // engine; RejectedCommandLeavesSnapshotBytesIdentical covers that separately).
  std::string StateBytes() {
    v1::RoutingSnapshot s = d.engine().Snapshot();
    s.clear_recent_command_ids();
    return Bytes(s);
  }

  // Applies `c` and expects exactly one CommandRejected with `reason`, a message that names
  // `field`, and no change to the domain.
  void ExpectRejected(v1::RoutingCommand c, const std::string& reason, const std::string& field) {
    // At the domain's current time: a later time would legitimately advance the clock.
    c.mutable_time()->set_seconds(d.engine().now_ms() / 1000);
    c.mutable_time()->set_nanos(static_cast<int32_t>(d.engine().now_ms() % 1000) * 1000000);
    const std::string before = StateBytes();
    const Events ev = d.Apply(std::move(c));
    ASSERT_THAT(Kinds(ev), ElementsAre("command_rejected"));
    const v1::CommandRejected& r = ev[0].command_rejected();
    EXPECT_EQ(r.reason(), reason) << r.message();
    EXPECT_THAT(r.message(), HasSubstr(field));
    EXPECT_NE(r.command(), "");
    EXPECT_EQ(StateBytes(), before) << "a rejected command changed the domain";
  }

  // Enqueues `id`, expects it offered to `agent` and accepts.
  void Connect(const std::string& id, const std::string& queue, const std::string& agent,
               const cmd::EnqueueOpts& o = {}) {
    const Events ev = d.Enqueue(id, queue, o);
    const auto offer = OfferOf(ev, id);
    ASSERT_TRUE(offer.has_value()) << id << " was not offered";
    ASSERT_EQ(offer->agent_id(), agent) << id;
    ASSERT_EQ(RejectReason(d.Accept(agent, offer->offer_id())), "");
  }

  // Routes `id` to `agent` only (by requirement), talks for `talk_ms` and completes it.
  void Handle(const std::string& agent, const std::string& id, const std::string& queue,
              int64_t talk_ms) {
    Connect(id, queue, agent, Opts().Requirement("agent_id == \"" + agent + "\""));
    d.Advance(talk_ms);
    ASSERT_EQ(RejectReason(d.Complete(agent, id)), "");
    d.Advance(kSec);
  }

  // A domain with something in every state: a1 connected (i1), a2 offered (i2), a3 in wrap-up
  // (i0), a4 on a break and i3 waiting.
  void BusyDomain() {
    auto q = Queue("q");
    *q.mutable_wrap_up() = Dur(30 * kSec);
    d.UpsertQueue(q);
    for (const char* a : {"a1", "a2", "a3", "a4"}) d.AddAgent(Agent(a));
    d.Aux("a4", "lunch");
    d.Advance(kSec);
    Connect("i0", "q", "a3", Opts().Requirement("agent_id == \"a3\""));
    d.Complete("a3", "i0", "done");
    Connect("i1", "q", "a1");
    ASSERT_EQ(OfferOf(d.Enqueue("i2", "q"), "i2")->agent_id(), "a2");
    ASSERT_THAT(Offers(d.Enqueue("i3", "q")), IsEmpty());
  }

  Driver d;
};

#define EXPECT_REJECTED(command, reason, field) \
  do {                                          \
    SCOPED_TRACE(#command);                     \
    ExpectRejected(command, reason, field);     \
  } while (0)

// =============================================================================================
// 1. Queues

TEST_F(EngineTest, QueueUpsertReportsConfigVersionAndMembers) {
  d.UpsertAgent(Agent("a1"));
  d.UpsertAgent(Agent("a2"));
  const Events ev = d.UpsertQueue(Queue("billing"));
  ASSERT_THAT(Kinds(ev), ElementsAre("queue_upserted"));
  const auto& u = ev[0].queue_upserted();
  EXPECT_EQ(u.queue().queue_id(), "billing");
  EXPECT_EQ(u.config_version(), 3);
  EXPECT_EQ(u.members(), 2);
  const auto q = d.engine().GetQueue("billing");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->config().strategy(), v1::STRATEGY_LONGEST_IDLE);
  EXPECT_EQ(q->config().channel(), v1::CHANNEL_VOICE);
  EXPECT_EQ(d.engine().Stats().queues, 1);
}

TEST_F(EngineTest, QueueUpdateTakesNewConfigAndReordersWaitingInteractions) {
  d.UpsertQueue(Queue("low"));
  auto high = Queue("high");
  high.set_priority(10);
  d.UpsertQueue(high);
  d.UpsertAgent(Agent("a1"));
  d.Enqueue("i-low", "low");
  d.Advance(kSec);
  d.Enqueue("i-high", "high");
  d.Advance(kSec);

  auto low = Queue("low");
  low.set_priority(20);
  const Events up = d.UpsertQueue(low);
  ASSERT_THAT(Kinds(up), ElementsAre("queue_upserted"));
  EXPECT_EQ(up[0].queue_upserted().config_version(), 4);
  EXPECT_EQ(d.engine().GetQueue("low")->config().priority(), 20);

  // The waiting interaction of "low" now outranks the one of "high".
  const auto offer = OfferOf(d.Login("a1"), "i-low");
  ASSERT_TRUE(offer.has_value());
  EXPECT_EQ(offer->agent_id(), "a1");
}

TEST_F(EngineTest, QueueUpsertRejectsInvalidFieldsNamingTheField) {
  d.UpsertQueue(Queue("chat", v1::STRATEGY_LONGEST_IDLE, v1::CHANNEL_CHAT));
  struct Case {
    std::string field;
    std::function<void(v1::Queue*)> mutate;
  };
  const std::vector<Case> cases = {
      {"queue.queue_id", [](v1::Queue* q) { q->set_queue_id("Billing"); }},
      {"queue.queue_id", [](v1::Queue* q) { q->set_queue_id(""); }},
      {"queue.queue_id", [](v1::Queue* q) { q->set_queue_id("-billing"); }},
      {"queue.channel", [](v1::Queue* q) { q->set_channel(v1::CHANNEL_UNSPECIFIED); }},
      {"queue.strategy", [](v1::Queue* q) { q->set_strategy(v1::STRATEGY_UNSPECIFIED); }},
      {"queue.priority", [](v1::Queue* q) { q->set_priority(101); }},
      {"queue.priority", [](v1::Queue* q) { q->set_priority(-1); }},
      {"queue.membership", [](v1::Queue* q) { q->set_membership("skills.billing >="); }},
      {"queue.skill", [](v1::Queue* q) { q->set_strategy(v1::STRATEGY_MOST_SKILLED); }},
      {"queue.steps[0].after", [](v1::Queue* q) { AddStep(q, 5 * kSec, ""); }},
      {"queue.steps[1].after",
       [](v1::Queue* q) {
         AddStep(q, 0, "");
         AddStep(q, 0, "");
       }},
      {"queue.steps[1].requirement",
       [](v1::Queue* q) {
         AddStep(q, 0, "");
         AddStep(q, 30 * kSec, "skills.billing >= (");
       }},
      {"queue.offer_timeout", [](v1::Queue* q) { *q->mutable_offer_timeout() = Dur(500); }},
      {"queue.wrap_up", [](v1::Queue* q) { *q->mutable_wrap_up() = Dur(2 * 3600 * kSec); }},
      {"queue.max_size", [](v1::Queue* q) { q->set_max_size(-1); }},
      {"queue.max_wait", [](v1::Queue* q) { *q->mutable_max_wait() = Dur(-kSec); }},
      {"queue.overflow_queue",
       [](v1::Queue* q) {
         q->set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
         q->set_overflow_queue("nope");
       }},
      {"queue.overflow_queue",
       [](v1::Queue* q) {
         q->set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
         q->set_overflow_queue("chat");  // another channel
       }},
      {"queue.overflow_queue",
       [](v1::Queue* q) {
         q->set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
         q->set_overflow_queue("billing");  // itself
       }},
      {"queue.overflow_queue", [](v1::Queue* q) { q->set_overflow_queue("chat"); }},
      {"queue.aging_per_minute", [](v1::Queue* q) { q->set_aging_per_minute(1001); }},
      {"queue.escalation_queue", [](v1::Queue* q) { q->set_escalation_queue("nope"); }},
      {"queue.service_level.target",
       [](v1::Queue* q) {
         q->mutable_service_level()->set_target(1.5);
         *q->mutable_service_level()->mutable_threshold() = Dur(20 * kSec);
       }},
  };
  for (const Case& c : cases) {
    auto q = Queue("billing");
    c.mutate(&q);
    SCOPED_TRACE(q.ShortDebugString());
    ExpectRejected(cmd::UpsertQueue(q), "INVALID_ARGUMENT", c.field);
  }
  EXPECT_FALSE(d.engine().GetQueue("billing").has_value());
  EXPECT_EQ(d.engine().Stats().queues, 1);
}

TEST_F(EngineTest, RemoveQueueRemovesItAndItsMemberships) {
  d.UpsertAgent(Agent("a1"));
  d.UpsertQueue(Queue("q"));
  const Events ev = d.RemoveQueue("q");
  ASSERT_THAT(Kinds(ev), ElementsAre("queue_removed"));
  EXPECT_EQ(ev[0].queue_removed().queue_id(), "q");
  EXPECT_EQ(ev[0].queue_removed().config_version(), 3);
  EXPECT_FALSE(d.engine().GetQueue("q").has_value());
  EXPECT_EQ(d.engine().Stats().queues, 0);
  EXPECT_REJECTED(cmd::Enqueue("i1", "q"), "NO_SUCH_QUEUE", "queue_id");
  const Events up = d.UpsertAgent(Agent("a1"));
  EXPECT_EQ(up[0].agent_upserted().queues_size(), 0);
}

TEST_F(EngineTest, RemoveQueueRejectsUnknownNonEmptyAndReferencedQueues) {
  d.UpsertQueue(Queue("sup"));
  auto main = Queue("main");
  main.set_escalation_queue("sup");
  d.UpsertQueue(main);
  d.UpsertQueue(Queue("backup"));
  auto front = Queue("front");
  front.set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
  front.set_overflow_queue("backup");
  d.UpsertQueue(front);

  EXPECT_REJECTED(cmd::RemoveQueue("nope"), "NO_SUCH_QUEUE", "queue_id");
  EXPECT_REJECTED(cmd::RemoveQueue("backup"), "QUEUE_IN_USE", "'front'");
  EXPECT_REJECTED(cmd::RemoveQueue("sup"), "QUEUE_IN_USE", "'main'");
  d.Enqueue("i1", "main");
  EXPECT_REJECTED(cmd::RemoveQueue("main"), "QUEUE_NOT_EMPTY", "queue_id");

  d.Cancel("i1");
  EXPECT_THAT(Kinds(d.RemoveQueue("main")), ElementsAre("queue_removed"));
  EXPECT_THAT(Kinds(d.RemoveQueue("sup")), ElementsAre("queue_removed"));
}

TEST_F(EngineTest, QueuePriorityDecidesWhichWaitingInteractionAFreedAgentTakes) {
  d.UpsertQueue(Queue("low"));
  auto high = Queue("high");
  high.set_priority(10);
  d.UpsertQueue(high);
  d.UpsertAgent(Agent("a1"));
  d.Enqueue("i-low", "low");
  d.Advance(kSec);
  d.Enqueue("i-high", "high");  // later, but in the higher-priority queue
  d.Advance(kSec);

  const Events ev = d.Login("a1");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i-high", "a1")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  EXPECT_EQ(ex.trigger(), "agent_freed");
  EXPECT_EQ(ex.queues_considered(), 2);
  ASSERT_EQ(ex.top_size(), 2);
  EXPECT_EQ(ex.top(1).interaction_id(), "i-low");
  EXPECT_GT(ex.top(0).score(), ex.top(1).score());
  EXPECT_EQ(d.engine().QueueWaiting("low"), 1);
}

TEST_F(EngineTest, StrategyLongestIdleOffersTheAgentIdleLongest) {
  d.UpsertQueue(Queue("q", v1::STRATEGY_LONGEST_IDLE));
  for (const char* a : {"a1", "a2", "a3"}) d.UpsertAgent(Agent(a));
  d.Login("a2");
  d.Advance(kSec);
  d.Login("a3");
  d.Advance(kSec);
  d.Login("a1");
  d.Advance(8 * kSec);

  Events ev = d.Enqueue("i1", "q");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  EXPECT_EQ(ex.strategy(), v1::STRATEGY_LONGEST_IDLE);
  ASSERT_EQ(ex.top_size(), 3);
  EXPECT_EQ(ex.top(0).agent_id(), "a2");
  EXPECT_DOUBLE_EQ(ex.top(0).score(), 10.0);
  EXPECT_EQ(ex.top(1).agent_id(), "a3");
  EXPECT_DOUBLE_EQ(ex.top(1).score(), 9.0);
  EXPECT_EQ(ex.top(2).agent_id(), "a1");
  EXPECT_DOUBLE_EQ(ex.top(2).score(), 8.0);

  // Handling a call resets a2's idle time: a3 is next.
  d.AcceptOf("i1");
  d.Advance(10 * kSec);
  d.Complete("a2", "i1");
  d.Advance(kSec);
  EXPECT_THAT(OfferPairs(d.Enqueue("i2", "q")), ElementsAre(Pair("i2", "a3")));
}

TEST_F(EngineTest, StrategyMostSkilledOffersTheHighestProficiencyThenLongestIdle) {
  auto q = Queue("q", v1::STRATEGY_MOST_SKILLED);
  q.set_skill("billing");
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1", {{"billing", 2}}));
  d.Advance(kSec);
  d.AddAgent(Agent("a2", {{"billing", 5}}));
  d.Advance(kSec);
  d.AddAgent(Agent("a3", {{"billing", 3}}));
  d.Advance(kSec);
  d.AddAgent(Agent("a4", {{"billing", 5}}));  // as skilled as a2, idle for less time
  d.Advance(kSec);

  const Events ev = d.Enqueue("i1", "q");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  ASSERT_EQ(ex.top_size(), 3);
  EXPECT_EQ(ex.top(0).agent_id(), "a2");
  EXPECT_DOUBLE_EQ(ex.top(0).score(), 5);
  EXPECT_EQ(ex.top(1).agent_id(), "a4");
  EXPECT_DOUBLE_EQ(ex.top(1).score(), 5);
  EXPECT_EQ(ex.top(2).agent_id(), "a3");
  EXPECT_DOUBLE_EQ(ex.top(2).score(), 3);
}

TEST_F(EngineTest, StrategyLeastOccupiedOffersTheAgentWithLeastHandleTime) {
  d.UpsertQueue(Queue("q", v1::STRATEGY_LEAST_OCCUPIED));
  for (const char* a : {"a1", "a2", "a3"}) d.AddAgent(Agent(a));
  Handle("a1", "h1", "q", 60 * kSec);
  Handle("a3", "h2", "q", 30 * kSec);
  Handle("a2", "h3", "q", 10 * kSec);  // least handle time, but idle for the shortest time

  EXPECT_EQ(d.AgentState("a2").busy_ms(), 10 * kSec);
  const Events ev = d.Enqueue("i1", "q");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  ASSERT_EQ(ex.top_size(), 3);
  EXPECT_DOUBLE_EQ(ex.top(0).score(), 10.0);
  EXPECT_EQ(ex.top(1).agent_id(), "a3");
  EXPECT_DOUBLE_EQ(ex.top(1).score(), 30.0);
  EXPECT_EQ(ex.top(2).agent_id(), "a1");
}

TEST_F(EngineTest, StrategyFewestInteractionsOffersTheAgentWhoHandledFewest) {
  d.UpsertQueue(Queue("q", v1::STRATEGY_FEWEST_INTERACTIONS));
  for (const char* a : {"a1", "a2", "a3"}) d.AddAgent(Agent(a));
  Handle("a1", "h1", "q", 5 * kSec);
  Handle("a1", "h2", "q", 5 * kSec);
  Handle("a3", "h3", "q", 5 * kSec);
  Handle("a3", "h4", "q", 5 * kSec);
  Handle("a2", "h5", "q", 50 * kSec);  // one call, but the longest one and the latest

  EXPECT_EQ(d.AgentState("a2").handled(), 1);
  const Events ev = d.Enqueue("i1", "q");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  ASSERT_EQ(ex.top_size(), 3);
  EXPECT_DOUBLE_EQ(ex.top(0).score(), 1.0);
  EXPECT_EQ(ex.top(1).agent_id(), "a1");  // 2 handled, idle longer than a3
  EXPECT_EQ(ex.top(2).agent_id(), "a3");
}

TEST_F(EngineTest, StrategyRoundRobinOffersTheNextAgentInRegistrationOrder) {
  d.UpsertQueue(Queue("q", v1::STRATEGY_ROUND_ROBIN));
  for (const char* a : {"a1", "a2", "a3"}) d.UpsertAgent(Agent(a));
  // Logged in in reverse order, so longest idle would pick a3 first.
  d.Login("a3");
  d.Advance(kSec);
  d.Login("a2");
  d.Advance(kSec);
  d.Login("a1");
  d.Advance(kSec);

  std::vector<std::string> chosen;
  for (const char* id : {"i1", "i2", "i3", "i4"}) {
    const Events ev = d.Enqueue(id, "q");
    ASSERT_EQ(Offers(ev).size(), 1u);
    chosen.push_back(Offers(ev)[0].agent_id());
    d.AcceptOf(id);
    d.Complete(chosen.back(), id);
    d.Advance(kSec);
  }
  EXPECT_THAT(chosen, ElementsAre("a1", "a2", "a3", "a1"));
  EXPECT_EQ(d.engine().GetQueue("q")->rr_last_order(), d.AgentState("a1").order());

  // A busy agent is skipped: a2 is next but connected, so a3 gets it.
  Connect("j1", "q", "a2");
  EXPECT_THAT(OfferPairs(d.Enqueue("j2", "q")), ElementsAre(Pair("j2", "a3")));
}

TEST_F(EngineTest, MembershipExpressionSelectsTheQueueMembers) {
  auto a1 = Agent("a1");
  (*a1.mutable_attributes())["language"] = "es,en";
  auto a2 = Agent("a2");
  (*a2.mutable_attributes())["language"] = "fr, en";
  d.UpsertAgent(a2);  // registered and logged in first: longest idle
  d.UpsertAgent(a1);
  d.UpsertAgent(Agent("a3"));
  auto q = Queue("spanish");
  q.set_membership("\"es\" in language");
  const Events up = d.UpsertQueue(q);
  EXPECT_EQ(up[0].queue_upserted().members(), 1);
  d.Login("a2");
  d.Login("a3");
  d.Advance(kSec);
  d.Login("a1");

  const Events ev = d.Enqueue("i1", "spanish");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a1")));
  EXPECT_EQ(Offers(ev)[0].explanation().members(), 1);
  EXPECT_EQ(Offers(ev)[0].explanation().available(), 1);

  // A profile change moves a2 into the queue.
  (*a2.mutable_attributes())["language"] = "es,fr";
  const Events up2 = d.UpsertAgent(a2);
  ASSERT_TRUE(up2[0].has_agent_upserted());
  EXPECT_THAT(up2[0].agent_upserted().queues(), ElementsAre("spanish"));
  EXPECT_THAT(OfferPairs(d.Enqueue("i2", "spanish")), ElementsAre(Pair("i2", "a2")));
  EXPECT_THAT(Offers(d.Enqueue("i3", "spanish")), IsEmpty());  // a3 is not a member
}

TEST_F(EngineTest, OfferTimeoutComesFromTheQueue) {
  auto q = Queue("q");
  *q.mutable_offer_timeout() = Dur(5 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  const Events ev = d.Enqueue("i1", "q");
  ASSERT_EQ(Offers(ev).size(), 1u);
  EXPECT_EQ(Ms(Offers(ev)[0].expires_at()), d.now() + 5 * kSec);
  EXPECT_EQ(d.Interaction("i1").offer_expires_ms(), d.now() + 5 * kSec);
  EXPECT_EQ(d.engine().NextDeadlineMs(), d.now() + 5 * kSec);
  EXPECT_THAT(d.TickAfter(5 * kSec - 1), IsEmpty());
  EXPECT_EQ(Count(d.TickAfter(1), RE::kOfferTimedOut), 1);

  // Default: 15 s.
  d.UpsertQueue(Queue("q2"));
  d.Cancel("i1");
  d.Available("a1");
  const Events ev2 = d.Enqueue("i2", "q2");
  ASSERT_EQ(Offers(ev2).size(), 1u);
  EXPECT_EQ(Ms(Offers(ev2)[0].expires_at()), d.now() + 15 * kSec);
}

TEST_F(EngineTest, WrapUpTimeComesFromTheQueue) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(20 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  const Events ev = d.Complete("a1", "i1", "sold");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended", "wrap_up_started"));
  EXPECT_EQ(Ms(ev[1].wrap_up_started().deadline()), d.now() + 20 * kSec);
  const v1::AgentState a1 = d.AgentState("a1");
  ASSERT_EQ(a1.legs_size(), 1);
  EXPECT_EQ(a1.legs(0).phase(), v1::LEG_PHASE_WRAP_UP);
  EXPECT_EQ(a1.legs(0).deadline_ms(), d.now() + 20 * kSec);
}

TEST_F(EngineTest, MaxSizeOverflowsNewArrivalsAsQueueFull) {
  auto q = Queue("q");
  q.set_max_size(2);
  d.UpsertQueue(q);
  d.Enqueue("i1", "q");
  d.Enqueue("i2", "q");
  const Events ev = d.Enqueue("i3", "q");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_overflowed", "interaction_ended"));
  EXPECT_EQ(ev[0].interaction_overflowed().reason(), "queue_full");
  EXPECT_EQ(ev[0].interaction_overflowed().action(), v1::OVERFLOW_ACTION_DISCONNECT);
  EXPECT_EQ(ev[1].interaction_ended().reason(), v1::END_REASON_OVERFLOWED);
  EXPECT_FALSE(d.HasInteraction("i3"));
  EXPECT_EQ(d.engine().QueueWaiting("q"), 2);
  // Room again once one leaves.
  d.Cancel("i1");
  EXPECT_THAT(Kinds(d.Enqueue("i4", "q")), ElementsAre("interaction_queued"));
}

TEST_F(EngineTest, MaxSizeWithQueueOverflowMovesArrivalsToTheOverflowQueue) {
  d.UpsertQueue(Queue("backup"));
  auto q = Queue("q");
  q.set_max_size(1);
  q.set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
  q.set_overflow_queue("backup");
  d.UpsertQueue(q);
  d.Enqueue("i1", "q");
  const Events ev = d.Enqueue("i2", "q");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_overflowed", "interaction_queued"));
  EXPECT_EQ(ev[0].interaction_overflowed().reason(), "queue_full");
  EXPECT_EQ(ev[0].interaction_overflowed().action(), v1::OVERFLOW_ACTION_QUEUE);
  EXPECT_EQ(ev[0].interaction_overflowed().target_queue_id(), "backup");
  EXPECT_EQ(ev[1].interaction_queued().queue_id(), "backup");
  EXPECT_EQ(ev[1].interaction_queued().cause(), "overflow");
  EXPECT_EQ(ev[1].interaction_queued().position(), 1);
  EXPECT_EQ(d.Interaction("i2").queue_id(), "backup");
}

class MaxWaitOverflowTest : public EngineTest,
                            public ::testing::WithParamInterface<v1::OverflowAction> {};

TEST_P(MaxWaitOverflowTest, MaxWaitAppliesTheQueuesOverflowAction) {
  const v1::OverflowAction action = GetParam();
  auto backup = Queue("backup");
  backup.set_membership("skills.backup > 0");
  d.UpsertQueue(backup);
  auto front = Queue("front");
  front.set_membership("skills.front > 0");
  *front.mutable_max_wait() = Dur(60 * kSec);
  front.set_overflow_action(action);
  if (action == v1::OVERFLOW_ACTION_QUEUE) front.set_overflow_queue("backup");
  d.UpsertQueue(front);
  d.AddAgent(Agent("b1", {{"backup", 1}}));  // serves backup only

  const int64_t enqueued = d.now();
  d.Enqueue("i1", "front");
  EXPECT_EQ(d.engine().NextDeadlineMs(), enqueued + 60 * kSec);
  EXPECT_THAT(d.TickAfter(60 * kSec - 1), IsEmpty());
  const Events ev = d.TickAfter(1);
  ASSERT_GE(ev.size(), 2u);
  ASSERT_TRUE(ev[0].has_interaction_overflowed()) << Kinds(ev)[0];
  const auto& ov = ev[0].interaction_overflowed();
  EXPECT_EQ(ov.interaction_id(), "i1");
  EXPECT_EQ(ov.queue_id(), "front");
  EXPECT_EQ(ov.reason(), "max_wait");
  EXPECT_EQ(ov.action(),
            action == v1::OVERFLOW_ACTION_UNSPECIFIED ? v1::OVERFLOW_ACTION_DISCONNECT : action);
  if (action == v1::OVERFLOW_ACTION_QUEUE) {
    EXPECT_EQ(ov.target_queue_id(), "backup");
    ASSERT_THAT(Kinds(ev),
                ElementsAre("interaction_overflowed", "interaction_queued", "offer_created"));
    const auto& queued = ev[1].interaction_queued();
    EXPECT_EQ(queued.queue_id(), "backup");
    EXPECT_EQ(queued.cause(), "overflow");
    EXPECT_EQ(Ms(queued.enqueued_at()), enqueued);  // keeps its original enqueue time...
    EXPECT_EQ(queued.effective_priority(), 1000);   // ...and the minute of aging it earned
    EXPECT_EQ(ev[2].offer_created().agent_id(), "b1");
    EXPECT_EQ(d.Interaction("i1").queue_id(), "backup");
  } else {
    ASSERT_THAT(Kinds(ev), ElementsAre("interaction_overflowed", "interaction_ended"));
    EXPECT_EQ(ev[1].interaction_ended().reason(), v1::END_REASON_OVERFLOWED);
    EXPECT_EQ(Ms(ev[1].interaction_ended().waited()), 60 * kSec);
    EXPECT_FALSE(d.HasInteraction("i1"));
    EXPECT_EQ(d.engine().QueueWaiting("front"), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryAction, MaxWaitOverflowTest,
                         ::testing::Values(v1::OVERFLOW_ACTION_QUEUE, v1::OVERFLOW_ACTION_CALLBACK,
                                           v1::OVERFLOW_ACTION_VOICEMAIL,
                                           v1::OVERFLOW_ACTION_DISCONNECT,
                                           v1::OVERFLOW_ACTION_UNSPECIFIED),
                         [](const auto& info) { return v1::OverflowAction_Name(info.param); });

TEST_F(EngineTest, MaxWaitStillAppliesWhenAnOfferMadeBeforeItFailsAfterIt) {
  // Regression (engine bug fixed in 9a15ef4): the max-wait timer was dropped while offered.
  auto q = Queue("q");
  *q.mutable_max_wait() = Dur(60 * kSec);
  *q.mutable_offer_timeout() = Dur(15 * kSec);
  q.set_overflow_action(v1::OVERFLOW_ACTION_CALLBACK);
  d.UpsertQueue(q);
  d.UpsertAgent(Agent("a1"));
  d.Enqueue("i1", "q");
  d.Advance(50 * kSec);
  ASSERT_THAT(OfferPairs(d.Login("a1")), ElementsAre(Pair("i1", "a1")));
  // Max wait passes while the offer is out: the offer decides.
  EXPECT_THAT(Kinds(d.TickAfter(10 * kSec)), IsEmpty());
  // The offer is missed at 65 s: the caller has waited past max wait and must not wait forever.
  const Events ev = d.TickAfter(5 * kSec);
  EXPECT_THAT(Kinds(ev), ElementsAre("offer_timed_out", "agent_state_changed",
                                     "interaction_overflowed", "interaction_ended"));
  const auto* ov = First(ev, RE::kInteractionOverflowed);
  ASSERT_NE(ov, nullptr) << "no overflow; the interaction waits with no max-wait timer: "
                         << d.Interaction("i1").ShortDebugString();
  EXPECT_EQ(ov->interaction_overflowed().reason(), "max_wait");
  EXPECT_EQ(ov->interaction_overflowed().action(), v1::OVERFLOW_ACTION_CALLBACK);
  EXPECT_FALSE(d.HasInteraction("i1"));
}

TEST_F(EngineTest, ChannelMismatchIsRejected) {
  d.UpsertQueue(Queue("voice"));
  d.UpsertQueue(Queue("chat", v1::STRATEGY_LONGEST_IDLE, v1::CHANNEL_CHAT));
  auto a1 = Agent("a1");
  a1.set_team("red");
  d.AddAgent(a1);
  EXPECT_REJECTED(cmd::Enqueue("i1", "voice", Opts().Channel(v1::CHANNEL_CHAT)), "CHANNEL_MISMATCH",
                  "channel");
  // The matching channel, or none, is accepted.
  EXPECT_EQ(RejectReason(d.Enqueue("i1", "voice", Opts().Channel(v1::CHANNEL_VOICE))), "");
  d.AcceptOf("i1");
  EXPECT_REJECTED(cmd::Transfer("a1", "i1", "chat"), "CHANNEL_MISMATCH", "target_queue_id");
  EXPECT_REJECTED(cmd::Escalate("a1", "i1", "manager", false, "chat"), "CHANNEL_MISMATCH",
                  "queue_id");
}

// =============================================================================================
// 2. Agents

TEST_F(EngineTest, AgentProfileValidationNamesTheField) {
  struct Case {
    std::string field;
    v1::AgentProfile profile;
  };
  std::vector<Case> cases;
  cases.push_back({"profile.skills[0].proficiency", Agent("a1", {{"billing", 0}})});
  cases.push_back({"profile.skills[1].proficiency", Agent("a1", {{"sales", 3}, {"billing", 6}})});
  cases.push_back({"profile.skills: a skill is listed twice",
                   Agent("a1", {{"billing", 3}, {"sales", 1}, {"billing", 4}})});
  cases.push_back({"profile.skills[0].name", Agent("a1", {{"", 3}})});
  cases.push_back({"profile.agent_id", Agent("a 1")});
  cases.push_back({"profile.agent_id", Agent("")});
  {
    auto p = Agent("a1");
    SetCapacity(&p, v1::CHANNEL_CHAT, 33);
    cases.push_back({"profile.capacity[0].capacity", p});
  }
  {
    auto p = Agent("a1");
    SetCapacity(&p, v1::CHANNEL_UNSPECIFIED, 1);
    cases.push_back({"profile.capacity[0].channel", p});
  }
  {
    auto p = Agent("a1");
    SetCapacity(&p, v1::CHANNEL_CHAT, 1);
    SetCapacity(&p, v1::CHANNEL_CHAT, 2);
    cases.push_back({"profile.capacity[1].channel", p});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.profile.ShortDebugString());
    ExpectRejected(cmd::UpsertAgent(c.profile), "INVALID_ARGUMENT", c.field);
  }
  EXPECT_EQ(d.engine().Stats().agents, 0);
  // Proficiencies 1 and 5 are fine.
  EXPECT_EQ(RejectReason(d.UpsertAgent(Agent("a1", {{"billing", 1}, {"sales", 5}}))), "");
}

TEST_F(EngineTest, LoginAndLogoutChangePresence) {
  d.UpsertQueue(Queue("q"));
  d.UpsertAgent(Agent("a1"));
  EXPECT_EQ(d.AgentState("a1").presence(), v1::PRESENCE_OFFLINE);

  Events ev = d.Login("a1");
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().previous(), v1::PRESENCE_OFFLINE);
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(d.AgentState("a1").presence(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(d.engine().Stats().agents_logged_in, 1);
  EXPECT_REJECTED(cmd::Login("a1"), "ALREADY_LOGGED_IN", "agent_id");
  EXPECT_REJECTED(cmd::Login("ghost"), "NO_SUCH_AGENT", "agent_id");

  ev = d.Logout("a1");
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_OFFLINE);
  EXPECT_EQ(ev[0].agent_state_changed().previous(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(d.engine().Stats().agents_logged_in, 0);
  EXPECT_REJECTED(cmd::Logout("a1"), "AGENT_NOT_LOGGED_IN", "agent_id");

  // An offline agent gets nothing.
  EXPECT_THAT(Offers(d.Enqueue("i1", "q")), IsEmpty());
}

TEST_F(EngineTest, LoginInAuxNeedsAReasonAndGetsNoOffers) {
  d.UpsertQueue(Queue("q"));
  d.UpsertAgent(Agent("a1"));
  EXPECT_REJECTED(cmd::Login("a1", v1::PRESENCE_AUX), "INVALID_ARGUMENT", "reason");
  EXPECT_REJECTED(cmd::Login("a1", v1::PRESENCE_OFFLINE), "INVALID_ARGUMENT", "presence");
  d.Enqueue("i1", "q");
  const Events ev = d.Apply(cmd::Login("a1", v1::PRESENCE_AUX, "training"));
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[0].agent_state_changed().reason(), "training");
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_QUEUED);
}

TEST_F(EngineTest, AuxPresenceNeedsAReasonAndStopsOffersUntilAvailable) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  EXPECT_REJECTED(cmd::SetPresence("a1", v1::PRESENCE_AUX), "INVALID_ARGUMENT", "reason");
  EXPECT_REJECTED(cmd::SetPresence("a1", v1::PRESENCE_OFFLINE), "INVALID_ARGUMENT", "presence");
  EXPECT_REJECTED(cmd::SetPresence("ghost", v1::PRESENCE_AVAILABLE), "NO_SUCH_AGENT", "agent_id");

  Events ev = d.Aux("a1", "lunch");
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[0].agent_state_changed().reason(), "lunch");
  EXPECT_EQ(d.AgentState("a1").reason(), "lunch");
  EXPECT_THAT(Offers(d.Enqueue("i1", "q")), IsEmpty());

  d.Advance(kSec);
  ev = d.Available("a1");
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed", "offer_created"));
  EXPECT_EQ(ev[0].agent_state_changed().previous(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[0].agent_state_changed().previous_reason(), "lunch");
  EXPECT_EQ(ev[1].offer_created().explanation().trigger(), "agent_freed");

  d.Cancel("i1");
  d.Logout("a1");
  EXPECT_REJECTED(cmd::SetPresence("a1", v1::PRESENCE_AVAILABLE), "AGENT_NOT_LOGGED_IN",
                  "agent_id");
}

TEST_F(EngineTest, LogoutIsBlockedWhileConnectedAndInWrapUpUnlessForced) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(30 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  EXPECT_REJECTED(cmd::Logout("a1"), "AGENT_BUSY", "agent_id");
  EXPECT_REJECTED(cmd::Logout("a1", /*force=*/true), "AGENT_BUSY", "agent_id");

  d.Complete("a1", "i1");
  EXPECT_REJECTED(cmd::Logout("a1"), "AGENT_IN_WRAP_UP", "agent_id");
  const Events ev = d.Logout("a1", /*force=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("wrap_up_ended", "agent_state_changed"));
  EXPECT_EQ(ev[0].wrap_up_ended().interaction_id(), "i1");
  EXPECT_EQ(ev[1].agent_state_changed().presence(), v1::PRESENCE_OFFLINE);
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
  EXPECT_FALSE(d.engine().NextDeadlineMs().has_value());  // the wrap-up timer went with it
}

TEST_F(EngineTest, LogoutWithAPendingOfferSendsItToAnotherAgent) {
  auto q = Queue("q", v1::STRATEGY_MOST_SKILLED);
  q.set_skill("billing");
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1", {{"billing", 5}}));
  d.AddAgent(Agent("a2", {{"billing", 1}}));
  ASSERT_THAT(OfferPairs(d.Enqueue("i1", "q")), ElementsAre(Pair("i1", "a1")));

  const Events ev = d.Logout("a1");
  EXPECT_THAT(Kinds(ev), ElementsAre("offer_rescinded", "agent_state_changed", "interaction_queued",
                                     "offer_created"));
  EXPECT_EQ(First(ev, RE::kOfferRescinded)->offer_rescinded().cause(), "agent_logged_out");
  EXPECT_EQ(First(ev, RE::kInteractionQueued)->interaction_queued().cause(), "offer_rescinded");
  EXPECT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  EXPECT_EQ(d.AgentState("a1").presence(), v1::PRESENCE_OFFLINE);
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
  EXPECT_EQ(d.Interaction("i1").agent_id(), "a2");
}

TEST_F(EngineTest, LogoutWithAPendingOfferAndNobodyElseLeavesItWaiting) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  d.Enqueue("i1", "q");
  const Events ev = d.Logout("a1");
  EXPECT_THAT(Kinds(ev),
              ElementsAre("offer_rescinded", "agent_state_changed", "interaction_queued"));
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_QUEUED);
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
}

TEST_F(EngineTest, BreakRequestedWhileBusyIsPendingUntilWrapUpEnds) {
  auto q = Queue("chat", v1::STRATEGY_LONGEST_IDLE, v1::CHANNEL_CHAT);
  *q.mutable_wrap_up() = Dur(10 * kSec);
  d.UpsertQueue(q);
  auto a1 = Agent("a1");
  SetCapacity(&a1, v1::CHANNEL_CHAT, 3);  // room for more: only the pending break stops offers
  d.AddAgent(a1);
  Connect("c1", "chat", "a1");

  Events ev = d.Aux("a1", "lunch");
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(ev[0].agent_state_changed().pending_aux(), "lunch");
  EXPECT_EQ(d.AgentState("a1").pending_aux(), "lunch");
  EXPECT_EQ(d.AgentState("a1").presence(), v1::PRESENCE_AVAILABLE);

  EXPECT_THAT(Offers(d.Enqueue("c2", "chat")), IsEmpty());
  ev = d.Complete("a1", "c1");
  EXPECT_THAT(Kinds(ev), ElementsAre("interaction_ended", "wrap_up_started"));
  EXPECT_THAT(Offers(d.TickAfter(9 * kSec)), IsEmpty());

  ev = d.TickAfter(kSec);
  ASSERT_THAT(Kinds(ev), ElementsAre("wrap_up_ended", "agent_state_changed"));
  EXPECT_EQ(ev[1].agent_state_changed().presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[1].agent_state_changed().reason(), "lunch");
  EXPECT_EQ(ev[1].agent_state_changed().previous(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(d.AgentState("a1").pending_aux(), "");
  EXPECT_EQ(d.Interaction("c2").state(), v1::INTERACTION_STATE_QUEUED);

  EXPECT_THAT(OfferPairs(d.Available("a1")), ElementsAre(Pair("c2", "a1")));
}

TEST_F(EngineTest, RemoveAgentRequiresLogoutFirst) {
  d.AddAgent(Agent("a1"));
  EXPECT_REJECTED(cmd::RemoveAgent("a1"), "AGENT_LOGGED_IN", "agent_id");
  EXPECT_REJECTED(cmd::RemoveAgent("ghost"), "NO_SUCH_AGENT", "agent_id");
  d.Logout("a1");
  const Events ev = d.Apply(cmd::RemoveAgent("a1"));
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_removed"));
  EXPECT_FALSE(d.engine().GetAgent("a1").has_value());
}

// =============================================================================================
// 3. Interactions

TEST_F(EngineTest, EnqueueReportsPriorityAttributesAndRequirement) {
  auto q = Queue("q");
  q.set_priority(10);
  d.UpsertQueue(q);
  const Events ev = d.Enqueue("i1", "q",
                              Opts()
                                  .Priority(5)
                                  .Requirement("skills.billing >= 3")
                                  .Attr("language", "es")
                                  .Attr("vip", "true"));
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_queued"));
  const auto& e = ev[0].interaction_queued();
  EXPECT_EQ(e.interaction_id(), "i1");
  EXPECT_EQ(e.queue_id(), "q");
  EXPECT_EQ(e.cause(), "enqueued");
  EXPECT_EQ(e.channel(), v1::CHANNEL_VOICE);
  EXPECT_EQ(e.step(), 0);
  EXPECT_EQ(e.effective_priority(), 15000);  // (queue 10 + interaction 5) x 1000
  EXPECT_EQ(e.attributes().at("language"), "es");
  EXPECT_EQ(e.attributes().at("vip"), "true");
  EXPECT_EQ(Ms(e.enqueued_at()), d.now());

  const v1::InteractionRecord r = d.Interaction("i1");
  EXPECT_EQ(r.state(), v1::INTERACTION_STATE_QUEUED);
  EXPECT_EQ(r.priority(), 5);
  EXPECT_EQ(r.requirement(), "skills.billing >= 3");
  EXPECT_EQ(r.attributes().at("vip"), "true");
  EXPECT_EQ(r.enqueued_at_ms(), d.now());
  EXPECT_EQ(d.engine().QueueWaiting("q"), 1);
}

TEST_F(EngineTest, InteractionQueuedCarriesPositionAndEstimatedWait) {
  d.UpsertQueue(Queue("q"));
  auto position = [](const Events& ev) { return ev[0].interaction_queued().position(); };
  auto wait_ms = [](const Events& ev) { return Ms(ev[0].interaction_queued().estimated_wait()); };

  // Nobody staffed and no history: 180 s per position ahead, as if one agent.
  Events ev = d.Enqueue("i1", "q");
  EXPECT_EQ(position(ev), 1);
  EXPECT_EQ(wait_ms(ev), 180 * kSec);
  ev = d.Enqueue("i2", "q");
  EXPECT_EQ(position(ev), 2);
  EXPECT_EQ(wait_ms(ev), 360 * kSec);
  ev = d.Enqueue("i3", "q", Opts().Priority(50));  // jumps the line
  EXPECT_EQ(position(ev), 1);
  EXPECT_EQ(wait_ms(ev), 180 * kSec);

  // Two logged-in members (on a break) share the load.
  d.UpsertAgent(Agent("a1"));
  d.UpsertAgent(Agent("a2"));
  d.Apply(cmd::Login("a1", v1::PRESENCE_AUX, "meeting"));
  d.Apply(cmd::Login("a2", v1::PRESENCE_AUX, "meeting"));
  ev = d.Enqueue("i4", "q");
  EXPECT_EQ(position(ev), 4);
  EXPECT_EQ(wait_ms(ev), 4 * 180 * kSec / 2);
}

TEST_F(EngineTest, EnqueueValidation) {
  d.UpsertQueue(Queue("q"));
  d.Enqueue("i1", "q");
  EXPECT_REJECTED(cmd::Enqueue("i1", "q"), "DUPLICATE_INTERACTION", "interaction_id");
  EXPECT_REJECTED(cmd::Enqueue("", "q"), "INVALID_ARGUMENT", "interaction_id");
  EXPECT_REJECTED(cmd::Enqueue("i 2", "q"), "INVALID_ARGUMENT", "interaction_id");
  EXPECT_REJECTED(cmd::Enqueue("i2", "nope"), "NO_SUCH_QUEUE", "queue_id");
  EXPECT_REJECTED(cmd::Enqueue("i2", "q", Opts().Priority(101)), "INVALID_ARGUMENT", "priority");
  EXPECT_REJECTED(cmd::Enqueue("i2", "q", Opts().Priority(-1)), "INVALID_ARGUMENT", "priority");
  EXPECT_REJECTED(cmd::Enqueue("i2", "q", Opts().Requirement("skills.billing >=")),
                  "BAD_EXPRESSION", "requirement");
  EXPECT_REJECTED(cmd::Enqueue("i2", "q", Opts().Preferred("ghost")), "NO_SUCH_AGENT",
                  "preferred_agent_id");
  EXPECT_REJECTED(cmd::Enqueue("i2", "q", Opts().Attr("", "x")), "INVALID_ARGUMENT", "attributes");
}

TEST_F(EngineTest, RequirementExpressionFiltersAgents) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1", {{"billing", 3}}));  // longest idle, not skilled enough
  d.Advance(kSec);
  d.AddAgent(Agent("a2", {{"billing", 5}}));
  d.Advance(kSec);
  const Events ev = d.Enqueue("i1", "q", Opts().Requirement("skills.billing >= 4"));
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  EXPECT_EQ(ex.requirement(), "skills.billing >= 4");
  EXPECT_EQ(ex.filtered_requirement(), 1);
  EXPECT_EQ(ex.examined(), 2);
  // Nobody left who qualifies.
  EXPECT_THAT(Offers(d.Enqueue("i2", "q", Opts().Requirement("skills.billing >= 4"))), IsEmpty());
}

TEST_F(EngineTest, CancelWhileQueuedEndsTheInteraction) {
  d.UpsertQueue(Queue("q"));
  d.Enqueue("i1", "q");
  d.Advance(7 * kSec);
  Events ev = d.Cancel("i1", v1::CANCEL_REASON_ABANDONED);
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended"));
  EXPECT_EQ(ev[0].interaction_ended().reason(), v1::END_REASON_ABANDONED);
  EXPECT_EQ(Ms(ev[0].interaction_ended().waited()), 7 * kSec);
  EXPECT_EQ(ev[0].interaction_ended().agent_id(), "");
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_EQ(d.engine().QueueWaiting("q"), 0);
  EXPECT_REJECTED(cmd::Cancel("i1"), "NO_SUCH_INTERACTION", "interaction_id");

  d.Enqueue("i2", "q");
  EXPECT_REJECTED(cmd::Cancel("i2", v1::CANCEL_REASON_UNSPECIFIED), "INVALID_ARGUMENT", "reason");
  ev = d.Cancel("i2", v1::CANCEL_REASON_CANCELLED);
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended"));
  EXPECT_EQ(ev[0].interaction_ended().reason(), v1::END_REASON_CANCELLED);
}

TEST_F(EngineTest, CancelWhileOfferedRescindsTheOfferAndFreesTheAgent) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  d.Enqueue("i1", "q");
  const std::string offer = d.Interaction("i1").offer_id();
  d.Enqueue("i2", "q");  // waits behind

  const Events ev = d.Cancel("i1");
  ASSERT_THAT(Kinds(ev), ElementsAre("offer_rescinded", "interaction_ended", "offer_created"));
  EXPECT_EQ(ev[0].offer_rescinded().offer_id(), offer);
  EXPECT_EQ(ev[0].offer_rescinded().agent_id(), "a1");
  EXPECT_EQ(ev[0].offer_rescinded().cause(), "abandoned");
  EXPECT_EQ(ev[1].interaction_ended().reason(), v1::END_REASON_ABANDONED);
  EXPECT_EQ(ev[2].offer_created().interaction_id(), "i2");
  EXPECT_EQ(ev[2].offer_created().agent_id(), "a1");
  EXPECT_EQ(ev[2].offer_created().explanation().trigger(), "agent_freed");
  // The old offer is dead.
  EXPECT_REJECTED(cmd::Accept("a1", offer), "OFFER_EXPIRED", "offer_id");
}

TEST_F(EngineTest, CancelWhileConnectedCompletesItAndStartsWrapUp) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Advance(30 * kSec);
  const Events ev = d.Cancel("i1");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended", "wrap_up_started", "wrap_up_ended"));
  EXPECT_EQ(ev[0].interaction_ended().reason(), v1::END_REASON_COMPLETED);
  EXPECT_EQ(ev[0].interaction_ended().disposition(), "caller_hangup");
  EXPECT_EQ(ev[0].interaction_ended().agent_id(), "a1");
  EXPECT_EQ(Ms(ev[0].interaction_ended().handled()), 30 * kSec);
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
}

// =============================================================================================
// 4. Matching, both directions

TEST_F(EngineTest, NewInteractionGoesToTheBestEligibleAvailableAgent) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1", {{"billing", 1}}));
  d.Advance(kSec);
  d.AddAgent(Agent("a2", {{"billing", 4}}));
  d.Advance(kSec);
  d.AddAgent(Agent("a3", {{"billing", 4}}));
  d.Aux("a1", "lunch");
  d.Advance(kSec);
  const Events ev = d.Enqueue("i1", "q", Opts().Requirement("skills.billing >= 2"));
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_queued", "offer_created"));
  EXPECT_EQ(ev[1].offer_created().agent_id(), "a2");
  EXPECT_EQ(ev[1].offer_created().explanation().trigger(), "interaction_arrived");
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_OFFERED);
  EXPECT_EQ(d.Interaction("i1").agent_id(), "a2");
  const v1::AgentState a2 = d.AgentState("a2");
  ASSERT_EQ(a2.legs_size(), 1);
  EXPECT_EQ(a2.legs(0).phase(), v1::LEG_PHASE_OFFERED);
  EXPECT_EQ(a2.legs(0).interaction_id(), "i1");
}

TEST_F(EngineTest, FreedAgentTakesTheBestWaitingInteractionAcrossItsQueues) {
  auto sales = Queue("sales");
  sales.set_membership("skills.sales > 0");
  d.UpsertQueue(sales);
  auto billing = Queue("billing");
  billing.set_priority(5);
  billing.set_membership("skills.billing > 0");
  d.UpsertQueue(billing);
  auto vip = Queue("vip");
  vip.set_priority(50);
  vip.set_membership("skills.vip > 0");
  d.UpsertQueue(vip);
  d.UpsertAgent(Agent("a1", {{"sales", 1}, {"billing", 1}}));  // not a vip member
  d.Enqueue("s1", "sales");
  d.Enqueue("v1", "vip");
  d.Enqueue("b1", "billing");
  d.Advance(kSec);
  Events ev = d.Login("a1");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("b1", "a1")));
  EXPECT_EQ(Offers(ev)[0].explanation().queues_considered(), 2);
  d.AcceptOf("b1");
  ev = d.Complete("a1", "b1");
  EXPECT_THAT(OfferPairs(ev), ElementsAre(Pair("s1", "a1")));
  EXPECT_EQ(d.Interaction("v1").state(), v1::INTERACTION_STATE_QUEUED);
}

TEST_F(EngineTest, AgingLetsAnOldLowPriorityInteractionBeatANewerHighPriorityOne) {
  auto low = Queue("low");
  low.set_aging_per_minute(5);  // +5 points per minute waited
  d.UpsertQueue(low);
  auto high = Queue("high");
  high.set_priority(20);  // +1 point per minute (default)
  d.UpsertQueue(high);
  d.UpsertAgent(Agent("a1"));
  d.UpsertAgent(Agent("a2"));

  d.Enqueue("L", "low");
  d.Advance(kMin);
  const Events h1 = d.Enqueue("H1", "high");
  EXPECT_EQ(h1[0].interaction_queued().effective_priority(), 20000);
  d.Advance(kMin);
  // t = 2 min: L = 5 x 2 = 10 points, H1 = 20 + 1 = 21.
  Events ev = d.Login("a1");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("H1", "a1")));
  EXPECT_DOUBLE_EQ(Offers(ev)[0].explanation().top(0).score(), 21.0);
  EXPECT_DOUBLE_EQ(Offers(ev)[0].explanation().top(1).score(), 10.0);
  d.AcceptOf("H1");

  d.Advance(2 * kMin);
  d.Enqueue("H2", "high");
  d.Advance(2 * kMin);
  // t = 6 min: L = 30 points, H2 = 20 + 2 = 22.
  ev = d.Login("a2");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("L", "a2")));
  EXPECT_DOUBLE_EQ(Offers(ev)[0].explanation().top(0).score(), 30.0);
  EXPECT_DOUBLE_EQ(Offers(ev)[0].explanation().top(1).score(), 22.0);
}

TEST_F(EngineTest, AgingWithinAQueueOrdersPositions) {
  d.UpsertQueue(Queue("q"));
  d.UpsertAgent(Agent("a1"));
  d.Enqueue("old", "q");
  d.Advance(10 * kMin);
  // 5 priority points now < 10 minutes of aging: queued behind "old".
  EXPECT_EQ(d.Enqueue("new", "q", Opts().Priority(5))[0].interaction_queued().position(), 2);
  EXPECT_THAT(OfferPairs(d.Login("a1")), ElementsAre(Pair("old", "a1")));
}

TEST_F(EngineTest, TiesGoToTheEarliestInteractionAndTheFirstRegisteredAgent) {
  d.UpsertQueue(Queue("q"));
  d.UpsertAgent(Agent("b"));  // registered before "a"
  d.UpsertAgent(Agent("a"));
  d.Enqueue("i1", "q");  // same ms, same priority
  d.Enqueue("i2", "q");
  d.Enqueue("i3", "q");
  EXPECT_THAT(OfferPairs(d.Login("a")), ElementsAre(Pair("i1", "a")));
  EXPECT_THAT(OfferPairs(d.Login("b")), ElementsAre(Pair("i2", "b")));

  // Agent side: b and a idle since the same ms; registration order breaks the tie.
  d.Cancel("i1");
  d.Cancel("i2");
  d.Cancel("i3");
  d.Logout("a");
  d.Logout("b");
  d.Advance(kSec);
  d.Login("a");
  d.Login("b");
  EXPECT_THAT(OfferPairs(d.Enqueue("j1", "q")), ElementsAre(Pair("j1", "b")));
}

// =============================================================================================
// 5. Expansion steps

TEST_F(EngineTest, ExpansionStepRelaxesTheRequirementAfterItsDelay) {
  auto q = Queue("q");
  AddStep(&q, 0, "skills.billing >= 4");
  AddStep(&q, 30 * kSec, "");
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1", {{"billing", 2}}));
  const int64_t t0 = d.now();

  EXPECT_THAT(Offers(d.Enqueue("i1", "q")), IsEmpty());
  EXPECT_EQ(d.Interaction("i1").step(), 0);
  EXPECT_EQ(d.engine().NextDeadlineMs(), t0 + 30 * kSec);
  EXPECT_THAT(Offers(d.TickAfter(10 * kSec)), IsEmpty());
  // An agent freed before the step does not qualify either.
  d.Aux("a1", "coffee");
  EXPECT_THAT(Offers(d.Available("a1")), IsEmpty());
  EXPECT_THAT(d.TickAfter(20 * kSec - 1), IsEmpty());

  const Events ev = d.TickAfter(1);
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_step_changed", "offer_created"));
  EXPECT_EQ(ev[0].interaction_step_changed().interaction_id(), "i1");
  EXPECT_EQ(ev[0].interaction_step_changed().step(), 1);
  EXPECT_EQ(ev[0].interaction_step_changed().requirement(), "");
  EXPECT_EQ(ev[1].offer_created().agent_id(), "a1");
  EXPECT_EQ(ev[1].offer_created().explanation().step(), 1);
  EXPECT_EQ(ev[1].offer_created().explanation().trigger(), "step_changed");
  EXPECT_EQ(Ms(ev[1].offer_created().waited()), 30 * kSec);
}

TEST_F(EngineTest, ExpansionStepCombinesWithTheInteractionsOwnRequirement) {
  auto q = Queue("q");
  AddStep(&q, 0, "skills.billing >= 4");
  AddStep(&q, 30 * kSec, "skills.billing >= 2");
  d.UpsertQueue(q);
  auto fr = Agent("fr", {{"billing", 5}});
  (*fr.mutable_attributes())["language"] = "fr";
  d.AddAgent(fr);
  auto es = Agent("es", {{"billing", 2}});
  (*es.mutable_attributes())["language"] = "es";
  d.AddAgent(es);
  EXPECT_THAT(Offers(d.Enqueue("i1", "q", Opts().Requirement("language == \"es\""))), IsEmpty());
  const Events ev = d.TickAfter(30 * kSec);
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_step_changed", "offer_created"));
  EXPECT_EQ(ev[0].interaction_step_changed().requirement(),
            "(language == \"es\") && (skills.billing >= 2)");
  EXPECT_EQ(ev[1].offer_created().agent_id(), "es");
}

TEST_F(EngineTest, StepTimerDoesNotFireForAConnectedInteraction) {
  // Regression (engine bug fixed in 9a15ef4): step/max-wait timers outlived the connection.
  auto q = Queue("q");
  AddStep(&q, 0, "skills.billing >= 4");
  AddStep(&q, 30 * kSec, "");
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1", {{"billing", 5}}));
  Connect("i1", "q", "a1");
  EXPECT_FALSE(d.engine().NextDeadlineMs().has_value());
  EXPECT_THAT(d.TickAfter(30 * kSec), IsEmpty());
}

TEST_F(EngineTest, RemovingStepsWhileAnOfferIsPendingKeepsTheInteractionRoutable) {
  // The offered interaction keeps its step timer (it may come back to the queue); the queue then
  // loses its steps. The timer must cope with a queue that has none.
  auto q = Queue("q");
  *q.mutable_offer_timeout() = Dur(60 * kSec);
  AddStep(&q, 0, "skills.billing >= 4");
  AddStep(&q, 30 * kSec, "");
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1", {{"billing", 5}}));
  d.Enqueue("i1", "q");
  auto plain = Queue("q");
  *plain.mutable_offer_timeout() = Dur(60 * kSec);
  d.UpsertQueue(plain);  // no steps any more
  Events ev = d.TickAfter(30 * kSec);
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_step_changed"));
  EXPECT_EQ(ev[0].interaction_step_changed().step(), 0);
  EXPECT_EQ(ev[0].interaction_step_changed().requirement(), "");
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_OFFERED);
  ev = d.RejectOf("i1");
  EXPECT_EQ(d.Interaction("i1").step(), 0);
  d.AddAgent(Agent("a2"));  // billing 0: fine without steps
  EXPECT_EQ(d.Interaction("i1").agent_id(), "a2");
}

// =============================================================================================
// 6. Offers

TEST_F(EngineTest, AcceptConnectsTheInteraction) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  d.Enqueue("i1", "q");
  const std::string offer = d.Interaction("i1").offer_id();
  d.Advance(4 * kSec);
  const Events ev = d.Accept("a1", offer);
  ASSERT_THAT(Kinds(ev), ElementsAre("offer_accepted", "interaction_connected"));
  EXPECT_EQ(ev[0].offer_accepted().offer_id(), offer);
  EXPECT_EQ(ev[0].offer_accepted().interaction_id(), "i1");
  EXPECT_EQ(ev[0].offer_accepted().agent_id(), "a1");
  EXPECT_EQ(ev[1].interaction_connected().agent_id(), "a1");
  EXPECT_EQ(ev[1].interaction_connected().queue_id(), "q");
  EXPECT_EQ(Ms(ev[1].interaction_connected().waited()), 4 * kSec);

  const v1::InteractionRecord r = d.Interaction("i1");
  EXPECT_EQ(r.state(), v1::INTERACTION_STATE_CONNECTED);
  EXPECT_EQ(r.connected_at_ms(), d.now());
  EXPECT_EQ(r.offer_expires_ms(), 0);
  EXPECT_EQ(d.AgentState("a1").legs(0).phase(), v1::LEG_PHASE_CONNECTED);
  EXPECT_FALSE(d.engine().NextDeadlineMs().has_value());  // the offer timer is gone
}

TEST_F(EngineTest, RejectedOfferGoesToAnotherAgentAndNeverBackToTheRejecter) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  d.Advance(kSec);
  d.AddAgent(Agent("a2"));
  d.Advance(kSec);
  d.Enqueue("i1", "q");
  ASSERT_EQ(d.Interaction("i1").agent_id(), "a1");

  Events ev = d.RejectOf("i1");
  ASSERT_THAT(Kinds(ev), ElementsAre("offer_rejected", "interaction_queued", "offer_created"));
  EXPECT_EQ(ev[0].offer_rejected().agent_id(), "a1");
  EXPECT_EQ(ev[1].interaction_queued().cause(), "offer_rejected");
  EXPECT_EQ(ev[1].interaction_queued().position(), 1);
  const v1::OfferCreated& o = ev[2].offer_created();
  EXPECT_EQ(o.agent_id(), "a2");
  EXPECT_EQ(o.explanation().filtered_excluded(), 1);
  for (const auto& c : o.explanation().top()) EXPECT_NE(c.agent_id(), "a1");
  EXPECT_THAT(d.Interaction("i1").excluded_agents(), ElementsAre("a1"));

  // a2 rejects too: nobody left.
  ev = d.RejectOf("i1");
  EXPECT_THAT(Kinds(ev), ElementsAre("offer_rejected", "interaction_queued"));
  EXPECT_THAT(d.Interaction("i1").excluded_agents(), ElementsAre("a1", "a2"));
  // a1 freed again: still not offered it.
  d.Aux("a1", "coffee");
  EXPECT_THAT(Offers(d.Available("a1")), IsEmpty());
  // A third agent gets it.
  d.UpsertAgent(Agent("a3"));
  EXPECT_THAT(OfferPairs(d.Login("a3")), ElementsAre(Pair("i1", "a3")));
}

TEST_F(EngineTest, OfferTimeoutRequeuesAtTheOriginalPositionAndMarksTheAgentNotResponding) {
  auto q = Queue("q");
  *q.mutable_offer_timeout() = Dur(5 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  d.Enqueue("i1", "q");
  const std::string offer = d.Interaction("i1").offer_id();
  d.Advance(kSec);
  EXPECT_EQ(d.Enqueue("i2", "q")[0].interaction_queued().position(), 1);  // i1 is not waiting

  const Events ev = d.TickAfter(4 * kSec);
  ASSERT_THAT(Kinds(ev),
              ElementsAre("offer_timed_out", "agent_state_changed", "interaction_queued"));
  EXPECT_EQ(ev[0].offer_timed_out().offer_id(), offer);
  EXPECT_EQ(ev[0].offer_timed_out().agent_id(), "a1");
  EXPECT_EQ(ev[1].agent_state_changed().presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[1].agent_state_changed().reason(), "not_responding");
  EXPECT_EQ(ev[2].interaction_queued().cause(), "offer_timeout");
  EXPECT_EQ(ev[2].interaction_queued().position(), 1);  // ahead of i2 again
  EXPECT_EQ(d.AgentState("a1").presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
  EXPECT_EQ(d.engine().QueueWaiting("q"), 2);
  EXPECT_REJECTED(cmd::Accept("a1", offer), "OFFER_EXPIRED", "offer_id");
  EXPECT_REJECTED(cmd::Reject("a1", offer), "OFFER_EXPIRED", "offer_id");

  // The next agent gets i1 first.
  d.UpsertAgent(Agent("a2"));
  EXPECT_THAT(OfferPairs(d.Login("a2")), ElementsAre(Pair("i1", "a2")));
}

TEST_F(EngineTest, MissedOfferIsNotOfferedAgainToTheSameAgent) {
  // Regression (engine bug fixed in 9a15ef4): a missed offer did not exclude the agent.
  // DESIGN §2: "agents to exclude (who rejected or missed it)".
  auto q = Queue("q");
  *q.mutable_offer_timeout() = Dur(5 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  d.Enqueue("i1", "q");
  d.TickAfter(5 * kSec);
  EXPECT_THAT(d.Interaction("i1").excluded_agents(), ElementsAre("a1"));
  EXPECT_THAT(Offers(d.Available("a1")), IsEmpty());
  d.UpsertAgent(Agent("a2"));
  EXPECT_THAT(OfferPairs(d.Login("a2")), ElementsAre(Pair("i1", "a2")));
}

TEST_F(EngineTest, StaleOfferIdsAreRejectedAndChangeNothing) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  d.AddAgent(Agent("a2"));
  d.Enqueue("i1", "q");
  const std::string offer = d.Interaction("i1").offer_id();
  EXPECT_REJECTED(cmd::Accept("a1", "o999"), "OFFER_EXPIRED", "offer_id");
  EXPECT_REJECTED(cmd::Accept("a2", offer), "OFFER_EXPIRED", "offer_id");  // not theirs
  EXPECT_REJECTED(cmd::Reject("a2", offer), "OFFER_EXPIRED", "offer_id");
  EXPECT_REJECTED(cmd::Accept("ghost", offer), "NO_SUCH_AGENT", "agent_id");
  d.Accept("a1", offer);
  EXPECT_REJECTED(cmd::Accept("a1", offer), "OFFER_EXPIRED", "offer_id");  // answered
  EXPECT_REJECTED(cmd::Reject("a1", offer), "OFFER_EXPIRED", "offer_id");
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_CONNECTED);
}

// =============================================================================================
// 7. Capacity per channel

TEST_F(EngineTest, ChatCapacityAllowsSeveralChatsAndNoVoice) {
  d.UpsertQueue(Queue("chat", v1::STRATEGY_LONGEST_IDLE, v1::CHANNEL_CHAT));
  d.UpsertQueue(Queue("voice"));
  for (const char* id : {"c1", "c2", "c3", "c4"}) d.Enqueue(id, "chat");
  d.Enqueue("v1", "voice");
  auto a1 = Agent("a1");
  SetCapacity(&a1, v1::CHANNEL_CHAT, 3);  // voice not listed: 0
  d.UpsertAgent(a1);

  Events ev = d.Login("a1");
  EXPECT_THAT(OfferPairs(ev), ElementsAre(Pair("c1", "a1"), Pair("c2", "a1"), Pair("c3", "a1")));
  EXPECT_EQ(d.AgentState("a1").legs_size(), 3);
  EXPECT_EQ(d.engine().QueueWaiting("chat"), 1);
  EXPECT_EQ(d.engine().QueueWaiting("voice"), 1);

  for (const char* id : {"c1", "c2", "c3"}) d.AcceptOf(id);
  ev = d.Complete("a1", "c2");
  EXPECT_THAT(OfferPairs(ev), ElementsAre(Pair("c4", "a1")));
  EXPECT_EQ(d.Interaction("v1").state(), v1::INTERACTION_STATE_QUEUED);
  EXPECT_EQ(d.engine().Stats().offered + d.engine().Stats().connected, 3);
}

TEST_F(EngineTest, DefaultCapacityIsOneVoiceCall) {
  d.UpsertQueue(Queue("chat", v1::STRATEGY_LONGEST_IDLE, v1::CHANNEL_CHAT));
  d.UpsertQueue(Queue("voice"));
  d.AddAgent(Agent("a1"));
  EXPECT_THAT(Offers(d.Enqueue("c1", "chat")), IsEmpty());
  EXPECT_THAT(OfferPairs(d.Enqueue("v1", "voice")), ElementsAre(Pair("v1", "a1")));
  EXPECT_THAT(Offers(d.Enqueue("v2", "voice")), IsEmpty());
}

// =============================================================================================
// 8. Completion and wrap-up

TEST_F(EngineTest, CompleteStartsWrapUpAndTheTimerEndsIt) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(20 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Advance(40 * kSec);
  Events ev = d.Complete("a1", "i1", "sold");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended", "wrap_up_started"));
  const auto& ended = ev[0].interaction_ended();
  EXPECT_EQ(ended.reason(), v1::END_REASON_COMPLETED);
  EXPECT_EQ(ended.disposition(), "sold");
  EXPECT_EQ(ended.agent_id(), "a1");
  EXPECT_EQ(Ms(ended.handled()), 40 * kSec);
  EXPECT_EQ(ev[1].wrap_up_started().interaction_id(), "i1");
  EXPECT_EQ(Ms(ev[1].wrap_up_started().deadline()), d.now() + 20 * kSec);
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_EQ(d.AgentState("a1").handled(), 1);
  EXPECT_EQ(d.engine().GetQueue("q")->handled(), 1);
  EXPECT_EQ(d.engine().GetQueue("q")->aht_ms(), 40 * kSec);

  // No offer during wrap-up.
  EXPECT_THAT(Offers(d.Enqueue("i2", "q")), IsEmpty());
  EXPECT_REJECTED(cmd::Complete("a1", "i1"), "NOT_CONNECTED", "interaction_id");
  EXPECT_THAT(d.TickAfter(20 * kSec - 1), IsEmpty());
  ev = d.TickAfter(1);
  ASSERT_THAT(Kinds(ev), ElementsAre("wrap_up_ended", "offer_created"));
  EXPECT_TRUE(ev[0].wrap_up_ended().timed_out());
  EXPECT_EQ(ev[0].wrap_up_ended().disposition(), "sold");
  EXPECT_EQ(ev[1].offer_created().interaction_id(), "i2");
  EXPECT_EQ(ev[1].offer_created().explanation().trigger(), "agent_freed");
}

TEST_F(EngineTest, EndWrapUpEarlyOverridesTheDisposition) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(20 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Complete("a1", "i1", "sold");
  EXPECT_REJECTED(cmd::EndWrapUp("a1", "nope"), "NOT_IN_WRAP_UP", "interaction_id");
  d.Advance(3 * kSec);
  Events ev = d.EndWrapUp("a1", "i1", "sold_upsell");
  ASSERT_THAT(Kinds(ev), ElementsAre("wrap_up_ended"));
  EXPECT_FALSE(ev[0].wrap_up_ended().timed_out());
  EXPECT_EQ(ev[0].wrap_up_ended().disposition(), "sold_upsell");
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
  EXPECT_EQ(d.AgentState("a1").idle_since_ms(), d.now());
  EXPECT_FALSE(d.engine().NextDeadlineMs().has_value());
  EXPECT_THAT(d.TickAfter(20 * kSec), IsEmpty());

  // Without a disposition, the one given at Complete stays.
  Connect("i2", "q", "a1");
  d.Complete("a1", "i2", "callback");
  ev = d.EndWrapUp("a1", "i2");
  EXPECT_EQ(ev[0].wrap_up_ended().disposition(), "callback");
}

TEST_F(EngineTest, ZeroWrapUpFreesTheAgentAtOnce) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Enqueue("i2", "q");
  const Events ev = d.Complete("a1", "i1");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended", "wrap_up_started", "wrap_up_ended",
                                     "offer_created"));
  EXPECT_EQ(Ms(ev[1].wrap_up_started().deadline()), d.now());
  EXPECT_EQ(ev[3].offer_created().interaction_id(), "i2");
}

// =============================================================================================
// 9. Preferred agent

TEST_F(EngineTest, PreferredAgentGetsTheInteractionWhenFree) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a2"));  // idle longer
  d.Advance(kSec);
  d.AddAgent(Agent("a1"));
  const Events ev = d.Enqueue("i1", "q", Opts().Preferred("a1"));
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_queued", "offer_created"));
  EXPECT_EQ(ev[0].interaction_queued().preferred_agent_id(), "a1");
  EXPECT_EQ(ev[1].offer_created().agent_id(), "a1");
  EXPECT_TRUE(ev[1].offer_created().explanation().preferred_agent());
  EXPECT_EQ(d.Interaction("i1").preferred_until_ms(), d.now() + 30 * kSec);  // default 30 s
}

TEST_F(EngineTest, PreferredAgentIsWaitedForWhileBusy) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i0", "q", "a1");
  d.AddAgent(Agent("a2"));
  const Events ev = d.Enqueue("i1", "q", Opts().Preferred("a1", 60 * kSec));
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_queued"));  // a2 is free but not preferred
  EXPECT_EQ(ev[0].interaction_queued().preferred_agent_id(), "a1");
  EXPECT_THAT(Offers(d.Enqueue("i2", "q")), ElementsAre(::testing::_));  // others still flow to a2

  d.Advance(20 * kSec);
  const Events done = d.Complete("a1", "i0");
  ASSERT_THAT(OfferPairs(done), ElementsAre(Pair("i1", "a1")));
  EXPECT_TRUE(Offers(done)[0].explanation().preferred_agent());
  EXPECT_EQ(Offers(done)[0].explanation().trigger(), "agent_freed");
}

TEST_F(EngineTest, PreferredAgentExpiryFallsBackToTheQueue) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i0", "q", "a1");
  d.AddAgent(Agent("a2"));
  d.Aux("a2", "coffee");
  d.Enqueue("i1", "q", Opts().Preferred("a1", 20 * kSec));
  d.Available("a2");
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_QUEUED);
  EXPECT_THAT(d.TickAfter(20 * kSec - 1), IsEmpty());
  const Events ev = d.TickAfter(1);
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  EXPECT_EQ(Offers(ev)[0].explanation().trigger(), "preferred_expired");
  EXPECT_FALSE(Offers(ev)[0].explanation().preferred_agent());
  EXPECT_EQ(d.Interaction("i1").preferred_until_ms(), 0);
}

TEST_F(EngineTest, PreferredAgentWhoRejectsIsNotOfferedItAgain) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a2"));
  d.AddAgent(Agent("a1"));
  ASSERT_THAT(OfferPairs(d.Enqueue("i1", "q", Opts().Preferred("a1"))),
              ElementsAre(Pair("i1", "a1")));
  const Events ev = d.RejectOf("i1");
  EXPECT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a2")));
  EXPECT_THAT(d.Interaction("i1").excluded_agents(), ElementsAre("a1"));
}

// =============================================================================================
// 10. Transfer and escalation

class TransferTest : public EngineTest {
 protected:
  void SetUp() override {
    auto q1 = Queue("q1");
    q1.set_membership("skills.q1 > 0");
    d.UpsertQueue(q1);
    auto q2 = Queue("q2");
    q2.set_membership("skills.q2 > 0");
    d.UpsertQueue(q2);
    d.AddAgent(Agent("a1", {{"q1", 1}}));
    d.AddAgent(Agent("a2", {{"q2", 1}}));
    d.AddAgent(Agent("a3", {{"q1", 1}}));
    d.Aux("a3", "busy");
    d.Advance(kSec);
    Connect("i1", "q1", "a1");
    d.Advance(10 * kSec);
  }
};

TEST_F(TransferTest, TransferToAQueueRequeuesItThereAndReleasesTheAgent) {
  const Events ev = d.Transfer("a1", "i1", "q2");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_transferred", "wrap_up_started", "wrap_up_ended",
                                     "interaction_queued", "offer_created"));
  EXPECT_EQ(ev[0].interaction_transferred().from_agent_id(), "a1");
  EXPECT_EQ(ev[0].interaction_transferred().target_queue_id(), "q2");
  EXPECT_EQ(ev[3].interaction_queued().queue_id(), "q2");
  EXPECT_EQ(ev[3].interaction_queued().cause(), "transferred");
  EXPECT_EQ(ev[4].offer_created().agent_id(), "a2");
  EXPECT_EQ(d.Interaction("i1").queue_id(), "q2");
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
  EXPECT_EQ(d.AgentState("a1").handled(), 1);
}

TEST_F(TransferTest, TransferToAnAgentOffersItToThatAgent) {
  d.Available("a3");  // nothing waiting, so no offer
  const Events ev = d.Transfer("a1", "i1", "", "a3");
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(Kinds(ev).back(), "offer_created");
  const auto* queued = First(ev, RE::kInteractionQueued);
  ASSERT_NE(queued, nullptr);
  EXPECT_EQ(queued->interaction_queued().queue_id(), "q1");
  EXPECT_EQ(queued->interaction_queued().preferred_agent_id(), "a3");
  EXPECT_EQ(ev[0].interaction_transferred().target_agent_id(), "a3");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("i1", "a3")));
  EXPECT_TRUE(Offers(ev)[0].explanation().preferred_agent());
}

TEST_F(TransferTest, TransferToABusyAgentWaitsThenFallsBackToTheQueueAfterTheTimeout) {
  const Events ev = d.Transfer("a1", "i1", "q1", "a3", 10 * kSec);  // a3 is on a break
  EXPECT_THAT(Offers(ev), IsEmpty());
  EXPECT_EQ(d.Interaction("i1").preferred_agent_id(), "a3");
  EXPECT_EQ(d.Interaction("i1").preferred_until_ms(), d.now() + 10 * kSec);
  d.AddAgent(Agent("a4", {{"q1", 1}}));  // free, but i1 waits for a3
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_QUEUED);
  EXPECT_THAT(d.TickAfter(10 * kSec - 1), IsEmpty());
  const Events later = d.TickAfter(1);
  ASSERT_THAT(OfferPairs(later), ElementsAre(Pair("i1", "a4")));
  EXPECT_EQ(Offers(later)[0].explanation().trigger(), "preferred_expired");
}

TEST_F(TransferTest, TransferredInteractionDoesNotComeBackToTheTransferringAgent) {
  // a1 is free again at once (no wrap-up) and is a q1 member, but is not offered what it passed on.
  const Events ev = d.Transfer("a1", "i1", "q1");
  EXPECT_THAT(Offers(ev), IsEmpty());
  EXPECT_THAT(d.Interaction("i1").excluded_agents(), ElementsAre("a1"));
  EXPECT_THAT(OfferPairs(d.Available("a3")), ElementsAre(Pair("i1", "a3")));
}

TEST_F(TransferTest, TransferValidation) {
  EXPECT_REJECTED(cmd::Transfer("a1", "i1", "nope"), "NO_SUCH_QUEUE", "target_queue_id");
  EXPECT_REJECTED(cmd::Transfer("a1", "i1", "q2", "ghost"), "NO_SUCH_AGENT", "target_agent_id");
  EXPECT_REJECTED(cmd::Transfer("a1", "i1", "q2", "a1"), "INVALID_ARGUMENT", "target_agent_id");
  EXPECT_REJECTED(cmd::Transfer("a2", "i1", "q2"), "NOT_CONNECTED", "interaction_id");
  EXPECT_REJECTED(cmd::Transfer("a1", "i1", "q2", "", 2 * 3600 * kSec), "INVALID_ARGUMENT",
                  "timeout");
}

class EscalationTest : public EngineTest {
 protected:
  void SetUp() override {
    auto sup = Queue("sup");
    sup.set_membership("supervisor");
    d.UpsertQueue(sup);
    auto support = Queue("support");
    support.set_membership("!supervisor");
    support.set_escalation_queue("sup");
    d.UpsertQueue(support);
    d.UpsertQueue(Queue("plain"));  // no escalation queue

    auto a1 = Agent("a1");
    a1.set_team("red");
    d.AddAgent(a1);
    auto s2 = Agent("s2");
    s2.set_team("blue");
    s2.set_supervisor(true);
    d.AddAgent(s2);  // idle longest of the supervisors, but another team
    d.Advance(kSec);
    auto s1 = Agent("s1");
    s1.set_team("red");
    s1.set_supervisor(true);
    d.AddAgent(s1);
    d.Advance(kSec);
    Connect("i1", "support", "a1", Opts().Priority(3).Attr("verified", "true"));
    d.Advance(30 * kSec);
  }
};

TEST_F(EscalationTest, WarmEscalationRoutesATaskToASupervisorOfTheTeamAndKeepsTheAgent) {
  Events ev = d.Escalate("a1", "i1", "asks for a manager");
  ASSERT_THAT(Kinds(ev), ElementsAre("escalation_created", "interaction_queued", "offer_created"));
  const auto& created = ev[0].escalation_created();
  const std::string task = created.task_id();
  EXPECT_EQ(created.interaction_id(), "i1");
  EXPECT_EQ(created.agent_id(), "a1");
  EXPECT_EQ(created.team(), "red");
  EXPECT_EQ(created.reason(), "asks for a manager");
  EXPECT_FALSE(created.cold());
  EXPECT_EQ(created.queue_id(), "sup");
  const auto& queued = ev[1].interaction_queued();
  EXPECT_EQ(queued.interaction_id(), task);
  EXPECT_EQ(queued.queue_id(), "sup");
  EXPECT_EQ(queued.cause(), "escalated");
  EXPECT_EQ(queued.effective_priority(), 53000);          // 3 + the default boost of 50
  EXPECT_EQ(queued.attributes().at("verified"), "true");  // the context is carried along
  EXPECT_EQ(queued.attributes().at("escalation_reason"), "asks for a manager");
  const auto& offer = ev[2].offer_created();
  EXPECT_EQ(offer.agent_id(), "s1");  // s2 is of another team
  EXPECT_EQ(offer.escalated_from(), "i1");
  EXPECT_EQ(offer.explanation().filtered_requirement(), 1);

  // The agent stays on the line.
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_CONNECTED);
  EXPECT_EQ(d.Interaction("i1").escalation_task(), task);
  EXPECT_EQ(d.AgentState("a1").legs(0).phase(), v1::LEG_PHASE_CONNECTED);
  EXPECT_REJECTED(cmd::Escalate("a1", "i1", "again"), "ALREADY_ESCALATED", "interaction_id");

  d.Advance(5 * kSec);
  ev = d.AcceptOf(task);
  ASSERT_THAT(Kinds(ev), ElementsAre("offer_accepted", "interaction_connected", "escalation_joined",
                                     "interaction_ended", "wrap_up_started", "wrap_up_ended"));
  const auto& joined = ev[2].escalation_joined();
  EXPECT_EQ(joined.interaction_id(), "i1");
  EXPECT_EQ(joined.task_id(), task);
  EXPECT_EQ(joined.supervisor_id(), "s1");
  EXPECT_EQ(joined.released_agent_id(), "a1");
  EXPECT_EQ(ev[3].interaction_ended().interaction_id(), "i1");
  EXPECT_EQ(ev[3].interaction_ended().reason(), v1::END_REASON_ESCALATED);
  EXPECT_EQ(ev[3].interaction_ended().agent_id(), "a1");
  EXPECT_EQ(ev[4].wrap_up_started().agent_id(), "a1");
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_EQ(d.Interaction(task).state(), v1::INTERACTION_STATE_CONNECTED);
  EXPECT_EQ(d.Interaction(task).agent_id(), "s1");
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);
}

TEST_F(EscalationTest, ColdEscalationReleasesTheAgentAtOnce) {
  Events ev = d.Escalate("a1", "i1", "manager", /*cold=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("escalation_created", "interaction_ended", "wrap_up_started",
                                     "wrap_up_ended", "interaction_queued", "offer_created"));
  EXPECT_TRUE(ev[0].escalation_created().cold());
  EXPECT_EQ(ev[1].interaction_ended().reason(), v1::END_REASON_ESCALATED);
  EXPECT_EQ(ev[5].offer_created().agent_id(), "s1");
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_EQ(d.AgentState("a1").legs_size(), 0);

  ev = d.AcceptOf(ev[0].escalation_created().task_id());
  ASSERT_THAT(Kinds(ev),
              ElementsAre("offer_accepted", "interaction_connected", "escalation_joined"));
  EXPECT_EQ(ev[2].escalation_joined().released_agent_id(), "");
}

TEST_F(EscalationTest, EscalationTaskWaitsForASupervisorOfTheTeam) {
  d.Aux("s1", "meeting");
  const Events ev = d.Escalate("a1", "i1", "manager");
  EXPECT_THAT(Offers(ev), IsEmpty());  // s2 is free, but of another team
  d.Advance(kSec);
  const std::string task = ev[0].escalation_created().task_id();
  EXPECT_THAT(OfferPairs(d.Available("s1")), ElementsAre(Pair(task, "s1")));
}

TEST_F(EscalationTest, PendingWarmEscalationIsWithdrawnWhenTheCallerHangsUp) {
  d.Aux("s1", "meeting");
  const std::string task = d.Escalate("a1", "i1", "manager")[0].escalation_created().task_id();
  const Events ev = d.Cancel("i1");
  const auto ended = All(ev, RE::kInteractionEnded);
  ASSERT_EQ(ended.size(), 2u);
  EXPECT_EQ(ended[0]->interaction_ended().interaction_id(), "i1");
  EXPECT_EQ(ended[1]->interaction_ended().interaction_id(), task);
  EXPECT_EQ(ended[1]->interaction_ended().reason(), v1::END_REASON_CANCELLED);
  EXPECT_FALSE(d.HasInteraction(task));
}

TEST_F(EscalationTest, EscalationRejections) {
  EXPECT_REJECTED(cmd::Escalate("s1", "i1", "manager"), "NOT_CONNECTED", "interaction_id");
  EXPECT_REJECTED(cmd::Escalate("a1", "i1", "manager", false, "nope"), "NO_SUCH_QUEUE", "queue_id");
  // A queue without an escalation queue.
  d.AddAgent(Agent("a9"));
  Connect("p1", "plain", "a9", Opts().Requirement("agent_id == \"a9\""));
  EXPECT_REJECTED(cmd::Escalate("a9", "p1", "manager"), "NO_ESCALATION_QUEUE", "queue_id");
  // An agent without a team.
  EXPECT_REJECTED(cmd::Escalate("a9", "p1", "manager", false, "sup"), "NO_TEAM", "agent_id");
  // Already escalated.
  d.Aux("s1", "meeting");
  d.Escalate("a1", "i1", "manager");
  EXPECT_REJECTED(cmd::Escalate("a1", "i1", "manager"), "ALREADY_ESCALATED", "interaction_id");
}

// =============================================================================================
// 11. Agent disconnect and recovery breaks

TEST_F(EngineTest, AgentDisconnectEndsTheInteractionWithCategoryAndDecision) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(10 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  EXPECT_REJECTED(cmd::Disconnect("a1", "i1", "", "pd-1"), "INVALID_ARGUMENT", "category");
  EXPECT_REJECTED(cmd::Disconnect("a1", "i1", "racial_slur", ""), "INVALID_ARGUMENT",
                  "policy_decision_id");
  EXPECT_REJECTED(cmd::Disconnect("a1", "nope", "racial_slur", "pd-1"), "NOT_CONNECTED",
                  "interaction_id");
  const Events ev = d.Disconnect("a1", "i1", "racial_slur", "pd-1");
  ASSERT_THAT(Kinds(ev), ElementsAre("interaction_ended", "wrap_up_started"));
  const auto& e = ev[0].interaction_ended();
  EXPECT_EQ(e.reason(), v1::END_REASON_AGENT_DISCONNECTED);
  EXPECT_EQ(e.category(), "racial_slur");
  EXPECT_EQ(e.policy_decision_id(), "pd-1");
  EXPECT_EQ(e.agent_id(), "a1");
  EXPECT_EQ(e.disposition(), "agent_disconnect:racial_slur");
  EXPECT_FALSE(d.HasInteraction("i1"));
}

// The warnings on `id`'s record as (category, agent, at_ms).
std::vector<std::tuple<std::string, std::string, int64_t>> WarningsOf(
    const v1::InteractionRecord& r) {
  std::vector<std::tuple<std::string, std::string, int64_t>> out;
  for (const auto& w : r.warnings()) out.emplace_back(w.category(), w.agent_id(), w.at_ms());
  return out;
}

TEST_F(EngineTest, WarnCallerRecordsTheWarningOnTheInteractionAndEmitsCallerWarned) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Advance(5 * kSec);
  const int64_t first_at = d.now();
  Events ev = d.WarnCaller("a1", "i1", "racial_slur");
  ASSERT_THAT(Kinds(ev), ElementsAre("caller_warned"));
  const auto& w = ev[0].caller_warned();
  EXPECT_EQ(w.interaction_id(), "i1");
  EXPECT_EQ(w.agent_id(), "a1");
  EXPECT_EQ(w.category(), "racial_slur");
  EXPECT_EQ(Ms(w.at()), first_at);
  EXPECT_EQ(w.warnings(), 1);

  d.Advance(kSec);
  ev = d.WarnCaller("a1", "i1", std::string(64, 'x'));  // 64 bytes: the longest allowed
  ASSERT_THAT(Kinds(ev), ElementsAre("caller_warned"));
  EXPECT_EQ(ev[0].caller_warned().warnings(), 2);

  // On the record (what InteractionService.Get returns) and in the snapshot, oldest first; the
  // interaction is otherwise untouched.
  const v1::InteractionRecord r = d.Interaction("i1");
  EXPECT_EQ(r.state(), v1::INTERACTION_STATE_CONNECTED);
  EXPECT_EQ(r.agent_id(), "a1");
  EXPECT_THAT(WarningsOf(r), ElementsAre(std::make_tuple("racial_slur", "a1", first_at),
                                         std::make_tuple(std::string(64, 'x'), "a1", d.now())));
  const v1::RoutingSnapshot snap = d.engine().Snapshot();
  ASSERT_EQ(snap.interactions_size(), 1);
  EXPECT_EQ(Bytes(snap.interactions(0)), Bytes(r));
  EXPECT_EQ(d.AgentState("a1").legs(0).phase(), v1::LEG_PHASE_CONNECTED);

  // A warning is not a disconnect: the call goes on and completes normally.
  ev = d.Complete("a1", "i1", "resolved");
  EXPECT_EQ(RejectReason(ev), "");
  EXPECT_FALSE(d.HasInteraction("i1"));
}

TEST_F(EngineTest, WarnCallerRejectionsChangeNothing) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(30 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  d.AddAgent(Agent("a2"));
  d.Advance(kSec);
  Connect("i1", "q", "a1");
  ASSERT_EQ(OfferOf(d.Enqueue("i2", "q"), "i2")->agent_id(), "a2");  // offered, not connected
  ASSERT_THAT(Offers(d.Enqueue("i3", "q")), IsEmpty());              // waiting

  EXPECT_REJECTED(cmd::WarnCaller("ghost", "i1", "racial_slur"), "NO_SUCH_AGENT", "agent_id");
  // Another agent, an offer not yet accepted, a waiting or unknown interaction.
  EXPECT_REJECTED(cmd::WarnCaller("a2", "i1", "racial_slur"), "NOT_CONNECTED", "interaction_id");
  EXPECT_REJECTED(cmd::WarnCaller("a2", "i2", "racial_slur"), "NOT_CONNECTED", "interaction_id");
  EXPECT_REJECTED(cmd::WarnCaller("a1", "i3", "racial_slur"), "NOT_CONNECTED", "interaction_id");
  EXPECT_REJECTED(cmd::WarnCaller("a1", "nope", "racial_slur"), "NOT_CONNECTED", "interaction_id");
  EXPECT_REJECTED(cmd::WarnCaller("a1", "i1", ""), "INVALID_ARGUMENT", "category");
  EXPECT_REJECTED(cmd::WarnCaller("a1", "i1", std::string(65, 'x')), "INVALID_ARGUMENT",
                  "category");
  EXPECT_THAT(d.Interaction("i1").warnings(), IsEmpty());

  // The rejection names the command kind and says what to send.
  const Events ev = d.WarnCaller("a1", "i1", "");
  ASSERT_THAT(Kinds(ev), ElementsAre("command_rejected"));
  EXPECT_EQ(ev[0].command_rejected().command(), "warn_caller");
  EXPECT_EQ(ev[0].command_rejected().message(),
            "category: required (1-64 bytes), e.g. racial_slur");

  // In wrap-up the call is over: no warning either.
  d.Complete("a1", "i1");
  EXPECT_REJECTED(cmd::WarnCaller("a1", "i1", "racial_slur"), "NOT_CONNECTED", "interaction_id");
}

TEST_F(EngineTest, TheSeventeenthWarningIsRejected) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  for (int n = 1; n <= 16; ++n) {
    d.Advance(kSec);
    const Events ev = d.WarnCaller("a1", "i1", "profanity");
    ASSERT_THAT(Kinds(ev), ElementsAre("caller_warned")) << "warning " << n;
    EXPECT_EQ(ev[0].caller_warned().warnings(), n);
  }
  d.Advance(kSec);
  EXPECT_REJECTED(cmd::WarnCaller("a1", "i1", "profanity"), "TOO_MANY_WARNINGS", "interaction_id");
  EXPECT_EQ(d.Interaction("i1").warnings_size(), 16);
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_CONNECTED);
}

TEST_F(EngineTest, WarningsSurviveSnapshotAndRestore) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Advance(kSec);
  d.WarnCaller("a1", "i1", "racial_slur");
  d.Advance(kSec);
  d.WarnCaller("a1", "i1", "threat");
  const v1::InteractionRecord before = d.Interaction("i1");
  ASSERT_EQ(before.warnings_size(), 2);

  const std::string bytes = Bytes(d.engine().Snapshot());
  v1::RoutingSnapshot parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  auto restored = Engine::Restore(parsed);
  ASSERT_TRUE(restored.ok()) << restored.status();
  d.SetEngine(*std::move(restored));
  EXPECT_EQ(Bytes(d.engine().Snapshot()), bytes);
  EXPECT_EQ(Bytes(d.Interaction("i1")), Bytes(before));

  // The restored engine keeps counting where the original stopped.
  d.Advance(kSec);
  const Events ev = d.WarnCaller("a1", "i1", "profanity");
  ASSERT_THAT(Kinds(ev), ElementsAre("caller_warned"));
  EXPECT_EQ(ev[0].caller_warned().warnings(), 3);
}

TEST_F(TransferTest, WarningsStayWithATransferredInteraction) {
  const int64_t at = d.now();
  d.WarnCaller("a1", "i1", "racial_slur");
  d.Advance(kSec);
  d.Transfer("a1", "i1", "q2");  // offered to a2
  EXPECT_THAT(WarningsOf(d.Interaction("i1")),
              ElementsAre(std::make_tuple("racial_slur", "a1", at)));
  // The transferring agent no longer holds it.
  EXPECT_REJECTED(cmd::WarnCaller("a1", "i1", "threat"), "NOT_CONNECTED", "interaction_id");
  d.AcceptOf("i1");
  const Events ev = d.WarnCaller("a2", "i1", "threat");
  ASSERT_THAT(Kinds(ev), ElementsAre("caller_warned"));
  EXPECT_EQ(ev[0].caller_warned().agent_id(), "a2");
  EXPECT_EQ(ev[0].caller_warned().warnings(), 2);
  EXPECT_THAT(WarningsOf(d.Interaction("i1")),
              ElementsAre(std::make_tuple("racial_slur", "a1", at),
                          std::make_tuple("threat", "a2", d.now())));
}

TEST_F(EscalationTest, WarningsFollowTheConversationToTheSupervisor) {
  const int64_t first = d.now();
  d.WarnCaller("a1", "i1", "racial_slur");
  d.Advance(kSec);
  const std::string task =
      d.Escalate("a1", "i1", "abusive caller")[0].escalation_created().task_id();  // warm
  EXPECT_EQ(d.Interaction(task).warnings_size(), 1);
  // The agent is still on the line while the task waits, and may warn again.
  d.Advance(kSec);
  const int64_t second = d.now();
  EXPECT_EQ(d.WarnCaller("a1", "i1", "threat")[0].caller_warned().warnings(), 2);
  d.Advance(kSec);
  d.AcceptOf(task);  // the supervisor joins, i1 ends
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_THAT(WarningsOf(d.Interaction(task)),
              ElementsAre(std::make_tuple("racial_slur", "a1", first),
                          std::make_tuple("threat", "a1", second)));
  const Events ev = d.WarnCaller("s1", task, "threat");
  ASSERT_THAT(Kinds(ev), ElementsAre("caller_warned"));
  EXPECT_EQ(ev[0].caller_warned().interaction_id(), task);
  EXPECT_EQ(ev[0].caller_warned().warnings(), 3);
}

// The caller's identity verification as (factors passed, failed attempts, verified): on a record
// (what InteractionService.Get returns) or as a VerificationRecorded event reports it.
using Verification = std::tuple<std::vector<std::string>, int32_t, bool>;
Verification VerificationOf(const v1::InteractionRecord& r) {
  return Verification({r.verified_factors().begin(), r.verified_factors().end()},
                      r.failed_verifications(), r.verified());
}
Verification VerificationOf(const v1::VerificationRecorded& e) {
  return Verification({e.factors_passed().begin(), e.factors_passed().end()}, e.failed_attempts(),
                      e.verified());
}

TEST_F(EngineTest, RecordVerificationKeepsTheCallersVerificationOnTheInteraction) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Advance(5 * kSec);
  EXPECT_EQ(VerificationOf(d.Interaction("i1")), Verification({}, 0, false));

  Events ev = d.RecordVerification("a1", "i1", "date_of_birth", /*passed=*/false);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  const auto& v = ev[0].verification_recorded();
  EXPECT_EQ(v.interaction_id(), "i1");
  EXPECT_EQ(v.agent_id(), "a1");
  EXPECT_EQ(v.factor(), "date_of_birth");
  EXPECT_FALSE(v.passed());
  EXPECT_EQ(VerificationOf(v), Verification({}, 1, false));

  d.Advance(kSec);
  ev = d.RecordVerification("a1", "i1", "date_of_birth", /*passed=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_TRUE(ev[0].verification_recorded().passed());
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth"}, 1, false));

  const std::string longest(64, 'p');  // 64 bytes: the longest allowed
  ev = d.RecordVerification("a1", "i1", longest, true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", longest}, 1, false));

  // Passing a factor again does not list it twice.
  ev = d.RecordVerification("a1", "i1", "date_of_birth", true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", longest}, 1, false));

  // The policy service's verdict, without a factor.
  ev = d.RecordVerification("a1", "i1", "", /*passed=*/false, /*verified=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(ev[0].verification_recorded().factor(), "");
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", longest}, 1, true));

  // Once verified, the caller stays verified: a later failure or a command without `verified`
  // only adds to the counters.
  ev = d.RecordVerification("a1", "i1", "postcode", false);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", longest}, 2, true));
  ev = d.RecordVerification("a1", "i1", "last_payment", true, /*verified=*/false);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", longest, "last_payment"}, 2, true));

  // On the record and in the snapshot; the interaction is otherwise untouched.
  const v1::InteractionRecord r = d.Interaction("i1");
  EXPECT_EQ(VerificationOf(r), Verification({"date_of_birth", longest, "last_payment"}, 2, true));
  EXPECT_EQ(r.state(), v1::INTERACTION_STATE_CONNECTED);
  EXPECT_EQ(r.agent_id(), "a1");
  const v1::RoutingSnapshot snap = d.engine().Snapshot();
  ASSERT_EQ(snap.interactions_size(), 1);
  EXPECT_EQ(Bytes(snap.interactions(0)), Bytes(r));
  EXPECT_EQ(d.AgentState("a1").legs(0).phase(), v1::LEG_PHASE_CONNECTED);

  ev = d.Complete("a1", "i1", "resolved");
  EXPECT_EQ(RejectReason(ev), "");
  EXPECT_FALSE(d.HasInteraction("i1"));
}

TEST_F(EngineTest, AVerifiedVerdictWithAFactorAlsoRecordsTheFactor) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  Events ev = d.RecordVerification("a1", "i1", "voice_print", true, /*verified=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(ev[0].verification_recorded().factor(), "voice_print");
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()), Verification({"voice_print"}, 0, true));
  // A failed factor with the verdict counts as a failed attempt (the verdict still holds).
  ev = d.RecordVerification("a1", "i1", "pin", false, /*verified=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()), Verification({"voice_print"}, 1, true));
  EXPECT_EQ(VerificationOf(d.Interaction("i1")), Verification({"voice_print"}, 1, true));
}

TEST_F(EngineTest, RecordVerificationRejectionsChangeNothing) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(30 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  d.AddAgent(Agent("a2"));
  d.Advance(kSec);
  Connect("i1", "q", "a1");
  ASSERT_EQ(OfferOf(d.Enqueue("i2", "q"), "i2")->agent_id(), "a2");  // offered, not connected
  ASSERT_THAT(Offers(d.Enqueue("i3", "q")), IsEmpty());              // waiting
  d.RecordVerification("a1", "i1", "date_of_birth", true);
  d.RecordVerification("a1", "i1", "postcode", false);

  EXPECT_REJECTED(cmd::RecordVerification("ghost", "i1", "postcode", true), "NO_SUCH_AGENT",
                  "agent_id");
  // Another agent, an offer not yet accepted, a waiting or unknown interaction.
  for (const auto& [agent, id] : std::vector<std::pair<std::string, std::string>>{
           {"a2", "i1"}, {"a2", "i2"}, {"a1", "i3"}, {"a1", "nope"}}) {
    EXPECT_REJECTED(cmd::RecordVerification(agent, id, "postcode", true), "NOT_CONNECTED",
                    "interaction_id");
    EXPECT_REJECTED(cmd::RecordVerification(agent, id, "", false, /*verified=*/true),
                    "NOT_CONNECTED", "interaction_id");
  }
  // A factor is required unless the command carries the verdict; never longer than 64 bytes.
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", "", true), "INVALID_ARGUMENT", "factor");
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", "", false), "INVALID_ARGUMENT", "factor");
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", std::string(65, 'x'), true),
                  "INVALID_ARGUMENT", "factor");
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", std::string(65, 'x'), false),
                  "INVALID_ARGUMENT", "factor");
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", std::string(65, 'x'), true, true),
                  "INVALID_ARGUMENT", "factor");
  EXPECT_EQ(VerificationOf(d.Interaction("i1")), Verification({"date_of_birth"}, 1, false));

  // The rejection names the command kind and says what to send.
  const Events ev = d.RecordVerification("a1", "i1", "", true);
  ASSERT_THAT(Kinds(ev), ElementsAre("command_rejected"));
  EXPECT_EQ(ev[0].command_rejected().command(), "record_verification");
  EXPECT_EQ(ev[0].command_rejected().message(),
            "factor: required (1-64 bytes) unless verified is set");

  // In wrap-up the call is over: nothing more to record.
  d.Complete("a1", "i1");
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", "", false, true), "NOT_CONNECTED",
                  "interaction_id");
}

TEST_F(EngineTest, VerificationKeepsSixteenFactorsAndCountsAThousandFailedAttempts) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  std::vector<std::string> factors;
  for (int n = 1; n <= 16; ++n) {
    factors.push_back("factor_" + std::to_string(n));
    const Events ev = d.RecordVerification("a1", "i1", factors.back(), true);
    ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded")) << "factor " << n;
    EXPECT_EQ(ev[0].verification_recorded().factors_passed_size(), n);
  }
  // A 17th distinct factor is refused; one already passed, a failure or the verdict are not.
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", "factor_17", true), "TOO_MANY_FACTORS",
                  "factor");
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", "factor_17", true, true), "TOO_MANY_FACTORS",
                  "factor");
  ASSERT_THAT(Kinds(d.RecordVerification("a1", "i1", "factor_1", true)),
              ElementsAre("verification_recorded"));
  for (int n = 1; n <= 1000; ++n) {
    const Events ev = d.RecordVerification("a1", "i1", "factor_17", false);
    ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded")) << "failure " << n;
    ASSERT_EQ(ev[0].verification_recorded().failed_attempts(), n);
  }
  // Failed attempts stay at 1000 from then on.
  Events ev = d.RecordVerification("a1", "i1", "factor_17", false);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()), Verification(factors, 1000, false));
  ev = d.RecordVerification("a1", "i1", "", false, /*verified=*/true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()), Verification(factors, 1000, true));
  EXPECT_EQ(VerificationOf(d.Interaction("i1")), Verification(factors, 1000, true));
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_CONNECTED);
}

TEST_F(EngineTest, VerificationSurvivesSnapshotAndRestore) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  d.Advance(kSec);
  d.RecordVerification("a1", "i1", "postcode", false);
  d.RecordVerification("a1", "i1", "date_of_birth", true);
  d.RecordVerification("a1", "i1", "", false, /*verified=*/true);
  const v1::InteractionRecord before = d.Interaction("i1");
  ASSERT_EQ(VerificationOf(before), Verification({"date_of_birth"}, 1, true));

  const std::string bytes = Bytes(d.engine().Snapshot());
  v1::RoutingSnapshot parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  auto restored = Engine::Restore(parsed);
  ASSERT_TRUE(restored.ok()) << restored.status();
  d.SetEngine(*std::move(restored));
  EXPECT_EQ(Bytes(d.engine().Snapshot()), bytes);
  EXPECT_EQ(Bytes(d.Interaction("i1")), Bytes(before));

  // The restored engine goes on from where the original stopped.
  d.Advance(kSec);
  const Events ev = d.RecordVerification("a1", "i1", "postcode", true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", "postcode"}, 1, true));
}

TEST_F(TransferTest, AVerifiedCallerStaysVerifiedAfterATransfer) {
  d.RecordVerification("a1", "i1", "postcode", false);
  d.RecordVerification("a1", "i1", "date_of_birth", true);
  d.RecordVerification("a1", "i1", "", false, /*verified=*/true);
  d.Advance(kSec);
  d.Transfer("a1", "i1", "q2");  // offered to a2
  EXPECT_EQ(VerificationOf(d.Interaction("i1")), Verification({"date_of_birth"}, 1, true));
  // The transferring agent no longer holds it.
  EXPECT_REJECTED(cmd::RecordVerification("a1", "i1", "pin", true), "NOT_CONNECTED",
                  "interaction_id");
  d.AcceptOf("i1");
  // The next agent sees (InteractionService.Get) that the caller is verified: no need to ask.
  EXPECT_EQ(VerificationOf(d.Interaction("i1")), Verification({"date_of_birth"}, 1, true));
  const Events ev = d.RecordVerification("a2", "i1", "pin", true);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(ev[0].verification_recorded().agent_id(), "a2");
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", "pin"}, 1, true));
}

TEST_F(EscalationTest, VerificationFollowsTheConversationToTheSupervisor) {
  d.RecordVerification("a1", "i1", "date_of_birth", true);
  d.Advance(kSec);
  const std::string task =
      d.Escalate("a1", "i1", "asks for a manager")[0].escalation_created().task_id();  // warm
  EXPECT_EQ(VerificationOf(d.Interaction(task)), Verification({"date_of_birth"}, 0, false));
  // The agent is still on the line while the task waits, and finishes verifying the caller.
  d.Advance(kSec);
  d.RecordVerification("a1", "i1", "postcode", false);
  d.RecordVerification("a1", "i1", "postcode", true, /*verified=*/true);
  d.Advance(kSec);
  d.AcceptOf(task);  // the supervisor joins, i1 ends
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_EQ(VerificationOf(d.Interaction(task)),
            Verification({"date_of_birth", "postcode"}, 1, true));
  const Events ev = d.RecordVerification("s1", task, "pin", false);
  ASSERT_THAT(Kinds(ev), ElementsAre("verification_recorded"));
  EXPECT_EQ(ev[0].verification_recorded().interaction_id(), task);
  EXPECT_EQ(VerificationOf(ev[0].verification_recorded()),
            Verification({"date_of_birth", "postcode"}, 2, true));
}

TEST_F(EscalationTest, AColdEscalationTaskCarriesTheVerification) {
  d.RecordVerification("a1", "i1", "date_of_birth", true, /*verified=*/true);
  const std::string task =
      d.Escalate("a1", "i1", "asks for a manager", /*cold=*/true)[0].escalation_created().task_id();
  EXPECT_FALSE(d.HasInteraction("i1"));
  EXPECT_EQ(VerificationOf(d.Interaction(task)), Verification({"date_of_birth"}, 0, true));
  d.AcceptOf(task);
  EXPECT_EQ(VerificationOf(d.Interaction(task)), Verification({"date_of_birth"}, 0, true));
}

TEST_F(EngineTest, RecoveryBreakEndsByItselfOnATick) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  EXPECT_REJECTED(cmd::RecoveryBreak("a1", 500), "INVALID_ARGUMENT", "duration");
  EXPECT_REJECTED(cmd::RecoveryBreak("a1", 5 * 3600 * kSec), "INVALID_ARGUMENT", "duration");
  Events ev = d.RecoveryBreak("a1", 5 * kMin);
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[0].agent_state_changed().reason(), "recovery");
  EXPECT_EQ(Ms(ev[0].agent_state_changed().until()), d.now() + 5 * kMin);
  EXPECT_EQ(d.AgentState("a1").break_until_ms(), d.now() + 5 * kMin);
  EXPECT_EQ(d.engine().NextDeadlineMs(), d.now() + 5 * kMin);

  EXPECT_THAT(Offers(d.Enqueue("i1", "q")), IsEmpty());
  EXPECT_THAT(d.TickAfter(5 * kMin - 1), IsEmpty());
  ev = d.TickAfter(1);
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed", "offer_created"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(ev[0].agent_state_changed().previous(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[0].agent_state_changed().previous_reason(), "recovery");
  EXPECT_EQ(ev[1].offer_created().interaction_id(), "i1");
  EXPECT_EQ(d.AgentState("a1").break_until_ms(), 0);
}

TEST_F(EngineTest, RecoveryBreakRequestedWhileBusyStartsAfterWrapUp) {
  auto q = Queue("q");
  *q.mutable_wrap_up() = Dur(10 * kSec);
  d.UpsertQueue(q);
  d.AddAgent(Agent("a1"));
  Connect("i1", "q", "a1");
  Events ev = d.RecoveryBreak("a1", kMin);
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(ev[0].agent_state_changed().pending_aux(), "recovery");
  EXPECT_EQ(d.AgentState("a1").pending_break_ms(), kMin);

  d.Disconnect("a1", "i1", "sexual_remarks", "pd-2");
  d.Enqueue("i2", "q");
  ev = d.TickAfter(10 * kSec);
  ASSERT_THAT(Kinds(ev), ElementsAre("wrap_up_ended", "agent_state_changed"));
  EXPECT_EQ(ev[1].agent_state_changed().presence(), v1::PRESENCE_AUX);
  EXPECT_EQ(ev[1].agent_state_changed().reason(), "recovery");
  EXPECT_EQ(Ms(ev[1].agent_state_changed().until()), d.now() + kMin);
  EXPECT_EQ(d.AgentState("a1").pending_aux(), "");

  ev = d.TickAfter(kMin);
  ASSERT_THAT(Kinds(ev), ElementsAre("agent_state_changed", "offer_created"));
  EXPECT_EQ(ev[0].agent_state_changed().presence(), v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(ev[1].offer_created().interaction_id(), "i2");
}

// =============================================================================================
// 12. Explanations

TEST_F(EngineTest, ExplanationOfAnArrivalCountsCandidatesAndRanksTheTop) {
  d.UpsertQueue(Queue("q"));
  d.UpsertAgent(Agent("a1", {{"billing", 1}}));
  d.UpsertAgent(Agent("a2", {{"billing", 5}}));
  d.UpsertAgent(Agent("a3", {{"billing", 4}}));
  d.UpsertAgent(Agent("a4", {{"billing", 5}}));  // never logs in
  d.UpsertAgent(Agent("a5", {{"billing", 5}}));  // on a break
  d.Login("a1");
  d.Advance(kSec);
  d.Login("a2");
  d.Advance(kSec);
  d.Login("a3");
  d.Login("a5");
  d.Aux("a5", "lunch");
  d.Advance(8 * kSec);

  const Events ev = d.Enqueue("i1", "q", Opts().Requirement("skills.billing >= 4"));
  ASSERT_EQ(Offers(ev).size(), 1u);
  const v1::OfferCreated o = Offers(ev)[0];
  EXPECT_EQ(o.agent_id(), "a2");
  const v1::Explanation& ex = o.explanation();
  EXPECT_EQ(ex.trigger(), "interaction_arrived");
  EXPECT_EQ(ex.strategy(), v1::STRATEGY_LONGEST_IDLE);
  EXPECT_EQ(ex.step(), 0);
  EXPECT_EQ(ex.requirement(), "skills.billing >= 4");
  EXPECT_EQ(ex.members(), 5);
  EXPECT_EQ(ex.available(), 3);
  EXPECT_EQ(ex.examined(), 3);
  EXPECT_EQ(ex.filtered_requirement(), 1);
  EXPECT_EQ(ex.filtered_excluded(), 0);
  EXPECT_FALSE(ex.preferred_agent());
  EXPECT_EQ(ex.config_version(), 6);
  ASSERT_EQ(ex.top_size(), 2);
  EXPECT_EQ(ex.top(0).agent_id(), "a2");
  EXPECT_DOUBLE_EQ(ex.top(0).score(), 9.0);
  EXPECT_EQ(ex.top(1).agent_id(), "a3");
  EXPECT_DOUBLE_EQ(ex.top(1).score(), 8.0);
  EXPECT_EQ(o.queue_id(), "q");
  EXPECT_EQ(o.channel(), v1::CHANNEL_VOICE);
}

TEST_F(EngineTest, ExplanationOfAFreedAgentCountsQueuesAndClasses) {
  d.UpsertQueue(Queue("q1"));
  auto q2 = Queue("q2");
  q2.set_priority(5);
  d.UpsertQueue(q2);
  d.UpsertAgent(Agent("a1", {{"billing", 1}}));
  d.Enqueue("x", "q1");
  d.Enqueue("y", "q2", Opts().Requirement("skills.billing >= 3"));
  d.Enqueue("z", "q2");
  const Events ev = d.Login("a1");
  ASSERT_THAT(OfferPairs(ev), ElementsAre(Pair("z", "a1")));
  const v1::Explanation ex = Offers(ev)[0].explanation();
  EXPECT_EQ(ex.trigger(), "agent_freed");
  EXPECT_EQ(ex.queues_considered(), 2);
  EXPECT_EQ(ex.classes_considered(), 3);
  EXPECT_EQ(ex.filtered_requirement(), 1);
  EXPECT_EQ(ex.examined(), 2);
  EXPECT_EQ(ex.members(), 1);
  EXPECT_EQ(ex.config_version(), 3);
  ASSERT_EQ(ex.top_size(), 2);
  EXPECT_EQ(ex.top(0).interaction_id(), "z");
  EXPECT_DOUBLE_EQ(ex.top(0).score(), 5.0);
  EXPECT_EQ(ex.top(1).interaction_id(), "x");
}

// =============================================================================================
// 13. Idempotency and rejections

TEST_F(EngineTest, RepeatedCommandIdProducesNoEventsAndNoChange) {
  d.UpsertQueue(Queue("q"));
  d.AddAgent(Agent("a1"));
  v1::RoutingCommand c = cmd::Enqueue("i1", "q");
  c.set_command_id("retry-me");
  ASSERT_EQ(Offers(d.Apply(c)).size(), 1u);
  const std::string before = Bytes(d.engine().Snapshot());
  EXPECT_THAT(d.Apply(c), IsEmpty());
  EXPECT_EQ(Bytes(d.engine().Snapshot()), before);

  // A later retry, even with another body under the same id, is ignored too.
  d.Advance(5 * kSec);
  EXPECT_THAT(d.Apply(c), IsEmpty());
  v1::RoutingCommand other = cmd::Cancel("i1");
  other.set_command_id("retry-me");
  EXPECT_THAT(d.Apply(other), IsEmpty());
  EXPECT_EQ(d.Interaction("i1").state(), v1::INTERACTION_STATE_OFFERED);
  EXPECT_EQ(d.engine().Stats().interactions, 1);
}

TEST(EngineWindowTest, CommandIdsOlderThanTheWindowAreForgotten) {
  EngineOptions options;
  options.command_id_window = 2;
  Driver d(options);
  d.UpsertQueue(Queue("q"));
  v1::RoutingCommand c = cmd::Enqueue("i1", "q");
  c.set_command_id("old");
  d.Apply(c);
  EXPECT_THAT(d.Apply(c), IsEmpty());  // still remembered
  d.Tick();
  d.Tick();
  EXPECT_EQ(RejectReason(d.Apply(c)), "DUPLICATE_INTERACTION");  // forgotten: applied again
}

TEST_F(EngineTest, InvalidCommandsGetAStableReasonAndChangeNothing) {
  BusyDomain();
  EXPECT_REJECTED(cmd::Enqueue("x", "nope"), "NO_SUCH_QUEUE", "queue_id");
  EXPECT_REJECTED(cmd::RemoveQueue("nope"), "NO_SUCH_QUEUE", "queue_id");
  EXPECT_REJECTED(cmd::Login("ghost"), "NO_SUCH_AGENT", "agent_id");
  EXPECT_REJECTED(cmd::Complete("ghost", "i1"), "NO_SUCH_AGENT", "agent_id");
  EXPECT_REJECTED(cmd::Cancel("ghost"), "NO_SUCH_INTERACTION", "interaction_id");
  EXPECT_REJECTED(cmd::Complete("a2", "i2"), "NOT_CONNECTED", "interaction_id");  // only offered
  EXPECT_REJECTED(cmd::Complete("a1", "i3"), "NOT_CONNECTED", "interaction_id");  // waiting
  EXPECT_REJECTED(cmd::EndWrapUp("a1", "i1"), "NOT_IN_WRAP_UP", "interaction_id");
  EXPECT_REJECTED(cmd::Login("a1"), "ALREADY_LOGGED_IN", "agent_id");
  EXPECT_REJECTED(cmd::Logout("a1"), "AGENT_BUSY", "agent_id");
  EXPECT_REJECTED(cmd::Logout("a3"), "AGENT_IN_WRAP_UP", "agent_id");
  EXPECT_REJECTED(cmd::RemoveAgent("a1"), "AGENT_LOGGED_IN", "agent_id");
  EXPECT_REJECTED(cmd::Enqueue("x", "q", Opts().Requirement("skills.billing >= && 1")),
                  "BAD_EXPRESSION", "requirement");
  EXPECT_REJECTED(cmd::Accept("a2", "o999"), "OFFER_EXPIRED", "offer_id");
  EXPECT_REJECTED(v1::RoutingCommand(), "INVALID_ARGUMENT", "body");
  v1::RoutingCommand other_tenant = cmd::Cancel("i3");
  other_tenant.set_tenant_id("someone-else");
  EXPECT_REJECTED(other_tenant, "WRONG_TENANT", "tenant_id");

  // The command kind is named.
  Events ev = d.Apply(cmd::Cancel("ghost"));
  EXPECT_EQ(ev[0].command_rejected().command(), "cancel");
  ev = d.Apply(v1::RoutingCommand());
  EXPECT_EQ(ev[0].command_rejected().command(), "none");
  // A command id is required.
  v1::RoutingCommand no_id = cmd::Tick();
  no_id.set_tenant_id(d.tenant());
  *no_id.mutable_time() = google::protobuf::Timestamp();
  ev = d.ApplyRaw(no_id);
  EXPECT_EQ(RejectReason(ev), "INVALID_ARGUMENT");
  EXPECT_THAT(ev[0].command_rejected().message(), HasSubstr("command_id"));
}

TEST_F(EngineTest, RejectedCommandLeavesSnapshotBytesIdentical) {
  // Rejected commands are not remembered as seen (engine.cc Apply), so nothing changes.
  BusyDomain();
  const std::string before = Bytes(d.engine().Snapshot());
  EXPECT_EQ(RejectReason(d.Apply(cmd::Enqueue("x", "nope"))), "NO_SUCH_QUEUE");
  EXPECT_EQ(Bytes(d.engine().Snapshot()), before);
}

// =============================================================================================
// 14. Snapshot / restore, and the naive matcher

// A scripted day with waiting, offered, connected, wrap-up, preferred, escalated and warned
// interactions, breaks and pending timers of every kind.
void RichScenario(Driver& d) {
  auto sup = Queue("sup");
  sup.set_membership("supervisor");
  d.UpsertQueue(sup);
  d.UpsertQueue(Queue("overflow"));
  auto sales = Queue("sales");
  sales.set_membership("!supervisor");
  sales.set_escalation_queue("sup");
  *sales.mutable_wrap_up() = Dur(10 * kSec);
  *sales.mutable_offer_timeout() = Dur(20 * kSec);
  AddStep(&sales, 0, "skills.sales >= 3");
  AddStep(&sales, 30 * kSec, "");
  *sales.mutable_max_wait() = Dur(5 * kMin);
  sales.set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
  sales.set_overflow_queue("overflow");
  d.UpsertQueue(sales);
  d.UpsertQueue(Queue("chat", v1::STRATEGY_ROUND_ROBIN, v1::CHANNEL_CHAT));

  auto a1 = Agent("a1", {{"sales", 4}});
  a1.set_team("red");
  auto a2 = Agent("a2", {{"sales", 2}});
  a2.set_team("red");
  auto a3 = Agent("a3", {{"sales", 5}});
  a3.set_team("blue");
  SetCapacity(&a3, v1::CHANNEL_VOICE, 1);
  SetCapacity(&a3, v1::CHANNEL_CHAT, 2);
  auto s1 = Agent("s1");
  s1.set_team("red");
  s1.set_supervisor(true);
  for (const auto& p : {a1, a2, a3, s1}) d.UpsertAgent(p);

  const int64_t t = d.now();
  auto at = [&](int64_t s) { d.AdvanceTo(t + s * kSec); };
  d.Login("a1");
  at(1);
  d.Login("a2");
  at(2);
  d.Login("a3");
  d.Login("s1");
  d.Aux("s1", "meeting");
  at(3);
  d.Enqueue("v1", "sales");  // a1
  at(5);
  d.AcceptOf("v1");
  d.Enqueue("v2", "sales", Opts().Priority(5).Attr("vip", "true"));  // a3
  at(6);
  d.AcceptOf("v2");
  at(11);
  d.WarnCaller("a1", "v1", "profanity");  // follows v1 to the escalation task
  const std::string task =
      d.Escalate("a1", "v1", "asks for a manager")[0].escalation_created().task_id();  // warm
  d.Enqueue("v3", "sales", Opts().Preferred("a3", 60 * kSec));
  d.Enqueue("v4", "sales");  // nobody qualifies before step 1
  at(14);
  d.Complete("a3", "v2", "resolved");  // wrap-up until 24 s
  d.Enqueue("c1", "chat");
  d.Enqueue("c2", "chat");
  d.AcceptOf("c1");
  d.RecoveryBreak("a2", 2 * kMin);
  at(20);
  d.AcceptOf("c2");
  at(24);
  d.Tick();  // a3's wrap-up ends: v3 offered to its preferred agent
  at(30);
  d.AcceptOf("v3");
  at(41);
  d.Tick();  // v4 reaches step 1
  at(45);
  d.Available("s1");  // takes the escalation task
  at(47);
  d.AcceptOf(task);
  at(50);
  d.Enqueue("v5", "sales", Opts().Preferred("a1", 20 * kSec));
  at(57);
  d.Tick();  // a1's wrap-up ends: v5 offered to a1
  at(60);
  d.AcceptOf("v5");
  d.WarnCaller("a1", "v5", "threat");  // kept while v5 waits again after its transfer
  at(62);
  d.Complete("a3", "c1", "ok");
  at(65);
  d.Disconnect("a3", "v3", "abusive", "pd-7");
  at(70);
  d.RecoveryBreak("a3", kMin);  // pending: c2 and a wrap-up in hand
  at(75);
  d.Tick();
  at(80);
  d.Complete("a3", "c2");  // the break starts
  at(90);
  d.Transfer("a1", "v5", "overflow", "s1", 15 * kSec);
  at(105);
  d.Tick();
  at(110);
  d.Enqueue("v6", "sales");
  d.Cancel("v6");
  at(134);
  d.Tick();
  at(140);
  d.Tick();
  at(150);
  d.Complete("s1", task);
  at(320);
  d.Tick();
}

// A seeded random workload on a small domain, generated against the live engine so that accepts,
// rejects and completions mostly refer to real offers. Commands are recorded in the Driver's log.
class RandomWorkload {
 public:
  explicit RandomWorkload(uint32_t seed) : rng_(seed) {}

  void Run(Driver& d, int steps) {
    Setup(d);
    for (int i = 0; i < steps; ++i) {
      d.Advance(Uniform(0, 1500));
      Observe(Step(d));
    }
  }

  // How many events of each kind the workload produced.
  const std::map<std::string, int>& kinds() const { return kinds_; }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <class T>
  const T& Pick(const std::vector<T>& v) {
    return v[static_cast<size_t>(Uniform(0, static_cast<int>(v.size()) - 1))];
  }

  void Setup(Driver& d) {
    auto sup = Queue("sup");
    sup.set_membership("supervisor");
    d.UpsertQueue(sup);
    d.UpsertQueue(Queue("backup", v1::STRATEGY_FEWEST_INTERACTIONS));
    auto sales = Queue("sales", v1::STRATEGY_MOST_SKILLED);
    sales.set_skill("sales");
    sales.set_priority(10);
    *sales.mutable_wrap_up() = Dur(2 * kSec);
    *sales.mutable_offer_timeout() = Dur(8 * kSec);
    AddStep(&sales, 0, "skills.sales >= 3");
    AddStep(&sales, 20 * kSec, "");
    *sales.mutable_max_wait() = Dur(90 * kSec);
    sales.set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
    sales.set_overflow_queue("backup");
    sales.set_escalation_queue("sup");
    d.UpsertQueue(sales);
    auto billing = Queue("billing", v1::STRATEGY_LEAST_OCCUPIED);
    billing.set_membership("skills.billing > 0");
    billing.set_max_size(6);
    billing.set_overflow_action(v1::OVERFLOW_ACTION_CALLBACK);
    billing.set_aging_per_minute(3);
    billing.set_escalation_queue("sup");
    d.UpsertQueue(billing);
    auto chat = Queue("chat", v1::STRATEGY_ROUND_ROBIN, v1::CHANNEL_CHAT);
    *chat.mutable_offer_timeout() = Dur(5 * kSec);
    *chat.mutable_max_wait() = Dur(2 * kMin);
    chat.set_overflow_action(v1::OVERFLOW_ACTION_VOICEMAIL);
    d.UpsertQueue(chat);
    for (int i = 0; i < 10; ++i) {
      const std::string id = "a" + std::to_string(i);
      Skills skills = {{"sales", Uniform(1, 5)}};
      if (Uniform(0, 2) > 0) skills.push_back({"billing", Uniform(1, 5)});
      auto p = Agent(id, skills);
      p.set_team(i % 2 == 0 ? "red" : "blue");
      p.set_supervisor(i >= 8);
      if (i < 4) {
        SetCapacity(&p, v1::CHANNEL_VOICE, 1);
        SetCapacity(&p, v1::CHANNEL_CHAT, 3);
      }
      d.UpsertAgent(p);
      agents_.push_back(id);
      if (i % 3 != 2) d.Login(id);
    }
  }

  void Observe(const Events& ev) {
    for (const auto& e : ev) {
      if (e.has_interaction_queued()) live_.insert(e.interaction_queued().interaction_id());
      if (e.has_interaction_ended()) live_.erase(e.interaction_ended().interaction_id());
      ++kinds_[BodyName(e)];
    }
  }

  // Live interactions in `state`, in id order (deterministic).
  std::vector<v1::InteractionRecord> InState(Driver& d, v1::InteractionState state) {
    std::vector<v1::InteractionRecord> out;
    for (const auto& id : live_) {
      auto r = d.engine().GetInteraction(id);
      if (r && r->state() == state) out.push_back(*r);
    }
    return out;
  }

  Events Step(Driver& d) {
    static const std::vector<std::string> kRequirements = {"", "", "skills.billing >= 2",
                                                           "team == \"red\"", "skills.sales >= 4"};
    const int roll = Uniform(0, 99);
    if (roll < 20) {
      const std::string id = "i" + std::to_string(next_++);
      cmd::EnqueueOpts o = Opts().Priority(Uniform(0, 20)).Requirement(Pick(kRequirements));
      if (Uniform(0, 9) == 0) {
        const std::string preferred = Pick(agents_);
        o.Preferred(preferred, Uniform(5, 30) * kSec);
      }
      static const std::vector<std::string> kQueues = {"sales", "sales", "billing", "chat"};
      const std::string queue = Pick(kQueues);
      return d.Enqueue(id, queue, o);
    }
    if (roll < 55) {
      const auto offered = InState(d, v1::INTERACTION_STATE_OFFERED);
      if (offered.empty()) return d.Tick();
      const auto& r = Pick(offered);
      return Uniform(0, 9) < 7 ? d.Accept(r.agent_id(), r.offer_id())
                               : d.Reject(r.agent_id(), r.offer_id());
    }
    const auto connected = InState(d, v1::INTERACTION_STATE_CONNECTED);
    if (roll < 67) {
      if (connected.empty()) return d.Tick();
      const auto& r = Pick(connected);
      return d.Complete(r.agent_id(), r.interaction_id(), "done");
    }
    if (roll < 70) {
      if (connected.empty()) return d.Tick();
      const auto& r = Pick(connected);
      if (r.channel() == v1::CHANNEL_CHAT) return d.Transfer(r.agent_id(), r.interaction_id(), "");
      static const std::vector<std::string> kVoice = {"sales", "billing", "backup"};
      const std::string queue = Pick(kVoice);
      const std::string target = Uniform(0, 2) == 0 ? Pick(agents_) : "";
      const int64_t timeout = Uniform(0, 20) * kSec;
      return d.Transfer(r.agent_id(), r.interaction_id(), queue, target, timeout);
    }
    if (roll < 74) {
      if (connected.empty()) return d.Tick();
      const auto& r = Pick(connected);
      return d.Escalate(r.agent_id(), r.interaction_id(), "manager", Uniform(0, 1) == 0);
    }
    if (roll < 76) {
      if (connected.empty()) return d.Tick();
      const auto& r = Pick(connected);
      return d.Disconnect(r.agent_id(), r.interaction_id(), "abuse", "pd");
    }
    if (roll < 79) {
      if (live_.empty()) return d.Tick();
      const std::vector<std::string> ids(live_.begin(), live_.end());
      const std::string id = Pick(ids);
      return d.Cancel(
          id, Uniform(0, 1) == 0 ? v1::CANCEL_REASON_ABANDONED : v1::CANCEL_REASON_CANCELLED);
    }
    if (roll < 82) {
      for (const auto& a : agents_) {
        const auto s = d.AgentState(a);
        for (const auto& leg : s.legs()) {
          if (leg.phase() == v1::LEG_PHASE_WRAP_UP) return d.EndWrapUp(a, leg.interaction_id());
        }
      }
      return d.Tick();
    }
    if (roll < 92) {
      const std::string& a = Pick(agents_);
      const v1::AgentState s = d.AgentState(a);
      if (s.presence() == v1::PRESENCE_OFFLINE) return d.Login(a);
      switch (Uniform(0, 4)) {
        case 0:
          return d.Aux(a, "lunch");
        case 1:
          return d.Available(a);
        case 2:
          return d.RecoveryBreak(a, Uniform(5, 60) * kSec);
        case 3: {
          return d.Logout(a, /*force=*/Uniform(0, 1) == 0);
        }
        default:
          return d.Available(a);
      }
    }
    if (roll < 94 && !d.log().empty()) {
      // A client retry of an earlier command: ignored.
      const v1::RoutingCommand again =
          d.log()[static_cast<size_t>(Uniform(0, static_cast<int>(d.log().size()) - 1))];
      return d.ApplyRaw(again);
    }
    return d.Tick();
  }

  std::mt19937 rng_;
  std::vector<std::string> agents_;
  std::set<std::string> live_;
  int next_ = 1;
  std::map<std::string, int> kinds_;
};

EngineOptions NaiveScan() {
  EngineOptions options;
  options.matcher = MatcherKind::kNaiveScan;
  return options;
}

// The workload did exercise the engine: offers accepted, rejected and missed, transfers,
// escalations, overflows.
void ExpectBusy(const RandomWorkload& w) {
  auto n = [&](const std::string& kind) {
    auto it = w.kinds().find(kind);
    return it == w.kinds().end() ? 0 : it->second;
  };
  EXPECT_GE(n("offer_created"), 40);
  EXPECT_GE(n("interaction_connected"), 20);
  EXPECT_GE(n("offer_rejected"), 5);
  EXPECT_GE(n("offer_timed_out"), 3);
  EXPECT_GE(n("wrap_up_ended"), 10);
  EXPECT_GE(n("interaction_transferred"), 1);
  EXPECT_GE(n("escalation_created"), 1);
  EXPECT_GE(n("interaction_overflowed"), 1);
  EXPECT_GE(n("interaction_step_changed"), 1);
}

// Events with the explanations cleared: what the two matchers must agree on.
std::vector<std::string> DecisionBytes(const std::vector<Events>& per_command) {
  std::vector<std::string> out;
  for (const Events& events : per_command) {
    std::string all;
    for (v1::RoutingEvent e : events) {
      if (e.has_offer_created()) e.mutable_offer_created()->clear_explanation();
      all += Bytes(e);
    }
    out.push_back(all);
  }
  return out;
}

// Replays `original`'s log into `replica` and expects the same events (optionally up to
// explanations) for every command and the same final snapshot.
void ExpectSameRun(const Driver& original, Driver& replica, size_t from, bool exact) {
  for (size_t i = from; i < original.log().size(); ++i) replica.ApplyRaw(original.log()[i]);
  std::vector<Events> want(original.events_per_command().begin() + static_cast<ptrdiff_t>(from),
                           original.events_per_command().end());
  std::vector<Events> got(replica.events_per_command().end() - static_cast<ptrdiff_t>(want.size()),
                          replica.events_per_command().end());
  if (exact) {
    for (size_t i = 0; i < want.size(); ++i) {
      std::string a, b;
      for (const auto& e : want[i]) a += Bytes(e);
      for (const auto& e : got[i]) b += Bytes(e);
      ASSERT_EQ(a, b) << "command " << from + i << ": "
                      << original.log()[from + i].ShortDebugString();
    }
  } else {
    const auto a = DecisionBytes(want);
    const auto b = DecisionBytes(got);
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i], b[i]) << "command " << from + i << ": "
                            << original.log()[from + i].ShortDebugString();
    }
  }
  EXPECT_EQ(Bytes(replica.engine().Snapshot()), Bytes(original.engine().Snapshot()));
  EXPECT_EQ(replica.engine().NextDeadlineMs(), original.engine().NextDeadlineMs());
}

// What the snapshots of a run went through, to show the scenario is not vacuous.
struct Coverage {
  bool waiting = false, offered = false, connected = false, wrap_up = false, preferred = false;
  bool escalated = false, on_break = false, pending_aux = false, step_timer = false;
  bool max_wait_timer = false;
  bool warned = false, warned_waiting = false;  // caller warnings on a record (and a queued one)
};

Coverage Cover(const std::vector<std::string>& snapshots) {
  Coverage c;
  for (const auto& bytes : snapshots) {
    v1::RoutingSnapshot s;
    EXPECT_TRUE(s.ParseFromString(bytes));
    for (const auto& in : s.interactions()) {
      c.waiting |= in.state() == v1::INTERACTION_STATE_QUEUED;
      c.offered |= in.state() == v1::INTERACTION_STATE_OFFERED;
      c.connected |= in.state() == v1::INTERACTION_STATE_CONNECTED;
      c.preferred |=
          in.state() == v1::INTERACTION_STATE_QUEUED && in.preferred_until_ms() > s.now_ms();
      c.escalated |= !in.escalation_task().empty();
      c.step_timer |= in.state() == v1::INTERACTION_STATE_QUEUED && in.step_deadline_ms() != 0;
      c.max_wait_timer |= in.max_wait_deadline_ms() != 0;
      c.warned |= in.warnings_size() > 0;
      c.warned_waiting |= in.warnings_size() > 0 && in.state() == v1::INTERACTION_STATE_QUEUED;
    }
    for (const auto& a : s.agents()) {
      for (const auto& leg : a.legs()) c.wrap_up |= leg.phase() == v1::LEG_PHASE_WRAP_UP;
      c.on_break |= a.break_until_ms() != 0;
      c.pending_aux |= !a.pending_aux().empty();
    }
  }
  return c;
}

std::unique_ptr<Engine> RestoreFrom(const std::string& bytes, EngineOptions options = {}) {
  v1::RoutingSnapshot s;
  EXPECT_TRUE(s.ParseFromString(bytes));
  auto restored = Engine::Restore(s, options);
  EXPECT_TRUE(restored.ok()) << restored.status();
  return restored.ok() ? *std::move(restored) : nullptr;
}

TEST(SnapshotTest, RichScenarioCoversEveryStateItClaims) {
  Driver d;
  d.KeepSnapshots(true);
  RichScenario(d);
  for (const auto& ev : d.events_per_command()) EXPECT_EQ(RejectReason(ev), "");
  const Coverage c = Cover(d.snapshots());
  EXPECT_TRUE(c.waiting);
  EXPECT_TRUE(c.offered);
  EXPECT_TRUE(c.connected);
  EXPECT_TRUE(c.wrap_up);
  EXPECT_TRUE(c.preferred);
  EXPECT_TRUE(c.escalated);
  EXPECT_TRUE(c.on_break);
  EXPECT_TRUE(c.pending_aux);
  EXPECT_TRUE(c.step_timer);
  EXPECT_TRUE(c.max_wait_timer);
  EXPECT_TRUE(c.warned);
  EXPECT_TRUE(c.warned_waiting);
}

TEST(SnapshotTest, RestoreAtEveryCommandAndReplayGivesIdenticalEventsAndSnapshot) {
  Driver original;
  original.KeepSnapshots(true);
  RichScenario(original);
  for (size_t k = 0; k < original.log().size(); ++k) {
    SCOPED_TRACE("restored after command " + std::to_string(k));
    Driver replica(EngineOptions{}, original.tenant());
    replica.SetEngine(RestoreFrom(original.snapshots()[k]));
    ASSERT_EQ(Bytes(replica.engine().Snapshot()), original.snapshots()[k]);
    ExpectSameRun(original, replica, k + 1, /*exact=*/true);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(SnapshotTest, RestoreAndReplayOfARandomWorkloadIsIdentical) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Driver original;
    original.KeepSnapshots(true);
    RandomWorkload w(seed);
    w.Run(original, 300);
    ExpectBusy(w);
    for (size_t k = 0; k < original.log().size(); k += 13) {
      SCOPED_TRACE("restored after command " + std::to_string(k));
      Driver replica(EngineOptions{}, original.tenant());
      replica.SetEngine(RestoreFrom(original.snapshots()[k]));
      ExpectSameRun(original, replica, k + 1, /*exact=*/true);
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

TEST(MatcherTest, NaiveScanMakesTheSameOffersAsTheIndexedMatcherInTheRichScenario) {
  Driver indexed;
  RichScenario(indexed);
  Driver naive(NaiveScan(), indexed.tenant());
  ExpectSameRun(indexed, naive, 0, /*exact=*/false);
  std::vector<std::pair<std::string, std::string>> a, b;
  for (const auto& ev : indexed.events_per_command()) {
    for (auto& p : OfferPairs(ev)) a.push_back(p);
  }
  for (const auto& ev : naive.events_per_command()) {
    for (auto& p : OfferPairs(ev)) b.push_back(p);
  }
  EXPECT_EQ(a, b);
  EXPECT_GE(a.size(), 8u);
}

TEST(MatcherTest, NaiveScanMakesTheSameDecisionsOnARandomWorkload) {
  for (uint32_t seed : {11u, 12u, 13u, 14u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Driver indexed;
    RandomWorkload w(seed);
    w.Run(indexed, 400);
    ExpectBusy(w);
    Driver naive(NaiveScan(), indexed.tenant());
    ExpectSameRun(indexed, naive, 0, /*exact=*/false);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace sb::routing::test

namespace sb::routing::test {
namespace {

// Engine::Check answers what Apply would reject, without applying anything; a command id already
// applied is never rejected (its retry is ignored, so the API may answer OK).
TEST(CheckTest, PredictsEnqueueAndCancelRejectionsWithoutEffects) {
  Driver d;
  d.UpsertQueue(Queue("support"));
  const std::string before = Bytes(d.engine().Snapshot());
  auto check = [&](v1::RoutingCommand c) {
    c.set_tenant_id(d.tenant());
    return d.engine().Check(c);
  };
  EXPECT_FALSE(check(cmd::Enqueue("call-1", "support")).has_value());
  EXPECT_EQ(check(cmd::Enqueue("call-1", "nope"))->reason, "NO_SUCH_QUEUE");
  EXPECT_EQ(check(cmd::Enqueue("call-1", "support", cmd::EnqueueOpts().Requirement("skills.x >=")))
                ->reason,
            "BAD_EXPRESSION");
  EXPECT_EQ(check(cmd::Enqueue("call-1", "support", cmd::EnqueueOpts().Priority(500)))->reason,
            "INVALID_ARGUMENT");
  EXPECT_EQ(check(cmd::Cancel("call-1"))->reason, "NO_SUCH_INTERACTION");
  EXPECT_EQ(Bytes(d.engine().Snapshot()), before) << "Check must not change the state";

  v1::RoutingCommand enqueue = cmd::Enqueue("call-1", "support");
  enqueue.set_command_id("enq-1");
  d.Apply(enqueue);
  // The same interaction under a new command id is a duplicate; the same command id is a retry.
  v1::RoutingCommand again = enqueue;
  again.set_command_id("enq-2");
  EXPECT_EQ(check(again)->reason, "DUPLICATE_INTERACTION");
  EXPECT_FALSE(check(enqueue).has_value());
  // Each Check result matches what Apply then does.
  const Events rejected = d.Apply(again);
  EXPECT_EQ(RejectReason(rejected), "DUPLICATE_INTERACTION");
  EXPECT_FALSE(check(cmd::Cancel("call-1")).has_value());
}

}  // namespace
}  // namespace sb::routing::test
