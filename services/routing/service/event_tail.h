// EventTail: this replica's view of the recent routing events of every partition, for
// InteractionService.Watch (which any replica serves, whoever owns the interaction's partition).
//
// One thread reads sb.routing.events.v1 (all partitions, without a group, from the end as of
// Start), drops duplicates by event id (EventDeduplicator: replays after a failover and zombie
// owners re-publish), and keeps each interaction's events for `retention` (bounded by
// `max_events` overall), so a watcher that subscribes just after its Enqueue still sees the
// events from the enqueue on. Thread-safe.
//
// Every replica reads every event, so the tail is kept cheap: events are parsed on an arena
// reset after each batch, retained as the bytes the broker sent (one allocation each; parsed
// again only for a watcher), in hash maps. Kept as parsed messages in ordered maps, the tail
// used about 8% of a core per replica at 2,000 interactions/s, most of it in malloc and page
// faults (docs/performance.md).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/kafka/config.h"
#include "common/kafka/consumer.h"
#include "routing/service/partition.h"

namespace sb::routing {

// The interaction an event is about ("" if none): the `interaction_id` field of its body.
std::string InteractionIdOf(const v1::RoutingEvent& event);

class EventTail {
 public:
  struct Options {
    kafka_io::KafkaConfig kafka;
    int32_t partitions = 1;
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

  static absl::StatusOr<std::unique_ptr<EventTail>> Start(const Options& options);
  ~EventTail();

  // Subscribes to one interaction: the retained events are queued at once, new ones as they
  // arrive. Unsubscribe when done.
  std::shared_ptr<Subscription> Subscribe(const std::string& tenant,
                                          const std::string& interaction_id);
  void Unsubscribe(const std::string& tenant, const std::string& interaction_id,
                   const std::shared_ptr<Subscription>& sub);

 private:
  using Key = std::pair<std::string, std::string>;  // tenant, interaction
  explicit EventTail(Options options, std::unique_ptr<kafka_io::Consumer> consumer)
      : options_(std::move(options)), consumer_(std::move(consumer)) {}
  void Loop();
  // `event` parsed from `bytes`.
  void Add(const v1::RoutingEvent& event, std::string bytes);

  const Options options_;
  std::unique_ptr<kafka_io::Consumer> consumer_;  // Loop thread only
  std::atomic<bool> stop_{false};
  std::thread thread_;

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
