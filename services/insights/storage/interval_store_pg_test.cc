// The contract suite on PostgreSQL. One private server for the whole binary (a gtest global
// environment, recording/storage/testing/postgres_environment.h), a fresh database per test.
// Without PostgreSQL binaries every test FAILS with the reason (tools/bootstrap installs them).
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "insights/storage/interval_store.h"
#include "insights/storage/interval_store_contract.h"
#include "recording/storage/postgres_store.h"
#include "recording/storage/testing/postgres_environment.h"

namespace sb::insights::storage::testing {
namespace {

using recording::storage::testing::PostgresEnvironment;

[[maybe_unused]] const PostgresEnvironment& kPostgres = PostgresEnvironment::Instance();

class PostgresHarness : public IntervalStoreHarness {
 public:
  ~PostgresHarness() override {
    if (!url_.empty()) PostgresEnvironment::Instance().server()->DropDatabase(url_);
  }
  absl::StatusOr<std::string> NewDatabaseUrl() override {
    auto url = PostgresEnvironment::Instance().CreateDatabase();
    if (url.ok()) url_ = *url;
    return url;
  }
  absl::StatusOr<std::shared_ptr<recording::storage::SqlDriver>> OpenDriver(
      const std::string& url) override {
    return recording::storage::OpenPostgresDriver(url);
  }

 private:
  std::string url_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, IntervalStoreContractTest,
                         ::testing::Values(IntervalContractParam{
                             "postgres", [] { return std::make_unique<PostgresHarness>(); }}),
                         IntervalContractParamName);

// Two replicas starting together on one database: both migrate (one waits on the advisory lock),
// both succeed, and the schema is recorded once.
TEST(PostgresIntervalStoreTest, ConcurrentOpensMigrateOnce) {
  PostgresHarness harness;
  auto url = harness.NewDatabaseUrl();
  ASSERT_TRUE(url.ok()) << url.status();
  absl::Status results[4];
  std::vector<std::thread> threads;
  for (absl::Status& result : results) {
    threads.emplace_back([&] { result = OpenIntervalStore(*url).status(); });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  auto store = OpenIntervalStore(*url);
  ASSERT_TRUE(store.ok()) << store.status();
  auto driver = harness.OpenDriver(*url);
  ASSERT_TRUE(driver.ok()) << driver.status();
  auto tx = (*driver)->Begin(recording::storage::TxMode::kReadOnlySnapshot);
  ASSERT_TRUE(tx.ok()) << tx.status();
  auto rows = (*tx)->Exec("SELECT COUNT(*) FROM insights_schema_version", {}, false);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows.size(), 1u);
  EXPECT_EQ(std::get<std::string>(rows->rows[0][0]), std::to_string(LatestIntervalSchemaVersion()));
}

TEST(PostgresIntervalStoreTest, UnreachableServerIsUnavailable) {
  auto store = OpenIntervalStore("postgresql:///db?host=/nonexistent/socket/dir");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable) << store.status();
}

}  // namespace
}  // namespace sb::insights::storage::testing
