#include "recording/storage/testing/postgres_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_join.h"
#include "recording/storage/text_util.h"

namespace sb::recording::storage::testing {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kPort = 5432;  // only names the socket file inside our private directory

struct RunAs {
  bool drop = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

absl::StatusOr<std::string> FindBinDir() {
  if (const char* env = std::getenv("SB_PG_BINDIR"); env != nullptr && *env != '\0') {
    if (fs::exists(fs::path(env) / "initdb")) return std::string(env);
    return absl::FailedPreconditionError(
        Cat("POSTGRES_MISSING: SB_PG_BINDIR=", env, " has no initdb"));
  }
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = e.path() / "bin";
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "postgres")) continue;
    int version = 0;
    try {
      version = std::stoi(e.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    found.emplace_back(version, bin.string());
  }
  if (found.empty()) {
    return absl::FailedPreconditionError(
        "POSTGRES_MISSING: PostgreSQL server binaries not found (looked for "
        "/usr/lib/postgresql/*/bin/initdb). Install them with tools/bootstrap (Debian package "
        "'postgresql') or point SB_PG_BINDIR at a bin directory. These tests do not skip.");
  }
  std::sort(found.begin(), found.end());
  return found.back().second;
}

absl::StatusOr<RunAs> ChooseUser() {
  RunAs as;
  if (::geteuid() != 0) return as;
  const struct passwd* pw = ::getpwnam("nobody");
  if (pw == nullptr) {
    return absl::FailedPreconditionError(
        "running as root and there is no user 'nobody' to run PostgreSQL as (initdb refuses "
        "root)");
  }
  as.drop = true;
  as.uid = pw->pw_uid;
  as.gid = pw->pw_gid;
  return as;
}

// fork + exec `argv` as `as`, stdout/stderr appended to `log_fd`. Everything the child needs is
// prepared before fork (only async-signal-safe calls after it).
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const RunAs& as, int log_fd) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  static char kPath[] = "PATH=/usr/bin:/bin";
  static char kLang[] = "LC_ALL=C";
  char* envp[] = {kPath, kLang, nullptr};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(Cat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    if (as.drop) {
      if (::setgroups(0, nullptr) != 0 || ::setresgid(as.gid, as.gid, as.gid) != 0 ||
          ::setresuid(as.uid, as.uid, as.uid) != 0) {
        ::_exit(126);
      }
    }
    // After the uid change (which would clear it): die with the test process.
    ::prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (::getppid() != parent) ::_exit(125);
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execve(args[0], args.data(), envp);
    ::_exit(127);
  }
  return pid;
}

// Waits for `pid` up to `timeout`; returns its wait status, or nullopt on timeout.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling, bounded
  }
}

std::string Tail(const std::string& path, size_t bytes = 3000) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::Start() {
  auto bin = FindBinDir();
  if (!bin.ok()) return bin.status();
  auto as = ChooseUser();
  if (!as.ok()) return as.status();

  auto server = std::unique_ptr<PostgresServer>(new PostgresServer());
  // /tmp rather than $TMPDIR: `nobody` must be able to reach it, and the socket path must stay
  // under the ~107-byte limit.
  std::string templ = "/tmp/sb-pg-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(Cat("mkdtemp: ", std::strerror(errno)));
  }
  server->dir_ = templ;
  server->log_path_ = server->dir_ + "/server.log";
  if (as->drop && ::chown(server->dir_.c_str(), as->uid, as->gid) != 0) {
    return absl::InternalError(Cat("chown ", server->dir_, ": ", std::strerror(errno)));
  }
  const int log_fd =
      ::open(server->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError("cannot create the server log");
  if (as->drop) (void)::fchown(log_fd, as->uid, as->gid);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{log_fd};

  const std::string data = server->dir_ + "/data";
  auto initdb = Spawn({*bin + "/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                       "--encoding=UTF8", "--locale=C", "--no-sync"},
                      *as, log_fd);
  if (!initdb.ok()) return initdb.status();
  const auto init_status = WaitFor(*initdb, std::chrono::seconds(120));
  if (!init_status || !WIFEXITED(*init_status) || WEXITSTATUS(*init_status) != 0) {
    if (!init_status) {
      ::kill(*initdb, SIGKILL);
      ::waitpid(*initdb, nullptr, 0);
    }
    return absl::UnavailableError(
        Cat("initdb failed; its log (", server->log_path_, "):\n", Tail(server->log_path_)));
  }

  // Durability is irrelevant for a throwaway cluster: skip fsyncs.
  auto pid =
      Spawn({*bin + "/postgres", "-D", data, "-k", server->dir_, "-p", std::to_string(kPort), "-c",
             "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c",
             "full_page_writes=off", "-c", "max_connections=60", "-c", "shared_buffers=32MB"},
            *as, log_fd);
  if (!pid.ok()) return pid.status();
  server->pid_ = *pid;

  // Ready when libpq can connect (PQping), bounded; a server that exited fails at once.
  const std::string conninfo =
      Cat("host=", server->dir_, " port=", kPort, " user=postgres dbname=postgres");
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (true) {
    if (PQping(conninfo.c_str()) == PQPING_OK) break;
    int status = 0;
    if (::waitpid(server->pid_, &status, WNOHANG) == server->pid_) {
      server->pid_ = -1;
      return absl::UnavailableError(
          Cat("postgres exited during startup; its log:\n", Tail(server->log_path_)));
    }
    if (Clock::now() >= deadline) {
      return absl::UnavailableError(
          Cat("postgres not ready within 60 s; its log:\n", Tail(server->log_path_)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling, bounded
  }
  return server;
}

PostgresServer::~PostgresServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGINT);  // fast shutdown: disconnects clients, checkpoints, exits
    if (!WaitFor(pid_, std::chrono::seconds(30))) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PostgresServer::Url(const std::string& dbname) const {
  return Cat("postgresql://postgres@/", dbname, "?host=", dir_, "&port=", kPort);
}

absl::StatusOr<std::string> PostgresServer::CreateDatabase() {
  const std::string name = Cat("sb_test_", ++next_db_);
  try {
    pqxx::connection admin(Url("postgres"));
    pqxx::nontransaction tx(admin);
    tx.exec(Cat("CREATE DATABASE ", name, " TEMPLATE template0"));
  } catch (const std::exception& e) {
    return absl::UnavailableError(Cat("CREATE DATABASE ", name, ": ", e.what()));
  }
  return Url(name);
}

void PostgresServer::DropDatabase(const std::string& url) {
  const size_t slash = url.find("@/");
  const size_t q = url.find('?');
  if (slash == std::string::npos || q == std::string::npos) return;
  const std::string name = url.substr(slash + 2, q - slash - 2);
  try {
    pqxx::connection admin(Url("postgres"));
    pqxx::nontransaction tx(admin);
    tx.exec(Cat("DROP DATABASE IF EXISTS ", name, " WITH (FORCE)"));
  } catch (const std::exception&) {
  }
}

}  // namespace sb::recording::storage::testing
