// switchboard config validate: checks a routing config YAML, first its syntax and fields, then
// against a fresh routing engine (the same validation `apply` will meet).

#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "routing/config/routing_config.h"
#include "switchboard/commands.h"
#include "switchboard/config_check.h"

namespace sb::cli {
namespace {

namespace v1 = ::switchboard::routing::v1;

struct ValidateFlags {
  std::string file;
  bool print = false;
};

int RunValidate(const ValidateFlags& flags) {
  absl::StatusOr<routing::config::RoutingConfig> config =
      routing::config::LoadRoutingConfig(flags.file);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return 1;
  }
  std::map<std::string, int> members;
  const int rejected = CheckWithEngine(*config, std::cerr, &members);
  if (rejected > 0) {
    std::cerr << fmt::format("{}: {} error(s)\n", flags.file, rejected);
    return 1;
  }
  if (flags.print) std::cout << routing::config::RoutingConfigToYaml(*config);
  std::cerr << fmt::format("{}: OK: {} queues, {} agents\n", flags.file, config->queues.size(),
                           config->agents.size());
  for (const v1::Queue& q : config->queues) {
    const int n = members[q.queue_id()];
    std::cerr << fmt::format("  {:<24} {:>5} members{}\n", q.queue_id(), n,
                             n == 0 ? "   warning: nobody can answer this queue" : "");
  }
  return 0;
}

}  // namespace

void AddConfigCommand(CLI::App& app, int* exit_code) {
  CLI::App* config =
      app.add_subcommand("config", "Work with routing config files (queues and agents).");
  config->require_subcommand(1);
  auto flags = std::make_shared<ValidateFlags>();
  CLI::App* validate = config->add_subcommand(
      "validate",
      "Check a routing config YAML: syntax, unknown keys, types and ranges, references between "
      "queues, then the routing engine's own validation on a fresh in-memory engine (nothing "
      "is sent anywhere). Prints each queue's member count.");
  validate->add_option("file", flags->file, "Routing config YAML (see docs/configuration.md).")
      ->required()
      ->check(CLI::ExistingFile);
  validate->add_flag("--print", flags->print,
                     "Also print the config back in canonical form (defaults left out, bulk "
                     "agents expanded) on stdout.");
  validate->footer(
      "Example:\n"
      "  switchboard config validate queues.yaml\n"
      "Exit status: 0 if valid, 1 otherwise (each error names file:line and the field).");
  validate->callback([flags, exit_code] { *exit_code = RunValidate(*flags); });
}

}  // namespace sb::cli
