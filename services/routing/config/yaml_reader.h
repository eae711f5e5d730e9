// Strict, friendly reading of operator-facing YAML on top of yaml-cpp.
//
// Every error names the file, the line and the field path, e.g.
//   queues.yaml:12: queues[1].strategy: unknown value 'fastest' (expected one of ...)
// Unknown keys and repeated keys are errors (with a "did you mean" hint). The readers record the
// first error in a YamlContext and keep going quietly after it, so parsing code reads as a list
// of fields rather than a ladder of early returns; check YamlContext::status() at the end.
//
// Used by the routing config (routing_config.h) and the simulator's scenario files. Not
// thread-safe; one context per document being read.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/duration.pb.h"
#include "yaml-cpp/yaml.h"

namespace sb::routing::config {

// One accepted spelling of an enum in YAML (lowercase) and its numeric value.
struct EnumName {
  std::string_view name;
  int value;
};

// YamlContext
//
// The file being read and the first error met. `file` is used verbatim in messages (pass the
// path the user typed).
class YamlContext {
 public:
  explicit YamlContext(std::string file) : file_(std::move(file)) {}

  const std::string& file() const { return file_; }
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

  // Records "file:line: path: message" (line from `node`'s mark, left out if unknown) unless an
  // error is already recorded. Always returns false, for `return ctx->Fail(...)`.
  bool Fail(const YAML::Node& node, std::string_view path, std::string_view message);
  // Records an error already formatted (e.g. from a nested document).
  bool Fail(const absl::Status& status);
  // "file:line" of the node, or "file" when the node has no position.
  std::string Where(const YAML::Node& node) const;

 private:
  std::string file_;
  absl::Status status_;
};

// Parses YAML text; syntax errors become InvalidArgument "file:line: message".
absl::StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& file);
// Reads and parses a file; a missing file is NotFound naming the path.
absl::StatusOr<YAML::Node> LoadYamlFile(const std::string& path);

// "parent.key", or "key" at the top level.
std::string JoinPath(std::string_view parent, std::string_view key);
// "parent[index]".
std::string IndexPath(std::string_view parent, size_t index);

// Scalar readers. Each returns true on success; on failure records the error and returns false,
// leaving *out unchanged. A null or non-scalar node is an error.
bool ReadString(YamlContext* ctx, const YAML::Node& node, std::string_view path, std::string* out);
bool ReadInt(YamlContext* ctx, const YAML::Node& node, std::string_view path, int64_t min,
             int64_t max, int64_t* out);
bool ReadInt32(YamlContext* ctx, const YAML::Node& node, std::string_view path, int32_t min,
               int32_t max, int32_t* out);
bool ReadDouble(YamlContext* ctx, const YAML::Node& node, std::string_view path, double min,
                double max, double* out);
bool ReadBool(YamlContext* ctx, const YAML::Node& node, std::string_view path, bool* out);
// A duration such as "20s" (see duration.h).
bool ReadDurationMs(YamlContext* ctx, const YAML::Node& node, std::string_view path, int64_t* out);
bool ReadDuration(YamlContext* ctx, const YAML::Node& node, std::string_view path,
                  google::protobuf::Duration* out);
// One of `names`; the error lists them all.
bool ReadEnum(YamlContext* ctx, const YAML::Node& node, std::string_view path,
              const std::vector<EnumName>& names, int* out);
// The spelling of `value` in `names`, or "" if none.
std::string_view EnumToName(const std::vector<EnumName>& names, int value);

// Calls fn(item, "path[i]") for each item of a sequence; a non-sequence is an error.
bool ForEachItem(YamlContext* ctx, const YAML::Node& node, std::string_view path,
                 const std::function<void(const YAML::Node&, const std::string&)>& fn);
// Calls fn(key, value, "path.key") for each entry of a map with string keys; a non-map or a
// repeated key is an error.
bool ForEachEntry(
    YamlContext* ctx, const YAML::Node& node, std::string_view path,
    const std::function<void(const std::string&, const YAML::Node&, const std::string&)>& fn);

// MapReader
//
// A YAML map read strictly against a list of known keys. The constructor checks the node is a
// map, that no key repeats and that every key is known (an unknown key gets a "did you mean"
// hint). The getters leave their output untouched when the key is absent.
//
//   MapReader r(&ctx, node, "queues[1]", {"id", "strategy"});
//   r.String("id", &id, /*required=*/true);
//   r.Enum("strategy", kStrategies, &strategy);
class MapReader {
 public:
  MapReader(YamlContext* ctx, const YAML::Node& node, std::string path,
            std::initializer_list<std::string_view> known);

  // The node was a map with only known keys.
  bool valid() const { return valid_; }
  YamlContext* ctx() const { return ctx_; }
  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }

  bool Has(std::string_view key) const;
  // The value node for `key` (undefined if absent).
  YAML::Node Get(std::string_view key) const;
  std::string Path(std::string_view key) const { return JoinPath(path_, key); }
  // Records "missing required key" unless present; returns whether it is present.
  bool Require(std::string_view key);

  bool String(std::string_view key, std::string* out, bool required = false);
  bool Int(std::string_view key, int64_t min, int64_t max, int64_t* out, bool required = false);
  bool Int32(std::string_view key, int32_t min, int32_t max, int32_t* out, bool required = false);
  bool Double(std::string_view key, double min, double max, double* out, bool required = false);
  bool Bool(std::string_view key, bool* out, bool required = false);
  bool DurationMs(std::string_view key, int64_t* out, bool required = false);
  bool Duration(std::string_view key, google::protobuf::Duration* out, bool required = false);
  bool Enum(std::string_view key, const std::vector<EnumName>& names, int* out,
            bool required = false);

 private:
  YamlContext* ctx_;
  YAML::Node node_;
  std::string path_;
  bool valid_ = false;
};

}  // namespace sb::routing::config
