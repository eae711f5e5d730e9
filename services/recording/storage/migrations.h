// Versioned schema migrations for both SQL adapters. Numbered migrations are applied in order,
// all in one transaction, and recorded in a version table (sb-recording's: `schema_migrations`);
// running again is a no-op; a database at a newer version than this binary knows is refused. The
// runner (MigrateSchema) is generic: sb-insights runs its own schema through it, with its own
// version table and lock key, in the same database. See docs/recording-storage.md.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "recording/storage/sql_driver.h"

namespace sb::recording::storage {

struct Migration {
  int64_t version;
  std::string_view name;
  // Statements, run in order. The token @KEY is replaced by the column type of a text key that
  // sorts bytewise on both databases: `TEXT COLLATE "C"` on PostgreSQL, `TEXT` on SQLite.
  std::vector<std::string_view> statements;
};

// SchemaMigrations
//
// One schema's migrations and the bookkeeping MigrateSchema keeps for it. Plain data that only
// points at its strings and migrations (which must outlive it); read from any thread.
//
// Example (sb-insights, whose tables may share a PostgreSQL database with sb-recording's):
//   SchemaMigrations{.version_table = "insights_schema_version", .lock_key = 5831740265,
//                    .migrations = kMigrations, .schema_label = "insights schema",
//                    .migration_label = "insights migration", .binary = "sb-insights"};
struct SchemaMigrations {
  // The table recording the applied versions (version BIGINT PRIMARY KEY, name TEXT NOT NULL),
  // created if missing. A fixed SQL identifier, never user input.
  std::string_view version_table;
  // The PostgreSQL advisory lock key serializing concurrent runs (two replicas starting
  // together). Arbitrary but fixed forever, and different for every schema of one database.
  int64_t lock_key = 0;
  // By ascending version (1, 2, ...). Never edit a released migration: add the next.
  std::span<const Migration> migrations;
  // Words of the error messages: "SCHEMA_TOO_NEW: the <schema_label> is at version 5 but this
  // binary knows versions up to 4; run a newer <binary> ...", "<migration_label> 3 (name) failed".
  std::string_view schema_label;
  std::string_view migration_label;
  std::string_view binary;
};

// Brings the database to the last version of `schema.migrations` inside `tx` (a read-write
// transaction on a database of `dialect`) and returns the version it was at before. The caller
// commits, and decides whether to retry a run that failed ABORTED. FAILED_PRECONDITION:
// SCHEMA_TOO_NEW when the database is at a newer version; INTERNAL: DB_ERROR when the version
// table holds something else than a version. Safe against concurrent runs (PostgreSQL: the
// advisory lock; SQLite: the write transaction). Runs on the thread that owns `tx`.
absl::StatusOr<int64_t> MigrateSchema(SqlTx& tx, SqlDialect dialect,
                                      const SchemaMigrations& schema);

// sb-recording's migrations, by version (1, 2, ...).
const std::vector<Migration>& AllMigrations();
// The highest version in AllMigrations().
int64_t LatestSchemaVersion();

// The SQL of a statement for a dialect (@KEY substituted).
std::string MigrationSql(SqlDialect dialect, std::string_view statement);

// MigrateSchema for sb-recording's schema (AllMigrations(), recorded in `schema_migrations`) in
// a transaction of its own: brings the database to LatestSchemaVersion() and returns the version
// it was at before. No retry.
absl::StatusOr<int64_t> Migrate(SqlDriver& driver);

}  // namespace sb::recording::storage
