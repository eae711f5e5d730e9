// Benchmarks of the routing engine (DESIGN.md §8): cost per command at 1k, 10k and 100k agents,
// 100 queues and up to 100k waiting interactions, on the indexed matcher and on the naive scan
// (MatcherKind::kNaiveScan, the way Asterisk app_queue and FreeSWITCH mod_callcenter decide) in
// the same binary, plus the heap cost of an agent, a connected and a waiting interaction.
// docs/performance.md describes the workload and records the results.
//
// Workload. 100 voice queues (5 strategies, 1/4 of them with a skill step), membership
// `skills.q<K> > 0`, 4 requirement classes per queue (none, Spanish, expert, French and not a
// novice). Each agent is a member of 3-5 queues. A "world" of N agents is built once with the
// indexed matcher and walked through three phases, each measured in steady state:
//   arrivals  : 90% of the agents connected, the rest available, (almost) nothing waiting.
//               Per step: Enqueue (the interaction looks for the best agent) + AcceptOffer, then
//               Complete (the agent frees up, wrap-up 0; it takes a waiting interaction if any).
//   freed/W   : every agent connected and W interactions waiting (W = 1k, then 100k).
//               Per step: Complete (the agent looks for the best waiting interaction across its
//               queues) + AcceptOffer, then Enqueue of a replacement in the same (queue,
//               requirement) class, which waits. The population is exactly stable.
// The naive case of a phase runs first, on an engine restored from a snapshot of the indexed
// world; the indexed world then runs from that same state with the same command stream, and the
// first 3000 decisions of both are compared. After each phase the bench checks the engine's
// invariants and that no interaction waits while an eligible agent is available.

#include <benchmark/benchmark.h>
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "routing/engine/engine.h"

namespace {

namespace v1 = ::switchboard::routing::v1;
using sb::routing::Engine;
using sb::routing::EngineOptions;
using sb::routing::MatcherKind;

constexpr int kQueues = 100;
constexpr int kReqs = 4;  // requirement classes per queue
constexpr int kClasses = kQueues * kReqs;
constexpr int64_t kStartMs = 1'700'000'000'000;  // the virtual clock's start
constexpr int kArrivalsIdlePercent = 10;
constexpr int kSmallWaiting = 1000;
constexpr int kLargeWaiting = 100000;

enum Phase : int { kArrivals = 0, kFreedSmall = 1, kFreedLarge = 2 };

int64_t WaitingFor(int phase) {
  return phase == kFreedSmall ? kSmallWaiting : phase == kFreedLarge ? kLargeWaiting : 0;
}

// splitmix64: deterministic and cheap enough to call in the timed loop.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint32_t Uniform(uint64_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }

 private:
  uint64_t s_;
};

// Bytes in use in the malloc heap (the engine is single-threaded: everything is in the main
// arena, large blocks are mmapped).
int64_t HeapBytes() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void SetNumId(std::string* s, char prefix, int64_t n) {
  char buf[24];
  buf[0] = prefix;
  auto r = std::to_chars(buf + 1, buf + sizeof(buf), n);
  s->assign(buf, static_cast<size_t>(r.ptr - buf));
}

int64_t ParseNumId(const std::string& s) {
  int64_t n = -1;
  if (s.size() > 1) std::from_chars(s.data() + 1, s.data() + s.size(), n);
  return n;
}

// ---------------------------------------------------------------------------------------------
// The contact center: queues, agents and requirement classes, generated deterministically.

struct AgentModel {
  std::vector<std::pair<int, int>> queues;  // (queue, proficiency), first = primary
  bool es = false;
  bool fr = false;
  int Proficiency(int q) const {
    for (const auto& [qq, p] : queues) {
      if (qq == q) return p;
    }
    return 0;
  }
};

bool QueueHasStep(int q) { return q % 4 == 0; }

struct Model {
  int n_agents = 0;
  std::vector<AgentModel> agents;
  std::vector<std::string> agent_ids;
  std::vector<std::string> queue_ids;
  std::array<std::string, kClasses> req_text;
  std::array<std::string, kClasses> language;  // the interaction's language attribute
  std::array<bool, kClasses> servable{};       // some member can ever take it

  // The engine's eligibility rule, restated for the generator: member, queue step 0, requirement.
  bool Eligible(int agent, int cls) const {
    const AgentModel& a = agents[static_cast<size_t>(agent)];
    const int q = cls / kReqs, r = cls % kReqs;
    const int p = a.Proficiency(q);
    if (p == 0) return false;
    if (QueueHasStep(q) && p < 2) return false;
    switch (r) {
      case 1:
        return a.es;
      case 2:
        return p >= 4;
      case 3:
        return a.fr && p >= 2;
      default:
        return true;
    }
  }

  // A new interaction: uniform queue; 55% no requirement, 25% Spanish, 12% expert, 8% French.
  int DrawClass(Rng& rng) const {
    const int q = static_cast<int>(rng.Uniform(kQueues));
    const uint32_t x = rng.Uniform(100);
    const int r = x < 55 ? 0 : x < 80 ? 1 : x < 92 ? 2 : 3;
    const int cls = q * kReqs + r;
    return servable[static_cast<size_t>(cls)] ? cls : q * kReqs;
  }
};

std::unique_ptr<Model> MakeModel(int n_agents) {
  auto m = std::make_unique<Model>();
  m->n_agents = n_agents;
  Rng rng(0x5eed0000ULL + static_cast<uint64_t>(n_agents));
  for (int q = 0; q < kQueues; ++q) m->queue_ids.push_back("q" + std::to_string(q));
  for (int q = 0; q < kQueues; ++q) {
    const std::string& id = m->queue_ids[static_cast<size_t>(q)];
    m->req_text[q * kReqs + 0] = "";
    m->req_text[q * kReqs + 1] = "skills.lang_es > 0";
    m->req_text[q * kReqs + 2] = "skills." + id + " >= 4";
    m->req_text[q * kReqs + 3] = "skills.lang_fr > 0 && skills." + id + " >= 2";
    m->language[q * kReqs + 0] = "en";
    m->language[q * kReqs + 1] = "es";
    m->language[q * kReqs + 2] = "en";
    m->language[q * kReqs + 3] = "fr";
  }
  m->agents.resize(static_cast<size_t>(n_agents));
  m->agent_ids.reserve(static_cast<size_t>(n_agents));
  for (int i = 0; i < n_agents; ++i) {
    AgentModel& a = m->agents[static_cast<size_t>(i)];
    m->agent_ids.push_back("a" + std::to_string(i));
    const int nq = 3 + static_cast<int>(rng.Uniform(3));
    while (static_cast<int>(a.queues.size()) < nq) {
      const int q = static_cast<int>(rng.Uniform(kQueues));
      if (a.Proficiency(q) != 0) continue;
      // The primary queue (the first) is served with proficiency 3-5, the others 1-5.
      const int p = a.queues.empty() ? 3 + static_cast<int>(rng.Uniform(3))
                                     : 1 + static_cast<int>(rng.Uniform(5));
      a.queues.emplace_back(q, p);
    }
    a.es = rng.Uniform(100) < 30;
    a.fr = rng.Uniform(100) < 10;
  }
  for (int cls = 0; cls < kClasses; ++cls) {
    bool any = false;
    for (int i = 0; i < n_agents && !any; ++i) any = m->Eligible(i, cls);
    m->servable[static_cast<size_t>(cls)] = any;
  }
  return m;
}

v1::Queue QueueConfig(const Model& m, int k) {
  static constexpr v1::Strategy kStrategies[] = {
      v1::STRATEGY_LONGEST_IDLE, v1::STRATEGY_MOST_SKILLED, v1::STRATEGY_LEAST_OCCUPIED,
      v1::STRATEGY_FEWEST_INTERACTIONS, v1::STRATEGY_ROUND_ROBIN};
  const std::string& id = m.queue_ids[static_cast<size_t>(k)];
  v1::Queue q;
  q.set_queue_id(id);
  q.set_name("Queue " + id);
  q.set_channel(v1::CHANNEL_VOICE);
  q.set_priority((k % 4) * 5);
  q.mutable_service_level()->set_target(0.8);
  q.mutable_service_level()->mutable_threshold()->set_seconds(20);
  q.set_strategy(kStrategies[k % 5]);
  if (q.strategy() == v1::STRATEGY_MOST_SKILLED) q.set_skill(id);
  q.set_membership("skills." + id + " > 0");
  if (QueueHasStep(k)) {
    // Bullseye: experienced agents first; relaxed after 4 h (never reached by the benchmark's
    // virtual clock, so no step timer fires during a measurement).
    auto* s0 = q.add_steps();
    s0->mutable_after()->set_seconds(0);
    s0->set_requirement("skills." + id + " >= 2");
    auto* s1 = q.add_steps();
    s1->mutable_after()->set_seconds(4 * 3600);
  }
  q.mutable_offer_timeout()->set_seconds(20);
  return q;
}

v1::AgentProfile AgentProfile(const Model& m, int i) {
  const AgentModel& a = m.agents[static_cast<size_t>(i)];
  v1::AgentProfile p;
  p.set_agent_id(m.agent_ids[static_cast<size_t>(i)]);
  p.set_name("Agent " + std::to_string(i));
  for (const auto& [q, prof] : a.queues) {
    auto* s = p.add_skills();
    s->set_name(m.queue_ids[static_cast<size_t>(q)]);
    s->set_proficiency(prof);
  }
  auto add_skill = [&p](const char* name, int prof) {
    auto* s = p.add_skills();
    s->set_name(name);
    s->set_proficiency(prof);
  };
  add_skill("lang_en", 5);
  if (a.es) add_skill("lang_es", 4);
  if (a.fr) add_skill("lang_fr", 3);
  std::string langs = "en";
  if (a.es) langs += ",es";
  if (a.fr) langs += ",fr";
  (*p.mutable_attributes())["language"] = langs;
  (*p.mutable_attributes())["site"] = (i % 3 == 0) ? "lisbon" : "porto";
  p.set_team("team-" + std::to_string(i / 15));
  return p;  // no capacity list: voice 1
}

// ---------------------------------------------------------------------------------------------
// Driver: applies commands to one engine and keeps the bookkeeping a client would keep (who is
// connected to what, the pending offers). Reused command messages are mutated in place, so the
// timed loop builds no protobuf message from scratch.

struct Conn {
  int32_t agent;
  int32_t cls;
  int64_t interaction;
};

struct PendingOffer {
  int32_t agent;
  int64_t interaction;
  std::string offer_id;
};

class Driver {
 public:
  Driver(const Model* model, std::unique_ptr<Engine> engine)
      : m_(model), engine_(std::move(engine)) {
    busy_.assign(static_cast<size_t>(m_->n_agents), 0);
    class_of_.push_back(-1);  // interaction numbers start at 1
    InitCommands();
  }
  // A copy of `other`'s bookkeeping driving `engine`, restored from a snapshot of other's engine.
  Driver(const Driver& other, std::unique_ptr<Engine> engine)
      : m_(other.m_),
        engine_(std::move(engine)),
        now_ms_(other.now_ms_),
        next_cmd_(other.next_cmd_),
        next_interaction_(other.next_interaction_),
        connected_(other.connected_),
        class_of_(other.class_of_),
        busy_(other.busy_),
        rng_(other.rng_) {
    InitCommands();
  }
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  Engine& engine() { return *engine_; }
  int64_t commands() const { return commands_; }
  int64_t offers() const { return offers_; }
  const std::string& error() const { return error_; }
  int64_t connected() const { return static_cast<int64_t>(connected_.size()); }
  bool busy(int agent) const { return busy_[static_cast<size_t>(agent)] != 0; }
  void Reserve(size_t interactions) {
    class_of_.reserve(interactions);
    connected_.reserve(static_cast<size_t>(m_->n_agents));
  }

  // Applies a command built by the caller (setup only).
  void ApplyOther(v1::RoutingCommand* cmd) { Apply(cmd); }
  void Tick() { Apply(&tick_); }
  void Advance(int64_t ms) { now_ms_ += ms; }

  // Enqueues an interaction of class `cls`; accepts the offer if one is made.
  void Enqueue(int cls, int priority) {
    const int64_t n = next_interaction_++;
    class_of_.push_back(static_cast<int16_t>(cls));
    v1::Enqueue* e = enqueue_.mutable_enqueue();
    SetNumId(e->mutable_interaction_id(), 'i', n);
    e->set_queue_id(m_->queue_ids[static_cast<size_t>(cls / kReqs)]);
    e->set_requirement(m_->req_text[static_cast<size_t>(cls)]);
    e->set_priority(priority);
    *language_ = m_->language[static_cast<size_t>(cls)];
    SetNumId(customer_, 'k', n % 50000);
    Apply(&enqueue_);
    AcceptPending();
  }

  // Completes the connected interaction `x` (wrap-up 0: the agent is free at once and looks for
  // a waiting interaction). Returns the class of the interaction then offered to it, or -1.
  int Complete(const Conn& x) {
    v1::Complete* c = complete_.mutable_complete();
    c->set_agent_id(m_->agent_ids[static_cast<size_t>(x.agent)]);
    SetNumId(c->mutable_interaction_id(), 'i', x.interaction);
    Apply(&complete_);
    busy_[static_cast<size_t>(x.agent)] = 0;
    return AcceptPending();
  }

  Conn TakeRandomConnected() {
    const size_t i = rng_.Uniform(connected_.size());
    Conn x = connected_[i];
    connected_[i] = connected_.back();
    connected_.pop_back();
    return x;
  }

  // Every agent busy, W waiting: the agent-freed direction. Keeps every class's size.
  void StepFreed() {
    const Conn x = TakeRandomConnected();
    const int offered = Complete(x);
    // The replacement arrives in the class of the interaction just taken off the queue (or, if
    // the agent found nothing it may take, in the class of the one it completed: that one is
    // then offered at once to an available agent).
    Enqueue(offered >= 0 ? offered : x.cls, static_cast<int>(rng_.Uniform(4)));
    now_ms_ += 1;
  }

  // Some agents available: the interaction-arrived direction, then a completion.
  void StepArrivals() {
    Enqueue(m_->DrawClass(rng_), static_cast<int>(rng_.Uniform(4)));
    Complete(TakeRandomConnected());
    now_ms_ += 1;
  }

  Rng& rng() { return rng_; }
  int ClassOf(int64_t interaction) const {
    return interaction > 0 && interaction < static_cast<int64_t>(class_of_.size())
               ? class_of_[static_cast<size_t>(interaction)]
               : -1;
  }

  // Records the first `limit` routing decisions (agent, interaction) from now on.
  void StartTrace(size_t limit) {
    trace_.clear();
    trace_.reserve(limit);
    trace_limit_ = limit;
  }
  const std::vector<std::pair<int32_t, int64_t>>& trace() const { return trace_; }

 private:
  void InitCommands() {
    tick_.mutable_tick();
    complete_.mutable_complete()->set_disposition("resolved");
    accept_.mutable_accept_offer();
    v1::Enqueue* e = enqueue_.mutable_enqueue();
    e->set_channel(v1::CHANNEL_VOICE);
    auto& attrs = *e->mutable_attributes();
    attrs["language"] = "en";
    attrs["customer_id"] = "k0";
    language_ = &attrs["language"];
    customer_ = &attrs["customer_id"];
    for (v1::RoutingCommand* c : {&tick_, &complete_, &accept_, &enqueue_})
      c->set_tenant_id("bench");
    events_.reserve(16);
    pending_.reserve(8);
  }

  void Apply(v1::RoutingCommand* cmd) {
    SetNumId(cmd->mutable_command_id(), 'c', next_cmd_++);
    auto* t = cmd->mutable_time();
    t->set_seconds(now_ms_ / 1000);
    t->set_nanos(static_cast<int32_t>(now_ms_ % 1000) * 1000000);
    events_.clear();
    engine_->Apply(*cmd, &events_);
    ++commands_;
    for (const v1::RoutingEvent& ev : events_) {
      if (ev.body_case() == v1::RoutingEvent::kOfferCreated) {
        const v1::OfferCreated& o = ev.offer_created();
        pending_.push_back({static_cast<int32_t>(ParseNumId(o.agent_id())),
                            ParseNumId(o.interaction_id()), o.offer_id()});
        ++offers_;
        if (trace_.size() < trace_limit_) {
          trace_.emplace_back(pending_.back().agent, pending_.back().interaction);
        }
      } else if (ev.body_case() == v1::RoutingEvent::kCommandRejected && error_.empty()) {
        error_ = "command " + cmd->command_id() + " (" + ev.command_rejected().command() +
                 ") rejected: " + ev.command_rejected().reason() + ": " +
                 ev.command_rejected().message();
      }
    }
  }

  // Accepts every offer made by the last command. Returns the class of the first, or -1.
  int AcceptPending() {
    int first = -1;
    for (size_t i = 0; i < pending_.size(); ++i) {
      const PendingOffer& o = pending_[i];
      if (o.agent < 0 || o.agent >= m_->n_agents || o.interaction <= 0 ||
          o.interaction >= static_cast<int64_t>(class_of_.size())) {
        if (error_.empty()) error_ = "offer for an unknown agent or interaction: " + o.offer_id;
        continue;
      }
      v1::AcceptOffer* a = accept_.mutable_accept_offer();
      a->set_agent_id(m_->agent_ids[static_cast<size_t>(o.agent)]);
      a->set_offer_id(o.offer_id);
      Apply(&accept_);
      bool accepted = false;
      for (const v1::RoutingEvent& ev : events_) {
        accepted = accepted || ev.body_case() == v1::RoutingEvent::kOfferAccepted;
      }
      if (!accepted) {
        if (error_.empty()) error_ = "offer " + o.offer_id + " was not accepted";
        continue;
      }
      const int cls = class_of_[static_cast<size_t>(o.interaction)];
      if (first < 0) first = cls;
      connected_.push_back({o.agent, cls, o.interaction});
      busy_[static_cast<size_t>(o.agent)] = 1;
    }
    pending_.clear();
    return first;
  }

  const Model* m_;
  std::unique_ptr<Engine> engine_;
  int64_t now_ms_ = kStartMs;
  int64_t next_cmd_ = 1;
  int64_t next_interaction_ = 1;
  std::vector<Conn> connected_;
  std::vector<int16_t> class_of_;  // by interaction number
  std::vector<uint8_t> busy_;      // by agent
  Rng rng_{0xbe7c4ULL};
  int64_t commands_ = 0;
  int64_t offers_ = 0;
  std::string error_;
  std::vector<PendingOffer> pending_;
  std::vector<v1::RoutingEvent> events_;
  v1::RoutingCommand tick_, complete_, accept_, enqueue_;
  std::string* language_ = nullptr;
  std::string* customer_ = nullptr;
  std::vector<std::pair<int32_t, int64_t>> trace_;
  size_t trace_limit_ = 0;
};

// ---------------------------------------------------------------------------------------------
// World: one indexed engine of N agents, built once and walked through the phases.

std::vector<std::string>& Failures() {
  static std::vector<std::string> f;
  return f;
}

void Fail(const std::string& what) {
  std::fprintf(stderr, "BENCH FAILURE: %s\n", what.c_str());
  Failures().push_back(what);
}

struct Memory {
  double per_agent = 0;      // UpsertAgent + Login, nothing in hand
  double per_connected = 0;  // Enqueue + offer + AcceptOffer, while agents are free
  double per_waiting = 0;    // Enqueue while every agent is busy
  double engine_mb = 0;      // the whole engine after building the phase
};

struct World {
  int agents = 0;
  int phase = -1;
  std::unique_ptr<Model> model;
  std::unique_ptr<Driver> driver;
  int64_t heap_before_engine = 0;
  Memory mem;
  double build_seconds = 0;
};

// The engine's invariants, no command rejected, and no missed match: no interaction waits while
// an available agent is eligible for it (by the generator's restatement of the rules).
bool CheckWorld(Driver& d, const Model& m, const std::string& what) {
  absl::Status st = d.engine().CheckInvariants();
  if (!st.ok()) {
    Fail(what + ": CheckInvariants: " + std::string(st.message()));
    return false;
  }
  if (!d.error().empty()) {
    Fail(what + ": " + d.error());
    return false;
  }
  const v1::RoutingSnapshot snap = d.engine().Snapshot();
  std::vector<int> available;
  for (const v1::AgentState& a : snap.agents()) {
    if (a.presence() == v1::PRESENCE_AVAILABLE && a.pending_aux().empty() && a.legs_size() == 0) {
      available.push_back(static_cast<int>(ParseNumId(a.profile().agent_id())));
    }
  }
  int64_t waiting = 0, missed = 0;
  std::string example;
  for (const v1::InteractionRecord& in : snap.interactions()) {
    if (in.state() != v1::INTERACTION_STATE_QUEUED) continue;
    ++waiting;
    const int cls = d.ClassOf(ParseNumId(in.interaction_id()));
    if (cls < 0 || in.step() != 0 || in.excluded_agents_size() != 0) {
      Fail(what + ": unexpected waiting interaction " + in.interaction_id());
      return false;
    }
    for (int a : available) {
      if (!m.Eligible(a, cls)) continue;
      if (missed++ == 0) {
        example = in.interaction_id() + " (queue " + in.queue_id() + ", requirement '" +
                  in.requirement() + "') waits while " + m.agent_ids[static_cast<size_t>(a)] +
                  " is available and eligible";
      }
      break;
    }
  }
  if (missed > 0) {
    Fail(what + ": " + std::to_string(missed) + " missed matches, e.g. " + example);
    return false;
  }
  std::fprintf(stderr,
               "[check] %s: invariants hold, %lld waiting, %zu available, no missed match\n",
               what.c_str(), static_cast<long long>(waiting), available.size());
  return true;
}

std::unique_ptr<World> BuildWorld(int n_agents) {
  const auto t0 = std::chrono::steady_clock::now();
  auto w = std::make_unique<World>();
  w->agents = n_agents;
  w->model = MakeModel(n_agents);
  const Model& m = *w->model;
  w->heap_before_engine = HeapBytes();
  w->driver = std::make_unique<Driver>(&m, std::make_unique<Engine>("bench"));
  Driver& d = *w->driver;
  d.Reserve(static_cast<size_t>(2 * n_agents + 2 * kLargeWaiting + 1000));
  // Fill the idempotency window (10k recent command ids) so that it does not grow while the
  // memory of agents and interactions is measured.
  for (int i = 0; i < 10000; ++i) d.Tick();
  for (int k = 0; k < kQueues; ++k) {
    v1::RoutingCommand c;
    *c.mutable_upsert_queue()->mutable_queue() = QueueConfig(m, k);
    d.ApplyOther(&c);
  }
  std::vector<v1::RoutingCommand> upserts(static_cast<size_t>(n_agents));
  for (int i = 0; i < n_agents; ++i) {
    *upserts[static_cast<size_t>(i)].mutable_upsert_agent()->mutable_profile() = AgentProfile(m, i);
  }
  v1::RoutingCommand login;
  login.mutable_login()->set_presence(v1::PRESENCE_AVAILABLE);
  const int64_t h0 = HeapBytes();
  for (int i = 0; i < n_agents; ++i) d.ApplyOther(&upserts[static_cast<size_t>(i)]);
  for (int i = 0; i < n_agents; ++i) {
    login.mutable_login()->set_agent_id(m.agent_ids[static_cast<size_t>(i)]);
    d.ApplyOther(&login);
  }
  const int64_t h1 = HeapBytes();
  upserts.clear();
  upserts.shrink_to_fit();
  w->mem.per_agent = static_cast<double>(h1 - h0) / n_agents;

  // Phase arrivals: connect 90% of the agents. Each enqueue goes to its queue's best available
  // agent, who is not necessarily the agent it was meant for; loop until enough are busy.
  const int64_t target = static_cast<int64_t>(n_agents) * (100 - kArrivalsIdlePercent) / 100;
  std::vector<int> order(static_cast<size_t>(n_agents));
  std::iota(order.begin(), order.end(), 0);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[d.rng().Uniform(i)]);
  const int64_t h2 = HeapBytes();
  for (int a : order) {
    while (!d.busy(a) && d.connected() < target) {
      const int primary = m.agents[static_cast<size_t>(a)].queues[0].first;
      d.Enqueue(primary * kReqs, 0);
      d.Advance(1);
    }
    if (d.connected() >= target) break;
  }
  const int64_t h3 = HeapBytes();
  w->mem.per_connected = static_cast<double>(h3 - h2) / static_cast<double>(d.connected());
  w->mem.engine_mb = static_cast<double>(h3 - w->heap_before_engine) / 1e6;
  w->phase = kArrivals;
  w->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CheckWorld(d, m, "build " + std::to_string(n_agents) + " agents");
  std::fprintf(stderr, "[setup] %d agents, 100 queues, %lld connected: built in %.1f s\n", n_agents,
               static_cast<long long>(d.connected()), w->build_seconds);
  return w;
}

// Moves the world to `phase`: every agent connected, then waiting interactions up to W.
void AdvanceWorld(World* w, int phase) {
  const auto t0 = std::chrono::steady_clock::now();
  Driver& d = *w->driver;
  const Model& m = *w->model;
  for (int a = 0; a < m.n_agents; ++a) {
    while (!d.busy(a)) {
      const int primary = m.agents[static_cast<size_t>(a)].queues[0].first;
      d.Enqueue(primary * kReqs, 0);
      d.Advance(1);
    }
  }
  const int64_t waiting = d.engine().Stats().waiting;
  const int64_t add = WaitingFor(phase) - waiting;
  const int64_t h0 = HeapBytes();
  for (int64_t i = 0; i < add; ++i) {
    d.Enqueue(m.DrawClass(d.rng()), static_cast<int>(d.rng().Uniform(4)));
    d.Advance(1);
  }
  const int64_t h1 = HeapBytes();
  if (add > 0) w->mem.per_waiting = static_cast<double>(h1 - h0) / static_cast<double>(add);
  w->mem.engine_mb = static_cast<double>(h1 - w->heap_before_engine) / 1e6;
  w->phase = phase;
  w->build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CheckWorld(d, m,
             "phase " + std::to_string(phase) + " at " + std::to_string(m.n_agents) + " agents");
  std::fprintf(stderr, "[setup] %d agents: all connected, %lld waiting: %.1f s\n", m.n_agents,
               static_cast<long long>(WaitingFor(phase)), w->build_seconds);
}

std::unique_ptr<World> g_world;
std::unique_ptr<Driver> g_naive;
int g_naive_agents = -1, g_naive_phase = -1;

constexpr size_t kTraceDecisions = 3000;

// The naive and the indexed engine started from the same snapshot and were fed the same command
// stream: they must have made the same decisions.
void CompareTraces() {
  if (!g_naive || !g_world) return;
  const auto& a = g_naive->trace();
  const auto& b = g_world->driver->trace();
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] != b[i]) {
      Fail("naive and indexed matchers diverge at decision " + std::to_string(i) +
           " after the "
           "snapshot: naive offered i" +
           std::to_string(a[i].second) + " to a" + std::to_string(a[i].first) +
           ", indexed offered i" + std::to_string(b[i].second) + " to a" +
           std::to_string(b[i].first));
      return;
    }
  }
  std::fprintf(stderr, "[check] naive and indexed made the same %zu decisions from the snapshot\n",
               n);
}

void DropNaive() {
  if (g_naive) {
    CompareTraces();
    CheckWorld(*g_naive, *g_world->model, "naive engine after its runs");
  }
  g_naive.reset();
  g_naive_agents = g_naive_phase = -1;
}

World& GetWorld(int agents, int phase) {
  if (g_world && (g_world->agents != agents || g_world->phase > phase)) {
    DropNaive();
    CheckWorld(*g_world->driver, *g_world->model, "indexed engine after its runs");
    g_world.reset();
  }
  if (!g_world) g_world = BuildWorld(agents);
  if (g_world->phase < phase) {
    DropNaive();
    CheckWorld(*g_world->driver, *g_world->model, "indexed engine after its runs");
    AdvanceWorld(g_world.get(), phase);
  }
  return *g_world;
}

Driver* GetNaive(int agents, int phase) {
  if (g_naive && g_naive_agents == agents && g_naive_phase == phase) return g_naive.get();
  DropNaive();
  World& w = GetWorld(agents, phase);
  v1::RoutingSnapshot snap = w.driver->engine().Snapshot();
  auto restored = Engine::Restore(snap, EngineOptions{.matcher = MatcherKind::kNaiveScan});
  if (!restored.ok()) {
    Fail("restore of the naive engine: " + std::string(restored.status().message()));
    return nullptr;
  }
  g_naive = std::make_unique<Driver>(*w.driver, *std::move(restored));
  g_naive->StartTrace(kTraceDecisions);
  w.driver->StartTrace(kTraceDecisions);
  std::fprintf(stderr, "[setup] naive engine restored from a snapshot of the indexed one\n");
  g_naive_agents = agents;
  g_naive_phase = phase;
  return g_naive.get();
}

// ---------------------------------------------------------------------------------------------
// The benchmark and the summary.

// Every call of a case (Google Benchmark calls it several times while sizing the iteration
// count, and once per repetition). The summary takes the median of the calls that ran the
// final iteration count.
struct Result {
  int64_t iterations = 0;
  double ns_per_command = 0;
  double ns_per_decision = 0;
};
// key: (phase, agents, naive)
std::map<std::tuple<int, int, bool>, std::vector<Result>>& Results() {
  static std::map<std::tuple<int, int, bool>, std::vector<Result>> r;
  return r;
}
std::map<int, Memory>& Memories() {
  static std::map<int, Memory> r;
  return r;
}

void BM_Route(benchmark::State& state, int agents, int phase, bool naive) {
  Driver* d = naive ? GetNaive(agents, phase) : GetWorld(agents, phase).driver.get();
  if (d == nullptr || !d->error().empty()) {
    state.SkipWithError(d == nullptr ? "no engine" : d->error().c_str());
    for (auto _ : state) {
    }
    return;
  }
  const int64_t c0 = d->commands(), o0 = d->offers();
  const double cpu0 = ThreadCpuSeconds();
  for (auto _ : state) {
    if (phase == kArrivals) {
      d->StepArrivals();
    } else {
      d->StepFreed();
    }
    if (!d->error().empty()) {
      state.SkipWithError(d->error().c_str());
      break;
    }
  }
  const double cpu = ThreadCpuSeconds() - cpu0;
  const double commands = static_cast<double>(d->commands() - c0);
  const double decisions = static_cast<double>(d->offers() - o0);
  state.SetItemsProcessed(static_cast<int64_t>(commands));
  using benchmark::Counter;
  state.counters["ns_per_command"] = Counter(commands * 1e-9, Counter::kIsRate | Counter::kInvert);
  if (decisions > 0) {
    state.counters["ns_per_decision"] =
        Counter(decisions * 1e-9, Counter::kIsRate | Counter::kInvert);
  }
  state.counters["cmds_per_step"] = Counter(commands, Counter::kAvgIterations);
  const sb::routing::EngineStats st = d->engine().Stats();
  state.counters["waiting"] = static_cast<double>(st.waiting);
  state.counters["connected"] = static_cast<double>(st.connected);
  const Memory& mem = g_world->mem;
  state.counters["mem_agent_B"] = mem.per_agent;
  state.counters["mem_connected_B"] = mem.per_connected;
  if (phase != kArrivals) state.counters["mem_waiting_B"] = mem.per_waiting;
  if (commands > 0) {
    Results()[{phase, agents, naive}].push_back({static_cast<int64_t>(state.iterations()),
                                                 cpu * 1e9 / commands,
                                                 decisions > 0 ? cpu * 1e9 / decisions : 0});
  }
  Memories()[agents] = mem;  // the per-waiting figure of the latest phase built
}

const char* PhaseName(int phase) {
  switch (phase) {
    case kArrivals:
      return "arrivals/idle:10pct";
    case kFreedSmall:
      return "agent_freed/waiting:1000";
    default:
      return "agent_freed/waiting:100000";
  }
}

void PrintSummary(FILE* out) {
  std::vector<std::unique_ptr<Result>> medians;
  auto get = [&medians](int phase, int agents, bool naive) -> const Result* {
    auto it = Results().find({phase, agents, naive});
    if (it == Results().end() || it->second.empty()) return nullptr;
    int64_t max_iters = 0;
    for (const Result& r : it->second) max_iters = std::max(max_iters, r.iterations);
    std::vector<Result> finals;
    for (const Result& r : it->second) {
      if (r.iterations == max_iters) finals.push_back(r);
    }
    auto by_cmd = [](const Result& a, const Result& b) {
      return a.ns_per_command < b.ns_per_command;
    };
    std::nth_element(finals.begin(), finals.begin() + finals.size() / 2, finals.end(), by_cmd);
    medians.push_back(std::make_unique<Result>(finals[finals.size() / 2]));
    return medians.back().get();
  };
  std::fprintf(out,
               "\nSummary (thread CPU time; median over the repetitions of the final "
               "iteration count; ns per command and per routing decision)\n\n");
  std::fprintf(out,
               "| workload | agents | indexed ns/cmd | indexed ns/decision | naive ns/cmd | "
               "naive / indexed | indexed vs 1k agents |\n");
  std::fprintf(out, "|---|---:|---:|---:|---:|---:|---:|\n");
  for (int phase : {kArrivals, kFreedSmall, kFreedLarge}) {
    const Result* base = get(phase, 1000, false);
    for (int agents : {1000, 10000, 100000}) {
      const Result* ix = get(phase, agents, false);
      const Result* nv = get(phase, agents, true);
      if (ix == nullptr && nv == nullptr) continue;
      char ixs[32] = "-", ixd[32] = "-", nvs[32] = "-", ratio[32] = "-", growth[32] = "-";
      if (ix) std::snprintf(ixs, sizeof ixs, "%.0f", ix->ns_per_command);
      if (ix) std::snprintf(ixd, sizeof ixd, "%.0f", ix->ns_per_decision);
      if (nv) std::snprintf(nvs, sizeof nvs, "%.0f", nv->ns_per_command);
      if (ix && nv)
        std::snprintf(ratio, sizeof ratio, "%.0fx", nv->ns_per_command / ix->ns_per_command);
      if (ix && base)
        std::snprintf(growth, sizeof growth, "%.2fx", ix->ns_per_command / base->ns_per_command);
      std::fprintf(out, "| %s | %d | %s | %s | %s | %s | %s |\n", PhaseName(phase), agents, ixs,
                   ixd, nvs, ratio, growth);
    }
  }
  std::fprintf(out, "\nMemory (malloc heap deltas while populating the indexed engine)\n\n");
  std::fprintf(out,
               "| agents | bytes/agent | bytes/connected interaction | "
               "bytes/waiting interaction | engine heap MB |\n|---:|---:|---:|---:|---:|\n");
  for (const auto& [agents, mem] : Memories()) {
    std::fprintf(out, "| %d | %.0f | %.0f | %.0f | %.0f |\n", agents, mem.per_agent,
                 mem.per_connected, mem.per_waiting, mem.engine_mb);
  }
  for (const std::string& f : Failures()) std::fprintf(out, "FAILURE: %s\n", f.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  bool console = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("--benchmark_format=") && arg != "--benchmark_format=console")
      console = false;
  }
  for (int agents : {1000, 10000, 100000}) {
    for (int phase : {kArrivals, kFreedSmall, kFreedLarge}) {
      // Naive first: it restores a snapshot of the indexed world, which then runs the same
      // command stream from the same state, so the two traces of decisions can be compared.
      for (bool naive : {true, false}) {
        const std::string name = std::string(naive ? "naive/" : "indexed/") + PhaseName(phase) +
                                 "/agents:" + std::to_string(agents);
        auto* b = benchmark::RegisterBenchmark(
            name.c_str(),
            [agents, phase, naive](benchmark::State& s) { BM_Route(s, agents, phase, naive); });
        b->Unit(benchmark::kMicrosecond);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  DropNaive();
  if (g_world) CheckWorld(*g_world->driver, *g_world->model, "indexed engine after its runs");
  PrintSummary(console ? stdout : stderr);
  benchmark::Shutdown();
  return Failures().empty() ? 0 : 1;
}
