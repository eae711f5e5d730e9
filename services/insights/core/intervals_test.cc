// Unit tests of the interval aggregates and the IntervalBook.

#include "insights/core/intervals.h"

#include <gtest/gtest.h>

namespace sb::insights {
namespace {

constexpr int64_t kMin = 60 * 1000;

TEST(Intervals, StartFloorsAlsoBeforeTheEpoch) {
  EXPECT_EQ(IntervalStart(0), 0);
  EXPECT_EQ(IntervalStart(15 * kMin - 1), 0);
  EXPECT_EQ(IntervalStart(15 * kMin), 15 * kMin);
  EXPECT_EQ(IntervalStart(-1), -15 * kMin);
}

TEST(Intervals, MergeAddsAndRejectsOtherKeys) {
  IntervalAggregate a{.tenant_id = "t", .queue_id = "q", .start_ms = 0};
  a.offered = 3;
  a.max_wait_ms = 10;
  a.talk_ms = 100;
  IntervalAggregate b = a;
  b.offered = 2;
  b.max_wait_ms = 40;
  b.abandoned = 1;
  ASSERT_TRUE(Merge(a, b).ok());
  EXPECT_EQ(a.offered, 5);
  EXPECT_EQ(a.abandoned, 1);
  EXPECT_EQ(a.max_wait_ms, 40);
  EXPECT_EQ(a.talk_ms, 200);
  IntervalAggregate other = b;
  other.queue_id = "r";
  EXPECT_EQ(Merge(a, other).code(), absl::StatusCode::kInvalidArgument);
}

TEST(IntervalBook, ClosesAfterTheGrace) {
  IntervalBook book("t", {.length_ms = 15 * kMin, .grace_ms = kMin});
  book.SetThreshold("q", 20000);
  book.At("q", 5 * kMin).offered++;
  book.At("q", 16 * kMin).offered++;
  book.Advance(15 * kMin + 30000);  // within the grace: still open
  EXPECT_TRUE(book.TakeClosed().empty());
  book.At("q", 14 * kMin).offered++;  // late but open: lands in its own interval
  book.Advance(16 * kMin);
  auto closed = book.TakeClosed();
  ASSERT_EQ(closed.size(), 1u);
  EXPECT_EQ(closed[0].start_ms, 0);
  EXPECT_EQ(closed[0].offered, 2);
  EXPECT_EQ(closed[0].sl_threshold_ms, 20000);
  EXPECT_EQ(closed[0].tenant_id, "t");
  // Late data for a closed interval goes to the oldest open one.
  book.At("q", 1 * kMin).answered++;
  auto open = book.Open();
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].start_ms, 15 * kMin);
  EXPECT_EQ(open[0].answered, 1);
  EXPECT_TRUE(book.TakeClosed().empty());
}

TEST(IntervalBook, IdleIntervalsHaveNoRecord) {
  IntervalBook book("t");
  book.At("q", 0).offered++;
  book.At("q", 60 * kMin).offered++;
  book.Advance(120 * kMin);
  auto closed = book.TakeClosed();
  ASSERT_EQ(closed.size(), 2u);
  EXPECT_EQ(closed[0].start_ms, 0);
  EXPECT_EQ(closed[1].start_ms, 60 * kMin);
}

}  // namespace
}  // namespace sb::insights
