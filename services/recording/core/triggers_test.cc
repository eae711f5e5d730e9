#include "recording/core/triggers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

using ::testing::HasSubstr;

PolicyReviewObligation Obligation(const std::string& reason, bool mandatory = false) {
  return PolicyReviewObligation{"acme",    "dec-1", "int-1",   "agent-a", "red",
                                "billing", reason,  mandatory, 5000};
}

EscalationEvent Escalation() {
  return EscalationEvent{"acme", "0/17/0",  "int-1",          "agent-a",
                         "red",  "billing", "caller_request", 6000};
}

TEST(TriggersTest, DisconnectObligation) {
  auto spec = ReviewForPolicyObligation(Obligation("agent_disconnect", true));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->kind, ReviewKind::kDisconnect);
  EXPECT_TRUE(spec->mandatory);
  EXPECT_EQ(spec->reason, "agent_disconnect");
  EXPECT_EQ(spec->source_event_id, "dec-1");
  EXPECT_EQ(spec->dedupe_key, "disconnect:acme:int-1:agent-a");
  EXPECT_EQ(spec->created_at_ms, 5000);
  EXPECT_EQ(spec->team, "red");
  EXPECT_EQ(spec->queue, "billing");
  // Mandatory whatever the obligation says: every disconnect is reviewed.
  EXPECT_TRUE(ReviewForPolicyObligation(Obligation("disconnect", false))->mandatory);
}

TEST(TriggersTest, ObligationReasonPicksTheKind) {
  EXPECT_EQ(ReviewForPolicyObligation(Obligation("escalation"))->kind, ReviewKind::kEscalation);
  EXPECT_TRUE(ReviewForPolicyObligation(Obligation("escalation"))->mandatory);
  EXPECT_EQ(ReviewForPolicyObligation(Obligation("low_csat"))->kind, ReviewKind::kLowCsat);
  EXPECT_FALSE(ReviewForPolicyObligation(Obligation("low_csat"))->mandatory);
  auto other = ReviewForPolicyObligation(Obligation("credit_over_limit", true));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->kind, ReviewKind::kPolicy);
  EXPECT_TRUE(other->mandatory);
  EXPECT_EQ(other->dedupe_key, "policy:acme:int-1:agent-a:credit_over_limit");
  EXPECT_NE(ReviewForPolicyObligation(Obligation("verification_failed"))->dedupe_key,
            other->dedupe_key);
}

TEST(TriggersTest, EscalationFromPolicyAndRoutingIsOneReview) {
  auto from_routing = ReviewForEscalation(Escalation());
  auto from_policy = ReviewForPolicyObligation(Obligation("escalation"));
  ASSERT_TRUE(from_routing.ok() && from_policy.ok());
  EXPECT_EQ(from_routing->kind, ReviewKind::kEscalation);
  EXPECT_TRUE(from_routing->mandatory);
  EXPECT_EQ(from_routing->reason, "escalation: caller_request");
  EXPECT_EQ(from_routing->source_event_id, "0/17/0");
  EXPECT_EQ(from_routing->dedupe_key, from_policy->dedupe_key);
  // A replay of the same event: the same key.
  EXPECT_EQ(ReviewForEscalation(Escalation())->dedupe_key, from_routing->dedupe_key);
  EscalationEvent other = Escalation();
  other.interaction_id = "int-2";
  EXPECT_NE(ReviewForEscalation(other)->dedupe_key, from_routing->dedupe_key);
  other = Escalation();
  other.reason = "";
  EXPECT_EQ(ReviewForEscalation(other)->reason, "escalation");
}

TEST(TriggersTest, MissingFields) {
  PolicyReviewObligation o = Obligation("agent_disconnect");
  o.agent_id = "";
  EXPECT_EQ(ReviewForPolicyObligation(o).status().message(),
            "MISSING_FIELD: obligation.agent_id: required");
  o = Obligation("");
  EXPECT_EQ(ReviewForPolicyObligation(o).status().message(),
            "MISSING_FIELD: obligation.reason: required");
  EscalationEvent e = Escalation();
  e.event_id = "";
  EXPECT_EQ(ReviewForEscalation(e).status().message(),
            "MISSING_FIELD: escalation.event_id: required");
  EXPECT_EQ(ReviewForEscalation(e).status().code(), absl::StatusCode::kInvalidArgument);
}

Feedback LowFeedback() {
  Feedback f;
  f.tenant = "acme";
  f.feedback_id = "fb-9";
  f.interaction_id = "int-1";
  f.agent_id = "agent-a";
  f.team = "red";
  f.queue = "billing";
  f.csat = 1;
  f.comment = "rude";
  f.wait_ms = 5000;
  f.received_at_ms = 7000;
  return f;
}

TEST(TriggersTest, LowCsatAboutTheAgentOpensAReview) {
  auto out = ReviewForFeedback(LowFeedback(), FeedbackSettings{});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->classification.cause, FeedbackCause::kAgent);
  ASSERT_TRUE(out->review.has_value());
  EXPECT_EQ(out->review->kind, ReviewKind::kLowCsat);
  EXPECT_FALSE(out->review->mandatory);
  EXPECT_EQ(out->review->source_event_id, "fb-9");
  EXPECT_EQ(out->review->dedupe_key, "low_csat:acme:int-1:agent-a");
  EXPECT_THAT(out->review->reason, HasSubstr("csat 1: AGENT"));
  EXPECT_EQ(out->review->created_at_ms, 7000);
}

TEST(TriggersTest, LowCsatAboutTheQueueDoesNot) {
  Feedback f = LowFeedback();
  f.wait_ms = 600000;
  auto out = ReviewForFeedback(f, FeedbackSettings{});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->classification.cause, FeedbackCause::kQueue);
  EXPECT_FALSE(out->review.has_value());
  f.csat = 4;
  out = ReviewForFeedback(f, FeedbackSettings{});
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->classification.low);
  EXPECT_FALSE(out->review.has_value());
  f.csat = 9;
  EXPECT_EQ(ReasonOf(ReviewForFeedback(f, FeedbackSettings{}).status()), "CSAT_OUT_OF_RANGE");
}

ManualFlag Flag() {
  return ManualFlag{"acme", "req-1", "int-1", "agent-a", "red", "billing", "listen at 03:00", 8000};
}

TEST(TriggersTest, ManualFlags) {
  const Principal agent{"acme", "agent-a", Role::kAgent, {}};
  auto own = ReviewForManualFlag(Flag(), agent);
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->kind, ReviewKind::kManual);
  EXPECT_EQ(own->requested_by, "agent-a");
  EXPECT_EQ(own->reason, "flagged by the agent: listen at 03:00");
  EXPECT_EQ(own->dedupe_key, "manual:acme:int-1:agent-a");
  EXPECT_EQ(own->source_event_id, "req-1");

  const Principal sup{"acme", "sup", Role::kSupervisor, {"red"}};
  ManualFlag quiet = Flag();
  quiet.note = "";
  auto by_sup = ReviewForManualFlag(quiet, sup);
  ASSERT_TRUE(by_sup.ok());
  EXPECT_EQ(by_sup->reason, "flagged by supervisor sup");

  const Principal other{"acme", "agent-b", Role::kAgent, {}};
  EXPECT_EQ(ReasonOf(ReviewForManualFlag(Flag(), other).status()), "NOT_OWN");
  const Principal blue{"acme", "sup-b", Role::kSupervisor, {"blue"}};
  EXPECT_EQ(ReasonOf(ReviewForManualFlag(Flag(), blue).status()), "NOT_TEAM");
  ManualFlag long_note = Flag();
  long_note.note = std::string(2001, 'x');
  EXPECT_EQ(ReasonOf(ReviewForManualFlag(long_note, sup).status()), "TEXT_TOO_LONG");
  ManualFlag no_id = Flag();
  no_id.flag_id = "";
  EXPECT_EQ(ReviewForManualFlag(no_id, sup).status().message(),
            "MISSING_FIELD: flag.flag_id: required");
}

TEST(TriggersTest, SpecToReview) {
  auto spec = ReviewForEscalation(Escalation());
  ASSERT_TRUE(spec.ok());
  const Review r = spec->ToReview("rv-42");
  EXPECT_EQ(r.review_id, "rv-42");
  EXPECT_EQ(r.state, ReviewState::kOpen);
  EXPECT_EQ(r.kind, ReviewKind::kEscalation);
  EXPECT_TRUE(r.mandatory);
  EXPECT_EQ(r.agent_id, "agent-a");
  EXPECT_EQ(r.team, "red");
  EXPECT_EQ(r.tenant, "acme");
  EXPECT_EQ(r.created_at_ms, 6000);
}

TEST(TriggersTest, DedupeKeysEscapeSeparators) {
  EXPECT_NE(ReviewDedupeKey(ReviewKind::kManual, "a", "b:c", "d"),
            ReviewDedupeKey(ReviewKind::kManual, "a", "b", "c:d"));
}

}  // namespace
}  // namespace sb::recording::qa
