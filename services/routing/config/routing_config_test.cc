#include "routing/config/routing_config.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "routing/config/duration.h"
#include "routing/engine/engine.h"

namespace sb::routing::config {
namespace {

using ::testing::HasSubstr;

constexpr char kFull[] = R"(# A small center.
queues:
  - id: billing
    name: Billing
    channel: voice
    priority: 10
    strategy: most_skilled
    skill: billing
    membership: 'skills.billing >= 1'
    steps:
      - {after: 0s, requirement: 'skills.billing >= 4'}
      - {after: 30s, requirement: 'skills.billing >= 2'}
    service_level: {target: 0.8, threshold: 20s}
    offer_timeout: 12s
    wrap_up: 30s
    max_size: 200
    overflow: {after: 5m, action: queue, queue: billing-overflow}
    aging_per_minute: 2
    escalation_queue: supervisors
  - id: billing-overflow
    strategy: longest_idle
    overflow: {after: 10m, action: voicemail}
  - id: supervisors
    membership: supervisor
  - id: chat
    channel: chat
    strategy: fewest_interactions
agents:
  - id: alice
    name: Alice
    skills: {billing: 4, spanish: 3}
    attributes: {language: [es, en], site: lisbon}
    team: red
    capacity: {voice: 1, chat: 3}
  - id: sam
    supervisor: true
    team: red
  - count: 12
    id_prefix: agent-
    skills: {billing: 2}
)";

RoutingConfig MustParse(const std::string& text) {
  absl::StatusOr<RoutingConfig> c = ParseRoutingConfig(text, "queues.yaml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : RoutingConfig{};
}

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<RoutingConfig> c = ParseRoutingConfig(text, "queues.yaml");
  EXPECT_FALSE(c.ok()) << "expected an error for:\n" << text;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

TEST(DurationTest, ParsesAndFormats) {
  EXPECT_EQ(*ParseDurationMs("500ms"), 500);
  EXPECT_EQ(*ParseDurationMs("20s"), 20000);
  EXPECT_EQ(*ParseDurationMs("2m"), 120000);
  EXPECT_EQ(*ParseDurationMs("1h30m"), 5400000);
  EXPECT_EQ(*ParseDurationMs("1.5s"), 1500);
  EXPECT_EQ(*ParseDurationMs("1d"), 86400000);
  EXPECT_EQ(*ParseDurationMs("0"), 0);
  EXPECT_FALSE(ParseDurationMs("20").ok());
  EXPECT_FALSE(ParseDurationMs("-5s").ok());
  EXPECT_FALSE(ParseDurationMs("5 s").ok());
  EXPECT_FALSE(ParseDurationMs("5y").ok());
  EXPECT_FALSE(ParseDurationMs("").ok());
  EXPECT_FALSE(ParseDurationMs("1..5s").ok());
  EXPECT_EQ(FormatDurationMs(0), "0s");
  EXPECT_EQ(FormatDurationMs(500), "500ms");
  EXPECT_EQ(FormatDurationMs(5400000), "1h30m");
  EXPECT_EQ(FormatDurationMs(3600000 + 5000), "1h5s");
  for (int64_t ms : {1, 999, 1000, 61001, 86400000, 7322500}) {
    EXPECT_EQ(*ParseDurationMs(FormatDurationMs(ms)), ms) << ms;
  }
}

TEST(RoutingConfigTest, ParsesEveryField) {
  RoutingConfig c = MustParse(kFull);
  ASSERT_EQ(c.queues.size(), 4u);
  const v1::Queue& q = c.queues[0];
  EXPECT_EQ(q.queue_id(), "billing");
  EXPECT_EQ(q.name(), "Billing");
  EXPECT_EQ(q.channel(), v1::CHANNEL_VOICE);
  EXPECT_EQ(q.priority(), 10);
  EXPECT_EQ(q.strategy(), v1::STRATEGY_MOST_SKILLED);
  EXPECT_EQ(q.skill(), "billing");
  EXPECT_EQ(q.membership(), "skills.billing >= 1");
  ASSERT_EQ(q.steps_size(), 2);
  EXPECT_EQ(q.steps(1).after().seconds(), 30);
  EXPECT_EQ(q.steps(1).requirement(), "skills.billing >= 2");
  EXPECT_DOUBLE_EQ(q.service_level().target(), 0.8);
  EXPECT_EQ(q.service_level().threshold().seconds(), 20);
  EXPECT_EQ(q.offer_timeout().seconds(), 12);
  EXPECT_EQ(q.wrap_up().seconds(), 30);
  EXPECT_EQ(q.max_size(), 200);
  EXPECT_EQ(q.max_wait().seconds(), 300);
  EXPECT_EQ(q.overflow_action(), v1::OVERFLOW_ACTION_QUEUE);
  EXPECT_EQ(q.overflow_queue(), "billing-overflow");
  EXPECT_EQ(q.aging_per_minute(), 2);
  EXPECT_EQ(q.escalation_queue(), "supervisors");
  // Defaults.
  EXPECT_EQ(c.queues[2].channel(), v1::CHANNEL_VOICE);
  EXPECT_EQ(c.queues[2].strategy(), v1::STRATEGY_LONGEST_IDLE);
  EXPECT_EQ(c.queues[1].overflow_action(), v1::OVERFLOW_ACTION_VOICEMAIL);
  EXPECT_EQ(c.queues[3].channel(), v1::CHANNEL_CHAT);

  ASSERT_EQ(c.agents.size(), 14u);
  const v1::AgentProfile& a = c.agents[0];
  EXPECT_EQ(a.agent_id(), "alice");
  ASSERT_EQ(a.skills_size(), 2);
  EXPECT_EQ(a.skills(0).name(), "billing");
  EXPECT_EQ(a.skills(0).proficiency(), 4);
  EXPECT_EQ(a.attributes().at("language"), "es,en");
  EXPECT_EQ(a.attributes().at("site"), "lisbon");
  EXPECT_EQ(a.team(), "red");
  ASSERT_EQ(a.capacity_size(), 2);
  EXPECT_EQ(a.capacity(1).channel(), v1::CHANNEL_CHAT);
  EXPECT_EQ(a.capacity(1).capacity(), 3);
  EXPECT_TRUE(c.agents[1].supervisor());
  EXPECT_EQ(c.agents[2].agent_id(), "agent-001");
  EXPECT_EQ(c.agents[13].agent_id(), "agent-012");
  EXPECT_EQ(c.agents[13].skills(0).proficiency(), 2);
  EXPECT_EQ(c.agent_sources[13].path, "agents[2] (agent-012)");
  EXPECT_EQ(c.queue_sources[1].where, "queues.yaml:20");
}

TEST(RoutingConfigTest, BulkIdsWidenForLargeCounts) {
  RoutingConfig c = MustParse("agents:\n  - {count: 1200, id_prefix: a}\n");
  ASSERT_EQ(c.agents.size(), 1200u);
  EXPECT_EQ(c.agents[0].agent_id(), "a0001");
  EXPECT_EQ(c.agents[1199].agent_id(), "a1200");
}

TEST(RoutingConfigTest, EmptyListsAreFine) {
  RoutingConfig c = MustParse("queues: []\nagents: []\n");
  EXPECT_TRUE(c.queues.empty());
  EXPECT_TRUE(c.agents.empty());
}

TEST(RoutingConfigTest, RendersBackToTheSameMessages) {
  RoutingConfig c = MustParse(kFull);
  const std::string yaml = RoutingConfigToYaml(c);
  RoutingConfig again = MustParse(yaml);
  ASSERT_EQ(again.queues.size(), c.queues.size()) << yaml;
  ASSERT_EQ(again.agents.size(), c.agents.size()) << yaml;
  for (size_t i = 0; i < c.queues.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(c.queues[i], again.queues[i]))
        << QueueToYaml(c.queues[i]) << "---\n"
        << QueueToYaml(again.queues[i]);
  }
  for (size_t i = 0; i < c.agents.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(c.agents[i], again.agents[i]))
        << AgentToYaml(c.agents[i]);
  }
}

TEST(RoutingConfigTest, RendersTrickyStrings) {
  RoutingConfig c;
  v1::Queue& q = c.queues.emplace_back();
  q.set_queue_id("vip");
  q.set_name("VIP: 'gold' & \"platinum\" # not a comment");
  q.set_channel(v1::CHANNEL_VOICE);
  q.set_strategy(v1::STRATEGY_LONGEST_IDLE);
  q.set_membership("language == \"es\" && name != \"o'brien\"");
  v1::ExpansionStep* step = q.add_steps();
  step->mutable_after()->set_seconds(0);
  step->set_requirement("skills.billing >= 2 || team == \"x: y\"");
  v1::AgentProfile& a = c.agents.emplace_back();
  a.set_agent_id("007");
  (*a.mutable_attributes())["zip"] = "01234";
  (*a.mutable_attributes())["note"] = "true";
  RoutingConfig again = MustParse(RoutingConfigToYaml(c));
  ASSERT_EQ(again.queues.size(), 1u) << RoutingConfigToYaml(c);
  EXPECT_EQ(q.DebugString(), again.queues[0].DebugString());
  ASSERT_EQ(again.agents.size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(a, again.agents[0]))
      << RoutingConfigToYaml(c);
}

TEST(RoutingConfigTest, CommandsAreAcceptedByTheEngine) {
  // billing -> overflow -> billing: a cycle of references is fine.
  RoutingConfig c = MustParse(std::string(kFull) + "");
  c.queues[1].set_overflow_action(v1::OVERFLOW_ACTION_QUEUE);
  c.queues[1].set_overflow_queue("billing");
  std::vector<SourceRef> sources;
  std::vector<v1::RoutingCommand> commands = ConfigCommands(c, &sources);
  ASSERT_EQ(commands.size(), sources.size());
  routing::Engine engine("t");
  int n = 0;
  for (v1::RoutingCommand& cmd : commands) {
    cmd.set_command_id(absl::StrCat("c", ++n));
    cmd.mutable_time()->set_seconds(1000);
    std::vector<v1::RoutingEvent> events;
    engine.Apply(cmd, &events);
    for (const v1::RoutingEvent& e : events) {
      EXPECT_FALSE(e.has_command_rejected())
          << sources[static_cast<size_t>(n - 1)].path << ": " << e.command_rejected().message();
    }
  }
  std::optional<v1::QueueState> billing = engine.GetQueue("billing");
  ASSERT_TRUE(billing.has_value());
  EXPECT_EQ(billing->config().overflow_queue(), "billing-overflow");
  EXPECT_EQ(engine.GetQueue("billing-overflow")->config().overflow_queue(), "billing");
}

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string expected;  // a substring of the message
};

class RoutingConfigErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(RoutingConfigErrorTest, NamesFileLineAndField) {
  EXPECT_THAT(ErrorOf(GetParam().yaml), HasSubstr(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, RoutingConfigErrorTest,
    ::testing::Values(
        ErrorCase{"UnknownStrategy", "queues:\n  - id: a\n  - id: b\n    strategy: fastest\n",
                  "queues.yaml:4: queues[1].strategy: unknown value 'fastest' (expected one of "
                  "longest_idle, most_skilled, least_occupied, fewest_interactions, "
                  "round_robin)"},
        ErrorCase{"UppercaseEnumHint", "queues:\n  - {id: a, channel: VOICE}\n",
                  "values are lowercase: 'voice'"},
        ErrorCase{"UnknownTopKey", "queues: []\nagnets: []\n",
                  "queues.yaml:2: agnets: unknown key 'agnets'; did you mean 'agents'?"},
        ErrorCase{"UnknownQueueKey", "queues:\n  - id: a\n    stratgy: round_robin\n",
                  "queues.yaml:3: queues[0].stratgy: unknown key 'stratgy'; did you mean "
                  "'strategy'?"},
        ErrorCase{"RepeatedKey", "queues:\n  - id: a\n    id: b\n",
                  "queues.yaml:3: queues[0].id: key repeated"},
        ErrorCase{"MissingId", "queues:\n  - name: x\n",
                  "queues.yaml:2: queues[0]: missing required key 'id'"},
        ErrorCase{"DuplicateQueue", "queues:\n  - id: a\n  - id: a\n",
                  "queues.yaml:3: queues[1].id: queue 'a' is already declared at queues.yaml:2"},
        ErrorCase{"BadDuration", "queues:\n  - id: a\n    wrap_up: 30\n",
                  "queues.yaml:3: queues[0].wrap_up: bad duration '30': a number needs a unit"},
        ErrorCase{"BadDurationUnit", "queues:\n  - id: a\n    wrap_up: 30sec\n",
                  "unknown unit 'sec'"},
        ErrorCase{"PriorityRange", "queues:\n  - {id: a, priority: 101}\n",
                  "queues[0].priority: 101 is out of range (0..100)"},
        ErrorCase{"PriorityNotInt", "queues:\n  - {id: a, priority: high}\n",
                  "queues[0].priority: 'high' is not an integer"},
        ErrorCase{"MostSkilledNeedsSkill", "queues:\n  - {id: a, strategy: most_skilled}\n",
                  "queues[0].skill: strategy most_skilled needs `skill`"},
        ErrorCase{"BadMembership", "queues:\n  - id: a\n    membership: 'skills.x >='\n",
                  "queues.yaml:3: queues[0].membership: bad expression"},
        ErrorCase{"StepsNotStartingAtZero",
                  "queues:\n  - id: a\n    steps:\n      - {after: 10s}\n",
                  "queues.yaml:4: queues[0].steps[0].after: the first step must start at 0s"},
        ErrorCase{"StepsNotIncreasing",
                  "queues:\n  - id: a\n    steps:\n      - {after: 0s}\n      - {after: 0s}\n",
                  "queues[0].steps[1].after: steps must be listed by increasing"},
        ErrorCase{"StepMissingAfter", "queues:\n  - id: a\n    steps:\n      - {requirement: x}\n",
                  "queues[0].steps[0]: missing required key 'after'"},
        ErrorCase{"StepsNotAList", "queues:\n  - id: a\n    steps: {after: 0s}\n",
                  "queues[0].steps: expected a list, found a map"},
        ErrorCase{"ServiceLevelTarget",
                  "queues:\n  - id: a\n    service_level: {target: 80, threshold: 20s}\n",
                  "queues[0].service_level.target: 80 is out of range (0..1)"},
        ErrorCase{"ServiceLevelThresholdMissing",
                  "queues:\n  - id: a\n    service_level: {target: 0.8}\n",
                  "queues[0].service_level: missing required key 'threshold'"},
        ErrorCase{"OverflowQueueMissing",
                  "queues:\n  - id: a\n    overflow: {after: 5m, action: queue}\n",
                  "queues[0].overflow.queue: action queue needs `queue`"},
        ErrorCase{"OverflowQueueWithOtherAction",
                  "queues:\n  - {id: a}\n  - id: b\n    overflow: {action: voicemail, queue: a}\n",
                  "queues[1].overflow.queue: only with action queue (action is voicemail)"},
        ErrorCase{"OverflowUnknownQueue",
                  "queues:\n  - id: a\n    overflow: {after: 1m, queue: nowhere}\n",
                  "queues.yaml:3: queues[0].overflow.queue: no queue 'nowhere' in this file"},
        ErrorCase{"OverflowIntoItself", "queues:\n  - id: a\n    overflow: {queue: a}\n",
                  "cannot overflow into itself"},
        ErrorCase{"UnknownEscalationQueue", "queues:\n  - {id: a, escalation_queue: sup}\n",
                  "queues[0].escalation_queue: no queue 'sup' in this file"},
        ErrorCase{"QueuesNotAList", "queues:\n  id: a\n", "queues: expected a list, found a map"},
        ErrorCase{"AgentNoId", "agents:\n  - name: x\n",
                  "queues.yaml:2: agents[0]: missing required key 'id' (or `count`"},
        ErrorCase{"AgentIdAndCount", "agents:\n  - {id: x, count: 3, id_prefix: a}\n",
                  "agents[0].id: give either `id` or `count` with `id_prefix`, not both"},
        ErrorCase{"CountWithoutPrefix", "agents:\n  - {count: 3}\n",
                  "agents[0].id_prefix: `count` needs `id_prefix`"},
        ErrorCase{"CountZero", "agents:\n  - {count: 0, id_prefix: a}\n",
                  "agents[0].count: 0 is out of range (1..100000)"},
        ErrorCase{"SkillRange", "agents:\n  - id: x\n    skills: {billing: 7}\n",
                  "queues.yaml:3: agents[0].skills.billing: 7 is out of range (1..5)"},
        ErrorCase{"SkillsNotAMap", "agents:\n  - id: x\n    skills: [billing]\n",
                  "agents[0].skills: expected a map, found a list"},
        ErrorCase{"CapacityChannel", "agents:\n  - id: x\n    capacity: {phone: 1}\n",
                  "agents[0].capacity.phone: unknown channel 'phone' (expected one of voice"},
        ErrorCase{"CapacityRange", "agents:\n  - id: x\n    capacity: {chat: 40}\n",
                  "agents[0].capacity.chat: 40 is out of range (0..32)"},
        ErrorCase{"CapacityEmpty", "agents:\n  - id: x\n    capacity: {}\n",
                  "agents[0].capacity: empty"},
        ErrorCase{"SupervisorNotBool", "agents:\n  - {id: x, supervisor: maybe}\n",
                  "agents[0].supervisor: 'maybe' is not a boolean"},
        ErrorCase{"DuplicateAgentFromBulk",
                  "agents:\n  - id: agent-002\n  - {count: 3, id_prefix: agent-}\n",
                  "queues.yaml:3: agents[1] (agent-002): agent 'agent-002' is already declared "
                  "at queues.yaml:2"},
        ErrorCase{"UnknownAgentKey", "agents:\n  - {id: x, skils: {a: 1}}\n",
                  "agents[0].skils: unknown key 'skils'; did you mean 'skills'?"},
        ErrorCase{"NameNotScalar", "queues:\n  - id: a\n    name: [x]\n",
                  "queues[0].name: expected a string, found a list"},
        ErrorCase{"MissingValue", "queues:\n  - id:\n",
                  "queues[0].id: missing value (expected a string)"},
        ErrorCase{"Syntax", "queues:\n  - id: a\n   bad: [\n", "queues.yaml:"},
        ErrorCase{"EmptyDocument", "", "empty: expected `queues:` and `agents:`"},
        ErrorCase{"TopLevelList", "- a\n", "expected a map, found a list"}),
    [](const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; });

TEST(RoutingConfigTest, LoadNamesMissingFile) {
  absl::StatusOr<RoutingConfig> c = LoadRoutingConfig("/nonexistent/queues.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("/nonexistent/queues.yaml"));
}

}  // namespace
}  // namespace sb::routing::config
