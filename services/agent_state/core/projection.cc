// The agent-state projection: routing events in, agent states, desktop events and the floor out.
// See projection.h for the contract.

#include "agent_state/core/projection.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sb::agent_state {
namespace {

int64_t Ms(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}
int64_t Ms(const google::protobuf::Duration& d) { return d.seconds() * 1000 + d.nanos() / 1000000; }
void SetMs(int64_t ms, google::protobuf::Timestamp* t) {
  // Floor division, so that times before the epoch still get nanos in [0, 1e9).
  int64_t s = ms / 1000;
  int64_t rem = ms % 1000;
  if (rem < 0) {
    --s;
    rem += 1000;
  }
  t->set_seconds(s);
  t->set_nanos(static_cast<int32_t>(rem * 1000000));
}

// "END_REASON_AGENT_DISCONNECTED" with prefix "END_REASON_" -> "agent_disconnected".
std::string LowerName(const std::string& name, std::string_view prefix) {
  std::string out = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
std::string PresenceName(rv1::Presence p) { return LowerName(rv1::Presence_Name(p), "PRESENCE_"); }

const std::string& Attr(const google::protobuf::Map<std::string, std::string>& attrs,
                        const std::string& key) {
  static const std::string* const kEmpty = new std::string();
  auto it = attrs.find(key);
  return it == attrs.end() ? *kEmpty : it->second;
}

const std::string kApproval(ProjectionOptions::kApprovalAttribute);

}  // namespace

// ---------------------------------------------------------------------------------------------
// State

struct Projection::Impl {
  struct Agent {
    bool upserted = false;  // false: only referenced by events (kept for its desktop log)
    std::string name;
    std::string team;
    bool supervisor = false;
    rv1::Presence presence = rv1::PRESENCE_OFFLINE;
    std::string reason;
    int64_t since_ms = 0;
    std::vector<std::string> interactions;  // connected or in wrap-up, in connection order
    std::vector<std::string> offers;        // pending offer ids, in offer order
    int64_t break_until_ms = 0;
    std::deque<av1::DesktopEvent> log;
  };

  enum class Phase { kQueued, kOffered, kConnected };

  // An interaction in progress (from its first InteractionQueued to its InteractionEnded).
  struct Interaction {
    uint64_t seq = 0;  // order of arrival in the projection: ties of started_ms
    std::string queue_id;
    Phase phase = Phase::kQueued;
    std::string agent_id;  // offered to or connected to
    std::string offer_id;  // while offered
    int64_t started_ms = 0;
    int64_t connected_ms = 0;
    google::protobuf::Map<std::string, std::string> attributes;
    std::string escalated_from;  // for an escalation task
    // The agent an EscalationJoined released: the original's InteractionEnded closes nothing more.
    std::string released_agent;
    // Identity verification so far (VerificationRecorded).
    std::vector<std::string> verified_factors;
    int32_t failed_verifications = 0;
    bool verified = false;
  };

  struct PendingOffer {
    std::string agent_id;
    std::string interaction_id;
  };

  struct Escalation {
    std::string interaction_id;
    std::string agent_id;
    std::string team;
    std::string reason;
    int64_t created_ms = 0;
  };

  struct Approval {
    std::string task_id;
    int64_t created_ms = 0;
  };

  struct Tenant {
    std::map<std::string, Agent, std::less<>> agents;
    std::map<std::string, Interaction, std::less<>> interactions;
    std::map<std::string, PendingOffer, std::less<>> offers;     // by offer id
    std::map<std::string, Escalation, std::less<>> escalations;  // by task id
    std::map<std::string, Approval, std::less<>> approvals;      // by approval id
    // Interaction -> the agents holding it (connected or in wrap-up); outlives the interaction
    // while its wrap-ups last.
    std::map<std::string, std::set<std::string>, std::less<>> holders;
    // Customer -> ended interaction ids, newest first.
    std::map<std::string, std::deque<std::string>, std::less<>> customers;
    uint64_t next_seq = 0;
  };

  // What one Apply call needs to emit desktop events.
  struct Ctx {
    const rv1::RoutingEvent& event;
    const std::string& tenant_id;
    Tenant& tenant;
    int64_t time_ms;
    std::vector<DesktopOutput>* out;
    std::map<std::string, int> emitted;  // agent -> desktop events so far
  };

  explicit Impl(ProjectionOptions o) : options(std::move(o)) {}

  // A copy (not a reference to Projection::options_): a moved Projection keeps its Impl.
  const ProjectionOptions options;
  std::map<std::string, Tenant, std::less<>> tenants;
  std::deque<std::string> seen_order;
  absl::flat_hash_set<std::string> seen;

  // --- lookups

  const Tenant* FindTenant(std::string_view id) const {
    auto it = tenants.find(id);
    return it == tenants.end() ? nullptr : &it->second;
  }
  static const Agent* FindAgent(const Tenant* t, std::string_view id) {
    if (t == nullptr) return nullptr;
    auto it = t->agents.find(id);
    return it == t->agents.end() ? nullptr : &it->second;
  }
  static const Agent* FindKnownAgent(const Tenant* t, std::string_view id) {
    const Agent* a = FindAgent(t, id);
    return a != nullptr && a->upserted ? a : nullptr;
  }
  static Interaction* FindInteraction(Tenant& t, const std::string& id) {
    auto it = t.interactions.find(id);
    return it == t.interactions.end() ? nullptr : &it->second;
  }
  static Interaction& InteractionFor(Ctx& c, const std::string& id) {
    auto [it, inserted] = c.tenant.interactions.try_emplace(id);
    if (inserted) {
      it->second.seq = c.tenant.next_seq++;
      it->second.started_ms = c.time_ms;
    }
    return it->second;
  }
  static std::string TeamOf(const Tenant& t, const std::string& agent) {
    auto it = t.agents.find(agent);
    return it == t.agents.end() ? std::string() : it->second.team;
  }

  av1::AgentState StateProto(const std::string& id, const Agent& a) const {
    av1::AgentState s;
    s.set_agent_id(id);
    s.set_name(a.name);
    s.set_team(a.team);
    s.set_supervisor(a.supervisor);
    s.set_presence(a.presence);
    s.set_reason(a.reason);
    if (a.since_ms != 0) SetMs(a.since_ms, s.mutable_since());
    for (const auto& i : a.interactions) s.add_interactions(i);
    for (const auto& o : a.offers) s.add_offers(o);
    if (a.break_until_ms != 0) SetMs(a.break_until_ms, s.mutable_break_until());
    return s;
  }

  // --- mutations

  // Emits `e` (its body set) to `agent`: stamps id and time, retains it, appends it to the output.
  void Emit(Ctx& c, const std::string& agent, av1::DesktopEvent e) {
    if (agent.empty()) return;
    const int k = ++c.emitted[agent];
    const std::string& rid = c.event.event_id();
    e.set_event_id(k == 1 ? rid : absl::StrCat(rid, "#", k));
    SetMs(c.time_ms, e.mutable_time());
    Agent& a = c.tenant.agents[agent];
    if (options.desktop_log_size > 0) {
      a.log.push_back(e);
      while (a.log.size() > options.desktop_log_size) a.log.pop_front();
    }
    if (c.out != nullptr) c.out->push_back(DesktopOutput{c.tenant_id, agent, std::move(e)});
  }

  static void Erase(std::vector<std::string>* v, const std::string& x) {
    v->erase(std::remove(v->begin(), v->end(), x), v->end());
  }
  static void AddOnce(std::vector<std::string>* v, const std::string& x) {
    if (std::find(v->begin(), v->end(), x) == v->end()) v->push_back(x);
  }

  void Hold(Tenant& t, const std::string& agent, const std::string& interaction) {
    AddOnce(&t.agents[agent].interactions, interaction);
    t.holders[interaction].insert(agent);
  }
  void Release(Tenant& t, const std::string& agent, const std::string& interaction) {
    auto a = t.agents.find(agent);
    if (a != t.agents.end()) Erase(&a->second.interactions, interaction);
    auto h = t.holders.find(interaction);
    if (h != t.holders.end()) {
      h->second.erase(agent);
      if (h->second.empty()) t.holders.erase(h);
    }
  }

  // Forgets a pending offer (answered, withdrawn or overtaken).
  void DropOffer(Tenant& t, const std::string& offer_id) {
    auto it = t.offers.find(offer_id);
    if (it == t.offers.end()) return;
    auto a = t.agents.find(it->second.agent_id);
    if (a != t.agents.end()) Erase(&a->second.offers, offer_id);
    t.offers.erase(it);
  }

  // Applies the event's body; returns whether anything changed.
  bool ApplyBody(Ctx& c) {
    const rv1::RoutingEvent& ev = c.event;
    Tenant& t = c.tenant;
    switch (ev.body_case()) {
      case rv1::RoutingEvent::kAgentUpserted: {
        const rv1::AgentProfile& p = ev.agent_upserted().profile();
        Agent& a = t.agents[p.agent_id()];
        if (!a.upserted && a.since_ms == 0) a.since_ms = c.time_ms;  // offline since registered
        a.upserted = true;
        a.name = p.name();
        a.team = p.team();
        a.supervisor = p.supervisor();
        return true;
      }
      case rv1::RoutingEvent::kAgentRemoved: {
        const std::string& id = ev.agent_removed().agent_id();
        // Routing removes only agents logged out without legs, so nothing else refers to it.
        for (auto it = t.offers.begin(); it != t.offers.end();) {
          it = it->second.agent_id == id ? t.offers.erase(it) : std::next(it);
        }
        auto it = t.agents.find(id);
        if (it != t.agents.end()) {
          for (const std::string& i : it->second.interactions) {
            auto h = t.holders.find(i);
            if (h == t.holders.end()) continue;
            h->second.erase(id);
            if (h->second.empty()) t.holders.erase(h);
          }
          t.agents.erase(it);
        }
        return true;
      }
      case rv1::RoutingEvent::kAgentStateChanged: {
        const rv1::AgentStateChanged& s = ev.agent_state_changed();
        Agent& a = t.agents[s.agent_id()];
        // An announcement of a break to come repeats the presence: time in state goes on.
        if (s.presence() != a.presence || s.reason() != a.reason || a.since_ms == 0) {
          a.since_ms = c.time_ms;
        }
        a.presence = s.presence();
        a.reason = s.reason();
        const bool recovery = s.presence() == rv1::PRESENCE_AUX && s.reason() == "recovery";
        if (s.has_until()) {
          a.break_until_ms = Ms(s.until());
        } else if (!recovery) {
          a.break_until_ms = 0;
        }
        av1::DesktopEvent e;
        *e.mutable_state() = StateProto(s.agent_id(), a);
        Emit(c, s.agent_id(), std::move(e));
        if (recovery && s.has_until()) {
          av1::DesktopEvent b;
          b.mutable_break_timer()->set_reason("recovery");
          *b.mutable_break_timer()->mutable_until() = s.until();
          Emit(c, s.agent_id(), std::move(b));
        }
        return true;
      }
      case rv1::RoutingEvent::kInteractionQueued: {
        const rv1::InteractionQueued& q = ev.interaction_queued();
        Interaction& in = InteractionFor(c, q.interaction_id());
        if (!in.offer_id.empty()) DropOffer(t, in.offer_id);
        in.queue_id = q.queue_id();
        in.phase = Phase::kQueued;
        in.agent_id.clear();
        in.offer_id.clear();
        in.connected_ms = 0;
        in.attributes = q.attributes();
        // The first enqueue: overflows and transfers keep it.
        if (q.has_enqueued_at()) in.started_ms = Ms(q.enqueued_at());
        auto esc = t.escalations.find(q.interaction_id());
        if (esc != t.escalations.end()) in.escalated_from = esc->second.interaction_id;
        const std::string& approval = Attr(in.attributes, kApproval);
        if (!approval.empty()) {
          auto [it, inserted] = t.approvals.try_emplace(approval);
          if (inserted || it->second.task_id != q.interaction_id()) {
            it->second = Approval{q.interaction_id(), c.time_ms};
          }
        }
        return true;
      }
      case rv1::RoutingEvent::kOfferCreated: {
        const rv1::OfferCreated& o = ev.offer_created();
        Interaction& in = InteractionFor(c, o.interaction_id());
        if (!in.offer_id.empty()) DropOffer(t, in.offer_id);
        in.phase = Phase::kOffered;
        in.agent_id = o.agent_id();
        in.offer_id = o.offer_id();
        in.queue_id = o.queue_id();
        if (!o.attributes().empty()) in.attributes = o.attributes();
        if (!o.escalated_from().empty()) in.escalated_from = o.escalated_from();
        t.offers[o.offer_id()] = PendingOffer{o.agent_id(), o.interaction_id()};
        AddOnce(&t.agents[o.agent_id()].offers, o.offer_id());

        av1::DesktopEvent e;
        av1::Offer* d = e.mutable_offer();
        d->set_offer_id(o.offer_id());
        d->set_interaction_id(o.interaction_id());
        d->set_queue_id(o.queue_id());
        *d->mutable_expires_at() = o.expires_at();
        d->set_waited_ms(Ms(o.waited()));
        *d->mutable_attributes() = o.attributes();
        // Verified on this interaction, or on the one an escalation task escalates.
        bool verified = in.verified || Attr(o.attributes(), "verified") == "true";
        if (const Interaction* from =
                in.escalated_from.empty() ? nullptr : FindInteraction(t, in.escalated_from);
            from != nullptr) {
          verified = verified || from->verified;
        }
        d->set_verified(verified);
        const std::string& customer = Attr(o.attributes(), "customer");
        if (!customer.empty()) {
          auto h = t.customers.find(customer);
          if (h != t.customers.end()) {
            for (const auto& id : h->second) d->add_previous_interactions(id);
          }
        }
        d->set_escalated_from(o.escalated_from());
        Emit(c, o.agent_id(), std::move(e));
        return true;
      }
      case rv1::RoutingEvent::kOfferAccepted:
        // InteractionConnected (same command) makes the assignment.
        DropOffer(t, ev.offer_accepted().offer_id());
        return true;
      case rv1::RoutingEvent::kOfferRejected:
        Withdraw(c, ev.offer_rejected().offer_id(), ev.offer_rejected().interaction_id(),
                 ev.offer_rejected().agent_id(), "rejected");
        return true;
      case rv1::RoutingEvent::kOfferTimedOut:
        Withdraw(c, ev.offer_timed_out().offer_id(), ev.offer_timed_out().interaction_id(),
                 ev.offer_timed_out().agent_id(), "timed_out");
        return true;
      case rv1::RoutingEvent::kOfferRescinded:
        Withdraw(c, ev.offer_rescinded().offer_id(), ev.offer_rescinded().interaction_id(),
                 ev.offer_rescinded().agent_id(), "rescinded");
        return true;
      case rv1::RoutingEvent::kInteractionConnected: {
        const rv1::InteractionConnected& x = ev.interaction_connected();
        Interaction& in = InteractionFor(c, x.interaction_id());
        if (!in.offer_id.empty()) DropOffer(t, in.offer_id);
        in.phase = Phase::kConnected;
        in.agent_id = x.agent_id();
        in.offer_id.clear();
        in.queue_id = x.queue_id();
        in.connected_ms = c.time_ms;
        Hold(t, x.agent_id(), x.interaction_id());
        av1::DesktopEvent e;
        e.mutable_assignment()->set_interaction_id(x.interaction_id());
        e.mutable_assignment()->set_queue_id(x.queue_id());
        Emit(c, x.agent_id(), std::move(e));
        return true;
      }
      case rv1::RoutingEvent::kWrapUpStarted: {
        const rv1::WrapUpStarted& w = ev.wrap_up_started();
        Hold(t, w.agent_id(), w.interaction_id());
        av1::DesktopEvent e;
        e.mutable_wrap_up()->set_interaction_id(w.interaction_id());
        *e.mutable_wrap_up()->mutable_deadline() = w.deadline();
        Emit(c, w.agent_id(), std::move(e));
        return true;
      }
      case rv1::RoutingEvent::kVerificationRecorded: {
        const rv1::VerificationRecorded& v = ev.verification_recorded();
        if (Interaction* in = FindInteraction(t, v.interaction_id()); in != nullptr) {
          in->verified_factors.assign(v.factors_passed().begin(), v.factors_passed().end());
          in->failed_verifications = v.failed_attempts();
          in->verified = v.verified();
        }
        return true;
      }
      case rv1::RoutingEvent::kWrapUpEnded: {
        const rv1::WrapUpEnded& w = ev.wrap_up_ended();
        Release(t, w.agent_id(), w.interaction_id());
        // The presence may not change (available before and after), but the desktop must learn
        // that the wrap-up is over (by its end, a timeout, or a forced logout): a state.
        if (auto a = t.agents.find(w.agent_id()); a != t.agents.end()) {
          av1::DesktopEvent e;
          *e.mutable_state() = StateProto(w.agent_id(), a->second);
          Emit(c, w.agent_id(), std::move(e));
        }
        return true;
      }
      case rv1::RoutingEvent::kInteractionEnded:
        OnEnded(c, ev.interaction_ended());
        return true;
      case rv1::RoutingEvent::kInteractionTransferred: {
        const rv1::InteractionTransferred& x = ev.interaction_transferred();
        if (Interaction* in = FindInteraction(t, x.interaction_id()); in != nullptr) {
          // In transit: the InteractionQueued of the same command puts it in its new queue.
          in->phase = Phase::kQueued;
          in->agent_id.clear();
          in->connected_ms = 0;
        }
        av1::DesktopEvent e;
        e.mutable_interaction_closed()->set_interaction_id(x.interaction_id());
        e.mutable_interaction_closed()->set_reason("transferred");
        Emit(c, x.from_agent_id(), std::move(e));
        return true;
      }
      case rv1::RoutingEvent::kEscalationCreated: {
        const rv1::EscalationCreated& x = ev.escalation_created();
        t.escalations[x.task_id()] =
            Escalation{x.interaction_id(), x.agent_id(), x.team(), x.reason(), c.time_ms};
        if (Interaction* task = FindInteraction(t, x.task_id()); task != nullptr) {
          task->escalated_from = x.interaction_id();
        }
        return true;
      }
      case rv1::RoutingEvent::kEscalationJoined: {
        const rv1::EscalationJoined& x = ev.escalation_joined();
        t.escalations.erase(x.task_id());
        if (!x.released_agent_id().empty()) {
          if (Interaction* in = FindInteraction(t, x.interaction_id()); in != nullptr) {
            in->released_agent = x.released_agent_id();
          }
          av1::DesktopEvent e;
          e.mutable_interaction_closed()->set_interaction_id(x.interaction_id());
          e.mutable_interaction_closed()->set_reason("escalated");
          Emit(c, x.released_agent_id(), std::move(e));
        }
        return true;
      }
      case rv1::RoutingEvent::kCommandRejected:
      case rv1::RoutingEvent::kQueueUpserted:
      case rv1::RoutingEvent::kQueueRemoved:
      case rv1::RoutingEvent::kInteractionStepChanged:
      case rv1::RoutingEvent::kInteractionOverflowed:  // followed by its Queued or Ended
      case rv1::RoutingEvent::kCallerWarned:
      case rv1::RoutingEvent::BODY_NOT_SET:
        return false;
    }
    return false;
  }

  void Withdraw(Ctx& c, const std::string& offer_id, const std::string& interaction_id,
                const std::string& agent, const char* cause) {
    DropOffer(c.tenant, offer_id);
    if (Interaction* in = FindInteraction(c.tenant, interaction_id);
        in != nullptr && in->offer_id == offer_id) {
      in->phase = Phase::kQueued;
      in->agent_id.clear();
      in->offer_id.clear();
    }
    av1::DesktopEvent e;
    av1::OfferWithdrawn* w = e.mutable_offer_withdrawn();
    w->set_offer_id(offer_id);
    w->set_interaction_id(interaction_id);
    w->set_cause(cause);
    Emit(c, agent, std::move(e));
  }

  void OnEnded(Ctx& c, const rv1::InteractionEnded& x) {
    Tenant& t = c.tenant;
    Interaction* in = FindInteraction(t, x.interaction_id());
    if (!x.agent_id().empty() && (in == nullptr || in->released_agent != x.agent_id())) {
      av1::DesktopEvent e;
      e.mutable_interaction_closed()->set_interaction_id(x.interaction_id());
      e.mutable_interaction_closed()->set_reason(
          LowerName(rv1::EndReason_Name(x.reason()), "END_REASON_"));
      Emit(c, x.agent_id(), std::move(e));
    }
    t.escalations.erase(x.interaction_id());  // a task that ends is no longer pending
    if (in == nullptr) return;
    if (!in->offer_id.empty()) DropOffer(t, in->offer_id);
    const std::string& approval = Attr(in->attributes, kApproval);
    if (!approval.empty()) {
      auto a = t.approvals.find(approval);
      if (a != t.approvals.end() && a->second.task_id == x.interaction_id()) t.approvals.erase(a);
      av1::DesktopEvent e;
      av1::ApprovalAnswered* ans = e.mutable_approval_answered();
      ans->set_approval_id(approval);
      ans->set_approved(x.disposition() == "approved");
      ans->set_supervisor(x.agent_id());
      Emit(c, Attr(in->attributes, "requested_by"), std::move(e));
    }
    const std::string& customer = Attr(in->attributes, "customer");
    if (!customer.empty() && in->escalated_from.empty() && approval.empty() &&
        options.customer_history > 0) {
      std::deque<std::string>& h = t.customers[customer];
      h.push_front(x.interaction_id());
      while (h.size() > options.customer_history) h.pop_back();
    }
    t.interactions.erase(x.interaction_id());
  }
};

// ---------------------------------------------------------------------------------------------
// Projection

Projection::Projection(ProjectionOptions options)
    : options_(std::move(options)), impl_(std::make_shared<Impl>(options_)) {}

bool Projection::Apply(const rv1::RoutingEvent& event, std::vector<DesktopOutput>* out) {
  const std::string& id = event.event_id();
  if (!id.empty()) {
    if (impl_->seen.contains(id)) return false;
    if (options_.dedup_window > 0) {
      impl_->seen.insert(id);
      impl_->seen_order.push_back(id);
      while (impl_->seen_order.size() > options_.dedup_window) {
        impl_->seen.erase(impl_->seen_order.front());
        impl_->seen_order.pop_front();
      }
    }
  }
  Impl::Tenant& tenant = impl_->tenants[event.tenant_id()];
  Impl::Ctx ctx{event, event.tenant_id(), tenant, Ms(event.time()), out, {}};
  if (impl_->ApplyBody(ctx)) ++version_;
  return true;
}

absl::StatusOr<av1::AgentState> Projection::StateOf(std::string_view tenant,
                                                    std::string_view agent) const {
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  const Impl::Agent* a = Impl::FindKnownAgent(t, agent);
  if (a == nullptr) {
    return absl::NotFoundError(absl::StrCat("NO_SUCH_AGENT: no agent '", std::string(agent),
                                            "' in tenant '", std::string(tenant), "'"));
  }
  return impl_->StateProto(std::string(agent), *a);
}

std::optional<std::vector<av1::DesktopEvent>> Projection::EventsAfter(
    std::string_view tenant, std::string_view agent, std::string_view after_event_id) const {
  if (after_event_id.empty()) return std::nullopt;
  const Impl::Agent* a = Impl::FindAgent(impl_->FindTenant(tenant), agent);
  if (a == nullptr) return std::nullopt;
  // Newest first: a resuming desktop is usually only a few events behind.
  for (auto it = a->log.rbegin(); it != a->log.rend(); ++it) {
    if (it->event_id() == after_event_id)
      return std::vector<av1::DesktopEvent>(it.base(), a->log.end());
  }
  return std::nullopt;
}

Projection::Verification Projection::VerificationOf(std::string_view tenant,
                                                    std::string_view interaction_id) const {
  Verification out;
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  if (t == nullptr) return out;
  auto it = t->interactions.find(interaction_id);
  if (it == t->interactions.end()) return out;
  out.factors = it->second.verified_factors;
  out.failed_attempts = it->second.failed_verifications;
  out.verified = it->second.verified;
  return out;
}

std::string Projection::LastEventId(std::string_view tenant, std::string_view agent) const {
  const Impl::Agent* a = Impl::FindAgent(impl_->FindTenant(tenant), agent);
  if (a == nullptr || a->log.empty()) return "";
  return a->log.back().event_id();
}

absl::Status Projection::CheckOffer(std::string_view tenant, std::string_view agent,
                                    std::string_view offer_id) const {
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  if (Impl::FindKnownAgent(t, agent) == nullptr) {
    return absl::NotFoundError(absl::StrCat("NO_SUCH_AGENT: no agent '", std::string(agent),
                                            "' in tenant '", std::string(tenant), "'"));
  }
  auto it = t->offers.find(offer_id);
  if (it == t->offers.end()) {
    return absl::NotFoundError(absl::StrCat("NO_SUCH_OFFER: offer '", std::string(offer_id),
                                            "' is not pending (expired, withdrawn, answered or "
                                            "never made)"));
  }
  if (it->second.agent_id != agent) {
    return absl::PermissionDeniedError(
        absl::StrCat("NOT_YOUR_OFFER: offer '", std::string(offer_id), "' is for another agent"));
  }
  return absl::OkStatus();
}

absl::Status Projection::CheckInteraction(std::string_view tenant, std::string_view agent,
                                          std::string_view interaction_id) const {
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  const Impl::Agent* a = Impl::FindKnownAgent(t, agent);
  if (a == nullptr) {
    return absl::NotFoundError(absl::StrCat("NO_SUCH_AGENT: no agent '", std::string(agent),
                                            "' in tenant '", std::string(tenant), "'"));
  }
  if (std::find(a->interactions.begin(), a->interactions.end(), interaction_id) !=
      a->interactions.end()) {
    return absl::OkStatus();
  }
  if (t->interactions.find(interaction_id) != t->interactions.end() ||
      t->holders.find(interaction_id) != t->holders.end()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "NOT_YOUR_INTERACTION: interaction '", std::string(interaction_id),
        "' is not connected to (or in wrap-up with) agent '", std::string(agent), "'"));
  }
  return absl::NotFoundError(absl::StrCat("NO_SUCH_INTERACTION: no interaction '",
                                          std::string(interaction_id), "' in progress"));
}

absl::StatusOr<Projection::Connection> Projection::ConnectionOf(
    std::string_view tenant, std::string_view interaction_id) const {
  if (const Impl::Tenant* t = impl_->FindTenant(tenant); t != nullptr) {
    auto it = t->interactions.find(std::string(interaction_id));
    if (it != t->interactions.end() && it->second.phase == Impl::Phase::kConnected) {
      return Connection{it->second.agent_id, it->second.queue_id};
    }
  }
  return absl::FailedPreconditionError(
      absl::StrCat("NOT_CONNECTED: interaction '", std::string(interaction_id),
                   "' is not connected to an agent in tenant '", std::string(tenant), "'"));
}

av1::Floor Projection::FloorOf(std::string_view tenant, const std::set<std::string>& teams,
                               int64_t now_ms) const {
  av1::Floor floor;
  SetMs(now_ms, floor.mutable_time());
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  if (t == nullptr) return floor;
  const bool all = teams.empty();
  auto in_teams = [&](const std::string& team) { return all || teams.contains(team); };

  for (const auto& [id, a] : t->agents) {  // sorted by id
    if (a.upserted && in_teams(a.team)) *floor.add_agents() = impl_->StateProto(id, a);
  }

  // Interactions.
  std::vector<std::pair<const std::string*, const Impl::Interaction*>> ins;
  for (const auto& [id, in] : t->interactions) {
    bool visible = all;
    if (!visible && !in.agent_id.empty()) visible = in_teams(Impl::TeamOf(*t, in.agent_id));
    if (!visible) {
      auto esc = t->escalations.find(id);
      visible = esc != t->escalations.end() && in_teams(esc->second.team);
    }
    if (!visible) {
      const std::string& by = Attr(in.attributes, "requested_by");
      visible =
          !Attr(in.attributes, kApproval).empty() && !by.empty() && in_teams(Impl::TeamOf(*t, by));
    }
    if (visible) ins.emplace_back(&id, &in);
  }
  std::sort(ins.begin(), ins.end(), [](const auto& x, const auto& y) {
    return std::tie(x.second->started_ms, x.second->seq) <
           std::tie(y.second->started_ms, y.second->seq);
  });
  for (const auto& [id, in] : ins) {
    av1::InteractionInProgress* p = floor.add_interactions();
    p->set_interaction_id(*id);
    p->set_queue_id(in->queue_id);
    p->set_agent_id(in->agent_id);
    const bool connected = in->phase == Impl::Phase::kConnected && in->connected_ms != 0;
    const int64_t duration = now_ms - (connected ? in->connected_ms : in->started_ms);
    p->set_duration_ms(std::max<int64_t>(0, duration));
    auto q = options_.long_interaction_ms_by_queue.find(in->queue_id);
    const int64_t threshold =
        q != options_.long_interaction_ms_by_queue.end() ? q->second : options_.long_interaction_ms;
    p->set_long_(duration > threshold);
  }

  // Escalations, oldest first.
  std::vector<std::pair<const std::string*, const Impl::Escalation*>> escs;
  for (const auto& [task, e] : t->escalations) {
    if (in_teams(e.team)) escs.emplace_back(&task, &e);
  }
  std::stable_sort(escs.begin(), escs.end(), [](const auto& x, const auto& y) {
    return x.second->created_ms < y.second->created_ms;
  });
  for (const auto& [task, e] : escs) {
    av1::PendingEscalation* p = floor.add_escalations();
    p->set_task_id(*task);
    p->set_interaction_id(e->interaction_id);
    p->set_agent_id(e->agent_id);
    p->set_reason(e->reason);
    p->set_age_ms(std::max<int64_t>(0, now_ms - e->created_ms));
  }

  // Approvals, oldest first.
  struct Row {
    const std::string* approval_id;
    const Impl::Approval* approval;
    const Impl::Interaction* task;
  };
  std::vector<Row> rows;
  for (const auto& [approval_id, ap] : t->approvals) {
    auto in = t->interactions.find(ap.task_id);
    if (in == t->interactions.end()) continue;
    const std::string& by = Attr(in->second.attributes, "requested_by");
    if (all || in_teams(Impl::TeamOf(*t, by))) rows.push_back(Row{&approval_id, &ap, &in->second});
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) {
    return x.approval->created_ms < y.approval->created_ms;
  });
  for (const Row& r : rows) {
    const auto& attrs = r.task->attributes;
    av1::PendingApproval* p = floor.add_approvals();
    p->set_approval_id(*r.approval_id);
    p->set_agent_id(Attr(attrs, "requested_by"));
    p->set_interaction_id(Attr(attrs, "interaction_id"));
    p->set_action(Attr(attrs, "action"));
    double amount = 0;
    if (absl::SimpleAtod(Attr(attrs, "amount"), &amount)) p->set_amount(amount);
    p->set_reason(Attr(attrs, "reason"));
    p->set_age_ms(std::max<int64_t>(0, now_ms - r.approval->created_ms));
  }
  return floor;
}

absl::StatusOr<Projection::EscalationTask> Projection::FindEscalation(
    std::string_view tenant, std::string_view task_id) const {
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  if (t != nullptr) {
    auto it = t->escalations.find(task_id);
    if (it != t->escalations.end()) {
      EscalationTask out;
      out.task_id = it->first;
      out.interaction_id = it->second.interaction_id;
      auto in = t->interactions.find(task_id);
      if (in != t->interactions.end() && in->second.phase == Impl::Phase::kOffered) {
        out.offered_to = in->second.agent_id;
        out.offer_id = in->second.offer_id;
      }
      return out;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("NO_SUCH_ESCALATION: no pending escalation task '", std::string(task_id), "'"));
}

absl::StatusOr<Projection::ApprovalTask> Projection::FindApproval(
    std::string_view tenant, std::string_view approval_id) const {
  const Impl::Tenant* t = impl_->FindTenant(tenant);
  if (t != nullptr) {
    auto it = t->approvals.find(approval_id);
    if (it != t->approvals.end()) {
      auto in = t->interactions.find(it->second.task_id);
      if (in != t->interactions.end()) {
        ApprovalTask out;
        out.approval_id = it->first;
        out.task_id = it->second.task_id;
        out.requested_by = Attr(in->second.attributes, "requested_by");
        if (in->second.phase == Impl::Phase::kOffered) {
          out.offered_to = in->second.agent_id;
          out.offer_id = in->second.offer_id;
        } else if (in->second.phase == Impl::Phase::kConnected) {
          out.connected = true;
          out.connected_to = in->second.agent_id;
        }
        return out;
      }
    }
  }
  return absl::NotFoundError(
      absl::StrCat("NO_SUCH_APPROVAL: no pending approval '", std::string(approval_id), "'"));
}

size_t Projection::agent_count() const {
  size_t n = 0;
  for (const auto& [tid, t] : impl_->tenants) {
    for (const auto& [id, a] : t.agents) n += a.upserted ? 1 : 0;
  }
  return n;
}

std::map<std::string, int64_t> Projection::AgentsByPresence() const {
  std::map<std::string, int64_t> out;
  for (rv1::Presence p : {rv1::PRESENCE_OFFLINE, rv1::PRESENCE_AVAILABLE, rv1::PRESENCE_AUX}) {
    out[PresenceName(p)] = 0;
  }
  for (const auto& [tid, t] : impl_->tenants) {
    for (const auto& [id, a] : t.agents) {
      if (a.upserted) ++out[PresenceName(a.presence)];
    }
  }
  return out;
}

}  // namespace sb::agent_state
