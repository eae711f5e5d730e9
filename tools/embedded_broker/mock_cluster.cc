#include "embedded_broker/mock_cluster.h"

// clang-format off
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // must follow rdkafka.h
// clang-format on

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "embedded_broker/command.h"
#include "embedded_broker/kafka_names.h"

namespace sb::broker {
namespace {

constexpr int kMaxTopicNameLength = 249;  // Kafka's limit

bool IsLegalTopicName(const std::string& name) {
  if (name.empty() || name.size() > kMaxTopicNameLength || name == "." || name == "..") {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::Status FromKafka(rd_kafka_resp_err_t err, const std::string& what) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::InternalError("MOCK_FAILED: " + what + ": " + rd_kafka_err2str(err) +
                             " (this is a bug or a librdkafka limit; see status)");
}

// librdkafka's log lines go to stderr with our prefix. Called on librdkafka threads.
void LogToStderr(const rd_kafka_t* /*rk*/, int level, const char* fac, const char* buf) {
  // The carrier handle has no bootstrap.servers by design; its warning would only confuse.
  if (std::strcmp(fac, "CONFWARN") == 0 && std::strstr(buf, "bootstrap.servers") != nullptr) {
    return;
  }
  std::fprintf(stderr, "sb-embedded-broker: librdkafka[%d] %s: %s\n", level, fac, buf);
}

}  // namespace

std::vector<std::string> DefaultTopics() {
  return {"sb.routing.commands.v1", "sb.routing.events.v1",   "sb.routing.snapshots.v1",
          "sb.policy.decisions.v1", "sb.recording.events.v1", "sb.agent.events.v1"};
}

absl::Status ValidateMockClusterOptions(const MockClusterOptions& options) {
  if (options.brokers < 1 || options.brokers > kMaxBrokers) {
    return absl::InvalidArgumentError("--brokers must be 1.." + std::to_string(kMaxBrokers) +
                                      ", not " + std::to_string(options.brokers));
  }
  if (options.partitions < 1 || options.partitions > kMaxPartitions) {
    return absl::InvalidArgumentError("--partitions must be 1.." + std::to_string(kMaxPartitions) +
                                      ", not " + std::to_string(options.partitions));
  }
  if (options.topics.empty()) {
    return absl::InvalidArgumentError("--topics needs at least one topic name");
  }
  std::set<std::string> seen;
  for (const std::string& topic : options.topics) {
    if (!IsLegalTopicName(topic)) {
      return absl::InvalidArgumentError(
          "--topics: '" + topic +
          "' is not a legal topic name (1..249 characters of a-z A-Z 0-9 . _ -)");
    }
    if (!seen.insert(topic).second) {
      return absl::InvalidArgumentError("--topics: '" + topic + "' is listed twice");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MockCluster>> MockCluster::Create(
    const MockClusterOptions& options) {
  if (absl::Status s = ValidateMockClusterOptions(options); !s.ok()) return s;

  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set_log_cb(conf, LogToStderr);
  if (rd_kafka_conf_set(conf, "client.id", "sb-embedded-broker", errstr, sizeof(errstr)) !=
      RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(std::string("librdkafka configuration: ") + errstr);
  }
  // The handle only carries the mock cluster; it never connects anywhere.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
  if (rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(std::string("cannot create a librdkafka handle: ") + errstr);
  }
  rd_kafka_mock_cluster_t* mcluster = rd_kafka_mock_cluster_new(rk, options.brokers);
  if (mcluster == nullptr) {
    rd_kafka_destroy(rk);
    return absl::UnavailableError(
        "cannot start the mock cluster: its brokers could not listen on 127.0.0.1 (is the "
        "loopback interface up, and are ephemeral ports free?)");
  }
  auto cluster = std::unique_ptr<MockCluster>(new MockCluster(options, rk, mcluster));

  const int replication = std::min(options.brokers, 3);
  for (const std::string& topic : options.topics) {
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mcluster, topic.c_str(), options.partitions, replication);
    if (absl::Status s = FromKafka(err, "creating topic " + topic); !s.ok()) return s;
    for (int p = 0; p < options.partitions; ++p) {
      err =
          rd_kafka_mock_partition_set_leader(mcluster, topic.c_str(), p, (p % options.brokers) + 1);
      if (absl::Status s = FromKafka(err, "placing " + topic + " partition " + std::to_string(p));
          !s.ok()) {
        return s;
      }
    }
  }
  return cluster;
}

MockCluster::MockCluster(MockClusterOptions options, rd_kafka_t* rk,
                         rd_kafka_mock_cluster_t* mcluster)
    : options_(std::move(options)), rk_(rk), mcluster_(mcluster) {
  bootstrap_ = rd_kafka_mock_cluster_bootstraps(mcluster_);
  for (int32_t id = 1; id <= options_.brokers; ++id) brokers_.push_back({id, true, 0});
}

MockCluster::~MockCluster() {
  rd_kafka_mock_cluster_destroy(mcluster_);
  rd_kafka_destroy(rk_);
}

absl::Status MockCluster::CheckBrokerId(int32_t broker_id, bool allow_all) const {
  if ((allow_all && broker_id == kAllBrokers) ||
      (broker_id >= 1 && broker_id <= options_.brokers)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "NO_SUCH_BROKER: broker " + std::to_string(broker_id) + " does not exist; brokers are 1.." +
      std::to_string(options_.brokers) + (allow_all ? " or all" : "") + " (see status)");
}

std::vector<int32_t> MockCluster::Targets(int32_t broker_id) const {
  if (broker_id != kAllBrokers) return {broker_id};
  std::vector<int32_t> ids;
  for (int32_t id = 1; id <= options_.brokers; ++id) ids.push_back(id);
  return ids;
}

absl::Status MockCluster::SetUp(int32_t broker_id, bool up) {
  if (absl::Status s = CheckBrokerId(broker_id, /*allow_all=*/true); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);  // keeps brokers_ in step with the mock's state
  for (int32_t id : Targets(broker_id)) {
    rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(mcluster_, id)
                                 : rd_kafka_mock_broker_set_down(mcluster_, id);
    if (absl::Status s = FromKafka(err, "broker " + std::to_string(id)); !s.ok()) return s;
    brokers_[id - 1].up = up;
  }
  return absl::OkStatus();
}

absl::Status MockCluster::SetBrokerDown(int32_t broker_id) { return SetUp(broker_id, false); }

absl::Status MockCluster::SetBrokerUp(int32_t broker_id) { return SetUp(broker_id, true); }

absl::Status MockCluster::SetBrokerRtt(int32_t broker_id, int rtt_ms) {
  if (absl::Status s = CheckBrokerId(broker_id, /*allow_all=*/true); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  for (int32_t id : Targets(broker_id)) {
    rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_rtt(mcluster_, id, rtt_ms);
    if (absl::Status s = FromKafka(err, "broker " + std::to_string(id)); !s.ok()) return s;
    brokers_[id - 1].rtt_ms = rtt_ms;
  }
  return absl::OkStatus();
}

absl::Status MockCluster::PushRequestErrors(int16_t api_key, int error_code, int count) {
  std::vector<rd_kafka_resp_err_t> errors(static_cast<size_t>(count),
                                          static_cast<rd_kafka_resp_err_t>(error_code));
  std::lock_guard<std::mutex> lock(mu_);
  rd_kafka_mock_push_request_errors_array(mcluster_, api_key, errors.size(), errors.data());
  pushed_errors_[api_key] += count;
  return absl::OkStatus();
}

absl::Status MockCluster::ClearRequestErrors(std::optional<int16_t> api_key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (api_key) {
    rd_kafka_mock_clear_request_errors(mcluster_, *api_key);
    pushed_errors_.erase(*api_key);
    return absl::OkStatus();
  }
  for (const ApiKeyName& api : MockApiKeys())
    rd_kafka_mock_clear_request_errors(mcluster_, api.key);
  pushed_errors_.clear();
  return absl::OkStatus();
}

absl::Status MockCluster::SetPartitionLeader(const std::string& topic, int32_t partition,
                                             int32_t broker_id) {
  bool known = false;
  for (const std::string& t : options_.topics) known = known || t == topic;
  // Checked here because the mock would silently create an unknown topic.
  if (!known) {
    return absl::InvalidArgumentError("NO_SUCH_TOPIC: '" + topic +
                                      "' is not one of this cluster's topics (see partitions)");
  }
  if (partition < 0 || partition >= options_.partitions) {
    return absl::InvalidArgumentError("NO_SUCH_PARTITION: " + topic + " has partitions 0.." +
                                      std::to_string(options_.partitions - 1));
  }
  if (broker_id != kNoLeader) {
    if (absl::Status s = CheckBrokerId(broker_id, /*allow_all=*/false); !s.ok()) return s;
  }
  rd_kafka_resp_err_t err =
      rd_kafka_mock_partition_set_leader(mcluster_, topic.c_str(), partition, broker_id);
  return FromKafka(err,
                   "setting the leader of " + topic + " partition " + std::to_string(partition));
}

ClusterStatus MockCluster::Status() const {
  ClusterStatus status;
  status.bootstrap = bootstrap_;
  for (const std::string& t : options_.topics) status.topics.push_back({t, options_.partitions});
  std::lock_guard<std::mutex> lock(mu_);
  status.brokers = brokers_;
  status.pushed_errors = pushed_errors_;
  return status;
}

}  // namespace sb::broker
