#include "recording/core/qa_common.h"

#include <charconv>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace sb::recording::qa {
namespace {

constexpr int64_t kDayMs = 86400000LL;

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

// The year of a day count (the inverse of DaysFromCivil, year part only).
int64_t YearOfDays(int64_t z) {
  z += 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  return yoe + era * 400 + (m <= 2);
}

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

absl::Status Make(absl::StatusCode code, std::string_view reason, std::string_view message) {
  return absl::Status(code, absl::StrCat(Av(reason), ": ", Av(message)));
}

}  // namespace

uint64_t Fnv1a64(std::string_view text, uint64_t seed) {
  uint64_t h = seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Hex16(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

uint64_t MixHash(uint64_t seed, std::initializer_list<std::string_view> fields) {
  uint64_t h = SplitMix64(seed);
  for (std::string_view f : fields) {
    const std::string len = absl::StrCat(f.size(), "#");
    h = Fnv1a64(len, h);
    h = Fnv1a64(f, h);
  }
  return SplitMix64(h);
}

double UnitInterval(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

std::string DedupeKey(std::string_view kind, std::initializer_list<std::string_view> parts) {
  std::string key(kind);
  for (std::string_view p : parts) {
    key.push_back(':');
    for (char c : p) {
      if (c == '%') {
        key += "%25";
      } else if (c == ':') {
        key += "%3A";
      } else {
        key.push_back(c);
      }
    }
  }
  return key;
}

std::string FormatNumber(double v) {
  if (v == 0) return "0";  // also folds -0
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string IsoWeek::ToString() const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%04d-W%02d", year, week);
  return buf;
}

IsoWeek IsoWeekOf(int64_t unix_ms) {
  const int64_t day = FloorDiv(unix_ms, kDayMs);
  const int64_t weekday = ((day % 7) + 7 + 3) % 7;  // Monday = 0; 1970-01-01 was a Thursday
  const int64_t monday = day - weekday;
  const int64_t thursday = monday + 3;  // the week belongs to its Thursday's year
  const int64_t year = YearOfDays(thursday);
  const int64_t jan1 = DaysFromCivil(year, 1, 1);
  IsoWeek w;
  w.year = static_cast<int32_t>(year);
  w.week = static_cast<int32_t>((thursday - jan1) / 7 + 1);
  w.start_unix_ms = monday * kDayMs;
  return w;
}

absl::Status InvalidArgument(std::string_view reason, std::string_view message) {
  return Make(absl::StatusCode::kInvalidArgument, reason, message);
}
absl::Status FailedPrecondition(std::string_view reason, std::string_view message) {
  return Make(absl::StatusCode::kFailedPrecondition, reason, message);
}
absl::Status PermissionDenied(std::string_view reason, std::string_view message) {
  return Make(absl::StatusCode::kPermissionDenied, reason, message);
}

std::string_view ReasonOf(const absl::Status& status) {
  if (status.ok()) return "";
  const std::string_view m(status.message().data(), status.message().size());
  const size_t colon = m.find(':');
  return colon == std::string_view::npos ? m : m.substr(0, colon);
}

}  // namespace sb::recording::qa
