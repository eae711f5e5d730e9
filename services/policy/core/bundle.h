// Policy bundles: a tenant's conduct rules, loaded from YAML (docs/policies.md).
//
// A bundle holds, per decision kind (disconnect, escalation, authority, verification, recording,
// wellbeing), the inputs the kind needs and an ordered list of rules. A rule is a condition in
// the expression language (common/expr) over the request's facts and the bundle's params, an
// outcome (allow/deny), a readable reason (with {path} placeholders) and obligations. Bundles are
// immutable once parsed and shared between threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/expr/expr.h"
#include "switchboard/policy/v1/policy.pb.h"

namespace sb::policy {

namespace v1 = ::switchboard::policy::v1;

// A decision kind and what a request of that kind must name.
struct KindInfo {
  const char* name;
  bool needs_interaction;
  bool needs_agent;
};
// The six kinds, in documentation order.
const std::vector<KindInfo>& Kinds();
// Null for an unknown kind.
const KindInfo* FindKind(std::string_view name);
// "disconnect, escalation, ..." for messages.
std::string KindList();

// The type an input must have.
enum class InputType { kString, kNumber, kBool, kList, kAny };
const char* InputTypeName(InputType type);

struct InputSpec {
  std::string path;  // e.g. "request.category"
  InputType type = InputType::kAny;
  bool required = true;
};

enum class RuleMode { kEnforce, kAudit };

// Text with {path} placeholders, e.g. "'{request.category}' is not listed". Pieces alternate:
// literal, path, literal, ...
struct Template {
  std::string text;
  std::vector<std::string> literals;  // size = paths.size() + 1
  std::vector<std::string> paths;
};
// Parses placeholders; "{" without a matching "}" or a placeholder that is not a dotted
// identifier is an error (the message says which).
absl::StatusOr<Template> ParseTemplate(std::string_view text);

// An obligation as written in the bundle; its string fields may hold placeholders, rendered per
// decision (field name -> template).
struct ObligationSpec {
  v1::Obligation proto;
  std::vector<std::pair<std::string, Template>> templated;  // e.g. {"category", "{request...}"}
};

struct Rule {
  std::string id;
  expr::Expression when;  // empty: always matches
  v1::Outcome outcome = v1::OUTCOME_DENY;
  Template reason;
  RuleMode mode = RuleMode::kEnforce;
  std::vector<ObligationSpec> obligations;
};

struct KindPolicy {
  const KindInfo* kind = nullptr;
  std::vector<InputSpec> inputs;
  std::vector<Rule> rules;
  // When no enforced rule matches.
  Rule fallback;
};

struct Bundle {
  std::string name;     // the file name without .yaml (or "builtin-default")
  std::string file;     // where it was read from
  std::string tenant;   // "*": every tenant without a bundle of its own
  std::string version;  // as written + "@" + 12 hex digits of the content hash
  // Params flattened to dotted paths: params.credit_limit.tier1 -> 50.
  absl::flat_hash_map<std::string, expr::Value> params;
  std::map<std::string, KindPolicy, std::less<>> kinds;

  const KindPolicy* Find(std::string_view kind) const;
  int rule_count() const;
};

// Parses a bundle. `file` names it in errors ("file:line: policies.disconnect.rules[1].when:
// column 5: expected a value, found end of input") and `name` is its name.
absl::StatusOr<std::shared_ptr<const Bundle>> ParseBundle(const std::string& text,
                                                          const std::string& file,
                                                          const std::string& name);
// Reads and parses a file; the name is the file name without the .yaml extension.
absl::StatusOr<std::shared_ptr<const Bundle>> LoadBundleFile(const std::string& path);

// The built-in default bundle (deploy/policies/default.yaml compiled in), tenant "*".
std::shared_ptr<const Bundle> DefaultBundle();
// Its source text and test cases (deploy/policies/default.tests.yaml).
const char* DefaultBundleYaml();
const char* DefaultBundleTestsYaml();

// A stable 64-bit FNV-1a hash of text, as 16 hex digits.
std::string ContentHash(std::string_view text);

}  // namespace sb::policy
