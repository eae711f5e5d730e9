// Integration tests of the routing client library against a real sb-embedded-broker process.
#include "routing/client/routing_client.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/kafka/test_broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sb::routing {
namespace {

using kafka_io::testing::TestBroker;
using ::testing::HasSubstr;

kafka_io::KafkaConfig ConfigFor(const TestBroker& broker) {
  kafka_io::KafkaConfig c;
  c.bootstrap_servers = broker.bootstrap();
  c.overrides = {{"reconnect.backoff.ms", "50"}, {"reconnect.backoff.max.ms", "500"}};
  return c;
}

std::unique_ptr<RoutingClient> MakeClient(const TestBroker& broker,
                                          std::chrono::milliseconds timeout) {
  RoutingClientOptions o;
  o.kafka = ConfigFor(broker);
  o.send_timeout = timeout;
  auto client = RoutingClient::Create(o);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

v1::RoutingCommand Login(const std::string& tenant, const std::string& agent) {
  v1::RoutingCommand c;
  c.set_tenant_id(tenant);
  c.mutable_login()->set_agent_id(agent);
  return c;
}

TEST(RoutingClientTest, SendsToTheTenantsPartitionWithIdAndTime) {
  auto broker = TestBroker::Start(4);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto client = MakeClient(**broker, std::chrono::seconds(10));
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->partition_count(), 4);

  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    const std::string tenant = absl::StrCat("tenant-", i);
    absl::StatusOr<SentCommand> sent = client->Send(Login(tenant, "a1"));
    ASSERT_TRUE(sent.ok()) << sent.status();
    EXPECT_EQ(sent->partition, client->PartitionFor(tenant));
    EXPECT_EQ(sent->command_id.size(), 32u);
    ids.insert(sent->command_id);

    auto records = kafka_io::ReadPartition(ConfigFor(**broker), kCommandsTopic, sent->partition,
                                           sent->offset, std::chrono::seconds(10));
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_FALSE(records->empty());
    v1::RoutingCommand read;
    ASSERT_TRUE(read.ParseFromString(records->front().value));
    EXPECT_EQ(records->front().key, tenant);
    EXPECT_EQ(read.command_id(), sent->command_id);
    EXPECT_TRUE(read.has_time());
    EXPECT_EQ(read.login().agent_id(), "a1");
  }
  EXPECT_EQ(ids.size(), 20u) << "command ids must be fresh";
}

TEST(RoutingClientTest, PartitionerAgreesWithKafkasMurmur2) {
  auto broker = TestBroker::Start(6);
  ASSERT_TRUE(broker.ok()) << broker.status();
  kafka_io::ProducerOptions po;
  po.kafka = ConfigFor(**broker);
  po.kafka.overrides.emplace_back("partitioner", "murmur2");
  auto producer = kafka_io::Producer::Create(po);
  ASSERT_TRUE(producer.ok()) << producer.status();
  for (int i = 0; i < 40; ++i) {
    const std::string key = absl::StrCat("acme-", i * 7919);
    auto pos = (*producer)->Produce(kEventsTopic, key, "x");
    ASSERT_TRUE(pos.ok()) << pos.status();
    EXPECT_EQ(pos->partition, PartitionForTenant(key, 6)) << key;
  }
}

TEST(RoutingClientTest, KeepsAGivenCommandIdAndRejectsIncompleteCommands) {
  auto broker = TestBroker::Start(2);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto client = MakeClient(**broker, std::chrono::seconds(10));
  ASSERT_NE(client, nullptr);
  v1::RoutingCommand c = Login("acme", "a1");
  c.set_command_id("my-id");
  auto sent = client->Send(c);
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_EQ(sent->command_id, "my-id");

  auto no_tenant = client->Send(Login("", "a1"));
  EXPECT_EQ(no_tenant.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_tenant.status().message(), HasSubstr("MISSING_TENANT"));
  v1::RoutingCommand empty;
  empty.set_tenant_id("acme");
  auto no_body = client->Send(empty);
  EXPECT_THAT(no_body.status().message(), HasSubstr("MISSING_BODY"));
}

TEST(RoutingClientTest, BrokerDownIsUnavailableAndRetryWithSameIdWorks) {
  auto broker = TestBroker::Start(2);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto client = MakeClient(**broker, std::chrono::milliseconds(1500));
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE((*broker)->Command("broker down all").ok());
  v1::RoutingCommand c = Login("acme", "a1");
  c.set_command_id("retry-me");
  auto down = client->Send(c);
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  ASSERT_TRUE((*broker)->Command("broker up all").ok());
  auto up = client->Send(c);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->command_id, "retry-me");
}

TEST(RoutingClientTest, SendAsyncReportsEachCommand) {
  auto broker = TestBroker::Start(2);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto client = MakeClient(**broker, std::chrono::seconds(10));
  ASSERT_NE(client, nullptr);
  std::atomic<int> ok{0};
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(client
                    ->SendAsync(Login("acme", absl::StrCat("a", i)),
                                [&](absl::StatusOr<SentCommand> s) {
                                  if (s.ok()) ok.fetch_add(1);
                                })
                    .ok());
  }
  ASSERT_TRUE(client->Flush(std::chrono::seconds(10)).ok());
  EXPECT_EQ(ok.load(), 100);
}

TEST(RoutingClientTest, PartitionForTenantIsStableAndInRange) {
  EXPECT_EQ(PartitionForTenant("acme", 1), 0);
  for (int n : {2, 3, 12}) {
    for (int i = 0; i < 100; ++i) {
      const std::string t = absl::StrCat("t", i);
      const int32_t p = PartitionForTenant(t, n);
      EXPECT_GE(p, 0);
      EXPECT_LT(p, n);
      EXPECT_EQ(p, PartitionForTenant(t, n));
    }
  }
}

}  // namespace
}  // namespace sb::routing
