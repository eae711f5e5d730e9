// EventTail: the recent routing events of the partitions this replica owns, for
// InteractionService.Watch (answered by the owner of the interaction's partition; another
// replica forwards the stream to it).
//
// The partition workers feed it the events they publish, as they publish them (events follow
// deterministically from the command log, so a replay after a failover produces the same ones
// with the same ids), and after a recovery the last stretch of the partition's events read back
// from sb.routing.events.v1, so a watcher that joins after a failover still sees the events
// before it. It drops duplicates by event id (EventDeduplicator: the replay re-publishes what
// the read-back holds), and keeps each interaction's events for `retention` (bounded by
// `max_events` overall), so a watcher that subscribes just after its Enqueue still sees the
// events from the enqueue on. Thread-safe.
//
// It used to read every events partition through its own consumer on every replica: that cost
// 6-8% of a core per replica plus the broker's work to serve it, and with two replicas at
// 2,000 interactions/s p99 enqueue->offer was 41-106 ms with it, 26-38 ms without
// (docs/performance.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "routing/service/partition.h"

namespace sb::routing {

// The interaction an event is about ("" if none): the `interaction_id` field of its body.
std::string InteractionIdOf(const v1::RoutingEvent& event);

class EventTail {
 public:
  struct Options {
    size_t max_events = 200000;
    std::chrono::seconds retention{600};
  };

  // A watcher's queue of one interaction's events. Next() waits up to `timeout`.
  class Subscription {
   public:
    std::vector<v1::RoutingEvent> Next(std::chrono::milliseconds timeout);

   private:
    friend class EventTail;
    std::mutex mu;
    std::condition_variable cv;
    std::deque<v1::RoutingEvent> pending;
  };

  explicit EventTail(Options options) : options_(std::move(options)) {}

  // Keeps `event` (`bytes` is its serialization) unless it is a duplicate, and hands it to the
  // interaction's watchers. Any thread (each partition's worker).
  void Add(const v1::RoutingEvent& event, std::string bytes);
  std::chrono::seconds retention() const { return options_.retention; }

  // Subscribes to one interaction: the retained events are queued at once, new ones as they
  // arrive. Unsubscribe when done.
  std::shared_ptr<Subscription> Subscribe(const std::string& tenant,
                                          const std::string& interaction_id);
  void Unsubscribe(const std::string& tenant, const std::string& interaction_id,
                   const std::shared_ptr<Subscription>& sub);

 private:
  using Key = std::pair<std::string, std::string>;  // tenant, interaction

  const Options options_;
  std::mutex mu_;
  EventDeduplicator dedup_;  // guarded by mu_
  // Each interaction's events, serialized, oldest first (a handful each: a vector, whose front
  // erase is cheap at that size, not a deque's 512-byte block).
  absl::flat_hash_map<Key, std::vector<std::string>> retained_;              // guarded by mu_
  std::deque<std::pair<std::chrono::steady_clock::time_point, Key>> order_;  // guarded by mu_
  size_t retained_count_ = 0;                                                // guarded by mu_
  absl::flat_hash_map<Key, std::vector<std::shared_ptr<Subscription>>> subscribers_;  // mu_
};

}  // namespace sb::routing
