#pragma once
// Names for the Kafka protocol numbers that fault commands take: request types (ApiKeys) and
// error codes. Operators type names (`error Produce NOT_LEADER_FOR_PARTITION 3`); scripts may
// type numbers (`error 0 6 3`). Both resolve here. Thread-safe (pure functions over constants).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sb::broker {

// One Kafka request type that librdkafka's mock cluster (2.0.x) implements.
struct ApiKeyName {
  int16_t key;
  const char* name;  // as in the Kafka protocol guide, e.g. "Produce"
};

// The request types the mock cluster answers, in ApiKey order. Errors can only be injected into
// these: the mock closes the connection on any other request type.
const std::vector<ApiKeyName>& MockApiKeys();

// "Produce", "produce", "PRODUCE" or "0" -> 0. Rejects request types the mock does not implement,
// with a reason that lists the ones it does.
absl::StatusOr<int16_t> ParseApiKey(std::string_view text);

// The protocol name of `key` ("Produce"), or "ApiKey<N>" for one the mock does not implement.
std::string ApiKeyToName(int16_t key);

// "NOT_LEADER_FOR_PARTITION", "RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION",
// "not_leader_for_partition" or "6" -> 6. Also librdkafka's local codes ("_TRANSPORT" = -195,
// which makes the mock broker drop the connection). Rejects 0 (injects nothing) and codes that
// librdkafka does not know.
absl::StatusOr<int> ParseErrorCode(std::string_view text);

// librdkafka's name of an error code ("NOT_LEADER_FOR_PARTITION"), or the number as text.
std::string ErrorCodeToName(int code);

}  // namespace sb::broker
