// String helpers for this directory and the SQL code built on its drivers (insights/storage).
// absl::StrCat is not used because this absl build has its own absl::string_view, distinct from
// the std::string_view used here throughout (the same reason as services/common/expr/expr.cc).
#pragma once

#include <charconv>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace sb::recording::storage {

template <typename Part>
void CatOne(std::string& out, const Part& part) {
  using T = std::decay_t<Part>;
  if constexpr (std::is_same_v<T, bool>) {
    out.append(part ? "true" : "false");
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, char>) {
    out.append(std::to_string(part));
  } else if constexpr (std::is_same_v<T, char>) {
    out.push_back(part);
  } else if constexpr (std::is_floating_point_v<T>) {
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), part);  // shortest round trip
    out.append(buf, end);
  } else if constexpr (std::is_same_v<T, absl::string_view>) {
    out.append(part.data(), part.size());
  } else {
    out.append(std::string_view(part));
  }
}

// Concatenates strings, string views (std and absl), characters and numbers.
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  (CatOne(out, parts), ...);
  return out;
}

template <typename... Parts>
void CatAppend(std::string* out, const Parts&... parts) {
  (CatOne(*out, parts), ...);
}

// std::string_view of an absl::string_view (Status::message(), ...).
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace sb::recording::storage
