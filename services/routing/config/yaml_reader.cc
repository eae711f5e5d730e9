#include "routing/config/yaml_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "routing/config/duration.h"

namespace sb::routing::config {
namespace {

std::string S(std::string_view v) { return std::string(v); }

// Edit distance, for "did you mean" hints on short keys.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1);
  std::vector<size_t> cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

const char* KindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a scalar";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    default:
      return "nothing";
  }
}

bool Scalar(YamlContext* ctx, const YAML::Node& node, std::string_view path, const char* what,
            std::string* out) {
  if (!node.IsDefined() || node.IsNull()) {
    return ctx->Fail(node, path, absl::StrCat("missing value (expected ", what, ")"));
  }
  if (!node.IsScalar()) {
    return ctx->Fail(node, path, absl::StrCat("expected ", what, ", found ", KindName(node)));
  }
  *out = node.Scalar();
  return true;
}

}  // namespace

bool YamlContext::Fail(const YAML::Node& node, std::string_view path, std::string_view message) {
  if (status_.ok()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat(Where(node), ": ", S(path), path.empty() ? "" : ": ", S(message)));
  }
  return false;
}

bool YamlContext::Fail(const absl::Status& status) {
  if (status_.ok() && !status.ok()) status_ = status;
  return false;
}

std::string YamlContext::Where(const YAML::Node& node) const {
  if (node.IsDefined()) {
    const YAML::Mark mark = node.Mark();
    if (mark.line >= 0) return absl::StrCat(file_, ":", mark.line + 1);
  }
  return file_;
}

absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::Exception& e) {
    std::string where = file;
    if (e.mark.line >= 0) absl::StrAppend(&where, ":", e.mark.line + 1);
    return absl::InvalidArgumentError(absl::StrCat(where, ": YAML syntax error: ", e.msg));
  }
}

absl::StatusOr<YAML::Node> LoadYamlFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseYaml(buffer.str(), path);
}

std::string JoinPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return S(key);
  return absl::StrCat(S(parent), ".", S(key));
}

std::string IndexPath(std::string_view parent, size_t index) {
  return absl::StrCat(S(parent), "[", index, "]");
}

bool ReadString(YamlContext* ctx, const YAML::Node& node, std::string_view path, std::string* out) {
  return Scalar(ctx, node, path, "a string", out);
}

bool ReadInt(YamlContext* ctx, const YAML::Node& node, std::string_view path, int64_t min,
             int64_t max, int64_t* out) {
  std::string text;
  if (!Scalar(ctx, node, path, "an integer", &text)) return false;
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value)) {
    return ctx->Fail(node, path, absl::StrCat("'", text, "' is not an integer"));
  }
  if (value < min || value > max) {
    return ctx->Fail(node, path, absl::StrCat(value, " is out of range (", min, "..", max, ")"));
  }
  *out = value;
  return true;
}

bool ReadInt32(YamlContext* ctx, const YAML::Node& node, std::string_view path, int32_t min,
               int32_t max, int32_t* out) {
  int64_t value = 0;
  if (!ReadInt(ctx, node, path, min, max, &value)) return false;
  *out = static_cast<int32_t>(value);
  return true;
}

bool ReadDouble(YamlContext* ctx, const YAML::Node& node, std::string_view path, double min,
                double max, double* out) {
  std::string text;
  if (!Scalar(ctx, node, path, "a number", &text)) return false;
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
    return ctx->Fail(node, path, absl::StrCat("'", text, "' is not a number"));
  }
  if (value < min || value > max) {
    return ctx->Fail(node, path, absl::StrCat(text, " is out of range (", min, "..", max, ")"));
  }
  *out = value;
  return true;
}

bool ReadBool(YamlContext* ctx, const YAML::Node& node, std::string_view path, bool* out) {
  std::string text;
  if (!Scalar(ctx, node, path, "true or false", &text)) return false;
  const std::string lower = absl::AsciiStrToLower(text);
  if (lower == "true") {
    *out = true;
  } else if (lower == "false") {
    *out = false;
  } else {
    return ctx->Fail(node, path, absl::StrCat("'", text, "' is not a boolean (true or false)"));
  }
  return true;
}

bool ReadDurationMs(YamlContext* ctx, const YAML::Node& node, std::string_view path, int64_t* out) {
  std::string text;
  if (!Scalar(ctx, node, path, "a duration such as 20s", &text)) return false;
  absl::StatusOr<int64_t> ms = ParseDurationMs(text);
  if (!ms.ok()) return ctx->Fail(node, path, std::string(ms.status().message()));
  *out = *ms;
  return true;
}

bool ReadDuration(YamlContext* ctx, const YAML::Node& node, std::string_view path,
                  google::protobuf::Duration* out) {
  int64_t ms = 0;
  if (!ReadDurationMs(ctx, node, path, &ms)) return false;
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>(ms % 1000 * 1000000));
  return true;
}

bool ReadEnum(YamlContext* ctx, const YAML::Node& node, std::string_view path,
              const std::vector<EnumName>& names, int* out) {
  std::vector<std::string> all;
  for (const EnumName& n : names) all.push_back(S(n.name));
  std::string text;
  if (!Scalar(ctx, node, path, absl::StrCat("one of ", absl::StrJoin(all, ", ")).c_str(), &text)) {
    return false;
  }
  for (const EnumName& n : names) {
    if (n.name == text) {
      *out = n.value;
      return true;
    }
  }
  std::string hint;
  const std::string lower = absl::AsciiStrToLower(text);
  for (const EnumName& n : names) {
    if (n.name == lower) hint = absl::StrCat("; values are lowercase: '", lower, "'");
  }
  return ctx->Fail(node, path,
                   absl::StrCat("unknown value '", text, "' (expected one of ",
                                absl::StrJoin(all, ", "), ")", hint));
}

std::string_view EnumToName(const std::vector<EnumName>& names, int value) {
  for (const EnumName& n : names) {
    if (n.value == value) return n.name;
  }
  return "";
}

bool ForEachItem(YamlContext* ctx, const YAML::Node& node, std::string_view path,
                 const std::function<void(const YAML::Node&, const std::string&)>& fn) {
  if (!node.IsDefined() || node.IsNull()) return true;  // an empty list
  if (!node.IsSequence()) {
    return ctx->Fail(node, path, absl::StrCat("expected a list, found ", KindName(node)));
  }
  for (size_t i = 0; i < node.size(); ++i) fn(node[i], IndexPath(path, i));
  return ctx->ok();
}

bool ForEachEntry(
    YamlContext* ctx, const YAML::Node& node, std::string_view path,
    const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn) {
  if (!node.IsDefined() || node.IsNull()) return true;  // an empty map
  if (!node.IsMap()) {
    return ctx->Fail(node, path, absl::StrCat("expected a map, found ", KindName(node)));
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) return ctx->Fail(it->first, path, "map keys must be strings");
    const std::string key = it->first.Scalar();
    if (!seen.insert(key).second) {
      return ctx->Fail(it->first, JoinPath(path, key), "key repeated");
    }
    fn(key, it->second, JoinPath(path, key));
  }
  return ctx->ok();
}

MapReader::MapReader(YamlContext* ctx, const YAML::Node& node, std::string path,
                     std::initializer_list<std::string_view> known)
    : ctx_(ctx), node_(node), path_(std::move(path)) {
  if (!node.IsDefined() || !node.IsMap()) {
    ctx_->Fail(node, path_, absl::StrCat("expected a map, found ", KindName(node)));
    return;
  }
  std::set<std::string> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (!it->first.IsScalar()) {
      ctx_->Fail(it->first, path_, "map keys must be strings");
      return;
    }
    const std::string key = it->first.Scalar();
    if (!seen.insert(key).second) {
      ctx_->Fail(it->first, Path(key), "key repeated");
      return;
    }
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::vector<std::string> all;
    std::string best;
    size_t best_distance = 3;
    for (std::string_view k : known) {
      all.push_back(S(k));
      const size_t d = EditDistance(key, k);
      if (d < best_distance) {
        best_distance = d;
        best = S(k);
      }
    }
    std::string message = absl::StrCat("unknown key '", key, "'");
    if (!best.empty()) absl::StrAppend(&message, "; did you mean '", best, "'?");
    absl::StrAppend(&message, " (known keys: ", absl::StrJoin(all, ", "), ")");
    ctx_->Fail(it->first, path_.empty() ? key : Path(key), message);
    return;
  }
  valid_ = true;
}

bool MapReader::Has(std::string_view key) const { return valid_ && node_[S(key)].IsDefined(); }

YAML::Node MapReader::Get(std::string_view key) const {
  if (!valid_) return YAML::Node(YAML::NodeType::Undefined);
  return node_[S(key)];
}

bool MapReader::Require(std::string_view key) {
  if (!valid_) return false;
  if (Has(key)) return true;
  return ctx_->Fail(node_, path_, absl::StrCat("missing required key '", S(key), "'"));
}

bool MapReader::String(std::string_view key, std::string* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadString(ctx_, Get(key), Path(key), out);
}

bool MapReader::Int(std::string_view key, int64_t min, int64_t max, int64_t* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadInt(ctx_, Get(key), Path(key), min, max, out);
}

bool MapReader::Int32(std::string_view key, int32_t min, int32_t max, int32_t* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadInt32(ctx_, Get(key), Path(key), min, max, out);
}

bool MapReader::Double(std::string_view key, double min, double max, double* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadDouble(ctx_, Get(key), Path(key), min, max, out);
}

bool MapReader::Bool(std::string_view key, bool* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadBool(ctx_, Get(key), Path(key), out);
}

bool MapReader::DurationMs(std::string_view key, int64_t* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadDurationMs(ctx_, Get(key), Path(key), out);
}

bool MapReader::Duration(std::string_view key, google::protobuf::Duration* out, bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadDuration(ctx_, Get(key), Path(key), out);
}

bool MapReader::Enum(std::string_view key, const std::vector<EnumName>& names, int* out,
                     bool required) {
  if (!Has(key)) return required ? Require(key) : false;
  return ReadEnum(ctx_, Get(key), Path(key), names, out);
}

}  // namespace sb::routing::config
