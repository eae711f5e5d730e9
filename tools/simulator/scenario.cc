#include "simulator/scenario.h"

#include <filesystem>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/expr.h"

namespace sb::sim {
namespace {

using routing::config::EnumName;
using routing::config::ForEachEntry;
using routing::config::ForEachItem;
using routing::config::MapReader;
using routing::config::ReadDouble;
using routing::config::ReadDurationMs;
using routing::config::ReadEnum;
using routing::config::ReadString;
using routing::config::YamlContext;

enum DistKind { kConstant, kExponential, kLognormal, kUniform };

const std::vector<EnumName>& DistNames() {
  static const auto* names = new std::vector<EnumName>{{"constant", kConstant},
                                                       {"exponential", kExponential},
                                                       {"lognormal", kLognormal},
                                                       {"uniform", kUniform}};
  return *names;
}

// A duration distribution: "4m" (constant) or {dist: exponential, mean: 4m} etc. With
// `allow_none`, the scalar `none` gives nullopt.
std::optional<Distribution> ReadDistribution(YamlContext* ctx, const YAML::Node& node,
                                             const std::string& path, bool allow_none) {
  if (node.IsScalar()) {
    if (allow_none && node.Scalar() == "none") return std::nullopt;
    int64_t ms = 0;
    if (!ReadDurationMs(ctx, node, path, &ms)) return std::nullopt;
    return Distribution::Constant(static_cast<double>(ms));
  }
  MapReader r(ctx, node, path, {"dist", "mean", "sd", "min", "max"});
  if (!r.valid()) return std::nullopt;
  int kind = kConstant;
  if (!r.Enum("dist", DistNames(), &kind, /*required=*/true)) return std::nullopt;
  int64_t mean = 0, sd = 0, min = 0, max = 0;
  auto only = [&](std::initializer_list<std::string_view> allowed) {
    for (std::string_view key : {"mean", "sd", "min", "max"}) {
      if (r.Has(key) && std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        ctx->Fail(r.Get(key), r.Path(key),
                  absl::StrCat("not used by dist ",
                               std::string(routing::config::EnumToName(DistNames(), kind))));
      }
    }
  };
  switch (kind) {
    case kConstant:
      only({"mean"});
      r.DurationMs("mean", &mean, /*required=*/true);
      return Distribution::Constant(static_cast<double>(mean));
    case kExponential:
      only({"mean"});
      if (r.DurationMs("mean", &mean, /*required=*/true) && mean <= 0) {
        ctx->Fail(r.Get("mean"), r.Path("mean"), "must be > 0");
      }
      return Distribution::Exponential(static_cast<double>(mean));
    case kLognormal:
      only({"mean", "sd"});
      if (r.DurationMs("mean", &mean, /*required=*/true) && mean <= 0) {
        ctx->Fail(r.Get("mean"), r.Path("mean"), "must be > 0");
      }
      r.DurationMs("sd", &sd, /*required=*/true);
      return Distribution::Lognormal(static_cast<double>(mean), static_cast<double>(sd));
    case kUniform:
      only({"min", "max"});
      r.DurationMs("min", &min, /*required=*/true);
      if (r.DurationMs("max", &max, /*required=*/true) && max < min) {
        ctx->Fail(r.Get("max"), r.Path("max"), "must be >= min");
      }
      return Distribution::Uniform(static_cast<double>(min), static_cast<double>(max));
    default:
      return std::nullopt;
  }
}

void ReadArrival(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                 const std::set<std::string>& queues, ArrivalStream* a) {
  MapReader r(ctx, node, path,
              {"queue", "rate_per_hour", "profile", "priority", "attributes", "requirement"});
  if (!r.valid()) return;
  if (r.String("queue", &a->queue_id, /*required=*/true) && !queues.contains(a->queue_id)) {
    ctx->Fail(r.Get("queue"), r.Path("queue"),
              absl::StrCat("no queue '", a->queue_id, "' in routing"));
  }
  r.Double("rate_per_hour", 0, 1e7, &a->rate_per_hour, /*required=*/true);
  ForEachItem(ctx, r.Get("profile"), r.Path("profile"),
              [&](const YAML::Node& item, const std::string& item_path) {
                double m = 0;
                if (ReadDouble(ctx, item, item_path, 0, 1000, &m)) a->profile.push_back(m);
              });
  r.Int32("priority", 0, 100, &a->priority);
  ForEachEntry(ctx, r.Get("attributes"), r.Path("attributes"),
               [&](const std::string& key, const YAML::Node& value, const std::string& a_path) {
                 ReadString(ctx, value, a_path, &a->attributes[key]);
               });
  if (r.String("requirement", &a->requirement) && !a->requirement.empty()) {
    auto parsed = expr::Expression::Parse(a->requirement);
    if (!parsed.ok()) {
      ctx->Fail(r.Get("requirement"), r.Path("requirement"),
                absl::StrCat("bad expression: ", std::string(parsed.status().message())));
    }
  }
}

// `handle_time:` and `patience:`: a map from queue id (or `default`) to a distribution.
template <typename T>
void ReadPerQueue(YamlContext* ctx, const MapReader& top, std::string_view key,
                  const std::set<std::string>& queues, bool allow_none,
                  std::map<std::string, T>* out, std::optional<T>* fallback, bool* has_default) {
  ForEachEntry(ctx, top.Get(key), top.Path(key),
               [&](const std::string& queue, const YAML::Node& value, const std::string& path) {
                 if (queue != "default" && !queues.contains(queue)) {
                   ctx->Fail(value, path,
                             absl::StrCat("no queue '", queue,
                                          "' in routing (use `default` for every other queue)"));
                   return;
                 }
                 std::optional<Distribution> d = ReadDistribution(ctx, value, path, allow_none);
                 if (!ctx->ok()) return;
                 T v;
                 if constexpr (std::is_same_v<T, Distribution>) {
                   v = *d;
                 } else {
                   v = d;
                 }
                 if (queue == "default") {
                   *fallback = v;
                   *has_default = true;
                 } else {
                   (*out)[queue] = v;
                 }
               });
}

void ReadShift(YamlContext* ctx, const YAML::Node& node, const std::string& path,
               const std::set<std::string>& agents, Shift* s) {
  MapReader r(ctx, node, path, {"agents", "id_prefix", "team", "start", "end"});
  if (!r.valid()) return;
  s->where = ctx->Where(node);
  ForEachItem(ctx, r.Get("agents"), r.Path("agents"),
              [&](const YAML::Node& item, const std::string& item_path) {
                std::string id;
                if (!ReadString(ctx, item, item_path, &id)) return;
                if (!agents.contains(id)) {
                  ctx->Fail(item, item_path, absl::StrCat("no agent '", id, "' in routing"));
                }
                s->agents.push_back(id);
              });
  r.String("id_prefix", &s->id_prefix);
  r.String("team", &s->team);
  if (!r.Has("agents") && !r.Has("id_prefix") && !r.Has("team") && ctx->ok()) {
    ctx->Fail(node, path, "select agents with `agents`, `id_prefix` and/or `team`");
  }
  r.DurationMs("start", &s->start_ms);
  if (r.DurationMs("end", &s->end_ms) && s->end_ms <= s->start_ms) {
    ctx->Fail(r.Get("end"), r.Path("end"), "must be after `start`");
  }
}

Scenario ReadScenario(YamlContext* ctx, const YAML::Node& root, const std::string& file) {
  Scenario sc;
  sc.file = file;
  MapReader r(ctx, root, "",
              {"seed", "duration", "warmup", "tenant", "routing", "routing_file", "arrivals",
               "handle_time", "patience", "agent_behavior", "shifts"});
  if (!r.valid()) return sc;
  int64_t seed = 1;
  if (r.Int("seed", 0, std::numeric_limits<int64_t>::max(), &seed)) {
    sc.seed = static_cast<uint64_t>(seed);
  }
  if (r.DurationMs("duration", &sc.duration_ms, /*required=*/true) && sc.duration_ms <= 0) {
    ctx->Fail(r.Get("duration"), "duration", "must be > 0");
  }
  if (r.DurationMs("warmup", &sc.warmup_ms) && sc.warmup_ms >= sc.duration_ms) {
    ctx->Fail(r.Get("warmup"), "warmup", "must be shorter than `duration`");
  }
  r.String("tenant", &sc.tenant);
  if (!ctx->ok()) return sc;

  // Routing: inline, or from a routing config file next to the scenario.
  if (r.Has("routing") == r.Has("routing_file")) {
    ctx->Fail(root, "routing", "give exactly one of `routing:` (inline) or `routing_file:`");
    return sc;
  }
  if (r.Has("routing")) {
    sc.routing = routing::config::ReadRoutingConfig(ctx, r.Get("routing"), "routing");
  } else {
    std::string routing_file;
    r.String("routing_file", &routing_file);
    std::filesystem::path p(routing_file);
    if (p.is_relative()) p = std::filesystem::path(file).parent_path() / p;
    absl::StatusOr<routing::config::RoutingConfig> loaded =
        routing::config::LoadRoutingConfig(p.string());
    if (!loaded.ok()) {
      ctx->Fail(loaded.status());
    } else {
      sc.routing = *std::move(loaded);
    }
  }
  if (!ctx->ok()) return sc;
  std::set<std::string> queues;
  for (const auto& q : sc.routing.queues) queues.insert(q.queue_id());
  std::set<std::string> agents;
  for (const auto& a : sc.routing.agents) agents.insert(a.agent_id());

  ForEachItem(ctx, r.Get("arrivals"), "arrivals",
              [&](const YAML::Node& item, const std::string& path) {
                if (ctx->ok()) ReadArrival(ctx, item, path, queues, &sc.arrivals.emplace_back());
              });

  std::optional<Distribution> default_handle;
  bool has_default = false;
  if (r.Require("handle_time")) {
    ReadPerQueue<Distribution>(ctx, r, "handle_time", queues, /*allow_none=*/false, &sc.handle_time,
                               &default_handle, &has_default);
  }
  if (ctx->ok()) {
    for (const std::string& q : queues) {
      if (sc.handle_time.contains(q)) continue;
      if (!has_default) {
        ctx->Fail(r.Get("handle_time"), "handle_time",
                  absl::StrCat("no entry for queue '", q, "' and no `default`"));
        break;
      }
      sc.handle_time[q] = *default_handle;
    }
  }
  std::optional<std::optional<Distribution>> default_patience;
  bool has_default_patience = false;
  ReadPerQueue<std::optional<Distribution>>(ctx, r, "patience", queues, /*allow_none=*/true,
                                            &sc.patience, &default_patience, &has_default_patience);
  for (const std::string& q : queues) {
    if (!sc.patience.contains(q)) {
      sc.patience[q] = has_default_patience ? *default_patience : std::nullopt;
    }
  }

  if (r.Has("agent_behavior")) {
    MapReader b(ctx, r.Get("agent_behavior"), "agent_behavior",
                {"accept_delay", "reject_probability", "miss_probability", "not_responding_for"});
    if (b.Has("accept_delay")) {
      std::optional<Distribution> d =
          ReadDistribution(ctx, b.Get("accept_delay"), b.Path("accept_delay"), false);
      if (d.has_value()) sc.agent_behavior.accept_delay = *d;
    }
    b.Double("reject_probability", 0, 1, &sc.agent_behavior.reject_probability);
    b.Double("miss_probability", 0, 1, &sc.agent_behavior.miss_probability);
    if (ctx->ok() &&
        sc.agent_behavior.reject_probability + sc.agent_behavior.miss_probability > 1) {
      ctx->Fail(b.Get("miss_probability"), b.Path("miss_probability"),
                "reject_probability + miss_probability must be at most 1");
    }
    b.DurationMs("not_responding_for", &sc.agent_behavior.not_responding_ms);
  }
  ForEachItem(ctx, r.Get("shifts"), "shifts", [&](const YAML::Node& item, const std::string& path) {
    if (ctx->ok()) ReadShift(ctx, item, path, agents, &sc.shifts.emplace_back());
  });
  return sc;
}

}  // namespace

absl::StatusOr<Scenario> ParseScenario(const std::string& yaml_text, const std::string& file) {
  absl::StatusOr<YAML::Node> root = routing::config::ParseYaml(yaml_text, file);
  if (!root.ok()) return root.status();
  YamlContext ctx(file);
  Scenario sc = ReadScenario(&ctx, *root, file);
  if (!ctx.ok()) return ctx.status();
  return sc;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  absl::StatusOr<YAML::Node> root = routing::config::LoadYamlFile(path);
  if (!root.ok()) return root.status();
  YamlContext ctx(path);
  Scenario sc = ReadScenario(&ctx, *root, path);
  if (!ctx.ok()) return ctx.status();
  return sc;
}

}  // namespace sb::sim
