// The contract suite on PostgreSQL. One server for the whole binary (a gtest global
// environment), a fresh database per test. Without PostgreSQL binaries every test FAILS with the
// reason: CI installs them through tools/bootstrap.
#include "recording/storage/postgres_store.h"

#include <chrono>

#include "gtest/gtest.h"
#include "recording/storage/store_contract.h"
#include "recording/storage/testing/postgres_environment.h"

namespace sb::recording::storage::testing {
namespace {

[[maybe_unused]] const PostgresEnvironment& kPostgres = PostgresEnvironment::Instance();

class PostgresHarness : public StoreHarness {
 public:
  ~PostgresHarness() override {
    if (!url_.empty()) PostgresEnvironment::Instance().server()->DropDatabase(url_);
  }
  absl::StatusOr<std::string> NewDatabaseUrl() override {
    auto url = PostgresEnvironment::Instance().CreateDatabase();
    if (url.ok()) url_ = *url;
    return url;
  }

 private:
  std::string url_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreContractTest,
                         ::testing::Values(ContractParam{
                             "postgres", [] { return std::make_unique<PostgresHarness>(); }}),
                         ContractParamName);

// PostgreSQL-only behaviour: the pool is bounded and a bad DSN fails at open.
TEST(PostgresStoreTest, PoolExhaustionIsUnavailable) {
  PostgresServer* server = PostgresEnvironment::Instance().server();
  ASSERT_NE(server, nullptr) << PostgresEnvironment::Instance().start_error();
  auto url = server->CreateDatabase();
  ASSERT_TRUE(url.ok()) << url.status();
  auto driver = OpenPostgresDriver(*url, [] {
    PostgresOptions o;
    o.pool_size = 1;
    o.acquire_timeout = std::chrono::milliseconds(200);
    return o;
  }());
  ASSERT_TRUE(driver.ok()) << driver.status();
  auto held = (*driver)->Begin(TxMode::kReadWrite);
  ASSERT_TRUE(held.ok()) << held.status();
  auto second = (*driver)->Begin(TxMode::kReadWrite);
  EXPECT_TRUE(HasReason(second.status(), absl::StatusCode::kUnavailable, "DB_POOL_EXHAUSTED"));
  held->reset();
  auto third = (*driver)->Begin(TxMode::kReadWrite);
  EXPECT_TRUE(third.ok()) << third.status();
  third->reset();
  server->DropDatabase(*url);
}

TEST(PostgresStoreTest, UnknownDatabaseFailsAtOpen) {
  PostgresServer* server = PostgresEnvironment::Instance().server();
  ASSERT_NE(server, nullptr) << PostgresEnvironment::Instance().start_error();
  auto store = OpenPostgresStore(server->Url("no_such_db"));
  EXPECT_TRUE(HasReason(store.status(), absl::StatusCode::kUnavailable, "DB_UNAVAILABLE"))
      << store.status();
}

}  // namespace
}  // namespace sb::recording::storage::testing
