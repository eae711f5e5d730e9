// The subcommands of the `switchboard` CLI. Each Add*Command registers one subcommand (its
// flags, help and callback) on the app; the callback stores its process exit code in
// *exit_code. Later: up, apply, queues, agents, enqueue, watch.
#pragma once

#include "CLI/CLI.hpp"

namespace sb::cli {

// switchboard simulate SCENARIO.yaml [--seed N] [--duration D] [--json] [--progress] [--quiet]
void AddSimulateCommand(CLI::App& app, int* exit_code);

// switchboard config validate FILE.yaml [--print]
void AddConfigCommand(CLI::App& app, int* exit_code);

}  // namespace sb::cli
