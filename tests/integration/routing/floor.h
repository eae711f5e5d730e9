// Floor: the test's view of sb.routing.events.v1 and its simulated agents.
//
// One thread reads every partition of the events topic from the beginning, drops duplicates with
// EventDeduplicator (as every consumer must), and checks what DESIGN §7 promises:
//  - each event id reaches it once after dedup (a repeat would be a dedup bug),
//  - no agent ever holds more interactions than its capacity (offers + connections + wrap-ups),
//  - each interaction ends at most once.
// It also plays the agents: accepts every offer and completes every connected interaction at
// once, through the routing client (Kafka), like an agent desktop would.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/kafka/consumer.h"
#include "routing/client/routing_client.h"
#include "routing/service/partition.h"

namespace sb::routing::testing {

class Floor {
 public:
  struct Counts {
    int64_t raw = 0;         // records read
    int64_t duplicates = 0;  // dropped by the deduplicator
    int64_t unique = 0;
    int64_t repeated_ids = 0;         // an event id seen twice after dedup (must stay 0)
    int64_t capacity_violations = 0;  // must stay 0
    int64_t double_ends = 0;          // must stay 0
    int64_t offers = 0;
    int64_t connected = 0;
    int64_t ended = 0;
    int64_t ended_interactions = 0;  // distinct
    int64_t rejected = 0;
    std::map<std::string, int64_t> rejected_by_reason;
  };

  Floor(const kafka_io::KafkaConfig& kafka, int32_t partitions, RoutingClient* client,
        int capacity);
  ~Floor();

  Counts counts() const;
  // Interactions (tenant/interaction) that ended, and when the Floor saw their first event.
  bool Ended(const std::string& tenant, const std::string& interaction) const;
  size_t EndedCount() const;
  // Steady time at which the Floor first saw an event of this interaction (nullopt: none).
  std::optional<std::chrono::steady_clock::time_point> FirstSeen(
      const std::string& tenant, const std::string& interaction) const;
  // Waits until `pred(counts)` holds (pred must not call back into the Floor) or the timeout
  // passes.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_until(lock, deadline, [&] { return pred(counts_); });
  }

 private:
  void Loop();
  void Handle(const v1::RoutingEvent& e);

  RoutingClient* const client_;
  const int capacity_;
  std::unique_ptr<kafka_io::Consumer> consumer_;
  std::atomic<bool> stop_{false};
  std::thread thread_;

  mutable std::mutex mu_;
  mutable std::condition_variable_any cv_;
  Counts counts_;
  EventDeduplicator dedup_;
  std::set<std::string> ids_;
  std::map<std::pair<std::string, std::string>, int> holds_;  // (tenant, agent) -> slots used
  std::set<std::pair<std::string, std::string>> ended_;
  std::map<std::pair<std::string, std::string>, std::chrono::steady_clock::time_point> first_seen_;
};

}  // namespace sb::routing::testing
