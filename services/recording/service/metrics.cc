#include "recording/service/metrics.h"

#include "prometheus/text_serializer.h"

namespace sb::recording {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {
// Every review kind the store knows, so that the gauge shows zeros rather than gaps.
constexpr const char* kReviewKinds[] = {"DISCONNECT",        "ESCALATION",   "LOW_CSAT",   "SAMPLE",
                                        "MANUAL_SUPERVISOR", "MANUAL_AGENT", "CALIBRATION"};
}  // namespace

RecordingMetrics::RecordingMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      active_(BuildGauge()
                  .Name("switchboard_recording_recordings_active")
                  .Help("Recordings in progress (RECORDING or PAUSED), all tenants.")
                  .Register(*registry_)
                  .Add({})),
      stored_bytes_(BuildGauge()
                        .Name("switchboard_recording_media_stored_bytes")
                        .Help("Bytes of committed media files on the media volume.")
                        .Register(*registry_)
                        .Add({})),
      reviews_open_(BuildGauge()
                        .Name("switchboard_recording_reviews_open")
                        .Help("Open review tasks, all tenants, by kind.")
                        .Register(*registry_)),
      review_age_(BuildHistogram()
                      .Name("switchboard_recording_review_age_seconds")
                      .Help("Age of a review task when it left OPEN (was scored), by kind.")
                      .Register(*registry_)),
      consumer_lag_(BuildGauge()
                        .Name("switchboard_recording_consumer_lag_records")
                        .Help("Records of the topic not yet consumed (high watermark minus "
                              "position, summed over partitions).")
                        .Register(*registry_)),
      consumed_(BuildCounter()
                    .Name("switchboard_recording_events_consumed_total")
                    .Help("Records consumed, by topic and result (applied, duplicate, skipped, "
                          "failed).")
                    .Register(*registry_)),
      upload_errors_(BuildCounter()
                         .Name("switchboard_recording_upload_errors_total")
                         .Help("Media uploads refused, by stable reason (CHUNK_OUT_OF_ORDER, "
                               "CHECKSUM_MISMATCH, TOO_LARGE, ...).")
                         .Register(*registry_)),
      uploaded_bytes_(BuildCounter()
                          .Name("switchboard_recording_uploaded_bytes_total")
                          .Help("Bytes of media stored by completed uploads.")
                          .Register(*registry_)
                          .Add({})),
      uploads_(BuildCounter()
                   .Name("switchboard_recording_uploads_total")
                   .Help("Completed media uploads.")
                   .Register(*registry_)
                   .Add({})),
      actions_(BuildCounter()
                   .Name("switchboard_recording_actions_total")
                   .Help("Audited recording actions, by action (start, pause, resume, stop, "
                         "upload, play, export, hold, release, delete, erase).")
                   .Register(*registry_)),
      published_(BuildCounter()
                     .Name("switchboard_recording_events_published_total")
                     .Help("Records sent to sb.recording.events.v1, by result (ok, failed).")
                     .Register(*registry_)),
      retention_deleted_(BuildCounter()
                             .Name("switchboard_recording_retention_deleted_total")
                             .Help("Recordings whose media the retention job deleted.")
                             .Register(*registry_)
                             .Add({})) {
  for (const char* kind : kReviewKinds) reviews_open_.Add({{"kind", kind}}).Set(0);
  for (const char* topic : {"sb.routing.events.v1", "sb.policy.decisions.v1"}) {
    consumer_lag_.Add({{"topic", topic}}).Set(0);
  }
}

std::string RecordingMetrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

void RecordingMetrics::SetActive(int64_t n) { active_.Set(static_cast<double>(n)); }
void RecordingMetrics::SetStoredBytes(int64_t bytes) {
  stored_bytes_.Set(static_cast<double>(bytes));
}

void RecordingMetrics::SetOpenReviews(const std::map<std::string, int64_t>& by_kind) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const char* kind : kReviewKinds) {
    auto it = by_kind.find(kind);
    reviews_open_.Add({{"kind", kind}}).Set(it == by_kind.end() ? 0 : it->second);
  }
  for (const auto& [kind, n] : by_kind) reviews_open_.Add({{"kind", kind}}).Set(n);
}

void RecordingMetrics::ObserveReviewAge(const std::string& kind, double seconds) {
  // Minutes to weeks: reviews are worked by people.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400};
  review_age_.Add({{"kind", kind}}, kBuckets).Observe(seconds);
}

void RecordingMetrics::SetConsumerLag(const std::string& topic, int64_t records) {
  consumer_lag_.Add({{"topic", topic}}).Set(static_cast<double>(records));
}

void RecordingMetrics::EventConsumed(const std::string& topic, const std::string& result) {
  consumed_.Add({{"topic", topic}, {"result", result}}).Increment();
}

void RecordingMetrics::UploadFailed(const std::string& reason) {
  upload_errors_.Add({{"reason", reason}}).Increment();
}

void RecordingMetrics::Uploaded(int64_t bytes) {
  uploaded_bytes_.Increment(static_cast<double>(bytes));
  uploads_.Increment();
}

void RecordingMetrics::Action(const std::string& action) {
  actions_.Add({{"action", action}}).Increment();
}

void RecordingMetrics::Published(bool ok) {
  published_.Add({{"result", ok ? "ok" : "failed"}}).Increment();
}

void RecordingMetrics::RetentionDeleted(int64_t n) {
  retention_deleted_.Increment(static_cast<double>(n));
}

}  // namespace sb::recording
