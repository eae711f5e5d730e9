#include "policy/core/obligations.h"

#include "absl/strings/str_cat.h"

namespace sb::policy {

namespace rv1 = ::switchboard::routing::v1;
namespace v1 = ::switchboard::policy::v1;

std::vector<rv1::RoutingCommand> RoutingCommandsFor(const v1::PolicyDecision& d) {
  std::vector<rv1::RoutingCommand> out;
  if (d.dry_run()) return out;
  auto next = [&]() -> rv1::RoutingCommand& {
    rv1::RoutingCommand& c = out.emplace_back();
    c.set_command_id(absl::StrCat(d.decision_id(), "/", out.size()));
    c.set_tenant_id(d.tenant_id());
    return c;
  };
  for (const v1::Obligation& o : d.obligations()) {
    switch (o.kind_case()) {
      case v1::Obligation::kEndInteraction: {
        rv1::AgentDisconnect* c = next().mutable_agent_disconnect();
        c->set_agent_id(d.agent_id());
        c->set_interaction_id(d.interaction_id());
        c->set_category(o.end_interaction().category());
        c->set_policy_decision_id(d.decision_id());
        break;
      }
      case v1::Obligation::kRecoveryBreak: {
        rv1::StartRecoveryBreak* c = next().mutable_start_recovery_break();
        c->set_agent_id(d.agent_id());
        c->mutable_duration()->set_seconds(int64_t{o.recovery_break().minutes()} * 60 +
                                           o.recovery_break().seconds());
        c->set_policy_decision_id(d.decision_id());
        break;
      }
      case v1::Obligation::kEscalate: {
        rv1::Escalate* c = next().mutable_escalate();
        c->set_agent_id(d.agent_id());
        c->set_interaction_id(d.interaction_id());
        c->set_reason(absl::StrCat("policy:", d.rule()));
        c->set_cold(o.escalate().cold());
        c->set_queue_id(o.escalate().queue_id());
        c->set_priority_boost(o.escalate().priority_boost());
        break;
      }
      default:
        break;  // carried out by other services from sb.policy.decisions.v1
    }
  }
  return out;
}

}  // namespace sb::policy
