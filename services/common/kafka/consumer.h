// sb::kafka_io::Consumer: a Kafka consumer, either in a consumer group (Subscribe; the group
// assigns partitions and the caller hears about it through a ConsumerListener) or without one
// (Assign / ReadPartition: read given partitions from given offsets, e.g. to replay a log).
// Offsets are committed only when the caller says so (enable.auto.commit=false).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kafka/config.h"

namespace sb::kafka_io {

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;
};

struct TopicPartitionOffset {
  std::string topic;
  int32_t partition = 0;
  // An offset, or RD_KAFKA_OFFSET_BEGINNING / RD_KAFKA_OFFSET_END / RD_KAFKA_OFFSET_STORED.
  int64_t offset = RD_KAFKA_OFFSET_BEGINNING;
};

// One consumed record (owns copies of key and value).
struct Record {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
  int64_t timestamp_ms = -1;  // -1 when the broker sent none
};

// ConsumerListener
//
// What a group consumer tells its owner. Called on the thread inside Consumer::Poll (or Close /
// the destructor), never concurrently. OnAssigned is called after the partitions are assigned
// (fetching starts at the committed offset, else auto.offset.reset); OnRevoked before they are
// taken away, so the owner can commit and hand off. OnError reports errors librdkafka recovers
// from by itself (broker down, coordinator moved): informational. Must not call Poll or Close.
class ConsumerListener {
 public:
  virtual ~ConsumerListener() = default;
  virtual void OnAssigned(const std::vector<TopicPartition>& partitions) = 0;
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
  virtual void OnError(const absl::Status& error) {}
};

struct ConsumerOptions {
  KafkaConfig kafka;
  // Consumer group; required by Subscribe, must be empty for Assign-only (replay) readers.
  std::string group_id;
  // Where a partition with no committed offset starts: "earliest" or "latest".
  std::string auto_offset_reset = "earliest";
  // Not owned; must outlive the Consumer. May be null.
  ConsumerListener* listener = nullptr;
};

// Consumer
//
// Owns one librdkafka consumer handle. Not thread-safe: one thread (the owner's) calls every
// method; librdkafka's internal threads fetch in the background. Listener callbacks run on that
// same thread, from inside Poll/Close. The destructor calls Close().
class Consumer {
 public:
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);

  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;
  ~Consumer();

  // Joins the group for these topics (replaces an earlier subscription). Assignment happens
  // later, during Poll. FAILED_PRECONDITION without a group_id.
  absl::Status Subscribe(const std::vector<std::string>& topics);

  // Reads exactly these partitions from these offsets, without a group (no rebalancing).
  absl::Status Assign(const std::vector<TopicPartitionOffset>& partitions);

  // Waits up to `timeout` for the first record, then takes whatever else is already buffered,
  // up to `max_records`. An empty vector means nothing arrived in time. Serves the rebalance and
  // error callbacks. Returns an error only when the consumer cannot go on (fatal error, closed).
  absl::StatusOr<std::vector<Record>> Poll(std::chrono::milliseconds timeout,
                                           size_t max_records = 500);

  // Synchronously commits, for each partition, `offset` = the next offset to read (i.e. last
  // processed + 1). Group consumers only.
  absl::Status Commit(const std::vector<TopicPartitionOffset>& offsets);
  // Commits `record.offset + 1` for the record's partition.
  absl::Status CommitRecord(const Record& record);

  // The group's committed offsets for these partitions (RD_KAFKA_OFFSET_INVALID if none).
  absl::StatusOr<std::vector<TopicPartitionOffset>> Committed(
      const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout);

  // Low and high watermarks (log start offset, next offset to be written) of one partition.
  absl::StatusOr<std::pair<int64_t, int64_t>> QueryWatermarks(std::string_view topic,
                                                              int32_t partition,
                                                              std::chrono::milliseconds timeout);

  // Leaves the group (revoking partitions through the listener) and stops fetching. Idempotent.
  absl::Status Close();

 private:
  Consumer(rd_kafka_t* rk, ConsumerListener* listener, bool has_group);
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque);

  rd_kafka_t* const rk_;              // owned
  ConsumerListener* const listener_;  // not owned; may be null
  const bool has_group_;
  bool closed_ = false;
};

// Reads partition `partition` of `topic` from `from_offset` (RD_KAFKA_OFFSET_BEGINNING, or an
// offset below the log start, reads from the log start; RD_KAFKA_OFFSET_TAIL(n), the last n
// records) up to its high watermark as of the call (a replay of what is there now), without a
// consumer group. DEADLINE_EXCEEDED if the records cannot all be read within `timeout`. `kafka`
// needs only bootstrap_servers.
absl::StatusOr<std::vector<Record>> ReadPartition(const KafkaConfig& kafka, std::string_view topic,
                                                  int32_t partition, int64_t from_offset,
                                                  std::chrono::milliseconds timeout);

}  // namespace sb::kafka_io
