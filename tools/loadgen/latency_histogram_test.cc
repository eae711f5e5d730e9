#include "loadgen/latency_histogram.h"

#include <gtest/gtest.h>

#include <chrono>

namespace sb::traffic {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.Percentile(99), nanoseconds(0));
  EXPECT_EQ(h.max(), nanoseconds(0));
  EXPECT_EQ(h.min(), nanoseconds(0));
}

TEST(LatencyHistogram, PercentilesWithinThreePercent) {
  LatencyHistogram h;
  for (int i = 1; i <= 1000; ++i) h.Record(microseconds(i * 100));  // 0.1 .. 100 ms
  EXPECT_EQ(h.count(), 1000);
  EXPECT_NEAR(h.PercentileMs(50), 50.0, 50.0 * 0.035);
  EXPECT_NEAR(h.PercentileMs(90), 90.0, 90.0 * 0.035);
  EXPECT_NEAR(h.PercentileMs(99), 99.0, 99.0 * 0.035);
  EXPECT_DOUBLE_EQ(h.MaxMs(), 100.0);
  EXPECT_EQ(h.min(), microseconds(100));
  EXPECT_NEAR(h.MeanMs(), 50.05, 1e-9);
}

TEST(LatencyHistogram, SmallValuesAreExactAndPercentilesAreClampedToTheRange) {
  LatencyHistogram h;
  h.Record(nanoseconds(7));
  EXPECT_EQ(h.Percentile(0), nanoseconds(7));
  EXPECT_EQ(h.Percentile(100), nanoseconds(7));
  h.Record(milliseconds(40));
  EXPECT_EQ(h.Percentile(100), milliseconds(40));
  EXPECT_EQ(h.Percentile(50), nanoseconds(7));
}

TEST(LatencyHistogram, NegativeDurationsCountAsZero) {
  LatencyHistogram h;
  h.Record(nanoseconds(-5));
  EXPECT_EQ(h.count(), 1);
  EXPECT_EQ(h.max(), nanoseconds(0));
}

TEST(LatencyHistogram, MergeEqualsRecordingEverything) {
  LatencyHistogram a;
  LatencyHistogram b;
  LatencyHistogram all;
  for (int i = 0; i < 500; ++i) {
    a.Record(microseconds(i));
    all.Record(microseconds(i));
    b.Record(milliseconds(i));
    all.Record(milliseconds(i));
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  for (double p : {1.0, 25.0, 50.0, 75.0, 99.0, 99.9}) {
    EXPECT_EQ(a.Percentile(p), all.Percentile(p)) << p;
  }
  EXPECT_EQ(a.max(), all.max());
  EXPECT_EQ(a.min(), all.min());
}

TEST(LatencyHistogram, HugeValuesDoNotOverflow) {
  LatencyHistogram h;
  h.Record(std::chrono::hours(24 * 365));
  EXPECT_EQ(h.count(), 1);
  EXPECT_EQ(h.max(), std::chrono::hours(24 * 365));
  EXPECT_EQ(h.Percentile(50), std::chrono::hours(24 * 365));
}

}  // namespace
}  // namespace sb::traffic
