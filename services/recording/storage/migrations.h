// Versioned schema migrations for both SQL adapters. Numbered migrations are applied in order,
// all in one transaction, and recorded in `schema_migrations`; running again is a no-op; a
// database at a newer version than this binary knows is refused. See docs/recording-storage.md.
#pragma once

#include <cstdint>
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

// All migrations of this binary, by version (1, 2, ...).
const std::vector<Migration>& AllMigrations();
// The highest version in AllMigrations().
int64_t LatestSchemaVersion();

// The SQL of a statement for a dialect (@KEY substituted).
std::string MigrationSql(SqlDialect dialect, std::string_view statement);

// Brings the database to LatestSchemaVersion() and returns the version it was at before.
// FAILED_PRECONDITION: SCHEMA_TOO_NEW when the database is at a newer version. Safe against
// concurrent runs (PostgreSQL: advisory lock; SQLite: write transaction).
absl::StatusOr<int64_t> Migrate(SqlDriver& driver);

}  // namespace sb::recording::storage
