// libFuzzer entry point for the expression parser and evaluator. Built only with -DSB_FUZZ=ON
// and Clang; see CMakeLists.txt.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/expr/expr.h"

namespace {

// Derives values from the path so evaluation explores every kind of operand.
class FuzzEnv : public sb::expr::Env {
 public:
  sb::expr::Value Lookup(std::string_view path) const override {
    switch (path.size() % 6) {
      case 0:
        return sb::expr::Value::Null();
      case 1:
        return sb::expr::Value::Bool(path.size() % 4 == 1);
      case 2:
        return sb::expr::Value::Number(static_cast<double>(path.size()) - 4);
      case 3:
        return sb::expr::Value::String(path.substr(0, 2));
      case 4:
        return sb::expr::Value::List({"a", std::string(path.substr(0, 1))});
      default:
        return sb::expr::Value::String("");
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<sb::expr::Expression> e = sb::expr::Expression::Parse(text);
  if (!e.ok()) {
    // Every error must carry the documented "column N: expected ..., found ..." shape.
    if (e.status().code() != absl::StatusCode::kInvalidArgument ||
        e.status().message().substr(0, 7) != "column ") {
      std::abort();
    }
    return 0;
  }
  const FuzzEnv env;
  absl::StatusOr<sb::expr::Value> v = e->Evaluate(env);
  if (!v.ok() || e->Matches(env) != v->Truthy()) {
    std::abort();
  }
  (void)e->Identifiers();
  // The canonical rendering must be stable when it parses back (it may exceed the limits).
  absl::StatusOr<sb::expr::Expression> again = sb::expr::Expression::Parse(e->DebugString());
  if (again.ok() && again->DebugString() != e->DebugString()) {
    std::abort();
  }
  return 0;
}
