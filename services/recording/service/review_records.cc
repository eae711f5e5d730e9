#include "recording/service/review_records.h"

#include <chrono>
#include <utility>

#include "recording/core/qa_common.h"

namespace sb::recording {

namespace v1 = ::switchboard::recording::v1;

storage::ReviewKind StorageKindOf(qa::ReviewKind kind, bool flagged_by_agent) {
  switch (kind) {
    case qa::ReviewKind::kDisconnect:
      return storage::ReviewKind::kDisconnect;
    case qa::ReviewKind::kEscalation:
      return storage::ReviewKind::kEscalation;
    case qa::ReviewKind::kLowCsat:
      return storage::ReviewKind::kLowCsat;
    case qa::ReviewKind::kSample:
      return storage::ReviewKind::kSample;
    case qa::ReviewKind::kManual:
      return flagged_by_agent ? storage::ReviewKind::kManualAgent
                              : storage::ReviewKind::kManualSupervisor;
    case qa::ReviewKind::kPolicy:
      return storage::ReviewKind::kManualSupervisor;
  }
  return storage::ReviewKind::kManualSupervisor;
}

qa::ReviewKind QaKindOf(storage::ReviewKind kind) {
  switch (kind) {
    case storage::ReviewKind::kDisconnect:
      return qa::ReviewKind::kDisconnect;
    case storage::ReviewKind::kEscalation:
      return qa::ReviewKind::kEscalation;
    case storage::ReviewKind::kLowCsat:
      return qa::ReviewKind::kLowCsat;
    case storage::ReviewKind::kSample:
      return qa::ReviewKind::kSample;
    case storage::ReviewKind::kManualSupervisor:
    case storage::ReviewKind::kManualAgent:
    case storage::ReviewKind::kCalibration:
      return qa::ReviewKind::kManual;
  }
  return qa::ReviewKind::kManual;
}

storage::ReviewStatus StorageStatusOf(qa::ReviewState state) {
  switch (state) {
    case qa::ReviewState::kOpen:
      return storage::ReviewStatus::kOpen;
    case qa::ReviewState::kSubmitted:
      return storage::ReviewStatus::kSubmitted;
    case qa::ReviewState::kAcknowledged:
      return storage::ReviewStatus::kAcknowledged;
    case qa::ReviewState::kDisputed:
      return storage::ReviewStatus::kDisputed;
    case qa::ReviewState::kResolved:
      return storage::ReviewStatus::kResolved;
  }
  return storage::ReviewStatus::kOpen;
}

qa::ReviewState QaStateOf(storage::ReviewStatus status) {
  switch (status) {
    case storage::ReviewStatus::kOpen:
      return qa::ReviewState::kOpen;
    case storage::ReviewStatus::kSubmitted:
      return qa::ReviewState::kSubmitted;
    case storage::ReviewStatus::kAcknowledged:
      return qa::ReviewState::kAcknowledged;
    case storage::ReviewStatus::kDisputed:
      return qa::ReviewState::kDisputed;
    case storage::ReviewStatus::kResolved:
      return qa::ReviewState::kResolved;
  }
  return qa::ReviewState::kOpen;
}

storage::ReviewDetails ReviewRecord::DetailsOrNew() const {
  if (details) return *details;
  storage::ReviewDetails d;
  d.tenant_id = row.tenant_id;
  d.review_id = row.id;
  d.agent_id = row.agent_id;
  d.qa_kind = qa::ReviewKindName(QaKindOf(row.kind));
  return d;
}

qa::Review ReviewRecord::ToQa() const {
  qa::Review r;
  r.review_id = row.id;
  r.tenant = row.tenant_id;
  r.interaction_id = row.interaction_id;
  r.agent_id = row.agent_id;
  r.team = row.team_id;
  r.kind = QaKindOf(row.kind);
  r.mandatory = row.mandatory;
  r.created_at_ms = row.created_at_ms;
  r.state = QaStateOf(row.status);
  if (details) {
    if (auto k = qa::ParseReviewKind(details->qa_kind)) r.kind = *k;
    r.queue = details->queue_id;
    r.reason = details->reason;
    r.reviewer = details->reviewer;
    r.submitted_at_ms = details->submitted_at_ms;
    r.score = details->score;
    r.critical_failed = details->critical_failed;
    r.responded_at_ms = details->responded_at_ms;
    r.resolution_note = details->resolution_note;
    r.score_before_amendment = details->score_before_amendment;
  }
  if (dispute) {
    r.dispute_reason = dispute->reason;
    if (dispute->resolved) {
      r.resolved_by = dispute->resolved_by;
      r.resolved_at_ms = dispute->resolved_at_ms;
      r.resolution = qa::ParseResolution(dispute->resolution).value_or(qa::Resolution::kNone);
    }
  }
  return r;
}

absl::StatusOr<ReviewRecord> LoadReviewRecord(storage::RecordingStore& store,
                                              std::string_view tenant, std::string_view review_id) {
  auto row = store.GetReview(tenant, review_id);
  if (!row.ok()) return row.status();
  ReviewRecord rec;
  rec.row = *std::move(row);
  auto details = store.GetReviewDetails(tenant, review_id);
  if (details.ok()) {
    rec.details = *std::move(details);
  } else if (details.status().code() != absl::StatusCode::kNotFound) {
    return details.status();
  }
  if (rec.row.status == storage::ReviewStatus::kDisputed ||
      rec.row.status == storage::ReviewStatus::kResolved) {
    auto dispute = store.GetDispute(tenant, review_id);
    if (dispute.ok()) {
      rec.dispute = *std::move(dispute);
    } else if (dispute.status().code() != absl::StatusCode::kNotFound) {
      return dispute.status();
    }
  }
  return rec;
}

v1::Review ToProto(const storage::Review& row, const storage::ReviewDetails* details) {
  v1::Review out;
  out.set_review_id(row.id);
  out.set_tenant_id(row.tenant_id);
  out.set_interaction_id(row.interaction_id);
  out.set_agent_id(row.agent_id);
  out.set_team_id(row.team_id);
  out.set_kind(details != nullptr && !details->qa_kind.empty()
                   ? details->qa_kind
                   : std::string(qa::ReviewKindName(QaKindOf(row.kind))));
  out.set_mandatory(row.mandatory);
  out.set_state(std::string(storage::ReviewStatusName(row.status)));
  *out.mutable_created_at() = ToTimestamp(row.created_at_ms);
  *out.mutable_updated_at() = ToTimestamp(row.updated_at_ms);
  if (details != nullptr) {
    out.set_reason(details->reason);
    out.set_score(details->score);
    out.set_critical_failed(details->critical_failed);
  }
  return out;
}

std::string ReviewIdFor(const std::string& tenant, const std::string& dedupe_key) {
  return "rv-" + qa::Hex16(qa::MixHash(0x5eed, {tenant, dedupe_key}));
}

absl::StatusOr<storage::Created<storage::Review>> CreateReviewFromSpec(
    storage::RecordingStore& tx, const qa::ReviewTaskSpec& spec, bool flagged_by_agent) {
  storage::Review row;
  row.id = ReviewIdFor(spec.tenant, spec.dedupe_key);
  row.tenant_id = spec.tenant;
  row.interaction_id = spec.interaction_id;
  row.agent_id = spec.agent_id;
  row.team_id = spec.team;
  row.kind = StorageKindOf(spec.kind, flagged_by_agent);
  row.mandatory = spec.mandatory;
  row.status = storage::ReviewStatus::kOpen;
  row.source_key = spec.dedupe_key;
  row.created_at_ms = spec.created_at_ms;
  auto created = tx.CreateReview(row);
  if (!created.ok() || !created->created) return created;
  storage::ReviewDetails d;
  d.tenant_id = spec.tenant;
  d.review_id = row.id;
  d.agent_id = spec.agent_id;
  d.qa_kind = qa::ReviewKindName(spec.kind);
  d.queue_id = spec.queue;
  d.reason = spec.reason;
  d.requested_by = spec.requested_by;
  d.source_event_id = spec.source_event_id;
  if (absl::Status s = tx.PutReviewDetails(d); !s.ok()) return s;
  return created;
}

google::protobuf::Timestamp ToTimestamp(int64_t unix_ms) {
  google::protobuf::Timestamp ts;
  int64_t seconds = unix_ms / 1000;
  int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    ms += 1000;
    seconds -= 1;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(ms * 1'000'000));
  return ts;
}

int64_t ToUnixMs(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1'000'000;
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sb::recording
