#include "recording/core/review_workflow.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const Principal kAgent{"acme", "agent-a", Role::kAgent, {}};
const Principal kOtherAgent{"acme", "agent-b", Role::kAgent, {}};
const Principal kSup{"acme", "sup", Role::kSupervisor, {"red"}};
const Principal kQa{"acme", "qa-1", Role::kQaReviewer, {}};
const Principal kAdmin{"acme", "root", Role::kAdmin, {}};

Review Open() {
  Review r;
  r.review_id = "rv-1";
  r.tenant = "acme";
  r.interaction_id = "int-1";
  r.agent_id = "agent-a";
  r.team = "red";
  r.kind = ReviewKind::kDisconnect;
  r.mandatory = true;
  r.created_at_ms = 1000;
  return r;
}

ScoreResult Scored(double score, bool critical = false) {
  ScoreResult s;
  s.score = score;
  s.raw_score = score;
  s.critical_failed = critical;
  return s;
}

std::string Reason(const absl::Status& s) { return std::string(ReasonOf(s)); }

TEST(WorkflowTest, SubmitAcknowledge) {
  auto submitted = Submit(Open(), kQa, Scored(72.5), 2000);
  ASSERT_TRUE(submitted.ok()) << submitted.status();
  EXPECT_EQ(submitted->state, ReviewState::kSubmitted);
  EXPECT_EQ(submitted->reviewer, "qa-1");
  EXPECT_EQ(submitted->submitted_at_ms, 2000);
  EXPECT_EQ(submitted->score, 72.5);
  auto acked = Acknowledge(*submitted, kAgent, 3000);
  ASSERT_TRUE(acked.ok()) << acked.status();
  EXPECT_EQ(acked->state, ReviewState::kAcknowledged);
  EXPECT_EQ(acked->responded_at_ms, 3000);
  // Terminal: nothing more.
  EXPECT_EQ(Reason(Dispute(*acked, kAgent, "wrong", 4000).status()), "INVALID_TRANSITION");
  EXPECT_THAT(AllowedActions(*acked, kAgent), IsEmpty());
}

TEST(WorkflowTest, DisputeResolveUpheld) {
  Review r = *Submit(Open(), kQa, Scored(40, true), 2000);
  auto disputed = Dispute(r, kAgent, "I did warn the caller at 02:10", 3000);
  ASSERT_TRUE(disputed.ok()) << disputed.status();
  EXPECT_EQ(disputed->state, ReviewState::kDisputed);
  EXPECT_EQ(disputed->dispute_reason, "I did warn the caller at 02:10");
  auto resolved = Resolve(*disputed, kSup, Resolution::kUpheld, "Listened: no warning given.",
                          std::nullopt, 4000);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->state, ReviewState::kResolved);
  EXPECT_EQ(resolved->resolution, Resolution::kUpheld);
  EXPECT_EQ(resolved->resolved_by, "sup");
  EXPECT_EQ(resolved->resolved_at_ms, 4000);
  EXPECT_EQ(resolved->score, 40);
  EXPECT_TRUE(resolved->critical_failed);
  EXPECT_EQ(resolved->score_before_amendment, std::nullopt);
}

TEST(WorkflowTest, ResolveAmendedReplacesTheScore) {
  Review r = *Dispute(*Submit(Open(), kQa, Scored(0, true), 2000), kAgent, "warned", 3000);
  auto resolved =
      Resolve(r, kAdmin, Resolution::kAmended, "Warning at 02:10 confirmed.", Scored(88), 4000);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->resolution, Resolution::kAmended);
  EXPECT_EQ(resolved->score, 88);
  EXPECT_FALSE(resolved->critical_failed);
  EXPECT_EQ(resolved->score_before_amendment, 0);
}

TEST(WorkflowTest, InvalidTransitions) {
  const Review open = Open();
  const Review submitted = *Submit(open, kQa, Scored(50), 2);
  const Review disputed = *Dispute(submitted, kAgent, "no", 3);
  const Review resolved = *Resolve(disputed, kSup, Resolution::kUpheld, "ok", std::nullopt, 4);
  EXPECT_EQ(Reason(Acknowledge(open, kAgent, 5).status()), "INVALID_TRANSITION");
  EXPECT_EQ(Reason(Dispute(open, kAgent, "x", 5).status()), "INVALID_TRANSITION");
  EXPECT_EQ(Reason(Submit(submitted, kQa, Scored(1), 5).status()), "INVALID_TRANSITION");
  EXPECT_EQ(Reason(Resolve(submitted, kSup, Resolution::kUpheld, "n", std::nullopt, 5).status()),
            "INVALID_TRANSITION");
  EXPECT_EQ(Reason(Acknowledge(disputed, kAgent, 5).status()), "INVALID_TRANSITION");
  EXPECT_EQ(Reason(Resolve(resolved, kSup, Resolution::kUpheld, "n", std::nullopt, 5).status()),
            "INVALID_TRANSITION");
  absl::Status s = Dispute(resolved, kAgent, "again", 5).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "INVALID_TRANSITION: cannot dispute review 'rv-1': it is RESOLVED (allowed from "
            "SUBMITTED)");
}

TEST(WorkflowTest, RolesAreCheckedBeforeState) {
  const Review open = Open();
  const Review submitted = *Submit(open, kQa, Scored(50), 2);
  const Review disputed = *Dispute(submitted, kAgent, "no", 3);
  EXPECT_EQ(Reason(Submit(open, kAgent, Scored(100), 5).status()), "ROLE");
  EXPECT_EQ(Reason(Submit(open, kSup, Scored(100), 5).status()), "ROLE");
  EXPECT_EQ(Reason(Acknowledge(submitted, kQa, 5).status()), "ROLE");
  EXPECT_EQ(Reason(Acknowledge(submitted, kOtherAgent, 5).status()), "NOT_OWN");
  EXPECT_EQ(Reason(Dispute(submitted, kSup, "x", 5).status()), "ROLE");
  EXPECT_EQ(Reason(Resolve(disputed, kAgent, Resolution::kUpheld, "x", std::nullopt, 5).status()),
            "ROLE");
  EXPECT_EQ(Reason(Resolve(disputed, kQa, Resolution::kUpheld, "x", std::nullopt, 5).status()),
            "ROLE");
  // Wrong role and wrong state: the role error wins (the state is not revealed).
  EXPECT_EQ(Reason(Resolve(open, kAgent, Resolution::kUpheld, "x", std::nullopt, 5).status()),
            "ROLE");
  const Principal blue{"acme", "sup-blue", Role::kSupervisor, {"blue"}};
  EXPECT_EQ(Reason(Resolve(disputed, blue, Resolution::kUpheld, "x", std::nullopt, 5).status()),
            "NOT_TEAM");
  const Principal other_tenant{"globex", "qa-1", Role::kQaReviewer, {}};
  EXPECT_EQ(Reason(Submit(open, other_tenant, Scored(1), 5).status()), "WRONG_TENANT");
  absl::Status s = Submit(open, kAgent, Scored(100), 5).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
}

TEST(WorkflowTest, ArgumentErrors) {
  const Review submitted = *Submit(Open(), kQa, Scored(50), 2);
  const Review disputed = *Dispute(submitted, kAgent, "no", 3);
  EXPECT_EQ(Reason(Dispute(submitted, kAgent, "  \n", 5).status()), "DISPUTE_REASON_REQUIRED");
  EXPECT_EQ(Reason(Dispute(submitted, kAgent, std::string(4001, 'x'), 5).status()),
            "TEXT_TOO_LONG");
  EXPECT_EQ(Reason(Resolve(disputed, kSup, Resolution::kNone, "n", std::nullopt, 5).status()),
            "RESOLUTION_REQUIRED");
  EXPECT_EQ(Reason(Resolve(disputed, kSup, Resolution::kUpheld, "", std::nullopt, 5).status()),
            "RESOLUTION_NOTE_REQUIRED");
  EXPECT_EQ(Reason(Resolve(disputed, kSup, Resolution::kAmended, "n", std::nullopt, 5).status()),
            "AMENDED_SCORE_REQUIRED");
  EXPECT_EQ(Reason(Resolve(disputed, kSup, Resolution::kUpheld, "n", Scored(9), 5).status()),
            "UPHELD_TAKES_NO_SCORE");
  EXPECT_EQ(Dispute(submitted, kAgent, "", 5).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(WorkflowTest, ErrorsLeaveTheInputAlone) {
  const Review submitted = *Submit(Open(), kQa, Scored(50), 2);
  Review copy = submitted;
  ASSERT_FALSE(Dispute(copy, kAgent, "", 5).ok());
  EXPECT_EQ(copy, submitted);
}

TEST(WorkflowTest, AllowedActions) {
  const Review open = Open();
  EXPECT_THAT(AllowedActions(open, kQa), ElementsAre(ReviewAction::kSubmit));
  EXPECT_THAT(AllowedActions(open, kAgent), IsEmpty());
  const Review submitted = *Submit(open, kQa, Scored(50), 2);
  EXPECT_THAT(AllowedActions(submitted, kAgent),
              ElementsAre(ReviewAction::kAcknowledge, ReviewAction::kDispute));
  EXPECT_THAT(AllowedActions(submitted, kSup), IsEmpty());
  const Review disputed = *Dispute(submitted, kAgent, "no", 3);
  EXPECT_THAT(AllowedActions(disputed, kSup), ElementsAre(ReviewAction::kResolve));
  EXPECT_THAT(AllowedActions(disputed, kAdmin), ElementsAre(ReviewAction::kResolve));
  EXPECT_THAT(AllowedActions(disputed, kQa), IsEmpty());
}

TEST(ReviewNamesTest, RoundTrip) {
  for (ReviewKind k : {ReviewKind::kDisconnect, ReviewKind::kEscalation, ReviewKind::kLowCsat,
                       ReviewKind::kSample, ReviewKind::kManual, ReviewKind::kPolicy}) {
    EXPECT_EQ(ParseReviewKind(ReviewKindName(k)), k);
  }
  for (ReviewState s : {ReviewState::kOpen, ReviewState::kSubmitted, ReviewState::kAcknowledged,
                        ReviewState::kDisputed, ReviewState::kResolved}) {
    EXPECT_EQ(ParseReviewState(ReviewStateName(s)), s);
  }
  EXPECT_EQ(ParseResolution("AMENDED"), Resolution::kAmended);
  EXPECT_EQ(ParseResolution("UPHELD"), Resolution::kUpheld);
  EXPECT_EQ(ParseResolution(""), std::nullopt);
  EXPECT_STREQ(ResolutionName(Resolution::kNone), "");
  EXPECT_EQ(ParseReviewKind("disconnect"), std::nullopt);
  EXPECT_STREQ(ReviewKindName(ReviewKind::kLowCsat), "LOW_CSAT");
  EXPECT_STREQ(ReviewActionName(ReviewAction::kResolve), "resolve");
}

}  // namespace
}  // namespace sb::recording::qa
