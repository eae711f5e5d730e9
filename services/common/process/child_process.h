// sb::process::ChildProcess: a service binary (sb-embedded-broker, sb-routing) run as a child of
// a tool or test (sb-load, the integration tests), announcing itself by lines on its stdout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sb::process {

// ChildProcess
//
// Owns one child process: its stdin is a pipe we hold (closed on Terminate, so a broker reading
// stdin stops), its stdout a pipe read line by line, its stderr appended to a log file. The
// child gets SIGTERM if the thread that started it dies (PR_SET_PDEATHSIG), so an sb-load killed
// by a test timeout leaves no service behind: start children from the main thread. Not
// thread-safe: one thread (the owner's) calls every method.
class ChildProcess {
 public:
  // Starts argv[0] with argv (no PATH search). `name` is for messages.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(std::string name,
                                                             std::vector<std::string> argv,
                                                             const std::string& stderr_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads stdout lines until one starts with `prefix` and returns the rest of it. Other lines
  // are skipped. DEADLINE_EXCEEDED on timeout, UNAVAILABLE if the child closed its stdout
  // (exited; see its log).
  absl::StatusOr<std::string> WaitForLine(std::string_view prefix,
                                          std::chrono::milliseconds timeout);

  // Reads the next stdout line (DEADLINE_EXCEEDED / UNAVAILABLE as WaitForLine).
  absl::StatusOr<std::string> ReadLine(std::chrono::milliseconds timeout) {
    return ReadLine(std::chrono::steady_clock::now() + timeout);
  }
  // Writes `line` and a newline to the child's stdin.
  absl::Status WriteLine(std::string_view line);
  // SIGKILL, and reap ("signal 9"). Idempotent.
  std::string Kill();
  // The exit status once it exited normally (after Terminate/Kill), else nullopt.
  std::optional<int> exit_status() const { return exit_status_; }

  // SIGTERM, then SIGKILL after `grace`. Returns a description of how it ended ("exit 0",
  // "signal 9"). Idempotent.
  std::string Terminate(std::chrono::milliseconds grace);

  // User + system CPU time consumed so far (from /proc/PID/stat); 0 once it has exited.
  double CpuSeconds() const;

  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }
  pid_t pid() const { return pid_; }

 private:
  ChildProcess() = default;
  absl::StatusOr<std::string> ReadLine(std::chrono::steady_clock::time_point deadline);

  std::string name_;
  std::string log_path_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  std::string ended_;  // set once reaped
  std::optional<int> exit_status_;
};

// CPU time (user + system) of this process so far, in seconds.
double SelfCpuSeconds();

// CPU time all processors of the machine spent busy (not idle, not waiting for IO) since boot,
// in seconds, from /proc/stat; with the processes' own figures it tells how much of the machine
// other work took during a measurement.
double MachineBusyCpuSeconds();

}  // namespace sb::process
