// The SQL adapter of IntervalStore, written once over the recording service's SqlDriver
// (recording/storage/sql_driver.h), so SQLite and PostgreSQL share every statement.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "insights/storage/interval_store.h"
#include "recording/storage/sql_driver.h"

namespace sb::insights::storage {

// Brings the database behind `driver` to LatestIntervalSchemaVersion() and returns the version it
// was at before. Migrations are numbered, applied in order in one transaction and recorded in
// `insights_schema_version`; running again is a no-op. FAILED_PRECONDITION: SCHEMA_TOO_NEW when the
// database is at a newer version. Safe against concurrent runs (PostgreSQL: advisory lock; SQLite:
// write transaction).
absl::StatusOr<int64_t> MigrateIntervalSchema(recording::storage::SqlDriver& driver);

// Migrates, then returns a store over `driver` (which it shares). Also the seam for tests that
// wrap a driver to inject faults.
absl::StatusOr<std::unique_ptr<IntervalStore>> NewSqlIntervalStore(
    std::shared_ptr<recording::storage::SqlDriver> driver);

}  // namespace sb::insights::storage
