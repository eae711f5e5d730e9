#include "insights/service/ingest.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "spdlog/spdlog.h"

namespace sb::insights::service {

absl::StatusOr<std::unique_ptr<Ingest>> Ingest::Start(const kafka_io::KafkaConfig& kafka,
                                                      LiveInsights* live, InsightsMetrics* metrics,
                                                      IngestOptions options) {
  kafka_io::ConsumerOptions co;
  co.kafka = kafka;
  // A broker with nothing new answers a fetch after this long (as sb-recording).
  co.kafka.overrides.insert(co.kafka.overrides.begin(), {"fetch.wait.max.ms", "50"});
  absl::StatusOr<std::unique_ptr<kafka_io::Consumer>> consumer = kafka_io::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  // The partition count comes from the metadata, which the producer client answers.
  kafka_io::ProducerOptions po;
  po.kafka = kafka;
  absl::StatusOr<std::unique_ptr<kafka_io::Producer>> meta = kafka_io::Producer::Create(po);
  if (!meta.ok()) return meta.status();

  std::unique_ptr<Ingest> ingest(new Ingest());
  ingest->live_ = live;
  ingest->metrics_ = metrics;
  ingest->options_ = options;
  absl::StatusOr<int32_t> n =
      (*meta)->PartitionCount(kRoutingEventsTopic, std::chrono::seconds(10));
  if (!n.ok()) return n.status();
  std::vector<kafka_io::TopicPartitionOffset> parts;
  for (int32_t p = 0; p < *n; ++p) {
    auto marks = (*consumer)->QueryWatermarks(kRoutingEventsTopic, p, std::chrono::seconds(10));
    if (!marks.ok()) return marks.status();
    ingest->start_marks_[p] = marks->second;
    ingest->position_[p] = marks->first;
    parts.push_back({kRoutingEventsTopic, p, RD_KAFKA_OFFSET_BEGINNING});
  }
  if (absl::Status s = (*consumer)->Assign(parts); !s.ok()) return s;
  ingest->consumer_ = *std::move(consumer);
  ingest->thread_ = std::thread([i = ingest.get()] { i->Loop(); });
  return ingest;
}

Ingest::~Ingest() { Stop(); }

void Ingest::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Ingest::MeasureLag() {
  int64_t lag = 0;
  for (const auto& [p, pos] : position_) {
    auto marks = consumer_->QueryWatermarks(kRoutingEventsTopic, p, std::chrono::seconds(2));
    if (!marks.ok()) return;  // the broker is away: keep the last value
    lag += std::max<int64_t>(0, marks->second - std::max(pos, marks->first));
  }
  if (metrics_) metrics_->SetConsumerLag(lag);
}

void Ingest::Loop() {
  auto next_lag = std::chrono::steady_clock::now();
  auto next_flush = std::chrono::steady_clock::now() + options_.flush_interval;
  bool store_failing = false;
  while (!stop_.load()) {
    absl::StatusOr<std::vector<kafka_io::Record>> records =
        consumer_->Poll(std::chrono::milliseconds(100), 500);
    if (!records.ok()) {
      spdlog::error("ingest: {}", records.status().ToString());
      failed_.store(true);
      return;
    }
    for (const kafka_io::Record& r : *records) {
      ::switchboard::routing::v1::RoutingEvent event;
      if (!event.ParseFromString(r.value)) {
        if (metrics_) metrics_->EventInvalid();
        // Rate-limited: the first ten, then every thousandth.
        if (invalid_logged_ < 10 || invalid_logged_ % 1000 == 0) {
          spdlog::warn("{} {}/{}: not a RoutingEvent; skipped", kRoutingEventsTopic, r.partition,
                       r.offset);
        }
        ++invalid_logged_;
      } else {
        live_->Apply(event);
      }
      position_[r.partition] = r.offset + 1;
    }
    if (!records->empty()) live_->NotifyChanged();
    if (!caught_up_.load()) {
      bool all = true;
      for (const auto& [p, mark] : start_marks_) {
        if (position_[p] < mark) all = false;
      }
      if (all) {
        caught_up_.store(true);
        spdlog::info("ingest caught up with {} ({} events applied)", kRoutingEventsTopic,
                     live_->events_applied());
      }
    }
    const auto now = std::chrono::steady_clock::now();
    // After a batch, or every flush_interval; while the store fails, only every flush_interval.
    if ((!records->empty() && !store_failing) || now >= next_flush) {
      // Errors are counted and logged by Flush; the records stay for the next attempt.
      store_failing = !live_->Flush(/*advance_clock=*/caught_up_.load()).ok();
      next_flush = std::chrono::steady_clock::now() + options_.flush_interval;
    }
    if (now >= next_lag) {
      MeasureLag();
      next_lag = std::chrono::steady_clock::now() + options_.lag_interval;
    }
  }
}

}  // namespace sb::insights::service
