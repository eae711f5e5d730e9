#include "policy/core/evaluator.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace sb::policy {
namespace {

using google::protobuf::Value;

expr::Value ToExpr(const Value& v) {
  switch (v.kind_case()) {
    case Value::kBoolValue:
      return expr::Value::Bool(v.bool_value());
    case Value::kNumberValue:
      return expr::Value::Number(v.number_value());
    case Value::kStringValue:
      return expr::Value::String(v.string_value());
    case Value::kListValue: {
      std::vector<std::string> items;
      items.reserve(v.list_value().values_size());
      for (const Value& item : v.list_value().values()) {
        if (item.kind_case() != Value::kStringValue) return expr::Value::Null();
        items.push_back(item.string_value());
      }
      return expr::Value::List(std::move(items));
    }
    default:
      return expr::Value::Null();
  }
}

bool HasType(const Value& v, InputType type) {
  switch (type) {
    case InputType::kString:
      return v.kind_case() == Value::kStringValue;
    case InputType::kNumber:
      return v.kind_case() == Value::kNumberValue;
    case InputType::kBool:
      return v.kind_case() == Value::kBoolValue;
    case InputType::kList:
      if (v.kind_case() != Value::kListValue) return false;
      for (const Value& item : v.list_value().values()) {
        if (item.kind_case() != Value::kStringValue) return false;
      }
      return true;
    case InputType::kAny:
      return true;
  }
  return true;
}

std::string FormatNumber(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(d));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", d);
  return buf;
}

absl::Status Invalid(std::string_view reason, std::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(std::string(reason), ": ", std::string(message)));
}

void Apply(const Rule& rule, const RequestEnv& env, v1::PolicyDecision* d) {
  d->set_outcome(rule.outcome);
  d->set_rule(rule.id);
  d->set_reason(Render(rule.reason, env));
  for (const ObligationSpec& spec : rule.obligations) {
    v1::Obligation* o = d->add_obligations();
    *o = spec.proto;
    for (const auto& [field, t] : spec.templated) {
      const std::string text = Render(t, env);
      switch (o->kind_case()) {
        case v1::Obligation::kEndInteraction:
          o->mutable_end_interaction()->set_category(text);
          break;
        case v1::Obligation::kCreateReview:
          o->mutable_create_review()->set_reason(text);
          break;
        case v1::Obligation::kPauseRecording:
          o->mutable_pause_recording()->set_reason(text);
          break;
        case v1::Obligation::kRequireApproval:
          if (field == "role") {
            o->mutable_require_approval()->set_role(text);
          } else {
            o->mutable_require_approval()->set_action(text);
          }
          break;
        case v1::Obligation::kEscalate:
          o->mutable_escalate()->set_queue_id(text);
          break;
        default:
          break;
      }
    }
  }
}

}  // namespace

const google::protobuf::Value* RequestEnv::Find(std::string_view path) const {
  const google::protobuf::Struct* object = &request_.input();
  const Value* value = nullptr;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (object == nullptr) return nullptr;
    auto it = object->fields().find(key);
    if (it == object->fields().end()) return nullptr;
    value = &it->second;
    if (dot == std::string_view::npos) return value;
    object = value->kind_case() == Value::kStructValue ? &value->struct_value() : nullptr;
    start = dot + 1;
  }
}

expr::Value RequestEnv::Lookup(std::string_view path) const {
  if (path.starts_with("params.")) {
    auto it = bundle_.params.find(absl::string_view(path.data(), path.size()));
    return it == bundle_.params.end() ? expr::Value::Null() : it->second;
  }
  if (path == "tenant_id") return expr::Value::String(request_.tenant_id());
  if (path == "kind") return expr::Value::String(request_.kind());
  if (path == "agent_id") return expr::Value::String(request_.agent_id());
  if (path == "interaction_id") return expr::Value::String(request_.interaction_id());
  const Value* v = Find(path);
  return v == nullptr ? expr::Value::Null() : ToExpr(*v);
}

std::string Render(const Template& t, const expr::Env& env) {
  if (t.paths.empty()) return t.text;
  std::string out = t.literals[0];
  for (size_t i = 0; i < t.paths.size(); ++i) {
    const expr::Value v = env.Lookup(t.paths[i]);
    switch (v.kind()) {
      case expr::Value::Kind::kNull:
        break;
      case expr::Value::Kind::kBool:
        out += v.bool_value() ? "true" : "false";
        break;
      case expr::Value::Kind::kNumber:
        out += FormatNumber(v.number_value());
        break;
      case expr::Value::Kind::kString:
        out += v.string_value();
        break;
      case expr::Value::Kind::kList:
        out += absl::StrJoin(v.list_value(), ", ");
        break;
    }
    out += t.literals[i + 1];
  }
  return out;
}

absl::StatusOr<v1::PolicyDecision> Decide(const Bundle& bundle,
                                          const v1::EvaluateRequest& request) {
  if (request.tenant_id().empty()) return Invalid("MISSING_TENANT", "tenant_id: required");
  if (request.kind().empty()) {
    return Invalid("MISSING_KIND", absl::StrCat("kind: required (one of ", KindList(), ")"));
  }
  const KindInfo* kind = FindKind(request.kind());
  if (kind == nullptr) {
    return Invalid("UNKNOWN_KIND",
                   absl::StrCat("kind: '", request.kind().substr(0, 64),
                                "' is not a decision kind (expected one of ", KindList(), ")"));
  }
  if (kind->needs_interaction && request.interaction_id().empty()) {
    return Invalid("MISSING_FIELD",
                   absl::StrCat("interaction_id: required for ", kind->name, " requests"));
  }
  if (kind->needs_agent && request.agent_id().empty()) {
    return Invalid("MISSING_FIELD",
                   absl::StrCat("agent_id: required for ", kind->name, " requests"));
  }
  const KindPolicy* policy = bundle.Find(kind->name);
  if (policy == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("NO_POLICY: bundle '", bundle.name, "' (",
                                                      bundle.version, ") has no policy for ",
                                                      kind->name, " requests"));
  }
  RequestEnv env(bundle, request);
  for (const InputSpec& spec : policy->inputs) {
    const Value* v = env.Find(spec.path);
    if (v == nullptr || v->kind_case() == Value::kNullValue ||
        v->kind_case() == Value::KIND_NOT_SET) {
      if (!spec.required) continue;
      return Invalid("MISSING_INPUT",
                     absl::StrCat("input.", spec.path, ": required (", InputTypeName(spec.type),
                                  ") for ", kind->name, " requests"));
    }
    if (!HasType(*v, spec.type)) {
      return Invalid("WRONG_INPUT_TYPE",
                     absl::StrCat("input.", spec.path, ": expected ", InputTypeName(spec.type)));
    }
  }

  v1::PolicyDecision d;
  d.set_tenant_id(request.tenant_id());
  d.set_kind(request.kind());
  d.set_interaction_id(request.interaction_id());
  d.set_agent_id(request.agent_id());
  d.set_policy_version(bundle.version);
  d.set_bundle(bundle.name);
  d.set_dry_run(request.dry_run());
  *d.mutable_input() = request.input();
  const Rule* decided = nullptr;
  for (const Rule& rule : policy->rules) {
    if (!rule.when.Matches(env)) continue;
    if (rule.mode == RuleMode::kAudit) {
      v1::AuditMatch* audit = d.add_audit();
      audit->set_rule(rule.id);
      audit->set_outcome(rule.outcome);
      audit->set_reason(Render(rule.reason, env));
      continue;
    }
    decided = &rule;
    break;
  }
  Apply(decided != nullptr ? *decided : policy->fallback, env, &d);
  return d;
}

}  // namespace sb::policy
