// Unit tests of Statistics on hand-built routing event sequences.
//
// Events are built by hand (not by the routing engine) so that each statistic can be checked
// against figures worked out in the comments. The sequences follow what the engine emits: e.g.
// Complete -> InteractionEnded(COMPLETED) + WrapUpStarted, then WrapUpEnded.

#include "insights/core/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sb::insights {
namespace {

constexpr int64_t kSec = 1000;
constexpr int64_t kMin = 60 * kSec;
using RE = rv1::RoutingEvent;

class Feed {
 public:
  explicit Feed(StatisticsOptions o = {}) : stats(std::move(o)) {}

  RE Make(int64_t t_ms) {
    RE e;
    e.set_tenant_id("t");
    e.set_partition(0);
    e.set_command_offset(next_);
    e.set_event_id("0/" + std::to_string(next_++) + "/0");
    e.mutable_time()->set_seconds(t_ms / 1000);
    e.mutable_time()->set_nanos(static_cast<int32_t>(t_ms % 1000) * 1000000);
    return e;
  }
  bool Send(const RE& e) {
    log.push_back(e);
    return stats.Apply(e);
  }
  void Queue(int64_t t, const std::string& id, int64_t threshold_ms = 20 * kSec) {
    RE e = Make(t);
    auto* q = e.mutable_queue_upserted()->mutable_queue();
    q->set_queue_id(id);
    q->set_name("Queue " + id);
    q->mutable_service_level()->set_target(0.8);
    q->mutable_service_level()->mutable_threshold()->set_seconds(threshold_ms / 1000);
    Send(e);
  }
  void Agent(int64_t t, const std::string& id, std::vector<std::string> queues) {
    RE e = Make(t);
    auto* u = e.mutable_agent_upserted();
    u->mutable_profile()->set_agent_id(id);
    u->mutable_profile()->set_team("red");
    for (auto& q : queues) u->add_queues(q);
    Send(e);
  }
  void State(int64_t t, const std::string& agent, rv1::Presence p, const std::string& reason = "") {
    RE e = Make(t);
    auto* s = e.mutable_agent_state_changed();
    s->set_agent_id(agent);
    s->set_presence(p);
    s->set_reason(reason);
    Send(e);
  }
  void Queued(int64_t t, const std::string& id, const std::string& queue,
              const std::string& cause = "enqueued", int64_t priority = 0) {
    RE e = Make(t);
    auto* q = e.mutable_interaction_queued();
    q->set_interaction_id(id);
    q->set_queue_id(queue);
    q->set_cause(cause);
    q->set_effective_priority(priority * 1000);
    Send(e);
  }
  void Offer(int64_t t, const std::string& id, const std::string& agent, const std::string& queue) {
    RE e = Make(t);
    auto* o = e.mutable_offer_created();
    o->set_offer_id("o-" + id + "-" + agent);
    o->set_interaction_id(id);
    o->set_agent_id(agent);
    o->set_queue_id(queue);
    Send(e);
  }
  void Connect(int64_t t, const std::string& id, const std::string& agent,
               const std::string& queue) {
    RE a = Make(t);
    a.mutable_offer_accepted()->set_offer_id("o-" + id + "-" + agent);
    a.mutable_offer_accepted()->set_interaction_id(id);
    a.mutable_offer_accepted()->set_agent_id(agent);
    Send(a);
    RE e = Make(t);
    auto* c = e.mutable_interaction_connected();
    c->set_interaction_id(id);
    c->set_agent_id(agent);
    c->set_queue_id(queue);
    Send(e);
  }
  void Complete(int64_t t, const std::string& id, const std::string& agent,
                const std::string& queue) {
    RE e = Make(t);
    auto* en = e.mutable_interaction_ended();
    en->set_interaction_id(id);
    en->set_queue_id(queue);
    en->set_reason(rv1::END_REASON_COMPLETED);
    en->set_agent_id(agent);
    Send(e);
    WrapStart(t, id, agent);
  }
  void WrapStart(int64_t t, const std::string& id, const std::string& agent) {
    RE w = Make(t);
    w.mutable_wrap_up_started()->set_agent_id(agent);
    w.mutable_wrap_up_started()->set_interaction_id(id);
    Send(w);
  }
  void WrapEnd(int64_t t, const std::string& id, const std::string& agent) {
    RE w = Make(t);
    w.mutable_wrap_up_ended()->set_agent_id(agent);
    w.mutable_wrap_up_ended()->set_interaction_id(id);
    Send(w);
  }
  void Abandon(int64_t t, const std::string& id, const std::string& queue) {
    RE e = Make(t);
    auto* en = e.mutable_interaction_ended();
    en->set_interaction_id(id);
    en->set_queue_id(queue);
    en->set_reason(rv1::END_REASON_ABANDONED);
    Send(e);
  }

  QueueSnapshot Q(const std::string& id, int64_t now) { return *stats.Queue("t", id, now); }

  Statistics stats;
  std::vector<RE> log;

 private:
  int64_t next_ = 1;
};

// One agent, one queue (SL 80% in 20 s), short-abandon threshold 5 s:
//   i1 queued 10 s, offered 10 s, connected 15 s (waited 5 s), completed 75 s, wrap-up to 90 s.
//   i2 queued 20 s, abandoned 50 s (waited 30 s > 20 s).
//   i3 queued 30 s, abandoned 32 s (2 s: a short abandon, excluded).
//   i4 queued 40 s, still waiting at 100 s.
void Basic(Feed& f) {
  f.Queue(0, "q");
  f.Agent(0, "a1", {"q"});
  f.State(0, "a1", rv1::PRESENCE_AVAILABLE);
  f.Queued(10 * kSec, "i1", "q");
  f.Offer(10 * kSec, "i1", "a1", "q");
  f.Connect(15 * kSec, "i1", "a1", "q");
  f.Queued(20 * kSec, "i2", "q");
  f.Queued(30 * kSec, "i3", "q");
  f.Abandon(32 * kSec, "i3", "q");
  f.Queued(40 * kSec, "i4", "q");
  f.Abandon(50 * kSec, "i2", "q");
  f.Complete(75 * kSec, "i1", "a1", "q");
  f.WrapEnd(90 * kSec, "i1", "a1");
}

TEST(Statistics, QueueFiguresOnAHandBuiltDay) {
  Feed f;
  Basic(f);
  const QueueSnapshot q = f.Q("q", 100 * kSec);
  EXPECT_EQ(q.name, "Queue q");
  EXPECT_EQ(q.sl_threshold_ms, 20 * kSec);
  EXPECT_EQ(q.waiting, 1);
  EXPECT_EQ(q.longest_wait_ms, 60 * kSec);  // i4 since 40 s
  EXPECT_EQ(q.members, 1);
  EXPECT_EQ(q.agents_logged_in, 1);
  EXPECT_EQ(q.agents_available, 1);
  for (const WindowStats& w : {q.today, q.windows[0], q.windows[1]}) {
    const Counts& c = w.counts;
    EXPECT_EQ(c.offered, 3);  // i1, i2, i4; i3 is a short abandon
    EXPECT_EQ(c.short_abandoned, 1);
    EXPECT_EQ(c.answered, 1);
    EXPECT_EQ(c.answered_within_sl, 1);
    EXPECT_EQ(c.abandoned, 1);
    EXPECT_EQ(c.abandoned_after_sl, 1);
    EXPECT_EQ(c.handled, 1);
    // SL = answered within 20 s / (answered + abandoned after 20 s) = 1 / 2.
    EXPECT_DOUBLE_EQ(*w.service_level, 0.5);
    EXPECT_DOUBLE_EQ(*w.asa_ms, 5 * kSec);
    EXPECT_DOUBLE_EQ(*w.aht_ms, 75 * kSec);  // 60 s talk + 15 s wrap-up
    EXPECT_DOUBLE_EQ(*w.abandon_rate, 0.5);
    // a1 staffed 0..100 s, busy 15..90 s.
    EXPECT_EQ(c.staffed_ms, 100 * kSec);
    EXPECT_EQ(c.busy_ms, 75 * kSec);
    EXPECT_DOUBLE_EQ(*w.occupancy, 0.75);
  }
  EXPECT_EQ(q.windows[0].window_ms, 15 * kMin);
  EXPECT_EQ(q.today.from_ms, 0);
}

TEST(Statistics, AgentFigures) {
  Feed f;
  Basic(f);
  auto agents = f.stats.Agents("t", 100 * kSec);
  ASSERT_EQ(agents.size(), 1u);
  const AgentSnapshot& a = agents[0];
  EXPECT_EQ(a.agent_id, "a1");
  EXPECT_EQ(a.team, "red");
  EXPECT_EQ(a.presence, rv1::PRESENCE_AVAILABLE);
  EXPECT_EQ(a.since_ms, 0);
  EXPECT_EQ(a.time_in_state_ms, 100 * kSec);
  EXPECT_EQ(a.handled_today, 1);
  EXPECT_EQ(a.offers_today, 1);
  EXPECT_DOUBLE_EQ(*a.aht_ms_today, 75 * kSec);
  EXPECT_DOUBLE_EQ(*a.occupancy_today, 0.75);
  EXPECT_FALSE(a.busy);
  // Mid-call: busy, and the open span counts.
  Feed g;
  g.Queue(0, "q");
  g.Agent(0, "a1", {"q"});
  g.State(0, "a1", rv1::PRESENCE_AVAILABLE);
  g.Queued(0, "i1", "q");
  g.Connect(10 * kSec, "i1", "a1", "q");
  auto busy = g.stats.Agents("t", 40 * kSec);
  EXPECT_TRUE(busy[0].busy);
  EXPECT_EQ(busy[0].interactions, 1);
  EXPECT_DOUBLE_EQ(*busy[0].occupancy_today, 0.75);  // busy 30 of 40 s
  EXPECT_EQ(g.Q("q", 40 * kSec).agents_busy, 1);
  EXPECT_EQ(g.Q("q", 40 * kSec).agents_available, 0);
}

TEST(Statistics, DuplicatesAreDropped) {
  Feed f;
  Basic(f);
  const QueueSnapshot before = f.Q("q", 100 * kSec);
  for (const RE& e : std::vector<RE>(f.log)) EXPECT_FALSE(f.stats.Apply(e));
  const QueueSnapshot after = f.Q("q", 100 * kSec);
  EXPECT_EQ(after.today.counts.offered, before.today.counts.offered);
  EXPECT_EQ(after.today.counts.answered, before.today.counts.answered);
  EXPECT_EQ(after.today.counts.handled, before.today.counts.handled);
  EXPECT_EQ(after.waiting, before.waiting);
  // Without an id an event cannot be deduplicated: applied every time.
  RE anonymous = f.log.back();
  anonymous.clear_event_id();
  EXPECT_TRUE(f.stats.Apply(anonymous));
}

TEST(Statistics, OtherIdsUseABoundedWindow) {
  StatisticsOptions o;
  o.dedup_window = 2;
  Feed f(o);
  f.Queue(0, "q");
  f.Queued(1 * kSec, "i1", "q");
  f.Queued(2 * kSec, "i2", "q");
  // Ids not of the routing form (e.g. from another producer) go through the window.
  for (int i = 0; i < 3; ++i) f.log[i].set_event_id(absl::StrCat("x", i));
  Statistics s(o);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(s.Apply(f.log[i]));
  EXPECT_FALSE(s.Apply(f.log[2]));
  EXPECT_TRUE(s.Apply(f.log[0]));  // forgotten: applied again (a QueueUpserted: harmless)
}

TEST(Statistics, RoutingIdsAreDeduplicatedExactlyBeyondTheWindow) {
  StatisticsOptions o;
  o.dedup_window = 1;
  Feed f(o);
  f.Queue(0, "q");
  for (int i = 0; i < 10; ++i) f.Queued((i + 1) * kSec, absl::StrCat("i", i), "q");
  // A routing fail-over replays from an earlier offset: every repeated id is dropped, however
  // old, and nothing changes.
  const QueueSnapshot before = f.Q("q", 20 * kSec);
  for (size_t i = 0; i < f.log.size(); ++i) EXPECT_FALSE(f.stats.Apply(f.log[i])) << i;
  const QueueSnapshot after = f.Q("q", 20 * kSec);
  EXPECT_EQ(after.waiting, before.waiting);
  EXPECT_EQ(after.today.counts.offered, before.today.counts.offered);
  // The next offset is new; another partition has its own watermark.
  RE next = f.log.back();
  next.set_command_offset(next.command_offset() + 1);
  next.set_event_id(absl::StrCat("0/", next.command_offset(), "/0"));
  EXPECT_TRUE(f.stats.Apply(next));
  RE other = f.log.front();
  other.set_partition(3);
  other.set_event_id(absl::StrCat("3/", other.command_offset(), "/0"));
  EXPECT_TRUE(f.stats.Apply(other));
}

TEST(Statistics, EarlierTimestampsApplyAtTheLatestTime) {
  Feed f;
  f.Queue(0, "q");
  f.Agent(0, "a1", {"q"});
  f.Queued(10 * kSec, "i1", "q");
  f.Queued(40 * kSec, "i2", "q");
  f.Connect(25 * kSec, "i1", "a1", "q");  // stamped before the latest event (40 s)
  const QueueSnapshot q = f.Q("q", 40 * kSec);
  EXPECT_DOUBLE_EQ(*q.today.asa_ms, 30 * kSec);  // answered at 40 s
  EXPECT_EQ(q.today.counts.answered_within_sl, 0);
  // A snapshot time before the latest event is clamped too.
  EXPECT_EQ(f.Q("q", 0).longest_wait_ms, 0);  // i2 entered at 40 s, now = 40 s
}

TEST(Statistics, MidStreamEventsAreTolerated) {
  Feed f;
  // Connected without a known arrival: counted with the event's wait.
  RE e = f.Make(100 * kSec);
  auto* c = e.mutable_interaction_connected();
  c->set_interaction_id("x");
  c->set_agent_id("a9");
  c->set_queue_id("q");
  c->mutable_waited()->set_seconds(30);
  f.Send(e);
  f.WrapEnd(110 * kSec, "unknown", "a9");  // no such leg: ignored
  f.WrapEnd(110 * kSec, "x", "nobody");
  const QueueSnapshot q = f.Q("q", 120 * kSec);
  EXPECT_EQ(q.today.counts.answered, 1);
  EXPECT_EQ(q.today.counts.answered_within_sl, 0);
  EXPECT_DOUBLE_EQ(*q.today.asa_ms, 30 * kSec);
  EXPECT_EQ(q.today.counts.offered, 0);
}

TEST(Statistics, RollingWindowsAndToday) {
  Feed f;
  f.Queue(0, "q");
  f.Queued(1 * kMin, "i1", "q");
  f.Abandon(2 * kMin, "i1", "q");
  f.Queued(50 * kMin, "i2", "q");
  f.Abandon(50 * kMin + 30 * kSec, "i2", "q");
  const QueueSnapshot q = f.Q("q", 55 * kMin);
  EXPECT_EQ(q.windows[0].counts.abandoned, 1);  // last 15 min: i2
  EXPECT_EQ(q.windows[0].from_ms, 41 * kMin);
  EXPECT_EQ(q.windows[1].counts.abandoned, 2);  // last 60 min
  EXPECT_EQ(q.today.counts.abandoned, 2);
  EXPECT_FALSE(q.windows[0].service_level.has_value() && *q.windows[0].service_level > 0);
  // 70 minutes in: i1 has left the hour window.
  EXPECT_EQ(f.Q("q", 70 * kMin).windows[1].counts.abandoned, 1);
}

TEST(Statistics, TodayIsTheUtcDay) {
  const int64_t day = 24 * 60 * kMin;
  Feed f;
  f.Queue(0, "q");
  f.Queued(day - 2 * kMin, "i1", "q");
  f.Abandon(day - 1 * kMin, "i1", "q");
  EXPECT_EQ(f.Q("q", day - 30 * kSec).today.counts.abandoned, 1);
  const QueueSnapshot next = f.Q("q", day + 1 * kMin);
  EXPECT_EQ(next.today.counts.abandoned, 0);
  EXPECT_EQ(next.today.from_ms, day);
  EXPECT_EQ(next.windows[0].counts.abandoned, 1);  // the rolling window spans midnight
}

TEST(Statistics, FifoInversions) {
  Feed f;
  f.Queue(0, "q");
  f.Agent(0, "a1", {"q"});
  f.Queued(1 * kSec, "i1", "q");
  f.Queued(2 * kSec, "i2", "q");
  f.Queued(3 * kSec, "vip", "q", "enqueued", /*priority=*/50);
  f.Offer(4 * kSec, "vip", "a1", "q");  // higher priority first: not an inversion
  f.Offer(5 * kSec, "i2", "a1", "q");   // i1 (same priority) waited longer: an inversion
  f.Offer(6 * kSec, "i1", "a1", "q");
  EXPECT_EQ(f.Q("q", 6 * kSec).today.counts.fifo_inversions, 1);
  EXPECT_EQ(f.Q("q", 6 * kSec).today.counts.offers, 3);
  // i1's offer times out and it is requeued: it keeps its place, so offering i3 (newer) while
  // i1 waits again is an inversion, and offering i1 is not.
  f.Queued(7 * kSec, "i3", "q");
  f.Queued(8 * kSec, "i1", "q", "offer_timeout");
  f.Offer(9 * kSec, "i3", "a1", "q");
  f.Offer(10 * kSec, "i1", "a1", "q");
  EXPECT_EQ(f.Q("q", 10 * kSec).today.counts.fifo_inversions, 2);
  EXPECT_EQ(f.Q("q", 10 * kSec).today.counts.offered, 4);  // the requeue is no arrival
}

TEST(Statistics, OfferSpreadAcrossAgents) {
  Feed f;
  f.Queue(0, "q");
  f.Agent(0, "a1", {"q"});
  f.Agent(0, "a2", {"q"});
  f.State(0, "a1", rv1::PRESENCE_AVAILABLE);
  f.State(0, "a2", rv1::PRESENCE_AVAILABLE);
  for (int i = 0; i < 3; ++i) f.Offer(kMin + i, absl::StrCat("x", i), "a1", "q");
  f.Offer(kMin + 5, "y", "a2", "q");
  // Both staffed 60 min: 3 and 1 offers per hour.
  const OfferSpread s = f.Q("q", 60 * kMin).offer_spread;
  EXPECT_EQ(s.agents, 2);
  EXPECT_DOUBLE_EQ(*s.mean_per_hour, 2);
  EXPECT_DOUBLE_EQ(*s.coefficient_of_variation, 0.5);  // stddev 1 / mean 2
  EXPECT_DOUBLE_EQ(*s.gini, 0.25);
}

TEST(Spread, CoefficientOfVariationAndGini) {
  EXPECT_DOUBLE_EQ(*Spread({2, 2, 2}).gini, 0);
  EXPECT_DOUBLE_EQ(*Spread({2, 2, 2}).coefficient_of_variation, 0);
  const OfferSpread s = Spread({0, 0, 0, 4});
  EXPECT_DOUBLE_EQ(*s.gini, 0.75);
  EXPECT_NEAR(*s.coefficient_of_variation, std::sqrt(3.0), 1e-12);
  EXPECT_FALSE(Spread({5}).gini.has_value());
  EXPECT_FALSE(Spread({}).mean_per_hour.has_value());
}

TEST(Statistics, LongInteractionAlerts) {
  StatisticsOptions o;
  o.long_interaction_ms_by_queue["fast"] = 2 * kMin;
  Feed f(o);
  f.Queued(0, "i1", "q");
  f.Connect(0, "i1", "a1", "q");
  f.Queued(0, "i2", "fast");
  f.Connect(0, "i2", "a2", "fast");
  f.Queued(0, "i3", "q");
  f.Connect(9 * kMin, "i3", "a3", "q");
  auto alerts = f.stats.LongInteractions("t", 11 * kMin);
  ASSERT_EQ(alerts.size(), 2u);
  EXPECT_EQ(alerts[0].interaction_id, "i1");  // longest first (tie broken by id)
  EXPECT_EQ(alerts[0].threshold_ms, 10 * kMin);
  EXPECT_EQ(alerts[1].interaction_id, "i2");
  EXPECT_EQ(alerts[1].threshold_ms, 2 * kMin);
  EXPECT_EQ(alerts[1].duration_ms, 11 * kMin);
  // In wrap-up it is no longer a long interaction.
  f.WrapStart(11 * kMin, "i1", "a1");
  EXPECT_EQ(f.stats.LongInteractions("t", 12 * kMin).size(), 1u);
}

TEST(Statistics, EscalationsWaiting) {
  Feed f;
  RE e = f.Make(5 * kSec);
  auto* c = e.mutable_escalation_created();
  c->set_interaction_id("i1");
  c->set_task_id("i1~esc2");
  c->set_agent_id("a1");
  c->set_team("red");
  c->set_reason("manager");
  c->set_queue_id("sup");
  f.Send(e);
  f.Queued(5 * kSec, "i1~esc2", "sup", "escalated");
  auto w = f.stats.Escalations("t", 65 * kSec);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].task_id, "i1~esc2");
  EXPECT_EQ(w[0].age_ms, 60 * kSec);
  EXPECT_EQ(f.Q("sup", 65 * kSec).waiting, 1);
  RE j = f.Make(70 * kSec);
  j.mutable_escalation_joined()->set_task_id("i1~esc2");
  f.Send(j);
  EXPECT_TRUE(f.stats.Escalations("t", 70 * kSec).empty());
}

TEST(Statistics, TransferAndOverflowMoveBetweenQueues) {
  Feed f;
  f.Queue(0, "q1");
  f.Queue(0, "q2");
  f.Agent(0, "a1", {"q1"});
  f.Queued(0, "i1", "q1");
  f.Connect(10 * kSec, "i1", "a1", "q1");
  RE t = f.Make(40 * kSec);
  t.mutable_interaction_transferred()->set_interaction_id("i1");
  t.mutable_interaction_transferred()->set_from_agent_id("a1");
  t.mutable_interaction_transferred()->set_target_queue_id("q2");
  f.Send(t);
  f.WrapStart(40 * kSec, "i1", "a1");
  f.Queued(40 * kSec, "i1", "q2", "transferred");
  f.WrapEnd(50 * kSec, "i1", "a1");
  // Overflow of i2 from q1 to q2 after 60 s.
  f.Queued(50 * kSec, "i2", "q1");
  RE o = f.Make(110 * kSec);
  o.mutable_interaction_overflowed()->set_interaction_id("i2");
  o.mutable_interaction_overflowed()->set_queue_id("q1");
  o.mutable_interaction_overflowed()->set_action(rv1::OVERFLOW_ACTION_QUEUE);
  o.mutable_interaction_overflowed()->set_target_queue_id("q2");
  f.Send(o);
  f.Queued(110 * kSec, "i2", "q2", "overflow");
  const QueueSnapshot q1 = f.Q("q1", 120 * kSec), q2 = f.Q("q2", 120 * kSec);
  EXPECT_EQ(q1.today.counts.offered, 2);
  EXPECT_EQ(q1.today.counts.answered, 1);
  EXPECT_EQ(q1.today.counts.left_unanswered, 1);
  EXPECT_EQ(q1.today.counts.handled, 1);
  EXPECT_DOUBLE_EQ(*q1.today.aht_ms, 40 * kSec);  // 30 s talk + 10 s wrap-up
  EXPECT_EQ(q1.waiting, 0);
  EXPECT_EQ(q2.today.counts.offered, 2);
  EXPECT_EQ(q2.waiting, 2);
  EXPECT_EQ(q2.longest_wait_ms, 80 * kSec);  // i1 since 40 s in q2
}

TEST(Statistics, IntervalsCloseAsEventTimeMoves) {
  Feed f;
  f.Queue(0, "q");
  f.Agent(0, "a1", {"q"});
  f.Queued(14 * kMin, "i2", "q");
  f.Queued(14 * kMin + 58 * kSec, "i1", "q");
  f.Abandon(15 * kMin + 1 * kSec, "i1", "q");          // short: taken off the 00:00 interval
  EXPECT_TRUE(f.stats.TakeClosedIntervals().empty());  // 00:00 open until 16:00 (grace 60 s)
  f.Connect(15 * kMin + 30 * kSec, "i2", "a1", "q");   // waited 90 s
  f.Complete(20 * kMin, "i2", "a1", "q");              // event time passes 16:00: 00:00 closes
  f.WrapEnd(20 * kMin + 10 * kSec, "i2", "a1");
  auto closed = f.stats.TakeClosedIntervals();
  f.stats.AdvanceTime(31 * kMin);  // a quiet period: 15:00 closes at 31:00
  for (auto& a : f.stats.TakeClosedIntervals()) closed.push_back(a);
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0].start_ms, 0);
  EXPECT_EQ(closed[0].offered, 1);  // i2; i1's arrival taken back
  EXPECT_EQ(closed[0].answered, 0);
  EXPECT_EQ(closed[1].start_ms, 15 * kMin);
  EXPECT_EQ(closed[1].offered, 0);
  EXPECT_EQ(closed[1].short_abandoned, 1);
  EXPECT_EQ(closed[1].answered, 1);
  EXPECT_EQ(closed[1].answered_within_sl, 0);
  EXPECT_EQ(closed[1].wait_answered_ms, 90 * kSec);
  EXPECT_EQ(closed[1].max_wait_ms, 90 * kSec);
  EXPECT_EQ(closed[1].handled, 1);
  EXPECT_EQ(closed[1].talk_ms, 4 * kMin + 30 * kSec);
  EXPECT_EQ(closed[1].wrap_ms, 10 * kSec);
  EXPECT_EQ(closed[1].sl_threshold_ms, 20 * kSec);
  EXPECT_EQ(closed[1].tenant_id, "t");
  EXPECT_TRUE(f.stats.OpenIntervals("t").empty());
}

TEST(StatisticsOptions, Validate) {
  EXPECT_TRUE(StatisticsOptions{}.Validate().ok());
  StatisticsOptions o;
  o.windows_ms = {90 * kSec};
  EXPECT_FALSE(o.Validate().ok());
  o = {};
  o.short_abandon_ms = 2 * kMin;  // more than the grace
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace sb::insights
