// 15-minute interval aggregates per queue: the history that insights stores and forecasts from.
//
// An IntervalAggregate is a plain record with a flat, stable shape (integers and strings only, one
// column each) so that the service can store it as one row in SQLite or PostgreSQL, keyed by
// (tenant_id, queue_id, start_ms). Two aggregates of the same key merge by addition (max for
// max_wait_ms), so a replay or a second replica can upsert with Merge.
//
// Attribution (docs/insights.md "Intervals"): an arrival is counted in the interval in which it
// entered the queue; every other figure in the interval in which it happened (an answer, an
// abandon, the end of a wrap-up). A short abandon is taken off `offered` of its arrival interval,
// which is still open: an interval closes only `grace_ms` after its end, and the grace is at least
// the short-abandon threshold.
//
// IntervalBook collects the open intervals of one tenant. Pure; not thread-safe (the owner
// serializes calls).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"

namespace sb::insights {

inline constexpr int64_t kIntervalMs = 15 * 60 * 1000;

struct IntervalAggregate {
  std::string tenant_id;
  std::string queue_id;
  int64_t start_ms = 0;  // UTC, a multiple of length_ms
  int64_t length_ms = kIntervalMs;
  int64_t offered = 0;             // arrivals into the queue, short abandons excluded
  int64_t answered = 0;            // connected to an agent
  int64_t answered_within_sl = 0;  // ... with a wait <= sl_threshold_ms
  int64_t abandoned = 0;           // caller hung up while waiting, short abandons excluded
  int64_t abandoned_after_sl = 0;  // ... with a wait > sl_threshold_ms
  int64_t short_abandoned = 0;     // abandons with a wait < the short-abandon threshold
  int64_t left_unanswered = 0;     // left waiting otherwise: overflowed, cancelled
  int64_t wait_answered_ms = 0;    // sum of the waits of the answered
  int64_t wait_abandoned_ms = 0;   // sum of the waits of the (non-short) abandoned
  int64_t wait_unanswered_ms = 0;  // sum of the waits of the left_unanswered
  int64_t max_wait_ms = 0;         // longest wait that ended (answered or not) here
  int64_t handled = 0;             // handlings (talk + wrap-up) that ended here
  int64_t talk_ms = 0;             // their talk time
  int64_t wrap_ms = 0;             // their wrap-up time
  int64_t sl_threshold_ms = 0;     // the queue's SL threshold when the interval closed

  int64_t end_ms() const { return start_ms + length_ms; }
  // The callers who waited and left, one way or another: the denominator of patience.
  int64_t total_wait_ms() const {
    return wait_answered_ms + wait_abandoned_ms + wait_unanswered_ms;
  }
  bool operator==(const IntervalAggregate&) const = default;
};

// Adds `b` into `a`. InvalidArgument when the keys (tenant, queue, start, length) differ.
absl::Status Merge(IntervalAggregate& a, const IntervalAggregate& b);

// The start of the interval holding `t_ms` (floor, also for negative times).
int64_t IntervalStart(int64_t t_ms, int64_t length_ms = kIntervalMs);

struct IntervalOptions {
  int64_t length_ms = kIntervalMs;  // must divide a day
  // An interval is closed when event time passes its end by this much. Must be >= the
  // short-abandon threshold (Statistics checks).
  int64_t grace_ms = 60 * 1000;
};

class IntervalBook {
 public:
  explicit IntervalBook(std::string tenant_id, IntervalOptions options = {});

  // The open aggregate of `queue_id` for the interval holding `t_ms`, created if needed. Records
  // older than the newest closed interval end land in the oldest open interval of the queue
  // (late data is kept, not dropped; docs/insights.md).
  IntervalAggregate& At(const std::string& queue_id, int64_t t_ms);

  // Closes every interval whose end + grace <= now_ms; they are returned by TakeClosed.
  void Advance(int64_t now_ms);
  // Closed aggregates not taken yet, by (start, queue). Empty intervals are not produced: a queue
  // with no activity in an interval has no record (forecast treats it as zero).
  std::vector<IntervalAggregate> TakeClosed();
  // The open aggregates, by (start, queue): the current partial intervals.
  std::vector<IntervalAggregate> Open() const;

  // The SL threshold stamped on a queue's records.
  void SetThreshold(const std::string& queue_id, int64_t threshold_ms);

 private:
  std::string tenant_id_;
  IntervalOptions options_;
  int64_t closed_until_ms_ = INT64_MIN;  // intervals starting before this are closed
  std::map<std::tuple<int64_t, std::string>, IntervalAggregate> open_;
  std::vector<IntervalAggregate> closed_;
  std::map<std::string, int64_t> thresholds_;
};

}  // namespace sb::insights
