// EventTail on its own: what a watcher gets, deduplication, and what is kept how long. Events
// are fed through Add (the tail's thread); WaitIdle makes each step deterministic, and the
// clock is a fake one, so nothing here sleeps.
#include "routing/service/event_tail.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sb::routing {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

std::atomic<int64_t> g_now_ms{0};
EventTail::Clock::time_point FakeNow() {
  return EventTail::Clock::time_point(milliseconds(g_now_ms.load()));
}

EventTail::Options TestOptions(size_t max_events = 1000) {
  EventTail::Options o;
  o.max_events = max_events;
  o.retention = std::chrono::seconds(600);
  o.now = &FakeNow;
  return o;
}

v1::RoutingEvent Event(const std::string& tenant, const std::string& interaction,
                       int64_t command_offset, int32_t index = 0, bool ended = false) {
  v1::RoutingEvent e;
  e.set_tenant_id(tenant);
  e.set_partition(0);
  e.set_command_offset(command_offset);
  e.set_index(index);
  e.set_event_id(absl::StrCat("0/", command_offset, "/", index));
  if (ended) {
    e.mutable_interaction_ended()->set_interaction_id(interaction);
  } else {
    e.mutable_interaction_queued()->set_interaction_id(interaction);
  }
  return e;
}

std::vector<std::string> Ids(const std::vector<v1::RoutingEvent>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.event_id());
  return ids;
}

class EventTailTest : public ::testing::Test {
 protected:
  void SetUp() override { g_now_ms = 1'000'000'000; }
  void Add(EventTail& tail, const v1::RoutingEvent& e) {
    tail.Add(std::vector<std::string>{e.SerializeAsString()});
  }
  // What a new watcher of (tenant, interaction) gets at once.
  std::vector<std::string> Kept(EventTail& tail, const std::string& tenant,
                                const std::string& interaction) {
    tail.WaitIdle();
    auto sub = tail.Subscribe(tenant, interaction);
    std::vector<std::string> ids = Ids(sub->Next(milliseconds(0)));
    tail.Unsubscribe(tenant, interaction, sub);
    return ids;
  }
};

TEST_F(EventTailTest, AWatcherGetsTheKeptEventsThenNewOnesInOrder) {
  EventTail tail(TestOptions());
  Add(tail, Event("t1", "call-1", 10));
  Add(tail, Event("t1", "call-2", 11));
  Add(tail, Event("t2", "call-1", 12));  // another tenant's interaction of the same id
  // Several at once, as a worker hands over its applied batch.
  tail.Add(std::vector<std::string>{Event("t1", "call-1", 13, 0).SerializeAsString(),
                                    Event("t1", "call-1", 13, 1).SerializeAsString()});
  tail.WaitIdle();

  auto sub = tail.Subscribe("t1", "call-1");
  EXPECT_EQ(Ids(sub->Next(milliseconds(0))),
            (std::vector<std::string>{"0/10/0", "0/13/0", "0/13/1"}));
  Add(tail, Event("t1", "call-2", 14));
  Add(tail, Event("t1", "call-1", 15, 0, /*ended=*/true));
  tail.WaitIdle();
  const std::vector<v1::RoutingEvent> next = sub->Next(milliseconds(0));
  ASSERT_EQ(Ids(next), std::vector<std::string>{"0/15/0"});
  EXPECT_TRUE(next[0].has_interaction_ended());
  tail.Unsubscribe("t1", "call-1", sub);

  Add(tail, Event("t1", "call-1", 16));
  tail.WaitIdle();
  EXPECT_TRUE(sub->Next(milliseconds(0)).empty()) << "unsubscribed";
  EXPECT_EQ(Kept(tail, "t2", "call-1"), std::vector<std::string>{"0/12/0"});
  EXPECT_EQ(tail.retained_count(), 8u);
}

TEST_F(EventTailTest, DropsEventsItHasAlreadyHadByEventId) {
  // A new owner reads the partition's last events back, then its replay publishes the same
  // events again, with the same ids.
  EventTail tail(TestOptions());
  for (int64_t offset : {20, 21, 22}) Add(tail, Event("t1", "call-1", offset));
  for (int64_t offset : {21, 22, 23}) Add(tail, Event("t1", "call-1", offset));
  EXPECT_EQ(Kept(tail, "t1", "call-1"),
            (std::vector<std::string>{"0/20/0", "0/21/0", "0/22/0", "0/23/0"}));
  EXPECT_EQ(tail.retained_count(), 4u);
}

TEST_F(EventTailTest, IgnoresEventsNotAboutAnInteractionAndBytesThatDoNotParse) {
  EventTail tail(TestOptions());
  v1::RoutingEvent config;
  config.set_tenant_id("t1");
  config.set_command_offset(1);
  config.mutable_queue_upserted()->mutable_queue()->set_queue_id("support");
  Add(tail, config);
  tail.Add(std::vector<std::string>{"\xff\xff\xff not a protobuf"});
  Add(tail, Event("t1", "call-1", 2));
  tail.WaitIdle();
  EXPECT_EQ(tail.retained_count(), 1u);
  EXPECT_EQ(Kept(tail, "t1", "call-1"), std::vector<std::string>{"0/2/0"});
}

TEST_F(EventTailTest, AtTheBoundTheOldestInteractionsGoWhole) {
  EventTail tail(TestOptions(/*max_events=*/5));
  for (int64_t offset : {1, 2, 3}) Add(tail, Event("t1", "a", offset));
  for (int64_t offset : {4, 5, 6}) Add(tail, Event("t1", "b", offset));
  // "b"'s third event finds 5 kept: "a" (the oldest) goes, all three of its events.
  EXPECT_EQ(Kept(tail, "t1", "a"), std::vector<std::string>{});
  EXPECT_EQ(Kept(tail, "t1", "b"), (std::vector<std::string>{"0/4/0", "0/5/0", "0/6/0"}));
  EXPECT_EQ(tail.retained_count(), 3u);
}

TEST_F(EventTailTest, AnInteractionIsKeptAtLeastTheRetentionAfterItsNewestEvent) {
  EventTail tail(TestOptions());
  const int64_t t0 = g_now_ms;
  auto at = [&](minutes m) { g_now_ms = t0 + milliseconds(m).count(); };
  at(minutes(0));
  Add(tail, Event("t1", "long", 1));
  tail.WaitIdle();
  at(minutes(5));
  Add(tail, Event("t1", "short", 2));
  tail.WaitIdle();
  at(minutes(8));
  Add(tail, Event("t1", "long", 3));
  tail.WaitIdle();
  // 12 min: "long" was first kept 12 min ago, but its newest event is 4 min old: kept whole.
  at(minutes(12));
  Add(tail, Event("t1", "other", 4));
  EXPECT_EQ(Kept(tail, "t1", "long"), (std::vector<std::string>{"0/1/0", "0/3/0"}));
  EXPECT_EQ(Kept(tail, "t1", "short"), std::vector<std::string>{"0/2/0"});
  // 16 min: "short"'s newest event is 11 min old, "long"'s 8 min.
  at(minutes(16));
  Add(tail, Event("t1", "other", 5));
  EXPECT_EQ(Kept(tail, "t1", "short"), std::vector<std::string>{});
  EXPECT_EQ(Kept(tail, "t1", "long"), (std::vector<std::string>{"0/1/0", "0/3/0"}));
  // 19 min: "long"'s newest event is 11 min old, but its turn comes again only at 22 min (it
  // was looked at, and put back, at 12): kept at most two retentions after its newest event.
  at(minutes(19));
  Add(tail, Event("t1", "other", 6));
  EXPECT_EQ(Kept(tail, "t1", "long"), (std::vector<std::string>{"0/1/0", "0/3/0"}));
  at(minutes(23));
  Add(tail, Event("t1", "other", 7));
  EXPECT_EQ(Kept(tail, "t1", "long"), std::vector<std::string>{});
  EXPECT_EQ(tail.retained_count(), 4u);  // "other"'s
}

}  // namespace
}  // namespace sb::routing
