#include "recording/core/qa_common.h"

#include "gtest/gtest.h"

namespace sb::recording::qa {
namespace {

constexpr int64_t kDay = 86400000LL;

// Days since the epoch of a few dates, checked with `date -d ... +%s`.
constexpr int64_t k2024_01_01 = 19723;  // Monday
constexpr int64_t k2021_01_03 = 18630;  // Sunday
constexpr int64_t k2020_12_31 = 18627;  // Thursday
constexpr int64_t k2026_12_31 = 20818;  // Thursday
constexpr int64_t k2027_01_03 = 20821;  // Sunday

TEST(IsoWeekTest, KnownDates) {
  EXPECT_EQ(IsoWeekOf(k2024_01_01 * kDay).ToString(), "2024-W01");
  EXPECT_EQ(IsoWeekOf(k2024_01_01 * kDay).start_unix_ms, k2024_01_01 * kDay);
  EXPECT_EQ(IsoWeekOf(k2024_01_01 * kDay - 1).ToString(), "2023-W52");  // Sunday 23:59:59.999
  EXPECT_EQ(IsoWeekOf(k2021_01_03 * kDay + 5 * 3600000).ToString(), "2020-W53");
  EXPECT_EQ(IsoWeekOf(k2020_12_31 * kDay).ToString(), "2020-W53");
  EXPECT_EQ(IsoWeekOf(k2026_12_31 * kDay).ToString(), "2026-W53");
  EXPECT_EQ(IsoWeekOf(k2027_01_03 * kDay).ToString(), "2026-W53");
  EXPECT_EQ(IsoWeekOf((k2027_01_03 + 1) * kDay).ToString(), "2027-W01");
  EXPECT_EQ(IsoWeekOf(0).ToString(), "1970-W01");  // Thursday 1970-01-01
  EXPECT_EQ(IsoWeekOf(0).start_unix_ms, -3 * kDay);
  EXPECT_EQ(IsoWeekOf(-3 * kDay).ToString(), "1970-W01");  // the Monday before: Dec 29, 1969
  EXPECT_EQ(IsoWeekOf(-3 * kDay - 1).ToString(), "1969-W52");
}

TEST(IsoWeekTest, EveryDayOfAWeekMapsToItsMonday) {
  for (int64_t day = k2024_01_01 - 400; day < k2024_01_01 + 400; ++day) {
    const IsoWeek w = IsoWeekOf(day * kDay + 12 * 3600000);
    ASSERT_LE(w.start_unix_ms, day * kDay);
    ASSERT_GT(w.end_unix_ms(), day * kDay);
    ASSERT_GE(w.week, 1);
    ASSERT_LE(w.week, 53);
    EXPECT_EQ(IsoWeekOf(w.start_unix_ms), w);
  }
}

TEST(DedupeKeyTest, EncodesSeparators) {
  EXPECT_EQ(DedupeKey("escalation", {"acme", "int-7"}), "escalation:acme:int-7");
  EXPECT_NE(DedupeKey("k", {"a:b", "c"}), DedupeKey("k", {"a", "b:c"}));
  EXPECT_EQ(DedupeKey("k", {"a:b%"}), "k:a%3Ab%25");
}

TEST(MixHashTest, StableAndLengthPrefixed) {
  EXPECT_EQ(MixHash(1, {"a", "b"}), MixHash(1, {"a", "b"}));
  EXPECT_NE(MixHash(1, {"ab", "c"}), MixHash(1, {"a", "bc"}));
  EXPECT_NE(MixHash(1, {"a"}), MixHash(2, {"a"}));
  // Stored hashes must not change between builds: pin one value.
  EXPECT_EQ(Hex16(Fnv1a64("switchboard")), Hex16(Fnv1a64(std::string("switch") + "board")));
  EXPECT_EQ(Hex16(Fnv1a64("")), "cbf29ce484222325");
  const double u = UnitInterval(~0ull);
  EXPECT_LT(u, 1.0);
  EXPECT_EQ(UnitInterval(0), 0.0);
}

TEST(FormatNumberTest, ShortestExact) {
  EXPECT_EQ(FormatNumber(1), "1");
  EXPECT_EQ(FormatNumber(0.25), "0.25");
  EXPECT_EQ(FormatNumber(0.1), "0.1");
  EXPECT_EQ(FormatNumber(-0.0), "0");
  EXPECT_EQ(FormatNumber(1000), "1000");
}

TEST(StatusTest, ReasonComesFirst) {
  absl::Status s = InvalidArgument("CSAT_OUT_OF_RANGE", "csat: 7 is not 1..5");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "CSAT_OUT_OF_RANGE: csat: 7 is not 1..5");
  EXPECT_EQ(ReasonOf(s), "CSAT_OUT_OF_RANGE");
  EXPECT_EQ(ReasonOf(absl::OkStatus()), "");
  EXPECT_EQ(FailedPrecondition("X", "y").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(PermissionDenied("X", "y").code(), absl::StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace sb::recording::qa
