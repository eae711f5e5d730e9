// Randomized invariant test of the routing engine: ≥ 1,000,000 random commands over many seeds.
//
// After every command it checks, independently of the engine's own logic:
//   - capacity: no agent holds more legs on a channel than its capacity when an offer is made
//     (legs counted from the events, capacity from the profiles the test configured);
//   - eligibility: every offer goes to an agent who is a member of the queue and satisfies the
//     interaction's requirement and the step in force (evaluated here with the expression
//     library), or to the interaction's preferred agent; never to one who rejected it;
//   - one state per interaction: the states derived from the events equal the engine's;
//   - determinism: a second engine fed the same log emits byte-identical events;
//   - snapshot + replay = full replay: a third engine is periodically replaced by
//     Restore(Snapshot()) of the first and must keep emitting byte-identical events;
//   - the naive reference matcher makes the same decisions (events equal but explanations);
//   - the engine's own index checker (CheckInvariants) passes.
//
// Seeds: SB_TEST_SEED=<n> reruns one seed; SB_INVARIANT_COMMANDS=<n> changes the total.

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <random>
#include <set>

#include "common/expr/expr.h"
#include "routing/engine/engine.h"

namespace sb::routing {
namespace {

std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::io::StringOutputStream sos(&out);
  google::protobuf::io::CodedOutputStream cos(&sos);
  cos.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&cos);
  cos.Trim();
  return out;
}

// The test's own view of an agent for expression evaluation (independent of the engine's).
class ProfileEnv : public expr::Env {
 public:
  explicit ProfileEnv(const v1::AgentProfile& p) : p_(p) {}
  expr::Value Lookup(std::string_view path) const override {
    if (path.starts_with("skills.")) {
      for (const auto& s : p_.skills()) {
        if (s.name() == path.substr(7)) return expr::Value::Number(s.proficiency());
      }
      return expr::Value::Number(0);
    }
    if (path == "team") return expr::Value::String(p_.team());
    if (path == "supervisor") return expr::Value::Bool(p_.supervisor());
    if (path == "agent_id") return expr::Value::String(p_.agent_id());
    if (path == "name") return expr::Value::String(p_.name());
    std::string key(path.starts_with("attributes.") ? path.substr(11) : path);
    auto it = p_.attributes().find(key);
    if (it == p_.attributes().end()) return expr::Value::Null();
    if (it->second.find(',') == std::string::npos) return expr::Value::String(it->second);
    std::vector<std::string> items;
    std::string cur;
    for (char c : it->second + ",") {
      if (c == ',') {
        if (!cur.empty()) items.push_back(cur);
        cur.clear();
      } else if (c != ' ') {
        cur += c;
      }
    }
    return expr::Value::List(items);
  }

 private:
  const v1::AgentProfile& p_;
};

bool Eval(const std::string& text, const v1::AgentProfile& p) {
  auto e = expr::Expression::Parse(text);
  EXPECT_TRUE(e.ok()) << text;
  return e.ok() && e->Matches(ProfileEnv(p));
}

int Capacity(const v1::AgentProfile& p, v1::Channel ch) {
  if (p.capacity_size() == 0) return ch == v1::CHANNEL_VOICE ? 1 : 0;
  for (const auto& c : p.capacity()) {
    if (c.channel() == ch) return c.capacity();
  }
  return 0;
}

const char* kMemberships[] = {"", "skills.s1 > 0", "skills.s2 >= 2 || supervisor",
                              "team == \"t1\" || team == \"t2\"", "\"es\" in language"};
const char* kRequirements[] = {"",
                               "",
                               "skills.s1 >= 3",
                               "language == \"en\"",
                               "\"es\" in language",
                               "skills.s3 > 0 && skills.s1 > 1",
                               "skills.s2 >= 4"};
const char* kAux[] = {"lunch", "training", "meeting"};

struct LegModel {
  std::string agent;
  v1::Channel channel;
  std::string phase;  // offered, connected, wrap_up
  std::string offer_id;
};

// Drives one seed.
// How often each event kind was seen, to show what the random walk exercised.
std::map<std::string, int64_t>& EventCounts() {
  static std::map<std::string, int64_t> counts;
  return counts;
}

class World {
 public:
  explicit World(uint64_t seed)
      : rng_(seed),
        a_("acme"),
        b_("acme"),
        naive_("acme", EngineOptions{.matcher = MatcherKind::kNaiveScan}) {
    restored_ = std::make_unique<Engine>("acme");
  }

  void Run(int commands) {
    Setup();
    const int interval = std::clamp(commands / 8, 50, 4999);
    for (int i = 0; i < commands && !::testing::Test::HasFailure(); ++i) {
      Step();
      // Restore from a snapshot about 8 times per seed (and at least every 5,000 commands).
      if (i % interval == interval - 1) Resnapshot();
    }
    if (!::testing::Test::HasFailure()) CompareFinal();
  }

  int64_t applied() const { return applied_; }
  int64_t offers() const { return offers_; }

 private:
  uint64_t R(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool P(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  std::string Pick(const std::vector<std::string>& v) { return v[R(v.size())]; }

  v1::RoutingCommand NewCommand() {
    v1::RoutingCommand c;
    c.set_command_id("c" + std::to_string(next_id_++));
    c.set_tenant_id("acme");
    now_ += static_cast<int64_t>(R(4) == 0 ? R(20000) : R(800));
    c.mutable_time()->set_seconds(now_ / 1000);
    c.mutable_time()->set_nanos(static_cast<int32_t>((now_ % 1000) * 1000000));
    return c;
  }

  v1::Queue RandomQueue(int i) {
    v1::Queue q;
    q.set_queue_id("q" + std::to_string(i));
    q.set_channel(i == 3 ? v1::CHANNEL_CHAT : v1::CHANNEL_VOICE);
    q.set_priority(static_cast<int32_t>(R(20)));
    q.set_strategy(static_cast<v1::Strategy>(1 + R(5)));
    q.set_skill("s1");
    q.set_membership(i == 4 ? "supervisor" : kMemberships[R(5)]);
    if (P(0.5) && i != 4) {
      auto* s0 = q.add_steps();
      s0->set_requirement("skills.s1 >= 4");
      auto* s1 = q.add_steps();
      s1->mutable_after()->set_seconds(5 + static_cast<int64_t>(R(20)));
      s1->set_requirement("skills.s1 >= 2");
      auto* s2 = q.add_steps();
      s2->mutable_after()->set_seconds(40 + static_cast<int64_t>(R(20)));
    }
    q.mutable_offer_timeout()->set_seconds(5 + static_cast<int64_t>(R(10)));
    q.mutable_wrap_up()->set_seconds(static_cast<int64_t>(R(3) == 0 ? 0 : R(10)));
    if (P(0.3)) q.set_max_size(3 + static_cast<int32_t>(R(10)));
    if (P(0.5)) q.mutable_max_wait()->set_seconds(30 + static_cast<int64_t>(R(90)));
    const int action = static_cast<int>(R(4));
    if (i == 1 && action == 0) {
      q.set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
      q.set_overflow_queue("q2");
    } else {
      q.set_overflow_action(static_cast<v1::OverflowAction>(1 + (action == 1 ? 0 : action)));
    }
    q.set_aging_per_minute(static_cast<int32_t>(R(5)));
    if (i != 3) q.set_escalation_queue("q4");
    if (P(0.5)) {
      q.mutable_service_level()->set_target(0.8);
      q.mutable_service_level()->mutable_threshold()->set_seconds(20);
    }
    return q;
  }

  v1::AgentProfile RandomProfile(const std::string& id) {
    v1::AgentProfile p;
    p.set_agent_id(id);
    for (const char* s : {"s1", "s2", "s3"}) {
      if (P(0.6)) {
        auto* sk = p.add_skills();
        sk->set_name(s);
        sk->set_proficiency(1 + static_cast<int32_t>(R(5)));
      }
    }
    const char* langs[] = {"en", "es", "en,es"};
    (*p.mutable_attributes())["language"] = langs[R(3)];
    p.set_team("t" + std::to_string(R(3)));
    p.set_supervisor(P(0.2));
    if (P(0.3)) {
      auto* c = p.add_capacity();
      c->set_channel(v1::CHANNEL_CHAT);
      c->set_capacity(1 + static_cast<int32_t>(R(3)));
      if (P(0.5)) {
        auto* v = p.add_capacity();
        v->set_channel(v1::CHANNEL_VOICE);
        v->set_capacity(1);
      }
    }
    return p;
  }

  void Setup() {
    // q4 (escalations) and q2 first: other queues refer to them.
    for (int i : {4, 2, 0, 1, 3}) {
      v1::RoutingCommand c = NewCommand();
      *c.mutable_upsert_queue()->mutable_queue() = RandomQueue(i);
      Send(c);
    }
    const int agents = 8 + static_cast<int>(R(40));
    for (int i = 0; i < agents; ++i) {
      agent_ids_.push_back("a" + std::to_string(i));
      v1::RoutingCommand c = NewCommand();
      *c.mutable_upsert_agent()->mutable_profile() = RandomProfile(agent_ids_.back());
      Send(c);
    }
  }

  // Chooses and sends one random command, mostly valid for the current state.
  void Step() {
    v1::RoutingCommand c = NewCommand();
    const int kind = static_cast<int>(R(100));
    std::vector<std::string> offered, connected, wrapping, queued;
    for (const auto& [id, st] : state_) {
      if (st == v1::INTERACTION_STATE_QUEUED) queued.push_back(id);
      if (st == v1::INTERACTION_STATE_CONNECTED) connected.push_back(id);
    }
    for (const auto& [key, leg] : legs_) {
      if (leg.phase == "offered") offered.push_back(key);
      if (leg.phase == "wrap_up") wrapping.push_back(key);
    }
    auto split = [](const std::string& key) {
      auto pos = key.find('|');
      return std::make_pair(key.substr(0, pos), key.substr(pos + 1));
    };
    if (kind < 22) {
      auto* e = c.mutable_enqueue();
      e->set_interaction_id("i" + std::to_string(next_interaction_++));
      e->set_queue_id("q" + std::to_string(R(4)));
      e->set_priority(static_cast<int32_t>(R(10)));
      e->set_requirement(kRequirements[R(7)]);
      (*e->mutable_attributes())["customer"] = "cust" + std::to_string(R(50));
      if (P(0.1)) {
        e->set_preferred_agent_id(Pick(agent_ids_));
        e->mutable_preferred_timeout()->set_seconds(static_cast<int64_t>(R(30)));
      }
      if (P(0.02)) e->set_requirement("skills.s1 >=");  // a syntax error
      if (P(0.02)) e->set_queue_id("nope");
    } else if (kind < 34 && !offered.empty()) {
      auto [agent, in] = split(Pick(offered));
      auto* a = c.mutable_accept_offer();
      a->set_agent_id(agent);
      a->set_offer_id(legs_[agent + "|" + in].offer_id);
    } else if (kind < 38 && !offered.empty()) {
      auto [agent, in] = split(Pick(offered));
      auto* r = c.mutable_reject_offer();
      r->set_agent_id(agent);
      r->set_offer_id(legs_[agent + "|" + in].offer_id);
    } else if (kind < 50 && !connected.empty()) {
      const std::string in = Pick(connected);
      const std::string agent = agent_of_[in];
      const int what = static_cast<int>(R(22));
      if (what < 13) {
        c.mutable_complete()->set_agent_id(agent);
        c.mutable_complete()->set_interaction_id(in);
        c.mutable_complete()->set_disposition("resolved");
      } else if (what < 15) {
        c.mutable_transfer()->set_agent_id(agent);
        c.mutable_transfer()->set_interaction_id(in);
        if (P(0.5)) c.mutable_transfer()->set_target_queue_id("q" + std::to_string(R(3)));
        if (P(0.3)) c.mutable_transfer()->set_target_agent_id(Pick(agent_ids_));
      } else if (what < 17) {
        c.mutable_escalate()->set_agent_id(agent);
        c.mutable_escalate()->set_interaction_id(in);
        c.mutable_escalate()->set_reason("asked for a manager");
        c.mutable_escalate()->set_cold(P(0.3));
      } else if (what < 18) {
        c.mutable_agent_disconnect()->set_agent_id(agent);
        c.mutable_agent_disconnect()->set_interaction_id(in);
        c.mutable_agent_disconnect()->set_category("racial_slur");
        c.mutable_agent_disconnect()->set_policy_decision_id("d1");
      } else if (what < 19) {
        // Up to 16 per interaction, then TOO_MANY_WARNINGS; the restored engine must agree.
        c.mutable_warn_caller()->set_agent_id(agent);
        c.mutable_warn_caller()->set_interaction_id(in);
        c.mutable_warn_caller()->set_category(P(0.05) ? "" : "racial_slur");
      } else if (what < 21) {
        // Mostly valid; sometimes another agent, no factor or one too long (rejected, uncounted).
        // Half of them go to a call whose warm escalation task waits, so that the task must
        // pick up what was recorded meanwhile when the supervisor joins.
        std::string target = in;
        if (!warm_escalated_.empty() && P(0.5)) {
          target = *std::next(warm_escalated_.begin(),
                              static_cast<std::ptrdiff_t>(R(warm_escalated_.size())));
        }
        auto* v = c.mutable_record_verification();
        v->set_agent_id(P(0.05) ? Pick(agent_ids_) : agent_of_[target]);
        v->set_interaction_id(target);
        const char* factors[] = {"date_of_birth", "postcode", "last_payment", "pin", ""};
        v->set_factor(P(0.02) ? std::string(65, 'f') : factors[R(5)]);
        v->set_passed(P(0.6));
        v->set_verified(P(0.15));
      } else {
        c.mutable_cancel()->set_interaction_id(in);
        c.mutable_cancel()->set_reason(v1::CANCEL_REASON_ABANDONED);
      }
    } else if (kind < 56 && !wrapping.empty()) {
      auto [agent, in] = split(Pick(wrapping));
      c.mutable_end_wrap_up()->set_agent_id(agent);
      c.mutable_end_wrap_up()->set_interaction_id(in);
    } else if (kind < 62 && !queued.empty()) {
      c.mutable_cancel()->set_interaction_id(Pick(queued));
      c.mutable_cancel()->set_reason(P(0.8) ? v1::CANCEL_REASON_ABANDONED
                                            : v1::CANCEL_REASON_CANCELLED);
    } else if (kind < 72) {
      const std::string agent = Pick(agent_ids_);
      if (!logged_in_.contains(agent)) {
        c.mutable_login()->set_agent_id(agent);
      } else if (P(0.6)) {
        c.mutable_set_presence()->set_agent_id(agent);
        c.mutable_set_presence()->set_presence(P(0.6) ? v1::PRESENCE_AVAILABLE : v1::PRESENCE_AUX);
        c.mutable_set_presence()->set_reason(kAux[R(3)]);
      } else if (P(0.3)) {
        c.mutable_start_recovery_break()->set_agent_id(agent);
        c.mutable_start_recovery_break()->mutable_duration()->set_seconds(
            1 + static_cast<int64_t>(R(60)));
      } else {
        c.mutable_logout()->set_agent_id(agent);
        c.mutable_logout()->set_force(P(0.5));
      }
    } else if (kind < 74) {
      const std::string agent = Pick(agent_ids_);
      *c.mutable_upsert_agent()->mutable_profile() = RandomProfile(agent);
    } else if (kind < 75) {
      const int i = static_cast<int>(R(5));
      *c.mutable_upsert_queue()->mutable_queue() = RandomQueue(i);
    } else if (kind < 76) {
      // Invalid or odd commands: unknown ids, stale offers, a repeated command id, no body.
      const int what = static_cast<int>(R(5));
      if (what == 0)
        c.mutable_accept_offer()->set_agent_id(Pick(agent_ids_)),
            c.mutable_accept_offer()->set_offer_id("o999999");
      if (what == 1) c.mutable_complete()->set_agent_id("ghost");
      if (what == 2 && next_id_ > 10) c.set_command_id("c" + std::to_string(R(next_id_ - 1)));
      if (what == 3) c.mutable_remove_queue()->set_queue_id("q" + std::to_string(R(5)));
      if (what == 4) c.mutable_remove_agent()->set_agent_id(Pick(agent_ids_));
      if (what == 2) c.mutable_tick();
    } else {
      c.mutable_tick();
    }
    Send(c);
  }

  void Send(const v1::RoutingCommand& c) {
    std::vector<v1::RoutingEvent> ea, eb, er, en;
    a_.Apply(c, &ea);
    b_.Apply(c, &eb);
    restored_->Apply(c, &er);
    naive_.Apply(c, &en);
    ++applied_;
    ASSERT_EQ(ea.size(), eb.size()) << "nondeterministic at " << c.command_id();
    ASSERT_EQ(ea.size(), er.size()) << "restored engine diverged at " << c.command_id();
    ASSERT_EQ(ea.size(), en.size()) << "naive matcher diverged at " << c.command_id() << "\n"
                                    << c.DebugString();
    for (size_t i = 0; i < ea.size(); ++i) {
      const std::string bytes = Bytes(ea[i]);
      ASSERT_EQ(bytes, Bytes(eb[i])) << "nondeterministic event at " << c.command_id();
      ASSERT_EQ(bytes, Bytes(er[i])) << "restored engine diverged at " << c.command_id() << "\n"
                                     << ea[i].DebugString() << "\nvs\n"
                                     << er[i].DebugString();
      v1::RoutingEvent x = ea[i], y = en[i];
      if (x.has_offer_created()) x.mutable_offer_created()->clear_explanation();
      if (y.has_offer_created()) y.mutable_offer_created()->clear_explanation();
      ASSERT_EQ(Bytes(x), Bytes(y))
          << "naive matcher decided differently at " << c.command_id() << "\n"
          << x.DebugString() << "\nvs\n"
          << y.DebugString();
    }
    for (const auto& e : ea) Observe(c, e);
    absl::Status inv = a_.CheckInvariants();
    ASSERT_TRUE(inv.ok()) << inv << " after " << c.DebugString();
    // Occasionally compare every interaction's state with the event-derived view.
    if (applied_ % 97 == 0) CompareStates();
  }

  void Observe(const v1::RoutingCommand& c, const v1::RoutingEvent& e) {
    const auto* field = v1::RoutingEvent::descriptor()->FindFieldByNumber(e.body_case());
    ++EventCounts()[field != nullptr ? field->name() : "none"];
    switch (e.body_case()) {
      case v1::RoutingEvent::kQueueUpserted:
        queues_[e.queue_upserted().queue().queue_id()] = e.queue_upserted().queue();
        break;
      case v1::RoutingEvent::kAgentUpserted:
        profiles_[e.agent_upserted().profile().agent_id()] = e.agent_upserted().profile();
        break;
      case v1::RoutingEvent::kAgentStateChanged:
        if (e.agent_state_changed().presence() == v1::PRESENCE_OFFLINE) {
          logged_in_.erase(e.agent_state_changed().agent_id());
        } else {
          logged_in_.insert(e.agent_state_changed().agent_id());
        }
        break;
      case v1::RoutingEvent::kInteractionQueued: {
        const auto& q = e.interaction_queued();
        state_[q.interaction_id()] = v1::INTERACTION_STATE_QUEUED;
        if (q.cause() == "enqueued") {
          requirement_[q.interaction_id()] = c.enqueue().requirement();
          preferred_[q.interaction_id()] = c.enqueue().preferred_agent_id();
        }
        if (q.cause() == "transferred") {
          rejected_[q.interaction_id()].clear();
          preferred_[q.interaction_id()] = c.transfer().target_agent_id();
        }
        EXPECT_GE(q.position(), 1);
        break;
      }
      case v1::RoutingEvent::kEscalationCreated:
        escalation_team_[e.escalation_created().task_id()] = e.escalation_created().team();
        // The task carries the conversation's caller warnings (refreshed when it is joined).
        warnings_[e.escalation_created().task_id()] =
            warnings_[e.escalation_created().interaction_id()];
        verification_[e.escalation_created().task_id()] =
            verification_[e.escalation_created().interaction_id()];
        if (!e.escalation_created().cold())
          warm_escalated_.insert(e.escalation_created().interaction_id());
        rejected_[e.escalation_created().task_id()].insert(e.escalation_created().agent_id());
        break;
      case v1::RoutingEvent::kOfferCreated:
        CheckOffer(e.offer_created());
        break;
      case v1::RoutingEvent::kOfferAccepted: {
        const auto& o = e.offer_accepted();
        legs_[o.agent_id() + "|" + o.interaction_id()].phase = "connected";
        state_[o.interaction_id()] = v1::INTERACTION_STATE_CONNECTED;
        agent_of_[o.interaction_id()] = o.agent_id();
        break;
      }
      case v1::RoutingEvent::kOfferRejected:
        rejected_[e.offer_rejected().interaction_id()].insert(e.offer_rejected().agent_id());
        legs_.erase(e.offer_rejected().agent_id() + "|" + e.offer_rejected().interaction_id());
        break;
      case v1::RoutingEvent::kOfferTimedOut:
        rejected_[e.offer_timed_out().interaction_id()].insert(e.offer_timed_out().agent_id());
        legs_.erase(e.offer_timed_out().agent_id() + "|" + e.offer_timed_out().interaction_id());
        break;
      case v1::RoutingEvent::kOfferRescinded:
        legs_.erase(e.offer_rescinded().agent_id() + "|" + e.offer_rescinded().interaction_id());
        state_[e.offer_rescinded().interaction_id()] = v1::INTERACTION_STATE_QUEUED;
        break;
      case v1::RoutingEvent::kWrapUpStarted: {
        auto it =
            legs_.find(e.wrap_up_started().agent_id() + "|" + e.wrap_up_started().interaction_id());
        EXPECT_TRUE(it != legs_.end() && it->second.phase == "connected")
            << "wrap-up without a connected leg: " << e.DebugString();
        if (it != legs_.end()) it->second.phase = "wrap_up";
        break;
      }
      case v1::RoutingEvent::kWrapUpEnded: {
        const std::string key =
            e.wrap_up_ended().agent_id() + "|" + e.wrap_up_ended().interaction_id();
        EXPECT_TRUE(legs_.contains(key)) << "wrap-up end without a leg";
        legs_.erase(key);
        break;
      }
      case v1::RoutingEvent::kInteractionEnded:
        state_.erase(e.interaction_ended().interaction_id());
        warnings_.erase(e.interaction_ended().interaction_id());
        verification_.erase(e.interaction_ended().interaction_id());
        warm_escalated_.erase(e.interaction_ended().interaction_id());
        break;
      case v1::RoutingEvent::kEscalationJoined: {
        // Warm: the original is still live and hands its warnings over (cold: it ended before).
        auto original = warnings_.find(e.escalation_joined().interaction_id());
        if (original != warnings_.end())
          warnings_[e.escalation_joined().task_id()] = original->second;
        warm_escalated_.erase(e.escalation_joined().interaction_id());
        auto verification = verification_.find(e.escalation_joined().interaction_id());
        if (verification != verification_.end())
          verification_[e.escalation_joined().task_id()] = verification->second;
        break;
      }
      case v1::RoutingEvent::kCallerWarned: {
        const auto& w = e.caller_warned();
        EXPECT_EQ(state_[w.interaction_id()], v1::INTERACTION_STATE_CONNECTED);
        EXPECT_EQ(agent_of_[w.interaction_id()], w.agent_id());
        EXPECT_EQ(w.warnings(), ++warnings_[w.interaction_id()]) << "warning count";
        EXPECT_LE(w.warnings(), 16);
        break;
      }
      case v1::RoutingEvent::kVerificationRecorded: {
        // The test's own tally, from the command: distinct passed factors in order, failed
        // attempts (capped at 1000), and verified once any command said so.
        const auto& v = e.verification_recorded();
        const auto& rv = c.record_verification();
        ASSERT_TRUE(c.has_record_verification()) << "verification_recorded from another command";
        EXPECT_EQ(state_[v.interaction_id()], v1::INTERACTION_STATE_CONNECTED);
        EXPECT_EQ(agent_of_[v.interaction_id()], v.agent_id());
        EXPECT_EQ(v.agent_id(), rv.agent_id());
        EXPECT_EQ(v.interaction_id(), rv.interaction_id());
        EXPECT_EQ(v.factor(), rv.factor());
        EXPECT_EQ(v.passed(), rv.passed());
        EXPECT_TRUE(!rv.factor().empty() || rv.verified()) << "accepted without a factor";
        EXPECT_LE(rv.factor().size(), 64u) << "accepted a factor longer than 64 bytes";
        VerificationModel& m = verification_[v.interaction_id()];
        if (rv.passed() && !rv.factor().empty() &&
            std::find(m.factors.begin(), m.factors.end(), rv.factor()) == m.factors.end()) {
          m.factors.push_back(rv.factor());
        }
        if (!rv.passed() && !rv.factor().empty()) m.failed = std::min(m.failed + 1, 1000);
        if (rv.verified()) m.verified = true;
        EXPECT_LE(m.factors.size(), 16u);
        EXPECT_EQ(std::vector<std::string>(v.factors_passed().begin(), v.factors_passed().end()),
                  m.factors)
            << "factors passed";
        EXPECT_EQ(v.failed_attempts(), m.failed) << "failed attempts";
        EXPECT_EQ(v.verified(), m.verified) << "verified";
        break;
      }
      case v1::RoutingEvent::kCommandRejected:
        if (c.has_record_verification()) {
          // Rejected only when it had to be: not connected to that agent, or a bad factor.
          const auto& rv = c.record_verification();
          const bool connected = state_.contains(rv.interaction_id()) &&
                                 state_[rv.interaction_id()] == v1::INTERACTION_STATE_CONNECTED &&
                                 agent_of_[rv.interaction_id()] == rv.agent_id();
          const bool bad_factor =
              rv.factor().size() > 64 || (rv.factor().empty() && !rv.verified());
          EXPECT_TRUE(!connected || bad_factor)
              << "a valid RecordVerification was rejected: " << e.command_rejected().message();
        }
        break;
      default:
        break;
    }
  }

  void CheckOffer(const v1::OfferCreated& o) {
    ++offers_;
    state_[o.interaction_id()] = v1::INTERACTION_STATE_OFFERED;
    const v1::AgentProfile& p = profiles_[o.agent_id()];
    ASSERT_EQ(p.agent_id(), o.agent_id()) << "offer to an unknown agent";
    EXPECT_TRUE(logged_in_.contains(o.agent_id())) << "offer to an agent who is offline";
    // Capacity: legs on this channel, including this offer.
    int held = 1;
    for (const auto& [key, leg] : legs_) {
      if (leg.agent == o.agent_id() && leg.channel == o.channel()) ++held;
    }
    EXPECT_LE(held, Capacity(p, o.channel())) << "agent " << o.agent_id() << " over capacity";
    legs_[o.agent_id() + "|" + o.interaction_id()] =
        LegModel{o.agent_id(), o.channel(), "offered", o.offer_id()};
    EXPECT_FALSE(rejected_[o.interaction_id()].contains(o.agent_id()))
        << "offered again to an agent who rejected " << o.interaction_id();
    if (o.explanation().preferred_agent()) {
      EXPECT_EQ(preferred_[o.interaction_id()], o.agent_id());
      return;
    }
    const v1::Queue& q = queues_[o.queue_id()];
    EXPECT_TRUE(Eval(q.membership(), p)) << o.agent_id() << " is not a member of " << o.queue_id();
    auto team = escalation_team_.find(o.interaction_id());
    if (team != escalation_team_.end()) {
      EXPECT_TRUE(p.supervisor() && p.team() == team->second) << "escalation to a non-supervisor";
    } else {
      EXPECT_TRUE(Eval(requirement_[o.interaction_id()], p))
          << o.agent_id() << " fails requirement '" << requirement_[o.interaction_id()] << "'";
    }
    const int step = o.explanation().step();
    if (q.steps_size() > 0) {
      ASSERT_LT(step, q.steps_size());
      EXPECT_TRUE(Eval(q.steps(step).requirement(), p)) << "fails step " << step;
    }
  }

  void CompareStates() {
    v1::RoutingSnapshot s = a_.Snapshot();
    ASSERT_EQ(static_cast<size_t>(s.interactions_size()), state_.size())
        << "the events and the engine disagree on how many interactions are live";
    for (const auto& in : s.interactions()) {
      auto it = state_.find(in.interaction_id());
      ASSERT_TRUE(it != state_.end()) << in.interaction_id() << " unknown to the events";
      ASSERT_EQ(it->second, in.state()) << in.interaction_id() << " state differs";
      // The caller's verification on the record equals the test's tally (kept across transfers,
      // copied to escalation tasks and refreshed when they are joined).
      auto v = verification_.find(in.interaction_id());
      const VerificationModel m = v == verification_.end() ? VerificationModel{} : v->second;
      ASSERT_EQ(
          std::vector<std::string>(in.verified_factors().begin(), in.verified_factors().end()),
          m.factors)
          << in.interaction_id() << " verified factors differ";
      ASSERT_EQ(in.failed_verifications(), m.failed) << in.interaction_id();
      ASSERT_EQ(in.verified(), m.verified) << in.interaction_id();
    }
  }

  void Resnapshot() {
    v1::RoutingSnapshot s = a_.Snapshot();
    for (const auto& q : s.queues()) {
      EventCounts()["(snapshot) indexed classes"] += q.indexed_classes_size();
    }
    auto restored = Engine::Restore(s);
    ASSERT_TRUE(restored.ok()) << restored.status();
    ASSERT_EQ(Bytes((*restored)->Snapshot()), Bytes(s)) << "restore is not faithful";
    ASSERT_EQ(Bytes(restored_->Snapshot()), Bytes(s)) << "the previously restored engine diverged";
    restored_ = *std::move(restored);
  }

  void CompareFinal() {
    const std::string s = Bytes(a_.Snapshot());
    EXPECT_EQ(s, Bytes(b_.Snapshot()));
    EXPECT_EQ(s, Bytes(restored_->Snapshot()));
  }

  std::mt19937_64 rng_;
  Engine a_, b_, naive_;
  std::unique_ptr<Engine> restored_;
  int64_t now_ = 1'700'000'000'000;
  int64_t next_id_ = 1, next_interaction_ = 1, applied_ = 0, offers_ = 0;
  std::vector<std::string> agent_ids_;
  std::map<std::string, v1::Queue> queues_;
  std::map<std::string, v1::AgentProfile> profiles_;
  std::set<std::string> logged_in_;
  std::map<std::string, v1::InteractionState> state_;
  std::map<std::string, std::string> requirement_, preferred_, agent_of_, escalation_team_;
  std::map<std::string, int32_t> warnings_;  // caller warnings per live interaction
  struct VerificationModel {
    std::vector<std::string> factors;  // distinct, in the order first passed
    int32_t failed = 0;
    bool verified = false;
  };
  std::map<std::string, VerificationModel> verification_;  // per live interaction
  std::set<std::string> warm_escalated_;  // connected calls whose warm escalation task waits
  std::map<std::string, std::set<std::string>> rejected_;
  std::map<std::string, LegModel> legs_;  // "agent|interaction"
};

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoll(v, nullptr, 10);
}

TEST(EngineInvariants, MillionRandomCommands) {
  const int64_t total = EnvInt("SB_INVARIANT_COMMANDS", 1'000'000);
  const char* one = std::getenv("SB_TEST_SEED");
  std::vector<uint64_t> seeds;
  if (one != nullptr) {
    seeds.push_back(std::strtoull(one, nullptr, 10));
  } else {
    for (uint64_t s = 1; s <= 40; ++s) seeds.push_back(s * 7919);
  }
  const int64_t per_seed = total / static_cast<int64_t>(seeds.size());
  int64_t applied = 0, offers = 0;
  for (uint64_t seed : seeds) {
    std::cout << "seed " << seed << " (rerun: SB_TEST_SEED=" << seed << ")" << std::endl;
    World world(seed);
    world.Run(static_cast<int>(per_seed));
    applied += world.applied();
    offers += world.offers();
    ASSERT_FALSE(::testing::Test::HasFailure()) << "failed with seed " << seed;
  }
  std::cout << applied << " commands applied, " << offers << " offers checked; events seen:\n";
  for (const auto& [name, n] : EventCounts()) std::cout << "  " << name << ": " << n << "\n";
  std::cout << std::flush;
  for (const char* must :
       {"offer_rejected", "offer_timed_out", "offer_rescinded", "escalation_joined",
        "interaction_transferred", "interaction_overflowed", "interaction_step_changed",
        "wrap_up_ended", "command_rejected", "caller_warned", "verification_recorded",
        "(snapshot) indexed classes"}) {
    EXPECT_GT(EventCounts()[must], total / 20000) << "the random walk rarely produced " << must;
  }
  EXPECT_GE(applied, total);
  EXPECT_GT(offers, total / 50) << "the generator made too few offers to prove much";
}

}  // namespace
}  // namespace sb::routing
