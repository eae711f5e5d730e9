// ReviewIntake: turns routing events (sb.routing.events.v1) and policy decisions
// (sb.policy.decisions.v1) into the review workflow's state -- the interactions and agents tables,
// and the review tasks the events call for (docs/reviews.md, "Where reviews come from").
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "recording/core/qa_config.h"
#include "recording/storage/store.h"
#include "switchboard/policy/v1/policy.pb.h"
#include "switchboard/recording/v1/recording.pb.h"
#include "switchboard/routing/v1/events.pb.h"

namespace sb::recording {

// ReviewEventSink
//
// Told about every review that was created or changed state, after the change is committed (the
// service publishes it on sb.recording.events.v1 and counts it). Called on the thread that made
// the change (a consumer thread or a gRPC handler thread), so an implementation must be
// thread-safe and must not block for long.
struct ReviewEventSink {
  virtual ~ReviewEventSink() = default;
  virtual void ReviewChanged(const switchboard::recording::v1::Review& review) = 0;
};

// ReviewIntake
//
// What each input does (all of an event's effects and its dedupe mark in one store transaction,
// so a redelivered event changes nothing and a failed one leaves nothing partial):
//   AgentUpserted         agents(team)
//   InteractionQueued     interactions(queue, first enqueue time, customer_id attribute)
//   InteractionConnected  interactions(agent, the agent's team, connect time, wait)
//   InteractionEnded      interactions(end time, reason; agent, queue, wait when given)
//   InteractionTransferred / OfferCreated etc.: ignored
//   EscalationCreated     + a mandatory ESCALATION review (qa::ReviewForEscalation)
//   PolicyDecision with create_review obligations (allowed agent disconnects, escalations):
//                         + a review per obligation (qa::ReviewForPolicyObligation); dry runs and
//                         decisions without an interaction or agent are skipped.
// Reviews are deduplicated by what they are about (the core's dedupe keys), so the policy
// decision of an escalation and the routing EscalationCreated open one review. Events are
// deduplicated by event id (MarkProcessed, consumers "recording-reviews/routing" and
// "recording-reviews/policy"). Time comes from the events, never the clock.
//
// Errors: the store's (UNAVAILABLE etc.: retry the event later); INVALID_ARGUMENT for an event
// that can never be applied (missing ids): the caller should log and skip it.
//
// Thread safety: the methods may be called from any thread, concurrently (the store serializes
// what must be). The store, config and sink are borrowed and must outlive the intake.
class ReviewIntake {
 public:
  ReviewIntake(storage::RecordingStore* store, const qa::QaConfig* config, ReviewEventSink* sink);

  absl::Status OnRoutingEvent(const switchboard::routing::v1::RoutingEvent& event);
  // `event_id`: the record's id for dedupe (normally the decision id; the Kafka key/offset when
  // the decision has none).
  absl::Status OnPolicyDecision(const switchboard::policy::v1::PolicyDecision& decision,
                                const std::string& event_id);

  static constexpr char kRoutingConsumer[] = "recording-reviews/routing";
  static constexpr char kPolicyConsumer[] = "recording-reviews/policy";

 private:
  // Tells the sink about `created` (after the commit).
  void Publish(const std::vector<switchboard::recording::v1::Review>& created);

  storage::RecordingStore* store_;
  const qa::QaConfig* config_;
  ReviewEventSink* sink_;
};

}  // namespace sb::recording
