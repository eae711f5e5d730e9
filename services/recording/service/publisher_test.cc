#include "recording/service/publisher.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "recording/service/recording_service.h"

namespace sb::recording {
namespace {

TEST(MediaNameTest, KeepsSafeBytesAndEncodesTheRestInjectively) {
  EXPECT_EQ(MediaName("call-1"), "call-1");
  EXPECT_EQ(MediaName("call-1/rec"), "call-1_2Frec");
  EXPECT_EQ(MediaName("a_b"), "a_5Fb");  // '_' itself is encoded, so no two ids collide
  EXPECT_NE(MediaName("a/b"), MediaName("a_2Fb"));
  EXPECT_EQ(MediaName(".hidden"), "_2Ehidden");
  const std::string long_id(300, 'x');
  EXPECT_LE(MediaName(long_id).size(), 128u);
  EXPECT_NE(MediaName(long_id), MediaName(long_id + "y"));
}

TEST(PublisherTest, EventsCarryIdsKeysAndBodies) {
  std::vector<std::pair<std::string, v1::RecordingEvent>> sent;
  RecordingMetrics metrics;
  Publisher publisher(
      [&](const std::string& key, const std::string& value) {
        v1::RecordingEvent e;
        ASSERT_TRUE(e.ParseFromString(value));
        sent.emplace_back(key, e);
      },
      [] { return int64_t{1700000000000}; }, &metrics, "r1");
  storage::Recording rec;
  rec.id = "i1/rec";
  rec.tenant_id = "t";
  rec.interaction_id = "i1";
  rec.state = storage::RecordingState::kRecording;
  rec.gaps.push_back({100, 200, "card"});
  publisher.RecordingChanged(rec);
  EXPECT_EQ(publisher.active(), 1);
  storage::AuditEntry entry;
  entry.tenant_id = "t";
  entry.seq = 7;
  entry.hash = std::string(64, 'a');
  publisher.AuditAppended(entry);
  rec.state = storage::RecordingState::kStopped;
  publisher.RecordingChanged(rec);
  EXPECT_EQ(publisher.active(), 0);

  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].first, "i1");
  EXPECT_EQ(sent[0].second.event_id(), "r1-1");
  EXPECT_EQ(sent[0].second.recording_changed().gaps(0).end_offset_ms(), 200);
  EXPECT_EQ(sent[0].second.recording_changed().state(), v1::RECORDING_STATE_RECORDING);
  EXPECT_EQ(sent[1].first, "t");
  EXPECT_EQ(sent[1].second.audit_head().seq(), 7);
  EXPECT_EQ(sent[2].second.event_id(), "r1-3");
  EXPECT_EQ(sent[2].second.recording_changed().state(), v1::RECORDING_STATE_STOPPED);
}

TEST(PublisherTest, ReviewAgeIsObservedWhenAReviewIsScored) {
  RecordingMetrics metrics;
  Publisher publisher(
      nullptr, [] { return int64_t{0}; }, &metrics, "r");
  v1::Review review;
  review.set_kind("DISCONNECT");
  review.set_state("SUBMITTED");
  review.mutable_created_at()->set_seconds(1000);
  review.mutable_updated_at()->set_seconds(1000 + 7200);
  publisher.ReviewChanged(review);
  const std::string text = metrics.Serialize();
  EXPECT_NE(text.find("switchboard_recording_review_age_seconds_count{kind=\"DISCONNECT\"} 1"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace sb::recording
