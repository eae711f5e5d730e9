#include "common/expr/expr.h"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sb::expr {

// ---------------------------------------------------------------------------------------------
// Value

const std::string& Value::EmptyString() {
  static const std::string* const kEmpty = new std::string();  // never destroyed: no exit races
  return *kEmpty;
}

const std::vector<std::string>& Value::EmptyList() {
  static const std::vector<std::string>* const kEmpty = new std::vector<std::string>();
  return *kEmpty;
}

bool Value::Truthy() const {
  switch (kind()) {
    case Kind::kNull:
      return false;
    case Kind::kBool:
      return bool_value();
    case Kind::kNumber:
      return number_value() != 0;
    case Kind::kString:
      return !string_value().empty();
    case Kind::kList:
      return !list_value().empty();
  }
  return false;
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) {
    return false;
  }
  switch (a.kind()) {
    case Value::Kind::kNull:
      return true;
    case Value::Kind::kBool:
      return a.bool_value() == b.bool_value();
    case Value::Kind::kNumber:
      return a.number_value() == b.number_value();
    case Value::Kind::kString:
      return a.string_value() == b.string_value();
    case Value::Kind::kList:
      return a.list_value() == b.list_value();
  }
  return false;
}

namespace {

// Concatenates strings and integers. (absl::StrCat is not used because this absl build has its
// own absl::string_view, distinct from std::string_view, which this file uses throughout.)
template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  auto append = [&out](const auto& part) {
    if constexpr (std::is_integral_v<std::decay_t<decltype(part)>>) {
      out.append(std::to_string(part));
    } else {
      out.append(std::string_view(part));
    }
  };
  (append(parts), ...);
  return out;
}

// Renders a number so that the lexer reads it back exactly: the lexer has no exponent syntax,
// so this uses the shortest round-tripping fixed notation rather than the shortest overall.
std::string FormatNumber(double d) {
  char buf[400];  // fixed notation of DBL_MAX has 309 digits
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::fixed);
  if (ec != std::errc()) {
    return "?";
  }
  return std::string(buf, end);
}

void AppendQuoted(std::string_view s, std::string& out) {
  out.push_back('"');
  for (char c : s) {
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('"');
}

void AppendList(const std::vector<std::string>& items, std::string& out) {
  out.push_back('[');
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) {
      out.append(", ");
    }
    AppendQuoted(items[i], out);
  }
  out.push_back(']');
}

}  // namespace

std::string Value::DebugString() const {
  switch (kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return bool_value() ? "true" : "false";
    case Kind::kNumber:
      return FormatNumber(number_value());
    case Kind::kString: {
      std::string out;
      AppendQuoted(string_value(), out);
      return out;
    }
    case Kind::kList: {
      std::string out;
      AppendList(list_value(), out);
      return out;
    }
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// The compiled form.

namespace internal {

enum class Op : uint8_t {
  kLiteral,  // a = index into literals; b = index into sets for list literals, else -1
  kPath,     // a = index into paths
  kNot,      // a = operand
  kAnd,      // a = first index into children, b = child count (>= 2)
  kOr,       // same as kAnd
  kEq,       // a = lhs, b = rhs for all comparisons
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kIn,
  kNotIn,
};

struct Node {
  Op op;
  int32_t a;
  int32_t b;
};

// Nodes live in one vector and refer to each other by index: compact, cache-friendly, and the
// whole program is freed at once.
struct Program {
  std::string text;
  std::vector<Node> nodes;
  std::vector<int32_t> children;  // operands of n-ary kAnd/kOr nodes
  std::vector<Value> literals;
  std::vector<std::vector<std::string>> sets;  // sorted, deduplicated list literals for `in`
  std::vector<std::string> paths;              // distinct identifier paths, in first-use order
  int32_t root = -1;                           // -1: the empty expression
};

}  // namespace internal

namespace {

using internal::Node;
using internal::Op;
using internal::Program;

constexpr size_t kMaxTextBytes = 4096;
constexpr int kMaxDepth = 64;
constexpr size_t kMaxListElements = 256;
constexpr size_t kMaxSnippetBytes = 32;

// ---------------------------------------------------------------------------------------------
// Lexer

enum class Tok : uint8_t {
  kEnd,
  kError,    // a lexical error; Token::error holds the whole message
  kInvalid,  // a byte that starts no token; reported by the parser with what it expected
  kNumber,
  kString,
  kPath,
  kTrue,
  kFalse,
  kNull,
  kIn,
  kNot,
  kAndAnd,
  kOrOr,
  kBang,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kLParen,
  kRParen,
  kLBracket,
  kRBracket,
  kComma,
  kMinus,
};

struct Token {
  Tok kind = Tok::kEnd;
  size_t pos = 0;  // byte offset of the first byte
  size_t len = 0;
  double number = 0;  // kNumber
  std::string str;    // kString: the decoded contents; kError: the message
};

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || IsDigit(c); }

std::string ErrorMessage(size_t pos, std::string_view expected, std::string_view found) {
  return Cat("column ", pos + 1, ": ", expected, ", found ", found);
}

// Quotes a byte for a message; non-printable bytes are shown in hex so messages stay one
// readable line whatever the input.
std::string DescribeByte(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (c == '\'') {
    return "\"'\"";
  }
  if (u >= 0x20 && u < 0x7f) {
    return Cat("'", std::string_view(&c, 1), "'");
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  return Cat("byte 0x", std::string_view(&kHex[u >> 4], 1), std::string_view(&kHex[u & 0xf], 1));
}

// A bounded, printable excerpt of source text for messages.
std::string Snippet(std::string_view s) {
  std::string out;
  const size_t n = std::min(s.size(), kMaxSnippetBytes);
  for (size_t i = 0; i < n; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f) {
      out.push_back(s[i]);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out.append("\\x");
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xf]);
    }
  }
  if (s.size() > n) {
    out.append("...");
  }
  return out;
}

std::string_view KeywordOrPunct(Tok kind) {
  switch (kind) {
    case Tok::kTrue:
      return "true";
    case Tok::kFalse:
      return "false";
    case Tok::kNull:
      return "null";
    case Tok::kIn:
      return "in";
    case Tok::kNot:
      return "not";
    case Tok::kAndAnd:
      return "&&";
    case Tok::kOrOr:
      return "||";
    case Tok::kBang:
      return "!";
    case Tok::kEq:
      return "==";
    case Tok::kNe:
      return "!=";
    case Tok::kLt:
      return "<";
    case Tok::kLe:
      return "<=";
    case Tok::kGt:
      return ">";
    case Tok::kGe:
      return ">=";
    case Tok::kLParen:
      return "(";
    case Tok::kRParen:
      return ")";
    case Tok::kLBracket:
      return "[";
    case Tok::kRBracket:
      return "]";
    case Tok::kComma:
      return ",";
    case Tok::kMinus:
      return "-";
    default:
      return "";
  }
}

Tok KeywordKind(std::string_view word) {
  if (word == "true") {
    return Tok::kTrue;
  }
  if (word == "false") {
    return Tok::kFalse;
  }
  if (word == "null") {
    return Tok::kNull;
  }
  if (word == "in") {
    return Tok::kIn;
  }
  if (word == "not") {
    return Tok::kNot;
  }
  return Tok::kPath;
}

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // Produces the next token. After kEnd or kError it keeps returning the same kind of token,
  // but the parser stops at the first one anyway.
  Token Next() {
    while (pos_ < text_.size() && IsSpace(text_[pos_])) {
      ++pos_;
    }
    Token t;
    t.pos = pos_;
    if (pos_ >= text_.size()) {
      t.kind = Tok::kEnd;
      return t;
    }
    const char c = text_[pos_];
    const char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    auto punct = [&](Tok kind, size_t len) {
      t.kind = kind;
      t.len = len;
      pos_ += len;
      return t;
    };
    switch (c) {
      case '(':
        return punct(Tok::kLParen, 1);
      case ')':
        return punct(Tok::kRParen, 1);
      case '[':
        return punct(Tok::kLBracket, 1);
      case ']':
        return punct(Tok::kRBracket, 1);
      case ',':
        return punct(Tok::kComma, 1);
      case '-':
        return punct(Tok::kMinus, 1);
      case '!':
        return next == '=' ? punct(Tok::kNe, 2) : punct(Tok::kBang, 1);
      case '<':
        return next == '=' ? punct(Tok::kLe, 2) : punct(Tok::kLt, 1);
      case '>':
        return next == '=' ? punct(Tok::kGe, 2) : punct(Tok::kGt, 1);
      // A lone '=', '&' or '|' is almost always a typo for the doubled operator, so the message
      // says so directly instead of a generic "expected an operator".
      case '=':
        if (next == '=') {
          return punct(Tok::kEq, 2);
        }
        return Fail(t, pos_, "expected '=='", "'='");
      case '&':
        if (next == '&') {
          return punct(Tok::kAndAnd, 2);
        }
        return Fail(t, pos_, "expected '&&'", "'&'");
      case '|':
        if (next == '|') {
          return punct(Tok::kOrOr, 2);
        }
        return Fail(t, pos_, "expected '||'", "'|'");
      case '"':
        return LexString(t);
      default:
        break;
    }
    if (IsDigit(c)) {
      return LexNumber(t);
    }
    if (IsIdentStart(c)) {
      return LexWord(t);
    }
    t.kind = Tok::kInvalid;
    t.len = 1;
    return t;  // pos_ is not advanced: the parser stops here
  }

 private:
  Token Fail(Token& t, size_t pos, std::string_view expected, std::string_view found) {
    t.kind = Tok::kError;
    t.str = ErrorMessage(pos, expected, found);
    pos_ = text_.size();
    return t;
  }

  Token LexString(Token& t) {
    size_t i = pos_ + 1;
    std::string out;
    while (true) {
      if (i >= text_.size()) {
        return Fail(t, text_.size(),
                    Cat("expected '\"' to close the string started at column ", t.pos + 1),
                    "end of input");
      }
      const char c = text_[i];
      if (c == '"') {
        break;
      }
      if (c != '\\') {
        out.push_back(c);
        ++i;
        continue;
      }
      if (i + 1 >= text_.size()) {
        return Fail(t, text_.size(),
                    Cat("expected '\"' to close the string started at column ", t.pos + 1),
                    "end of input");
      }
      const char e = text_[i + 1];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 't':
          out.push_back('\t');
          break;
        default: {
          const auto u = static_cast<unsigned char>(e);
          std::string found = u >= 0x20 && u < 0x7f ? Cat("'\\", std::string_view(&e, 1), "'")
                                                    : Cat("'\\' followed by ", DescribeByte(e));
          return Fail(t, i, "expected an escape sequence (\\\" \\\\ \\n \\t)", found);
        }
      }
      i += 2;
    }
    t.kind = Tok::kString;
    t.len = i + 1 - pos_;
    t.str = std::move(out);
    pos_ = i + 1;
    return t;
  }

  Token LexNumber(Token& t) {
    size_t i = pos_;
    while (i < text_.size() && IsDigit(text_[i])) {
      ++i;
    }
    if (i < text_.size() && text_[i] == '.') {
      ++i;
      if (i >= text_.size() || !IsDigit(text_[i])) {
        return Fail(t, i, "expected a digit after '.'",
                    i >= text_.size() ? std::string("end of input") : DescribeByte(text_[i]));
      }
      while (i < text_.size() && IsDigit(text_[i])) {
        ++i;
      }
    }
    const std::string_view digits = text_.substr(pos_, i - pos_);
    double d = 0;
    auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), d, std::chars_format::fixed);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      return Fail(t, pos_, "expected a number within the range of a double",
                  Cat("number ", Snippet(digits)));
    }
    t.kind = Tok::kNumber;
    t.len = i - pos_;
    t.number = d;
    pos_ = i;
    return t;
  }

  // Reads a dotted path: segment ('.' segment)*. No whitespace is allowed around the dots, so a
  // path is always one token and Identifiers() can report it verbatim.
  Token LexWord(Token& t) {
    size_t i = pos_;
    size_t segments = 0;
    while (true) {
      const size_t start = i;
      while (i < text_.size() && IsIdentChar(text_[i])) {
        ++i;
      }
      ++segments;
      const std::string_view segment = text_.substr(start, i - start);
      const Tok keyword = KeywordKind(segment);
      if (keyword != Tok::kPath && (segments > 1 || (i < text_.size() && text_[i] == '.'))) {
        return Fail(t, start, "expected an identifier", Cat("reserved word '", segment, "'"));
      }
      if (i >= text_.size() || text_[i] != '.') {
        break;
      }
      ++i;  // the dot
      if (i >= text_.size() || !IsIdentStart(text_[i])) {
        return Fail(t, i, "expected a name after '.'",
                    i >= text_.size() ? std::string("end of input") : DescribeByte(text_[i]));
      }
    }
    t.len = i - pos_;
    t.kind = segments == 1 ? KeywordKind(text_.substr(pos_, t.len)) : Tok::kPath;
    pos_ = i;
    return t;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent, one token of lookahead. Recursion happens only through '(' and
// '!', both of which count against kMaxDepth, so the C++ stack is bounded on any input.

bool IsComparison(Tok kind) {
  switch (kind) {
    case Tok::kEq:
    case Tok::kNe:
    case Tok::kLt:
    case Tok::kLe:
    case Tok::kGt:
    case Tok::kGe:
    case Tok::kIn:
    case Tok::kNot:  // `not in`
      return true;
    default:
      return false;
  }
}

Op ComparisonOp(Tok kind) {
  switch (kind) {
    case Tok::kEq:
      return Op::kEq;
    case Tok::kNe:
      return Op::kNe;
    case Tok::kLt:
      return Op::kLt;
    case Tok::kLe:
      return Op::kLe;
    case Tok::kGt:
      return Op::kGt;
    case Tok::kGe:
      return Op::kGe;
    case Tok::kIn:
      return Op::kIn;
    default:
      return Op::kNotIn;
  }
}

class Parser {
 public:
  Parser(std::string_view text, Program& program) : text_(text), lexer_(text), p_(program) {}

  absl::Status ParseAll() {
    Advance();
    if (tok_.kind == Tok::kEnd) {
      return absl::OkStatus();  // empty or whitespace: always true
    }
    absl::StatusOr<int32_t> root = ParseOr(0);
    if (!root.ok()) {
      return root.status();
    }
    if (tok_.kind != Tok::kEnd) {
      return ErrorAfterOperand("end of input");
    }
    p_.root = *root;
    return absl::OkStatus();
  }

 private:
  void Advance() { tok_ = lexer_.Next(); }

  std::string Describe(const Token& t) const {
    const std::string_view raw = text_.substr(t.pos, t.len);
    switch (t.kind) {
      case Tok::kEnd:
        return "end of input";
      case Tok::kInvalid:
        return DescribeByte(text_[t.pos]);
      case Tok::kNumber:
        return Cat("number ", Snippet(raw));
      case Tok::kString:
        return Cat("string ", Snippet(raw));
      case Tok::kPath:
        return Cat("identifier '", Snippet(raw), "'");
      default:
        return Cat("'", KeywordOrPunct(t.kind), "'");
    }
  }

  // Reports that the current token is not what was expected. A lexical error in the current
  // token takes precedence, since it explains the problem better.
  absl::Status Expected(std::string_view expected) const {
    if (tok_.kind == Tok::kError) {
      return absl::InvalidArgumentError(tok_.str);
    }
    return absl::InvalidArgumentError(ErrorMessage(tok_.pos, expected, Describe(tok_)));
  }

  // Reports a token that cannot follow a complete operand; `closer` is what would end the
  // enclosing construct. After a comparison only '&&'/'||' may follow: comparisons don't chain.
  absl::Status ErrorAfterOperand(std::string_view closer) const {
    if (last_was_comparison_) {
      return Expected(Cat("expected '&&', '||' or ", closer));
    }
    return Expected(Cat("expected an operator or ", closer));
  }

  int32_t AddNode(Op op, int32_t a, int32_t b) {
    p_.nodes.push_back(Node{op, a, b});
    return static_cast<int32_t>(p_.nodes.size() - 1);
  }

  int32_t AddLiteral(Value v, int32_t set = -1) {
    p_.literals.push_back(std::move(v));
    return AddNode(Op::kLiteral, static_cast<int32_t>(p_.literals.size() - 1), set);
  }

  // or_expr = and_expr { "||" and_expr }   (and the same shape for and_expr)
  absl::StatusOr<int32_t> ParseOr(int depth) { return ParseNary(depth, Tok::kOrOr, Op::kOr); }

  absl::StatusOr<int32_t> ParseNary(int depth, Tok separator, Op op) {
    std::vector<int32_t> operands;
    while (true) {
      absl::StatusOr<int32_t> operand =
          op == Op::kOr ? ParseNary(depth, Tok::kAndAnd, Op::kAnd) : ParseNot(depth);
      if (!operand.ok()) {
        return operand;
      }
      operands.push_back(*operand);
      if (tok_.kind != separator) {
        break;
      }
      Advance();
    }
    if (operands.size() == 1) {
      return operands[0];
    }
    // Chains become one n-ary node, so `a && b && ... && z` costs no recursion to evaluate.
    const auto first = static_cast<int32_t>(p_.children.size());
    p_.children.insert(p_.children.end(), operands.begin(), operands.end());
    return AddNode(op, first, static_cast<int32_t>(operands.size()));
  }

  // not_expr = "!" not_expr | comparison
  absl::StatusOr<int32_t> ParseNot(int depth) {
    if (tok_.kind != Tok::kBang) {
      return ParseComparison(depth);
    }
    if (depth >= kMaxDepth) {
      return DepthError();
    }
    Advance();
    absl::StatusOr<int32_t> operand = ParseNot(depth + 1);
    if (!operand.ok()) {
      return operand;
    }
    return AddNode(Op::kNot, *operand, 0);
  }

  // comparison = primary [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in" ) primary ]
  absl::StatusOr<int32_t> ParseComparison(int depth) {
    absl::StatusOr<int32_t> lhs = ParsePrimary(depth, "expected a value");
    if (!lhs.ok()) {
      return lhs;
    }
    if (!IsComparison(tok_.kind)) {
      last_was_comparison_ = false;
      return lhs;
    }
    const Tok op = tok_.kind;
    Advance();
    if (op == Tok::kNot) {
      if (tok_.kind != Tok::kIn) {
        return Expected("expected 'in' after 'not'");
      }
      Advance();
    }
    // '!' binds looser than comparisons, so `a == !b` is not valid; say how to write it.
    absl::StatusOr<int32_t> rhs = ParsePrimary(
        depth, tok_.kind == Tok::kBang ? "expected a value (put '!' expressions in parentheses)"
                                       : "expected a value");
    if (!rhs.ok()) {
      return rhs;
    }
    last_was_comparison_ = true;
    return AddNode(ComparisonOp(op), *lhs, *rhs);
  }

  absl::Status DepthError() const {
    return absl::InvalidArgumentError(
        ErrorMessage(tok_.pos, Cat("expected at most ", kMaxDepth, " levels of nesting"),
                     Cat("level ", kMaxDepth + 1)));
  }

  // primary = literal | path | "(" or_expr ")" | list
  absl::StatusOr<int32_t> ParsePrimary(int depth, std::string_view expected) {
    switch (tok_.kind) {
      case Tok::kNumber: {
        const double d = tok_.number;
        Advance();
        return AddLiteral(Value::Number(d));
      }
      case Tok::kMinus: {
        Advance();
        if (tok_.kind != Tok::kNumber) {
          return Expected("expected a number after '-'");
        }
        const double d = -tok_.number;
        Advance();
        return AddLiteral(Value::Number(d));
      }
      case Tok::kString: {
        Value v = Value::String(tok_.str);
        Advance();
        return AddLiteral(std::move(v));
      }
      case Tok::kTrue:
      case Tok::kFalse: {
        const bool b = tok_.kind == Tok::kTrue;
        Advance();
        return AddLiteral(Value::Bool(b));
      }
      case Tok::kNull:
        Advance();
        return AddLiteral(Value::Null());
      case Tok::kPath: {
        const std::string_view path = text_.substr(tok_.pos, tok_.len);
        Advance();
        return AddNode(Op::kPath, InternPath(path), 0);
      }
      case Tok::kLParen: {
        if (depth >= kMaxDepth) {
          return DepthError();
        }
        Advance();
        absl::StatusOr<int32_t> inner = ParseOr(depth + 1);
        if (!inner.ok()) {
          return inner;
        }
        if (tok_.kind != Tok::kRParen) {
          return ErrorAfterOperand("')'");
        }
        Advance();
        // Parentheses end any comparison: `(a < b) == c` is fine.
        last_was_comparison_ = false;
        return inner;
      }
      case Tok::kLBracket:
        return ParseList();
      default:
        // Single-quoted strings are a likely habit from other languages; say what to use.
        if (tok_.kind == Tok::kInvalid && text_[tok_.pos] == '\'') {
          return Expected(Cat(expected, " (strings use double quotes)"));
        }
        return Expected(expected);
    }
  }

  // list = "[" [ string { "," string } ] "]"
  absl::StatusOr<int32_t> ParseList() {
    Advance();
    std::vector<std::string> items;
    if (tok_.kind != Tok::kRBracket) {
      while (true) {
        if (tok_.kind != Tok::kString) {
          return Expected(items.empty() ? "expected a string or ']'" : "expected a string");
        }
        if (items.size() >= kMaxListElements) {
          return absl::InvalidArgumentError(
              ErrorMessage(tok_.pos, Cat("expected at most ", kMaxListElements, " list elements"),
                           Cat("element ", kMaxListElements + 1)));
        }
        items.push_back(std::move(tok_.str));
        Advance();
        if (tok_.kind == Tok::kRBracket) {
          break;
        }
        if (tok_.kind != Tok::kComma) {
          return Expected("expected ',' or ']'");
        }
        Advance();
      }
    }
    Advance();  // ']'
    std::vector<std::string> set = items;
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
    p_.sets.push_back(std::move(set));
    return AddLiteral(Value::List(std::move(items)), static_cast<int32_t>(p_.sets.size() - 1));
  }

  int32_t InternPath(std::string_view path) {
    auto it = path_index_.find(path);
    if (it != path_index_.end()) {
      return it->second;
    }
    const auto index = static_cast<int32_t>(p_.paths.size());
    p_.paths.emplace_back(path);
    path_index_.emplace(std::string(path), index);
    return index;
  }

  std::string_view text_;
  Lexer lexer_;
  Program& p_;
  Token tok_;
  bool last_was_comparison_ = false;
  std::map<std::string, int32_t, std::less<>> path_index_;
};

// ---------------------------------------------------------------------------------------------
// Evaluation. Truth() is the workhorse: boolean contexts never build a Value for intermediate
// results, and literal operands are compared by reference, so the only Values constructed are
// the ones Env::Lookup returns.

bool Truth(const Program& p, int32_t index, const Env& env);

// The operands of an n-ary kAnd/kOr node.
std::span<const int32_t> Children(const Program& p, const Node& n) {
  return {p.children.data() + n.a, static_cast<size_t>(n.b)};
}

// Calls f with the value of an operand node and returns its result. Literals are passed by
// reference (no copy) and other values are constructed in place in this frame; this shape,
// rather than returning a Value or assigning into a caller's slot, is what keeps a comparison
// close to the cost of its Env lookups (assigning into a variant slot measured ~45 ns instead
// of ~28 ns for a three-clause expression).
template <typename F>
bool WithValue(const Program& p, int32_t index, const Env& env, F&& f) {
  const Node& n = p.nodes[static_cast<size_t>(index)];
  if (n.op == Op::kLiteral) {
    return f(p.literals[static_cast<size_t>(n.a)]);
  }
  if (n.op == Op::kPath) {
    const Value v = env.Lookup(p.paths[static_cast<size_t>(n.a)]);
    return f(v);
  }
  const Value v = Value::Bool(Truth(p, index, env));
  return f(v);
}

template <typename T>
bool Compare(Op op, const T& x, const T& y) {
  // Written as direct comparisons rather than via a three-way result so NaN compares false.
  switch (op) {
    case Op::kLt:
      return x < y;
    case Op::kLe:
      return x <= y;
    case Op::kGt:
      return x > y;
    default:
      return x >= y;
  }
}

bool Order(Op op, const Value& l, const Value& r) {
  if (l.is_number() && r.is_number()) {
    return Compare(op, l.number_value(), r.number_value());
  }
  // std::string compares bytes as unsigned char, i.e. UTF-8 code point order.
  if (l.is_string() && r.is_string()) {
    return Compare(op, l.string_value(), r.string_value());
  }
  return false;  // null, bools, lists and mixed kinds are unordered
}

// Applies a comparison operator other than `in`/`not in`.
bool Apply(Op op, const Value& l, const Value& r) {
  switch (op) {
    case Op::kEq:
      return l == r;
    case Op::kNe:
      return !(l == r);
    default:
      return Order(op, l, r);
  }
}

bool Contains(const Program& p, int32_t rhs, const Value& needle, const Env& env) {
  if (!needle.is_string()) {
    return false;
  }
  const Node& r = p.nodes[static_cast<size_t>(rhs)];
  if (r.op == Op::kLiteral && r.b >= 0) {
    const std::vector<std::string>& set = p.sets[static_cast<size_t>(r.b)];
    return std::binary_search(set.begin(), set.end(), needle.string_value());
  }
  return WithValue(p, rhs, env, [&needle](const Value& haystack) {
    if (!haystack.is_list()) {
      return false;  // in particular, no substring test on strings
    }
    const std::vector<std::string>& items = haystack.list_value();
    return std::find(items.begin(), items.end(), needle.string_value()) != items.end();
  });
}

bool Truth(const Program& p, int32_t index, const Env& env) {
  const Node& n = p.nodes[static_cast<size_t>(index)];
  switch (n.op) {
    case Op::kLiteral:
      return p.literals[static_cast<size_t>(n.a)].Truthy();
    case Op::kPath:
      return env.Lookup(p.paths[static_cast<size_t>(n.a)]).Truthy();
    case Op::kNot:
      return !Truth(p, n.a, env);
    case Op::kAnd:
      for (const int32_t child : Children(p, n)) {
        if (!Truth(p, child, env)) {
          return false;
        }
      }
      return true;
    case Op::kOr:
      for (const int32_t child : Children(p, n)) {
        if (Truth(p, child, env)) {
          return true;
        }
      }
      return false;
    case Op::kIn:
    case Op::kNotIn: {
      const bool found = WithValue(
          p, n.a, env, [&](const Value& needle) { return Contains(p, n.b, needle, env); });
      return n.op == Op::kIn ? found : !found;
    }
    default:
      return WithValue(p, n.a, env, [&](const Value& l) {
        return WithValue(p, n.b, env, [&](const Value& r) { return Apply(n.op, l, r); });
      });
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering for DebugString().

void Render(const Program& p, int32_t index, std::string& out);

void RenderOperand(const Program& p, int32_t index, std::string& out) {
  // '!' binds looser than comparisons, so a negation used as a comparison operand needs
  // parentheses to parse back the same way.
  const bool wrap = p.nodes[static_cast<size_t>(index)].op == Op::kNot;
  if (wrap) {
    out.push_back('(');
  }
  Render(p, index, out);
  if (wrap) {
    out.push_back(')');
  }
}

void Render(const Program& p, int32_t index, std::string& out) {
  const Node& n = p.nodes[static_cast<size_t>(index)];
  switch (n.op) {
    case Op::kLiteral:
      out.append(p.literals[static_cast<size_t>(n.a)].DebugString());
      return;
    case Op::kPath:
      out.append(p.paths[static_cast<size_t>(n.a)]);
      return;
    case Op::kNot:
      out.push_back('!');
      Render(p, n.a, out);
      return;
    case Op::kAnd:
    case Op::kOr:
      out.push_back('(');
      for (bool first = true; const int32_t child : Children(p, n)) {
        if (!first) {
          out.append(n.op == Op::kAnd ? " && " : " || ");
        }
        first = false;
        Render(p, child, out);
      }
      out.push_back(')');
      return;
    default: {
      std::string_view op;
      switch (n.op) {
        case Op::kEq:
          op = " == ";
          break;
        case Op::kNe:
          op = " != ";
          break;
        case Op::kLt:
          op = " < ";
          break;
        case Op::kLe:
          op = " <= ";
          break;
        case Op::kGt:
          op = " > ";
          break;
        case Op::kGe:
          op = " >= ";
          break;
        case Op::kIn:
          op = " in ";
          break;
        default:
          op = " not in ";
          break;
      }
      out.push_back('(');
      RenderOperand(p, n.a, out);
      out.append(op);
      RenderOperand(p, n.b, out);
      out.push_back(')');
      return;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Expression

Expression::Expression() = default;

Expression::Expression(std::shared_ptr<const Program> program) : program_(std::move(program)) {}

absl::StatusOr<Expression> Expression::Parse(std::string_view text) {
  if (text.size() > kMaxTextBytes) {
    return absl::InvalidArgumentError(
        ErrorMessage(kMaxTextBytes, Cat("expected at most ", kMaxTextBytes, " bytes"),
                     Cat(text.size(), " bytes")));
  }
  auto program = std::make_shared<Program>();
  program->text = std::string(text);
  Parser parser(program->text, *program);
  if (absl::Status status = parser.ParseAll(); !status.ok()) {
    return status;
  }
  return Expression(std::move(program));
}

absl::StatusOr<Value> Expression::Evaluate(const Env& env) const {
  if (empty()) {
    return Value::Bool(true);
  }
  const Program& p = *program_;
  const Node& n = p.nodes[static_cast<size_t>(p.root)];
  if (n.op == Op::kLiteral) {
    return p.literals[static_cast<size_t>(n.a)];
  }
  if (n.op == Op::kPath) {
    return env.Lookup(p.paths[static_cast<size_t>(n.a)]);
  }
  return Value::Bool(Truth(p, p.root, env));
}

bool Expression::Matches(const Env& env) const {
  if (empty()) {
    return true;
  }
  return Truth(*program_, program_->root, env);
}

const std::string& Expression::text() const {
  static const std::string* const kEmpty = new std::string();
  return program_ == nullptr ? *kEmpty : program_->text;
}

bool Expression::empty() const { return program_ == nullptr || program_->root < 0; }

std::vector<std::string> Expression::Identifiers() const {
  if (program_ == nullptr) {
    return {};
  }
  std::vector<std::string> paths = program_->paths;
  std::sort(paths.begin(), paths.end());
  return paths;
}

std::string Expression::DebugString() const {
  std::string out;
  if (!empty()) {
    Render(*program_, program_->root, out);
  }
  return out;
}

}  // namespace sb::expr
