#include "insights/storage/sql_interval_store.h"

#include <algorithm>
#include <charconv>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "recording/storage/migrations.h"
#include "recording/storage/text_util.h"

namespace sb::insights::storage {
namespace {

using recording::storage::Cat;
using recording::storage::CatAppend;
using recording::storage::Migration;
using recording::storage::SchemaMigrations;
using recording::storage::SqlDriver;
using recording::storage::SqlResult;
using recording::storage::SqlTx;
using recording::storage::SqlValue;
using recording::storage::TxMode;

// A write that meets a serialization failure or deadlock (ABORTED: DB_CONFLICT) is retried as a
// whole this many times in all; Put sorts its rows by key, so deadlocks between concurrent Puts
// are rare to begin with.
constexpr int kMaxAttempts = 4;

// PostgreSQL advisory lock key serializing concurrent migrations of this schema. Arbitrary but
// fixed, and different from sb-recording's, whose tables may live in the same database.
constexpr int64_t kMigrationLockKey = 5831740265;

// ---- Schema ----

// Never edit a released migration: add a new one. One BIGINT column per IntervalAggregate field.
// @KEY: a text column that sorts bytewise on both databases (recording::storage::MigrationSql).
const std::vector<Migration>& AllMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1,
       "interval aggregates",
       {
           R"(CREATE TABLE insights_intervals (
  tenant_id @KEY NOT NULL,
  queue_id @KEY NOT NULL,
  start_ms BIGINT NOT NULL,
  length_ms BIGINT NOT NULL CHECK (length_ms > 0),
  offered BIGINT NOT NULL,
  answered BIGINT NOT NULL,
  answered_within_sl BIGINT NOT NULL,
  abandoned BIGINT NOT NULL,
  abandoned_after_sl BIGINT NOT NULL,
  short_abandoned BIGINT NOT NULL,
  left_unanswered BIGINT NOT NULL,
  wait_answered_ms BIGINT NOT NULL,
  wait_abandoned_ms BIGINT NOT NULL,
  wait_unanswered_ms BIGINT NOT NULL,
  max_wait_ms BIGINT NOT NULL,
  handled BIGINT NOT NULL,
  talk_ms BIGINT NOT NULL,
  wrap_ms BIGINT NOT NULL,
  sl_threshold_ms BIGINT NOT NULL,
  PRIMARY KEY (tenant_id, queue_id, start_ms, length_ms)
))",
           // Range over all queues of a tenant; the primary key serves the one-queue Range.
           "CREATE INDEX insights_intervals_by_start ON insights_intervals "
           "(tenant_id, start_ms, queue_id, length_ms)",
           // DeleteBefore (retention) across tenants.
           "CREATE INDEX insights_intervals_retention ON insights_intervals (start_ms)",
       }},
  };
  return kMigrations;
}

struct IntColumn {
  std::string_view name;
  int64_t IntervalAggregate::*field;
};

// The integer columns, in table order, after tenant_id and queue_id. The first two are the rest
// of the key.
constexpr IntColumn kIntColumns[] = {
    {"start_ms", &IntervalAggregate::start_ms},
    {"length_ms", &IntervalAggregate::length_ms},
    {"offered", &IntervalAggregate::offered},
    {"answered", &IntervalAggregate::answered},
    {"answered_within_sl", &IntervalAggregate::answered_within_sl},
    {"abandoned", &IntervalAggregate::abandoned},
    {"abandoned_after_sl", &IntervalAggregate::abandoned_after_sl},
    {"short_abandoned", &IntervalAggregate::short_abandoned},
    {"left_unanswered", &IntervalAggregate::left_unanswered},
    {"wait_answered_ms", &IntervalAggregate::wait_answered_ms},
    {"wait_abandoned_ms", &IntervalAggregate::wait_abandoned_ms},
    {"wait_unanswered_ms", &IntervalAggregate::wait_unanswered_ms},
    {"max_wait_ms", &IntervalAggregate::max_wait_ms},
    {"handled", &IntervalAggregate::handled},
    {"talk_ms", &IntervalAggregate::talk_ms},
    {"wrap_ms", &IntervalAggregate::wrap_ms},
    {"sl_threshold_ms", &IntervalAggregate::sl_threshold_ms},
};
constexpr size_t kKeyIntColumns = 2;
constexpr size_t kColumnCount = 2 + std::size(kIntColumns);

std::string ColumnList() {
  std::string out = "tenant_id, queue_id";
  for (const IntColumn& c : kIntColumns) CatAppend(&out, ", ", c.name);
  return out;
}

std::string UpsertSql(bool replace) {
  std::string sql = Cat("INSERT INTO insights_intervals (", ColumnList(), ") VALUES (");
  for (size_t i = 1; i <= kColumnCount; ++i) CatAppend(&sql, i == 1 ? "$" : ", $", i);
  CatAppend(&sql, ") ON CONFLICT (tenant_id, queue_id, start_ms, length_ms) DO ");
  if (!replace) return Cat(sql, "NOTHING");
  CatAppend(&sql, "UPDATE SET ");
  for (size_t i = kKeyIntColumns; i < std::size(kIntColumns); ++i) {
    CatAppend(&sql, i == kKeyIntColumns ? "" : ", ", kIntColumns[i].name, " = excluded.",
              kIntColumns[i].name);
  }
  return sql;
}

std::string RangeSql(bool one_queue) {
  return Cat("SELECT ", ColumnList(),
             " FROM insights_intervals WHERE tenant_id = $1 AND start_ms >= $2 AND start_ms < $3",
             one_queue ? " AND queue_id = $4" : "", " ORDER BY start_ms, queue_id, length_ms");
}

// ---- Values ----

absl::StatusOr<int64_t> IntOf(const SqlValue& v) {
  // SQLite returns typed values, PostgreSQL text.
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) {
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), out);
    if (ec == std::errc() && end == s->data() + s->size()) return out;
  }
  return absl::InternalError("DB_ERROR: a BIGINT column of insights_intervals holds a non-integer");
}

absl::StatusOr<std::string> TextOf(const SqlValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  return absl::InternalError(
      "DB_ERROR: a text column of insights_intervals holds a non-text value");
}

absl::StatusOr<IntervalAggregate> RowToRecord(const std::vector<SqlValue>& row) {
  if (row.size() != kColumnCount) {
    return absl::InternalError(
        Cat("DB_ERROR: expected ", kColumnCount, " columns, got ", row.size()));
  }
  IntervalAggregate r;
  auto tenant = TextOf(row[0]);
  if (!tenant.ok()) return tenant.status();
  auto queue = TextOf(row[1]);
  if (!queue.ok()) return queue.status();
  r.tenant_id = *std::move(tenant);
  r.queue_id = *std::move(queue);
  for (size_t i = 0; i < std::size(kIntColumns); ++i) {
    auto v = IntOf(row[2 + i]);
    if (!v.ok()) return v.status();
    r.*kIntColumns[i].field = *v;
  }
  return r;
}

absl::Status ValidateRecord(size_t index, const IntervalAggregate& r) {
  if (r.tenant_id.empty()) {
    return absl::InvalidArgumentError(Cat("INVALID_RECORD: record ", index, " has no tenant_id"));
  }
  if (r.queue_id.empty()) {
    return absl::InvalidArgumentError(Cat("INVALID_RECORD: record ", index, " has no queue_id"));
  }
  if (r.length_ms <= 0) {
    return absl::InvalidArgumentError(
        Cat("INVALID_RECORD: record ", index, " has length_ms ", r.length_ms, " (must be > 0)"));
  }
  return absl::OkStatus();
}

// Runs `body(tx)` in a transaction and commits, retrying the whole on ABORTED.
template <typename T, typename Body>
absl::StatusOr<T> InTx(SqlDriver& driver, TxMode mode, Body body) {
  absl::Status last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto tx = driver.Begin(mode);
    if (!tx.ok()) {
      last = tx.status();
    } else {
      absl::StatusOr<T> out = body(**tx);
      if (out.ok()) {
        last = (*tx)->Commit();
        if (last.ok()) return out;
      } else {
        last = out.status();
      }
    }
    if (last.code() != absl::StatusCode::kAborted) return last;
  }
  return last;
}

// ---- The store ----

// SqlIntervalStore: stateless over a thread-safe driver, so thread-safe itself.
class SqlIntervalStore final : public IntervalStore {
 public:
  explicit SqlIntervalStore(std::shared_ptr<SqlDriver> driver) : driver_(std::move(driver)) {}

  absl::StatusOr<int64_t> Put(const std::vector<IntervalAggregate>& records,
                              bool replace) override {
    if (records.empty()) return int64_t{0};
    for (size_t i = 0; i < records.size(); ++i) {
      if (absl::Status s = ValidateRecord(i, records[i]); !s.ok()) return s;
    }
    // Rows in key order, so concurrent Puts lock them in the same order (no deadlocks); stable, so
    // records of one key keep their order (replace: the last wins; keep: the first).
    std::vector<const IntervalAggregate*> sorted;
    sorted.reserve(records.size());
    for (const IntervalAggregate& r : records) sorted.push_back(&r);
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) {
      return std::tie(a->tenant_id, a->queue_id, a->start_ms, a->length_ms) <
             std::tie(b->tenant_id, b->queue_id, b->start_ms, b->length_ms);
    });
    const std::string& sql = replace ? kReplaceSql : kKeepSql;
    return InTx<int64_t>(*driver_, TxMode::kReadWrite, [&](SqlTx& tx) -> absl::StatusOr<int64_t> {
      int64_t written = 0;
      std::vector<SqlValue> params(kColumnCount);
      for (const IntervalAggregate* r : sorted) {
        params[0] = r->tenant_id;
        params[1] = r->queue_id;
        for (size_t i = 0; i < std::size(kIntColumns); ++i) {
          params[2 + i] = r->*kIntColumns[i].field;
        }
        auto res = tx.Exec(sql, params);
        if (!res.ok()) return res.status();
        written += res->affected_rows;
      }
      return written;
    });
  }

  absl::StatusOr<std::vector<IntervalAggregate>> Range(std::string_view tenant,
                                                       std::string_view queue, int64_t from_ms,
                                                       int64_t to_ms) override {
    std::vector<SqlValue> params = {std::string(tenant), from_ms, to_ms};
    if (!queue.empty()) params.emplace_back(std::string(queue));
    const std::string& sql = queue.empty() ? kRangeAllSql : kRangeQueueSql;
    return InTx<std::vector<IntervalAggregate>>(
        *driver_, TxMode::kReadOnlySnapshot,
        [&](SqlTx& tx) -> absl::StatusOr<std::vector<IntervalAggregate>> {
          auto res = tx.Exec(sql, params);
          if (!res.ok()) return res.status();
          std::vector<IntervalAggregate> out;
          out.reserve(res->rows.size());
          for (const auto& row : res->rows) {
            auto r = RowToRecord(row);
            if (!r.ok()) return r.status();
            out.push_back(*std::move(r));
          }
          return out;
        });
  }

  absl::StatusOr<std::vector<std::string>> Tenants() override {
    return InTx<std::vector<std::string>>(
        *driver_, TxMode::kReadOnlySnapshot,
        [&](SqlTx& tx) -> absl::StatusOr<std::vector<std::string>> {
          auto res =
              tx.Exec("SELECT DISTINCT tenant_id FROM insights_intervals ORDER BY tenant_id", {});
          if (!res.ok()) return res.status();
          std::vector<std::string> out;
          out.reserve(res->rows.size());
          for (const auto& row : res->rows) {
            auto t = TextOf(row.at(0));
            if (!t.ok()) return t.status();
            out.push_back(*std::move(t));
          }
          return out;
        });
  }

  absl::StatusOr<int64_t> DeleteBefore(int64_t before_ms) override {
    const SqlValue params[] = {before_ms};
    return InTx<int64_t>(*driver_, TxMode::kReadWrite, [&](SqlTx& tx) -> absl::StatusOr<int64_t> {
      auto res = tx.Exec("DELETE FROM insights_intervals WHERE start_ms < $1", params);
      if (!res.ok()) return res.status();
      return res->affected_rows;
    });
  }

 private:
  static inline const std::string kReplaceSql = UpsertSql(/*replace=*/true);
  static inline const std::string kKeepSql = UpsertSql(/*replace=*/false);
  static inline const std::string kRangeAllSql = RangeSql(/*one_queue=*/false);
  static inline const std::string kRangeQueueSql = RangeSql(/*one_queue=*/true);

  const std::shared_ptr<SqlDriver> driver_;
};

}  // namespace

int64_t LatestIntervalSchemaVersion() { return AllMigrations().back().version; }

absl::StatusOr<int64_t> MigrateIntervalSchema(SqlDriver& driver) {
  const SchemaMigrations schema{
      .version_table = "insights_schema_version",
      .lock_key = kMigrationLockKey,
      .migrations = AllMigrations(),
      .schema_label = "insights schema",
      .migration_label = "insights migration",
      .binary = "sb-insights",
  };
  return InTx<int64_t>(driver, TxMode::kReadWrite, [&](SqlTx& tx) {
    return recording::storage::MigrateSchema(tx, driver.dialect(), schema);
  });
}

absl::StatusOr<std::unique_ptr<IntervalStore>> NewSqlIntervalStore(
    std::shared_ptr<SqlDriver> driver) {
  if (driver == nullptr) return absl::InvalidArgumentError("NO_DRIVER: driver is null");
  auto migrated = MigrateIntervalSchema(*driver);
  if (!migrated.ok()) return migrated.status();
  return std::make_unique<SqlIntervalStore>(std::move(driver));
}

}  // namespace sb::insights::storage
