#include "switchboard/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"

namespace sb::cli {
namespace {

namespace fs = std::filesystem;

bool IsExecutable(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) && access(path.c_str(), X_OK) == 0;
}

fs::path SelfDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

absl::StatusOr<std::string> FindOnPath(const std::string& name) {
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      const fs::path p = fs::path(std::string(dir)) / name;
      if (IsExecutable(p)) return p.string();
    }
  }
  return absl::NotFoundError(fmt::format("{} is not on $PATH", name));
}

absl::StatusOr<std::string> FindSiblingBinary(const std::string& name,
                                              const std::string& build_subdir,
                                              const std::string& compiled_in) {
  std::vector<std::string> looked;
  auto try_path = [&](const fs::path& p) -> bool {
    looked.push_back(p.string());
    return IsExecutable(p);
  };
  if (const char* dir = std::getenv("SB_BIN_DIR"); dir != nullptr && *dir != '\0') {
    // An explicit override is not second-guessed: a missing binary there is an error.
    const fs::path p = fs::path(dir) / name;
    if (IsExecutable(p)) return p.string();
    return absl::NotFoundError(
        fmt::format("cannot find {}: SB_BIN_DIR={} has no executable {}; fix SB_BIN_DIR or unset "
                    "it",
                    name, dir, p.string()));
  }
  const fs::path self = SelfDir();
  if (!self.empty()) {
    if (try_path(self / name)) return (self / name).string();
    // <build>/tools/switchboard/switchboard: the build root is two levels up.
    const fs::path build_tree = self.parent_path().parent_path() / build_subdir / name;
    if (try_path(build_tree)) return build_tree.lexically_normal().string();
  }
  if (!compiled_in.empty() && try_path(compiled_in)) return compiled_in;
  if (absl::StatusOr<std::string> on_path = FindOnPath(name); on_path.ok()) return on_path;
  looked.push_back("$PATH");
  return absl::NotFoundError(fmt::format(
      "cannot find {} (looked in: {}); build it (cmake --build BUILD_DIR --target {}) or set "
      "SB_BIN_DIR to the directory that holds it",
      name, absl::StrJoin(looked, ", "), name));
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(Options options) {
  std::unique_ptr<ChildProcess> child(new ChildProcess(std::move(options)));
  const Options& o = child->options_;

  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(o.path);
  argv_storage.insert(argv_storage.end(), o.args.begin(), o.args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  int out_pipe[2] = {-1, -1};
  int in_pipe[2] = {-1, -1};
  int exec_pipe[2] = {-1, -1};  // the child writes errno here if exec fails
  int log_fd = -1;
  auto cleanup = [&] {
    for (int* fd : {&out_pipe[0], &out_pipe[1], &in_pipe[0], &in_pipe[1], &exec_pipe[0],
                    &exec_pipe[1], &log_fd}) {
      CloseFd(fd);
    }
  };
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(exec_pipe, O_CLOEXEC) != 0 ||
      (o.stdin_pipe && pipe2(in_pipe, O_CLOEXEC) != 0)) {
    cleanup();
    return absl::InternalError(fmt::format("pipe: {}", std::strerror(errno)));
  }
  if (!o.log_path.empty()) {
    log_fd = open(o.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log_fd < 0) {
      const int err = errno;
      cleanup();
      return absl::InternalError(
          fmt::format("cannot create log file {}: {}", o.log_path, std::strerror(err)));
    }
  }
  const pid_t parent = getpid();
  const pid_t group = o.process_group;

  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    cleanup();
    return absl::InternalError(fmt::format("fork: {}", std::strerror(err)));
  }
  if (pid == 0) {
    // Child. Die with the parent if it is killed (SIGKILL: the in-memory broker goes with it,
    // so there is nothing to hand over), in the shared process group, with default signal
    // handling (the parent blocks SIGINT/SIGTERM, and masks survive exec).
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    setpgid(0, group);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    if (in_pipe[0] >= 0) {
      dup2(in_pipe[0], STDIN_FILENO);
    } else {
      const int devnull = open("/dev/null", O_RDONLY);
      if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    }
    dup2(out_pipe[1], STDOUT_FILENO);
    if (log_fd >= 0) dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    const int err = errno;
    ssize_t ignored = write(exec_pipe[1], &err, sizeof(err));
    (void)ignored;
    _exit(127);
  }

  // Parent. Set the group here too, so it is in place whichever of the two runs first.
  setpgid(pid, group == 0 ? pid : group);
  child->pid_ = pid;
  CloseFd(&out_pipe[1]);
  CloseFd(&in_pipe[0]);
  CloseFd(&exec_pipe[1]);
  CloseFd(&log_fd);
  child->stdout_fd_ = out_pipe[0];
  child->stdin_fd_ = in_pipe[1];
  out_pipe[0] = in_pipe[1] = -1;
  fcntl(child->stdout_fd_, F_SETFL, fcntl(child->stdout_fd_, F_GETFL) | O_NONBLOCK);
  child->pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));

  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(exec_pipe[0], &exec_errno, sizeof(exec_errno));
  } while (n < 0 && errno == EINTR);
  CloseFd(&exec_pipe[0]);
  if (n > 0) {
    child->WaitExit(std::chrono::milliseconds(1000));
    return absl::FailedPreconditionError(
        fmt::format("cannot run {}: {}", child->options_.path, std::strerror(exec_errno)));
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !wait_status_.has_value()) {
    kill(pid_, SIGKILL);
    WaitExit(std::chrono::milliseconds(5000));
  }
  CloseFd(&stdout_fd_);
  CloseFd(&stdin_fd_);
  CloseFd(&pidfd_);
}

std::vector<std::string> ChildProcess::ReadLines() {
  std::vector<std::string> lines;
  if (stdout_fd_ < 0) return lines;
  char buf[4096];
  while (true) {
    const ssize_t n = read(stdout_fd_, buf, sizeof(buf));
    if (n > 0) {
      partial_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {  // EOF
      CloseFd(&stdout_fd_);
    }
    break;  // EAGAIN or EOF
  }
  size_t start = 0;
  for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(partial_.substr(start, nl - start));
  }
  partial_.erase(0, start);
  if (stdout_fd_ < 0 && !partial_.empty()) {
    lines.push_back(partial_);
    partial_.clear();
  }
  return lines;
}

bool ChildProcess::Exited() {
  if (wait_status_.has_value()) return true;
  if (pid_ <= 0) return true;
  int status = 0;
  const pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    wait_status_ = status;
    CloseFd(&pidfd_);
    return true;
  }
  return false;
}

bool ChildProcess::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!Exited()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      poll(&p, 1, static_cast<int>(left.count()));
    } else {
      // No pidfd (an old kernel): look again shortly.
      std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(20)));
    }
  }
  return true;
}

std::string ChildProcess::DescribeExit() const {
  if (!wait_status_.has_value()) return "is still running";
  const int s = *wait_status_;
  if (WIFEXITED(s)) return fmt::format("exited with status {}", WEXITSTATUS(s));
  if (WIFSIGNALED(s)) {
    return fmt::format("was killed by signal {} ({})", WTERMSIG(s), strsignal(WTERMSIG(s)));
  }
  return fmt::format("ended with wait status {}", s);
}

bool ChildProcess::exited_cleanly() const {
  return wait_status_.has_value() && WIFEXITED(*wait_status_) && WEXITSTATUS(*wait_status_) == 0;
}

bool ChildProcess::stopped_cleanly() const {
  return exited_cleanly() || (wait_status_.has_value() && WIFSIGNALED(*wait_status_) &&
                              WTERMSIG(*wait_status_) == SIGTERM);
}

void ChildProcess::CloseStdin() { CloseFd(&stdin_fd_); }

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !Exited()) kill(pid_, signal);
}

bool ChildProcess::Stop(std::chrono::milliseconds grace) {
  if (Exited()) return true;
  kill(pid_, SIGTERM);
  if (WaitExit(grace)) return true;
  kill(pid_, SIGKILL);
  WaitExit(std::chrono::milliseconds(5000));
  return false;
}

std::string ChildProcess::LogTail(int lines) const {
  if (options_.log_path.empty()) return "";
  std::ifstream in(options_.log_path);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(std::move(line));
    if (static_cast<int>(tail.size()) > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += "    " + l + "\n";
  return out;
}

absl::StatusOr<std::string> MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = fmt::format("{}/{}-XXXXXX", tmp != nullptr && *tmp ? tmp : "/tmp", prefix);
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(
        fmt::format("cannot create a temporary directory {}: {} (set "
                    "TMPDIR to a writable directory)",
                    templ, std::strerror(errno)));
  }
  return templ;
}

void RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace sb::cli
