// The Switchboard expression language: small, safe boolean expressions over a caller-supplied
// environment, used for routing requirements (`skills.billing >= 3 && language == "es"`),
// queue membership and policy conditions. The grammar and semantics are documented in
// docs/expressions.md.
//
// Expressions are parsed once into a compact, immutable AST and then evaluated many times, so
// evaluation is the hot path: it never throws, never fails on type mismatches, and does not
// allocate when comparing numbers or short strings against literals.
#pragma once

#include <cstddef>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace sb::expr {

namespace internal {
struct Program;  // the parsed form of an Expression; defined in expr.cc
}  // namespace internal

// A dynamically typed value: null, bool, number (double), string, or list of strings.
class Value {
 public:
  // The order matches the alternatives of the internal variant.
  enum class Kind { kNull, kBool, kNumber, kString, kList };

  Value() = default;  // null

  static Value Null() { return Value(); }
  static Value Bool(bool b) { return Value(std::in_place_index<1>, b); }
  static Value Number(double d) { return Value(std::in_place_index<2>, d); }
  static Value String(std::string_view s) { return Value(std::in_place_index<3>, s); }
  static Value List(std::vector<std::string> items) {
    return Value(std::in_place_index<4>, std::move(items));
  }

  Kind kind() const { return static_cast<Kind>(rep_.index()); }
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_number() const { return kind() == Kind::kNumber; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }

  // Accessors return false / 0 / an empty string / an empty list when the kind differs, so a
  // caller that forgot to check the kind gets a harmless default rather than a crash.
  bool bool_value() const {
    const bool* b = std::get_if<bool>(&rep_);
    return b != nullptr && *b;
  }
  double number_value() const {
    const double* d = std::get_if<double>(&rep_);
    return d != nullptr ? *d : 0.0;
  }
  const std::string& string_value() const {
    const std::string* s = std::get_if<std::string>(&rep_);
    return s != nullptr ? *s : EmptyString();
  }
  const std::vector<std::string>& list_value() const {
    const std::vector<std::string>* l = std::get_if<std::vector<std::string>>(&rep_);
    return l != nullptr ? *l : EmptyList();
  }

  // null -> false; bool -> itself; number -> != 0 (so NaN is truthy); string and list ->
  // non-empty.
  bool Truthy() const;

  // The language's `==`: equal kinds compare by value (numbers numerically, lists
  // element-wise in order), different kinds are unequal, null == null.
  friend bool operator==(const Value& a, const Value& b);

  // A literal-like rendering for messages and tests: null, true, 3.5, "a\"b", ["x", "y"].
  std::string DebugString() const;
  friend std::ostream& operator<<(std::ostream& os, const Value& v) {
    return os << v.DebugString();
  }

 private:
  using Rep = std::variant<std::monostate, bool, double, std::string, std::vector<std::string>>;
  // Constructs the alternative in place; going through a temporary variant instead trips
  // GCC 12's -Wmaybe-uninitialized under -fsanitize=address at -O2.
  template <std::size_t kIndex, typename Arg>
  Value(std::in_place_index_t<kIndex> index, Arg&& arg) : rep_(index, std::forward<Arg>(arg)) {}
  static const std::string& EmptyString();
  static const std::vector<std::string>& EmptyList();

  Rep rep_;
};

// The evaluation context. The caller implements Lookup for dotted identifier paths such as
// "skills.billing", "language" or "interaction.vip". Unknown paths return null.
// Lookup may be called concurrently when one Expression is evaluated from several threads.
class Env {
 public:
  virtual ~Env() = default;
  virtual Value Lookup(std::string_view path) const = 0;
};

// A parsed, immutable expression. Copies are cheap (they share the AST) and Evaluate may be
// called concurrently from several threads.
class Expression {
 public:
  // The empty expression: always true.
  Expression();

  // Parses text. Empty or all-whitespace text is the empty expression (always true).
  // Errors are absl::InvalidArgumentError with the message
  //   "column N: <what was expected>, found <what was found>"
  // where N is the 1-based byte column, e.g. "column 14: expected a value, found end of input".
  static absl::StatusOr<Expression> Parse(std::string_view text);

  // Evaluates against env. Type mismatches are not errors (see docs/expressions.md), so this
  // currently always succeeds; the StatusOr leaves room for evaluation budgets later.
  // The empty expression evaluates to true.
  absl::StatusOr<Value> Evaluate(const Env& env) const;

  // Evaluate(env)->Truthy(), but without materialising the result; empty -> true. This is the
  // fast path: it does not allocate unless env.Lookup does.
  bool Matches(const Env& env) const;

  // The original text passed to Parse ("" for a default-constructed expression).
  const std::string& text() const;

  bool empty() const;

  // The distinct identifier paths referenced, sorted.
  std::vector<std::string> Identifiers() const;

  // A canonical, fully parenthesised rendering of the parsed AST (e.g. `a || b && c` renders
  // as `(a || (b && c))`). It parses back to an equivalent expression unless the added
  // parentheses push it past the length or nesting limits. Empty -> "".
  std::string DebugString() const;

 private:
  explicit Expression(std::shared_ptr<const internal::Program> program);

  // Null only for the default-constructed expression.
  std::shared_ptr<const internal::Program> program_;
};

}  // namespace sb::expr
