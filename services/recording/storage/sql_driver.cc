#include "recording/storage/sql_driver.h"

#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

bool ValidUtf8WithoutNul(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF.
    if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000) ||
        (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

absl::Status ValidateSqlParams(std::span<const SqlValue> params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const auto* s = std::get_if<std::string>(&params[i]);
    if (s != nullptr && !ValidUtf8WithoutNul(*s)) {
      return absl::InvalidArgumentError(
          Cat("INVALID_TEXT: parameter ", i + 1, " is not valid UTF-8 or contains a NUL byte"));
    }
  }
  return absl::OkStatus();
}

}  // namespace sb::recording::storage
