#include "routing/config/routing_config.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/expr/expr.h"
#include "routing/config/duration.h"

namespace sb::routing::config {
namespace {

int64_t ToMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

// Checks an expression's syntax where it is written, so the error carries the line.
void CheckExpression(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                     const std::string& text) {
  if (text.empty()) return;
  auto parsed = expr::Expression::Parse(text);
  if (!parsed.ok()) {
    ctx->Fail(node, path, absl::StrCat("bad expression: ", std::string(parsed.status().message())));
  }
}

void ReadStep(YamlContext* ctx, const YAML::Node& node, const std::string& path,
              v1::ExpansionStep* step) {
  MapReader r(ctx, node, path, {"after", "requirement"});
  r.Duration("after", step->mutable_after(), /*required=*/true);
  if (r.String("requirement", step->mutable_requirement())) {
    CheckExpression(ctx, r.Get("requirement"), r.Path("requirement"), step->requirement());
  }
}

v1::Queue ReadQueue(YamlContext* ctx, const YAML::Node& node, const std::string& path) {
  v1::Queue q;
  MapReader r(ctx, node, path,
              {"id", "name", "channel", "priority", "strategy", "skill", "membership", "steps",
               "service_level", "offer_timeout", "wrap_up", "max_size", "overflow",
               "aging_per_minute", "escalation_queue"});
  if (!r.valid()) return q;
  r.String("id", q.mutable_queue_id(), /*required=*/true);
  r.String("name", q.mutable_name());
  int channel = v1::CHANNEL_VOICE;
  r.Enum("channel", ChannelNames(), &channel);
  q.set_channel(static_cast<v1::Channel>(channel));
  int32_t priority = 0;
  if (r.Int32("priority", 0, 100, &priority)) q.set_priority(priority);
  int strategy = v1::STRATEGY_LONGEST_IDLE;
  r.Enum("strategy", StrategyNames(), &strategy);
  q.set_strategy(static_cast<v1::Strategy>(strategy));
  r.String("skill", q.mutable_skill());
  if (q.strategy() == v1::STRATEGY_MOST_SKILLED && q.skill().empty() && ctx->ok()) {
    ctx->Fail(r.Get("strategy"), r.Path("skill"),
              "strategy most_skilled needs `skill`: the skill to rank agents by");
  }
  if (r.String("membership", q.mutable_membership())) {
    CheckExpression(ctx, r.Get("membership"), r.Path("membership"), q.membership());
  }
  if (r.Has("steps")) {
    ForEachItem(ctx, r.Get("steps"), r.Path("steps"),
                [&](const YAML::Node& item, const std::string& item_path) {
                  ReadStep(ctx, item, item_path, q.add_steps());
                });
    const YAML::Node steps = r.Get("steps");
    for (int i = 0; i < q.steps_size() && ctx->ok(); ++i) {
      const YAML::Node item = steps[i];
      const int64_t after = ToMs(q.steps(i).after());
      if (i == 0 && after != 0) {
        ctx->Fail(item, IndexPath(r.Path("steps"), 0) + ".after",
                  "the first step must start at 0s (it is the requirement from the start)");
      } else if (i > 0 && after <= ToMs(q.steps(i - 1).after())) {
        ctx->Fail(item, IndexPath(r.Path("steps"), i) + ".after",
                  "steps must be listed by increasing `after`");
      }
    }
  }
  if (r.Has("service_level")) {
    MapReader sl(ctx, r.Get("service_level"), r.Path("service_level"), {"target", "threshold"});
    double target = 0;
    if (sl.Double("target", 0, 1, &target, /*required=*/true)) {
      if (target <= 0) {
        ctx->Fail(sl.Get("target"), sl.Path("target"), "must be in (0, 1], e.g. 0.8 for 80%");
      }
      q.mutable_service_level()->set_target(target);
    }
    google::protobuf::Duration threshold;
    if (sl.Duration("threshold", &threshold, /*required=*/true)) {
      if (ToMs(threshold) <= 0) ctx->Fail(sl.Get("threshold"), sl.Path("threshold"), "must be > 0");
      *q.mutable_service_level()->mutable_threshold() = threshold;
    }
  }
  google::protobuf::Duration d;
  if (r.Duration("offer_timeout", &d)) *q.mutable_offer_timeout() = d;
  if (r.Duration("wrap_up", &d)) *q.mutable_wrap_up() = d;
  int32_t max_size = 0;
  if (r.Int32("max_size", 0, 1000000000, &max_size)) q.set_max_size(max_size);
  if (r.Has("overflow")) {
    MapReader of(ctx, r.Get("overflow"), r.Path("overflow"), {"after", "action", "queue"});
    if (of.Duration("after", &d)) *q.mutable_max_wait() = d;
    const bool has_queue = of.String("queue", q.mutable_overflow_queue());
    int action = has_queue ? v1::OVERFLOW_ACTION_QUEUE : v1::OVERFLOW_ACTION_DISCONNECT;
    of.Enum("action", OverflowActionNames(), &action);
    q.set_overflow_action(static_cast<v1::OverflowAction>(action));
    if (ctx->ok() && action == v1::OVERFLOW_ACTION_QUEUE && !has_queue) {
      ctx->Fail(of.node(), of.Path("queue"), "action queue needs `queue`: where to send callers");
    } else if (ctx->ok() && action != v1::OVERFLOW_ACTION_QUEUE && has_queue) {
      ctx->Fail(of.Get("queue"), of.Path("queue"),
                absl::StrCat("only with action queue (action is ",
                             std::string(EnumToName(OverflowActionNames(), action)), ")"));
    } else if (ctx->ok() && has_queue && q.overflow_queue() == q.queue_id()) {
      ctx->Fail(of.Get("queue"), of.Path("queue"), "a queue cannot overflow into itself");
    }
  }
  int32_t aging = 0;
  if (r.Int32("aging_per_minute", 0, 1000, &aging)) q.set_aging_per_minute(aging);
  r.String("escalation_queue", q.mutable_escalation_queue());
  return q;
}

// An attribute value: a string, or a list of strings joined with commas (the engine reads a
// comma list as a list: `"es" in language`).
void ReadAttribute(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                   std::string* out) {
  if (node.IsSequence()) {
    std::vector<std::string> items;
    ForEachItem(ctx, node, path, [&](const YAML::Node& item, const std::string& item_path) {
      std::string s;
      if (ReadString(ctx, item, item_path, &s)) items.push_back(s);
    });
    *out = absl::StrJoin(items, ",");
    return;
  }
  ReadString(ctx, node, path, out);
}

// Reads one `agents:` entry, which declares one agent or (with `count`) several.
void ReadAgents(YamlContext* ctx, const YAML::Node& node, const std::string& path,
                RoutingConfig* config) {
  MapReader r(ctx, node, path,
              {"id", "name", "skills", "attributes", "team", "supervisor", "capacity", "count",
               "id_prefix"});
  if (!r.valid()) return;
  v1::AgentProfile p;
  const bool has_id = r.String("id", p.mutable_agent_id());
  int64_t count = 0;
  const bool bulk = r.Int("count", 1, 100000, &count);
  std::string prefix;
  r.String("id_prefix", &prefix);
  if (!ctx->ok()) return;
  if (has_id && (bulk || r.Has("id_prefix"))) {
    ctx->Fail(r.Get("id"), r.Path("id"), "give either `id` or `count` with `id_prefix`, not both");
    return;
  }
  if (!has_id && !bulk) {
    ctx->Fail(node, path, "missing required key 'id' (or `count` and `id_prefix` for many agents)");
    return;
  }
  if (bulk && !r.Has("id_prefix")) {
    ctx->Fail(r.Get("count"), r.Path("id_prefix"), "`count` needs `id_prefix`, e.g. agent-");
    return;
  }
  if (!bulk && r.Has("id_prefix")) {
    ctx->Fail(r.Get("id_prefix"), r.Path("count"), "`id_prefix` needs `count`");
    return;
  }
  r.String("name", p.mutable_name());
  ForEachEntry(ctx, r.Get("skills"), r.Path("skills"),
               [&](const std::string& skill, const YAML::Node& value, const std::string& p_path) {
                 int32_t proficiency = 0;
                 if (ReadInt32(ctx, value, p_path, 1, 5, &proficiency)) {
                   v1::Skill* s = p.add_skills();
                   s->set_name(skill);
                   s->set_proficiency(proficiency);
                 }
               });
  ForEachEntry(ctx, r.Get("attributes"), r.Path("attributes"),
               [&](const std::string& key, const YAML::Node& value, const std::string& a_path) {
                 ReadAttribute(ctx, value, a_path, &(*p.mutable_attributes())[key]);
               });
  r.String("team", p.mutable_team());
  bool supervisor = false;
  if (r.Bool("supervisor", &supervisor)) p.set_supervisor(supervisor);
  if (r.Has("capacity")) {
    // Spelled out so that `capacity: {}` still means "no channel at all" rather than the
    // engine's "voice 1" for an empty list: an explicit empty map is an error instead.
    if (r.Get("capacity").IsMap() && r.Get("capacity").size() == 0) {
      ctx->Fail(r.Get("capacity"), r.Path("capacity"),
                "empty; leave it out for the default (voice: 1) or list channels");
    }
    ForEachEntry(
        ctx, r.Get("capacity"), r.Path("capacity"),
        [&](const std::string& channel, const YAML::Node& value, const std::string& c_path) {
          int ch = 0;
          bool known = false;
          for (const EnumName& n : ChannelNames()) {
            if (n.name == channel) {
              ch = n.value;
              known = true;
            }
          }
          if (!known) {
            std::vector<std::string> all;
            for (const EnumName& n : ChannelNames()) all.emplace_back(n.name);
            ctx->Fail(value, c_path,
                      absl::StrCat("unknown channel '", channel, "' (expected one of ",
                                   absl::StrJoin(all, ", "), ")"));
            return;
          }
          int32_t capacity = 0;
          if (ReadInt32(ctx, value, c_path, 0, 32, &capacity)) {
            v1::ChannelCapacity* c = p.add_capacity();
            c->set_channel(static_cast<v1::Channel>(ch));
            c->set_capacity(capacity);
          }
        });
  }
  if (!ctx->ok()) return;
  const std::string where = ctx->Where(node);
  if (!bulk) {
    config->agents.push_back(std::move(p));
    config->agent_sources.push_back({where, path});
    return;
  }
  const int width = std::max<int>(3, static_cast<int>(absl::StrCat(count).size()));
  for (int64_t i = 1; i <= count; ++i) {
    std::string number = absl::StrCat(i);
    number.insert(0, static_cast<size_t>(width) - number.size(), '0');
    v1::AgentProfile agent = p;
    agent.set_agent_id(prefix + number);
    if (!p.name().empty()) agent.set_name(absl::StrCat(p.name(), " ", number));
    config->agent_sources.push_back({where, absl::StrCat(path, " (", agent.agent_id(), ")")});
    config->agents.push_back(std::move(agent));
  }
}

}  // namespace

const std::vector<EnumName>& ChannelNames() {
  static const auto* names = new std::vector<EnumName>{{"voice", v1::CHANNEL_VOICE},
                                                       {"chat", v1::CHANNEL_CHAT},
                                                       {"email", v1::CHANNEL_EMAIL},
                                                       {"callback", v1::CHANNEL_CALLBACK},
                                                       {"task", v1::CHANNEL_TASK}};
  return *names;
}

const std::vector<EnumName>& StrategyNames() {
  static const auto* names =
      new std::vector<EnumName>{{"longest_idle", v1::STRATEGY_LONGEST_IDLE},
                                {"most_skilled", v1::STRATEGY_MOST_SKILLED},
                                {"least_occupied", v1::STRATEGY_LEAST_OCCUPIED},
                                {"fewest_interactions", v1::STRATEGY_FEWEST_INTERACTIONS},
                                {"round_robin", v1::STRATEGY_ROUND_ROBIN}};
  return *names;
}

const std::vector<EnumName>& OverflowActionNames() {
  static const auto* names =
      new std::vector<EnumName>{{"disconnect", v1::OVERFLOW_ACTION_DISCONNECT},
                                {"queue", v1::OVERFLOW_ACTION_QUEUE},
                                {"callback", v1::OVERFLOW_ACTION_CALLBACK},
                                {"voicemail", v1::OVERFLOW_ACTION_VOICEMAIL}};
  return *names;
}

RoutingConfig ReadRoutingConfig(YamlContext* ctx, const YAML::Node& node, const std::string& path) {
  RoutingConfig config;
  if (!node.IsDefined() || node.IsNull()) {
    ctx->Fail(node, path, "empty: expected `queues:` and `agents:`");
    return config;
  }
  MapReader r(ctx, node, path, {"queues", "agents"});
  if (!r.valid()) return config;
  std::map<std::string, std::string> queue_where;  // id -> "file:line"
  ForEachItem(
      ctx, r.Get("queues"), r.Path("queues"),
      [&](const YAML::Node& item, const std::string& item_path) {
        if (!ctx->ok()) return;
        v1::Queue q = ReadQueue(ctx, item, item_path);
        if (!ctx->ok()) return;
        auto [it, inserted] = queue_where.emplace(q.queue_id(), ctx->Where(item));
        if (!inserted) {
          ctx->Fail(item, item_path + ".id",
                    absl::StrCat("queue '", q.queue_id(), "' is already declared at ", it->second));
          return;
        }
        config.queues.push_back(std::move(q));
        config.queue_sources.push_back({ctx->Where(item), item_path});
      });
  // References between queues, checked here so the error points at the line.
  if (ctx->ok()) {
    const YAML::Node queues = r.Get("queues");
    for (size_t i = 0; i < config.queues.size(); ++i) {
      const v1::Queue& q = config.queues[i];
      const YAML::Node item = queues[i];
      if (!q.overflow_queue().empty() && !queue_where.contains(q.overflow_queue())) {
        ctx->Fail(item["overflow"]["queue"], IndexPath(r.Path("queues"), i) + ".overflow.queue",
                  absl::StrCat("no queue '", q.overflow_queue(), "' in this file"));
        break;
      }
      if (!q.escalation_queue().empty() && !queue_where.contains(q.escalation_queue())) {
        ctx->Fail(item["escalation_queue"], IndexPath(r.Path("queues"), i) + ".escalation_queue",
                  absl::StrCat("no queue '", q.escalation_queue(), "' in this file"));
        break;
      }
    }
  }
  ForEachItem(ctx, r.Get("agents"), r.Path("agents"),
              [&](const YAML::Node& item, const std::string& item_path) {
                if (ctx->ok()) ReadAgents(ctx, item, item_path, &config);
              });
  if (ctx->ok()) {
    std::map<std::string, size_t> seen;
    for (size_t i = 0; i < config.agents.size(); ++i) {
      auto [it, inserted] = seen.emplace(config.agents[i].agent_id(), i);
      if (!inserted) {
        ctx->Fail(absl::InvalidArgumentError(
            absl::StrCat(config.agent_sources[i].where, ": ", config.agent_sources[i].path,
                         ": agent '", config.agents[i].agent_id(), "' is already declared at ",
                         config.agent_sources[it->second].where)));
        break;
      }
    }
  }
  return config;
}

absl::StatusOr<RoutingConfig> ParseRoutingConfig(const std::string& yaml_text,
                                                 const std::string& file) {
  absl::StatusOr<YAML::Node> root = ParseYaml(yaml_text, file);
  if (!root.ok()) return root.status();
  YamlContext ctx(file);
  RoutingConfig config = ReadRoutingConfig(&ctx, *root, "");
  if (!ctx.ok()) return ctx.status();
  return config;
}

absl::StatusOr<RoutingConfig> LoadRoutingConfig(const std::string& path) {
  absl::StatusOr<YAML::Node> root = LoadYamlFile(path);
  if (!root.ok()) return root.status();
  YamlContext ctx(path);
  RoutingConfig config = ReadRoutingConfig(&ctx, *root, "");
  if (!ctx.ok()) return ctx.status();
  return config;
}

std::vector<v1::RoutingCommand> ConfigCommands(const RoutingConfig& config,
                                               std::vector<SourceRef>* sources) {
  std::vector<v1::RoutingCommand> out;
  std::vector<SourceRef> refs;
  std::vector<size_t> second_pass;
  for (size_t i = 0; i < config.queues.size(); ++i) {
    const v1::Queue& q = config.queues[i];
    v1::Queue first = q;
    const bool refers = !q.overflow_queue().empty() || !q.escalation_queue().empty();
    if (refers) {
      first.clear_overflow_queue();
      first.clear_escalation_queue();
      if (first.overflow_action() == v1::OVERFLOW_ACTION_QUEUE) {
        first.set_overflow_action(v1::OVERFLOW_ACTION_DISCONNECT);
      }
      second_pass.push_back(i);
    }
    *out.emplace_back().mutable_upsert_queue()->mutable_queue() = std::move(first);
    refs.push_back(i < config.queue_sources.size() ? config.queue_sources[i] : SourceRef{});
  }
  for (size_t i : second_pass) {
    *out.emplace_back().mutable_upsert_queue()->mutable_queue() = config.queues[i];
    refs.push_back(i < config.queue_sources.size() ? config.queue_sources[i] : SourceRef{});
  }
  for (size_t i = 0; i < config.agents.size(); ++i) {
    *out.emplace_back().mutable_upsert_agent()->mutable_profile() = config.agents[i];
    refs.push_back(i < config.agent_sources.size() ? config.agent_sources[i] : SourceRef{});
  }
  if (sources != nullptr) *sources = std::move(refs);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rendering

namespace {

// The shortest text that reads back as the same double ("0.8", not "0.80000000000000004").
std::string ShortestDouble(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(v);
}

void EmitQueue(YAML::Emitter& e, const v1::Queue& q) {
  e << YAML::BeginMap;
  e << YAML::Key << "id" << YAML::Value << q.queue_id();
  if (!q.name().empty()) e << YAML::Key << "name" << YAML::Value << q.name();
  e << YAML::Key << "channel" << YAML::Value
    << std::string(EnumToName(ChannelNames(), q.channel()));
  if (q.priority() != 0) e << YAML::Key << "priority" << YAML::Value << q.priority();
  e << YAML::Key << "strategy" << YAML::Value
    << std::string(EnumToName(StrategyNames(), q.strategy()));
  if (!q.skill().empty()) e << YAML::Key << "skill" << YAML::Value << q.skill();
  if (!q.membership().empty()) {
    e << YAML::Key << "membership" << YAML::Value << YAML::SingleQuoted << q.membership();
  }
  if (q.steps_size() > 0) {
    e << YAML::Key << "steps" << YAML::Value << YAML::BeginSeq;
    for (const v1::ExpansionStep& s : q.steps()) {
      e << YAML::Flow << YAML::BeginMap;
      e << YAML::Key << "after" << YAML::Value << FormatDurationMs(ToMs(s.after()));
      if (!s.requirement().empty()) {
        e << YAML::Key << "requirement" << YAML::Value << YAML::SingleQuoted << s.requirement();
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (q.has_service_level()) {
    e << YAML::Key << "service_level" << YAML::Value << YAML::Flow << YAML::BeginMap;
    e << YAML::Key << "target" << YAML::Value << ShortestDouble(q.service_level().target());
    e << YAML::Key << "threshold" << YAML::Value
      << FormatDurationMs(ToMs(q.service_level().threshold()));
    e << YAML::EndMap;
  }
  if (ToMs(q.offer_timeout()) != 0) {
    e << YAML::Key << "offer_timeout" << YAML::Value << FormatDurationMs(ToMs(q.offer_timeout()));
  }
  if (ToMs(q.wrap_up()) != 0) {
    e << YAML::Key << "wrap_up" << YAML::Value << FormatDurationMs(ToMs(q.wrap_up()));
  }
  if (q.max_size() != 0) e << YAML::Key << "max_size" << YAML::Value << q.max_size();
  const bool overflow_set = ToMs(q.max_wait()) != 0 || !q.overflow_queue().empty() ||
                            (q.overflow_action() != v1::OVERFLOW_ACTION_UNSPECIFIED &&
                             q.overflow_action() != v1::OVERFLOW_ACTION_DISCONNECT);
  if (overflow_set) {
    e << YAML::Key << "overflow" << YAML::Value << YAML::Flow << YAML::BeginMap;
    if (ToMs(q.max_wait()) != 0) {
      e << YAML::Key << "after" << YAML::Value << FormatDurationMs(ToMs(q.max_wait()));
    }
    const v1::OverflowAction action = q.overflow_action() == v1::OVERFLOW_ACTION_UNSPECIFIED
                                          ? v1::OVERFLOW_ACTION_DISCONNECT
                                          : q.overflow_action();
    e << YAML::Key << "action" << YAML::Value
      << std::string(EnumToName(OverflowActionNames(), action));
    if (!q.overflow_queue().empty()) {
      e << YAML::Key << "queue" << YAML::Value << q.overflow_queue();
    }
    e << YAML::EndMap;
  }
  if (q.aging_per_minute() != 0) {
    e << YAML::Key << "aging_per_minute" << YAML::Value << q.aging_per_minute();
  }
  if (!q.escalation_queue().empty()) {
    e << YAML::Key << "escalation_queue" << YAML::Value << q.escalation_queue();
  }
  e << YAML::EndMap;
}

void EmitAgent(YAML::Emitter& e, const v1::AgentProfile& a) {
  e << YAML::BeginMap;
  e << YAML::Key << "id" << YAML::Value << a.agent_id();
  if (!a.name().empty()) e << YAML::Key << "name" << YAML::Value << a.name();
  if (a.skills_size() > 0) {
    e << YAML::Key << "skills" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const v1::Skill& s : a.skills())
      e << YAML::Key << s.name() << YAML::Value << s.proficiency();
    e << YAML::EndMap;
  }
  if (a.attributes_size() > 0) {
    // Sorted: protobuf maps have no stable order.
    std::map<std::string, std::string> sorted(a.attributes().begin(), a.attributes().end());
    e << YAML::Key << "attributes" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [k, v] : sorted) e << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
    e << YAML::EndMap;
  }
  if (!a.team().empty()) e << YAML::Key << "team" << YAML::Value << a.team();
  if (a.supervisor()) e << YAML::Key << "supervisor" << YAML::Value << true;
  if (a.capacity_size() > 0) {
    e << YAML::Key << "capacity" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const v1::ChannelCapacity& c : a.capacity()) {
      e << YAML::Key << std::string(EnumToName(ChannelNames(), c.channel())) << YAML::Value
        << c.capacity();
    }
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
}

}  // namespace

std::string QueueToYaml(const v1::Queue& queue) {
  YAML::Emitter e;
  EmitQueue(e, queue);
  return std::string(e.c_str()) + "\n";
}

std::string AgentToYaml(const v1::AgentProfile& agent) {
  YAML::Emitter e;
  EmitAgent(e, agent);
  return std::string(e.c_str()) + "\n";
}

std::string RoutingConfigToYaml(const RoutingConfig& config) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "queues" << YAML::Value << YAML::BeginSeq;
  for (const v1::Queue& q : config.queues) EmitQueue(e, q);
  e << YAML::EndSeq;
  e << YAML::Key << "agents" << YAML::Value << YAML::BeginSeq;
  for (const v1::AgentProfile& a : config.agents) EmitAgent(e, a);
  e << YAML::EndSeq;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace sb::routing::config
