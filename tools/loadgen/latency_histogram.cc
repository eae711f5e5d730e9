#include "loadgen/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sb::traffic {

int LatencyHistogram::BucketOf(uint64_t value) {
  if (value < static_cast<uint64_t>(kSub)) return static_cast<int>(value);
  const int exponent = 63 - std::countl_zero(value);  // >= kSubBits
  const int shift = exponent - kSubBits;
  const int sub = static_cast<int>((value >> shift) & (kSub - 1));
  return (shift + 1) * kSub + sub;
}

uint64_t LatencyHistogram::BucketLow(int bucket) {
  if (bucket < kSub) return static_cast<uint64_t>(bucket);
  const int shift = bucket / kSub - 1;
  const uint64_t sub = static_cast<uint64_t>(bucket % kSub);
  return (static_cast<uint64_t>(kSub) + sub) << shift;
}

uint64_t LatencyHistogram::BucketWidth(int bucket) {
  if (bucket < kSub) return 1;
  return uint64_t{1} << (bucket / kSub - 1);
}

void LatencyHistogram::Record(std::chrono::nanoseconds value) {
  const int64_t v = std::max<int64_t>(0, value.count());
  ++buckets_[static_cast<size_t>(BucketOf(static_cast<uint64_t>(v)))];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::chrono::nanoseconds LatencyHistogram::Percentile(double percent) const {
  if (count_ == 0) return std::chrono::nanoseconds(0);
  const double p = std::clamp(percent, 0.0, 100.0);
  // The 1-based rank of the value asked for (nearest-rank method).
  const int64_t rank = std::max<int64_t>(
      1, static_cast<int64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
  int64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[static_cast<size_t>(b)];
    if (seen >= rank) {
      const uint64_t mid = BucketLow(b) + BucketWidth(b) / 2;
      const int64_t v = std::clamp(static_cast<int64_t>(mid), min_, max_);
      return std::chrono::nanoseconds(v);
    }
  }
  return std::chrono::nanoseconds(max_);
}

}  // namespace sb::traffic
