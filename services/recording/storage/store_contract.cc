#include "recording/storage/store_contract.h"

#include "recording/storage/open_store.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {

std::string ContractParamName(const ::testing::TestParamInfo<ContractParam>& info) {
  return info.param.name;
}

void StoreContractTest::SetUp() {
  harness_ = GetParam().make_harness();
  ASSERT_NE(harness_, nullptr);
  auto url = harness_->NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  url_ = *url;
  auto store = OpenStore(url_);
  ASSERT_TRUE(store.ok()) << store.status();
  store_ = *std::move(store);
  sql_ = dynamic_cast<SqlRecordingStore*>(store_.get());
  ASSERT_NE(sql_, nullptr);
}

void StoreContractTest::TearDown() {
  store_.reset();
  harness_.reset();
}

absl::StatusOr<std::unique_ptr<RecordingStore>> StoreContractTest::Reopen() {
  return OpenStore(url_);
}

absl::Status StoreContractTest::RawSql(std::string_view sql) {
  return sql_->ExecRawSqlForTesting(sql);
}

::testing::AssertionResult HasReason(const absl::Status& s, absl::StatusCode code,
                                     std::string_view reason) {
  if (s.code() != code || !Sv(s.message()).starts_with(Cat(reason, ":"))) {
    return ::testing::AssertionFailure() << "expected " << absl::StatusCodeToString(code)
                                         << " with reason " << reason << ", got " << s;
  }
  return ::testing::AssertionSuccess();
}

// ---- Contract cases of the review workflow's tables (migration 4): interactions, agents and
// review details. They live here rather than in store_contract_test.cc so that both adapters'
// test binaries (which compile this file) run them.

namespace {

constexpr int64_t kWfT0 = 1'700'000'000'000;

InteractionRecord Ix(std::string id) {
  InteractionRecord r;
  r.tenant_id = "t1";
  r.interaction_id = std::move(id);
  return r;
}

Review WfReview(std::string id, std::string agent = "a1") {
  Review r;
  r.id = std::move(id);
  r.tenant_id = "t1";
  r.interaction_id = "i-" + r.id;
  r.agent_id = std::move(agent);
  r.team_id = "team1";
  r.kind = ReviewKind::kEscalation;
  r.mandatory = true;
  r.created_at_ms = kWfT0;
  return r;
}

}  // namespace

TEST_P(StoreContractTest, InteractionMergesFieldByField) {
  InteractionRecord queued = Ix("i1");
  queued.queue_id = "q1";
  queued.customer_id = "c9";
  queued.enqueued_at_ms = kWfT0;
  ASSERT_TRUE(store_->MergeInteraction(queued).ok());
  InteractionRecord connected = Ix("i1");
  connected.agent_id = "a1";
  connected.team_id = "team1";
  connected.connected_at_ms = kWfT0 + 5000;
  connected.wait_ms = 5000;
  connected.enqueued_at_ms = kWfT0 + 4000;  // a re-queue: the first enqueue time is kept
  ASSERT_TRUE(store_->MergeInteraction(connected).ok());
  InteractionRecord ended = Ix("i1");
  ended.ended_at_ms = kWfT0 + 60000;
  ended.end_reason = "COMPLETED";
  ASSERT_TRUE(store_->MergeInteraction(ended).ok());
  auto got = store_->GetInteraction("t1", "i1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->queue_id, "q1");
  EXPECT_EQ(got->agent_id, "a1");
  EXPECT_EQ(got->team_id, "team1");
  EXPECT_EQ(got->customer_id, "c9");
  EXPECT_EQ(got->enqueued_at_ms, kWfT0);
  EXPECT_EQ(got->connected_at_ms, kWfT0 + 5000);
  EXPECT_EQ(got->ended_at_ms, kWfT0 + 60000);
  EXPECT_EQ(got->end_reason, "COMPLETED");
  EXPECT_EQ(got->wait_ms, 5000);
  EXPECT_TRUE(HasReason(store_->GetInteraction("t2", "i1").status(), absl::StatusCode::kNotFound,
                        "NOT_FOUND"));
  EXPECT_TRUE(HasReason(store_->MergeInteraction(Ix("")), absl::StatusCode::kInvalidArgument,
                        "MISSING_FIELD"));
  // Erasing the customer clears it from the interaction too.
  ASSERT_TRUE(store_->EraseCustomer("t1", "c9", "admin:x", kWfT0).ok());
  got = store_->GetInteraction("t1", "i1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->customer_id, "");
}

TEST_P(StoreContractTest, EndedInteractionsArePagedByEndTime) {
  for (int i = 0; i < 7; ++i) {
    InteractionRecord r = Ix(Cat("i", i));
    r.agent_id = i == 3 ? "" : "a1";  // no agent: not a sample candidate
    r.queue_id = "q1";
    r.ended_at_ms = i == 6 ? 0 : kWfT0 + (i % 3) * 1000;  // i6 still active
    ASSERT_TRUE(store_->MergeInteraction(r).ok());
  }
  std::vector<std::string> seen;
  int64_t after_ended = 0;
  std::string after_id;
  for (int page = 0; page < 10; ++page) {
    auto got = store_->ListEndedInteractions("t1", kWfT0, kWfT0 + 2000, after_ended, after_id, 2);
    ASSERT_TRUE(got.ok()) << got.status();
    if (got->empty()) break;
    for (const auto& r : *got) seen.push_back(r.interaction_id);
    after_ended = got->back().ended_at_ms;
    after_id = got->back().interaction_id;
  }
  // [kWfT0, kWfT0 + 2000): i0, i1, i4 (ended at +0 and +1000; i2 and i5 at +2000 are out).
  EXPECT_EQ(seen, (std::vector<std::string>{"i0", "i1", "i4"}));
}

TEST_P(StoreContractTest, AgentsAreUpserted) {
  ASSERT_TRUE(store_->UpsertAgent(AgentRecord{"t1", "a1", "team1", kWfT0}).ok());
  ASSERT_TRUE(store_->UpsertAgent(AgentRecord{"t1", "a1", "team2", kWfT0 + 1}).ok());
  auto got = store_->GetAgent("t1", "a1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, (AgentRecord{"t1", "a1", "team2", kWfT0 + 1}));
  EXPECT_TRUE(
      HasReason(store_->GetAgent("t1", "a2").status(), absl::StatusCode::kNotFound, "NOT_FOUND"));
}

TEST_P(StoreContractTest, ReviewDetailsArePutAndListed) {
  ReviewDetails d;
  d.tenant_id = "t1";
  d.review_id = "r1";
  d.agent_id = "a1";
  d.qa_kind = "ESCALATION";
  d.reason = "escalation";
  EXPECT_TRUE(HasReason(store_->PutReviewDetails(d), absl::StatusCode::kNotFound, "NOT_FOUND"));
  ASSERT_TRUE(store_->CreateReview(WfReview("r1")).ok());
  ASSERT_TRUE(store_->CreateReview(WfReview("r2")).ok());
  ASSERT_TRUE(store_->PutReviewDetails(d).ok());
  auto got = store_->GetReviewDetails("t1", "r1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, d);
  d.evaluation_id = "e1";
  d.reviewer = "qa1";
  d.score = 62.5;
  d.submitted_at_ms = kWfT0 + 10;
  d.score_before_amendment = 40.25;
  ASSERT_TRUE(store_->PutReviewDetails(d).ok());
  got = store_->GetReviewDetails("t1", "r1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, d);
  EXPECT_TRUE(HasReason(store_->GetReviewDetails("t2", "r1").status(), absl::StatusCode::kNotFound,
                        "NOT_FOUND"));
  auto listed = store_->ListReviewDetails("t1", {"r1", "r2", "nope"});
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0], d);
  ReviewDetails d2 = d;
  d2.review_id = "r2";
  d2.score_before_amendment.reset();
  d2.submitted_at_ms = kWfT0 + 20;
  ASSERT_TRUE(store_->PutReviewDetails(d2).ok());
  auto scored = store_->ListScoredReviewsOfAgent("t1", "a1", kWfT0, 10);
  ASSERT_TRUE(scored.ok()) << scored.status();
  ASSERT_EQ(scored->size(), 2u);
  EXPECT_EQ((*scored)[0].review_id, "r2");  // newest first
  EXPECT_EQ((*scored)[1].review_id, "r1");
  scored = store_->ListScoredReviewsOfAgent("t1", "a1", kWfT0 + 15, 10);
  ASSERT_TRUE(scored.ok());
  EXPECT_EQ(scored->size(), 1u);
}

}  // namespace sb::recording::storage::testing
