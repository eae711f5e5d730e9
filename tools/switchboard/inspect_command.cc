// switchboard queues / switchboard agents: the live state of a tenant's routing domain, from
// ConfigService.ListQueues and ListAgents of the replica that owns it.

#include <iostream>
#include <memory>
#include <string>

#include "switchboard/commands.h"
#include "switchboard/render.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"
#include "switchboard/rpc.h"

namespace sb::cli {
namespace {

namespace v1 = ::switchboard::routing::v1;

struct InspectFlags {
  ServerFlags server;
  std::string output = "table";
};

grpc::Status ListQueues(ServerSet& servers, const std::string& tenant,
                        v1::ListQueuesResponse* response) {
  v1::ListQueuesRequest request;
  request.set_tenant_id(tenant);
  return servers.Call(
      [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext* context) {
        return v1::ConfigService::NewStub(channel)->ListQueues(context, request, response);
      });
}

grpc::Status ListAgents(ServerSet& servers, const std::string& tenant,
                        v1::ListAgentsResponse* response) {
  v1::ListAgentsRequest request;
  request.set_tenant_id(tenant);
  return servers.Call(
      [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext* context) {
        return v1::ConfigService::NewStub(channel)->ListAgents(context, request, response);
      });
}

int RunQueues(const InspectFlags& flags) {
  std::unique_ptr<ServerSet> servers = MakeServerSet(flags.server, std::cerr);
  if (servers == nullptr) return kExitUsage;
  v1::ListQueuesResponse queues;
  grpc::Status status = ListQueues(*servers, flags.server.tenant, &queues);
  if (status.ok() && flags.output == "json") {
    std::cout << ToJson(queues) << "\n";
    return kExitOk;
  }
  v1::ListAgentsResponse agents;  // for members, availability and interactions in progress
  if (status.ok()) status = ListAgents(*servers, flags.server.tenant, &agents);
  if (!status.ok()) {
    PrintRpcError(status, *servers, std::cerr);
    return kExitFailure;
  }
  if (queues.queues().empty()) {
    std::cerr << "tenant " << flags.server.tenant
              << " has no queues (declare some with `switchboard apply -f FILE`)\n";
    return kExitOk;
  }
  std::cout << QueuesTable(SummarizeQueues(queues, agents));
  return kExitOk;
}

int RunAgents(const InspectFlags& flags) {
  std::unique_ptr<ServerSet> servers = MakeServerSet(flags.server, std::cerr);
  if (servers == nullptr) return kExitUsage;
  v1::ListAgentsResponse agents;
  const grpc::Status status = ListAgents(*servers, flags.server.tenant, &agents);
  if (!status.ok()) {
    PrintRpcError(status, *servers, std::cerr);
    return kExitFailure;
  }
  if (flags.output == "json") {
    std::cout << ToJson(agents) << "\n";
  } else if (agents.agents().empty()) {
    std::cerr << "tenant " << flags.server.tenant
              << " has no agents (declare some with `switchboard apply -f FILE`)\n";
  } else {
    std::cout << AgentsTable(agents);
  }
  return kExitOk;
}

void AddOutputFlag(CLI::App* cmd, std::string* output) {
  cmd->add_option("--output,-o", *output,
                  "table (for people) or json (the API response, proto3 JSON mapping, one line)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

}  // namespace

void AddInspectCommands(CLI::App& app, int* exit_code) {
  auto queues_flags = std::make_shared<InspectFlags>();
  CLI::App* queues = app.add_subcommand(
      "queues",
      "List a tenant's queues: channel, strategy, priority, members (agents the membership "
      "admits), how many are logged in and available, interactions offered and connected, "
      "agents in wrap-up, handled count and average handle time.");
  AddServerFlags(queues, &queues_flags->server);
  AddOutputFlag(queues, &queues_flags->output);
  queues->footer(
      "Examples:\n"
      "  switchboard queues\n"
      "  switchboard queues --tenant acme --server 10.0.0.5:7070,10.0.0.6:7070\n"
      "  switchboard queues -o json | jq '.queues[].config.queue_id'\n"
      "Exit status: 0 listed; 1 the service could not answer (error: CODE: message); 2 bad "
      "usage.");
  queues->callback([queues_flags, exit_code] { *exit_code = RunQueues(*queues_flags); });

  auto agents_flags = std::make_shared<InspectFlags>();
  CLI::App* agents = app.add_subcommand(
      "agents",
      "List a tenant's agents: presence (available, aux:REASON, offline; a break pending after "
      "the current interaction), occupancy per channel (in use / capacity), the interactions "
      "they hold and in which phase, handled count and team.");
  AddServerFlags(agents, &agents_flags->server);
  AddOutputFlag(agents, &agents_flags->output);
  agents->footer(
      "Examples:\n"
      "  switchboard agents\n"
      "  switchboard agents --tenant acme -o json\n"
      "Exit status: 0 listed; 1 the service could not answer (error: CODE: message); 2 bad "
      "usage.");
  agents->callback([agents_flags, exit_code] { *exit_code = RunAgents(*agents_flags); });
}

}  // namespace sb::cli
