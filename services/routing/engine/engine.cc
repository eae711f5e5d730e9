// The routing engine's command handlers and state transitions. See engine.h and docs/routing.md.

#include "routing/engine/engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "routing/engine/engine_impl.h"

namespace sb::routing {

// ---------------------------------------------------------------------------------------------
// Helpers

int64_t DurationMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}
void SetDurationMs(int64_t ms, google::protobuf::Duration* d) {
  d->set_seconds(ms / 1000);
  d->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}
void SetTimestampMs(int64_t ms, google::protobuf::Timestamp* t) {
  t->set_seconds(ms / 1000);
  t->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
}
int64_t TimestampMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}
bool ValidId(const std::string& id, size_t max_len) {
  if (id.empty() || id.size() > max_len) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@' || c == ':' || c == '/' || c == '~';
    if (!ok) return false;
  }
  return true;
}

bool InteractionRt::Excludes(const std::string& agent_id) const {
  return std::binary_search(excluded.begin(), excluded.end(), agent_id);
}

void InteractionRt::Exclude(const std::string& agent_id) {
  auto it = std::lower_bound(excluded.begin(), excluded.end(), agent_id);
  if (it == excluded.end() || *it != agent_id) excluded.insert(it, agent_id);
}

void InteractionRt::CopyVerificationFrom(const InteractionRt& from) {
  verified_factors = from.verified_factors;
  failed_verifications = from.failed_verifications;
  verified = from.verified;
}

bool Blocked(const InteractionRt& in, const AgentRt& agent) {
  for (const Leg& leg : agent.legs) {
    if (leg.interaction_id == in.id) return true;
  }
  return in.Excludes(agent.profile.agent_id());
}

// ---------------------------------------------------------------------------------------------
// Engine (the public facade)

Engine::Engine(std::string tenant_id, EngineOptions options)
    : impl_(std::make_unique<EngineImpl>(std::move(tenant_id), options)) {}
Engine::Engine(std::unique_ptr<EngineImpl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;
void Engine::Apply(const v1::RoutingCommand& command, std::vector<v1::RoutingEvent>* events) {
  impl_->Apply(command, events);
}
std::optional<int64_t> Engine::NextDeadlineMs() const { return impl_->NextDeadlineMs(); }
int64_t Engine::now_ms() const { return impl_->now_ms(); }
const std::string& Engine::tenant_id() const { return impl_->tenant_id(); }
v1::RoutingSnapshot Engine::Snapshot() const { return impl_->Snapshot(); }
absl::StatusOr<std::unique_ptr<Engine>> Engine::Restore(const v1::RoutingSnapshot& snapshot,
                                                        EngineOptions options) {
  auto impl = std::make_unique<EngineImpl>(snapshot.tenant_id(), options);
  absl::Status status = impl->Restore(snapshot);
  if (!status.ok()) return status;
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}
EngineStats Engine::Stats() const { return impl_->Stats(); }
std::optional<v1::InteractionRecord> Engine::GetInteraction(const std::string& id) const {
  return impl_->GetInteraction(id);
}
std::optional<v1::AgentState> Engine::GetAgent(const std::string& id) const {
  return impl_->GetAgent(id);
}
std::optional<v1::QueueState> Engine::GetQueue(const std::string& id) const {
  return impl_->GetQueue(id);
}
int64_t Engine::QueueWaiting(const std::string& id) const { return impl_->QueueWaiting(id); }
absl::Status Engine::CheckInvariants() const { return impl_->CheckInvariants(); }
std::optional<Rejection> Engine::Check(const v1::RoutingCommand& command) const {
  // A command id already applied: the engine will ignore the repeat, so a retry succeeds.
  if (!command.command_id().empty() && impl_->Seen(command.command_id())) return std::nullopt;
  switch (command.body_case()) {
    case v1::RoutingCommand::kEnqueue:
      return impl_->CheckEnqueue(command.enqueue());
    case v1::RoutingCommand::kCancel:
      if (!impl_->GetInteraction(command.cancel().interaction_id()).has_value()) {
        return Rejection{"NO_SUCH_INTERACTION", "interaction_id: no interaction '" +
                                                    command.cancel().interaction_id() + "'"};
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

// ---------------------------------------------------------------------------------------------
// EngineImpl: dispatch

EngineImpl::EngineImpl(std::string tenant_id, EngineOptions options)
    : tenant_id_(std::move(tenant_id)), options_(options) {}

QueueRt* EngineImpl::FindQueue(const std::string& id) const {
  auto it = queues_.find(id);
  return it == queues_.end() ? nullptr : it->second.get();
}
AgentRt* EngineImpl::FindAgent(const std::string& id) const {
  auto it = agents_.find(id);
  return it == agents_.end() ? nullptr : it->second.get();
}
InteractionRt* EngineImpl::FindInteraction(const std::string& id) const {
  auto it = interactions_.find(id);
  return it == interactions_.end() ? nullptr : it->second.get();
}

v1::RoutingEvent* EngineImpl::Emit() {
  v1::RoutingEvent& e = out_->emplace_back();
  e.set_command_id(command_->command_id());
  e.set_tenant_id(tenant_id_);
  SetTimestampMs(now_ms_, e.mutable_time());
  e.set_index(event_index_++);
  return &e;
}

void EngineImpl::Reject(const std::string& reason, const std::string& message) {
  rejected_ = true;
  v1::CommandRejected* r = Emit()->mutable_command_rejected();
  r->set_reason(reason);
  r->set_message(message);
  const auto* field = v1::RoutingCommand::descriptor()->FindFieldByNumber(command_->body_case());
  r->set_command(field != nullptr ? field->name() : "none");
}

void EngineImpl::Apply(const v1::RoutingCommand& command, std::vector<v1::RoutingEvent>* events) {
  // Idempotency: a repeated command id is ignored entirely (its effects are already in the log),
  // even its time.
  if (!command.command_id().empty() && recent_set_.contains(command.command_id())) return;
  command_ = &command;
  out_ = events;
  event_index_ = 0;
  rejected_ = false;
  const int64_t t = TimestampMs(command.time());
  if (t > now_ms_) now_ms_ = t;
  FireDueTimers();

  if (command.command_id().empty() || command.command_id().size() > 128) {
    Reject("INVALID_ARGUMENT", "command_id: required, at most 128 bytes");
  } else if (!command.tenant_id().empty() && command.tenant_id() != tenant_id_) {
    Reject("WRONG_TENANT", absl::StrCat("tenant_id: this domain is '", tenant_id_, "', not '",
                                        command.tenant_id(), "'"));
  } else {
    switch (command.body_case()) {
      case v1::RoutingCommand::kUpsertQueue:
        DoUpsertQueue(command.upsert_queue());
        break;
      case v1::RoutingCommand::kRemoveQueue:
        DoRemoveQueue(command.remove_queue());
        break;
      case v1::RoutingCommand::kUpsertAgent:
        DoUpsertAgent(command.upsert_agent());
        break;
      case v1::RoutingCommand::kRemoveAgent:
        DoRemoveAgent(command.remove_agent());
        break;
      case v1::RoutingCommand::kLogin:
        DoLogin(command.login());
        break;
      case v1::RoutingCommand::kLogout:
        DoLogout(command.logout());
        break;
      case v1::RoutingCommand::kSetPresence:
        DoSetPresence(command.set_presence());
        break;
      case v1::RoutingCommand::kEnqueue:
        DoEnqueue(command.enqueue());
        break;
      case v1::RoutingCommand::kCancel:
        DoCancel(command.cancel());
        break;
      case v1::RoutingCommand::kAcceptOffer:
        DoAccept(command.accept_offer());
        break;
      case v1::RoutingCommand::kRejectOffer:
        DoReject(command.reject_offer());
        break;
      case v1::RoutingCommand::kComplete:
        DoComplete(command.complete());
        break;
      case v1::RoutingCommand::kEndWrapUp:
        DoEndWrapUp(command.end_wrap_up());
        break;
      case v1::RoutingCommand::kTransfer:
        DoTransfer(command.transfer());
        break;
      case v1::RoutingCommand::kEscalate:
        DoEscalate(command.escalate());
        break;
      case v1::RoutingCommand::kAgentDisconnect:
        DoAgentDisconnect(command.agent_disconnect());
        break;
      case v1::RoutingCommand::kStartRecoveryBreak:
        DoStartRecoveryBreak(command.start_recovery_break());
        break;
      case v1::RoutingCommand::kWarnCaller:
        DoWarnCaller(command.warn_caller());
        break;
      case v1::RoutingCommand::kRecordVerification:
        DoRecordVerification(command.record_verification());
        break;
      case v1::RoutingCommand::kTick:
        break;  // timers already fired
      case v1::RoutingCommand::BODY_NOT_SET:
        Reject("INVALID_ARGUMENT", "body: the command has no body");
        break;
    }
  }

  // Only commands that took effect are remembered: a rejected one changed nothing, so a retry
  // (after the operator fixed what it referred to, say) is a fresh attempt.
  if (!command.command_id().empty() && !rejected_) {
    recent_ids_.push_back(command.command_id());
    recent_set_.insert(command.command_id());
    while (static_cast<int>(recent_ids_.size()) > options_.command_id_window) {
      recent_set_.erase(recent_ids_.front());
      recent_ids_.pop_front();
    }
  }
  command_ = nullptr;
  out_ = nullptr;
}

// ---------------------------------------------------------------------------------------------
// Timers

void EngineImpl::SetTimer(TimerKind kind, const std::string& id, const std::string& sub,
                          int64_t* slot, int64_t at) {
  ClearTimer(kind, id, sub, slot);
  *slot = at;
  timers_.insert(TimerKey{at, kind, id, sub});
}

void EngineImpl::ClearTimer(TimerKind kind, const std::string& id, const std::string& sub,
                            int64_t* slot) {
  if (*slot != 0) timers_.erase(TimerKey{*slot, kind, id, sub});
  *slot = 0;
}

std::optional<int64_t> EngineImpl::NextDeadlineMs() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->at;
}

void EngineImpl::FireDueTimers() {
  while (!timers_.empty() && timers_.begin()->at <= now_ms_) {
    TimerKey t = *timers_.begin();
    timers_.erase(timers_.begin());
    switch (t.kind) {
      case TimerKind::kOfferTimeout: {
        InteractionRt* in = FindInteraction(t.id);
        if (in != nullptr) {
          in->offer_expires_ms = 0;
          OnOfferTimeout(in);
        }
        break;
      }
      case TimerKind::kStep: {
        InteractionRt* in = FindInteraction(t.id);
        if (in != nullptr) {
          in->step_deadline_ms = 0;
          OnStep(in);
        }
        break;
      }
      case TimerKind::kMaxWait: {
        InteractionRt* in = FindInteraction(t.id);
        if (in != nullptr) {
          in->max_wait_deadline_ms = 0;
          OnMaxWait(in);
        }
        break;
      }
      case TimerKind::kPreferredExpiry: {
        InteractionRt* in = FindInteraction(t.id);
        if (in != nullptr) {
          in->preferred_until_ms = 0;
          OnPreferredExpiry(in);
        }
        break;
      }
      case TimerKind::kWrapUp: {
        AgentRt* agent = FindAgent(t.id);
        if (agent != nullptr) {
          Leg* leg = FindLeg(agent, t.sub);
          if (leg != nullptr) {
            leg->deadline_ms = 0;
            FinishWrapUp(agent, t.sub, leg->disposition, /*timed_out=*/true);
          }
        }
        break;
      }
      case TimerKind::kBreakEnd: {
        AgentRt* agent = FindAgent(t.id);
        if (agent != nullptr) {
          agent->break_until_ms = 0;
          OnBreakEnd(agent);
        }
        break;
      }
    }
  }
}

void EngineImpl::OnOfferTimeout(InteractionRt* in) {
  AgentRt* agent = FindAgent(in->agent_id);
  auto* e = Emit()->mutable_offer_timed_out();
  e->set_offer_id(in->offer_id);
  e->set_interaction_id(in->id);
  e->set_agent_id(in->agent_id);
  if (agent != nullptr) {
    RemoveLeg(agent, in->id);
    // Like a rejection, a missed offer is not made to the same agent again (DESIGN §2).
    in->Exclude(agent->profile.agent_id());
    // A missed offer means nobody is at the desk: stop offering until they say otherwise.
    agent->pending_aux.clear();
    agent->pending_break_ms = 0;
    SetPresence(agent, v1::PRESENCE_AUX, "not_responding");
  }
  in->state = v1::INTERACTION_STATE_QUEUED;
  in->offer_id.clear();
  in->agent_id.clear();
  EnterQueue(in, in->queue, "offer_timeout", /*new_queue=*/false);
}

void EngineImpl::OnStep(InteractionRt* in) {
  QueueRt* q = in->queue;
  const int waited = static_cast<int>(now_ms_ - in->queue_entered_at_ms);
  const int step = StepFor(*q, waited);
  if (in->state == v1::INTERACTION_STATE_QUEUED) {
    RemoveWaiting(in);
    in->step = step;
    InsertWaiting(in);
  } else {
    in->step = step;
  }
  // Next step timer.
  if (step + 1 < static_cast<int>(q->step_after_ms.size())) {
    SetTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms,
             in->queue_entered_at_ms + q->step_after_ms[step + 1]);
  }
  auto* e = Emit()->mutable_interaction_step_changed();
  e->set_interaction_id(in->id);
  e->set_queue_id(q->config.queue_id());
  e->set_step(step);
  std::string req = in->requirement;
  // A queue without configured steps has one implicit step with no requirement.
  const std::string step_req =
      step < q->config.steps_size() ? q->config.steps(step).requirement() : std::string();
  if (!step_req.empty())
    req = req.empty() ? step_req : absl::StrCat("(", req, ") && (", step_req, ")");
  e->set_requirement(req);
  if (in->state == v1::INTERACTION_STATE_QUEUED) TryMatchInteraction(in, "step_changed");
}

void EngineImpl::OnMaxWait(InteractionRt* in) {
  if (in->state != v1::INTERACTION_STATE_QUEUED) return;  // offered: the offer decides
  RemoveWaiting(in);
  Overflow(in, "max_wait");
}

void EngineImpl::Overflow(InteractionRt* in, const std::string& reason) {
  QueueRt* q = in->queue;
  auto* e = Emit()->mutable_interaction_overflowed();
  e->set_interaction_id(in->id);
  e->set_queue_id(q->config.queue_id());
  e->set_reason(reason);
  v1::OverflowAction action = q->config.overflow_action();
  if (action == v1::OVERFLOW_ACTION_UNSPECIFIED) action = v1::OVERFLOW_ACTION_DISCONNECT;
  e->set_action(action);
  if (action == v1::OVERFLOW_ACTION_QUEUE) {
    QueueRt* target = FindQueue(q->config.overflow_queue());
    if (target != nullptr && target->config.channel() == in->channel &&
        (target->config.max_size() == 0 ||
         static_cast<int64_t>(target->positions.size()) < target->config.max_size())) {
      e->set_target_queue_id(target->config.queue_id());
      EnterQueue(in, target, "overflow", /*new_queue=*/true);
      return;
    }
    e->set_action(v1::OVERFLOW_ACTION_DISCONNECT);  // nowhere to go
  }
  EndInteraction(in, v1::END_REASON_OVERFLOWED, "");
}

void EngineImpl::OnPreferredExpiry(InteractionRt* in) {
  if (in->state != v1::INTERACTION_STATE_QUEUED) return;
  RemoveWaiting(in);
  InsertWaiting(in);
  TryMatchInteraction(in, "preferred_expired");
}

void EngineImpl::OnBreakEnd(AgentRt* agent) {
  if (agent->presence == v1::PRESENCE_AUX && agent->reason == "recovery") {
    SetPresence(agent, v1::PRESENCE_AVAILABLE, "");
    TryMatchAgent(agent);
  }
}

// ---------------------------------------------------------------------------------------------
// Waiting interactions

int EngineImpl::StepFor(const QueueRt& q, int64_t waited_ms) const {
  int step = 0;
  for (size_t i = 0; i < q.step_after_ms.size(); ++i) {
    if (q.step_after_ms[i] <= waited_ms) step = static_cast<int>(i);
  }
  return step;
}

void EngineImpl::InsertWaiting(InteractionRt* in) {
  QueueRt* q = in->queue;
  q->positions.insert(in->key());
  // A preferred agent who rejected the interaction gives up the preference.
  if (!in->preferred_agent_id.empty() && in->preferred_until_ms > now_ms_ &&
      !in->Excludes(in->preferred_agent_id)) {
    AgentRt* agent = FindAgent(in->preferred_agent_id);
    if (agent != nullptr) {
      agent->preferred_waiting.emplace(in->seq, in);
      in->held_by = agent;
      return;
    }
  }
  ClassRt* cls = ClassFor(q, in->step, in->requirement);
  cls->waiting.emplace(in->key(), in);
  cls->queue->nonempty.insert(cls);
  in->cls = cls;
}

void EngineImpl::RemoveWaiting(InteractionRt* in) {
  QueueRt* q = in->queue;
  q->positions.erase(in->key());
  if (in->held_by != nullptr) {
    in->held_by->preferred_waiting.erase(in->seq);
    in->held_by = nullptr;
  }
  if (in->cls != nullptr) {
    ClassRt* cls = in->cls;
    cls->waiting.erase(in->key());
    in->cls = nullptr;
    if (cls->waiting.empty()) {
      q->nonempty.erase(cls);
      // An empty class holds nothing but caches, unless it is indexed (state: it shapes
      // explanations). Dropping the others keeps the class set a function of the state, so a
      // restored engine has the same classes.
      if (!cls->indexed) q->classes.erase(ClassKey{cls->step, cls->requirement_text});
    }
  }
}

void EngineImpl::EnterQueue(InteractionRt* in, QueueRt* q, const std::string& cause,
                            bool new_queue) {
  in->state = v1::INTERACTION_STATE_QUEUED;
  if (!new_queue && q->max_wait_ms > 0 && in->max_wait_deadline_ms == 0 &&
      now_ms_ >= in->queue_entered_at_ms + q->max_wait_ms) {
    // Its max wait passed while an agent was being offered it: that offer was its last chance.
    InsertWaiting(in);
    OnMaxWait(in);
    return;
  }
  if (new_queue) {
    in->queue = q;
    in->queue_entered_at_ms = now_ms_;
    in->step = 0;
    ClearTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms);
    ClearTimer(TimerKind::kMaxWait, in->id, "", &in->max_wait_deadline_ms);
    // Effective priority keeps growing from the first enqueue: overflow does not reset it.
    const int64_t base = q->config.priority() + in->priority;
    in->aging_key = base * kPriorityScale - q->aging * in->enqueued_at_ms;
    if (q->step_after_ms.size() > 1) {
      SetTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms,
               in->queue_entered_at_ms + q->step_after_ms[1]);
    }
    if (q->max_wait_ms > 0) {
      SetTimer(TimerKind::kMaxWait, in->id, "", &in->max_wait_deadline_ms,
               in->queue_entered_at_ms + q->max_wait_ms);
    }
  }
  InsertWaiting(in);

  auto* e = Emit()->mutable_interaction_queued();
  e->set_interaction_id(in->id);
  e->set_queue_id(q->config.queue_id());
  const int64_t position = static_cast<int64_t>(q->positions.order_of_key(in->key())) + 1;
  e->set_position(static_cast<int32_t>(position));
  const int64_t aht = q->handled > 0 ? q->aht_ms : 180000;
  const int64_t staffed = std::max<int64_t>(1, q->logged_in_members);
  SetDurationMs(position * aht / staffed, e->mutable_estimated_wait());
  e->set_step(in->step);
  e->set_effective_priority(EffectivePriority(*in) * 1000 / kPriorityScale);
  e->set_cause(cause);
  e->set_preferred_agent_id(in->held_by != nullptr ? in->preferred_agent_id : "");
  e->set_channel(in->channel);
  *e->mutable_attributes() = in->attributes;
  SetTimestampMs(in->enqueued_at_ms, e->mutable_enqueued_at());
  TryMatchInteraction(in, "interaction_arrived");
}

void EngineImpl::DeleteInteraction(InteractionRt* in) {
  ClearTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms);
  ClearTimer(TimerKind::kMaxWait, in->id, "", &in->max_wait_deadline_ms);
  ClearTimer(TimerKind::kOfferTimeout, in->id, "", &in->offer_expires_ms);
  ClearTimer(TimerKind::kPreferredExpiry, in->id, "", &in->preferred_until_ms);
  interactions_.erase(in->id);
}

void EngineImpl::EndInteraction(InteractionRt* in, v1::EndReason reason,
                                const std::string& disposition, const std::string& category,
                                const std::string& decision) {
  auto* e = Emit()->mutable_interaction_ended();
  e->set_interaction_id(in->id);
  e->set_queue_id(in->queue->config.queue_id());
  e->set_reason(reason);
  e->set_agent_id(in->state == v1::INTERACTION_STATE_CONNECTED ? in->agent_id : "");
  e->set_disposition(disposition);
  const int64_t answered_at = in->connected_at_ms != 0 ? in->connected_at_ms : now_ms_;
  SetDurationMs(answered_at - in->enqueued_at_ms, e->mutable_waited());
  if (in->connected_at_ms != 0) SetDurationMs(now_ms_ - in->connected_at_ms, e->mutable_handled());
  e->set_category(category);
  e->set_policy_decision_id(decision);
  // A warm escalation still looking for a supervisor follows its interaction out.
  if (!in->escalation_task.empty()) CancelEscalationTask(in);
  DeleteInteraction(in);
}

void EngineImpl::CancelEscalationTask(InteractionRt* original) {
  InteractionRt* task = FindInteraction(original->escalation_task);
  original->escalation_task.clear();
  if (task == nullptr) return;
  if (task->state == v1::INTERACTION_STATE_QUEUED) {
    RemoveWaiting(task);
    EndInteraction(task, v1::END_REASON_CANCELLED, "escalation_withdrawn");
  } else if (task->state == v1::INTERACTION_STATE_OFFERED) {
    AgentRt* agent = FindAgent(task->agent_id);
    RescindOffer(task, "escalation_withdrawn");
    EndInteraction(task, v1::END_REASON_CANCELLED, "escalation_withdrawn");
    if (agent != nullptr) TryMatchAgent(agent);
  }
}

void EngineImpl::RescindOffer(InteractionRt* in, const std::string& cause) {
  auto* e = Emit()->mutable_offer_rescinded();
  e->set_offer_id(in->offer_id);
  e->set_interaction_id(in->id);
  e->set_agent_id(in->agent_id);
  e->set_cause(cause);
  ClearTimer(TimerKind::kOfferTimeout, in->id, "", &in->offer_expires_ms);
  AgentRt* agent = FindAgent(in->agent_id);
  if (agent != nullptr) RemoveLeg(agent, in->id);
  in->offer_id.clear();
  in->agent_id.clear();
  in->state = v1::INTERACTION_STATE_QUEUED;  // the caller decides what happens next
}

// ---------------------------------------------------------------------------------------------
// Agent legs and presence

Leg* EngineImpl::FindLeg(AgentRt* agent, const std::string& interaction_id) {
  for (Leg& leg : agent->legs) {
    if (leg.interaction_id == interaction_id) return &leg;
  }
  return nullptr;
}

Leg* EngineImpl::FindOfferedLeg(AgentRt* agent, const std::string& offer_id) {
  for (Leg& leg : agent->legs) {
    if (leg.phase == v1::LEG_PHASE_OFFERED && leg.offer_id == offer_id) return &leg;
  }
  return nullptr;
}

void EngineImpl::RejectStaleOffer(const std::string& offer_id) {
  Reject("OFFER_EXPIRED", "offer_id: '" + offer_id +
                              "' is not pending for this agent (expired, withdrawn, answered or "
                              "never made)");
}

void EngineImpl::RemoveLeg(AgentRt* agent, const std::string& interaction_id) {
  for (auto it = agent->legs.begin(); it != agent->legs.end(); ++it) {
    if (it->interaction_id != interaction_id) continue;
    if (it->phase == v1::LEG_PHASE_WRAP_UP && it->deadline_ms != 0) {
      timers_.erase(
          TimerKey{it->deadline_ms, TimerKind::kWrapUp, agent->profile.agent_id(), interaction_id});
    }
    agent->load[it->channel]--;
    agent->legs.erase(it);
    AfterLegEnded(agent);
    return;
  }
}

void EngineImpl::AfterLegEnded(AgentRt* agent) {
  if (agent->legs.empty()) {
    agent->idle_since_ms = now_ms_;
    if (!agent->pending_aux.empty()) {
      const std::string reason = agent->pending_aux;
      const int64_t break_ms = agent->pending_break_ms;
      agent->pending_aux.clear();
      agent->pending_break_ms = 0;
      if (break_ms > 0) {
        SetTimer(TimerKind::kBreakEnd, agent->profile.agent_id(), "", &agent->break_until_ms,
                 now_ms_ + break_ms);
      }
      SetPresence(agent, v1::PRESENCE_AUX, reason, agent->break_until_ms);
      return;
    }
  }
  Reindex(agent);
}

void EngineImpl::SetPresence(AgentRt* agent, v1::Presence presence, const std::string& reason,
                             int64_t until_ms) {
  auto* e = Emit()->mutable_agent_state_changed();
  e->set_agent_id(agent->profile.agent_id());
  e->set_previous(agent->presence);
  e->set_previous_reason(agent->reason);
  e->set_presence(presence);
  e->set_reason(reason);
  e->set_pending_aux(agent->pending_aux);
  if (until_ms != 0) SetTimestampMs(until_ms, e->mutable_until());
  if (presence != v1::PRESENCE_AUX || reason != "recovery") {
    ClearTimer(TimerKind::kBreakEnd, agent->profile.agent_id(), "", &agent->break_until_ms);
  }
  const bool was_logged_in = agent->logged_in();
  agent->presence = presence;
  agent->reason = reason;
  if (was_logged_in != agent->logged_in()) {
    for (QueueRt* q : agent->member_of) q->logged_in_members += agent->logged_in() ? 1 : -1;
  }
  if (presence == v1::PRESENCE_AVAILABLE && agent->legs.empty()) agent->idle_since_ms = now_ms_;
  Reindex(agent);
}

void EngineImpl::EmitPendingAux(AgentRt* agent) {
  // Presence is unchanged; the event announces the break to come. No new offers meanwhile.
  auto* e = Emit()->mutable_agent_state_changed();
  e->set_agent_id(agent->profile.agent_id());
  e->set_presence(agent->presence);
  e->set_reason(agent->reason);
  e->set_previous(agent->presence);
  e->set_previous_reason(agent->reason);
  e->set_pending_aux(agent->pending_aux);
  Reindex(agent);
}

void EngineImpl::StartWrapUp(AgentRt* agent, const std::string& interaction_id,
                             const std::string& disposition) {
  Leg* leg = FindLeg(agent, interaction_id);
  if (leg == nullptr) return;
  QueueRt* q = FindQueue(leg->queue_id);
  if (leg->connected_at_ms != 0) {
    const int64_t handled = now_ms_ - leg->connected_at_ms;
    agent->busy_ms += handled;
    agent->handled++;
    if (q != nullptr) {
      q->aht_ms = q->handled == 0 ? handled : (q->aht_ms * 7 + handled) / 8;
      q->handled++;
    }
  }
  leg->phase = v1::LEG_PHASE_WRAP_UP;
  leg->disposition = disposition;
  Reindex(agent);  // the strategy keys (handle time, count) changed
  const int64_t wrap = q != nullptr ? q->wrap_up_ms : 0;
  auto* e = Emit()->mutable_wrap_up_started();
  e->set_agent_id(agent->profile.agent_id());
  e->set_interaction_id(leg->interaction_id);
  SetTimestampMs(now_ms_ + wrap, e->mutable_deadline());
  if (wrap == 0) {
    FinishWrapUp(agent, leg->interaction_id, disposition, /*timed_out=*/false);
    return;
  }
  SetTimer(TimerKind::kWrapUp, agent->profile.agent_id(), leg->interaction_id, &leg->deadline_ms,
           now_ms_ + wrap);
}

void EngineImpl::FinishWrapUp(AgentRt* agent, const std::string& interaction_id,
                              const std::string& disposition, bool timed_out) {
  auto* e = Emit()->mutable_wrap_up_ended();
  e->set_agent_id(agent->profile.agent_id());
  e->set_interaction_id(interaction_id);
  e->set_disposition(disposition);
  e->set_timed_out(timed_out);
  RemoveLeg(agent, interaction_id);
  TryMatchAgent(agent);
}

// ---------------------------------------------------------------------------------------------
// Agents

void EngineImpl::DoLogin(const v1::Login& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  if (agent->logged_in()) return Reject("ALREADY_LOGGED_IN", "agent_id: already logged in");
  v1::Presence p = c.presence() == v1::PRESENCE_UNSPECIFIED ? v1::PRESENCE_AVAILABLE : c.presence();
  if (p != v1::PRESENCE_AVAILABLE && p != v1::PRESENCE_AUX) {
    return Reject("INVALID_ARGUMENT", "presence: must be AVAILABLE or AUX");
  }
  if (p == v1::PRESENCE_AUX && (c.reason().empty() || c.reason().size() > 64)) {
    return Reject("INVALID_ARGUMENT", "reason: an AUX presence needs a reason code (1-64 bytes)");
  }
  agent->busy_ms = 0;
  agent->handled = 0;
  agent->idle_since_ms = now_ms_;
  SetPresence(agent, p, p == v1::PRESENCE_AUX ? c.reason() : "");
  TryMatchAgent(agent);
}

void EngineImpl::DoLogout(const v1::Logout& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  if (!agent->logged_in()) return Reject("AGENT_NOT_LOGGED_IN", "agent_id: not logged in");
  for (const Leg& leg : agent->legs) {
    if (leg.phase == v1::LEG_PHASE_CONNECTED) {
      return Reject("AGENT_BUSY", "agent_id: has a connected interaction '" + leg.interaction_id +
                                      "'; complete or transfer it first");
    }
    if (leg.phase == v1::LEG_PHASE_WRAP_UP && !c.force()) {
      return Reject("AGENT_IN_WRAP_UP", "agent_id: in wrap-up of '" + leg.interaction_id +
                                            "'; end it or log out with force");
    }
  }
  agent->pending_aux.clear();
  agent->pending_break_ms = 0;
  // Offers go back to their queues; wrap-ups end (force).
  // The agent goes offline before the offers are requeued, so they cannot come straight back.
  std::vector<Leg> legs = agent->legs;
  std::vector<InteractionRt*> requeue;
  for (const Leg& leg : legs) {
    if (leg.phase == v1::LEG_PHASE_OFFERED) {
      InteractionRt* in = FindInteraction(leg.interaction_id);
      if (in != nullptr) {
        RescindOffer(in, "agent_logged_out");
        requeue.push_back(in);
      }
    } else {
      auto* e = Emit()->mutable_wrap_up_ended();
      e->set_agent_id(agent->profile.agent_id());
      e->set_interaction_id(leg.interaction_id);
      e->set_disposition(leg.disposition);
      RemoveLeg(agent, leg.interaction_id);
    }
  }
  SetPresence(agent, v1::PRESENCE_OFFLINE, "");
  for (InteractionRt* in : requeue) EnterQueue(in, in->queue, "offer_rescinded", false);
}

void EngineImpl::DoSetPresence(const v1::SetPresence& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  if (!agent->logged_in()) return Reject("AGENT_NOT_LOGGED_IN", "agent_id: log in first");
  if (c.presence() == v1::PRESENCE_AVAILABLE) {
    agent->pending_aux.clear();
    agent->pending_break_ms = 0;
    SetPresence(agent, v1::PRESENCE_AVAILABLE, "");
    TryMatchAgent(agent);
    return;
  }
  if (c.presence() != v1::PRESENCE_AUX) {
    return Reject("INVALID_ARGUMENT",
                  "presence: must be AVAILABLE or AUX (use Logout to go offline)");
  }
  if (c.reason().empty() || c.reason().size() > 64) {
    return Reject("INVALID_ARGUMENT", "reason: an AUX presence needs a reason code (1-64 bytes)");
  }
  if (!agent->legs.empty()) {
    // Busy: the break starts when the last interaction (and its wrap-up) ends. No new offers.
    agent->pending_aux = c.reason();
    agent->pending_break_ms = 0;
    EmitPendingAux(agent);
    return;
  }
  SetPresence(agent, v1::PRESENCE_AUX, c.reason());
}

void EngineImpl::DoStartRecoveryBreak(const v1::StartRecoveryBreak& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  if (!agent->logged_in()) return Reject("AGENT_NOT_LOGGED_IN", "agent_id: log in first");
  const int64_t ms = DurationMs(c.duration());
  if (ms < 1000 || ms > 4 * 3600 * 1000) {
    return Reject("INVALID_ARGUMENT", "duration: must be between 1 s and 4 h");
  }
  if (!agent->legs.empty()) {
    agent->pending_aux = "recovery";
    agent->pending_break_ms = ms;
    EmitPendingAux(agent);
    return;
  }
  agent->pending_aux.clear();
  agent->pending_break_ms = 0;
  SetTimer(TimerKind::kBreakEnd, agent->profile.agent_id(), "", &agent->break_until_ms,
           now_ms_ + ms);
  SetPresence(agent, v1::PRESENCE_AUX, "recovery", agent->break_until_ms);
}

// ---------------------------------------------------------------------------------------------
// Interactions

std::optional<Rejection> EngineImpl::CheckEnqueue(const v1::Enqueue& c) const {
  if (!ValidId(c.interaction_id(), 128)) {
    return Rejection{"INVALID_ARGUMENT",
                     "interaction_id: 1-128 bytes of letters, digits and . _ - @ : / ~"};
  }
  if (FindInteraction(c.interaction_id()) != nullptr) {
    return Rejection{"DUPLICATE_INTERACTION",
                     "interaction_id: '" + c.interaction_id() + "' is already in the domain"};
  }
  QueueRt* q = FindQueue(c.queue_id());
  if (q == nullptr) return Rejection{"NO_SUCH_QUEUE", "queue_id: no queue '" + c.queue_id() + "'"};
  if (c.channel() != v1::CHANNEL_UNSPECIFIED && c.channel() != q->config.channel()) {
    return Rejection{"CHANNEL_MISMATCH", "channel: queue '" + c.queue_id() + "' serves " +
                                             v1::Channel_Name(q->config.channel())};
  }
  if (c.priority() < 0 || c.priority() > 100) {
    return Rejection{"INVALID_ARGUMENT", "priority: must be 0..100"};
  }
  if (c.attributes_size() > 64) return Rejection{"INVALID_ARGUMENT", "attributes: at most 64"};
  for (const auto& [k, v] : c.attributes()) {
    if (k.empty() || k.size() > 64 || v.size() > 1024) {
      return Rejection{"INVALID_ARGUMENT",
                       "attributes: keys 1-64 bytes, values at most 1024 bytes"};
    }
  }
  if (q->classes.find(ClassKey{0, c.requirement()}) == q->classes.end()) {
    auto parsed = expr::Expression::Parse(c.requirement());
    if (!parsed.ok()) {
      return Rejection{"BAD_EXPRESSION", "requirement: " + std::string(parsed.status().message())};
    }
  }
  if (!c.preferred_agent_id().empty() && FindAgent(c.preferred_agent_id()) == nullptr) {
    return Rejection{"NO_SUCH_AGENT",
                     "preferred_agent_id: no agent '" + c.preferred_agent_id() + "'"};
  }
  const int64_t pref_ms = DurationMs(c.preferred_timeout());
  if (pref_ms < 0 || pref_ms > 3600 * 1000) {
    return Rejection{"INVALID_ARGUMENT", "preferred_timeout: must be 0..1 h"};
  }

  return std::nullopt;
}

void EngineImpl::DoEnqueue(const v1::Enqueue& c) {
  if (auto r = CheckEnqueue(c); r.has_value()) return Reject(r->reason, r->message);
  QueueRt* q = FindQueue(c.queue_id());

  auto owned = std::make_unique<InteractionRt>();
  InteractionRt* in = owned.get();
  in->id = c.interaction_id();
  in->seq = next_interaction_seq_++;
  in->channel = q->config.channel();
  in->priority = c.priority();
  in->attributes = c.attributes();
  in->requirement = c.requirement();
  in->enqueued_at_ms = now_ms_;
  in->queue = q;
  interactions_.emplace(in->id, std::move(owned));

  if (q->config.max_size() > 0 &&
      static_cast<int64_t>(q->positions.size()) >= q->config.max_size()) {
    Overflow(in, "queue_full");
    return;
  }
  if (!c.preferred_agent_id().empty()) {
    const int64_t pref_ms = DurationMs(c.preferred_timeout());
    in->preferred_agent_id = c.preferred_agent_id();
    SetTimer(TimerKind::kPreferredExpiry, in->id, "", &in->preferred_until_ms,
             now_ms_ + (pref_ms > 0 ? pref_ms : 30000));
  }
  EnterQueue(in, q, "enqueued", /*new_queue=*/true);
}

void EngineImpl::DoCancel(const v1::Cancel& c) {
  InteractionRt* in = FindInteraction(c.interaction_id());
  if (in == nullptr) {
    return Reject("NO_SUCH_INTERACTION",
                  "interaction_id: no interaction '" + c.interaction_id() + "'");
  }
  if (c.reason() != v1::CANCEL_REASON_ABANDONED && c.reason() != v1::CANCEL_REASON_CANCELLED) {
    return Reject("INVALID_ARGUMENT", "reason: must be ABANDONED or CANCELLED");
  }
  const v1::EndReason reason = c.reason() == v1::CANCEL_REASON_ABANDONED ? v1::END_REASON_ABANDONED
                                                                         : v1::END_REASON_CANCELLED;
  switch (in->state) {
    case v1::INTERACTION_STATE_QUEUED:
      RemoveWaiting(in);
      EndInteraction(in, reason, "");
      return;
    case v1::INTERACTION_STATE_OFFERED: {
      AgentRt* agent = FindAgent(in->agent_id);
      RescindOffer(in, reason == v1::END_REASON_ABANDONED ? "abandoned" : "cancelled");
      EndInteraction(in, reason, "");
      if (agent != nullptr) TryMatchAgent(agent);
      return;
    }
    case v1::INTERACTION_STATE_CONNECTED: {
      // The caller hung up during the conversation: it completes, the agent wraps up.
      AgentRt* agent = FindAgent(in->agent_id);
      const std::string id = in->id;
      EndInteraction(in, v1::END_REASON_COMPLETED, "caller_hangup");
      if (agent != nullptr) StartWrapUp(agent, id, "caller_hangup");
      return;
    }
    default:
      return Reject("WRONG_STATE", "interaction is in no cancellable state");
  }
}

void EngineImpl::DoAccept(const v1::AcceptOffer& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  Leg* leg = FindOfferedLeg(agent, c.offer_id());
  if (leg == nullptr) return RejectStaleOffer(c.offer_id());
  InteractionRt* in = FindInteraction(leg->interaction_id);
  ClearTimer(TimerKind::kOfferTimeout, in->id, "", &in->offer_expires_ms);
  leg->phase = v1::LEG_PHASE_CONNECTED;
  leg->connected_at_ms = now_ms_;
  in->state = v1::INTERACTION_STATE_CONNECTED;
  in->connected_at_ms = now_ms_;
  // Answered: waiting-time rules (expansion steps, max wait) no longer apply.
  ClearTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms);
  ClearTimer(TimerKind::kMaxWait, in->id, "", &in->max_wait_deadline_ms);
  ClearTimer(TimerKind::kPreferredExpiry, in->id, "", &in->preferred_until_ms);
  auto* a = Emit()->mutable_offer_accepted();
  a->set_offer_id(c.offer_id());
  a->set_interaction_id(in->id);
  a->set_agent_id(agent->profile.agent_id());
  auto* e = Emit()->mutable_interaction_connected();
  e->set_interaction_id(in->id);
  e->set_agent_id(agent->profile.agent_id());
  e->set_queue_id(in->queue->config.queue_id());
  SetDurationMs(now_ms_ - in->enqueued_at_ms, e->mutable_waited());

  if (!in->escalated_from.empty()) {
    // A supervisor joined an escalation. Warm: the escalating agent now leaves.
    InteractionRt* original = FindInteraction(in->escalated_from);
    auto* j = Emit()->mutable_escalation_joined();
    j->set_interaction_id(in->escalated_from);
    j->set_task_id(in->id);
    j->set_supervisor_id(agent->profile.agent_id());
    if (original != nullptr && original->escalation_task == in->id) {
      original->escalation_task.clear();
      // The supervisor takes over the same conversation: the caller's warnings and identity
      // verification so far (recorded while the task waited, too) go with it.
      in->warnings = original->warnings;
      in->CopyVerificationFrom(*original);
      if (original->state == v1::INTERACTION_STATE_CONNECTED) {
        AgentRt* first = FindAgent(original->agent_id);
        j->set_released_agent_id(original->agent_id);
        const std::string original_id = original->id;
        EndInteraction(original, v1::END_REASON_ESCALATED, "escalated");
        if (first != nullptr) StartWrapUp(first, original_id, "escalated");
      }
    }
  }
}

void EngineImpl::DoReject(const v1::RejectOffer& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  Leg* leg = FindOfferedLeg(agent, c.offer_id());
  if (leg == nullptr) return RejectStaleOffer(c.offer_id());
  InteractionRt* in = FindInteraction(leg->interaction_id);
  auto* e = Emit()->mutable_offer_rejected();
  e->set_offer_id(c.offer_id());
  e->set_interaction_id(in->id);
  e->set_agent_id(agent->profile.agent_id());
  ClearTimer(TimerKind::kOfferTimeout, in->id, "", &in->offer_expires_ms);
  RemoveLeg(agent, in->id);
  in->Exclude(agent->profile.agent_id());
  in->offer_id.clear();
  in->agent_id.clear();
  EnterQueue(in, in->queue, "offer_rejected", /*new_queue=*/false);
  TryMatchAgent(agent);
}

void EngineImpl::DoComplete(const v1::Complete& c) {
  AgentRt* agent = ConnectedAgent(c.agent_id(), c.interaction_id());
  if (agent == nullptr) return;
  if (c.disposition().size() > 64)
    return Reject("INVALID_ARGUMENT", "disposition: at most 64 bytes");
  InteractionRt* in = FindInteraction(c.interaction_id());
  EndInteraction(in, v1::END_REASON_COMPLETED, c.disposition());
  StartWrapUp(agent, c.interaction_id(), c.disposition());
}

void EngineImpl::DoEndWrapUp(const v1::EndWrapUp& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  Leg* leg = FindLeg(agent, c.interaction_id());
  if (leg == nullptr || leg->phase != v1::LEG_PHASE_WRAP_UP) {
    return Reject("NOT_IN_WRAP_UP", "interaction_id: agent '" + c.agent_id() +
                                        "' is not wrapping up '" + c.interaction_id() + "'");
  }
  if (c.disposition().size() > 64)
    return Reject("INVALID_ARGUMENT", "disposition: at most 64 bytes");
  const std::string disposition = c.disposition().empty() ? leg->disposition : c.disposition();
  FinishWrapUp(agent, c.interaction_id(), disposition, /*timed_out=*/false);
}

void EngineImpl::DoTransfer(const v1::Transfer& c) {
  AgentRt* agent = ConnectedAgent(c.agent_id(), c.interaction_id());
  if (agent == nullptr) return;
  InteractionRt* in = FindInteraction(c.interaction_id());
  QueueRt* target = c.target_queue_id().empty() ? in->queue : FindQueue(c.target_queue_id());
  if (target == nullptr) {
    return Reject("NO_SUCH_QUEUE", "target_queue_id: no queue '" + c.target_queue_id() + "'");
  }
  if (target->config.channel() != in->channel) {
    return Reject("CHANNEL_MISMATCH", "target_queue_id: queue serves another channel");
  }
  AgentRt* target_agent = nullptr;
  if (!c.target_agent_id().empty()) {
    target_agent = FindAgent(c.target_agent_id());
    if (target_agent == nullptr) {
      return Reject("NO_SUCH_AGENT", "target_agent_id: no agent '" + c.target_agent_id() + "'");
    }
    if (target_agent == agent)
      return Reject("INVALID_ARGUMENT", "target_agent_id: is the agent itself");
  }
  const int64_t timeout = DurationMs(c.timeout());
  if (timeout < 0 || timeout > 3600 * 1000) return Reject("INVALID_ARGUMENT", "timeout: 0..1 h");
  if (!in->escalation_task.empty()) CancelEscalationTask(in);

  auto* e = Emit()->mutable_interaction_transferred();
  e->set_interaction_id(in->id);
  e->set_from_agent_id(agent->profile.agent_id());
  e->set_target_queue_id(target->config.queue_id());
  e->set_target_agent_id(c.target_agent_id());
  // In transit until EnterQueue: the wrap-up below may free the agent, who must not see it yet.
  in->state = v1::INTERACTION_STATE_UNSPECIFIED;
  in->agent_id.clear();
  in->offer_id.clear();
  in->connected_at_ms = 0;
  in->excluded.assign(1, agent->profile.agent_id());  // a transfer does not come back
  ClearTimer(TimerKind::kPreferredExpiry, in->id, "", &in->preferred_until_ms);
  in->preferred_agent_id.clear();
  if (target_agent != nullptr) {
    in->preferred_agent_id = target_agent->profile.agent_id();
    SetTimer(TimerKind::kPreferredExpiry, in->id, "", &in->preferred_until_ms,
             now_ms_ + (timeout > 0 ? timeout : 30000));
  }
  StartWrapUp(agent, in->id, "transferred");
  EnterQueue(in, target, "transferred", /*new_queue=*/true);
}

namespace {
std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}
}  // namespace

void EngineImpl::DoEscalate(const v1::Escalate& c) {
  AgentRt* agent = ConnectedAgent(c.agent_id(), c.interaction_id());
  if (agent == nullptr) return;
  InteractionRt* in = FindInteraction(c.interaction_id());
  if (!in->escalation_task.empty()) {
    return Reject("ALREADY_ESCALATED", "interaction_id: an escalation is already pending");
  }
  const std::string& queue_id =
      c.queue_id().empty() ? in->queue->config.escalation_queue() : c.queue_id();
  if (queue_id.empty()) {
    return Reject("NO_ESCALATION_QUEUE", "queue_id: none given and queue '" +
                                             in->queue->config.queue_id() +
                                             "' has no escalation_queue");
  }
  QueueRt* q = FindQueue(queue_id);
  if (q == nullptr) return Reject("NO_SUCH_QUEUE", "queue_id: no queue '" + queue_id + "'");
  if (q->config.channel() != in->channel) {
    return Reject("CHANNEL_MISMATCH", "queue_id: escalation queue serves another channel");
  }
  if (agent->profile.team().empty()) {
    return Reject("NO_TEAM", "agent_id: the agent has no team, so no supervisor to escalate to");
  }
  if (c.reason().size() > 256) return Reject("INVALID_ARGUMENT", "reason: at most 256 bytes");
  if (c.priority_boost() < 0 || c.priority_boost() > 100) {
    return Reject("INVALID_ARGUMENT", "priority_boost: 0..100");
  }

  auto owned = std::make_unique<InteractionRt>();
  InteractionRt* task = owned.get();
  task->seq = next_interaction_seq_++;
  task->id = absl::StrCat(in->id, "~esc", task->seq);
  task->channel = in->channel;
  task->priority =
      std::min(in->priority + (c.priority_boost() == 0 ? 50 : c.priority_boost()), 200);
  task->attributes = in->attributes;
  task->attributes["escalation_reason"] = c.reason();
  task->attributes["escalated_by"] = agent->profile.agent_id();
  task->attributes["escalated_from"] = in->id;
  task->requirement = "supervisor && team == " + Quote(agent->profile.team());
  task->enqueued_at_ms = now_ms_;
  task->escalated_from = in->id;
  task->escalating_agent = agent->profile.agent_id();
  task->warm = !c.cold();
  task->excluded.push_back(agent->profile.agent_id());  // never back to the escalating agent
  task->queue = q;
  // The same conversation: the caller's warnings and identity verification follow it.
  task->warnings = in->warnings;
  task->CopyVerificationFrom(*in);
  interactions_.emplace(task->id, std::move(owned));

  auto* e = Emit()->mutable_escalation_created();
  e->set_interaction_id(in->id);
  e->set_task_id(task->id);
  e->set_agent_id(agent->profile.agent_id());
  e->set_team(agent->profile.team());
  e->set_reason(c.reason());
  e->set_cold(c.cold());
  e->set_queue_id(q->config.queue_id());
  if (c.cold()) {
    EndInteraction(in, v1::END_REASON_ESCALATED, "escalated");
    StartWrapUp(agent, c.interaction_id(), "escalated");
  } else {
    in->escalation_task = task->id;
  }
  EnterQueue(task, q, "escalated", /*new_queue=*/true);
}

AgentRt* EngineImpl::ConnectedAgent(const std::string& agent_id,
                                    const std::string& interaction_id) {
  AgentRt* agent = FindAgent(agent_id);
  if (agent == nullptr) {
    Reject("NO_SUCH_AGENT", "agent_id: no agent '" + agent_id + "'");
    return nullptr;
  }
  Leg* leg = FindLeg(agent, interaction_id);
  if (leg == nullptr || leg->phase != v1::LEG_PHASE_CONNECTED) {
    Reject("NOT_CONNECTED",
           "interaction_id: '" + interaction_id + "' is not connected to agent '" + agent_id + "'");
    return nullptr;
  }
  return agent;
}

void EngineImpl::DoAgentDisconnect(const v1::AgentDisconnect& c) {
  AgentRt* agent = ConnectedAgent(c.agent_id(), c.interaction_id());
  if (agent == nullptr) return;
  if (c.category().empty() || c.category().size() > 64) {
    return Reject("INVALID_ARGUMENT", "category: required (1-64 bytes), e.g. racial_slur");
  }
  if (c.policy_decision_id().empty() || c.policy_decision_id().size() > 128) {
    return Reject("INVALID_ARGUMENT",
                  "policy_decision_id: required: the policy decision that allowed the disconnect");
  }
  InteractionRt* in = FindInteraction(c.interaction_id());
  const std::string disposition = "agent_disconnect:" + c.category();
  EndInteraction(in, v1::END_REASON_AGENT_DISCONNECTED, disposition, c.category(),
                 c.policy_decision_id());
  StartWrapUp(agent, c.interaction_id(), disposition);
}

void EngineImpl::DoWarnCaller(const v1::WarnCaller& c) {
  AgentRt* agent = ConnectedAgent(c.agent_id(), c.interaction_id());
  if (agent == nullptr) return;
  if (c.category().empty() || c.category().size() > 64) {
    return Reject("INVALID_ARGUMENT", "category: required (1-64 bytes), e.g. racial_slur");
  }
  InteractionRt* in = FindInteraction(c.interaction_id());
  if (in->warnings.size() >= kMaxWarningsPerInteraction) {
    return Reject("TOO_MANY_WARNINGS",
                  absl::StrCat("interaction_id: '", in->id, "' already has ",
                               kMaxWarningsPerInteraction, " warnings (the most per interaction)"));
  }
  in->warnings.push_back(Warning{c.category(), agent->profile.agent_id(), now_ms_});
  auto* e = Emit()->mutable_caller_warned();
  e->set_interaction_id(in->id);
  e->set_agent_id(agent->profile.agent_id());
  e->set_category(c.category());
  SetTimestampMs(now_ms_, e->mutable_at());
  e->set_warnings(static_cast<int32_t>(in->warnings.size()));
}

void EngineImpl::DoRecordVerification(const v1::RecordVerification& c) {
  AgentRt* agent = ConnectedAgent(c.agent_id(), c.interaction_id());
  if (agent == nullptr) return;
  if (c.factor().size() > 64 || (c.factor().empty() && !c.verified())) {
    return Reject("INVALID_ARGUMENT", "factor: required (1-64 bytes) unless verified is set");
  }
  InteractionRt* in = FindInteraction(c.interaction_id());
  const bool new_factor = c.passed() && !c.factor().empty() &&
                          std::find(in->verified_factors.begin(), in->verified_factors.end(),
                                    c.factor()) == in->verified_factors.end();
  if (new_factor && in->verified_factors.size() >= kMaxVerifiedFactorsPerInteraction) {
    return Reject("TOO_MANY_FACTORS", absl::StrCat("factor: '", in->id, "' already has ",
                                                   kMaxVerifiedFactorsPerInteraction,
                                                   " verified factors (the most per interaction)"));
  }
  if (new_factor) in->verified_factors.push_back(c.factor());
  if (!c.passed() && !c.factor().empty()) {
    in->failed_verifications = std::min(in->failed_verifications + 1, kMaxFailedVerifications);
  }
  if (c.verified()) in->verified = true;  // once verified, the caller stays verified
  auto* e = Emit()->mutable_verification_recorded();
  e->set_interaction_id(in->id);
  e->set_agent_id(agent->profile.agent_id());
  e->set_factor(c.factor());
  e->set_passed(c.passed());
  for (const std::string& f : in->verified_factors) e->add_factors_passed(f);
  e->set_failed_attempts(in->failed_verifications);
  e->set_verified(in->verified);
}

}  // namespace sb::routing
