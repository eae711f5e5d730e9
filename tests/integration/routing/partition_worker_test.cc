// PartitionWorker against a real sb-embedded-broker, without the rest of sb-routing: the
// snapshots its writer thread makes from a copy of the state (fed the records the worker
// applied) equal the worker's own state, periodic ones and the final one alike, and every event
// of the applied commands is published.
#include "routing/service/partition_worker.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/kafka/test_broker.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "routing/client/routing_client.h"
#include "routing/engine/engine_test_util.h"
#include "routing/service/snapshot_chunks.h"

namespace sb::routing {
namespace {

using kafka_io::testing::TestBroker;
using Clock = std::chrono::steady_clock;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A tenant's log at the current time: a queue, agents who log in, calls that are offered and
// queued. Offers time out only after ten minutes, so the worker appends no Tick during the test.
std::vector<v1::RoutingCommand> TenantLog(const std::string& tenant, int agents, int calls) {
  const int64_t t = WallMs();
  std::vector<v1::RoutingCommand> log;
  auto q = test::CommandAt(tenant, "q", t);
  auto* queue = q.mutable_upsert_queue()->mutable_queue();
  queue->set_queue_id("support");
  queue->set_channel(v1::CHANNEL_VOICE);
  queue->set_strategy(v1::STRATEGY_LONGEST_IDLE);
  queue->mutable_offer_timeout()->set_seconds(600);
  log.push_back(q);
  for (int i = 0; i < agents; ++i) {
    const std::string agent = absl::StrCat("agent-", i);
    auto a = test::CommandAt(tenant, "upsert-" + agent, t);
    a.mutable_upsert_agent()->mutable_profile()->set_agent_id(agent);
    auto* skill = a.mutable_upsert_agent()->mutable_profile()->add_skills();
    skill->set_name("support");
    skill->set_proficiency(3);
    log.push_back(a);
    auto l = test::CommandAt(tenant, "login-" + agent, t);
    l.mutable_login()->set_agent_id(agent);
    log.push_back(l);
  }
  for (int i = 0; i < calls; ++i) {
    auto e = test::CommandAt(tenant, absl::StrCat("enqueue-", i), t + i);
    e.mutable_enqueue()->set_interaction_id(absl::StrCat("call-", i));
    e.mutable_enqueue()->set_queue_id("support");
    log.push_back(e);
  }
  return log;
}

bool Same(const google::protobuf::Message& a, const google::protobuf::Message& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

// Sends ~280 commands through a worker whose writer may queue `max_writer_backlog` of them and
// checks the worker's state, every snapshot written, the committable offset and the events.
void CheckSnapshotsEqualState(size_t max_writer_backlog) {
  auto broker = TestBroker::Start(1);
  ASSERT_TRUE(broker.ok()) << broker.status();
  kafka_io::KafkaConfig kafka;
  kafka.bootstrap_servers = (*broker)->bootstrap();
  kafka_io::ProducerOptions po;
  po.kafka = kafka;
  auto producer = kafka_io::Producer::Create(po);
  ASSERT_TRUE(producer.ok()) << producer.status();
  auto snapshot_producer = kafka_io::Producer::Create(po);
  ASSERT_TRUE(snapshot_producer.ok()) << snapshot_producer.status();

  std::mutex mu;
  std::condition_variable cv;
  WorkerOptions o;
  o.kafka = kafka;
  o.producer = producer->get();
  o.snapshot_producer = snapshot_producer->get();
  o.replica_id = "worker-test";
  o.snapshot_interval = std::chrono::hours(1);  // by count only, so the test decides when
  o.snapshot_every = 40;
  o.max_writer_backlog = max_writer_backlog;
  o.on_ready_change = [&] {
    std::lock_guard<std::mutex> lock(mu);
    cv.notify_all();
  };
  PartitionWorker worker(0, o);
  worker.Start();
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return worker.ready(); }))
        << "the worker did not recover an empty partition";
  }

  // The commands go to the log first (as the group consumer would read them), then to the worker
  // in batches of uneven sizes. A reference processor applies the same records and keeps its
  // state after each one, to check every snapshot the worker writes.
  PartitionProcessor reference(0);
  std::map<int64_t, v1::PartitionSnapshot> reference_at;  // by command offset
  std::vector<v1::RoutingEvent> expected_events;
  int64_t last_offset = -1;
  const auto send = [&](const std::vector<v1::RoutingCommand>& log) {
    std::vector<kafka_io::Record> batch;
    for (size_t i = 0; i < log.size(); ++i) {
      const std::string value = log[i].SerializeAsString();
      auto pos = (*producer)->Produce(kCommandsTopic, log[i].tenant_id(), value, 0);
      ASSERT_TRUE(pos.ok()) << pos.status();
      ASSERT_TRUE(reference.Apply(pos->offset, log[i], &expected_events));
      reference_at[pos->offset] = reference.Snapshot();
      kafka_io::Record r;
      r.topic = std::string(kCommandsTopic);
      r.offset = pos->offset;
      r.key = log[i].tenant_id();
      r.value = value;
      batch.push_back(std::move(r));
      last_offset = pos->offset;
      if (batch.size() == 1 + i % 9 || i + 1 == log.size()) {
        worker.Push(std::move(batch));
        batch.clear();
      }
    }
  };
  // The worker's own state, read as gRPC handlers read it, once it has applied `through`.
  const auto worker_state = [&](int64_t through) -> std::optional<v1::PartitionSnapshot> {
    std::optional<v1::PartitionSnapshot> state;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!state.has_value() && Clock::now() < deadline) {
      absl::Status s = worker.Run(
          [&](const PartitionProcessor& p) {
            if (p.last_offset() == through) state = p.Snapshot();
          },
          std::chrono::seconds(5));
      if (!s.ok()) ADD_FAILURE() << s;
    }
    return state;
  };

  // 1. Far more than `snapshot_every` commands: the writer snapshots on its own.
  std::vector<v1::RoutingCommand> log = TenantLog("acme", 30, 60);
  for (const auto& c : TenantLog("globex", 20, 50)) log.push_back(c);
  send(log);
  ASSERT_GE(static_cast<int64_t>(log.size()), 5 * o.snapshot_every);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (worker.committable_offset() <= 0 && Clock::now() < deadline) std::this_thread::yield();
  ASSERT_GT(worker.committable_offset(), 0) << "no periodic snapshot was written";
  auto state = worker_state(last_offset);
  ASSERT_TRUE(state.has_value()) << "the worker did not apply every record";
  EXPECT_TRUE(Same(*state, reference.Snapshot()));

  // 2. A few more (fewer than `snapshot_every`): only the final snapshot at Stop covers them.
  send(TenantLog("initech", 2, 3));
  state = worker_state(last_offset);
  ASSERT_TRUE(state.has_value()) << "the worker did not apply every record";
  EXPECT_TRUE(Same(*state, reference.Snapshot()));
  worker.Stop();

  // Every snapshot written equals the reference's state at its offset; the newest is at the end.
  auto chunks = kafka_io::ReadPartition(kafka, kSnapshotsTopic, 0, RD_KAFKA_OFFSET_BEGINNING,
                                        std::chrono::seconds(30));
  ASSERT_TRUE(chunks.ok()) << chunks.status();
  std::map<std::string, SnapshotAssembler> by_id;
  for (const auto& r : *chunks) {
    v1::SnapshotChunk chunk;
    ASSERT_TRUE(chunk.ParseFromString(r.value));
    by_id[chunk.snapshot_id()].Add(chunk);
  }
  EXPECT_GE(by_id.size(), 2u);  // at least one periodic, and the final one
  int64_t newest = -1;
  for (const auto& [id, assembler] : by_id) {
    auto snapshot = assembler.Latest();
    ASSERT_TRUE(snapshot.ok()) << id << ": " << snapshot.status();
    ASSERT_TRUE(snapshot->has_value()) << id << " is incomplete";
    const int64_t at = (*snapshot)->command_offset();
    ASSERT_TRUE(reference_at.contains(at)) << id << " at offset " << at;
    EXPECT_TRUE(Same(**snapshot, reference_at[at])) << id << " at offset " << at;
    newest = std::max(newest, at);
  }
  EXPECT_EQ(newest, last_offset);
  EXPECT_EQ(worker.committable_offset(), last_offset + 1);

  // Every event was published (the final snapshot waited for all of them), in order.
  auto events = kafka_io::ReadPartition(kafka, kEventsTopic, 0, RD_KAFKA_OFFSET_BEGINNING,
                                        std::chrono::seconds(30));
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), expected_events.size());
  for (size_t i = 0; i < events->size(); ++i) {
    v1::RoutingEvent e;
    ASSERT_TRUE(e.ParseFromString((*events)[i].value)) << "event " << i;
    EXPECT_TRUE(Same(e, expected_events[i])) << "event " << i << ": " << e.ShortDebugString();
  }
  // Batches are of 1 to 9 records: with a backlog of 3, every batch of 4 or more replaces the
  // writer's queue with a fresh copy, whatever the threads' timing.
  if (max_writer_backlog < 4) {
    EXPECT_GT(worker.writer_rebases(), 0);
  } else {
    EXPECT_EQ(worker.writer_rebases(), 0);
  }
}

TEST(PartitionWorkerTest, SnapshotsMadeOffTheWorkerThreadEqualItsState) {
  CheckSnapshotsEqualState(WorkerOptions().max_writer_backlog);
}

// The writer's backlog is bounded: past it, the worker hands the writer a fresh copy of its
// state, and the snapshots made from it are as right as those made from the queue.
TEST(PartitionWorkerTest, AWriterFarBehindGetsAFreshCopyAndItsSnapshotsStayRight) {
  CheckSnapshotsEqualState(3);
}

}  // namespace
}  // namespace sb::routing
