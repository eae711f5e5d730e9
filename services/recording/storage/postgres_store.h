// The PostgreSQL adapter of RecordingStore (libpqxx 6.4): a small pool of connections, each
// with its own prepared statements, created on demand up to `pool_size`.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "recording/storage/sql_driver.h"
#include "recording/storage/sql_store.h"

namespace sb::recording::storage {

struct PostgresOptions {
  // Connections opened at most. A call holds one for its transaction only, so this bounds the
  // concurrency of the store (and its share of the server's max_connections).
  int pool_size = 4;
  // How long a call waits for a free connection before UNAVAILABLE: DB_POOL_EXHAUSTED.
  std::chrono::milliseconds acquire_timeout{10000};
};

// `dsn`: a libpq connection string or URI ("postgresql://user@host:5432/db?sslmode=require",
// "host=/run/postgresql dbname=sb"). Connects once to check it (UNAVAILABLE: DB_UNAVAILABLE
// with libpq's message otherwise). A connection that breaks is replaced on its next use.
absl::StatusOr<std::shared_ptr<SqlDriver>> OpenPostgresDriver(const std::string& dsn,
                                                              const PostgresOptions& options = {});

// OpenPostgresDriver, then migrations (migrations.h).
absl::StatusOr<std::unique_ptr<SqlRecordingStore>> OpenPostgresStore(
    const std::string& dsn, const PostgresOptions& options = {});

}  // namespace sb::recording::storage
