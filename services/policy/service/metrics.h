// PolicyMetrics: the Prometheus metrics of sb-policy (docs/policies.md lists them). Thread-safe.
// Labels are bounded: kinds and outcomes are fixed sets; bundles are the files of the policy
// directory.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "policy/core/store.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace sb::policy {

class PolicyMetrics {
 public:
  PolicyMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  std::string Serialize() const;

  // A decision: kind, "allow"/"deny", dry run or not, and evaluation time (request in, decision
  // ready; without publishing).
  void Decided(const std::string& kind, bool allow, bool dry_run, double seconds);
  // A request refused, by stable reason (MISSING_INPUT, ...).
  void Refused(const std::string& reason);
  void PublishFailed();
  void ObligationSent();
  void ObligationFailed();
  // After a reload: switchboard_policy_bundle_info{bundle,tenant,version} for the set in force.
  void SetBundles(const BundleSet& set);
  void ReloadFailed(const std::string& bundle);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& decisions_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Counter& publish_failures_;
  prometheus::Counter& obligations_sent_;
  prometheus::Counter& obligation_failures_;
  prometheus::Family<prometheus::Gauge>& bundle_info_;
  prometheus::Family<prometheus::Counter>& reload_failures_;
  prometheus::Gauge& reload_time_;
  std::mutex mu_;  // guards the bundle_info_ series set
  std::vector<prometheus::Gauge*> info_series_;
};

}  // namespace sb::policy
