#pragma once
// Test helpers for the routing engine: terse command builders, a Driver that owns an engine, a
// virtual clock and the command log, and finders over the events a command produced.
//
// The Driver checks, after every command, what must hold whatever the command was:
// CheckInvariants() is OK, events carry the command's id, the tenant, the domain time and
// consecutive indexes, a CommandRejected is alone and last, and every OfferCreated carries an
// explanation whose first candidate is the one chosen. Test-only; single-threaded.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "routing/engine/engine.h"

namespace sb::routing::test {

namespace v1 = ::switchboard::routing::v1;
using Events = std::vector<v1::RoutingEvent>;
using Body = v1::RoutingEvent::BodyCase;
using Skills = std::vector<std::pair<std::string, int>>;

// The virtual clock starts here (ms since the epoch): far from 0, which the engine uses as "unset".
inline constexpr int64_t kT0 = 1'700'000'000'000;
inline constexpr int64_t kSec = 1000;
inline constexpr int64_t kMin = 60 * kSec;

inline google::protobuf::Duration Dur(int64_t ms) {
  google::protobuf::Duration d;
  d.set_seconds(ms / 1000);
  d.set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  return d;
}
inline int64_t Ms(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}
inline int64_t Ms(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

// A command with a tenant, an id and a time (what the Driver adds to the builders' commands),
// for tests that feed a PartitionProcessor or the command log directly.
inline v1::RoutingCommand CommandAt(const std::string& tenant, const std::string& id,
                                    int64_t at_ms) {
  v1::RoutingCommand c;
  c.set_command_id(id);
  c.set_tenant_id(tenant);
  c.mutable_time()->set_seconds(at_ms / 1000);
  c.mutable_time()->set_nanos(static_cast<int32_t>((at_ms % 1000) * 1000000));
  return c;
}

// Deterministic serialization (map entries sorted), so equal messages give equal bytes.
inline std::string Bytes(const google::protobuf::Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Configuration builders

inline v1::Queue Queue(const std::string& id, v1::Strategy strategy = v1::STRATEGY_LONGEST_IDLE,
                       v1::Channel channel = v1::CHANNEL_VOICE) {
  v1::Queue q;
  q.set_queue_id(id);
  q.set_name(id);
  q.set_channel(channel);
  q.set_strategy(strategy);
  return q;
}

inline void AddStep(v1::Queue* q, int64_t after_ms, const std::string& requirement) {
  auto* s = q->add_steps();
  *s->mutable_after() = Dur(after_ms);
  s->set_requirement(requirement);
}

inline v1::AgentProfile Agent(const std::string& id, const Skills& skills = {}) {
  v1::AgentProfile p;
  p.set_agent_id(id);
  p.set_name(id);
  for (const auto& [name, level] : skills) {
    auto* s = p.add_skills();
    s->set_name(name);
    s->set_proficiency(level);
  }
  return p;
}

inline void SetCapacity(v1::AgentProfile* p, v1::Channel channel, int capacity) {
  auto* c = p->add_capacity();
  c->set_channel(channel);
  c->set_capacity(capacity);
}

// ---------------------------------------------------------------------------------------------
// Command builders (no id, tenant or time: the Driver stamps them)

namespace cmd {

inline v1::RoutingCommand UpsertQueue(const v1::Queue& q) {
  v1::RoutingCommand c;
  *c.mutable_upsert_queue()->mutable_queue() = q;
  return c;
}
inline v1::RoutingCommand RemoveQueue(const std::string& id) {
  v1::RoutingCommand c;
  c.mutable_remove_queue()->set_queue_id(id);
  return c;
}
inline v1::RoutingCommand UpsertAgent(const v1::AgentProfile& p) {
  v1::RoutingCommand c;
  *c.mutable_upsert_agent()->mutable_profile() = p;
  return c;
}
inline v1::RoutingCommand RemoveAgent(const std::string& id) {
  v1::RoutingCommand c;
  c.mutable_remove_agent()->set_agent_id(id);
  return c;
}
inline v1::RoutingCommand Login(const std::string& agent,
                                v1::Presence presence = v1::PRESENCE_UNSPECIFIED,
                                const std::string& reason = "") {
  v1::RoutingCommand c;
  c.mutable_login()->set_agent_id(agent);
  c.mutable_login()->set_presence(presence);
  c.mutable_login()->set_reason(reason);
  return c;
}
inline v1::RoutingCommand Logout(const std::string& agent, bool force = false) {
  v1::RoutingCommand c;
  c.mutable_logout()->set_agent_id(agent);
  c.mutable_logout()->set_force(force);
  return c;
}
inline v1::RoutingCommand SetPresence(const std::string& agent, v1::Presence presence,
                                      const std::string& reason = "") {
  v1::RoutingCommand c;
  c.mutable_set_presence()->set_agent_id(agent);
  c.mutable_set_presence()->set_presence(presence);
  c.mutable_set_presence()->set_reason(reason);
  return c;
}

// Optional Enqueue fields, set fluently: Opts().Priority(5).Requirement("skills.billing >= 3").
struct EnqueueOpts {
  int priority = 0;
  std::string requirement;
  std::map<std::string, std::string> attributes;
  std::string preferred;
  int64_t preferred_timeout_ms = 0;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;

  EnqueueOpts& Priority(int p) {
    priority = p;
    return *this;
  }
  EnqueueOpts& Requirement(std::string r) {
    requirement = std::move(r);
    return *this;
  }
  EnqueueOpts& Attr(const std::string& k, std::string v) {
    attributes[k] = std::move(v);
    return *this;
  }
  EnqueueOpts& Preferred(std::string agent, int64_t timeout_ms = 0) {
    preferred = std::move(agent);
    preferred_timeout_ms = timeout_ms;
    return *this;
  }
  EnqueueOpts& Channel(v1::Channel c) {
    channel = c;
    return *this;
  }
};
inline EnqueueOpts Opts() { return {}; }

inline v1::RoutingCommand Enqueue(const std::string& id, const std::string& queue,
                                  const EnqueueOpts& o = {}) {
  v1::RoutingCommand c;
  auto* e = c.mutable_enqueue();
  e->set_interaction_id(id);
  e->set_queue_id(queue);
  e->set_channel(o.channel);
  e->set_priority(o.priority);
  for (const auto& [k, v] : o.attributes) (*e->mutable_attributes())[k] = v;
  e->set_requirement(o.requirement);
  e->set_preferred_agent_id(o.preferred);
  if (o.preferred_timeout_ms != 0) *e->mutable_preferred_timeout() = Dur(o.preferred_timeout_ms);
  return c;
}
inline v1::RoutingCommand Cancel(const std::string& id,
                                 v1::CancelReason reason = v1::CANCEL_REASON_ABANDONED) {
  v1::RoutingCommand c;
  c.mutable_cancel()->set_interaction_id(id);
  c.mutable_cancel()->set_reason(reason);
  return c;
}
inline v1::RoutingCommand Accept(const std::string& agent, const std::string& offer) {
  v1::RoutingCommand c;
  c.mutable_accept_offer()->set_agent_id(agent);
  c.mutable_accept_offer()->set_offer_id(offer);
  return c;
}
inline v1::RoutingCommand Reject(const std::string& agent, const std::string& offer) {
  v1::RoutingCommand c;
  c.mutable_reject_offer()->set_agent_id(agent);
  c.mutable_reject_offer()->set_offer_id(offer);
  return c;
}
inline v1::RoutingCommand Complete(const std::string& agent, const std::string& id,
                                   const std::string& disposition = "") {
  v1::RoutingCommand c;
  c.mutable_complete()->set_agent_id(agent);
  c.mutable_complete()->set_interaction_id(id);
  c.mutable_complete()->set_disposition(disposition);
  return c;
}
inline v1::RoutingCommand EndWrapUp(const std::string& agent, const std::string& id,
                                    const std::string& disposition = "") {
  v1::RoutingCommand c;
  c.mutable_end_wrap_up()->set_agent_id(agent);
  c.mutable_end_wrap_up()->set_interaction_id(id);
  c.mutable_end_wrap_up()->set_disposition(disposition);
  return c;
}
inline v1::RoutingCommand Transfer(const std::string& agent, const std::string& id,
                                   const std::string& queue, const std::string& target_agent = "",
                                   int64_t timeout_ms = 0) {
  v1::RoutingCommand c;
  auto* t = c.mutable_transfer();
  t->set_agent_id(agent);
  t->set_interaction_id(id);
  t->set_target_queue_id(queue);
  t->set_target_agent_id(target_agent);
  if (timeout_ms != 0) *t->mutable_timeout() = Dur(timeout_ms);
  return c;
}
inline v1::RoutingCommand Escalate(const std::string& agent, const std::string& id,
                                   const std::string& reason, bool cold = false,
                                   const std::string& queue = "") {
  v1::RoutingCommand c;
  auto* e = c.mutable_escalate();
  e->set_agent_id(agent);
  e->set_interaction_id(id);
  e->set_reason(reason);
  e->set_cold(cold);
  e->set_queue_id(queue);
  return c;
}
inline v1::RoutingCommand Disconnect(const std::string& agent, const std::string& id,
                                     const std::string& category, const std::string& decision) {
  v1::RoutingCommand c;
  auto* d = c.mutable_agent_disconnect();
  d->set_agent_id(agent);
  d->set_interaction_id(id);
  d->set_category(category);
  d->set_policy_decision_id(decision);
  return c;
}
inline v1::RoutingCommand WarnCaller(const std::string& agent, const std::string& id,
                                     const std::string& category) {
  v1::RoutingCommand c;
  auto* w = c.mutable_warn_caller();
  w->set_agent_id(agent);
  w->set_interaction_id(id);
  w->set_category(category);
  return c;
}
inline v1::RoutingCommand RecordVerification(const std::string& agent, const std::string& id,
                                             const std::string& factor, bool passed,
                                             bool verified = false) {
  v1::RoutingCommand c;
  auto* v = c.mutable_record_verification();
  v->set_agent_id(agent);
  v->set_interaction_id(id);
  v->set_factor(factor);
  v->set_passed(passed);
  v->set_verified(verified);
  return c;
}
inline v1::RoutingCommand RecoveryBreak(const std::string& agent, int64_t ms,
                                        const std::string& decision = "pd-break") {
  v1::RoutingCommand c;
  auto* b = c.mutable_start_recovery_break();
  b->set_agent_id(agent);
  *b->mutable_duration() = Dur(ms);
  b->set_policy_decision_id(decision);
  return c;
}
inline v1::RoutingCommand Tick() {
  v1::RoutingCommand c;
  c.mutable_tick();
  return c;
}

}  // namespace cmd

using cmd::Opts;

// ---------------------------------------------------------------------------------------------
// Event finders

inline std::string BodyName(const v1::RoutingEvent& e) {
  const auto* f = v1::RoutingEvent::descriptor()->FindFieldByNumber(e.body_case());
  return f == nullptr ? "none" : f->name();
}

// The kinds of the events, in order: {"offer_rejected", "interaction_queued", ...}.
inline std::vector<std::string> Kinds(const Events& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(BodyName(e));
  return out;
}

inline std::vector<const v1::RoutingEvent*> All(const Events& events, Body body) {
  std::vector<const v1::RoutingEvent*> out;
  for (const auto& e : events) {
    if (e.body_case() == body) out.push_back(&e);
  }
  return out;
}
inline int Count(const Events& events, Body body) {
  return static_cast<int>(All(events, body).size());
}
inline const v1::RoutingEvent* First(const Events& events, Body body) {
  for (const auto& e : events) {
    if (e.body_case() == body) return &e;
  }
  return nullptr;
}

inline std::vector<v1::OfferCreated> Offers(const Events& events) {
  std::vector<v1::OfferCreated> out;
  for (const auto* e : All(events, v1::RoutingEvent::kOfferCreated))
    out.push_back(e->offer_created());
  return out;
}
// The offer made for `interaction` in these events; nullopt if none.
inline std::optional<v1::OfferCreated> OfferOf(const Events& events,
                                               const std::string& interaction) {
  for (const auto& o : Offers(events)) {
    if (o.interaction_id() == interaction) return o;
  }
  return std::nullopt;
}
// (interaction, agent) of every offer in order.
inline std::vector<std::pair<std::string, std::string>> OfferPairs(const Events& events) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& o : Offers(events)) out.emplace_back(o.interaction_id(), o.agent_id());
  return out;
}
// The reason of the CommandRejected in these events, "" if none.
inline std::string RejectReason(const Events& events) {
  const auto* e = First(events, v1::RoutingEvent::kCommandRejected);
  return e == nullptr ? "" : e->command_rejected().reason();
}

// ---------------------------------------------------------------------------------------------
// Driver

class Driver {
 public:
  explicit Driver(EngineOptions options = {}, std::string tenant = "tenant-1")
      : tenant_(std::move(tenant)), engine_(std::make_unique<Engine>(tenant_, options)) {}

  Engine& engine() { return *engine_; }
  const Engine& engine() const { return *engine_; }
  const std::string& tenant() const { return tenant_; }
  int64_t now() const { return now_; }
  void Advance(int64_t ms) { now_ += ms; }
  void AdvanceTo(int64_t t) { now_ = t; }

  // Every command applied, as applied (with id, tenant and time), and the events of each.
  const std::vector<v1::RoutingCommand>& log() const { return log_; }
  const std::vector<Events>& events_per_command() const { return events_; }
  // Snapshots after each command (when enabled), serialized deterministically.
  void KeepSnapshots(bool keep) { keep_snapshots_ = keep; }
  const std::vector<std::string>& snapshots() const { return snapshots_; }

  // Replaces the engine, e.g. by a restored one.
  void SetEngine(std::unique_ptr<Engine> engine) { engine_ = std::move(engine); }

  // Stamps a fresh command id, the tenant and the virtual time when unset, then applies.
  Events Apply(v1::RoutingCommand c) {
    if (c.command_id().empty()) c.set_command_id("c" + std::to_string(next_id_++));
    if (c.tenant_id().empty()) c.set_tenant_id(tenant_);
    if (!c.has_time()) {
      c.mutable_time()->set_seconds(now_ / 1000);
      c.mutable_time()->set_nanos(static_cast<int32_t>((now_ % 1000) * 1000000));
    }
    return ApplyRaw(c);
  }

  // Applies exactly `c`, then checks what must always hold.
  Events ApplyRaw(const v1::RoutingCommand& c) {
    Events out;
    engine_->Apply(c, &out);
    log_.push_back(c);
    events_.push_back(out);
    if (keep_snapshots_) snapshots_.push_back(Bytes(engine_->Snapshot()));
    CheckAfter(c, out);
    return out;
  }

  // --- terse commands
  Events UpsertQueue(const v1::Queue& q) { return Apply(cmd::UpsertQueue(q)); }
  Events RemoveQueue(const std::string& id) { return Apply(cmd::RemoveQueue(id)); }
  Events UpsertAgent(const v1::AgentProfile& p) { return Apply(cmd::UpsertAgent(p)); }
  // Registers and logs in (AVAILABLE); returns the login's events.
  Events AddAgent(const v1::AgentProfile& p) {
    Events up = UpsertAgent(p);
    EXPECT_EQ(RejectReason(up), "") << p.agent_id();
    return Login(p.agent_id());
  }
  Events Login(const std::string& a) { return Apply(cmd::Login(a)); }
  Events Logout(const std::string& a, bool force = false) { return Apply(cmd::Logout(a, force)); }
  Events Aux(const std::string& a, const std::string& reason) {
    return Apply(cmd::SetPresence(a, v1::PRESENCE_AUX, reason));
  }
  Events Available(const std::string& a) {
    return Apply(cmd::SetPresence(a, v1::PRESENCE_AVAILABLE));
  }
  Events Enqueue(const std::string& id, const std::string& queue, const cmd::EnqueueOpts& o = {}) {
    return Apply(cmd::Enqueue(id, queue, o));
  }
  Events Cancel(const std::string& id, v1::CancelReason r = v1::CANCEL_REASON_ABANDONED) {
    return Apply(cmd::Cancel(id, r));
  }
  Events Accept(const std::string& a, const std::string& offer) {
    return Apply(cmd::Accept(a, offer));
  }
  Events Reject(const std::string& a, const std::string& offer) {
    return Apply(cmd::Reject(a, offer));
  }
  // Accepts / rejects the offer currently pending for `interaction`, whoever holds it.
  Events AcceptOf(const std::string& interaction) {
    auto r = engine_->GetInteraction(interaction);
    EXPECT_TRUE(r && r->state() == v1::INTERACTION_STATE_OFFERED) << interaction << " not offered";
    if (!r) return {};
    return Accept(r->agent_id(), r->offer_id());
  }
  Events RejectOf(const std::string& interaction) {
    auto r = engine_->GetInteraction(interaction);
    EXPECT_TRUE(r && r->state() == v1::INTERACTION_STATE_OFFERED) << interaction << " not offered";
    if (!r) return {};
    return Reject(r->agent_id(), r->offer_id());
  }
  Events Complete(const std::string& a, const std::string& id, const std::string& disp = "") {
    return Apply(cmd::Complete(a, id, disp));
  }
  Events EndWrapUp(const std::string& a, const std::string& id, const std::string& disp = "") {
    return Apply(cmd::EndWrapUp(a, id, disp));
  }
  Events Transfer(const std::string& a, const std::string& id, const std::string& queue,
                  const std::string& target_agent = "", int64_t timeout_ms = 0) {
    return Apply(cmd::Transfer(a, id, queue, target_agent, timeout_ms));
  }
  Events Escalate(const std::string& a, const std::string& id, const std::string& reason,
                  bool cold = false, const std::string& queue = "") {
    return Apply(cmd::Escalate(a, id, reason, cold, queue));
  }
  Events Disconnect(const std::string& a, const std::string& id, const std::string& category,
                    const std::string& decision) {
    return Apply(cmd::Disconnect(a, id, category, decision));
  }
  Events WarnCaller(const std::string& a, const std::string& id, const std::string& category) {
    return Apply(cmd::WarnCaller(a, id, category));
  }
  Events RecordVerification(const std::string& a, const std::string& id, const std::string& factor,
                            bool passed, bool verified = false) {
    return Apply(cmd::RecordVerification(a, id, factor, passed, verified));
  }
  Events RecoveryBreak(const std::string& a, int64_t ms) {
    return Apply(cmd::RecoveryBreak(a, ms));
  }
  Events Tick() { return Apply(cmd::Tick()); }
  // Advances the clock by `ms`, then ticks.
  Events TickAfter(int64_t ms) {
    Advance(ms);
    return Tick();
  }

  // --- state shortcuts
  v1::InteractionRecord Interaction(const std::string& id) const {
    auto r = engine_->GetInteraction(id);
    EXPECT_TRUE(r.has_value()) << "no interaction " << id;
    return r.value_or(v1::InteractionRecord());
  }
  bool HasInteraction(const std::string& id) const {
    return engine_->GetInteraction(id).has_value();
  }
  v1::AgentState AgentState(const std::string& id) const {
    auto r = engine_->GetAgent(id);
    EXPECT_TRUE(r.has_value()) << "no agent " << id;
    return r.value_or(v1::AgentState());
  }

 private:
  void CheckAfter(const v1::RoutingCommand& c, const Events& out) {
    const absl::Status inv = engine_->CheckInvariants();
    EXPECT_TRUE(inv.ok()) << "after command " << c.command_id() << " (" << c.ShortDebugString()
                          << "): " << inv;
    for (size_t i = 0; i < out.size(); ++i) {
      const v1::RoutingEvent& e = out[i];
      EXPECT_EQ(e.command_id(), c.command_id());
      EXPECT_EQ(e.tenant_id(), engine_->tenant_id());
      EXPECT_EQ(e.index(), static_cast<int32_t>(i));
      EXPECT_EQ(Ms(e.time()), engine_->now_ms());
      if (e.has_command_rejected()) {
        EXPECT_EQ(i + 1, out.size()) << "a CommandRejected must be the last event";
        EXPECT_FALSE(e.command_rejected().reason().empty());
        EXPECT_FALSE(e.command_rejected().message().empty());
      }
      if (e.has_offer_created()) CheckOffer(e.offer_created());
    }
  }

  void CheckOffer(const v1::OfferCreated& o) {
    const v1::Explanation& ex = o.explanation();
    EXPECT_FALSE(o.offer_id().empty());
    EXPECT_GT(Ms(o.expires_at()), engine_->now_ms()) << o.ShortDebugString();
    EXPECT_GT(ex.config_version(), 0) << o.ShortDebugString();
    EXPECT_NE(ex.strategy(), v1::STRATEGY_UNSPECIFIED) << o.ShortDebugString();
    ASSERT_GE(ex.top_size(), 1) << "offer without candidates: " << o.ShortDebugString();
    if (ex.trigger() == "agent_freed") {
      EXPECT_EQ(ex.top(0).interaction_id(), o.interaction_id()) << o.ShortDebugString();
    } else {
      EXPECT_TRUE(ex.trigger() == "interaction_arrived" || ex.trigger() == "step_changed" ||
                  ex.trigger() == "preferred_expired")
          << "unknown trigger: " << o.ShortDebugString();
      EXPECT_EQ(ex.top(0).agent_id(), o.agent_id()) << o.ShortDebugString();
    }
  }

  std::string tenant_;
  std::unique_ptr<Engine> engine_;
  int64_t now_ = kT0;
  int64_t next_id_ = 1;
  bool keep_snapshots_ = false;
  std::vector<v1::RoutingCommand> log_;
  std::vector<Events> events_;
  std::vector<std::string> snapshots_;
};

}  // namespace sb::routing::test
