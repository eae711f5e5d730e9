#include "agent_state/service/metrics.h"

namespace sb::agent_state {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

AgentStateMetrics::AgentStateMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      connected_(BuildGauge()
                     .Name("switchboard_agent_state_desktops_connected")
                     .Help("Agent desktops connected to this replica.")
                     .Register(*registry_)
                     .Add({})),
      agents_(BuildGauge()
                  .Name("switchboard_agent_state_agents")
                  .Help("Agents known to routing, by presence (all tenants).")
                  .Register(*registry_)),
      offer_accept_(
          BuildHistogram()
              .Name("switchboard_agent_state_offer_accept_seconds")
              .Help("From an offer pushed to a desktop to its acceptance.")
              .Register(*registry_)
              .Add({}, Histogram::BucketBoundaries{0.25, 0.5, 1, 2, 3, 5, 8, 13, 20, 30, 60})),
      missed_(
          BuildCounter()
              .Name("switchboard_agent_state_offers_missed_total")
              .Help("Offers that timed out on an agent (the interaction went back to the queue).")
              .Register(*registry_)
              .Add({})),
      join_(BuildHistogram()
                .Name("switchboard_agent_state_escalation_join_seconds")
                .Help("From an escalation's creation to a supervisor joining it.")
                .Register(*registry_)
                .Add({}, Histogram::BucketBoundaries{1, 5, 10, 20, 30, 60, 120, 300, 600, 1800})),
      requests_(BuildCounter()
                    .Name("switchboard_agent_state_requests_total")
                    .Help("Desktop requests, by kind and result (ok or the stable reason).")
                    .Register(*registry_)),
      pushed_(BuildCounter()
                  .Name("switchboard_agent_state_events_pushed_total")
                  .Help("Desktop events pushed to connected desktops.")
                  .Register(*registry_)
                  .Add({})),
      closed_(BuildCounter()
                  .Name("switchboard_agent_state_sessions_closed_total")
                  .Help("Desktop sessions ended, by reason.")
                  .Register(*registry_)),
      applied_(BuildCounter()
                   .Name("switchboard_agent_state_routing_events_applied_total")
                   .Help("Routing events applied to the projection (duplicates excluded).")
                   .Register(*registry_)
                   .Add({})),
      supervisor_(BuildCounter()
                      .Name("switchboard_agent_state_supervisor_actions_total")
                      .Help("Supervisor API calls, by action and result (ok or the stable reason).")
                      .Register(*registry_)) {}

void AgentStateMetrics::SetConnected(size_t n) { connected_.Set(static_cast<double>(n)); }

void AgentStateMetrics::SetAgentsByPresence(const std::map<std::string, int64_t>& counts) {
  for (const char* p : {"offline", "available", "aux"}) {
    auto it = counts.find(p);
    agents_.Add({{"presence", p}}).Set(it == counts.end() ? 0 : static_cast<double>(it->second));
  }
}

void AgentStateMetrics::OfferAccepted(double seconds) { offer_accept_.Observe(seconds); }
void AgentStateMetrics::OfferMissed() { missed_.Increment(); }
void AgentStateMetrics::EscalationJoined(double seconds) { join_.Observe(seconds); }
void AgentStateMetrics::Request(const std::string& kind, const std::string& result) {
  requests_.Add({{"kind", kind}, {"result", result}}).Increment();
}
void AgentStateMetrics::EventsPushed(size_t n) { pushed_.Increment(static_cast<double>(n)); }
void AgentStateMetrics::SessionClosed(const std::string& reason) {
  closed_.Add({{"reason", reason}}).Increment();
}
void AgentStateMetrics::EventsApplied(size_t n) { applied_.Increment(static_cast<double>(n)); }
void AgentStateMetrics::SupervisorAction(const std::string& action, const std::string& result) {
  supervisor_.Add({{"action", action}, {"result", result}}).Increment();
}

}  // namespace sb::agent_state
