// Snapshot, restore, read-only views and the invariant checker of the routing engine.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "routing/engine/engine_impl.h"

namespace sb::routing {
namespace {

void FillLeg(const Leg& leg, v1::LegState* out) {
  out->set_interaction_id(leg.interaction_id);
  out->set_channel(leg.channel);
  out->set_phase(leg.phase);
  out->set_offer_id(leg.offer_id);
  out->set_deadline_ms(leg.deadline_ms);
  out->set_connected_at_ms(leg.connected_at_ms);
  out->set_disposition(leg.disposition);
  out->set_queue_id(leg.queue_id);
}

void FillAgent(const AgentRt& a, v1::AgentState* out) {
  *out->mutable_profile() = a.profile;
  out->set_order(a.order);
  out->set_presence(a.presence);
  out->set_reason(a.reason);
  out->set_pending_aux(a.pending_aux);
  out->set_idle_since_ms(a.idle_since_ms);
  out->set_busy_ms(a.busy_ms);
  out->set_handled(a.handled);
  out->set_break_until_ms(a.break_until_ms);
  out->set_pending_break_ms(a.pending_break_ms);
  for (const Leg& leg : a.legs) FillLeg(leg, out->add_legs());
}

void FillInteraction(const InteractionRt& in, v1::InteractionRecord* out) {
  out->set_interaction_id(in.id);
  out->set_seq(in.seq);
  out->set_queue_id(in.queue->config.queue_id());
  out->set_channel(in.channel);
  out->set_priority(in.priority);
  *out->mutable_attributes() = in.attributes;
  out->set_requirement(in.requirement);
  out->set_preferred_agent_id(in.preferred_agent_id);
  out->set_preferred_until_ms(in.preferred_until_ms);
  out->set_enqueued_at_ms(in.enqueued_at_ms);
  out->set_queue_entered_at_ms(in.queue_entered_at_ms);
  out->set_step(in.step);
  out->set_state(in.state);
  out->set_offer_id(in.offer_id);
  out->set_agent_id(in.agent_id);
  out->set_offer_expires_ms(in.offer_expires_ms);
  out->set_connected_at_ms(in.connected_at_ms);
  for (const auto& x : in.excluded) out->add_excluded_agents(x);
  out->set_escalated_from(in.escalated_from);
  out->set_escalating_agent(in.escalating_agent);
  out->set_warm(in.warm);
  out->set_aging_key(in.aging_key);
  out->set_step_deadline_ms(in.step_deadline_ms);
  out->set_max_wait_deadline_ms(in.max_wait_deadline_ms);
  out->set_escalation_task(in.escalation_task);
  for (const Warning& w : in.warnings) {
    v1::CallerWarning* cw = out->add_warnings();
    cw->set_category(w.category);
    cw->set_agent_id(w.agent_id);
    cw->set_at_ms(w.at_ms);
  }
  for (const std::string& f : in.verified_factors) out->add_verified_factors(f);
  out->set_failed_verifications(in.failed_verifications);
  out->set_verified(in.verified);
}

void FillQueue(const QueueRt& q, v1::QueueState* out) {
  *out->mutable_config() = q.config;
  out->set_rr_last_order(q.rr_last_order);
  out->set_aht_ms(q.aht_ms);
  out->set_handled(q.handled);
  for (const auto& [key, cls] : q.classes) {
    if (!cls->indexed) continue;
    auto* ic = out->add_indexed_classes();
    ic->set_step(key.step);
    ic->set_requirement(key.requirement);
  }
}

}  // namespace

v1::RoutingSnapshot EngineImpl::Snapshot() const {
  v1::RoutingSnapshot s;
  s.set_tenant_id(tenant_id_);
  s.set_now_ms(now_ms_);
  s.set_config_version(config_version_);
  s.set_next_offer_seq(next_offer_seq_);
  s.set_next_order(next_order_);
  s.set_next_interaction_seq(next_interaction_seq_);
  for (const auto& id : recent_ids_) s.add_recent_command_ids(id);
  for (const auto& [id, q] : queues_) FillQueue(*q, s.add_queues());
  std::vector<const AgentRt*> agents;
  for (const auto& [id, a] : agents_) agents.push_back(a.get());
  std::sort(agents.begin(), agents.end(),
            [](const AgentRt* a, const AgentRt* b) { return a->order < b->order; });
  for (const AgentRt* a : agents) FillAgent(*a, s.add_agents());
  std::vector<const InteractionRt*> ins;
  for (const auto& [id, in] : interactions_) ins.push_back(in.get());
  std::sort(ins.begin(), ins.end(),
            [](const InteractionRt* a, const InteractionRt* b) { return a->seq < b->seq; });
  for (const InteractionRt* in : ins) FillInteraction(*in, s.add_interactions());
  return s;
}

absl::Status EngineImpl::Restore(const v1::RoutingSnapshot& s) {
  now_ms_ = s.now_ms();
  config_version_ = s.config_version();
  next_offer_seq_ = s.next_offer_seq();
  next_order_ = s.next_order();
  next_interaction_seq_ = s.next_interaction_seq();
  for (const auto& id : s.recent_command_ids()) {
    recent_ids_.push_back(id);
    recent_set_.insert(id);
  }
  // Queues first (references between queues were checked when they were configured).
  for (const auto& qs : s.queues()) {
    auto q = std::make_unique<QueueRt>();
    absl::Status st = BuildQueue(qs.config(), q.get(), /*check_refs=*/false);
    if (!st.ok()) return absl::DataLossError(absl::StrCat("snapshot queue: ", st.message()));
    q->rr_last_order = qs.rr_last_order();
    q->aht_ms = qs.aht_ms();
    q->handled = qs.handled();
    queues_.emplace(qs.config().queue_id(), std::move(q));
  }
  for (const auto& as : s.agents()) {
    auto a = std::make_unique<AgentRt>();
    SetProfile(a.get(), as.profile());
    a->order = as.order();
    a->presence = as.presence();
    a->reason = as.reason();
    a->pending_aux = as.pending_aux();
    a->pending_break_ms = as.pending_break_ms();
    a->idle_since_ms = as.idle_since_ms();
    a->busy_ms = as.busy_ms();
    a->handled = as.handled();
    a->break_until_ms = as.break_until_ms();
    const std::string& id = as.profile().agent_id();
    if (a->break_until_ms != 0)
      timers_.insert(TimerKey{a->break_until_ms, TimerKind::kBreakEnd, id, ""});
    for (const auto& ls : as.legs()) {
      Leg& leg = a->legs.emplace_back();
      leg.interaction_id = ls.interaction_id();
      leg.channel = ls.channel();
      leg.phase = ls.phase();
      leg.offer_id = ls.offer_id();
      leg.deadline_ms = ls.deadline_ms();
      leg.connected_at_ms = ls.connected_at_ms();
      leg.disposition = ls.disposition();
      leg.queue_id = ls.queue_id();
      if (!v1::Channel_IsValid(leg.channel)) return absl::DataLossError("snapshot leg channel");
      a->load[leg.channel]++;
      if (leg.phase == v1::LEG_PHASE_WRAP_UP && leg.deadline_ms != 0) {
        timers_.insert(TimerKey{leg.deadline_ms, TimerKind::kWrapUp, id, leg.interaction_id});
      }
    }
    AgentRt* raw = a.get();
    agents_.emplace(id, std::move(a));
    RecomputeMembership(raw);
  }
  for (const auto& is : s.interactions()) {
    auto in = std::make_unique<InteractionRt>();
    in->id = is.interaction_id();
    in->seq = is.seq();
    in->queue = FindQueue(is.queue_id());
    if (in->queue == nullptr) return absl::DataLossError("snapshot interaction without queue");
    in->channel = is.channel();
    in->priority = is.priority();
    in->attributes = is.attributes();
    in->requirement = is.requirement();
    in->preferred_agent_id = is.preferred_agent_id();
    in->preferred_until_ms = is.preferred_until_ms();
    in->enqueued_at_ms = is.enqueued_at_ms();
    in->queue_entered_at_ms = is.queue_entered_at_ms();
    in->step = is.step();
    in->state = is.state();
    in->offer_id = is.offer_id();
    in->agent_id = is.agent_id();
    in->offer_expires_ms = is.offer_expires_ms();
    in->connected_at_ms = is.connected_at_ms();
    in->excluded.assign(is.excluded_agents().begin(), is.excluded_agents().end());
    in->escalated_from = is.escalated_from();
    in->escalating_agent = is.escalating_agent();
    in->warm = is.warm();
    in->escalation_task = is.escalation_task();
    in->aging_key = is.aging_key();
    in->step_deadline_ms = is.step_deadline_ms();
    in->max_wait_deadline_ms = is.max_wait_deadline_ms();
    for (const v1::CallerWarning& w : is.warnings()) {
      in->warnings.push_back(Warning{w.category(), w.agent_id(), w.at_ms()});
    }
    in->verified_factors.assign(is.verified_factors().begin(), is.verified_factors().end());
    in->failed_verifications = is.failed_verifications();
    in->verified = is.verified();
    if (!expr::Expression::Parse(in->requirement).ok()) {
      return absl::DataLossError("snapshot interaction requirement does not parse");
    }
    const std::string& id = in->id;
    if (in->offer_expires_ms != 0) {
      timers_.insert(TimerKey{in->offer_expires_ms, TimerKind::kOfferTimeout, id, ""});
    }
    if (in->step_deadline_ms != 0)
      timers_.insert(TimerKey{in->step_deadline_ms, TimerKind::kStep, id, ""});
    if (in->max_wait_deadline_ms != 0) {
      timers_.insert(TimerKey{in->max_wait_deadline_ms, TimerKind::kMaxWait, id, ""});
    }
    if (in->preferred_until_ms != 0) {
      timers_.insert(TimerKey{in->preferred_until_ms, TimerKind::kPreferredExpiry, id, ""});
    }
    InteractionRt* raw = in.get();
    interactions_.emplace(id, std::move(in));
    if (raw->state == v1::INTERACTION_STATE_QUEUED) InsertWaiting(raw);
  }
  for (const auto& qs : s.queues()) {
    QueueRt* q = FindQueue(qs.config().queue_id());
    for (const auto& ic : qs.indexed_classes()) {
      if (!expr::Expression::Parse(ic.requirement()).ok()) {
        return absl::DataLossError("snapshot indexed class requirement does not parse");
      }
      ClassRt* cls = ClassFor(q, ic.step(), ic.requirement());
      if (!cls->indexed) IndexClass(cls);
    }
  }
  return CheckInvariants();
}

EngineStats EngineImpl::Stats() const {
  EngineStats st;
  st.queues = static_cast<int64_t>(queues_.size());
  st.agents = static_cast<int64_t>(agents_.size());
  for (const auto& [id, a] : agents_) st.agents_logged_in += a->logged_in() ? 1 : 0;
  st.interactions = static_cast<int64_t>(interactions_.size());
  for (const auto& [id, q] : queues_) st.waiting += static_cast<int64_t>(q->positions.size());
  for (const auto& [id, in] : interactions_) {
    st.offered += in->state == v1::INTERACTION_STATE_OFFERED ? 1 : 0;
    st.connected += in->state == v1::INTERACTION_STATE_CONNECTED ? 1 : 0;
  }
  st.timers = static_cast<int64_t>(timers_.size());
  return st;
}

std::optional<v1::InteractionRecord> EngineImpl::GetInteraction(const std::string& id) const {
  const InteractionRt* in = FindInteraction(id);
  if (in == nullptr) return std::nullopt;
  v1::InteractionRecord r;
  FillInteraction(*in, &r);
  return r;
}

std::optional<v1::AgentState> EngineImpl::GetAgent(const std::string& id) const {
  const AgentRt* a = FindAgent(id);
  if (a == nullptr) return std::nullopt;
  v1::AgentState r;
  FillAgent(*a, &r);
  return r;
}

std::optional<v1::QueueState> EngineImpl::GetQueue(const std::string& id) const {
  const QueueRt* q = FindQueue(id);
  if (q == nullptr) return std::nullopt;
  v1::QueueState r;
  FillQueue(*q, &r);
  return r;
}

int64_t EngineImpl::QueueWaiting(const std::string& id) const {
  const QueueRt* q = FindQueue(id);
  return q == nullptr ? 0 : static_cast<int64_t>(q->positions.size());
}

absl::Status EngineImpl::CheckInvariants() const {
  auto fail = [](auto&&... parts) { return absl::InternalError(absl::StrCat(parts...)); };
  size_t expected_timers = 0;
  for (const auto& [id, a] : agents_) {
    std::array<int, kChannelCount> load{};
    for (const Leg& leg : a->legs) {
      load[leg.channel]++;
      const InteractionRt* in = FindInteraction(leg.interaction_id);
      if (leg.phase == v1::LEG_PHASE_OFFERED) {
        if (in == nullptr || in->state != v1::INTERACTION_STATE_OFFERED || in->agent_id != id ||
            in->offer_id != leg.offer_id) {
          return fail("agent ", id, ": offered leg ", leg.interaction_id, " does not match");
        }
      } else if (leg.phase == v1::LEG_PHASE_CONNECTED) {
        if (in == nullptr || in->state != v1::INTERACTION_STATE_CONNECTED || in->agent_id != id) {
          return fail("agent ", id, ": connected leg ", leg.interaction_id, " does not match");
        }
      } else if (leg.phase == v1::LEG_PHASE_WRAP_UP) {
        if (in != nullptr && in->state == v1::INTERACTION_STATE_CONNECTED && in->agent_id == id) {
          return fail("agent ", id, ": wraps up ", leg.interaction_id, " still connected to it");
        }
        if (leg.deadline_ms != 0) {
          ++expected_timers;
          if (!timers_.contains(
                  TimerKey{leg.deadline_ms, TimerKind::kWrapUp, id, leg.interaction_id})) {
            return fail("agent ", id, ": wrap-up timer missing");
          }
        }
      } else {
        return fail("agent ", id, ": leg without phase");
      }
    }
    if (load != a->load) return fail("agent ", id, ": load counters differ from legs");
    if (!a->logged_in() && !a->legs.empty()) return fail("agent ", id, ": offline with legs");
    if (a->break_until_ms != 0) ++expected_timers;
    // Availability index.
    size_t entries = 0;
    for (QueueRt* q : a->member_of) {
      auto m = q->members.find(a->order);
      if (m == q->members.end() || m->second != a.get()) return fail("agent ", id, ": membership");
      const bool offerable = Offerable(*a, q->config.channel());
      auto it = q->available.find(StrategyKey(*q, *a));
      const bool indexed = it != q->available.end() && it->second == a.get();
      if (offerable != indexed) {
        return fail("agent ", id, ": availability index in queue ", q->config.queue_id(),
                    offerable ? " misses it" : " holds it wrongly (or with a stale key)");
      }
      entries += indexed ? 1 : 0;
    }
    size_t class_entries = 0;
    for (QueueRt* q : a->member_of) {
      if (!Offerable(*a, q->config.channel())) continue;
      for (ClassRt* cls : q->indexed_classes) {
        auto it = cls->available.find(StrategyKey(*q, *a));
        const bool indexed = it != cls->available.end() && it->second == a.get();
        if (indexed != Eligible(*cls, *a)) {
          return fail("agent ", id, ": class index of queue ", q->config.queue_id(), " is wrong");
        }
        class_entries += indexed ? 1 : 0;
      }
    }
    if (class_entries != a->class_available_in.size()) {
      return fail("agent ", id, ": stray class availability entries");
    }
    if (entries != a->available_in.size())
      return fail("agent ", id, ": stray availability entries");
  }
  for (const auto& [qid, q] : queues_) {
    int64_t logged_in = 0;
    for (const auto& [order, a] : q->members) {
      logged_in += a->logged_in() ? 1 : 0;
      if (std::find(a->member_of.begin(), a->member_of.end(), q.get()) == a->member_of.end()) {
        return fail("queue ", qid, ": member ", a->profile.agent_id(), " does not know it");
      }
    }
    if (logged_in != q->logged_in_members) return fail("queue ", qid, ": logged-in count");
    size_t in_classes = 0;
    for (const auto& [key, cls] : q->classes) {
      in_classes += cls->waiting.size();
      if (cls->waiting.empty() == q->nonempty.contains(cls.get())) {
        return fail("queue ", qid, ": non-empty class set");
      }
    }
    (void)in_classes;
  }
  std::map<const QueueRt*, size_t> queued;
  for (const auto& [id, in] : interactions_) {
    const QueueRt* q = in->queue;
    switch (in->state) {
      case v1::INTERACTION_STATE_QUEUED: {
        ++queued[q];
        if (q->positions.find(in->key()) == q->positions.end()) {
          return fail("interaction ", id, ": queued but has no position");
        }
        const bool in_class = in->cls != nullptr && in->cls->queue == q &&
                              in->cls->waiting.contains(in->key()) &&
                              in->cls->waiting.at(in->key()) == in.get();
        const bool held = in->held_by != nullptr &&
                          in->held_by->preferred_waiting.contains(in->seq) &&
                          in->held_by->preferred_waiting.at(in->seq) == in.get();
        if (in_class == held) return fail("interaction ", id, ": must be in one waiting list");
        if (!in->offer_id.empty() || !in->agent_id.empty()) {
          return fail("interaction ", id, ": queued with an agent");
        }
        break;
      }
      case v1::INTERACTION_STATE_OFFERED:
      case v1::INTERACTION_STATE_CONNECTED: {
        if (in->cls != nullptr || in->held_by != nullptr) {
          return fail("interaction ", id, ": offered/connected but still waiting");
        }
        const AgentRt* a = FindAgent(in->agent_id);
        bool has_leg = false;
        if (a != nullptr) {
          for (const Leg& leg : a->legs) has_leg = has_leg || leg.interaction_id == id;
        }
        if (!has_leg) return fail("interaction ", id, ": its agent has no leg for it");
        break;
      }
      default:
        return fail("interaction ", id, ": no state");
    }
    if (in->offer_expires_ms != 0) ++expected_timers;
    if (in->step_deadline_ms != 0) ++expected_timers;
    if (in->max_wait_deadline_ms != 0) ++expected_timers;
    if (in->preferred_until_ms != 0) ++expected_timers;
    if ((in->state == v1::INTERACTION_STATE_OFFERED) != (in->offer_expires_ms != 0)) {
      return fail("interaction ", id, ": offer timer");
    }
  }
  for (const auto& [qid, q] : queues_) {
    if (q->positions.size() != queued[q.get()]) return fail("queue ", qid, ": position count");
  }
  if (expected_timers != timers_.size()) {
    return fail("timers: ", timers_.size(), " pending but ", expected_timers, " expected");
  }
  return absl::OkStatus();
}

}  // namespace sb::routing
