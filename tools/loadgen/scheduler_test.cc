#include "loadgen/scheduler.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace sb::traffic {
namespace {

using Clock = Scheduler::Clock;

// Collects task labels and lets the test wait for a count (with a deadline, no sleeps).
class Recorder {
 public:
  void Add(int label) {
    std::lock_guard<std::mutex> lock(mu_);
    labels_.push_back(label);
    cv_.notify_all();
  }
  std::vector<int> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return labels_.size() >= n; });
    return labels_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> labels_;
};

TEST(Scheduler, RunsTasksInDeadlineOrderThenInsertionOrder) {
  Recorder rec;
  Scheduler s;
  const Clock::time_point base = Clock::now() + std::chrono::milliseconds(50);
  s.At(base + std::chrono::milliseconds(2), [&] { rec.Add(3); });
  s.At(base, [&] { rec.Add(1); });
  s.At(base, [&] { rec.Add(2); });
  s.At(base - std::chrono::hours(1), [&] { rec.Add(0); });  // in the past: at once
  EXPECT_EQ(rec.WaitFor(4), (std::vector<int>{0, 1, 2, 3}));
}

TEST(Scheduler, DoesNotRunATaskBeforeItsTime) {
  Recorder rec;
  Scheduler s;
  const Clock::time_point when = Clock::now() + std::chrono::milliseconds(30);
  Clock::time_point ran;
  s.At(when, [&] {
    ran = Clock::now();
    rec.Add(1);
  });
  ASSERT_EQ(rec.WaitFor(1).size(), 1u);
  EXPECT_GE(ran, when);
}

TEST(Scheduler, TasksMayScheduleMoreTasks) {
  Recorder rec;
  Scheduler s;
  std::function<void(int)> chain = [&](int n) {
    rec.Add(n);
    if (n < 5) s.After(std::chrono::milliseconds(1), [&, n] { chain(n + 1); });
  };
  s.After(std::chrono::milliseconds(0), [&] { chain(1); });
  EXPECT_EQ(rec.WaitFor(5), (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(Scheduler, StopDropsPendingTasksAndIgnoresNewOnes) {
  bool ran = false;
  Scheduler s;
  s.After(std::chrono::hours(1), [&] { ran = true; });
  EXPECT_EQ(s.pending(), 1u);
  s.Stop();
  EXPECT_EQ(s.pending(), 0u);
  s.After(std::chrono::milliseconds(0), [&] { ran = true; });
  EXPECT_EQ(s.pending(), 0u);
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace sb::traffic
