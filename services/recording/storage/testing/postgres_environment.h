// PostgresEnvironment: the one private PostgreSQL server (postgres_server.h) of a gtest binary,
// started before its first test and stopped after its last, so initdb runs once per binary. Used
// by every PostgreSQL test binary (sb-recording's store, sb-insights' interval store).
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "recording/storage/testing/postgres_server.h"

namespace sb::recording::storage::testing {

// PostgresEnvironment
//
// A gtest global environment, owned by gtest. SetUp and TearDown run on the thread that runs
// RUN_ALL_TESTS; tests read server() and call CreateDatabase from their own threads. When the
// server does not start, SetUp adds a failure with the reason and every test that asks for a
// database fails with it too (CI installs the binaries through tools/bootstrap).
//
// Example (at namespace scope in the test binary, so it is registered before RUN_ALL_TESTS):
//   [[maybe_unused]] const PostgresEnvironment& kPostgres = PostgresEnvironment::Instance();
class PostgresEnvironment : public ::testing::Environment {
 public:
  // Registers the environment with gtest on the first call; every call returns the same one.
  static PostgresEnvironment& Instance();

  void SetUp() override;
  void TearDown() override;

  // The server, or null when it did not start (start_error() says why).
  PostgresServer* server() const { return server_.get(); }
  const absl::Status& start_error() const { return start_error_; }

  // A fresh database on the server; returns its URL. FAILED_PRECONDITION naming start_error()
  // when there is no server.
  absl::StatusOr<std::string> CreateDatabase();

 private:
  PostgresEnvironment() = default;

  std::unique_ptr<PostgresServer> server_;
  absl::Status start_error_ = absl::FailedPreconditionError("environment not set up");
};

}  // namespace sb::recording::storage::testing
