// The interval store of sb-insights: the closed 15-minute IntervalAggregates
// (insights/core/intervals.h) kept in SQLite (embedded mode) or PostgreSQL (cluster), so the
// history the forecast reads survives restarts. See README.md in this directory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "insights/core/intervals.h"

namespace sb::insights::storage {

// IntervalStore
//
// The storage port of sb-insights: one row per (tenant_id, queue_id, start_ms, length_ms). Owned by
// the service; thread-safe (every call runs in its own database transaction, so any thread may
// call it). Errors: INVALID_ARGUMENT (INVALID_RECORD: a record without a tenant or queue or with a
// length <= 0; INVALID_TEXT: text that is not UTF-8 or holds a NUL byte), UNAVAILABLE
// (DB_UNAVAILABLE, DB_BUSY, DB_POOL_EXHAUSTED), ABORTED (DB_CONFLICT, after the store's own
// retries), INTERNAL (DB_ERROR).
//
// Example:
//   auto store = OpenIntervalStore("sqlite:///var/lib/sb/insights.db");
//   (*store)->Put(book.TakeClosed(), /*replace=*/true);
//   auto day = (*store)->Range("acme", "", day_start_ms, day_start_ms + 86'400'000);
class IntervalStore {
 public:
  virtual ~IntervalStore() = default;

  // Writes closed intervals in one transaction (all or nothing). Per record: when `replace` is
  // true an existing row with the same key is overwritten; when false an existing row is kept (the
  // record is inserted only if absent). Why both: every replica applies every event, so an interval
  // it saw from its beginning is the same on every replica and replacing is idempotent; an interval
  // whose beginning a replica did not see (its replay started mid-interval) is partial and must not
  // overwrite a complete row. Records with the same key in one call are applied in order (replace:
  // the last wins; keep: the first wins). Returns how many rows were written (inserted or
  // overwritten; a kept row does not count).
  virtual absl::StatusOr<int64_t> Put(const std::vector<IntervalAggregate>& records,
                                      bool replace) = 0;

  // The records of `tenant` with from_ms <= start_ms < to_ms, of one queue (or of all when `queue`
  // is empty), ordered by (start_ms, queue_id, length_ms); ids compare bytewise.
  virtual absl::StatusOr<std::vector<IntervalAggregate>> Range(std::string_view tenant,
                                                               std::string_view queue,
                                                               int64_t from_ms, int64_t to_ms) = 0;

  // The tenants with at least one record, sorted bytewise.
  virtual absl::StatusOr<std::vector<std::string>> Tenants() = 0;

  // Deletes the records (of every tenant) with start_ms < before_ms (retention); returns the count.
  virtual absl::StatusOr<int64_t> DeleteBefore(int64_t before_ms) = 0;
};

// Opens the store named by `url` and brings its schema up to date (versioned migrations recorded
// in `insights_schema_version`, idempotent, so the tables can share a PostgreSQL database with
// sb-recording's):
//   sqlite::memory:                      a private in-memory SQLite database (tests, demos)
//   sqlite:///abs/path.db                the SQLite file /abs/path.db (created if absent; the
//   sqlite://rel/path.db                 directory must exist), or rel/path.db relative to the cwd
//   postgresql://... or postgres://...   a libpq URI, passed to libpq as is (pool of 4)
// INVALID_ARGUMENT: BAD_STORE_URL for anything else; FAILED_PRECONDITION: SCHEMA_TOO_NEW when the
// database was migrated by a newer binary; UNAVAILABLE: DB_UNAVAILABLE when it cannot be reached.
absl::StatusOr<std::unique_ptr<IntervalStore>> OpenIntervalStore(std::string_view url);

// The newest schema version this binary knows (the migration tests use it).
int64_t LatestIntervalSchemaVersion();

}  // namespace sb::insights::storage
