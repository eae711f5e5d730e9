// switchboard apply -f FILE: reads a routing config YAML, checks it locally (the parser, then a
// local routing engine, so errors carry file:line) and sends it to ConfigService.ApplyConfig.

#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "routing/config/routing_config.h"
#include "switchboard/apply.h"
#include "switchboard/commands.h"
#include "switchboard/config_check.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"
#include "switchboard/rpc.h"

namespace sb::cli {

namespace v1 = ::switchboard::routing::v1;

absl::StatusOr<routing::config::RoutingConfig> ReadConfigArgument(const std::string& file) {
  if (file == "-") {
    const std::string text{std::istreambuf_iterator<char>(std::cin),
                           std::istreambuf_iterator<char>()};
    return routing::config::ParseRoutingConfig(text, "<stdin>");
  }
  return routing::config::LoadRoutingConfig(file);
}

grpc::Status ApplyConfig(ServerSet& servers, const std::string& tenant,
                         const routing::config::RoutingConfig& config, bool dry_run,
                         v1::ApplyConfigResponse* response) {
  v1::ApplyConfigRequest request;
  request.set_tenant_id(tenant);
  request.set_dry_run(dry_run);
  // In the order a fresh engine accepts (the service applies the items in request order): a
  // queue that overflows or escalates into another one is sent twice, first without the
  // reference and again whole after the others, so forward references and cycles work.
  for (const v1::RoutingCommand& c : routing::config::ConfigCommands(config)) {
    if (c.has_upsert_queue()) *request.add_queues() = c.upsert_queue().queue();
    if (c.has_upsert_agent()) *request.add_agents() = c.upsert_agent().profile();
  }
  return servers.Call(
      [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext* context) {
        return v1::ConfigService::NewStub(channel)->ApplyConfig(context, request, response);
      });
}

namespace {

struct ApplyFlags {
  std::string file;
  bool dry_run = false;
  ServerFlags server;
};

int RunApply(const ApplyFlags& flags) {
  std::unique_ptr<ServerSet> servers = MakeServerSet(flags.server, std::cerr);
  if (servers == nullptr) return kExitUsage;
  absl::StatusOr<routing::config::RoutingConfig> config = ReadConfigArgument(flags.file);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return kExitFailure;
  }
  std::map<std::string, int> members;
  if (const int rejected = CheckWithEngine(*config, std::cerr, &members); rejected > 0) {
    std::cerr << fmt::format("error: {}: {} error(s); nothing was sent\n", flags.file, rejected);
    return kExitFailure;
  }
  v1::ApplyConfigResponse response;
  const grpc::Status status =
      ApplyConfig(*servers, flags.server.tenant, *config, flags.dry_run, &response);
  if (!status.ok()) {
    PrintRpcError(status, *servers, std::cerr);
    return kExitFailure;
  }
  if (flags.dry_run) {
    std::cout << fmt::format(
        "dry run: tenant {} would accept {} queues and {} agents from {}; nothing was changed\n",
        flags.server.tenant, config->queues.size(), config->agents.size(), flags.file);
  } else {
    std::cout << fmt::format("applied {} queues and {} agents to tenant {} (config version {})\n",
                             config->queues.size(), config->agents.size(), flags.server.tenant,
                             response.config_version());
  }
  for (const v1::Queue& q : config->queues) {
    const int n = members[q.queue_id()];
    std::cout << fmt::format("  queue {:<24} {:>5} members{}\n", q.queue_id(), n,
                             n == 0 ? "   warning: nobody can answer this queue" : "");
  }
  return kExitOk;
}

}  // namespace

void AddApplyCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<ApplyFlags>();
  CLI::App* cmd = app.add_subcommand(
      "apply",
      "Send a routing config (queues and agent profiles, docs/configuration.md) to the routing "
      "service: upserts, in file order. The file is checked locally first (syntax, fields, then "
      "the routing engine's own validation), so mistakes are reported with file:line and "
      "nothing is sent; the service validates again and applies all or nothing.");
  cmd->add_option("-f,--file", flags->file, "Routing config YAML, or - for stdin")->required();
  cmd->add_flag("--dry-run", flags->dry_run,
                "Have the service validate the config without applying anything");
  AddServerFlags(cmd, &flags->server);
  cmd->footer(
      "Examples:\n"
      "  switchboard apply -f tools/switchboard/examples/contact_center.yaml\n"
      "  switchboard apply -f queues.yaml --tenant acme --server 10.0.0.5:7070 --dry-run\n"
      "  switchboard config validate queues.yaml   # the same local checks, nothing sent\n"
      "Exit status: 0 applied; 1 the file is invalid (each error names file:line and the field) "
      "or the service refused it (error: CODE: message); 2 bad usage.");
  cmd->callback([flags, exit_code] { *exit_code = RunApply(*flags); });
}

}  // namespace sb::cli
