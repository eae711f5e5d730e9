// The routing commands that carry out a decision's routing obligations (DESIGN §4): an allowed
// disconnect ends the interaction (AgentDisconnect), a recovery break puts the agent in aux
// "recovery" after the interaction (StartRecoveryBreak), an escalation escalates (Escalate).
// Command ids derive from the decision id, so carrying out a decision twice (a retried request)
// is applied once by routing.
#pragma once

#include <vector>

#include "switchboard/policy/v1/policy.pb.h"
#include "switchboard/routing/v1/commands.pb.h"

namespace sb::policy {

// In the order routing must apply them (the disconnect before the break). Empty for dry runs and
// for decisions without routing obligations. command time is left unset (the sender fills it).
std::vector<::switchboard::routing::v1::RoutingCommand> RoutingCommandsFor(
    const ::switchboard::policy::v1::PolicyDecision& decision);

}  // namespace sb::policy
