#pragma once
// Internal to the routing engine: the in-memory state and its indexes. Not a public API.

#include <array>
#include <cstdint>
#include <deque>
#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/expr/expr.h"
#include "routing/engine/engine.h"

namespace sb::routing {

inline constexpr int kChannelCount = 6;           // index = v1::Channel value
inline constexpr int64_t kPriorityScale = 60000;  // priority points x ms per minute
// A class gets its own availability index once an arrival skipped this many members...
inline constexpr int kIndexClassAfterSkips = 8;
// ...unless its queue already has this many indexed classes (each costs every agent update).
inline constexpr size_t kMaxIndexedClassesPerQueue = 16;
// WarnCaller: warnings kept per interaction (the next one is refused with TOO_MANY_WARNINGS).
inline constexpr size_t kMaxWarningsPerInteraction = 16;
// RecordVerification: distinct passed factors kept per interaction (a new one beyond is refused
// with TOO_MANY_FACTORS), and the cap on counted failed attempts (further ones keep it there).
inline constexpr size_t kMaxVerifiedFactorsPerInteraction = 16;
inline constexpr int32_t kMaxFailedVerifications = 1000;

struct QueueRt;
struct AgentRt;
struct InteractionRt;
struct ClassRt;

// Position of a waiting interaction inside its queue: the highest effective priority first, then
// the earliest arrival (seq). `neg_key` is -aging_key (see InteractionRt::aging_key).
struct WaitKey {
  int64_t neg_key = 0;
  int64_t seq = 0;
  friend bool operator<(const WaitKey& a, const WaitKey& b) {
    return a.neg_key != b.neg_key ? a.neg_key < b.neg_key : a.seq < b.seq;
  }
  friend bool operator==(const WaitKey& a, const WaitKey& b) {
    return a.neg_key == b.neg_key && a.seq == b.seq;
  }
};

// Order-statistic tree: positions in O(log n).
using PositionTree =
    __gnu_pbds::tree<WaitKey, __gnu_pbds::null_type, std::less<WaitKey>, __gnu_pbds::rb_tree_tag,
                     __gnu_pbds::tree_order_statistics_node_update>;

// Order of an available agent in a queue's strategy (smaller is better); `order` breaks ties.
struct AvailKey {
  int64_t a = 0;
  int64_t b = 0;
  int64_t order = 0;
  friend bool operator<(const AvailKey& x, const AvailKey& y) {
    if (x.a != y.a) return x.a < y.a;
    if (x.b != y.b) return x.b < y.b;
    return x.order < y.order;
  }
};

// Available agents in strategy order. A B-tree: a lookup touches a few wide nodes instead of a
// dozen scattered red-black nodes, which matters once the domain no longer fits in cache.
using AvailableSet = absl::btree_map<AvailKey, AgentRt*>;

// One interaction in an agent's hands.
struct Leg {
  std::string interaction_id;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  v1::LegPhase phase = v1::LEG_PHASE_UNSPECIFIED;
  std::string offer_id;
  int64_t deadline_ms = 0;  // offer expiry or wrap-up end
  int64_t connected_at_ms = 0;
  std::string disposition;
  std::string queue_id;
};

// A requirement class: the waiting interactions of one queue that share (step, requirement).
// Whether an agent satisfies it is evaluated once per agent profile, then cached on the agent.
struct ClassRt {
  int64_t id = 0;  // creation order, for ordered containers of classes
  QueueRt* queue = nullptr;
  int step = 0;
  std::string requirement_text;
  expr::Expression requirement;  // the interaction's own requirement
  std::map<WaitKey, InteractionRt*> waiting;
  // A selective class (arrivals skipped many available members that fail its requirement) gets
  // its own index of the available members that satisfy it, kept up to date by Reindex. Which
  // classes are indexed is part of the state (it shapes explanations) and of the snapshot.
  bool indexed = false;
  AvailableSet available;
};

struct ClassKey {
  int step = 0;
  std::string requirement;
  friend bool operator<(const ClassKey& a, const ClassKey& b) {
    return a.step != b.step ? a.step < b.step : a.requirement < b.requirement;
  }
};

struct ClassById {
  bool operator()(const ClassRt* a, const ClassRt* b) const { return a->id < b->id; }
};

struct QueueRt {
  v1::Queue config;
  expr::Expression membership;
  std::vector<expr::Expression> step_requirements;  // parallel to config.steps()
  std::vector<int64_t> step_after_ms;
  int64_t offer_timeout_ms = 15000;
  int64_t wrap_up_ms = 0;
  int64_t max_wait_ms = 0;
  int64_t aging = 1;  // points per minute

  std::map<ClassKey, std::unique_ptr<ClassRt>> classes;
  std::set<ClassRt*, ClassById> nonempty;  // classes with waiting interactions
  std::vector<ClassRt*> indexed_classes;   // classes with their own availability index
  PositionTree positions;                  // every QUEUED interaction of this queue
  AvailableSet available;                  // members offerable on config.channel()
  std::map<int64_t, AgentRt*> members;     // by agent order
  int64_t logged_in_members = 0;
  int64_t rr_last_order = -1;
  int64_t aht_ms = 0;
  int64_t handled = 0;
};

struct AgentRt {
  v1::AgentProfile profile;
  int64_t order = 0;
  // (class id, eligible) for the classes this agent was checked against since its profile last
  // changed. A few dozen entries, scanned linearly: cheaper than a hash lookup per class.
  mutable std::vector<std::pair<int64_t, bool>> eligible_cache;
  absl::flat_hash_map<std::string, int> skills;
  std::array<int, kChannelCount> capacity{};
  std::array<int, kChannelCount> load{};

  v1::Presence presence = v1::PRESENCE_OFFLINE;
  std::string reason;
  std::string pending_aux;
  int64_t pending_break_ms = 0;
  int64_t idle_since_ms = 0;
  int64_t busy_ms = 0;
  int64_t handled = 0;
  int64_t break_until_ms = 0;
  std::vector<Leg> legs;

  std::vector<QueueRt*> member_of;  // sorted by queue id
  // Entries this agent holds in queues' `available` sets.
  // The keys this agent holds in queues' and classes' availability sets.
  std::vector<std::pair<QueueRt*, AvailKey>> available_in;
  std::vector<std::pair<ClassRt*, AvailKey>> class_available_in;
  // Interactions waiting for this agent as their preferred agent, by seq.
  std::map<int64_t, InteractionRt*> preferred_waiting;

  bool logged_in() const { return presence != v1::PRESENCE_OFFLINE; }
  int TotalLoad() const {
    int n = 0;
    for (int l : load) n += l;
    return n;
  }
};

// A warning given to the caller (WarnCaller).
struct Warning {
  std::string category;
  std::string agent_id;
  int64_t at_ms = 0;
};

struct InteractionRt {
  std::string id;
  int64_t seq = 0;
  QueueRt* queue = nullptr;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  int32_t priority = 0;
  google::protobuf::Map<std::string, std::string> attributes;
  std::string requirement;
  std::string preferred_agent_id;
  int64_t preferred_until_ms = 0;
  int64_t enqueued_at_ms = 0;
  int64_t queue_entered_at_ms = 0;
  int step = 0;
  v1::InteractionState state = v1::INTERACTION_STATE_UNSPECIFIED;
  std::string offer_id;
  std::string agent_id;
  int64_t offer_expires_ms = 0;
  int64_t connected_at_ms = 0;
  std::vector<std::string> excluded;  // sorted
  std::string escalated_from;
  std::string escalating_agent;
  bool warm = false;
  std::string escalation_task;
  // Warnings given to the caller, oldest first. Kept across transfers; an escalation task gets a
  // copy when created and again when a supervisor joins (the same conversation).
  std::vector<Warning> warnings;
  // Identity verification of the caller (RecordVerification), kept and copied like `warnings`:
  // the factors passed (distinct, in the order first passed), the failed attempts (capped at
  // kMaxFailedVerifications) and whether the caller is verified (never reset).
  std::vector<std::string> verified_factors;
  int32_t failed_verifications = 0;
  bool verified = false;
  // Effective priority at time t, in points x kPriorityScale, is aging_key + aging * t.
  int64_t aging_key = 0;
  int64_t step_deadline_ms = 0;
  int64_t max_wait_deadline_ms = 0;

  ClassRt* cls = nullptr;      // when QUEUED and in a class
  AgentRt* held_by = nullptr;  // when QUEUED and waiting for its preferred agent

  WaitKey key() const { return WaitKey{-aging_key, seq}; }
  bool Excludes(const std::string& agent_id) const;
  void Exclude(const std::string& agent_id);  // keeps `excluded` sorted and unique
  // Takes over `from`'s caller verification (an escalation task, from its interaction).
  void CopyVerificationFrom(const InteractionRt& from);
};

// Whether `agent` may not be offered `in`: it rejected it before, or still holds a leg of it (a
// wrap-up after transferring it, say).
bool Blocked(const InteractionRt& in, const AgentRt& agent);

enum class TimerKind : int {
  kOfferTimeout = 0,
  kWrapUp = 1,
  kBreakEnd = 2,
  kPreferredExpiry = 3,
  kStep = 4,
  kMaxWait = 5,
};

struct TimerKey {
  int64_t at = 0;
  TimerKind kind = TimerKind::kOfferTimeout;
  std::string id;   // interaction id, or agent id
  std::string sub;  // interaction id for wrap-up timers
  friend bool operator<(const TimerKey& x, const TimerKey& y) {
    if (x.at != y.at) return x.at < y.at;
    if (x.kind != y.kind) return x.kind < y.kind;
    if (x.id != y.id) return x.id < y.id;
    return x.sub < y.sub;
  }
};

// EngineImpl: the state and logic behind Engine. Single-threaded.
class EngineImpl {
 public:
  EngineImpl(std::string tenant_id, EngineOptions options);

  void Apply(const v1::RoutingCommand& command, std::vector<v1::RoutingEvent>* events);
  std::optional<int64_t> NextDeadlineMs() const;
  v1::RoutingSnapshot Snapshot() const;
  absl::Status Restore(const v1::RoutingSnapshot& snapshot);
  EngineStats Stats() const;
  absl::Status CheckInvariants() const;

  std::optional<v1::InteractionRecord> GetInteraction(const std::string& id) const;
  std::optional<v1::AgentState> GetAgent(const std::string& id) const;
  std::optional<v1::QueueState> GetQueue(const std::string& id) const;
  int64_t QueueWaiting(const std::string& id) const;

  int64_t now_ms() const { return now_ms_; }
  const std::string& tenant_id() const { return tenant_id_; }

 private:
  // --- command handlers (engine.cc); each validates fully before changing anything.
  void DoUpsertQueue(const v1::UpsertQueue& c);
  void DoRemoveQueue(const v1::RemoveQueue& c);
  void DoUpsertAgent(const v1::UpsertAgent& c);
  void DoRemoveAgent(const v1::RemoveAgent& c);
  void DoLogin(const v1::Login& c);
  void DoLogout(const v1::Logout& c);
  void DoSetPresence(const v1::SetPresence& c);
  void DoEnqueue(const v1::Enqueue& c);

 public:
  // Why an Enqueue would be rejected now, if it would (the checks of DoEnqueue, no effects).
  std::optional<Rejection> CheckEnqueue(const v1::Enqueue& c) const;
  bool Seen(const std::string& command_id) const { return recent_set_.contains(command_id); }

 private:
  void DoCancel(const v1::Cancel& c);
  void DoAccept(const v1::AcceptOffer& c);
  void DoReject(const v1::RejectOffer& c);
  void DoComplete(const v1::Complete& c);
  void DoEndWrapUp(const v1::EndWrapUp& c);
  void DoTransfer(const v1::Transfer& c);
  void DoEscalate(const v1::Escalate& c);
  void DoAgentDisconnect(const v1::AgentDisconnect& c);
  void DoWarnCaller(const v1::WarnCaller& c);
  void DoRecordVerification(const v1::RecordVerification& c);
  void DoStartRecoveryBreak(const v1::StartRecoveryBreak& c);

  // --- timers
  void FireDueTimers();
  void SetTimer(TimerKind kind, const std::string& id, const std::string& sub, int64_t* slot,
                int64_t at);
  void ClearTimer(TimerKind kind, const std::string& id, const std::string& sub, int64_t* slot);
  void OnOfferTimeout(InteractionRt* in);
  void OnStep(InteractionRt* in);
  void OnMaxWait(InteractionRt* in);
  // Applies the queue's overflow action to an interaction that is in no waiting list.
  void Overflow(InteractionRt* in, const std::string& reason);
  void OnPreferredExpiry(InteractionRt* in);
  void OnBreakEnd(AgentRt* agent);

  // --- state transitions (engine.cc)
  // Puts a QUEUED interaction into its queue's indexes (class or preferred agent) and timers.
  void InsertWaiting(InteractionRt* in);
  void RemoveWaiting(InteractionRt* in);
  // (Re)enters the interaction into queue `q` as QUEUED, emitting InteractionQueued.
  void EnterQueue(InteractionRt* in, QueueRt* q, const std::string& cause, bool new_queue);
  void EndInteraction(InteractionRt* in, v1::EndReason reason, const std::string& disposition,
                      const std::string& category = "", const std::string& decision = "");
  // Ends the agent's connected leg of `in`: the leg goes to wrap-up.
  void StartWrapUp(AgentRt* agent, const std::string& interaction_id,
                   const std::string& disposition);
  void FinishWrapUp(AgentRt* agent, const std::string& interaction_id,
                    const std::string& disposition, bool timed_out);
  void RemoveLeg(AgentRt* agent, const std::string& interaction_id);
  Leg* FindLeg(AgentRt* agent, const std::string& interaction_id);
  // The agent, if `interaction_id` is connected to it; else rejects the command (NO_SUCH_AGENT or
  // NOT_CONNECTED) and returns null.
  AgentRt* ConnectedAgent(const std::string& agent_id, const std::string& interaction_id);
  Leg* FindOfferedLeg(AgentRt* agent, const std::string& offer_id);
  void RejectStaleOffer(const std::string& offer_id);
  void EmitPendingAux(AgentRt* agent);
  void SetPresence(AgentRt* agent, v1::Presence presence, const std::string& reason,
                   int64_t until_ms = 0);
  void AfterLegEnded(AgentRt* agent);
  void CancelEscalationTask(InteractionRt* original);
  void RescindOffer(InteractionRt* in, const std::string& cause);
  void DeleteInteraction(InteractionRt* in);

  // --- indexes and matching (match.cc)
  bool Offerable(const AgentRt& agent, v1::Channel channel) const;
  AvailKey StrategyKey(const QueueRt& q, const AgentRt& agent) const;
  void Reindex(AgentRt* agent);
  void RecomputeMembership(AgentRt* agent);
  bool Eligible(const ClassRt& cls, const AgentRt& agent) const;
  bool EligibleUncached(const QueueRt& q, int step, const expr::Expression& requirement,
                        const AgentRt& agent) const;
  ClassRt* ClassFor(QueueRt* q, int step, const std::string& requirement);
  void IndexClass(ClassRt* cls);
  void DropClass(ClassRt* cls);  // removes agents' entries in its index; the caller erases it
  void TryMatchInteraction(InteractionRt* in, const std::string& trigger);
  void TryMatchAgent(AgentRt* agent);
  void TryMatchQueueAgents(QueueRt* q);
  void MakeOffer(InteractionRt* in, AgentRt* agent, v1::Explanation explanation);
  bool FindAgentIndexed(InteractionRt* in, v1::Explanation* ex, AgentRt** chosen);
  bool FindAgentNaive(InteractionRt* in, v1::Explanation* ex, AgentRt** chosen);
  InteractionRt* FindInteractionIndexed(AgentRt* agent, v1::Explanation* ex);
  InteractionRt* FindInteractionNaive(AgentRt* agent, v1::Explanation* ex);
  int64_t EffectivePriority(const InteractionRt& in) const;  // points x kPriorityScale, now
  double StrategyScore(const QueueRt& q, const AgentRt& agent) const;
  int StepFor(const QueueRt& q, int64_t waited_ms) const;

  // --- events
  v1::RoutingEvent* Emit();
  void Reject(const std::string& reason, const std::string& message);

  // --- lookups
  QueueRt* FindQueue(const std::string& id) const;
  AgentRt* FindAgent(const std::string& id) const;
  InteractionRt* FindInteraction(const std::string& id) const;

  // --- config (validate.cc)
  absl::Status BuildQueue(const v1::Queue& config, QueueRt* q, bool check_refs = true) const;
  absl::Status ValidateProfile(const v1::AgentProfile& p) const;
  void SetProfile(AgentRt* agent, const v1::AgentProfile& p);

  std::string tenant_id_;
  EngineOptions options_;
  int64_t now_ms_ = 0;
  int64_t config_version_ = 0;
  int64_t next_offer_seq_ = 1;
  int64_t next_order_ = 1;
  int64_t next_interaction_seq_ = 1;
  int64_t next_class_id_ = 1;

  absl::btree_map<std::string, std::unique_ptr<QueueRt>> queues_;
  absl::flat_hash_map<std::string, std::unique_ptr<AgentRt>> agents_;
  absl::flat_hash_map<std::string, std::unique_ptr<InteractionRt>> interactions_;
  std::set<TimerKey> timers_;
  std::deque<std::string> recent_ids_;
  absl::flat_hash_set<std::string> recent_set_;

  // The command being applied and where its events go.
  const v1::RoutingCommand* command_ = nullptr;
  std::vector<v1::RoutingEvent>* out_ = nullptr;
  int event_index_ = 0;
  bool rejected_ = false;  // the command being applied was rejected
};

// Helpers shared by the engine's files.
int64_t DurationMs(const google::protobuf::Duration& d);
void SetDurationMs(int64_t ms, google::protobuf::Duration* d);
void SetTimestampMs(int64_t ms, google::protobuf::Timestamp* t);
int64_t TimestampMs(const google::protobuf::Timestamp& t);
bool ValidId(const std::string& id, size_t max_len);

}  // namespace sb::routing
