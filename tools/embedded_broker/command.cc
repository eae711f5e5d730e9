#include "embedded_broker/command.h"

#include <vector>

#include "absl/status/status.h"
#include "embedded_broker/kafka_names.h"
#include "embedded_broker/text_util.h"

namespace sb::broker {
namespace {

using Words = std::vector<std::string_view>;

absl::Status Usage(std::string_view reason, std::string_view what, std::string_view usage) {
  return absl::InvalidArgumentError(std::string(reason) + ": " + std::string(what) +
                                    "; usage: " + std::string(usage));
}

absl::StatusOr<int32_t> ParseBrokerId(std::string_view text, std::string_view usage) {
  if (ToLower(text) == "all") return kAllBrokers;
  std::optional<int64_t> id = ParseInteger(text);
  if (!id || *id < 1 || *id > 1'000'000) {
    return Usage("BAD_BROKER_ID",
                 "'" + std::string(text) + "' is not a broker id (brokers are numbered from 1)",
                 usage);
  }
  return static_cast<int32_t>(*id);
}

absl::StatusOr<Command> ParseBroker(const Words& words) {
  constexpr std::string_view kUsage = "broker down|up N|all, broker rtt N|all MS";
  if (words.size() < 3)
    return Usage("MISSING_ARGUMENT", "broker needs an action and an id", kUsage);
  std::string action = ToLower(words[1]);
  Command c;
  if (action == "down" || action == "up") {
    if (words.size() != 3) return Usage("EXTRA_ARGUMENT", "too many words", kUsage);
    c.kind = action == "down" ? CommandKind::kBrokerDown : CommandKind::kBrokerUp;
  } else if (action == "rtt") {
    if (words.size() != 4) return Usage("MISSING_ARGUMENT", "broker rtt needs N and MS", kUsage);
    std::optional<int64_t> ms = ParseInteger(words[3]);
    if (!ms || *ms < 0 || *ms > kMaxRttMs) {
      return Usage("BAD_RTT",
                   "'" + std::string(words[3]) + "' is not a latency in ms (0.." +
                       std::to_string(kMaxRttMs) + "; 0 removes it)",
                   kUsage);
    }
    c.kind = CommandKind::kBrokerRtt;
    c.rtt_ms = static_cast<int>(*ms);
  } else {
    return Usage("UNKNOWN_COMMAND", "'broker " + std::string(words[1]) + "' is not a command",
                 kUsage);
  }
  absl::StatusOr<int32_t> id = ParseBrokerId(words[2], kUsage);
  if (!id.ok()) return id.status();
  c.broker_id = *id;
  return c;
}

absl::StatusOr<Command> ParseError(const Words& words) {
  constexpr std::string_view kUsage =
      "error API CODE [COUNT], e.g. error Produce NOT_LEADER_FOR_PARTITION 3";
  if (words.size() < 3 || words.size() > 4) {
    return Usage("MISSING_ARGUMENT", "error needs a request type and an error code", kUsage);
  }
  Command c;
  c.kind = CommandKind::kPushErrors;
  absl::StatusOr<int16_t> api = ParseApiKey(words[1]);
  if (!api.ok()) return api.status();
  c.api_key = *api;
  absl::StatusOr<int> code = ParseErrorCode(words[2]);
  if (!code.ok()) return code.status();
  c.error_code = *code;
  if (words.size() == 4) {
    std::optional<int64_t> count = ParseInteger(words[3]);
    if (!count || *count < 1 || *count > kMaxErrorCount) {
      return Usage("BAD_COUNT",
                   "'" + std::string(words[3]) + "' is not a request count (1.." +
                       std::to_string(kMaxErrorCount) + ")",
                   kUsage);
    }
    c.count = static_cast<int>(*count);
  }
  return c;
}

absl::StatusOr<Command> ParseClear(const Words& words) {
  constexpr std::string_view kUsage = "clear errors [API]";
  if (words.size() < 2 || ToLower(words[1]) != "errors") {
    return Usage("UNKNOWN_COMMAND", "only errors can be cleared", kUsage);
  }
  if (words.size() > 3) return Usage("EXTRA_ARGUMENT", "too many words", kUsage);
  Command c;
  c.kind = CommandKind::kClearErrors;
  if (words.size() == 3) {
    absl::StatusOr<int16_t> api = ParseApiKey(words[2]);
    if (!api.ok()) return api.status();
    c.clear_api = *api;
  }
  return c;
}

absl::StatusOr<Command> ParseLeader(const Words& words) {
  constexpr std::string_view kUsage = "leader TOPIC PARTITION N|none";
  if (words.size() != 4) {
    return Usage("MISSING_ARGUMENT", "leader needs a topic, a partition and a broker", kUsage);
  }
  Command c;
  c.kind = CommandKind::kSetLeader;
  c.topic = std::string(words[1]);
  std::optional<int64_t> partition = ParseInteger(words[2]);
  if (!partition || *partition < 0 || *partition > 1'000'000) {
    return Usage("BAD_PARTITION", "'" + std::string(words[2]) + "' is not a partition number",
                 kUsage);
  }
  c.partition = static_cast<int32_t>(*partition);
  if (ToLower(words[3]) == "none") {
    c.broker_id = kNoLeader;
  } else {
    absl::StatusOr<int32_t> id = ParseBrokerId(words[3], kUsage);
    if (!id.ok()) return id.status();
    if (*id == kAllBrokers) {
      return Usage("BAD_BROKER_ID", "a partition has one leader, not all", kUsage);
    }
    c.broker_id = *id;
  }
  return c;
}

absl::StatusOr<Command> ParseNoArgs(const Words& words, CommandKind kind) {
  if (words.size() != 1) {
    return Usage("EXTRA_ARGUMENT", "'" + std::string(words[0]) + "' takes no arguments",
                 std::string(words[0]));
  }
  Command c;
  c.kind = kind;
  return c;
}

}  // namespace

absl::StatusOr<std::optional<Command>> ParseCommand(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  Words words = SplitWords(line);
  if (words.empty() || words[0].front() == '#') return std::optional<Command>();

  std::string verb = ToLower(words[0]);
  absl::StatusOr<Command> command;
  if (verb == "broker") {
    command = ParseBroker(words);
  } else if (verb == "error") {
    command = ParseError(words);
  } else if (verb == "clear") {
    command = ParseClear(words);
  } else if (verb == "leader") {
    command = ParseLeader(words);
  } else if (verb == "partitions") {
    command = ParseNoArgs(words, CommandKind::kPartitions);
  } else if (verb == "status") {
    command = ParseNoArgs(words, CommandKind::kStatus);
  } else if (verb == "help") {
    command = ParseNoArgs(words, CommandKind::kHelp);
  } else if (verb == "quit" || verb == "exit") {
    command = ParseNoArgs(words, CommandKind::kQuit);
  } else {
    std::string shown(words[0].substr(0, 64));
    return absl::InvalidArgumentError("UNKNOWN_COMMAND: '" + shown +
                                      "' is not a command (try help)");
  }
  if (!command.ok()) return command.status();
  return std::optional<Command>(*std::move(command));
}

std::string HelpText() {
  return "commands: broker down N|all; broker up N|all; broker rtt N|all MS; "
         "error API CODE [COUNT] (e.g. error Produce NOT_LEADER_FOR_PARTITION 3); "
         "clear errors [API]; leader TOPIC PARTITION N|none; partitions; status; help; quit. "
         "One reply line each: 'ok ...' or 'error REASON: what to fix'.";
}

}  // namespace sb::broker
