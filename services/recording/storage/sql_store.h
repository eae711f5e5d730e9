// SqlRecordingStore: the RecordingStore written once over a SqlDriver (sql_driver.h). The
// SQLite and PostgreSQL adapters are drivers plus an Open function that returns one of these
// (the shape of Temporal's SQL persistence with its per-database plugins).
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recording/storage/sql_driver.h"
#include "recording/storage/store.h"

namespace sb::recording::storage {

// SqlRecordingStore
//
// Owns (shares) the driver. A store made by Open is thread-safe: each call takes a connection
// (PostgreSQL pool) or the connection mutex (SQLite) for its own transaction. InTransaction
// hands the callback a store bound to one open transaction; that one is confined to the
// callback's thread and must not outlive the call.
class SqlRecordingStore final : public RecordingStore {
 public:
  // Runs the migrations (migrations.h), then returns the store.
  static absl::StatusOr<std::unique_ptr<SqlRecordingStore>> Open(std::shared_ptr<SqlDriver> driver);

  ~SqlRecordingStore() override;

  SqlDialect dialect() const { return driver_->dialect(); }

  // For tests only: runs raw SQL (e.g. to tamper with the audit log or fake a newer schema) in
  // its own transaction. Never call this from service code.
  absl::Status ExecRawSqlForTesting(std::string_view sql);

  absl::Status InTransaction(std::function<absl::Status(RecordingStore&)> fn) override;
  absl::StatusOr<int64_t> SchemaVersion() override;

  absl::StatusOr<Created<Recording>> CreateRecording(const Recording& r) override;
  absl::StatusOr<Recording> GetRecording(std::string_view tenant_id, std::string_view id) override;
  absl::StatusOr<std::vector<Recording>> ListRecordingsByInteraction(
      std::string_view tenant_id, std::string_view interaction_id) override;
  absl::StatusOr<Recording> SetRecordingState(std::string_view tenant_id, std::string_view id,
                                              RecordingState expected, RecordingState next,
                                              int64_t at_ms) override;
  absl::Status AddGap(std::string_view tenant_id, std::string_view recording_id,
                      const Gap& gap) override;
  absl::Status SetMedia(std::string_view tenant_id, std::string_view recording_id,
                        const MediaInfo& media, int64_t at_ms) override;
  absl::Status SetLegalHold(std::string_view tenant_id, std::string_view recording_id, bool on,
                            int64_t at_ms) override;
  absl::StatusOr<std::string> MarkRecordingErased(std::string_view tenant_id,
                                                  std::string_view recording_id,
                                                  int64_t at_ms) override;
  absl::StatusOr<std::vector<ExpiredRecording>> ListExpiredRecordings(std::string_view tenant_id,
                                                                      int64_t now_ms,
                                                                      int32_t limit) override;

  absl::Status PutRetentionRule(const RetentionRule& rule) override;
  absl::Status DeleteRetentionRule(std::string_view tenant_id, std::string_view queue_id) override;
  absl::StatusOr<std::vector<RetentionRule>> ListRetentionRules(
      std::string_view tenant_id) override;

  absl::StatusOr<AuditEntry> AppendAudit(const AuditEntry& entry) override;
  absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::string_view tenant_id,
                                                    std::string_view recording_id) override;
  absl::StatusOr<AuditVerifyResult> VerifyAudit() override;

  absl::StatusOr<Created<Review>> CreateReview(const Review& review) override;
  absl::StatusOr<Review> GetReview(std::string_view tenant_id, std::string_view id) override;
  absl::StatusOr<ReviewPage> ListReviews(const ReviewFilter& filter) override;
  absl::StatusOr<std::map<ReviewKind, int64_t>> CountOpenReviewsByKind(
      std::string_view tenant_id) override;
  absl::StatusOr<Review> UpdateReviewStatus(std::string_view tenant_id, std::string_view id,
                                            ReviewStatus expected, ReviewStatus next,
                                            int64_t at_ms) override;

  absl::StatusOr<Created<Evaluation>> CreateEvaluation(const Evaluation& evaluation) override;
  absl::StatusOr<std::vector<Evaluation>> ListEvaluationsByReview(
      std::string_view tenant_id, std::string_view review_id) override;
  absl::StatusOr<std::vector<Evaluation>> ListEvaluationsByInteraction(
      std::string_view tenant_id, std::string_view interaction_id) override;

  absl::StatusOr<Created<Dispute>> OpenDispute(const Dispute& dispute) override;
  absl::StatusOr<Dispute> GetDispute(std::string_view tenant_id,
                                     std::string_view review_id) override;
  absl::StatusOr<Dispute> ResolveDispute(std::string_view tenant_id, std::string_view review_id,
                                         std::string_view resolution, std::string_view resolved_by,
                                         int64_t at_ms) override;

  absl::StatusOr<Created<EvaluationForm>> PutForm(const EvaluationForm& form) override;
  absl::StatusOr<EvaluationForm> GetForm(std::string_view tenant_id, std::string_view form_id,
                                         int64_t version) override;
  absl::StatusOr<EvaluationForm> GetLatestForm(std::string_view tenant_id,
                                               std::string_view form_id) override;

  absl::StatusOr<Created<Feedback>> CreateFeedback(const Feedback& feedback) override;
  absl::StatusOr<std::vector<Feedback>> ListFeedbackByInteraction(
      std::string_view tenant_id, std::string_view interaction_id) override;

  absl::StatusOr<Created<CoachingTask>> CreateCoachingTask(const CoachingTask& task) override;
  absl::StatusOr<std::vector<CoachingTask>> ListCoachingTasks(
      const CoachingFilter& filter) override;
  absl::StatusOr<CoachingTask> UpdateCoachingTaskStatus(std::string_view tenant_id,
                                                        std::string_view id,
                                                        CoachingStatus expected,
                                                        CoachingStatus next,
                                                        int64_t at_ms) override;

  absl::StatusOr<bool> MarkProcessed(std::string_view consumer, std::string_view event_id,
                                     int64_t at_ms) override;
  absl::StatusOr<int64_t> PruneProcessed(std::string_view consumer, int64_t before_ms) override;

  absl::Status MergeInteraction(const InteractionRecord& r) override;
  absl::StatusOr<InteractionRecord> GetInteraction(std::string_view tenant_id,
                                                   std::string_view interaction_id) override;
  absl::StatusOr<std::vector<InteractionRecord>> ListEndedInteractions(
      std::string_view tenant_id, int64_t from_ms, int64_t to_ms, int64_t after_ended_ms,
      std::string_view after_id, int32_t limit) override;
  absl::Status UpsertAgent(const AgentRecord& a) override;
  absl::StatusOr<AgentRecord> GetAgent(std::string_view tenant_id,
                                       std::string_view agent_id) override;
  absl::Status PutReviewDetails(const ReviewDetails& d) override;
  absl::StatusOr<ReviewDetails> GetReviewDetails(std::string_view tenant_id,
                                                 std::string_view review_id) override;
  absl::StatusOr<std::vector<ReviewDetails>> ListReviewDetails(
      std::string_view tenant_id, const std::vector<std::string>& review_ids) override;
  absl::StatusOr<std::vector<ReviewDetails>> ListScoredReviewsOfAgent(std::string_view tenant_id,
                                                                      std::string_view agent_id,
                                                                      int64_t since_ms,
                                                                      int32_t limit) override;

  absl::StatusOr<EraseResult> EraseCustomer(std::string_view tenant_id,
                                            std::string_view customer_id,
                                            std::string_view principal, int64_t at_ms) override;

 private:
  SqlRecordingStore(std::shared_ptr<SqlDriver> driver, SqlTx* bound_tx);

  // Runs `fn` in the bound transaction, or in a new one (committed on OK, retried on ABORTED).
  template <typename T, typename Fn>
  absl::StatusOr<T> Run(TxMode mode, Fn&& fn);
  template <typename Fn>
  absl::Status RunStatus(TxMode mode, Fn&& fn);

  std::shared_ptr<SqlDriver> driver_;
  SqlTx* bound_tx_ = nullptr;  // set for the store handed to an InTransaction callback
};

}  // namespace sb::recording::storage
