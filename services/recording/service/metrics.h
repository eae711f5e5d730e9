// RecordingMetrics: the Prometheus metrics of sb-recording (the catalog is in docs/recording.md).
// Thread-safe: every method may be called from any thread (gRPC handlers, the ingest thread, the
// sampler). Labels are bounded: actions, reasons, topics and review kinds are fixed sets.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace sb::recording {

class RecordingMetrics {
 public:
  RecordingMetrics();
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }
  // The text exposition (tests).
  std::string Serialize() const;

  // switchboard_recording_recordings_active: recordings RECORDING or PAUSED (set by the sampler).
  void SetActive(int64_t n);
  // switchboard_recording_media_stored_bytes: bytes of committed media on the volume.
  void SetStoredBytes(int64_t bytes);
  // switchboard_recording_reviews_open{kind}: every kind is exported (0 when none is open).
  void SetOpenReviews(const std::map<std::string, int64_t>& by_kind);
  // switchboard_recording_review_age_seconds{kind}: how old a review was when it left OPEN.
  void ObserveReviewAge(const std::string& kind, double seconds);
  // switchboard_recording_consumer_lag_records{topic}.
  void SetConsumerLag(const std::string& topic, int64_t records);
  // switchboard_recording_events_consumed_total{topic,result}: applied | duplicate | skipped |
  // failed.
  void EventConsumed(const std::string& topic, const std::string& result);
  // switchboard_recording_upload_errors_total{reason}.
  void UploadFailed(const std::string& reason);
  // switchboard_recording_uploaded_bytes_total / _uploads_total.
  void Uploaded(int64_t bytes);
  // switchboard_recording_actions_total{action}: start, pause, resume, stop, play, export, ...
  void Action(const std::string& action);
  // switchboard_recording_events_published_total{result}: ok | failed.
  void Published(bool ok);
  // switchboard_recording_retention_deleted_total.
  void RetentionDeleted(int64_t n);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Gauge& active_;
  prometheus::Gauge& stored_bytes_;
  prometheus::Family<prometheus::Gauge>& reviews_open_;
  prometheus::Family<prometheus::Histogram>& review_age_;
  prometheus::Family<prometheus::Gauge>& consumer_lag_;
  prometheus::Family<prometheus::Counter>& consumed_;
  prometheus::Family<prometheus::Counter>& upload_errors_;
  prometheus::Counter& uploaded_bytes_;
  prometheus::Counter& uploads_;
  prometheus::Family<prometheus::Counter>& actions_;
  prometheus::Family<prometheus::Counter>& published_;
  prometheus::Counter& retention_deleted_;
  std::mutex mu_;  // serializes SetOpenReviews
};

}  // namespace sb::recording
