// sb::traffic::LatencyHistogram: a fixed-size log-linear histogram of durations (like HdrHistogram
// with 5 significant bits): constant memory, O(1) Record, percentiles within ~3%.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace sb::traffic {

// LatencyHistogram
//
// Records durations from 0 to ~146 years in nanoseconds. Each power of two is split into 32
// linear buckets, so a reported percentile is within 1/32 (~3%) of the true value; min, max,
// count and mean are exact. A plain value type: copy it to take a snapshot, Merge to combine.
// Thread-compatible: the owner serializes access (TrafficDriver records under its mutex).
//
//   LatencyHistogram h;
//   h.Record(std::chrono::milliseconds(12));
//   double p99_ms = h.PercentileMs(99);
class LatencyHistogram {
 public:
  void Record(std::chrono::nanoseconds value);
  void Merge(const LatencyHistogram& other);
  void Clear() { *this = LatencyHistogram(); }

  int64_t count() const { return count_; }
  // The value below which `percent` % (0..100) of the recorded values fall: the midpoint of the
  // bucket holding that rank, clamped to [min, max]. 0 when empty.
  std::chrono::nanoseconds Percentile(double percent) const;
  std::chrono::nanoseconds min() const { return std::chrono::nanoseconds(count_ == 0 ? 0 : min_); }
  std::chrono::nanoseconds max() const { return std::chrono::nanoseconds(max_); }
  std::chrono::nanoseconds mean() const {
    return std::chrono::nanoseconds(count_ == 0 ? 0 : sum_ / count_);
  }

  // Convenience for reports: the same values in (fractional) milliseconds.
  double PercentileMs(double percent) const { return ToMs(Percentile(percent)); }
  double MaxMs() const { return ToMs(max()); }
  double MeanMs() const { return ToMs(mean()); }
  static double ToMs(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

 private:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;  // linear buckets per power of two
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;

  static int BucketOf(uint64_t value);
  static uint64_t BucketLow(int bucket);
  static uint64_t BucketWidth(int bucket);

  std::array<int64_t, kBuckets> buckets_{};
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = INT64_MAX;
  int64_t max_ = 0;
};

}  // namespace sb::traffic
