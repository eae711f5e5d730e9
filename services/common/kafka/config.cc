#include "common/kafka/config.h"

#include <array>
#include <string>

#include "absl/strings/str_cat.h"

namespace sb::kafka_io {

absl::Status SetConf(rd_kafka_conf_t* conf, std::string_view name, std::string_view value) {
  std::array<char, 512> errstr{};
  const std::string n(name);
  const std::string v(value);
  if (rd_kafka_conf_set(conf, n.c_str(), v.c_str(), errstr.data(), errstr.size()) !=
      RD_KAFKA_CONF_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka config property \"", n, "\" rejected: ", errstr.data()));
  }
  return absl::OkStatus();
}

absl::StatusOr<ConfPtr> BuildConf(
    const KafkaConfig& config, const std::vector<std::pair<std::string, std::string>>& defaults) {
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [name, value] : defaults) {
    if (absl::Status s = SetConf(conf.get(), name, value); !s.ok()) return s;
  }
  if (config.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError(
        "kafka config: bootstrap_servers is empty; pass host:port of at least one broker");
  }
  if (absl::Status s = SetConf(conf.get(), "bootstrap.servers", config.bootstrap_servers);
      !s.ok()) {
    return s;
  }
  if (!config.client_id.empty()) {
    if (absl::Status s = SetConf(conf.get(), "client.id", config.client_id); !s.ok()) return s;
  }
  for (const auto& [name, value] : config.overrides) {
    if (absl::Status s = SetConf(conf.get(), name, value); !s.ok()) return s;
  }
  return conf;
}

std::string GetConf(const rd_kafka_conf_t* conf, const char* name) {
  std::array<char, 512> buf{};
  size_t size = buf.size();
  if (rd_kafka_conf_get(conf, name, buf.data(), &size) != RD_KAFKA_CONF_OK) return "";
  return std::string(buf.data());
}

absl::StatusCode ErrorCode(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::StatusCode::kOk;
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
      return absl::StatusCode::kUnavailable;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return absl::StatusCode::kNotFound;
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__INVALID_TYPE:
      return absl::StatusCode::kInvalidArgument;
    case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
    case RD_KAFKA_RESP_ERR__PARTITION_EOF:
      return absl::StatusCode::kOutOfRange;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return absl::StatusCode::kCancelled;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
      return absl::StatusCode::kPermissionDenied;
    case RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
      return absl::StatusCode::kUnimplemented;
    case RD_KAFKA_RESP_ERR__STATE:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
      return absl::StatusCode::kFailedPrecondition;
    case RD_KAFKA_RESP_ERR__FATAL:
      return absl::StatusCode::kInternal;
    default:
      return absl::StatusCode::kUnknown;
  }
}

absl::Status ErrorToStatus(rd_kafka_resp_err_t err, std::string_view context) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
  return absl::Status(ErrorCode(err),
                      absl::StrCat(std::string(context), ": ", rd_kafka_err2str(err), " (",
                                   rd_kafka_err2name(err), ")"));
}

}  // namespace sb::kafka_io
