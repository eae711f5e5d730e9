// PartitionWorker: the owner of one partition of sb.routing.commands.v1 inside sb-routing.
//
// One thread per owned partition (DESIGN §2: a domain is applied by exactly one thread). On start
// it recovers: reads the newest complete snapshot from sb.routing.snapshots.v1 (same partition),
// replays the commands after it (re-publishing their events: consumers dedupe by event id), and
// becomes ready. Then it applies the records the service's group consumer hands it, publishes
// each command's events to sb.routing.events.v1 (same partition, key = tenant), appends Tick
// commands when a timer is due, and writes a snapshot every `snapshot_interval` or
// `snapshot_every` commands — only once every earlier event is acknowledged, so a snapshot never
// covers an event that could be lost. Snapshots are made off the worker thread: a writer thread
// keeps a shadow copy of the partition's state, fed the commands the worker applied (the engine is
// deterministic, so the copy equals the original), builds each snapshot from it, waits for the
// events before it and produces it. The worker thread never stops its commands to copy the state
// (building one took 7-30 ms at 2,000 agents per partition; that was the p99 of enqueue->offer).
// If the broker fails to take an event, the worker drops its state and recovers again from the
// last snapshot, which re-publishes what may be missing, and gives the writer a fresh copy.
// Stop() (partition revoked, shutdown) writes a final snapshot so the next owner starts there.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/kafka/config.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "routing/service/metrics.h"
#include "routing/service/partition.h"

namespace sb::routing {

class EventTail;

struct WorkerOptions {
  kafka_io::KafkaConfig kafka;                      // for the snapshot and replay readers
  kafka_io::Producer* producer = nullptr;           // events, ticks; not owned
  kafka_io::Producer* snapshot_producer = nullptr;  // snapshots; not owned
  RoutingMetrics* metrics = nullptr;                // not owned
  std::string replica_id;                           // makes snapshot ids unique
  std::chrono::milliseconds snapshot_interval{5000};
  int64_t snapshot_every = 10000;  // commands
  size_t max_chunk_bytes = 512 * 1024;
  // Applied commands the writer may have queued (it falls behind while a broker outage holds
  // its snapshot write: up to 30 s for the events plus 30 s for the write). Beyond this, the
  // worker hands it a fresh copy of the state instead (one snapshot build on the worker thread,
  // 7-30 ms at 2,000 agents per partition), so memory stays bounded.
  size_t max_writer_backlog = 200000;
  std::chrono::milliseconds read_timeout{60000};  // one snapshot/replay read
  // Where the events published go as well, for Watch (not owned; null: nowhere). At
  // the first recovery of this ownership, the partition's last `tail_read_back` events are read
  // back into it (a re-recovery after a failed publish does not repeat that).
  EventTail* tail = nullptr;
  int64_t tail_read_back = 50000;
  EngineOptions engine;
  // Called (from the worker thread) when the worker becomes ready or stops being ready.
  std::function<void()> on_ready_change;
};

class PartitionWorker {
 public:
  using Task = std::function<void(const PartitionProcessor&)>;

  PartitionWorker(int32_t partition, WorkerOptions options);
  ~PartitionWorker();  // Stop()s
  PartitionWorker(const PartitionWorker&) = delete;
  PartitionWorker& operator=(const PartitionWorker&) = delete;

  void Start();
  // Hands over records of this partition, in offset order (any thread).
  void Push(std::vector<kafka_io::Record> records);
  // Runs `task` on the calling thread, between two batches of the worker's commands (under a
  // shared lock: many callers at once, none while the worker applies). UNAVAILABLE
  // "RECOVERING: ..." if the partition is not ready, "NOT_OWNER: ..." once it is being handed
  // over, DEADLINE_EXCEEDED if the state could not be read within `timeout`.
  absl::Status Run(Task task, std::chrono::milliseconds timeout);
  // Run's answer before it takes the lock: OK, "RECOVERING: ..." or "NOT_OWNER: ..." (for a
  // caller that only needs to know whether this replica serves the partition now).
  absl::Status CheckReady() const;
  // Stops applying, waits for the events in flight and writes a final snapshot (if anything was
  // applied since the last one). Returns once the thread has ended. Idempotent.
  void Stop();

  int32_t partition() const { return partition_; }
  bool ready() const { return ready_.load(); }
  // The offset the group may commit: one past the last snapshot's command offset (-1: none).
  int64_t committable_offset() const { return committable_.load(); }
  // How many times the writer was given a fresh copy because its backlog was full.
  int64_t writer_rebases() const { return writer_rebases_.load(); }

 private:
  // Delivery bookkeeping shared with the producer's callbacks (which may outlive this object
  // only if Stop() gave up waiting; hence shared_ptr).
  struct InFlight {
    std::mutex mu;
    std::condition_variable cv;
    int64_t next_seq = 0;           // of the next event produced
    std::set<int64_t> outstanding;  // sequence numbers not yet acknowledged
    bool failed = false;
  };

  // A record the worker applied, as it parsed it (no command: not a routing command, skipped).
  struct AppliedRecord {
    int64_t offset = -1;
    std::optional<v1::RoutingCommand> command;
  };
  // Records the worker applied, for the writer's copy; their events have sequence numbers up to
  // `events_through`.
  struct Applied {
    std::vector<AppliedRecord> records;
    int64_t events_through = -1;
  };
  // The state the writer's copy starts from (after each recovery, or when its backlog is full).
  struct Base {
    v1::PartitionSnapshot snapshot;
    int64_t events_through = -1;
    // After a recovery: the offset the newest snapshot in the log covers (-1: none). Not set
    // for a backlog's fresh copy: the writer keeps counting from its own last snapshot.
    std::optional<int64_t> snapshotted_through;
  };

  void Main();
  bool Recover();  // false if stopped before it finished
  // After a restore, before the replay: the partition's last events into the tail (for Watch).
  absl::Status ReadBackEvents();
  // The events published since the last call, to the tail in one hand-over (one lock and at
  // most one wake-up per applied batch, outside the state lock).
  void HandToTail();
  // Applies `record` unless it is at or before the state's offset; with `applied`, appends it
  // there as parsed (for the writer's copy).
  void ApplyRecord(const kafka_io::Record& record, bool live,
                   std::vector<AppliedRecord>* applied = nullptr);
  void Publish(const std::vector<v1::RoutingEvent>& events);
  // Waits until every event with a sequence number <= `through` (default: every event produced so
  // far) is acknowledged; false on timeout or as soon as one failed.
  bool WaitDelivered(std::chrono::milliseconds timeout,
                     int64_t through = std::numeric_limits<int64_t>::max());
  void MaybeTick();
  int64_t LastEventSeq();

  // Worker-thread side of the writer.
  void GiveWriterBase(std::optional<int64_t> snapshotted_through);
  void GiveWriter(std::vector<AppliedRecord> applied);  // after applying a batch
  void DropWriterCopy();                                // before a recovery; waits for it
  void FinalSnapshot();                                 // at Stop; waits for it

  // Writer thread.
  void WriterMain();
  void ApplyToCopy(const AppliedRecord& record);
  bool SnapshotDue(std::chrono::steady_clock::time_point now, bool final) const;
  // Builds a snapshot of the copy, waits for the delivery of the events before it and writes it.
  bool WriteSnapshot();
  void ReportTenants();
  void SetReady(bool ready);
  absl::Status Recovering() const;  // UNAVAILABLE "RECOVERING: ..."
  bool WaitStoppable(std::chrono::milliseconds d);

  const int32_t partition_;
  const WorkerOptions options_;
  // Changed by the worker thread only, under an exclusive `state_mu_`; read by the worker without
  // it and by Run() callers under a shared one.
  std::unique_ptr<PartitionProcessor> processor_;
  std::shared_timed_mutex state_mu_;
  std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<kafka_io::Record> inbox_;  // guarded by mu_
  bool stop_ = false;                   // guarded by mu_

  std::atomic<bool> ready_{false};
  bool events_read_back_ = false;  // worker thread only: ReadBackEvents done for this ownership
  std::atomic<int64_t> committable_{-1};
  std::thread thread_;

  // Hand-off between the worker and the writer thread, guarded by writer_mu_.
  std::mutex writer_mu_;
  std::condition_variable writer_cv_;
  std::optional<Base> writer_base_;
  std::deque<Applied> writer_queue_;
  size_t writer_queued_records_ = 0;  // in writer_queue_
  std::atomic<int64_t> writer_rebases_{0};
  bool writer_drop_ = false;        // forget the copy (the worker is recovering)
  bool writer_busy_ = false;        // work in hand, outside the lock
  bool writer_final_ = false;       // asked for the final snapshot
  bool writer_final_done_ = false;  // ... and it is done (written, or not needed, or failed)
  bool writer_stop_ = false;
  std::thread writer_;
  bool started_ = false;

  // Writer-thread state: the copy of the partition's state.
  std::unique_ptr<PartitionProcessor> copy_;
  int64_t copy_events_through_ = -1;
  int64_t snapshotted_through_ = -1;                     // offset of the newest snapshot in the log
  std::chrono::steady_clock::time_point last_snapshot_;  // last attempt (paces retries)
  bool last_write_failed_ = false;
  int64_t snapshot_seq_ = 0;                 // numbers the snapshots written (ids)
  std::vector<v1::RoutingEvent> discarded_;  // scratch: the copy's events

  // Worker-thread state.
  std::chrono::steady_clock::time_point last_report_;
  std::string last_tick_id_;
  std::chrono::steady_clock::time_point last_tick_sent_;
  std::vector<v1::RoutingEvent> events_;  // scratch
  std::vector<std::string> tail_batch_;   // worker thread: serialized events for HandToTail
};

}  // namespace sb::routing
