#include "insights/storage/interval_store.h"

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "insights/storage/sql_interval_store.h"
#include "recording/storage/postgres_store.h"
#include "recording/storage/sqlite_store.h"

namespace sb::insights::storage {

absl::StatusOr<std::unique_ptr<IntervalStore>> OpenIntervalStore(std::string_view url) {
  // The same URL forms as sb-recording's OpenStore (recording/storage/open_store.h), which does
  // not expose its parser.
  constexpr std::string_view kSqlite = "sqlite://";
  absl::StatusOr<std::shared_ptr<recording::storage::SqlDriver>> driver;
  if (url == "sqlite::memory:") {
    driver = recording::storage::OpenSqliteDriver(":memory:");
  } else if (url.starts_with(kSqlite) && url.size() > kSqlite.size()) {
    driver = recording::storage::OpenSqliteDriver(std::string(url.substr(kSqlite.size())));
  } else if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    driver = recording::storage::OpenPostgresDriver(std::string(url));
  } else {
    // Echo only the scheme: the rest may carry a password.
    const size_t colon = url.find(':');
    std::string message = "BAD_STORE_URL: unsupported interval store URL (scheme '";
    if (colon != std::string_view::npos) message.append(url.substr(0, colon));
    message.append(
        "'); use sqlite::memory:, sqlite:///absolute/path.db, sqlite://relative/path.db or "
        "postgresql://user@host/db");
    return absl::InvalidArgumentError(message);
  }
  if (!driver.ok()) return driver.status();
  return NewSqlIntervalStore(*std::move(driver));
}

}  // namespace sb::insights::storage
