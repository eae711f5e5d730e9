#include "switchboard/render.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sb::cli {
namespace {

using ::testing::HasSubstr;

TEST(RenderTable, AlignsColumnsAndRightAlignsNumbers) {
  EXPECT_EQ(RenderTable({"QUEUE", "WAITING", "NAME"},
                        {{"billing", "12", "Billing"}, {"support-es", "3", "Soporte"}}),
            "QUEUE       WAITING  NAME\n"
            "billing          12  Billing\n"
            "support-es        3  Soporte\n");
}

TEST(RenderTable, HeaderOnlyWhenNoRows) { EXPECT_EQ(RenderTable({"A", "B"}, {}), "A  B\n"); }

v1::AgentState Agent(const std::string& id, v1::Presence presence) {
  v1::AgentState a;
  a.mutable_profile()->set_agent_id(id);
  a.set_presence(presence);
  return a;
}

TEST(Occupancy, DefaultCapacityIsOneVoiceCall) {
  v1::AgentState a = Agent("ann", v1::PRESENCE_AVAILABLE);
  EXPECT_EQ(Occupancy(a), "voice 0/1");
  v1::LegState* leg = a.add_legs();
  leg->set_channel(v1::CHANNEL_VOICE);
  EXPECT_EQ(Occupancy(a), "voice 1/1");
}

TEST(Occupancy, ListsEveryChannelWithCapacityOrUse) {
  v1::AgentState a = Agent("bob", v1::PRESENCE_AVAILABLE);
  v1::ChannelCapacity* chat = a.mutable_profile()->add_capacity();
  chat->set_channel(v1::CHANNEL_CHAT);
  chat->set_capacity(3);
  a.add_legs()->set_channel(v1::CHANNEL_CHAT);
  a.add_legs()->set_channel(v1::CHANNEL_CHAT);
  EXPECT_EQ(Occupancy(a), "chat 2/3");
}

TEST(SummarizeQueues, CountsMembersByMembershipAndStateByAgent) {
  v1::ListQueuesResponse queues;
  v1::QueueState* billing = queues.add_queues();
  billing->mutable_config()->set_queue_id("billing");
  billing->mutable_config()->set_channel(v1::CHANNEL_VOICE);
  billing->mutable_config()->set_strategy(v1::STRATEGY_LONGEST_IDLE);
  billing->mutable_config()->set_membership("skills.billing >= 1");
  billing->set_handled(4);
  billing->set_aht_ms(90000);

  v1::ListAgentsResponse agents;
  v1::AgentState* ann = agents.add_agents();
  *ann = Agent("ann", v1::PRESENCE_AVAILABLE);
  v1::Skill* skill = ann->mutable_profile()->add_skills();
  skill->set_name("billing");
  skill->set_proficiency(3);
  v1::AgentState* bob = agents.add_agents();
  *bob = Agent("bob", v1::PRESENCE_AVAILABLE);
  *bob->mutable_profile()->add_skills() = *skill;
  v1::LegState* leg = bob->add_legs();
  leg->set_channel(v1::CHANNEL_VOICE);
  leg->set_phase(v1::LEG_PHASE_CONNECTED);
  leg->set_queue_id("billing");
  *agents.add_agents() = Agent("carl", v1::PRESENCE_OFFLINE);  // no billing skill

  (*queues.mutable_waiting())["billing"] = 3;
  std::vector<QueueSummary> s = SummarizeQueues(queues, agents);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].waiting, 3);
  EXPECT_EQ(s[0].members, 2);
  EXPECT_EQ(s[0].logged_in, 2);
  EXPECT_EQ(s[0].available, 1);  // bob's one voice slot is taken
  EXPECT_EQ(s[0].connected, 1);
  EXPECT_EQ(s[0].handled, 4);
  const std::string table = QueuesTable(s);
  EXPECT_THAT(table, HasSubstr("billing"));
  EXPECT_THAT(table, HasSubstr("1m30s"));
}

TEST(AgentsTable, ShowsPresenceReasonAndInteractions) {
  v1::ListAgentsResponse agents;
  v1::AgentState* ann = agents.add_agents();
  *ann = Agent("ann", v1::PRESENCE_AUX);
  ann->set_reason("lunch");
  v1::AgentState* bob = agents.add_agents();
  *bob = Agent("bob", v1::PRESENCE_AVAILABLE);
  v1::LegState* leg = bob->add_legs();
  leg->set_interaction_id("call-1");
  leg->set_channel(v1::CHANNEL_VOICE);
  leg->set_phase(v1::LEG_PHASE_OFFERED);
  leg->set_queue_id("sales");
  const std::string table = AgentsTable(agents);
  EXPECT_THAT(table, HasSubstr("aux:lunch"));
  EXPECT_THAT(table, HasSubstr("call-1 offered (sales)"));
  EXPECT_THAT(table, HasSubstr("voice 1/1"));
}

TEST(FormatEvent, OneReadableLinePerKind) {
  v1::RoutingEvent queued;
  queued.mutable_interaction_queued()->set_interaction_id("call-1");
  queued.mutable_interaction_queued()->set_queue_id("billing");
  queued.mutable_interaction_queued()->set_position(2);
  queued.mutable_interaction_queued()->mutable_estimated_wait()->set_seconds(30);
  queued.mutable_interaction_queued()->set_cause("enqueued");
  EXPECT_EQ(FormatEvent(queued),
            "queued          queue=billing position=2 est_wait=30s cause=enqueued");
  EXPECT_EQ(EventKind(queued), "queued");

  v1::RoutingEvent offer;
  offer.mutable_offer_created()->set_agent_id("ann");
  offer.mutable_offer_created()->set_offer_id("o-1");
  offer.mutable_offer_created()->set_queue_id("billing");
  offer.mutable_offer_created()->mutable_explanation()->set_strategy(v1::STRATEGY_MOST_SKILLED);
  EXPECT_THAT(FormatEvent(offer), HasSubstr("agent=ann offer=o-1 queue=billing"));
  EXPECT_THAT(FormatEvent(offer), HasSubstr("most_skilled"));

  v1::RoutingEvent ended;
  ended.mutable_interaction_ended()->set_reason(v1::END_REASON_ABANDONED);
  ended.mutable_interaction_ended()->set_queue_id("billing");
  EXPECT_THAT(FormatEvent(ended), HasSubstr("ended           reason=abandoned queue=billing"));

  v1::RoutingEvent warned;
  warned.mutable_caller_warned()->set_interaction_id("call-1");
  warned.mutable_caller_warned()->set_agent_id("ann");
  warned.mutable_caller_warned()->set_category("racial_slur");
  warned.mutable_caller_warned()->set_warnings(2);
  EXPECT_EQ(EventKind(warned), "caller_warned");
  EXPECT_EQ(FormatEvent(warned), "caller_warned   agent=ann category=racial_slur warnings=2");

  v1::RoutingEvent verification;
  auto* v = verification.mutable_verification_recorded();
  v->set_interaction_id("call-1");
  v->set_agent_id("ann");
  v->set_factor("postcode");
  v->set_passed(true);
  v->add_factors_passed("date_of_birth");
  v->add_factors_passed("postcode");
  v->set_failed_attempts(1);
  EXPECT_EQ(EventKind(verification), "verification");
  EXPECT_EQ(FormatEvent(verification),
            "verification    agent=ann factor=postcode passed=true "
            "factors_passed=date_of_birth,postcode failed_attempts=1 verified=false");
  // The policy service's verdict, without a factor.
  v1::RoutingEvent verdict;
  verdict.mutable_verification_recorded()->set_agent_id("ann");
  verdict.mutable_verification_recorded()->set_verified(true);
  EXPECT_EQ(FormatEvent(verdict),
            "verification    agent=ann factors_passed=- failed_attempts=0 verified=true");
}

TEST(JsonString, QuotesAndEscapes) {
  EXPECT_EQ(JsonString("billing"), "\"billing\"");
  EXPECT_EQ(JsonString("say \"hi\"\\now"), "\"say \\\"hi\\\"\\\\now\"");
  EXPECT_EQ(JsonString("a\nb\tc"), "\"a\\nb\\u0009c\"");
  EXPECT_EQ(JsonString("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

}  // namespace
}  // namespace sb::cli
