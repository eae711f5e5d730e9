#include "insights/storage/interval_store.h"

#include <utility>

#include "insights/storage/sql_interval_store.h"
#include "recording/storage/open_sql_driver.h"

namespace sb::insights::storage {

absl::StatusOr<std::unique_ptr<IntervalStore>> OpenIntervalStore(std::string_view url) {
  // The same URL forms as sb-recording's --store.
  auto driver = recording::storage::OpenSqlDriver(url);
  if (!driver.ok()) return driver.status();
  return NewSqlIntervalStore(*std::move(driver));
}

}  // namespace sb::insights::storage
