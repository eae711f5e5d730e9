#include "routing/service/partition.h"

#include <gtest/gtest.h>

#include <set>

#include "routing/engine/engine_test_util.h"
#include "routing/service/snapshot_chunks.h"

namespace sb::routing {
namespace {

constexpr int64_t kT0 = 1'700'000'000'000;

// A small tenant log: a queue, two agents, calls arriving; offers left to time out.
std::vector<v1::RoutingCommand> TenantLog(const std::string& tenant, int calls) {
  std::vector<v1::RoutingCommand> log;
  int64_t t = kT0;
  auto q = test::CommandAt(tenant, "q", t);
  auto* queue = q.mutable_upsert_queue()->mutable_queue();
  queue->set_queue_id("support");
  queue->set_channel(v1::CHANNEL_VOICE);
  queue->set_strategy(v1::STRATEGY_LONGEST_IDLE);
  queue->mutable_offer_timeout()->set_seconds(10);
  log.push_back(q);
  for (const char* agent : {"ann", "bob"}) {
    auto a = test::CommandAt(tenant, std::string("agent-") + agent, t);
    a.mutable_upsert_agent()->mutable_profile()->set_agent_id(agent);
    log.push_back(a);
    auto l = test::CommandAt(tenant, std::string("login-") + agent, t);
    l.mutable_login()->set_agent_id(agent);
    log.push_back(l);
  }
  for (int i = 0; i < calls; ++i) {
    t += 4000;
    auto e = test::CommandAt(tenant, "enq-" + std::to_string(i), t);
    e.mutable_enqueue()->set_interaction_id("call-" + std::to_string(i));
    e.mutable_enqueue()->set_queue_id("support");
    log.push_back(e);
  }
  return log;
}

std::string Bytes(const google::protobuf::Message& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

TEST(PartitionProcessor, StampsDeterministicEventIds) {
  PartitionProcessor p(3);
  std::vector<v1::RoutingEvent> events;
  auto log = TenantLog("acme", 1);
  for (size_t i = 0; i < log.size(); ++i) p.Apply(100 + static_cast<int64_t>(i), log[i], &events);
  ASSERT_FALSE(events.empty());
  std::set<std::string> ids;
  for (const auto& e : events) {
    EXPECT_EQ(e.partition(), 3);
    EXPECT_EQ(e.event_id(), std::to_string(e.partition()) + "/" +
                                std::to_string(e.command_offset()) + "/" +
                                std::to_string(e.index()));
    EXPECT_TRUE(ids.insert(e.event_id()).second) << "duplicate id " << e.event_id();
  }
  EXPECT_EQ(p.last_offset(), 100 + static_cast<int64_t>(log.size()) - 1);
}

TEST(PartitionProcessor, SkipsOffsetsAlreadyApplied) {
  PartitionProcessor p(0);
  std::vector<v1::RoutingEvent> events;
  auto log = TenantLog("acme", 1);
  EXPECT_TRUE(p.Apply(5, log[0], &events));
  const size_t n = events.size();
  EXPECT_FALSE(p.Apply(5, log[0], &events));
  EXPECT_FALSE(p.Apply(4, log[1], &events));
  EXPECT_EQ(events.size(), n);
  EXPECT_EQ(p.last_offset(), 5);
}

TEST(PartitionProcessor, KeepsTenantsApart) {
  PartitionProcessor p(0);
  std::vector<v1::RoutingEvent> events;
  int64_t offset = 0;
  for (const auto& c : TenantLog("acme", 1)) p.Apply(offset++, c, &events);
  for (const auto& c : TenantLog("globex", 3)) p.Apply(offset++, c, &events);
  EXPECT_EQ(p.domain_count(), 2u);
  ASSERT_NE(p.FindDomain("acme"), nullptr);
  ASSERT_NE(p.FindDomain("globex"), nullptr);
  EXPECT_EQ(p.FindDomain("acme")->Stats().interactions, 1);
  EXPECT_EQ(p.FindDomain("globex")->Stats().interactions, 3);
  for (const auto& e : events) EXPECT_TRUE(e.tenant_id() == "acme" || e.tenant_id() == "globex");
}

TEST(PartitionProcessor, NextDueAndTicksFireTimersAcrossTenants) {
  PartitionProcessor p(0);
  std::vector<v1::RoutingEvent> events;
  int64_t offset = 0;
  for (const auto& c : TenantLog("acme", 1)) p.Apply(offset++, c, &events);
  auto due = p.NextDue();
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->tenant_id, "acme");
  EXPECT_EQ(due->at_ms, kT0 + 4000 + 10000);  // the offer made at +4 s times out after 10 s

  // The tick's id depends on the state: the same for two owners in it, new after it is applied.
  const v1::RoutingCommand tick = p.MakeTick(*due);
  EXPECT_EQ(Bytes(tick), Bytes(p.MakeTick(*due)));
  events.clear();
  p.Apply(offset++, tick, &events);
  bool timed_out = false;
  for (const auto& e : events) timed_out |= e.has_offer_timed_out();
  EXPECT_TRUE(timed_out);
  auto next = p.NextDue();
  ASSERT_TRUE(next.has_value());  // the call went to the other agent, whose offer will time out
  EXPECT_GT(next->at_ms, due->at_ms);
  EXPECT_NE(p.MakeTick(*next).command_id(), tick.command_id());
}

TEST(PartitionProcessor, SnapshotThenReplayEqualsUninterruptedRun) {
  std::vector<v1::RoutingCommand> log = TenantLog("acme", 6);
  for (const auto& c : TenantLog("globex", 4)) log.push_back(c);
  for (size_t k = 0; k < log.size(); k += 3) {
    PartitionProcessor full(7), first(7);
    std::vector<v1::RoutingEvent> expected, got, ignored;
    for (size_t i = 0; i < log.size(); ++i) {
      full.Apply(static_cast<int64_t>(i), log[i], &expected);
      if (i <= k) first.Apply(static_cast<int64_t>(i), log[i], &ignored);
    }
    PartitionProcessor restored(7);
    ASSERT_TRUE(restored.Restore(first.Snapshot()).ok());
    EXPECT_EQ(restored.last_offset(), static_cast<int64_t>(k));
    // The new owner reads the log from the start of retention: it skips what the snapshot has.
    for (size_t i = 0; i < log.size(); ++i) restored.Apply(static_cast<int64_t>(i), log[i], &got);
    const size_t skip = ignored.size();
    ASSERT_EQ(got.size() + skip, expected.size()) << "k=" << k;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(Bytes(got[i]), Bytes(expected[skip + i])) << "k=" << k << " event " << i;
    }
    EXPECT_EQ(Bytes(restored.Snapshot()), Bytes(full.Snapshot()));
  }
}

TEST(PartitionProcessor, RestoreRefusesAnotherPartitionsSnapshot) {
  PartitionProcessor a(1), b(2);
  std::vector<v1::RoutingEvent> events;
  a.Apply(0, TenantLog("acme", 1)[0], &events);
  absl::Status st = b.Restore(a.Snapshot());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(b.last_offset(), -1);
  EXPECT_EQ(b.domain_count(), 0u);
}

TEST(EventDeduplicator, AppliesEachEventOnceAcrossAFailover) {
  // The old owner ran to the end; the new one restored a snapshot taken halfway and replayed.
  // A consumer reading both streams (old first, then the new one's replay) applies each id once.
  std::vector<v1::RoutingCommand> log = TenantLog("acme", 8);
  PartitionProcessor old_owner(4), half(4);
  std::vector<v1::RoutingEvent> old_events, replay, ignored;
  for (size_t i = 0; i < log.size(); ++i) {
    old_owner.Apply(static_cast<int64_t>(i), log[i], &old_events);
    if (i < log.size() / 2) half.Apply(static_cast<int64_t>(i), log[i], &ignored);
  }
  PartitionProcessor new_owner(4);
  ASSERT_TRUE(new_owner.Restore(half.Snapshot()).ok());
  for (size_t i = 0; i < log.size(); ++i) new_owner.Apply(static_cast<int64_t>(i), log[i], &replay);
  ASSERT_FALSE(replay.empty());

  EventDeduplicator dedup;
  std::set<std::string> applied;
  for (const auto* stream : {&old_events, &replay}) {
    for (const auto& e : *stream) {
      if (dedup.Accept(e)) {
        EXPECT_TRUE(applied.insert(e.event_id()).second) << e.event_id();
      }
    }
  }
  EXPECT_EQ(applied.size(), old_events.size());
  auto mark = dedup.Watermark(4);
  ASSERT_TRUE(mark.has_value());
  EXPECT_EQ(mark->first, old_events.back().command_offset());
  EXPECT_FALSE(dedup.Watermark(5).has_value());
}

TEST(EventDeduplicator, KeepsOneWatermarkPerPartition) {
  EventDeduplicator dedup;
  v1::RoutingEvent e;
  e.set_partition(0);
  e.set_command_offset(10);
  e.set_index(2);
  EXPECT_TRUE(dedup.Accept(e));
  EXPECT_FALSE(dedup.Accept(e));
  e.set_partition(1);
  e.set_command_offset(3);
  EXPECT_TRUE(dedup.Accept(e));  // another partition: its own order
  e.set_partition(0);
  e.set_command_offset(10);
  e.set_index(1);
  EXPECT_FALSE(dedup.Accept(e));  // behind partition 0's watermark
  e.set_index(3);
  EXPECT_TRUE(dedup.Accept(e));
}

v1::PartitionSnapshot BigSnapshot(int32_t partition, int calls) {
  PartitionProcessor p(partition);
  std::vector<v1::RoutingEvent> events;
  int64_t offset = 0;
  for (const auto& c : TenantLog("acme", calls)) p.Apply(offset++, c, &events);
  return p.Snapshot();
}

TEST(SnapshotChunks, SplitAndAssembleRoundTrip) {
  const v1::PartitionSnapshot snap = BigSnapshot(3, 200);
  const std::string bytes = Bytes(snap);
  ASSERT_GT(bytes.size(), 4000u);
  auto chunks = SplitSnapshot(snap, "s1", 1000);
  EXPECT_EQ(chunks.size(), (bytes.size() + 999) / 1000);
  for (const auto& c : chunks) {
    EXPECT_LE(c.data().size(), 1000u);
    EXPECT_EQ(ChunkKey(c), "3/" + std::to_string(c.index()));
  }
  SnapshotAssembler a;
  for (const auto& c : chunks) a.Add(c);
  auto latest = a.Latest();
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ(Bytes(**latest), bytes);
}

TEST(SnapshotChunks, IncompleteSnapshotsAreSkippedAndHighestOffsetWins) {
  v1::PartitionSnapshot old_snap = BigSnapshot(0, 50);
  v1::PartitionSnapshot new_snap = BigSnapshot(0, 120);
  ASSERT_GT(new_snap.command_offset(), old_snap.command_offset());
  auto old_chunks = SplitSnapshot(old_snap, "old", 700);
  auto new_chunks = SplitSnapshot(new_snap, "new", 700);
  auto newest_chunks = SplitSnapshot(BigSnapshot(0, 150), "dead-writer", 700);
  SnapshotAssembler a;
  // Log order: the newest snapshot, then an old one from a zombie, then a half-written newer one.
  for (const auto& c : new_chunks) a.Add(c);
  for (const auto& c : old_chunks) a.Add(c);
  for (size_t i = 0; i + 1 < newest_chunks.size(); ++i) a.Add(newest_chunks[i]);
  auto latest = a.Latest();
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->command_offset(), new_snap.command_offset());
  EXPECT_EQ(Bytes(**latest), Bytes(new_snap));
}

TEST(SnapshotChunks, NothingCompleteAndBadChunks) {
  SnapshotAssembler a;
  auto none = a.Latest();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  v1::SnapshotChunk bad;
  bad.set_snapshot_id("x");
  bad.set_index(2);
  bad.set_count(2);
  a.Add(bad);
  EXPECT_EQ(a.ignored(), 1);
  v1::SnapshotChunk garbage;
  garbage.set_snapshot_id("g");
  garbage.set_count(1);
  garbage.set_data("\xff\xff\xff");
  a.Add(garbage);
  EXPECT_EQ(a.Latest().status().code(), absl::StatusCode::kDataLoss);
}

TEST(PartitionProcessor, SkipKeepsReplayAligned) {
  PartitionProcessor p(0);
  std::vector<v1::RoutingEvent> events;
  EXPECT_TRUE(p.Skip(0));
  EXPECT_FALSE(p.Skip(0));
  EXPECT_FALSE(p.Apply(0, test::CommandAt("acme", "x", kT0), &events));
  EXPECT_EQ(p.last_offset(), 0);
}

}  // namespace
}  // namespace sb::routing
