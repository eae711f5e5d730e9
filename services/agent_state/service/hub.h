// Hub: sb-agent-state's shared state. It owns the Projection (rebuilt from
// sb.routing.events.v1 by the Feed thread), knows which desktops are connected to this replica,
// and pushes each desktop event to its agent's session. Thread-safe: one mutex guards the
// projection and the session registry, so a desktop that connects sees its initial events and
// then every live one, with no gap and no duplicate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent_state/core/projection.h"
#include "agent_state/service/metrics.h"
#include "common/kafka/config.h"

namespace sb::agent_state {

// What supervisors do through sb-agent-state (messages, interventions): AgentEvent records.
inline constexpr std::string_view kAgentEventsTopic = "sb.agent.events.v1";

// A connected desktop, as the hub sees it (implemented by the gRPC reactor).
class DesktopSink {
 public:
  virtual ~DesktopSink() = default;
  // Queues an event for the desktop; must not block (called under the hub's lock).
  virtual void Push(const av1::DesktopEvent& event) = 0;
  // Ends the session with a Goodbye{reason} (after what is queued); must not block.
  virtual void Close(const std::string& reason) = 0;
};

class Hub {
 public:
  Hub(ProjectionOptions options, AgentStateMetrics* metrics);

  // Applies routing events (deduplicated) and pushes what they produce to connected desktops.
  void Apply(const std::vector<rv1::RoutingEvent>& events);

  // Registers `sink` as the desktop of (tenant, agent), taking over (Close("TAKEN_OVER")) any
  // previous one, and pushes to it the events to send first: with `resume_after` in the agent's
  // retained log, the events after it; otherwise the agent's current state. Under the lock, so
  // live events follow with no gap. Returns how many events were replayed (0: state sent).
  // NotFound NO_SUCH_AGENT for an agent routing does not know (nothing registered).
  absl::StatusOr<size_t> Register(const std::string& tenant, const std::string& agent,
                                  const std::string& resume_after, DesktopSink* sink);
  // Forgets `sink` if it is still the agent's desktop.
  void Unregister(const std::string& tenant, const std::string& agent, DesktopSink* sink);
  // Closes every session with `reason` (shutdown).
  void CloseAll(const std::string& reason);
  // This process's replica id (in DesktopConnected announcements).
  void set_replica(std::string replica) { replica_ = std::move(replica); }
  const std::string& replica() const { return replica_; }
  // Applies sb.agent.events.v1: a supervisor message goes to the agent's desktop if it is
  // connected here; a DesktopConnected from another replica, newer than this replica's session
  // for that agent, closes the session here (TAKEN_OVER). Deduplicated by event id (a bounded
  // window).
  void ApplyAgentEvents(const std::vector<av1::AgentEvent>& events);
  // Pushes an event to the agent's desktop if it is connected here; false otherwise.
  bool PushTo(const std::string& tenant, const std::string& agent, const av1::DesktopEvent& event);

  // Runs `fn` with the projection, under the lock (for checks and floor views).
  template <typename Fn>
  auto Read(Fn fn) const {
    std::lock_guard<std::mutex> lock(mu_);
    return fn(projection_);
  }
  bool IsConnected(const std::string& tenant, const std::string& agent) const;
  // Waits until the projection's version differs from `version` or `timeout` passes; returns the
  // version now.
  uint64_t WaitForChange(uint64_t version, std::chrono::milliseconds timeout) const;
  size_t connected() const;
  void UpdateGauges();

 private:
  using Key = std::pair<std::string, std::string>;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  Projection projection_;                                 // guarded by mu_
  std::map<Key, DesktopSink*> sessions_;                  // guarded by mu_
  std::map<Key, int64_t> registered_ms_;                  // guarded by mu_ (wall clock)
  std::string replica_;                                   // set before serving
  std::map<std::string, int64_t> escalation_created_ms_;  // task -> created (guarded by mu_)
  std::set<std::string> agent_event_ids_;                 // guarded by mu_ (dedup window)
  std::deque<std::string> agent_event_order_;             // guarded by mu_ (oldest first)
  AgentStateMetrics* const metrics_;
};

// Feed: one thread reading sb.routing.events.v1 (every partition, no group, from the beginning of
// what the broker retains) into the hub, and sb.agent.events.v1 (every partition, from the end:
// only what supervisors do from now on). `caught_up` turns true once it has read the routing
// events up to the high watermarks it saw at start (readiness).
class Feed {
 public:
  static absl::StatusOr<std::unique_ptr<Feed>> Start(const kafka_io::KafkaConfig& kafka, Hub* hub);
  ~Feed();
  bool caught_up() const { return caught_up_.load(); }
  // Set when the consumer failed for good (the service then reports NOT_SERVING).
  bool failed() const { return failed_.load(); }

 private:
  Feed() = default;
  void Loop();

  Hub* hub_ = nullptr;
  struct State;
  std::unique_ptr<State> state_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

}  // namespace sb::agent_state
