#include "recording/service/review_intake.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/duration.pb.h"
#include "recording/core/triggers.h"
#include "recording/service/review_records.h"

namespace sb::recording {
namespace {

namespace v1 = ::switchboard::recording::v1;
namespace rv1 = ::switchboard::routing::v1;
namespace pv1 = ::switchboard::policy::v1;

int64_t DurationMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1'000'000;
}

std::string EndReasonName(rv1::EndReason reason) {
  std::string name = rv1::EndReason_Name(reason);
  constexpr std::string_view kPrefix = "END_REASON_";
  if (name.starts_with(kPrefix)) name.erase(0, kPrefix.size());
  return name;
}

// The agent's team, from the agents table ("" when unknown).
absl::StatusOr<std::string> TeamOf(storage::RecordingStore& tx, const std::string& tenant,
                                   const std::string& agent_id) {
  if (agent_id.empty()) return std::string();
  auto agent = tx.GetAgent(tenant, agent_id);
  if (agent.ok()) return agent->team_id;
  if (agent.status().code() == absl::StatusCode::kNotFound) return std::string();
  return agent.status();
}

// The interaction as known ("" fields when unknown).
absl::StatusOr<storage::InteractionRecord> InteractionOf(storage::RecordingStore& tx,
                                                         const std::string& tenant,
                                                         const std::string& interaction_id) {
  auto found = tx.GetInteraction(tenant, interaction_id);
  if (found.ok() || found.status().code() != absl::StatusCode::kNotFound) return found;
  storage::InteractionRecord none;
  none.tenant_id = tenant;
  none.interaction_id = interaction_id;
  return none;
}

// Creates the review of `spec` and remembers it for the sink when new.
absl::Status Open(storage::RecordingStore& tx, const qa::ReviewTaskSpec& spec,
                  std::vector<v1::Review>* created) {
  auto review = CreateReviewFromSpec(tx, spec, /*flagged_by_agent=*/false);
  if (!review.ok()) return review.status();
  if (review->created) {
    auto details = tx.GetReviewDetails(spec.tenant, review->value.id);
    if (!details.ok()) return details.status();
    created->push_back(ToProto(review->value, &*details));
  }
  return absl::OkStatus();
}

absl::Status ApplyRoutingEvent(storage::RecordingStore& tx, const rv1::RoutingEvent& e,
                               std::vector<v1::Review>* created) {
  const std::string& tenant = e.tenant_id();
  const int64_t at_ms = ToUnixMs(e.time());
  storage::InteractionRecord ix;
  ix.tenant_id = tenant;
  switch (e.body_case()) {
    case rv1::RoutingEvent::kAgentUpserted: {
      const auto& p = e.agent_upserted().profile();
      return tx.UpsertAgent(storage::AgentRecord{tenant, p.agent_id(), p.team(), at_ms});
    }
    case rv1::RoutingEvent::kInteractionQueued: {
      const auto& q = e.interaction_queued();
      ix.interaction_id = q.interaction_id();
      ix.queue_id = q.queue_id();
      ix.enqueued_at_ms = q.has_enqueued_at() ? ToUnixMs(q.enqueued_at()) : at_ms;
      if (auto it = q.attributes().find("customer_id"); it != q.attributes().end()) {
        ix.customer_id = it->second;
      }
      return tx.MergeInteraction(ix);
    }
    case rv1::RoutingEvent::kInteractionConnected: {
      const auto& c = e.interaction_connected();
      auto team = TeamOf(tx, tenant, c.agent_id());
      if (!team.ok()) return team.status();
      ix.interaction_id = c.interaction_id();
      ix.queue_id = c.queue_id();
      ix.agent_id = c.agent_id();
      ix.team_id = *team;
      ix.connected_at_ms = at_ms;
      if (c.has_waited()) ix.wait_ms = DurationMs(c.waited());
      return tx.MergeInteraction(ix);
    }
    case rv1::RoutingEvent::kInteractionEnded: {
      const auto& d = e.interaction_ended();
      ix.interaction_id = d.interaction_id();
      ix.queue_id = d.queue_id();
      ix.agent_id = d.agent_id();
      if (!d.agent_id().empty()) {
        auto team = TeamOf(tx, tenant, d.agent_id());
        if (!team.ok()) return team.status();
        ix.team_id = *team;
      }
      ix.ended_at_ms = std::max<int64_t>(at_ms, 1);
      ix.end_reason = EndReasonName(d.reason());
      if (d.has_waited() && d.agent_id().empty()) ix.wait_ms = DurationMs(d.waited());
      return tx.MergeInteraction(ix);
    }
    case rv1::RoutingEvent::kEscalationCreated: {
      const auto& x = e.escalation_created();
      if (x.agent_id().empty()) return absl::OkStatus();  // nobody's call to review
      auto known = InteractionOf(tx, tenant, x.interaction_id());
      if (!known.ok()) return known.status();
      std::string team = x.team();
      if (team.empty()) {
        auto t = TeamOf(tx, tenant, x.agent_id());
        if (!t.ok()) return t.status();
        team = *t;
      }
      qa::EscalationEvent esc;
      esc.tenant = tenant;
      esc.event_id = e.event_id();
      esc.interaction_id = x.interaction_id();
      esc.agent_id = x.agent_id();
      esc.team = team;
      esc.queue = !x.queue_id().empty() ? x.queue_id() : known->queue_id;
      esc.reason = x.reason();
      esc.time_ms = at_ms;
      auto spec = qa::ReviewForEscalation(esc);
      if (!spec.ok()) return spec.status();
      return Open(tx, *spec, created);
    }
    default:
      return absl::OkStatus();
  }
}

}  // namespace

ReviewIntake::ReviewIntake(storage::RecordingStore* store, const qa::QaConfig* config,
                           ReviewEventSink* sink)
    : store_(store), config_(config), sink_(sink) {}

void ReviewIntake::Publish(const std::vector<v1::Review>& created) {
  if (sink_ == nullptr) return;
  for (const v1::Review& r : created) sink_->ReviewChanged(r);
}

absl::Status ReviewIntake::OnRoutingEvent(const rv1::RoutingEvent& event) {
  if (event.event_id().empty() || event.tenant_id().empty()) {
    return absl::InvalidArgumentError(
        "MISSING_FIELD: routing event without event_id or tenant_id (cannot be deduplicated)");
  }
  switch (event.body_case()) {
    case rv1::RoutingEvent::kAgentUpserted:
    case rv1::RoutingEvent::kInteractionQueued:
    case rv1::RoutingEvent::kInteractionConnected:
    case rv1::RoutingEvent::kInteractionEnded:
    case rv1::RoutingEvent::kEscalationCreated:
      break;
    default:
      return absl::OkStatus();  // nothing to do: skip the transaction and the dedupe row
  }
  std::vector<v1::Review> created;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    created.clear();  // the callback may run again after a conflict
    auto fresh = tx.MarkProcessed(kRoutingConsumer, event.event_id(), ToUnixMs(event.time()));
    if (!fresh.ok()) return fresh.status();
    if (!*fresh) return absl::OkStatus();
    return ApplyRoutingEvent(tx, event, &created);
  });
  if (!s.ok()) return s;
  Publish(created);
  return absl::OkStatus();
}

absl::Status ReviewIntake::OnPolicyDecision(const pv1::PolicyDecision& decision,
                                            const std::string& event_id) {
  if (decision.dry_run()) return absl::OkStatus();
  std::vector<const pv1::CreateReview*> obligations;
  for (const pv1::Obligation& o : decision.obligations()) {
    if (o.has_create_review()) obligations.push_back(&o.create_review());
  }
  if (obligations.empty()) return absl::OkStatus();
  const std::string id = event_id.empty() ? decision.decision_id() : event_id;
  if (id.empty() || decision.tenant_id().empty()) {
    return absl::InvalidArgumentError(
        "MISSING_FIELD: policy decision without an id or tenant_id (cannot be deduplicated)");
  }
  if (decision.interaction_id().empty() || decision.agent_id().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "MISSING_FIELD: decision ", id, ": create_review needs interaction_id and agent_id"));
  }
  const std::string& tenant = decision.tenant_id();
  const int64_t at_ms = ToUnixMs(decision.time());
  std::vector<v1::Review> created;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    created.clear();
    auto fresh = tx.MarkProcessed(kPolicyConsumer, id, at_ms);
    if (!fresh.ok()) return fresh.status();
    if (!*fresh) return absl::OkStatus();
    auto known = InteractionOf(tx, tenant, decision.interaction_id());
    if (!known.ok()) return known.status();
    std::string team = known->agent_id == decision.agent_id() ? known->team_id : std::string();
    if (team.empty()) {
      auto t = TeamOf(tx, tenant, decision.agent_id());
      if (!t.ok()) return t.status();
      team = *t;
    }
    for (const pv1::CreateReview* cr : obligations) {
      qa::PolicyReviewObligation o;
      o.tenant = tenant;
      o.decision_id = decision.decision_id().empty() ? id : decision.decision_id();
      o.interaction_id = decision.interaction_id();
      o.agent_id = decision.agent_id();
      o.team = team;
      o.queue = known->queue_id;
      o.reason = cr->reason();
      o.mandatory = cr->mandatory();
      o.time_ms = at_ms;
      auto spec = qa::ReviewForPolicyObligation(o);
      if (!spec.ok()) return spec.status();
      if (absl::Status st = Open(tx, *spec, &created); !st.ok()) return st;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Publish(created);
  return absl::OkStatus();
}

}  // namespace sb::recording
