// OpenStore: a RecordingStore from a URL, for configuration files and flags.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "recording/storage/store.h"

namespace sb::recording::storage {

// Opens the store named by `url` and brings its schema up to date:
//   sqlite::memory:             a private in-memory SQLite database (tests, demos)
//   sqlite://<path>             a SQLite file: sqlite:///var/lib/sb/recording.db is the
//                               absolute path /var/lib/sb/recording.db, sqlite://data/r.db the
//                               relative path data/r.db
//   postgresql://... or postgres://...   a libpq URI, passed to libpq as is (pool of 4)
// Anything else is INVALID_ARGUMENT: BAD_STORE_URL.
absl::StatusOr<std::unique_ptr<RecordingStore>> OpenStore(std::string_view url);

}  // namespace sb::recording::storage
