// The storage port of sb-recording: recordings and their audit log, retention, reviews,
// evaluations, disputes, forms, feedback, coaching tasks and consumer dedupe. Plain structs, no
// protobuf. Adapters: SQLite (sqlite_store.h) and PostgreSQL (postgres_store.h), both built on
// the shared SQL implementation in sql_store.h; OpenStore (open_store.h) picks one from a URL.
// One contract test suite (store_contract_test.cc) runs against each. See
// docs/recording-storage.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recording/storage/audit_chain.h"

namespace sb::recording::storage {

// ---- Enumerations (stored as their UPPER_SNAKE names) ----

enum class RecordingState { kRecording, kPaused, kStopped, kDeleted, kErased };
enum class ReviewKind {
  kDisconnect,
  kEscalation,
  kLowCsat,
  kSample,
  kManualSupervisor,
  kManualAgent,
  kCalibration,
};
enum class ReviewStatus { kOpen, kSubmitted, kAcknowledged, kDisputed, kResolved };
enum class CoachingStatus { kOpen, kDone, kCancelled };

std::string_view RecordingStateName(RecordingState v);  // "RECORDING", ...
std::string_view ReviewKindName(ReviewKind v);          // "DISCONNECT", "LOW_CSAT", ...
std::string_view ReviewStatusName(ReviewStatus v);      // "OPEN", ...
std::string_view CoachingStatusName(CoachingStatus v);  // "OPEN", "DONE", "CANCELLED"
std::optional<RecordingState> ParseRecordingState(std::string_view name);
std::optional<ReviewKind> ParseReviewKind(std::string_view name);
std::optional<ReviewStatus> ParseReviewStatus(std::string_view name);
std::optional<CoachingStatus> ParseCoachingStatus(std::string_view name);

// ---- Records ----

// The result of an idempotent create: the stored value (the existing one on a repeat) and
// whether this call created it (so a caller publishes an event only once).
template <typename T>
struct Created {
  T value;
  bool created = false;
};

// A paused span of a recording: nothing was stored between the offsets (from the start of the
// recording).
struct Gap {
  int64_t start_offset_ms = 0;
  int64_t end_offset_ms = 0;
  std::string reason;  // e.g. "card_data", "agent_request"

  bool operator==(const Gap&) const = default;
};

// Where a completed upload's media lives on the media volume (media_volume.h).
struct MediaInfo {
  std::string path;  // relative to the volume root: "<tenant>/<recording_id>.media"
  int64_t bytes = 0;
  std::string sha256_hex;
  int64_t chunks = 0;

  bool operator==(const MediaInfo&) const = default;
};

struct Recording {
  std::string id;
  std::string tenant_id;
  std::string interaction_id;
  std::string queue_id;
  std::string agent_id;
  std::string customer_id;  // personal: empty once erased
  int64_t started_at_ms = 0;
  RecordingState state = RecordingState::kRecording;
  int64_t updated_at_ms = 0;  // last state/hold/media change (caller's clock)
  bool legal_hold = false;
  std::optional<MediaInfo> media;  // set once, by a completed upload; cleared on erase
  std::vector<Gap> gaps;           // in the order they were added
  int64_t erased_at_ms = 0;        // 0 unless ERASED
};

// Retention in days for a tenant (queue_id empty) or one of its queues. A queue rule beats the
// tenant rule; without either a recording never expires.
struct RetentionRule {
  std::string tenant_id;
  std::string queue_id;  // empty: the tenant-wide rule
  int32_t days = 0;      // > 0

  bool operator==(const RetentionRule&) const = default;
};

// A recording past its retention and not on legal hold (ListExpiredRecordings).
struct ExpiredRecording {
  std::string id;
  std::string tenant_id;
  std::string queue_id;
  int64_t started_at_ms = 0;
  int32_t retention_days = 0;  // the rule that applied
  std::string media_path;      // empty when no media was stored
};

struct Review {
  std::string id;
  std::string tenant_id;
  std::string interaction_id;
  std::string agent_id;
  std::string team_id;
  ReviewKind kind = ReviewKind::kManualSupervisor;
  bool mandatory = false;
  ReviewStatus status = ReviewStatus::kOpen;
  // Dedupe key, unique per tenant (an event id, "sample:<agent>:<week>", ...). Empty: none.
  std::string source_key;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;

  bool operator==(const Review&) const = default;
};

// ListReviews filter. Results are ordered by (created_at_ms, id), oldest first.
struct ReviewFilter {
  std::string tenant_id;               // required
  std::optional<ReviewStatus> status;  // unset: any
  std::optional<ReviewKind> kind;      // unset: any
  std::string agent_id;                // empty: any
  std::vector<std::string> team_ids;   // empty: any; at most kMaxTeamIds
  std::string interaction_id;          // empty: any
  int32_t limit = 100;                 // 1..kMaxPageSize
  std::string page_token;              // from the previous page; empty: first page
};
inline constexpr int32_t kMaxPageSize = 1000;
inline constexpr size_t kMaxTeamIds = 100;

struct ReviewPage {
  std::vector<Review> reviews;
  std::string next_page_token;  // empty on the last page
};

struct EvaluationComment {
  int64_t offset_ms = 0;  // into the recording
  std::string text;
  std::string author;

  bool operator==(const EvaluationComment&) const = default;
};

struct Evaluation {
  std::string id;
  std::string tenant_id;
  std::string review_id;
  std::string interaction_id;  // filled from the review on create
  std::string reviewer;
  std::string form_id;
  int64_t form_version = 0;
  std::string answers_json;  // opaque to storage
  double score = 0;
  bool critical_failed = false;
  int64_t submitted_at_ms = 0;
  std::vector<EvaluationComment> comments;

  bool operator==(const Evaluation&) const = default;
};

// At most one per review.
struct Dispute {
  std::string tenant_id;
  std::string review_id;
  std::string agent_id;
  std::string reason;
  int64_t opened_at_ms = 0;
  bool resolved = false;
  std::string resolution;
  std::string resolved_by;
  int64_t resolved_at_ms = 0;

  bool operator==(const Dispute&) const = default;
};

// A version of an evaluation form. The definition is opaque to storage (the QA core parses it).
struct EvaluationForm {
  std::string tenant_id;
  std::string form_id;
  int64_t version = 0;  // > 0, strictly increasing per form
  std::string definition_text;
  int64_t created_at_ms = 0;

  bool operator==(const EvaluationForm&) const = default;
};

struct Feedback {
  std::string id;
  std::string tenant_id;
  std::string interaction_id;
  std::string agent_id;
  std::string queue_id;
  std::string customer_id;  // personal: cleared by EraseCustomer
  int32_t csat = 0;         // 1..5
  std::string comment;      // personal: cleared by EraseCustomer
  int64_t wait_ms = 0;
  int64_t at_ms = 0;

  bool operator==(const Feedback&) const = default;
};

struct CoachingTask {
  std::string id;
  std::string tenant_id;
  std::string agent_id;
  std::string supervisor_id;
  std::string team_id;
  std::string reason;
  double average_score = 0;
  CoachingStatus status = CoachingStatus::kOpen;
  std::string dedupe_key;  // unique per tenant when non-empty
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;

  bool operator==(const CoachingTask&) const = default;
};

struct CoachingFilter {
  std::string tenant_id;  // required
  std::string agent_id;   // empty: any
  std::string supervisor_id;
  std::string team_id;
  std::optional<CoachingStatus> status;
  int32_t limit = 100;  // 1..kMaxPageSize, oldest first
};

// What is known about an interaction from the routing events (the review intake keeps it):
// where it queued, who took it, when it ended. The weekly sample, feedback (wait time) and the
// reviews opened from policy decisions read it. MergeInteraction merges field by field.
struct InteractionRecord {
  std::string tenant_id;
  std::string interaction_id;
  std::string queue_id;         // the queue it was (last) routed through
  std::string agent_id;         // the agent connected (last)
  std::string team_id;          // that agent's team when connected
  std::string customer_id;      // personal (from the interaction's attributes), when known
  int64_t enqueued_at_ms = 0;   // first time queued; 0 unknown
  int64_t connected_at_ms = 0;  // 0: never connected
  int64_t ended_at_ms = 0;      // 0: not ended
  std::string end_reason;       // e.g. "COMPLETED", "AGENT_DISCONNECTED"; empty while active
  int64_t wait_ms = -1;         // time in queue before the (last) connect; -1 unknown

  bool operator==(const InteractionRecord&) const = default;
};

// An agent's team, from the routing configuration (AgentUpserted).
struct AgentRecord {
  std::string tenant_id;
  std::string agent_id;
  std::string team_id;  // empty: no team
  int64_t updated_at_ms = 0;

  bool operator==(const AgentRecord&) const = default;
};

// The QA workflow's state of a review beyond the reviews row (one row per review, written by the
// review service): why it exists, the accepted evaluation's score, the agent's response, the
// resolution note. Opaque strings to storage (the QA core gives them meaning).
struct ReviewDetails {
  std::string tenant_id;
  std::string review_id;
  std::string agent_id;  // copied from the review (the coaching query)
  std::string qa_kind;   // the QA core's kind name: DISCONNECT, ..., MANUAL, POLICY
  std::string queue_id;
  std::string reason;
  std::string requested_by;     // manual flags: who flagged
  std::string source_event_id;  // the event, decision, feedback or flag that opened it
  std::string evaluation_id;    // the accepted evaluation; empty while OPEN
  std::string reviewer;
  double score = 0;
  bool critical_failed = false;
  int64_t submitted_at_ms = 0;  // of the accepted evaluation; 0 while OPEN
  int64_t responded_at_ms = 0;  // acknowledged or disputed
  std::string resolution_note;
  std::optional<double> score_before_amendment;
  std::string amended_evaluation_id;

  bool operator==(const ReviewDetails&) const = default;
};

// What EraseCustomer did.
struct EraseResult {
  std::vector<std::string> erased_recording_ids;
  std::vector<std::string> media_paths;         // to delete from the media volume
  std::vector<std::string> held_recording_ids;  // on legal hold: left untouched
  int64_t feedback_cleared = 0;
};

// RecordingStore
//
// The storage port. Every method is one atomic operation; InTransaction groups several.
//
// Errors are absl::Status codes that map 1:1 to gRPC codes, with a message that starts with a
// stable UPPER_SNAKE reason, then ": " and prose: the reason is the text before the first ':'.
// Written code/message: NOT_FOUND/"NOT_FOUND: review 'r1' not found", ALREADY_EXISTS/
// "ALREADY_EXISTS: recording 'x' exists with different fields", ALREADY_EXISTS/
// "MEDIA_ALREADY_SET: ...", FAILED_PRECONDITION/"LEGAL_HOLD: ...", FAILED_PRECONDITION/
// "STALE_STATUS: ...", INVALID_ARGUMENT/"MISSING_FIELD: ...". Database trouble is UNAVAILABLE
// (DB_UNAVAILABLE, DB_BUSY, DB_POOL_EXHAUSTED), ABORTED (DB_CONFLICT: a serialization failure or
// deadlock that survived the retries) or INTERNAL (DB_ERROR). Lookups are scoped by tenant: a
// row of another tenant is NOT_FOUND.
//
// Time is always an argument (unix milliseconds); the store never reads the clock.
//
// Thread safety: a store returned by an Open function is safe to call from any thread. The store
// handed to an InTransaction callback belongs to that call and that thread only.
class RecordingStore {
 public:
  virtual ~RecordingStore() = default;

  // ---- Transactions ----

  // Runs `fn` with a store whose every call belongs to one database transaction, committed when
  // `fn` returns OK and rolled back otherwise (nothing partial). Any failed call inside poisons
  // the transaction: commit then returns that error, so do not swallow errors inside `fn`.
  // InTransaction on the inner store joins the same transaction. Calling the outer store from
  // inside `fn` is refused (FAILED_PRECONDITION: NESTED_TRANSACTION) rather than deadlocking.
  // `fn` may run more than once when the database aborts the transaction for a conflict
  // (ABORTED, retried a bounded number of times), so it must not have effects outside the store.
  virtual absl::Status InTransaction(std::function<absl::Status(RecordingStore&)> fn) = 0;

  // The schema version this database is at (schema_migrations).
  virtual absl::StatusOr<int64_t> SchemaVersion() = 0;

  // ---- Recordings ----

  // Idempotent on id: the same fields again → OK with the existing row (created=false, its
  // current state); different fields → ALREADY_EXISTS. The state starts as RECORDING and
  // updated_at_ms as started_at_ms; state/media/gaps/hold of `r` are ignored.
  virtual absl::StatusOr<Created<Recording>> CreateRecording(const Recording& r) = 0;
  virtual absl::StatusOr<Recording> GetRecording(std::string_view tenant_id,
                                                 std::string_view id) = 0;
  virtual absl::StatusOr<std::vector<Recording>> ListRecordingsByInteraction(
      std::string_view tenant_id, std::string_view interaction_id) = 0;
  // Compare-and-set of the state: FAILED_PRECONDITION: STALE_STATE unless the current state is
  // `expected`. ERASED is refused (use MarkRecordingErased); DELETED is refused on a recording on
  // legal hold (FAILED_PRECONDITION: LEGAL_HOLD). Setting the state it already has is OK.
  virtual absl::StatusOr<Recording> SetRecordingState(std::string_view tenant_id,
                                                      std::string_view id, RecordingState expected,
                                                      RecordingState next, int64_t at_ms) = 0;
  // Appends a gap (0 <= start <= end), when a pause ends.
  virtual absl::Status AddGap(std::string_view tenant_id, std::string_view recording_id,
                              const Gap& gap) = 0;
  // Sets the media of a completed upload, once: the same info again is OK, different info is
  // ALREADY_EXISTS (MEDIA_ALREADY_SET). Refused on DELETED/ERASED recordings.
  virtual absl::Status SetMedia(std::string_view tenant_id, std::string_view recording_id,
                                const MediaInfo& media, int64_t at_ms) = 0;
  virtual absl::Status SetLegalHold(std::string_view tenant_id, std::string_view recording_id,
                                    bool on, int64_t at_ms) = 0;
  // Turns the recording into a tombstone: state ERASED, customer id and media cleared, ids and
  // times kept. Returns the media path to delete (empty if none). FAILED_PRECONDITION: LEGAL_HOLD
  // on a held recording. Idempotent. Does not write an audit entry (EraseCustomer does).
  virtual absl::StatusOr<std::string> MarkRecordingErased(std::string_view tenant_id,
                                                          std::string_view recording_id,
                                                          int64_t at_ms) = 0;
  // Recordings of the tenant whose retention (queue rule, else tenant rule) has run out at
  // `now_ms`, counted from started_at_ms, not on legal hold, not already DELETED or ERASED;
  // oldest first, at most `limit` (1..kMaxPageSize).
  virtual absl::StatusOr<std::vector<ExpiredRecording>> ListExpiredRecordings(
      std::string_view tenant_id, int64_t now_ms, int32_t limit) = 0;

  // ---- Retention rules ----

  // Creates or replaces the rule for (tenant_id, queue_id).
  virtual absl::Status PutRetentionRule(const RetentionRule& rule) = 0;
  // OK when there was none.
  virtual absl::Status DeleteRetentionRule(std::string_view tenant_id,
                                           std::string_view queue_id) = 0;
  // Tenant rule first, then queues by id.
  virtual absl::StatusOr<std::vector<RetentionRule>> ListRetentionRules(
      std::string_view tenant_id) = 0;

  // ---- Audit log (hash-chained) ----

  // Appends an entry: assigns seq, prev_hash and hash, and advances the head, atomically with
  // the caller's transaction. Concurrent appends are serialized.
  virtual absl::StatusOr<AuditEntry> AppendAudit(const AuditEntry& entry) = 0;
  // Entries of one recording, in seq order.
  virtual absl::StatusOr<std::vector<AuditEntry>> ListAudit(std::string_view tenant_id,
                                                            std::string_view recording_id) = 0;
  // Checks the whole chain against the head, on one consistent snapshot.
  virtual absl::StatusOr<AuditVerifyResult> VerifyAudit() = 0;

  // ---- Reviews ----

  // Idempotent on source_key (per tenant): an existing task with the key is returned as is,
  // whatever the other fields. Otherwise idempotent on id like CreateRecording.
  virtual absl::StatusOr<Created<Review>> CreateReview(const Review& review) = 0;
  virtual absl::StatusOr<Review> GetReview(std::string_view tenant_id, std::string_view id) = 0;
  // Keyset-paginated; stable under concurrent inserts (a page never repeats or skips a row that
  // existed when the first page was read). INVALID_ARGUMENT: BAD_PAGE_TOKEN, BAD_LIMIT.
  virtual absl::StatusOr<ReviewPage> ListReviews(const ReviewFilter& filter) = 0;
  // Open reviews by kind (kinds with none are absent). Empty tenant: all tenants.
  virtual absl::StatusOr<std::map<ReviewKind, int64_t>> CountOpenReviewsByKind(
      std::string_view tenant_id) = 0;
  // Optimistic: FAILED_PRECONDITION: STALE_STATUS unless the current status is `expected`.
  virtual absl::StatusOr<Review> UpdateReviewStatus(std::string_view tenant_id, std::string_view id,
                                                    ReviewStatus expected, ReviewStatus next,
                                                    int64_t at_ms) = 0;

  // ---- Evaluations ----

  // The review must exist (NOT_FOUND). Idempotent on id.
  virtual absl::StatusOr<Created<Evaluation>> CreateEvaluation(const Evaluation& evaluation) = 0;
  // By submitted_at_ms, then id.
  virtual absl::StatusOr<std::vector<Evaluation>> ListEvaluationsByReview(
      std::string_view tenant_id, std::string_view review_id) = 0;
  // All evaluations of an interaction across its reviews (calibration).
  virtual absl::StatusOr<std::vector<Evaluation>> ListEvaluationsByInteraction(
      std::string_view tenant_id, std::string_view interaction_id) = 0;

  // ---- Disputes ----

  // The review must exist. One dispute per review: the same reason/agent again is OK,
  // anything else ALREADY_EXISTS (DISPUTE_EXISTS).
  virtual absl::StatusOr<Created<Dispute>> OpenDispute(const Dispute& dispute) = 0;
  virtual absl::StatusOr<Dispute> GetDispute(std::string_view tenant_id,
                                             std::string_view review_id) = 0;
  // FAILED_PRECONDITION: DISPUTE_RESOLVED if already resolved differently (the same resolution
  // again is OK).
  virtual absl::StatusOr<Dispute> ResolveDispute(std::string_view tenant_id,
                                                 std::string_view review_id,
                                                 std::string_view resolution,
                                                 std::string_view resolved_by, int64_t at_ms) = 0;

  // ---- Evaluation forms ----

  // A new version (> the latest: FAILED_PRECONDITION: FORM_VERSION_NOT_NEWER otherwise); an
  // existing version with the same text is OK (created=false), with other text ALREADY_EXISTS.
  virtual absl::StatusOr<Created<EvaluationForm>> PutForm(const EvaluationForm& form) = 0;
  virtual absl::StatusOr<EvaluationForm> GetForm(std::string_view tenant_id,
                                                 std::string_view form_id, int64_t version) = 0;
  virtual absl::StatusOr<EvaluationForm> GetLatestForm(std::string_view tenant_id,
                                                       std::string_view form_id) = 0;

  // ---- Customer feedback ----

  // csat 1..5 (INVALID_ARGUMENT: CSAT_OUT_OF_RANGE). Idempotent on id.
  virtual absl::StatusOr<Created<Feedback>> CreateFeedback(const Feedback& feedback) = 0;
  virtual absl::StatusOr<std::vector<Feedback>> ListFeedbackByInteraction(
      std::string_view tenant_id, std::string_view interaction_id) = 0;

  // ---- Coaching ----

  // Idempotent on dedupe_key (per tenant), else on id, like CreateReview.
  virtual absl::StatusOr<Created<CoachingTask>> CreateCoachingTask(const CoachingTask& task) = 0;
  virtual absl::StatusOr<std::vector<CoachingTask>> ListCoachingTasks(
      const CoachingFilter& filter) = 0;
  // Optimistic like UpdateReviewStatus (FAILED_PRECONDITION: STALE_STATUS).
  virtual absl::StatusOr<CoachingTask> UpdateCoachingTaskStatus(std::string_view tenant_id,
                                                                std::string_view id,
                                                                CoachingStatus expected,
                                                                CoachingStatus next,
                                                                int64_t at_ms) = 0;

  // ---- Consumer dedupe ----

  // Records that `consumer` processed `event_id`; true if this is the first time. Inside
  // InTransaction together with the event's effects, an effect is applied exactly once.
  virtual absl::StatusOr<bool> MarkProcessed(std::string_view consumer, std::string_view event_id,
                                             int64_t at_ms) = 0;
  // Forgets the consumer's events processed before `before_ms`; returns how many.
  virtual absl::StatusOr<int64_t> PruneProcessed(std::string_view consumer, int64_t before_ms) = 0;

  // ---- Interactions and agents (kept from routing events for the review workflow) ----

  // Creates or merges: a non-empty string, a non-zero time or a wait >= 0 in `r` replaces the
  // stored value; the rest keeps what is stored. Except enqueued_at_ms, which keeps the first
  // value (the wait a caller had, across re-queues).
  virtual absl::Status MergeInteraction(const InteractionRecord& r) = 0;
  virtual absl::StatusOr<InteractionRecord> GetInteraction(std::string_view tenant_id,
                                                           std::string_view interaction_id) = 0;
  // Interactions of the tenant that ended in [from_ms, to_ms) with an agent, ordered by
  // (ended_at_ms, interaction_id), after the keyset (after_ended_ms, after_id) (pass 0 and ""
  // for the first page); at most `limit` (1..kMaxPageSize). The weekly sample reads these.
  virtual absl::StatusOr<std::vector<InteractionRecord>> ListEndedInteractions(
      std::string_view tenant_id, int64_t from_ms, int64_t to_ms, int64_t after_ended_ms,
      std::string_view after_id, int32_t limit) = 0;
  // Creates or replaces.
  virtual absl::Status UpsertAgent(const AgentRecord& a) = 0;
  virtual absl::StatusOr<AgentRecord> GetAgent(std::string_view tenant_id,
                                               std::string_view agent_id) = 0;

  // ---- Review details (the QA workflow state of a review) ----

  // Creates or replaces the details of an existing review (NOT_FOUND otherwise).
  virtual absl::Status PutReviewDetails(const ReviewDetails& d) = 0;
  virtual absl::StatusOr<ReviewDetails> GetReviewDetails(std::string_view tenant_id,
                                                         std::string_view review_id) = 0;
  // The details of those reviews that have them (any order; at most kMaxPageSize ids).
  virtual absl::StatusOr<std::vector<ReviewDetails>> ListReviewDetails(
      std::string_view tenant_id, const std::vector<std::string>& review_ids) = 0;
  // The agent's reviews with an accepted evaluation submitted at or after `since_ms`, newest
  // first, at most `limit` (1..kMaxPageSize). Coaching reads these.
  virtual absl::StatusOr<std::vector<ReviewDetails>> ListScoredReviewsOfAgent(
      std::string_view tenant_id, std::string_view agent_id, int64_t since_ms, int32_t limit) = 0;

  // ---- Privacy ----

  // Erases a customer of a tenant in one transaction: every recording with that customer id
  // (not on legal hold) becomes an ERASED tombstone with an "erase" audit entry (principal, no
  // personal data), and the customer id and comment of their feedback (matched by customer id
  // or by the erased recordings' interactions) are cleared. Recordings on hold are reported, not
  // touched. Delete the returned media paths afterwards.
  virtual absl::StatusOr<EraseResult> EraseCustomer(std::string_view tenant_id,
                                                    std::string_view customer_id,
                                                    std::string_view principal, int64_t at_ms) = 0;
};

}  // namespace sb::recording::storage
