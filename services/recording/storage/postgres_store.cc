#include "recording/storage/postgres_store.h"

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {
namespace {

absl::Status MapSqlError(const pqxx::sql_error& e) {
  const std::string state = e.sqlstate();
  std::string msg = e.what();
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  if (state == "40001" || state == "40P01") {
    return absl::AbortedError(Cat("DB_CONFLICT: ", msg));
  }
  if (state == "23505") return absl::AlreadyExistsError(Cat("DB_UNIQUE_VIOLATION: ", msg));
  if (state.starts_with("23")) {
    return absl::FailedPreconditionError(Cat("DB_CONSTRAINT: ", msg));
  }
  if (state.starts_with("22")) return absl::InvalidArgumentError(Cat("DB_BAD_VALUE: ", msg));
  if (state == "57014") return absl::DeadlineExceededError(Cat("DB_TIMEOUT: ", msg));
  if (state.starts_with("08") || state.starts_with("57P") || state.starts_with("53")) {
    return absl::UnavailableError(Cat("DB_UNAVAILABLE: ", msg));
  }
  return absl::InternalError(Cat("DB_ERROR: ", msg, " [sqlstate ", state, "]"));
}

std::string DoubleText(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), d);  // shortest exact round trip
  return std::string(buf, end);
}

// One pooled connection and the statements prepared on it (sql text -> statement name).
struct PgConn {
  std::unique_ptr<pqxx::connection> conn;
  absl::flat_hash_map<std::string, std::string> prepared;
  int next_statement = 0;
  bool broken = false;
};

class PostgresDriver;

class PgTx final : public SqlTx {
 public:
  PgTx(std::shared_ptr<PostgresDriver> driver, std::unique_ptr<PgConn> conn,
       std::unique_ptr<pqxx::transaction_base> tx)
      : driver_(std::move(driver)), conn_(std::move(conn)), tx_(std::move(tx)) {}
  ~PgTx() override;

  absl::StatusOr<SqlResult> Exec(std::string_view sql, std::span<const SqlValue> params,
                                 bool cacheable) override;
  absl::Status Commit() override;

 private:
  absl::Status Fail(absl::Status s) {
    if (failed_.ok()) failed_ = s;
    return s;
  }

  std::shared_ptr<PostgresDriver> driver_;
  std::unique_ptr<PgConn> conn_;
  std::unique_ptr<pqxx::transaction_base> tx_;
  absl::Status failed_;
  bool done_ = false;
};

// PostgresDriver: the pool. Idle connections wait in idle_; a transaction owns its connection
// (moved out of the pool) until it ends. mu_ guards idle_ and open_.
class PostgresDriver final : public SqlDriver, public std::enable_shared_from_this<PostgresDriver> {
 public:
  PostgresDriver(std::string dsn, PostgresOptions options)
      : dsn_(std::move(dsn)), options_(options) {}

  SqlDialect dialect() const override { return SqlDialect::kPostgres; }

  absl::StatusOr<std::unique_ptr<SqlTx>> Begin(TxMode mode) override {
    auto conn = Acquire();
    if (!conn.ok()) return conn.status();
    std::unique_ptr<PgConn> c = *std::move(conn);
    try {
      if (c->conn == nullptr || c->broken || !c->conn->is_open()) {
        c->conn = std::make_unique<pqxx::connection>(dsn_);
        c->prepared.clear();
        c->broken = false;
      }
      std::unique_ptr<pqxx::transaction_base> tx;
      if (mode == TxMode::kReadWrite) {
        tx = std::make_unique<pqxx::work>(*c->conn);
      } else {
        tx = std::make_unique<pqxx::transaction<pqxx::repeatable_read, pqxx::read_only>>(*c->conn);
      }
      return std::unique_ptr<SqlTx>(new PgTx(shared_from_this(), std::move(c), std::move(tx)));
    } catch (const pqxx::sql_error& e) {
      c->broken = true;
      Release(std::move(c));
      return MapSqlError(e);
    } catch (const std::exception& e) {
      c->broken = true;
      Release(std::move(c));
      return absl::UnavailableError(Cat("DB_UNAVAILABLE: ", e.what()));
    }
  }

  void Release(std::unique_ptr<PgConn> c) {
    std::lock_guard<std::mutex> lock(mu_);
    if (c->broken) {
      --open_;  // dropped; a new one is made on demand
    } else {
      idle_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

 private:
  absl::StatusOr<std::unique_ptr<PgConn>> Acquire() {
    std::unique_lock<std::mutex> lock(mu_);
    const bool ready = cv_.wait_for(lock, options_.acquire_timeout,
                                    [&] { return !idle_.empty() || open_ < options_.pool_size; });
    if (!ready) {
      return absl::UnavailableError(Cat("DB_POOL_EXHAUSTED: no free PostgreSQL connection within ",
                                        options_.acquire_timeout.count(), " ms (pool_size ",
                                        options_.pool_size, ")"));
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    ++open_;
    return std::make_unique<PgConn>();  // connected by Begin, outside the lock
  }

  const std::string dsn_;
  const PostgresOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<PgConn>> idle_;
  int open_ = 0;  // connections in idle_ or held by a transaction
};

PgTx::~PgTx() {
  if (!done_) {
    try {
      tx_->abort();
    } catch (const std::exception&) {
      conn_->broken = true;
    }
  }
  tx_.reset();
  driver_->Release(std::move(conn_));
}

absl::StatusOr<SqlResult> PgTx::Exec(std::string_view sql, std::span<const SqlValue> params,
                                     bool cacheable) {
  if (!failed_.ok()) return failed_;
  if (done_) return absl::FailedPreconditionError("DB_ERROR: transaction already committed");
  if (absl::Status s = ValidateSqlParams(params); !s.ok()) return Fail(s);
  // Text for every parameter; the server infers the types from the statement.
  std::vector<std::string> text(params.size());
  std::vector<const char*> values(params.size(), nullptr);
  for (size_t i = 0; i < params.size(); ++i) {
    const SqlValue& v = params[i];
    if (const auto* n = std::get_if<int64_t>(&v)) {
      text[i] = Cat(*n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      text[i] = DoubleText(*d);
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      text[i] = *s;
    } else {
      continue;  // NULL
    }
    values[i] = text[i].c_str();
  }
  try {
    pqxx::result r;
    if (cacheable) {
      auto it = conn_->prepared.find(absl::string_view(sql.data(), sql.size()));
      if (it == conn_->prepared.end()) {
        std::string name = Cat("sb", conn_->next_statement++);
        conn_->conn->prepare(name, std::string(sql));
        it = conn_->prepared.emplace(std::string(sql), std::move(name)).first;
      }
      r = tx_->exec_prepared(it->second, pqxx::prepare::make_dynamic_params(values));
    } else {
      r = tx_->exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(values));
    }
    SqlResult out;
    out.affected_rows = static_cast<int64_t>(r.affected_rows());
    out.rows.reserve(r.size());
    for (const auto& row : r) {
      std::vector<SqlValue> cols;
      cols.reserve(row.size());
      for (const auto& field : row) {
        if (field.is_null()) {
          cols.emplace_back(std::monostate());
        } else {
          cols.emplace_back(std::string(field.c_str(), field.size()));
        }
      }
      out.rows.push_back(std::move(cols));
    }
    return out;
  } catch (const pqxx::broken_connection& e) {
    conn_->broken = true;
    return Fail(absl::UnavailableError(Cat("DB_UNAVAILABLE: ", e.what())));
  } catch (const pqxx::sql_error& e) {
    return Fail(MapSqlError(e));
  } catch (const std::exception& e) {
    return Fail(absl::InternalError(Cat("DB_ERROR: ", e.what())));
  }
}

absl::Status PgTx::Commit() {
  if (!failed_.ok()) return failed_;
  if (done_) return absl::OkStatus();
  try {
    tx_->commit();
    done_ = true;
    return absl::OkStatus();
  } catch (const pqxx::in_doubt_error& e) {
    conn_->broken = true;
    done_ = true;
    return Fail(absl::UnavailableError(
        Cat("DB_IN_DOUBT: the connection broke during COMMIT; the transaction may or may not have "
            "been applied: ",
            e.what())));
  } catch (const pqxx::broken_connection& e) {
    conn_->broken = true;
    return Fail(absl::UnavailableError(Cat("DB_UNAVAILABLE: ", e.what())));
  } catch (const pqxx::sql_error& e) {
    return Fail(MapSqlError(e));
  } catch (const std::exception& e) {
    return Fail(absl::InternalError(Cat("DB_ERROR: ", e.what())));
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<SqlDriver>> OpenPostgresDriver(const std::string& dsn,
                                                              const PostgresOptions& options) {
  if (options.pool_size < 1) {
    return absl::InvalidArgumentError("BAD_POOL_SIZE: pool_size must be >= 1");
  }
  auto driver = std::make_shared<PostgresDriver>(dsn, options);
  // Connect now so a bad DSN fails at startup, not on the first request.
  auto tx = driver->Begin(TxMode::kReadOnlySnapshot);
  if (!tx.ok()) {
    return absl::Status(
        tx.status().code(),
        Cat(tx.status().message(), " (check the PostgreSQL URL/DSN and that the server is up)"));
  }
  return std::shared_ptr<SqlDriver>(std::move(driver));
}

absl::StatusOr<std::unique_ptr<SqlRecordingStore>> OpenPostgresStore(
    const std::string& dsn, const PostgresOptions& options) {
  auto driver = OpenPostgresDriver(dsn, options);
  if (!driver.ok()) return driver.status();
  return SqlRecordingStore::Open(*std::move(driver));
}

}  // namespace sb::recording::storage
