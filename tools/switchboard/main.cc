// switchboard: the command-line tool of the Switchboard ACD. The commands live in their own
// files (see commands.h); this only assembles them.
#include "CLI/CLI.hpp"
#include "switchboard/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"switchboard: the command-line tool of the Switchboard ACD.", "switchboard"};
  app.require_subcommand(1);
  app.footer(
      "Run `switchboard COMMAND --help` for a command's flags and examples.\n"
      "Getting started: `switchboard up --demo` runs everything on this machine.\n"
      "Exit status: 0 on success, 1 when the operation failed, 2 for bad usage.");
  int exit_code = 0;
  sb::cli::AddUpCommand(app, &exit_code);
  sb::cli::AddApplyCommand(app, &exit_code);
  sb::cli::AddInspectCommands(app, &exit_code);
  sb::cli::AddInteractionCommands(app, &exit_code);
  sb::cli::AddSimulateCommand(app, &exit_code);
  sb::cli::AddConfigCommand(app, &exit_code);
  sb::cli::AddPolicyCommand(app, &exit_code);
  sb::cli::AddAuditCommand(app, &exit_code);
  sb::cli::AddForecastCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" with code 0; every other one is bad usage.
    const int code = app.exit(e);
    return code == 0 ? sb::cli::kExitOk : sb::cli::kExitUsage;
  }
  return exit_code;
}
