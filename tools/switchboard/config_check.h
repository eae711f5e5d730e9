// The routing engine's own validation of a routing config, run locally before anything is sent:
// what `switchboard config validate`, `apply` and `up` share.
#pragma once

#include <map>
#include <ostream>
#include <string>

#include "routing/config/routing_config.h"

namespace sb::cli {

// CheckWithEngine
//
// Declares `config` to a fresh in-memory routing engine, the way the routing service will, and
// prints each rejection as "file:line: queues[1]: rejected by the routing engine: REASON: ..."
// to `err`. Returns the number of rejections; `members` (optional) receives each queue's member
// count.
int CheckWithEngine(const routing::config::RoutingConfig& config, std::ostream& err,
                    std::map<std::string, int>* members = nullptr);

}  // namespace sb::cli
