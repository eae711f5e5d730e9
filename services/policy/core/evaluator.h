// Deciding a request with a bundle. Pure: no clock, no IO; the service adds the decision id and
// time, publishes the decision and carries out its obligations.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/expr/expr.h"
#include "policy/core/bundle.h"
#include "switchboard/policy/v1/policy.pb.h"

namespace sb::policy {

// The facts of a request as an expression environment: `params.*` from the bundle,
// `tenant_id`, `kind`, `agent_id`, `interaction_id` from the request, every other path from the
// request's input (nested objects, so `request.category` is input.request.category). Numbers,
// strings, bools and lists of strings are values; anything else (objects, lists with non-string
// items) reads as null.
class RequestEnv : public expr::Env {
 public:
  RequestEnv(const Bundle& bundle, const v1::EvaluateRequest& request)
      : bundle_(bundle), request_(request) {}
  expr::Value Lookup(std::string_view path) const override;
  // The raw input value at a dotted path, or null if absent.
  const google::protobuf::Value* Find(std::string_view path) const;

 private:
  const Bundle& bundle_;
  const v1::EvaluateRequest& request_;
};

// Validates the request against the bundle and decides it. Errors (absl status code, message
// prefix = stable reason):
//   InvalidArgument MISSING_TENANT, MISSING_KIND, UNKNOWN_KIND, MISSING_FIELD (interaction_id or
//   agent_id for the kinds that need them), MISSING_INPUT, WRONG_INPUT_TYPE;
//   FailedPrecondition NO_POLICY (the bundle has no policy for the kind).
// The result has every field but decision_id, time and routing_command_ids.
absl::StatusOr<v1::PolicyDecision> Decide(const Bundle& bundle, const v1::EvaluateRequest& request);

// Renders a template against an environment: strings as they are, numbers without trailing
// zeros, bools as true/false, lists joined with ", ", null as "".
std::string Render(const Template& t, const expr::Env& env);

}  // namespace sb::policy
