// Configuration shared by sb::kafka_io's Producer and Consumer, and the helpers that turn it into
// a librdkafka configuration object and map librdkafka errors to absl::Status.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sb::kafka_io {

// KafkaConfig
//
// Where the brokers are, plus raw librdkafka properties that override the library's defaults
// (applied last, in order). A property librdkafka does not know makes Producer::Create /
// Consumer::Create fail with INVALID_ARGUMENT naming it. A plain value type: copy it freely.
struct KafkaConfig {
  std::string bootstrap_servers;  // "host:port[,host:port...]"
  std::string client_id;          // optional; empty keeps librdkafka's default
  std::vector<std::pair<std::string, std::string>> overrides;
};

// Owns an rd_kafka_conf_t until it is handed to rd_kafka_new (which takes ownership on success).
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// Sets one property; on failure INVALID_ARGUMENT with librdkafka's text, which names the
// property (e.g. `No such configuration property: "foo.bar"`).
absl::Status SetConf(rd_kafka_conf_t* conf, std::string_view name, std::string_view value);

// A new configuration: `defaults` first, then bootstrap.servers / client.id, then
// config.overrides (so the caller's overrides win).
absl::StatusOr<ConfPtr> BuildConf(const KafkaConfig& config,
                                  const std::vector<std::pair<std::string, std::string>>& defaults);

// The current value of a property of `conf`, or "" when it is unset/unknown.
std::string GetConf(const rd_kafka_conf_t* conf, const char* name);

// Maps a librdkafka error to an absl::Status whose message is
// "<context>: <rd_kafka_err2str> (<rd_kafka_err2name>)". RD_KAFKA_RESP_ERR_NO_ERROR -> OK.
// Broker/network/timeout errors map to UNAVAILABLE (DESIGN §7: retry later), unknown
// topics/partitions to NOT_FOUND, bad requests to INVALID_ARGUMENT, purges to CANCELLED.
absl::Status ErrorToStatus(rd_kafka_resp_err_t err, std::string_view context);

// The absl code ErrorToStatus uses for `err`.
absl::StatusCode ErrorCode(rd_kafka_resp_err_t err);

}  // namespace sb::kafka_io
