#include "common/kafka/test_broker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace sb::kafka_io::testing {

absl::StatusOr<std::unique_ptr<TestBroker>> TestBroker::Start(int partitions) {
  // A broker that died must not kill the test with SIGPIPE when we write a command.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<TestBroker> broker(new TestBroker());
  std::string tmpl = (std::filesystem::temp_directory_path() / "sb_kafka_io_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  broker->dir_ = tmpl;
  const std::string bootstrap_file = broker->dir_ + "/bootstrap";

  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0 || pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  const std::string path = SB_EMBEDDED_BROKER_PATH;
  const std::string parts = std::to_string(partitions);
  std::vector<char*> argv = {
      const_cast<char*>(path.c_str()),           const_cast<char*>("--partitions"),
      const_cast<char*>(parts.c_str()),          const_cast<char*>("--bootstrap-file"),
      const_cast<char*>(bootstrap_file.c_str()), nullptr};
  const int rc = posix_spawn(&broker->pid_, path.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(in_pipe[0]);
  close(out_pipe[1]);
  broker->stdin_fd_ = in_pipe[1];
  broker->stdout_fd_ = out_pipe[0];
  if (rc != 0) {
    broker->pid_ = -1;
    return absl::InternalError(absl::StrCat("spawn ", path, ": ", std::strerror(rc)));
  }
  absl::StatusOr<std::string> line = broker->ReadLine(std::chrono::seconds(10));
  if (!line.ok()) return line.status();
  constexpr std::string_view kPrefix = "bootstrap=";
  if (line->rfind(kPrefix, 0) != 0) {
    return absl::InternalError(absl::StrCat("unexpected first line from broker: ", *line));
  }
  broker->bootstrap_ = line->substr(kPrefix.size());
  return broker;
}

TestBroker::~TestBroker() {
  if (stdin_fd_ >= 0) {
    (void)!write(stdin_fd_, "quit\n", 5);
    close(stdin_fd_);
  }
  if (pid_ > 0) {
    // Wait up to 5 s for a clean exit, then kill.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      // Block on the stdout pipe: it reaches EOF when the broker exits.
      pollfd pfd{stdout_fd_, POLLIN, 0};
      if (poll(&pfd, 1, 50) > 0) {
        std::array<char, 256> buf{};
        (void)!read(stdout_fd_, buf.data(), buf.size());
      }
    }
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

absl::StatusOr<std::string> TestBroker::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError("no line from sb-embedded-broker in time");
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return absl::InternalError("poll on broker stdout failed");
    if (n <= 0) continue;
    std::array<char, 1024> buf{};
    const ssize_t got = read(stdout_fd_, buf.data(), buf.size());
    if (got == 0) return absl::InternalError("sb-embedded-broker closed its stdout (exited?)");
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("read broker stdout: ", std::strerror(errno)));
    }
    buffer_.append(buf.data(), static_cast<size_t>(got));
  }
}

absl::StatusOr<std::string> TestBroker::Command(std::string_view line) {
  const std::string msg = absl::StrCat(std::string(line), "\n");
  if (write(stdin_fd_, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
    return absl::InternalError("write to broker stdin failed");
  }
  absl::StatusOr<std::string> reply = ReadLine(std::chrono::seconds(10));
  if (!reply.ok()) return reply.status();
  if (reply->rfind("ok", 0) != 0) {
    return absl::InternalError(
        absl::StrCat("broker command '", std::string(line), "' failed: ", *reply));
  }
  return reply;
}

}  // namespace sb::kafka_io::testing
