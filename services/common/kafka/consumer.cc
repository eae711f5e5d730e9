#include "common/kafka/consumer.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sb::kafka_io {
namespace {

struct ListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using ListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, ListDeleter>;

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back(TopicPartition{list->elems[i].topic, list->elems[i].partition});
  }
  return out;
}

ListPtr ToList(const std::vector<TopicPartitionOffset>& partitions) {
  ListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  }
  return list;
}

// Turns an rd_kafka_error_t (which we own) into a Status and frees it.
absl::Status TakeError(rd_kafka_error_t* error, std::string_view context) {
  if (error == nullptr) return absl::OkStatus();
  absl::Status s =
      ErrorToStatus(rd_kafka_error_code(error),
                    absl::StrCat(std::string(context), ": ", rd_kafka_error_string(error)));
  rd_kafka_error_destroy(error);
  return s;
}

// The first per-partition error of a list, if any.
absl::Status ListError(const rd_kafka_topic_partition_list_t* list, std::string_view context) {
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return ErrorToStatus(
          e.err, absl::StrCat(std::string(context), " ", e.topic, " [", e.partition, "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options) {
  std::vector<std::pair<std::string, std::string>> defaults = {
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", options.auto_offset_reset},
  };
  const bool has_group = !options.group_id.empty();
  // librdkafka 2.0's rd_kafka_assign needs a group.id even when no group is ever joined
  // (_UNKNOWN_GROUP otherwise). A reader gets a placeholder it never joins or commits to.
  defaults.emplace_back("group.id", has_group ? options.group_id : "sb-kafka-io-assign-only");
  absl::StatusOr<ConfPtr> conf = BuildConf(options.kafka, defaults);
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_opaque(conf->get(), options.listener);
  if (has_group) rd_kafka_conf_set_rebalance_cb(conf->get(), &Consumer::OnRebalance);

  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr.data(), errstr.size());
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka consumer could not be created: ", errstr.data()));
  }
  (void)conf->release();           // rd_kafka_new took ownership
  rd_kafka_poll_set_consumer(rk);  // serve everything from rd_kafka_consumer_poll
  return std::unique_ptr<Consumer>(new Consumer(rk, options.listener, has_group));
}

Consumer::Consumer(rd_kafka_t* rk, ConsumerListener* listener, bool has_group)
    : rk_(rk), listener_(listener), has_group_(has_group) {}

Consumer::~Consumer() {
  (void)Close();
  rd_kafka_destroy(rk_);
}

void Consumer::OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t* partitions, void* opaque) {
  auto* listener = static_cast<ConsumerListener*>(opaque);
  const char* protocol = rd_kafka_rebalance_protocol(rk);
  const bool cooperative = protocol != nullptr && std::strcmp(protocol, "COOPERATIVE") == 0;
  absl::Status status;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    status = cooperative ? TakeError(rd_kafka_incremental_assign(rk, partitions),
                                     "kafka incremental assign")
                         : ErrorToStatus(rd_kafka_assign(rk, partitions), "kafka assign");
    if (listener != nullptr) {
      if (status.ok()) {
        listener->OnAssigned(ToVector(partitions));
      } else {
        listener->OnError(status);
      }
    }
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
    if (listener != nullptr) listener->OnRevoked(ToVector(partitions));
    status = cooperative ? TakeError(rd_kafka_incremental_unassign(rk, partitions),
                                     "kafka incremental unassign")
                         : ErrorToStatus(rd_kafka_assign(rk, nullptr), "kafka unassign");
    if (!status.ok() && listener != nullptr) listener->OnError(status);
    return;
  }
  // A rebalance error: drop the assignment, librdkafka rejoins.
  if (listener != nullptr) {
    listener->OnRevoked(ToVector(partitions));
    listener->OnError(ErrorToStatus(err, "kafka rebalance failed"));
  }
  (void)rd_kafka_assign(rk, nullptr);
}

absl::Status Consumer::Subscribe(const std::vector<std::string>& topics) {
  if (!has_group_) {
    return absl::FailedPreconditionError(
        "kafka consumer: Subscribe needs ConsumerOptions.group_id; use Assign to read without a "
        "group");
  }
  std::vector<TopicPartitionOffset> list;
  for (const auto& t : topics) list.push_back({t, RD_KAFKA_PARTITION_UA, 0});
  return ErrorToStatus(rd_kafka_subscribe(rk_, ToList(list).get()), "kafka subscribe");
}

absl::Status Consumer::Assign(const std::vector<TopicPartitionOffset>& partitions) {
  return ErrorToStatus(rd_kafka_assign(rk_, ToList(partitions).get()), "kafka assign");
}

absl::StatusOr<std::vector<Record>> Consumer::Poll(std::chrono::milliseconds timeout,
                                                   size_t max_records) {
  if (closed_) return absl::FailedPreconditionError("kafka consumer is closed");
  std::vector<Record> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < max_records) {
    int wait_ms = 0;
    if (out.empty()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk_, wait_ms);
    if (msg == nullptr) {
      if (!out.empty() || std::chrono::steady_clock::now() >= deadline) break;
      continue;
    }
    if (msg->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      const rd_kafka_resp_err_t err = msg->err;
      const std::string text = rd_kafka_message_errstr(msg);
      rd_kafka_message_destroy(msg);
      if (err == RD_KAFKA_RESP_ERR__PARTITION_EOF) continue;
      if (err == RD_KAFKA_RESP_ERR__FATAL) {
        std::array<char, 512> buf{};
        const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk_, buf.data(), buf.size());
        return ErrorToStatus(fatal, absl::StrCat("kafka consumer fatal error: ", buf.data()));
      }
      if (listener_ != nullptr)
        listener_->OnError(ErrorToStatus(err, absl::StrCat("kafka consumer: ", text)));
      continue;
    }
    Record r;
    r.topic = rd_kafka_topic_name(msg->rkt);
    r.partition = msg->partition;
    r.offset = msg->offset;
    if (msg->key != nullptr) r.key.assign(static_cast<const char*>(msg->key), msg->key_len);
    if (msg->payload != nullptr) r.value.assign(static_cast<const char*>(msg->payload), msg->len);
    rd_kafka_timestamp_type_t ts_type;
    r.timestamp_ms = rd_kafka_message_timestamp(msg, &ts_type);
    rd_kafka_message_destroy(msg);
    out.push_back(std::move(r));
  }
  return out;
}

absl::Status Consumer::Commit(const std::vector<TopicPartitionOffset>& offsets) {
  if (!has_group_) {
    return absl::FailedPreconditionError("kafka consumer: Commit needs a group_id");
  }
  ListPtr list = ToList(offsets);
  if (absl::Status s = ErrorToStatus(rd_kafka_commit(rk_, list.get(), /*async=*/0), "kafka commit");
      !s.ok()) {
    return s;
  }
  return ListError(list.get(), "kafka commit of");
}

absl::Status Consumer::CommitRecord(const Record& record) {
  return Commit({{record.topic, record.partition, record.offset + 1}});
}

absl::StatusOr<std::vector<TopicPartitionOffset>> Consumer::Committed(
    const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) {
  std::vector<TopicPartitionOffset> in;
  for (const auto& p : partitions) in.push_back({p.topic, p.partition, RD_KAFKA_OFFSET_INVALID});
  ListPtr list = ToList(in);
  if (absl::Status s =
          ErrorToStatus(rd_kafka_committed(rk_, list.get(), static_cast<int>(timeout.count())),
                        "kafka committed offsets");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ListError(list.get(), "kafka committed offset of"); !s.ok()) return s;
  std::vector<TopicPartitionOffset> out;
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

absl::StatusOr<std::pair<int64_t, int64_t>> Consumer::QueryWatermarks(
    std::string_view topic, int32_t partition, std::chrono::milliseconds timeout) {
  int64_t low = -1;
  int64_t high = -1;
  const std::string t(topic);
  if (absl::Status s =
          ErrorToStatus(rd_kafka_query_watermark_offsets(rk_, t.c_str(), partition, &low, &high,
                                                         static_cast<int>(timeout.count())),
                        absl::StrCat("kafka watermarks of ", t, " [", partition, "]"));
      !s.ok()) {
    return s;
  }
  return std::make_pair(low, high);
}

absl::Status Consumer::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  return ErrorToStatus(rd_kafka_consumer_close(rk_), "kafka consumer close");
}

absl::StatusOr<std::vector<Record>> ReadPartition(const KafkaConfig& kafka, std::string_view topic,
                                                  int32_t partition, int64_t from_offset,
                                                  std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ConsumerOptions options;
  options.kafka = kafka;
  absl::StatusOr<std::unique_ptr<Consumer>> consumer = Consumer::Create(options);
  if (!consumer.ok()) return consumer.status();
  absl::StatusOr<std::pair<int64_t, int64_t>> marks =
      (*consumer)->QueryWatermarks(topic, partition, timeout);
  if (!marks.ok()) return marks.status();
  const int64_t end = marks->second;
  // RD_KAFKA_OFFSET_TAIL(n): the last n records.
  if (from_offset <= RD_KAFKA_OFFSET_TAIL_BASE)
    from_offset = end - (RD_KAFKA_OFFSET_TAIL_BASE - from_offset);
  // BEGINNING (or an offset retention already dropped) means the log start.
  if (from_offset < marks->first) from_offset = marks->first;
  std::vector<Record> out;
  if (from_offset >= end) return out;
  if (absl::Status s = (*consumer)->Assign({{std::string(topic), partition, from_offset}});
      !s.ok()) {
    return s;
  }
  while (out.empty() || out.back().offset + 1 < end) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("kafka ReadPartition ", std::string(topic), " [", partition, "]: read ",
                       out.size(), " records, did not reach offset ", end, " in time"));
    }
    absl::StatusOr<std::vector<Record>> batch = (*consumer)->Poll(left);
    if (!batch.ok()) return batch.status();
    for (auto& r : *batch) out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sb::kafka_io
