#include "policy/core/evaluator.h"

#include <string>

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "policy/core/testcases.h"

namespace sb::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

v1::EvaluateRequest Request(const std::string& kind, const std::string& input_json) {
  v1::EvaluateRequest r;
  r.set_tenant_id("acme");
  r.set_kind(kind);
  r.set_agent_id("agent-7");
  r.set_interaction_id("call-1");
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(input_json, r.mutable_input()).ok())
      << input_json;
  return r;
}

std::vector<std::string> ObligationNames(const v1::PolicyDecision& d) {
  std::vector<std::string> names;
  for (const auto& o : d.obligations()) names.push_back(ObligationName(o));
  return names;
}

// The seeds' cases, spelled out (the shipped test cases cover every rule as well).
TEST(DefaultPolicyTest, DisconnectWithoutAPriorWarningIsDenied) {
  auto d =
      Decide(*DefaultBundle(), Request("disconnect", R"({"request":{"category":"racial_slur"}})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->outcome(), v1::OUTCOME_DENY);
  EXPECT_EQ(d->rule(), "disconnect.not-warned");
  EXPECT_THAT(d->reason(), StartsWith("Warn the caller first"));
  EXPECT_TRUE(d->obligations().empty());
}

TEST(DefaultPolicyTest, DisconnectAfterAWarningForAListedCategoryIsAllowedWithAReview) {
  auto d =
      Decide(*DefaultBundle(), Request("disconnect", R"({"request":{"category":"sexual_remark"},
                                            "interaction":{"warnings":["sexual_remark"]}})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->outcome(), v1::OUTCOME_ALLOW);
  EXPECT_EQ(d->rule(), "disconnect.allowed");
  EXPECT_THAT(ObligationNames(*d),
              ElementsAre("end_interaction", "create_review", "recovery_break"));
  EXPECT_EQ(d->obligations(0).end_interaction().category(), "sexual_remark");  // rendered
  EXPECT_TRUE(d->obligations(1).create_review().mandatory());
  EXPECT_EQ(d->obligations(2).recovery_break().minutes(), 10);
  EXPECT_THAT(d->reason(), HasSubstr("10-minute recovery break"));
  EXPECT_EQ(d->policy_version(), DefaultBundle()->version);
  EXPECT_EQ(d->bundle(), "default");
  EXPECT_EQ(d->agent_id(), "agent-7");
  EXPECT_EQ(d->input().fields().at("request").struct_value().fields().at("category").string_value(),
            "sexual_remark");
}

TEST(DefaultPolicyTest, CallerAskingForAManagerIsEscalated) {
  auto d = Decide(*DefaultBundle(),
                  Request("escalation", R"({"request":{"reason":"caller_requested_manager"}})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->outcome(), v1::OUTCOME_ALLOW);
  EXPECT_THAT(ObligationNames(*d), ElementsAre("escalate", "create_review"));
  EXPECT_EQ(d->obligations(0).escalate().priority_boost(), 50);
}

TEST(DefaultPolicyTest, AgentAboveTheirAuthorityGetsApprovalRequired) {
  auto d =
      Decide(*DefaultBundle(), Request("authority", R"({"request":{"action":"credit","amount":250},
                                                            "agent":{"tier":"tier2"}})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->outcome(), v1::OUTCOME_DENY);
  EXPECT_EQ(d->rule(), "authority.default");
  EXPECT_THAT(ObligationNames(*d), ElementsAre("require_approval"));
  EXPECT_EQ(d->obligations(0).require_approval().role(), "supervisor");
  EXPECT_EQ(d->obligations(0).require_approval().action(), "credit");
  EXPECT_EQ(d->reason(),
            "A credit of 250 is above what a tier2 agent may grant alone: a supervisor must "
            "approve it (the request has been sent).");
}

const char* kAuditBundle = R"(
tenant: acme
version: v1
params: {limit: 100}
policies:
  authority:
    inputs: {request.amount: number}
    rules:
      - {id: watch, mode: audit, when: request.amount > 50, outcome: deny, reason: "would deny {request.amount}"}
      - {id: watch2, mode: audit, when: request.amount > 500, outcome: deny, reason: never}
      - {id: ok, when: request.amount <= params.limit, outcome: allow, reason: fine}
)";

TEST(EvaluatorTest, AuditRulesAreRecordedButDoNotDecide) {
  auto b = ParseBundle(kAuditBundle, "a.yaml", "a");
  ASSERT_TRUE(b.ok()) << b.status();
  auto d = Decide(**b, Request("authority", R"({"request":{"amount":80}})"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->outcome(), v1::OUTCOME_ALLOW);
  EXPECT_EQ(d->rule(), "ok");
  ASSERT_EQ(d->audit_size(), 1);
  EXPECT_EQ(d->audit(0).rule(), "watch");
  EXPECT_EQ(d->audit(0).outcome(), v1::OUTCOME_DENY);
  EXPECT_EQ(d->audit(0).reason(), "would deny 80");
  // No enforced rule matches: the fallback (deny by default) decides.
  d = Decide(**b, Request("authority", R"({"request":{"amount":150}})"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->rule(), "authority.default");
  EXPECT_EQ(d->outcome(), v1::OUTCOME_DENY);
}

TEST(EvaluatorTest, BadRequestsGetStableReasons) {
  struct Case {
    v1::EvaluateRequest request;
    absl::StatusCode code;
    std::string prefix;
  };
  std::vector<Case> cases;
  v1::EvaluateRequest r = Request("disconnect", R"({"request":{"category":"x"}})");
  r.clear_tenant_id();
  cases.push_back({r, absl::StatusCode::kInvalidArgument, "MISSING_TENANT: tenant_id"});
  r = Request("", "{}");
  cases.push_back({r, absl::StatusCode::kInvalidArgument, "MISSING_KIND: kind: required"});
  r = Request("refund", "{}");
  cases.push_back({r, absl::StatusCode::kInvalidArgument, "UNKNOWN_KIND: kind: 'refund'"});
  r = Request("disconnect", R"({"request":{"category":"x"}})");
  r.clear_interaction_id();
  cases.push_back({r, absl::StatusCode::kInvalidArgument, "MISSING_FIELD: interaction_id"});
  r = Request("wellbeing", "{}");
  r.clear_agent_id();
  cases.push_back({r, absl::StatusCode::kInvalidArgument, "MISSING_FIELD: agent_id"});
  r = Request("disconnect", R"({"request":{}})");
  cases.push_back({r, absl::StatusCode::kInvalidArgument,
                   "MISSING_INPUT: input.request.category: required (a string)"});
  r = Request("disconnect", R"({"request":{"category":null}})");
  cases.push_back({r, absl::StatusCode::kInvalidArgument, "MISSING_INPUT: input.request.category"});
  r = Request("disconnect", R"({"request":{"category":3}})");
  cases.push_back({r, absl::StatusCode::kInvalidArgument,
                   "WRONG_INPUT_TYPE: input.request.category: expected a string"});
  r = Request("disconnect", R"({"request":{"category":"x"},"interaction":{"warnings":[1]}})");
  cases.push_back({r, absl::StatusCode::kInvalidArgument,
                   "WRONG_INPUT_TYPE: input.interaction.warnings: expected a list of strings"});
  for (const Case& c : cases) {
    auto d = Decide(*DefaultBundle(), c.request);
    ASSERT_FALSE(d.ok()) << c.prefix;
    EXPECT_EQ(d.status().code(), c.code) << c.prefix;
    EXPECT_THAT(std::string(d.status().message()), StartsWith(c.prefix));
  }
  auto b = ParseBundle(kAuditBundle, "a.yaml", "a");
  auto d = Decide(**b, Request("wellbeing", "{}"));
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(d.status().message()), StartsWith("NO_POLICY: bundle 'a'"));
}

TEST(EvaluatorTest, EnvironmentReadsNestedInputParamsAndRequestFields) {
  auto b = ParseBundle(kAuditBundle, "a.yaml", "a");
  v1::EvaluateRequest r =
      Request("authority", R"({"a":{"b":{"c":"deep"}},"n":2.5,"l":["x","y"],"mixed":["x",1],
                              "o":{"k":1},"t":true})");
  RequestEnv env(**b, r);
  EXPECT_EQ(env.Lookup("a.b.c"), expr::Value::String("deep"));
  EXPECT_EQ(env.Lookup("n"), expr::Value::Number(2.5));
  EXPECT_EQ(env.Lookup("l"), expr::Value::List({"x", "y"}));
  EXPECT_TRUE(env.Lookup("mixed").is_null());
  EXPECT_TRUE(env.Lookup("o").is_null());
  EXPECT_TRUE(env.Lookup("a.b.c.d").is_null());
  EXPECT_TRUE(env.Lookup("missing.path").is_null());
  EXPECT_EQ(env.Lookup("t"), expr::Value::Bool(true));
  EXPECT_EQ(env.Lookup("params.limit"), expr::Value::Number(100));
  EXPECT_TRUE(env.Lookup("params.nope").is_null());
  EXPECT_EQ(env.Lookup("agent_id"), expr::Value::String("agent-7"));
  EXPECT_EQ(env.Lookup("tenant_id"), expr::Value::String("acme"));
  auto t = ParseTemplate("{n}|{l}|{t}|{missing}|{params.limit}|{a.b.c}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Render(*t, env), "2.5|x, y|true||100|deep");
}

}  // namespace
}  // namespace sb::policy
