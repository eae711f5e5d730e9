// OpenStore: a RecordingStore from a URL, for configuration files and flags.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/statusor.h"
#include "recording/storage/store.h"

namespace sb::recording::storage {

// Opens the store named by `url` (the forms of OpenSqlDriver in open_sql_driver.h: sqlite::memory:,
// sqlite:///abs/path.db, sqlite://rel/path.db, postgresql://... or postgres://...) and brings its
// schema up to date (migrations.h). INVALID_ARGUMENT: BAD_STORE_URL for any other URL;
// FAILED_PRECONDITION: SCHEMA_TOO_NEW when a newer binary migrated the database.
absl::StatusOr<std::unique_ptr<RecordingStore>> OpenStore(std::string_view url);

}  // namespace sb::recording::storage
