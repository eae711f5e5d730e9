// PostgresServer: a private PostgreSQL server for tests. initdb into a temp directory, then
// `postgres` listening only on a Unix socket in that directory (listen_addresses=''), so nothing
// else on the machine can collide with it or reach it. When the test runs as root (CI), both run
// as the unprivileged user `nobody`, which owns the directory (initdb refuses root).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace sb::recording::storage::testing {

// Owned by the thread that started it (a gtest global environment). The server gets SIGQUIT
// (immediate shutdown) if that thread dies without stopping it.
class PostgresServer {
 public:
  // Finds the binaries ($SB_PG_BINDIR, else the newest /usr/lib/postgresql/*/bin), initdb, start,
  // and waits (bounded) until it accepts connections. FAILED_PRECONDITION with an install hint
  // when the binaries are missing; UNAVAILABLE with the end of the server log when it fails.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> Start();

  // Fast shutdown (SIGINT), wait, then remove the directory.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A libpq URI for `dbname` as the superuser `postgres`.
  std::string Url(const std::string& dbname) const;

  // CREATE DATABASE with a fresh name; returns its URL.
  absl::StatusOr<std::string> CreateDatabase();
  // DROP DATABASE ... WITH (FORCE); errors are ignored (the server is torn down anyway).
  void DropDatabase(const std::string& url);

 private:
  PostgresServer() = default;

  std::string dir_;       // temp dir: data/ and the socket
  std::string log_path_;  // server log
  pid_t pid_ = -1;
  int next_db_ = 0;
};

}  // namespace sb::recording::storage::testing
