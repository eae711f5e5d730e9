// RoutingService: the Kafka side of sb-routing. A member of the consumer group over
// sb.routing.commands.v1; one PartitionWorker (and thread) per partition the group gives it.
//
// Threads: the consumer thread (Start..Shutdown) polls the group consumer, hands each record to
// its partition's worker, commits the workers' snapshot offsets every second, and runs the
// rebalance callbacks: revoke stops the revoked partitions' workers (each writes a final
// snapshot, in parallel) and commits; assign starts workers (each recovers on its own thread).
// gRPC handler threads call RunOnOwner / client() / tail(). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "routing/client/routing_client.h"
#include "routing/service/event_tail.h"
#include "routing/service/metrics.h"
#include "routing/service/partition_worker.h"

namespace sb::routing {

struct ServiceOptions {
  kafka_io::KafkaConfig kafka;
  std::string group_id = "sb-routing";
  std::string replica_id;  // unique per process (snapshot ids, logs)
  // Group session timeout: how long a dead replica keeps its partitions. Real Kafka brokers
  // accept 6 s and more by default (group.min.session.timeout.ms); the embedded broker any.
  std::chrono::milliseconds session_timeout{3000};
  std::chrono::milliseconds send_timeout{5000};  // commands from the API
  std::chrono::milliseconds snapshot_interval{5000};
  int64_t snapshot_every = 10000;
  size_t max_chunk_bytes = 512 * 1024;
  EngineOptions engine;
};

class RoutingService : public kafka_io::ConsumerListener {
 public:
  // Connects (producer, client, event tail) and joins nothing yet. `metrics` must outlive it.
  static absl::StatusOr<std::unique_ptr<RoutingService>> Create(const ServiceOptions& options,
                                                                RoutingMetrics* metrics);
  ~RoutingService() override;

  // Joins the group and starts the consumer thread. `on_ready_change(ready)` is called on
  // readiness changes (from worker or consumer threads).
  absl::Status Start(std::function<void(bool)> on_ready_change);
  // Leaves the group: every owned partition is snapshotted and handed over. Idempotent.
  void Shutdown();

  // True when the group has assigned this replica its partitions (possibly none) and each has
  // caught up.
  bool ready() const;

  // Runs `task` on the thread of the partition that holds `tenant_id`, if this replica owns it:
  // else UNAVAILABLE "NOT_OWNER: ..."; while recovering UNAVAILABLE "RECOVERING: ...".
  absl::Status RunOnOwner(const std::string& tenant_id, PartitionWorker::Task task,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // OK if this replica owns the partition that holds `tenant_id` and it has caught up; else
  // NOT_OWNER / RECOVERING as RunOnOwner says. Does not wait for the partition's thread.
  absl::Status CheckOwner(const std::string& tenant_id) const;

  RoutingClient& client() { return *client_; }
  EventTail& tail() { return *tail_; }
  int32_t partition_count() const { return client_->partition_count(); }
  std::vector<int32_t> owned() const;

  // ConsumerListener (consumer thread).
  void OnAssigned(const std::vector<kafka_io::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka_io::TopicPartition>& partitions) override;
  void OnError(const absl::Status& error) override;

 private:
  RoutingService(ServiceOptions options, RoutingMetrics* metrics)
      : options_(std::move(options)), metrics_(metrics) {}
  void Loop();
  absl::StatusOr<std::shared_ptr<PartitionWorker>> WorkerFor(const std::string& tenant_id) const;
  void CommitOffsets(bool force);
  void ReadinessChanged();

  const ServiceOptions options_;
  RoutingMetrics* const metrics_;
  std::unique_ptr<kafka_io::Producer> producer_;  // events, ticks
  std::unique_ptr<kafka_io::Producer>
      snapshot_producer_;                  // snapshots (large; kept off events' way)
  std::unique_ptr<RoutingClient> client_;  // API commands
  std::unique_ptr<EventTail> tail_;
  std::unique_ptr<kafka_io::Consumer> consumer_;  // consumer thread only (after Start)
  std::function<void(bool)> on_ready_change_;

  mutable std::mutex mu_;
  std::map<int32_t, std::shared_ptr<PartitionWorker>> workers_;  // guarded by mu_
  bool assigned_ = false;                                        // guarded by mu_
  bool last_ready_ = false;                                      // guarded by mu_
  std::map<int32_t, int64_t> committed_;                         // consumer thread only

  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::once_flag shutdown_once_;
};

}  // namespace sb::routing
