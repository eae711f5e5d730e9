// The SQLite adapter of RecordingStore (the embedded mode): one connection in WAL mode with a
// busy timeout, guarded by a mutex, so calls from several threads take turns.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "recording/storage/sql_driver.h"
#include "recording/storage/sql_store.h"

namespace sb::recording::storage {

struct SqliteOptions {
  // How long a write waits for another process holding the database (SQLite's busy timeout)
  // before failing with UNAVAILABLE: DB_BUSY.
  int busy_timeout_ms = 5000;
};

// Opens (creating if needed) the database at `path`, or a private in-memory one for ":memory:".
// The parent directory must exist. UNAVAILABLE: DB_UNAVAILABLE when it cannot be opened.
absl::StatusOr<std::shared_ptr<SqlDriver>> OpenSqliteDriver(const std::string& path,
                                                            const SqliteOptions& options = {});

// OpenSqliteDriver, then migrations (migrations.h).
absl::StatusOr<std::unique_ptr<SqlRecordingStore>> OpenSqliteStore(
    const std::string& path, const SqliteOptions& options = {});

}  // namespace sb::recording::storage
