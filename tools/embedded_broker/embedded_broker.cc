#include "embedded_broker/embedded_broker.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "embedded_broker/atomic_file.h"
#include "embedded_broker/command_handler.h"
#include "embedded_broker/control_server.h"

namespace sb::broker {
namespace {

constexpr char kWakeStop = 's';  // RequestStop(): a signal or the embedding code
constexpr char kWakeQuit = 'q';  // `quit` on the control port
constexpr size_t kMaxStdinLine = 64 * 1024;

// The write end of the running broker's wake pipe, for the signal handler.
std::atomic<int> g_signal_wake_fd{-1};

void OnStopSignal(int /*signo*/) {
  int saved_errno = errno;
  int fd = g_signal_wake_fd.load();
  if (fd >= 0) {
    ssize_t ignored = ::write(fd, &kWakeStop, 1);
    (void)ignored;
  }
  errno = saved_errno;
}

void Wake(int fd, char why) {
  ssize_t ignored = ::write(fd, &why, 1);
  (void)ignored;  // a full pipe already wakes the reader
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

EmbeddedBroker::EmbeddedBroker(EmbeddedBrokerOptions options, int in_fd, std::FILE* out,
                               std::FILE* err)
    : options_(std::move(options)), in_fd_(in_fd), out_(out), err_(err) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0) {
    wake_read_fd_ = fds[0];
    wake_write_fd_ = fds[1];
  }
}

EmbeddedBroker::~EmbeddedBroker() {
  if (options_.install_signal_handlers) g_signal_wake_fd.store(-1);
  if (wake_read_fd_ >= 0) ::close(wake_read_fd_);
  if (wake_write_fd_ >= 0) ::close(wake_write_fd_);
}

void EmbeddedBroker::RequestStop() {
  if (wake_write_fd_ >= 0) Wake(wake_write_fd_, kWakeStop);
}

void EmbeddedBroker::Reply(const std::string& text) {
  if (text.empty()) return;
  std::fputs(text.c_str(), out_);
  std::fputc('\n', out_);
  std::fflush(out_);
}

int EmbeddedBroker::Run() {
  if (wake_read_fd_ < 0) {
    std::fprintf(err_, "sb-embedded-broker: cannot create a pipe: %s\n", std::strerror(errno));
    return kExitStartFailed;
  }
  if (absl::Status s = ValidateMockClusterOptions(options_.cluster); !s.ok()) {
    std::fprintf(err_, "sb-embedded-broker: %s\n", std::string(s.message()).c_str());
    return kExitBadFlags;
  }
  if (options_.install_signal_handlers) {
    g_signal_wake_fd.store(wake_write_fd_);
    struct sigaction action {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGTERM, &action, nullptr);
    ::sigaction(SIGINT, &action, nullptr);
    std::signal(SIGPIPE, SIG_IGN);  // a vanished reader of stdout must not kill us uncleanly
  }

  absl::StatusOr<std::unique_ptr<MockCluster>> cluster = MockCluster::Create(options_.cluster);
  if (!cluster.ok()) {
    std::fprintf(err_, "sb-embedded-broker: %s\n", std::string(cluster.status().message()).c_str());
    return kExitStartFailed;
  }
  in_open_ = in_fd_ >= 0;
  CommandHandler handler(cluster->get(), [this] {
    return std::string("stdin=") + (in_open_.load() ? "open" : "closed");
  });

  std::unique_ptr<ControlServer> control;
  if (options_.control_port) {
    const int wake_fd = wake_write_fd_;
    absl::StatusOr<std::unique_ptr<ControlServer>> started =
        ControlServer::Start(*options_.control_port, [&handler, wake_fd](std::string_view line) {
          CommandReply reply = handler.Handle(line);
          if (reply.quit) Wake(wake_fd, kWakeQuit);
          return reply.text;
        });
    if (!started.ok()) {
      std::fprintf(err_, "sb-embedded-broker: %s\n",
                   std::string(started.status().message()).c_str());
      return kExitStartFailed;
    }
    control = *std::move(started);
  }

  const std::string bootstrap = (*cluster)->bootstrap();
  const std::string file_contents = bootstrap + "\n";
  if (!options_.bootstrap_file.empty()) {
    if (absl::Status s = WriteFileAtomically(options_.bootstrap_file, file_contents); !s.ok()) {
      std::fprintf(err_, "sb-embedded-broker: --bootstrap-file: %s\n",
                   std::string(s.message()).c_str());
      return kExitStartFailed;
    }
  }

  // The machine-readable announcement: first line bootstrap, second control (when enabled).
  std::fprintf(out_, "bootstrap=%s\n", bootstrap.c_str());
  if (control) std::fprintf(out_, "control=127.0.0.1:%d\n", control->port());
  std::fflush(out_);
  std::fprintf(
      err_,
      "sb-embedded-broker: ready: %d broker(s) at %s; %zu topics x %d partitions (%s)%s; "
      "type 'help' for commands; stops on quit, SIGTERM, SIGINT%s\n",
      options_.cluster.brokers, bootstrap.c_str(), options_.cluster.topics.size(),
      options_.cluster.partitions, Join(options_.cluster.topics).c_str(),
      control ? ("; control port 127.0.0.1:" + std::to_string(control->port())).c_str() : "",
      options_.ignore_stdin_eof ? "" : " or end of stdin");
  std::fflush(err_);

  StopReason reason = Serve(handler);

  if (control) control->Stop();
  if (!options_.bootstrap_file.empty()) {
    if (absl::Status s = RemoveFileIfUnchanged(options_.bootstrap_file, file_contents); !s.ok()) {
      std::fprintf(err_, "sb-embedded-broker: %s\n", std::string(s.message()).c_str());
    }
  }
  cluster->reset();
  const char* why = reason == StopReason::kQuit          ? "quit"
                    : reason == StopReason::kStdinClosed ? "end of stdin"
                                                         : "stop requested (signal)";
  std::fprintf(err_, "sb-embedded-broker: stopped (%s)\n", why);
  std::fflush(err_);
  return kExitOk;
}

EmbeddedBroker::StopReason EmbeddedBroker::Serve(CommandHandler& handler) {
  std::string buffer;
  bool discarding = false;
  while (true) {
    pollfd fds[2] = {{wake_read_fd_, POLLIN, 0}, {in_fd_, POLLIN, 0}};
    if (::poll(fds, in_open_ ? 2 : 1, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(err_, "sb-embedded-broker: poll: %s\n", std::strerror(errno));
      return StopReason::kSignal;
    }
    if (fds[0].revents != 0) {
      char why = kWakeStop;
      ssize_t n = ::read(wake_read_fd_, &why, 1);
      (void)n;
      return why == kWakeQuit ? StopReason::kQuit : StopReason::kSignal;
    }
    if (!in_open_ || fds[1].revents == 0) continue;

    char buf[4096];
    ssize_t n = ::read(in_fd_, buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    bool eof = n <= 0;
    if (!eof) buffer.append(buf, static_cast<size_t>(n));
    if (eof && !buffer.empty()) buffer += '\n';  // a last line without its newline still counts

    size_t newline;
    while ((newline = buffer.find('\n')) != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      if (discarding) {  // the tail of a line already refused as too long
        discarding = false;
        continue;
      }
      CommandReply reply = handler.Handle(line);
      Reply(reply.text);
      if (reply.quit) return StopReason::kQuit;
    }
    if (buffer.size() > kMaxStdinLine) {
      Reply("error LINE_TOO_LONG: a command line is at most " + std::to_string(kMaxStdinLine) +
            " bytes; the line was dropped");
      buffer.clear();
      discarding = true;
    }
    if (eof) {
      if (!options_.ignore_stdin_eof) return StopReason::kStdinClosed;
      in_open_ = false;
      std::fprintf(err_, "sb-embedded-broker: stdin closed; still running (--ignore-stdin-eof)\n");
      std::fflush(err_);
    }
  }
}

}  // namespace sb::broker
