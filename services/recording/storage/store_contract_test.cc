// The RecordingStore contract: every case runs against every adapter (instantiated in
// sqlite_store_test.cc and postgres_store_test.cc).
#include "recording/storage/store_contract.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "recording/storage/migrations.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {
namespace {

using absl::StatusCode;

constexpr int64_t kT0 = 1'700'000'000'000;  // an arbitrary "now", unix ms
constexpr int64_t kDay = 86'400'000;

Recording MakeRecording(std::string id, std::string customer = "c1", std::string queue = "q1",
                        int64_t started = kT0) {
  Recording r;
  r.id = std::move(id);
  r.tenant_id = "t1";
  r.interaction_id = "i-" + r.id;
  r.queue_id = std::move(queue);
  r.agent_id = "a1";
  r.customer_id = std::move(customer);
  r.started_at_ms = started;
  return r;
}

Review MakeReview(std::string id, int64_t created = kT0, std::string source_key = "") {
  Review r;
  r.id = std::move(id);
  r.tenant_id = "t1";
  r.interaction_id = "i1";
  r.agent_id = "a1";
  r.team_id = "team1";
  r.kind = ReviewKind::kDisconnect;
  r.mandatory = true;
  r.source_key = std::move(source_key);
  r.created_at_ms = created;
  return r;
}

AuditEntry MakeAudit(std::string recording, std::string action, int64_t at) {
  AuditEntry e;
  e.tenant_id = "t1";
  e.recording_id = std::move(recording);
  e.action = std::move(action);
  e.principal = "agent:a1";
  e.detail = "detail of " + e.action;
  e.at_ms = at;
  return e;
}

MediaInfo MakeMedia(std::string path) {
  return MediaInfo{std::move(path), 1234, std::string(64, 'a'), 3};
}

ReviewFilter RFilter(std::string tenant, const std::function<void(ReviewFilter&)>& edit = {}) {
  ReviewFilter f;
  f.tenant_id = std::move(tenant);
  if (edit) edit(f);
  return f;
}

CoachingFilter CFilter(const std::function<void(CoachingFilter&)>& edit) {
  CoachingFilter f;
  f.tenant_id = "t1";
  edit(f);
  return f;
}

// ---------------------------------------------------------------- schema and transactions

TEST_P(StoreContractTest, MigrationsAreIdempotent) {
  SB_ASSERT_OK_AND_ASSIGN(int64_t version, store_->SchemaVersion());
  EXPECT_EQ(version, LatestSchemaVersion());
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r1")));
  // Opening again (a second replica, a restart) applies nothing and keeps the data.
  SB_ASSERT_OK_AND_ASSIGN(auto again, Reopen());
  SB_ASSERT_OK_AND_ASSIGN(int64_t version2, again->SchemaVersion());
  EXPECT_EQ(version2, LatestSchemaVersion());
  SB_ASSERT_OK(again->GetRecording("t1", "r1"));
}

TEST_P(StoreContractTest, NewerSchemaIsRefused) {
  SB_ASSERT_OK(RawSql(Cat("INSERT INTO schema_migrations (version, name) VALUES (",
                          LatestSchemaVersion() + 1, ", 'from the future')")));
  auto reopened = Reopen();
  EXPECT_TRUE(HasReason(reopened.status(), StatusCode::kFailedPrecondition, "SCHEMA_TOO_NEW"));
}

TEST_P(StoreContractTest, TransactionCommitsAllOrNothing) {
  // An error returned by the callback rolls back everything done inside.
  absl::Status s = store_->InTransaction([](RecordingStore& tx) -> absl::Status {
    if (auto r = tx.CreateRecording(MakeRecording("r1")); !r.ok()) return r.status();
    if (auto a = tx.AppendAudit(MakeAudit("r1", "start", kT0)); !a.ok()) return a.status();
    if (auto m = tx.MarkProcessed("consumer", "evt-1", kT0); !m.ok()) return m.status();
    return absl::CancelledError("CALLER_GAVE_UP: roll it back");
  });
  EXPECT_TRUE(HasReason(s, StatusCode::kCancelled, "CALLER_GAVE_UP"));
  EXPECT_EQ(store_->GetRecording("t1", "r1").status().code(), StatusCode::kNotFound);
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.entries_checked, 0);
  SB_ASSERT_OK_AND_ASSIGN(bool fresh, store_->MarkProcessed("consumer", "evt-1", kT0));
  EXPECT_TRUE(fresh);

  // A successful callback commits all of it.
  SB_ASSERT_OK(store_->InTransaction([](RecordingStore& tx) -> absl::Status {
    if (auto r = tx.CreateRecording(MakeRecording("r2")); !r.ok()) return r.status();
    // InTransaction on the inner store joins the same transaction.
    return tx.InTransaction([](RecordingStore& inner) {
      return inner.AppendAudit(MakeAudit("r2", "start", kT0)).status();
    });
  }));
  SB_ASSERT_OK(store_->GetRecording("t1", "r2"));
  SB_ASSERT_OK_AND_ASSIGN(auto audit, store_->ListAudit("t1", "r2"));
  EXPECT_EQ(audit.size(), 1u);
}

TEST_P(StoreContractTest, FailedStatementPoisonsTransaction) {
  // The callback swallows a database-level failure (invalid UTF-8 reaches the driver) and
  // returns OK: the commit must still fail and nothing may be stored.
  absl::Status s = store_->InTransaction([](RecordingStore& tx) -> absl::Status {
    if (auto r = tx.CreateRecording(MakeRecording("r1")); !r.ok()) return r.status();
    Review bad = MakeReview("rv1");
    bad.interaction_id = "\xff\xfe";
    EXPECT_TRUE(
        HasReason(tx.CreateReview(bad).status(), StatusCode::kInvalidArgument, "INVALID_TEXT"));
    return absl::OkStatus();
  });
  EXPECT_TRUE(HasReason(s, StatusCode::kInvalidArgument, "INVALID_TEXT"));
  EXPECT_EQ(store_->GetRecording("t1", "r1").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreContractTest, OuterStoreInsideTransactionIsRefused) {
  absl::Status inner_status;
  SB_ASSERT_OK(store_->InTransaction([&](RecordingStore& tx) -> absl::Status {
    inner_status = store_->GetRecording("t1", "r1").status();  // the outer store: wrong
    return absl::OkStatus();
  }));
  EXPECT_TRUE(HasReason(inner_status, StatusCode::kFailedPrecondition, "NESTED_TRANSACTION"));
}

TEST_P(StoreContractTest, ProcessedEventsDedupeEffects) {
  // The consumer pattern: the effect and the mark commit together, so a redelivered event is
  // skipped and a crash between them cannot happen.
  auto consume = [&](const std::string& event_id) -> absl::StatusOr<bool> {
    bool applied = false;
    absl::Status s = store_->InTransaction([&](RecordingStore& tx) -> absl::Status {
      auto fresh = tx.MarkProcessed("reviews-from-decisions", event_id, kT0);
      if (!fresh.ok()) return fresh.status();
      if (!*fresh) return absl::OkStatus();
      applied = true;
      return tx.CreateReview(MakeReview("rv-" + event_id)).status();
    });
    if (!s.ok()) return s;
    return applied;
  };
  SB_ASSERT_OK_AND_ASSIGN(bool first, consume("e1"));
  SB_ASSERT_OK_AND_ASSIGN(bool again, consume("e1"));
  EXPECT_TRUE(first);
  EXPECT_FALSE(again);
  SB_ASSERT_OK_AND_ASSIGN(bool other_consumer, store_->MarkProcessed("other", "e1", kT0));
  EXPECT_TRUE(other_consumer);
  SB_ASSERT_OK(store_->MarkProcessed("reviews-from-decisions", "e2", kT0 + 10));
  SB_ASSERT_OK_AND_ASSIGN(int64_t pruned,
                          store_->PruneProcessed("reviews-from-decisions", kT0 + 5));
  EXPECT_EQ(pruned, 1);
  SB_ASSERT_OK_AND_ASSIGN(bool after_prune,
                          store_->MarkProcessed("reviews-from-decisions", "e2", kT0));
  EXPECT_FALSE(after_prune);
  EXPECT_TRUE(HasReason(store_->MarkProcessed("", "e", kT0).status(), StatusCode::kInvalidArgument,
                        "MISSING_FIELD"));
}

// ---------------------------------------------------------------- recordings

TEST_P(StoreContractTest, CreateRecordingIsIdempotent) {
  SB_ASSERT_OK_AND_ASSIGN(Created<Recording> first, store_->CreateRecording(MakeRecording("r1")));
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.value.state, RecordingState::kRecording);
  EXPECT_EQ(first.value.updated_at_ms, kT0);
  SB_ASSERT_OK_AND_ASSIGN(Created<Recording> again, store_->CreateRecording(MakeRecording("r1")));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.value.customer_id, "c1");
  // Same id, different data.
  EXPECT_TRUE(HasReason(store_->CreateRecording(MakeRecording("r1", "c2")).status(),
                        StatusCode::kAlreadyExists, "ALREADY_EXISTS"));
  Recording other_tenant = MakeRecording("r1");
  other_tenant.tenant_id = "t2";
  EXPECT_EQ(store_->CreateRecording(other_tenant).status().code(), StatusCode::kAlreadyExists);
  // Tenant-scoped lookups.
  EXPECT_TRUE(
      HasReason(store_->GetRecording("t2", "r1").status(), StatusCode::kNotFound, "NOT_FOUND"));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r0", "c1", "q1", kT0 - 1)));
  Recording same_interaction = MakeRecording("r2", "c1", "q1", kT0 + 5);
  same_interaction.interaction_id = "i-r1";
  SB_ASSERT_OK(store_->CreateRecording(same_interaction));
  SB_ASSERT_OK_AND_ASSIGN(auto list, store_->ListRecordingsByInteraction("t1", "i-r1"));
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, "r1");
  EXPECT_EQ(list[1].id, "r2");
  EXPECT_TRUE(HasReason(store_->CreateRecording(MakeRecording("")).status(),
                        StatusCode::kInvalidArgument, "MISSING_FIELD"));
  EXPECT_TRUE(HasReason(store_->CreateRecording(MakeRecording(std::string(300, 'x'))).status(),
                        StatusCode::kInvalidArgument, "FIELD_TOO_LONG"));
}

TEST_P(StoreContractTest, RecordingStateIsCompareAndSet) {
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r1")));
  SB_ASSERT_OK_AND_ASSIGN(Recording paused,
                          store_->SetRecordingState("t1", "r1", RecordingState::kRecording,
                                                    RecordingState::kPaused, kT0 + 1000));
  EXPECT_EQ(paused.state, RecordingState::kPaused);
  EXPECT_EQ(paused.updated_at_ms, kT0 + 1000);
  EXPECT_TRUE(HasReason(store_
                            ->SetRecordingState("t1", "r1", RecordingState::kRecording,
                                                RecordingState::kStopped, kT0 + 2000)
                            .status(),
                        StatusCode::kFailedPrecondition, "STALE_STATE"));
  // Setting the state it has is a no-op success (a retried call).
  SB_ASSERT_OK(store_->SetRecordingState("t1", "r1", RecordingState::kPaused,
                                         RecordingState::kPaused, kT0 + 2000));
  EXPECT_TRUE(HasReason(
      store_->SetRecordingState("t1", "r1", RecordingState::kPaused, RecordingState::kErased, kT0)
          .status(),
      StatusCode::kInvalidArgument, "USE_ERASE"));
  EXPECT_TRUE(HasReason(
      store_
          ->SetRecordingState("t1", "nope", RecordingState::kPaused, RecordingState::kStopped, kT0)
          .status(),
      StatusCode::kNotFound, "NOT_FOUND"));
  SB_ASSERT_OK(store_->SetRecordingState("t1", "r1", RecordingState::kPaused,
                                         RecordingState::kDeleted, kT0 + 3000));
  EXPECT_TRUE(HasReason(
      store_
          ->SetRecordingState("t1", "r1", RecordingState::kDeleted, RecordingState::kRecording, kT0)
          .status(),
      StatusCode::kFailedPrecondition, "TERMINAL_STATE"));
}

TEST_P(StoreContractTest, GapsAreAppendedInOrder) {
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r1")));
  SB_ASSERT_OK(store_->AddGap("t1", "r1", Gap{1000, 5000, "card_data"}));
  SB_ASSERT_OK(store_->AddGap("t1", "r1", Gap{9000, 9500, "agent_request"}));
  SB_ASSERT_OK(store_->AddGap("t1", "r1", Gap{1000, 5000, "card_data"}));  // retried: no-op
  SB_ASSERT_OK_AND_ASSIGN(Recording r, store_->GetRecording("t1", "r1"));
  EXPECT_EQ(r.gaps, (std::vector<Gap>{{1000, 5000, "card_data"}, {9000, 9500, "agent_request"}}));
  EXPECT_TRUE(HasReason(store_->AddGap("t1", "r1", Gap{5, 4, "x"}), StatusCode::kInvalidArgument,
                        "BAD_GAP"));
  EXPECT_TRUE(
      HasReason(store_->AddGap("t1", "nope", Gap{1, 2, "x"}), StatusCode::kNotFound, "NOT_FOUND"));
}

TEST_P(StoreContractTest, MediaIsSetOnce) {
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r1")));
  SB_ASSERT_OK(store_->SetMedia("t1", "r1", MakeMedia("t1/r1.media"), kT0 + 1));
  SB_ASSERT_OK(store_->SetMedia("t1", "r1", MakeMedia("t1/r1.media"), kT0 + 2));  // retry
  MediaInfo other = MakeMedia("t1/r1.media");
  other.bytes = 99;
  EXPECT_TRUE(HasReason(store_->SetMedia("t1", "r1", other, kT0), StatusCode::kAlreadyExists,
                        "MEDIA_ALREADY_SET"));
  MediaInfo bad = MakeMedia("t1/r1.media");
  bad.sha256_hex = "xyz";
  EXPECT_TRUE(HasReason(store_->SetMedia("t1", "r1", bad, kT0), StatusCode::kInvalidArgument,
                        "BAD_SHA256"));
  SB_ASSERT_OK_AND_ASSIGN(Recording r, store_->GetRecording("t1", "r1"));
  ASSERT_TRUE(r.media.has_value());
  EXPECT_EQ(*r.media, MakeMedia("t1/r1.media"));
}

TEST_P(StoreContractTest, InvalidTextIsRejectedAlike) {
  Recording r = MakeRecording("r1");
  r.agent_id = std::string("a\0b", 3);
  EXPECT_TRUE(
      HasReason(store_->CreateRecording(r).status(), StatusCode::kInvalidArgument, "INVALID_TEXT"));
  r.agent_id = "caf\xc3";  // truncated UTF-8
  EXPECT_TRUE(
      HasReason(store_->CreateRecording(r).status(), StatusCode::kInvalidArgument, "INVALID_TEXT"));
  r.agent_id = "caf\xc3\xa9 \xe2\x82\xac";  // "café €" is fine
  SB_ASSERT_OK_AND_ASSIGN(Created<Recording> ok, store_->CreateRecording(r));
  EXPECT_EQ(ok.value.agent_id, r.agent_id);
}

// ---------------------------------------------------------------- retention and holds

TEST_P(StoreContractTest, QueueRuleBeatsTenantRule) {
  SB_ASSERT_OK(store_->PutRetentionRule({"t1", "", 30}));
  SB_ASSERT_OK(store_->PutRetentionRule({"t1", "q-short", 7}));
  SB_ASSERT_OK(store_->PutRetentionRule({"t1", "q-long", 90}));
  SB_ASSERT_OK(store_->PutRetentionRule({"t1", "q-long", 60}));  // replaces
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("short", "c", "q-short")));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("plain", "c", "q-plain")));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("long", "c", "q-long")));
  Recording other_tenant = MakeRecording("other", "c", "q-short");
  other_tenant.tenant_id = "t2";  // t2 has no rules: never expires
  SB_ASSERT_OK(store_->CreateRecording(other_tenant));

  auto ids = [&](int64_t now) {
    std::vector<std::string> out;
    auto expired = store_->ListExpiredRecordings("t1", now, 100);
    EXPECT_TRUE(expired.ok()) << expired.status();
    if (expired.ok()) {
      for (const auto& e : *expired) out.push_back(e.id);
    }
    return out;
  };
  EXPECT_EQ(ids(kT0 + 7 * kDay - 1), std::vector<std::string>{});
  EXPECT_EQ(ids(kT0 + 7 * kDay), std::vector<std::string>{"short"});
  EXPECT_EQ(ids(kT0 + 31 * kDay), (std::vector<std::string>{"plain", "short"}));
  EXPECT_EQ(ids(kT0 + 61 * kDay), (std::vector<std::string>{"long", "plain", "short"}));
  SB_ASSERT_OK_AND_ASSIGN(auto t2, store_->ListExpiredRecordings("t2", kT0 + 1000 * kDay, 10));
  EXPECT_TRUE(t2.empty());

  SB_ASSERT_OK_AND_ASSIGN(auto expired, store_->ListExpiredRecordings("t1", kT0 + 8 * kDay, 10));
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].retention_days, 7);
  EXPECT_EQ(expired[0].queue_id, "q-short");

  SB_ASSERT_OK_AND_ASSIGN(auto rules, store_->ListRetentionRules("t1"));
  EXPECT_EQ(rules, (std::vector<RetentionRule>{
                       {"t1", "", 30}, {"t1", "q-long", 60}, {"t1", "q-short", 7}}));
  SB_ASSERT_OK(store_->DeleteRetentionRule("t1", "q-short"));
  EXPECT_EQ(ids(kT0 + 8 * kDay), std::vector<std::string>{});  // now under the tenant's 30
  EXPECT_TRUE(HasReason(store_->PutRetentionRule({"t1", "", 0}), StatusCode::kInvalidArgument,
                        "BAD_RETENTION_DAYS"));
  EXPECT_TRUE(HasReason(store_->ListExpiredRecordings("t1", kT0, 0).status(),
                        StatusCode::kInvalidArgument, "BAD_LIMIT"));
}

TEST_P(StoreContractTest, LegalHoldBlocksExpiryAndDeletion) {
  SB_ASSERT_OK(store_->PutRetentionRule({"t1", "", 1}));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r1")));
  SB_ASSERT_OK(store_->SetMedia("t1", "r1", MakeMedia("t1/r1.media"), kT0));
  SB_ASSERT_OK(store_->SetRecordingState("t1", "r1", RecordingState::kRecording,
                                         RecordingState::kStopped, kT0));
  SB_ASSERT_OK(store_->SetLegalHold("t1", "r1", true, kT0 + 1));
  SB_ASSERT_OK_AND_ASSIGN(auto held, store_->ListExpiredRecordings("t1", kT0 + 5 * kDay, 10));
  EXPECT_TRUE(held.empty());
  EXPECT_TRUE(HasReason(store_
                            ->SetRecordingState("t1", "r1", RecordingState::kStopped,
                                                RecordingState::kDeleted, kT0 + 5 * kDay)
                            .status(),
                        StatusCode::kFailedPrecondition, "LEGAL_HOLD"));
  EXPECT_TRUE(HasReason(store_->MarkRecordingErased("t1", "r1", kT0).status(),
                        StatusCode::kFailedPrecondition, "LEGAL_HOLD"));
  SB_ASSERT_OK(store_->SetLegalHold("t1", "r1", false, kT0 + 2));
  SB_ASSERT_OK_AND_ASSIGN(auto expired, store_->ListExpiredRecordings("t1", kT0 + 5 * kDay, 10));
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].media_path, "t1/r1.media");
  SB_ASSERT_OK(store_->SetRecordingState("t1", "r1", RecordingState::kStopped,
                                         RecordingState::kDeleted, kT0 + 5 * kDay));
  SB_ASSERT_OK_AND_ASSIGN(auto after, store_->ListExpiredRecordings("t1", kT0 + 5 * kDay, 10));
  EXPECT_TRUE(after.empty());
  EXPECT_TRUE(
      HasReason(store_->SetLegalHold("t1", "nope", true, kT0), StatusCode::kNotFound, "NOT_FOUND"));
}

// ---------------------------------------------------------------- privacy

TEST_P(StoreContractTest, EraseCustomerClearsPersonalFields) {
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r1", "c1")));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r2", "c1")));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r3", "c1")));
  SB_ASSERT_OK(store_->CreateRecording(MakeRecording("r4", "c2")));
  SB_ASSERT_OK(store_->SetMedia("t1", "r1", MakeMedia("t1/r1.media"), kT0));
  SB_ASSERT_OK(store_->SetMedia("t1", "r4", MakeMedia("t1/r4.media"), kT0));
  SB_ASSERT_OK(store_->SetLegalHold("t1", "r3", true, kT0));
  // Feedback: by customer id, by an erased recording's interaction, and someone else's.
  Feedback by_customer{"f1", "t1", "i-other", "a1", "q1", "c1", 2, "call me at 555-0100",
                       1000, kT0};
  Feedback by_interaction{"f2", "t1", "i-r2", "a1", "q1", "", 1, "my name is Ann", 2000, kT0};
  Feedback unrelated{"f3", "t1", "i-r4", "a1", "q1", "c2", 5, "great", 3000, kT0};
  SB_ASSERT_OK(store_->CreateFeedback(by_customer));
  SB_ASSERT_OK(store_->CreateFeedback(by_interaction));
  SB_ASSERT_OK(store_->CreateFeedback(unrelated));

  SB_ASSERT_OK_AND_ASSIGN(EraseResult result,
                          store_->EraseCustomer("t1", "c1", "privacy:req-7", kT0 + 100));
  EXPECT_EQ(result.erased_recording_ids, (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(result.media_paths, std::vector<std::string>{"t1/r1.media"});
  EXPECT_EQ(result.held_recording_ids, std::vector<std::string>{"r3"});
  EXPECT_EQ(result.feedback_cleared, 2);

  for (const char* id : {"r1", "r2"}) {
    SB_ASSERT_OK_AND_ASSIGN(Recording r, store_->GetRecording("t1", id));
    EXPECT_EQ(r.state, RecordingState::kErased);
    EXPECT_EQ(r.customer_id, "");
    EXPECT_FALSE(r.media.has_value());
    EXPECT_EQ(r.erased_at_ms, kT0 + 100);
    EXPECT_EQ(r.interaction_id, std::string("i-") + id);  // the tombstone keeps its ids
    SB_ASSERT_OK_AND_ASSIGN(auto audit, store_->ListAudit("t1", id));
    ASSERT_EQ(audit.size(), 1u);
    EXPECT_EQ(audit[0].action, "erase");
    EXPECT_EQ(audit[0].principal, "privacy:req-7");
    EXPECT_EQ(audit[0].detail.find("c1"), std::string::npos);  // no personal data in the log
  }
  SB_ASSERT_OK_AND_ASSIGN(Recording held, store_->GetRecording("t1", "r3"));
  EXPECT_EQ(held.customer_id, "c1");
  SB_ASSERT_OK_AND_ASSIGN(Recording untouched, store_->GetRecording("t1", "r4"));
  EXPECT_EQ(untouched.customer_id, "c2");
  EXPECT_TRUE(untouched.media.has_value());

  SB_ASSERT_OK_AND_ASSIGN(auto f_other, store_->ListFeedbackByInteraction("t1", "i-other"));
  ASSERT_EQ(f_other.size(), 1u);
  EXPECT_EQ(f_other[0].comment, "");
  EXPECT_EQ(f_other[0].customer_id, "");
  EXPECT_EQ(f_other[0].csat, 2);  // the score stays for the statistics
  SB_ASSERT_OK_AND_ASSIGN(auto f_r2, store_->ListFeedbackByInteraction("t1", "i-r2"));
  ASSERT_EQ(f_r2.size(), 1u);
  EXPECT_EQ(f_r2[0].comment, "");
  SB_ASSERT_OK_AND_ASSIGN(auto f_r4, store_->ListFeedbackByInteraction("t1", "i-r4"));
  ASSERT_EQ(f_r4.size(), 1u);
  EXPECT_EQ(f_r4[0].comment, "great");

  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_EQ(v.entries_checked, 2);

  // Again: nothing left to erase (the held recording is still reported).
  SB_ASSERT_OK_AND_ASSIGN(EraseResult again,
                          store_->EraseCustomer("t1", "c1", "privacy:req-7", kT0 + 200));
  EXPECT_TRUE(again.erased_recording_ids.empty());
  EXPECT_EQ(again.held_recording_ids, std::vector<std::string>{"r3"});
  EXPECT_EQ(again.feedback_cleared, 0);
  // MarkRecordingErased is idempotent on a tombstone.
  SB_ASSERT_OK_AND_ASSIGN(std::string path, store_->MarkRecordingErased("t1", "r1", kT0));
  EXPECT_EQ(path, "");
  SB_ASSERT_OK_AND_ASSIGN(std::string path4, store_->MarkRecordingErased("t1", "r4", kT0));
  EXPECT_EQ(path4, "t1/r4.media");
}

// ---------------------------------------------------------------- audit chain

void AppendFive(RecordingStore& store) {
  const char* actions[] = {"start", "pause", "resume", "stop", "play"};
  for (int i = 0; i < 5; ++i) {
    auto e = store.AppendAudit(MakeAudit("r1", actions[i], kT0 + i));
    ASSERT_TRUE(e.ok()) << e.status();
    EXPECT_EQ(e->seq, i + 1);
  }
}

TEST_P(StoreContractTest, AuditChainVerifies) {
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult empty, store_->VerifyAudit());
  EXPECT_TRUE(empty.ok);
  EXPECT_EQ(empty.entries_checked, 0);
  AppendFive(*store_);
  SB_ASSERT_OK(store_->AppendAudit(MakeAudit("r2", "start", kT0)));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_EQ(v.entries_checked, 6);
  EXPECT_EQ(v.first_bad_seq, 0);
  SB_ASSERT_OK_AND_ASSIGN(auto r1, store_->ListAudit("t1", "r1"));
  ASSERT_EQ(r1.size(), 5u);
  EXPECT_EQ(r1[0].prev_hash, kGenesisHash);
  for (size_t i = 1; i < r1.size(); ++i) EXPECT_EQ(r1[i].prev_hash, r1[i - 1].hash);
  EXPECT_EQ(r1[2].action, "resume");
  EXPECT_TRUE(HasReason(store_->AppendAudit(MakeAudit("r1", "Bad Action", kT0)).status(),
                        StatusCode::kInvalidArgument, "BAD_ACTION"));
}

TEST_P(StoreContractTest, AuditDetectsEditedRow) {
  AppendFive(*store_);
  SB_ASSERT_OK(RawSql("UPDATE audit_log SET principal = 'agent:someone-else' WHERE seq = 3"));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, AuditTamper::kEdited);
  EXPECT_EQ(v.first_bad_seq, 3);
  EXPECT_EQ(v.entries_checked, 2);
}

TEST_P(StoreContractTest, AuditDetectsDeletedMiddleRow) {
  AppendFive(*store_);
  SB_ASSERT_OK(RawSql("DELETE FROM audit_log WHERE seq = 3"));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, AuditTamper::kRemoved);
  EXPECT_EQ(v.first_bad_seq, 3);
}

TEST_P(StoreContractTest, AuditDetectsDeletedFirstRow) {
  AppendFive(*store_);
  SB_ASSERT_OK(RawSql("DELETE FROM audit_log WHERE seq = 1"));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, AuditTamper::kRemoved);
  EXPECT_EQ(v.first_bad_seq, 1);
}

TEST_P(StoreContractTest, AuditDetectsDeletedLastRow) {
  AppendFive(*store_);
  SB_ASSERT_OK(RawSql("DELETE FROM audit_log WHERE seq = 5"));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, AuditTamper::kRemoved);
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_EQ(v.entries_checked, 4);
}

TEST_P(StoreContractTest, AuditDetectsReorderedRows) {
  AppendFive(*store_);
  // Swap rows 2 and 3 (through a free seq: the primary key is checked per row).
  SB_ASSERT_OK(RawSql("UPDATE audit_log SET seq = 1000 WHERE seq = 2"));
  SB_ASSERT_OK(RawSql("UPDATE audit_log SET seq = 2 WHERE seq = 3"));
  SB_ASSERT_OK(RawSql("UPDATE audit_log SET seq = 3 WHERE seq = 1000"));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, AuditTamper::kReordered);
  EXPECT_EQ(v.first_bad_seq, 2);
}

TEST_P(StoreContractTest, AuditDetectsRehashedEditOfLastRow) {
  // Someone edits the last row and recomputes its hash correctly, but cannot touch the head:
  // only the head catches it.
  AppendFive(*store_);
  SB_ASSERT_OK_AND_ASSIGN(auto entries, store_->ListAudit("t1", "r1"));
  ASSERT_EQ(entries.size(), 5u);
  AuditEntry forged = entries[4];
  forged.detail = "nothing happened";
  forged.hash = AuditChainHash(forged.prev_hash, forged);
  SB_ASSERT_OK(RawSql(Cat("UPDATE audit_log SET detail = 'nothing happened', hash = '", forged.hash,
                          "' WHERE seq = 5")));
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.reason, AuditTamper::kEdited);
  EXPECT_EQ(v.first_bad_seq, 5);
  EXPECT_EQ(v.entries_checked, 5);  // every row is self-consistent
}

TEST_P(StoreContractTest, ConcurrentAuditAppendsKeepOneChain) {
  constexpr int kThreads = 4;
  constexpr int kEach = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto e = store_->AppendAudit(MakeAudit(Cat("r", t), "play", kT0 + i));
        if (!e.ok()) {
          ++failures;
          ADD_FAILURE() << e.status();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  SB_ASSERT_OK_AND_ASSIGN(AuditVerifyResult v, store_->VerifyAudit());
  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_EQ(v.entries_checked, kThreads * kEach);
}

// ---------------------------------------------------------------- reviews

TEST_P(StoreContractTest, ReviewSourceKeyDedupes) {
  SB_ASSERT_OK_AND_ASSIGN(Created<Review> first,
                          store_->CreateReview(MakeReview("rv1", kT0, "evt-1")));
  EXPECT_TRUE(first.created);
  EXPECT_EQ(first.value.updated_at_ms, kT0);
  // The same event again, under a new id: the existing task, never a duplicate.
  Review dup = MakeReview("rv2", kT0 + 5, "evt-1");
  dup.kind = ReviewKind::kEscalation;
  SB_ASSERT_OK_AND_ASSIGN(Created<Review> second, store_->CreateReview(dup));
  EXPECT_FALSE(second.created);
  EXPECT_EQ(second.value.id, "rv1");
  EXPECT_EQ(second.value.kind, ReviewKind::kDisconnect);
  EXPECT_EQ(store_->GetReview("t1", "rv2").status().code(), StatusCode::kNotFound);
  // The key is per tenant.
  Review other_tenant = MakeReview("rv3", kT0, "evt-1");
  other_tenant.tenant_id = "t2";
  SB_ASSERT_OK_AND_ASSIGN(Created<Review> third, store_->CreateReview(other_tenant));
  EXPECT_TRUE(third.created);
  // Without a key: idempotent on id.
  SB_ASSERT_OK(store_->CreateReview(MakeReview("rv4")));
  SB_ASSERT_OK_AND_ASSIGN(Created<Review> repeat, store_->CreateReview(MakeReview("rv4")));
  EXPECT_FALSE(repeat.created);
  Review changed = MakeReview("rv4");
  changed.agent_id = "a2";
  EXPECT_TRUE(HasReason(store_->CreateReview(changed).status(), StatusCode::kAlreadyExists,
                        "ALREADY_EXISTS"));
  // A new key but an id that is taken by a different task.
  EXPECT_EQ(store_->CreateReview(MakeReview("rv4", kT0, "evt-9")).status().code(),
            StatusCode::kAlreadyExists);
  SB_ASSERT_OK_AND_ASSIGN(auto all, store_->ListReviews(RFilter("t1")));
  EXPECT_EQ(all.reviews.size(), 2u);
}

TEST_P(StoreContractTest, ConcurrentCreatesWithOneSourceKeyMakeOneTask) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::atomic<int> created{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto r = store_->CreateReview(MakeReview(Cat("rv", t), kT0, "evt-shared"));
      if (!r.ok()) {
        ADD_FAILURE() << r.status();
        return;
      }
      if (r->created) ++created;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), 1);
  SB_ASSERT_OK_AND_ASSIGN(auto all, store_->ListReviews(RFilter("t1")));
  EXPECT_EQ(all.reviews.size(), 1u);
}

TEST_P(StoreContractTest, ReviewStatusIsOptimistic) {
  SB_ASSERT_OK(store_->CreateReview(MakeReview("rv1")));
  SB_ASSERT_OK_AND_ASSIGN(Review r, store_->UpdateReviewStatus("t1", "rv1", ReviewStatus::kOpen,
                                                               ReviewStatus::kSubmitted, kT0 + 10));
  EXPECT_EQ(r.status, ReviewStatus::kSubmitted);
  EXPECT_EQ(r.updated_at_ms, kT0 + 10);
  EXPECT_TRUE(HasReason(
      store_
          ->UpdateReviewStatus("t1", "rv1", ReviewStatus::kOpen, ReviewStatus::kSubmitted, kT0 + 20)
          .status(),
      StatusCode::kFailedPrecondition, "STALE_STATUS"));
  EXPECT_TRUE(HasReason(
      store_
          ->UpdateReviewStatus("t2", "rv1", ReviewStatus::kSubmitted, ReviewStatus::kDisputed, kT0)
          .status(),
      StatusCode::kNotFound, "NOT_FOUND"));

  // Racing updaters from the same expected status: exactly one wins.
  SB_ASSERT_OK(store_->CreateReview(MakeReview("rv2")));
  std::atomic<int> wins{0}, stale{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto u = store_->UpdateReviewStatus("t1", "rv2", ReviewStatus::kOpen,
                                          ReviewStatus::kSubmitted, kT0);
      if (u.ok()) {
        ++wins;
      } else if (HasReason(u.status(), StatusCode::kFailedPrecondition, "STALE_STATUS")) {
        ++stale;
      } else {
        ADD_FAILURE() << u.status();
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wins.load(), 1);
  EXPECT_EQ(stale.load(), 3);
}

TEST_P(StoreContractTest, CountOpenReviewsByKind) {
  Review a = MakeReview("a");
  Review b = MakeReview("b");
  Review c = MakeReview("c");
  c.kind = ReviewKind::kLowCsat;
  Review d = MakeReview("d");
  d.tenant_id = "t2";
  for (const Review& r : {a, b, c, d}) SB_ASSERT_OK(store_->CreateReview(r));
  SB_ASSERT_OK(
      store_->UpdateReviewStatus("t1", "b", ReviewStatus::kOpen, ReviewStatus::kSubmitted, kT0));
  SB_ASSERT_OK_AND_ASSIGN(auto t1, store_->CountOpenReviewsByKind("t1"));
  EXPECT_EQ(
      t1, (std::map<ReviewKind, int64_t>{{ReviewKind::kDisconnect, 1}, {ReviewKind::kLowCsat, 1}}));
  SB_ASSERT_OK_AND_ASSIGN(auto all, store_->CountOpenReviewsByKind(""));
  EXPECT_EQ(all, (std::map<ReviewKind, int64_t>{{ReviewKind::kDisconnect, 2},
                                                {ReviewKind::kLowCsat, 1}}));
}

// The model ListReviews must agree with: filter, then order by (created_at_ms, id).
std::vector<std::string> ModelList(const std::vector<Review>& all, const ReviewFilter& f) {
  std::vector<Review> out;
  for (const Review& r : all) {
    if (r.tenant_id != f.tenant_id) continue;
    if (f.status && r.status != *f.status) continue;
    if (f.kind && r.kind != *f.kind) continue;
    if (!f.agent_id.empty() && r.agent_id != f.agent_id) continue;
    if (!f.interaction_id.empty() && r.interaction_id != f.interaction_id) continue;
    if (!f.team_ids.empty() &&
        std::find(f.team_ids.begin(), f.team_ids.end(), r.team_id) == f.team_ids.end()) {
      continue;
    }
    out.push_back(r);
  }
  std::sort(out.begin(), out.end(), [](const Review& x, const Review& y) {
    return std::tie(x.created_at_ms, x.id) < std::tie(y.created_at_ms, y.id);
  });
  std::vector<std::string> ids;
  for (const Review& r : out) ids.push_back(r.id);
  return ids;
}

TEST_P(StoreContractTest, KeysetPaginationIsStableUnderInserts) {
  const uint32_t seed = std::random_device{}();
  std::cout << "KeysetPaginationIsStableUnderInserts seed=" << seed << "\n";
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  const ReviewKind kinds[] = {ReviewKind::kDisconnect, ReviewKind::kEscalation,
                              ReviewKind::kLowCsat, ReviewKind::kSample};
  const ReviewStatus statuses[] = {ReviewStatus::kOpen, ReviewStatus::kSubmitted};
  std::vector<Review> all;
  int next_id = 0;
  auto make = [&](int64_t created) {
    Review r;
    // Ids that do not sort like their numbers, and mixed case: the order is bytewise.
    r.id = Cat(pick(2) ? "R" : "r", "-", (next_id * 7919) % 1000, "-", next_id);
    ++next_id;
    r.tenant_id = pick(10) == 0 ? "t2" : "t1";
    r.interaction_id = Cat("i", pick(20));
    r.agent_id = Cat("a", pick(5));
    r.team_id = Cat("team", pick(4));
    r.kind = kinds[pick(4)];
    r.status = statuses[pick(2)];
    r.created_at_ms = created;  // few distinct values: many ties broken by id
    return r;
  };
  SB_ASSERT_OK(store_->InTransaction([&](RecordingStore& tx) -> absl::Status {
    for (int i = 0; i < 300; ++i) {
      Review r = make(kT0 + pick(40));
      if (auto c = tx.CreateReview(r); !c.ok()) return c.status();
      all.push_back(r);
    }
    return absl::OkStatus();
  }));

  std::vector<ReviewFilter> filters = {
      RFilter("t1"),
      RFilter("t1", [](ReviewFilter& f) { f.status = ReviewStatus::kOpen; }),
      RFilter("t1", [](ReviewFilter& f) { f.kind = ReviewKind::kLowCsat; }),
      RFilter("t1", [](ReviewFilter& f) { f.agent_id = "a3"; }),
      RFilter("t1",
              [](ReviewFilter& f) {
                f.team_ids = {"team1", "team3"};
              }),
      RFilter("t1",
              [](ReviewFilter& f) {
                f.status = ReviewStatus::kSubmitted;
                f.team_ids = {"team0"};
              }),
      RFilter("t1", [](ReviewFilter& f) { f.interaction_id = "i7"; }),
      RFilter("t2", [](ReviewFilter& f) { f.status = ReviewStatus::kOpen; }),
  };
  for (ReviewFilter f : filters) {
    const std::vector<std::string> before = ModelList(all, f);
    f.limit = 3 + pick(10);
    SCOPED_TRACE(::testing::Message() << "limit=" << f.limit << " expecting " << before.size());
    std::vector<std::string> seen;
    std::set<std::string> seen_set;
    std::tuple<int64_t, std::string> last{INT64_MIN, ""};
    for (int page = 0; page < 1000; ++page) {
      SB_ASSERT_OK_AND_ASSIGN(ReviewPage p, store_->ListReviews(f));
      ASSERT_LE(static_cast<int>(p.reviews.size()), f.limit);
      for (const Review& r : p.reviews) {
        const std::tuple<int64_t, std::string> key{r.created_at_ms, r.id};
        ASSERT_LT(last, key) << "out of order or repeated: " << r.id;
        last = key;
        ASSERT_TRUE(seen_set.insert(r.id).second);
        seen.push_back(r.id);
      }
      if (p.next_page_token.empty()) break;
      ASSERT_EQ(static_cast<int>(p.reviews.size()), f.limit);
      f.page_token = p.next_page_token;
      // Concurrent inserts, before and after the cursor, must not disturb the paging.
      Review r = make(kT0 + pick(40));
      SB_ASSERT_OK(store_->CreateReview(r));
      all.push_back(r);
    }
    // Every row that existed when paging began was returned exactly once, in order.
    std::vector<std::string> subsequence;
    std::set<std::string> before_set(before.begin(), before.end());
    for (const std::string& id : seen) {
      if (before_set.count(id)) subsequence.push_back(id);
    }
    EXPECT_EQ(subsequence, before);
    // And every row seen matches the filter as of the end.
    const std::vector<std::string> after_model = ModelList(all, f);
    std::set<std::string> after_set(after_model.begin(), after_model.end());
    for (const std::string& id : seen) EXPECT_TRUE(after_set.count(id)) << id;
  }
}

TEST_P(StoreContractTest, ListReviewsRejectsBadInput) {
  EXPECT_TRUE(
      HasReason(store_->ListReviews(RFilter("t1", [](ReviewFilter& f) { f.limit = 0; })).status(),
                StatusCode::kInvalidArgument, "BAD_LIMIT"));
  EXPECT_TRUE(HasReason(
      store_->ListReviews(RFilter("t1", [](ReviewFilter& f) { f.limit = kMaxPageSize + 1; }))
          .status(),
      StatusCode::kInvalidArgument, "BAD_LIMIT"));
  EXPECT_TRUE(HasReason(
      store_->ListReviews(RFilter("t1", [](ReviewFilter& f) { f.page_token = "garbage!"; }))
          .status(),
      StatusCode::kInvalidArgument, "BAD_PAGE_TOKEN"));
  EXPECT_TRUE(HasReason(store_->ListReviews(RFilter("")).status(), StatusCode::kInvalidArgument,
                        "MISSING_FIELD"));
  ReviewFilter many = RFilter("t1");
  many.team_ids.assign(kMaxTeamIds + 1, "team");
  EXPECT_TRUE(HasReason(store_->ListReviews(many).status(), StatusCode::kInvalidArgument,
                        "TOO_MANY_TEAMS"));
}

// ---------------------------------------------------------------- evaluations and disputes

TEST_P(StoreContractTest, EvaluationsSupportCalibration) {
  Review main = MakeReview("rv1");
  Review calib = MakeReview("rv2", kT0, "calibration:i1");
  calib.kind = ReviewKind::kCalibration;
  SB_ASSERT_OK(store_->CreateReview(main));
  SB_ASSERT_OK(store_->CreateReview(calib));
  Evaluation e1{
      "e1",      "t1",
      "rv1",     "",
      "qa:ann",  "form-a",
      2,         R"({"q1":"yes"})",
      0.1 + 0.2, false,
      kT0 + 10,  {{15000, "greeting ok", "qa:ann"}, {31000, "no warning given", "qa:ann"}}};
  Evaluation e2{"e2", "t1", "rv2", "", "qa:bob", "form-a", 2, "{}", 73.25, true, kT0 + 20, {}};
  Evaluation e3{"e3", "t1", "rv2", "",    "qa:cy",  "form-a",
                2,    "{}", 80,    false, kT0 + 30, {{0, "", "qa:cy"}}};
  for (const Evaluation& e : {e1, e2, e3}) {
    SB_ASSERT_OK_AND_ASSIGN(Created<Evaluation> c, store_->CreateEvaluation(e));
    EXPECT_TRUE(c.created);
    EXPECT_EQ(c.value.interaction_id, "i1");  // taken from the review
  }
  SB_ASSERT_OK_AND_ASSIGN(Created<Evaluation> again, store_->CreateEvaluation(e1));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.value.comments, e1.comments);
  EXPECT_EQ(again.value.score, 0.1 + 0.2);  // exact round trip of a double
  Evaluation changed = e1;
  changed.score = 1;
  EXPECT_TRUE(HasReason(store_->CreateEvaluation(changed).status(), StatusCode::kAlreadyExists,
                        "ALREADY_EXISTS"));
  Evaluation orphan = e1;
  orphan.id = "e9";
  orphan.review_id = "nope";
  EXPECT_TRUE(
      HasReason(store_->CreateEvaluation(orphan).status(), StatusCode::kNotFound, "NOT_FOUND"));
  Evaluation nan = e1;
  nan.id = "e10";
  nan.score = std::nan("");
  EXPECT_TRUE(HasReason(store_->CreateEvaluation(nan).status(), StatusCode::kInvalidArgument,
                        "BAD_NUMBER"));

  SB_ASSERT_OK_AND_ASSIGN(auto by_review, store_->ListEvaluationsByReview("t1", "rv2"));
  ASSERT_EQ(by_review.size(), 2u);
  EXPECT_EQ(by_review[0].id, "e2");
  EXPECT_TRUE(by_review[0].critical_failed);
  EXPECT_EQ(by_review[1].comments.size(), 1u);
  SB_ASSERT_OK_AND_ASSIGN(auto by_interaction, store_->ListEvaluationsByInteraction("t1", "i1"));
  ASSERT_EQ(by_interaction.size(), 3u);
  Evaluation expected1 = e1;
  expected1.interaction_id = "i1";
  EXPECT_EQ(by_interaction[0], expected1);
  EXPECT_EQ(by_interaction[1].reviewer, "qa:bob");
  EXPECT_EQ(by_interaction[2].reviewer, "qa:cy");
  SB_ASSERT_OK_AND_ASSIGN(auto other_tenant, store_->ListEvaluationsByInteraction("t2", "i1"));
  EXPECT_TRUE(other_tenant.empty());
}

TEST_P(StoreContractTest, DisputeLifecycle) {
  SB_ASSERT_OK(store_->CreateReview(MakeReview("rv1")));
  Dispute d;
  d.tenant_id = "t1";
  d.review_id = "rv1";
  d.agent_id = "a1";
  d.reason = "the caller was abusive before I warned";
  d.opened_at_ms = kT0;
  SB_ASSERT_OK_AND_ASSIGN(Created<Dispute> opened, store_->OpenDispute(d));
  EXPECT_TRUE(opened.created);
  EXPECT_FALSE(opened.value.resolved);
  SB_ASSERT_OK_AND_ASSIGN(Created<Dispute> repeat, store_->OpenDispute(d));
  EXPECT_FALSE(repeat.created);
  Dispute other = d;
  other.reason = "something else";
  EXPECT_TRUE(
      HasReason(store_->OpenDispute(other).status(), StatusCode::kAlreadyExists, "DISPUTE_EXISTS"));
  Dispute orphan = d;
  orphan.review_id = "nope";
  EXPECT_TRUE(HasReason(store_->OpenDispute(orphan).status(), StatusCode::kNotFound, "NOT_FOUND"));

  SB_ASSERT_OK_AND_ASSIGN(Dispute resolved,
                          store_->ResolveDispute("t1", "rv1", "upheld", "sup:s1", kT0 + 50));
  EXPECT_TRUE(resolved.resolved);
  EXPECT_EQ(resolved.resolved_at_ms, kT0 + 50);
  SB_ASSERT_OK(store_->ResolveDispute("t1", "rv1", "upheld", "sup:s1", kT0 + 60));  // retry
  EXPECT_TRUE(HasReason(store_->ResolveDispute("t1", "rv1", "rejected", "sup:s1", kT0).status(),
                        StatusCode::kFailedPrecondition, "DISPUTE_RESOLVED"));
  SB_ASSERT_OK_AND_ASSIGN(Dispute got, store_->GetDispute("t1", "rv1"));
  EXPECT_EQ(got, resolved);
  EXPECT_TRUE(
      HasReason(store_->GetDispute("t2", "rv1").status(), StatusCode::kNotFound, "NOT_FOUND"));
}

// ---------------------------------------------------------------- forms, feedback, coaching

TEST_P(StoreContractTest, FormsAreVersioned) {
  EvaluationForm v1{"t1", "form-a", 1, "sections: [v1]", kT0};
  EvaluationForm v3{"t1", "form-a", 3, "sections: [v3]", kT0 + 1};
  SB_ASSERT_OK_AND_ASSIGN(Created<EvaluationForm> c1, store_->PutForm(v1));
  EXPECT_TRUE(c1.created);
  SB_ASSERT_OK(store_->PutForm(v3));
  SB_ASSERT_OK_AND_ASSIGN(Created<EvaluationForm> again, store_->PutForm(v1));
  EXPECT_FALSE(again.created);
  EvaluationForm v1_changed = v1;
  v1_changed.definition_text = "sections: [other]";
  EXPECT_TRUE(HasReason(store_->PutForm(v1_changed).status(), StatusCode::kAlreadyExists,
                        "FORM_VERSION_EXISTS"));
  EXPECT_TRUE(HasReason(store_->PutForm({"t1", "form-a", 2, "late", kT0}).status(),
                        StatusCode::kFailedPrecondition, "FORM_VERSION_NOT_NEWER"));
  EXPECT_TRUE(HasReason(store_->PutForm({"t1", "form-a", 0, "zero", kT0}).status(),
                        StatusCode::kInvalidArgument, "BAD_VERSION"));
  SB_ASSERT_OK_AND_ASSIGN(EvaluationForm latest, store_->GetLatestForm("t1", "form-a"));
  EXPECT_EQ(latest, v3);
  SB_ASSERT_OK_AND_ASSIGN(EvaluationForm got1, store_->GetForm("t1", "form-a", 1));
  EXPECT_EQ(got1, v1);
  EXPECT_EQ(store_->GetForm("t1", "form-a", 2).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->GetLatestForm("t2", "form-a").status().code(), StatusCode::kNotFound);
}

TEST_P(StoreContractTest, FeedbackIsIdempotent) {
  Feedback f{"f1", "t1", "i1", "a1", "q1", "c1", 1, "waited forever", 600000, kT0};
  SB_ASSERT_OK_AND_ASSIGN(Created<Feedback> c, store_->CreateFeedback(f));
  EXPECT_TRUE(c.created);
  SB_ASSERT_OK_AND_ASSIGN(Created<Feedback> again, store_->CreateFeedback(f));
  EXPECT_FALSE(again.created);
  EXPECT_EQ(again.value, f);
  Feedback changed = f;
  changed.csat = 2;
  EXPECT_EQ(store_->CreateFeedback(changed).status().code(), StatusCode::kAlreadyExists);
  Feedback bad = f;
  bad.id = "f2";
  bad.csat = 6;
  EXPECT_TRUE(HasReason(store_->CreateFeedback(bad).status(), StatusCode::kInvalidArgument,
                        "CSAT_OUT_OF_RANGE"));
  Feedback second{"f0", "t1", "i1", "a1", "q1", "", 5, "", 0, kT0 - 1};
  SB_ASSERT_OK(store_->CreateFeedback(second));
  SB_ASSERT_OK_AND_ASSIGN(auto list, store_->ListFeedbackByInteraction("t1", "i1"));
  EXPECT_EQ(list, (std::vector<Feedback>{second, f}));
}

TEST_P(StoreContractTest, CoachingTasksDedupeAndCompareAndSet) {
  CoachingTask t{"ct1",
                 "t1",
                 "a1",
                 "s1",
                 "team1",
                 "score below 70 for 2 weeks",
                 64.5,
                 CoachingStatus::kOpen,
                 "coach:a1:2024-w07",
                 kT0,
                 0};
  SB_ASSERT_OK_AND_ASSIGN(Created<CoachingTask> c, store_->CreateCoachingTask(t));
  EXPECT_TRUE(c.created);
  EXPECT_EQ(c.value.updated_at_ms, kT0);
  CoachingTask dup = t;
  dup.id = "ct2";
  SB_ASSERT_OK_AND_ASSIGN(Created<CoachingTask> d, store_->CreateCoachingTask(dup));
  EXPECT_FALSE(d.created);
  EXPECT_EQ(d.value.id, "ct1");
  CoachingTask t3 = t;
  t3.id = "ct3";
  t3.dedupe_key = "";
  t3.agent_id = "a2";
  t3.created_at_ms = kT0 + 1;
  SB_ASSERT_OK(store_->CreateCoachingTask(t3));
  SB_ASSERT_OK_AND_ASSIGN(
      auto for_s1,
      store_->ListCoachingTasks(CFilter([](CoachingFilter& f) { f.supervisor_id = "s1"; })));
  ASSERT_EQ(for_s1.size(), 2u);
  EXPECT_EQ(for_s1[0].id, "ct1");
  SB_ASSERT_OK_AND_ASSIGN(auto for_a2, store_->ListCoachingTasks(
                                           CFilter([](CoachingFilter& f) { f.agent_id = "a2"; })));
  ASSERT_EQ(for_a2.size(), 1u);
  SB_ASSERT_OK_AND_ASSIGN(CoachingTask done,
                          store_->UpdateCoachingTaskStatus("t1", "ct1", CoachingStatus::kOpen,
                                                           CoachingStatus::kDone, kT0 + 9));
  EXPECT_EQ(done.status, CoachingStatus::kDone);
  EXPECT_TRUE(HasReason(store_
                            ->UpdateCoachingTaskStatus("t1", "ct1", CoachingStatus::kOpen,
                                                       CoachingStatus::kCancelled, kT0)
                            .status(),
                        StatusCode::kFailedPrecondition, "STALE_STATUS"));
  SB_ASSERT_OK_AND_ASSIGN(auto open, store_->ListCoachingTasks(CFilter([](CoachingFilter& f) {
    f.status = CoachingStatus::kOpen;
  })));
  ASSERT_EQ(open.size(), 1u);
  EXPECT_EQ(open[0].id, "ct3");
}

}  // namespace
}  // namespace sb::recording::storage::testing
