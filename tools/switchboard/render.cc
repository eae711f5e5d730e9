#include "switchboard/render.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "routing/config/duration.h"
#include "routing/config/routing_config.h"
#include "routing/engine/engine.h"

namespace sb::cli {
namespace {

bool IsNumberCell(const std::string& cell) {
  if (cell.empty() || cell == "-") return true;
  size_t i = cell[0] == '-' ? 1 : 0;
  if (i == cell.size()) return false;
  for (; i < cell.size(); ++i) {
    if ((cell[i] < '0' || cell[i] > '9') && cell[i] != '.') return false;
  }
  return true;
}

int64_t DurationMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

std::string Dur(const google::protobuf::Duration& d) {
  return routing::config::FormatDurationMs(DurationMs(d));
}

// Capacity of `agent` on `channel`: an empty capacity list means one voice interaction.
int32_t Capacity(const v1::AgentProfile& agent, v1::Channel channel) {
  if (agent.capacity_size() == 0) return channel == v1::CHANNEL_VOICE ? 1 : 0;
  for (const v1::ChannelCapacity& c : agent.capacity()) {
    if (c.channel() == channel) return c.capacity();
  }
  return 0;
}

int32_t Used(const v1::AgentState& agent, v1::Channel channel) {
  int32_t used = 0;
  for (const v1::LegState& leg : agent.legs()) used += leg.channel() == channel ? 1 : 0;
  return used;
}

std::string_view LegPhaseName(v1::LegPhase phase) {
  switch (phase) {
    case v1::LEG_PHASE_OFFERED:
      return "offered";
    case v1::LEG_PHASE_CONNECTED:
      return "connected";
    case v1::LEG_PHASE_WRAP_UP:
      return "wrap-up";
    default:
      return "?";
  }
}

std::string Attributes(const google::protobuf::Map<std::string, std::string>& attributes) {
  std::map<std::string, std::string> sorted(attributes.begin(), attributes.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(fmt::format("{}={}", k, v));
  return absl::StrJoin(parts, ",");
}

// Queue id -> ids of its members, as the routing engine decides membership.
std::map<std::string, std::vector<std::string>> Members(const v1::ListQueuesResponse& queues,
                                                        const v1::ListAgentsResponse& agents) {
  routing::config::RoutingConfig config;
  for (const v1::QueueState& q : queues.queues()) config.queues.push_back(q.config());
  for (const v1::AgentState& a : agents.agents()) config.agents.push_back(a.profile());
  std::vector<v1::RoutingCommand> commands = routing::config::ConfigCommands(config);
  routing::Engine engine("members");
  std::map<std::string, std::vector<std::string>> members;
  std::vector<v1::RoutingEvent> events;
  for (size_t i = 0; i < commands.size(); ++i) {
    commands[i].set_command_id(fmt::format("members-{}", i + 1));
    commands[i].mutable_time()->set_seconds(1);
    events.clear();
    engine.Apply(commands[i], &events);
    for (const v1::RoutingEvent& e : events) {
      if (!e.has_agent_upserted()) continue;
      for (const std::string& q : e.agent_upserted().queues()) {
        members[q].push_back(e.agent_upserted().profile().agent_id());
      }
    }
  }
  return members;
}

}  // namespace

std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  std::vector<bool> numeric(header.size(), !rows.empty());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < header.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
      if (!IsNumberCell(row[c])) numeric[c] = false;
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < header.size(); ++c) {
      const std::string& cell = c < cells.size() ? cells[c] : std::string();
      const bool last = c + 1 == header.size();
      if (numeric[c]) {
        out += std::string(width[c] - cell.size(), ' ') + cell;
      } else {
        out += cell;
        if (!last) out += std::string(width[c] - cell.size(), ' ');
      }
      if (!last) out += "  ";
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

std::string_view ChannelName(v1::Channel channel) {
  std::string_view name = routing::config::EnumToName(routing::config::ChannelNames(), channel);
  return name.empty() ? "?" : name;
}

std::string_view StrategyName(v1::Strategy strategy) {
  std::string_view name = routing::config::EnumToName(routing::config::StrategyNames(), strategy);
  return name.empty() ? "?" : name;
}

std::string_view PresenceName(v1::Presence presence) {
  switch (presence) {
    case v1::PRESENCE_OFFLINE:
      return "offline";
    case v1::PRESENCE_AVAILABLE:
      return "available";
    case v1::PRESENCE_AUX:
      return "aux";
    default:
      return "?";
  }
}

std::string_view EndReasonName(v1::EndReason reason) {
  switch (reason) {
    case v1::END_REASON_COMPLETED:
      return "completed";
    case v1::END_REASON_ABANDONED:
      return "abandoned";
    case v1::END_REASON_CANCELLED:
      return "cancelled";
    case v1::END_REASON_OVERFLOWED:
      return "overflowed";
    case v1::END_REASON_AGENT_DISCONNECTED:
      return "agent_disconnected";
    case v1::END_REASON_ESCALATED:
      return "escalated";
    default:
      return "?";
  }
}

std::vector<QueueSummary> SummarizeQueues(const v1::ListQueuesResponse& queues,
                                          const v1::ListAgentsResponse& agents) {
  const std::map<std::string, std::vector<std::string>> members = Members(queues, agents);
  std::map<std::string, const v1::AgentState*> by_id;
  for (const v1::AgentState& a : agents.agents()) by_id[a.profile().agent_id()] = &a;

  std::vector<QueueSummary> out;
  for (const v1::QueueState& q : queues.queues()) {
    QueueSummary s;
    const v1::Queue& config = q.config();
    s.queue_id = config.queue_id();
    s.name = config.name();
    s.channel = config.channel();
    s.strategy = config.strategy();
    s.priority = config.priority();
    s.handled = q.handled();
    s.aht_ms = q.aht_ms();
    if (auto w = queues.waiting().find(s.queue_id); w != queues.waiting().end()) {
      s.waiting = w->second;
    }
    auto it = members.find(s.queue_id);
    if (it != members.end()) {
      s.members = static_cast<int>(it->second.size());
      for (const std::string& id : it->second) {
        auto agent = by_id.find(id);
        if (agent == by_id.end()) continue;
        const v1::AgentState& a = *agent->second;
        if (a.presence() != v1::PRESENCE_OFFLINE && a.presence() != v1::PRESENCE_UNSPECIFIED) {
          ++s.logged_in;
        }
        if (a.presence() == v1::PRESENCE_AVAILABLE && a.pending_aux().empty() &&
            Used(a, s.channel) < Capacity(a.profile(), s.channel)) {
          ++s.available;
        }
      }
    }
    for (const v1::AgentState& a : agents.agents()) {
      for (const v1::LegState& leg : a.legs()) {
        if (leg.queue_id() != s.queue_id) continue;
        s.offered += leg.phase() == v1::LEG_PHASE_OFFERED ? 1 : 0;
        s.connected += leg.phase() == v1::LEG_PHASE_CONNECTED ? 1 : 0;
        s.wrap_up += leg.phase() == v1::LEG_PHASE_WRAP_UP ? 1 : 0;
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string QueuesTable(const std::vector<QueueSummary>& queues) {
  std::vector<std::vector<std::string>> rows;
  for (const QueueSummary& q : queues) {
    rows.push_back(
        {q.queue_id, std::string(ChannelName(q.channel)), std::string(StrategyName(q.strategy)),
         std::to_string(q.priority), std::to_string(q.waiting), std::to_string(q.members),
         std::to_string(q.logged_in), std::to_string(q.available), std::to_string(q.offered),
         std::to_string(q.connected), std::to_string(q.wrap_up), std::to_string(q.handled),
         q.handled > 0 ? routing::config::FormatDurationMs(q.aht_ms) : "-", q.name});
  }
  return RenderTable({"QUEUE", "CHANNEL", "STRATEGY", "PRIO", "WAITING", "MEMBERS", "LOGGED_IN",
                      "AVAILABLE", "OFFERED", "CONNECTED", "WRAP_UP", "HANDLED", "AHT", "NAME"},
                     rows);
}

std::string Occupancy(const v1::AgentState& agent) {
  std::vector<std::string> parts;
  for (int c = v1::Channel_MIN; c <= v1::Channel_MAX; ++c) {
    const auto channel = static_cast<v1::Channel>(c);
    if (channel == v1::CHANNEL_UNSPECIFIED) continue;
    const int32_t capacity = Capacity(agent.profile(), channel);
    const int32_t used = Used(agent, channel);
    if (capacity == 0 && used == 0) continue;
    parts.push_back(fmt::format("{} {}/{}", ChannelName(channel), used, capacity));
  }
  return parts.empty() ? "-" : absl::StrJoin(parts, ", ");
}

std::string AgentsTable(const v1::ListAgentsResponse& agents) {
  std::vector<std::vector<std::string>> rows;
  for (const v1::AgentState& a : agents.agents()) {
    std::string presence(PresenceName(a.presence()));
    if (!a.reason().empty()) presence += ":" + a.reason();
    if (!a.pending_aux().empty()) presence += " (then aux:" + a.pending_aux() + ")";
    std::vector<std::string> legs;
    for (const v1::LegState& leg : a.legs()) {
      legs.push_back(fmt::format("{} {} ({})", leg.interaction_id(), LegPhaseName(leg.phase()),
                                 leg.queue_id()));
    }
    rows.push_back({a.profile().agent_id(), presence, Occupancy(a),
                    legs.empty() ? "-" : absl::StrJoin(legs, ", "), std::to_string(a.handled()),
                    a.profile().team().empty() ? "-" : a.profile().team()});
  }
  return RenderTable({"AGENT", "PRESENCE", "OCCUPANCY", "INTERACTIONS", "HANDLED", "TEAM"}, rows);
}

std::string ToJson(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) return "{}";
  return out;
}

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string_view EventKind(const v1::RoutingEvent& event) {
  switch (event.body_case()) {
    case v1::RoutingEvent::kCommandRejected:
      return "rejected";
    case v1::RoutingEvent::kQueueUpserted:
      return "queue_upserted";
    case v1::RoutingEvent::kQueueRemoved:
      return "queue_removed";
    case v1::RoutingEvent::kAgentUpserted:
      return "agent_upserted";
    case v1::RoutingEvent::kAgentRemoved:
      return "agent_removed";
    case v1::RoutingEvent::kAgentStateChanged:
      return "agent_state";
    case v1::RoutingEvent::kInteractionQueued:
      return "queued";
    case v1::RoutingEvent::kInteractionStepChanged:
      return "step_changed";
    case v1::RoutingEvent::kOfferCreated:
      return "offer_created";
    case v1::RoutingEvent::kOfferAccepted:
      return "offer_accepted";
    case v1::RoutingEvent::kOfferRejected:
      return "offer_rejected";
    case v1::RoutingEvent::kOfferTimedOut:
      return "offer_timed_out";
    case v1::RoutingEvent::kOfferRescinded:
      return "offer_rescinded";
    case v1::RoutingEvent::kInteractionConnected:
      return "connected";
    case v1::RoutingEvent::kWrapUpStarted:
      return "wrap_up_started";
    case v1::RoutingEvent::kWrapUpEnded:
      return "wrap_up_ended";
    case v1::RoutingEvent::kInteractionEnded:
      return "ended";
    case v1::RoutingEvent::kInteractionOverflowed:
      return "overflowed";
    case v1::RoutingEvent::kInteractionTransferred:
      return "transferred";
    case v1::RoutingEvent::kEscalationCreated:
      return "escalation_created";
    case v1::RoutingEvent::kEscalationJoined:
      return "escalation_joined";
    case v1::RoutingEvent::kCallerWarned:
      return "caller_warned";
    case v1::RoutingEvent::kVerificationRecorded:
      return "verification";
    case v1::RoutingEvent::BODY_NOT_SET:
      return "";
  }
  return "";
}

std::string FormatEvent(const v1::RoutingEvent& event) {
  std::string detail;
  switch (event.body_case()) {
    case v1::RoutingEvent::kCommandRejected: {
      const v1::CommandRejected& e = event.command_rejected();
      detail = fmt::format("{} {}: {}", e.command(), e.reason(), e.message());
      break;
    }
    case v1::RoutingEvent::kInteractionQueued: {
      const v1::InteractionQueued& e = event.interaction_queued();
      detail = fmt::format("queue={} position={} est_wait={} cause={}", e.queue_id(), e.position(),
                           Dur(e.estimated_wait()), e.cause());
      if (!e.preferred_agent_id().empty()) detail += " preferred=" + e.preferred_agent_id();
      if (!e.attributes().empty()) detail += " attrs=" + Attributes(e.attributes());
      break;
    }
    case v1::RoutingEvent::kInteractionStepChanged: {
      const v1::InteractionStepChanged& e = event.interaction_step_changed();
      detail =
          fmt::format("queue={} step={} requirement='{}'", e.queue_id(), e.step(), e.requirement());
      break;
    }
    case v1::RoutingEvent::kOfferCreated: {
      const v1::OfferCreated& e = event.offer_created();
      const v1::Explanation& x = e.explanation();
      detail = fmt::format(
          "agent={} offer={} queue={} waited={} ({} by {}, step {}, {} members, {} available, {} "
          "examined)",
          e.agent_id(), e.offer_id(), e.queue_id(), Dur(e.waited()), x.trigger(),
          StrategyName(x.strategy()), x.step(), x.members(), x.available(), x.examined());
      break;
    }
    case v1::RoutingEvent::kOfferAccepted:
      detail = fmt::format("agent={} offer={}", event.offer_accepted().agent_id(),
                           event.offer_accepted().offer_id());
      break;
    case v1::RoutingEvent::kOfferRejected:
      detail = fmt::format("agent={} offer={}", event.offer_rejected().agent_id(),
                           event.offer_rejected().offer_id());
      break;
    case v1::RoutingEvent::kOfferTimedOut:
      detail = fmt::format("agent={} offer={}", event.offer_timed_out().agent_id(),
                           event.offer_timed_out().offer_id());
      break;
    case v1::RoutingEvent::kOfferRescinded:
      detail = fmt::format("agent={} offer={} cause={}", event.offer_rescinded().agent_id(),
                           event.offer_rescinded().offer_id(), event.offer_rescinded().cause());
      break;
    case v1::RoutingEvent::kInteractionConnected: {
      const v1::InteractionConnected& e = event.interaction_connected();
      detail =
          fmt::format("agent={} queue={} waited={}", e.agent_id(), e.queue_id(), Dur(e.waited()));
      break;
    }
    case v1::RoutingEvent::kWrapUpStarted:
      detail = fmt::format("agent={}", event.wrap_up_started().agent_id());
      break;
    case v1::RoutingEvent::kWrapUpEnded:
      detail = fmt::format("agent={} disposition={}{}", event.wrap_up_ended().agent_id(),
                           event.wrap_up_ended().disposition(),
                           event.wrap_up_ended().timed_out() ? " (timed out)" : "");
      break;
    case v1::RoutingEvent::kInteractionEnded: {
      const v1::InteractionEnded& e = event.interaction_ended();
      detail = fmt::format("reason={} queue={} waited={} handled={}", EndReasonName(e.reason()),
                           e.queue_id(), Dur(e.waited()), Dur(e.handled()));
      if (!e.agent_id().empty()) detail += " agent=" + e.agent_id();
      if (!e.disposition().empty()) detail += " disposition=" + e.disposition();
      break;
    }
    case v1::RoutingEvent::kInteractionOverflowed: {
      const v1::InteractionOverflowed& e = event.interaction_overflowed();
      detail = fmt::format("queue={} reason={}", e.queue_id(), e.reason());
      if (!e.target_queue_id().empty()) detail += " to=" + e.target_queue_id();
      break;
    }
    case v1::RoutingEvent::kInteractionTransferred: {
      const v1::InteractionTransferred& e = event.interaction_transferred();
      detail = fmt::format("from={} to_queue={}", e.from_agent_id(), e.target_queue_id());
      if (!e.target_agent_id().empty()) detail += " to_agent=" + e.target_agent_id();
      break;
    }
    case v1::RoutingEvent::kEscalationCreated: {
      const v1::EscalationCreated& e = event.escalation_created();
      detail = fmt::format("task={} queue={} team={} reason={}{}", e.task_id(), e.queue_id(),
                           e.team(), e.reason(), e.cold() ? " (cold)" : "");
      break;
    }
    case v1::RoutingEvent::kEscalationJoined:
      detail = fmt::format("task={} supervisor={}", event.escalation_joined().task_id(),
                           event.escalation_joined().supervisor_id());
      break;
    case v1::RoutingEvent::kCallerWarned: {
      const v1::CallerWarned& e = event.caller_warned();
      detail =
          fmt::format("agent={} category={} warnings={}", e.agent_id(), e.category(), e.warnings());
      break;
    }
    case v1::RoutingEvent::kVerificationRecorded: {
      const v1::VerificationRecorded& e = event.verification_recorded();
      detail = "agent=" + e.agent_id();
      if (!e.factor().empty()) {
        detail += fmt::format(" factor={} passed={}", e.factor(), e.passed() ? "true" : "false");
      }
      detail +=
          fmt::format(" factors_passed={} failed_attempts={} verified={}",
                      e.factors_passed().empty() ? "-" : absl::StrJoin(e.factors_passed(), ","),
                      e.failed_attempts(), e.verified() ? "true" : "false");
      break;
    }
    default: {
      // Events that do not concern one interaction: the JSON says it all.
      detail = ToJson(event);
      break;
    }
  }
  return fmt::format("{:<16}{}", EventKind(event), detail);
}

}  // namespace sb::cli
