// The control protocol: parsing, and the replies CommandHandler gives against a fake cluster.
#include "embedded_broker/command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "embedded_broker/command_handler.h"
#include "embedded_broker/kafka_names.h"

namespace sb::broker {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Command Parse(const std::string& line) {
  absl::StatusOr<std::optional<Command>> c = ParseCommand(line);
  EXPECT_TRUE(c.ok()) << line << ": " << c.status();
  EXPECT_TRUE(c.ok() && c->has_value()) << line;
  return c.ok() && c->has_value() ? **c : Command{};
}

std::string ParseError(const std::string& line) {
  absl::StatusOr<std::optional<Command>> c = ParseCommand(line);
  EXPECT_FALSE(c.ok()) << line;
  return c.ok() ? "" : std::string(c.status().message());
}

TEST(EmbeddedBrokerParse, BrokerUpDownRtt) {
  Command down = Parse("broker down 2");
  EXPECT_EQ(down.kind, CommandKind::kBrokerDown);
  EXPECT_EQ(down.broker_id, 2);
  EXPECT_EQ(Parse("BROKER Up all").broker_id, kAllBrokers);
  Command rtt = Parse("  broker\trtt 1 250\r");
  EXPECT_EQ(rtt.kind, CommandKind::kBrokerRtt);
  EXPECT_EQ(rtt.broker_id, 1);
  EXPECT_EQ(rtt.rtt_ms, 250);
}

TEST(EmbeddedBrokerParse, ErrorsByNameOrNumber) {
  Command by_number = Parse("error 0 6 3");
  EXPECT_EQ(by_number.kind, CommandKind::kPushErrors);
  EXPECT_EQ(by_number.api_key, 0);
  EXPECT_EQ(by_number.error_code, 6);
  EXPECT_EQ(by_number.count, 3);
  Command by_name = Parse("error PRODUCE not_leader_for_partition");
  EXPECT_EQ(by_name.api_key, 0);
  EXPECT_EQ(by_name.error_code, 6);
  EXPECT_EQ(by_name.count, 1);
  EXPECT_EQ(Parse("error Fetch RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT 2").error_code, 7);
  EXPECT_EQ(Parse("error JoinGroup REBALANCE_IN_PROGRESS").api_key, 11);
  EXPECT_EQ(Parse("error Produce _TRANSPORT").error_code, -195);
}

TEST(EmbeddedBrokerParse, ClearLeaderAndSimpleCommands) {
  EXPECT_EQ(Parse("clear errors").clear_api, std::nullopt);
  EXPECT_EQ(Parse("clear errors Fetch").clear_api, std::optional<int16_t>(1));
  Command leader = Parse("leader sb.routing.events.v1 3 2");
  EXPECT_EQ(leader.kind, CommandKind::kSetLeader);
  EXPECT_EQ(leader.topic, "sb.routing.events.v1");
  EXPECT_EQ(leader.partition, 3);
  EXPECT_EQ(leader.broker_id, 2);
  EXPECT_EQ(Parse("leader t 0 none").broker_id, kNoLeader);
  EXPECT_EQ(Parse("partitions").kind, CommandKind::kPartitions);
  EXPECT_EQ(Parse("status").kind, CommandKind::kStatus);
  EXPECT_EQ(Parse("help").kind, CommandKind::kHelp);
  EXPECT_EQ(Parse("quit").kind, CommandKind::kQuit);
}

TEST(EmbeddedBrokerParse, BlankLinesAndCommentsAreIgnored) {
  for (const char* line : {"", "   ", "\r", "# a comment", "  # broker down 1"}) {
    absl::StatusOr<std::optional<Command>> c = ParseCommand(line);
    ASSERT_TRUE(c.ok()) << line;
    EXPECT_FALSE(c->has_value()) << line;
  }
}

TEST(EmbeddedBrokerParse, MistakesGetAReasonAndAHint) {
  EXPECT_THAT(ParseError("frobnicate"), StartsWith("UNKNOWN_COMMAND: 'frobnicate'"));
  EXPECT_THAT(ParseError("frobnicate"), HasSubstr("try help"));
  EXPECT_THAT(ParseError("broker sideways 1"), StartsWith("UNKNOWN_COMMAND"));
  EXPECT_THAT(ParseError("broker down"), StartsWith("MISSING_ARGUMENT"));
  EXPECT_THAT(ParseError("broker down 0"), StartsWith("BAD_BROKER_ID"));
  EXPECT_THAT(ParseError("broker down x"), HasSubstr("usage: broker down|up N|all"));
  EXPECT_THAT(ParseError("broker down 1 2"), StartsWith("EXTRA_ARGUMENT"));
  EXPECT_THAT(ParseError("broker rtt 1"), StartsWith("MISSING_ARGUMENT"));
  EXPECT_THAT(ParseError("broker rtt 1 -5"), StartsWith("BAD_RTT"));
  EXPECT_THAT(ParseError("broker rtt 1 9999999"), StartsWith("BAD_RTT"));
  EXPECT_THAT(ParseError("error Produce"), StartsWith("MISSING_ARGUMENT"));
  EXPECT_THAT(ParseError("error CreateTopics 6"), StartsWith("UNKNOWN_API"));
  EXPECT_THAT(ParseError("error CreateTopics 6"), HasSubstr("Produce, Fetch"));
  EXPECT_THAT(ParseError("error Produce NOT_A_CODE"), StartsWith("UNKNOWN_ERROR_CODE"));
  EXPECT_THAT(ParseError("error Produce 0"), StartsWith("NO_ERROR_CODE"));
  EXPECT_THAT(ParseError("error Produce 6 0"), StartsWith("BAD_COUNT"));
  EXPECT_THAT(ParseError("error Produce 6 many"), StartsWith("BAD_COUNT"));
  EXPECT_THAT(ParseError("clear everything"), StartsWith("UNKNOWN_COMMAND"));
  EXPECT_THAT(ParseError("leader t x 1"), StartsWith("BAD_PARTITION"));
  EXPECT_THAT(ParseError("leader t 0 all"), StartsWith("BAD_BROKER_ID"));
  EXPECT_THAT(ParseError("status now"), StartsWith("EXTRA_ARGUMENT"));
  // A huge word is not echoed back whole.
  EXPECT_LT(ParseError(std::string(10000, 'z')).size(), 200u);
}

TEST(EmbeddedBrokerKafkaNames, RoundTrip) {
  EXPECT_EQ(ApiKeyToName(0), "Produce");
  EXPECT_EQ(ApiKeyToName(28), "TxnOffsetCommit");
  EXPECT_EQ(ApiKeyToName(19), "ApiKey19");
  EXPECT_EQ(ErrorCodeToName(6), "NOT_LEADER_FOR_PARTITION");
  for (const ApiKeyName& api : MockApiKeys()) {
    absl::StatusOr<int16_t> key = ParseApiKey(api.name);
    ASSERT_TRUE(key.ok()) << api.name;
    EXPECT_EQ(*key, api.key);
  }
}

// A ClusterControl that records calls and can be told to refuse.
class FakeCluster : public ClusterControl {
 public:
  int broker_count() const override { return 3; }
  absl::Status SetBrokerDown(int32_t id) override { return Record("down " + std::to_string(id)); }
  absl::Status SetBrokerUp(int32_t id) override { return Record("up " + std::to_string(id)); }
  absl::Status SetBrokerRtt(int32_t id, int ms) override {
    return Record("rtt " + std::to_string(id) + " " + std::to_string(ms));
  }
  absl::Status PushRequestErrors(int16_t api, int code, int count) override {
    return Record("push " + std::to_string(api) + " " + std::to_string(code) + " " +
                  std::to_string(count));
  }
  absl::Status ClearRequestErrors(std::optional<int16_t> api) override {
    return Record("clear " + (api ? std::to_string(*api) : std::string("all")));
  }
  absl::Status SetPartitionLeader(const std::string& topic, int32_t partition,
                                  int32_t broker) override {
    return Record("leader " + topic + " " + std::to_string(partition) + " " +
                  std::to_string(broker));
  }
  ClusterStatus Status() const override {
    ClusterStatus s;
    s.bootstrap = "127.0.0.1:1";
    s.brokers = {{1, true, 0}, {2, false, 0}, {3, true, 250}};
    s.topics = {{"a.v1", 4}, {"b.v1", 4}};
    s.pushed_errors = {{0, 3}};
    return s;
  }

  std::vector<std::string> calls;
  absl::Status refuse = absl::OkStatus();

 private:
  absl::Status Record(std::string call) {
    calls.push_back(std::move(call));
    return refuse;
  }
};

TEST(EmbeddedBrokerHandler, RunsCommandsAndRepliesOk) {
  FakeCluster cluster;
  CommandHandler handler(&cluster);
  EXPECT_EQ(handler.Handle("broker down 2").text, "ok broker 2 down");
  EXPECT_EQ(handler.Handle("broker up all").text, "ok all brokers up");
  EXPECT_EQ(handler.Handle("broker rtt 1 40").text, "ok broker 1 rtt 40ms");
  EXPECT_EQ(handler.Handle("error Produce 6 3").text,
            "ok next 3 Produce request(s) fail with NOT_LEADER_FOR_PARTITION (6)");
  EXPECT_EQ(handler.Handle("clear errors").text, "ok cleared injected errors of every request");
  EXPECT_EQ(handler.Handle("leader a.v1 1 none").text, "ok a.v1 partition 1 leader none");
  EXPECT_EQ(cluster.calls, (std::vector<std::string>{"down 2", "up -1", "rtt 1 40", "push 0 6 3",
                                                     "clear all", "leader a.v1 1 -1"}));
}

TEST(EmbeddedBrokerHandler, InspectionCommands) {
  FakeCluster cluster;
  CommandHandler handler(&cluster);
  EXPECT_EQ(handler.Handle("partitions").text, "ok a.v1=4 b.v1=4");
  EXPECT_EQ(handler.Handle("status").text,
            "ok bootstrap=127.0.0.1:1 brokers=1:up,2:down,3:up:rtt=250ms topics=2 partitions=4 "
            "errors_pushed=Produce:3");
  EXPECT_THAT(handler.Handle("help").text, StartsWith("ok commands: broker down"));
  CommandHandler with_app(&cluster, [] { return std::string("stdin=open"); });
  EXPECT_THAT(with_app.Handle("status").text, ::testing::EndsWith(" stdin=open"));
  CommandReply quit = handler.Handle("quit");
  EXPECT_EQ(quit.text, "ok bye");
  EXPECT_TRUE(quit.quit);
  EXPECT_TRUE(cluster.calls.empty());
}

TEST(EmbeddedBrokerHandler, ErrorsAreOneLineWithReason) {
  FakeCluster cluster;
  CommandHandler handler(&cluster);
  EXPECT_THAT(handler.Handle("nonsense").text, StartsWith("error UNKNOWN_COMMAND: "));
  cluster.refuse = absl::InvalidArgumentError("NO_SUCH_BROKER: broker 9 does not exist");
  EXPECT_EQ(handler.Handle("broker down 9").text, "error NO_SUCH_BROKER: broker 9 does not exist");
  for (const char* line : {"nonsense", "broker down 9", "error Produce 0"}) {
    EXPECT_EQ(handler.Handle(line).text.find('\n'), std::string::npos) << line;
    EXPECT_FALSE(handler.Handle(line).quit);
  }
  EXPECT_EQ(handler.Handle("# note").text, "");
}

}  // namespace
}  // namespace sb::broker
