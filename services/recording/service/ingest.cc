#include "recording/service/ingest.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "spdlog/spdlog.h"

namespace sb::recording {
namespace {

namespace rv1 = ::switchboard::routing::v1;
namespace pv1 = ::switchboard::policy::v1;

bool Retryable(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Ingest>> Ingest::Start(const kafka_io::KafkaConfig& kafka,
                                                      IngestHandlers handlers,
                                                      RecordingMetrics* metrics,
                                                      IngestOptions options) {
  kafka_io::ConsumerOptions co;
  co.kafka = kafka;
  // A broker with nothing new answers a fetch after this long (as sb-agent-state).
  co.kafka.overrides.insert(co.kafka.overrides.begin(), {"fetch.wait.max.ms", "50"});
  absl::StatusOr<std::unique_ptr<kafka_io::Consumer>> consumer = kafka_io::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  kafka_io::ProducerOptions po;
  po.kafka = kafka;
  absl::StatusOr<std::unique_ptr<kafka_io::Producer>> meta = kafka_io::Producer::Create(po);
  if (!meta.ok()) return meta.status();

  std::unique_ptr<Ingest> ingest(new Ingest());
  ingest->handlers_ = std::move(handlers);
  ingest->metrics_ = metrics;
  ingest->options_ = options;
  std::vector<kafka_io::TopicPartitionOffset> parts;
  for (const char* topic : {kRoutingEventsTopic, kPolicyDecisionsTopic}) {
    absl::StatusOr<int32_t> n = (*meta)->PartitionCount(topic, std::chrono::seconds(10));
    if (!n.ok()) return n.status();
    for (int32_t p = 0; p < *n; ++p) {
      auto marks = (*consumer)->QueryWatermarks(topic, p, std::chrono::seconds(10));
      if (!marks.ok()) return marks.status();
      ingest->start_marks_[{topic, p}] = marks->second;
      ingest->position_[{topic, p}] = marks->first;
      parts.push_back({topic, p, RD_KAFKA_OFFSET_BEGINNING});
    }
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

bool Ingest::SleepUnlessStopped(std::chrono::milliseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (!stop_.load() && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return !stop_.load();
}

void Ingest::Handle(const std::string& topic, const std::string& value, int32_t partition,
                    int64_t offset) {
  std::function<absl::Status()> apply;
  rv1::RoutingEvent event;
  pv1::PolicyDecision decision;
  std::string event_id;
  if (topic == kRoutingEventsTopic) {
    if (!event.ParseFromString(value)) {
      spdlog::warn("{} {}/{}: not a RoutingEvent; skipped", topic, partition, offset);
      if (metrics_) metrics_->EventConsumed(topic, "skipped");
      return;
    }
    apply = [&]() -> absl::Status {
      for (auto& h : handlers_.routing) {
        if (absl::Status s = h(event); !s.ok()) return s;
      }
      return absl::OkStatus();
    };
  } else {
    if (!decision.ParseFromString(value) || decision.decision_id().empty()) {
      spdlog::warn("{} {}/{}: not a PolicyDecision; skipped", topic, partition, offset);
      if (metrics_) metrics_->EventConsumed(topic, "skipped");
      return;
    }
    event_id = absl::StrCat("decision:", decision.decision_id());
    apply = [&]() -> absl::Status {
      for (auto& h : handlers_.decisions) {
        if (absl::Status s = h(decision, event_id); !s.ok()) return s;
      }
      return absl::OkStatus();
    };
  }
  std::chrono::milliseconds backoff(50);
  while (true) {
    absl::Status s = apply();
    if (s.ok()) {
      if (metrics_) metrics_->EventConsumed(topic, "applied");
      return;
    }
    if (!Retryable(s)) {
      spdlog::error("{} {}/{}: skipped: {}", topic, partition, offset, s.ToString());
      if (metrics_) metrics_->EventConsumed(topic, "failed");
      return;
    }
    spdlog::warn("{} {}/{}: will retry in {} ms: {}", topic, partition, offset, backoff.count(),
                 s.ToString());
    if (!SleepUnlessStopped(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void Ingest::MeasureLag() {
  std::map<std::string, int64_t> lag;
  for (const auto& [tp, pos] : position_) {
    auto marks = consumer_->QueryWatermarks(tp.first, tp.second, std::chrono::seconds(2));
    if (!marks.ok()) return;  // the broker is away: keep the last value
    lag[tp.first] += std::max<int64_t>(0, marks->second - std::max(pos, marks->first));
  }
  if (metrics_) {
    for (const auto& [topic, n] : lag) metrics_->SetConsumerLag(topic, n);
  }
}

void Ingest::Loop() {
  auto next_lag = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    absl::StatusOr<std::vector<kafka_io::Record>> records =
        consumer_->Poll(std::chrono::milliseconds(100), 500);
    if (!records.ok()) {
      spdlog::error("ingest: {}", records.status().ToString());
      failed_.store(true);
      return;
    }
    for (const kafka_io::Record& r : *records) {
      if (stop_.load()) return;
      Handle(r.topic, r.value, r.partition, r.offset);
      position_[{r.topic, r.partition}] = r.offset + 1;
    }
    if (!caught_up_.load()) {
      bool all = true;
      for (const auto& [tp, mark] : start_marks_) {
        if (position_[tp] < mark) all = false;
      }
      if (all) {
        caught_up_.store(true);
        spdlog::info("ingest caught up with {} and {}", kRoutingEventsTopic, kPolicyDecisionsTopic);
      }
    }
    if (std::chrono::steady_clock::now() >= next_lag) {
      MeasureLag();
      next_lag = std::chrono::steady_clock::now() + options_.lag_interval;
    }
  }
}

}  // namespace sb::recording
