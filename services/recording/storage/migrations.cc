#include "recording/storage/migrations.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/str_replace.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

// Never edit a released migration: add a new one. Flags are SMALLINT 0/1 and timestamps BIGINT
// unix milliseconds on both databases so the shared code reads them the same way.
const std::vector<Migration>& Build() {
  static const std::vector<Migration> kMigrations = {
      {1,
       "recordings, retention, audit log",
       {
           R"(CREATE TABLE recordings (
  id @KEY PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  interaction_id TEXT NOT NULL,
  queue_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  customer_id TEXT,
  started_at_ms BIGINT NOT NULL,
  state TEXT NOT NULL
    CHECK (state IN ('RECORDING', 'PAUSED', 'STOPPED', 'DELETED', 'ERASED')),
  updated_at_ms BIGINT NOT NULL,
  legal_hold SMALLINT NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1)),
  media_path TEXT,
  media_bytes BIGINT,
  media_sha256 TEXT,
  media_chunks BIGINT,
  erased_at_ms BIGINT
))",
           "CREATE INDEX recordings_by_interaction ON recordings (tenant_id, interaction_id)",
           "CREATE INDEX recordings_by_customer ON recordings (tenant_id, customer_id) "
           "WHERE customer_id IS NOT NULL",
           "CREATE INDEX recordings_retention ON recordings (tenant_id, started_at_ms) "
           "WHERE legal_hold = 0 AND state NOT IN ('DELETED', 'ERASED')",
           R"(CREATE TABLE recording_gaps (
  recording_id @KEY NOT NULL REFERENCES recordings (id),
  idx INTEGER NOT NULL,
  start_offset_ms BIGINT NOT NULL,
  end_offset_ms BIGINT NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (recording_id, idx)
))",
           R"(CREATE TABLE retention_rules (
  tenant_id TEXT NOT NULL,
  queue_id @KEY NOT NULL,
  days INTEGER NOT NULL CHECK (days > 0),
  PRIMARY KEY (tenant_id, queue_id)
))",
           R"(CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  recording_id TEXT NOT NULL,
  action TEXT NOT NULL,
  principal TEXT NOT NULL,
  detail TEXT NOT NULL,
  at_ms BIGINT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
))",
           "CREATE INDEX audit_log_by_recording ON audit_log (tenant_id, recording_id, seq)",
           R"(CREATE TABLE audit_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  last_seq BIGINT NOT NULL,
  last_hash TEXT NOT NULL
))",
           "INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, "
           "'0000000000000000000000000000000000000000000000000000000000000000')",
       }},
      {2,
       "reviews, evaluations, disputes, forms, feedback, coaching",
       {
           R"(CREATE TABLE reviews (
  id @KEY PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  interaction_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  mandatory SMALLINT NOT NULL CHECK (mandatory IN (0, 1)),
  status TEXT NOT NULL,
  source_key TEXT,
  created_at_ms BIGINT NOT NULL,
  updated_at_ms BIGINT NOT NULL
))",
           // Dedupe: NULL keys (none) never collide.
           "CREATE UNIQUE INDEX reviews_by_source_key ON reviews (tenant_id, source_key)",
           // One index per ListReviews filter, each ending in the keyset (created_at_ms, id),
           // so every page is an index range scan however many rows the tenant has.
           "CREATE INDEX reviews_by_created ON reviews (tenant_id, created_at_ms, id)",
           "CREATE INDEX reviews_by_status ON reviews (tenant_id, status, created_at_ms, id)",
           "CREATE INDEX reviews_by_kind ON reviews (tenant_id, kind, created_at_ms, id)",
           "CREATE INDEX reviews_by_agent ON reviews (tenant_id, agent_id, created_at_ms, id)",
           "CREATE INDEX reviews_by_team ON reviews (tenant_id, team_id, created_at_ms, id)",
           // The supervisor's queue: open (or other status) reviews of their teams.
           "CREATE INDEX reviews_by_status_team ON reviews "
           "(tenant_id, status, team_id, created_at_ms, id)",
           "CREATE INDEX reviews_by_interaction ON reviews (tenant_id, interaction_id)",
           "CREATE INDEX reviews_open_by_kind ON reviews (tenant_id, kind) WHERE status = 'OPEN'",
           R"(CREATE TABLE evaluations (
  id @KEY PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  review_id @KEY NOT NULL REFERENCES reviews (id),
  interaction_id TEXT NOT NULL,
  reviewer TEXT NOT NULL,
  form_id TEXT NOT NULL,
  form_version BIGINT NOT NULL,
  answers_json TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  critical_failed SMALLINT NOT NULL CHECK (critical_failed IN (0, 1)),
  submitted_at_ms BIGINT NOT NULL
))",
           "CREATE INDEX evaluations_by_review ON evaluations (review_id, submitted_at_ms, id)",
           "CREATE INDEX evaluations_by_interaction ON evaluations "
           "(tenant_id, interaction_id, submitted_at_ms, id)",
           R"(CREATE TABLE evaluation_comments (
  evaluation_id @KEY NOT NULL REFERENCES evaluations (id),
  idx INTEGER NOT NULL,
  offset_ms BIGINT NOT NULL,
  text TEXT NOT NULL,
  author TEXT NOT NULL,
  PRIMARY KEY (evaluation_id, idx)
))",
           R"(CREATE TABLE disputes (
  review_id @KEY PRIMARY KEY REFERENCES reviews (id),
  tenant_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  opened_at_ms BIGINT NOT NULL,
  resolution TEXT,
  resolved_by TEXT,
  resolved_at_ms BIGINT
))",
           R"(CREATE TABLE forms (
  tenant_id TEXT NOT NULL,
  form_id TEXT NOT NULL,
  version BIGINT NOT NULL CHECK (version > 0),
  definition_text TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, form_id, version)
))",
           R"(CREATE TABLE feedback (
  id @KEY PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  interaction_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  queue_id TEXT NOT NULL,
  customer_id TEXT,
  csat SMALLINT NOT NULL CHECK (csat BETWEEN 1 AND 5),
  comment TEXT NOT NULL,
  wait_ms BIGINT NOT NULL,
  at_ms BIGINT NOT NULL
))",
           "CREATE INDEX feedback_by_interaction ON feedback (tenant_id, interaction_id, at_ms)",
           "CREATE INDEX feedback_by_customer ON feedback (tenant_id, customer_id) "
           "WHERE customer_id IS NOT NULL",
           R"(CREATE TABLE coaching_tasks (
  id @KEY PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  supervisor_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  average_score DOUBLE PRECISION NOT NULL,
  status TEXT NOT NULL,
  dedupe_key TEXT,
  created_at_ms BIGINT NOT NULL,
  updated_at_ms BIGINT NOT NULL
))",
           "CREATE UNIQUE INDEX coaching_by_dedupe_key ON coaching_tasks (tenant_id, dedupe_key)",
           "CREATE INDEX coaching_by_created ON coaching_tasks (tenant_id, created_at_ms, id)",
       }},
      {3,
       "processed events (consumer dedupe)",
       {
           R"(CREATE TABLE processed_events (
  consumer TEXT NOT NULL,
  event_id TEXT NOT NULL,
  processed_at_ms BIGINT NOT NULL,
  PRIMARY KEY (consumer, event_id)
))",
           "CREATE INDEX processed_events_by_time ON processed_events (consumer, processed_at_ms)",
       }},
      {4,
       "interactions, agents, review details (the review workflow)",
       {
           R"(CREATE TABLE interactions (
  tenant_id TEXT NOT NULL,
  interaction_id @KEY NOT NULL,
  queue_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  customer_id TEXT,
  enqueued_at_ms BIGINT NOT NULL,
  connected_at_ms BIGINT NOT NULL,
  ended_at_ms BIGINT NOT NULL,
  end_reason TEXT NOT NULL,
  wait_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, interaction_id)
))",
           // The weekly sample: the interactions that ended in a week, with an agent.
           "CREATE INDEX interactions_ended ON interactions (tenant_id, ended_at_ms, "
           "interaction_id) WHERE ended_at_ms > 0 AND agent_id <> ''",
           R"(CREATE TABLE agents (
  tenant_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  team_id TEXT NOT NULL,
  updated_at_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, agent_id)
))",
           R"(CREATE TABLE review_details (
  review_id @KEY PRIMARY KEY REFERENCES reviews (id),
  tenant_id TEXT NOT NULL,
  agent_id TEXT NOT NULL,
  qa_kind TEXT NOT NULL,
  queue_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  source_event_id TEXT NOT NULL,
  evaluation_id TEXT NOT NULL,
  reviewer TEXT NOT NULL,
  score DOUBLE PRECISION NOT NULL,
  critical_failed SMALLINT NOT NULL CHECK (critical_failed IN (0, 1)),
  submitted_at_ms BIGINT NOT NULL,
  responded_at_ms BIGINT NOT NULL,
  resolution_note TEXT NOT NULL,
  score_before_amendment DOUBLE PRECISION,
  amended_evaluation_id TEXT NOT NULL
))",
           // Coaching: an agent's recent scored reviews.
           "CREATE INDEX review_details_scored ON review_details (tenant_id, agent_id, "
           "submitted_at_ms) WHERE submitted_at_ms > 0",
       }},
  };
  return kMigrations;
}

// Parses the one value of SELECT COALESCE(MAX(version), 0): typed on SQLite, text on PostgreSQL.
absl::StatusOr<int64_t> VersionOf(const SqlResult& result, std::string_view table) {
  if (result.rows.size() != 1 || result.rows[0].size() != 1) {
    return absl::InternalError(Cat("DB_ERROR: unexpected shape of the ", table, " query"));
  }
  const SqlValue& v = result.rows[0][0];
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size()) return out;
  }
  return absl::InternalError(Cat("DB_ERROR: ", table, ".version holds a non-integer"));
}

}  // namespace

const std::vector<Migration>& AllMigrations() { return Build(); }

int64_t LatestSchemaVersion() { return AllMigrations().back().version; }

std::string MigrationSql(SqlDialect dialect, std::string_view statement) {
  return absl::StrReplaceAll(
      std::string(statement),
      {{"@KEY", dialect == SqlDialect::kPostgres ? "TEXT COLLATE \"C\"" : "TEXT"}});
}

absl::StatusOr<int64_t> MigrateSchema(SqlTx& tx, SqlDialect dialect,
                                      const SchemaMigrations& schema) {
  // Every statement runs once per process, so none is kept prepared (cacheable=false).
  if (dialect == SqlDialect::kPostgres) {
    // Two replicas starting together: the second waits here, then finds the work done. (CREATE
    // TABLE IF NOT EXISTS alone races on the catalog.)
    auto locked = tx.Exec(Cat("SELECT pg_advisory_xact_lock(", schema.lock_key, ")"), {},
                          /*cacheable=*/false);
    if (!locked.ok()) return locked.status();
  }
  auto created = tx.Exec(Cat("CREATE TABLE IF NOT EXISTS ", schema.version_table,
                             " (version BIGINT PRIMARY KEY, name TEXT NOT NULL)"),
                         {}, /*cacheable=*/false);
  if (!created.ok()) return created.status();
  auto current = tx.Exec(Cat("SELECT COALESCE(MAX(version), 0) FROM ", schema.version_table), {},
                         /*cacheable=*/false);
  if (!current.ok()) return current.status();
  auto version = VersionOf(*current, schema.version_table);
  if (!version.ok()) return version.status();
  const int64_t latest = schema.migrations.empty() ? 0 : schema.migrations.back().version;
  if (*version > latest) {
    return absl::FailedPreconditionError(
        Cat("SCHEMA_TOO_NEW: the ", schema.schema_label, " is at version ", *version,
            " but this binary knows versions up to ", latest, "; run a newer ", schema.binary,
            " (never point an older binary at a migrated database)"));
  }
  const std::string record_sql =
      Cat("INSERT INTO ", schema.version_table, " (version, name) VALUES ($1, $2)");
  for (const Migration& m : schema.migrations) {
    if (m.version <= *version) continue;
    for (std::string_view statement : m.statements) {
      auto r = tx.Exec(MigrationSql(dialect, statement), {}, /*cacheable=*/false);
      if (!r.ok()) {
        return absl::Status(r.status().code(), Cat(schema.migration_label, " ", m.version, " (",
                                                   m.name, ") failed: ", r.status().message()));
      }
    }
    const SqlValue params[] = {m.version, std::string(m.name)};
    auto recorded = tx.Exec(record_sql, params, /*cacheable=*/false);
    if (!recorded.ok()) return recorded.status();
  }
  return *version;
}

absl::StatusOr<int64_t> Migrate(SqlDriver& driver) {
  // The lock key is arbitrary but fixed.
  const SchemaMigrations schema{
      .version_table = "schema_migrations",
      .lock_key = 7264019385,
      .migrations = AllMigrations(),
      .schema_label = "database schema",
      .migration_label = "migration",
      .binary = "sb-recording",
  };
  auto tx = driver.Begin(TxMode::kReadWrite);
  if (!tx.ok()) return tx.status();
  auto before = MigrateSchema(**tx, driver.dialect(), schema);
  if (!before.ok()) return before.status();
  if (absl::Status s = (*tx)->Commit(); !s.ok()) return s;
  return before;
}

}  // namespace sb::recording::storage
