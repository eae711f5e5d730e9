#include "recording/service/recording_intake.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "recording/storage/open_store.h"

namespace sb::recording {
namespace {

namespace rv1 = ::switchboard::routing::v1;
namespace pv1 = ::switchboard::policy::v1;
using google::protobuf::util::TimeUtil;
using storage::RecordingState;

constexpr int64_t kT0 = 1700000000000;

class CollectingEvents : public RecordingEvents {
 public:
  void RecordingChanged(const storage::Recording& r) override { recordings.push_back(r); }
  void AuditAppended(const storage::AuditEntry& e) override { heads.push_back(e); }
  std::vector<storage::Recording> recordings;
  std::vector<storage::AuditEntry> heads;
};

class RecordingIntakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    RecordPolicy policy;
    policy.all = false;
    policy.queues = {"support"};
    intake_ = std::make_unique<RecordingIntake>(store_.get(), &events_, &metrics_, policy);
  }

  rv1::RoutingEvent Event(const std::string& id, int64_t at_ms) {
    rv1::RoutingEvent e;
    e.set_event_id(id);
    e.set_tenant_id("acme");
    *e.mutable_time() = TimeUtil::MillisecondsToTimestamp(at_ms);
    return e;
  }
  rv1::RoutingEvent Queued(const std::string& id, const std::string& call) {
    rv1::RoutingEvent e = Event(id, kT0);
    e.mutable_interaction_queued()->set_interaction_id(call);
    e.mutable_interaction_queued()->set_queue_id("support");
    (*e.mutable_interaction_queued()->mutable_attributes())["customer_id"] = "cust-9";
    return e;
  }
  rv1::RoutingEvent Connected(const std::string& id, const std::string& call,
                              const std::string& queue = "support") {
    rv1::RoutingEvent e = Event(id, kT0 + 1000);
    e.mutable_interaction_connected()->set_interaction_id(call);
    e.mutable_interaction_connected()->set_agent_id("ann");
    e.mutable_interaction_connected()->set_queue_id(queue);
    return e;
  }
  rv1::RoutingEvent Ended(const std::string& id, const std::string& call, int64_t at_ms) {
    rv1::RoutingEvent e = Event(id, at_ms);
    e.mutable_interaction_ended()->set_interaction_id(call);
    return e;
  }
  pv1::PolicyDecision Decision(const std::string& id, const std::string& call, int64_t at_ms,
                               bool pause) {
    pv1::PolicyDecision d;
    d.set_decision_id(id);
    d.set_tenant_id("acme");
    d.set_kind("recording");
    d.set_interaction_id(call);
    d.set_outcome(pause ? pv1::OUTCOME_DENY : pv1::OUTCOME_ALLOW);
    if (pause) d.add_obligations()->mutable_pause_recording()->set_reason("payment_card");
    *d.mutable_time() = TimeUtil::MillisecondsToTimestamp(at_ms);
    return d;
  }

  std::unique_ptr<storage::RecordingStore> store_;
  CollectingEvents events_;
  RecordingMetrics metrics_;
  std::unique_ptr<RecordingIntake> intake_;
};

TEST_F(RecordingIntakeTest, ConnectStartsPausesBecomeGapsAndEndStops) {
  ASSERT_TRUE(intake_->OnRoutingEvent(Queued("0/1/0", "c1")).ok());
  ASSERT_TRUE(intake_->OnRoutingEvent(Connected("0/2/0", "c1")).ok());
  auto rec = store_->GetRecording("acme", "c1/rec");
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_EQ(rec->state, RecordingState::kRecording);
  EXPECT_EQ(rec->agent_id, "ann");
  EXPECT_EQ(rec->customer_id, "cust-9");
  EXPECT_EQ(rec->started_at_ms, kT0 + 1000);

  // Pause at +5 s, resume at +9 s (offsets from the recording's start).
  ASSERT_TRUE(intake_->OnPolicyDecision(Decision("d1", "c1", kT0 + 6000, true)).ok());
  EXPECT_EQ(store_->GetRecording("acme", "c1/rec")->state, RecordingState::kPaused);
  ASSERT_TRUE(intake_->OnPolicyDecision(Decision("d2", "c1", kT0 + 10000, false)).ok());
  // A second pause, still open when the call ends at +20 s.
  ASSERT_TRUE(intake_->OnPolicyDecision(Decision("d3", "c1", kT0 + 15000, true)).ok());
  ASSERT_TRUE(intake_->OnRoutingEvent(Ended("0/3/0", "c1", kT0 + 21000)).ok());
  rec = store_->GetRecording("acme", "c1/rec");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->state, RecordingState::kStopped);
  ASSERT_EQ(rec->gaps.size(), 2u);
  EXPECT_EQ(rec->gaps[0], (storage::Gap{5000, 9000, "payment_card"}));
  EXPECT_EQ(rec->gaps[1], (storage::Gap{14000, 20000, "payment_card"}));

  auto audit = store_->ListAudit("acme", "c1/rec");
  ASSERT_TRUE(audit.ok());
  std::vector<std::string> actions;
  for (const auto& e : *audit) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"start", "pause", "resume", "pause", "stop"}));
  EXPECT_EQ(events_.heads.back().seq, audit->back().seq);
  EXPECT_TRUE(store_->VerifyAudit()->ok);
}

TEST_F(RecordingIntakeTest, ARedeliveredEventChangesNothing) {
  ASSERT_TRUE(intake_->OnRoutingEvent(Connected("0/2/0", "c2")).ok());
  ASSERT_TRUE(intake_->OnPolicyDecision(Decision("d1", "c2", kT0 + 6000, true)).ok());
  ASSERT_TRUE(intake_->OnPolicyDecision(Decision("d2", "c2", kT0 + 7000, false)).ok());
  const size_t events = events_.recordings.size();
  // Replays (a restart reads from the beginning): nothing new.
  ASSERT_TRUE(intake_->OnRoutingEvent(Connected("0/2/0", "c2")).ok());
  ASSERT_TRUE(intake_->OnPolicyDecision(Decision("d1", "c2", kT0 + 6000, true)).ok());
  EXPECT_EQ(events_.recordings.size(), events);
  auto rec = store_->GetRecording("acme", "c2/rec");
  EXPECT_EQ(rec->state, RecordingState::kRecording);
  EXPECT_EQ(rec->gaps.size(), 1u);
  EXPECT_EQ(store_->ListAudit("acme", "c2/rec")->size(), 3u);
}

TEST_F(RecordingIntakeTest, QueuesOutsideTheRecordingPolicyAreNotRecorded) {
  ASSERT_TRUE(intake_->OnRoutingEvent(Connected("0/2/0", "c3", "sales")).ok());
  EXPECT_TRUE(store_->ListRecordingsByInteraction("acme", "c3")->empty());
}

TEST_F(RecordingIntakeTest, ActionsCheckStateAndOffsets) {
  RecordingIntake::StartSpec spec;
  spec.tenant_id = "acme";
  spec.interaction_id = "c4";
  spec.at_ms = kT0;
  auto started = intake_->Start(spec, "admin:root");
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->id, "c4/rec");
  RecordingIntake::Action a;
  a.tenant_id = "acme";
  a.recording_id = "c4/rec";
  a.principal = "admin:root";
  a.at_ms = kT0 + 100;
  a.offset_ms = 3000;
  a.reason = "card_data";
  ASSERT_TRUE(intake_->Pause(a).ok());
  EXPECT_TRUE(intake_->Pause(a).ok());  // idempotent
  a.offset_ms = 2000;                   // before the pause began
  EXPECT_EQ(intake_->Resume(a).status().code(), absl::StatusCode::kInvalidArgument);
  a.offset_ms = 4500;
  auto resumed = intake_->Resume(a);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  ASSERT_EQ(resumed->gaps.size(), 1u);
  EXPECT_EQ(resumed->gaps[0], (storage::Gap{3000, 4500, "card_data"}));
  a.offset_ms = 9000;
  ASSERT_TRUE(intake_->Stop(a).ok());
  auto again = intake_->Pause(a);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StartsWith(again.status().message(), "NOT_RECORDING:")) << again.status();
  a.recording_id = "nope";
  EXPECT_EQ(intake_->Stop(a).status().code(), absl::StatusCode::kNotFound);
}

TEST(OffsetFromDetailTest, Parses) {
  EXPECT_EQ(OffsetFromDetail("offset_ms=1200 reason=card"), 1200);
  EXPECT_EQ(OffsetFromDetail("offset_ms=7"), 7);
  EXPECT_EQ(OffsetFromDetail("bytes=3"), -1);
}

}  // namespace
}  // namespace sb::recording
