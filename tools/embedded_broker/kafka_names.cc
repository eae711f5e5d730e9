#include "embedded_broker/kafka_names.h"

#include <librdkafka/rdkafka.h>

#include "absl/status/status.h"
#include "embedded_broker/text_util.h"

namespace sb::broker {
namespace {

constexpr std::string_view kErrPrefix = "rd_kafka_resp_err_";

std::string ApiKeyList() {
  std::string out;
  for (const ApiKeyName& api : MockApiKeys()) {
    if (!out.empty()) out += ", ";
    out += api.name;
  }
  return out;
}

}  // namespace

const std::vector<ApiKeyName>& MockApiKeys() {
  // The handler table of librdkafka 2.0.x src/rdkafka_mock_handlers.c.
  static const std::vector<ApiKeyName> kKeys = {
      {0, "Produce"},          {1, "Fetch"},
      {2, "ListOffsets"},      {3, "Metadata"},
      {8, "OffsetCommit"},     {9, "OffsetFetch"},
      {10, "FindCoordinator"}, {11, "JoinGroup"},
      {12, "Heartbeat"},       {13, "LeaveGroup"},
      {14, "SyncGroup"},       {18, "ApiVersion"},
      {22, "InitProducerId"},  {24, "AddPartitionsToTxn"},
      {25, "AddOffsetsToTxn"}, {26, "EndTxn"},
      {28, "TxnOffsetCommit"},
  };
  return kKeys;
}

absl::StatusOr<int16_t> ParseApiKey(std::string_view text) {
  std::optional<int64_t> number = ParseInteger(text);
  std::string lower = ToLower(text);
  for (const ApiKeyName& api : MockApiKeys()) {
    if ((number && *number == api.key) || lower == ToLower(api.name)) return api.key;
  }
  return absl::InvalidArgumentError("UNKNOWN_API: '" + std::string(text) +
                                    "' is not a request type the mock cluster implements; use "
                                    "one of " +
                                    ApiKeyList() + " (or its ApiKey number)");
}

std::string ApiKeyToName(int16_t key) {
  for (const ApiKeyName& api : MockApiKeys()) {
    if (api.key == key) return api.name;
  }
  return "ApiKey" + std::to_string(key);
}

absl::StatusOr<int> ParseErrorCode(std::string_view text) {
  const rd_kafka_err_desc* descs = nullptr;
  size_t count = 0;
  rd_kafka_get_err_descs(&descs, &count);

  std::optional<int64_t> number = ParseInteger(text);
  std::string lower = ToLower(text);
  if (lower.rfind(kErrPrefix, 0) == 0) lower = lower.substr(kErrPrefix.size());

  for (size_t i = 0; i < count; ++i) {
    if (descs[i].name == nullptr) continue;  // gaps in the table
    int code = static_cast<int>(descs[i].code);
    if ((number && *number == code) || (!number && lower == ToLower(descs[i].name))) {
      if (code == 0) {
        return absl::InvalidArgumentError(
            "NO_ERROR_CODE: error code 0 (NO_ERROR) injects nothing; give a failure such as "
            "NOT_LEADER_FOR_PARTITION (6), REQUEST_TIMED_OUT (7) or _TRANSPORT (disconnect)");
      }
      return code;
    }
  }
  return absl::InvalidArgumentError(
      "UNKNOWN_ERROR_CODE: '" + std::string(text) +
      "' is not a Kafka error code; give a number (6) or a librdkafka name "
      "(NOT_LEADER_FOR_PARTITION, REQUEST_TIMED_OUT, _TRANSPORT, ...)");
}

std::string ErrorCodeToName(int code) {
  const char* name = rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code));
  if (name == nullptr || *name == '\0') return std::to_string(code);
  return name;
}

}  // namespace sb::broker
