#include "recording/storage/testing/postgres_environment.h"

#include <chrono>
#include <iostream>
#include <utility>

#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {

PostgresEnvironment& PostgresEnvironment::Instance() {
  // gtest owns (and deletes) the environment.
  static PostgresEnvironment* const instance = [] {
    auto* environment = new PostgresEnvironment;
    ::testing::AddGlobalTestEnvironment(environment);
    return environment;
  }();
  return *instance;
}

void PostgresEnvironment::SetUp() {
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

void PostgresEnvironment::TearDown() { server_.reset(); }

absl::StatusOr<std::string> PostgresEnvironment::CreateDatabase() {
  if (server_ == nullptr) {
    return absl::FailedPreconditionError(
        Cat("no PostgreSQL test server: ", start_error_.ToString()));
  }
  return server_->CreateDatabase();
}

}  // namespace sb::recording::storage::testing
