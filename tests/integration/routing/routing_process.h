// RoutingProcess: a real `sb-routing` child process for integration tests (on
// process::ChildProcess). Its stdout is read for the `grpc=`, `metrics=` and `ready` lines; its
// stderr goes to a log file in a temp dir (the path is printed if the test fails). The destructor
// SIGKILLs a process still running.
// Owned by one test thread; not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/process/child_process.h"

namespace sb::routing::testing {

class RoutingProcess {
 public:
  // Starts sb-routing against `bootstrap` with `extra` flags (after the defaults: --listen and
  // --metrics-listen on port 0, --session-timeout-ms 3000, --snapshot-interval-ms 1000) and
  // waits for its grpc= and metrics= lines.
  static absl::StatusOr<std::unique_ptr<RoutingProcess>> Start(
      const std::string& bootstrap, const std::vector<std::string>& extra = {});
  ~RoutingProcess();

  // Waits for the `ready` line.
  absl::Status WaitReady(std::chrono::milliseconds timeout);
  // SIGKILL, and reap.
  void Kill();
  // SIGTERM; returns the exit code (or -signal), or DEADLINE_EXCEEDED (then SIGKILLs).
  absl::StatusOr<int> Terminate(std::chrono::milliseconds timeout);

  const std::string& grpc_address() const { return grpc_; }
  const std::string& metrics_address() const { return metrics_; }
  const std::string& log_path() const { return log_; }
  pid_t pid() const { return child_->pid(); }

 private:
  RoutingProcess() = default;

  std::unique_ptr<process::ChildProcess> child_;
  std::string log_;
  std::string grpc_;
  std::string metrics_;
};

}  // namespace sb::routing::testing
