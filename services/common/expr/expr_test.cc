#include "common/expr/expr.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Counts heap allocations so the test can check that the hot path does not allocate. Replacing
// the global operator new is the only way to observe allocations made inside the library.
namespace {
std::atomic<int64_t> g_allocations{0};

// Out of line so GCC's -Wmismatched-new-delete does not see free() applied, after inlining, to
// a pointer that came from operator new (which is exactly what these replacements intend).
[[gnu::noinline]] void* CountedAlloc(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
[[gnu::noinline]] void CountedFree(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = CountedAlloc(size)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, std::size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::size_t) noexcept { CountedFree(p); }

namespace sb::expr {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// An Env backed by a map; paths not in the map are missing (null).
class MapEnv : public Env {
 public:
  MapEnv() = default;
  MapEnv(std::initializer_list<std::pair<const std::string, Value>> values) : values_(values) {}
  void Set(std::string path, Value v) { values_[std::move(path)] = std::move(v); }
  Value Lookup(std::string_view path) const override {
    auto it = values_.find(path);
    return it == values_.end() ? Value() : it->second;
  }

 private:
  std::map<std::string, Value, std::less<>> values_;
};

// Records every lookup, to observe short-circuiting.
class RecordingEnv : public Env {
 public:
  explicit RecordingEnv(const Env& inner) : inner_(inner) {}
  Value Lookup(std::string_view path) const override {
    lookups_.emplace_back(path);
    return inner_.Lookup(path);
  }
  std::vector<std::string>& lookups() const { return lookups_; }

 private:
  const Env& inner_;
  mutable std::vector<std::string> lookups_;
};

Expression MustParse(std::string_view text) {
  absl::StatusOr<Expression> e = Expression::Parse(text);
  EXPECT_TRUE(e.ok()) << "parsing `" << text << "`: " << e.status();
  return e.ok() ? *std::move(e) : Expression();
}

Value Eval(std::string_view text, const Env& env) {
  absl::StatusOr<Expression> e = Expression::Parse(text);
  EXPECT_TRUE(e.ok()) << "parsing `" << text << "`: " << e.status();
  if (!e.ok()) {
    return Value::String("<parse error>");
  }
  absl::StatusOr<Value> v = e->Evaluate(env);
  EXPECT_TRUE(v.ok()) << v.status();
  // Matches must always agree with Evaluate's truthiness.
  EXPECT_EQ(e->Matches(env), v.ok() && v->Truthy()) << text;
  return v.ok() ? *v : Value::String("<eval error>");
}

std::string ParseError(std::string_view text) {
  absl::StatusOr<Expression> e = Expression::Parse(text);
  if (e.ok()) {
    return "<parsed OK: " + e->DebugString() + ">";
  }
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << e.status();
  return std::string(e.status().message());
}

const MapEnv& TestEnv() {
  static const MapEnv* env = new MapEnv{
      {"skills.billing", Value::Number(4)}, {"skills.sales", Value::Number(0)},
      {"language", Value::String("es")},    {"supervisor", Value::Bool(true)},
      {"trainee", Value::Bool(false)},      {"langs", Value::List({"es", "en"})},
      {"no_langs", Value::List({})},        {"empty", Value::String("")},
      {"explicit_null", Value::Null()},     {"half", Value::Number(0.5)},
  };
  return *env;
}

// ---------------------------------------------------------------------------------------------
// Value

TEST(ValueTest, KindsAndAccessors) {
  EXPECT_TRUE(Value().is_null());
  EXPECT_EQ(Value::Null().kind(), Value::Kind::kNull);
  EXPECT_EQ(Value::Bool(true).kind(), Value::Kind::kBool);
  EXPECT_TRUE(Value::Bool(true).bool_value());
  EXPECT_EQ(Value::Number(2.5).number_value(), 2.5);
  EXPECT_EQ(Value::String("x").string_value(), "x");
  EXPECT_THAT(Value::List({"a", "b"}).list_value(), ElementsAre("a", "b"));
  // Wrong-kind accessors give harmless defaults.
  EXPECT_FALSE(Value::Number(1).bool_value());
  EXPECT_EQ(Value::String("1").number_value(), 0);
  EXPECT_EQ(Value::Bool(true).string_value(), "");
  EXPECT_THAT(Value::String("a").list_value(), IsEmpty());
}

TEST(ValueTest, Truthy) {
  EXPECT_FALSE(Value().Truthy());
  EXPECT_FALSE(Value::Bool(false).Truthy());
  EXPECT_TRUE(Value::Bool(true).Truthy());
  EXPECT_FALSE(Value::Number(0).Truthy());
  EXPECT_FALSE(Value::Number(-0.0).Truthy());
  EXPECT_TRUE(Value::Number(-1).Truthy());
  EXPECT_TRUE(Value::Number(0.001).Truthy());
  EXPECT_FALSE(Value::String("").Truthy());
  EXPECT_TRUE(Value::String("0").Truthy());
  EXPECT_TRUE(Value::String("false").Truthy());
  EXPECT_FALSE(Value::List({}).Truthy());
  EXPECT_TRUE(Value::List({""}).Truthy());
}

TEST(ValueTest, Equality) {
  EXPECT_EQ(Value(), Value::Null());
  EXPECT_EQ(Value::Number(1), Value::Number(1.0));
  EXPECT_EQ(Value::Number(0), Value::Number(-0.0));
  EXPECT_FALSE(Value::Number(1) == Value::String("1"));
  EXPECT_FALSE(Value::Bool(true) == Value::Number(1));
  EXPECT_FALSE(Value::Null() == Value::Bool(false));
  EXPECT_EQ(Value::List({"a", "b"}), Value::List({"a", "b"}));
  EXPECT_FALSE(Value::List({"a", "b"}) == Value::List({"b", "a"}));
}

TEST(ValueTest, DebugString) {
  EXPECT_EQ(Value().DebugString(), "null");
  EXPECT_EQ(Value::Bool(false).DebugString(), "false");
  EXPECT_EQ(Value::Number(3).DebugString(), "3");
  EXPECT_EQ(Value::Number(-2.5).DebugString(), "-2.5");
  EXPECT_EQ(Value::String("a\"b\\c\n").DebugString(), R"("a\"b\\c\n")");
  EXPECT_EQ(Value::List({"x", "y"}).DebugString(), R"(["x", "y"])");
}

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(ParseTest, EmptyExpressionIsAlwaysTrue) {
  for (std::string_view text : {"", " ", "  \t\n\r "}) {
    Expression e = MustParse(text);
    EXPECT_TRUE(e.empty());
    EXPECT_EQ(e.text(), text);
    EXPECT_TRUE(e.Matches(MapEnv{}));
    EXPECT_EQ(*e.Evaluate(MapEnv{}), Value::Bool(true));
    EXPECT_THAT(e.Identifiers(), IsEmpty());
    EXPECT_EQ(e.DebugString(), "");
  }
  Expression def;
  EXPECT_TRUE(def.empty());
  EXPECT_EQ(def.text(), "");
  EXPECT_TRUE(def.Matches(MapEnv{}));
  EXPECT_EQ(*def.Evaluate(MapEnv{}), Value::Bool(true));
}

TEST(ParseTest, KeepsTextAndCopiesShareTheAst) {
  Expression e = MustParse(" skills.billing >= 3 ");
  EXPECT_FALSE(e.empty());
  EXPECT_EQ(e.text(), " skills.billing >= 3 ");
  const Expression copy = e;  // NOLINT(performance-unnecessary-copy-initialization): under test
  EXPECT_EQ(&copy.text(), &e.text());  // shared, not deep-copied
}

TEST(ParseTest, AcceptsWellFormedExpressions) {
  for (std::string_view text : {
           "a",
           "true",
           "null",
           "-3",
           "- 3",
           "\"x\"",
           "[]",
           "[\"a\"]",
           "skills.billing >= 3 && language == \"es\"",
           "skills.sales > 0 || supervisor",
           "x in [\"es\", \"en\"]",
           "x not in [\"es\",\"en\"]",
           "x not  in langs",
           "!(a == b)",
           "!!a",
           "((a))",
           "(a < b) == true",
           "a.b_c.D9 != -0.5",
           "_x",
           "a==1&&b!=2||!c",
           "x in[\"a\"]",
           "notx || inx || nullable || true_ || a.nothing",
           "\"multi\nline\" == s",
           "1.25 <= 00.5",
       }) {
    EXPECT_TRUE(Expression::Parse(text).ok()) << text << ": " << Expression::Parse(text).status();
  }
}

struct ErrorCase {
  std::string text;
  std::string message;
};

TEST(ParseTest, ErrorMessagesNameTheColumnAndTheProblem) {
  const std::vector<ErrorCase> cases = {
      {"language == (", "column 14: expected a value, found end of input"},
      {"a ==", "column 5: expected a value, found end of input"},
      {"  a  ==  ", "column 10: expected a value, found end of input"},
      {"a == == b", "column 6: expected a value, found '=='"},
      {"a < b < c", "column 7: expected '&&', '||' or end of input, found '<'"},
      {"a == b != c", "column 8: expected '&&', '||' or end of input, found '!='"},
      {"a && b < c in d", "column 12: expected '&&', '||' or end of input, found 'in'"},
      {"(a < b < c)", "column 8: expected '&&', '||' or ')', found '<'"},
      {"a b", "column 3: expected an operator or end of input, found identifier 'b'"},
      {"1 2", "column 3: expected an operator or end of input, found number 2"},
      {"a \"s\"", "column 3: expected an operator or end of input, found string \"s\""},
      {"(a && b", "column 8: expected an operator or ')', found end of input"},
      {"(a b)", "column 4: expected an operator or ')', found identifier 'b'"},
      {"a)", "column 2: expected an operator or end of input, found ')'"},
      {"()", "column 2: expected a value, found ')'"},
      {")", "column 1: expected a value, found ')'"},
      {"a && || b", "column 6: expected a value, found '||'"},
      {"&& a", "column 1: expected a value, found '&&'"},
      {"!", "column 2: expected a value, found end of input"},
      {"a = 1", "column 3: expected '==', found '='"},
      {"a & b", "column 3: expected '&&', found '&'"},
      {"a | b", "column 3: expected '||', found '|'"},
      {"a @ b", "column 3: expected an operator or end of input, found '@'"},
      {"@", "column 1: expected a value, found '@'"},
      {"x == 'es'", "column 6: expected a value (strings use double quotes), found \"'\""},
      {"x 'es'", "column 3: expected an operator or end of input, found \"'\""},
      {"x == 1.5.3", "column 9: expected '&&', '||' or end of input, found '.'"},
      {"x == 1e5", "column 7: expected '&&', '||' or end of input, found identifier 'e5'"},
      {"\xc3\xa9", "column 1: expected a value, found byte 0xC3"},
      {std::string("a\x01", 2), "column 2: expected an operator or end of input, found byte 0x01"},
      {std::string("a\0", 2), "column 2: expected an operator or end of input, found byte 0x00"},
      {"\"abc",
       "column 5: expected '\"' to close the string started at column 1, found end of input"},
      {"x == \"ab\\",
       "column 10: expected '\"' to close the string started at column 6, found end of input"},
      {"x == \"a\\qb\"", "column 8: expected an escape sequence (\\\" \\\\ \\n \\t), found '\\q'"},
      {"x == \"a\\\x7f\"",
       "column 8: expected an escape sequence (\\\" \\\\ \\n \\t), found '\\' followed by byte "
       "0x7F"},
      {"1.", "column 3: expected a digit after '.', found end of input"},
      {"1.x", "column 3: expected a digit after '.', found 'x'"},
      {".5", "column 1: expected a value, found '.'"},
      {"a.", "column 3: expected a name after '.', found end of input"},
      {"a.1", "column 3: expected a name after '.', found '1'"},
      {"a .b", "column 3: expected an operator or end of input, found '.'"},
      {"a.in", "column 3: expected an identifier, found reserved word 'in'"},
      {"true.x", "column 1: expected an identifier, found reserved word 'true'"},
      {"x.null.y", "column 3: expected an identifier, found reserved word 'null'"},
      {"x in [1]", "column 7: expected a string or ']', found number 1"},
      {"x in [\"a\" \"b\"]", "column 11: expected ',' or ']', found string \"b\""},
      {"x in [\"a\",]", "column 11: expected a string, found ']'"},
      {"x in [\"a\", b]", "column 12: expected a string, found identifier 'b'"},
      {"x in [", "column 7: expected a string or ']', found end of input"},
      {"x in [[\"a\"]]", "column 7: expected a string or ']', found '['"},
      {"x not y", "column 7: expected 'in' after 'not', found identifier 'y'"},
      {"x not", "column 6: expected 'in' after 'not', found end of input"},
      {"not x", "column 1: expected a value, found 'not'"},
      {"in", "column 1: expected a value, found 'in'"},
      {"a == !b", "column 6: expected a value (put '!' expressions in parentheses), found '!'"},
      {"-x", "column 2: expected a number after '-', found identifier 'x'"},
      {"--1", "column 2: expected a number after '-', found '-'"},
      {"a - 1", "column 3: expected an operator or end of input, found '-'"},
      {"a == true false", "column 11: expected '&&', '||' or end of input, found 'false'"},
      // The first problem wins even when a lexical error follows it.
      {"a b \"unterminated",
       "column 3: expected an operator or end of input, found identifier 'b'"},
      // Long tokens are shortened in messages.
      {"a " + std::string(40, 'z'),
       "column 3: expected an operator or end of input, found identifier '" + std::string(32, 'z') +
           "...'"},
      {"1" + std::string(400, '0'),
       "column 1: expected a number within the range of a double, found number 1" +
           std::string(31, '0') + "..."},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_EQ(ParseError(c.text), c.message) << "input: `" << c.text << "`";
  }
}

TEST(ParseTest, PrecedenceAndAssociativity) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"a || b && c", "(a || (b && c))"},
      {"a && b || c", "((a && b) || c)"},
      {"a || b || c", "(a || b || c)"},
      {"(a || b) && c", "((a || b) && c)"},
      {"!a && b", "(!a && b)"},
      {"!a == b", "!(a == b)"},  // '!' binds looser than comparisons
      {"!(a) == b", "!(a == b)"},
      {"(!a) == b", "((!a) == b)"},
      {"!a || !b && c", "(!a || (!b && c))"},
      {"a == 1 && b != \"x\" || c", "(((a == 1) && (b != \"x\")) || c)"},
      {"x in [\"a\"] || y not in z", "((x in [\"a\"]) || (y not in z))"},
      {"(a < b) == (c > d)", "((a < b) == (c > d))"},
      {"((a))", "a"},
      {"-0.5 >= -2", "(-0.5 >= -2)"},
      {"!!a", "!!a"},
  };
  for (const auto& [text, rendered] : cases) {
    EXPECT_EQ(MustParse(text).DebugString(), rendered) << text;
  }
}

TEST(ParseTest, Identifiers) {
  EXPECT_THAT(MustParse("z || a.b == 1 && z != a || a.b in [\"x\"] || m in l").Identifiers(),
              ElementsAre("a", "a.b", "l", "m", "z"));
  EXPECT_THAT(MustParse("1 == 1 && \"a\" in [\"a\"]").Identifiers(), IsEmpty());
  // Keywords are not identifiers, but words that merely start with one are.
  EXPECT_THAT(MustParse("true || nullable || x.in_y").Identifiers(),
              ElementsAre("nullable", "x.in_y"));
}

// ---------------------------------------------------------------------------------------------
// Limits

TEST(LimitsTest, TextLength) {
  std::string ok = "a" + std::string(4095, ' ');
  EXPECT_TRUE(Expression::Parse(ok).ok());
  std::string too_long = "a" + std::string(4096, ' ');
  EXPECT_EQ(ParseError(too_long), "column 4097: expected at most 4096 bytes, found 4097 bytes");
  // A maximal text made only of `&&` chains still parses and evaluates without recursion.
  std::string chain = "a";
  while (chain.size() + 5 <= 4096) {
    chain += " && a";
  }
  Expression e = MustParse(chain);
  EXPECT_TRUE(e.Matches(MapEnv{{"a", Value::Bool(true)}}));
  EXPECT_FALSE(e.Matches(MapEnv{}));
}

TEST(LimitsTest, NestingDepthOfParentheses) {
  auto nest = [](int n) { return std::string(n, '(') + "a" + std::string(n, ')'); };
  EXPECT_TRUE(Expression::Parse(nest(64)).ok());
  EXPECT_EQ(ParseError(nest(65)),
            "column 65: expected at most 64 levels of nesting, found level 65");
  EXPECT_EQ(ParseError(nest(1000)),
            "column 65: expected at most 64 levels of nesting, found level 65");
  EXPECT_EQ(ParseError(std::string(4096, '(')),
            "column 65: expected at most 64 levels of nesting, found level 65");
}

TEST(LimitsTest, NestingDepthOfNegations) {
  EXPECT_EQ(*MustParse(std::string(64, '!') + "a").Evaluate(MapEnv{}), Value::Bool(false));
  EXPECT_EQ(ParseError(std::string(65, '!') + "a"),
            "column 65: expected at most 64 levels of nesting, found level 65");
  // Parentheses and negations count together.
  std::string mixed;
  for (int i = 0; i < 32; ++i) {
    mixed += "!(";
  }
  EXPECT_TRUE(Expression::Parse(mixed + "a" + std::string(32, ')')).ok());
  EXPECT_EQ(ParseError(mixed + "!a" + std::string(32, ')')),
            "column 65: expected at most 64 levels of nesting, found level 65");
}

TEST(LimitsTest, ListLength) {
  auto list = [](int n) {
    std::string s = "x in [";
    for (int i = 0; i < n; ++i) {
      s += i == 0 ? "\"e\"" : ",\"e\"";
    }
    return s + "]";
  };
  EXPECT_TRUE(Expression::Parse(list(256)).ok());
  // Element 257 starts at: 6 bytes of `x in [`, 3 bytes for the first, 4 for each later one.
  EXPECT_EQ(ParseError(list(257)), absl::StrCat("column ", 6 + 3 + 255 * 4 + 2,
                                                ": expected at most 256 list elements, found "
                                                "element 257"));
}

// ---------------------------------------------------------------------------------------------
// Semantics

TEST(SemanticsTest, LiteralsAndBareIdentifiers) {
  const Env& env = TestEnv();
  EXPECT_EQ(Eval("true", env), Value::Bool(true));
  EXPECT_EQ(Eval("null", env), Value::Null());
  EXPECT_EQ(Eval("-2.5", env), Value::Number(-2.5));
  EXPECT_EQ(Eval("007", env), Value::Number(7));
  EXPECT_EQ(Eval("\"a\\\"b\\\\c\\nd\\te\"", env), Value::String("a\"b\\c\nd\te"));
  EXPECT_EQ(Eval("[\"es\", \"en\"]", env), Value::List({"es", "en"}));
  EXPECT_EQ(Eval("language", env), Value::String("es"));
  EXPECT_EQ(Eval("langs", env), Value::List({"es", "en"}));
  EXPECT_EQ(Eval("missing", env), Value::Null());
  EXPECT_EQ(Eval("skills.billing", env), Value::Number(4));
  // Parentheses around a single value keep the value.
  EXPECT_EQ(Eval("(language)", env), Value::String("es"));
}

TEST(SemanticsTest, TruthinessOfWholeExpressions) {
  const Env& env = TestEnv();
  for (const char* text : {"supervisor", "skills.billing", "language", "langs", "half", "1"}) {
    EXPECT_TRUE(MustParse(text).Matches(env)) << text;
  }
  for (const char* text : {"trainee", "skills.sales", "empty", "no_langs", "missing",
                           "explicit_null", "0", "\"\"", "[]", "null", "false"}) {
    EXPECT_FALSE(MustParse(text).Matches(env)) << text;
  }
}

TEST(SemanticsTest, LogicalOperatorsReturnBools) {
  const Env& env = TestEnv();
  EXPECT_EQ(Eval("language && skills.billing", env), Value::Bool(true));
  EXPECT_EQ(Eval("language && skills.sales", env), Value::Bool(false));
  EXPECT_EQ(Eval("skills.sales || empty", env), Value::Bool(false));
  EXPECT_EQ(Eval("skills.sales || langs", env), Value::Bool(true));
  EXPECT_EQ(Eval("!language", env), Value::Bool(false));
  EXPECT_EQ(Eval("!missing", env), Value::Bool(true));
  EXPECT_EQ(Eval("!!language", env), Value::Bool(true));
  EXPECT_EQ(Eval("!no_langs", env), Value::Bool(true));
}

TEST(SemanticsTest, ShortCircuit) {
  RecordingEnv env(TestEnv());
  EXPECT_FALSE(MustParse("trainee && a && b").Matches(env));
  EXPECT_THAT(env.lookups(), ElementsAre("trainee"));
  env.lookups().clear();
  EXPECT_TRUE(MustParse("supervisor || a || b").Matches(env));
  EXPECT_THAT(env.lookups(), ElementsAre("supervisor"));
  env.lookups().clear();
  EXPECT_TRUE(MustParse("trainee || skills.sales > 0 || language == \"es\" || z").Matches(env));
  EXPECT_THAT(env.lookups(), ElementsAre("trainee", "skills.sales", "language"));
  env.lookups().clear();
  EXPECT_EQ(*MustParse("supervisor && (trainee || x) && y").Evaluate(env), Value::Bool(false));
  EXPECT_THAT(env.lookups(), ElementsAre("supervisor", "trainee", "x"));
}

TEST(SemanticsTest, Equality) {
  const Env& env = TestEnv();
  auto is = [&](const char* text, bool expected) {
    EXPECT_EQ(Eval(text, env), Value::Bool(expected)) << text;
  };
  is("skills.billing == 4", true);
  is("skills.billing == 4.0", true);
  is("skills.billing != 4", false);
  is("4 == skills.billing", true);
  is("half == 0.5", true);
  is("0 == -0", true);
  is("language == \"es\"", true);
  is("language == \"ES\"", false);
  is("language != \"en\"", true);
  is("supervisor == true", true);
  is("trainee == false", true);
  // Different kinds are unequal, with no conversions.
  is("skills.billing == \"4\"", false);
  is("skills.billing != \"4\"", true);
  is("supervisor == 1", false);
  is("trainee == 0", false);
  is("empty == false", false);
  is("empty == null", false);
  is("skills.sales == null", false);
  // null and missing.
  is("null == null", true);
  is("missing == null", true);
  is("explicit_null == missing", true);
  is("missing != null", false);
  is("missing == false", false);
  is("missing != 0", true);
  // Lists compare element-wise, in order.
  is("langs == [\"es\", \"en\"]", true);
  is("langs == [\"en\", \"es\"]", false);
  is("no_langs == []", true);
  is("langs != [\"es\"]", true);
  is("langs == \"es\"", false);
  // Comparisons of comparisons.
  is("(skills.billing > 3) == true", true);
  is("(skills.billing > 3) == (language == \"es\")", true);
}

TEST(SemanticsTest, Ordering) {
  const Env& env = TestEnv();
  auto is = [&](const char* text, bool expected) {
    EXPECT_EQ(Eval(text, env), Value::Bool(expected)) << text;
  };
  is("skills.billing >= 3", true);
  is("skills.billing >= 4", true);
  is("skills.billing >= 5", false);
  is("skills.billing > 4", false);
  is("skills.billing > 3.99", true);
  is("skills.billing < 4", false);
  is("skills.billing <= 4", true);
  is("skills.billing <= 3", false);
  is("4 > skills.billing", false);
  is("5 > skills.billing", true);
  is("skills.billing < 4.5", true);
  is("skills.billing <= -1", false);
  is("-1 < half", true);
  is("-2.5 < -2", true);
  // Strings: byte-wise lexicographic.
  is("\"abc\" < \"abd\"", true);
  is("\"ab\" < \"abc\"", true);
  is("\"B\" < \"a\"", true);
  is("\"\" < \"a\"", true);
  is("language >= \"es\"", true);
  is("language > \"es\"", false);
  is("language < \"es\"", false);
  is("language <= \"es\"", true);
  is("language > \"e\"", true);
  is("\"\xc3\xa9\" > \"z\"", true);  // UTF-8 bytes sort above ASCII (unsigned comparison)
  // Every other combination is false, in both directions and for both strict and non-strict.
  for (const char* op : {"<", "<=", ">", ">="}) {
    for (const char* pair :
         {"skills.billing %s \"4\"", "\"4\" %s skills.billing", "missing %s 1", "1 %s missing",
          "null %s null", "missing %s missing", "true %s false", "supervisor %s supervisor",
          "langs %s langs", "langs %s \"es\"", "empty %s 0"}) {
      std::string text = pair;
      text.replace(text.find("%s"), 2, op);
      is(text.c_str(), false);
    }
  }
}

TEST(SemanticsTest, In) {
  const Env& env = TestEnv();
  auto is = [&](const char* text, bool expected) {
    EXPECT_EQ(Eval(text, env), Value::Bool(expected)) << text;
  };
  is("language in [\"es\", \"en\"]", true);
  is("language in [\"en\", \"fr\"]", false);
  is("language in []", false);
  is("\"en\" in langs", true);
  is("\"fr\" in langs", false);
  is("language in langs", true);
  is("\"\" in [\"\"]", true);
  is("\"es\" in no_langs", false);
  // Duplicates and ordering in the literal don't matter.
  is("\"b\" in [\"c\", \"b\", \"a\", \"b\"]", true);
  // Not a substring test.
  is("\"s\" in language", false);
  is("\"es\" in language", false);
  is("\"es\" in \"es\"", false);
  // Non-string needles and non-list haystacks are false.
  is("4 in [\"4\"]", false);
  is("skills.billing in langs", false);
  is("missing in langs", false);
  is("null in [\"null\"]", false);
  is("true in [\"true\"]", false);
  is("langs in langs", false);
  is("language in missing", false);
  is("language in skills.billing", false);
  // A parenthesised haystack is fine.
  is("language in (langs)", true);
  // `not in` is the exact negation of `in`.
  is("language not in [\"es\"]", false);
  is("language not in [\"fr\"]", true);
  is("\"fr\" not in langs", true);
  is("missing not in langs", true);
  is("\"s\" not in language", true);
  // `in` binds tighter than `&&`/`||` and looser than nothing else.
  is("language in langs && !(\"fr\" in langs)", true);
  is("!language in langs", false);
}

TEST(SemanticsTest, RoutingExamples) {
  MapEnv agent{{"skills.billing", Value::Number(3)},
               {"language", Value::String("es")},
               {"supervisor", Value::Bool(false)}};
  EXPECT_TRUE(MustParse("skills.billing >= 3 && language == \"es\"").Matches(agent));
  EXPECT_FALSE(MustParse("skills.sales > 0 || supervisor").Matches(agent));
  agent.Set("skills.sales", Value::Number(1));
  EXPECT_TRUE(MustParse("skills.sales > 0 || supervisor").Matches(agent));
  agent.Set("language", Value::String("en"));
  EXPECT_FALSE(MustParse("skills.billing >= 3 && language == \"es\"").Matches(agent));
}

// ---------------------------------------------------------------------------------------------
// Performance-related guarantees

// Returns numbers, bools and short strings: all constructible without allocating (short string
// optimisation), like a well-written production Env.
class CheapEnv : public Env {
 public:
  Value Lookup(std::string_view path) const override {
    if (path == "skills.billing") {
      return Value::Number(4);
    }
    if (path == "language") {
      return Value::String("es");
    }
    if (path == "vip") {
      return Value::Bool(false);
    }
    return Value();
  }
};

TEST(PerformanceTest, MatchesDoesNotAllocate) {
  const CheapEnv env;
  const std::vector<std::pair<Expression, bool>> cases = {
      {MustParse("skills.billing >= 3 && language == \"es\" && !vip"), true},
      {MustParse("language in [\"en\", \"es\", \"fr\"] || vip"), true},
      {MustParse("language not in [\"en\", \"fr\"] && missing == null"), true},
      {MustParse("\"es\" == language && (skills.billing < 2 || vip != false)"), false},
      {MustParse("\"a long string literal that is not inline\" != language"), true},
  };
  for (const auto& [e, expected] : cases) {
    const int64_t before = g_allocations.load();
    bool result = false;
    for (int i = 0; i < 100; ++i) {
      result = e.Matches(env);
    }
    absl::StatusOr<Value> value = e.Evaluate(env);
    const int64_t after = g_allocations.load();
    EXPECT_EQ(after - before, 0) << e.text();
    EXPECT_EQ(result, expected) << e.text();
    EXPECT_EQ(value->bool_value(), expected) << e.text();
  }
}

TEST(PerformanceTest, ConcurrentEvaluation) {
  const Expression e = MustParse("skills.billing >= 3 && language in [\"es\", \"en\"] && !vip");
  const CheapEnv env;
  std::atomic<int> mismatches{0};
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([copy = e, &env, &mismatches] {
      for (int i = 0; i < 20000; ++i) {
        if (!copy.Matches(env)) {
          mismatches.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(mismatches.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Randomized robustness

uint64_t TestSeed() {
  static const uint64_t seed = [] {
    if (const char* s = std::getenv("SB_TEST_SEED"); s != nullptr && *s != '\0') {
      return static_cast<uint64_t>(std::strtoull(s, nullptr, 10));
    }
    return (static_cast<uint64_t>(std::random_device{}()) << 32) | std::random_device{}();
  }();
  return seed;
}

class RandomTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = TestSeed() ^ std::hash<std::string>{}(
                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::cout << "[ seed     ] SB_TEST_SEED=" << TestSeed() << "\n";
    RecordProperty("seed", std::to_string(TestSeed()));
    rng_.seed(seed_);
  }

  size_t Uniform(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(v.size())];
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
};

// Checks the invariants every parse result must satisfy, whatever the input.
void CheckParseInvariants(std::string_view text) {
  absl::StatusOr<Expression> e = Expression::Parse(text);
  if (!e.ok()) {
    ASSERT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    // "column N: expected ..., found ..."
    const std::string message(e.status().message());
    ASSERT_EQ(message.rfind("column ", 0), 0u) << message;
    size_t column = 0;
    size_t i = 7;
    while (i < message.size() && message[i] >= '0' && message[i] <= '9') {
      column = column * 10 + static_cast<size_t>(message[i++] - '0');
    }
    ASSERT_EQ(message.compare(i, 11, ": expected "), 0) << message;
    ASSERT_NE(message.find(", found ", i), std::string::npos) << message;
    ASSERT_GE(column, 1u) << message;
    ASSERT_LE(column, text.size() + 1) << message;
    return;
  }
  const MapEnv& env = TestEnv();
  absl::StatusOr<Value> v1 = e->Evaluate(env);
  absl::StatusOr<Value> v2 = e->Evaluate(env);
  ASSERT_TRUE(v1.ok() && v2.ok());
  // Bit-for-bit determinism; NaN cannot arise from literals and TestEnv has none.
  ASSERT_EQ(*v1, *v2) << text;
  ASSERT_EQ(e->Matches(env), v1->Truthy()) << text;
  // The canonical rendering parses back to the same AST.
  const std::string rendered = e->DebugString();
  absl::StatusOr<Expression> again = Expression::Parse(rendered);
  ASSERT_TRUE(again.ok()) << text << " -> " << rendered << ": " << again.status();
  ASSERT_EQ(again->DebugString(), rendered) << text;
  ASSERT_EQ(*again->Evaluate(env), *v1) << text;
  ASSERT_EQ(again->Identifiers(), e->Identifiers()) << text;
}

// A generated expression together with a reference evaluator written independently of the
// library: the test computes the expected value by walking this tree.
struct GenNode {
  enum Kind { kLiteral, kPath, kNot, kAnd, kOr, kCompare, kIn, kNotIn } kind = kLiteral;
  Value literal;
  std::string literal_text;
  std::string path;
  std::string op;  // kCompare
  std::vector<GenNode> kids;

  int Level() const {  // binding strength: higher binds tighter
    switch (kind) {
      case kOr:
        return 1;
      case kAnd:
        return 2;
      case kNot:
        return 3;
      case kCompare:
      case kIn:
      case kNotIn:
        return 4;
      default:
        return 5;
    }
  }
};

Value Reference(const GenNode& n, const Env& env) {
  switch (n.kind) {
    case GenNode::kLiteral:
      return n.literal;
    case GenNode::kPath:
      return env.Lookup(n.path);
    case GenNode::kNot:
      return Value::Bool(!Reference(n.kids[0], env).Truthy());
    case GenNode::kAnd:
      for (const GenNode& k : n.kids) {
        if (!Reference(k, env).Truthy()) {
          return Value::Bool(false);
        }
      }
      return Value::Bool(true);
    case GenNode::kOr:
      for (const GenNode& k : n.kids) {
        if (Reference(k, env).Truthy()) {
          return Value::Bool(true);
        }
      }
      return Value::Bool(false);
    case GenNode::kIn:
    case GenNode::kNotIn: {
      const Value needle = Reference(n.kids[0], env);
      const Value hay = Reference(n.kids[1], env);
      bool found = false;
      if (needle.is_string() && hay.is_list()) {
        for (const std::string& s : hay.list_value()) {
          found = found || s == needle.string_value();
        }
      }
      return Value::Bool(n.kind == GenNode::kIn ? found : !found);
    }
    case GenNode::kCompare: {
      const Value l = Reference(n.kids[0], env);
      const Value r = Reference(n.kids[1], env);
      if (n.op == "==" || n.op == "!=") {
        bool eq = l.kind() == r.kind();
        if (eq && l.is_bool()) {
          eq = l.bool_value() == r.bool_value();
        }
        if (eq && l.is_number()) {
          eq = l.number_value() == r.number_value();
        }
        if (eq && l.is_string()) {
          eq = l.string_value() == r.string_value();
        }
        if (eq && l.is_list()) {
          eq = l.list_value() == r.list_value();
        }
        return Value::Bool(n.op == "==" ? eq : !eq);
      }
      int cmp;
      if (l.is_number() && r.is_number()) {
        cmp = l.number_value() < r.number_value() ? -1 : l.number_value() > r.number_value();
      } else if (l.is_string() && r.is_string()) {
        cmp = l.string_value().compare(r.string_value());
      } else {
        return Value::Bool(false);
      }
      if (n.op == "<") {
        return Value::Bool(cmp < 0);
      }
      if (n.op == "<=") {
        return Value::Bool(cmp <= 0);
      }
      if (n.op == ">") {
        return Value::Bool(cmp > 0);
      }
      return Value::Bool(cmp >= 0);
    }
  }
  return Value();
}

class GeneratorTest : public RandomTest {
 protected:
  struct Lit {
    std::string text;
    Value value;
  };

  GenNode Leaf() {
    static const std::vector<Lit> kLiterals = {
        {"0", Value::Number(0)},
        {"1", Value::Number(1)},
        {"3", Value::Number(3)},
        {"2.5", Value::Number(2.5)},
        {"-2.5", Value::Number(-2.5)},
        {"- 1", Value::Number(-1)},
        {"-0", Value::Number(-0.0)},
        {"0.1", Value::Number(0.1)},
        {"10", Value::Number(10)},
        {"\"\"", Value::String("")},
        {"\"es\"", Value::String("es")},
        {"\"en\"", Value::String("en")},
        {"\"a\\\"b\"", Value::String("a\"b")},
        {"\"x\\\\y\\n\\t\"", Value::String("x\\y\n\t")},
        {"true", Value::Bool(true)},
        {"false", Value::Bool(false)},
        {"null", Value::Null()},
        {"[]", Value::List({})},
        {"[\"es\"]", Value::List({"es"})},
        {"[\"en\", \"es\"]", Value::List({"en", "es"})},
        {"[\"fr\",\"es\",\"fr\"]", Value::List({"fr", "es", "fr"})},
    };
    GenNode n;
    if (Chance(0.5)) {
      n.kind = GenNode::kPath;
      n.path = Pick(paths_);
    } else {
      const Lit& lit = Pick(kLiterals);
      n.kind = GenNode::kLiteral;
      n.literal = lit.value;
      n.literal_text = lit.text;
    }
    return n;
  }

  GenNode Gen(int depth) {
    if (depth <= 0 || Chance(0.25)) {
      return Leaf();
    }
    GenNode n;
    switch (Uniform(6)) {
      case 0:
        n.kind = GenNode::kNot;
        n.kids.push_back(Gen(depth - 1));
        return n;
      case 1:
      case 2: {
        n.kind = Chance(0.5) ? GenNode::kAnd : GenNode::kOr;
        const size_t count = 2 + Uniform(3);
        for (size_t i = 0; i < count; ++i) {
          n.kids.push_back(Gen(depth - 1));
        }
        return n;
      }
      case 3:
        n.kind = Chance(0.5) ? GenNode::kIn : GenNode::kNotIn;
        n.kids.push_back(Gen(depth - 1));
        n.kids.push_back(Gen(depth - 1));
        return n;
      default: {
        static const std::vector<std::string> kOps = {"==", "!=", "<", "<=", ">", ">="};
        n.kind = GenNode::kCompare;
        n.op = Pick(kOps);
        n.kids.push_back(Gen(depth - 1));
        n.kids.push_back(Gen(depth - 1));
        return n;
      }
    }
  }

  // Renders with the fewest parentheses precedence allows (plus a few random redundant ones),
  // so the parser's precedence is checked against the reference.
  std::string Text(const GenNode& n) {
    std::string out;
    switch (n.kind) {
      case GenNode::kLiteral:
        return n.literal_text;
      case GenNode::kPath:
        return n.path;
      case GenNode::kNot:
        return "!" + Space(false) + Child(n.kids[0], 3);
      case GenNode::kAnd:
      case GenNode::kOr: {
        // Operands must bind tighter than the operator; equal level would flatten, which is
        // fine semantically, but parenthesise same-level children to test parentheses too.
        const int min_level = n.kind == GenNode::kAnd ? 3 : 2;
        for (size_t i = 0; i < n.kids.size(); ++i) {
          if (i > 0) {
            out += Space(false) + (n.kind == GenNode::kAnd ? "&&" : "||") + Space(false);
          }
          out += Child(n.kids[i], min_level);
        }
        return out;
      }
      default: {
        const std::string op = n.kind == GenNode::kIn      ? "in"
                               : n.kind == GenNode::kNotIn ? "not in"
                                                           : n.op;
        const bool word = n.kind != GenNode::kCompare;
        return Child(n.kids[0], 5) + Space(word) + op + Space(word) + Child(n.kids[1], 5);
      }
    }
  }

  std::string Child(const GenNode& n, int min_level) {
    if (n.Level() < min_level || Chance(0.05)) {
      return "(" + Space(false) + Text(n) + Space(false) + ")";
    }
    return Text(n);
  }

  std::string Space(bool required) {
    static const std::vector<std::string> kSpaces = {" ", " ", " ", "  ", "\t", "\n"};
    if (!required && Chance(0.3)) {
      return "";
    }
    return Pick(kSpaces);
  }

  void Collect(const GenNode& n, std::set<std::string>& paths) {
    if (n.kind == GenNode::kPath) {
      paths.insert(n.path);
    }
    for (const GenNode& k : n.kids) {
      Collect(k, paths);
    }
  }

  MapEnv RandomEnv() {
    static const std::vector<Value> kValues = {
        Value::Number(0),    Value::Number(1),    Value::Number(3),          Value::Number(-2.5),
        Value::Number(0.1),  Value::String(""),   Value::String("es"),       Value::String("en"),
        Value::String("fr"), Value::Bool(true),   Value::Bool(false),        Value::Null(),
        Value::List({}),     Value::List({"es"}), Value::List({"fr", "en"}),
    };
    MapEnv env;
    for (const std::string& p : paths_) {
      if (Chance(0.85)) {
        env.Set(p, Pick(kValues));  // else missing
      }
    }
    return env;
  }

  const std::vector<std::string> paths_ = {"a", "b", "s", "n", "skills.billing", "x.y.z", "langs"};
};

TEST_F(GeneratorTest, WellFormedParsesAndMatchesReference) {
  constexpr int kIterations = 100000;
  for (int i = 0; i < kIterations; ++i) {
    const GenNode tree = Gen(1 + static_cast<int>(Uniform(5)));
    const std::string text = Space(false) + Text(tree) + Space(false);
    absl::StatusOr<Expression> e = Expression::Parse(text);
    ASSERT_TRUE(e.ok()) << "iteration " << i << ": `" << text << "`: " << e.status();
    for (int j = 0; j < 2; ++j) {
      const MapEnv env = RandomEnv();
      const Value expected = Reference(tree, env);
      absl::StatusOr<Value> actual = e->Evaluate(env);
      ASSERT_TRUE(actual.ok());
      ASSERT_EQ(*actual, expected) << "iteration " << i << ": `" << text << "`";
      ASSERT_EQ(e->Matches(env), expected.Truthy()) << "iteration " << i << ": `" << text << "`";
    }
    std::set<std::string> paths;
    Collect(tree, paths);
    ASSERT_EQ(e->Identifiers(), std::vector<std::string>(paths.begin(), paths.end())) << text;
    if (i % 4 == 0) {
      CheckParseInvariants(text);
      if (::testing::Test::HasFatalFailure()) {
        FAIL() << "iteration " << i;
      }
    }
  }
}

TEST_F(GeneratorTest, TokenSoupNeverCrashes) {
  static const std::vector<std::string> kTokens = {
      "a",
      "b.c",
      "skills.billing",
      "language",
      "langs",
      "missing",
      "x.y.z",
      "_",
      "1",
      "0",
      "-",
      "2.5",
      "\"s\"",
      "\"es\"",
      "\"\"",
      "\"",
      "\\",
      "\"\\q\"",
      "\"\\n\"",
      "(",
      ")",
      "(",
      ")",
      "[",
      "]",
      ",",
      "&&",
      "||",
      "&",
      "|",
      "!",
      "=",
      "==",
      "!=",
      "<",
      "<=",
      ">",
      ">=",
      "in",
      "not",
      "true",
      "false",
      "null",
      ".",
      "@",
      "\n",
      "\t",
      "\x80",
      "\xff",
      std::string(1, '\0'),
      "\xc3\xa9",
      "1.",
      "a.",
      "in.x",
      "a.in",
      "1e5",
      "[\"a\",\"b\"]",
      "!(",
      "not in",
  };
  constexpr int kIterations = 150000;
  int parsed = 0;
  std::string text;
  for (int i = 0; i < kIterations; ++i) {
    text.clear();
    switch (i % 4) {
      case 0: {
        // Raw bytes, biased towards the characters the lexer cares about.
        const size_t n = Uniform(48);
        static const std::string kBytes = "ab.1_ \"\\()[],&|!=<>-\n\x80";
        for (size_t j = 0; j < n; ++j) {
          text.push_back(Chance(0.8) ? kBytes[Uniform(kBytes.size())]
                                     : static_cast<char>(Uniform(256)));
        }
        break;
      }
      case 1:
      case 2: {
        // At most 40 tokens, so even the fully parenthesised rendering of anything that parses
        // stays within the nesting limit.
        const size_t n = Uniform(41);
        for (size_t j = 0; j < n; ++j) {
          text += Pick(kTokens);
          if (Chance(0.6)) {
            text += ' ';
          }
        }
        break;
      }
      default: {
        // A well-formed expression with a few mutations: near-misses reach deep into the
        // parser's error paths, and the survivors exercise evaluation of odd shapes.
        text = Text(Gen(1 + static_cast<int>(Uniform(3))));
        const size_t mutations = 1 + Uniform(3);
        for (size_t m = 0; m < mutations && !text.empty(); ++m) {
          const size_t at = Uniform(text.size());
          switch (Uniform(3)) {
            case 0:
              text.erase(at, 1 + Uniform(4));
              break;
            case 1:
              text.insert(at, Pick(kTokens));
              break;
            default:
              text[at] = Pick(kTokens)[0];
              break;
          }
        }
        break;
      }
    }
    CheckParseInvariants(text);
    if (::testing::Test::HasFatalFailure()) {
      FAIL() << "iteration " << i << " input `" << text << "`";
    }
    if (Expression::Parse(text).ok()) {
      ++parsed;
    }
  }
  std::cout << "[ soup     ] " << parsed << " of " << kIterations << " inputs parsed\n";
  // Guards the test's own usefulness: the invariants for successful parses must get exercised.
  EXPECT_GT(parsed, kIterations / 20);
}

}  // namespace
}  // namespace sb::expr
