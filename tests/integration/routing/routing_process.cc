#include "routing_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace sb::routing::testing {

absl::StatusOr<std::unique_ptr<RoutingProcess>> RoutingProcess::Start(
    const std::string& bootstrap, const std::vector<std::string>& extra) {
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<RoutingProcess> p(new RoutingProcess());
  std::string tmpl = (std::filesystem::temp_directory_path() / "sb_routing_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", std::strerror(errno)));
  }
  p->dir_ = tmpl;
  p->log_ = p->dir_ + "/stderr.log";
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, p->log_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<std::string> args = {SB_ROUTING_PATH, "--bootstrap",
                                   bootstrap,       "--listen",
                                   "127.0.0.1:0",   "--metrics-listen",
                                   "127.0.0.1:0",   "--session-timeout-ms",
                                   "3000",          "--snapshot-interval-ms",
                                   "1000"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = posix_spawn(&p->pid_, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  p->stdout_fd_ = out_pipe[0];
  if (rc != 0) {
    p->pid_ = -1;
    return absl::InternalError(absl::StrCat("spawn ", args[0], ": ", std::strerror(rc)));
  }
  while (p->grpc_.empty() || p->metrics_.empty()) {
    absl::StatusOr<std::string> line = p->ReadLine(std::chrono::seconds(15));
    if (!line.ok()) {
      return absl::Status(line.status().code(),
                          absl::StrCat(line.status().message(), " (log: ", p->log_, ")"));
    }
    if (line->rfind("grpc=", 0) == 0) p->grpc_ = line->substr(5);
    if (line->rfind("metrics=", 0) == 0) p->metrics_ = line->substr(8);
  }
  return p;
}

RoutingProcess::~RoutingProcess() {
  Kill();
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

absl::Status RoutingProcess::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    absl::StatusOr<std::string> line = ReadLine(left);
    if (!line.ok()) {
      return absl::Status(line.status().code(),
                          absl::StrCat(line.status().message(), " (log: ", log_, ")"));
    }
    if (*line == "ready") return absl::OkStatus();
  }
}

void RoutingProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

absl::StatusOr<int> RoutingProcess::Terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      Kill();
      return absl::DeadlineExceededError("sb-routing did not exit after SIGTERM in time");
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};  // EOF when it exits
    if (poll(&pfd, 1, 50) > 0) {
      std::array<char, 256> buf{};
      (void)!read(stdout_fd_, buf.data(), buf.size());
    }
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

absl::StatusOr<std::string> RoutingProcess::ReadLine(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return absl::DeadlineExceededError("no line from sb-routing in time");
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(left.count()));
    if (n <= 0) continue;
    std::array<char, 1024> buf{};
    const ssize_t got = read(stdout_fd_, buf.data(), buf.size());
    if (got == 0) return absl::InternalError("sb-routing closed its stdout (exited?)");
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError("read sb-routing stdout failed");
    }
    buffer_.append(buf.data(), static_cast<size_t>(got));
  }
}

}  // namespace sb::routing::testing
