#include "recording/storage/sql_store.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "recording/storage/migrations.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

constexpr int kMaxAttempts = 3;            // for ABORTED (serialization failure, deadlock)
constexpr size_t kMaxIdBytes = 256;        // ids, keys, names
constexpr size_t kMaxTextBytes = 65536;    // comments, reasons, details
constexpr size_t kMaxBlobBytes = 1 << 20;  // answers_json, form definitions
constexpr size_t kMaxComments = 1000;
constexpr int64_t kAuditBatch = 2000;
constexpr int64_t kMsPerDay = 86'400'000;

// ---- The transaction a call runs in ----

struct Db {
  SqlTx& tx;
  SqlDialect dialect;

  // " FOR UPDATE" on PostgreSQL (row lock for read-modify-write under READ COMMITTED); SQLite
  // needs none: its write transactions are serialized (BEGIN IMMEDIATE, one connection).
  std::string_view ForUpdate() const {
    return dialect == SqlDialect::kPostgres ? " FOR UPDATE" : "";
  }

  absl::StatusOr<SqlResult> Exec(std::string_view sql, std::vector<SqlValue> params = {},
                                 bool cacheable = true) {
    return tx.Exec(sql, params, cacheable);
  }
};

// Drivers with a transaction open on this thread: a call to the outer store from inside an
// InTransaction callback would deadlock (SQLite mutex) or silently run outside the transaction
// (PostgreSQL pool), so it is refused instead.
thread_local std::vector<const SqlDriver*> tls_open_drivers;

class OpenTxMark {
 public:
  explicit OpenTxMark(const SqlDriver* d) { tls_open_drivers.push_back(d); }
  ~OpenTxMark() { tls_open_drivers.pop_back(); }
  OpenTxMark(const OpenTxMark&) = delete;
  OpenTxMark& operator=(const OpenTxMark&) = delete;
};

bool ThreadHasOpenTx(const SqlDriver* d) {
  return std::find(tls_open_drivers.begin(), tls_open_drivers.end(), d) != tls_open_drivers.end();
}

// ---- Values ----

SqlValue S(std::string_view s) { return SqlValue(std::string(s)); }
SqlValue I(int64_t v) { return SqlValue(v); }
SqlValue B(bool v) { return SqlValue(static_cast<int64_t>(v ? 1 : 0)); }
SqlValue D(double v) { return SqlValue(v); }
// NULL for an empty string (optional columns, dedupe keys).
SqlValue NullIfEmpty(std::string_view s) { return s.empty() ? SqlValue() : S(s); }

[[noreturn]] void Corrupt(std::string_view what) {
  std::cerr << "sql_store: impossible column value: " << what << "\n";
  std::abort();
}

bool IsNull(const SqlValue& v) { return std::holds_alternative<std::monostate>(v); }

std::string Str(const SqlValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return Cat(*i);
  if (const auto* d = std::get_if<double>(&v)) return Cat(*d);
  return "";
}

int64_t Int(const SqlValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    if (!absl::SimpleAtoi(*s, &out)) Corrupt(*s);
    return out;
  }
  if (const auto* d = std::get_if<double>(&v)) return static_cast<int64_t>(*d);
  return 0;
}

double Dbl(const SqlValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* s = std::get_if<std::string>(&v)) {
    double out = 0;
    if (!absl::SimpleAtod(*s, &out)) Corrupt(*s);
    return out;
  }
  return 0;
}

// ---- Validation and errors ----

absl::Status RequireId(std::string_view field, std::string_view value) {
  if (value.empty()) {
    return absl::InvalidArgumentError(Cat("MISSING_FIELD: ", field, " is required"));
  }
  if (value.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        Cat("FIELD_TOO_LONG: ", field, " is longer than ", kMaxIdBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status LimitText(std::string_view field, std::string_view value, size_t max) {
  if (value.size() > max) {
    return absl::InvalidArgumentError(
        Cat("FIELD_TOO_LONG: ", field, " is longer than ", max, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status OptionalId(std::string_view field, std::string_view value) {
  return LimitText(field, value, kMaxIdBytes);
}

absl::Status CheckLimit(int32_t limit) {
  if (limit < 1 || limit > kMaxPageSize) {
    return absl::InvalidArgumentError(
        Cat("BAD_LIMIT: limit must be 1..", kMaxPageSize, ", got ", limit));
  }
  return absl::OkStatus();
}

absl::Status NotFound(std::string_view what, std::string_view id) {
  return absl::NotFoundError(Cat("NOT_FOUND: ", what, " '", id, "' not found"));
}

absl::Status Conflict(std::string_view what, std::string_view id) {
  return absl::AlreadyExistsError(
      Cat("ALREADY_EXISTS: ", what, " '", id, "' exists with different fields"));
}

#define SB_RETURN_IF_ERROR(expr)                       \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

#define SB_ASSIGN_OR_RETURN(lhs, expr) SB_ASSIGN_OR_RETURN_I(SB_CONCAT(_sor, __LINE__), lhs, expr)
#define SB_CONCAT_I(a, b) a##b
#define SB_CONCAT(a, b) SB_CONCAT_I(a, b)
#define SB_ASSIGN_OR_RETURN_I(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(*tmp)

// ---- Recordings ----

constexpr std::string_view kRecordingCols =
    "id, tenant_id, interaction_id, queue_id, agent_id, customer_id, started_at_ms, state, "
    "updated_at_ms, legal_hold, media_path, media_bytes, media_sha256, media_chunks, "
    "erased_at_ms";

Recording RecordingFromRow(const std::vector<SqlValue>& row) {
  Recording r;
  r.id = Str(row[0]);
  r.tenant_id = Str(row[1]);
  r.interaction_id = Str(row[2]);
  r.queue_id = Str(row[3]);
  r.agent_id = Str(row[4]);
  r.customer_id = Str(row[5]);
  r.started_at_ms = Int(row[6]);
  auto state = ParseRecordingState(Str(row[7]));
  if (!state) Corrupt(Str(row[7]));
  r.state = *state;
  r.updated_at_ms = Int(row[8]);
  r.legal_hold = Int(row[9]) != 0;
  if (!IsNull(row[10])) {
    r.media = MediaInfo{Str(row[10]), Int(row[11]), Str(row[12]), Int(row[13])};
  }
  r.erased_at_ms = IsNull(row[14]) ? 0 : Int(row[14]);
  return r;
}

absl::StatusOr<std::vector<Gap>> LoadGaps(Db& db, std::string_view recording_id) {
  SB_ASSIGN_OR_RETURN(SqlResult res,
                      db.Exec("SELECT start_offset_ms, end_offset_ms, reason FROM recording_gaps "
                              "WHERE recording_id = $1 ORDER BY idx",
                              {S(recording_id)}));
  std::vector<Gap> gaps;
  for (const auto& row : res.rows) gaps.push_back(Gap{Int(row[0]), Int(row[1]), Str(row[2])});
  return gaps;
}

// The recording without its gaps (`lock`: row-locked for a read-modify-write).
absl::StatusOr<Recording> LoadRecordingRow(Db& db, std::string_view tenant_id, std::string_view id,
                                           bool lock) {
  SB_ASSIGN_OR_RETURN(
      SqlResult res,
      db.Exec(Cat("SELECT ", kRecordingCols, " FROM recordings WHERE tenant_id = $1 AND id = $2",
                  lock ? db.ForUpdate() : ""),
              {S(tenant_id), S(id)}));
  if (res.rows.empty()) return NotFound("recording", id);
  return RecordingFromRow(res.rows[0]);
}

absl::StatusOr<Recording> LoadRecording(Db& db, std::string_view tenant_id, std::string_view id) {
  SB_ASSIGN_OR_RETURN(Recording r, LoadRecordingRow(db, tenant_id, id, /*lock=*/false));
  SB_ASSIGN_OR_RETURN(r.gaps, LoadGaps(db, r.id));
  return r;
}

bool IsTerminal(RecordingState s) {
  return s == RecordingState::kDeleted || s == RecordingState::kErased;
}

// Clears the personal fields and media of a recording (caller checked hold and state).
absl::Status EraseRecordingRow(Db& db, std::string_view id, int64_t at_ms) {
  return db
      .Exec(
          "UPDATE recordings SET state = 'ERASED', customer_id = NULL, media_path = NULL, "
          "media_bytes = NULL, media_sha256 = NULL, media_chunks = NULL, erased_at_ms = $1, "
          "updated_at_ms = $1 WHERE id = $2",
          {I(at_ms), S(id)})
      .status();
}

// ---- Audit ----

constexpr std::string_view kAuditCols =
    "seq, tenant_id, recording_id, action, principal, detail, at_ms, prev_hash, hash";

AuditEntry AuditFromRow(const std::vector<SqlValue>& row) {
  AuditEntry e;
  e.seq = Int(row[0]);
  e.tenant_id = Str(row[1]);
  e.recording_id = Str(row[2]);
  e.action = Str(row[3]);
  e.principal = Str(row[4]);
  e.detail = Str(row[5]);
  e.at_ms = Int(row[6]);
  e.prev_hash = Str(row[7]);
  e.hash = Str(row[8]);
  return e;
}

absl::Status ValidateAction(std::string_view action) {
  SB_RETURN_IF_ERROR(RequireId("action", action));
  for (char c : action) {
    if (!((c >= 'a' && c <= 'z') || c == '_')) {
      return absl::InvalidArgumentError(
          Cat("BAD_ACTION: audit action '", action, "' must be lower_snake"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AuditEntry> AppendAuditOp(Db& db, AuditEntry e) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", e.tenant_id));
  SB_RETURN_IF_ERROR(OptionalId("recording_id", e.recording_id));
  SB_RETURN_IF_ERROR(ValidateAction(e.action));
  SB_RETURN_IF_ERROR(RequireId("principal", e.principal));
  SB_RETURN_IF_ERROR(LimitText("detail", e.detail, kMaxTextBytes));
  // The head row lock serializes appends across connections; readers are not blocked.
  SB_ASSIGN_OR_RETURN(
      SqlResult head,
      db.Exec(Cat("SELECT last_seq, last_hash FROM audit_head WHERE id = 1", db.ForUpdate())));
  if (head.rows.empty()) {
    return absl::DataLossError("AUDIT_HEAD_MISSING: the audit head row is gone");
  }
  e.seq = Int(head.rows[0][0]) + 1;
  e.prev_hash = Str(head.rows[0][1]);
  if (!IsSha256Hex(e.prev_hash)) {
    return absl::DataLossError("AUDIT_HEAD_CORRUPT: the audit head hash is not hex");
  }
  e.hash = AuditChainHash(e.prev_hash, e);
  SB_RETURN_IF_ERROR(db.Exec(Cat("INSERT INTO audit_log (", kAuditCols,
                                 ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"),
                             {I(e.seq), S(e.tenant_id), S(e.recording_id), S(e.action),
                              S(e.principal), S(e.detail), I(e.at_ms), S(e.prev_hash), S(e.hash)})
                         .status());
  SB_RETURN_IF_ERROR(db.Exec("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1",
                             {I(e.seq), S(e.hash)})
                         .status());
  return e;
}

// ---- Reviews ----

constexpr std::string_view kReviewCols =
    "id, tenant_id, interaction_id, agent_id, team_id, kind, mandatory, status, source_key, "
    "created_at_ms, updated_at_ms";

Review ReviewFromRow(const std::vector<SqlValue>& row) {
  Review r;
  r.id = Str(row[0]);
  r.tenant_id = Str(row[1]);
  r.interaction_id = Str(row[2]);
  r.agent_id = Str(row[3]);
  r.team_id = Str(row[4]);
  auto kind = ParseReviewKind(Str(row[5]));
  auto status = ParseReviewStatus(Str(row[7]));
  if (!kind || !status) Corrupt(Str(row[5]) + "/" + Str(row[7]));
  r.kind = *kind;
  r.mandatory = Int(row[6]) != 0;
  r.status = *status;
  r.source_key = Str(row[8]);
  r.created_at_ms = Int(row[9]);
  r.updated_at_ms = Int(row[10]);
  return r;
}

absl::StatusOr<Review> LoadReview(Db& db, std::string_view tenant_id, std::string_view id) {
  SB_ASSIGN_OR_RETURN(SqlResult res, db.Exec(Cat("SELECT ", kReviewCols,
                                                 " FROM reviews WHERE tenant_id = $1 AND id = $2"),
                                             {S(tenant_id), S(id)}));
  if (res.rows.empty()) return NotFound("review", id);
  return ReviewFromRow(res.rows[0]);
}

// The fields a repeated create must match (status and updated_at move on by themselves).
bool SameReviewIdentity(const Review& a, const Review& b) {
  return a.id == b.id && a.tenant_id == b.tenant_id && a.interaction_id == b.interaction_id &&
         a.agent_id == b.agent_id && a.team_id == b.team_id && a.kind == b.kind &&
         a.mandatory == b.mandatory && a.source_key == b.source_key &&
         a.created_at_ms == b.created_at_ms;
}

std::string EncodePageToken(int64_t created_at_ms, std::string_view id) {
  return absl::WebSafeBase64Escape(Cat("v1:", created_at_ms, ":", id));
}

absl::Status DecodePageToken(std::string_view token, int64_t& created_at_ms, std::string& id) {
  std::string raw;
  const absl::Status bad =
      absl::InvalidArgumentError("BAD_PAGE_TOKEN: the page token is not one this server issued");
  if (!absl::WebSafeBase64Unescape(std::string(token), &raw)) return bad;
  std::string_view rest = raw;
  if (!rest.starts_with("v1:")) return bad;
  rest.remove_prefix(3);
  const size_t colon = rest.find(':');
  if (colon == std::string_view::npos || colon + 1 >= rest.size()) return bad;
  if (!absl::SimpleAtoi(std::string(rest.substr(0, colon)), &created_at_ms)) return bad;
  id = std::string(rest.substr(colon + 1));
  return absl::OkStatus();
}

// ---- Evaluations ----

constexpr std::string_view kEvaluationCols =
    "id, tenant_id, review_id, interaction_id, reviewer, form_id, form_version, answers_json, "
    "score, critical_failed, submitted_at_ms";

Evaluation EvaluationFromRow(const std::vector<SqlValue>& row) {
  Evaluation e;
  e.id = Str(row[0]);
  e.tenant_id = Str(row[1]);
  e.review_id = Str(row[2]);
  e.interaction_id = Str(row[3]);
  e.reviewer = Str(row[4]);
  e.form_id = Str(row[5]);
  e.form_version = Int(row[6]);
  e.answers_json = Str(row[7]);
  e.score = Dbl(row[8]);
  e.critical_failed = Int(row[9]) != 0;
  e.submitted_at_ms = Int(row[10]);
  return e;
}

// Evaluations matching `where` (columns of `evaluations e`, params from $1), with comments.
absl::StatusOr<std::vector<Evaluation>> LoadEvaluations(Db& db, std::string_view where,
                                                        std::vector<SqlValue> params) {
  constexpr std::string_view cols =
      "e.id, e.tenant_id, e.review_id, e.interaction_id, e.reviewer, e.form_id, e.form_version, "
      "e.answers_json, e.score, e.critical_failed, e.submitted_at_ms";
  SB_ASSIGN_OR_RETURN(SqlResult res, db.Exec(Cat("SELECT ", cols, " FROM evaluations e WHERE ",
                                                 where, " ORDER BY e.submitted_at_ms, e.id"),
                                             params));
  std::vector<Evaluation> out;
  for (const auto& row : res.rows) out.push_back(EvaluationFromRow(row));
  if (out.empty()) return out;
  SB_ASSIGN_OR_RETURN(
      SqlResult comments,
      db.Exec(Cat("SELECT c.evaluation_id, c.offset_ms, c.text, c.author FROM "
                  "evaluation_comments c JOIN evaluations e ON e.id = c.evaluation_id "
                  "WHERE ",
                  where, " ORDER BY c.evaluation_id, c.idx"),
              std::move(params)));
  for (const auto& row : comments.rows) {
    const std::string id = Str(row[0]);
    for (Evaluation& e : out) {
      if (e.id == id) {
        e.comments.push_back(EvaluationComment{Int(row[1]), Str(row[2]), Str(row[3])});
        break;
      }
    }
  }
  return out;
}

// ---- Disputes, forms, feedback, coaching ----

constexpr std::string_view kDisputeCols =
    "tenant_id, review_id, agent_id, reason, opened_at_ms, resolution, resolved_by, "
    "resolved_at_ms";

Dispute DisputeFromRow(const std::vector<SqlValue>& row) {
  Dispute d;
  d.tenant_id = Str(row[0]);
  d.review_id = Str(row[1]);
  d.agent_id = Str(row[2]);
  d.reason = Str(row[3]);
  d.opened_at_ms = Int(row[4]);
  d.resolved = !IsNull(row[7]);
  d.resolution = Str(row[5]);
  d.resolved_by = Str(row[6]);
  d.resolved_at_ms = d.resolved ? Int(row[7]) : 0;
  return d;
}

absl::StatusOr<Dispute> LoadDispute(Db& db, std::string_view tenant_id, std::string_view review_id,
                                    bool lock) {
  SB_ASSIGN_OR_RETURN(
      SqlResult res,
      db.Exec(Cat("SELECT ", kDisputeCols, " FROM disputes WHERE tenant_id = $1 AND review_id = $2",
                  lock ? db.ForUpdate() : ""),
              {S(tenant_id), S(review_id)}));
  if (res.rows.empty()) return NotFound("dispute for review", review_id);
  return DisputeFromRow(res.rows[0]);
}

constexpr std::string_view kFormCols =
    "tenant_id, form_id, version, definition_text, created_at_ms";

EvaluationForm FormFromRow(const std::vector<SqlValue>& row) {
  return EvaluationForm{Str(row[0]), Str(row[1]), Int(row[2]), Str(row[3]), Int(row[4])};
}

constexpr std::string_view kFeedbackCols =
    "id, tenant_id, interaction_id, agent_id, queue_id, customer_id, csat, comment, wait_ms, "
    "at_ms";

Feedback FeedbackFromRow(const std::vector<SqlValue>& row) {
  Feedback f;
  f.id = Str(row[0]);
  f.tenant_id = Str(row[1]);
  f.interaction_id = Str(row[2]);
  f.agent_id = Str(row[3]);
  f.queue_id = Str(row[4]);
  f.customer_id = Str(row[5]);
  f.csat = static_cast<int32_t>(Int(row[6]));
  f.comment = Str(row[7]);
  f.wait_ms = Int(row[8]);
  f.at_ms = Int(row[9]);
  return f;
}

constexpr std::string_view kCoachingCols =
    "id, tenant_id, agent_id, supervisor_id, team_id, reason, average_score, status, "
    "dedupe_key, created_at_ms, updated_at_ms";

CoachingTask CoachingFromRow(const std::vector<SqlValue>& row) {
  CoachingTask t;
  t.id = Str(row[0]);
  t.tenant_id = Str(row[1]);
  t.agent_id = Str(row[2]);
  t.supervisor_id = Str(row[3]);
  t.team_id = Str(row[4]);
  t.reason = Str(row[5]);
  t.average_score = Dbl(row[6]);
  auto status = ParseCoachingStatus(Str(row[7]));
  if (!status) Corrupt(Str(row[7]));
  t.status = *status;
  t.dedupe_key = Str(row[8]);
  t.created_at_ms = Int(row[9]);
  t.updated_at_ms = Int(row[10]);
  return t;
}

absl::StatusOr<CoachingTask> LoadCoaching(Db& db, std::string_view tenant_id, std::string_view id) {
  SB_ASSIGN_OR_RETURN(SqlResult res,
                      db.Exec(Cat("SELECT ", kCoachingCols,
                                  " FROM coaching_tasks WHERE tenant_id = $1 AND id = $2"),
                              {S(tenant_id), S(id)}));
  if (res.rows.empty()) return NotFound("coaching task", id);
  return CoachingFromRow(res.rows[0]);
}

bool SameCoachingIdentity(const CoachingTask& a, const CoachingTask& b) {
  return a.id == b.id && a.tenant_id == b.tenant_id && a.agent_id == b.agent_id &&
         a.supervisor_id == b.supervisor_id && a.team_id == b.team_id && a.reason == b.reason &&
         a.average_score == b.average_score && a.dedupe_key == b.dedupe_key &&
         a.created_at_ms == b.created_at_ms;
}

absl::Status CheckFinite(std::string_view field, double v) {
  if (!std::isfinite(v)) {
    return absl::InvalidArgumentError(Cat("BAD_NUMBER: ", field, " must be finite"));
  }
  return absl::OkStatus();
}

}  // namespace

// ---- Store plumbing ----

SqlRecordingStore::SqlRecordingStore(std::shared_ptr<SqlDriver> driver, SqlTx* bound_tx)
    : driver_(std::move(driver)), bound_tx_(bound_tx) {}

SqlRecordingStore::~SqlRecordingStore() = default;

absl::StatusOr<std::unique_ptr<SqlRecordingStore>> SqlRecordingStore::Open(
    std::shared_ptr<SqlDriver> driver) {
  if (driver == nullptr) return absl::InvalidArgumentError("MISSING_FIELD: driver is null");
  auto migrated = Migrate(*driver);
  if (!migrated.ok()) return migrated.status();
  return std::unique_ptr<SqlRecordingStore>(new SqlRecordingStore(std::move(driver), nullptr));
}

template <typename T, typename Fn>
absl::StatusOr<T> SqlRecordingStore::Run(TxMode mode, Fn&& fn) {
  if (bound_tx_ != nullptr) {
    Db db{*bound_tx_, driver_->dialect()};
    return fn(db);
  }
  if (ThreadHasOpenTx(driver_.get())) {
    return absl::FailedPreconditionError(
        "NESTED_TRANSACTION: this thread is inside InTransaction on this store; use the store "
        "passed to the callback");
  }
  absl::Status last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto tx = driver_->Begin(mode);
    if (!tx.ok()) return tx.status();
    OpenTxMark mark(driver_.get());
    Db db{**tx, driver_->dialect()};
    absl::StatusOr<T> result = fn(db);
    if (result.ok()) {
      last = (*tx)->Commit();
      if (last.ok()) return result;
    } else {
      last = result.status();
    }
    if (last.code() != absl::StatusCode::kAborted) return last;
  }
  return last;
}

template <typename Fn>
absl::Status SqlRecordingStore::RunStatus(TxMode mode, Fn&& fn) {
  return Run<bool>(mode,
                   [&](Db& db) -> absl::StatusOr<bool> {
                     SB_RETURN_IF_ERROR(fn(db));
                     return true;
                   })
      .status();
}

absl::Status SqlRecordingStore::ExecRawSqlForTesting(std::string_view sql) {
  return RunStatus(TxMode::kReadWrite,
                   [&](Db& db) { return db.Exec(sql, {}, /*cacheable=*/false).status(); });
}

absl::Status SqlRecordingStore::InTransaction(std::function<absl::Status(RecordingStore&)> fn) {
  if (bound_tx_ != nullptr) return fn(*this);  // joins the open transaction
  return RunStatus(TxMode::kReadWrite, [&](Db& db) {
    SqlRecordingStore inner(driver_, &db.tx);
    return fn(inner);
  });
}

absl::StatusOr<int64_t> SqlRecordingStore::SchemaVersion() {
  return Run<int64_t>(TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<int64_t> {
    SB_ASSIGN_OR_RETURN(SqlResult res,
                        db.Exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"));
    return Int(res.rows.at(0).at(0));
  });
}

// ---- Recordings ----

absl::StatusOr<Created<Recording>> SqlRecordingStore::CreateRecording(const Recording& in) {
  SB_RETURN_IF_ERROR(RequireId("id", in.id));
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("interaction_id", in.interaction_id));
  SB_RETURN_IF_ERROR(OptionalId("queue_id", in.queue_id));
  SB_RETURN_IF_ERROR(OptionalId("agent_id", in.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("customer_id", in.customer_id));
  return Run<Created<Recording>>(
      TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<Recording>> {
        SB_ASSIGN_OR_RETURN(
            SqlResult ins,
            db.Exec("INSERT INTO recordings (id, tenant_id, interaction_id, queue_id, agent_id, "
                    "customer_id, started_at_ms, state, updated_at_ms, legal_hold) VALUES ($1, "
                    "$2, $3, $4, $5, $6, $7, 'RECORDING', $7, 0) ON CONFLICT (id) DO NOTHING",
                    {S(in.id), S(in.tenant_id), S(in.interaction_id), S(in.queue_id),
                     S(in.agent_id), NullIfEmpty(in.customer_id), I(in.started_at_ms)}));
        if (ins.affected_rows == 1) {
          SB_ASSIGN_OR_RETURN(Recording r, LoadRecording(db, in.tenant_id, in.id));
          return Created<Recording>{std::move(r), true};
        }
        SB_ASSIGN_OR_RETURN(
            SqlResult existing,
            db.Exec(Cat("SELECT ", kRecordingCols, " FROM recordings WHERE id = $1"), {S(in.id)}));
        if (existing.rows.empty()) {
          return absl::AbortedError("DB_CONFLICT: recording vanished during create; retry");
        }
        Recording r = RecordingFromRow(existing.rows[0]);
        if (r.tenant_id != in.tenant_id || r.interaction_id != in.interaction_id ||
            r.queue_id != in.queue_id || r.agent_id != in.agent_id ||
            r.customer_id != in.customer_id || r.started_at_ms != in.started_at_ms) {
          return Conflict("recording", in.id);
        }
        SB_ASSIGN_OR_RETURN(r.gaps, LoadGaps(db, r.id));
        return Created<Recording>{std::move(r), false};
      });
}

absl::StatusOr<Recording> SqlRecordingStore::GetRecording(std::string_view tenant_id,
                                                          std::string_view id) {
  return Run<Recording>(TxMode::kReadOnlySnapshot,
                        [&](Db& db) { return LoadRecording(db, tenant_id, id); });
}

absl::StatusOr<std::vector<Recording>> SqlRecordingStore::ListRecordingsByInteraction(
    std::string_view tenant_id, std::string_view interaction_id) {
  return Run<std::vector<Recording>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<Recording>> {
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kRecordingCols,
                        " FROM recordings WHERE tenant_id = $1 AND interaction_id = $2 "
                        "ORDER BY started_at_ms, id"),
                    {S(tenant_id), S(interaction_id)}));
        std::vector<Recording> out;
        for (const auto& row : res.rows) {
          Recording r = RecordingFromRow(row);
          SB_ASSIGN_OR_RETURN(r.gaps, LoadGaps(db, r.id));
          out.push_back(std::move(r));
        }
        return out;
      });
}

absl::StatusOr<Recording> SqlRecordingStore::SetRecordingState(std::string_view tenant_id,
                                                               std::string_view id,
                                                               RecordingState expected,
                                                               RecordingState next, int64_t at_ms) {
  if (next == RecordingState::kErased) {
    return absl::InvalidArgumentError(
        "USE_ERASE: a recording becomes ERASED only through MarkRecordingErased/EraseCustomer");
  }
  return Run<Recording>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Recording> {
    SB_ASSIGN_OR_RETURN(Recording r, LoadRecordingRow(db, tenant_id, id, /*lock=*/true));
    if (r.state != expected) {
      return absl::FailedPreconditionError(Cat("STALE_STATE: recording '", id, "' is ",
                                               RecordingStateName(r.state), ", not ",
                                               RecordingStateName(expected)));
    }
    if (next != expected) {
      if (IsTerminal(r.state)) {
        return absl::FailedPreconditionError(
            Cat("TERMINAL_STATE: recording '", id, "' is ", RecordingStateName(r.state)));
      }
      if (next == RecordingState::kDeleted && r.legal_hold) {
        return absl::FailedPreconditionError(
            Cat("LEGAL_HOLD: recording '", id, "' is on legal hold"));
      }
      SB_RETURN_IF_ERROR(db.Exec("UPDATE recordings SET state = $1, updated_at_ms = $2 "
                                 "WHERE id = $3",
                                 {S(RecordingStateName(next)), I(at_ms), S(id)})
                             .status());
    }
    return LoadRecording(db, tenant_id, id);
  });
}

absl::Status SqlRecordingStore::AddGap(std::string_view tenant_id, std::string_view recording_id,
                                       const Gap& gap) {
  if (gap.start_offset_ms < 0 || gap.end_offset_ms < gap.start_offset_ms) {
    return absl::InvalidArgumentError(Cat("BAD_GAP: need 0 <= start <= end, got [",
                                          gap.start_offset_ms, ", ", gap.end_offset_ms, "]"));
  }
  SB_RETURN_IF_ERROR(OptionalId("reason", gap.reason));
  return RunStatus(TxMode::kReadWrite, [&](Db& db) -> absl::Status {
    SB_ASSIGN_OR_RETURN(Recording r, LoadRecordingRow(db, tenant_id, recording_id, /*lock=*/true));
    if (r.state == RecordingState::kErased) {
      return absl::FailedPreconditionError(
          Cat("TERMINAL_STATE: recording '", recording_id, "' is ERASED"));
    }
    SB_ASSIGN_OR_RETURN(std::vector<Gap> gaps, LoadGaps(db, recording_id));
    // A retried call (same gap) is a no-op.
    if (std::find(gaps.begin(), gaps.end(), gap) != gaps.end()) return absl::OkStatus();
    return db
        .Exec(
            "INSERT INTO recording_gaps (recording_id, idx, start_offset_ms, end_offset_ms, "
            "reason) VALUES ($1, $2, $3, $4, $5)",
            {S(recording_id), I(static_cast<int64_t>(gaps.size())), I(gap.start_offset_ms),
             I(gap.end_offset_ms), S(gap.reason)})
        .status();
  });
}

absl::Status SqlRecordingStore::SetMedia(std::string_view tenant_id, std::string_view recording_id,
                                         const MediaInfo& media, int64_t at_ms) {
  SB_RETURN_IF_ERROR(RequireId("media.path", media.path));
  if (!IsSha256Hex(media.sha256_hex)) {
    return absl::InvalidArgumentError(
        "BAD_SHA256: media.sha256_hex must be 64 lowercase hex digits");
  }
  if (media.bytes < 0 || media.chunks < 0) {
    return absl::InvalidArgumentError("BAD_NUMBER: media bytes and chunks must be >= 0");
  }
  return RunStatus(TxMode::kReadWrite, [&](Db& db) -> absl::Status {
    SB_ASSIGN_OR_RETURN(Recording r, LoadRecordingRow(db, tenant_id, recording_id, /*lock=*/true));
    if (IsTerminal(r.state)) {
      return absl::FailedPreconditionError(
          Cat("TERMINAL_STATE: recording '", recording_id, "' is ", RecordingStateName(r.state)));
    }
    if (r.media.has_value()) {
      if (*r.media == media) return absl::OkStatus();
      return absl::AlreadyExistsError(
          Cat("MEDIA_ALREADY_SET: recording '", recording_id, "' already has media"));
    }
    return db
        .Exec(
            "UPDATE recordings SET media_path = $1, media_bytes = $2, media_sha256 = $3, "
            "media_chunks = $4, updated_at_ms = $5 WHERE id = $6",
            {S(media.path), I(media.bytes), S(media.sha256_hex), I(media.chunks), I(at_ms),
             S(recording_id)})
        .status();
  });
}

absl::Status SqlRecordingStore::SetLegalHold(std::string_view tenant_id,
                                             std::string_view recording_id, bool on,
                                             int64_t at_ms) {
  return RunStatus(TxMode::kReadWrite, [&](Db& db) -> absl::Status {
    SB_ASSIGN_OR_RETURN(SqlResult res,
                        db.Exec("UPDATE recordings SET legal_hold = $1, updated_at_ms = $2 "
                                "WHERE tenant_id = $3 AND id = $4",
                                {B(on), I(at_ms), S(tenant_id), S(recording_id)}));
    if (res.affected_rows == 0) return NotFound("recording", recording_id);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> SqlRecordingStore::MarkRecordingErased(std::string_view tenant_id,
                                                                   std::string_view recording_id,
                                                                   int64_t at_ms) {
  return Run<std::string>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<std::string> {
    SB_ASSIGN_OR_RETURN(Recording r, LoadRecordingRow(db, tenant_id, recording_id, /*lock=*/true));
    if (r.state == RecordingState::kErased) return std::string();
    if (r.legal_hold) {
      return absl::FailedPreconditionError(
          Cat("LEGAL_HOLD: recording '", recording_id, "' is on legal hold"));
    }
    SB_RETURN_IF_ERROR(EraseRecordingRow(db, recording_id, at_ms));
    return r.media ? r.media->path : std::string();
  });
}

absl::StatusOr<std::vector<ExpiredRecording>> SqlRecordingStore::ListExpiredRecordings(
    std::string_view tenant_id, int64_t now_ms, int32_t limit) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", tenant_id));
  SB_RETURN_IF_ERROR(CheckLimit(limit));
  return Run<std::vector<ExpiredRecording>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<ExpiredRecording>> {
        // The queue rule, else the tenant rule (queue_id ''), else never.
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec("SELECT r.id, r.tenant_id, r.queue_id, r.started_at_ms, "
                    "COALESCE(q.days, t.days) AS days, r.media_path "
                    "FROM recordings r "
                    "LEFT JOIN retention_rules q ON q.tenant_id = r.tenant_id "
                    "AND q.queue_id = r.queue_id "
                    "LEFT JOIN retention_rules t ON t.tenant_id = r.tenant_id AND t.queue_id = '' "
                    "WHERE r.tenant_id = $1 AND r.legal_hold = 0 "
                    "AND r.state NOT IN ('DELETED', 'ERASED') "
                    "AND COALESCE(q.days, t.days) IS NOT NULL "
                    "AND r.started_at_ms + CAST(COALESCE(q.days, t.days) AS BIGINT) * $2 <= $3 "
                    "ORDER BY r.started_at_ms, r.id LIMIT $4",
                    {S(tenant_id), I(kMsPerDay), I(now_ms), I(limit)}));
        std::vector<ExpiredRecording> out;
        for (const auto& row : res.rows) {
          out.push_back(ExpiredRecording{Str(row[0]), Str(row[1]), Str(row[2]), Int(row[3]),
                                         static_cast<int32_t>(Int(row[4])), Str(row[5])});
        }
        return out;
      });
}

// ---- Retention rules ----

absl::Status SqlRecordingStore::PutRetentionRule(const RetentionRule& rule) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", rule.tenant_id));
  SB_RETURN_IF_ERROR(OptionalId("queue_id", rule.queue_id));
  if (rule.days <= 0) {
    return absl::InvalidArgumentError(Cat("BAD_RETENTION_DAYS: days must be > 0, got ", rule.days));
  }
  return RunStatus(TxMode::kReadWrite, [&](Db& db) {
    return db
        .Exec(
            "INSERT INTO retention_rules (tenant_id, queue_id, days) VALUES ($1, $2, $3) "
            "ON CONFLICT (tenant_id, queue_id) DO UPDATE SET days = excluded.days",
            {S(rule.tenant_id), S(rule.queue_id), I(rule.days)})
        .status();
  });
}

absl::Status SqlRecordingStore::DeleteRetentionRule(std::string_view tenant_id,
                                                    std::string_view queue_id) {
  return RunStatus(TxMode::kReadWrite, [&](Db& db) {
    return db
        .Exec("DELETE FROM retention_rules WHERE tenant_id = $1 AND queue_id = $2",
              {S(tenant_id), S(queue_id)})
        .status();
  });
}

absl::StatusOr<std::vector<RetentionRule>> SqlRecordingStore::ListRetentionRules(
    std::string_view tenant_id) {
  return Run<std::vector<RetentionRule>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<RetentionRule>> {
        SB_ASSIGN_OR_RETURN(SqlResult res,
                            db.Exec("SELECT tenant_id, queue_id, days FROM retention_rules "
                                    "WHERE tenant_id = $1 ORDER BY queue_id",
                                    {S(tenant_id)}));
        std::vector<RetentionRule> out;
        for (const auto& row : res.rows) {
          out.push_back(RetentionRule{Str(row[0]), Str(row[1]), static_cast<int32_t>(Int(row[2]))});
        }
        return out;
      });
}

// ---- Audit ----

absl::StatusOr<AuditEntry> SqlRecordingStore::AppendAudit(const AuditEntry& entry) {
  return Run<AuditEntry>(TxMode::kReadWrite, [&](Db& db) { return AppendAuditOp(db, entry); });
}

absl::StatusOr<std::vector<AuditEntry>> SqlRecordingStore::ListAudit(
    std::string_view tenant_id, std::string_view recording_id) {
  return Run<std::vector<AuditEntry>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<AuditEntry>> {
        SB_ASSIGN_OR_RETURN(SqlResult res, db.Exec(Cat("SELECT ", kAuditCols,
                                                       " FROM audit_log WHERE tenant_id = $1 AND "
                                                       "recording_id = $2 ORDER BY seq"),
                                                   {S(tenant_id), S(recording_id)}));
        std::vector<AuditEntry> out;
        for (const auto& row : res.rows) out.push_back(AuditFromRow(row));
        return out;
      });
}

absl::StatusOr<AuditVerifyResult> SqlRecordingStore::VerifyAudit() {
  return Run<AuditVerifyResult>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<AuditVerifyResult> {
        SB_ASSIGN_OR_RETURN(SqlResult head,
                            db.Exec("SELECT last_seq, last_hash FROM audit_head WHERE id = 1"));
        if (head.rows.empty()) {
          AuditVerifyResult r;
          r.ok = false;
          r.first_bad_seq = 1;
          r.reason = AuditTamper::kEdited;
          r.detail = "the audit head row is missing";
          return r;
        }
        const int64_t head_seq = Int(head.rows[0][0]);
        const std::string head_hash = Str(head.rows[0][1]);
        AuditChainVerifier verifier;
        int64_t after = -1;  // seq may have been tampered to <= 0
        bool more = true;
        while (more) {
          SB_ASSIGN_OR_RETURN(SqlResult batch,
                              db.Exec(Cat("SELECT ", kAuditCols,
                                          " FROM audit_log WHERE seq > $1 ORDER BY seq "
                                          "LIMIT $2"),
                                      {I(after), I(kAuditBatch)}));
          for (const auto& row : batch.rows) {
            AuditEntry e = AuditFromRow(row);
            after = e.seq;
            if (!verifier.Add(e)) {
              more = false;
              break;
            }
          }
          if (static_cast<int64_t>(batch.rows.size()) < kAuditBatch) more = false;
        }
        return verifier.Finish(head_seq, head_hash);
      });
}

// ---- Reviews ----

absl::StatusOr<Created<Review>> SqlRecordingStore::CreateReview(const Review& in) {
  SB_RETURN_IF_ERROR(RequireId("id", in.id));
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("interaction_id", in.interaction_id));
  SB_RETURN_IF_ERROR(RequireId("agent_id", in.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("team_id", in.team_id));
  SB_RETURN_IF_ERROR(OptionalId("source_key", in.source_key));
  return Run<Created<Review>>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<Review>> {
    auto by_source_key = [&]() -> absl::StatusOr<std::optional<Review>> {
      if (in.source_key.empty()) return std::optional<Review>();
      SB_ASSIGN_OR_RETURN(SqlResult res,
                          db.Exec(Cat("SELECT ", kReviewCols,
                                      " FROM reviews WHERE tenant_id = $1 AND source_key = $2"),
                                  {S(in.tenant_id), S(in.source_key)}));
      if (res.rows.empty()) return std::optional<Review>();
      return std::optional<Review>(ReviewFromRow(res.rows[0]));
    };
    SB_ASSIGN_OR_RETURN(std::optional<Review> existing, by_source_key());
    if (existing) return Created<Review>{*std::move(existing), false};
    // DO NOTHING on either unique key (id, or tenant + source_key from a concurrent creator).
    SB_ASSIGN_OR_RETURN(
        SqlResult ins,
        db.Exec(Cat("INSERT INTO reviews (", kReviewCols,
                    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                    "ON CONFLICT DO NOTHING"),
                {S(in.id), S(in.tenant_id), S(in.interaction_id), S(in.agent_id), S(in.team_id),
                 S(ReviewKindName(in.kind)), B(in.mandatory), S(ReviewStatusName(in.status)),
                 NullIfEmpty(in.source_key), I(in.created_at_ms), I(in.created_at_ms)}));
    if (ins.affected_rows == 1) {
      Review out = in;
      out.updated_at_ms = in.created_at_ms;
      return Created<Review>{std::move(out), true};
    }
    SB_ASSIGN_OR_RETURN(existing, by_source_key());
    if (existing) return Created<Review>{*std::move(existing), false};
    SB_ASSIGN_OR_RETURN(
        SqlResult same_id,
        db.Exec(Cat("SELECT ", kReviewCols, " FROM reviews WHERE id = $1"), {S(in.id)}));
    if (same_id.rows.empty()) {
      return absl::AbortedError("DB_CONFLICT: review vanished during create; retry");
    }
    Review r = ReviewFromRow(same_id.rows[0]);
    if (!SameReviewIdentity(r, in)) return Conflict("review", in.id);
    return Created<Review>{std::move(r), false};
  });
}

absl::StatusOr<Review> SqlRecordingStore::GetReview(std::string_view tenant_id,
                                                    std::string_view id) {
  return Run<Review>(TxMode::kReadOnlySnapshot,
                     [&](Db& db) { return LoadReview(db, tenant_id, id); });
}

absl::StatusOr<ReviewPage> SqlRecordingStore::ListReviews(const ReviewFilter& f) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", f.tenant_id));
  SB_RETURN_IF_ERROR(CheckLimit(f.limit));
  if (f.team_ids.size() > kMaxTeamIds) {
    return absl::InvalidArgumentError(
        Cat("TOO_MANY_TEAMS: at most ", kMaxTeamIds, " team ids per query"));
  }
  for (const std::string& t : f.team_ids) SB_RETURN_IF_ERROR(RequireId("team_ids[]", t));
  int64_t after_created = 0;
  std::string after_id;
  if (!f.page_token.empty()) {
    SB_RETURN_IF_ERROR(DecodePageToken(f.page_token, after_created, after_id));
  }
  std::vector<SqlValue> params = {S(f.tenant_id)};
  std::string where = "tenant_id = $1";
  auto add = [&](std::string_view column, SqlValue v) {
    params.push_back(std::move(v));
    CatAppend(&where, " AND ", column, " = $", params.size());
  };
  if (f.status) add("status", S(ReviewStatusName(*f.status)));
  if (f.kind) add("kind", S(ReviewKindName(*f.kind)));
  if (!f.agent_id.empty()) add("agent_id", S(f.agent_id));
  if (!f.interaction_id.empty()) add("interaction_id", S(f.interaction_id));
  if (!f.team_ids.empty()) {
    std::vector<std::string> marks;
    for (const std::string& t : f.team_ids) {
      params.push_back(S(t));
      marks.push_back(Cat("$", params.size()));
    }
    CatAppend(&where, " AND team_id IN (", absl::StrJoin(marks, ", "), ")");
  }
  if (!f.page_token.empty()) {
    params.push_back(I(after_created));
    params.push_back(S(after_id));
    CatAppend(&where, " AND (created_at_ms, id) > ($", params.size() - 1, ", $", params.size(),
              ")");
  }
  params.push_back(I(f.limit + 1));  // one extra row tells whether there is a next page
  const std::string sql = Cat("SELECT ", kReviewCols, " FROM reviews WHERE ", where,
                              " ORDER BY created_at_ms, id LIMIT $", params.size());
  return Run<ReviewPage>(TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<ReviewPage> {
    SB_ASSIGN_OR_RETURN(SqlResult res, db.Exec(sql, params, /*cacheable=*/f.team_ids.empty()));
    ReviewPage page;
    for (const auto& row : res.rows) page.reviews.push_back(ReviewFromRow(row));
    if (static_cast<int64_t>(page.reviews.size()) > f.limit) {
      page.reviews.pop_back();
      const Review& last = page.reviews.back();
      page.next_page_token = EncodePageToken(last.created_at_ms, last.id);
    }
    return page;
  });
}

absl::StatusOr<std::map<ReviewKind, int64_t>> SqlRecordingStore::CountOpenReviewsByKind(
    std::string_view tenant_id) {
  return Run<std::map<ReviewKind, int64_t>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::map<ReviewKind, int64_t>> {
        SqlResult res;
        if (tenant_id.empty()) {
          SB_ASSIGN_OR_RETURN(res,
                              db.Exec("SELECT kind, COUNT(*) FROM reviews WHERE status = 'OPEN' "
                                      "GROUP BY kind"));
        } else {
          SB_ASSIGN_OR_RETURN(res,
                              db.Exec("SELECT kind, COUNT(*) FROM reviews WHERE tenant_id = $1 "
                                      "AND status = 'OPEN' GROUP BY kind",
                                      {S(tenant_id)}));
        }
        std::map<ReviewKind, int64_t> out;
        for (const auto& row : res.rows) {
          auto kind = ParseReviewKind(Str(row[0]));
          if (!kind) Corrupt(Str(row[0]));
          out[*kind] = Int(row[1]);
        }
        return out;
      });
}

absl::StatusOr<Review> SqlRecordingStore::UpdateReviewStatus(std::string_view tenant_id,
                                                             std::string_view id,
                                                             ReviewStatus expected,
                                                             ReviewStatus next, int64_t at_ms) {
  return Run<Review>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Review> {
    if (expected != next) {
      // Compare-and-set in one statement: concurrent updaters cannot both win.
      SB_ASSIGN_OR_RETURN(SqlResult res,
                          db.Exec("UPDATE reviews SET status = $1, updated_at_ms = $2 "
                                  "WHERE tenant_id = $3 AND id = $4 AND status = $5",
                                  {S(ReviewStatusName(next)), I(at_ms), S(tenant_id), S(id),
                                   S(ReviewStatusName(expected))}));
      if (res.affected_rows == 1) return LoadReview(db, tenant_id, id);
    }
    SB_ASSIGN_OR_RETURN(Review r, LoadReview(db, tenant_id, id));
    if (r.status != expected) {
      return absl::FailedPreconditionError(Cat("STALE_STATUS: review '", id, "' is ",
                                               ReviewStatusName(r.status), ", not ",
                                               ReviewStatusName(expected)));
    }
    return r;
  });
}

// ---- Evaluations ----

absl::StatusOr<Created<Evaluation>> SqlRecordingStore::CreateEvaluation(const Evaluation& in) {
  SB_RETURN_IF_ERROR(RequireId("id", in.id));
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("review_id", in.review_id));
  SB_RETURN_IF_ERROR(RequireId("reviewer", in.reviewer));
  SB_RETURN_IF_ERROR(RequireId("form_id", in.form_id));
  SB_RETURN_IF_ERROR(LimitText("answers_json", in.answers_json, kMaxBlobBytes));
  SB_RETURN_IF_ERROR(CheckFinite("score", in.score));
  if (in.comments.size() > kMaxComments) {
    return absl::InvalidArgumentError(
        Cat("TOO_MANY_COMMENTS: at most ", kMaxComments, " comments"));
  }
  for (const EvaluationComment& c : in.comments) {
    SB_RETURN_IF_ERROR(LimitText("comments[].text", c.text, kMaxTextBytes));
    SB_RETURN_IF_ERROR(OptionalId("comments[].author", c.author));
    if (c.offset_ms < 0) {
      return absl::InvalidArgumentError("BAD_OFFSET: comment offset_ms must be >= 0");
    }
  }
  return Run<Created<Evaluation>>(
      TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<Evaluation>> {
        SB_ASSIGN_OR_RETURN(Review review, LoadReview(db, in.tenant_id, in.review_id));
        Evaluation e = in;
        e.interaction_id = review.interaction_id;
        SB_ASSIGN_OR_RETURN(
            SqlResult ins,
            db.Exec(Cat("INSERT INTO evaluations (", kEvaluationCols,
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                        "ON CONFLICT (id) DO NOTHING"),
                    {S(e.id), S(e.tenant_id), S(e.review_id), S(e.interaction_id), S(e.reviewer),
                     S(e.form_id), I(e.form_version), S(e.answers_json), D(e.score),
                     B(e.critical_failed), I(e.submitted_at_ms)}));
        if (ins.affected_rows == 0) {
          SB_ASSIGN_OR_RETURN(std::vector<Evaluation> existing,
                              LoadEvaluations(db, "e.id = $1", {S(e.id)}));
          if (existing.size() != 1 || !(existing[0] == e)) return Conflict("evaluation", e.id);
          return Created<Evaluation>{std::move(existing[0]), false};
        }
        for (size_t i = 0; i < e.comments.size(); ++i) {
          const EvaluationComment& c = e.comments[i];
          SB_RETURN_IF_ERROR(
              db.Exec("INSERT INTO evaluation_comments (evaluation_id, idx, "
                      "offset_ms, text, author) VALUES ($1, $2, $3, $4, $5)",
                      {S(e.id), I(static_cast<int64_t>(i)), I(c.offset_ms), S(c.text), S(c.author)})
                  .status());
        }
        return Created<Evaluation>{std::move(e), true};
      });
}

absl::StatusOr<std::vector<Evaluation>> SqlRecordingStore::ListEvaluationsByReview(
    std::string_view tenant_id, std::string_view review_id) {
  return Run<std::vector<Evaluation>>(TxMode::kReadOnlySnapshot, [&](Db& db) {
    return LoadEvaluations(db, "e.tenant_id = $1 AND e.review_id = $2",
                           {S(tenant_id), S(review_id)});
  });
}

absl::StatusOr<std::vector<Evaluation>> SqlRecordingStore::ListEvaluationsByInteraction(
    std::string_view tenant_id, std::string_view interaction_id) {
  return Run<std::vector<Evaluation>>(TxMode::kReadOnlySnapshot, [&](Db& db) {
    return LoadEvaluations(db, "e.tenant_id = $1 AND e.interaction_id = $2",
                           {S(tenant_id), S(interaction_id)});
  });
}

// ---- Disputes ----

absl::StatusOr<Created<Dispute>> SqlRecordingStore::OpenDispute(const Dispute& in) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("review_id", in.review_id));
  SB_RETURN_IF_ERROR(RequireId("agent_id", in.agent_id));
  SB_RETURN_IF_ERROR(LimitText("reason", in.reason, kMaxTextBytes));
  return Run<Created<Dispute>>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<Dispute>> {
    SB_RETURN_IF_ERROR(LoadReview(db, in.tenant_id, in.review_id).status());
    SB_ASSIGN_OR_RETURN(
        SqlResult ins,
        db.Exec(
            "INSERT INTO disputes (tenant_id, review_id, agent_id, reason, opened_at_ms) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (review_id) DO NOTHING",
            {S(in.tenant_id), S(in.review_id), S(in.agent_id), S(in.reason), I(in.opened_at_ms)}));
    if (ins.affected_rows == 1) {
      Dispute out;
      out.tenant_id = in.tenant_id;
      out.review_id = in.review_id;
      out.agent_id = in.agent_id;
      out.reason = in.reason;
      out.opened_at_ms = in.opened_at_ms;
      return Created<Dispute>{std::move(out), true};
    }
    SB_ASSIGN_OR_RETURN(Dispute d, LoadDispute(db, in.tenant_id, in.review_id, /*lock=*/false));
    if (d.agent_id != in.agent_id || d.reason != in.reason) {
      return absl::AlreadyExistsError(
          Cat("DISPUTE_EXISTS: review '", in.review_id, "' is already disputed"));
    }
    return Created<Dispute>{std::move(d), false};
  });
}

absl::StatusOr<Dispute> SqlRecordingStore::GetDispute(std::string_view tenant_id,
                                                      std::string_view review_id) {
  return Run<Dispute>(TxMode::kReadOnlySnapshot, [&](Db& db) {
    return LoadDispute(db, tenant_id, review_id, /*lock=*/false);
  });
}

absl::StatusOr<Dispute> SqlRecordingStore::ResolveDispute(std::string_view tenant_id,
                                                          std::string_view review_id,
                                                          std::string_view resolution,
                                                          std::string_view resolved_by,
                                                          int64_t at_ms) {
  SB_RETURN_IF_ERROR(RequireId("resolved_by", resolved_by));
  SB_RETURN_IF_ERROR(LimitText("resolution", resolution, kMaxTextBytes));
  return Run<Dispute>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Dispute> {
    SB_ASSIGN_OR_RETURN(Dispute d, LoadDispute(db, tenant_id, review_id, /*lock=*/true));
    if (d.resolved) {
      if (d.resolution == resolution && d.resolved_by == resolved_by) return d;
      return absl::FailedPreconditionError(
          Cat("DISPUTE_RESOLVED: the dispute of review '", review_id, "' is already resolved"));
    }
    SB_RETURN_IF_ERROR(db.Exec("UPDATE disputes SET resolution = $1, resolved_by = $2, "
                               "resolved_at_ms = $3 WHERE review_id = $4",
                               {S(resolution), S(resolved_by), I(at_ms), S(review_id)})
                           .status());
    d.resolved = true;
    d.resolution = std::string(resolution);
    d.resolved_by = std::string(resolved_by);
    d.resolved_at_ms = at_ms;
    return d;
  });
}

// ---- Forms ----

absl::StatusOr<Created<EvaluationForm>> SqlRecordingStore::PutForm(const EvaluationForm& in) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("form_id", in.form_id));
  SB_RETURN_IF_ERROR(LimitText("definition_text", in.definition_text, kMaxBlobBytes));
  if (in.version <= 0) {
    return absl::InvalidArgumentError(
        Cat("BAD_VERSION: form version must be > 0, got ", in.version));
  }
  return Run<Created<EvaluationForm>>(
      TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<EvaluationForm>> {
        auto same_version = [&]() -> absl::StatusOr<std::optional<EvaluationForm>> {
          SB_ASSIGN_OR_RETURN(SqlResult res,
                              db.Exec(Cat("SELECT ", kFormCols,
                                          " FROM forms WHERE tenant_id = $1 AND form_id = $2 AND "
                                          "version = $3"),
                                      {S(in.tenant_id), S(in.form_id), I(in.version)}));
          if (res.rows.empty()) return std::optional<EvaluationForm>();
          EvaluationForm f = FormFromRow(res.rows[0]);
          if (f.definition_text != in.definition_text) {
            return absl::AlreadyExistsError(Cat("FORM_VERSION_EXISTS: form '", in.form_id,
                                                "' version ", in.version,
                                                " exists with a different definition"));
          }
          return std::optional<EvaluationForm>(std::move(f));
        };
        SB_ASSIGN_OR_RETURN(std::optional<EvaluationForm> existing, same_version());
        if (existing) return Created<EvaluationForm>{*std::move(existing), false};
        SB_ASSIGN_OR_RETURN(SqlResult latest, db.Exec("SELECT COALESCE(MAX(version), 0) FROM forms "
                                                      "WHERE tenant_id = $1 AND form_id = $2",
                                                      {S(in.tenant_id), S(in.form_id)}));
        const int64_t latest_version = Int(latest.rows.at(0).at(0));
        if (in.version <= latest_version) {
          return absl::FailedPreconditionError(Cat("FORM_VERSION_NOT_NEWER: form '", in.form_id,
                                                   "' is at version ", latest_version,
                                                   "; a new version must be greater"));
        }
        SB_ASSIGN_OR_RETURN(SqlResult ins,
                            db.Exec(Cat("INSERT INTO forms (", kFormCols,
                                        ") VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"),
                                    {S(in.tenant_id), S(in.form_id), I(in.version),
                                     S(in.definition_text), I(in.created_at_ms)}));
        if (ins.affected_rows == 0) {  // a concurrent put of the same version
          SB_ASSIGN_OR_RETURN(existing, same_version());
          if (existing) return Created<EvaluationForm>{*std::move(existing), false};
          return absl::AbortedError("DB_CONFLICT: form version vanished during put; retry");
        }
        return Created<EvaluationForm>{in, true};
      });
}

absl::StatusOr<EvaluationForm> SqlRecordingStore::GetForm(std::string_view tenant_id,
                                                          std::string_view form_id,
                                                          int64_t version) {
  return Run<EvaluationForm>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<EvaluationForm> {
        SB_ASSIGN_OR_RETURN(SqlResult res,
                            db.Exec(Cat("SELECT ", kFormCols,
                                        " FROM forms WHERE tenant_id = $1 AND form_id = $2 AND "
                                        "version = $3"),
                                    {S(tenant_id), S(form_id), I(version)}));
        if (res.rows.empty()) return NotFound("form version", Cat(form_id, "@", version));
        return FormFromRow(res.rows[0]);
      });
}

absl::StatusOr<EvaluationForm> SqlRecordingStore::GetLatestForm(std::string_view tenant_id,
                                                                std::string_view form_id) {
  return Run<EvaluationForm>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<EvaluationForm> {
        SB_ASSIGN_OR_RETURN(SqlResult res,
                            db.Exec(Cat("SELECT ", kFormCols,
                                        " FROM forms WHERE tenant_id = $1 AND form_id = $2 "
                                        "ORDER BY version DESC LIMIT 1"),
                                    {S(tenant_id), S(form_id)}));
        if (res.rows.empty()) return NotFound("form", form_id);
        return FormFromRow(res.rows[0]);
      });
}

// ---- Feedback ----

absl::StatusOr<Created<Feedback>> SqlRecordingStore::CreateFeedback(const Feedback& in) {
  SB_RETURN_IF_ERROR(RequireId("id", in.id));
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("interaction_id", in.interaction_id));
  SB_RETURN_IF_ERROR(OptionalId("agent_id", in.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("queue_id", in.queue_id));
  SB_RETURN_IF_ERROR(OptionalId("customer_id", in.customer_id));
  SB_RETURN_IF_ERROR(LimitText("comment", in.comment, kMaxTextBytes));
  if (in.csat < 1 || in.csat > 5) {
    return absl::InvalidArgumentError(Cat("CSAT_OUT_OF_RANGE: csat must be 1..5, got ", in.csat));
  }
  if (in.wait_ms < 0) return absl::InvalidArgumentError("BAD_NUMBER: wait_ms must be >= 0");
  return Run<Created<Feedback>>(
      TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<Feedback>> {
        SB_ASSIGN_OR_RETURN(
            SqlResult ins, db.Exec(Cat("INSERT INTO feedback (", kFeedbackCols,
                                       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
                                       "ON CONFLICT (id) DO NOTHING"),
                                   {S(in.id), S(in.tenant_id), S(in.interaction_id), S(in.agent_id),
                                    S(in.queue_id), NullIfEmpty(in.customer_id), I(in.csat),
                                    S(in.comment), I(in.wait_ms), I(in.at_ms)}));
        if (ins.affected_rows == 1) return Created<Feedback>{in, true};
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kFeedbackCols, " FROM feedback WHERE id = $1"), {S(in.id)}));
        if (res.rows.empty()) {
          return absl::AbortedError("DB_CONFLICT: feedback vanished during create; retry");
        }
        Feedback f = FeedbackFromRow(res.rows[0]);
        if (!(f == in)) return Conflict("feedback", in.id);
        return Created<Feedback>{std::move(f), false};
      });
}

absl::StatusOr<std::vector<Feedback>> SqlRecordingStore::ListFeedbackByInteraction(
    std::string_view tenant_id, std::string_view interaction_id) {
  return Run<std::vector<Feedback>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<Feedback>> {
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kFeedbackCols,
                        " FROM feedback WHERE tenant_id = $1 AND interaction_id = $2 "
                        "ORDER BY at_ms, id"),
                    {S(tenant_id), S(interaction_id)}));
        std::vector<Feedback> out;
        for (const auto& row : res.rows) out.push_back(FeedbackFromRow(row));
        return out;
      });
}

// ---- Coaching ----

absl::StatusOr<Created<CoachingTask>> SqlRecordingStore::CreateCoachingTask(
    const CoachingTask& in) {
  SB_RETURN_IF_ERROR(RequireId("id", in.id));
  SB_RETURN_IF_ERROR(RequireId("tenant_id", in.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("agent_id", in.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("supervisor_id", in.supervisor_id));
  SB_RETURN_IF_ERROR(OptionalId("team_id", in.team_id));
  SB_RETURN_IF_ERROR(OptionalId("dedupe_key", in.dedupe_key));
  SB_RETURN_IF_ERROR(LimitText("reason", in.reason, kMaxTextBytes));
  SB_RETURN_IF_ERROR(CheckFinite("average_score", in.average_score));
  return Run<Created<CoachingTask>>(
      TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<Created<CoachingTask>> {
        auto by_key = [&]() -> absl::StatusOr<std::optional<CoachingTask>> {
          if (in.dedupe_key.empty()) return std::optional<CoachingTask>();
          SB_ASSIGN_OR_RETURN(
              SqlResult res,
              db.Exec(Cat("SELECT ", kCoachingCols,
                          " FROM coaching_tasks WHERE tenant_id = $1 AND dedupe_key = $2"),
                      {S(in.tenant_id), S(in.dedupe_key)}));
          if (res.rows.empty()) return std::optional<CoachingTask>();
          return std::optional<CoachingTask>(CoachingFromRow(res.rows[0]));
        };
        SB_ASSIGN_OR_RETURN(std::optional<CoachingTask> existing, by_key());
        if (existing) return Created<CoachingTask>{*std::move(existing), false};
        SB_ASSIGN_OR_RETURN(
            SqlResult ins,
            db.Exec(Cat("INSERT INTO coaching_tasks (", kCoachingCols,
                        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                        "ON CONFLICT DO NOTHING"),
                    {S(in.id), S(in.tenant_id), S(in.agent_id), S(in.supervisor_id), S(in.team_id),
                     S(in.reason), D(in.average_score), S(CoachingStatusName(in.status)),
                     NullIfEmpty(in.dedupe_key), I(in.created_at_ms), I(in.created_at_ms)}));
        if (ins.affected_rows == 1) {
          CoachingTask out = in;
          out.updated_at_ms = in.created_at_ms;
          return Created<CoachingTask>{std::move(out), true};
        }
        SB_ASSIGN_OR_RETURN(existing, by_key());
        if (existing) return Created<CoachingTask>{*std::move(existing), false};
        SB_ASSIGN_OR_RETURN(SqlResult same_id, db.Exec(Cat("SELECT ", kCoachingCols,
                                                           " FROM coaching_tasks WHERE id = $1"),
                                                       {S(in.id)}));
        if (same_id.rows.empty()) {
          return absl::AbortedError("DB_CONFLICT: coaching task vanished during create; retry");
        }
        CoachingTask t = CoachingFromRow(same_id.rows[0]);
        if (!SameCoachingIdentity(t, in)) return Conflict("coaching task", in.id);
        return Created<CoachingTask>{std::move(t), false};
      });
}

absl::StatusOr<std::vector<CoachingTask>> SqlRecordingStore::ListCoachingTasks(
    const CoachingFilter& f) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", f.tenant_id));
  SB_RETURN_IF_ERROR(CheckLimit(f.limit));
  std::vector<SqlValue> params = {S(f.tenant_id)};
  std::string where = "tenant_id = $1";
  auto add = [&](std::string_view column, SqlValue v) {
    params.push_back(std::move(v));
    CatAppend(&where, " AND ", column, " = $", params.size());
  };
  if (!f.agent_id.empty()) add("agent_id", S(f.agent_id));
  if (!f.supervisor_id.empty()) add("supervisor_id", S(f.supervisor_id));
  if (!f.team_id.empty()) add("team_id", S(f.team_id));
  if (f.status) add("status", S(CoachingStatusName(*f.status)));
  params.push_back(I(f.limit));
  const std::string sql = Cat("SELECT ", kCoachingCols, " FROM coaching_tasks WHERE ", where,
                              " ORDER BY created_at_ms, id LIMIT $", params.size());
  return Run<std::vector<CoachingTask>>(TxMode::kReadOnlySnapshot,
                                        [&](Db& db) -> absl::StatusOr<std::vector<CoachingTask>> {
                                          SB_ASSIGN_OR_RETURN(SqlResult res, db.Exec(sql, params));
                                          std::vector<CoachingTask> out;
                                          for (const auto& row : res.rows)
                                            out.push_back(CoachingFromRow(row));
                                          return out;
                                        });
}

absl::StatusOr<CoachingTask> SqlRecordingStore::UpdateCoachingTaskStatus(std::string_view tenant_id,
                                                                         std::string_view id,
                                                                         CoachingStatus expected,
                                                                         CoachingStatus next,
                                                                         int64_t at_ms) {
  return Run<CoachingTask>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<CoachingTask> {
    if (expected != next) {
      SB_ASSIGN_OR_RETURN(SqlResult res,
                          db.Exec("UPDATE coaching_tasks SET status = $1, updated_at_ms = $2 "
                                  "WHERE tenant_id = $3 AND id = $4 AND status = $5",
                                  {S(CoachingStatusName(next)), I(at_ms), S(tenant_id), S(id),
                                   S(CoachingStatusName(expected))}));
      if (res.affected_rows == 1) return LoadCoaching(db, tenant_id, id);
    }
    SB_ASSIGN_OR_RETURN(CoachingTask t, LoadCoaching(db, tenant_id, id));
    if (t.status != expected) {
      return absl::FailedPreconditionError(Cat("STALE_STATUS: coaching task '", id, "' is ",
                                               CoachingStatusName(t.status), ", not ",
                                               CoachingStatusName(expected)));
    }
    return t;
  });
}

// ---- Consumer dedupe ----

absl::StatusOr<bool> SqlRecordingStore::MarkProcessed(std::string_view consumer,
                                                      std::string_view event_id, int64_t at_ms) {
  SB_RETURN_IF_ERROR(RequireId("consumer", consumer));
  SB_RETURN_IF_ERROR(RequireId("event_id", event_id));
  return Run<bool>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<bool> {
    SB_ASSIGN_OR_RETURN(
        SqlResult res, db.Exec("INSERT INTO processed_events (consumer, event_id, processed_at_ms) "
                               "VALUES ($1, $2, $3) ON CONFLICT (consumer, event_id) DO NOTHING",
                               {S(consumer), S(event_id), I(at_ms)}));
    return res.affected_rows == 1;
  });
}

absl::StatusOr<int64_t> SqlRecordingStore::PruneProcessed(std::string_view consumer,
                                                          int64_t before_ms) {
  return Run<int64_t>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<int64_t> {
    SB_ASSIGN_OR_RETURN(SqlResult res,
                        db.Exec("DELETE FROM processed_events WHERE consumer = $1 AND "
                                "processed_at_ms < $2",
                                {S(consumer), I(before_ms)}));
    return res.affected_rows;
  });
}

// ---- Interactions and agents ----

namespace {

constexpr std::string_view kInteractionCols =
    "tenant_id, interaction_id, queue_id, agent_id, team_id, customer_id, enqueued_at_ms, "
    "connected_at_ms, ended_at_ms, end_reason, wait_ms";

InteractionRecord InteractionFromRow(const std::vector<SqlValue>& row) {
  InteractionRecord r;
  r.tenant_id = Str(row[0]);
  r.interaction_id = Str(row[1]);
  r.queue_id = Str(row[2]);
  r.agent_id = Str(row[3]);
  r.team_id = Str(row[4]);
  r.customer_id = Str(row[5]);
  r.enqueued_at_ms = Int(row[6]);
  r.connected_at_ms = Int(row[7]);
  r.ended_at_ms = Int(row[8]);
  r.end_reason = Str(row[9]);
  r.wait_ms = Int(row[10]);
  return r;
}

constexpr std::string_view kReviewDetailsCols =
    "review_id, tenant_id, agent_id, qa_kind, queue_id, reason, requested_by, source_event_id, "
    "evaluation_id, reviewer, score, critical_failed, submitted_at_ms, responded_at_ms, "
    "resolution_note, score_before_amendment, amended_evaluation_id";

ReviewDetails ReviewDetailsFromRow(const std::vector<SqlValue>& row) {
  ReviewDetails d;
  d.review_id = Str(row[0]);
  d.tenant_id = Str(row[1]);
  d.agent_id = Str(row[2]);
  d.qa_kind = Str(row[3]);
  d.queue_id = Str(row[4]);
  d.reason = Str(row[5]);
  d.requested_by = Str(row[6]);
  d.source_event_id = Str(row[7]);
  d.evaluation_id = Str(row[8]);
  d.reviewer = Str(row[9]);
  d.score = Dbl(row[10]);
  d.critical_failed = Int(row[11]) != 0;
  d.submitted_at_ms = Int(row[12]);
  d.responded_at_ms = Int(row[13]);
  d.resolution_note = Str(row[14]);
  if (!IsNull(row[15])) d.score_before_amendment = Dbl(row[15]);
  d.amended_evaluation_id = Str(row[16]);
  return d;
}

}  // namespace

absl::Status SqlRecordingStore::MergeInteraction(const InteractionRecord& r) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", r.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("interaction_id", r.interaction_id));
  SB_RETURN_IF_ERROR(OptionalId("queue_id", r.queue_id));
  SB_RETURN_IF_ERROR(OptionalId("agent_id", r.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("team_id", r.team_id));
  SB_RETURN_IF_ERROR(OptionalId("customer_id", r.customer_id));
  SB_RETURN_IF_ERROR(OptionalId("end_reason", r.end_reason));
  return RunStatus(TxMode::kReadWrite, [&](Db& db) {
    // One statement on both databases (INSERT ... ON CONFLICT DO UPDATE; `excluded` is the row
    // that was proposed).
    return db
        .Exec(Cat("INSERT INTO interactions (", kInteractionCols,
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
                  "ON CONFLICT (tenant_id, interaction_id) DO UPDATE SET "
                  "queue_id = CASE WHEN excluded.queue_id <> '' THEN excluded.queue_id "
                  "ELSE interactions.queue_id END, "
                  "agent_id = CASE WHEN excluded.agent_id <> '' THEN excluded.agent_id "
                  "ELSE interactions.agent_id END, "
                  "team_id = CASE WHEN excluded.team_id <> '' THEN excluded.team_id "
                  "ELSE interactions.team_id END, "
                  "customer_id = COALESCE(excluded.customer_id, interactions.customer_id), "
                  "enqueued_at_ms = CASE WHEN interactions.enqueued_at_ms = 0 "
                  "THEN excluded.enqueued_at_ms ELSE interactions.enqueued_at_ms END, "
                  "connected_at_ms = CASE WHEN excluded.connected_at_ms <> 0 "
                  "THEN excluded.connected_at_ms ELSE interactions.connected_at_ms END, "
                  "ended_at_ms = CASE WHEN excluded.ended_at_ms <> 0 "
                  "THEN excluded.ended_at_ms ELSE interactions.ended_at_ms END, "
                  "end_reason = CASE WHEN excluded.end_reason <> '' THEN excluded.end_reason "
                  "ELSE interactions.end_reason END, "
                  "wait_ms = CASE WHEN excluded.wait_ms >= 0 THEN excluded.wait_ms "
                  "ELSE interactions.wait_ms END"),
              {S(r.tenant_id), S(r.interaction_id), S(r.queue_id), S(r.agent_id), S(r.team_id),
               NullIfEmpty(r.customer_id), I(r.enqueued_at_ms), I(r.connected_at_ms),
               I(r.ended_at_ms), S(r.end_reason), I(r.wait_ms < 0 ? -1 : r.wait_ms)})
        .status();
  });
}

absl::StatusOr<InteractionRecord> SqlRecordingStore::GetInteraction(
    std::string_view tenant_id, std::string_view interaction_id) {
  return Run<InteractionRecord>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<InteractionRecord> {
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kInteractionCols,
                        " FROM interactions WHERE tenant_id = $1 AND interaction_id = $2"),
                    {S(tenant_id), S(interaction_id)}));
        if (res.rows.empty()) return NotFound("interaction", interaction_id);
        return InteractionFromRow(res.rows[0]);
      });
}

absl::StatusOr<std::vector<InteractionRecord>> SqlRecordingStore::ListEndedInteractions(
    std::string_view tenant_id, int64_t from_ms, int64_t to_ms, int64_t after_ended_ms,
    std::string_view after_id, int32_t limit) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", tenant_id));
  SB_RETURN_IF_ERROR(CheckLimit(limit));
  const int64_t lower = std::max<int64_t>(from_ms, 1);
  return Run<std::vector<InteractionRecord>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<InteractionRecord>> {
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kInteractionCols,
                        " FROM interactions WHERE tenant_id = $1 AND ended_at_ms > 0 AND "
                        "agent_id <> '' AND ended_at_ms >= $2 AND ended_at_ms < $3 AND "
                        "(ended_at_ms, interaction_id) > ($4, $5) "
                        "ORDER BY ended_at_ms, interaction_id LIMIT $6"),
                    {S(tenant_id), I(lower), I(to_ms), I(after_ended_ms), S(after_id), I(limit)}));
        std::vector<InteractionRecord> out;
        out.reserve(res.rows.size());
        for (const auto& row : res.rows) out.push_back(InteractionFromRow(row));
        return out;
      });
}

absl::Status SqlRecordingStore::UpsertAgent(const AgentRecord& a) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", a.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("agent_id", a.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("team_id", a.team_id));
  return RunStatus(TxMode::kReadWrite, [&](Db& db) {
    return db
        .Exec(
            "INSERT INTO agents (tenant_id, agent_id, team_id, updated_at_ms) VALUES ($1, $2, "
            "$3, $4) ON CONFLICT (tenant_id, agent_id) DO UPDATE SET team_id = "
            "excluded.team_id, updated_at_ms = excluded.updated_at_ms",
            {S(a.tenant_id), S(a.agent_id), S(a.team_id), I(a.updated_at_ms)})
        .status();
  });
}

absl::StatusOr<AgentRecord> SqlRecordingStore::GetAgent(std::string_view tenant_id,
                                                        std::string_view agent_id) {
  return Run<AgentRecord>(TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<AgentRecord> {
    SB_ASSIGN_OR_RETURN(SqlResult res,
                        db.Exec("SELECT tenant_id, agent_id, team_id, updated_at_ms FROM agents "
                                "WHERE tenant_id = $1 AND agent_id = $2",
                                {S(tenant_id), S(agent_id)}));
    if (res.rows.empty()) return NotFound("agent", agent_id);
    const auto& row = res.rows[0];
    return AgentRecord{Str(row[0]), Str(row[1]), Str(row[2]), Int(row[3])};
  });
}

// ---- Review details ----

absl::Status SqlRecordingStore::PutReviewDetails(const ReviewDetails& d) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", d.tenant_id));
  SB_RETURN_IF_ERROR(RequireId("review_id", d.review_id));
  SB_RETURN_IF_ERROR(OptionalId("agent_id", d.agent_id));
  SB_RETURN_IF_ERROR(OptionalId("qa_kind", d.qa_kind));
  SB_RETURN_IF_ERROR(OptionalId("queue_id", d.queue_id));
  SB_RETURN_IF_ERROR(LimitText("reason", d.reason, kMaxTextBytes));
  SB_RETURN_IF_ERROR(OptionalId("requested_by", d.requested_by));
  SB_RETURN_IF_ERROR(OptionalId("source_event_id", d.source_event_id));
  SB_RETURN_IF_ERROR(OptionalId("evaluation_id", d.evaluation_id));
  SB_RETURN_IF_ERROR(OptionalId("reviewer", d.reviewer));
  SB_RETURN_IF_ERROR(OptionalId("amended_evaluation_id", d.amended_evaluation_id));
  SB_RETURN_IF_ERROR(LimitText("resolution_note", d.resolution_note, kMaxTextBytes));
  SB_RETURN_IF_ERROR(CheckFinite("score", d.score));
  if (d.score_before_amendment) {
    SB_RETURN_IF_ERROR(CheckFinite("score_before_amendment", *d.score_before_amendment));
  }
  return RunStatus(TxMode::kReadWrite, [&](Db& db) -> absl::Status {
    SB_RETURN_IF_ERROR(LoadReview(db, d.tenant_id, d.review_id).status());
    const SqlValue before = d.score_before_amendment ? D(*d.score_before_amendment) : SqlValue();
    return db
        .Exec(Cat("INSERT INTO review_details (", kReviewDetailsCols,
                  ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, "
                  "$16, $17) ON CONFLICT (review_id) DO UPDATE SET agent_id = excluded.agent_id, "
                  "qa_kind = excluded.qa_kind, queue_id = excluded.queue_id, reason = "
                  "excluded.reason, requested_by = excluded.requested_by, source_event_id = "
                  "excluded.source_event_id, evaluation_id = excluded.evaluation_id, reviewer = "
                  "excluded.reviewer, score = excluded.score, critical_failed = "
                  "excluded.critical_failed, submitted_at_ms = excluded.submitted_at_ms, "
                  "responded_at_ms = excluded.responded_at_ms, resolution_note = "
                  "excluded.resolution_note, score_before_amendment = "
                  "excluded.score_before_amendment, amended_evaluation_id = "
                  "excluded.amended_evaluation_id"),
              {S(d.review_id), S(d.tenant_id), S(d.agent_id), S(d.qa_kind), S(d.queue_id),
               S(d.reason), S(d.requested_by), S(d.source_event_id), S(d.evaluation_id),
               S(d.reviewer), D(d.score), B(d.critical_failed), I(d.submitted_at_ms),
               I(d.responded_at_ms), S(d.resolution_note), before, S(d.amended_evaluation_id)})
        .status();
  });
}

absl::StatusOr<ReviewDetails> SqlRecordingStore::GetReviewDetails(std::string_view tenant_id,
                                                                  std::string_view review_id) {
  return Run<ReviewDetails>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<ReviewDetails> {
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kReviewDetailsCols,
                        " FROM review_details WHERE tenant_id = $1 AND review_id = $2"),
                    {S(tenant_id), S(review_id)}));
        if (res.rows.empty()) return NotFound("review details", review_id);
        return ReviewDetailsFromRow(res.rows[0]);
      });
}

absl::StatusOr<std::vector<ReviewDetails>> SqlRecordingStore::ListReviewDetails(
    std::string_view tenant_id, const std::vector<std::string>& review_ids) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", tenant_id));
  if (review_ids.size() > static_cast<size_t>(kMaxPageSize)) {
    return absl::InvalidArgumentError(
        Cat("BAD_LIMIT: at most ", kMaxPageSize, " review ids per query"));
  }
  if (review_ids.empty()) return std::vector<ReviewDetails>();
  std::vector<SqlValue> params = {S(tenant_id)};
  std::vector<std::string> marks;
  for (const std::string& id : review_ids) {
    params.push_back(S(id));
    marks.push_back(Cat("$", params.size()));
  }
  const std::string sql =
      Cat("SELECT ", kReviewDetailsCols, " FROM review_details WHERE tenant_id = $1 AND ",
          "review_id IN (", absl::StrJoin(marks, ", "), ")");
  return Run<std::vector<ReviewDetails>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<ReviewDetails>> {
        SB_ASSIGN_OR_RETURN(SqlResult res, db.Exec(sql, params, /*cacheable=*/false));
        std::vector<ReviewDetails> out;
        out.reserve(res.rows.size());
        for (const auto& row : res.rows) out.push_back(ReviewDetailsFromRow(row));
        return out;
      });
}

absl::StatusOr<std::vector<ReviewDetails>> SqlRecordingStore::ListScoredReviewsOfAgent(
    std::string_view tenant_id, std::string_view agent_id, int64_t since_ms, int32_t limit) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", tenant_id));
  SB_RETURN_IF_ERROR(RequireId("agent_id", agent_id));
  SB_RETURN_IF_ERROR(CheckLimit(limit));
  return Run<std::vector<ReviewDetails>>(
      TxMode::kReadOnlySnapshot, [&](Db& db) -> absl::StatusOr<std::vector<ReviewDetails>> {
        SB_ASSIGN_OR_RETURN(
            SqlResult res,
            db.Exec(Cat("SELECT ", kReviewDetailsCols,
                        " FROM review_details WHERE tenant_id = $1 AND agent_id = $2 AND "
                        "submitted_at_ms > 0 AND submitted_at_ms >= $3 "
                        "ORDER BY submitted_at_ms DESC, review_id DESC LIMIT $4"),
                    {S(tenant_id), S(agent_id), I(since_ms), I(limit)}));
        std::vector<ReviewDetails> out;
        out.reserve(res.rows.size());
        for (const auto& row : res.rows) out.push_back(ReviewDetailsFromRow(row));
        return out;
      });
}

// ---- Privacy ----

absl::StatusOr<EraseResult> SqlRecordingStore::EraseCustomer(std::string_view tenant_id,
                                                             std::string_view customer_id,
                                                             std::string_view principal,
                                                             int64_t at_ms) {
  SB_RETURN_IF_ERROR(RequireId("tenant_id", tenant_id));
  SB_RETURN_IF_ERROR(RequireId("customer_id", customer_id));
  SB_RETURN_IF_ERROR(RequireId("principal", principal));
  return Run<EraseResult>(TxMode::kReadWrite, [&](Db& db) -> absl::StatusOr<EraseResult> {
    EraseResult out;
    SB_ASSIGN_OR_RETURN(
        SqlResult recs,
        db.Exec(Cat("SELECT id, interaction_id, legal_hold, media_path FROM recordings "
                    "WHERE tenant_id = $1 AND customer_id = $2 ORDER BY id",
                    db.ForUpdate()),
                {S(tenant_id), S(customer_id)}));
    std::vector<std::string> interactions;
    for (const auto& row : recs.rows) {
      const std::string id = Str(row[0]);
      if (Int(row[2]) != 0) {
        out.held_recording_ids.push_back(id);
        continue;
      }
      SB_RETURN_IF_ERROR(EraseRecordingRow(db, id, at_ms));
      AuditEntry e;
      e.tenant_id = std::string(tenant_id);
      e.recording_id = id;
      e.action = "erase";
      e.principal = std::string(principal);
      e.detail = "privacy erasure: customer id, media and feedback comments removed";
      e.at_ms = at_ms;
      SB_RETURN_IF_ERROR(AppendAuditOp(db, std::move(e)).status());
      out.erased_recording_ids.push_back(id);
      if (!IsNull(row[3])) out.media_paths.push_back(Str(row[3]));
      interactions.push_back(Str(row[1]));
    }
    SB_ASSIGN_OR_RETURN(SqlResult by_customer,
                        db.Exec("UPDATE feedback SET customer_id = NULL, comment = '' "
                                "WHERE tenant_id = $1 AND customer_id = $2",
                                {S(tenant_id), S(customer_id)}));
    out.feedback_cleared += by_customer.affected_rows;
    SB_RETURN_IF_ERROR(db.Exec("UPDATE interactions SET customer_id = NULL "
                               "WHERE tenant_id = $1 AND customer_id = $2",
                               {S(tenant_id), S(customer_id)})
                           .status());
    std::sort(interactions.begin(), interactions.end());
    interactions.erase(std::unique(interactions.begin(), interactions.end()), interactions.end());
    for (const std::string& interaction : interactions) {
      SB_ASSIGN_OR_RETURN(
          SqlResult by_interaction,
          db.Exec("UPDATE feedback SET customer_id = NULL, comment = '' WHERE tenant_id = $1 "
                  "AND interaction_id = $2 AND (customer_id IS NOT NULL OR comment <> '')",
                  {S(tenant_id), S(interaction)}));
      out.feedback_cleared += by_interaction.affected_rows;
    }
    return out;
  });
}

}  // namespace sb::recording::storage
