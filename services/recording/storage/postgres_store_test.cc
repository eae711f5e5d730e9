// The contract suite on PostgreSQL. One server for the whole binary (a gtest global
// environment), a fresh database per test. Without PostgreSQL binaries every test FAILS with the
// reason: CI installs them through tools/bootstrap.
#include "recording/storage/postgres_store.h"

#include <chrono>
#include <iostream>

#include "gtest/gtest.h"
#include "recording/storage/store_contract.h"
#include "recording/storage/testing/postgres_server.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {
namespace {

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const auto start = std::chrono::steady_clock::now();
    auto server = PostgresServer::Start();
    if (!server.ok()) {
      start_error_ = server.status();
      ADD_FAILURE() << "PostgreSQL test server did not start: " << start_error_;
      return;
    }
    server_ = *std::move(server);
    std::cout << "PostgreSQL test server ready in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - start)
                     .count()
              << " ms\n";
  }
  void TearDown() override { server_.reset(); }

  static PostgresEnvironment* instance;
  std::unique_ptr<PostgresServer> server_;
  absl::Status start_error_ = absl::FailedPreconditionError("environment not set up");
};
PostgresEnvironment* PostgresEnvironment::instance = nullptr;

[[maybe_unused]] const ::testing::Environment* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(PostgresEnvironment::instance = new PostgresEnvironment);

class PostgresHarness : public StoreHarness {
 public:
  ~PostgresHarness() override {
    if (!url_.empty()) PostgresEnvironment::instance->server_->DropDatabase(url_);
  }
  absl::StatusOr<std::string> NewDatabaseUrl() override {
    PostgresServer* server = PostgresEnvironment::instance->server_.get();
    if (server == nullptr) {
      return absl::FailedPreconditionError(Cat(
          "no PostgreSQL test server: ", PostgresEnvironment::instance->start_error_.ToString()));
    }
    auto url = server->CreateDatabase();
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
  PostgresServer* server = PostgresEnvironment::instance->server_.get();
  ASSERT_NE(server, nullptr) << PostgresEnvironment::instance->start_error_;
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
  PostgresServer* server = PostgresEnvironment::instance->server_.get();
  ASSERT_NE(server, nullptr) << PostgresEnvironment::instance->start_error_;
  auto store = OpenPostgresStore(server->Url("no_such_db"));
  EXPECT_TRUE(HasReason(store.status(), absl::StatusCode::kUnavailable, "DB_UNAVAILABLE"))
      << store.status();
}

}  // namespace
}  // namespace sb::recording::storage::testing
