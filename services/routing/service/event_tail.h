// EventTail: the recent routing events of the partitions this replica owns, for
// InteractionService.Watch (answered by the owner of the interaction's partition; another
// replica forwards the stream to it).
//
// The partition workers feed it the events they publish, as they publish them (events follow
// deterministically from the command log, so a replay after a failover produces the same ones
// with the same ids), and after a recovery the last stretch of the partition's events read back
// from sb.routing.events.v1, so a watcher that joins after a failover still sees the events
// before it. It drops duplicates by event id (EventDeduplicator: the replay re-publishes what
// the read-back holds), and keeps each interaction's events at least `retention` after its
// newest one (bounded by `max_events` overall: the oldest interactions go first, whole), so a
// watcher that subscribes just after its Enqueue still sees the events from the enqueue on.
// Thread-safe.
//
// It used to read every events partition through its own consumer on every replica: that cost
// 6-8% of a core per replica plus the broker's work to serve it, and with two replicas at
// 2,000 interactions/s p99 enqueue->offer was 41-106 ms with it, 26-38 ms with it reading
// nothing. Fed by the workers it costs 3-5% of a core per replica, on its own thread, off the
// workers' path; `perf` on that thread shows it mostly in the kernel (futex waits and wakes),
// not in the parse or the bookkeeping (docs/performance.md).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "routing/service/partition.h"

namespace sb::routing {

// The interaction an event is about ("" if none): the `interaction_id` field of its body.
std::string InteractionIdOf(const v1::RoutingEvent& event);

class EventTail {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    size_t max_events = 200000;
    // An interaction's events are kept at least `retention` after its newest one (at most
    // twice that: the check is per interaction, not per event).
    std::chrono::seconds retention{600};
    Clock::time_point (*now)() = &Clock::now;  // tests replace it
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

  // Starts the tail's thread.
  explicit EventTail(Options options);
  ~EventTail();  // stops it; events not handled yet are dropped

  // Queues serialized events, in order, with one lock and at most one wake-up: the tail's
  // thread keeps each unless it is a duplicate (or not about an interaction) and hands it to the
  // interaction's watchers. Any thread (each partition's worker, once per applied batch: it only
  // moves the bytes into a queue; an earlier version did the rest on the worker, under its state
  // lock, and the two-replica p99 went up by 2-20 ms). Events queued by one thread are handled
  // in that order.
  void Add(std::vector<std::string> events);
  std::chrono::seconds retention() const { return options_.retention; }
  // Returns once every event Add queued before the call has been handled (tests, shutdown).
  void WaitIdle();
  // Events kept now (at most max_events).
  size_t retained_count() const;

  // Subscribes to one interaction: the retained events are queued at once, new ones as they
  // arrive. Unsubscribe when done.
  std::shared_ptr<Subscription> Subscribe(const std::string& tenant,
                                          const std::string& interaction_id);
  void Unsubscribe(const std::string& tenant, const std::string& interaction_id,
                   const std::shared_ptr<Subscription>& sub);

 private:
  using Key = std::pair<std::string, std::string>;  // tenant, interaction

  // One interaction's events, serialized, oldest first.
  struct Kept {
    std::vector<std::string> events;
    Clock::time_point newest;  // when the newest of them was kept
  };

  void Loop();
  // `event` parsed from `bytes` (the tail's thread).
  void Keep(const v1::RoutingEvent& event, std::string bytes);
  // Drops the interactions whose newest event is older than the retention and, while the bound
  // is reached, the oldest interactions, whole. Under mu_.
  void Evict(Clock::time_point now);

  const Options options_;
  std::mutex inbox_mu_;
  std::condition_variable inbox_cv_;
  std::vector<std::string> inbox_;  // guarded by inbox_mu_
  bool stop_ = false;               // guarded by inbox_mu_
  bool busy_ = false;               // guarded by inbox_mu_: the thread is handling a batch
  std::condition_variable idle_cv_;
  std::thread thread_;

  mutable std::mutex mu_;
  EventDeduplicator dedup_;                  // guarded by mu_
  absl::flat_hash_map<Key, Kept> retained_;  // guarded by mu_
  // One entry per interaction kept, in the order they were first kept (an interaction still
  // active when its turn comes goes to the back again): the bookkeeping is per interaction, not
  // per event.
  std::deque<std::pair<Clock::time_point, Key>> order_;  // guarded by mu_
  size_t retained_count_ = 0;                            // guarded by mu_
  absl::flat_hash_map<Key, std::vector<std::shared_ptr<Subscription>>> subscribers_;  // mu_
};

}  // namespace sb::routing
