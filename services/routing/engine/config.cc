// Queue and agent configuration: validation (every error names the field) and application.

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "routing/engine/engine_impl.h"

namespace sb::routing {
namespace {

bool ValidQueueId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  if (!((id[0] >= 'a' && id[0] <= 'z') || (id[0] >= '0' && id[0] <= '9'))) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status Invalid(const std::string& msg) { return absl::InvalidArgumentError(msg); }

}  // namespace

absl::Status EngineImpl::BuildQueue(const v1::Queue& c, QueueRt* q, bool check_refs) const {
  if (!ValidQueueId(c.queue_id())) {
    return Invalid("queue.queue_id: 1-64 of a-z 0-9 . _ - starting with a letter or digit");
  }
  if (c.name().size() > 256) return Invalid("queue.name: at most 256 bytes");
  if (c.channel() == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(c.channel())) {
    return Invalid("queue.channel: must be set (VOICE, CHAT, EMAIL, CALLBACK or TASK)");
  }
  if (c.priority() < 0 || c.priority() > 100) return Invalid("queue.priority: must be 0..100");
  if (c.has_service_level()) {
    if (c.service_level().target() <= 0 || c.service_level().target() > 1) {
      return Invalid("queue.service_level.target: must be in (0, 1], e.g. 0.8");
    }
    if (DurationMs(c.service_level().threshold()) <= 0) {
      return Invalid("queue.service_level.threshold: must be positive, e.g. 20s");
    }
  }
  if (c.strategy() == v1::STRATEGY_UNSPECIFIED || !v1::Strategy_IsValid(c.strategy())) {
    return Invalid(
        "queue.strategy: must be set (LONGEST_IDLE, MOST_SKILLED, LEAST_OCCUPIED, "
        "FEWEST_INTERACTIONS or ROUND_ROBIN)");
  }
  if (c.strategy() == v1::STRATEGY_MOST_SKILLED && c.skill().empty()) {
    return Invalid("queue.skill: MOST_SKILLED needs the skill to rank agents by");
  }
  auto membership = expr::Expression::Parse(c.membership());
  if (!membership.ok()) {
    return Invalid(absl::StrCat("queue.membership: ", membership.status().message()));
  }
  q->membership = *std::move(membership);
  if (c.steps_size() > 16) return Invalid("queue.steps: at most 16");
  int64_t last = -1;
  for (int i = 0; i < c.steps_size(); ++i) {
    const int64_t after = DurationMs(c.steps(i).after());
    if (i == 0 && after != 0) return Invalid("queue.steps[0].after: the first step starts at 0s");
    if (after <= last) return Invalid(absl::StrCat("queue.steps[", i, "].after: must increase"));
    last = after;
    auto req = expr::Expression::Parse(c.steps(i).requirement());
    if (!req.ok()) {
      return Invalid(absl::StrCat("queue.steps[", i, "].requirement: ", req.status().message()));
    }
    q->step_requirements.push_back(*std::move(req));
    q->step_after_ms.push_back(after);
  }
  if (c.steps_size() == 0) {
    q->step_requirements.emplace_back();
    q->step_after_ms.push_back(0);
  }
  const int64_t offer_timeout = DurationMs(c.offer_timeout());
  if (offer_timeout != 0 && (offer_timeout < 1000 || offer_timeout > 600000)) {
    return Invalid("queue.offer_timeout: must be 1s..10m (default 15s)");
  }
  q->offer_timeout_ms = offer_timeout == 0 ? 15000 : offer_timeout;
  q->wrap_up_ms = DurationMs(c.wrap_up());
  if (q->wrap_up_ms < 0 || q->wrap_up_ms > 3600000) return Invalid("queue.wrap_up: must be 0..1h");
  if (c.max_size() < 0) return Invalid("queue.max_size: must be >= 0 (0 = unbounded)");
  q->max_wait_ms = DurationMs(c.max_wait());
  if (q->max_wait_ms < 0 || q->max_wait_ms > 24 * 3600000) {
    return Invalid("queue.max_wait: must be 0..24h (0 = unbounded)");
  }
  if (!v1::OverflowAction_IsValid(c.overflow_action())) {
    return Invalid("queue.overflow_action: unknown value");
  }
  if (c.overflow_action() == v1::OVERFLOW_ACTION_QUEUE && !check_refs) {
    // Restoring a snapshot: references were checked when the queue was configured.
  } else if (c.overflow_action() == v1::OVERFLOW_ACTION_QUEUE) {
    if (c.overflow_queue() == c.queue_id()) {
      return Invalid("queue.overflow_queue: cannot overflow into itself");
    }
    QueueRt* target = FindQueue(c.overflow_queue());
    if (target == nullptr) {
      return Invalid("queue.overflow_queue: no queue '" + c.overflow_queue() + "'");
    }
    if (target->config.channel() != c.channel()) {
      return Invalid("queue.overflow_queue: serves another channel");
    }
  } else if (!c.overflow_queue().empty()) {
    return Invalid("queue.overflow_queue: only with overflow_action QUEUE");
  }
  if (c.aging_per_minute() < 0 || c.aging_per_minute() > 1000) {
    return Invalid("queue.aging_per_minute: must be 0..1000 (0 = default 1)");
  }
  q->aging = c.aging_per_minute() == 0 ? 1 : c.aging_per_minute();
  if (check_refs && !c.escalation_queue().empty() && c.escalation_queue() != c.queue_id() &&
      FindQueue(c.escalation_queue()) == nullptr) {
    return Invalid("queue.escalation_queue: no queue '" + c.escalation_queue() + "'");
  }
  q->config = c;
  return absl::OkStatus();
}

void EngineImpl::DoUpsertQueue(const v1::UpsertQueue& c) {
  QueueRt built;
  absl::Status status = BuildQueue(c.queue(), &built);
  if (!status.ok()) return Reject("INVALID_ARGUMENT", std::string(status.message()));
  const std::string& id = c.queue().queue_id();
  QueueRt* existing = FindQueue(id);
  if (existing != nullptr && existing->config.channel() != c.queue().channel()) {
    // Interactions and capacity are per channel; changing it under them would strand them.
    bool busy = false;
    for (auto& [iid, in] : interactions_) busy = busy || in->queue == existing;
    if (busy) return Reject("QUEUE_NOT_EMPTY", "queue.channel: cannot change while in use");
  }
  ++config_version_;
  QueueRt* q = existing;
  if (q == nullptr) {
    auto owned = std::make_unique<QueueRt>();
    q = owned.get();
    queues_.emplace(id, std::move(owned));
  }
  // Take the new configuration.
  q->config = std::move(built.config);
  q->membership = std::move(built.membership);
  q->step_requirements = std::move(built.step_requirements);
  q->step_after_ms = std::move(built.step_after_ms);
  q->offer_timeout_ms = built.offer_timeout_ms;
  q->wrap_up_ms = built.wrap_up_ms;
  q->max_wait_ms = built.max_wait_ms;
  q->aging = built.aging;

  // Waiting interactions: new step layout, priorities and timers. In arrival order.
  std::vector<InteractionRt*> waiting;
  for (auto& [iid, in] : interactions_) {
    if (in->queue == q && in->state == v1::INTERACTION_STATE_QUEUED) waiting.push_back(in.get());
  }
  std::sort(waiting.begin(), waiting.end(),
            [](const InteractionRt* a, const InteractionRt* b) { return a->seq < b->seq; });
  for (InteractionRt* in : waiting) RemoveWaiting(in);
  for (auto& [key, cls] : q->classes) DropClass(cls.get());
  q->classes.clear();
  q->nonempty.clear();
  q->indexed_classes.clear();
  for (InteractionRt* in : waiting) {
    in->step = StepFor(*q, now_ms_ - in->queue_entered_at_ms);
    in->aging_key =
        (q->config.priority() + in->priority) * kPriorityScale - q->aging * in->enqueued_at_ms;
    ClearTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms);
    if (in->step + 1 < static_cast<int>(q->step_after_ms.size())) {
      SetTimer(TimerKind::kStep, in->id, "", &in->step_deadline_ms,
               in->queue_entered_at_ms + q->step_after_ms[in->step + 1]);
    }
    ClearTimer(TimerKind::kMaxWait, in->id, "", &in->max_wait_deadline_ms);
    if (q->max_wait_ms > 0) {
      SetTimer(TimerKind::kMaxWait, in->id, "", &in->max_wait_deadline_ms,
               std::max(now_ms_, in->queue_entered_at_ms + q->max_wait_ms));
    }
    InsertWaiting(in);
  }
  // Members: every agent against the (possibly new) membership rule, in registration order.
  std::vector<AgentRt*> agents;
  for (auto& [aid, agent] : agents_) agents.push_back(agent.get());
  std::sort(agents.begin(), agents.end(),
            [](const AgentRt* a, const AgentRt* b) { return a->order < b->order; });
  for (AgentRt* agent : agents) RecomputeMembership(agent);
  auto* e = Emit()->mutable_queue_upserted();
  *e->mutable_queue() = q->config;
  e->set_config_version(config_version_);
  e->set_members(static_cast<int32_t>(q->members.size()));
  TryMatchQueueAgents(q);
}

void EngineImpl::DoRemoveQueue(const v1::RemoveQueue& c) {
  QueueRt* q = FindQueue(c.queue_id());
  if (q == nullptr) return Reject("NO_SUCH_QUEUE", "queue_id: no queue '" + c.queue_id() + "'");
  for (auto& [iid, in] : interactions_) {
    if (in->queue == q) {
      return Reject("QUEUE_NOT_EMPTY",
                    "queue_id: interactions are still in the queue; drain or cancel them first");
    }
  }
  for (auto& [qid, other] : queues_) {
    if (other.get() == q) continue;
    if (other->config.overflow_queue() == c.queue_id() ||
        other->config.escalation_queue() == c.queue_id()) {
      return Reject("QUEUE_IN_USE", "queue_id: queue '" + qid +
                                        "' overflows or escalates into it; change that first");
    }
  }
  ++config_version_;
  for (auto& [order, agent] : q->members) {
    auto& m = agent->member_of;
    m.erase(std::remove(m.begin(), m.end(), q), m.end());
    Reindex(agent);
  }
  for (auto& [key, cls] : q->classes) DropClass(cls.get());
  auto* e = Emit()->mutable_queue_removed();
  e->set_queue_id(c.queue_id());
  e->set_config_version(config_version_);
  queues_.erase(c.queue_id());
}

absl::Status EngineImpl::ValidateProfile(const v1::AgentProfile& p) const {
  if (!ValidId(p.agent_id(), 128)) {
    return Invalid("profile.agent_id: 1-128 bytes of letters, digits and . _ - @ : / ~");
  }
  if (p.name().size() > 256) return Invalid("profile.name: at most 256 bytes");
  if (p.skills_size() > 256) return Invalid("profile.skills: at most 256");
  std::vector<std::string> names;
  for (int i = 0; i < p.skills_size(); ++i) {
    const auto& s = p.skills(i);
    if (s.name().empty() || s.name().size() > 64) {
      return Invalid(absl::StrCat("profile.skills[", i, "].name: 1-64 bytes"));
    }
    if (s.proficiency() < 1 || s.proficiency() > 5) {
      return Invalid(absl::StrCat("profile.skills[", i, "].proficiency: must be 1..5"));
    }
    names.push_back(s.name());
  }
  std::sort(names.begin(), names.end());
  if (std::adjacent_find(names.begin(), names.end()) != names.end()) {
    return Invalid("profile.skills: a skill is listed twice");
  }
  if (p.attributes_size() > 64) return Invalid("profile.attributes: at most 64");
  for (const auto& [k, v] : p.attributes()) {
    if (k.empty() || k.size() > 64 || v.size() > 1024) {
      return Invalid("profile.attributes: keys 1-64 bytes, values at most 1024 bytes");
    }
  }
  if (p.team().size() > 64) return Invalid("profile.team: at most 64 bytes");
  for (int i = 0; i < p.capacity_size(); ++i) {
    const auto& c = p.capacity(i);
    if (c.channel() == v1::CHANNEL_UNSPECIFIED || !v1::Channel_IsValid(c.channel())) {
      return Invalid(absl::StrCat("profile.capacity[", i, "].channel: must be set"));
    }
    if (c.capacity() < 0 || c.capacity() > 32) {
      return Invalid(absl::StrCat("profile.capacity[", i, "].capacity: must be 0..32"));
    }
    for (int j = 0; j < i; ++j) {
      if (p.capacity(j).channel() == c.channel()) {
        return Invalid(absl::StrCat("profile.capacity[", i, "].channel: listed twice"));
      }
    }
  }
  return absl::OkStatus();
}

void EngineImpl::SetProfile(AgentRt* agent, const v1::AgentProfile& p) {
  agent->profile = p;
  agent->eligible_cache.clear();
  agent->skills.clear();
  for (const auto& s : p.skills()) agent->skills[s.name()] = s.proficiency();
  agent->capacity.fill(0);
  if (p.capacity_size() == 0) {
    agent->capacity[v1::CHANNEL_VOICE] = 1;
  } else {
    for (const auto& c : p.capacity()) agent->capacity[c.channel()] = c.capacity();
  }
}

void EngineImpl::DoUpsertAgent(const v1::UpsertAgent& c) {
  absl::Status status = ValidateProfile(c.profile());
  if (!status.ok()) return Reject("INVALID_ARGUMENT", std::string(status.message()));
  ++config_version_;
  AgentRt* agent = FindAgent(c.profile().agent_id());
  if (agent == nullptr) {
    auto owned = std::make_unique<AgentRt>();
    agent = owned.get();
    agent->order = next_order_++;
    agents_.emplace(c.profile().agent_id(), std::move(owned));
  }
  SetProfile(agent, c.profile());
  RecomputeMembership(agent);
  auto* e = Emit()->mutable_agent_upserted();
  *e->mutable_profile() = agent->profile;
  e->set_config_version(config_version_);
  for (QueueRt* q : agent->member_of) e->add_queues(q->config.queue_id());
  TryMatchAgent(agent);
}

void EngineImpl::DoRemoveAgent(const v1::RemoveAgent& c) {
  AgentRt* agent = FindAgent(c.agent_id());
  if (agent == nullptr) return Reject("NO_SUCH_AGENT", "agent_id: no agent '" + c.agent_id() + "'");
  if (agent->logged_in() || !agent->legs.empty()) {
    return Reject("AGENT_LOGGED_IN", "agent_id: log the agent out first");
  }
  ++config_version_;
  for (QueueRt* q : agent->member_of) q->members.erase(agent->order);
  agent->member_of.clear();
  Reindex(agent);
  // Interactions waiting for this agent in particular fall back to their queues.
  std::vector<InteractionRt*> held;
  for (auto& [seq, in] : agent->preferred_waiting) held.push_back(in);
  for (InteractionRt* in : held) {
    RemoveWaiting(in);
    ClearTimer(TimerKind::kPreferredExpiry, in->id, "", &in->preferred_until_ms);
  }
  const std::string id = c.agent_id();
  auto* e = Emit()->mutable_agent_removed();
  e->set_agent_id(id);
  e->set_config_version(config_version_);
  agents_.erase(id);
  for (InteractionRt* in : held) {
    InsertWaiting(in);
    TryMatchInteraction(in, "preferred_expired");
  }
}

}  // namespace sb::routing
