#include "recording/storage/open_sql_driver.h"

#include <string>

#include "absl/status/status.h"
#include "recording/storage/postgres_store.h"
#include "recording/storage/sqlite_store.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {

absl::StatusOr<std::shared_ptr<SqlDriver>> OpenSqlDriver(std::string_view url) {
  constexpr std::string_view kSqlite = "sqlite://";
  if (url == "sqlite::memory:") return OpenSqliteDriver(":memory:");
  if (url.starts_with(kSqlite) && url.size() > kSqlite.size()) {
    return OpenSqliteDriver(std::string(url.substr(kSqlite.size())));
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return OpenPostgresDriver(std::string(url));
  }
  // Echo only the scheme: the rest may carry a password.
  const size_t colon = url.find(':');
  return absl::InvalidArgumentError(
      Cat("BAD_STORE_URL: unsupported store URL (scheme '",
          colon == std::string_view::npos ? std::string_view("") : url.substr(0, colon),
          "'); use sqlite::memory:, sqlite:///absolute/path.db, sqlite://relative/path.db or "
          "postgresql://user@host/db"));
}

}  // namespace sb::recording::storage
