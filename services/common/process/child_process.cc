#include "common/process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace sb::process {
namespace {

double ParseStatCpu(const std::string& stat) {
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  // Field 3 (state) is the first here; utime and stime are fields 14 and 15.
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(std::string name,
                                                                  std::vector<std::string> argv,
                                                                  const std::string& stderr_path) {
  if (argv.empty()) return absl::InvalidArgumentError("ChildProcess: empty argv");
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(name, ": cannot execute ", argv[0], ": ",
                                            std::strerror(errno),
                                            " (build it, or point SB_BIN_DIR at the binaries)"));
  }
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->name_ = std::move(name);
  child->log_path_ = stderr_path;
  int in_pipe[2];
  int out_pipe[2];
  if (pipe2(in_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    close(in_pipe[0]);
    close(in_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const int err_fd = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (err_fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open log ", stderr_path, ": ", std::strerror(errno)));
  }
  std::vector<char*> args;
  for (std::string& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    dup2(in_pipe[0], STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    signal(SIGPIPE, SIG_DFL);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_fd);
  child->pid_ = pid;
  child->stdin_fd_ = in_pipe[1];
  child->stdout_fd_ = out_pipe[0];
  return child;
}

ChildProcess::~ChildProcess() { Terminate(std::chrono::seconds(5)); }

absl::StatusOr<std::string> ChildProcess::ReadLine(std::chrono::steady_clock::time_point deadline) {
  while (true) {
    if (const size_t nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(name_,
                                                      ": no expected line on stdout in "
                                                      "time (see ",
                                                      log_path_, ")"));
    }
    pollfd pfd{stdout_fd_, POLLIN, 0};
    const int n = poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) return absl::InternalError("poll on child stdout failed");
    if (n <= 0) continue;
    std::array<char, 4096> buf{};
    const ssize_t got = read(stdout_fd_, buf.data(), buf.size());
    if (got == 0) {
      return absl::UnavailableError(
          absl::StrCat(name_, " exited (closed its stdout); see ", log_path_));
    }
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("read child stdout: ", std::strerror(errno)));
    }
    buffer_.append(buf.data(), static_cast<size_t>(got));
  }
}

absl::StatusOr<std::string> ChildProcess::WaitForLine(std::string_view prefix,
                                                      std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    absl::StatusOr<std::string> line = ReadLine(deadline);
    if (!line.ok()) return line.status();
    if (line->rfind(prefix, 0) == 0) return line->substr(prefix.size());
  }
}

std::string ChildProcess::Terminate(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return ended_;
  if (stdin_fd_ >= 0) {
    close(stdin_fd_);
    stdin_fd_ = -1;
  }
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  int status = 0;
  pid_t r = 0;
  while ((r = waitpid(pid_, &status, WNOHANG)) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      r = waitpid(pid_, &status, 0);
      break;
    }
    // Keep its stdout drained so a child writing on exit cannot block.
    pollfd pfd{stdout_fd_, POLLIN, 0};
    if (stdout_fd_ >= 0 && poll(&pfd, 1, 20) > 0) {
      std::array<char, 4096> buf{};
      if (read(stdout_fd_, buf.data(), buf.size()) <= 0) {
        close(stdout_fd_);
        stdout_fd_ = -1;
      }
    } else if (stdout_fd_ < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  if (r == pid_) {
    if (WIFEXITED(status)) exit_status_ = WEXITSTATUS(status);
    ended_ = WIFEXITED(status)     ? absl::StrCat("exit ", WEXITSTATUS(status))
             : WIFSIGNALED(status) ? absl::StrCat("signal ", WTERMSIG(status))
                                   : "ended";
  } else {
    ended_ = "unknown";
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
    stdout_fd_ = -1;
  }
  return ended_;
}

absl::Status ChildProcess::WriteLine(std::string_view line) {
  if (stdin_fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(name_, ": stdin closed"));
  const std::string msg = absl::StrCat(std::string(line), "\n");
  if (write(stdin_fd_, msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) {
    return absl::UnavailableError(absl::StrCat(name_, ": write to stdin failed (exited?)"));
  }
  return absl::OkStatus();
}

std::string ChildProcess::Kill() {
  if (pid_ > 0) kill(pid_, SIGKILL);
  return Terminate(std::chrono::milliseconds(0));
}

double ChildProcess::CpuSeconds() const {
  if (pid_ <= 0) return 0;
  std::ifstream in(absl::StrCat("/proc/", pid_, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseStatCpu(stat);
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(usage.ru_utime) + secs(usage.ru_stime);
}

double MachineBusyCpuSeconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;  // "cpu": the sum over all processors
  long long total = 0;
  long long idle = 0;
  long long v = 0;
  for (int i = 0; i < 10 && in >> v; ++i) {
    total += v;
    if (i == 3 || i == 4) idle += v;  // idle, iowait
    if (i == 7) break;                // guest times (8, 9) are already in user/nice
  }
  return static_cast<double>(total - idle) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace sb::process
