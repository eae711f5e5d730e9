// sb::kafka_io::Producer: an idempotent (enable.idempotence=true, acks=all) Kafka producer whose
// Produce() returns only once the record is durably written, or fails with UNAVAILABLE when the
// broker cannot take it within message.timeout.ms (DESIGN §3, §7).
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kafka/config.h"

namespace sb::kafka_io {

// Where a record landed.
struct RecordPosition {
  int32_t partition = -1;
  int64_t offset = -1;
};

struct ProducerOptions {
  KafkaConfig kafka;
  // How long librdkafka keeps trying to deliver a record (message.timeout.ms) before its delivery
  // report fails and Produce returns UNAVAILABLE. A `message.timeout.ms` in kafka.overrides wins.
  std::chrono::milliseconds message_timeout{10000};
  // How long the destructor waits for records still in flight before purging them.
  std::chrono::milliseconds close_timeout{5000};
};

// Producer
//
// Owns one librdkafka producer handle and the delivery-report thread that serves it
// (rd_kafka_poll every 100 ms). Create() returns it ready to use; destroying it flushes
// outstanding records for up to close_timeout, then purges the rest (their callbacks get
// CANCELLED).
//
// Threads: Produce and ProduceAsync may be called from any number of threads concurrently.
// Produce blocks the calling thread until the delivery report arrives. Async callbacks run on
// the delivery-report thread (or, during destruction, on the destroying thread): they must be
// quick and must not block or call Produce (STYLE §5). Do not destroy the Producer from inside
// one of its callbacks.
class Producer {
 public:
  using DeliveryCallback = std::function<void(absl::StatusOr<RecordPosition>)>;

  static absl::StatusOr<std::unique_ptr<Producer>> Create(const ProducerOptions& options);

  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;
  ~Producer();

  // Writes one record and waits for its delivery report. OK (with partition and offset) only
  // when the broker acknowledged it with acks=all. UNAVAILABLE when the broker could not take
  // it within message_timeout; NOT_FOUND for an unknown partition; other codes per
  // ErrorToStatus. `partition` defaults to the partitioner (same key -> same partition).
  absl::StatusOr<RecordPosition> Produce(std::string_view topic, std::string_view key,
                                         std::string_view value,
                                         int32_t partition = RD_KAFKA_PARTITION_UA);

  // Enqueues one record (key and value are copied) and returns at once. On OK, `done` is called
  // exactly once, later, on the delivery-report thread, with the outcome Produce would return.
  // On an error return (e.g. RESOURCE_EXHAUSTED: local queue full), `done` is never called.
  absl::Status ProduceAsync(std::string_view topic, std::string_view key, std::string_view value,
                            DeliveryCallback done, int32_t partition = RD_KAFKA_PARTITION_UA);

  // Waits up to `timeout` for every enqueued record's delivery report. Any thread.
  absl::Status Flush(std::chrono::milliseconds timeout);

  // The number of partitions of `topic` (from the cluster's metadata). NOT_FOUND for an unknown
  // topic, UNAVAILABLE when no broker answers within `timeout`.
  absl::StatusOr<int32_t> PartitionCount(std::string_view topic, std::chrono::milliseconds timeout);

  // The effective message.timeout.ms.
  std::chrono::milliseconds message_timeout() const { return message_timeout_; }

 private:
  Producer(rd_kafka_t* rk, std::chrono::milliseconds message_timeout,
           std::chrono::milliseconds close_timeout);
  static void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  void PollLoop();

  rd_kafka_t* const rk_;  // owned; destroyed in ~Producer after the poll thread stops
  const std::chrono::milliseconds message_timeout_;
  const std::chrono::milliseconds close_timeout_;
  std::atomic<bool> stop_{false};
  std::thread poll_thread_;  // the delivery-report thread
};

}  // namespace sb::kafka_io
