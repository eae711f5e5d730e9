#pragma once
// The control protocol of sb-embedded-broker: one command per line, on stdin or a control-port
// connection. ParseCommand turns a line into a Command; CommandHandler (command_handler.h) runs
// it. The grammar is in docs/embedded-broker.md and in HelpText(). Thread-safe (pure functions).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sb::broker {

// Broker id meaning "every broker" (the word `all` on the wire).
inline constexpr int32_t kAllBrokers = -1;
// Partition leader meaning "no leader" (the word `none` on the wire).
inline constexpr int32_t kNoLeader = -1;

inline constexpr int kMaxRttMs = 600'000;
inline constexpr int kMaxErrorCount = 100'000;

enum class CommandKind {
  kBrokerDown,   // broker down N|all
  kBrokerUp,     // broker up N|all
  kBrokerRtt,    // broker rtt N|all MS
  kPushErrors,   // error API CODE [COUNT]
  kClearErrors,  // clear errors [API]
  kSetLeader,    // leader TOPIC PARTITION N|none
  kPartitions,   // partitions
  kStatus,       // status
  kHelp,         // help
  kQuit,         // quit
};

// Command: one parsed control line. Only the fields of its kind are meaningful. Broker ids are
// checked against the cluster's size by the handler, not here (the parser does not know it).
struct Command {
  CommandKind kind = CommandKind::kHelp;
  int32_t broker_id = 0;             // kBroker*: 1..N or kAllBrokers; kSetLeader: or kNoLeader
  int rtt_ms = 0;                    // kBrokerRtt
  int16_t api_key = 0;               // kPushErrors
  std::optional<int16_t> clear_api;  // kClearErrors: nullopt = every request type
  int error_code = 0;                // kPushErrors
  int count = 1;                     // kPushErrors
  std::string topic;                 // kSetLeader
  int32_t partition = 0;             // kSetLeader
};

// Parses one line (without its newline; a trailing '\r' is tolerated). Words are separated by
// spaces or tabs; command words are case-insensitive. Errors are InvalidArgument with a message
// "REASON: what to fix", e.g. "UNKNOWN_COMMAND: 'frob' is not a command (try help)".
//
// Returns nullopt (inside the StatusOr) for lines to ignore silently: blank lines and comments
// starting with '#', so a human can space out a session and scripts can annotate theirs.
absl::StatusOr<std::optional<Command>> ParseCommand(std::string_view line);

// The one-line summary `help` answers with.
std::string HelpText();

}  // namespace sb::broker
