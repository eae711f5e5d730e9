#include "recording/storage/open_store.h"

#include <utility>

#include "recording/storage/open_sql_driver.h"
#include "recording/storage/sql_store.h"

namespace sb::recording::storage {

absl::StatusOr<std::unique_ptr<RecordingStore>> OpenStore(std::string_view url) {
  auto driver = OpenSqlDriver(url);
  if (!driver.ok()) return driver.status();
  auto store = SqlRecordingStore::Open(*std::move(driver));
  if (!store.ok()) return store.status();
  return std::unique_ptr<RecordingStore>(*std::move(store));
}

}  // namespace sb::recording::storage
