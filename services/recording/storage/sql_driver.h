// The small SQL driver interface the shared store implementation (sql_store.h) runs on. Each
// adapter (SQLite, PostgreSQL) implements it; everything above it is written once.
//
// SQL text uses PostgreSQL-style numbered parameters ($1, $2, ...) for both databases (SQLite
// accepts "$1" as a named parameter; the SQLite driver binds by name).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sb::recording::storage {

// A parameter or a column value. SQLite returns typed values; PostgreSQL returns text, which the
// row accessors in sql_store.cc parse.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

struct SqlResult {
  std::vector<std::vector<SqlValue>> rows;
  int64_t affected_rows = 0;  // for INSERT/UPDATE/DELETE
};

enum class SqlDialect { kSqlite, kPostgres };

enum class TxMode {
  kReadWrite,         // PostgreSQL READ COMMITTED; SQLite BEGIN IMMEDIATE
  kReadOnlySnapshot,  // PostgreSQL REPEATABLE READ READ ONLY; SQLite BEGIN (deferred)
};

// SqlTx
//
// One open database transaction, owned by the thread that began it. Destroying it without a
// successful Commit() rolls back. After any failed Exec the transaction is poisoned in both
// adapters (as PostgreSQL does natively): further Execs and Commit return that first error.
class SqlTx {
 public:
  virtual ~SqlTx() = default;

  // Runs one statement. `cacheable` statements are prepared once per connection and reused;
  // pass false for SQL built with a variable shape (e.g. an IN list), which is prepared per
  // call and discarded.
  virtual absl::StatusOr<SqlResult> Exec(std::string_view sql, std::span<const SqlValue> params,
                                         bool cacheable = true) = 0;
  virtual absl::Status Commit() = 0;
};

// SqlDriver
//
// A connection (SQLite) or pool of connections (PostgreSQL). Thread-safe. Errors map to the
// store's codes: UNAVAILABLE (DB_UNAVAILABLE / DB_BUSY), ABORTED (DB_CONFLICT: serialization
// failure, deadlock; retryable), ALREADY_EXISTS (DB_UNIQUE_VIOLATION), FAILED_PRECONDITION
// (DB_CONSTRAINT), INTERNAL (DB_ERROR).
class SqlDriver {
 public:
  virtual ~SqlDriver() = default;
  virtual SqlDialect dialect() const = 0;
  // Blocks until a connection is free (PostgreSQL pool; bounded: UNAVAILABLE: DB_POOL_EXHAUSTED)
  // or the SQLite connection's mutex is free.
  virtual absl::StatusOr<std::unique_ptr<SqlTx>> Begin(TxMode mode) = 0;
};

}  // namespace sb::recording::storage

namespace sb::recording::storage {

// Checks text parameters before they reach a database: valid UTF-8 (PostgreSQL refuses anything
// else; SQLite would store it and the adapters would disagree) and no NUL bytes.
// INVALID_ARGUMENT: INVALID_TEXT. Both drivers call it first thing in Exec, so a bad parameter
// poisons the transaction like any failed statement.
absl::Status ValidateSqlParams(std::span<const SqlValue> params);

}  // namespace sb::recording::storage
