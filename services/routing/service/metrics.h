// RoutingMetrics: the Prometheus metrics of sb-routing (docs/routing-service.md lists them).
// Thread-safe: workers, the gRPC threads and the consumer thread all record into it.
// Labels are bounded: command kinds and reject reasons are fixed sets; per-tenant gauges are
// exported for at most `max_tenants` tenants (the rest are counted in
// sb_routing_tenants_unexported).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "routing/engine/engine.h"

namespace sb::routing {

class RoutingMetrics {
 public:
  explicit RoutingMetrics(size_t max_tenants = 100);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The text exposition format, as /metrics serves it.
  std::string Serialize() const;

  // One command applied: its kind (RoutingCommand body field name, e.g. "enqueue"), how long
  // Apply took, and how old the command was when applied (wall clock minus command time).
  void CommandApplied(const std::string& kind, double apply_seconds, double lag_seconds);
  void CommandRejected(const std::string& reason);
  void MalformedRecord();
  void EventsPublished(size_t n);
  void EventPublishFailed();
  // Enqueue (first enqueue time) to the offer, as seen when the offer is published.
  void OfferLatency(double seconds);
  void TickAppended();
  void SnapshotWritten(size_t bytes, double seconds);
  void SnapshotFailed();
  void Recovered(double seconds, size_t commands_replayed);
  void SetPartitionsOwned(int n);
  void SetReady(bool ready);
  void SetTenant(const std::string& tenant, const EngineStats& stats);
  void RemoveTenant(const std::string& tenant);

 private:
  struct TenantGauges {
    prometheus::Gauge* waiting;
    prometheus::Gauge* offered;
    prometheus::Gauge* connected;
    prometheus::Gauge* agents_logged_in;
    prometheus::Gauge* agents_logged_out;
    prometheus::Gauge* queues;
  };

  std::shared_ptr<prometheus::Registry> registry_;
  const size_t max_tenants_;
  prometheus::Family<prometheus::Counter>& applied_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Counter& malformed_;
  prometheus::Counter& events_;
  prometheus::Counter& event_failures_;
  prometheus::Counter& ticks_;
  prometheus::Histogram& apply_seconds_;
  prometheus::Histogram& lag_seconds_;
  prometheus::Histogram& offer_seconds_;
  prometheus::Counter& snapshots_;
  prometheus::Counter& snapshot_failures_;
  prometheus::Gauge& snapshot_bytes_;
  prometheus::Histogram& snapshot_seconds_;
  prometheus::Histogram& recovery_seconds_;
  prometheus::Counter& replayed_;
  prometheus::Gauge& partitions_owned_;
  prometheus::Gauge& ready_;
  prometheus::Family<prometheus::Gauge>& interactions_;
  prometheus::Family<prometheus::Gauge>& agents_;
  prometheus::Family<prometheus::Gauge>& queues_;
  prometheus::Gauge& unexported_;

  std::mutex mu_;
  std::map<std::string, prometheus::Counter*> applied_by_kind_;     // guarded by mu_
  std::map<std::string, prometheus::Counter*> rejected_by_reason_;  // guarded by mu_
  std::map<std::string, TenantGauges> tenants_;                     // guarded by mu_
  std::map<std::string, bool> unexported_tenants_;                  // guarded by mu_
};

}  // namespace sb::routing
