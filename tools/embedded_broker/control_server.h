#pragma once
// ControlServer: the line-based TCP control port of sb-embedded-broker, on 127.0.0.1 only.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"

namespace sb::broker {

inline constexpr int kMaxControlClients = 32;
inline constexpr size_t kMaxControlLine = 4096;

// ControlServer: accepts connections on 127.0.0.1:port and, for every line a client sends,
// writes back handler(line) plus '\n' (nothing when the handler returns an empty string).
//
// Lifecycle: Start() binds and listens before returning (so the port can be announced at once)
// and starts one thread, which owns the listening socket and every connection and is the only
// caller of the handler. Stop() (or the destructor) wakes that thread, closes every connection
// and joins it. The handler must not call Stop() (it runs on the thread Stop() joins); to shut
// down from a command, signal another thread.
//
// Limits, so a bad client cannot hurt the tests that share the broker: at most
// kMaxControlClients connections (the next one is told so and closed), lines of at most
// kMaxControlLine bytes (a longer one gets an error and the connection is closed), and a
// client that stops reading its replies for 2 s is disconnected.
class ControlServer {
 public:
  using Handler = std::function<std::string(std::string_view line)>;

  // port 0 picks a free port; port() tells which.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Start(int port, Handler handler);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  int port() const { return port_; }
  // Idempotent. Callable from any thread but the server's own.
  void Stop();

 private:
  ControlServer(int listen_fd, int wake_read_fd, int wake_write_fd, int port, Handler handler);
  void Run();

  const int listen_fd_;
  const int wake_read_fd_;
  const int wake_write_fd_;
  const int port_;
  const Handler handler_;
  std::thread thread_;
};

}  // namespace sb::broker
