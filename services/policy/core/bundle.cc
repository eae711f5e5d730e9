#include "policy/core/bundle.h"

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "routing/config/yaml_reader.h"

namespace sb::policy {
namespace {

using routing::config::EnumName;
using routing::config::ForEachEntry;
using routing::config::ForEachItem;
using routing::config::MapReader;
using routing::config::ParseYaml;
using routing::config::YamlContext;

constexpr int kMaxRulesPerKind = 256;
constexpr int kMaxInputsPerKind = 64;
// Params are few and shallow; the limits also bound what YAML aliases can do (a map that contains
// itself, or a few lines that stand for an exponentially large tree).
constexpr int kMaxParamDepth = 16;
constexpr size_t kMaxParamValues = 4096;

const std::vector<EnumName>& Outcomes() {
  static const auto* names =
      new std::vector<EnumName>{{"allow", v1::OUTCOME_ALLOW}, {"deny", v1::OUTCOME_DENY}};
  return *names;
}

const std::vector<EnumName>& Modes() {
  static const auto* names =
      new std::vector<EnumName>{{"enforce", static_cast<int>(RuleMode::kEnforce)},
                                {"audit", static_cast<int>(RuleMode::kAudit)}};
  return *names;
}

bool IsIdentifierPath(std::string_view s) {
  if (s.empty()) return false;
  bool start = true;
  for (char c : s) {
    if (c == '.') {
      if (start) return false;
      start = true;
      continue;
    }
    const bool letter = std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    if (start && !letter) return false;
    if (!letter && !std::isdigit(static_cast<unsigned char>(c))) return false;
    start = false;
  }
  return !start;
}

// A plain YAML scalar as a value: true/false -> bool, a decimal -> number, else string. A quoted
// scalar is always a string.
expr::Value ScalarValue(const YAML::Node& node) {
  const std::string& s = node.Scalar();
  if (node.Tag() == "!") return expr::Value::String(s);
  if (s == "true") return expr::Value::Bool(true);
  if (s == "false") return expr::Value::Bool(false);
  double d = 0;
  if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-') &&
      absl::SimpleAtod(s, &d)) {
    return expr::Value::Number(d);
  }
  return expr::Value::String(s);
}

// `values` counts the maps, lists, list items and scalars read so far.
void FlattenParams(YamlContext* ctx, const YAML::Node& node, const std::string& path, int depth,
                   size_t* values, absl::flat_hash_map<std::string, expr::Value>* out) {
  if (!ctx->ok()) return;
  if (depth > kMaxParamDepth) {
    ctx->Fail(node, path, absl::StrCat("params nest at most ", kMaxParamDepth, " levels deep"));
    return;
  }
  *values += 1 + (node.IsSequence() ? node.size() : 0);
  if (*values > kMaxParamValues) {
    ctx->Fail(node, path, absl::StrCat("params hold at most ", kMaxParamValues, " values"));
    return;
  }
  if (node.IsMap()) {
    ForEachEntry(ctx, node, path,
                 [&](const std::string& key, const YAML::Node& value, const std::string& child) {
                   if (!IsIdentifierPath(key) || key.find('.') != std::string::npos) {
                     ctx->Fail(
                         value, child,
                         "a param name is letters, digits and _ (no dots), e.g. credit_limit");
                     return;
                   }
                   FlattenParams(ctx, value, child, depth + 1, values, out);
                 });
  } else if (node.IsSequence()) {
    std::vector<std::string> items;
    ForEachItem(ctx, node, path, [&](const YAML::Node& item, const std::string& item_path) {
      if (!item.IsScalar()) {
        ctx->Fail(item, item_path, "lists hold strings only");
        return;
      }
      items.push_back(item.Scalar());
    });
    (*out)[path] = expr::Value::List(std::move(items));
  } else if (node.IsScalar()) {
    (*out)[path] = ScalarValue(node);
  } else {
    (*out)[path] = expr::Value::Null();
  }
}

bool ReadTemplate(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                  Template* out) {
  std::string text;
  if (!routing::config::ReadString(ctx, node, path, &text)) return false;
  absl::StatusOr<Template> t = ParseTemplate(text);
  if (!t.ok()) return ctx->Fail(node, path, std::string(t.status().message()));
  *out = *std::move(t);
  return true;
}

// Reads `key` of `r` into a templated string field of the obligation.
void TemplatedField(MapReader& r, std::string_view key, bool required, ObligationSpec* spec,
                    std::string* field) {
  if (!r.Has(key)) {
    if (required) r.Require(key);
    return;
  }
  Template t;
  if (!ReadTemplate(r.ctx(), r.Get(key), r.Path(key), &t)) return;
  if (t.paths.empty()) {
    *field = t.text;
  } else {
    spec->templated.emplace_back(std::string(key), std::move(t));
  }
}

bool ReadObligation(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                    const KindInfo& kind, ObligationSpec* spec) {
  if (!node.IsMap() || node.size() != 1) {
    return ctx->Fail(node, path,
                     "an obligation is a map with one key: end_interaction, create_review, "
                     "recovery_break, pause_recording, require_approval, escalate or lock_out");
  }
  const std::string name = node.begin()->first.Scalar();
  const YAML::Node body =
      node.begin()->second.IsNull() ? YAML::Node(YAML::NodeType::Map) : node.begin()->second;
  const std::string body_path = absl::StrCat(path, ".", name);
  auto needs = [&](bool interaction, bool agent) {
    if ((interaction && !kind.needs_interaction) || (agent && !kind.needs_agent)) {
      return ctx->Fail(node, body_path,
                       absl::StrCat("not allowed in ", std::string(kind.name),
                                    " rules (it needs a request that names ",
                                    interaction ? "an interaction and " : "", "an agent)"));
    }
    return true;
  };
  v1::Obligation& o = spec->proto;
  if (name == "end_interaction") {
    if (std::string_view(kind.name) != "disconnect") {
      return ctx->Fail(node, body_path, "allowed in disconnect rules only");
    }
    MapReader r(ctx, body, body_path, {"category"});
    if (!r.valid()) return false;
    TemplatedField(r, "category", /*required=*/true, spec,
                   o.mutable_end_interaction()->mutable_category());
  } else if (name == "create_review") {
    MapReader r(ctx, body, body_path, {"reason", "mandatory"});
    if (!r.valid()) return false;
    TemplatedField(r, "reason", /*required=*/true, spec,
                   o.mutable_create_review()->mutable_reason());
    bool mandatory = false;
    r.Bool("mandatory", &mandatory);
    o.mutable_create_review()->set_mandatory(mandatory);
  } else if (name == "recovery_break") {
    if (!needs(false, true)) return false;
    MapReader r(ctx, body, body_path, {"minutes", "seconds", "offered"});
    if (!r.valid()) return false;
    int32_t minutes = 0;
    int32_t seconds = 0;
    r.Int32("minutes", 0, 240, &minutes);
    r.Int32("seconds", 0, 14400, &seconds);
    if (ctx->ok() && (minutes * 60 + seconds < 1 || minutes * 60 + seconds > 14400)) {
      return ctx->Fail(node, body_path,
                       "minutes and seconds: the break lasts 1 s to 4 h, e.g. {minutes: 10}");
    }
    bool offered = false;
    r.Bool("offered", &offered);
    o.mutable_recovery_break()->set_minutes(minutes);
    o.mutable_recovery_break()->set_seconds(seconds);
    o.mutable_recovery_break()->set_offered(offered);
  } else if (name == "pause_recording") {
    MapReader r(ctx, body, body_path, {"reason"});
    if (!r.valid()) return false;
    TemplatedField(r, "reason", /*required=*/true, spec,
                   o.mutable_pause_recording()->mutable_reason());
  } else if (name == "require_approval") {
    MapReader r(ctx, body, body_path, {"role", "action"});
    if (!r.valid()) return false;
    TemplatedField(r, "role", /*required=*/true, spec,
                   o.mutable_require_approval()->mutable_role());
    TemplatedField(r, "action", /*required=*/false, spec,
                   o.mutable_require_approval()->mutable_action());
  } else if (name == "escalate") {
    if (!needs(true, true)) return false;
    MapReader r(ctx, body, body_path, {"queue", "cold", "priority_boost"});
    if (!r.valid()) return false;
    TemplatedField(r, "queue", /*required=*/false, spec, o.mutable_escalate()->mutable_queue_id());
    bool cold = false;
    r.Bool("cold", &cold);
    int32_t boost = 50;
    r.Int32("priority_boost", 0, 100, &boost);
    o.mutable_escalate()->set_cold(cold);
    o.mutable_escalate()->set_priority_boost(boost);
  } else if (name == "lock_out") {
    MapReader r(ctx, body, body_path, {"minutes"});
    if (!r.valid()) return false;
    int32_t minutes = 0;
    r.Int32("minutes", 1, 1440, &minutes, /*required=*/true);
    o.mutable_lock_out()->set_minutes(minutes);
  } else {
    return ctx->Fail(node, body_path,
                     "unknown obligation (expected end_interaction, create_review, "
                     "recovery_break, pause_recording, require_approval, escalate or lock_out)");
  }
  return ctx->ok();
}

// Checks that every path a rule reads is either a param the bundle defines or a fact: a path
// under params. that is not defined is a typo the operator wants to hear about at load time.
bool CheckParamRefs(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                    const std::vector<std::string>& refs, const Bundle& bundle) {
  for (const std::string& ref : refs) {
    if (ref.rfind("params.", 0) == 0 && !bundle.params.contains(ref)) {
      return ctx->Fail(node, path, absl::StrCat("'", ref, "' is not defined under params"));
    }
  }
  return true;
}

bool ReadRule(YamlContext* ctx, const YAML::Node& node, const std::string& path,
              const KindInfo& kind, const Bundle& bundle, bool is_fallback, Rule* rule) {
  MapReader r = is_fallback ? MapReader(ctx, node, path, {"outcome", "reason", "obligations"})
                            : MapReader(ctx, node, path,
                                        {"id", "when", "outcome", "reason", "mode", "obligations"});
  if (!r.valid()) return false;
  if (is_fallback) {
    rule->id = absl::StrCat(std::string(kind.name), ".default");
  } else {
    r.String("id", &rule->id, /*required=*/true);
    if (ctx->ok() && (rule->id.empty() || rule->id.size() > 128)) {
      return ctx->Fail(r.Get("id"), r.Path("id"),
                       "1 to 128 characters, e.g. disconnect.not-warned");
    }
    if (r.Has("when")) {
      std::string text;
      if (!routing::config::ReadString(ctx, r.Get("when"), r.Path("when"), &text)) return false;
      absl::StatusOr<expr::Expression> e = expr::Expression::Parse(text);
      if (!e.ok())
        return ctx->Fail(r.Get("when"), r.Path("when"), std::string(e.status().message()));
      rule->when = *std::move(e);
      if (!CheckParamRefs(ctx, r.Get("when"), r.Path("when"), rule->when.Identifiers(), bundle)) {
        return false;
      }
    }
    int mode = static_cast<int>(RuleMode::kEnforce);
    r.Enum("mode", Modes(), &mode);
    rule->mode = static_cast<RuleMode>(mode);
  }
  int outcome = v1::OUTCOME_DENY;
  r.Enum("outcome", Outcomes(), &outcome, /*required=*/true);
  rule->outcome = static_cast<v1::Outcome>(outcome);
  if (r.Require("reason")) {
    if (!ReadTemplate(ctx, r.Get("reason"), r.Path("reason"), &rule->reason)) return false;
    if (!CheckParamRefs(ctx, r.Get("reason"), r.Path("reason"), rule->reason.paths, bundle)) {
      return false;
    }
  }
  if (r.Has("obligations")) {
    ForEachItem(ctx, r.Get("obligations"), r.Path("obligations"),
                [&](const YAML::Node& item, const std::string& item_path) {
                  ObligationSpec spec;
                  if (!ReadObligation(ctx, item, item_path, kind, &spec)) return;
                  const auto k = spec.proto.kind_case();
                  if (rule->outcome != v1::OUTCOME_ALLOW &&
                      (k == v1::Obligation::kEndInteraction || k == v1::Obligation::kEscalate)) {
                    ctx->Fail(item, item_path,
                              "end_interaction and escalate carry out what was asked: only "
                              "rules with outcome allow may have them");
                    return;
                  }
                  rule->obligations.push_back(std::move(spec));
                });
  }
  return ctx->ok();
}

bool ReadInputs(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                std::vector<InputSpec>* out) {
  if (node.IsMap() && static_cast<int>(node.size()) > kMaxInputsPerKind) {
    return ctx->Fail(node, path, absl::StrCat("at most ", kMaxInputsPerKind, " inputs"));
  }
  return ForEachEntry(
      ctx, node, path,
      [&](const std::string& key, const YAML::Node& value, const std::string& child) {
        if (!IsIdentifierPath(key) || key.rfind("params.", 0) == 0) {
          ctx->Fail(value, child,
                    "an input is a dotted path such as request.category (not params.*)");
          return;
        }
        std::string type;
        if (!routing::config::ReadString(ctx, value, child, &type)) return;
        InputSpec spec;
        spec.path = key;
        if (!type.empty() && type.back() == '?') {
          spec.required = false;
          type.pop_back();
        }
        static const std::vector<std::pair<std::string_view, InputType>> kTypes = {
            {"string", InputType::kString},
            {"number", InputType::kNumber},
            {"bool", InputType::kBool},
            {"list", InputType::kList},
            {"any", InputType::kAny}};
        bool found = false;
        for (const auto& [n, t] : kTypes) {
          if (type == n) {
            spec.type = t;
            found = true;
          }
        }
        if (!found) {
          ctx->Fail(
              value, child,
              absl::StrCat("unknown type '", type,
                           "' (expected string, number, bool, list or any; add ? if optional)"));
          return;
        }
        out->push_back(std::move(spec));
      });
}

bool ReadKind(YamlContext* ctx, const YAML::Node& node, const std::string& path,
              const KindInfo& kind, const Bundle& bundle, KindPolicy* out) {
  MapReader r(ctx, node, path, {"inputs", "rules", "default"});
  if (!r.valid()) return false;
  out->kind = &kind;
  if (r.Has("inputs")) ReadInputs(ctx, r.Get("inputs"), r.Path("inputs"), &out->inputs);
  if (r.Has("rules")) {
    const YAML::Node rules = r.Get("rules");
    if (rules.IsSequence() && static_cast<int>(rules.size()) > kMaxRulesPerKind) {
      return ctx->Fail(rules, r.Path("rules"),
                       absl::StrCat("at most ", kMaxRulesPerKind, " rules"));
    }
    ForEachItem(ctx, rules, r.Path("rules"), [&](const YAML::Node& item, const std::string& p) {
      Rule rule;
      if (!ReadRule(ctx, item, p, kind, bundle, /*is_fallback=*/false, &rule)) return;
      for (const Rule& other : out->rules) {
        if (other.id == rule.id) {
          ctx->Fail(item, p + ".id", absl::StrCat("repeats rule id '", rule.id, "'"));
          return;
        }
      }
      out->rules.push_back(std::move(rule));
    });
  }
  if (r.Has("default")) {
    ReadRule(ctx, r.Get("default"), r.Path("default"), kind, bundle, /*is_fallback=*/true,
             &out->fallback);
  } else {
    out->fallback.id = absl::StrCat(std::string(kind.name), ".default");
    out->fallback.outcome = v1::OUTCOME_DENY;
    out->fallback.reason.text =
        absl::StrCat("No rule of this policy allows the ", std::string(kind.name), " request.");
    out->fallback.reason.literals = {out->fallback.reason.text};
  }
  return ctx->ok();
}

std::string BaseName(const std::string& path) {
  std::string name = std::filesystem::path(path).filename().string();
  if (name.size() > 5 && name.ends_with(".yaml")) name.resize(name.size() - 5);
  return name;
}

}  // namespace

const std::vector<KindInfo>& Kinds() {
  static const auto* kinds = new std::vector<KindInfo>{
      {"disconnect", true, true},    {"escalation", true, true}, {"authority", false, true},
      {"verification", true, false}, {"recording", true, false}, {"wellbeing", false, true}};
  return *kinds;
}

const KindInfo* FindKind(std::string_view name) {
  for (const KindInfo& k : Kinds()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

std::string KindList() {
  std::vector<std::string> names;
  for (const KindInfo& k : Kinds()) names.emplace_back(k.name);
  return absl::StrJoin(names, ", ");
}

const char* InputTypeName(InputType type) {
  switch (type) {
    case InputType::kString:
      return "a string";
    case InputType::kNumber:
      return "a number";
    case InputType::kBool:
      return "a bool";
    case InputType::kList:
      return "a list of strings";
    case InputType::kAny:
      return "any value";
  }
  return "any value";
}

absl::StatusOr<Template> ParseTemplate(std::string_view text) {
  Template t;
  t.text = std::string(text);
  std::string literal;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '}') {
      return absl::InvalidArgumentError(
          absl::StrCat("'}' at byte ", i + 1, " closes no placeholder"));
    }
    if (c != '{') {
      literal.push_back(c);
      continue;
    }
    const size_t end = text.find('}', i + 1);
    if (end == std::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'{' at byte ", i + 1, " is not closed (placeholders look like {request.category})"));
    }
    const std::string_view path = text.substr(i + 1, end - i - 1);
    if (!IsIdentifierPath(path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("placeholder '{", std::string(path),
                       "}' is not a dotted path such as {request.category}"));
    }
    t.literals.push_back(std::move(literal));
    literal.clear();
    t.paths.emplace_back(path);
    i = end;
  }
  t.literals.push_back(std::move(literal));
  return t;
}

const KindPolicy* Bundle::Find(std::string_view kind) const {
  auto it = kinds.find(kind);
  return it == kinds.end() ? nullptr : &it->second;
}

int Bundle::rule_count() const {
  int n = 0;
  for (const auto& [_, k] : kinds) n += static_cast<int>(k.rules.size());
  return n;
}

std::string ContentHash(std::string_view text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

absl::StatusOr<std::shared_ptr<const Bundle>> ParseBundle(const std::string& text,
                                                          const std::string& file,
                                                          const std::string& name) {
  absl::StatusOr<YAML::Node> root = ParseYaml(text, file);
  if (!root.ok()) return root.status();
  YamlContext ctx(file);
  auto bundle = std::make_shared<Bundle>();
  bundle->name = name;
  bundle->file = file;
  MapReader r(&ctx, *root, "", {"tenant", "version", "params", "policies"});
  if (!r.valid()) return ctx.status();
  r.String("tenant", &bundle->tenant, /*required=*/true);
  if (ctx.ok() && bundle->tenant.empty()) {
    ctx.Fail(r.Get("tenant"), "tenant", "required: a tenant id, or \"*\" for every other tenant");
  }
  std::string version;
  r.String("version", &version, /*required=*/true);
  if (ctx.ok() && (version.empty() || version.size() > 64)) {
    ctx.Fail(r.Get("version"), "version", "1 to 64 characters, e.g. \"2026.11.1\"");
  }
  bundle->version = absl::StrCat(version, "@", ContentHash(text).substr(0, 12));
  if (r.Has("params")) {
    if (!r.Get("params").IsMap()) {
      ctx.Fail(r.Get("params"), "params", "expected a map of names to values");
    } else {
      size_t values = 0;
      FlattenParams(&ctx, r.Get("params"), "params", 0, &values, &bundle->params);
    }
  }
  if (ctx.ok() && r.Require("policies")) {
    ForEachEntry(&ctx, r.Get("policies"), "policies",
                 [&](const std::string& key, const YAML::Node& value, const std::string& path) {
                   const KindInfo* kind = FindKind(key);
                   if (kind == nullptr) {
                     ctx.Fail(value, path,
                              absl::StrCat("unknown kind (expected one of ", KindList(), ")"));
                     return;
                   }
                   KindPolicy policy;
                   if (ReadKind(&ctx, value, path, *kind, *bundle, &policy)) {
                     bundle->kinds.emplace(key, std::move(policy));
                   }
                 });
  }
  if (!ctx.ok()) return ctx.status();
  return std::shared_ptr<const Bundle>(std::move(bundle));
}

absl::StatusOr<std::shared_ptr<const Bundle>> LoadBundleFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseBundle(buffer.str(), path, BaseName(path));
}

std::shared_ptr<const Bundle> DefaultBundle() {
  static const std::shared_ptr<const Bundle>* bundle = [] {
    absl::StatusOr<std::shared_ptr<const Bundle>> b =
        ParseBundle(DefaultBundleYaml(), "builtin:deploy/policies/default.yaml", "default");
    // The default bundle is tested in CI (bundle_test.cc); a broken one is a build defect.
    if (!b.ok()) {
      std::fprintf(stderr, "the built-in default policy bundle is invalid: %s\n",
                   std::string(b.status().message()).c_str());
      std::abort();
    }
    return new std::shared_ptr<const Bundle>(*std::move(b));
  }();
  return *bundle;
}

}  // namespace sb::policy
