// InsightsMetrics: the Prometheus metrics of sb-insights (the catalog is in docs/insights.md,
// "The service (sb-insights)"). Alert rules and the Grafana dashboard use these names.
//
// Thread-safe: counters may be bumped from any thread (ingest, gRPC, HTTP); RefreshFloor is
// called by the housekeeping thread once a second. Labels are bounded: tenant and queue come from
// the queues the routing configuration declared (or traffic named), capped at `max_queue_series`
// (tenant, queue) pairs; queues beyond the cap get no series and are counted in
// switchboard_insights_queue_series_dropped.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "insights/core/stats.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace sb::insights::service {

// The figures of one tenant the gauges show (taken from Statistics under its owner's lock).
struct TenantFigures {
  std::string tenant;
  std::vector<QueueSnapshot> queues;
  std::vector<AgentSnapshot> agents;
};

class InsightsMetrics {
 public:
  explicit InsightsMetrics(size_t max_queue_series = 500);
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The text exposition (tests).
  std::string Serialize() const;

  void EventApplied() { applied_.Increment(); }
  void EventDuplicate() { duplicate_.Increment(); }
  void EventInvalid() { invalid_.Increment(); }
  void SetConsumerLag(int64_t messages) { lag_.Set(static_cast<double>(messages)); }
  void IntervalsWritten(int64_t n) { written_.Increment(static_cast<double>(n)); }
  void StoreError() { store_errors_.Increment(); }
  // Clients receiving pushed floors: the dashboard's server-sent-event streams and gRPC
  // WatchFloor streams.
  void DashboardClientsChanged(int delta) {
    if (delta >= 0) {
      clients_.Increment(delta);
    } else {
      clients_.Decrement(-delta);
    }
  }
  void SetDashboardClients(int64_t n) { clients_.Set(static_cast<double>(n)); }
  void ObservePush(double seconds) { push_.Observe(seconds); }

  // Sets the queue and agent gauges from the figures; removes the series of queues, windows and
  // presences that are no longer there or whose figure became undefined.
  void RefreshFloor(const std::vector<TenantFigures>& figures);

 private:
  using Key = std::vector<std::string>;  // label values in the family's label order
  struct GaugeSet {
    prometheus::Family<prometheus::Gauge>* family;
    std::vector<std::string> labels;
    std::map<Key, prometheus::Gauge*> live;
    std::set<Key> seen;  // this refresh
  };
  void Set(GaugeSet& g, const Key& values, double v);
  void Sweep(GaugeSet& g);

  const size_t max_queue_series_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& applied_;
  prometheus::Counter& duplicate_;
  prometheus::Counter& invalid_;
  prometheus::Gauge& lag_;
  prometheus::Counter& written_;
  prometheus::Counter& store_errors_;
  prometheus::Gauge& clients_;
  prometheus::Histogram& push_;
  prometheus::Gauge& queues_dropped_;

  std::mutex mu_;  // serializes RefreshFloor
  std::set<std::tuple<std::string, std::string>> exported_queues_;
  GaugeSet sl_, sl_target_, asa_, abandon_rate_, waiting_, longest_wait_, queue_agents_, agents_;
};

}  // namespace sb::insights::service
