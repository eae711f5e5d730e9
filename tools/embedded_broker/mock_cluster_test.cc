// MockCluster against real librdkafka clients on loopback, and the limits of librdkafka's mock
// cluster that docs/embedded-broker.md relies on. The "EmbeddedBrokerMockLimits" tests characterize
// the installed librdkafka: if one fails after an upgrade, the limit changed; update the document.
#include "embedded_broker/mock_cluster.h"

// clang-format off
#include <librdkafka/rdkafka.h>
// clang-format on

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "embedded_broker/command.h"

namespace sb::broker {
namespace {

using ::testing::HasSubstr;
using Config = std::vector<std::pair<std::string, std::string>>;

struct ClientDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using Client = std::unique_ptr<rd_kafka_t, ClientDeleter>;

struct ErrorDeleter {
  void operator()(rd_kafka_error_t* e) const { rd_kafka_error_destroy(e); }
};
using Error = std::unique_ptr<rd_kafka_error_t, ErrorDeleter>;

struct PartitionsDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using Partitions = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionsDeleter>;

// Appends each delivery report's error to the std::vector<rd_kafka_resp_err_t> opaque. Runs in
// rd_kafka_flush()/rd_kafka_poll() on the test's thread.
void CollectDeliveryReport(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
  static_cast<std::vector<rd_kafka_resp_err_t>*>(opaque)->push_back(m->err);
}

Client NewClient(rd_kafka_type_t type, const std::string& bootstrap, const Config& extra = {},
                 std::vector<rd_kafka_resp_err_t>* reports = nullptr) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (reports != nullptr) {
    rd_kafka_conf_set_dr_msg_cb(conf, CollectDeliveryReport);
    rd_kafka_conf_set_opaque(conf, reports);
  }
  Config config = {{"bootstrap.servers", bootstrap}, {"log_level", "3"}};
  config.insert(config.end(), extra.begin(), extra.end());
  for (const auto& [key, value] : config) {
    EXPECT_EQ(rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)),
              RD_KAFKA_CONF_OK)
        << key << ": " << errstr;
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
  EXPECT_NE(rk, nullptr) << errstr;
  return Client(rk);
}

std::unique_ptr<MockCluster> NewCluster(MockClusterOptions options) {
  absl::StatusOr<std::unique_ptr<MockCluster>> cluster = MockCluster::Create(options);
  EXPECT_TRUE(cluster.ok()) << cluster.status();
  return cluster.ok() ? *std::move(cluster) : nullptr;
}

void Produce(rd_kafka_t* producer, const std::string& topic, int32_t partition,
             const std::string& value) {
  rd_kafka_resp_err_t err =
      rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
                        RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
  ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(err);
}

TEST(EmbeddedBrokerMockCluster, CreatesTheTopicsWithPredictableLeaders) {
  MockClusterOptions options;
  options.brokers = 3;
  options.partitions = 5;
  std::unique_ptr<MockCluster> cluster = NewCluster(options);
  ASSERT_NE(cluster, nullptr);
  EXPECT_THAT(cluster->bootstrap(), HasSubstr("127.0.0.1:"));

  Client client = NewClient(RD_KAFKA_PRODUCER, cluster->bootstrap());
  const rd_kafka_metadata_t* md = nullptr;
  ASSERT_EQ(rd_kafka_metadata(client.get(), 1, nullptr, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(md->broker_cnt, 3);
  std::set<std::string> topics;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    topics.insert(t.topic);
    ASSERT_EQ(t.partition_cnt, 5) << t.topic;
    for (int p = 0; p < t.partition_cnt; ++p) {
      EXPECT_EQ(t.partitions[p].leader, (t.partitions[p].id % 3) + 1) << t.topic;
    }
  }
  rd_kafka_metadata_destroy(md);
  std::vector<std::string> expected = DefaultTopics();
  EXPECT_EQ(topics, std::set<std::string>(expected.begin(), expected.end()));
}

TEST(EmbeddedBrokerMockCluster, RefusesBadOptionsNamingTheFlag) {
  MockClusterOptions options;
  options.brokers = 0;
  EXPECT_THAT(std::string(ValidateMockClusterOptions(options).message()), HasSubstr("--brokers"));
  options = {};
  options.partitions = 0;
  EXPECT_THAT(std::string(ValidateMockClusterOptions(options).message()),
              HasSubstr("--partitions"));
  options = {};
  options.topics = {"ok.v1", "bad topic"};
  EXPECT_THAT(std::string(ValidateMockClusterOptions(options).message()),
              HasSubstr("'bad topic' is not a legal topic name"));
  options.topics = {"a", "a"};
  EXPECT_THAT(std::string(ValidateMockClusterOptions(options).message()), HasSubstr("twice"));
  options.topics = {""};
  EXPECT_FALSE(ValidateMockClusterOptions(options).ok());
}

TEST(EmbeddedBrokerMockCluster, ControlCallsValidateTheirArguments) {
  MockClusterOptions options;
  options.brokers = 2;
  options.partitions = 2;
  std::unique_ptr<MockCluster> cluster = NewCluster(options);
  ASSERT_NE(cluster, nullptr);
  EXPECT_THAT(std::string(cluster->SetBrokerDown(3).message()), HasSubstr("NO_SUCH_BROKER"));
  EXPECT_THAT(std::string(cluster->SetPartitionLeader("nope", 0, 1).message()),
              HasSubstr("NO_SUCH_TOPIC"));
  EXPECT_THAT(std::string(cluster->SetPartitionLeader("sb.routing.events.v1", 2, 1).message()),
              HasSubstr("NO_SUCH_PARTITION"));
  EXPECT_TRUE(cluster->SetPartitionLeader("sb.routing.events.v1", 1, kNoLeader).ok());

  ASSERT_TRUE(cluster->SetBrokerDown(kAllBrokers).ok());
  ASSERT_TRUE(cluster->SetBrokerRtt(2, 30).ok());
  ASSERT_TRUE(cluster->PushRequestErrors(0, 6, 2).ok());
  ClusterStatus status = cluster->Status();
  ASSERT_EQ(status.brokers.size(), 2u);
  EXPECT_FALSE(status.brokers[0].up);
  EXPECT_FALSE(status.brokers[1].up);
  EXPECT_EQ(status.brokers[1].rtt_ms, 30);
  EXPECT_EQ(status.pushed_errors[0], 2);
  ASSERT_TRUE(cluster->SetBrokerUp(1).ok());
  ASSERT_TRUE(cluster->ClearRequestErrors(std::nullopt).ok());
  status = cluster->Status();
  EXPECT_TRUE(status.brokers[0].up);
  EXPECT_TRUE(status.pushed_errors.empty());
}

TEST(EmbeddedBrokerMockCluster, InjectedProduceErrorsReachTheClient) {
  MockClusterOptions options;
  options.partitions = 1;
  std::unique_ptr<MockCluster> cluster = NewCluster(options);
  ASSERT_NE(cluster, nullptr);
  std::vector<rd_kafka_resp_err_t> reports;
  // retries=0: the first failure is final, so the delivery report shows the injected code.
  Client producer = NewClient(RD_KAFKA_PRODUCER, cluster->bootstrap(),
                              {{"retries", "0"}, {"message.timeout.ms", "10000"}}, &reports);
  Produce(producer.get(), "sb.routing.commands.v1", 0, "warm-up");
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

  ASSERT_TRUE(cluster->PushRequestErrors(0, RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE, 1).ok());
  Produce(producer.get(), "sb.routing.commands.v1", 0, "refused");
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  Produce(producer.get(), "sb.routing.commands.v1", 0, "accepted");
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);

  EXPECT_EQ(reports, (std::vector<rd_kafka_resp_err_t>{RD_KAFKA_RESP_ERR_NO_ERROR,
                                                       RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE,
                                                       RD_KAFKA_RESP_ERR_NO_ERROR}));
  int64_t lo = -1, hi = -1;
  ASSERT_EQ(rd_kafka_query_watermark_offsets(producer.get(), "sb.routing.commands.v1", 0, &lo, &hi,
                                             10000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(hi, 2) << "the refused message must not be in the log";
}

// Retention: each partition keeps at most 5 MiB of record batches (and at most 100,000 batches);
// older batches are dropped, moving the log start offset.
TEST(EmbeddedBrokerMockLimits, PartitionKeepsAboutFiveMiBAndDropsOlderBatches) {
  MockClusterOptions options;
  options.partitions = 2;
  options.topics = {"t.retention"};
  std::unique_ptr<MockCluster> cluster = NewCluster(options);
  ASSERT_NE(cluster, nullptr);
  Client producer = NewClient(RD_KAFKA_PRODUCER, cluster->bootstrap(),
                              {{"batch.num.messages", "1"}, {"linger.ms", "0"}});
  const std::string value(100'000, 'v');
  // Partition 0: 4.0 MB, under the cap. Partition 1: 6.4 MB, over it.
  for (int i = 0; i < 40; ++i) Produce(producer.get(), "t.retention", 0, value);
  for (int i = 0; i < 64; ++i) Produce(producer.get(), "t.retention", 1, value);
  ASSERT_EQ(rd_kafka_flush(producer.get(), 60000), RD_KAFKA_RESP_ERR_NO_ERROR);

  int64_t lo = -1, hi = -1;
  ASSERT_EQ(rd_kafka_query_watermark_offsets(producer.get(), "t.retention", 0, &lo, &hi, 10000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(lo, 0);
  EXPECT_EQ(hi, 40);
  ASSERT_EQ(rd_kafka_query_watermark_offsets(producer.get(), "t.retention", 1, &lo, &hi, 10000),
            RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(hi, 64);
  // 5 MiB / ~100 kB per batch = 52 batches kept, so the log now starts at offset 12.
  EXPECT_GE(lo, 10);
  EXPECT_LE(lo, 14);
}

// Transactions: an aborted transaction's records are delivered even to a read_committed
// consumer (the mock writes no abort markers and reports LSO = high watermark).
TEST(EmbeddedBrokerMockLimits, AbortedTransactionsAreVisibleToReadCommitted) {
  MockClusterOptions options;
  options.partitions = 1;
  options.topics = {"t.txn"};
  std::unique_ptr<MockCluster> cluster = NewCluster(options);
  ASSERT_NE(cluster, nullptr);
  Client producer =
      NewClient(RD_KAFKA_PRODUCER, cluster->bootstrap(), {{"transactional.id", "sb-test-txn"}});
  ASSERT_EQ(Error(rd_kafka_init_transactions(producer.get(), 30000)), nullptr);
  ASSERT_EQ(Error(rd_kafka_begin_transaction(producer.get())), nullptr);
  Produce(producer.get(), "t.txn", 0, "aborted-record");
  ASSERT_EQ(rd_kafka_flush(producer.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  ASSERT_EQ(Error(rd_kafka_abort_transaction(producer.get(), 30000)), nullptr);

  Client consumer = NewClient(RD_KAFKA_CONSUMER, cluster->bootstrap(),
                              {{"group.id", "sb-test-reader"},
                               {"isolation.level", "read_committed"},
                               {"enable.auto.commit", "false"}});
  Partitions assignment(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(assignment.get(), "t.txn", 0)->offset =
      RD_KAFKA_OFFSET_BEGINNING;
  ASSERT_EQ(rd_kafka_assign(consumer.get(), assignment.get()), RD_KAFKA_RESP_ERR_NO_ERROR);
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (seen.empty() && std::chrono::steady_clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer.get(), 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      seen.assign(static_cast<const char*>(m->payload), m->len);
    }
    rd_kafka_message_destroy(m);
  }
  EXPECT_EQ(seen, "aborted-record") << "the mock now hides aborted records: update the docs";
  rd_kafka_consumer_close(consumer.get());
}

// Transactions: offsets sent with a transaction (TxnOffsetCommit) are acknowledged but not
// stored; plain offset commits are.
TEST(EmbeddedBrokerMockLimits, OffsetsCommittedInATransactionAreNotKept) {
  MockClusterOptions options;
  options.partitions = 1;
  options.topics = {"t.txn"};
  std::unique_ptr<MockCluster> cluster = NewCluster(options);
  ASSERT_NE(cluster, nullptr);
  Client producer =
      NewClient(RD_KAFKA_PRODUCER, cluster->bootstrap(), {{"transactional.id", "sb-test-eos"}});
  ASSERT_EQ(Error(rd_kafka_init_transactions(producer.get(), 30000)), nullptr);
  ASSERT_EQ(Error(rd_kafka_begin_transaction(producer.get())), nullptr);
  Produce(producer.get(), "t.txn", 0, "record");
  Partitions offsets(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(offsets.get(), "t.txn", 0)->offset = 1;
  rd_kafka_consumer_group_metadata_t* group = rd_kafka_consumer_group_metadata_new("sb-test-eos");
  ASSERT_EQ(
      Error(rd_kafka_send_offsets_to_transaction(producer.get(), offsets.get(), group, 30000)),
      nullptr);
  rd_kafka_consumer_group_metadata_destroy(group);
  ASSERT_EQ(Error(rd_kafka_commit_transaction(producer.get(), 30000)), nullptr);

  Client consumer = NewClient(RD_KAFKA_CONSUMER, cluster->bootstrap(),
                              {{"group.id", "sb-test-eos"}, {"enable.auto.commit", "false"}});
  Partitions query(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(query.get(), "t.txn", 0);
  ASSERT_EQ(rd_kafka_committed(consumer.get(), query.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(query->elems[0].offset, RD_KAFKA_OFFSET_INVALID)
      << "the mock now keeps transactional offsets: update the docs";

  // A plain commit, for contrast, is kept.
  Client plain = NewClient(RD_KAFKA_CONSUMER, cluster->bootstrap(),
                           {{"group.id", "sb-test-plain"}, {"enable.auto.commit", "false"}});
  Partitions commit(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(commit.get(), "t.txn", 0)->offset = 1;
  ASSERT_EQ(rd_kafka_commit(plain.get(), commit.get(), 0), RD_KAFKA_RESP_ERR_NO_ERROR);
  Partitions check(rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(check.get(), "t.txn", 0);
  ASSERT_EQ(rd_kafka_committed(plain.get(), check.get(), 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(check->elems[0].offset, 1);
  rd_kafka_consumer_close(consumer.get());
  rd_kafka_consumer_close(plain.get());
}

}  // namespace
}  // namespace sb::broker
