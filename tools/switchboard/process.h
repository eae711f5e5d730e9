// Child processes of `switchboard up` (the embedded broker, the routing replicas) and how to find
// their binaries.
//
// Lifecycle: Start forks and execs the program in a process group shared by all children (the
// first child leads it), with stdout on a pipe, stderr in a log file and PR_SET_PDEATHSIG set, so
// a child dies with `switchboard up` even when that is killed with SIGKILL; the broker also stops
// when its stdin pipe closes. Stop sends SIGTERM, waits, then SIGKILL. The destructor kills and
// reaps a child still running: no orphan survives an early return.
//
// Threads: everything here runs on the thread that started `up` (PR_SET_PDEATHSIG fires when the
// forking *thread* exits, so children must be started from the thread that outlives them).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace sb::cli {

// The first executable `name` in a directory of $PATH; NOT_FOUND otherwise.
absl::StatusOr<std::string> FindOnPath(const std::string& name);

// FindSiblingBinary
//
// The path of a Switchboard program `name` ("sb-routing"), looked up in order:
//   1. $SB_BIN_DIR/name;
//   2. next to the running executable (an installed layout: bin/switchboard, bin/sb-routing);
//   3. the build tree, relative to the executable: <build>/tools/switchboard/switchboard ->
//      <build>/<build_subdir>/name;
//   4. `compiled_in` (the path CMake built it at, "" if unknown);
//   5. $PATH.
// NOT_FOUND lists where it looked and how to build the program.
absl::StatusOr<std::string> FindSiblingBinary(const std::string& name,
                                              const std::string& build_subdir,
                                              const std::string& compiled_in);

// ChildProcess
//
// One running child program. Not thread-safe; owned by the thread that started it.
class ChildProcess {
 public:
  struct Options {
    std::string name;               // for messages, e.g. "sb-routing (replica 1)"
    std::string path;               // the executable
    std::vector<std::string> args;  // without argv[0]
    std::string log_path;           // stderr goes here; "" = inherit ours
    bool stdin_pipe = false;        // give it a pipe as stdin, closed by CloseStdin
    pid_t process_group = 0;        // join this group; 0 = lead a new one
  };

  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(Options options);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  const std::string& name() const { return options_.name; }
  const std::string& log_path() const { return options_.log_path; }
  pid_t pid() const { return pid_; }

  // File descriptors to poll(2): stdout (POLLIN; -1 once it closed) and, where the kernel has
  // pidfds, one that becomes readable when the child exits (-1 otherwise: call Exited()
  // periodically).
  int stdout_fd() const { return stdout_fd_; }
  int exit_fd() const { return pidfd_; }

  // Reads what stdout has (without blocking) and returns the complete lines, without '\n'.
  // At end of file, returns the last partial line too and closes the pipe.
  std::vector<std::string> ReadLines();

  // Whether the child has exited (reaps it; never blocks).
  bool Exited();
  // "exited with status 1", "was killed by signal 9 (Killed)". Only after Exited().
  std::string DescribeExit() const;
  bool exited_cleanly() const;
  // Exited with status 0, or was ended by SIGTERM before it could handle it (e.g. stopped while
  // still starting up).
  bool stopped_cleanly() const;

  // Closes our end of its stdin (the broker then stops by itself).
  void CloseStdin();
  // SIGTERM, wait up to `grace`, SIGKILL if still running; reaps. True if it stopped within
  // the grace period.
  bool Stop(std::chrono::milliseconds grace);
  // Sends `signal` if it is still running.
  void Signal(int signal);

  // The last `lines` lines of the log file, each indented, for error messages ("" if none).
  std::string LogTail(int lines) const;

 private:
  explicit ChildProcess(Options options) : options_(std::move(options)) {}
  bool WaitExit(std::chrono::milliseconds timeout);

  Options options_;
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stdin_fd_ = -1;
  int pidfd_ = -1;
  std::string partial_;
  std::optional<int> wait_status_;
};

// A fresh private directory under $TMPDIR (or /tmp): "/tmp/switchboard-up-XXXXXX".
absl::StatusOr<std::string> MakeTempDir(const std::string& prefix);
// Removes a directory tree; errors are ignored (best effort).
void RemoveTree(const std::string& path);

}  // namespace sb::cli
