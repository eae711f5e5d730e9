// AgentStateMetrics: the Prometheus metrics of sb-agent-state (docs/agent-state.md). Thread-safe.
// Labels are bounded: request kinds, presences and close reasons are fixed sets.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace sb::agent_state {

class AgentStateMetrics {
 public:
  AgentStateMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void SetConnected(size_t n);
  void SetAgentsByPresence(const std::map<std::string, int64_t>& counts);
  // An offer shown on a desktop was accepted after `seconds`.
  void OfferAccepted(double seconds);
  // An offer timed out on an agent (the interaction went back to the queue).
  void OfferMissed();
  void EscalationJoined(double seconds);
  // A desktop request: kind (DesktopRequest body field name), result "ok" or the stable reason.
  void Request(const std::string& kind, const std::string& result);
  void EventsPushed(size_t n);
  void SessionClosed(const std::string& reason);
  void EventsApplied(size_t n);
  // A Supervisor call: action (join_escalation, answer_approval, force_state, send_message,
  // intervene_monitor, intervene_whisper, intervene_barge), result "ok" or the stable reason.
  void SupervisorAction(const std::string& action, const std::string& result);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& connected_;
  prometheus::Family<prometheus::Gauge>& agents_;
  prometheus::Histogram& offer_accept_;
  prometheus::Counter& missed_;
  prometheus::Histogram& join_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Counter& pushed_;
  prometheus::Family<prometheus::Counter>& closed_;
  prometheus::Counter& applied_;
  prometheus::Family<prometheus::Counter>& supervisor_;
};

}  // namespace sb::agent_state
