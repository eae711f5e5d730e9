#include "policy/core/testcases.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "policy/core/evaluator.h"
#include "routing/config/yaml_reader.h"

namespace sb::policy {
namespace {

using routing::config::ForEachEntry;
using routing::config::ForEachItem;
using routing::config::MapReader;
using routing::config::YamlContext;

// Bounds on the facts of a file's requests; they also bound what YAML aliases can do (a map that
// contains itself, or a few lines that stand for an exponentially large tree).
constexpr int kMaxInputDepth = 32;
constexpr size_t kMaxInputValues = 65536;  // in all the cases of a file

// YAML -> protobuf Value: maps are objects, sequences lists; a quoted scalar is a string, a plain
// one true/false/a number when it reads as one, else a string; `~`/null is null. `values` counts
// the values converted so far.
void ToValue(YamlContext* ctx, const YAML::Node& node, const std::string& path, int depth,
             size_t* values, google::protobuf::Value* out) {
  if (!ctx->ok()) return;
  if (depth > kMaxInputDepth) {
    ctx->Fail(node, path, absl::StrCat("input nests at most ", kMaxInputDepth, " levels deep"));
    return;
  }
  if (++*values > kMaxInputValues) {
    ctx->Fail(node, path,
              absl::StrCat("the inputs of a tests file hold at most ", kMaxInputValues, " values"));
    return;
  }
  if (node.IsMap()) {
    auto* fields = out->mutable_struct_value()->mutable_fields();
    ForEachEntry(ctx, node, path,
                 [&](const std::string& key, const YAML::Node& value, const std::string& child) {
                   ToValue(ctx, value, child, depth + 1, values, &(*fields)[key]);
                 });
  } else if (node.IsSequence()) {
    auto* list = out->mutable_list_value();
    ForEachItem(ctx, node, path, [&](const YAML::Node& item, const std::string& item_path) {
      ToValue(ctx, item, item_path, depth + 1, values, list->add_values());
    });
  } else if (node.IsScalar()) {
    const std::string& s = node.Scalar();
    double d = 0;
    if (node.Tag() == "!") {
      out->set_string_value(s);
    } else if (s == "true" || s == "false") {
      out->set_bool_value(s == "true");
    } else if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-') &&
               absl::SimpleAtod(s, &d)) {
      out->set_number_value(d);
    } else {
      out->set_string_value(s);
    }
  } else {
    out->set_null_value(google::protobuf::NULL_VALUE);
  }
}

void ReadNames(MapReader& r, std::string_view key, std::optional<std::vector<std::string>>* out) {
  if (!r.Has(key)) return;
  std::vector<std::string> names;
  ForEachItem(r.ctx(), r.Get(key), r.Path(key),
              [&](const YAML::Node& item, const std::string& item_path) {
                std::string name;
                if (routing::config::ReadString(r.ctx(), item, item_path, &name)) {
                  names.push_back(name);
                }
              });
  *out = std::move(names);
}

bool ReadCase(YamlContext* ctx, const YAML::Node& node, const std::string& path, size_t* values,
              TestCase* t) {
  MapReader r(ctx, node, path, {"name", "request", "expect"});
  if (!r.valid()) return false;
  t->where = ctx->Where(node);
  r.String("name", &t->name, /*required=*/true);
  if (r.Require("request")) {
    MapReader q(ctx, r.Get("request"), r.Path("request"),
                {"kind", "tenant_id", "agent_id", "interaction_id", "input"});
    if (!q.valid()) return false;
    q.String("kind", t->request.mutable_kind());
    q.String("tenant_id", t->request.mutable_tenant_id());
    q.String("agent_id", t->request.mutable_agent_id());
    q.String("interaction_id", t->request.mutable_interaction_id());
    if (q.Has("input")) {
      if (!q.Get("input").IsMap()) {
        return ctx->Fail(q.Get("input"), q.Path("input"), "expected a map of facts");
      }
      google::protobuf::Value input;
      ToValue(ctx, q.Get("input"), q.Path("input"), 0, values, &input);
      *t->request.mutable_input() = input.struct_value();
    }
  }
  if (r.Require("expect")) {
    MapReader e(ctx, r.Get("expect"), r.Path("expect"),
                {"outcome", "rule", "obligations", "audit", "reason_contains", "error"});
    if (!e.valid()) return false;
    if (e.Has("outcome")) {
      int outcome = 0;
      e.Enum("outcome", {{"allow", v1::OUTCOME_ALLOW}, {"deny", v1::OUTCOME_DENY}}, &outcome);
      t->outcome = static_cast<v1::Outcome>(outcome);
    }
    if (e.Has("rule")) {
      std::string rule;
      e.String("rule", &rule);
      t->rule = rule;
    }
    ReadNames(e, "obligations", &t->obligations);
    ReadNames(e, "audit", &t->audit);
    e.String("reason_contains", &t->reason_contains);
    e.String("error", &t->error);
    if (ctx->ok() && !t->error.empty() && (t->outcome || t->rule || t->obligations)) {
      return ctx->Fail(r.Get("expect"), r.Path("expect"),
                       "error excludes outcome, rule and obligations (a refused request has no "
                       "decision)");
    }
    if (ctx->ok() && t->error.empty() && !t->outcome && !t->rule) {
      return ctx->Fail(r.Get("expect"), r.Path("expect"),
                       "give at least outcome or rule (or error)");
    }
  }
  return ctx->ok();
}

std::string Quoted(const std::vector<std::string>& names) {
  return absl::StrCat("[", absl::StrJoin(names, ", "), "]");
}

}  // namespace

std::string ObligationName(const v1::Obligation& o) {
  switch (o.kind_case()) {
    case v1::Obligation::kCreateReview:
      return "create_review";
    case v1::Obligation::kRecoveryBreak:
      return "recovery_break";
    case v1::Obligation::kPauseRecording:
      return "pause_recording";
    case v1::Obligation::kRequireApproval:
      return "require_approval";
    case v1::Obligation::kEscalate:
      return "escalate";
    case v1::Obligation::kEndInteraction:
      return "end_interaction";
    case v1::Obligation::kLockOut:
      return "lock_out";
    case v1::Obligation::KIND_NOT_SET:
      break;
  }
  return "unset";
}

std::string TestsPathFor(const std::string& bundle_path) {
  std::string base = bundle_path;
  if (absl::EndsWith(base, ".yaml")) base.resize(base.size() - 5);
  return base + ".tests.yaml";
}

absl::StatusOr<std::vector<TestCase>> ParseTestCases(const std::string& text,
                                                     const std::string& file) {
  absl::StatusOr<YAML::Node> root = routing::config::ParseYaml(text, file);
  if (!root.ok()) return root.status();
  YamlContext ctx(file);
  MapReader r(&ctx, *root, "", {"tests"});
  std::vector<TestCase> tests;
  size_t values = 0;
  if (r.valid() && r.Require("tests")) {
    ForEachItem(&ctx, r.Get("tests"), "tests", [&](const YAML::Node& item, const std::string& p) {
      TestCase t;
      if (ReadCase(&ctx, item, p, &values, &t)) tests.push_back(std::move(t));
    });
  }
  if (!ctx.ok()) return ctx.status();
  return tests;
}

absl::StatusOr<std::vector<TestCase>> LoadTestCases(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseTestCases(buffer.str(), path);
}

std::vector<TestResult> RunTestCases(const Bundle& bundle, const std::vector<TestCase>& tests) {
  std::vector<TestResult> results;
  for (const TestCase& t : tests) {
    v1::EvaluateRequest request = t.request;
    request.set_dry_run(true);
    absl::StatusOr<v1::PolicyDecision> d = Decide(bundle, request);
    std::vector<std::string> failures;
    if (!t.error.empty()) {
      if (d.ok()) {
        failures.push_back(
            absl::StrCat("expected error ", t.error, ", got a decision (", d->rule(), ")"));
      } else if (!absl::StartsWith(d.status().message(), t.error + ":")) {
        failures.push_back(
            absl::StrCat("expected error ", t.error, ", got: ", d.status().message()));
      }
    } else if (!d.ok()) {
      failures.push_back(absl::StrCat("the request was refused: ", d.status().message()));
    } else {
      if (t.outcome && d->outcome() != *t.outcome) {
        failures.push_back(
            absl::StrCat("outcome: expected ", *t.outcome == v1::OUTCOME_ALLOW ? "allow" : "deny",
                         ", got ", d->outcome() == v1::OUTCOME_ALLOW ? "allow" : "deny"));
      }
      if (t.rule && d->rule() != *t.rule) {
        failures.push_back(absl::StrCat("rule: expected ", *t.rule, ", got ", d->rule()));
      }
      if (t.obligations) {
        std::vector<std::string> got;
        for (const v1::Obligation& o : d->obligations()) got.push_back(ObligationName(o));
        if (got != *t.obligations) {
          failures.push_back(absl::StrCat("obligations: expected ", Quoted(*t.obligations),
                                          ", got ", Quoted(got)));
        }
      }
      if (t.audit) {
        std::vector<std::string> got;
        for (const v1::AuditMatch& a : d->audit()) got.push_back(a.rule());
        if (got != *t.audit) {
          failures.push_back(
              absl::StrCat("audit: expected ", Quoted(*t.audit), ", got ", Quoted(got)));
        }
      }
      if (!t.reason_contains.empty() && !absl::StrContains(d->reason(), t.reason_contains)) {
        failures.push_back(absl::StrCat("reason: expected it to contain \"", t.reason_contains,
                                        "\", got \"", d->reason(), "\""));
      }
    }
    results.push_back(TestResult{&t, failures.empty(), absl::StrJoin(failures, "; ")});
  }
  return results;
}

}  // namespace sb::policy
