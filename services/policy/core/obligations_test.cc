#include "policy/core/obligations.h"

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "policy/core/evaluator.h"

namespace sb::policy {
namespace {

v1::PolicyDecision Decided(const std::string& kind, const std::string& input_json) {
  v1::EvaluateRequest r;
  r.set_tenant_id("acme");
  r.set_kind(kind);
  r.set_agent_id("a1");
  r.set_interaction_id("call-1");
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(input_json, r.mutable_input()).ok());
  auto d = Decide(*DefaultBundle(), r);
  EXPECT_TRUE(d.ok()) << d.status();
  d->set_decision_id("dec-1");
  return *d;
}

TEST(ObligationsTest, AnAllowedDisconnectEndsTheCallThenStartsTheBreak) {
  auto commands = RoutingCommandsFor(Decided(
      "disconnect",
      R"({"request":{"category":"racial_slur"},"interaction":{"warnings":["racial_slur"]}})"));
  ASSERT_EQ(commands.size(), 2u);  // create_review is for the recording service
  EXPECT_EQ(commands[0].command_id(), "dec-1/1");
  EXPECT_EQ(commands[0].tenant_id(), "acme");
  ASSERT_TRUE(commands[0].has_agent_disconnect());
  EXPECT_EQ(commands[0].agent_disconnect().agent_id(), "a1");
  EXPECT_EQ(commands[0].agent_disconnect().interaction_id(), "call-1");
  EXPECT_EQ(commands[0].agent_disconnect().category(), "racial_slur");
  EXPECT_EQ(commands[0].agent_disconnect().policy_decision_id(), "dec-1");
  EXPECT_EQ(commands[1].command_id(), "dec-1/2");
  ASSERT_TRUE(commands[1].has_start_recovery_break());
  EXPECT_EQ(commands[1].start_recovery_break().duration().seconds(), 600);
}

TEST(ObligationsTest, AnEscalationEscalatesWithTheRuleAsReason) {
  auto commands = RoutingCommandsFor(
      Decided("escalation", R"({"request":{"reason":"caller_requested_manager"}})"));
  ASSERT_EQ(commands.size(), 1u);
  ASSERT_TRUE(commands[0].has_escalate());
  EXPECT_EQ(commands[0].escalate().reason(), "policy:escalation.caller-asked-for-manager");
  EXPECT_EQ(commands[0].escalate().priority_boost(), 50);
  EXPECT_FALSE(commands[0].escalate().cold());
}

TEST(ObligationsTest, DeniedDisconnectsApprovalsAndDryRunsSendNothing) {
  EXPECT_TRUE(RoutingCommandsFor(Decided("disconnect", R"({"request":{"category":"racial_slur"}})"))
                  .empty());
  EXPECT_TRUE(
      RoutingCommandsFor(Decided("authority", R"({"request":{"action":"credit","amount":900},
                                                         "agent":{"tier":"tier1"}})"))
          .empty());
  v1::PolicyDecision d = Decided("wellbeing", R"({"agent":{"last_interaction_abusive":true}})");
  EXPECT_EQ(RoutingCommandsFor(d).size(), 1u);
  d.set_dry_run(true);
  EXPECT_TRUE(RoutingCommandsFor(d).empty());
}

}  // namespace
}  // namespace sb::policy
