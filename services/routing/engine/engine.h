#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "switchboard/routing/v1/commands.pb.h"
#include "switchboard/routing/v1/events.pb.h"
#include "switchboard/routing/v1/snapshot.pb.h"

namespace sb::routing {

namespace v1 = ::switchboard::routing::v1;

// How the engine finds the partner of a routing decision.
enum class MatcherKind {
  // Indexes: per-queue ordered sets of available agents, per-(queue, requirement) ordered sets of
  // waiting interactions. A decision costs O(log n) plus the candidates it must skip.
  kIndexed,
  // The reference the benchmarks compare against: every decision scans every agent (a new
  // interaction) or every waiting interaction (a freed agent), evaluating expressions as it goes,
  // the way Asterisk app_queue and FreeSWITCH mod_callcenter do. Same decisions, slower.
  kNaiveScan,
};

struct EngineOptions {
  MatcherKind matcher = MatcherKind::kIndexed;
  // How many recent command ids are remembered to ignore repeats (idempotent retries).
  int command_id_window = 10000;
};

// A point-in-time count of what the domain holds, for metrics and benchmarks.
struct EngineStats {
  int64_t queues = 0;
  int64_t agents = 0;
  int64_t agents_logged_in = 0;
  int64_t interactions = 0;
  int64_t waiting = 0;
  int64_t offered = 0;
  int64_t connected = 0;
  int64_t timers = 0;
};

// Why a command is (or would be) rejected: a stable reason (docs/routing.md) and a message that
// names the field at fault.
struct Rejection {
  std::string reason;
  std::string message;
};

class EngineImpl;

// Engine: the routing state machine of one routing domain (a tenant).
//
// Apply(command) appends the events the command causes; nothing else changes the state. It does
// no IO, reads no clock (time is max(previous time, command.time)) and starts no threads, so the
// same command log yields byte-identical events. Invalid commands yield one CommandRejected event
// and change nothing. See docs/routing.md for the model.
//
// Thread-compatible: one thread at a time (the partition owner) may call any method.
class Engine {
 public:
  explicit Engine(std::string tenant_id, EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Applies `command` and appends the resulting events to `events`. Timers due at the command's
  // time fire first, in deadline order.
  void Apply(const v1::RoutingCommand& command, std::vector<v1::RoutingEvent>* events);

  // The earliest pending timer (offer timeout, expansion step, max wait, preferred-agent expiry,
  // wrap-up end, break end), in ms since the epoch of the command clock; nullopt if none. The
  // owner appends a Tick command when it is due.
  std::optional<int64_t> NextDeadlineMs() const;

  // The domain's clock: the largest command time applied so far (ms since the epoch).
  int64_t now_ms() const;
  const std::string& tenant_id() const;

  // The whole state. Restore(Snapshot()) followed by the same commands gives the same events.
  v1::RoutingSnapshot Snapshot() const;
  static absl::StatusOr<std::unique_ptr<Engine>> Restore(const v1::RoutingSnapshot& snapshot,
                                                         EngineOptions options = {});

  // Read-only views for the service's Get API, metrics and tests.
  EngineStats Stats() const;
  // The interaction's current record (state, queue, agent, ...), or nullopt if unknown/ended.
  std::optional<v1::InteractionRecord> GetInteraction(const std::string& interaction_id) const;
  std::optional<v1::AgentState> GetAgent(const std::string& agent_id) const;
  std::optional<v1::QueueState> GetQueue(const std::string& queue_id) const;
  // Number of interactions waiting in a queue (not offered).
  int64_t QueueWaiting(const std::string& queue_id) const;

  // Whether `command` would be rejected if applied now, without applying it. A command whose id
  // was already applied is never rejected (the repeat is ignored: retries succeed). Checks Enqueue
  // (every check the engine makes) and Cancel (the interaction exists); other kinds: nullopt.
  // For the API's synchronous validation (the engine stays the authority when it applies).
  std::optional<Rejection> Check(const v1::RoutingCommand& command) const;

  // Verifies every internal index against the state (capacity, one state per interaction, index
  // membership). O(state); for tests. Returns the first inconsistency found.
  absl::Status CheckInvariants() const;

 private:
  explicit Engine(std::unique_ptr<EngineImpl> impl);
  std::unique_ptr<EngineImpl> impl_;
};

}  // namespace sb::routing
