#pragma once
// ClusterControl: the port through which control commands reach a cluster. MockCluster
// (mock_cluster.h) implements it over librdkafka's mock cluster; tests use a fake.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace sb::broker {

struct BrokerState {
  int32_t id = 0;  // 1..N
  bool up = true;
  int rtt_ms = 0;
};

struct TopicInfo {
  std::string name;
  int partitions = 0;
};

// What `status` reports. `pushed_errors` counts errors pushed per request type since the last
// clear; the mock does not say how many are still pending (each failing request pops one).
struct ClusterStatus {
  std::string bootstrap;
  std::vector<BrokerState> brokers;
  std::vector<TopicInfo> topics;
  std::map<int16_t, int64_t> pushed_errors;
};

// ClusterControl: fault injection and inspection of a running cluster.
//
// Implementations are thread-safe: the stdin reader (main thread) and the control-port thread
// call them concurrently. Broker ids are 1..broker_count(); arguments out of range come back as
// InvalidArgument with a "REASON: what to fix" message.
class ClusterControl {
 public:
  virtual ~ClusterControl() = default;

  virtual int broker_count() const = 0;

  // Disconnects the broker's clients and refuses new connections; leadership does not move.
  virtual absl::Status SetBrokerDown(int32_t broker_id) = 0;
  virtual absl::Status SetBrokerUp(int32_t broker_id) = 0;
  // Delays every response of the broker by `rtt_ms` (0 removes the delay).
  virtual absl::Status SetBrokerRtt(int32_t broker_id, int rtt_ms) = 0;
  // The next `count` requests of type `api_key`, on any broker, fail with `error_code`.
  virtual absl::Status PushRequestErrors(int16_t api_key, int error_code, int count) = 0;
  // Drops pending injected errors of one request type, or of all (nullopt).
  virtual absl::Status ClearRequestErrors(std::optional<int16_t> api_key) = 0;
  // Moves a partition's leadership to `broker_id`, or makes it leaderless (-1).
  virtual absl::Status SetPartitionLeader(const std::string& topic, int32_t partition,
                                          int32_t broker_id) = 0;

  virtual ClusterStatus Status() const = 0;
};

}  // namespace sb::broker
