#include "switchboard/config_check.h"

#include <vector>

#include "fmt/format.h"
#include "routing/engine/engine.h"

namespace sb::cli {

namespace v1 = ::switchboard::routing::v1;

int CheckWithEngine(const routing::config::RoutingConfig& config, std::ostream& err,
                    std::map<std::string, int>* members) {
  std::vector<routing::config::SourceRef> sources;
  std::vector<v1::RoutingCommand> commands = routing::config::ConfigCommands(config, &sources);
  routing::Engine engine("validate");
  std::map<std::string, int> count;
  for (const v1::Queue& q : config.queues) count[q.queue_id()] = 0;
  int rejected = 0;
  std::vector<v1::RoutingEvent> events;
  for (size_t i = 0; i < commands.size(); ++i) {
    commands[i].set_command_id(fmt::format("validate-{}", i + 1));
    commands[i].mutable_time()->set_seconds(1);
    events.clear();
    engine.Apply(commands[i], &events);
    for (const v1::RoutingEvent& e : events) {
      if (e.has_command_rejected()) {
        ++rejected;
        err << fmt::format("{}: {}: rejected by the routing engine: {}: {}\n", sources[i].where,
                           sources[i].path, e.command_rejected().reason(),
                           e.command_rejected().message());
      } else if (e.has_agent_upserted()) {
        for (const std::string& q : e.agent_upserted().queues()) count[q]++;
      }
    }
  }
  if (members != nullptr) *members = std::move(count);
  return rejected;
}

}  // namespace sb::cli
