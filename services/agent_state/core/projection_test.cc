// Unit tests of the agent-state projection, driven by the real routing engine.
//
// Every scenario runs commands through routing's test::Driver (engine_test_util.h); the events of
// each command are stamped like the routing service stamps them ("<partition>/<command offset>/
// <index>", here partition 0 and the command's number) and fed to the Projection. Tests assert on
// the desktop events Apply produces and on the read side (StateOf, FloorOf, checks).

#include "agent_state/core/projection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "routing/engine/engine_test_util.h"

namespace sb::agent_state {
namespace {

namespace rt = ::sb::routing::test;
using rt::kMin;
using rt::kSec;
using rt::Opts;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using RE = rv1::RoutingEvent;

// A compact, readable form of a desktop event: "offer:i1", "interaction_closed:i1/completed".
std::string Describe(const av1::DesktopEvent& e) {
  switch (e.body_case()) {
    case av1::DesktopEvent::kState: {
      std::string s = "state:" + rv1::Presence_Name(e.state().presence()).substr(9);
      if (!e.state().reason().empty()) s += "/" + e.state().reason();
      return s;
    }
    case av1::DesktopEvent::kOffer:
      return "offer:" + e.offer().interaction_id();
    case av1::DesktopEvent::kOfferWithdrawn:
      return "offer_withdrawn:" + e.offer_withdrawn().interaction_id() + "/" +
             e.offer_withdrawn().cause();
    case av1::DesktopEvent::kAssignment:
      return "assignment:" + e.assignment().interaction_id();
    case av1::DesktopEvent::kWrapUp:
      return "wrap_up:" + e.wrap_up().interaction_id();
    case av1::DesktopEvent::kInteractionClosed:
      return "interaction_closed:" + e.interaction_closed().interaction_id() + "/" +
             e.interaction_closed().reason();
    case av1::DesktopEvent::kBreakTimer:
      return "break_timer:" + e.break_timer().reason();
    case av1::DesktopEvent::kApprovalAnswered:
      return "approval_answered:" + e.approval_answered().approval_id() + "/" +
             (e.approval_answered().approved() ? "approved" : "denied");
    default: {
      const auto* f = av1::DesktopEvent::descriptor()->FindFieldByNumber(e.body_case());
      return f == nullptr ? "none" : f->name();
    }
  }
}

std::vector<std::string> Describe(const std::vector<av1::DesktopEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(Describe(e));
  return out;
}

// The event ids of routing `events` of kind `body`.
std::vector<std::string> IdsOf(const rt::Events& events, RE::BodyCase body) {
  std::vector<std::string> out;
  for (const auto* e : rt::All(events, body)) out.push_back(e->event_id());
  return out;
}

class ProjectionTest : public ::testing::Test {
 protected:
  static ProjectionOptions Options() {
    ProjectionOptions o;
    o.long_interaction_ms = 10 * kMin;
    o.long_interaction_ms_by_queue["billing"] = 1 * kMin;
    o.customer_history = 2;
    return o;
  }

  void SetUp() override {
    auto sup = rt::Queue("sup");
    sup.set_membership("supervisor");
    auto support = rt::Queue("support");
    support.set_membership("!supervisor");
    support.set_escalation_queue("sup");  // after "sup": references are checked
    auto billing = rt::Queue("billing");
    billing.set_membership("!supervisor");
    *billing.mutable_wrap_up() = rt::Dur(30 * kSec);
    auto approvals = rt::Queue("approvals");
    approvals.set_membership("supervisor");
    for (const auto& q : {sup, support, billing, approvals}) {
      ASSERT_EQ(rt::RejectReason(Feed(d.UpsertQueue(q))), "") << q.queue_id();
    }
    ASSERT_THAT(Take(), IsEmpty());
  }

  // Stamps the events of the command just applied the way the routing service does and applies
  // them to the projection. Returns them (stamped).
  rt::Events Feed(rt::Events events) {
    const int64_t n = static_cast<int64_t>(d.log().size());
    for (size_t i = 0; i < events.size(); ++i) {
      RE& e = events[i];
      e.set_partition(0);
      e.set_command_offset(n);
      e.set_event_id("0/" + std::to_string(n) + "/" + std::to_string(i));
      EXPECT_TRUE(p.Apply(e, &out)) << e.ShortDebugString();
      routed.push_back(e);
    }
    return events;
  }

  // The desktop events produced since the last Take.
  std::vector<DesktopOutput> Take() { return std::exchange(out, {}); }
  // Those of them for `agent`.
  std::vector<av1::DesktopEvent> TakeFor(const std::string& agent) {
    std::vector<av1::DesktopEvent> mine;
    for (auto& o : Take()) {
      EXPECT_EQ(o.tenant_id, d.tenant());
      if (o.agent_id == agent) mine.push_back(std::move(o.event));
    }
    return mine;
  }

  void AddAgent(const std::string& id, const std::string& team, bool supervisor = false) {
    auto a = rt::Agent(id);
    a.set_name("Agent " + id);
    a.set_team(team);
    a.set_supervisor(supervisor);
    Feed(d.UpsertAgent(a));
    Feed(d.Login(id));
  }

  // Enqueues `id` for `agent` only and accepts the offer.
  void Connect(const std::string& id, const std::string& queue, const std::string& agent,
               rt::cmd::EnqueueOpts o = {}) {
    o.Requirement("agent_id == \"" + agent + "\"");
    const rt::Events ev = Feed(d.Enqueue(id, queue, o));
    const auto offer = rt::OfferOf(ev, id);
    ASSERT_TRUE(offer.has_value()) << id << " was not offered";
    ASSERT_EQ(offer->agent_id(), agent);
    ASSERT_EQ(rt::RejectReason(Feed(d.Accept(agent, offer->offer_id()))), "");
  }

  av1::AgentState State(const std::string& agent) {
    auto s = p.StateOf(d.tenant(), agent);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.value_or(av1::AgentState());
  }

  std::string Tenant() const { return d.tenant(); }

  rt::Driver d;
  Projection p{Options()};
  std::vector<DesktopOutput> out;
  std::vector<RE> routed;  // every event fed, stamped
};

// ---------------------------------------------------------------------------------------------
// The desktop stream of an interaction's life

TEST_F(ProjectionTest, LoginOfferAcceptCompleteWrapUpProduceTheAgentsStream) {
  auto a1 = rt::Agent("a1");
  a1.set_name("Ann");
  a1.set_team("red");
  Feed(d.UpsertAgent(a1));
  EXPECT_THAT(Take(), IsEmpty());  // a profile is no desktop event
  EXPECT_EQ(State("a1").presence(), rv1::PRESENCE_OFFLINE);

  d.Advance(kSec);
  const int64_t logged_in = d.now();
  const rt::Events login = Feed(d.Login("a1"));
  std::vector<av1::DesktopEvent> ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("state:AVAILABLE"));
  EXPECT_EQ(ev[0].event_id(), login[0].event_id());
  EXPECT_EQ(rt::Ms(ev[0].time()), d.now());
  EXPECT_EQ(ev[0].state().name(), "Ann");
  EXPECT_EQ(ev[0].state().team(), "red");
  EXPECT_EQ(rt::Ms(ev[0].state().since()), d.now());

  // Offer.
  d.Advance(kSec);
  const rt::Events enq =
      Feed(d.Enqueue("i1", "billing", Opts().Attr("verified", "true").Attr("customer", "cust-7")));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("offer:i1"));
  const rv1::OfferCreated created = *rt::OfferOf(enq, "i1");
  EXPECT_EQ(ev[0].event_id(), IdsOf(enq, RE::kOfferCreated)[0]);
  const av1::Offer& offer = ev[0].offer();
  EXPECT_EQ(offer.offer_id(), created.offer_id());
  EXPECT_EQ(offer.queue_id(), "billing");
  EXPECT_EQ(rt::Ms(offer.expires_at()), d.now() + 15 * kSec);
  EXPECT_EQ(offer.waited_ms(), 0);
  EXPECT_TRUE(offer.verified());
  EXPECT_EQ(offer.attributes().at("customer"), "cust-7");
  EXPECT_THAT(offer.previous_interactions(), IsEmpty());
  EXPECT_EQ(offer.escalated_from(), "");
  EXPECT_THAT(State("a1").offers(), ElementsAre(created.offer_id()));
  EXPECT_TRUE(p.CheckOffer(Tenant(), "a1", created.offer_id()).ok());
  // Offered is not connected: no supervisor can monitor it yet.
  EXPECT_EQ(p.ConnectionOf(Tenant(), "i1").status().code(), absl::StatusCode::kFailedPrecondition);

  // Accept: an assignment (OfferAccepted itself is no desktop event).
  d.Advance(3 * kSec);
  const rt::Events accepted = Feed(d.Accept("a1", created.offer_id()));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("assignment:i1"));
  EXPECT_EQ(ev[0].event_id(), IdsOf(accepted, RE::kInteractionConnected)[0]);
  EXPECT_EQ(ev[0].assignment().queue_id(), "billing");
  av1::AgentState s = State("a1");
  EXPECT_THAT(s.offers(), IsEmpty());
  EXPECT_THAT(s.interactions(), ElementsAre("i1"));
  EXPECT_TRUE(p.CheckInteraction(Tenant(), "a1", "i1").ok());
  absl::StatusOr<Projection::Connection> connection = p.ConnectionOf(Tenant(), "i1");
  ASSERT_TRUE(connection.ok()) << connection.status();
  EXPECT_EQ(connection->agent_id, "a1");
  EXPECT_EQ(connection->queue_id, "billing");
  EXPECT_EQ(p.ConnectionOf(Tenant(), "nope").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The offer is answered: accepting it again is stale.
  EXPECT_EQ(p.CheckOffer(Tenant(), "a1", created.offer_id()).code(), absl::StatusCode::kNotFound);

  // Complete: closed, then wrap-up (30 s in billing).
  d.Advance(2 * kMin);
  const rt::Events completed = Feed(d.Complete("a1", "i1", "resolved"));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("interaction_closed:i1/completed", "wrap_up:i1"));
  EXPECT_EQ(ev[0].event_id(), IdsOf(completed, RE::kInteractionEnded)[0]);
  EXPECT_EQ(ev[1].event_id(), IdsOf(completed, RE::kWrapUpStarted)[0]);
  EXPECT_EQ(rt::Ms(ev[1].wrap_up().deadline()), d.now() + 30 * kSec);
  EXPECT_THAT(State("a1").interactions(), ElementsAre("i1"));  // in wrap-up
  EXPECT_TRUE(p.CheckInteraction(Tenant(), "a1", "i1").ok());  // EndWrapUp may name it
  EXPECT_FALSE(p.ConnectionOf(Tenant(), "i1").ok());           // the call itself has ended

  // End of wrap-up: the presence does not change (available before and after), but a state tells
  // the desktop that the agent holds nothing any more.
  d.Advance(5 * kSec);
  const rt::Events wrapped = Feed(d.EndWrapUp("a1", "i1"));
  ASSERT_THAT(rt::Kinds(wrapped), ElementsAre("wrap_up_ended"));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("state:AVAILABLE"));
  EXPECT_EQ(ev[0].event_id(), IdsOf(wrapped, RE::kWrapUpEnded)[0]);
  EXPECT_EQ(rt::Ms(ev[0].time()), d.now());
  EXPECT_EQ(ev[0].state().agent_id(), "a1");
  EXPECT_EQ(ev[0].state().presence(), rv1::PRESENCE_AVAILABLE);
  EXPECT_EQ(ev[0].state().reason(), "");
  EXPECT_THAT(ev[0].state().interactions(), IsEmpty());
  EXPECT_THAT(ev[0].state().offers(), IsEmpty());
  EXPECT_EQ(rt::Ms(ev[0].state().since()), logged_in);  // time in state goes on
  EXPECT_FALSE(ev[0].state().has_break_until());
  EXPECT_THAT(State("a1").interactions(), IsEmpty());
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a1", "i1").code(), absl::StatusCode::kNotFound);

  // The same customer calls again: the offer names the previous interaction.
  Feed(d.Enqueue("i2", "billing", Opts().Attr("customer", "cust-7")));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("offer:i2"));
  EXPECT_THAT(ev[0].offer().previous_interactions(), ElementsAre("i1"));
  EXPECT_FALSE(ev[0].offer().verified());

  // Everything retained, in order, with the ids it was sent with.
  auto all = p.EventsAfter(Tenant(), "a1", login[0].event_id());
  ASSERT_TRUE(all.has_value());
  EXPECT_THAT(Describe(*all),
              ElementsAre("offer:i1", "assignment:i1", "interaction_closed:i1/completed",
                          "wrap_up:i1", "state:AVAILABLE", "offer:i2"));
  EXPECT_EQ(p.LastEventId(Tenant(), "a1"), (*all).back().event_id());
}

TEST_F(ProjectionTest, ForcedLogoutInWrapUpEndsItThenGoesOffline) {
  AddAgent("a1", "red");
  Connect("i1", "billing", "a1");  // billing has 30 s of wrap-up
  Feed(d.Complete("a1", "i1"));
  Take();
  ASSERT_THAT(State("a1").interactions(), ElementsAre("i1"));

  d.Advance(5 * kSec);
  const rt::Events logout = Feed(d.Logout("a1", /*force=*/true));
  ASSERT_THAT(rt::Kinds(logout), ElementsAre("wrap_up_ended", "agent_state_changed"));
  auto ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("state:AVAILABLE", "state:OFFLINE"));
  EXPECT_EQ(ev[0].event_id(), IdsOf(logout, RE::kWrapUpEnded)[0]);
  EXPECT_THAT(ev[0].state().interactions(), IsEmpty());
  EXPECT_EQ(ev[1].event_id(), IdsOf(logout, RE::kAgentStateChanged)[0]);
  EXPECT_THAT(ev[1].state().interactions(), IsEmpty());
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a1", "i1").code(), absl::StatusCode::kNotFound);
}

TEST_F(ProjectionTest, CustomerHistoryKeepsTheNewestEndedInteractions) {
  AddAgent("a1", "red");
  for (const std::string id : {"h1", "h2", "h3"}) {
    Connect(id, "support", "a1", Opts().Attr("customer", "c9"));
    Feed(d.Complete("a1", id));  // support has no wrap-up
  }
  Take();
  Feed(d.Enqueue("h4", "support", Opts().Attr("customer", "c9")));
  auto ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("offer:h4"));
  EXPECT_THAT(ev[0].offer().previous_interactions(), ElementsAre("h3", "h2"));  // history of 2
}

TEST_F(ProjectionTest, OfferTimeoutWithdrawsTheOfferAndPutsTheAgentInAuxNotResponding) {
  AddAgent("a1", "red");
  d.Advance(kSec);
  const rt::Events enq = Feed(d.Enqueue("i1", "support"));
  const std::string offer_id = rt::OfferOf(enq, "i1")->offer_id();
  Take();

  const rt::Events timeout = Feed(d.TickAfter(15 * kSec));
  ASSERT_THAT(rt::Kinds(timeout),
              ElementsAre("offer_timed_out", "agent_state_changed", "interaction_queued"));
  auto ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev),
              ElementsAre("offer_withdrawn:i1/timed_out", "state:AUX/not_responding"));
  EXPECT_EQ(ev[0].event_id(), timeout[0].event_id());
  EXPECT_EQ(ev[1].event_id(), timeout[1].event_id());
  EXPECT_EQ(ev[0].offer_withdrawn().offer_id(), offer_id);
  EXPECT_EQ(rt::Ms(ev[1].state().since()), d.now());
  EXPECT_THAT(ev[1].state().offers(), IsEmpty());

  const av1::AgentState s = State("a1");
  EXPECT_EQ(s.presence(), rv1::PRESENCE_AUX);
  EXPECT_EQ(s.reason(), "not_responding");
  // Accepting the timed-out offer now is stale.
  const absl::Status stale = p.CheckOffer(Tenant(), "a1", offer_id);
  EXPECT_EQ(stale.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(stale.message()), StartsWith("NO_SUCH_OFFER"));
  // Back in the queue, without an agent.
  const av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  ASSERT_EQ(floor.interactions_size(), 1);
  EXPECT_EQ(floor.interactions(0).interaction_id(), "i1");
  EXPECT_EQ(floor.interactions(0).agent_id(), "");
  EXPECT_EQ(floor.interactions(0).duration_ms(), 15 * kSec);
}

TEST_F(ProjectionTest, RejectedAndRescindedOffersAreWithdrawnWithTheirCause) {
  AddAgent("a1", "red");
  AddAgent("a2", "blue");
  Take();
  rt::Events ev = Feed(d.Enqueue("i1", "support"));
  const auto first = *rt::OfferOf(ev, "i1");
  ASSERT_EQ(first.agent_id(), "a1");
  ev = Feed(d.Reject("a1", first.offer_id()));
  const auto second = *rt::OfferOf(ev, "i1");
  ASSERT_EQ(second.agent_id(), "a2");
  auto out1 = Take();
  ASSERT_EQ(out1.size(), 3u);
  EXPECT_EQ(out1[0].agent_id, "a1");
  EXPECT_EQ(Describe(out1[0].event), "offer:i1");
  EXPECT_EQ(out1[1].agent_id, "a1");
  EXPECT_EQ(Describe(out1[1].event), "offer_withdrawn:i1/rejected");
  EXPECT_EQ(out1[2].agent_id, "a2");
  EXPECT_EQ(Describe(out1[2].event), "offer:i1");

  // The caller hangs up while it is offered to a2: rescinded, and nothing to close.
  Feed(d.Cancel("i1"));
  EXPECT_THAT(Describe(TakeFor("a2")), ElementsAre("offer_withdrawn:i1/rescinded"));
  EXPECT_THAT(State("a2").offers(), IsEmpty());
  EXPECT_EQ(p.FloorOf(Tenant(), {}, d.now()).interactions_size(), 0);
}

// ---------------------------------------------------------------------------------------------
// Recovery break

TEST_F(ProjectionTest, RecoveryBreakAfterADisconnectStartsATimerAndEndsAvailable) {
  AddAgent("a1", "red");
  Connect("i1", "support", "a1");
  d.Advance(kMin);
  Take();
  Feed(d.Disconnect("a1", "i1", "racial_slur", "pd-1"));
  // Support has no wrap-up: it ends at once, and the state shows a1 free.
  auto ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("interaction_closed:i1/agent_disconnected", "wrap_up:i1",
                                        "state:AVAILABLE"));
  EXPECT_THAT(ev[2].state().interactions(), IsEmpty());

  const rt::Events brk = Feed(d.RecoveryBreak("a1", 5 * kMin));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("state:AUX/recovery", "break_timer:recovery"));
  // Two desktop events from one routing event: the second id gets "#2".
  ASSERT_EQ(brk.size(), 1u);
  EXPECT_EQ(ev[0].event_id(), brk[0].event_id());
  EXPECT_EQ(ev[1].event_id(), brk[0].event_id() + "#2");
  const int64_t until = d.now() + 5 * kMin;
  EXPECT_EQ(rt::Ms(ev[1].break_timer().until()), until);
  EXPECT_EQ(rt::Ms(ev[0].state().break_until()), until);
  EXPECT_EQ(rt::Ms(State("a1").break_until()), until);

  d.AdvanceTo(until);
  Feed(d.Tick());
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("state:AVAILABLE"));
  EXPECT_FALSE(ev[0].state().has_break_until());
  EXPECT_EQ(rt::Ms(ev[0].state().since()), until);
  EXPECT_EQ(State("a1").presence(), rv1::PRESENCE_AVAILABLE);
}

TEST_F(ProjectionTest, RecoveryBreakRequestedDuringWrapUpStartsWhenTheWrapUpEnds) {
  AddAgent("a1", "red");
  const int64_t login = d.now();
  Connect("i1", "billing", "a1");  // billing has 30 s of wrap-up
  d.Advance(kMin);
  Feed(d.Disconnect("a1", "i1", "threat", "pd-2"));
  Take();

  d.Advance(kSec);
  Feed(d.RecoveryBreak("a1", 2 * kMin));
  auto ev = TakeFor("a1");
  // Announced only: still available (no new offers), time in state goes on, no timer yet.
  ASSERT_THAT(Describe(ev), ElementsAre("state:AVAILABLE"));
  EXPECT_EQ(rt::Ms(ev[0].state().since()), login);
  EXPECT_FALSE(ev[0].state().has_break_until());

  // Routing ends the wrap-up (WrapUpEnded), then starts the pending break (AgentStateChanged):
  // first a state with nothing held and the presence not yet changed, then the break and its
  // timer.
  d.Advance(4 * kSec);
  const rt::Events ended = Feed(d.EndWrapUp("a1", "i1"));
  ASSERT_THAT(rt::Kinds(ended), ElementsAre("wrap_up_ended", "agent_state_changed"));
  ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev),
              ElementsAre("state:AVAILABLE", "state:AUX/recovery", "break_timer:recovery"));
  EXPECT_EQ(ev[0].event_id(), IdsOf(ended, RE::kWrapUpEnded)[0]);
  EXPECT_THAT(ev[0].state().interactions(), IsEmpty());
  EXPECT_EQ(rt::Ms(ev[0].state().since()), login);
  EXPECT_FALSE(ev[0].state().has_break_until());
  EXPECT_EQ(ev[1].event_id(), IdsOf(ended, RE::kAgentStateChanged)[0]);
  EXPECT_EQ(ev[2].event_id(), IdsOf(ended, RE::kAgentStateChanged)[0] + "#2");
  EXPECT_THAT(ev[1].state().interactions(), IsEmpty());
  EXPECT_EQ(rt::Ms(ev[1].state().since()), d.now());
  EXPECT_EQ(rt::Ms(ev[1].state().break_until()), d.now() + 2 * kMin);
  EXPECT_EQ(rt::Ms(ev[2].break_timer().until()), d.now() + 2 * kMin);

  Feed(d.TickAfter(2 * kMin));
  EXPECT_THAT(Describe(TakeFor("a1")), ElementsAre("state:AVAILABLE"));
}

// ---------------------------------------------------------------------------------------------
// Transfer and escalation

TEST_F(ProjectionTest, TransferClosesTheInteractionForTheTransferringAgent) {
  AddAgent("a1", "red");
  AddAgent("a2", "blue");
  // Without a requirement (it would follow the interaction): a1 has been idle the longest.
  const rt::Events enq = Feed(d.Enqueue("i1", "support"));
  ASSERT_EQ(rt::OfferOf(enq, "i1")->agent_id(), "a1");
  Feed(d.AcceptOf("i1"));
  Take();

  // a1's wrap-up (support: none) ends at once, before i1 enters billing and is offered to a2.
  const rt::Events tr = Feed(d.Transfer("a1", "i1", "billing"));
  std::vector<DesktopOutput> o = Take();
  ASSERT_EQ(o.size(), 4u);
  EXPECT_EQ(o[0].agent_id, "a1");
  EXPECT_EQ(Describe(o[0].event), "interaction_closed:i1/transferred");
  EXPECT_EQ(o[0].event.event_id(), IdsOf(tr, RE::kInteractionTransferred)[0]);
  EXPECT_EQ(o[1].agent_id, "a1");
  EXPECT_EQ(Describe(o[1].event), "wrap_up:i1");
  EXPECT_EQ(o[2].agent_id, "a1");
  EXPECT_EQ(Describe(o[2].event), "state:AVAILABLE");
  EXPECT_EQ(o[2].event.event_id(), IdsOf(tr, RE::kWrapUpEnded)[0]);
  EXPECT_THAT(o[2].event.state().interactions(), IsEmpty());
  EXPECT_EQ(o[3].agent_id, "a2");
  EXPECT_EQ(Describe(o[3].event), "offer:i1");
  EXPECT_EQ(o[3].event.offer().queue_id(), "billing");

  // a1's wrap-up (support: none) is over; i1 is offered to a2, so it is not a1's.
  EXPECT_THAT(State("a1").interactions(), IsEmpty());
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a1", "i1").code(), absl::StatusCode::kPermissionDenied);
  const auto offer = *rt::OfferOf(tr, "i1");
  Feed(d.Accept("a2", offer.offer_id()));
  EXPECT_THAT(Describe(TakeFor("a2")), ElementsAre("assignment:i1"));
  EXPECT_TRUE(p.CheckInteraction(Tenant(), "a2", "i1").ok());
  const av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  ASSERT_EQ(floor.interactions_size(), 1);
  EXPECT_EQ(floor.interactions(0).queue_id(), "billing");
  EXPECT_EQ(floor.interactions(0).agent_id(), "a2");
}

TEST_F(ProjectionTest, WarmEscalationIsPendingUntilJoinedThenReleasesTheAgentOnce) {
  AddAgent("a1", "red");
  AddAgent("s1", "red", /*supervisor=*/true);
  Feed(d.Aux("s1", "meeting"));
  Connect("i1", "support", "a1", Opts().Attr("customer", "c1"));
  d.Advance(30 * kSec);
  Take();

  const rt::Events esc = Feed(d.Escalate("a1", "i1", "asks for a manager"));
  const std::string task = esc[0].escalation_created().task_id();
  EXPECT_THAT(Take(), IsEmpty());  // waiting for s1
  const int64_t created = d.now();

  d.Advance(20 * kSec);
  av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  ASSERT_EQ(floor.escalations_size(), 1);
  EXPECT_EQ(floor.escalations(0).task_id(), task);
  EXPECT_EQ(floor.escalations(0).interaction_id(), "i1");
  EXPECT_EQ(floor.escalations(0).agent_id(), "a1");
  EXPECT_EQ(floor.escalations(0).reason(), "asks for a manager");
  EXPECT_EQ(floor.escalations(0).age_ms(), d.now() - created);
  EXPECT_EQ(p.FloorOf(Tenant(), {"red"}, d.now()).escalations_size(), 1);
  EXPECT_EQ(p.FloorOf(Tenant(), {"blue"}, d.now()).escalations_size(), 0);
  auto found = p.FindEscalation(Tenant(), task);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->interaction_id, "i1");
  EXPECT_EQ(found->offered_to, "");

  // s1 comes back: the task is offered to s1, with where it comes from.
  const rt::Events back = Feed(d.Available("s1"));
  auto ev = TakeFor("s1");
  ASSERT_THAT(Describe(ev), ElementsAre("state:AVAILABLE", "offer:" + task));
  EXPECT_EQ(ev[1].offer().escalated_from(), "i1");
  found = p.FindEscalation(Tenant(), task);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->offered_to, "s1");
  EXPECT_EQ(found->offer_id, rt::OfferOf(back, task)->offer_id());

  // s1 joins: s1 gets the assignment; a1 gets one interaction_closed, then its wrap-up, which
  // (support: none) ends at once: a state with nothing held.
  const rt::Events joined = Feed(d.Accept("s1", found->offer_id));
  ASSERT_THAT(rt::Kinds(joined),
              ElementsAre("offer_accepted", "interaction_connected", "escalation_joined",
                          "interaction_ended", "wrap_up_started", "wrap_up_ended"));
  std::vector<DesktopOutput> o = Take();
  ASSERT_EQ(o.size(), 4u);
  EXPECT_EQ(o[0].agent_id, "s1");
  EXPECT_EQ(Describe(o[0].event), "assignment:" + task);
  EXPECT_EQ(o[1].agent_id, "a1");
  EXPECT_EQ(Describe(o[1].event), "interaction_closed:i1/escalated");
  EXPECT_EQ(o[1].event.event_id(), IdsOf(joined, RE::kEscalationJoined)[0]);
  EXPECT_EQ(o[2].agent_id, "a1");
  EXPECT_EQ(Describe(o[2].event), "wrap_up:i1");
  EXPECT_EQ(o[3].agent_id, "a1");
  EXPECT_EQ(Describe(o[3].event), "state:AVAILABLE");
  EXPECT_EQ(o[3].event.event_id(), IdsOf(joined, RE::kWrapUpEnded)[0]);
  EXPECT_THAT(o[3].event.state().interactions(), IsEmpty());

  floor = p.FloorOf(Tenant(), {}, d.now());
  EXPECT_EQ(floor.escalations_size(), 0);
  EXPECT_EQ(p.FindEscalation(Tenant(), task).status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(floor.interactions_size(), 1);  // i1 ended; the task goes on with s1
  EXPECT_EQ(floor.interactions(0).interaction_id(), task);
  EXPECT_EQ(floor.interactions(0).agent_id(), "s1");
  EXPECT_THAT(State("s1").interactions(), ElementsAre(task));
  EXPECT_THAT(State("a1").interactions(), IsEmpty());

  // The task ends: it is not the customer's history (the original is).
  Feed(d.Complete("s1", task));
  Take();
  AddAgent("a2", "blue");
  Feed(d.Aux("a1", "lunch"));
  Take();
  Feed(d.Enqueue("i9", "support", Opts().Attr("customer", "c1")));
  ev = TakeFor("a2");
  ASSERT_THAT(Describe(ev), ElementsAre("offer:i9"));
  EXPECT_THAT(ev[0].offer().previous_interactions(), ElementsAre("i1"));
}

TEST_F(ProjectionTest, ColdEscalationClosesTheInteractionAtOnce) {
  AddAgent("a1", "red");
  AddAgent("s1", "red", /*supervisor=*/true);
  Feed(d.Aux("s1", "meeting"));
  Connect("i1", "support", "a1");
  Take();
  const rt::Events esc = Feed(d.Escalate("a1", "i1", "manager", /*cold=*/true));
  const std::string task = esc[0].escalation_created().task_id();
  // Support has no wrap-up: it ends at once.
  auto ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev),
              ElementsAre("interaction_closed:i1/escalated", "wrap_up:i1", "state:AVAILABLE"));
  EXPECT_EQ(ev[2].event_id(), IdsOf(esc, RE::kWrapUpEnded)[0]);
  EXPECT_THAT(ev[2].state().interactions(), IsEmpty());
  EXPECT_EQ(p.FloorOf(Tenant(), {}, d.now()).escalations_size(), 1);

  Feed(d.Available("s1"));
  Take();
  Feed(d.AcceptOf(task));
  EXPECT_THAT(Describe(TakeFor("a1")), IsEmpty());  // nothing more for a1
  EXPECT_EQ(p.FloorOf(Tenant(), {}, d.now()).escalations_size(), 0);
}

TEST_F(ProjectionTest, PendingEscalationEndsWithItsTask) {
  AddAgent("a1", "red");
  AddAgent("s1", "red", /*supervisor=*/true);
  Feed(d.Aux("s1", "meeting"));
  Connect("i1", "support", "a1");
  const std::string task =
      Feed(d.Escalate("a1", "i1", "manager"))[0].escalation_created().task_id();
  ASSERT_TRUE(p.FindEscalation(Tenant(), task).ok());
  Feed(d.Cancel("i1"));  // the caller hangs up: the task is withdrawn
  EXPECT_EQ(p.FindEscalation(Tenant(), task).status().code(), absl::StatusCode::kNotFound);
  const av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  EXPECT_EQ(floor.escalations_size(), 0);
  EXPECT_EQ(floor.interactions_size(), 0);
}

// ---------------------------------------------------------------------------------------------
// Approvals

class ApprovalTest : public ProjectionTest {
 protected:
  void SetUp() override {
    ProjectionTest::SetUp();
    AddAgent("a1", "red");
    AddAgent("a2", "blue");
    AddAgent("s1", "red", /*supervisor=*/true);
    Feed(d.Aux("s1", "meeting"));
    Connect("i1", "support", "a1");
    Take();
  }

  rt::cmd::EnqueueOpts Approval(const std::string& id, const std::string& by,
                                const std::string& interaction) {
    return Opts()
        .Attr("approval_id", id)
        .Attr("requested_by", by)
        .Attr("interaction_id", interaction)
        .Attr("action", "credit")
        .Attr("amount", "450.5")
        .Attr("reason", "above the tier-1 limit");
  }
};

TEST_F(ApprovalTest, ApprovalTaskIsListedUntilAnsweredAndTheAnswerGoesToTheRequester) {
  const int64_t asked = d.now();
  Feed(d.Enqueue("task-ap1", "approvals", Approval("ap1", "a1", "i1")));
  EXPECT_THAT(Take(), IsEmpty());

  d.Advance(10 * kSec);
  av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  ASSERT_EQ(floor.approvals_size(), 1);
  const av1::PendingApproval& pa = floor.approvals(0);
  EXPECT_EQ(pa.approval_id(), "ap1");
  EXPECT_EQ(pa.agent_id(), "a1");
  EXPECT_EQ(pa.interaction_id(), "i1");
  EXPECT_EQ(pa.action(), "credit");
  EXPECT_DOUBLE_EQ(pa.amount(), 450.5);
  EXPECT_EQ(pa.reason(), "above the tier-1 limit");
  EXPECT_EQ(pa.age_ms(), d.now() - asked);
  EXPECT_EQ(p.FloorOf(Tenant(), {"red"}, d.now()).approvals_size(), 1);
  EXPECT_EQ(p.FloorOf(Tenant(), {"blue"}, d.now()).approvals_size(), 0);

  auto found = p.FindApproval(Tenant(), "ap1");
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->task_id, "task-ap1");
  EXPECT_EQ(found->requested_by, "a1");
  EXPECT_EQ(found->offered_to, "");
  EXPECT_FALSE(found->connected);

  const rt::Events back = Feed(d.Available("s1"));
  found = p.FindApproval(Tenant(), "ap1");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->offered_to, "s1");
  EXPECT_EQ(found->offer_id, rt::OfferOf(back, "task-ap1")->offer_id());
  Feed(d.Accept("s1", found->offer_id));
  found = p.FindApproval(Tenant(), "ap1");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(found->connected);
  EXPECT_EQ(found->connected_to, "s1");
  Take();

  const rt::Events done = Feed(d.Complete("s1", "task-ap1", "approved"));
  std::vector<DesktopOutput> o = Take();
  ASSERT_EQ(o.size(), 4u);
  EXPECT_EQ(o[0].agent_id, "s1");
  EXPECT_EQ(Describe(o[0].event), "interaction_closed:task-ap1/completed");
  EXPECT_EQ(o[1].agent_id, "a1");
  EXPECT_EQ(Describe(o[1].event), "approval_answered:ap1/approved");
  EXPECT_EQ(o[1].event.approval_answered().supervisor(), "s1");
  EXPECT_EQ(o[1].event.event_id(), IdsOf(done, RE::kInteractionEnded)[0]);
  EXPECT_EQ(o[2].agent_id, "s1");
  EXPECT_EQ(Describe(o[2].event), "wrap_up:task-ap1");
  // The approvals queue has no wrap-up: it ends at once, and s1 holds nothing any more.
  EXPECT_EQ(o[3].agent_id, "s1");
  EXPECT_EQ(Describe(o[3].event), "state:AVAILABLE");
  EXPECT_EQ(o[3].event.event_id(), IdsOf(done, RE::kWrapUpEnded)[0]);
  EXPECT_THAT(o[3].event.state().interactions(), IsEmpty());

  EXPECT_EQ(p.FindApproval(Tenant(), "ap1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p.FloorOf(Tenant(), {}, d.now()).approvals_size(), 0);
}

TEST_F(ApprovalTest, AnyOtherDispositionOrAnAbandonedTaskIsADenial) {
  Feed(d.Available("s1"));
  Feed(d.Enqueue("task-ap2", "approvals", Approval("ap2", "a1", "i1")));
  Feed(d.AcceptOf("task-ap2"));
  Take();
  Feed(d.Complete("s1", "task-ap2", "denied"));
  EXPECT_THAT(Describe(TakeFor("a1")), ElementsAre("approval_answered:ap2/denied"));

  Feed(d.Aux("s1", "meeting"));
  Feed(d.Enqueue("task-ap3", "approvals", Approval("ap3", "a1", "i1")));
  Feed(d.Cancel("task-ap3", rv1::CANCEL_REASON_CANCELLED));
  auto ev = TakeFor("a1");
  ASSERT_THAT(Describe(ev), ElementsAre("approval_answered:ap3/denied"));
  EXPECT_EQ(ev[0].approval_answered().supervisor(), "");
}

// ---------------------------------------------------------------------------------------------
// Request checks

TEST_F(ProjectionTest, CheckOfferReasons) {
  AddAgent("a1", "red");
  AddAgent("a2", "blue");
  const rt::Events enq = Feed(d.Enqueue("i1", "support"));
  const auto offer = *rt::OfferOf(enq, "i1");
  ASSERT_EQ(offer.agent_id(), "a1");

  EXPECT_TRUE(p.CheckOffer(Tenant(), "a1", offer.offer_id()).ok());
  absl::Status s = p.CheckOffer(Tenant(), "ghost", offer.offer_id());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), StartsWith("NO_SUCH_AGENT: "));
  s = p.CheckOffer("other-tenant", "a1", offer.offer_id());
  EXPECT_THAT(std::string(s.message()), StartsWith("NO_SUCH_AGENT: "));
  s = p.CheckOffer(Tenant(), "a2", offer.offer_id());
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), StartsWith("NOT_YOUR_OFFER: "));
  s = p.CheckOffer(Tenant(), "a1", "o-never");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), StartsWith("NO_SUCH_OFFER: "));

  // Rejected: stale for a1; the new offer is a2's, not a1's.
  const rt::Events rej = Feed(d.Reject("a1", offer.offer_id()));
  s = p.CheckOffer(Tenant(), "a1", offer.offer_id());
  EXPECT_THAT(std::string(s.message()), StartsWith("NO_SUCH_OFFER: "));
  const auto again = *rt::OfferOf(rej, "i1");
  EXPECT_EQ(p.CheckOffer(Tenant(), "a1", again.offer_id()).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(p.CheckOffer(Tenant(), "a2", again.offer_id()).ok());
}

TEST_F(ProjectionTest, CheckInteractionReasons) {
  AddAgent("a1", "red");
  AddAgent("a2", "blue");
  Connect("i1", "billing", "a1");

  EXPECT_TRUE(p.CheckInteraction(Tenant(), "a1", "i1").ok());
  absl::Status s = p.CheckInteraction(Tenant(), "ghost", "i1");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), StartsWith("NO_SUCH_AGENT: "));
  s = p.CheckInteraction(Tenant(), "a2", "i1");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), StartsWith("NOT_YOUR_INTERACTION: "));
  s = p.CheckInteraction(Tenant(), "a1", "nope");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.message()), StartsWith("NO_SUCH_INTERACTION: "));

  // In wrap-up with a1: still a1's, still not a2's.
  Feed(d.Complete("a1", "i1"));
  EXPECT_TRUE(p.CheckInteraction(Tenant(), "a1", "i1").ok());
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a2", "i1").code(), absl::StatusCode::kPermissionDenied);
  // Wrap-up over: gone.
  Feed(d.EndWrapUp("a1", "i1"));
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a1", "i1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a2", "i1").code(), absl::StatusCode::kNotFound);

  // Waiting in a queue (nobody free): in progress, but nobody's.
  Feed(d.Aux("a1", "lunch"));
  Feed(d.Aux("a2", "lunch"));
  Feed(d.Enqueue("i2", "support"));
  EXPECT_EQ(p.CheckInteraction(Tenant(), "a1", "i2").code(), absl::StatusCode::kPermissionDenied);
}

TEST_F(ProjectionTest, RemovedAgentIsForgotten) {
  AddAgent("a1", "red");
  AddAgent("a2", "blue");
  EXPECT_EQ(p.agent_count(), 2u);
  Feed(d.Logout("a1"));
  Feed(d.Apply(rt::cmd::RemoveAgent("a1")));
  EXPECT_EQ(p.StateOf(Tenant(), "a1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(p.StateOf(Tenant(), "a1").status().message()),
              StartsWith("NO_SUCH_AGENT: "));
  EXPECT_EQ(p.agent_count(), 1u);
  EXPECT_EQ(p.LastEventId(Tenant(), "a1"), "");
  EXPECT_EQ(p.CheckOffer(Tenant(), "a1", "o1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p.FloorOf(Tenant(), {}, d.now()).agents_size(), 1);
}

// ---------------------------------------------------------------------------------------------
// Deduplication and resume

TEST_F(ProjectionTest, DuplicateEventsAreIgnored) {
  AddAgent("a1", "red");
  Take();
  const rt::Events enq = Feed(d.Enqueue("i1", "support"));
  ASSERT_EQ(Take().size(), 1u);
  const uint64_t version = p.version();
  const std::string last = p.LastEventId(Tenant(), "a1");
  for (const RE& e : enq) EXPECT_FALSE(p.Apply(e, &out)) << e.ShortDebugString();
  EXPECT_THAT(out, IsEmpty());
  EXPECT_EQ(p.version(), version);
  EXPECT_EQ(p.LastEventId(Tenant(), "a1"), last);
  EXPECT_THAT(State("a1").offers(), ::testing::SizeIs(1));
}

TEST_F(ProjectionTest, EventsWithoutAnIdCannotBeDeduplicated) {
  AddAgent("a1", "red");
  Take();
  rt::Events ev = d.Aux("a1", "lunch");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_TRUE(p.Apply(ev[0], &out));
  EXPECT_TRUE(p.Apply(ev[0], &out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].event.event_id(), "");
}

TEST_F(ProjectionTest, DedupWindowForgetsTheOldestIds) {
  ProjectionOptions o;
  o.dedup_window = 2;
  Projection small(o);
  AddAgent("a1", "red");
  for (const RE& e : routed) EXPECT_TRUE(small.Apply(e, nullptr));
  // The last two are remembered, the first is not.
  EXPECT_FALSE(small.Apply(routed.back(), nullptr));
  EXPECT_TRUE(small.Apply(routed.front(), nullptr));
}

TEST_F(ProjectionTest, EventsAfterResumesWithinTheRetainedWindow) {
  AddAgent("a1", "red");
  for (const std::string id : {"r1", "r2"}) {
    Connect(id, "support", "a1");
    Feed(d.Complete("a1", id));
  }
  // a1's stream: state, then for each: offer, assignment, interaction_closed, wrap_up, state (the
  // wrap-up, none in support, ends at once).
  const auto full = p.EventsAfter(Tenant(), "a1", TakeFor("a1").front().event_id());
  ASSERT_TRUE(full.has_value());
  ASSERT_THAT(Describe(*full),
              ElementsAre("offer:r1", "assignment:r1", "interaction_closed:r1/completed",
                          "wrap_up:r1", "state:AVAILABLE", "offer:r2", "assignment:r2",
                          "interaction_closed:r2/completed", "wrap_up:r2", "state:AVAILABLE"));

  // A projection that retains 3 (fed by replay, without output).
  ProjectionOptions o;
  o.desktop_log_size = 3;
  Projection small(o);
  for (const RE& e : routed) ASSERT_TRUE(small.Apply(e, nullptr));
  const std::string last = small.LastEventId(Tenant(), "a1");
  EXPECT_EQ(last, full->back().event_id());
  auto after = small.EventsAfter(Tenant(), "a1", last);
  ASSERT_TRUE(after.has_value());
  EXPECT_THAT(*after, IsEmpty());
  // Retained: [7] interaction_closed r2, [8] wrap_up r2, [9] state.
  after = small.EventsAfter(Tenant(), "a1", (*full)[7].event_id());
  ASSERT_TRUE(after.has_value());
  EXPECT_THAT(Describe(*after), ElementsAre("wrap_up:r2", "state:AVAILABLE"));
  EXPECT_FALSE(small.EventsAfter(Tenant(), "a1", (*full)[6].event_id()).has_value());  // fell out
  after = small.EventsAfter(Tenant(), "a1", (*full)[8].event_id());
  ASSERT_TRUE(after.has_value());
  EXPECT_THAT(Describe(*after), ElementsAre("state:AVAILABLE"));
  EXPECT_FALSE(small.EventsAfter(Tenant(), "a1", (*full)[0].event_id()).has_value());  // fell out
  EXPECT_FALSE(small.EventsAfter(Tenant(), "a1", "9/9/9").has_value());
  EXPECT_FALSE(small.EventsAfter(Tenant(), "a1", "").has_value());
  EXPECT_FALSE(small.EventsAfter(Tenant(), "ghost", last).has_value());
  EXPECT_FALSE(small.EventsAfter("other", "a1", last).has_value());
}

// ---------------------------------------------------------------------------------------------
// The floor

TEST_F(ProjectionTest, FloorFiltersByTeamFlagsLongInteractionsAndSorts) {
  AddAgent("b2", "blue");
  AddAgent("a1", "red");
  AddAgent("s1", "red", /*supervisor=*/true);
  const int64_t t0 = d.now();
  Connect("i1", "support", "a1");
  d.Advance(kSec);
  Connect("i2", "billing", "b2");
  d.Advance(kSec);
  Feed(d.Enqueue("i3", "support"));  // nobody free
  d.Advance(2 * kMin);

  av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  EXPECT_EQ(rt::Ms(floor.time()), d.now());
  ASSERT_EQ(floor.agents_size(), 3);
  EXPECT_EQ(floor.agents(0).agent_id(), "a1");  // by id
  EXPECT_EQ(floor.agents(1).agent_id(), "b2");
  EXPECT_EQ(floor.agents(2).agent_id(), "s1");
  EXPECT_THAT(floor.agents(0).interactions(), ElementsAre("i1"));
  EXPECT_TRUE(floor.agents(2).supervisor());
  ASSERT_EQ(floor.interactions_size(), 3);  // by start
  EXPECT_EQ(floor.interactions(0).interaction_id(), "i1");
  EXPECT_EQ(floor.interactions(0).agent_id(), "a1");
  EXPECT_EQ(floor.interactions(0).queue_id(), "support");
  EXPECT_EQ(floor.interactions(0).duration_ms(), d.now() - t0);
  EXPECT_FALSE(floor.interactions(0).long_());  // support: 10 min
  EXPECT_EQ(floor.interactions(1).interaction_id(), "i2");
  EXPECT_TRUE(floor.interactions(1).long_());  // billing: 1 min
  EXPECT_EQ(floor.interactions(2).interaction_id(), "i3");
  EXPECT_EQ(floor.interactions(2).agent_id(), "");
  EXPECT_EQ(floor.interactions(2).duration_ms(), 2 * kMin);  // waiting so far
  EXPECT_FALSE(floor.interactions(2).long_());

  floor = p.FloorOf(Tenant(), {"red"}, d.now());
  ASSERT_EQ(floor.agents_size(), 2);
  EXPECT_EQ(floor.agents(0).agent_id(), "a1");
  EXPECT_EQ(floor.agents(1).agent_id(), "s1");
  ASSERT_EQ(floor.interactions_size(), 1);
  EXPECT_EQ(floor.interactions(0).interaction_id(), "i1");
  floor = p.FloorOf(Tenant(), {"blue", "green"}, d.now());
  ASSERT_EQ(floor.agents_size(), 1);
  EXPECT_EQ(floor.agents(0).agent_id(), "b2");
  ASSERT_EQ(floor.interactions_size(), 1);
  EXPECT_EQ(floor.interactions(0).interaction_id(), "i2");
  EXPECT_EQ(p.FloorOf(Tenant(), {"green"}, d.now()).agents_size(), 0);
  EXPECT_EQ(p.FloorOf("no-such-tenant", {}, d.now()).agents_size(), 0);

  // Ten minutes on: every one is long, the waiting one too.
  floor = p.FloorOf(Tenant(), {}, d.now() + 10 * kMin);
  for (const auto& in : floor.interactions()) EXPECT_TRUE(in.long_()) << in.interaction_id();
}

TEST_F(ProjectionTest, FloorSortsEscalationsAndApprovalsOldestFirst) {
  AddAgent("a1", "red");
  AddAgent("a2", "red");
  AddAgent("s1", "red", /*supervisor=*/true);
  Feed(d.Aux("s1", "meeting"));
  Connect("i1", "support", "a1");
  Connect("i2", "support", "a2");
  const std::string t1 = Feed(d.Escalate("a1", "i1", "first"))[0].escalation_created().task_id();
  Feed(d.Enqueue("ap-task-z", "approvals",
                 Opts().Attr("approval_id", "z").Attr("requested_by", "a2")));
  d.Advance(kSec);
  const std::string t2 = Feed(d.Escalate("a2", "i2", "second"))[0].escalation_created().task_id();
  Feed(d.Enqueue("ap-task-a", "approvals",
                 Opts().Attr("approval_id", "a").Attr("requested_by", "a1")));
  d.Advance(kSec);
  const av1::Floor floor = p.FloorOf(Tenant(), {}, d.now());
  ASSERT_EQ(floor.escalations_size(), 2);
  EXPECT_EQ(floor.escalations(0).task_id(), t1);
  EXPECT_EQ(floor.escalations(0).age_ms(), 2 * kSec);
  EXPECT_EQ(floor.escalations(1).task_id(), t2);
  ASSERT_EQ(floor.approvals_size(), 2);
  EXPECT_EQ(floor.approvals(0).approval_id(), "z");
  EXPECT_EQ(floor.approvals(0).age_ms(), 2 * kSec);
  EXPECT_EQ(floor.approvals(1).approval_id(), "a");
  EXPECT_DOUBLE_EQ(floor.approvals(1).amount(), 0.0);  // no amount attribute
}

TEST_F(ProjectionTest, AgentsByPresenceCountsEveryTenant) {
  EXPECT_THAT(p.AgentsByPresence(),
              ElementsAre(::testing::Pair("aux", 0), ::testing::Pair("available", 0),
                          ::testing::Pair("offline", 0)));
  AddAgent("a1", "red");
  AddAgent("a2", "red");
  AddAgent("a3", "blue");
  Feed(d.Aux("a2", "lunch"));
  Feed(d.UpsertAgent(rt::Agent("a4")));  // never logged in

  // A second tenant on another partition.
  rt::Driver other(routing::EngineOptions{}, "tenant-2");
  std::vector<RE> ev = other.UpsertAgent(rt::Agent("x1"));
  for (RE e : other.Login("x1")) ev.push_back(e);
  for (size_t i = 0; i < ev.size(); ++i) {
    ev[i].set_event_id("1/" + std::to_string(i) + "/0");
    EXPECT_TRUE(p.Apply(ev[i], &out));
  }
  EXPECT_THAT(p.AgentsByPresence(),
              ElementsAre(::testing::Pair("aux", 1), ::testing::Pair("available", 3),
                          ::testing::Pair("offline", 1)));
  EXPECT_EQ(p.agent_count(), 5u);
  EXPECT_EQ(p.FloorOf("tenant-2", {}, d.now()).agents_size(), 1);
  EXPECT_EQ(p.StateOf("tenant-2", "a1").status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------------------------
// Determinism

TEST_F(ProjectionTest, SameEventsGiveTheSameDesktopEventsEvenWhenDeliveredTwice) {
  // A busy little floor: offers, a timeout, a rejection, a transfer, an escalation, a break, and
  // wrap-ups that end at once (support) or by their timeout (billing, before a pending break).
  AddAgent("a1", "red");
  AddAgent("a2", "blue");
  AddAgent("s1", "red", /*supervisor=*/true);
  Feed(d.Enqueue("i1", "support", Opts().Attr("customer", "c1")));  // a1
  Feed(d.AcceptOf("i1"));
  Feed(d.Enqueue("i2", "support", Opts().Attr("customer", "c1")));  // a2
  Feed(d.TickAfter(15 * kSec));                                     // missed: not_responding
  Feed(d.Available("a2"));
  Feed(d.Enqueue("i3", "support"));  // a2
  Feed(d.RejectOf("i3"));
  Feed(d.Transfer("a1", "i1", "billing"));  // i1 to a2, and the freed a1 gets i2
  Feed(d.AcceptOf("i1"));
  Feed(d.AcceptOf("i2"));
  Feed(d.Escalate("a1", "i2", "manager"));  // offered to s1
  Feed(d.TickAfter(15 * kSec));             // missed by s1
  Feed(d.Complete("a2", "i1"));             // 30 s of wrap-up
  Feed(d.RecoveryBreak("a2", kMin));        // after the wrap-up
  Feed(d.TickAfter(30 * kSec));
  Feed(d.TickAfter(kMin));
  Feed(d.Cancel("i2"));
  ASSERT_GT(routed.size(), 40u);

  Projection once(Options());
  Projection twice(Options());
  std::vector<DesktopOutput> out_once, out_twice;
  for (const RE& e : routed) {
    EXPECT_TRUE(once.Apply(e, &out_once));
    EXPECT_TRUE(twice.Apply(e, &out_twice));
    EXPECT_FALSE(twice.Apply(e, &out_twice));
  }
  for (const RE& e : routed) EXPECT_FALSE(twice.Apply(e, &out_twice));  // a full redelivery
  ASSERT_EQ(out_once.size(), out_twice.size());
  ASSERT_EQ(out_once.size(), out.size());  // and the same as the fixture's, fed live
  for (size_t i = 0; i < out_once.size(); ++i) {
    EXPECT_EQ(out_once[i].agent_id, out_twice[i].agent_id);
    EXPECT_EQ(rt::Bytes(out_once[i].event), rt::Bytes(out_twice[i].event)) << i;
    EXPECT_EQ(rt::Bytes(out_once[i].event), rt::Bytes(out[i].event)) << i;
  }
  EXPECT_EQ(rt::Bytes(once.FloorOf(Tenant(), {}, d.now())),
            rt::Bytes(twice.FloorOf(Tenant(), {}, d.now())));
  EXPECT_EQ(once.version(), twice.version());
  // Every desktop event id is unique per agent.
  std::set<std::pair<std::string, std::string>> ids;
  for (const auto& o : out_once) {
    EXPECT_TRUE(ids.emplace(o.agent_id, o.event.event_id()).second) << o.event.event_id();
  }
  // Every wrap-up end told its agent, with one state that no longer holds the interaction.
  int wrap_ups_ended = 0;
  int timed_out = 0;
  for (const RE& e : routed) {
    if (e.body_case() != RE::kWrapUpEnded) continue;
    const rv1::WrapUpEnded& w = e.wrap_up_ended();
    ++wrap_ups_ended;
    if (w.timed_out()) ++timed_out;
    int states = 0;
    for (const auto& o : out_once) {
      if (o.agent_id != w.agent_id() || o.event.event_id() != e.event_id()) continue;
      ++states;
      ASSERT_TRUE(o.event.has_state()) << e.ShortDebugString();
      EXPECT_THAT(o.event.state().interactions(),
                  ::testing::Not(::testing::Contains(w.interaction_id())));
    }
    EXPECT_EQ(states, 1) << e.ShortDebugString();
  }
  EXPECT_GE(wrap_ups_ended, 2);
  EXPECT_EQ(timed_out, 1);
}

}  // namespace
}  // namespace sb::agent_state
