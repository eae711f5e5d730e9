#include "routing/config/duration.h"

#include <cmath>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sb::routing::config {
namespace {

constexpr int64_t kMaxMs = int64_t{100} * 365 * 24 * 3600 * 1000;  // 100 years: plenty

absl::Status Bad(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("bad duration '", std::string(text),
                                                 "': ", std::string(why),
                                                 " (write e.g. 500ms, 20s, 2m, 1h30m)"));
}

}  // namespace

absl::StatusOr<int64_t> ParseDurationMs(std::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  if (text == "0") return 0;
  double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t num_start = i;
    bool digits = false;
    bool dot = false;
    while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) {
      if (text[i] == '.') {
        if (dot) return Bad(text, "two decimal points in one number");
        dot = true;
      } else {
        digits = true;
      }
      ++i;
    }
    if (!digits) {
      if (num_start < text.size() && text[num_start] == '-') return Bad(text, "negative");
      return Bad(text, "expected a number");
    }
    const std::string number(text.substr(num_start, i - num_start));
    const double value = std::strtod(number.c_str(), nullptr);
    const size_t unit_start = i;
    while (i < text.size() && text[i] >= 'a' && text[i] <= 'z') ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    double scale = 0;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60000;
    } else if (unit == "h") {
      scale = 3600000;
    } else if (unit == "d") {
      scale = 86400000;
    } else if (unit.empty()) {
      return Bad(text, "a number needs a unit (ms, s, m, h or d)");
    } else {
      return Bad(text, absl::StrCat("unknown unit '", std::string(unit), "'"));
    }
    total += value * scale;
    if (total > static_cast<double>(kMaxMs)) return Bad(text, "too long");
  }
  return static_cast<int64_t>(std::llround(total));
}

std::string FormatDurationMs(int64_t ms) {
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  const int64_t h = ms / 3600000;
  const int64_t m = ms / 60000 % 60;
  const int64_t s = ms / 1000 % 60;
  const int64_t rest = ms % 1000;
  if (h > 0) absl::StrAppend(&out, h, "h");
  if (m > 0) absl::StrAppend(&out, m, "m");
  if (s > 0) absl::StrAppend(&out, s, "s");
  if (rest > 0) absl::StrAppend(&out, rest, "ms");
  return out;
}

}  // namespace sb::routing::config
