#include "recording/core/qa_config.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "recording/core/qa_common.h"
#include "routing/config/yaml_reader.h"

namespace sb::recording::qa {
namespace {

using routing::config::EnumName;
using routing::config::ForEachEntry;
using routing::config::ForEachItem;
using routing::config::MapReader;
using routing::config::YamlContext;

enum class Level { kDefaults, kTenant, kQueue };

const std::vector<EnumName>& CauseNames() {
  static const auto* names =
      new std::vector<EnumName>{{"agent", static_cast<int>(FeedbackCause::kAgent)},
                                {"queue", static_cast<int>(FeedbackCause::kQueue)},
                                {"unknown", static_cast<int>(FeedbackCause::kUnknown)}};
  return *names;
}

bool IsName(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

void ReadStringList(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                    std::vector<std::string>* out) {
  std::vector<std::string> items;
  if (!node.IsSequence()) {
    ctx->Fail(node, path, "expected a list, e.g. [wait, queue]");
    return;
  }
  ForEachItem(ctx, node, path, [&](const YAML::Node& item, const std::string& item_path) {
    std::string s;
    if (!routing::config::ReadString(ctx, item, item_path, &s)) return;
    if (s.empty()) {
      ctx->Fail(item, item_path, "must not be empty");
      return;
    }
    items.push_back(std::move(s));
  });
  if (ctx->ok()) *out = std::move(items);
}

void ReadFeedback(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                  FeedbackSettings* f) {
  MapReader r(ctx, node, path,
              {"short_wait", "default_queue_target", "waiting_keywords", "review_causes"});
  if (!r.valid()) return;
  r.DurationMs("short_wait", &f->short_wait_ms);
  r.DurationMs("default_queue_target", &f->default_queue_target_ms);
  if (r.Has("waiting_keywords")) {
    ReadStringList(ctx, r.Get("waiting_keywords"), r.Path("waiting_keywords"),
                   &f->waiting_keywords);
  }
  if (r.Has("review_causes")) {
    const YAML::Node list = r.Get("review_causes");
    if (!list.IsSequence()) {
      ctx->Fail(list, r.Path("review_causes"), "expected a list, e.g. [agent, unknown]");
      return;
    }
    std::vector<FeedbackCause> causes;
    ForEachItem(ctx, list, r.Path("review_causes"),
                [&](const YAML::Node& item, const std::string& item_path) {
                  int v = 0;
                  if (routing::config::ReadEnum(ctx, item, item_path, CauseNames(), &v)) {
                    causes.push_back(static_cast<FeedbackCause>(v));
                  }
                });
    if (ctx->ok()) f->review_causes = std::move(causes);
  }
}

void ReadSampling(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                  const std::string& scope, SamplePolicy* out) {
  MapReader r(ctx, node, path, {"per_agent_per_week", "rate", "max_per_agent_per_week", "seed"});
  if (!r.valid()) return;
  const bool count = r.Has("per_agent_per_week");
  const bool rate = r.Has("rate");
  if (count == rate) {
    ctx->Fail(node, path,
              count ? "set per_agent_per_week (a fixed count) or rate (a share), not both"
                    : "set per_agent_per_week (e.g. 2) or rate (e.g. 0.05)");
    return;
  }
  if (count && r.Has("max_per_agent_per_week")) {
    ctx->Fail(r.Get("max_per_agent_per_week"), r.Path("max_per_agent_per_week"),
              "applies to rate sampling only (per_agent_per_week is already a fixed count)");
    return;
  }
  SamplePolicy p;
  p.seed = out->seed;  // inherited unless given
  p.scope = scope;
  p.mode = count ? SamplePolicy::Mode::kCount : SamplePolicy::Mode::kRate;
  p.per_agent_per_week = 0;
  if (count) r.Int32("per_agent_per_week", 0, 1000, &p.per_agent_per_week);
  if (rate) {
    r.Double("rate", 0, 1, &p.rate);
    r.Int32("max_per_agent_per_week", 0, 1000, &p.max_per_agent_per_week);
  }
  int64_t seed = 0;
  if (r.Int("seed", 0, std::numeric_limits<int64_t>::max(), &seed)) {
    p.seed = static_cast<uint64_t>(seed);
  }
  if (ctx->ok()) *out = std::move(p);
}

void ReadCoaching(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                  CoachingSettings* c) {
  MapReader r(ctx, node, path, {"target", "window", "max_age_days"});
  if (!r.valid()) return;
  r.Double("target", 0, 100, &c->target);
  r.Int32("window", 1, 100, &c->window);
  r.Int32("max_age_days", 1, 3650, &c->max_age_days);
}

void ReadCalibration(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                     CalibrationOptions* c) {
  MapReader r(ctx, node, path, {"disagreement_threshold"});
  if (!r.valid()) return;
  r.Double("disagreement_threshold", 0, 1, &c->disagreement_threshold);
}

void ReadForm(MapReader& r, QaSettings* s) {
  if (!r.String("form", &s->form_id)) return;
  if (!IsName(s->form_id)) {
    r.ctx()->Fail(r.Get("form"), r.Path("form"),
                  absl::StrCat("'", s->form_id, "' is not a form id (letters, digits, _ - .)"));
  }
}

// The keys shared by the defaults and tenant blocks.
void ReadCommon(MapReader& r, QaSettings* s) {
  YamlContext* ctx = r.ctx();
  ReadForm(r, s);
  r.Int32("low_csat_threshold", 0, 4, &s->feedback.low_csat_threshold);
  if (r.Has("feedback")) ReadFeedback(ctx, r.Get("feedback"), r.Path("feedback"), &s->feedback);
  if (r.Has("sampling")) ReadSampling(ctx, r.Get("sampling"), r.Path("sampling"), "", &s->sampling);
  if (r.Has("coaching")) ReadCoaching(ctx, r.Get("coaching"), r.Path("coaching"), &s->coaching);
  if (r.Has("calibration")) {
    ReadCalibration(ctx, r.Get("calibration"), r.Path("calibration"), &s->calibration);
  }
  r.Int32("retention_days", 0, 36500, &s->retention_days);
}

void ReadQueue(YamlContext* ctx, const YAML::Node& node, const std::string& path,
               const std::string& queue, QaSettings* s) {
  MapReader r(ctx, node, path, {"form", "sampling", "retention_days", "queue_target"});
  if (!r.valid()) return;
  ReadForm(r, s);
  if (r.Has("sampling"))
    ReadSampling(ctx, r.Get("sampling"), r.Path("sampling"), queue, &s->sampling);
  r.Int32("retention_days", 0, 36500, &s->retention_days);
  r.DurationMs("queue_target", &s->feedback.default_queue_target_ms);
}

}  // namespace

const QaSettings& QaConfig::For(std::string_view tenant, std::string_view queue) const {
  auto t = tenants_.find(tenant);
  if (t == tenants_.end()) return defaults_;
  if (!queue.empty()) {
    auto q = t->second.queues.find(queue);
    if (q != t->second.queues.end()) return q->second;
  }
  return t->second.settings;
}

std::vector<std::string> QaConfig::Tenants() const {
  std::vector<std::string> out;
  for (const auto& [id, t] : tenants_) out.push_back(id);
  return out;
}

absl::StatusOr<QaConfig> ParseQaConfig(const std::string& text, const std::string& file) {
  const auto error = [](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("INVALID_QA_CONFIG: ", s.message()));
  };
  absl::StatusOr<YAML::Node> root = routing::config::ParseYaml(text, file);
  if (!root.ok()) return error(root.status());
  YamlContext ctx(file);
  QaConfig config;
  config.content_hash_ = Hex16(Fnv1a64(text));
  if (root->IsNull()) return config;  // an empty file: the built-in defaults
  MapReader top(&ctx, *root, "", {"defaults", "tenants"});
  if (top.valid() && top.Has("defaults")) {
    MapReader r(&ctx, top.Get("defaults"), "defaults",
                {"form", "low_csat_threshold", "feedback", "sampling", "coaching", "calibration",
                 "retention_days"});
    if (r.valid()) ReadCommon(r, &config.defaults_);
  }
  if (ctx.ok() && top.valid() && top.Has("tenants")) {
    ForEachEntry(
        &ctx, top.Get("tenants"), "tenants",
        [&](const std::string& tenant, const YAML::Node& node, const std::string& path) {
          if (!ctx.ok()) return;
          if (!IsName(tenant)) {
            ctx.Fail(node, path, "a tenant id is letters, digits, '_', '-' or '.'");
            return;
          }
          QaConfig::TenantSettings& t = config.tenants_[tenant];
          t.settings = config.defaults_;
          if (node.IsNull()) return;  // "acme:" alone: the defaults
          MapReader r(&ctx, node, path,
                      {"form", "low_csat_threshold", "feedback", "sampling", "coaching",
                       "calibration", "retention_days", "queues"});
          if (!r.valid()) return;
          ReadCommon(r, &t.settings);
          if (!ctx.ok() || !r.Has("queues")) return;
          ForEachEntry(
              &ctx, r.Get("queues"), r.Path("queues"),
              [&](const std::string& queue, const YAML::Node& qnode, const std::string& qpath) {
                if (!ctx.ok()) return;
                if (!IsName(queue)) {
                  ctx.Fail(qnode, qpath, "a queue id is letters, digits, '_', '-' or '.'");
                  return;
                }
                QaSettings& q = t.queues[queue];
                q = t.settings;
                if (!qnode.IsNull()) ReadQueue(&ctx, qnode, qpath, queue, &q);
              });
        });
  }
  if (!ctx.ok()) return error(ctx.status());
  return config;
}

}  // namespace sb::recording::qa
