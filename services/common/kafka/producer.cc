#include "common/kafka/producer.h"

#include <array>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"

namespace sb::kafka_io {
namespace {

// Heap-allocated per record, passed to librdkafka as the message opaque; freed by OnDelivery.
struct PendingRecord {
  Producer::DeliveryCallback done;
  std::chrono::milliseconds message_timeout;
};

// Shared between a blocked Produce() and the delivery-report thread; shared_ptr so a Produce
// that gives up waiting cannot leave the callback writing to a dead stack frame.
struct SyncResult {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<RecordPosition>> result;  // guarded by mu
};

}  // namespace

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  absl::StatusOr<ConfPtr> conf = BuildConf(
      options.kafka, {
                         {"enable.idempotence", "true"},
                         {"acks", "all"},
                         {"message.timeout.ms", std::to_string(options.message_timeout.count())},
                     });
  if (!conf.ok()) return conf.status();
  // The caller may not weaken DESIGN §3's guarantees through overrides.
  if (GetConf(conf->get(), "enable.idempotence") != "true") {
    return absl::InvalidArgumentError(
        "kafka producer: enable.idempotence must stay true (DESIGN §3)");
  }
  const std::string acks = GetConf(conf->get(), "acks");
  if (acks != "all" && acks != "-1") {
    return absl::InvalidArgumentError("kafka producer: acks must stay all (DESIGN §3)");
  }
  std::chrono::milliseconds timeout = options.message_timeout;
  if (const std::string t = GetConf(conf->get(), "message.timeout.ms"); !t.empty()) {
    timeout = std::chrono::milliseconds(std::stoll(t));
  }
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Producer::OnDelivery);

  std::array<char, 512> errstr{};
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr.data(), errstr.size());
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka producer could not be created: ", errstr.data()));
  }
  (void)conf->release();  // rd_kafka_new took ownership
  return std::unique_ptr<Producer>(new Producer(rk, timeout, options.close_timeout));
}

Producer::Producer(rd_kafka_t* rk, std::chrono::milliseconds message_timeout,
                   std::chrono::milliseconds close_timeout)
    : rk_(rk), message_timeout_(message_timeout), close_timeout_(close_timeout) {
  poll_thread_ = std::thread([this] {
    NameThisThread("sb-kafka-acks");
    PollLoop();
  });
}

Producer::~Producer() {
  stop_.store(true);
  poll_thread_.join();
  // From here the destroying thread serves delivery reports.
  rd_kafka_flush(rk_, static_cast<int>(close_timeout_.count()));
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_flush(rk_, 1000);  // delivers the purged records' reports (CANCELLED)
  rd_kafka_destroy(rk_);
}

void Producer::PollLoop() {
  while (!stop_.load()) rd_kafka_poll(rk_, 100);
}

void Producer::OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* msg, void* /*opaque*/) {
  std::unique_ptr<PendingRecord> pending(static_cast<PendingRecord*>(msg->_private));
  if (pending == nullptr) return;
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    pending->done(RecordPosition{msg->partition, msg->offset});
    return;
  }
  std::string context = absl::StrCat("kafka produce to ", rd_kafka_topic_name(msg->rkt), " [",
                                     msg->partition, "] failed");
  if (msg->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT) {
    context = absl::StrCat(
        "kafka broker did not acknowledge the record to ", rd_kafka_topic_name(msg->rkt),
        " within message.timeout.ms=", pending->message_timeout.count(),
        " (is the broker up and reachable? the record was not written; retry later)");
  }
  pending->done(ErrorToStatus(msg->err, context));
}

absl::Status Producer::ProduceAsync(std::string_view topic, std::string_view key,
                                    std::string_view value, DeliveryCallback done,
                                    int32_t partition) {
  if (const rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk_, nullptr, 0);
      fatal != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ErrorToStatus(fatal, "kafka producer is in a fatal state; recreate it");
  }
  auto pending = std::make_unique<PendingRecord>(PendingRecord{std::move(done), message_timeout_});
  const std::string topic_str(topic);
  rd_kafka_resp_err_t err = rd_kafka_producev(
      rk_, RD_KAFKA_V_TOPIC(topic_str.c_str()), RD_KAFKA_V_PARTITION(partition),
      RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(pending.get()), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ErrorToStatus(err, absl::StrCat("kafka produce to ", topic_str, " not enqueued"));
  }
  (void)pending.release();  // OnDelivery frees it
  return absl::OkStatus();
}

absl::StatusOr<RecordPosition> Producer::Produce(std::string_view topic, std::string_view key,
                                                 std::string_view value, int32_t partition) {
  auto state = std::make_shared<SyncResult>();
  absl::Status enqueued = ProduceAsync(
      topic, key, value,
      [state](absl::StatusOr<RecordPosition> r) {
        std::lock_guard<std::mutex> lock(state->mu);
        state->result = std::move(r);
        state->cv.notify_all();
      },
      partition);
  if (!enqueued.ok()) return enqueued;
  // librdkafka always reports within message.timeout.ms (plus a request round trip); the margin
  // only guards against a wedged client.
  const auto deadline =
      std::chrono::steady_clock::now() + message_timeout_ + std::chrono::seconds(5);
  std::unique_lock<std::mutex> lock(state->mu);
  if (!state->cv.wait_until(lock, deadline, [&] { return state->result.has_value(); })) {
    return absl::UnavailableError(absl::StrCat(
        "kafka produce to ", std::string(topic), ": no delivery report within message.timeout.ms=",
        message_timeout_.count(), " + 5 s; the record's fate is unknown"));
  }
  return *std::move(state->result);
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  return ErrorToStatus(rd_kafka_flush(rk_, static_cast<int>(timeout.count())),
                       "kafka producer flush");
}

absl::StatusOr<int32_t> Producer::PartitionCount(std::string_view topic,
                                                 std::chrono::milliseconds timeout) {
  const std::string name(topic);
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk_, name.c_str(), nullptr);
  if (rkt == nullptr) {
    return ErrorToStatus(rd_kafka_last_error(), absl::StrCat("kafka topic ", name));
  }
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk_, 0, rkt, &md, static_cast<int>(timeout.count()));
  rd_kafka_topic_destroy(rkt);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return ErrorToStatus(err, absl::StrCat("kafka metadata for ", name));
  }
  absl::StatusOr<int32_t> count =
      absl::NotFoundError(absl::StrCat("kafka topic ", name, " not found"));
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic& t = md->topics[i];
    if (name != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      count = ErrorToStatus(t.err, absl::StrCat("kafka metadata for ", name));
    } else if (t.partition_cnt > 0) {
      count = t.partition_cnt;
    }
  }
  rd_kafka_metadata_destroy(md);
  return count;
}

}  // namespace sb::kafka_io
