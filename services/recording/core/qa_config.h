// QA configuration: per-tenant settings of the review workflow, loaded from YAML
// (deploy/recording/qa.yaml; docs/qa.md, "Configuration").
//
// A `defaults` block, then `tenants.<id>` blocks that override any part of it, each with
// `queues.<id>` blocks that override the queue-level settings (sampling, retention, the queue's
// answer-time target for feedback, the form). Blocks merge key by key over their parent, except
// `sampling`, which replaces the parent's sampling whole (its keys decide its mode). Loading is
// strict: unknown or repeated keys and out-of-range values are InvalidArgument
// "INVALID_QA_CONFIG: qa.yaml:12: tenants.acme.sampling.rate: 1.5 is out of range (0..1)".
//
// A QaConfig is immutable after loading and safe to share between threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "recording/core/calibration.h"
#include "recording/core/coaching.h"
#include "recording/core/feedback.h"
#include "recording/core/triggers.h"

namespace sb::recording::qa {

// The settings that apply to one tenant, or to one queue of a tenant.
struct QaSettings {
  std::string form_id = "default";  // the evaluation form reviews are scored with
  FeedbackSettings feedback;        // includes low_csat_threshold
  SamplePolicy sampling;            // scope "" (tenant) or the queue id (queue override)
  CoachingSettings coaching;
  CalibrationOptions calibration;
  int32_t retention_days = 365;  // recordings and reviews; 0 keeps them forever
};

class QaConfig {
 public:
  // Built-in defaults only (no tenants).
  QaConfig() = default;

  const QaSettings& defaults() const { return defaults_; }
  // The settings of a tenant's queue: the queue's block over the tenant's over the defaults.
  // An unknown tenant gets the defaults; an unknown or empty queue the tenant's settings.
  const QaSettings& For(std::string_view tenant, std::string_view queue = "") const;
  // For(tenant, queue).sampling, in the shape SelectWeeklySample wants.
  SamplePolicy SamplingFor(const std::string& tenant, const std::string& queue) const {
    return For(tenant, queue).sampling;
  }
  // The tenants with a block of their own, sorted.
  std::vector<std::string> Tenants() const;
  // 16 hex digits of the source text's hash, for logs ("qa config 1a2b... loaded").
  const std::string& content_hash() const { return content_hash_; }

 private:
  friend absl::StatusOr<QaConfig> ParseQaConfig(const std::string& text, const std::string& file);
  struct TenantSettings {
    QaSettings settings;
    std::map<std::string, QaSettings, std::less<>> queues;
  };
  QaSettings defaults_;
  std::map<std::string, TenantSettings, std::less<>> tenants_;
  std::string content_hash_;
};

// ParseQaConfig
//
// `file` names the text in errors (the core does no IO: the service reads the file). Empty text
// gives the built-in defaults.
absl::StatusOr<QaConfig> ParseQaConfig(const std::string& text, const std::string& file);

}  // namespace sb::recording::qa
