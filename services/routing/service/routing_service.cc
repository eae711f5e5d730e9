#include "routing/service/routing_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "spdlog/spdlog.h"

namespace sb::routing {

absl::StatusOr<std::unique_ptr<RoutingService>> RoutingService::Create(
    const ServiceOptions& options, RoutingMetrics* metrics) {
  std::unique_ptr<RoutingService> s(new RoutingService(options, metrics));
  kafka_io::ProducerOptions po;
  po.kafka = options.kafka;
  // Commands and events are sent in batches of up to 10 ms (librdkafka's default is 5): half as
  // many requests for the broker. On the embedded broker, which answers a fetch with one batch
  // per partition and walks its retained batches on every fetch, this took two replicas at
  // 2,000 interactions/s from p99 40-72 ms to 36-39 ms, at +3-5 ms p50 (docs/performance.md).
  // A --kafka linger.ms=... still wins.
  po.kafka.overrides.insert(po.kafka.overrides.begin(), {"linger.ms", "10"});
  // Events may wait for a broker outage; a failure makes the partition recover from its snapshot.
  po.message_timeout = std::chrono::seconds(30);
  auto producer = kafka_io::Producer::Create(po);
  if (!producer.ok()) return producer.status();
  s->producer_ = *std::move(producer);
  // Snapshots (about 1 MB at 2,000 agents per partition) get a producer, and so a connection, of
  // their own: on the events' one, each snapshot held back the events produced after it for tens
  // of ms (measured: event->consumer p99 41 ms against p90 11 ms).
  auto snapshot_producer = kafka_io::Producer::Create(po);
  if (!snapshot_producer.ok()) return snapshot_producer.status();
  s->snapshot_producer_ = *std::move(snapshot_producer);
  // Learn the topics' leaders now: the first record to a topic the producer has not seen waits
  // for a metadata round (measured ~0.8 s on the embedded broker), which would stall the first
  // snapshot of every partition.
  for (std::string_view topic : {kEventsTopic, kCommandsTopic}) {
    if (auto n = s->producer_->PartitionCount(topic, std::chrono::seconds(10)); !n.ok()) {
      return n.status();
    }
  }
  if (auto n = s->snapshot_producer_->PartitionCount(kSnapshotsTopic, std::chrono::seconds(10));
      !n.ok()) {
    return n.status();
  }

  RoutingClientOptions co;
  co.kafka = options.kafka;
  co.send_timeout = options.send_timeout;
  auto client = RoutingClient::Create(co);
  if (!client.ok()) return client.status();
  s->client_ = *std::move(client);

  s->tail_ = std::make_unique<EventTail>(EventTail::Options{});
  return s;
}

RoutingService::~RoutingService() { Shutdown(); }

absl::Status RoutingService::Start(std::function<void(bool)> on_ready_change) {
  on_ready_change_ = std::move(on_ready_change);
  kafka_io::ConsumerOptions co;
  co.kafka = options_.kafka;
  co.kafka.overrides.insert(
      co.kafka.overrides.begin(),
      {{"session.timeout.ms", std::to_string(options_.session_timeout.count())},
       {"heartbeat.interval.ms",
        std::to_string(std::max<int64_t>(100, options_.session_timeout.count() / 6))},
       // Commands must reach their partition's worker without batching delay.
       {"fetch.wait.max.ms", "5"},
       {"fetch.error.backoff.ms", "10"}});
  co.group_id = options_.group_id;
  co.listener = this;
  auto consumer = kafka_io::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  consumer_ = *std::move(consumer);
  if (absl::Status s = consumer_->Subscribe({std::string(kCommandsTopic)}); !s.ok()) return s;
  thread_ = std::thread([this] {
    NameThisThread("sb-commands");
    Loop();
  });
  return absl::OkStatus();
}

void RoutingService::Shutdown() {
  std::call_once(shutdown_once_, [this] {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    // Stop whatever the consumer did not revoke (e.g. it could not reach the coordinator).
    std::map<int32_t, std::shared_ptr<PartitionWorker>> left;
    {
      std::lock_guard<std::mutex> lock(mu_);
      left.swap(workers_);
    }
    for (auto& [p, w] : left) w->Stop();
    tail_.reset();
    if (producer_) (void)producer_->Flush(std::chrono::seconds(5));
    if (snapshot_producer_) (void)snapshot_producer_->Flush(std::chrono::seconds(5));
  });
}

void RoutingService::Loop() {
  auto last_commit = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    auto records = consumer_->Poll(std::chrono::milliseconds(50), 5000);
    if (!records.ok()) {
      spdlog::error("routing consumer stopped: {}", records.status().ToString());
      break;
    }
    if (!records->empty()) {
      std::map<int32_t, std::vector<kafka_io::Record>> by_partition;
      for (auto& r : *records) by_partition[r.partition].push_back(std::move(r));
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [p, rs] : by_partition) {
        auto it = workers_.find(p);
        if (it != workers_.end()) it->second->Push(std::move(rs));
      }
    }
    if (std::chrono::steady_clock::now() - last_commit >= std::chrono::seconds(1)) {
      CommitOffsets(false);
      last_commit = std::chrono::steady_clock::now();
    }
  }
  // Leaving the group revokes (OnRevoked: final snapshots, commit).
  if (absl::Status s = consumer_->Close(); !s.ok()) {
    spdlog::warn("routing consumer close: {}", s.ToString());
  }
}

void RoutingService::CommitOffsets(bool force) {
  std::vector<kafka_io::TopicPartitionOffset> offsets;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [p, w] : workers_) {
      const int64_t o = w->committable_offset();
      if (o < 0) continue;
      auto it = committed_.find(p);
      if (!force && it != committed_.end() && it->second == o) continue;
      offsets.push_back({std::string(kCommandsTopic), p, o});
    }
  }
  if (offsets.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  absl::Status committed = consumer_->Commit(offsets);
  const auto took = std::chrono::steady_clock::now() - t0;
  if (took > std::chrono::milliseconds(20)) {
    spdlog::warn("routing: committing offsets took {} ms (the group coordinator is slow)",
                 std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
  }
  if (absl::Status s = committed; !s.ok()) {
    spdlog::warn("routing commit: {}", s.ToString());
    return;
  }
  for (const auto& o : offsets) committed_[o.partition] = o.offset;
}

void RoutingService::OnAssigned(const std::vector<kafka_io::TopicPartition>& partitions) {
  std::vector<std::shared_ptr<PartitionWorker>> started;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& tp : partitions) {
      if (workers_.count(tp.partition) > 0) continue;
      WorkerOptions wo;
      wo.kafka = options_.kafka;
      wo.producer = producer_.get();
      wo.snapshot_producer = snapshot_producer_.get();
      wo.metrics = metrics_;
      wo.replica_id = options_.replica_id;
      wo.snapshot_interval = options_.snapshot_interval;
      wo.snapshot_every = options_.snapshot_every;
      wo.max_chunk_bytes = options_.max_chunk_bytes;
      wo.engine = options_.engine;
      wo.tail = tail_.get();
      wo.on_ready_change = [this] { ReadinessChanged(); };
      auto w = std::make_shared<PartitionWorker>(tp.partition, std::move(wo));
      workers_[tp.partition] = w;
      started.push_back(w);
    }
    assigned_ = true;
    if (metrics_ != nullptr) metrics_->SetPartitionsOwned(static_cast<int>(workers_.size()));
  }
  std::string list;
  for (const auto& tp : partitions) absl::StrAppend(&list, list.empty() ? "" : ",", tp.partition);
  spdlog::info("assigned partitions [{}]", list);
  for (auto& w : started) w->Start();
  ReadinessChanged();
}

void RoutingService::OnRevoked(const std::vector<kafka_io::TopicPartition>& partitions) {
  std::vector<std::shared_ptr<PartitionWorker>> stopping;
  {
    std::lock_guard<std::mutex> lock(mu_);
    assigned_ = false;
    for (const auto& tp : partitions) {
      auto it = workers_.find(tp.partition);
      if (it == workers_.end()) continue;
      stopping.push_back(it->second);
    }
  }
  ReadinessChanged();
  // Stop in parallel: each writes its final snapshot.
  std::vector<std::thread> stoppers;
  for (auto& w : stopping) stoppers.emplace_back([w] { w->Stop(); });
  for (auto& t : stoppers) t.join();
  CommitOffsets(true);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& w : stopping) workers_.erase(w->partition());
    if (metrics_ != nullptr) metrics_->SetPartitionsOwned(static_cast<int>(workers_.size()));
  }
  for (const auto& w : stopping) committed_.erase(w->partition());
  std::string list;
  for (const auto& w : stopping) absl::StrAppend(&list, list.empty() ? "" : ",", w->partition());
  spdlog::info("revoked partitions [{}] (snapshots written)", list);
}

void RoutingService::OnError(const absl::Status& error) {
  spdlog::warn("kafka: {}", error.ToString());
}

bool RoutingService::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!assigned_) return false;
  for (const auto& [p, w] : workers_) {
    if (!w->ready()) return false;
  }
  return true;
}

void RoutingService::ReadinessChanged() {
  const bool now = ready();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now == last_ready_) return;
    last_ready_ = now;
  }
  if (metrics_ != nullptr) metrics_->SetReady(now);
  if (on_ready_change_) on_ready_change_(now);
}

std::vector<int32_t> RoutingService::owned() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<int32_t> out;
  for (const auto& [p, w] : workers_) out.push_back(p);
  return out;
}

absl::StatusOr<std::shared_ptr<PartitionWorker>> RoutingService::WorkerFor(
    const std::string& tenant_id) const {
  const int32_t p = client_->PartitionFor(tenant_id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = workers_.find(p); it != workers_.end()) return it->second;
  }
  return absl::UnavailableError(absl::StrCat("NOT_OWNER: tenant '", tenant_id, "' is in partition ",
                                             p,
                                             ", which this replica does not own; try another "
                                             "replica"));
}

absl::Status RoutingService::RunOnOwner(const std::string& tenant_id, PartitionWorker::Task task,
                                        std::chrono::milliseconds timeout) {
  absl::StatusOr<std::shared_ptr<PartitionWorker>> worker = WorkerFor(tenant_id);
  if (!worker.ok()) return worker.status();
  return (*worker)->Run(std::move(task), timeout);
}

absl::Status RoutingService::CheckOwner(const std::string& tenant_id) const {
  absl::StatusOr<std::shared_ptr<PartitionWorker>> worker = WorkerFor(tenant_id);
  if (!worker.ok()) return worker.status();
  return (*worker)->CheckReady();
}

}  // namespace sb::routing
