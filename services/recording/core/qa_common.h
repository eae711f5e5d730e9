// Small shared helpers of the QA core: stable hashing, dedupe keys, canonical numbers, ISO weeks
// and the reason-prefixed errors every QA function returns.
//
// Everything here is a pure function of its arguments (no clock, no IO) and safe to call from any
// thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sb::recording::qa {

// A 64-bit FNV-1a hash of `text`. Stable across builds and platforms: hashes are stored.
uint64_t Fnv1a64(std::string_view text, uint64_t seed = 14695981039346656037ull);
// `h` as 16 lowercase hex digits.
std::string Hex16(uint64_t h);
// A well-mixed 64-bit hash of the fields (each length-prefixed, so ("ab","c") != ("a","bc")) and
// a seed. Used for sampling; stable across builds and platforms.
uint64_t MixHash(uint64_t seed, std::initializer_list<std::string_view> fields);
// The top 53 bits of `h` as a double in [0, 1).
double UnitInterval(uint64_t h);

// DedupeKey
//
// "kind:part1:part2...", each part with '%' and ':' percent-encoded so that two different part
// lists never give the same key, yet the key stays readable in the database and in logs.
//
// Example: DedupeKey("escalation", {"acme", "int-7"}) == "escalation:acme:int-7".
std::string DedupeKey(std::string_view kind, std::initializer_list<std::string_view> parts);

// The shortest decimal that reads back as exactly `v` ("1", "0.25", "1e-07"), for canonical text.
std::string FormatNumber(double v);

// IsoWeek
//
// The ISO-8601 week (weeks start on Monday; week 1 holds the year's first Thursday) that contains
// the UTC instant `unix_ms`, e.g. 2024-01-01T00:00Z (a Monday) is {2024, 1}, 2021-01-03 (a
// Sunday) is {2020, 53}.
struct IsoWeek {
  int32_t year = 0;
  int32_t week = 0;           // 1..53
  int64_t start_unix_ms = 0;  // Monday 00:00 UTC
  // "2024-W01".
  std::string ToString() const;
  int64_t end_unix_ms() const { return start_unix_ms + 7 * 86400000LL; }
  bool operator==(const IsoWeek&) const = default;
};
IsoWeek IsoWeekOf(int64_t unix_ms);

// std::string_view as absl::string_view (they are distinct types in this abseil build), for
// absl::StrCat and friends.
inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Errors: the canonical code plus a stable reason first in the message, e.g.
// InvalidArgument("CSAT_OUT_OF_RANGE: csat: 7 is not 1..5").
absl::Status InvalidArgument(std::string_view reason, std::string_view message);
absl::Status FailedPrecondition(std::string_view reason, std::string_view message);
absl::Status PermissionDenied(std::string_view reason, std::string_view message);

// The stable reason of a status produced by this library ("CSAT_OUT_OF_RANGE"), or "" for OK.
std::string_view ReasonOf(const absl::Status& status);

}  // namespace sb::recording::qa
