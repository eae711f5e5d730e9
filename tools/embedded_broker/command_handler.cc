#include "embedded_broker/command_handler.h"

#include <optional>

#include "absl/status/status.h"
#include "embedded_broker/command.h"
#include "embedded_broker/kafka_names.h"

namespace sb::broker {
namespace {

std::string BrokerWord(int32_t broker_id) {
  return broker_id == kAllBrokers ? "all brokers" : "broker " + std::to_string(broker_id);
}

CommandReply Error(const absl::Status& status) {
  return {"error " + std::string(status.message()), false};
}

CommandReply OkOr(const absl::Status& status, std::string ok_text) {
  if (!status.ok()) return Error(status);
  return {"ok " + ok_text, false};
}

std::string PartitionsText(const ClusterStatus& status) {
  std::string out;
  for (const TopicInfo& t : status.topics) {
    if (!out.empty()) out += ' ';
    out += t.name + "=" + std::to_string(t.partitions);
  }
  return out;
}

std::string StatusText(const ClusterStatus& status) {
  std::string brokers;
  for (const BrokerState& b : status.brokers) {
    if (!brokers.empty()) brokers += ',';
    brokers += std::to_string(b.id) + ":" + (b.up ? "up" : "down");
    if (b.rtt_ms > 0) brokers += ":rtt=" + std::to_string(b.rtt_ms) + "ms";
  }
  std::string errors;
  for (const auto& [api, count] : status.pushed_errors) {
    if (!errors.empty()) errors += ',';
    errors += ApiKeyToName(api) + ":" + std::to_string(count);
  }
  int partitions = status.topics.empty() ? 0 : status.topics.front().partitions;
  return "bootstrap=" + status.bootstrap + " brokers=" + brokers +
         " topics=" + std::to_string(status.topics.size()) +
         " partitions=" + std::to_string(partitions) +
         " errors_pushed=" + (errors.empty() ? "none" : errors);
}

}  // namespace

CommandReply CommandHandler::Handle(std::string_view line) const {
  absl::StatusOr<std::optional<Command>> parsed = ParseCommand(line);
  if (!parsed.ok()) return Error(parsed.status());
  if (!parsed->has_value()) return {};
  const Command& c = **parsed;

  switch (c.kind) {
    case CommandKind::kBrokerDown:
      return OkOr(cluster_->SetBrokerDown(c.broker_id), BrokerWord(c.broker_id) + " down");
    case CommandKind::kBrokerUp:
      return OkOr(cluster_->SetBrokerUp(c.broker_id), BrokerWord(c.broker_id) + " up");
    case CommandKind::kBrokerRtt:
      return OkOr(cluster_->SetBrokerRtt(c.broker_id, c.rtt_ms),
                  BrokerWord(c.broker_id) + " rtt " + std::to_string(c.rtt_ms) + "ms");
    case CommandKind::kPushErrors:
      return OkOr(cluster_->PushRequestErrors(c.api_key, c.error_code, c.count),
                  "next " + std::to_string(c.count) + " " + ApiKeyToName(c.api_key) +
                      " request(s) fail with " + ErrorCodeToName(c.error_code) + " (" +
                      std::to_string(c.error_code) + ")");
    case CommandKind::kClearErrors:
      return OkOr(cluster_->ClearRequestErrors(c.clear_api),
                  "cleared injected errors of " +
                      (c.clear_api ? ApiKeyToName(*c.clear_api) : std::string("every request")));
    case CommandKind::kSetLeader:
      return OkOr(cluster_->SetPartitionLeader(c.topic, c.partition, c.broker_id),
                  c.topic + " partition " + std::to_string(c.partition) + " leader " +
                      (c.broker_id == kNoLeader ? "none" : std::to_string(c.broker_id)));
    case CommandKind::kPartitions:
      return {"ok " + PartitionsText(cluster_->Status()), false};
    case CommandKind::kStatus: {
      std::string text = "ok " + StatusText(cluster_->Status());
      if (app_status_) text += " " + app_status_();
      return {text, false};
    }
    case CommandKind::kHelp:
      return {"ok " + HelpText(), false};
    case CommandKind::kQuit:
      return {"ok bye", true};
  }
  return {"error INTERNAL: unhandled command (a bug; please report it)", false};
}

}  // namespace sb::broker
