// The agent-state projection: what sb-agent-state knows, rebuilt from sb.routing.events.v1.
//
// Routing stays the single writer of presence and occupancy (DESIGN §1); this is a read model.
// Every replica of sb-agent-state applies every routing event (deduplicated by event id) to one
// Projection, and pushes to its own connected desktops the DesktopEvents that Apply produces.
// Because a tenant's events come from one partition in one order, every replica derives the same
// desktop events with the same ids, so a desktop can resume on another replica.
//
// Pure: no IO, no clock (times come from the events and from `now_ms` arguments), no threads.
// Not thread-safe: the service serializes access.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "switchboard/agent/v1/agent_state.pb.h"
#include "switchboard/routing/v1/events.pb.h"

namespace sb::agent_state {

namespace av1 = ::switchboard::agent::v1;
namespace rv1 = ::switchboard::routing::v1;

struct ProjectionOptions {
  // Desktop events retained per agent for resume (Hello.resume_after).
  size_t desktop_log_size = 256;
  // Event ids remembered for deduplication (per projection, FIFO).
  size_t dedup_window = 1 << 20;
  // An interaction in progress longer than this is "long" on the floor, unless its queue has a
  // threshold of its own.
  int64_t long_interaction_ms = 10 * 60 * 1000;
  std::map<std::string, int64_t> long_interaction_ms_by_queue;
  // Ended interactions remembered per customer (attributes["customer"]) for offers' context.
  size_t customer_history = 5;
  // The attribute that marks an approval task (an interaction routed to supervisors for an
  // authority approval): attributes[kApprovalAttribute] = the approval id. The projection also
  // reads these attributes of an approval task (the service sets them when it enqueues it):
  //   requested_by (the asking agent), interaction_id (the interaction the approval is for),
  //   action, amount (a decimal number), reason (shown to the supervisor).
  static constexpr std::string_view kApprovalAttribute = "approval_id";
};

// One desktop event for one agent, produced by Apply.
struct DesktopOutput {
  std::string tenant_id;
  std::string agent_id;
  av1::DesktopEvent event;
};

class Projection {
 public:
  explicit Projection(ProjectionOptions options = {});

  // Applies one routing event. Returns false (and changes nothing) when its event_id was applied
  // before (within the last `dedup_window` ids). Appends to `out` the desktop events it produces
  // (each also retained in the agent's log), with event_id = the routing event id, or
  // "<routing id>#<k>" for the k-th (k >= 2) desktop event one routing event produces for the
  // same agent. `out` may be null (a replay: the events are only retained). An event with an
  // empty event_id cannot be deduplicated: it is always applied, and its desktop events get the
  // ids "" / "#<k>", which no desktop can resume from. Mapping:
  //   AgentUpserted -> profile (no desktop event); AgentRemoved -> forgotten
  //   AgentStateChanged -> state (an AgentState); plus break_timer when it starts a recovery break.
  //     AgentState.since is the time of the event that last changed presence or reason (one that
  //     only announces a pending break changes neither).
  //   OfferCreated -> offer (with waited, attributes, verified = recorded verified on the
  //     interaction or the one it escalates, or attributes["verified"] == "true",
  //     previous_interactions of attributes["customer"] (newest first; escalation and approval
  //     tasks are not counted), escalated_from)
  //   OfferRejected/OfferTimedOut/OfferRescinded -> offer_withdrawn (cause rejected/timed_out/
  //     rescinded)
  //   InteractionConnected -> assignment;  WrapUpStarted -> wrap_up;  WrapUpEnded -> state
  //   InteractionEnded -> interaction_closed to the agent connected at the end (reason: the
  //     EndReason's lower-case name without the prefix, e.g. "agent_disconnected") unless an
  //     EscalationJoined already closed it for that agent (a warm join emits EscalationJoined,
  //     then the original's InteractionEnded: the released agent gets one interaction_closed),
  //     and, when the ended interaction was an approval task, approval_answered to the
  //     requesting agent (attributes["requested_by"]) with approved = disposition == "approved",
  //     supervisor = the agent connected at the end (note is left empty: routing carries none);
  //     any end counts (an approval task cancelled or abandoned answers approved = false)
  //   InteractionTransferred -> interaction_closed (reason "transferred") to from_agent_id
  //   EscalationJoined -> interaction_closed (reason "escalated") to released_agent_id, if any
  // Other events change the floor (interactions, escalations, approvals) without desktop events.
  bool Apply(const rv1::RoutingEvent& event, std::vector<DesktopOutput>* out);

  // The agent's current state (desktop_connected is left false: the service knows). NotFound
  // "NO_SUCH_AGENT: ..." for an agent routing does not know (never upserted, or removed).
  absl::StatusOr<av1::AgentState> StateOf(std::string_view tenant, std::string_view agent) const;

  // The agent's retained desktop events after `after_event_id`, oldest first; nullopt when that
  // id is not in the retained log (too old, unknown, or empty): the desktop then starts from
  // StateOf. An empty vector when it is the newest.
  std::optional<std::vector<av1::DesktopEvent>> EventsAfter(std::string_view tenant,
                                                            std::string_view agent,
                                                            std::string_view after_event_id) const;
  // The caller's identity verification on an interaction so far (VerificationRecorded): the
  // factors passed, the failed attempts, whether verified. Empty for an unknown interaction.
  struct Verification {
    std::vector<std::string> factors;
    int32_t failed_attempts = 0;
    bool verified = false;
  };
  Verification VerificationOf(std::string_view tenant, std::string_view interaction_id) const;

  // The id of the agent's newest retained desktop event ("" if none).
  std::string LastEventId(std::string_view tenant, std::string_view agent) const;

  // Request checks (stable reasons as message prefixes; nothing is changed):
  //   NotFound NO_SUCH_AGENT; NotFound NO_SUCH_OFFER (unknown, or no longer pending: accepting a
  //   stale offer); PermissionDenied NOT_YOUR_OFFER (pending for another agent).
  absl::Status CheckOffer(std::string_view tenant, std::string_view agent,
                          std::string_view offer_id) const;
  //   NotFound NO_SUCH_AGENT; NotFound NO_SUCH_INTERACTION (not in progress in the tenant);
  //   PermissionDenied NOT_YOUR_INTERACTION (connected to, or in wrap-up with, another agent; or
  //   in progress but not connected to this agent: queued, or offered to it but not accepted).
  absl::Status CheckInteraction(std::string_view tenant, std::string_view agent,
                                std::string_view interaction_id) const;

  // The agent an interaction in progress is connected to (talking; not merely offered) and its
  // queue. FailedPrecondition NOT_CONNECTED otherwise (unknown, queued, offered, ended).
  struct Connection {
    std::string agent_id;
    std::string queue_id;
  };
  absl::StatusOr<Connection> ConnectionOf(std::string_view tenant,
                                          std::string_view interaction_id) const;

  // The floor of a tenant, restricted to `teams` (empty: all), at `now_ms` (times in state,
  // durations, ages). Agents sorted by id; interactions by start (first enqueue), oldest first;
  // escalations and approvals by age, oldest first. With `teams`: agents of those teams, the
  // interactions offered or connected to them, escalations of those teams, approvals asked by
  // their agents, and the escalation/approval tasks of those; interactions waiting without an
  // agent only on the unrestricted floor. An interaction's duration is its handle time so far
  // when connected, its wait so far (since the first enqueue) otherwise; it is long when the
  // duration exceeds its queue's threshold.
  av1::Floor FloorOf(std::string_view tenant, const std::set<std::string>& teams,
                     int64_t now_ms) const;

  // The pending escalation task `task_id` (for JoinEscalation): the supervisor it is offered to
  // and the offer id, if offered. NotFound NO_SUCH_ESCALATION.
  struct EscalationTask {
    std::string task_id;
    std::string interaction_id;
    std::string offered_to;  // "" while queued
    std::string offer_id;
  };
  absl::StatusOr<EscalationTask> FindEscalation(std::string_view tenant,
                                                std::string_view task_id) const;
  // The pending approval task with attributes[kApprovalAttribute] == approval_id: its interaction
  // (task) id and the agent who asked. NotFound NO_SUCH_APPROVAL.
  struct ApprovalTask {
    std::string approval_id;
    std::string task_id;
    std::string requested_by;
    std::string offered_to;
    std::string offer_id;
    bool connected = false;
    std::string connected_to;
  };
  absl::StatusOr<ApprovalTask> FindApproval(std::string_view tenant,
                                            std::string_view approval_id) const;

  // Changes every time Apply changes something (for floor watchers).
  uint64_t version() const { return version_; }
  size_t agent_count() const;
  // Agents by presence, over all tenants (for metrics): presence name ("offline", "available",
  // "aux": the enum name, lower case, without the prefix; all three present, 0 if none) -> count.
  std::map<std::string, int64_t> AgentsByPresence() const;

 private:
  struct Impl;
  ProjectionOptions options_;
  uint64_t version_ = 0;
  // Note: shared, so a copied Projection aliases its original's state (but not version_); keep
  // one Projection per service and pass it by reference. Moving is fine.
  std::shared_ptr<Impl> impl_;
};

}  // namespace sb::agent_state
