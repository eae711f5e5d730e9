#include "recording/service/recording_intake.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace sb::recording {
namespace {

namespace rv1 = ::switchboard::routing::v1;
namespace pv1 = ::switchboard::policy::v1;
using google::protobuf::util::TimeUtil;
using storage::RecordingState;

std::string Key(const std::string& tenant, const std::string& interaction) {
  return absl::StrCat(tenant, "\n", interaction);
}

bool Live(RecordingState s) {
  return s == RecordingState::kRecording || s == RecordingState::kPaused;
}

const char* OpName(int op) {
  switch (op) {
    case 0:
      return "pause";
    case 1:
      return "resume";
    default:
      return "stop";
  }
}

}  // namespace

int64_t OffsetFromDetail(const std::string& detail) {
  const size_t at = detail.find("offset_ms=");
  if (at == std::string::npos) return -1;
  size_t end = detail.find(' ', at);
  if (end == std::string::npos) end = detail.size();
  int64_t v = -1;
  const size_t from = at + std::string_view("offset_ms=").size();
  if (!absl::SimpleAtoi(detail.substr(from, end - from), &v)) return -1;
  return v;
}

RecordingIntake::RecordingIntake(storage::RecordingStore* store, RecordingEvents* events,
                                 RecordingMetrics* metrics, RecordPolicy policy)
    : store_(store), events_(events), metrics_(metrics), policy_(std::move(policy)) {}

void RecordingIntake::NoteTenant(const std::string& tenant) {
  if (tenant.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  tenants_.insert(tenant);
}

std::vector<std::string> RecordingIntake::Tenants() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {tenants_.begin(), tenants_.end()};
}

void RecordingIntake::Publish(const Outbox& out) {
  for (const storage::AuditEntry& e : out.audit) {
    if (metrics_ != nullptr) metrics_->Action(e.action);
  }
  if (events_ == nullptr) return;
  for (const storage::Recording& r : out.recordings) events_->RecordingChanged(r);
  if (!out.audit.empty()) events_->AuditAppended(out.audit.back());
}

absl::StatusOr<storage::Recording> RecordingIntake::StartIn(storage::RecordingStore& tx,
                                                            const StartSpec& spec,
                                                            const std::string& principal,
                                                            Outbox* out) {
  storage::Recording r;
  r.id = spec.recording_id.empty() ? absl::StrCat(spec.interaction_id, "/rec") : spec.recording_id;
  r.tenant_id = spec.tenant_id;
  r.interaction_id = spec.interaction_id;
  r.queue_id = spec.queue_id;
  r.agent_id = spec.agent_id;
  r.customer_id = spec.customer_id;
  r.started_at_ms = spec.at_ms;
  absl::StatusOr<storage::Created<storage::Recording>> created = tx.CreateRecording(r);
  if (!created.ok()) return created.status();
  if (created->created) {
    storage::AuditEntry e;
    e.tenant_id = r.tenant_id;
    e.recording_id = r.id;
    e.action = "start";
    e.principal = principal;
    e.detail = absl::StrCat("interaction=", r.interaction_id, " queue=", r.queue_id,
                            " agent=", r.agent_id);
    e.at_ms = spec.at_ms;
    absl::StatusOr<storage::AuditEntry> appended = tx.AppendAudit(e);
    if (!appended.ok()) return appended.status();
    out->audit.push_back(*appended);
    out->recordings.push_back(created->value);
  }
  return created->value;
}

absl::StatusOr<storage::Recording> RecordingIntake::Start(const StartSpec& spec,
                                                          const std::string& principal) {
  NoteTenant(spec.tenant_id);
  Outbox out;
  storage::Recording result;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    out = Outbox{};
    absl::StatusOr<storage::Recording> r = StartIn(tx, spec, principal, &out);
    if (!r.ok()) return r.status();
    result = *std::move(r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Publish(out);
  return result;
}

absl::StatusOr<storage::Recording> RecordingIntake::ApplyIn(storage::RecordingStore& tx, Op op,
                                                            const Action& a, Outbox* out) {
  absl::StatusOr<storage::Recording> cur = tx.GetRecording(a.tenant_id, a.recording_id);
  if (!cur.ok()) return cur.status();
  const RecordingState want = op == Op::kPause    ? RecordingState::kPaused
                              : op == Op::kResume ? RecordingState::kRecording
                                                  : RecordingState::kStopped;
  if (cur->state == want) return *cur;  // idempotent: nothing to do, nothing audited
  if (!Live(cur->state)) {
    return absl::FailedPreconditionError(
        absl::StrCat("NOT_RECORDING: recording '", a.recording_id, "' is ",
                     std::string(storage::RecordingStateName(cur->state)), " (cannot ",
                     OpName(static_cast<int>(op)), ")"));
  }
  if (op == Op::kResume && cur->state != RecordingState::kPaused) return *cur;
  const int64_t offset =
      a.offset_ms >= 0 ? a.offset_ms : std::max<int64_t>(0, a.at_ms - cur->started_at_ms);
  const int64_t last_gap_end = cur->gaps.empty() ? 0 : cur->gaps.back().end_offset_ms;
  if (offset < last_gap_end) {
    return absl::InvalidArgumentError(absl::StrCat("BAD_OFFSET: offset_ms: ", offset,
                                                   " is before the end of the last gap (",
                                                   last_gap_end, ")"));
  }
  // Closing a pause: the gap runs from the pause's offset (kept in its audit entry) to here.
  if (cur->state == RecordingState::kPaused) {
    absl::StatusOr<std::vector<storage::AuditEntry>> entries =
        tx.ListAudit(a.tenant_id, a.recording_id);
    if (!entries.ok()) return entries.status();
    int64_t start = -1;
    std::string reason;
    for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
      if (it->action == "pause") {
        start = OffsetFromDetail(it->detail);
        const size_t r = it->detail.find("reason=");
        if (r != std::string::npos) reason = it->detail.substr(r + 7);
        break;
      }
    }
    if (start < 0) start = last_gap_end;
    if (offset < start) {
      return absl::InvalidArgumentError(absl::StrCat("BAD_OFFSET: offset_ms: ", offset,
                                                     " is before the pause began (", start, ")"));
    }
    storage::Gap gap{start, offset, reason};
    if (absl::Status s = tx.AddGap(a.tenant_id, a.recording_id, gap); !s.ok()) return s;
  }
  absl::StatusOr<storage::Recording> next =
      tx.SetRecordingState(a.tenant_id, a.recording_id, cur->state, want, a.at_ms);
  if (!next.ok()) return next.status();
  storage::AuditEntry e;
  e.tenant_id = a.tenant_id;
  e.recording_id = a.recording_id;
  e.action = OpName(static_cast<int>(op));
  e.principal = a.principal;
  e.detail = absl::StrCat("offset_ms=", offset);
  if (!a.reason.empty()) absl::StrAppend(&e.detail, " reason=", a.reason);
  e.at_ms = a.at_ms;
  absl::StatusOr<storage::AuditEntry> appended = tx.AppendAudit(e);
  if (!appended.ok()) return appended.status();
  absl::StatusOr<storage::Recording> final_state = tx.GetRecording(a.tenant_id, a.recording_id);
  if (!final_state.ok()) return final_state.status();
  out->audit.push_back(*appended);
  out->recordings.push_back(*final_state);
  return *final_state;
}

absl::StatusOr<storage::Recording> RecordingIntake::RunAction(Op op, const Action& action) {
  NoteTenant(action.tenant_id);
  Outbox out;
  storage::Recording result;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    out = Outbox{};
    absl::StatusOr<storage::Recording> r = ApplyIn(tx, op, action, &out);
    if (!r.ok()) return r.status();
    result = *std::move(r);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Publish(out);
  return result;
}

absl::StatusOr<storage::Recording> RecordingIntake::Pause(const Action& action) {
  return RunAction(Op::kPause, action);
}
absl::StatusOr<storage::Recording> RecordingIntake::Resume(const Action& action) {
  return RunAction(Op::kResume, action);
}
absl::StatusOr<storage::Recording> RecordingIntake::Stop(const Action& action) {
  return RunAction(Op::kStop, action);
}

absl::Status RecordingIntake::ForInteraction(const std::string& event_id, const std::string& tenant,
                                             const std::string& interaction_id, Op op,
                                             const std::string& reason,
                                             const std::string& principal, int64_t at_ms) {
  Outbox out;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    out = Outbox{};
    absl::StatusOr<bool> first = tx.MarkProcessed(kRecordingConsumer, event_id, at_ms);
    if (!first.ok()) return first.status();
    if (!*first) return absl::OkStatus();
    absl::StatusOr<std::vector<storage::Recording>> recs =
        tx.ListRecordingsByInteraction(tenant, interaction_id);
    if (!recs.ok()) return recs.status();
    for (const storage::Recording& r : *recs) {
      if (!Live(r.state)) continue;
      if (op == Op::kResume && r.state != RecordingState::kPaused) continue;
      if (op == Op::kPause && r.state != RecordingState::kRecording) continue;
      Action a;
      a.tenant_id = tenant;
      a.recording_id = r.id;
      a.reason = reason;
      a.principal = principal;
      a.at_ms = at_ms;
      absl::StatusOr<storage::Recording> done = ApplyIn(tx, op, a, &out);
      if (!done.ok()) return done.status();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  Publish(out);
  return absl::OkStatus();
}

absl::Status RecordingIntake::OnRoutingEvent(const rv1::RoutingEvent& e) {
  NoteTenant(e.tenant_id());
  const int64_t at_ms = TimeUtil::TimestampToMilliseconds(e.time());
  switch (e.body_case()) {
    case rv1::RoutingEvent::kInteractionQueued: {
      const auto& q = e.interaction_queued();
      auto it = q.attributes().find("customer_id");
      if (it == q.attributes().end()) it = q.attributes().find("customer");
      if (it != q.attributes().end()) {
        std::lock_guard<std::mutex> lock(mu_);
        customers_[Key(e.tenant_id(), q.interaction_id())] = it->second;
      }
      return absl::OkStatus();
    }
    case rv1::RoutingEvent::kInteractionConnected: {
      const auto& c = e.interaction_connected();
      if (!policy_.Records(c.queue_id())) return absl::OkStatus();
      StartSpec spec;
      spec.tenant_id = e.tenant_id();
      spec.interaction_id = c.interaction_id();
      spec.queue_id = c.queue_id();
      spec.agent_id = c.agent_id();
      spec.at_ms = at_ms;
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = customers_.find(Key(e.tenant_id(), c.interaction_id()));
        if (it != customers_.end()) spec.customer_id = it->second;
      }
      Outbox out;
      absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
        out = Outbox{};
        StartSpec leg = spec;  // the transaction may run again: start from the same spec
        absl::StatusOr<bool> first = tx.MarkProcessed(kRecordingConsumer, e.event_id(), at_ms);
        if (!first.ok()) return first.status();
        if (!*first) return absl::OkStatus();
        // A second connect of the same interaction (after a transfer) keeps the recording.
        absl::StatusOr<std::vector<storage::Recording>> existing =
            tx.ListRecordingsByInteraction(leg.tenant_id, leg.interaction_id);
        if (!existing.ok()) return existing.status();
        for (const storage::Recording& r : *existing) {
          if (Live(r.state)) return absl::OkStatus();
        }
        if (!existing->empty()) {
          // Stopped before (e.g. a requeue after wrap-up): a new recording for this leg.
          leg.recording_id = absl::StrCat(leg.interaction_id, "/rec-", existing->size() + 1);
        }
        absl::StatusOr<storage::Recording> r = StartIn(tx, leg, "system:routing", &out);
        return r.status();
      });
      if (!s.ok()) return s;
      Publish(out);
      return absl::OkStatus();
    }
    case rv1::RoutingEvent::kWrapUpStarted:
      return ForInteraction(e.event_id(), e.tenant_id(), e.wrap_up_started().interaction_id(),
                            Op::kStop, "wrap_up", "system:routing", at_ms);
    case rv1::RoutingEvent::kInteractionEnded: {
      {
        std::lock_guard<std::mutex> lock(mu_);
        customers_.erase(Key(e.tenant_id(), e.interaction_ended().interaction_id()));
      }
      return ForInteraction(e.event_id(), e.tenant_id(), e.interaction_ended().interaction_id(),
                            Op::kStop, "ended", "system:routing", at_ms);
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status RecordingIntake::OnPolicyDecision(const pv1::PolicyDecision& d) {
  if (d.dry_run() || d.interaction_id().empty()) return absl::OkStatus();
  NoteTenant(d.tenant_id());
  const int64_t at_ms = TimeUtil::TimestampToMilliseconds(d.time());
  std::string pause_reason;
  bool pause = false;
  for (const pv1::Obligation& o : d.obligations()) {
    if (o.has_pause_recording()) {
      pause = true;
      pause_reason = o.pause_recording().reason();
    }
  }
  const std::string event_id = absl::StrCat("decision:", d.decision_id());
  if (pause) {
    return ForInteraction(event_id, d.tenant_id(), d.interaction_id(), Op::kPause, pause_reason,
                          "system:policy", at_ms);
  }
  if (d.kind() == "recording" && d.outcome() == pv1::OUTCOME_ALLOW) {
    return ForInteraction(event_id, d.tenant_id(), d.interaction_id(), Op::kResume, "",
                          "system:policy", at_ms);
  }
  return absl::OkStatus();
}

}  // namespace sb::recording
