// OpenSqlDriver: a SqlDriver from a store URL. The one parser of the store URL forms, shared by
// sb-recording's OpenStore (open_store.h) and sb-insights' OpenIntervalStore, so both services
// accept the same --store values.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "recording/storage/sql_driver.h"

namespace sb::recording::storage {

// Opens the database named by `url`, with the adapters' default options and no schema work (each
// caller migrates its own tables):
//   sqlite::memory:             a private in-memory SQLite database (tests, demos)
//   sqlite://<path>             a SQLite file, created if absent (the directory must exist):
//                               sqlite:///var/lib/sb/recording.db is the absolute path
//                               /var/lib/sb/recording.db, sqlite://data/r.db the relative path
//                               data/r.db
//   postgresql://... or postgres://...   a libpq URI, passed to libpq as is (pool of 4)
// Anything else is INVALID_ARGUMENT: BAD_STORE_URL, whose message names only the scheme (the rest
// of a URL may carry a password). UNAVAILABLE: DB_UNAVAILABLE when the database cannot be opened
// or reached. Callable from any thread.
//
// Example:
//   auto driver = OpenSqlDriver("sqlite:///var/lib/sb/insights.db");
absl::StatusOr<std::shared_ptr<SqlDriver>> OpenSqlDriver(std::string_view url);

}  // namespace sb::recording::storage
