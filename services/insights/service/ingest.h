// Ingest: sb-insights' Kafka consumer. One thread reads every partition of sb.routing.events.v1
// (assigned, no consumer group: every replica applies every event) and applies each RoutingEvent
// to LiveInsights; after every batch, and at least every `flush_interval` when idle, it flushes
// the closed intervals to the interval store.
//
// Position: every start reads from the beginning of what the broker retains (the embedded broker
// keeps little, a cluster's retention bounds the replay) and keeps no offsets: the statistics are
// rebuilt in memory by the replay, the event-id dedupe of the core drops repeats, and the interval
// store keeps the history beyond the broker's retention (a replayed interval seen from its start
// rewrites the same row; one whose start is gone keeps the stored row; LiveInsights). Ready
// (caught_up) once every partition reached the high watermark seen at start; only then does the
// wall clock close intervals (quiet periods).
//
// A record that is not a RoutingEvent is logged (rate-limited), counted and skipped. Lag is
// measured every `lag_interval` against the watermarks.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "common/kafka/config.h"
#include "insights/service/live_insights.h"
#include "insights/service/metrics.h"

namespace sb::kafka_io {
class Consumer;
}

namespace sb::insights::service {

inline constexpr char kRoutingEventsTopic[] = "sb.routing.events.v1";

struct IngestOptions {
  std::chrono::milliseconds lag_interval{2000};
  std::chrono::milliseconds flush_interval{1000};
};

// Ingest
//
// Owns the consumer and its thread (started by Start, joined by Stop or the destructor).
// caught_up() and failed() may be read from any thread.
class Ingest {
 public:
  static absl::StatusOr<std::unique_ptr<Ingest>> Start(const kafka_io::KafkaConfig& kafka,
                                                       LiveInsights* live, InsightsMetrics* metrics,
                                                       IngestOptions options = {});
  ~Ingest();
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  bool caught_up() const { return caught_up_.load(); }
  bool failed() const { return failed_.load(); }
  // Stops the thread (idempotent).
  void Stop();

 private:
  Ingest() = default;
  void Loop();
  void MeasureLag();

  LiveInsights* live_ = nullptr;
  InsightsMetrics* metrics_ = nullptr;
  IngestOptions options_;
  std::unique_ptr<kafka_io::Consumer> consumer_;
  std::map<int32_t, int64_t> start_marks_;  // partition -> high watermark at start
  std::map<int32_t, int64_t> position_;     // partition -> next offset to read
  std::atomic<bool> stop_{false};
  std::atomic<bool> caught_up_{false};
  std::atomic<bool> failed_{false};
  int64_t invalid_logged_ = 0;
  std::thread thread_;
};

}  // namespace sb::insights::service
