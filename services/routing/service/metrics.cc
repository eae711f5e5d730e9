#include "routing/service/metrics.h"

#include "prometheus/text_serializer.h"

namespace sb::routing {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// 0.5 ms .. 10 s, roughly x2.5 apart.
Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}
Histogram::BucketBoundaries ApplyBuckets() {
  return {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 1e-3, 1e-2};
}
// Waiting for an offer can take minutes when no agent is free.
Histogram::BucketBoundaries OfferBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

}  // namespace

RoutingMetrics::RoutingMetrics(size_t max_tenants)
    : registry_(std::make_shared<prometheus::Registry>()),
      max_tenants_(max_tenants),
      applied_(BuildCounter()
                   .Name("switchboard_routing_commands_applied_total")
                   .Help("Routing commands applied, by command kind.")
                   .Register(*registry_)),
      rejected_(BuildCounter()
                    .Name("switchboard_routing_commands_rejected_total")
                    .Help("Routing commands rejected by the engine (CommandRejected), by reason.")
                    .Register(*registry_)),
      malformed_(BuildCounter()
                     .Name("switchboard_routing_malformed_records_total")
                     .Help("Records in sb.routing.commands.v1 that are not RoutingCommands "
                           "(skipped).")
                     .Register(*registry_)
                     .Add({})),
      events_(BuildCounter()
                  .Name("switchboard_routing_events_published_total")
                  .Help("Routing events written to sb.routing.events.v1 (acknowledged).")
                  .Register(*registry_)
                  .Add({})),
      event_failures_(BuildCounter()
                          .Name("switchboard_routing_event_publish_failures_total")
                          .Help("Event writes the broker did not acknowledge; each makes the "
                                "partition re-recover from its snapshot.")
                          .Register(*registry_)
                          .Add({})),
      ticks_(BuildCounter()
                 .Name("switchboard_routing_ticks_appended_total")
                 .Help("Tick commands appended for due timers.")
                 .Register(*registry_)
                 .Add({})),
      apply_seconds_(BuildHistogram()
                         .Name("switchboard_routing_command_apply_seconds")
                         .Help("Time the engine took to apply one command.")
                         .Register(*registry_)
                         .Add({}, ApplyBuckets())),
      lag_seconds_(BuildHistogram()
                       .Name("switchboard_routing_command_lag_seconds")
                       .Help("Age of a command when applied (wall clock minus its time).")
                       .Register(*registry_)
                       .Add({}, LatencyBuckets())),
      offer_seconds_(BuildHistogram()
                         .Name("switchboard_routing_enqueue_to_offer_seconds")
                         .Help("From an interaction's enqueue to an offer of it to an agent.")
                         .Register(*registry_)
                         .Add({}, OfferBuckets())),
      snapshots_(BuildCounter()
                     .Name("switchboard_routing_snapshots_written_total")
                     .Help("Partition snapshots written to sb.routing.snapshots.v1.")
                     .Register(*registry_)
                     .Add({})),
      snapshot_failures_(BuildCounter()
                             .Name("switchboard_routing_snapshot_failures_total")
                             .Help("Partition snapshots that could not be written (retried).")
                             .Register(*registry_)
                             .Add({})),
      snapshot_bytes_(BuildGauge()
                          .Name("switchboard_routing_snapshot_bytes")
                          .Help("Size of the last partition snapshot written.")
                          .Register(*registry_)
                          .Add({})),
      snapshot_seconds_(BuildHistogram()
                            .Name("switchboard_routing_snapshot_seconds")
                            .Help("Time to write one partition snapshot.")
                            .Register(*registry_)
                            .Add({}, LatencyBuckets())),
      recovery_seconds_(BuildHistogram()
                            .Name("switchboard_routing_recovery_seconds")
                            .Help("Time to restore a partition (snapshot + replay) after it "
                                  "was assigned.")
                            .Register(*registry_)
                            .Add({}, LatencyBuckets())),
      replayed_(BuildCounter()
                    .Name("switchboard_routing_commands_replayed_total")
                    .Help("Commands replayed after a snapshot during recovery.")
                    .Register(*registry_)
                    .Add({})),
      partitions_owned_(BuildGauge()
                            .Name("switchboard_routing_partitions_owned")
                            .Help("Partitions of sb.routing.commands.v1 this replica owns.")
                            .Register(*registry_)
                            .Add({})),
      ready_(BuildGauge()
                 .Name("switchboard_routing_ready")
                 .Help("1 when every owned partition has caught up (readiness).")
                 .Register(*registry_)
                 .Add({})),
      interactions_(BuildGauge()
                        .Name("switchboard_routing_interactions")
                        .Help("Interactions in a tenant's routing domain, by state.")
                        .Register(*registry_)),
      agents_(BuildGauge()
                  .Name("switchboard_routing_agents")
                  .Help("Agents of a tenant's routing domain, by state.")
                  .Register(*registry_)),
      queues_(BuildGauge()
                  .Name("switchboard_routing_queues")
                  .Help("Queues of a tenant's routing domain.")
                  .Register(*registry_)),
      unexported_(BuildGauge()
                      .Name("switchboard_routing_tenants_unexported")
                      .Help("Tenants owned here whose per-tenant gauges are not exported "
                            "(over the label limit).")
                      .Register(*registry_)
                      .Add({})) {}

std::string RoutingMetrics::Serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void RoutingMetrics::CommandApplied(const std::string& kind, double apply_seconds,
                                    double lag_seconds) {
  prometheus::Counter* c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = applied_by_kind_.find(kind);
    if (it == applied_by_kind_.end()) {
      it = applied_by_kind_.emplace(kind, &applied_.Add({{"command", kind}})).first;
    }
    c = it->second;
  }
  c->Increment();
  apply_seconds_.Observe(apply_seconds);
  lag_seconds_.Observe(lag_seconds < 0 ? 0 : lag_seconds);
}

void RoutingMetrics::CommandRejected(const std::string& reason) {
  prometheus::Counter* c;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = rejected_by_reason_.find(reason);
    if (it == rejected_by_reason_.end()) {
      it = rejected_by_reason_.emplace(reason, &rejected_.Add({{"reason", reason}})).first;
    }
    c = it->second;
  }
  c->Increment();
}

void RoutingMetrics::MalformedRecord() { malformed_.Increment(); }
void RoutingMetrics::EventsPublished(size_t n) { events_.Increment(static_cast<double>(n)); }
void RoutingMetrics::EventPublishFailed() { event_failures_.Increment(); }
void RoutingMetrics::OfferLatency(double seconds) { offer_seconds_.Observe(seconds); }
void RoutingMetrics::TickAppended() { ticks_.Increment(); }
void RoutingMetrics::SnapshotWritten(size_t bytes, double seconds) {
  snapshots_.Increment();
  snapshot_bytes_.Set(static_cast<double>(bytes));
  snapshot_seconds_.Observe(seconds);
}
void RoutingMetrics::SnapshotFailed() { snapshot_failures_.Increment(); }
void RoutingMetrics::Recovered(double seconds, size_t commands_replayed) {
  recovery_seconds_.Observe(seconds);
  replayed_.Increment(static_cast<double>(commands_replayed));
}
void RoutingMetrics::SetPartitionsOwned(int n) { partitions_owned_.Set(n); }
void RoutingMetrics::SetReady(bool ready) { ready_.Set(ready ? 1 : 0); }

void RoutingMetrics::SetTenant(const std::string& tenant, const EngineStats& s) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) {
    if (tenants_.size() >= max_tenants_) {
      unexported_tenants_[tenant] = true;
      unexported_.Set(static_cast<double>(unexported_tenants_.size()));
      return;
    }
    TenantGauges g{
        &interactions_.Add({{"tenant", tenant}, {"state", "waiting"}}),
        &interactions_.Add({{"tenant", tenant}, {"state", "offered"}}),
        &interactions_.Add({{"tenant", tenant}, {"state", "connected"}}),
        &agents_.Add({{"tenant", tenant}, {"state", "logged_in"}}),
        &agents_.Add({{"tenant", tenant}, {"state", "logged_out"}}),
        &queues_.Add({{"tenant", tenant}}),
    };
    it = tenants_.emplace(tenant, g).first;
  }
  const TenantGauges& g = it->second;
  g.waiting->Set(static_cast<double>(s.waiting));
  g.offered->Set(static_cast<double>(s.offered));
  g.connected->Set(static_cast<double>(s.connected));
  g.agents_logged_in->Set(static_cast<double>(s.agents_logged_in));
  g.agents_logged_out->Set(static_cast<double>(s.agents - s.agents_logged_in));
  g.queues->Set(static_cast<double>(s.queues));
}

void RoutingMetrics::RemoveTenant(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unexported_tenants_.erase(tenant) > 0) {
    unexported_.Set(static_cast<double>(unexported_tenants_.size()));
  }
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) return;
  interactions_.Remove(it->second.waiting);
  interactions_.Remove(it->second.offered);
  interactions_.Remove(it->second.connected);
  agents_.Remove(it->second.agents_logged_in);
  agents_.Remove(it->second.agents_logged_out);
  queues_.Remove(it->second.queues);
  tenants_.erase(it);
}

}  // namespace sb::routing
