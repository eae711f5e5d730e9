#include "loadgen/scheduler.h"

#include <utility>

namespace sb::traffic {

Scheduler::Scheduler() : thread_([this] { Run(); }) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::At(Clock::time_point when, Task task) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    wake = queue_.empty() || when < queue_.top().when;
    queue_.push(Entry{when, next_seq_++, std::move(task)});
  }
  if (wake) cv_.notify_one();
}

size_t Scheduler::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

Scheduler::Clock::duration Scheduler::max_lateness() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_lateness_;
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  while (!queue_.empty()) queue_.pop();
}

void Scheduler::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.wait(lock);
      continue;
    }
    const Clock::time_point when = queue_.top().when;
    const Clock::time_point now = Clock::now();
    if (when > now) {
      cv_.wait_until(lock, when);
      continue;
    }
    // priority_queue::top is const; the task is moved out before pop (the entry is discarded).
    Task task = std::move(const_cast<Entry&>(queue_.top()).task);
    queue_.pop();
    if (now - when > max_lateness_) max_lateness_ = now - when;
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace sb::traffic
