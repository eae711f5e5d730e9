#include "recording/core/feedback.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

using ::testing::HasSubstr;

Feedback F(int csat, std::string comment = "", std::optional<int64_t> wait_ms = std::nullopt,
           std::optional<int64_t> target_ms = std::nullopt) {
  Feedback f;
  f.tenant = "acme";
  f.feedback_id = "fb-1";
  f.interaction_id = "int-1";
  f.agent_id = "agent-a";
  f.csat = csat;
  f.comment = std::move(comment);
  f.wait_ms = wait_ms;
  f.queue_target_ms = target_ms;
  return f;
}

TEST(FeedbackTest, Validation) {
  EXPECT_TRUE(ValidateFeedback(F(1)).ok());
  EXPECT_TRUE(ValidateFeedback(F(5)).ok());
  for (int csat : {0, 6, -1}) {
    absl::Status s = ValidateFeedback(F(csat));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(ReasonOf(s), "CSAT_OUT_OF_RANGE");
  }
  EXPECT_EQ(ValidateFeedback(F(6)).message(), "CSAT_OUT_OF_RANGE: csat: 6 is not 1..5");
  Feedback no_tenant = F(3);
  no_tenant.tenant = "";
  EXPECT_EQ(ValidateFeedback(no_tenant).message(), "MISSING_FIELD: tenant: required");
  Feedback no_interaction = F(3);
  no_interaction.interaction_id = "";
  EXPECT_EQ(ReasonOf(ValidateFeedback(no_interaction)), "MISSING_FIELD");
  EXPECT_EQ(ReasonOf(ValidateFeedback(F(3, std::string(4001, 'x')))), "COMMENT_TOO_LONG");
  EXPECT_EQ(ReasonOf(ValidateFeedback(F(3, "", -5))), "NEGATIVE_WAIT");
  EXPECT_EQ(ReasonOf(ValidateFeedback(F(3, "", 5, -1))), "NEGATIVE_WAIT");
}

TEST(FeedbackTest, MentionsWholeWordsOnly) {
  const std::vector<std::string> k = {"wait", "long time"};
  EXPECT_TRUE(MentionsAny("I had to WAIT.", k));
  EXPECT_TRUE(MentionsAny("wait", k));
  EXPECT_TRUE(MentionsAny("it took a long  time... no, a long time!", k));
  EXPECT_FALSE(MentionsAny("the waiter was rude", k));
  EXPECT_FALSE(MentionsAny("await", k));
  EXPECT_FALSE(MentionsAny("", k));
  EXPECT_FALSE(MentionsAny("wait", {}));
}

TEST(FeedbackTest, Classification) {
  const FeedbackSettings s;  // low <= 2, short wait 10 s, default target 60 s
  struct Case {
    Feedback f;
    FeedbackCause cause;
    bool review;
  };
  const Case cases[] = {
      {F(3, "meh", 500000), FeedbackCause::kNotLow, false},
      {F(5), FeedbackCause::kNotLow, false},
      // Waited past the queue's own target (20 s).
      {F(1, "rude agent", 30000, 20000), FeedbackCause::kQueue, false},
      // Past the default target (60 s) when the queue's is unknown.
      {F(2, "", 61000), FeedbackCause::kQueue, false},
      // Within the target and not about waiting: the agent.
      {F(1, "the agent was rude", 59000), FeedbackCause::kAgent, true},
      // Says "waiting" but waited 5 s: cannot be the queue.
      {F(1, "kept me waiting while he typed", 5000), FeedbackCause::kAgent, true},
      // Says "waiting", waited 40 s (within target but not short): the queue as perceived.
      {F(2, "so much waiting", 40000), FeedbackCause::kQueue, false},
      // Says "waited", wait unknown: the queue.
      {F(1, "I waited forever"), FeedbackCause::kQueue, false},
      // Nothing known.
      {F(1, "bad"), FeedbackCause::kUnknown, true},
  };
  for (const Case& c : cases) {
    const FeedbackClassification r = ClassifyFeedback(c.f, s);
    EXPECT_EQ(r.cause, c.cause) << c.f.comment << " " << FeedbackCauseName(r.cause) << ": "
                                << r.explanation;
    EXPECT_EQ(r.create_review, c.review) << c.f.comment;
    EXPECT_EQ(r.low, c.cause != FeedbackCause::kNotLow);
    EXPECT_FALSE(r.explanation.empty());
  }
  EXPECT_EQ(ClassifyFeedback(F(1, "rude", 30000, 20000), s).explanation,
            "waited 30s, over the queue's 20s target");
}

TEST(FeedbackTest, ConfigurableThresholdAndCauses) {
  FeedbackSettings s;
  s.low_csat_threshold = 3;
  EXPECT_TRUE(ClassifyFeedback(F(3, "", 1000), s).low);
  s.review_causes = {FeedbackCause::kQueue, FeedbackCause::kAgent, FeedbackCause::kUnknown};
  EXPECT_TRUE(ClassifyFeedback(F(1, "", 999999), s).create_review);
  s.review_causes = {FeedbackCause::kAgent};
  EXPECT_FALSE(ClassifyFeedback(F(1, "bad"), s).create_review);  // UNKNOWN not listed
  s.low_csat_threshold = 0;                                      // LOW_CSAT reviews off
  EXPECT_FALSE(ClassifyFeedback(F(1, "bad", 1000), s).low);
  s.waiting_keywords = {"hold"};
  s.low_csat_threshold = 2;
  EXPECT_EQ(ClassifyFeedback(F(1, "on hold"), s).cause, FeedbackCause::kQueue);
}

TEST(FeedbackTest, NoAgentNoReview) {
  Feedback f = F(1, "bad");
  f.agent_id = "";  // abandoned before an agent answered
  const FeedbackClassification c = ClassifyFeedback(f, FeedbackSettings{});
  EXPECT_TRUE(c.low);
  EXPECT_FALSE(c.create_review);
}

TEST(FeedbackTest, CauseNames) {
  EXPECT_EQ(ParseFeedbackCause("agent"), FeedbackCause::kAgent);
  EXPECT_EQ(ParseFeedbackCause("QUEUE"), FeedbackCause::kQueue);
  EXPECT_EQ(ParseFeedbackCause("UNKNOWN"), FeedbackCause::kUnknown);
  EXPECT_EQ(ParseFeedbackCause("customer"), std::nullopt);
}

}  // namespace
}  // namespace sb::recording::qa
