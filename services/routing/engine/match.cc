// Matching: the indexes of available agents and waiting interactions, and the two directions of
// a routing decision. Every choice is made by a total order (strategy key or effective priority,
// then arrival, then registration order), so the result never depends on container iteration.

#include "absl/strings/match.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "routing/engine/engine_impl.h"

namespace sb::routing {
namespace {

// Exposes an agent to the expression language: skills.<name> (proficiency, 0 if absent), team,
// supervisor, agent_id, name, and attributes as <key> or attributes.<key> (a value with commas
// is a list: language: "es,en" makes `"es" in language` true).
class AgentEnv : public expr::Env {
 public:
  explicit AgentEnv(const AgentRt& agent) : agent_(agent) {}
  expr::Value Lookup(std::string_view path) const override {
    if (path.starts_with("skills.")) {
      std::string_view name = path.substr(7);
      // Debian's abseil has its own string_view type.
      auto it = agent_.skills.find(absl::string_view(name.data(), name.size()));
      return expr::Value::Number(it == agent_.skills.end() ? 0 : it->second);
    }
    if (path == "team") return expr::Value::String(agent_.profile.team());
    if (path == "supervisor") return expr::Value::Bool(agent_.profile.supervisor());
    if (path == "agent_id") return expr::Value::String(agent_.profile.agent_id());
    if (path == "name") return expr::Value::String(agent_.profile.name());
    if (path.starts_with("attributes.")) path = path.substr(11);
    auto it = agent_.profile.attributes().find(std::string(path));
    if (it == agent_.profile.attributes().end()) return expr::Value::Null();
    if (it->second.find(',') != std::string::npos) {
      std::vector<std::string> items = absl::StrSplit(it->second, ',', absl::SkipEmpty());
      for (auto& s : items) s = std::string(absl::StripAsciiWhitespace(s));  // " en" -> "en"
      return expr::Value::List(std::move(items));
    }
    return expr::Value::String(it->second);
  }

 private:
  const AgentRt& agent_;
};

}  // namespace

bool EngineImpl::Offerable(const AgentRt& agent, v1::Channel channel) const {
  return agent.presence == v1::PRESENCE_AVAILABLE && agent.pending_aux.empty() &&
         agent.load[channel] < agent.capacity[channel];
}

AvailKey EngineImpl::StrategyKey(const QueueRt& q, const AgentRt& agent) const {
  switch (q.config.strategy()) {
    case v1::STRATEGY_MOST_SKILLED: {
      auto it = agent.skills.find(q.config.skill());
      return {-(it == agent.skills.end() ? 0 : it->second), agent.idle_since_ms, agent.order};
    }
    case v1::STRATEGY_LEAST_OCCUPIED:
      return {agent.busy_ms, agent.idle_since_ms, agent.order};
    case v1::STRATEGY_FEWEST_INTERACTIONS:
      return {agent.handled, agent.idle_since_ms, agent.order};
    case v1::STRATEGY_ROUND_ROBIN:
      return {0, 0, agent.order};
    default:
      return {agent.idle_since_ms, 0, agent.order};
  }
}

double EngineImpl::StrategyScore(const QueueRt& q, const AgentRt& agent) const {
  switch (q.config.strategy()) {
    case v1::STRATEGY_MOST_SKILLED: {
      auto it = agent.skills.find(q.config.skill());
      return it == agent.skills.end() ? 0 : it->second;
    }
    case v1::STRATEGY_LEAST_OCCUPIED:
      return static_cast<double>(agent.busy_ms) / 1000.0;
    case v1::STRATEGY_FEWEST_INTERACTIONS:
      return static_cast<double>(agent.handled);
    case v1::STRATEGY_ROUND_ROBIN:
      return static_cast<double>(agent.order);
    default:
      return static_cast<double>(now_ms_ - agent.idle_since_ms) / 1000.0;
  }
}

int64_t EngineImpl::EffectivePriority(const InteractionRt& in) const {
  return in.aging_key + in.queue->aging * now_ms_;
}

void EngineImpl::Reindex(AgentRt* agent) {
  for (auto& [q, key] : agent->available_in) q->available.erase(key);
  agent->available_in.clear();
  for (auto& [cls, key] : agent->class_available_in) cls->available.erase(key);
  agent->class_available_in.clear();
  for (QueueRt* q : agent->member_of) {
    if (!Offerable(*agent, q->config.channel())) continue;
    AvailKey key = StrategyKey(*q, *agent);
    q->available.emplace(key, agent);
    agent->available_in.emplace_back(q, key);
    for (ClassRt* cls : q->indexed_classes) {
      if (!Eligible(*cls, *agent)) continue;
      cls->available.emplace(key, agent);
      agent->class_available_in.emplace_back(cls, key);
    }
  }
}

void EngineImpl::IndexClass(ClassRt* cls) {
  cls->indexed = true;
  cls->queue->indexed_classes.push_back(cls);
  for (auto& [key, agent] : cls->queue->available) {
    if (!Eligible(*cls, *agent)) continue;
    cls->available.emplace(key, agent);
    agent->class_available_in.emplace_back(cls, key);
  }
}

void EngineImpl::DropClass(ClassRt* cls) {
  for (auto& [key, agent] : cls->available) {
    auto& v = agent->class_available_in;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const auto& e) { return e.first == cls; }),
            v.end());
  }
  cls->available.clear();
  if (cls->indexed) {
    auto& v = cls->queue->indexed_classes;
    v.erase(std::remove(v.begin(), v.end(), cls), v.end());
  }
}

void EngineImpl::RecomputeMembership(AgentRt* agent) {
  AgentEnv env(*agent);
  std::vector<QueueRt*> next;
  for (auto& [id, q] : queues_) {
    if (q->membership.Matches(env)) next.push_back(q.get());
  }
  for (QueueRt* q : agent->member_of) {
    if (std::find(next.begin(), next.end(), q) == next.end()) {
      q->members.erase(agent->order);
      if (agent->logged_in()) q->logged_in_members--;
    }
  }
  for (QueueRt* q : next) {
    if (std::find(agent->member_of.begin(), agent->member_of.end(), q) == agent->member_of.end()) {
      q->members.emplace(agent->order, agent);
      if (agent->logged_in()) q->logged_in_members++;
    }
  }
  agent->member_of = std::move(next);
  Reindex(agent);
}

bool EngineImpl::EligibleUncached(const QueueRt& q, int step, const expr::Expression& requirement,
                                  const AgentRt& agent) const {
  AgentEnv env(agent);
  if (!requirement.Matches(env)) return false;
  if (step < static_cast<int>(q.step_requirements.size()) &&
      !q.step_requirements[step].Matches(env)) {
    return false;
  }
  return true;
}

bool EngineImpl::Eligible(const ClassRt& cls, const AgentRt& agent) const {
  for (const auto& [id, ok] : agent.eligible_cache) {
    if (id == cls.id) return ok;
  }
  const bool ok = EligibleUncached(*cls.queue, cls.step, cls.requirement, agent);
  if (agent.eligible_cache.size() >= 256) agent.eligible_cache.clear();  // stale ids pile up
  agent.eligible_cache.emplace_back(cls.id, ok);
  return ok;
}

ClassRt* EngineImpl::ClassFor(QueueRt* q, int step, const std::string& requirement) {
  ClassKey key{step, requirement};
  auto it = q->classes.find(key);
  if (it != q->classes.end()) return it->second.get();
  auto cls = std::make_unique<ClassRt>();
  cls->id = next_class_id_++;
  cls->queue = q;
  cls->step = step;
  cls->requirement_text = requirement;
  auto parsed = expr::Expression::Parse(requirement);
  // Requirements are validated on enqueue; a failure here is a bug, not bad input.
  if (!parsed.ok()) std::abort();
  cls->requirement = *std::move(parsed);
  ClassRt* raw = cls.get();
  q->classes.emplace(std::move(key), std::move(cls));
  return raw;
}

void EngineImpl::MakeOffer(InteractionRt* in, AgentRt* agent, v1::Explanation explanation) {
  QueueRt* q = in->queue;
  RemoveWaiting(in);
  const std::string offer_id = absl::StrCat("o", next_offer_seq_++);
  in->state = v1::INTERACTION_STATE_OFFERED;
  in->offer_id = offer_id;
  in->agent_id = agent->profile.agent_id();
  Leg& leg = agent->legs.emplace_back();
  leg.interaction_id = in->id;
  leg.channel = in->channel;
  leg.phase = v1::LEG_PHASE_OFFERED;
  leg.offer_id = offer_id;
  leg.deadline_ms = now_ms_ + q->offer_timeout_ms;
  leg.queue_id = q->config.queue_id();
  agent->load[in->channel]++;
  SetTimer(TimerKind::kOfferTimeout, in->id, "", &in->offer_expires_ms, leg.deadline_ms);
  if (q->config.strategy() == v1::STRATEGY_ROUND_ROBIN) q->rr_last_order = agent->order;
  Reindex(agent);

  explanation.set_config_version(config_version_);
  auto* e = Emit()->mutable_offer_created();
  e->set_offer_id(offer_id);
  e->set_interaction_id(in->id);
  e->set_agent_id(agent->profile.agent_id());
  e->set_queue_id(q->config.queue_id());
  SetTimestampMs(leg.deadline_ms, e->mutable_expires_at());
  SetDurationMs(now_ms_ - in->enqueued_at_ms, e->mutable_waited());
  *e->mutable_explanation() = std::move(explanation);
  e->set_channel(in->channel);
  *e->mutable_attributes() = in->attributes;
  e->set_escalated_from(in->escalated_from);
}

// --- An interaction looks for an agent ----------------------------------------------------------

void EngineImpl::TryMatchInteraction(InteractionRt* in, const std::string& trigger) {
  if (in->state != v1::INTERACTION_STATE_QUEUED) return;
  v1::Explanation ex;
  ex.set_trigger(trigger);
  ex.set_strategy(in->queue->config.strategy());
  ex.set_step(in->step);
  ex.set_requirement(in->requirement);
  if (in->held_by != nullptr) {
    AgentRt* agent = in->held_by;
    if (!Offerable(*agent, in->channel) || Blocked(*in, *agent)) return;  // waits for it
    ex.set_preferred_agent(true);
    ex.set_examined(1);
    auto* c = ex.add_top();
    c->set_agent_id(agent->profile.agent_id());
    MakeOffer(in, agent, std::move(ex));
    return;
  }
  AgentRt* chosen = nullptr;
  const bool found = options_.matcher == MatcherKind::kIndexed ? FindAgentIndexed(in, &ex, &chosen)
                                                               : FindAgentNaive(in, &ex, &chosen);
  if (found) MakeOffer(in, chosen, std::move(ex));
}

bool EngineImpl::FindAgentIndexed(InteractionRt* in, v1::Explanation* ex, AgentRt** chosen) {
  QueueRt* q = in->queue;
  ClassRt* cls = in->cls;
  ex->set_members(static_cast<int32_t>(q->members.size()));
  ex->set_available(static_cast<int32_t>(q->available.size()));
  if (q->available.empty()) return false;
  // A selective class walks its own index: everyone in it satisfies the requirement.
  const AvailableSet& candidates = cls->indexed ? cls->available : q->available;
  int examined = 0, filtered_req = 0, filtered_excl = 0, found_at = -1;
  if (cls->indexed) filtered_req = static_cast<int>(q->available.size() - cls->available.size());
  auto visit = [&](const AvailKey& key, AgentRt* agent) {
    ++examined;
    if (Blocked(*in, *agent)) {
      ++filtered_excl;
      return true;
    }
    if (!cls->indexed && !Eligible(*cls, *agent)) {
      ++filtered_req;
      return true;
    }
    auto* c = ex->add_top();
    c->set_agent_id(agent->profile.agent_id());
    c->set_score(StrategyScore(*q, *agent));
    if (*chosen == nullptr) {
      *chosen = agent;
      found_at = examined;
    }
    // Explain with up to 3 candidates, but spend at most 3 extra looks on it: each look at a
    // cold agent record is a cache miss, and in a large domain they dominate the cost.
    return ex->top_size() < 3 && examined < found_at + 4;
  };
  if (q->config.strategy() == v1::STRATEGY_ROUND_ROBIN) {
    auto start = candidates.lower_bound(AvailKey{0, 0, q->rr_last_order + 1});
    bool go = true;
    for (auto it = start; go && it != candidates.end(); ++it) go = visit(it->first, it->second);
    for (auto it = candidates.begin(); go && it != start; ++it) go = visit(it->first, it->second);
  } else {
    for (auto it = candidates.begin(); it != candidates.end(); ++it) {
      if (!visit(it->first, it->second)) break;
    }
  }
  ex->set_examined(examined);
  ex->set_filtered_requirement(filtered_req);
  ex->set_filtered_excluded(filtered_excl);
  // Arrivals of this class skip many members: from now on keep an index of those who qualify.
  if (!cls->indexed && filtered_req > kIndexClassAfterSkips &&
      q->indexed_classes.size() < kMaxIndexedClassesPerQueue) {
    IndexClass(cls);
  }
  return *chosen != nullptr;
}

bool EngineImpl::FindAgentNaive(InteractionRt* in, v1::Explanation* ex, AgentRt** chosen) {
  // The reference: look at every agent of the domain, evaluate every rule, keep the best.
  QueueRt* q = in->queue;
  const bool rr = q->config.strategy() == v1::STRATEGY_ROUND_ROBIN;
  int members = 0, available = 0, filtered_req = 0, filtered_excl = 0;
  std::vector<std::pair<std::pair<bool, AvailKey>, AgentRt*>> eligible;
  for (auto& [id, owned] : agents_) {
    AgentRt* agent = owned.get();
    AgentEnv env(*agent);
    if (!q->membership.Matches(env)) continue;
    ++members;
    if (!Offerable(*agent, q->config.channel())) continue;
    ++available;
    if (Blocked(*in, *agent)) {
      ++filtered_excl;
      continue;
    }
    if (!EligibleUncached(*q, in->step, in->cls->requirement, *agent)) {
      ++filtered_req;
      continue;
    }
    AvailKey key = StrategyKey(*q, *agent);
    // Round robin: agents after the last one offered come first, then wrap around.
    const bool wrapped = rr && agent->order <= q->rr_last_order;
    eligible.push_back({{wrapped, key}, agent});
  }
  ex->set_members(members);
  ex->set_available(available);
  ex->set_examined(members);
  ex->set_filtered_requirement(filtered_req);
  ex->set_filtered_excluded(filtered_excl);
  if (eligible.empty()) return false;
  const size_t top = std::min<size_t>(3, eligible.size());
  std::partial_sort(eligible.begin(), eligible.begin() + top, eligible.end(),
                    [](const auto& a, const auto& b) {
                      if (a.first.first != b.first.first) return !a.first.first;
                      return a.first.second < b.first.second;
                    });
  for (size_t i = 0; i < top; ++i) {
    auto* c = ex->add_top();
    c->set_agent_id(eligible[i].second->profile.agent_id());
    c->set_score(StrategyScore(*q, *eligible[i].second));
  }
  *chosen = eligible[0].second;
  return true;
}

// --- An agent looks for an interaction ----------------------------------------------------------

namespace {
// Orders interaction candidates: higher effective priority, then earlier arrival, then seq.
struct Pick {
  InteractionRt* in = nullptr;
  int64_t eff = 0;
  bool BetterThan(const Pick& o) const {
    if (o.in == nullptr) return true;
    if (eff != o.eff) return eff > o.eff;
    if (in->enqueued_at_ms != o.in->enqueued_at_ms)
      return in->enqueued_at_ms < o.in->enqueued_at_ms;
    return in->seq < o.in->seq;
  }
};

void KeepTop(std::vector<Pick>* top, const Pick& p) {
  top->push_back(p);
  std::sort(top->begin(), top->end(), [](const Pick& a, const Pick& b) { return a.BetterThan(b); });
  if (top->size() > 3) top->pop_back();
}
}  // namespace

void EngineImpl::TryMatchAgent(AgentRt* agent) {
  // An agent with capacity for several interactions (chat) may take several at once.
  for (int guard = 0; guard < 64; ++guard) {
    if (agent->presence != v1::PRESENCE_AVAILABLE || !agent->pending_aux.empty()) return;
    v1::Explanation ex;
    ex.set_trigger("agent_freed");
    InteractionRt* in = options_.matcher == MatcherKind::kIndexed
                            ? FindInteractionIndexed(agent, &ex)
                            : FindInteractionNaive(agent, &ex);
    if (in == nullptr) return;
    ex.set_strategy(in->queue->config.strategy());
    ex.set_step(in->step);
    ex.set_requirement(in->requirement);
    MakeOffer(in, agent, std::move(ex));
  }
}

InteractionRt* EngineImpl::FindInteractionIndexed(AgentRt* agent, v1::Explanation* ex) {
  // Interactions waiting for this very agent come first.
  Pick best;
  std::vector<Pick> top;
  for (auto& [seq, in] : agent->preferred_waiting) {
    if (!Offerable(*agent, in->channel) || Blocked(*in, *agent)) continue;
    Pick p{in, EffectivePriority(*in)};
    if (p.BetterThan(best)) best = p;
  }
  if (best.in != nullptr) {
    ex->set_preferred_agent(true);
    auto* c = ex->add_top();
    c->set_interaction_id(best.in->id);
    c->set_score(static_cast<double>(best.eff) / kPriorityScale);
    return best.in;
  }
  int queues = 0, classes = 0, filtered_req = 0, filtered_excl = 0;
  for (QueueRt* q : agent->member_of) {
    if (q->nonempty.empty() || !Offerable(*agent, q->config.channel())) continue;
    ++queues;
    for (ClassRt* cls : q->nonempty) {
      ++classes;
      if (!Eligible(*cls, *agent)) {
        ++filtered_req;
        continue;
      }
      for (auto& [key, in] : cls->waiting) {
        if (Blocked(*in, *agent)) {
          ++filtered_excl;
          continue;
        }
        Pick p{in, EffectivePriority(*in)};
        KeepTop(&top, p);
        if (p.BetterThan(best)) best = p;
        break;
      }
    }
  }
  ex->set_queues_considered(queues);
  ex->set_classes_considered(classes);
  ex->set_filtered_requirement(filtered_req);
  ex->set_filtered_excluded(filtered_excl);
  ex->set_examined(static_cast<int32_t>(top.size()));
  for (const Pick& p : top) {
    auto* c = ex->add_top();
    c->set_interaction_id(p.in->id);
    c->set_score(static_cast<double>(p.eff) / kPriorityScale);
  }
  if (best.in != nullptr) {
    ex->set_members(static_cast<int32_t>(best.in->queue->members.size()));
    ex->set_available(static_cast<int32_t>(best.in->queue->available.size()));
  }
  return best.in;
}

InteractionRt* EngineImpl::FindInteractionNaive(AgentRt* agent, v1::Explanation* ex) {
  // The reference: look at every waiting interaction of the domain.
  Pick best, best_preferred;
  std::vector<Pick> top;
  int examined = 0, filtered_req = 0, filtered_excl = 0;
  AgentEnv env(*agent);
  for (auto& [id, owned] : interactions_) {
    InteractionRt* in = owned.get();
    if (in->state != v1::INTERACTION_STATE_QUEUED) continue;
    if (in->cls == nullptr && in->held_by == nullptr) continue;  // not waiting (in transit)
    if (!Offerable(*agent, in->channel)) continue;
    ++examined;
    if (in->held_by != nullptr) {
      if (in->held_by != agent || Blocked(*in, *agent)) continue;
      Pick p{in, EffectivePriority(*in)};
      if (p.BetterThan(best_preferred)) best_preferred = p;
      continue;
    }
    if (!in->queue->membership.Matches(env)) continue;
    if (Blocked(*in, *agent)) {
      ++filtered_excl;
      continue;
    }
    if (!EligibleUncached(*in->queue, in->step, in->cls->requirement, *agent)) {
      ++filtered_req;
      continue;
    }
    Pick p{in, EffectivePriority(*in)};
    KeepTop(&top, p);
    if (p.BetterThan(best)) best = p;
  }
  if (best_preferred.in != nullptr) {
    ex->set_preferred_agent(true);
    auto* c = ex->add_top();
    c->set_interaction_id(best_preferred.in->id);
    c->set_score(static_cast<double>(best_preferred.eff) / kPriorityScale);
    return best_preferred.in;
  }
  ex->set_examined(examined);
  ex->set_filtered_requirement(filtered_req);
  ex->set_filtered_excluded(filtered_excl);
  for (const Pick& p : top) {
    auto* c = ex->add_top();
    c->set_interaction_id(p.in->id);
    c->set_score(static_cast<double>(p.eff) / kPriorityScale);
  }
  return best.in;
}

void EngineImpl::TryMatchQueueAgents(QueueRt* q) {
  std::vector<AgentRt*> agents;
  for (auto& [key, agent] : q->available) agents.push_back(agent);
  for (AgentRt* agent : agents) TryMatchAgent(agent);
}

}  // namespace sb::routing
