// What the operator commands print: aligned tables of queues and agents, one readable line per
// routing event, and the enum spellings of docs/configuration.md. Pure functions of the protos
// (no IO, no clock), so the unit test pins them down; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "switchboard/routing/v1/events.pb.h"
#include "switchboard/routing/v1/routing_service.pb.h"
#include "switchboard/routing/v1/snapshot.pb.h"

namespace sb::cli {

namespace v1 = ::switchboard::routing::v1;

// RenderTable
//
// Columns separated by two spaces, padded to the widest cell; a column whose cells are all
// numbers (or "-") is right-aligned. Every line ends with '\n'.
//
//   QUEUE    MEMBERS
//   billing       12
std::string RenderTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// "voice", "most_skilled", "available" (lowercase, no proto prefix), "?" for unknown values.
std::string_view ChannelName(v1::Channel channel);
std::string_view StrategyName(v1::Strategy strategy);
std::string_view PresenceName(v1::Presence presence);
std::string_view EndReasonName(v1::EndReason reason);

// QueueSummary
//
// One row of `switchboard queues`: the queue's configuration, and what the agents' states say
// about it. Members are worked out the way the routing engine does it (membership expressions
// run by a local, in-memory engine over the agents' profiles).
struct QueueSummary {
  std::string queue_id;
  std::string name;
  v1::Channel channel = v1::CHANNEL_UNSPECIFIED;
  v1::Strategy strategy = v1::STRATEGY_UNSPECIFIED;
  int32_t priority = 0;
  int64_t waiting = 0;  // interactions waiting (not yet offered)
  int members = 0;      // agents whose profile satisfies the queue's membership
  int logged_in = 0;    // members not offline
  int available = 0;    // members available with spare capacity on the queue's channel
  int offered = 0;      // interactions of the queue being offered to an agent
  int connected = 0;    // interactions of the queue connected to an agent
  int wrap_up = 0;      // agents in wrap-up after an interaction of the queue
  int64_t handled = 0;
  int64_t aht_ms = 0;
};

std::vector<QueueSummary> SummarizeQueues(const v1::ListQueuesResponse& queues,
                                          const v1::ListAgentsResponse& agents);
std::string QueuesTable(const std::vector<QueueSummary>& queues);

// `switchboard agents`: id, presence (with aux reason and a pending break), occupancy per
// channel ("voice 1/1"), the interactions held, handled count and team.
std::string AgentsTable(const v1::ListAgentsResponse& agents);

// The occupancy column: "voice 1/1", "chat 2/3", several channels joined by ", ".
std::string Occupancy(const v1::AgentState& agent);

// A response as JSON (proto3 JSON mapping, field names as in the .proto), one line.
std::string ToJson(const google::protobuf::Message& message);

// A JSON string literal, quotes included: `"`, `\` and control characters escaped (UTF-8 passes
// through as it is). For the documents commands write by hand.
std::string JsonString(std::string_view s);

// The short kind of an event: "queued", "offer_created", "ended", ... ("" if unset).
std::string_view EventKind(const v1::RoutingEvent& event);

// One line for `switchboard watch`, without the time:
//   queued          queue=billing position=1 est_wait=0s cause=enqueued
//   offer_created   agent=billing-003 offer=o-7 queue=billing waited=2s (most_skilled, ...)
std::string FormatEvent(const v1::RoutingEvent& event);

}  // namespace sb::cli
