// sb::traffic: real-time traffic against the real routing service. Callers arrive through gRPC
// InteractionService.Enqueue (as a telephony edge would) and may abandon (Cancel); agents log in,
// accept their offers, talk for a handle time, complete and end their wrap-up — either through
// sb-agent-state's desktop API (the demo: as real agents) or straight into
// sb.routing.commands.v1 through the routing client (sb-load: routing alone). What happens to
// callers is learnt from sb.routing.events.v1. Used by `switchboard up --demo` (RunDemo) and by
// `sb-load`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loadgen/latency_histogram.h"

namespace sb::traffic {

// ---------------------------------------------------------------------------------------------
// The demo: a small contact center's worth of traffic, for `switchboard up --demo`.

struct DemoOptions {
  std::string grpc_target;  // sb-routing address, e.g. "127.0.0.1:7070"
  std::string bootstrap;    // Kafka bootstrap servers
  std::string tenant = "demo";
  std::vector<std::string> queue_ids;  // queues callers go to (must exist)
  std::vector<std::string> agent_ids;  // agents to play (must exist in the applied config)
  // sb-agent-state address: the agents play through its desktop API (AgentDesktop.Connect), as
  // real agents do. Empty: straight into sb.routing.commands.v1 through the routing client.
  std::string agent_state_target;
  double calls_per_second = 2;
  double mean_handle_seconds = 20;
  double mean_patience_seconds = 90;
  uint64_t seed = 0;  // 0 = random (printed)
};

// Logs the agents in, plays callers and agents until `stop` becomes true, printing a one-line
// live summary to `out` every second. Returns an error if it cannot reach the services.
absl::Status RunDemo(const DemoOptions& options, const std::atomic<bool>& stop, std::ostream& out);

// ---------------------------------------------------------------------------------------------
// The machinery, shared by RunDemo and sb-load.

// A queue callers are sent to.
struct QueueRef {
  std::string tenant_id;
  std::string queue_id;
};

// An agent the driver plays.
struct AgentRef {
  std::string tenant_id;
  std::string agent_id;
};

struct DriverOptions {
  // sb-routing replicas (host:port). Enqueue and Cancel go to them in turn (any replica takes
  // them).
  std::vector<std::string> grpc_targets;
  std::string bootstrap;  // Kafka bootstrap servers
  // Raw librdkafka properties for the driver's own producer and consumer (after its default
  // fetch.wait.max.ms=5 on the consumer).
  std::vector<std::pair<std::string, std::string>> kafka_overrides;

  std::vector<QueueRef> queues;  // callers pick one uniformly at random
  std::vector<AgentRef> agents;
  // Where the agents act. Empty: the driver sends their routing commands itself (Login,
  // AcceptOffer, Complete, EndWrapUp, SetPresence) through the routing client, reacting to
  // sb.routing.events.v1 — sb-load's mode, which measures routing alone. Set (an sb-agent-state
  // address): each agent has a desktop, one AgentDesktop.Connect stream, and reacts to what its
  // desktop shows (offers, assignments, wrap-up timers, its state), as a real agent does; a
  // stream that ends unexpectedly reconnects after a second and resumes after the last event id.
  std::string agent_state_target;

  // Open-loop arrivals: Poisson (exponential gaps) or evenly spaced at this rate. Arrivals that
  // fall due while the scheduler thread was busy are sent at once (no coordinated omission).
  double calls_per_second = 2;
  bool poisson_arrivals = true;
  // Agents: time from InteractionConnected to Complete (exponential with this mean, capped at
  // 10x the mean); from WrapUpStarted to EndWrapUp when the queue has a wrap-up.
  double mean_handle_seconds = 20;
  double mean_wrap_up_seconds = 3;
  // Callers not yet connected after this (exponential) hang up: Cancel(ABANDONED). 0 = never.
  double mean_patience_seconds = 90;
  // An agent put in aux "not_responding" (missed offer) is set available again after this.
  std::chrono::milliseconds not_responding_recovery{1000};

  std::chrono::milliseconds rpc_timeout{5000};
  // Enqueue RPCs outstanding at most; an arrival beyond it is counted as the error
  // CLIENT_BACKLOG instead of being sent (keeps an overloaded run from eating all memory).
  int max_enqueues_in_flight = 20000;
  uint64_t seed = 0;  // 0 = random; TrafficDriver::seed() tells the one used
};

// What a driver saw. A snapshot (plain value) from TrafficDriver::Stats().
struct TrafficStats {
  // Callers.
  int64_t enqueue_sent = 0;  // Enqueue RPCs started
  int64_t enqueued = 0;      // Enqueue RPCs answered OK
  int64_t enqueue_errors = 0;
  // Enqueue/Cancel calls retried on another replica after a NOT_OWNER answer (not errors).
  int64_t redirects = 0;
  std::map<std::string, int64_t> errors_by_code;  // "Enqueue UNAVAILABLE", "Cancel NOT_FOUND", ...
  std::map<std::string, std::string> error_examples;  // the first message of each of those
  int64_t offered = 0;                                // interactions that got their first offer
  int64_t abandoned = 0;                              // InteractionEnded ABANDONED
  int64_t completed = 0;                              // InteractionEnded COMPLETED
  int64_t other_ended = 0;                            // overflowed, cancelled, ...
  int64_t waiting = 0;  // enqueued (or being enqueued), neither offered yet nor ended
  // Agents.
  int64_t agents_logged_in = 0;  // known to be logged in now
  int64_t accepted = 0;          // OfferAccepted for our agents
  int64_t offer_timeouts = 0;    // OfferTimedOut for our agents
  int64_t connected_now = 0;     // interactions our agents are talking on now
  // CommandRejected events answering our commands, by reason.
  int64_t rejected = 0;
  std::map<std::string, int64_t> rejected_by_reason;
  int64_t desktops_connected = 0;  // desktop mode: streams open now
  int64_t desktop_reconnects = 0;  // desktop mode: streams reopened after an unexpected end
  int64_t events = 0;              // events of our tenants consumed (after dedup)
  int64_t duplicate_events = 0;

  // From just before the Enqueue RPC to the receipt of the first OfferCreated (steady clock).
  LatencyHistogram enqueue_to_offer;
  // Where that time goes. enqueue_rpc: the Enqueue round trip (the command is in Kafka when it
  // answers). Then, by wall clock (ms resolution), for each first offer: command_to_event: from
  // the time of the command that caused it (stamped when sb-routing took the Enqueue, for an
  // arrival that found an agent) to the OfferCreated record's Kafka timestamp (when sb-routing
  // produced it): the command's trip through Kafka, the routing consumer and the engine;
  // event_to_driver: from that timestamp to our receipt of the event.
  LatencyHistogram enqueue_rpc;
  LatencyHistogram command_to_event;
  LatencyHistogram event_to_driver;
  // The scheduler thread's worst lateness (ms): large values mean the driver is the bottleneck.
  double scheduler_max_late_ms = 0;
};

// TrafficDriver
//
// Plays callers and agents against running sb-routing replicas. Lifecycle: Create (connects:
// gRPC channels ready, producer, consumer positioned at the end of every partition of
// sb.routing.events.v1) -> LoginAgents -> StartCalls ... StopCalls -> WaitIdle (optional) ->
// destruction (stops every thread; agents stay logged in).
//
// Threads (all owned): the scheduler (arrivals and timers; starts async sends), the gRPC
// completion thread (Enqueue/Cancel answers), the event consumer (polls Kafka, updates the state,
// accepts offers), in desktop mode gRPC's callback threads (desktop events), plus librdkafka's and
// gRPC's internal threads. Shared state is guarded by one mutex. Public methods may be called from
// any thread, but only one thread should drive the lifecycle.
class TrafficDriver {
 public:
  static absl::StatusOr<std::unique_ptr<TrafficDriver>> Create(const DriverOptions& options);
  ~TrafficDriver();
  TrafficDriver(const TrafficDriver&) = delete;
  TrafficDriver& operator=(const TrafficDriver&) = delete;

  // Sends Login for every agent and waits until each is confirmed logged in (AgentStateChanged,
  // or ALREADY_LOGGED_IN). FAILED_PRECONDITION naming the agents the routing service does not
  // know (NO_SUCH_AGENT: apply the config first); DEADLINE_EXCEEDED if some are not confirmed in
  // time (is a replica serving their tenant's partition?).
  absl::Status LoginAgents(std::chrono::milliseconds timeout);

  // Starts / stops the arrival of callers. Agents keep playing until destruction.
  void StartCalls();
  void StopCalls();

  // Waits until no caller is waiting for an offer (all offered or ended) and no Enqueue RPC is
  // outstanding; false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

  // Zeroes the counters and histograms (e.g. after a warm-up). Callers enqueued before it are
  // no longer counted when they are offered or end.
  void ResetStats();
  TrafficStats Stats() const;

  uint64_t seed() const;
  // The prefix of every interaction and command id this driver makes (unique per run).
  const std::string& run_id() const;

  class Impl;

 private:
  explicit TrafficDriver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// One line for humans: "enqueued=.. offered=.. ... offer p50=..ms p99=..ms".
std::string SummaryLine(const TrafficStats& stats);

}  // namespace sb::traffic
