// sb::routing::RoutingClient: how any Switchboard service sends commands to routing (DESIGN §2-3).
//
// A command goes to sb.routing.commands.v1, keyed by its tenant, into the partition
// PartitionForTenant(tenant) picks (Kafka's murmur2 partitioner, so Java and librdkafka clients
// configured with `partitioner=murmur2` agree). Send returns only once the broker acknowledged the
// record (idempotent producer, acks=all) and fails with UNAVAILABLE when it could not take the
// command in time: then nothing may be assumed logged, and the caller retries with the same
// command id (the engine ignores repeats).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kafka/config.h"
#include "common/kafka/producer.h"
#include "switchboard/routing/v1/commands.pb.h"

namespace sb::routing {

namespace v1 = ::switchboard::routing::v1;

inline constexpr std::string_view kCommandsTopic = "sb.routing.commands.v1";
inline constexpr std::string_view kEventsTopic = "sb.routing.events.v1";
inline constexpr std::string_view kSnapshotsTopic = "sb.routing.snapshots.v1";

// The partition of sb.routing.commands.v1 (and of the events and snapshots topics) that holds
// `tenant_id`'s routing domain: murmur2(tenant_id) mod partition_count, as Kafka's Java client.
int32_t PartitionForTenant(std::string_view tenant_id, int32_t partition_count);

// A fresh command id: 32 random hex digits.
std::string NewCommandId();

struct RoutingClientOptions {
  kafka_io::KafkaConfig kafka;
  // How long a command may wait for the broker before Send answers UNAVAILABLE.
  std::chrono::milliseconds send_timeout{5000};
  // How long Create waits for the topic's metadata.
  std::chrono::milliseconds metadata_timeout{10000};
};

// Where a sent command landed.
struct SentCommand {
  std::string command_id;
  int32_t partition = -1;
  int64_t offset = -1;
};

// Thread-safe: any number of threads may Send at once.
class RoutingClient {
 public:
  using SendCallback = std::function<void(absl::StatusOr<SentCommand>)>;

  // Connects and learns the partition count of sb.routing.commands.v1 (UNAVAILABLE if no broker
  // answers within metadata_timeout, NOT_FOUND if the topic does not exist).
  static absl::StatusOr<std::unique_ptr<RoutingClient>> Create(const RoutingClientOptions& options);

  // Checks the command (INVALID_ARGUMENT "MISSING_TENANT"/"MISSING_BODY"), fills an empty
  // command_id with NewCommandId() and an unset time with the wall clock, then writes it and
  // waits for the broker's acknowledgement.
  absl::StatusOr<SentCommand> Send(v1::RoutingCommand command);

  // As Send, but returns at once; `done` runs later on the producer's delivery thread (keep it
  // short, do not block in it). On an error return `done` is never called.
  absl::Status SendAsync(v1::RoutingCommand command, SendCallback done);

  // Waits for every SendAsync in flight.
  absl::Status Flush(std::chrono::milliseconds timeout) { return producer_->Flush(timeout); }

  int32_t partition_count() const { return partition_count_; }
  int32_t PartitionFor(std::string_view tenant_id) const {
    return PartitionForTenant(tenant_id, partition_count_);
  }

 private:
  RoutingClient(std::unique_ptr<kafka_io::Producer> producer, int32_t partition_count)
      : producer_(std::move(producer)), partition_count_(partition_count) {}
  absl::Status Prepare(v1::RoutingCommand* command) const;

  std::unique_ptr<kafka_io::Producer> producer_;
  const int32_t partition_count_;
};

}  // namespace sb::routing
