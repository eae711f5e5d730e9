#include "policy/service/metrics.h"

#include <chrono>

#include "prometheus/text_serializer.h"

namespace sb::policy {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

PolicyMetrics::PolicyMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      decisions_(BuildCounter()
                     .Name("switchboard_policy_decisions_total")
                     .Help("Policy decisions, by kind, outcome (allow/deny) and dry_run.")
                     .Register(*registry_)),
      refused_(BuildCounter()
                   .Name("switchboard_policy_requests_refused_total")
                   .Help("Evaluate requests refused without a decision, by stable reason.")
                   .Register(*registry_)),
      latency_(BuildHistogram()
                   .Name("switchboard_policy_evaluation_seconds")
                   .Help("Time to decide a request (bundle lookup, routing facts, rules), by "
                         "kind; publishing excluded.")
                   .Register(*registry_)),
      publish_failures_(BuildCounter()
                            .Name("switchboard_policy_publish_failures_total")
                            .Help("Decisions the broker did not acknowledge in time (the request "
                                  "answered UNAVAILABLE and nothing was carried out).")
                            .Register(*registry_)
                            .Add({})),
      obligations_sent_(BuildCounter()
                            .Name("switchboard_policy_routing_commands_sent_total")
                            .Help("Routing commands sent to carry out obligations.")
                            .Register(*registry_)
                            .Add({})),
      obligation_failures_(BuildCounter()
                               .Name("switchboard_policy_routing_command_failures_total")
                               .Help("Routing commands for obligations that could not be sent "
                                     "(the request answered UNAVAILABLE; a retry with the same "
                                     "request_id sends them once).")
                               .Register(*registry_)
                               .Add({})),
      bundle_info_(BuildGauge()
                       .Name("switchboard_policy_bundle_info")
                       .Help("The bundles in force (value 1), by bundle, tenant and version.")
                       .Register(*registry_)),
      reload_failures_(BuildCounter()
                           .Name("switchboard_policy_reload_failures_total")
                           .Help("New bundle versions rejected (the last good version stays in "
                                 "force), by bundle file name.")
                           .Register(*registry_)),
      reload_time_(BuildGauge()
                       .Name("switchboard_policy_last_reload_timestamp_seconds")
                       .Help("When the set of bundles in force last changed (Unix time).")
                       .Register(*registry_)
                       .Add({})) {}

std::string PolicyMetrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

void PolicyMetrics::Decided(const std::string& kind, bool allow, bool dry_run, double seconds) {
  decisions_
      .Add({{"kind", kind},
            {"outcome", allow ? "allow" : "deny"},
            {"dry_run", dry_run ? "true" : "false"}})
      .Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1, 1};
  latency_.Add({{"kind", kind}}, kBuckets).Observe(seconds);
}

void PolicyMetrics::Refused(const std::string& reason) {
  refused_.Add({{"reason", reason}}).Increment();
}
void PolicyMetrics::PublishFailed() { publish_failures_.Increment(); }
void PolicyMetrics::ObligationSent() { obligations_sent_.Increment(); }
void PolicyMetrics::ObligationFailed() { obligation_failures_.Increment(); }

void PolicyMetrics::SetBundles(const BundleSet& set) {
  std::lock_guard<std::mutex> lock(mu_);
  for (prometheus::Gauge* g : info_series_) bundle_info_.Remove(g);
  info_series_.clear();
  for (const auto& b : set.bundles()) {
    prometheus::Gauge& g =
        bundle_info_.Add({{"bundle", b->name}, {"tenant", b->tenant}, {"version", b->version}});
    g.Set(1);
    info_series_.push_back(&g);
  }
  reload_time_.Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

void PolicyMetrics::ReloadFailed(const std::string& bundle) {
  reload_failures_.Add({{"bundle", bundle}}).Increment();
}

}  // namespace sb::policy
