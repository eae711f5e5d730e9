#include "recording/storage/sqlite_store.h"

#include <sqlite3.h>

#include <mutex>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

absl::Status SqliteError(sqlite3* db, int rc, std::string_view sql) {
  const std::string msg = Cat(db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                              " (in: ", sql.substr(0, 120), ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(Cat("DB_BUSY: ", msg));
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError(Cat("DB_UNIQUE_VIOLATION: ", msg));
      }
      return absl::FailedPreconditionError(Cat("DB_CONSTRAINT: ", msg));
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(Cat("DB_FULL: ", msg));
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return absl::UnavailableError(Cat("DB_UNAVAILABLE: ", msg));
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::DataLossError(Cat("DB_CORRUPT: ", msg));
    default:
      return absl::InternalError(Cat("DB_ERROR: ", msg));
  }
}

class SqliteDriver;

// SqliteTx holds the connection mutex from Begin until it is destroyed.
class SqliteTx final : public SqlTx {
 public:
  SqliteTx(SqliteDriver* driver, std::unique_lock<std::mutex> lock)
      : lock_(std::move(lock)), driver_(driver) {}
  ~SqliteTx() override;

  absl::StatusOr<SqlResult> Exec(std::string_view sql, std::span<const SqlValue> params,
                                 bool cacheable) override;
  absl::Status Commit() override;

 private:
  std::unique_lock<std::mutex> lock_;  // declared first: released last, after the rollback
  SqliteDriver* driver_;
  absl::Status failed_;
  bool done_ = false;
};

// SqliteDriver: one sqlite3 connection (opened SQLITE_OPEN_NOMUTEX: our mutex serializes all
// use of it) and its cache of prepared statements.
class SqliteDriver final : public SqlDriver {
 public:
  static absl::StatusOr<std::shared_ptr<SqliteDriver>> Open(const std::string& path,
                                                            const SqliteOptions& options) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      absl::Status s =
          absl::UnavailableError(Cat("DB_UNAVAILABLE: cannot open SQLite database '", path,
                                     "': ", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                                     " (does the directory exist and is it writable?)"));
      sqlite3_close_v2(db);
      return s;
    }
    auto driver = std::shared_ptr<SqliteDriver>(new SqliteDriver(db));
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, options.busy_timeout_ms);
    // WAL: readers of other processes (the CLI) do not block the writer. synchronous=FULL: a
    // committed audit entry survives a power cut. Foreign keys are off by default in SQLite.
    for (const char* pragma :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON"}) {
      char* err = nullptr;
      if (sqlite3_exec(db, pragma, nullptr, nullptr, &err) != SQLITE_OK) {
        absl::Status s = absl::UnavailableError(
            Cat("DB_UNAVAILABLE: '", pragma, "' failed on '", path, "': ", err ? err : "?"));
        sqlite3_free(err);
        return s;
      }
    }
    return driver;
  }

  ~SqliteDriver() override {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  absl::StatusOr<std::unique_ptr<SqlTx>> Begin(TxMode mode) override {
    std::unique_lock<std::mutex> lock(mu_);
    // IMMEDIATE takes the write lock now, so a read-modify-write cannot fail halfway with BUSY.
    const char* begin = mode == TxMode::kReadWrite ? "BEGIN IMMEDIATE" : "BEGIN";
    const int rc = sqlite3_exec(db_, begin, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return SqliteError(db_, rc, begin);
    return std::unique_ptr<SqlTx>(new SqliteTx(this, std::move(lock)));
  }

 private:
  friend class SqliteTx;
  explicit SqliteDriver(sqlite3* db) : db_(db) {}

  // Caller holds mu_ (through its SqliteTx).
  absl::StatusOr<SqlResult> ExecLocked(std::string_view sql, std::span<const SqlValue> params,
                                       bool cacheable) {
    sqlite3_stmt* stmt = nullptr;
    bool cached = false;
    if (cacheable) {
      auto it = cache_.find(absl::string_view(sql.data(), sql.size()));
      if (it != cache_.end()) {
        stmt = it->second;
        cached = true;
      }
    }
    if (stmt == nullptr) {
      const char* tail = nullptr;
      const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                        cacheable ? SQLITE_PREPARE_PERSISTENT : 0, &stmt, &tail);
      if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
      if (stmt == nullptr) return SqlResult{};  // empty statement
      if (tail != nullptr &&
          !absl::StripAsciiWhitespace(absl::string_view(tail, sql.data() + sql.size() - tail))
               .empty()) {
        sqlite3_finalize(stmt);
        return absl::InvalidArgumentError(
            Cat("DB_ERROR: one statement per Exec (in: ", sql.substr(0, 120), ")"));
      }
      if (cacheable) {
        cache_.emplace(std::string(sql), stmt);
        cached = true;
      }
    }
    absl::StatusOr<SqlResult> result = Step(stmt, sql, params);
    if (cached) {
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    } else {
      sqlite3_finalize(stmt);
    }
    return result;
  }

  absl::StatusOr<SqlResult> Step(sqlite3_stmt* stmt, std::string_view sql,
                                 std::span<const SqlValue> params) {
    int bound = 0;
    for (size_t i = 0; i < params.size(); ++i) {
      const std::string name = Cat("$", i + 1);
      const int idx = sqlite3_bind_parameter_index(stmt, name.c_str());
      if (idx == 0) continue;  // not used by this statement
      ++bound;
      const SqlValue& v = params[i];
      int rc = SQLITE_OK;
      if (const auto* n = std::get_if<int64_t>(&v)) {
        rc = sqlite3_bind_int64(stmt, idx, *n);
      } else if (const auto* d = std::get_if<double>(&v)) {
        rc = sqlite3_bind_double(stmt, idx, *d);
      } else if (const auto* s = std::get_if<std::string>(&v)) {
        rc = sqlite3_bind_text64(stmt, idx, s->data(), s->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
      } else {
        rc = sqlite3_bind_null(stmt, idx);
      }
      if (rc != SQLITE_OK) return SqliteError(db_, rc, sql);
    }
    if (bound != sqlite3_bind_parameter_count(stmt)) {
      return absl::InternalError(Cat("DB_ERROR: statement has ", sqlite3_bind_parameter_count(stmt),
                                     " parameters, ", bound, " bound (in: ", sql.substr(0, 120),
                                     ")"));
    }
    SqlResult result;
    while (true) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return SqliteError(db_, rc, sql);
      const int n = sqlite3_column_count(stmt);
      std::vector<SqlValue> row;
      row.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          case SQLITE_FLOAT:
            row.emplace_back(sqlite3_column_double(stmt, c));
            break;
          case SQLITE_NULL:
            row.emplace_back(std::monostate());
            break;
          default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            row.emplace_back(std::string(text, sqlite3_column_bytes(stmt, c)));
          }
        }
      }
      result.rows.push_back(std::move(row));
    }
    result.affected_rows = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes64(db_);
    return result;
  }

  absl::Status Simple(const char* sql) {
    const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? absl::OkStatus() : SqliteError(db_, rc, sql);
  }

  sqlite3* const db_;
  std::mutex mu_;  // held by the open SqliteTx; guards db_ and cache_
  absl::flat_hash_map<std::string, sqlite3_stmt*> cache_;
};

SqliteTx::~SqliteTx() {
  // Also after a failed COMMIT or a statement error that ended the transaction already; the
  // "no transaction is active" error of that case is harmless.
  if (!done_) (void)driver_->Simple("ROLLBACK");
}

absl::StatusOr<SqlResult> SqliteTx::Exec(std::string_view sql, std::span<const SqlValue> params,
                                         bool cacheable) {
  if (!failed_.ok()) return failed_;
  if (done_) return absl::FailedPreconditionError("DB_ERROR: transaction already committed");
  if (absl::Status s = ValidateSqlParams(params); !s.ok()) {
    failed_ = s;
    return s;
  }
  absl::StatusOr<SqlResult> r = driver_->ExecLocked(sql, params, cacheable);
  if (!r.ok()) failed_ = r.status();
  return r;
}

absl::Status SqliteTx::Commit() {
  if (!failed_.ok()) return failed_;
  if (done_) return absl::OkStatus();
  if (absl::Status s = driver_->Simple("COMMIT"); !s.ok()) {
    failed_ = s;
    return s;
  }
  done_ = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<SqlDriver>> OpenSqliteDriver(const std::string& path,
                                                            const SqliteOptions& options) {
  auto driver = SqliteDriver::Open(path, options);
  if (!driver.ok()) return driver.status();
  return std::shared_ptr<SqlDriver>(*std::move(driver));
}

absl::StatusOr<std::unique_ptr<SqlRecordingStore>> OpenSqliteStore(const std::string& path,
                                                                   const SqliteOptions& options) {
  auto driver = OpenSqliteDriver(path, options);
  if (!driver.ok()) return driver.status();
  return SqlRecordingStore::Open(*std::move(driver));
}

}  // namespace sb::recording::storage
