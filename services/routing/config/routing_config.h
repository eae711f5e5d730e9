// The operator-facing routing configuration: queues and agents as YAML. See
// docs/configuration.md for the format.
//
//   queues:
//     - id: billing
//       strategy: most_skilled
//       skill: billing
//       membership: 'skills.billing >= 1'
//       steps:
//         - {after: 0s, requirement: 'skills.billing >= 4'}
//         - {after: 30s, requirement: 'skills.billing >= 2'}
//       service_level: {target: 0.8, threshold: 20s}
//       overflow: {after: 5m, action: queue, queue: billing-overflow}
//   agents:
//     - {id: alice, skills: {billing: 4, spanish: 3}, capacity: {voice: 1, chat: 3}}
//     - {count: 50, id_prefix: agent-, skills: {billing: 2}}   # agent-001 .. agent-050
//
// Parsing is pure (no IO except the Load* helpers) and thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "routing/config/yaml_reader.h"
#include "switchboard/routing/v1/commands.pb.h"
#include "switchboard/routing/v1/model.pb.h"

namespace sb::routing::config {

namespace v1 = ::switchboard::routing::v1;

// Where a queue or agent was declared, to point engine-side rejections back at the YAML.
struct SourceRef {
  std::string where;  // "queues.yaml:12"
  std::string path;   // "queues[1]" or "agents[3] (agent-007)" for bulk-declared agents
};

// RoutingConfig
//
// The parsed file: queues and agents in file order (bulk declarations expanded), and parallel
// vectors of where each came from.
struct RoutingConfig {
  std::vector<v1::Queue> queues;
  std::vector<v1::AgentProfile> agents;
  std::vector<SourceRef> queue_sources;
  std::vector<SourceRef> agent_sources;
};

// The YAML spellings of the model's enums (lowercase, without the proto prefix).
const std::vector<EnumName>& ChannelNames();
const std::vector<EnumName>& StrategyNames();
const std::vector<EnumName>& OverflowActionNames();

// Parses a routing config document. `file` is used in error messages.
absl::StatusOr<RoutingConfig> ParseRoutingConfig(const std::string& yaml_text,
                                                 const std::string& file);
// Reads and parses a file.
absl::StatusOr<RoutingConfig> LoadRoutingConfig(const std::string& path);
// Parses the map at `node` (keys `queues` and `agents`) as part of a larger document, e.g. the
// `routing:` section of a simulator scenario; `path` prefixes field paths ("routing").
// Errors are recorded in `ctx`.
RoutingConfig ReadRoutingConfig(YamlContext* ctx, const YAML::Node& node, const std::string& path);

// The commands that declare `config` to a fresh engine, in an order the engine accepts: queues
// first (those that overflow or escalate into another queue are declared twice: first without
// the reference, then whole, so references in any order and cycles work), then agents. Only the
// bodies are set: the caller assigns command_id, tenant_id and time. `sources` receives, per
// command, the SourceRef of the entry it came from.
std::vector<v1::RoutingCommand> ConfigCommands(const RoutingConfig& config,
                                               std::vector<SourceRef>* sources = nullptr);

// Renders back to YAML that ParseRoutingConfig reads into equal messages. Defaults are left out.
std::string QueueToYaml(const v1::Queue& queue);
std::string AgentToYaml(const v1::AgentProfile& agent);
std::string RoutingConfigToYaml(const RoutingConfig& config);

}  // namespace sb::routing::config
