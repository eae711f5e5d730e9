#include "simulator/simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <queue>
#include <string>
#include <unordered_map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace sb::sim {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int64_t kDefaultSlThresholdMs = 20000;
// Random stream ids (see Rng): one per purpose; arrival streams use kArrivalStreams + index.
constexpr uint64_t kHandleStream = 1;
constexpr uint64_t kPatienceStream = 2;
constexpr uint64_t kBehaviorStream = 3;
constexpr uint64_t kArrivalStreams = 1000;

int64_t DurationMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}
int64_t TimestampMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

// What the simulation does next, besides engine timers.
enum class Kind : uint8_t {
  kArrival,        // a: arrival stream
  kPatience,       // a: call; the caller hangs up if still waiting
  kOfferResponse,  // a: call, b: agent, offer_id, accept
  kComplete,       // a: call, b: agent
  kAgentReturn,    // a: agent; back from "not_responding"
  kShiftStart,     // a: agent
  kShiftEnd,       // a: agent
  kLogout,         // a: agent
};

struct SimEvent {
  int64_t at = 0;
  uint64_t seq = 0;  // insertion order: ties at the same millisecond keep it
  Kind kind = Kind::kArrival;
  int64_t a = 0;
  int64_t b = 0;
  bool accept = false;
  std::string offer_id;
};

struct Later {
  bool operator()(const SimEvent& x, const SimEvent& y) const {
    return x.at != y.at ? x.at > y.at : x.seq > y.seq;
  }
};

enum class CallState : uint8_t { kWaiting, kOffered, kConnected, kEnded };

struct Call {
  int64_t arrival_ms = 0;
  int queue = -1;           // the queue it is in now
  int patience_queue = -1;  // the queue it arrived in
  int answered_queue = -1;
  bool counted = false;  // arrived after the warm-up
  CallState state = CallState::kWaiting;
  std::string offer_id;
  int64_t talk_ms = 0;
  int64_t wrap_start_ms = 0;
};

struct AgentSim {
  std::string id;
  std::string team;
  std::vector<int> queues;
  bool logged_in = false;
  v1::Presence presence = v1::PRESENCE_OFFLINE;
  std::string reason;
  int active = 0;  // connected or wrap-up legs
  int offers = 0;  // offers ringing
  bool leaving = false;
  bool logout_pending = false;
  int64_t busy_ms = 0;
  int64_t idle_ms = 0;
  int64_t last_ms = 0;
};

struct Stream {
  const ArrivalStream* config = nullptr;
  int queue = -1;
  double next_ms = 0;  // kept fractional so that rounding does not drift the rate
  Rng rng;
};

class Simulation {
 public:
  Simulation(const Scenario& scenario, const SimOptions& options)
      : sc_(scenario),
        opt_(options),
        seed_(options.seed.value_or(scenario.seed)),
        duration_ms_(options.duration_ms.value_or(scenario.duration_ms)),
        engine_(scenario.tenant),
        handle_rng_(seed_, kHandleStream),
        patience_rng_(seed_, kPatienceStream),
        behavior_rng_(seed_, kBehaviorStream) {}

  absl::StatusOr<Report> Run();

 private:
  absl::Status Setup();
  absl::Status Apply(v1::RoutingCommand* command);
  void Handle(const v1::RoutingEvent& e);
  absl::Status Dispatch(const SimEvent& e);
  void Push(int64_t at, Kind kind, int64_t a, int64_t b = 0, bool accept = false,
            std::string offer_id = "");
  void ScheduleArrival(size_t stream);
  void Account(AgentSim& agent);
  void MaybeLogout(int agent);
  Report BuildReport();

  int QueueIndex(const std::string& id) const {
    auto it = queue_index_.find(id);
    return it == queue_index_.end() ? -1 : it->second;
  }
  int AgentIndex(const std::string& id) const {
    auto it = agent_index_.find(id);
    return it == agent_index_.end() ? -1 : it->second;
  }
  // Our interaction ids are "c<index>".
  Call* FindCall(const std::string& id, int64_t* index = nullptr) {
    int64_t n = 0;
    if (id.size() < 2 || id[0] != 'c' || !absl::SimpleAtoi(id.substr(1), &n) || n < 0 ||
        n >= static_cast<int64_t>(calls_.size())) {
      return nullptr;
    }
    if (index != nullptr) *index = n;
    return &calls_[static_cast<size_t>(n)];
  }
  QueueStats* Stats(int queue) { return queue < 0 ? nullptr : &stats_[static_cast<size_t>(queue)]; }

  const Scenario& sc_;
  const SimOptions& opt_;
  const uint64_t seed_;
  const int64_t duration_ms_;
  routing::Engine engine_;
  Rng handle_rng_;
  Rng patience_rng_;
  Rng behavior_rng_;

  int64_t now_ = 0;  // virtual ms since the start
  uint64_t next_seq_ = 0;
  std::priority_queue<SimEvent, std::vector<SimEvent>, Later> pending_;
  std::vector<v1::RoutingEvent> events_;
  int64_t commands_ = 0;
  int64_t ticks_ = 0;
  int64_t events_total_ = 0;
  std::map<std::string, int64_t> rejected_;
  bool in_setup_ = false;
  std::string setup_rejection_;

  std::unordered_map<std::string, int> queue_index_;
  std::unordered_map<std::string, int> agent_index_;
  std::vector<const Distribution*> handle_;                   // per queue
  std::vector<const std::optional<Distribution>*> patience_;  // per queue
  std::vector<int64_t> sl_threshold_;                         // per queue
  std::vector<QueueStats> stats_;                             // per queue
  int64_t overflowed_out_ = 0;  // counted calls that left the center by overflow
  std::vector<AgentSim> agents_;
  std::vector<Call> calls_;
  std::vector<Stream> streams_;
};

void Simulation::Push(int64_t at, Kind kind, int64_t a, int64_t b, bool accept,
                      std::string offer_id) {
  SimEvent e;
  e.at = at;
  e.seq = next_seq_++;
  e.kind = kind;
  e.a = a;
  e.b = b;
  e.accept = accept;
  e.offer_id = std::move(offer_id);
  pending_.push(std::move(e));
}

absl::Status Simulation::Apply(v1::RoutingCommand* command) {
  command->set_command_id(absl::StrCat("sim-", commands_ + 1));
  command->set_tenant_id(sc_.tenant);
  const int64_t t = kSimEpochMs + now_;
  command->mutable_time()->set_seconds(t / 1000);
  command->mutable_time()->set_nanos(static_cast<int32_t>(t % 1000 * 1000000));
  events_.clear();
  engine_.Apply(*command, &events_);
  ++commands_;
  if (command->has_tick()) ++ticks_;
  events_total_ += static_cast<int64_t>(events_.size());
  for (const v1::RoutingEvent& e : events_) Handle(e);
  if (opt_.observer) opt_.observer(*command, events_);
  if (opt_.on_progress && opt_.progress_every > 0 && commands_ % opt_.progress_every == 0) {
    opt_.on_progress(Progress{now_, duration_ms_, commands_, events_total_});
  }
  if (opt_.check_invariants_every > 0 && commands_ % opt_.check_invariants_every == 0) {
    absl::Status status = engine_.CheckInvariants();
    if (!status.ok()) {
      return absl::InternalError(
          absl::StrCat("engine invariant broken after command ", command->command_id(), " (",
                       command->ShortDebugString(), "): ", std::string(status.message())));
    }
  }
  return absl::OkStatus();
}

void Simulation::Account(AgentSim& agent) {
  const int64_t lo = std::max(agent.last_ms, sc_.warmup_ms);
  const int64_t hi = std::min(now_, duration_ms_);
  if (hi > lo) {
    if (agent.active > 0) {
      agent.busy_ms += hi - lo;
    } else if (agent.logged_in && agent.presence == v1::PRESENCE_AVAILABLE) {
      agent.idle_ms += hi - lo;
    }
  }
  agent.last_ms = std::max(agent.last_ms, now_);
}

void Simulation::MaybeLogout(int index) {
  if (index < 0) return;
  AgentSim& a = agents_[static_cast<size_t>(index)];
  if (a.leaving && a.logged_in && a.active == 0 && a.offers == 0 && !a.logout_pending) {
    a.logout_pending = true;
    Push(now_, Kind::kLogout, index);
  }
}

void Simulation::Handle(const v1::RoutingEvent& e) {
  switch (e.body_case()) {
    case v1::RoutingEvent::kCommandRejected: {
      const auto& r = e.command_rejected();
      ++rejected_[r.reason()];
      if (in_setup_ && setup_rejection_.empty()) {
        setup_rejection_ = absl::StrCat(r.reason(), ": ", r.message());
      }
      break;
    }
    case v1::RoutingEvent::kAgentUpserted: {
      const int i = AgentIndex(e.agent_upserted().profile().agent_id());
      if (i < 0) break;
      AgentSim& a = agents_[static_cast<size_t>(i)];
      a.queues.clear();
      for (const std::string& q : e.agent_upserted().queues()) {
        const int qi = QueueIndex(q);
        if (qi >= 0) a.queues.push_back(qi);
      }
      break;
    }
    case v1::RoutingEvent::kAgentStateChanged: {
      const auto& s = e.agent_state_changed();
      const int i = AgentIndex(s.agent_id());
      if (i < 0) break;
      AgentSim& a = agents_[static_cast<size_t>(i)];
      Account(a);
      a.presence = s.presence();
      a.reason = s.reason();
      a.logged_in = s.presence() != v1::PRESENCE_OFFLINE;
      if (!a.logged_in) a.logout_pending = false;
      if (s.presence() == v1::PRESENCE_AUX && s.reason() == "not_responding" && !a.leaving &&
          s.previous_reason() != "not_responding") {
        Push(now_ + sc_.agent_behavior.not_responding_ms, Kind::kAgentReturn, i);
      }
      MaybeLogout(i);
      break;
    }
    case v1::RoutingEvent::kInteractionQueued: {
      Call* call = FindCall(e.interaction_queued().interaction_id());
      if (call == nullptr) break;
      call->queue = QueueIndex(e.interaction_queued().queue_id());
      call->state = CallState::kWaiting;
      call->offer_id.clear();
      break;
    }
    case v1::RoutingEvent::kOfferCreated: {
      const auto& o = e.offer_created();
      int64_t ci = 0;
      Call* call = FindCall(o.interaction_id(), &ci);
      const int ai = AgentIndex(o.agent_id());
      if (call == nullptr || ai < 0) break;
      agents_[static_cast<size_t>(ai)].offers++;
      call->state = CallState::kOffered;
      call->offer_id = o.offer_id();
      if (call->counted) Stats(call->queue)->offers++;
      // The agent's behaviour: miss (never answer), reject or accept after a delay. An answer
      // that would come at or after the offer's expiry is a miss too.
      const AgentBehavior& b = sc_.agent_behavior;
      const double u = behavior_rng_.Uniform01();
      if (u < b.miss_probability) break;
      const bool accept = u >= b.miss_probability + b.reject_probability;
      const int64_t at = now_ + std::llround(b.accept_delay.Sample(behavior_rng_));
      const int64_t expires = TimestampMs(o.expires_at()) - kSimEpochMs;
      if (at >= expires) break;
      Push(at, Kind::kOfferResponse, ci, ai, accept, o.offer_id());
      break;
    }
    case v1::RoutingEvent::kOfferAccepted: {
      const int ai = AgentIndex(e.offer_accepted().agent_id());
      if (ai >= 0) agents_[static_cast<size_t>(ai)].offers--;
      break;
    }
    case v1::RoutingEvent::kOfferRejected:
    case v1::RoutingEvent::kOfferTimedOut:
    case v1::RoutingEvent::kOfferRescinded: {
      std::string interaction_id;
      std::string agent_id;
      if (e.has_offer_rejected()) {
        interaction_id = e.offer_rejected().interaction_id();
        agent_id = e.offer_rejected().agent_id();
      } else if (e.has_offer_timed_out()) {
        interaction_id = e.offer_timed_out().interaction_id();
        agent_id = e.offer_timed_out().agent_id();
      } else {
        interaction_id = e.offer_rescinded().interaction_id();
        agent_id = e.offer_rescinded().agent_id();
      }
      const int ai = AgentIndex(agent_id);
      if (ai >= 0) agents_[static_cast<size_t>(ai)].offers--;
      Call* call = FindCall(interaction_id);
      if (call != nullptr) {
        call->offer_id.clear();
        if (call->state == CallState::kOffered) call->state = CallState::kWaiting;
        if (call->counted && e.has_offer_rejected()) Stats(call->queue)->offers_rejected++;
        if (call->counted && e.has_offer_timed_out()) Stats(call->queue)->offers_missed++;
      }
      MaybeLogout(ai);
      break;
    }
    case v1::RoutingEvent::kInteractionConnected: {
      const auto& c = e.interaction_connected();
      int64_t ci = 0;
      Call* call = FindCall(c.interaction_id(), &ci);
      const int ai = AgentIndex(c.agent_id());
      if (ai >= 0) {
        AgentSim& a = agents_[static_cast<size_t>(ai)];
        Account(a);
        a.active++;
      }
      if (call == nullptr) break;
      call->state = CallState::kConnected;
      call->answered_queue = QueueIndex(c.queue_id());
      const int64_t waited = DurationMs(c.waited());
      if (call->counted) {
        QueueStats* s = Stats(call->answered_queue);
        s->answered++;
        s->answered_wait_ms += waited;
        s->max_wait_ms = std::max(s->max_wait_ms, waited);
        if (waited <= sl_threshold_[static_cast<size_t>(call->answered_queue)]) {
          s->answered_within_sl++;
        }
      }
      const double handle = handle_[static_cast<size_t>(call->answered_queue)]->Sample(handle_rng_);
      Push(now_ + std::llround(handle), Kind::kComplete, ci, ai);
      break;
    }
    case v1::RoutingEvent::kWrapUpStarted: {
      Call* call = FindCall(e.wrap_up_started().interaction_id());
      if (call != nullptr) call->wrap_start_ms = now_;
      break;
    }
    case v1::RoutingEvent::kWrapUpEnded: {
      const int ai = AgentIndex(e.wrap_up_ended().agent_id());
      if (ai >= 0) {
        AgentSim& a = agents_[static_cast<size_t>(ai)];
        Account(a);
        a.active--;
      }
      Call* call = FindCall(e.wrap_up_ended().interaction_id());
      if (call != nullptr && call->counted && call->answered_queue >= 0) {
        QueueStats* s = Stats(call->answered_queue);
        s->handled++;
        s->talk_ms += call->talk_ms;
        s->wrap_up_ms += now_ - call->wrap_start_ms;
      }
      MaybeLogout(ai);
      break;
    }
    case v1::RoutingEvent::kInteractionEnded: {
      const auto& x = e.interaction_ended();
      Call* call = FindCall(x.interaction_id());
      if (call == nullptr) break;
      const int qi = QueueIndex(x.queue_id());
      const int64_t waited = DurationMs(x.waited());
      if (x.reason() == v1::END_REASON_COMPLETED) {
        call->talk_ms = DurationMs(x.handled());
      } else if (x.reason() == v1::END_REASON_ABANDONED && call->counted && qi >= 0) {
        QueueStats* s = Stats(qi);
        s->abandoned++;
        s->max_wait_ms = std::max(s->max_wait_ms, waited);
        if (waited <= sl_threshold_[static_cast<size_t>(qi)]) s->abandoned_within_sl++;
      } else if (x.reason() == v1::END_REASON_OVERFLOWED && call->counted) {
        overflowed_out_++;
        if (qi >= 0) Stats(qi)->max_wait_ms = std::max(Stats(qi)->max_wait_ms, waited);
      }
      call->state = CallState::kEnded;
      break;
    }
    case v1::RoutingEvent::kInteractionOverflowed: {
      const auto& o = e.interaction_overflowed();
      Call* call = FindCall(o.interaction_id());
      if (call == nullptr) break;
      const int from = QueueIndex(o.queue_id());
      // The engine reports the action it took: QUEUE only when the move happened.
      const bool moved = o.action() == v1::OVERFLOW_ACTION_QUEUE;
      const int to = moved ? QueueIndex(o.target_queue_id()) : -1;
      if (call->counted) {
        if (from >= 0) Stats(from)->overflowed++;
        if (to >= 0) Stats(to)->overflow_in++;
      }
      if (to >= 0) call->queue = to;
      break;
    }
    default:
      break;
  }
}

void Simulation::ScheduleArrival(size_t index) {
  Stream& s = streams_[index];
  constexpr double kHourMs = 3600000.0;
  double t = s.next_ms;
  const double end = static_cast<double>(duration_ms_);
  while (t <= end) {
    // Piecewise-constant rate: draw within the current hour; if the draw passes the hour's end,
    // restart from the boundary with the next hour's rate (exact, by memorylessness).
    const int64_t hour = static_cast<int64_t>(t / kHourMs);
    double multiplier = 1;
    if (!s.config->profile.empty()) {
      multiplier = s.config->profile[static_cast<size_t>(hour) % s.config->profile.size()];
    }
    const double rate_per_ms = s.config->rate_per_hour * multiplier / kHourMs;
    const double boundary =
        s.config->profile.empty() ? end + 1 : static_cast<double>(hour + 1) * kHourMs;
    if (rate_per_ms <= 0) {
      if (s.config->profile.empty()) return;  // a flat zero rate: no callers at all
      t = boundary;
      continue;
    }
    const double next = t + s.rng.Exponential(1.0 / rate_per_ms);
    if (next < boundary) {
      s.next_ms = next;
      const int64_t at = std::llround(next);
      if (at > duration_ms_) return;
      Push(at, Kind::kArrival, static_cast<int64_t>(index));
      return;
    }
    t = boundary;
  }
}

absl::Status Simulation::Dispatch(const SimEvent& ev) {
  v1::RoutingCommand cmd;
  switch (ev.kind) {
    case Kind::kArrival: {
      Stream& s = streams_[static_cast<size_t>(ev.a)];
      const int64_t ci = static_cast<int64_t>(calls_.size());
      Call& call = calls_.emplace_back();
      call.arrival_ms = now_;
      call.queue = s.queue;
      call.patience_queue = s.queue;
      call.counted = now_ >= sc_.warmup_ms;
      if (call.counted) Stats(s.queue)->arrivals++;
      v1::Enqueue* e = cmd.mutable_enqueue();
      e->set_interaction_id(absl::StrCat("c", ci));
      e->set_queue_id(s.config->queue_id);
      e->set_priority(s.config->priority);
      for (const auto& [k, v] : s.config->attributes) (*e->mutable_attributes())[k] = v;
      e->set_requirement(s.config->requirement);
      const std::optional<Distribution>& patience = *patience_[static_cast<size_t>(s.queue)];
      if (patience.has_value()) {
        Push(now_ + std::llround(patience->Sample(patience_rng_)), Kind::kPatience, ci);
      }
      ScheduleArrival(static_cast<size_t>(ev.a));
      return Apply(&cmd);
    }
    case Kind::kPatience: {
      const Call& call = calls_[static_cast<size_t>(ev.a)];
      if (call.state != CallState::kWaiting && call.state != CallState::kOffered) {
        return absl::OkStatus();
      }
      cmd.mutable_cancel()->set_interaction_id(absl::StrCat("c", ev.a));
      cmd.mutable_cancel()->set_reason(v1::CANCEL_REASON_ABANDONED);
      return Apply(&cmd);
    }
    case Kind::kOfferResponse: {
      const Call& call = calls_[static_cast<size_t>(ev.a)];
      if (call.state != CallState::kOffered || call.offer_id != ev.offer_id) {
        return absl::OkStatus();  // withdrawn meanwhile (the caller hung up)
      }
      const std::string& agent_id = agents_[static_cast<size_t>(ev.b)].id;
      if (ev.accept) {
        cmd.mutable_accept_offer()->set_agent_id(agent_id);
        cmd.mutable_accept_offer()->set_offer_id(ev.offer_id);
      } else {
        cmd.mutable_reject_offer()->set_agent_id(agent_id);
        cmd.mutable_reject_offer()->set_offer_id(ev.offer_id);
      }
      return Apply(&cmd);
    }
    case Kind::kComplete: {
      const Call& call = calls_[static_cast<size_t>(ev.a)];
      if (call.state != CallState::kConnected) return absl::OkStatus();
      cmd.mutable_complete()->set_agent_id(agents_[static_cast<size_t>(ev.b)].id);
      cmd.mutable_complete()->set_interaction_id(absl::StrCat("c", ev.a));
      return Apply(&cmd);
    }
    case Kind::kAgentReturn: {
      const AgentSim& a = agents_[static_cast<size_t>(ev.a)];
      if (!a.logged_in || a.leaving || a.presence != v1::PRESENCE_AUX ||
          a.reason != "not_responding") {
        return absl::OkStatus();
      }
      cmd.mutable_set_presence()->set_agent_id(a.id);
      cmd.mutable_set_presence()->set_presence(v1::PRESENCE_AVAILABLE);
      return Apply(&cmd);
    }
    case Kind::kShiftStart: {
      AgentSim& a = agents_[static_cast<size_t>(ev.a)];
      a.leaving = false;
      if (a.logged_in) return absl::OkStatus();
      cmd.mutable_login()->set_agent_id(a.id);
      return Apply(&cmd);
    }
    case Kind::kShiftEnd: {
      AgentSim& a = agents_[static_cast<size_t>(ev.a)];
      a.leaving = true;
      if (!a.logged_in) return absl::OkStatus();
      // No new offers from now on; the logout follows when the agent's hands are empty.
      cmd.mutable_set_presence()->set_agent_id(a.id);
      cmd.mutable_set_presence()->set_presence(v1::PRESENCE_AUX);
      cmd.mutable_set_presence()->set_reason("shift_end");
      absl::Status status = Apply(&cmd);
      MaybeLogout(static_cast<int>(ev.a));
      return status;
    }
    case Kind::kLogout: {
      AgentSim& a = agents_[static_cast<size_t>(ev.a)];
      a.logout_pending = false;
      if (!a.logged_in || a.active > 0 || a.offers > 0) return absl::OkStatus();
      cmd.mutable_logout()->set_agent_id(a.id);
      return Apply(&cmd);
    }
  }
  return absl::OkStatus();
}

absl::Status Simulation::Setup() {
  const auto& routing = sc_.routing;
  for (size_t i = 0; i < routing.queues.size(); ++i) {
    const v1::Queue& q = routing.queues[i];
    queue_index_[q.queue_id()] = static_cast<int>(i);
    handle_.push_back(&sc_.handle_time.at(q.queue_id()));
    patience_.push_back(&sc_.patience.at(q.queue_id()));
    const int64_t thr = q.has_service_level() ? DurationMs(q.service_level().threshold()) : 0;
    sl_threshold_.push_back(thr > 0 ? thr : kDefaultSlThresholdMs);
    QueueStats& s = stats_.emplace_back();
    s.queue_id = q.queue_id();
    s.sl_threshold_ms = sl_threshold_.back();
    s.sl_target = q.has_service_level() ? q.service_level().target() : 0;
  }
  for (size_t i = 0; i < routing.agents.size(); ++i) {
    agent_index_[routing.agents[i].agent_id()] = static_cast<int>(i);
    AgentSim& a = agents_.emplace_back();
    a.id = routing.agents[i].agent_id();
    a.team = routing.agents[i].team();
  }
  for (size_t i = 0; i < sc_.arrivals.size(); ++i) {
    streams_.push_back(Stream{&sc_.arrivals[i], QueueIndex(sc_.arrivals[i].queue_id), 0,
                              Rng(seed_, kArrivalStreams + i)});
  }

  in_setup_ = true;
  std::vector<routing::config::SourceRef> sources;
  std::vector<v1::RoutingCommand> commands = routing::config::ConfigCommands(routing, &sources);
  for (size_t i = 0; i < commands.size(); ++i) {
    absl::Status status = Apply(&commands[i]);
    if (!status.ok()) return status;
    if (!setup_rejection_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          sources[i].where, ": ", sources[i].path, ": the engine rejected it: ", setup_rejection_));
    }
  }
  // Logins, now or at the start of the agent's shift (the first shift that selects the agent).
  for (size_t i = 0; i < agents_.size(); ++i) {
    const AgentSim& a = agents_[i];
    const Shift* shift = nullptr;
    for (const Shift& s : sc_.shifts) {
      const bool by_id =
          s.agents.empty() || std::find(s.agents.begin(), s.agents.end(), a.id) != s.agents.end();
      const bool by_prefix = s.id_prefix.empty() || a.id.starts_with(s.id_prefix);
      const bool by_team = s.team.empty() || s.team == a.team;
      if (by_id && by_prefix && by_team) {
        shift = &s;
        break;
      }
    }
    const int64_t start = shift != nullptr ? shift->start_ms : 0;
    if (start == 0) {
      v1::RoutingCommand login;
      login.mutable_login()->set_agent_id(a.id);
      absl::Status status = Apply(&login);
      if (!status.ok()) return status;
      if (!setup_rejection_.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(sc_.file, ": agent '", a.id, "': login rejected: ", setup_rejection_));
      }
    } else if (start < duration_ms_) {
      Push(start, Kind::kShiftStart, static_cast<int64_t>(i));
    }
    if (shift != nullptr && shift->end_ms > 0 && shift->end_ms < duration_ms_) {
      Push(shift->end_ms, Kind::kShiftEnd, static_cast<int64_t>(i));
    }
  }
  in_setup_ = false;
  for (size_t i = 0; i < streams_.size(); ++i) ScheduleArrival(i);
  return absl::OkStatus();
}

absl::StatusOr<Report> Simulation::Run() {
  absl::Status status = Setup();
  if (!status.ok()) return status;
  while (true) {
    const int64_t next = pending_.empty() ? kNever : pending_.top().at;
    const std::optional<int64_t> deadline = engine_.NextDeadlineMs();
    if (deadline.has_value()) {
      const int64_t at = *deadline - kSimEpochMs;
      // A command at the deadline's time would fire the timer anyway; a Tick is only needed
      // when nothing else happens before it.
      if (at < next && at <= duration_ms_) {
        now_ = std::max(now_, at);
        v1::RoutingCommand tick;
        tick.mutable_tick();
        status = Apply(&tick);
        if (!status.ok()) return status;
        continue;
      }
    }
    if (next > duration_ms_) break;
    SimEvent ev = pending_.top();
    pending_.pop();
    now_ = std::max(now_, ev.at);
    status = Dispatch(ev);
    if (!status.ok()) return status;
  }
  now_ = duration_ms_;
  if (opt_.on_progress) opt_.on_progress(Progress{now_, duration_ms_, commands_, events_total_});
  return BuildReport();
}

Report Simulation::BuildReport() {
  for (AgentSim& a : agents_) Account(a);
  for (const Call& call : calls_) {
    if (!call.counted || (call.state != CallState::kWaiting && call.state != CallState::kOffered)) {
      continue;
    }
    QueueStats* s = Stats(call.queue);
    s->waiting_at_end++;
    s->max_wait_ms = std::max(s->max_wait_ms, duration_ms_ - call.arrival_ms);
  }
  Report r;
  r.scenario = sc_.file;
  r.tenant = sc_.tenant;
  r.seed = seed_;
  r.duration_ms = duration_ms_;
  r.warmup_ms = sc_.warmup_ms;
  r.agents = static_cast<int64_t>(agents_.size());
  r.commands = commands_;
  r.ticks = ticks_;
  r.events = events_total_;
  r.rejected = rejected_;
  for (const AgentSim& a : agents_) {
    for (int q : a.queues) {
      QueueStats* s = Stats(q);
      s->agents++;
      s->agent_busy_ms += a.busy_ms;
      s->agent_idle_ms += a.idle_ms;
    }
    r.total.agent_busy_ms += a.busy_ms;
    r.total.agent_idle_ms += a.idle_ms;
  }
  QueueStats& t = r.total;
  t.queue_id = "total";
  t.sl_threshold_ms = 0;  // each queue's own
  t.agents = r.agents;
  for (const QueueStats& s : stats_) {
    t.arrivals += s.arrivals;
    t.answered += s.answered;
    t.abandoned += s.abandoned;
    t.waiting_at_end += s.waiting_at_end;
    t.answered_within_sl += s.answered_within_sl;
    t.abandoned_within_sl += s.abandoned_within_sl;
    t.answered_wait_ms += s.answered_wait_ms;
    t.max_wait_ms = std::max(t.max_wait_ms, s.max_wait_ms);
    t.handled += s.handled;
    t.talk_ms += s.talk_ms;
    t.wrap_up_ms += s.wrap_up_ms;
    t.offers += s.offers;
    t.offers_rejected += s.offers_rejected;
    t.offers_missed += s.offers_missed;
  }
  t.overflowed = overflowed_out_;
  r.queues = stats_;
  return r;
}

}  // namespace

absl::StatusOr<Report> RunSimulation(const Scenario& scenario, const SimOptions& options) {
  Simulation sim(scenario, options);
  return sim.Run();
}

}  // namespace sb::sim
