#pragma once
// MockCluster: librdkafka's mock cluster (rdkafka_mock.h) with Switchboard's topics, behind the
// ClusterControl port.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "embedded_broker/cluster_control.h"

// librdkafka's opaque handles, declared here so this header does not pull in rdkafka.h.
typedef struct rd_kafka_s rd_kafka_t;
typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace sb::broker {

// The topics of DESIGN.md §3, in that order.
std::vector<std::string> DefaultTopics();

struct MockClusterOptions {
  int brokers = 1;     // 1..kMaxBrokers
  int partitions = 8;  // per topic, 1..kMaxPartitions
  std::vector<std::string> topics = DefaultTopics();
};

inline constexpr int kMaxBrokers = 16;
inline constexpr int kMaxPartitions = 1024;

// Checks the options; the error says which flag to fix.
absl::Status ValidateMockClusterOptions(const MockClusterOptions& options);

// MockCluster: owns a librdkafka client handle (the mock needs one for its bookkeeping; it
// sends nothing) and the mock cluster on it. Construction creates the brokers' loopback listeners
// (ephemeral ports on 127.0.0.1) and the topics, and assigns partition p of every topic to
// broker (p mod N) + 1, so which partitions a `broker down` affects is predictable (the mock
// would otherwise pick leaders at random).
//
// Threads: the mock cluster runs on its own librdkafka thread; every rd_kafka_mock_* call is a
// request to that thread that waits for its answer, so all methods are thread-safe. The small
// bookkeeping this class keeps for `status` is guarded by mu_.
class MockCluster final : public ClusterControl {
 public:
  static absl::StatusOr<std::unique_ptr<MockCluster>> Create(const MockClusterOptions& options);
  ~MockCluster() override;
  MockCluster(const MockCluster&) = delete;
  MockCluster& operator=(const MockCluster&) = delete;

  // "127.0.0.1:PORT1,127.0.0.1:PORT2,...": the bootstrap.servers for clients.
  const std::string& bootstrap() const { return bootstrap_; }

  int broker_count() const override { return options_.brokers; }
  absl::Status SetBrokerDown(int32_t broker_id) override;
  absl::Status SetBrokerUp(int32_t broker_id) override;
  absl::Status SetBrokerRtt(int32_t broker_id, int rtt_ms) override;
  absl::Status PushRequestErrors(int16_t api_key, int error_code, int count) override;
  absl::Status ClearRequestErrors(std::optional<int16_t> api_key) override;
  absl::Status SetPartitionLeader(const std::string& topic, int32_t partition,
                                  int32_t broker_id) override;
  ClusterStatus Status() const override;

 private:
  MockCluster(MockClusterOptions options, rd_kafka_t* rk, rd_kafka_mock_cluster_t* mcluster);
  absl::Status CheckBrokerId(int32_t broker_id, bool allow_all) const;
  // Ids a command addresses: {broker_id}, or every broker for kAllBrokers.
  std::vector<int32_t> Targets(int32_t broker_id) const;
  absl::Status SetUp(int32_t broker_id, bool up);

  const MockClusterOptions options_;
  rd_kafka_t* const rk_;
  rd_kafka_mock_cluster_t* const mcluster_;
  std::string bootstrap_;

  mutable std::mutex mu_;
  std::vector<BrokerState> brokers_ ABSL_GUARDED_BY(mu_);
  std::map<int16_t, int64_t> pushed_errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sb::broker
