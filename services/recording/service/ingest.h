// Ingest: sb-recording's Kafka consumer. One thread reads every partition of
// sb.routing.events.v1 and sb.policy.decisions.v1 (assigned, no consumer group: every replica
// sees every event) and hands each record to the handlers (the recording intake and the review
// intake), which apply it exactly once through the store's dedupe (MarkProcessed by event id, in
// the same transaction as the effect).
//
// Position: every start reads from the beginning of what the broker retains and relies on the
// dedupe; the store keeps no per-partition offsets. That costs a replay at start (bounded by
// retention) and buys simplicity plus a rebuilt in-memory index (customer ids of queued
// interactions). Ready (caught_up) once every partition reached the high watermark seen at
// start.
//
// A handler error that may pass (UNAVAILABLE, ABORTED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED:
// the database) is retried with backoff until it passes or the ingest stops -- the record is
// not skipped. Other errors are logged, counted and skipped (a malformed or impossible event
// must not stop the stream). Lag is measured every `lag_interval` against the watermarks.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kafka/config.h"
#include "recording/service/metrics.h"
#include "switchboard/policy/v1/policy.pb.h"
#include "switchboard/routing/v1/events.pb.h"

namespace sb::kafka_io {
class Consumer;
}

namespace sb::recording {

inline constexpr char kRoutingEventsTopic[] = "sb.routing.events.v1";
inline constexpr char kPolicyDecisionsTopic[] = "sb.policy.decisions.v1";

struct IngestHandlers {
  std::vector<std::function<absl::Status(const ::switchboard::routing::v1::RoutingEvent&)>> routing;
  // (decision, the record's event id: "decision:<decision_id>")
  std::vector<std::function<absl::Status(const ::switchboard::policy::v1::PolicyDecision&,
                                         const std::string& event_id)>>
      decisions;
};

struct IngestOptions {
  std::chrono::milliseconds lag_interval{2000};
  std::chrono::milliseconds max_backoff{5000};
};

// Ingest
//
// Owns the consumer and its thread (started by Start, joined by the destructor). caught_up()
// and failed() may be read from any thread.
class Ingest {
 public:
  static absl::StatusOr<std::unique_ptr<Ingest>> Start(const kafka_io::KafkaConfig& kafka,
                                                       IngestHandlers handlers,
                                                       RecordingMetrics* metrics,
                                                       IngestOptions options = {});
  ~Ingest();
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  bool caught_up() const { return caught_up_.load(); }
  bool failed() const { return failed_.load(); }
  // Stops the thread (idempotent); the destructor calls it.
  void Stop();

 private:
  Ingest() = default;
  void Loop();
  void Handle(const std::string& topic, const std::string& value, int32_t partition,
              int64_t offset);
  void MeasureLag();
  bool SleepUnlessStopped(std::chrono::milliseconds d);

  IngestHandlers handlers_;
  RecordingMetrics* metrics_ = nullptr;
  IngestOptions options_;
  std::unique_ptr<kafka_io::Consumer> consumer_;
  // (topic, partition) -> high watermark at start / next offset to read.
  std::map<std::pair<std::string, int32_t>, int64_t> start_marks_;
  std::map<std::pair<std::string, int32_t>, int64_t> position_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> failed_{false};
  std::thread thread_;
};

}  // namespace sb::recording
