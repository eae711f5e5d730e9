#include "recording/service/publisher.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"

namespace sb::recording {

using google::protobuf::util::TimeUtil;

v1::RecordingState ToProto(storage::RecordingState s) {
  switch (s) {
    case storage::RecordingState::kRecording:
      return v1::RECORDING_STATE_RECORDING;
    case storage::RecordingState::kPaused:
      return v1::RECORDING_STATE_PAUSED;
    case storage::RecordingState::kStopped:
      return v1::RECORDING_STATE_STOPPED;
    case storage::RecordingState::kDeleted:
      return v1::RECORDING_STATE_DELETED;
    case storage::RecordingState::kErased:
      return v1::RECORDING_STATE_ERASED;
  }
  return v1::RECORDING_STATE_UNSPECIFIED;
}

v1::Recording ToProto(const storage::Recording& r) {
  v1::Recording out;
  out.set_recording_id(r.id);
  out.set_tenant_id(r.tenant_id);
  out.set_interaction_id(r.interaction_id);
  out.set_queue_id(r.queue_id);
  out.set_agent_id(r.agent_id);
  out.set_customer_id(r.customer_id);
  out.set_state(ToProto(r.state));
  *out.mutable_started_at() = TimeUtil::MillisecondsToTimestamp(r.started_at_ms);
  for (const storage::Gap& g : r.gaps) {
    v1::Gap* gap = out.add_gaps();
    gap->set_start_offset_ms(g.start_offset_ms);
    gap->set_end_offset_ms(g.end_offset_ms);
    gap->set_reason(g.reason);
  }
  if (r.media.has_value()) {
    out.set_media_bytes(r.media->bytes);
    out.set_media_sha256(r.media->sha256_hex);
  }
  out.set_legal_hold(r.legal_hold);
  return out;
}

v1::AuditEntry ToProto(const storage::AuditEntry& e) {
  v1::AuditEntry out;
  out.set_seq(e.seq);
  out.set_tenant_id(e.tenant_id);
  out.set_recording_id(e.recording_id);
  out.set_action(e.action);
  out.set_principal(e.principal);
  out.set_detail(e.detail);
  *out.mutable_at() = TimeUtil::MillisecondsToTimestamp(e.at_ms);
  out.set_hash(e.hash);
  return out;
}

Publisher::Publisher(Send send, Clock now_ms, RecordingMetrics* metrics, std::string replica)
    : send_(std::move(send)),
      now_ms_(std::move(now_ms)),
      metrics_(metrics),
      replica_(std::move(replica)) {}

void Publisher::Emit(v1::RecordingEvent event, const std::string& key) {
  event.set_event_id(absl::StrCat(replica_, "-", next_.fetch_add(1) + 1));
  *event.mutable_time() = TimeUtil::MillisecondsToTimestamp(now_ms_());
  if (send_) send_(key, event.SerializeAsString());
}

void Publisher::RecordingChanged(const storage::Recording& recording) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string k = absl::StrCat(recording.tenant_id, "\n", recording.id);
    if (recording.state == storage::RecordingState::kRecording ||
        recording.state == storage::RecordingState::kPaused) {
      active_.insert(k);
    } else {
      active_.erase(k);
    }
  }
  v1::RecordingEvent event;
  event.set_tenant_id(recording.tenant_id);
  *event.mutable_recording_changed() = ToProto(recording);
  Emit(std::move(event),
       recording.interaction_id.empty() ? recording.tenant_id : recording.interaction_id);
}

void Publisher::AuditAppended(const storage::AuditEntry& entry) {
  v1::RecordingEvent event;
  event.set_tenant_id(entry.tenant_id);
  event.mutable_audit_head()->set_seq(entry.seq);
  event.mutable_audit_head()->set_hash(entry.hash);
  Emit(std::move(event), entry.tenant_id);
}

void Publisher::ReviewChanged(const v1::Review& review) {
  if (review.state() != "OPEN" && review.has_created_at() && review.has_updated_at() &&
      metrics_ != nullptr && review.state() == "SUBMITTED") {
    const int64_t age_ms = TimeUtil::TimestampToMilliseconds(review.updated_at()) -
                           TimeUtil::TimestampToMilliseconds(review.created_at());
    if (age_ms >= 0) metrics_->ObserveReviewAge(review.kind(), age_ms / 1000.0);
  }
  v1::RecordingEvent event;
  event.set_tenant_id(review.tenant_id());
  *event.mutable_review_changed() = review;
  Emit(std::move(event),
       review.interaction_id().empty() ? review.tenant_id() : review.interaction_id());
}

int64_t Publisher::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(active_.size());
}

}  // namespace sb::recording
