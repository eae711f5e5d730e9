#include "policy/core/bundle.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "policy/core/testcases.h"

namespace sb::policy {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A minimal valid bundle with one rule; tests splice errors into it.
std::string Bundle1(const std::string& rules, const std::string& extra_kind = "") {
  return "tenant: acme\nversion: v1\nparams:\n  limit: 5\n  cats: [a, b]\npolicies:\n"
         "  disconnect:\n    inputs:\n      request.category: string\n    rules:\n" +
         rules + extra_kind;
}

absl::Status Error(const std::string& text) {
  auto b = ParseBundle(text, "acme.yaml", "acme");
  return b.ok() ? absl::OkStatus() : b.status();
}

TEST(DefaultBundleTest, LoadsAndPassesItsShippedTestCases) {
  std::shared_ptr<const Bundle> b = DefaultBundle();
  EXPECT_EQ(b->tenant, "*");
  EXPECT_THAT(b->version, StartsWith("2026.11.1@"));
  for (const KindInfo& k : Kinds()) EXPECT_NE(b->Find(k.name), nullptr) << k.name;
  auto tests = ParseTestCases(DefaultBundleTestsYaml(), "default.tests.yaml");
  ASSERT_TRUE(tests.ok()) << tests.status();
  ASSERT_GE(tests->size(), 25u);
  for (const TestResult& r : RunTestCases(*b, *tests)) {
    EXPECT_TRUE(r.passed) << r.test->where << ": " << r.test->name << ": " << r.failure;
  }
}

TEST(BundleTest, ValidBundleParses) {
  auto b = ParseBundle(Bundle1("      - id: r1\n        when: request.category in params.cats\n"
                               "        outcome: allow\n        reason: ok {request.category}\n"),
                       "acme.yaml", "acme");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ((*b)->name, "acme");
  EXPECT_EQ((*b)->rule_count(), 1);
  EXPECT_EQ((*b)->params.at("params.limit"), expr::Value::Number(5));
  EXPECT_EQ((*b)->params.at("params.cats"), expr::Value::List({"a", "b"}));
  const KindPolicy* k = (*b)->Find("disconnect");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->fallback.id, "disconnect.default");
  EXPECT_EQ(k->fallback.outcome, v1::OUTCOME_DENY);
  ASSERT_EQ(k->rules[0].reason.paths.size(), 1u);
}

TEST(BundleTest, VersionCarriesTheContentHash) {
  const std::string a = Bundle1("      - {id: r1, outcome: allow, reason: x}\n");
  const std::string b = Bundle1("      - {id: r1, outcome: allow, reason: y}\n");
  auto ba = ParseBundle(a, "f", "f");
  auto bb = ParseBundle(b, "f", "f");
  ASSERT_TRUE(ba.ok() && bb.ok());
  EXPECT_NE((*ba)->version, (*bb)->version);
  EXPECT_EQ((*ba)->version, (*ParseBundle(a, "g", "g"))->version);
}

TEST(BundleTest, ExpressionErrorNamesFileLineFieldAndColumn) {
  absl::Status s =
      Error(Bundle1("      - id: r1\n        when: request.category ==\n"
                    "        outcome: allow\n        reason: x\n"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              StartsWith("acme.yaml:12: policies.disconnect.rules[0].when: column"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("expected a value"));
}

TEST(BundleTest, LoadErrorsNameTheField) {
  struct Case {
    std::string text;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"version: v1\npolicies: {}\n", "missing required key 'tenant'"},
      {"tenant: a\npolicies: {}\n", "missing required key 'version'"},
      {"tenant: a\nversion: v\npolicies: {refund: {}}\n", "policies.refund: unknown kind"},
      {Bundle1("      - {id: r1, outcome: maybe, reason: x}\n"),
       "policies.disconnect.rules[0].outcome: unknown value 'maybe'"},
      {Bundle1("      - {id: r1, outcome: allow}\n"),
       "policies.disconnect.rules[0]: missing required key 'reason'"},
      {Bundle1("      - {id: r1, outcome: allow, reason: x}\n      - {id: r1, outcome: deny, "
               "reason: y}\n"),
       "rules[1].id: repeats rule id 'r1'"},
      {Bundle1("      - {id: r1, when: params.limt > 1, outcome: allow, reason: x}\n"),
       "'params.limt' is not defined under params"},
      {Bundle1("      - {id: r1, outcome: allow, reason: \"x {oops\"}\n"), "is not closed"},
      {Bundle1("      - {id: r1, outcome: allow, reason: x, obligations: [{teleport: {}}]}\n"),
       "obligations[0].teleport: unknown obligation"},
      {Bundle1("      - {id: r1, outcome: allow, reason: x, obligations: [{recovery_break: "
               "{minutes: 0}}]}\n"),
       "recovery_break: minutes and seconds: the break lasts 1 s to 4 h"},
      {Bundle1("      - {id: r1, outcome: allow, reason: x, mode: sometimes}\n"),
       "rules[0].mode: unknown value 'sometimes'"},
      {Bundle1("      - {id: r1, outcome: allow, reason: x, colour: red}\n"),
       "rules[0].colour: unknown key 'colour'"},
      {"tenant: a\nversion: v\npolicies:\n  recording:\n    rules:\n      - {id: r, outcome: "
       "allow, reason: x, obligations: [{escalate: {}}]}\n",
       "not allowed in recording rules"},
      {"tenant: a\nversion: v\npolicies:\n  authority:\n    rules:\n      - {id: r, outcome: "
       "allow, reason: x, obligations: [{end_interaction: {category: x}}]}\n",
       "allowed in disconnect rules only"},
      {"tenant: a\nversion: v\npolicies:\n  authority:\n    inputs: {request.amount: money}\n",
       "policies.authority.inputs.request.amount: unknown type 'money'"},
      {"tenant: a\nversion: v\npolicies:\n  escalation:\n    rules:\n      - {id: r, outcome: "
       "deny, reason: x, obligations: [{escalate: {}}]}\n",
       "only rules with outcome allow may have them"},
      {"tenant: a\nversion: v\npolicies: [\n", "YAML syntax error"},
  };
  for (const Case& c : cases) {
    absl::Status s = Error(c.text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.want)) << c.text;
    EXPECT_THAT(std::string(s.message()), StartsWith("acme.yaml")) << c.text;
  }
}

TEST(BundleTest, TemplatesParse) {
  auto t = ParseTemplate("a {x.y} b {z}");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->paths, (std::vector<std::string>{"x.y", "z"}));
  EXPECT_EQ(t->literals, (std::vector<std::string>{"a ", " b ", ""}));
  EXPECT_FALSE(ParseTemplate("a } b").ok());
  EXPECT_FALSE(ParseTemplate("{1x}").ok());
  EXPECT_FALSE(ParseTemplate("{a..b}").ok());
  EXPECT_FALSE(ParseTemplate("{}").ok());
}

// Found by sb_policy_bundle_fuzz: YAML aliases let a map contain itself (which recursed until the
// stack overflowed) or let a few lines stand for an exponentially large tree.
TEST(BundleTest, AliasesCannotMakeParamsOrInputsUnbounded) {
  const std::string head = "tenant: a\nversion: v\n";
  absl::Status s = Error(head + "params: &p {x: *p}\npolicies: {}\n");
  EXPECT_THAT(std::string(s.message()), HasSubstr("params nest at most 16 levels deep"));
  std::string laughs = head + "params:\n  l0: &l0 {a: 1, b: 2}\n";
  for (int i = 1; i < 40; ++i) {
    laughs += "  l" + std::to_string(i) + ": &l" + std::to_string(i) + " {a: *l" +
              std::to_string(i - 1) + ", b: *l" + std::to_string(i - 1) + "}\n";
  }
  s = Error(laughs + "policies: {}\n");
  EXPECT_THAT(std::string(s.message()), HasSubstr("params hold at most 4096 values"));

  const std::string c = "  - name: x\n    request: {kind: disconnect, input: ";
  const std::string expect = "}\n    expect: {outcome: allow}\n";
  auto t = ParseTestCases("tests:\n" + c + "&i {x: *i}" + expect, "t.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("input nests at most 32 levels deep"));
  std::string big = "tests:\n" + c + "{a: &l0 [x, y]}" + expect;
  for (int i = 1; i < 40; ++i) {
    big += c + "{a: &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) + ", *l" +
           std::to_string(i - 1) + "]}" + expect;
  }
  t = ParseTestCases(big, "t.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("hold at most 65536 values"));
}

TEST(TestCasesTest, ErrorsNameFileLineAndField) {
  auto t = ParseTestCases(
      "tests:\n  - name: x\n    request: {kind: disconnect}\n"
      "    expect: {outcome: perhaps}\n",
      "t.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), StartsWith("t.yaml:4: tests[0].expect.outcome"));
  t = ParseTestCases("tests:\n  - name: x\n    request: {kind: disconnect}\n    expect: {}\n",
                     "t.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("give at least outcome or rule"));
}

TEST(TestCasesTest, AFailingCaseSaysWhatDiffered) {
  auto tests = ParseTestCases(
      "tests:\n  - name: wrong\n    request:\n      kind: wellbeing\n      tenant_id: t\n"
      "      agent_id: a\n      input: {agent: {last_interaction_abusive: true}}\n"
      "    expect: {outcome: allow, obligations: []}\n",
      "t.yaml");
  ASSERT_TRUE(tests.ok()) << tests.status();
  std::vector<TestResult> r = RunTestCases(*DefaultBundle(), *tests);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].passed);
  EXPECT_THAT(r[0].failure, HasSubstr("outcome: expected allow, got deny"));
  EXPECT_THAT(r[0].failure, HasSubstr("obligations: expected [], got [recovery_break]"));
}

}  // namespace
}  // namespace sb::policy
