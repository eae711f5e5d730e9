#pragma once
// EmbeddedBroker: the sb-embedded-broker application. main.cc parses flags into
// EmbeddedBrokerOptions and calls Run(); everything else is here so tests can drive it.

#include <atomic>
#include <cstdio>
#include <optional>
#include <string>

#include "embedded_broker/mock_cluster.h"

namespace sb::broker {

struct EmbeddedBrokerOptions {
  MockClusterOptions cluster;
  // Where to write "HOST:PORT,...\n" (atomically); empty = nowhere. Removed on exit.
  std::string bootstrap_file;
  // TCP control port on 127.0.0.1; 0 picks a free one; nullopt = no control port.
  std::optional<int> control_port;
  // Keep running when stdin reaches end of file (a detached broker whose stdin is /dev/null).
  // By default end of stdin stops the broker: a parent that dies closes our stdin, so the broker
  // does not outlive the test or the `switchboard up` that started it.
  bool ignore_stdin_eof = false;
  // SIGTERM and SIGINT stop the broker, SIGPIPE is ignored. Off in tests that run it in-process.
  bool install_signal_handlers = true;
};

// Process exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitStartFailed = 1;  // the cluster, control port or file failed
inline constexpr int kExitBadFlags = 2;     // a flag value is out of range

// EmbeddedBroker: starts the mock cluster with the project's topics, writes the bootstrap file,
// announces `bootstrap=HOST:PORT,...` (and `control=127.0.0.1:PORT`) on `out`, then serves
// control commands from `in_fd` and the control port until `quit`, SIGTERM/SIGINT or the end of
// `in_fd`; then removes the bootstrap file and destroys the cluster.
//
// Threads: Run() executes on the caller's thread (main), which reads `in_fd` and writes replies
// to `out`; the control port has its own thread (ControlServer); librdkafka runs the mock
// brokers on its own threads. RequestStop() may be called from any thread or a signal handler.
// At most one instance per process may install signal handlers.
class EmbeddedBroker {
 public:
  EmbeddedBroker(EmbeddedBrokerOptions options, int in_fd, std::FILE* out, std::FILE* err);
  ~EmbeddedBroker();
  EmbeddedBroker(const EmbeddedBroker&) = delete;
  EmbeddedBroker& operator=(const EmbeddedBroker&) = delete;

  // Runs until stopped; returns the process exit code (kExit*). Call once.
  int Run();

  // Makes Run() return soon. Async-signal-safe.
  void RequestStop();

 private:
  enum class StopReason { kNone, kQuit, kSignal, kStdinClosed };
  // Serves commands until a stop; returns why.
  StopReason Serve(class CommandHandler& handler);
  void Reply(const std::string& text);

  const EmbeddedBrokerOptions options_;
  const int in_fd_;
  std::FILE* const out_;
  std::FILE* const err_;
  // Whether commands are still read from in_fd_; shown by `status` as stdin=open|closed.
  std::atomic<bool> in_open_{false};
  int wake_read_fd_ = -1;
  int wake_write_fd_ = -1;
};

}  // namespace sb::broker
