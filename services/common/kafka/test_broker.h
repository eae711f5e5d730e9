// TestBroker: a real `sb-embedded-broker` child process for integration tests (one per test, so
// tests can run in parallel and inject faults without disturbing each other).
//
// Owned by one test thread; not thread-safe. The broker's stdin is a pipe we hold, so it stops
// when this object is destroyed (quit + EOF), or when the test process dies
// (process::ChildProcess).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/process/child_process.h"

namespace sb::kafka_io::testing {

class TestBroker {
 public:
  // Starts the broker with `partitions` partitions per topic and waits (up to 10 s) for its
  // `bootstrap=` line.
  static absl::StatusOr<std::unique_ptr<TestBroker>> Start(int partitions);
  ~TestBroker();

  const std::string& bootstrap() const { return bootstrap_; }

  // Sends one control command (e.g. "broker down all") and returns its reply line; the reply
  // must start with "ok" for the status to be OK.
  absl::StatusOr<std::string> Command(std::string_view line);

 private:
  TestBroker() = default;

  std::unique_ptr<process::ChildProcess> child_;
  std::string dir_;  // temp dir holding the bootstrap file and the broker's log
  std::string bootstrap_;
};

}  // namespace sb::kafka_io::testing
