// Human-friendly durations for operator-facing YAML: "500ms", "20s", "2m", "1h30m", "1.5h".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sb::routing::config {

// ParseDurationMs
//
// Parses a sequence of <number><unit> terms, units `ms`, `s`, `m`, `h`, `d`, into milliseconds,
// rounded to the nearest millisecond. Numbers may have a fractional part ("1.5m"). "0" alone is
// accepted as zero; any other number needs a unit. Negative durations are errors. The error
// message says what was expected (it does not name the field: the caller adds that).
//
// Example: ParseDurationMs("1h30m") == 5400000.
absl::StatusOr<int64_t> ParseDurationMs(std::string_view text);

// FormatDurationMs
//
// The canonical spelling that ParseDurationMs reads back: "0s", "500ms", "20s", "1m30s",
// "1h30m", "2h0m5s" is written "2h5s" (zero terms are left out), "1s250ms".
std::string FormatDurationMs(int64_t ms);

}  // namespace sb::routing::config
