// sb::traffic::Scheduler: one thread that runs tasks at given steady-clock times, so a traffic
// driver can keep thousands of timers (arrivals, handle times, patience) without a thread or a
// sleep per call.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"

namespace sb::traffic {

// Scheduler
//
// Owns one thread (started by the constructor, joined by Stop or the destructor) that runs each
// task once, in deadline order (ties in the order they were added), as soon as its time has come.
// Tasks run on that thread without any lock held: they must be short and must not block (they
// start asynchronous sends); they may call At/After. A task scheduled in the past runs at once.
// At/After/pending may be called from any thread. Stop discards the tasks not yet run.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  using Task = std::function<void()>;

  Scheduler();
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void At(Clock::time_point when, Task task);
  void After(Clock::duration delay, Task task) { At(Clock::now() + delay, std::move(task)); }

  // Tasks waiting to run.
  size_t pending() const;
  // How late, at most, a task started after its deadline (a sign the thread is overloaded).
  Clock::duration max_lateness() const;

  // Stops the thread after the task running now, if any; pending tasks are dropped. Idempotent.
  // Must not be called from a task.
  void Stop();

 private:
  struct Entry {
    Clock::time_point when;
    uint64_t seq;
    Task task;
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : seq > other.seq;
    }
  };

  void Run();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Clock::duration max_lateness_ ABSL_GUARDED_BY(mu_){0};
  std::thread thread_;
};

}  // namespace sb::traffic
