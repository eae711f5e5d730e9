#include "routing/service/partition_worker.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "google/protobuf/util/time_util.h"
#include "routing/client/routing_client.h"
#include "routing/service/event_tail.h"
#include "routing/service/snapshot_chunks.h"
#include "spdlog/spdlog.h"

namespace sb::routing {
namespace {

using Clock = std::chrono::steady_clock;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string KindOf(const v1::RoutingCommand& c) {
  const auto* f = v1::RoutingCommand::descriptor()->FindFieldByNumber(c.body_case());
  return f != nullptr ? f->name() : "none";
}

}  // namespace

PartitionWorker::PartitionWorker(int32_t partition, WorkerOptions options)
    : partition_(partition), options_(std::move(options)) {}

PartitionWorker::~PartitionWorker() { Stop(); }

void PartitionWorker::Start() {
  started_ = true;
  writer_ = std::thread([this] {
    NameThisThread(absl::StrCat("sb-snapshot-", partition_));
    WriterMain();
  });
  thread_ = std::thread([this] {
    NameThisThread(absl::StrCat("sb-worker-", partition_));
    Main();
  });
}

void PartitionWorker::Push(std::vector<kafka_io::Record> records) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : records) inbox_.push_back(std::move(r));
  }
  cv_.notify_one();
}

absl::Status PartitionWorker::CheckReady() const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      return absl::UnavailableError(
          absl::StrCat("NOT_OWNER: partition ", partition_, " is being handed over"));
    }
  }
  if (!ready_.load()) return Recovering();
  return absl::OkStatus();
}

absl::Status PartitionWorker::Recovering() const {
  return absl::UnavailableError(
      absl::StrCat("RECOVERING: partition ", partition_, " is being restored; retry shortly"));
}

absl::Status PartitionWorker::Run(Task task, std::chrono::milliseconds timeout) {
  if (absl::Status s = CheckReady(); !s.ok()) return s;
  std::shared_lock<std::shared_timed_mutex> state(state_mu_, std::defer_lock);
  if (!state.try_lock_for(timeout)) {
    return absl::DeadlineExceededError(
        absl::StrCat("partition ", partition_, " did not answer within ", timeout.count(), " ms"));
  }
  // Checked again under the lock: the worker clears `ready_` before it changes the state
  // outside its normal applying (recovery), so a reader never sees a state half rebuilt.
  if (!ready_.load()) return Recovering();
  task(*processor_);
  return absl::OkStatus();
}

void PartitionWorker::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (started_ && thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(writer_mu_);
    writer_stop_ = true;
  }
  writer_cv_.notify_all();
  if (started_ && writer_.joinable()) writer_.join();
}

bool PartitionWorker::WaitStoppable(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stop_; });
}

void PartitionWorker::SetReady(bool ready) {
  if (ready_.exchange(ready) != ready && options_.on_ready_change) options_.on_ready_change();
}

void PartitionWorker::Main() {
  while (true) {
    if (!Recover()) break;  // stopped while recovering: nothing to hand over beyond what exists
    bool failed = false;
    while (!failed) {
      std::deque<kafka_io::Record> batch;
      bool stop;
      {
        std::unique_lock<std::mutex> lock(mu_);
        auto wake = Clock::now() + std::chrono::milliseconds(200);
        if (auto due = processor_->NextDue(); due.has_value()) {
          const int64_t in_ms = std::max<int64_t>(0, due->at_ms - WallMs());
          wake = std::min(wake, Clock::now() + std::chrono::milliseconds(in_ms));
        }
        cv_.wait_until(lock, wake, [&] { return stop_ || !inbox_.empty(); });
        batch.swap(inbox_);
        stop = stop_;
      }
      if (!batch.empty()) {
        std::vector<AppliedRecord> applied;
        applied.reserve(batch.size());
        {
          std::lock_guard<std::shared_timed_mutex> state(state_mu_);
          for (const auto& r : batch) ApplyRecord(r, /*live=*/true, &applied);
        }
        HandToTail();
        GiveWriter(std::move(applied));
      }
      {
        std::lock_guard<std::mutex> l(in_flight_->mu);
        failed = in_flight_->failed;
      }
      if (failed) break;
      if (stop) {
        SetReady(false);
        FinalSnapshot();
        if (options_.metrics != nullptr) {
          processor_->ForEachDomain(
              [&](const Engine& e) { options_.metrics->RemoveTenant(e.tenant_id()); });
        }
        return;
      }
      MaybeTick();
      if (Clock::now() - last_report_ >= std::chrono::seconds(1)) ReportTenants();
    }
    // An event was not acknowledged: forget the state and rebuild it from the last snapshot; the
    // replay re-publishes everything after it (consumers drop what they already have).
    spdlog::warn("partition {}: an event could not be published; recovering from the snapshot",
                 partition_);
    SetReady(false);
    DropWriterCopy();  // a snapshot in hand is given up: an event before it failed
    std::unique_lock<std::mutex> l(in_flight_->mu);
    in_flight_->cv.wait_for(l, std::chrono::seconds(30),
                            [&] { return in_flight_->outstanding.empty(); });
    in_flight_->failed = false;
  }
  SetReady(false);
}

bool PartitionWorker::Recover() {
  const auto started = Clock::now();
  std::chrono::milliseconds backoff(200);
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return false;
    }
    {
      std::lock_guard<std::shared_timed_mutex> state(state_mu_);
      processor_ = std::make_unique<PartitionProcessor>(partition_, options_.engine);
    }
    absl::StatusOr<std::vector<kafka_io::Record>> chunks =
        kafka_io::ReadPartition(options_.kafka, kSnapshotsTopic, partition_,
                                RD_KAFKA_OFFSET_BEGINNING, options_.read_timeout);
    absl::Status status = chunks.status();
    if (status.ok()) {
      SnapshotAssembler assembler;
      for (const auto& r : *chunks) {
        v1::SnapshotChunk chunk;
        if (chunk.ParseFromString(r.value)) assembler.Add(chunk);
      }
      auto latest = assembler.Latest();
      if (!latest.ok()) {
        status = latest.status();
      } else if (latest->has_value()) {
        std::lock_guard<std::shared_timed_mutex> state(state_mu_);
        status = processor_->Restore(**latest);
      }
    }
    // Once per ownership: on a re-recovery (a publish failed) the tail already holds every event
    // this worker published, and the replay's repeats are dropped by event id.
    if (status.ok() && !events_read_back_) {
      status = ReadBackEvents();
      events_read_back_ = status.ok();
    }
    size_t replayed = 0;
    const int64_t restored_offset = processor_->last_offset();  // -1 without a snapshot
    if (status.ok()) {
      absl::StatusOr<std::vector<kafka_io::Record>> commands =
          kafka_io::ReadPartition(options_.kafka, kCommandsTopic, partition_,
                                  processor_->last_offset() + 1, options_.read_timeout);
      status = commands.status();
      if (status.ok()) {
        if (!commands->empty() && commands->front().offset > processor_->last_offset() + 1) {
          spdlog::error(
              "partition {}: commands {}..{} are gone from the log (retention) and were not in a "
              "snapshot; state after them may differ from the original owner's",
              partition_, processor_->last_offset() + 1, commands->front().offset - 1);
        }
        std::lock_guard<std::shared_timed_mutex> state(state_mu_);
        for (const auto& r : *commands) ApplyRecord(r, /*live=*/false);
        replayed = commands->size();
      }
      HandToTail();
    }
    if (status.ok()) {
      const double took = Seconds(Clock::now() - started);
      spdlog::info(
          "partition {}: recovered at offset {} ({} domains, {} commands replayed) in {:.3f} s",
          partition_, processor_->last_offset(), processor_->domain_count(), replayed, took);
      if (options_.metrics != nullptr) options_.metrics->Recovered(took, replayed);
      GiveWriterBase(restored_offset);
      last_report_ = Clock::time_point();
      committable_.store(processor_->last_offset() + 1);
      SetReady(true);
      return true;
    }
    spdlog::warn("partition {}: recovery failed, retrying in {} ms: {}", partition_,
                 backoff.count(), status.ToString());
    if (!WaitStoppable(backoff)) return false;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

absl::Status PartitionWorker::ReadBackEvents() {
  if (options_.tail == nullptr || options_.tail_read_back <= 0) return absl::OkStatus();
  absl::StatusOr<std::vector<kafka_io::Record>> records =
      kafka_io::ReadPartition(options_.kafka, kEventsTopic, partition_,
                              RD_KAFKA_OFFSET_TAIL(options_.tail_read_back), options_.read_timeout);
  if (!records.ok()) return records.status();
  const int64_t oldest_ms =
      WallMs() -
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.tail->retention()).count();
  std::vector<std::string> events;
  events.reserve(records->size());
  for (auto& r : *records) {
    if (r.timestamp_ms >= 0 && r.timestamp_ms < oldest_ms) continue;
    events.push_back(std::move(r.value));
  }
  options_.tail->Add(std::move(events));
  return absl::OkStatus();
}

void PartitionWorker::HandToTail() {
  if (options_.tail == nullptr || tail_batch_.empty()) return;
  options_.tail->Add(std::exchange(tail_batch_, {}));
}

void PartitionWorker::ApplyRecord(const kafka_io::Record& record, bool live,
                                  std::vector<AppliedRecord>* applied) {
  if (record.offset <= processor_->last_offset()) return;  // overlap with snapshot/replay
  v1::RoutingCommand command;
  if (!command.ParseFromString(record.value) || command.tenant_id().empty()) {
    processor_->Skip(record.offset);
    if (options_.metrics != nullptr) options_.metrics->MalformedRecord();
    spdlog::warn("partition {}: offset {} is not a routing command; skipped", partition_,
                 record.offset);
    if (applied != nullptr) applied->push_back(AppliedRecord{record.offset, std::nullopt});
    return;
  }
  events_.clear();
  const auto t0 = Clock::now();
  processor_->Apply(record.offset, command, &events_);
  const double apply_s = Seconds(Clock::now() - t0);
  if (options_.metrics != nullptr && live) {
    const int64_t now_ms = WallMs();
    const double lag_s =
        (now_ms - google::protobuf::util::TimeUtil::TimestampToMilliseconds(command.time())) /
        1000.0;
    options_.metrics->CommandApplied(KindOf(command), apply_s, lag_s);
    for (const auto& e : events_) {
      if (e.has_command_rejected())
        options_.metrics->CommandRejected(e.command_rejected().reason());
      if (e.has_offer_created()) {
        const double waited_s =
            google::protobuf::util::TimeUtil::DurationToMilliseconds(e.offer_created().waited()) /
            1000.0;
        options_.metrics->OfferLatency(waited_s + std::max(0.0, lag_s));
      }
    }
  }
  Publish(events_);
  if (applied != nullptr) applied->push_back(AppliedRecord{record.offset, std::move(command)});
}

void PartitionWorker::Publish(const std::vector<v1::RoutingEvent>& events) {
  if (events.empty()) return;
  for (const auto& e : events) {
    int64_t seq;
    {
      std::lock_guard<std::mutex> l(in_flight_->mu);
      seq = in_flight_->next_seq++;
      in_flight_->outstanding.insert(in_flight_->outstanding.end(), seq);
    }
    std::shared_ptr<InFlight> in_flight = in_flight_;
    RoutingMetrics* metrics = options_.metrics;
    std::string bytes = e.SerializeAsString();
    absl::Status s = options_.producer->ProduceAsync(
        kEventsTopic, e.tenant_id(), bytes,
        [in_flight, metrics, seq](absl::StatusOr<kafka_io::RecordPosition> pos) {
          {
            std::lock_guard<std::mutex> l(in_flight->mu);
            in_flight->outstanding.erase(seq);
            if (!pos.ok()) in_flight->failed = true;
          }
          if (metrics != nullptr) {
            if (pos.ok()) {
              metrics->EventsPublished(1);
            } else {
              metrics->EventPublishFailed();
            }
          }
          in_flight->cv.notify_all();
        },
        partition_);
    if (!s.ok()) {
      std::lock_guard<std::mutex> l(in_flight_->mu);
      in_flight_->outstanding.erase(seq);
      in_flight_->failed = true;
      if (options_.metrics != nullptr) options_.metrics->EventPublishFailed();
    }
    // Watchers see it once its batch is applied (HandToTail): should this replica die before
    // the broker has it, the next owner's replay of the (durable) command publishes the same
    // event, with the same id.
    if (options_.tail != nullptr) tail_batch_.push_back(std::move(bytes));
  }
}

bool PartitionWorker::WaitDelivered(std::chrono::milliseconds timeout, int64_t through) {
  std::unique_lock<std::mutex> l(in_flight_->mu);
  const auto& outstanding = in_flight_->outstanding;
  return in_flight_->cv.wait_for(l, timeout, [&] {
    return in_flight_->failed || outstanding.empty() || *outstanding.begin() > through;
  }) && !in_flight_->failed;
}

void PartitionWorker::MaybeTick() {
  auto due = processor_->NextDue();
  if (!due.has_value() || due->at_ms > WallMs()) return;
  v1::RoutingCommand tick = processor_->MakeTick(*due);
  const auto now = Clock::now();
  // The tick comes back through the log; send it again only if it seems lost.
  if (tick.command_id() == last_tick_id_ && now - last_tick_sent_ < std::chrono::seconds(2)) {
    return;
  }
  last_tick_id_ = tick.command_id();
  last_tick_sent_ = now;
  absl::Status s = options_.producer->ProduceAsync(
      kCommandsTopic, tick.tenant_id(), tick.SerializeAsString(),
      [](absl::StatusOr<kafka_io::RecordPosition>) {}, partition_);
  if (s.ok() && options_.metrics != nullptr) options_.metrics->TickAppended();
}

int64_t PartitionWorker::LastEventSeq() {
  std::lock_guard<std::mutex> l(in_flight_->mu);
  return in_flight_->next_seq - 1;
}

void PartitionWorker::GiveWriterBase(std::optional<int64_t> snapshotted_through) {
  Base base;
  base.snapshotted_through = snapshotted_through;
  base.snapshot = processor_->Snapshot();  // the writer copies from here on
  base.events_through = LastEventSeq();
  {
    std::lock_guard<std::mutex> lock(writer_mu_);
    writer_base_ = std::move(base);
    writer_queue_.clear();
    writer_queued_records_ = 0;
  }
  writer_cv_.notify_all();
}

void PartitionWorker::GiveWriter(std::vector<AppliedRecord> applied) {
  if (applied.empty()) return;  // all overlapped what the state had
  const int64_t events_through = LastEventSeq();
  bool full = false;
  {
    std::lock_guard<std::mutex> lock(writer_mu_);
    full = writer_queued_records_ + applied.size() > options_.max_writer_backlog;
    if (!full) {
      writer_queued_records_ += applied.size();
      writer_queue_.push_back(Applied{std::move(applied), events_through});
    }
  }
  if (full) {  // a fresh copy (which includes `applied`) replaces the backlog
    writer_rebases_.fetch_add(1);
    spdlog::warn(
        "partition {}: the snapshot writer is more than {} commands behind; it gets a fresh copy "
        "of the state",
        partition_, options_.max_writer_backlog);
    GiveWriterBase(std::nullopt);
    return;
  }
  writer_cv_.notify_all();
}

void PartitionWorker::DropWriterCopy() {
  std::unique_lock<std::mutex> lock(writer_mu_);
  writer_drop_ = true;
  writer_base_.reset();
  writer_queue_.clear();
  writer_queued_records_ = 0;
  writer_cv_.notify_all();
  writer_cv_.wait(lock, [&] { return !writer_drop_ && !writer_busy_; });
}

void PartitionWorker::FinalSnapshot() {
  std::unique_lock<std::mutex> lock(writer_mu_);
  writer_final_ = true;
  writer_final_done_ = false;
  writer_cv_.notify_all();
  writer_cv_.wait(lock, [&] { return writer_final_done_; });
}

void PartitionWorker::WriterMain() {
  std::unique_lock<std::mutex> lock(writer_mu_);
  while (true) {
    const auto has_work = [&] {
      return writer_stop_ || writer_drop_ || writer_base_.has_value() || !writer_queue_.empty() ||
             writer_final_;
    };
    if (copy_ != nullptr) {
      writer_cv_.wait_until(lock, last_snapshot_ + options_.snapshot_interval, has_work);
    } else {
      writer_cv_.wait(lock, has_work);
    }
    if (writer_stop_) return;
    if (writer_drop_) {
      copy_.reset();
      writer_drop_ = false;
      writer_cv_.notify_all();
    }
    std::optional<Base> base = std::move(writer_base_);
    writer_base_.reset();
    std::deque<Applied> work;
    work.swap(writer_queue_);
    writer_queued_records_ = 0;
    const bool final = writer_final_;
    writer_busy_ = true;
    lock.unlock();

    if (base.has_value()) {
      copy_ = std::make_unique<PartitionProcessor>(partition_, options_.engine);
      absl::Status s = copy_->Restore(base->snapshot);
      if (!s.ok()) {  // cannot happen: the snapshot was just made by the same code
        spdlog::error("partition {}: the snapshot writer could not copy the state: {}", partition_,
                      s.ToString());
        copy_.reset();
      }
      copy_events_through_ = base->events_through;
      if (base->snapshotted_through.has_value()) {  // a recovery: a new start
        snapshotted_through_ = *base->snapshotted_through;
        last_snapshot_ = Clock::now();
        last_write_failed_ = false;
      }
    }
    if (copy_ != nullptr) {
      for (const Applied& a : work) {
        for (const auto& r : a.records) ApplyToCopy(r);
        copy_events_through_ = a.events_through;
      }
      if (SnapshotDue(Clock::now(), final)) last_write_failed_ = !WriteSnapshot();
    }

    lock.lock();
    writer_busy_ = false;
    if (final) {
      writer_final_ = false;
      writer_final_done_ = true;
    }
    writer_cv_.notify_all();
  }
}

void PartitionWorker::ApplyToCopy(const AppliedRecord& record) {
  if (record.offset <= copy_->last_offset()) return;  // the base already had it
  if (!record.command.has_value()) {
    copy_->Skip(record.offset);  // as the worker did
    return;
  }
  discarded_.clear();
  copy_->Apply(record.offset, *record.command, &discarded_);
}

bool PartitionWorker::SnapshotDue(Clock::time_point now, bool final) const {
  const int64_t applied = copy_->last_offset() - snapshotted_through_;  // commands, skipped too
  if (applied <= 0 && !last_write_failed_) return false;
  if (final) return true;
  // After a failure, retry on the interval only (not on every batch).
  return now - last_snapshot_ >= options_.snapshot_interval ||
         (applied >= options_.snapshot_every && !last_write_failed_);
}

bool PartitionWorker::WriteSnapshot() {
  const auto started = Clock::now();
  last_snapshot_ = started;
  const v1::PartitionSnapshot snapshot = copy_->Snapshot();
  const auto t_built = Clock::now();
  if (!WaitDelivered(std::chrono::seconds(30), copy_events_through_)) {
    spdlog::warn("partition {}: events not acknowledged; snapshot postponed", partition_);
    if (options_.metrics != nullptr) options_.metrics->SnapshotFailed();
    return false;
  }
  const auto t_delivered = Clock::now();
  const std::string id = absl::StrCat(options_.replica_id, "/", partition_, "/", ++snapshot_seq_);
  const auto chunks = SplitSnapshot(snapshot, id, options_.max_chunk_bytes);
  const auto t_split = Clock::now();
  size_t bytes = 0;
  for (const auto& c : chunks) {
    bytes += c.data().size();
    auto pos = options_.snapshot_producer->Produce(kSnapshotsTopic, ChunkKey(c),
                                                   c.SerializeAsString(), partition_);
    if (!pos.ok()) {
      spdlog::warn("partition {}: snapshot not written: {}", partition_, pos.status().ToString());
      if (options_.metrics != nullptr) options_.metrics->SnapshotFailed();
      return false;
    }
  }
  snapshotted_through_ = snapshot.command_offset();
  committable_.store(snapshot.command_offset() + 1);
  spdlog::debug(
      "partition {}: snapshot at offset {}: {} bytes in {} chunks; built {:.1f} ms, waited for "
      "events {:.1f} ms, serialized {:.1f} ms, written {:.1f} ms (writer thread)",
      partition_, snapshot.command_offset(), bytes, chunks.size(),
      1000 * Seconds(t_built - started), 1000 * Seconds(t_delivered - t_built),
      1000 * Seconds(t_split - t_delivered), 1000 * Seconds(Clock::now() - t_split));
  if (options_.metrics != nullptr) {
    options_.metrics->SnapshotWritten(bytes, Seconds(Clock::now() - started));
  }
  return true;
}

void PartitionWorker::ReportTenants() {
  last_report_ = Clock::now();
  if (options_.metrics == nullptr) return;
  processor_->ForEachDomain([&](const Engine& engine) {
    options_.metrics->SetTenant(engine.tenant_id(), engine.Stats());
  });
}

}  // namespace sb::routing
