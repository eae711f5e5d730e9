#include "recording/storage/open_store.h"

#include <string>

#include "recording/storage/postgres_store.h"
#include "recording/storage/sqlite_store.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage {

absl::StatusOr<std::unique_ptr<RecordingStore>> OpenStore(std::string_view url) {
  absl::StatusOr<std::unique_ptr<SqlRecordingStore>> store;
  if (url == "sqlite::memory:") {
    store = OpenSqliteStore(":memory:");
  } else if (url.starts_with("sqlite://") && url.size() > 9) {
    store = OpenSqliteStore(std::string(url.substr(9)));
  } else if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    store = OpenPostgresStore(std::string(url));
  } else {
    // Echo only the scheme: the rest may carry a password.
    const size_t colon = url.find(':');
    return absl::InvalidArgumentError(
        Cat("BAD_STORE_URL: unsupported store URL (scheme '",
            colon == std::string_view::npos ? std::string_view("") : url.substr(0, colon),
            "'); use sqlite::memory:, sqlite:///absolute/path.db or postgresql://user@host/db"));
  }
  if (!store.ok()) return store.status();
  return std::unique_ptr<RecordingStore>(*std::move(store));
}

}  // namespace sb::recording::storage
