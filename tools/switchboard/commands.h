// The subcommands of the `switchboard` CLI. Each Add*Command registers one subcommand (its
// flags, help and callback) on the app; the callback stores its process exit code in
// *exit_code: 0 on success, 1 when the operation failed (invalid input file, an error from a
// service, a child process that died), 2 for bad usage (a flag value that cannot be right).
#pragma once

#include "CLI/CLI.hpp"

namespace sb::cli {

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// switchboard simulate SCENARIO.yaml [--seed N] [--duration D] [--json] [--progress] [--quiet]
void AddSimulateCommand(CLI::App& app, int* exit_code);

// switchboard config validate FILE.yaml [--print]
void AddConfigCommand(CLI::App& app, int* exit_code);

// switchboard policy validate BUNDLE... and switchboard policy test [BUNDLE...] [--builtin]
//                                        [--quiet] [--output text|json]
void AddPolicyCommand(CLI::App& app, int* exit_code);

// switchboard up [--demo] [--partitions N] [--config FILE] [--tenant T] [--grpc-port P]
//                [--metrics-port P] [--duration S] [--replicas N] ...
void AddUpCommand(CLI::App& app, int* exit_code);

// switchboard apply -f FILE [--dry-run] [--server ADDR[,ADDR...]] [--tenant T]
void AddApplyCommand(CLI::App& app, int* exit_code);

// switchboard queues | agents [--output table|json] [--server ...] [--tenant T]
void AddInspectCommands(CLI::App& app, int* exit_code);

// switchboard enqueue --queue Q [...] and switchboard watch INTERACTION_ID [...]
void AddInteractionCommands(CLI::App& app, int* exit_code);

// switchboard audit verify [--server ADDR] [-o text|json] and
// switchboard audit list --recording ID [--tenant T] [--after-seq N] [--limit N]
void AddAuditCommand(CLI::App& app, int* exit_code);

// switchboard forecast --queue Q [--day YYYY-MM-DD] [--seasonality weekly|daily] [...]
void AddForecastCommand(CLI::App& app, int* exit_code);

}  // namespace sb::cli
