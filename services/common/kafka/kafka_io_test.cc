// Integration tests of sb_kafka_io against a real sb-embedded-broker child process (one per
// test: parallel-safe, and fault injection stays local).
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/kafka/config.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/kafka/test_broker.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace sb::kafka_io {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;
using testing::TestBroker;

constexpr char kTopic[] = "sb.routing.events.v1";

std::unique_ptr<TestBroker> StartBroker(int partitions) {
  absl::StatusOr<std::unique_ptr<TestBroker>> broker = TestBroker::Start(partitions);
  EXPECT_TRUE(broker.ok()) << broker.status();
  return broker.ok() ? *std::move(broker) : nullptr;
}

KafkaConfig ConfigFor(const TestBroker& broker) {
  KafkaConfig c;
  c.bootstrap_servers = broker.bootstrap();
  c.client_id = "sb_kafka_io_test";
  // Reconnect quickly after `broker up` (default backoff grows to 10 s).
  c.overrides = {{"reconnect.backoff.ms", "50"}, {"reconnect.backoff.max.ms", "500"}};
  return c;
}

std::unique_ptr<Producer> MakeProducer(const TestBroker& broker,
                                       std::chrono::milliseconds timeout) {
  ProducerOptions options;
  options.kafka = ConfigFor(broker);
  options.message_timeout = timeout;
  absl::StatusOr<std::unique_ptr<Producer>> p = Producer::Create(options);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *std::move(p) : nullptr;
}

TEST(KafkaIoTest, ProducedKeyedRecordsReadBackInOrderPerKey) {
  auto broker = StartBroker(4);
  ASSERT_NE(broker, nullptr);
  auto producer = MakeProducer(*broker, std::chrono::seconds(10));
  ASSERT_NE(producer, nullptr);

  constexpr int kRecords = 60;
  std::map<std::string, int32_t> partition_of_key;
  std::map<int32_t, std::vector<std::pair<std::string, std::string>>> expected;  // per partition
  std::map<int32_t, int64_t> last_offset;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = absl::StrCat("tenant-", i % 6);
    const std::string value = absl::StrCat("value-", i);
    absl::StatusOr<RecordPosition> pos = producer->Produce(kTopic, key, value);
    ASSERT_TRUE(pos.ok()) << pos.status();
    auto [it, inserted] = partition_of_key.emplace(key, pos->partition);
    EXPECT_EQ(it->second, pos->partition) << "same key, different partition: " << key;
    if (last_offset.count(pos->partition) > 0) {
      EXPECT_GT(pos->offset, last_offset[pos->partition]);
    }
    last_offset[pos->partition] = pos->offset;
    expected[pos->partition].emplace_back(key, value);
  }

  for (const auto& [partition, records] : expected) {
    absl::StatusOr<std::vector<Record>> read =
        ReadPartition(ConfigFor(*broker), kTopic, partition, 0, std::chrono::seconds(10));
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_THAT(*read, SizeIs(records.size()));
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ((*read)[i].topic, kTopic);
      EXPECT_EQ((*read)[i].partition, partition);
      EXPECT_EQ((*read)[i].offset, static_cast<int64_t>(i));
      EXPECT_EQ((*read)[i].key, records[i].first);
      EXPECT_EQ((*read)[i].value, records[i].second);
    }
  }

  // A replay from the middle starts where asked.
  const auto& [partition, records] = *expected.begin();
  absl::StatusOr<std::vector<Record>> tail =
      ReadPartition(ConfigFor(*broker), kTopic, partition, 2, std::chrono::seconds(10));
  ASSERT_TRUE(tail.ok()) << tail.status();
  ASSERT_THAT(*tail, SizeIs(records.size() - 2));
  EXPECT_EQ(tail->front().offset, 2);
  EXPECT_EQ(tail->front().value, records[2].second);
}

TEST(KafkaIoTest, ProduceAsyncReportsEveryRecordOnce) {
  auto broker = StartBroker(2);
  ASSERT_NE(broker, nullptr);
  auto producer = MakeProducer(*broker, std::chrono::seconds(10));
  ASSERT_NE(producer, nullptr);

  constexpr int kRecords = 100;
  absl::Mutex mu;
  int ok = 0;
  int failed = 0;
  for (int i = 0; i < kRecords; ++i) {
    ASSERT_TRUE(producer
                    ->ProduceAsync(kTopic, "k", absl::StrCat(i),
                                   [&](absl::StatusOr<RecordPosition> r) {
                                     absl::MutexLock lock(&mu);
                                     ++(r.ok() ? ok : failed);
                                   })
                    .ok());
  }
  absl::MutexLock lock(&mu);
  auto all_reported = [&] { return ok + failed == kRecords; };
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all_reported), absl::Seconds(15)));
  EXPECT_EQ(ok, kRecords);
  EXPECT_EQ(failed, 0);
}

TEST(KafkaIoTest, ProduceWhileBrokerDownIsUnavailableThenRecovers) {
  auto broker = StartBroker(2);
  ASSERT_NE(broker, nullptr);
  constexpr auto kTimeout = std::chrono::milliseconds(2000);
  auto producer = MakeProducer(*broker, kTimeout);
  ASSERT_NE(producer, nullptr);
  ASSERT_TRUE(producer->Produce(kTopic, "k", "before").ok());

  ASSERT_TRUE(broker->Command("broker down all").ok());
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RecordPosition> down = producer->Produce(kTopic, "k", "while-down");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(down.status().code(), absl::StatusCode::kUnavailable) << down.status();
  EXPECT_THAT(down.status().message(), HasSubstr("message.timeout.ms=2000"));
  EXPECT_LT(elapsed, kTimeout + std::chrono::milliseconds(1500));

  ASSERT_TRUE(broker->Command("broker up all").ok());
  absl::StatusOr<RecordPosition> up = producer->Produce(kTopic, "k", "after");
  EXPECT_TRUE(up.ok()) << up.status();
}

class RecordingListener : public ConsumerListener {
 public:
  void OnAssigned(const std::vector<TopicPartition>& partitions) override {
    absl::MutexLock lock(&mu_);
    for (const auto& p : partitions) assigned_.push_back(p);
  }
  void OnRevoked(const std::vector<TopicPartition>& partitions) override {
    absl::MutexLock lock(&mu_);
    ++revocations_;
  }
  std::vector<TopicPartition> assigned() {
    absl::MutexLock lock(&mu_);
    return assigned_;
  }

 private:
  absl::Mutex mu_;
  std::vector<TopicPartition> assigned_ ABSL_GUARDED_BY(mu_);
  int revocations_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(KafkaIoTest, GroupConsumerGetsAssignmentConsumesAndCommits) {
  auto broker = StartBroker(2);
  ASSERT_NE(broker, nullptr);
  auto producer = MakeProducer(*broker, std::chrono::seconds(10));
  ASSERT_NE(producer, nullptr);
  absl::StatusOr<RecordPosition> pos = producer->Produce(kTopic, "tenant-1", "hello");
  ASSERT_TRUE(pos.ok()) << pos.status();

  RecordingListener listener;
  ConsumerOptions options;
  options.kafka = ConfigFor(*broker);
  options.kafka.overrides.emplace_back("session.timeout.ms", "3000");
  options.kafka.overrides.emplace_back("heartbeat.interval.ms", "500");
  options.group_id = "sb_kafka_io_test_group";
  options.listener = &listener;
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(options);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  ASSERT_TRUE((*consumer)->Subscribe({kTopic}).ok());

  // The mock's first join takes ~3 s; wait for the record with a deadline.
  std::vector<Record> got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got.empty() && std::chrono::steady_clock::now() < deadline) {
    absl::StatusOr<std::vector<Record>> batch = (*consumer)->Poll(std::chrono::milliseconds(200));
    ASSERT_TRUE(batch.ok()) << batch.status();
    got = *std::move(batch);
  }
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0].key, "tenant-1");
  EXPECT_EQ(got[0].value, "hello");
  EXPECT_EQ(got[0].partition, pos->partition);
  EXPECT_EQ(got[0].offset, pos->offset);
  EXPECT_THAT(listener.assigned(), SizeIs(2));  // both partitions, one member

  ASSERT_TRUE((*consumer)->CommitRecord(got[0]).ok());
  absl::StatusOr<std::vector<TopicPartitionOffset>> committed =
      (*consumer)->Committed({{kTopic, got[0].partition}}, std::chrono::seconds(5));
  ASSERT_TRUE(committed.ok()) << committed.status();
  ASSERT_THAT(*committed, SizeIs(1));
  EXPECT_EQ((*committed)[0].offset, got[0].offset + 1);
  EXPECT_TRUE((*consumer)->Close().ok());
}

TEST(KafkaIoTest, UnknownConfigPropertyIsAnErrorNamingIt) {
  ProducerOptions p;
  p.kafka.bootstrap_servers = "127.0.0.1:1";
  p.kafka.overrides = {{"no.such.property", "1"}};
  absl::StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(p);
  EXPECT_EQ(producer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(producer.status().message(), HasSubstr("no.such.property"));

  ConsumerOptions c;
  c.kafka = p.kafka;
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(c);
  EXPECT_EQ(consumer.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(consumer.status().message(), HasSubstr("no.such.property"));
}

TEST(KafkaIoTest, ProducerRefusesToDropIdempotence) {
  ProducerOptions p;
  p.kafka.bootstrap_servers = "127.0.0.1:1";
  p.kafka.overrides = {{"acks", "1"}};
  EXPECT_EQ(Producer::Create(p).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(KafkaIoTest, SubscribeWithoutGroupIsFailedPrecondition) {
  ConsumerOptions c;
  c.kafka.bootstrap_servers = "127.0.0.1:1";
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(c);
  ASSERT_TRUE(consumer.ok()) << consumer.status();
  EXPECT_EQ((*consumer)->Subscribe({kTopic}).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(KafkaIoTest, ErrorsMapToStatusWithLibrdkafkaText) {
  absl::Status s = ErrorToStatus(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, "ctx");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr(rd_kafka_err2str(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)));
  EXPECT_THAT(s.message(), HasSubstr("ctx"));
  EXPECT_EQ(ErrorToStatus(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "x").code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(ErrorToStatus(RD_KAFKA_RESP_ERR_NO_ERROR, "x").ok());
}

}  // namespace
}  // namespace sb::kafka_io
