// Statistics: live and windowed contact-center figures, computed from routing events.
//
// Statistics is the read model of sb-insights: every replica applies every routing event of
// sb.routing.events.v1 (deduplicated by event id) and answers snapshot queries from memory. It
// also fills the 15-minute IntervalBook of each tenant, whose closed intervals the service stores.
// The definitions (service level, ASA, AHT, occupancy, abandons, fairness) are in
// docs/insights.md and repeated briefly on the fields below.
//
// Time: an event's time is its `time` field, never a clock. A tenant's events come from one
// partition in one order; an event stamped earlier than one already applied is applied at the
// latest time seen for its tenant (the engine's rule, now = max(now, command.time)). Snapshots
// take `now_ms` from the caller, also clamped to the latest event time. "Today" is the UTC day
// holding `now_ms` (a tenant-local day boundary is not modelled yet). Rolling windows are sums of
// one-minute buckets: a window of L minutes covers the current minute and the L - 1 before it.
//
// Tolerance: an event that refers to something never seen (consumption started mid-stream) is
// applied as far as it can be (an answer without a known arrival counts as answered with the
// event's `waited`; a wrap-up end without a known connection is ignored) and never crashes.
//
// Pure (no IO, clock or threads). Not thread-safe: the owner serializes Apply and the queries.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "insights/core/intervals.h"
#include "switchboard/routing/v1/events.pb.h"

namespace sb::insights {

namespace rv1 = ::switchboard::routing::v1;

struct StatisticsOptions {
  // Abandons after a wait shorter than this are "short": excluded from offered and abandoned.
  int64_t short_abandon_ms = 5000;
  // Rolling windows, in whole minutes, at most 24 h.
  std::vector<int64_t> windows_ms = {15 * 60 * 1000, 60 * 60 * 1000};
  // For queues whose ServiceLevel is unset (threshold 0 / target 0).
  int64_t default_sl_threshold_ms = 20 * 1000;
  double default_sl_target = 0.8;
  // A connected interaction longer than this (talk time so far) raises a long-interaction alert,
  // unless its queue has a threshold of its own.
  int64_t long_interaction_ms = 10 * 60 * 1000;
  std::map<std::string, int64_t> long_interaction_ms_by_queue;
  // Routing event ids ("<partition>/<command offset>/<index>", matching the event's fields) are
  // deduplicated exactly by a per-partition watermark. Other ids are remembered in a FIFO window
  // of this many (~100 bytes each).
  size_t dedup_window = 1 << 18;
  IntervalOptions intervals;

  // InvalidArgument naming the field at fault.
  absl::Status Validate() const;
};

// Additive counters of one queue (or agent) over some span of time.
struct Counts {
  int64_t offered = 0;             // entered the queue (new, transferred, overflowed in, escalated)
  int64_t answered = 0;            // connected to an agent
  int64_t answered_within_sl = 0;  // ... waiting <= the SL threshold
  int64_t abandoned = 0;           // hung up while waiting (queued or offered), not short
  int64_t abandoned_after_sl = 0;  // ... waiting > the SL threshold
  int64_t short_abandoned = 0;
  int64_t left_unanswered = 0;  // overflowed out, cancelled while waiting
  int64_t wait_answered_ms = 0;
  int64_t wait_abandoned_ms = 0;
  int64_t handled = 0;  // handlings (talk + wrap-up) ended
  int64_t talk_ms = 0;
  int64_t wrap_ms = 0;
  int64_t busy_ms = 0;          // member agents' time with an interaction in talk or wrap-up
  int64_t staffed_ms = 0;       // member agents' time available or busy
  int64_t offers = 0;           // offers made (OfferCreated)
  int64_t fifo_inversions = 0;  // offers that skipped an earlier same-priority waiter

  void Add(const Counts& o);
};

// Counts plus the figures derived from them; a figure is nullopt when its denominator is 0.
struct WindowStats {
  int64_t window_ms = 0;  // 0 for "today"
  int64_t from_ms = 0;    // the window covers [from_ms, now_ms]
  Counts counts;
  // answered_within_sl / (answered + abandoned_after_sl)
  std::optional<double> service_level;
  std::optional<double> asa_ms;        // wait_answered_ms / answered
  std::optional<double> aht_ms;        // (talk_ms + wrap_ms) / handled
  std::optional<double> occupancy;     // busy_ms / staffed_ms
  std::optional<double> abandon_rate;  // abandoned / (answered + abandoned)
};

// Spread of offers across agents: per agent, offers per staffed hour today; over the agents
// with staffed time today (at least one minute).
struct OfferSpread {
  int agents = 0;
  std::optional<double> mean_per_hour;
  std::optional<double> coefficient_of_variation;  // population stddev / mean
  std::optional<double> gini;                      // 0 = perfectly even, -> 1 = one agent gets all
};

struct QueueSnapshot {
  std::string queue_id;
  std::string name;
  int64_t sl_threshold_ms = 0;
  double sl_target = 0;
  int64_t waiting = 0;          // queued or offered, not yet connected
  int64_t longest_wait_ms = 0;  // of those, now - entry into this queue
  int members = 0;
  int agents_logged_in = 0;
  int agents_available = 0;          // AVAILABLE with nothing in hand
  int agents_busy = 0;               // an interaction in talk or wrap-up
  std::vector<WindowStats> windows;  // in the order of StatisticsOptions::windows_ms
  WindowStats today;
  OfferSpread offer_spread;  // this queue's offers to its members, today
};

struct AgentSnapshot {
  std::string agent_id;
  std::string name;
  std::string team;
  rv1::Presence presence = rv1::PRESENCE_UNSPECIFIED;
  std::string reason;
  int64_t since_ms = 0;  // presence or reason last changed (0: unknown)
  int64_t time_in_state_ms = 0;
  int offers_pending = 0;
  int interactions = 0;  // in talk or wrap-up
  bool busy = false;
  int64_t handled_today = 0;
  int64_t offers_today = 0;
  int64_t busy_ms_today = 0;
  int64_t staffed_ms_today = 0;
  std::optional<double> aht_ms_today;
  std::optional<double> occupancy_today;
};

struct LongInteraction {
  std::string interaction_id;
  std::string agent_id;
  std::string queue_id;
  int64_t connected_at_ms = 0;
  int64_t duration_ms = 0;  // talk time so far
  int64_t threshold_ms = 0;
};

struct WaitingEscalation {
  std::string task_id;
  std::string interaction_id;
  std::string agent_id;
  std::string team;
  std::string reason;
  std::string queue_id;
  int64_t created_at_ms = 0;
  int64_t age_ms = 0;
};

class Statistics {
 public:
  // Call StatisticsOptions::Validate first: invalid options give meaningless figures (never a
  // crash).
  explicit Statistics(StatisticsOptions options = {});
  ~Statistics();
  Statistics(Statistics&&) noexcept;
  Statistics& operator=(Statistics&&) noexcept;

  // Applies one routing event. Returns false (and changes nothing) when its event_id was applied
  // before (within the last `dedup_window` ids). An empty event_id is always applied.
  bool Apply(const rv1::RoutingEvent& event);

  // Closes the intervals of every tenant that end before now_ms - grace (for quiet periods, when
  // no event moves time on). now_ms is clamped to each tenant's latest event time.
  void AdvanceTime(int64_t now_ms);
  // Closed interval aggregates of all tenants not taken yet.
  std::vector<IntervalAggregate> TakeClosedIntervals();
  std::vector<IntervalAggregate> OpenIntervals(std::string_view tenant) const;

  std::vector<std::string> Tenants() const;
  // Sorted by queue id. Queues known from QueueUpserted, or from traffic.
  std::vector<QueueSnapshot> Queues(std::string_view tenant, int64_t now_ms) const;
  std::optional<QueueSnapshot> Queue(std::string_view tenant, std::string_view queue,
                                     int64_t now_ms) const;
  // Sorted by agent id.
  std::vector<AgentSnapshot> Agents(std::string_view tenant, int64_t now_ms) const;
  // Longest first.
  std::vector<LongInteraction> LongInteractions(std::string_view tenant, int64_t now_ms) const;
  // Oldest first.
  std::vector<WaitingEscalation> Escalations(std::string_view tenant, int64_t now_ms) const;

 private:
  struct Impl;
  StatisticsOptions options_;
  std::unique_ptr<Impl> impl_;
};

// The spread of `values` (>= 0): coefficient of variation and Gini coefficient. Exposed for tests.
OfferSpread Spread(const std::vector<double>& values);

}  // namespace sb::insights
