#include "routing/client/routing_client.h"

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace sb::routing {

int32_t PartitionForTenant(std::string_view tenant_id, int32_t partition_count) {
  if (partition_count <= 1) return 0;
  // librdkafka's public murmur2 partitioner (Kafka's Java default); it does not use the topic.
  return rd_kafka_msg_partitioner_murmur2(nullptr, tenant_id.data(), tenant_id.size(),
                                          partition_count, nullptr, nullptr);
}

std::string NewCommandId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%016x%016x", rng(), rng());
}

absl::StatusOr<std::unique_ptr<RoutingClient>> RoutingClient::Create(
    const RoutingClientOptions& options) {
  kafka_io::ProducerOptions po;
  po.kafka = options.kafka;
  po.message_timeout = options.send_timeout;
  absl::StatusOr<std::unique_ptr<kafka_io::Producer>> producer = kafka_io::Producer::Create(po);
  if (!producer.ok()) return producer.status();
  absl::StatusOr<int32_t> count =
      (*producer)->PartitionCount(kCommandsTopic, options.metadata_timeout);
  if (!count.ok()) return count.status();
  return std::unique_ptr<RoutingClient>(new RoutingClient(*std::move(producer), *count));
}

absl::Status RoutingClient::Prepare(v1::RoutingCommand* command) const {
  if (command->tenant_id().empty()) {
    return absl::InvalidArgumentError("MISSING_TENANT: tenant_id is required");
  }
  if (command->body_case() == v1::RoutingCommand::BODY_NOT_SET) {
    return absl::InvalidArgumentError("MISSING_BODY: the command has no body");
  }
  if (command->command_id().empty()) command->set_command_id(NewCommandId());
  if (!command->has_time()) {
    *command->mutable_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count());
  }
  return absl::OkStatus();
}

absl::StatusOr<SentCommand> RoutingClient::Send(v1::RoutingCommand command) {
  if (absl::Status s = Prepare(&command); !s.ok()) return s;
  const int32_t partition = PartitionFor(command.tenant_id());
  absl::StatusOr<kafka_io::RecordPosition> pos = producer_->Produce(
      kCommandsTopic, command.tenant_id(), command.SerializeAsString(), partition);
  if (!pos.ok()) return pos.status();
  return SentCommand{command.command_id(), pos->partition, pos->offset};
}

absl::Status RoutingClient::SendAsync(v1::RoutingCommand command, SendCallback done) {
  if (absl::Status s = Prepare(&command); !s.ok()) return s;
  const int32_t partition = PartitionFor(command.tenant_id());
  return producer_->ProduceAsync(
      kCommandsTopic, command.tenant_id(), command.SerializeAsString(),
      [id = command.command_id(),
       done = std::move(done)](absl::StatusOr<kafka_io::RecordPosition> pos) {
        if (!pos.ok()) {
          done(pos.status());
        } else {
          done(SentCommand{id, pos->partition, pos->offset});
        }
      },
      partition);
}

}  // namespace sb::routing
