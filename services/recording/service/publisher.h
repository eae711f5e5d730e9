// Publisher: what sb-recording tells the world on sb.recording.events.v1 -- recordings that
// changed, reviews that changed (it is the ReviewEventSink of the review intake and services),
// and the audit chain's head after every append (an external anchor: a consumer that keeps the
// heads can tell a rewritten chain from the real one). Also the proto <-> storage mapping of a
// recording, shared by the gRPC handlers.
//
// Events are sent after the store has committed (the store is the truth; an event lost to a
// broker outage is counted in switchboard_recording_events_published_total{result="failed"}
// and logged, never retried from here). Thread-safe: called from gRPC handlers and the ingest
// thread; `send` must be thread-safe too (kafka_io::Producer::ProduceAsync is).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "recording/service/metrics.h"
#include "recording/service/review_intake.h"
#include "recording/storage/store.h"
#include "switchboard/recording/v1/recording.pb.h"

namespace sb::recording {

namespace v1 = ::switchboard::recording::v1;

inline constexpr char kRecordingEventsTopic[] = "sb.recording.events.v1";

// The wire form of a stored recording.
v1::Recording ToProto(const storage::Recording& r);
v1::RecordingState ToProto(storage::RecordingState s);
v1::AuditEntry ToProto(const storage::AuditEntry& e);

// RecordingEvents
//
// What the recording intake and RecordingService report after a committed change. An interface
// so unit tests can collect the events.
class RecordingEvents {
 public:
  virtual ~RecordingEvents() = default;
  virtual void RecordingChanged(const storage::Recording& recording) = 0;
  // The entry just appended (its seq and hash are the new head).
  virtual void AuditAppended(const storage::AuditEntry& entry) = 0;
};

// Publisher
//
// Builds RecordingEvents and hands them, serialized, to `send(key, value)`. Event ids are
// "<replica>-<n>" (unique per process start; consumers dedupe by it).
class Publisher final : public RecordingEvents, public ReviewEventSink {
 public:
  using Send = std::function<void(const std::string& key, const std::string& value)>;
  using Clock = std::function<int64_t()>;  // unix milliseconds

  Publisher(Send send, Clock now_ms, RecordingMetrics* metrics, std::string replica);

  void RecordingChanged(const storage::Recording& recording) override;
  void AuditAppended(const storage::AuditEntry& entry) override;
  void ReviewChanged(const v1::Review& review) override;

  // Recordings in RECORDING or PAUSED state this process has seen change (for the gauge).
  int64_t active() const;

 private:
  void Emit(v1::RecordingEvent event, const std::string& key);

  const Send send_;
  const Clock now_ms_;
  RecordingMetrics* const metrics_;
  const std::string replica_;
  std::atomic<int64_t> next_{0};
  mutable std::mutex mu_;
  std::set<std::string> active_ ABSL_GUARDED_BY(mu_);  // "<tenant>\n<recording id>"
};

}  // namespace sb::recording
