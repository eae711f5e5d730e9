// switchboard: the command-line tool of the Switchboard ACD. The commands live in their own
// files (see commands.h); this only assembles them.
#include "CLI/CLI.hpp"
#include "switchboard/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"switchboard: the command-line tool of the Switchboard ACD.", "switchboard"};
  app.require_subcommand(1);
  app.footer("Run `switchboard COMMAND --help` for a command's flags and examples.");
  int exit_code = 0;
  sb::cli::AddSimulateCommand(app, &exit_code);
  sb::cli::AddConfigCommand(app, &exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
