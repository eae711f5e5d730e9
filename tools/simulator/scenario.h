// A simulator scenario: the routing config plus the traffic and the people. See
// docs/simulator.md for the file format and tools/simulator/scenarios/ for examples.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "routing/config/routing_config.h"
#include "simulator/random.h"

namespace sb::sim {

// One Poisson stream of callers into a queue.
struct ArrivalStream {
  std::string queue_id;
  double rate_per_hour = 0;
  // Multipliers of rate_per_hour for hour 0, 1, 2, ... of the run, cycling; empty = flat.
  std::vector<double> profile;
  int32_t priority = 0;
  std::map<std::string, std::string> attributes;
  std::string requirement;
};

// Agents who log in at `start_ms` and log out at `end_ms` (after finishing what they hold).
// Selects agents by explicit ids, id prefix and/or team (all given selectors must match).
struct Shift {
  std::vector<std::string> agents;
  std::string id_prefix;
  std::string team;
  int64_t start_ms = 0;
  int64_t end_ms = 0;  // 0 = until the end of the run
  std::string where;   // "file:line", for messages
};

// How agents answer offers.
struct AgentBehavior {
  Distribution accept_delay = Distribution::Constant(2000);
  double reject_probability = 0;  // the agent declines the offer (after accept_delay)
  double miss_probability = 0;    // the agent never answers: the offer times out
  // After a missed offer the engine puts the agent in AUX "not_responding"; they come back
  // (SetPresence AVAILABLE) after this long.
  int64_t not_responding_ms = 60000;
};

// Scenario
//
// Everything a run needs besides the options of the run itself. Plain data.
struct Scenario {
  std::string file;  // as given, for messages and reports
  uint64_t seed = 1;
  int64_t duration_ms = 3600000;
  // Interactions that arrive before this are simulated but left out of the statistics, as is
  // agent time before it (so the report shows steady state, not an empty center filling up).
  int64_t warmup_ms = 0;
  std::string tenant = "sim";
  routing::config::RoutingConfig routing;
  std::vector<ArrivalStream> arrivals;
  // Handle time (talk, until the agent completes) of interactions answered in each queue.
  std::map<std::string, Distribution> handle_time;
  // Caller patience per queue where the caller arrived; nullopt = never abandons.
  std::map<std::string, std::optional<Distribution>> patience;
  AgentBehavior agent_behavior;
  std::vector<Shift> shifts;
};

// Parses a scenario document. `file` names it in errors; a `routing_file:` is read relative to
// `file`'s directory.
absl::StatusOr<Scenario> ParseScenario(const std::string& yaml_text, const std::string& file);
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace sb::sim
