// switchboard up: the embedded mode (DESIGN §6) in one command. Starts sb-embedded-broker and
// sb-routing as child processes on loopback, waits until routing is ready, applies a routing
// config, prints where everything listens, optionally plays callers and agents (--demo), and
// stops everything on Ctrl-C, SIGTERM or after --duration.
//
// Threads: the main thread owns the children and waits on one poll(2) over a signalfd (SIGINT,
// SIGTERM, SIGHUP are blocked in every thread and read from it), the children's stdout pipes and
// exit pidfds, and an eventfd the demo thread writes when it returns. With --demo one more thread
// runs sb::traffic::RunDemo until the main thread sets its stop flag.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "routing/config/routing_config.h"
#include "switchboard/apply.h"
#include "switchboard/commands.h"
#include "switchboard/config_check.h"
#include "switchboard/demo_history.h"
#include "switchboard/example_config.h"
#include "switchboard/process.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"
#include "switchboard/rpc.h"

#if SB_HAVE_TRAFFIC
#include "loadgen/traffic.h"
#endif

#ifndef SB_BROKER_BUILD_PATH
#define SB_BROKER_BUILD_PATH ""
#endif
#ifndef SB_ROUTING_BUILD_PATH
#define SB_ROUTING_BUILD_PATH ""
#endif

namespace sb::cli {
namespace {

namespace v1 = ::switchboard::routing::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kStopGrace{10000};
constexpr const char* kDefaultServer = "127.0.0.1:7070";

struct UpFlags {
  bool demo = false;
  int partitions = 4;
  std::string config;
  std::string tenant = "demo";
  int grpc_port = 7070;
  int metrics_port = 9464;
  double duration = 0;
  int replicas = 1;
  double calls_per_second = 2;
  uint64_t seed = 0;
  double start_timeout = 60;
  bool keep_logs = false;
  std::vector<std::string> routing_args;
  int policy_port = 7080;
  int policy_metrics_port = 9480;
  std::string policies;
  std::vector<std::string> policy_args;
  int agent_state_port = 7090;
  int agent_state_metrics_port = 9490;
  std::vector<std::string> agent_state_args;
  int recording_port = 7100;
  int recording_metrics_port = 9500;
  std::vector<std::string> recording_args;
  int insights_port = 7110;
  int insights_metrics_port = 9510;
  int dashboard_port = 8080;
  std::vector<std::string> insights_args;
  bool open_dashboard = true;
  int demo_history_days = 28;
};

struct Replica {
  std::unique_ptr<ChildProcess> process;
  std::string grpc;     // "127.0.0.1:PORT" once printed
  std::string metrics;  // "127.0.0.1:PORT" once printed
  std::string http;     // "127.0.0.1:PORT" once printed (sb-insights' dashboard)
  bool ready = false;
};

// The state of one `switchboard up` run. Main thread only (see the file comment).
class UpSession {
 public:
  explicit UpSession(const UpFlags& flags) : flags_(flags) {}
  ~UpSession();

  int Run();

 private:
  // What ended a wait.
  enum class Outcome { kDone, kTimeout, kSignal, kChildDied, kDemoEnded };

  bool Setup();
  int Start();
  absl::StatusOr<routing::config::RoutingConfig> LoadConfig(std::string* name);
  // Polls once (up to `timeout`): reads signals, children's output, exits, the demo's end.
  void PollOnce(milliseconds timeout);
  // Polls until `done()` holds, or a signal, a child's death, the demo's end, or `deadline`.
  // `done` is evaluated after each event, and at least every `recheck` (for conditions that
  // no file descriptor signals, such as an RPC's answer).
  template <typename Done>
  Outcome WaitFor(Clock::time_point deadline, Done done,
                  milliseconds recheck = milliseconds::max());
  void HandleLines(ChildProcess* child, const std::vector<std::string>& lines);
  bool WaitForQueues(const routing::config::RoutingConfig& config, Clock::time_point deadline);
  void PrintSummary(const std::string& config_name, const routing::config::RoutingConfig& config,
                    const v1::ApplyConfigResponse& applied) const;
  void StartDemo(const routing::config::RoutingConfig& config);
  // The dashboard's address with the session's tenant ("" before sb-insights printed it).
  std::string DashboardUrl() const;
  // Opens the dashboard in the desktop's browser (xdg-open) when there is a display; otherwise
  // says where it is.
  void OpenDashboard() const;
  // Reports why the session ended early; returns kExitOk for a signal, else kExitFailure.
  int Fail(Outcome outcome, const std::string& waiting_for);
  // Stops the demo, the replicas, then the broker. True if every child exited cleanly.
  bool StopAll();
  // Starts one service child (sb-policy, sb-agent-state) and waits for its `ready` line.
  int StartService(const std::string& name, const std::string& path, std::vector<std::string> args,
                   Replica* service, Clock::time_point deadline);
  // SIGTERM, then waits; false if it had to be killed or did not exit cleanly.
  bool StopService(Replica* service);
  std::vector<std::string> Servers() const;
  std::string ServerList() const { return absl::StrJoin(Servers(), ","); }

  const UpFlags& flags_;
  std::string dir_;
  int signal_fd_ = -1;
  int demo_fd_ = -1;
  sigset_t old_mask_{};
  bool mask_set_ = false;
  int signal_ = 0;
  ChildProcess* died_ = nullptr;
  std::unique_ptr<ChildProcess> broker_;
  std::string bootstrap_;
  std::vector<Replica> replicas_;
  Replica policy_;       // sb-policy (process null until started)
  Replica agent_state_;  // sb-agent-state (process null until started)
  Replica recording_;    // sb-recording (process null until started)
  Replica insights_;     // sb-insights (process null until started)
  pid_t process_group_ = 0;

  std::atomic<bool> demo_stop_{false};
  std::atomic<bool> demo_done_{false};
  std::string demo_error_;  // written by the demo thread before demo_done_
  std::thread demo_thread_;
};

UpSession::~UpSession() {
  StopAll();
  if (signal_fd_ >= 0) close(signal_fd_);
  if (demo_fd_ >= 0) close(demo_fd_);
  if (mask_set_) pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

std::vector<std::string> UpSession::Servers() const {
  std::vector<std::string> out;
  for (const Replica& r : replicas_) out.push_back(r.grpc);
  return out;
}

bool UpSession::Setup() {
  // Take SIGINT/SIGTERM/SIGHUP through a signalfd. They must not be ignored (a shell starts
  // background jobs with SIGINT ignored, and ignored signals are discarded, not queued), and
  // are blocked before any thread exists so that every thread inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) {
    sigaddset(&set, s);
    signal(s, SIG_DFL);
  }
  pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
  mask_set_ = true;
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  demo_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (signal_fd_ < 0 || demo_fd_ < 0) {
    std::cerr << "error: signalfd/eventfd: " << std::strerror(errno) << "\n";
    return false;
  }
  absl::StatusOr<std::string> dir = MakeTempDir("switchboard-up");
  if (!dir.ok()) {
    std::cerr << "error: " << dir.status().message() << "\n";
    return false;
  }
  dir_ = *dir;
  return true;
}

void UpSession::PollOnce(milliseconds timeout) {
  std::vector<pollfd> fds;
  fds.push_back({signal_fd_, POLLIN, 0});
  fds.push_back({demo_fd_, POLLIN, 0});
  std::vector<ChildProcess*> children;
  if (broker_ != nullptr) children.push_back(broker_.get());
  for (Replica& r : replicas_) children.push_back(r.process.get());
  if (policy_.process != nullptr) children.push_back(policy_.process.get());
  if (agent_state_.process != nullptr) children.push_back(agent_state_.process.get());
  if (recording_.process != nullptr) children.push_back(recording_.process.get());
  if (insights_.process != nullptr) children.push_back(insights_.process.get());
  bool all_have_exit_fd = true;
  for (ChildProcess* c : children) {
    if (c->stdout_fd() >= 0) fds.push_back({c->stdout_fd(), POLLIN, 0});
    if (c->exit_fd() >= 0) {
      fds.push_back({c->exit_fd(), POLLIN, 0});
    } else {
      all_have_exit_fd = false;
    }
  }
  // Without pidfds, exits are noticed by looking again every 100 ms.
  const milliseconds wait = all_have_exit_fd ? timeout : std::min(timeout, milliseconds(100));
  poll(fds.data(), fds.size(), static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 3600000)));

  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
    if (signal_ == 0) signal_ = static_cast<int>(info.ssi_signo);
  }
  for (ChildProcess* c : children) HandleLines(c, c->ReadLines());
  for (ChildProcess* c : children) {
    if (died_ == nullptr && c->Exited()) died_ = c;
  }
}

void UpSession::HandleLines(ChildProcess* child, const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    if (child == broker_.get()) {
      if (bootstrap_.empty() && absl::StartsWith(line, "bootstrap=")) {
        bootstrap_ = line.substr(std::strlen("bootstrap="));
      }
      continue;
    }
    std::vector<Replica*> services;
    for (Replica& r : replicas_) services.push_back(&r);
    services.push_back(&policy_);
    services.push_back(&agent_state_);
    services.push_back(&recording_);
    services.push_back(&insights_);
    for (Replica* r : services) {
      if (r->process.get() != child) continue;
      if (absl::StartsWith(line, "grpc=")) r->grpc = line.substr(5);
      if (absl::StartsWith(line, "metrics=")) r->metrics = line.substr(8);
      if (absl::StartsWith(line, "http=")) r->http = line.substr(5);
      if (line == "ready") r->ready = true;
    }
  }
}

template <typename Done>
UpSession::Outcome UpSession::WaitFor(Clock::time_point deadline, Done done, milliseconds recheck) {
  while (true) {
    if (done()) return Outcome::kDone;
    if (signal_ != 0) return Outcome::kSignal;
    if (died_ != nullptr) return Outcome::kChildDied;
    if (demo_done_.load()) return Outcome::kDemoEnded;
    const auto now = Clock::now();
    if (now >= deadline) return Outcome::kTimeout;
    PollOnce(std::min(recheck,
                      std::chrono::duration_cast<milliseconds>(deadline - now) + milliseconds(1)));
  }
}

int UpSession::Fail(Outcome outcome, const std::string& waiting_for) {
  switch (outcome) {
    case Outcome::kSignal:
      // Asked to stop: not a failure, whatever the stage.
      std::cerr << fmt::format("switchboard up: {} while {}; stopping\n", strsignal(signal_),
                               waiting_for);
      return kExitOk;
    case Outcome::kChildDied: {
      std::cerr << fmt::format("error: {} {} unexpectedly (while {})\n", died_->name(),
                               died_->DescribeExit(), waiting_for);
      const std::string tail = died_->LogTail(15);
      if (!tail.empty()) {
        std::cerr << fmt::format("last lines of its log ({}):\n{}", died_->log_path(), tail);
      }
      if (absl::StrContains(tail, "cannot listen") ||
          absl::StrContains(tail, "Address already in use")) {
        std::cerr << "hint: a port is taken (another `switchboard up`?); choose others with "
                     "--grpc-port and --metrics-port, or 0 to let the kernel pick free ones\n";
      }
      break;
    }
    case Outcome::kTimeout:
      std::cerr << fmt::format("error: timed out while {}\n", waiting_for);
      break;
    case Outcome::kDemoEnded:
      std::cerr << "error: the demo traffic driver stopped: "
                << (demo_error_.empty() ? "it returned early" : demo_error_) << "\n";
      break;
    case Outcome::kDone:
      break;
  }
  return kExitFailure;
}

absl::StatusOr<routing::config::RoutingConfig> UpSession::LoadConfig(std::string* name) {
  if (flags_.config.empty()) {
    *name = kExampleConfigName;
    return routing::config::ParseRoutingConfig(kExampleConfigYaml, *name);
  }
  *name = flags_.config;
  return routing::config::LoadRoutingConfig(flags_.config);
}

bool UpSession::WaitForQueues(const routing::config::RoutingConfig& config,
                              Clock::time_point deadline) {
  // ApplyConfig only logs commands; poll until the owner has applied them, so that the queues
  // are there when we say we are up.
  ServerSet servers(Servers(), milliseconds(5000));
  std::set<std::string> want;
  for (const v1::Queue& q : config.queues) want.insert(q.queue_id());
  return WaitFor(
             deadline,
             [&] {
               v1::ListQueuesRequest request;
               request.set_tenant_id(flags_.tenant);
               v1::ListQueuesResponse response;
               const grpc::Status status =
                   servers.Call([&](const std::shared_ptr<grpc::Channel>& channel,
                                    grpc::ClientContext* context) {
                     return v1::ConfigService::NewStub(channel)->ListQueues(context, request,
                                                                            &response);
                   });
               if (!status.ok()) return false;
               std::set<std::string> have;
               for (const v1::QueueState& q : response.queues()) have.insert(q.config().queue_id());
               for (const std::string& id : want) {
                 if (have.count(id) == 0) return false;
               }
               return true;
             },
             milliseconds(100)) == Outcome::kDone;
}

void UpSession::PrintSummary(const std::string& config_name,
                             const routing::config::RoutingConfig& config,
                             const v1::ApplyConfigResponse& applied) const {
  std::string out =
      fmt::format("Switchboard is up: tenant {}, {} partitions, {} routing replica{}{}.\n",
                  flags_.tenant, flags_.partitions, replicas_.size(),
                  replicas_.size() == 1 ? "" : "s", flags_.demo ? ", demo traffic" : "");
  out += fmt::format("  kafka     bootstrap={}\n", bootstrap_);
  for (size_t i = 0; i < replicas_.size(); ++i) {
    out += fmt::format("  routing   grpc={}  metrics=http://{}/metrics{}\n", replicas_[i].grpc,
                       replicas_[i].metrics,
                       replicas_.size() > 1 ? fmt::format("  (replica {})", i) : "");
  }
  if (policy_.process != nullptr) {
    out += fmt::format("  policy    grpc={}  metrics=http://{}/metrics  ({})\n", policy_.grpc,
                       policy_.metrics,
                       flags_.policies.empty() ? "built-in default bundle" : flags_.policies);
  }
  if (agent_state_.process != nullptr) {
    out += fmt::format("  desktops  grpc={}  metrics=http://{}/metrics  (sb-agent-state)\n",
                       agent_state_.grpc, agent_state_.metrics);
  }
  if (recording_.process != nullptr) {
    out += fmt::format("  recording grpc={}  metrics=http://{}/metrics  (SQLite {}/recording.db)\n",
                       recording_.grpc, recording_.metrics, dir_);
  }
  if (insights_.process != nullptr) {
    out += fmt::format("  insights  grpc={}  metrics=http://{}/metrics  dashboard={}\n",
                       insights_.grpc, insights_.metrics, DashboardUrl());
  }
  out += fmt::format("  config    {}: {} queues, {} agents (config version {})\n", config_name,
                     config.queues.size(), config.agents.size(), applied.config_version());
  out += fmt::format("  logs      {}/\n", dir_);
  std::string common;
  const std::string servers = ServerList();
  if (servers != kDefaultServer) common += " --server " + servers;
  if (flags_.tenant != "demo") common += " --tenant " + flags_.tenant;
  const std::string queue = config.queues.empty() ? "QUEUE" : config.queues[0].queue_id();
  out += "Try, in another terminal:\n";
  out += fmt::format("  switchboard queues{}\n", common);
  out += fmt::format("  switchboard agents{}\n", common);
  out +=
      fmt::format("  switchboard enqueue --queue {} --attr language=en --watch{}\n", queue, common);
  if (insights_.process != nullptr) {
    out += fmt::format("  switchboard forecast --queue {}{}{}\n", queue,
                       insights_.grpc != "127.0.0.1:7110" ? " --server " + insights_.grpc : "",
                       flags_.tenant != "demo" ? " --tenant " + flags_.tenant : "");
    if (!insights_.http.empty()) {
      out += fmt::format("  open {} in a browser: the supervisor dashboard\n", DashboardUrl());
    }
  }
  if (!flags_.demo && !config.agents.empty()) {
    out += "  (agents start logged out: with --demo they log in and take calls)\n";
  }
  out += flags_.duration > 0 ? fmt::format("Stopping in {}s, or on Ctrl-C.\n", flags_.duration)
                             : "Stop with Ctrl-C.\n";
  std::cout << out << std::flush;
}

std::vector<std::string> DemoQueues(const routing::config::RoutingConfig& config) {
  std::set<std::string> escalation_targets;
  for (const v1::Queue& q : config.queues) escalation_targets.insert(q.escalation_queue());
  std::vector<std::string> out;
  for (const v1::Queue& q : config.queues) {
    if (escalation_targets.count(q.queue_id()) == 0) out.push_back(q.queue_id());
  }
  return out;
}

void UpSession::StartDemo(const routing::config::RoutingConfig& config) {
#if SB_HAVE_TRAFFIC
  sb::traffic::DemoOptions options;
  options.grpc_target = replicas_[0].grpc;
  options.bootstrap = bootstrap_;
  // The simulated agents use the agent desktop API, as real agents do.
  options.agent_state_target = agent_state_.grpc;
  options.tenant = flags_.tenant;
  // Callers go to every queue except escalation targets (supervisors get escalations, not
  // calls).
  options.queue_ids = DemoQueues(config);
  for (const v1::AgentProfile& a : config.agents) options.agent_ids.push_back(a.agent_id());
  options.calls_per_second = flags_.calls_per_second;
  options.seed = flags_.seed;
  demo_thread_ = std::thread([this, options] {
    const absl::Status status = sb::traffic::RunDemo(options, demo_stop_, std::cout);
    if (!status.ok()) demo_error_ = std::string(status.message());
    demo_done_.store(true);
    const uint64_t one = 1;
    ssize_t ignored = write(demo_fd_, &one, sizeof(one));
    (void)ignored;
  });
#else
  (void)config;  // RunUp refuses --demo without the driver
#endif
}

std::string UpSession::DashboardUrl() const {
  if (insights_.http.empty()) return "";
  return fmt::format("http://{}/?tenant={}", insights_.http, flags_.tenant);
}

void UpSession::OpenDashboard() const {
  const std::string url = DashboardUrl();
  if (url.empty()) return;
  const bool display =
      std::getenv("DISPLAY") != nullptr || std::getenv("WAYLAND_DISPLAY") != nullptr;
  absl::StatusOr<std::string> opener = FindOnPath("xdg-open");
  if (!display || !opener.ok()) {
    std::cout << fmt::format("dashboard: {} (no display to open it on; open it in a browser)\n",
                             url)
              << std::flush;
    return;
  }
  // A grandchild, so that the browser outlives neither our wait nor our process group.
  const pid_t pid = fork();
  if (pid == 0) {
    if (fork() == 0) {
      setsid();
      const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
      if (null_fd >= 0) {
        dup2(null_fd, STDIN_FILENO);
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
      }
      sigset_t none;
      sigemptyset(&none);
      pthread_sigmask(SIG_SETMASK, &none, nullptr);
      execl(opener->c_str(), "xdg-open", url.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    _exit(0);
  }
  if (pid > 0) waitpid(pid, nullptr, 0);
  std::cout << fmt::format("dashboard: opening {} in your browser\n", url) << std::flush;
}

bool UpSession::StopAll() {
  demo_stop_.store(true);
  if (demo_thread_.joinable()) {
    // RunDemo returns within a second or so of the stop flag; do not hang on it forever.
    const auto deadline = Clock::now() + kStopGrace;
    while (!demo_done_.load() && Clock::now() < deadline) {
      pollfd p{demo_fd_, POLLIN, 0};
      poll(&p, 1, 100);
    }
    if (demo_done_.load()) {
      demo_thread_.join();
    } else {
      std::cerr << "warning: the demo traffic driver did not stop within 10s\n";
      demo_thread_.detach();
    }
  }
  bool clean = true;
  // The services that send routing commands first (agent-state tells its desktops to reconnect,
  // policy), then routing (it leaves the consumer group and flushes to the broker), then the
  // broker.
  clean = StopService(&agent_state_) && clean;
  clean = StopService(&recording_) && clean;
  clean = StopService(&insights_) && clean;
  clean = StopService(&policy_) && clean;
  for (Replica& r : replicas_) r.process->Signal(SIGTERM);
  // Without a broker a replica cannot hand its partitions over, and nothing is left to save.
  const bool broker_gone = broker_ == nullptr || broker_->Exited();
  const auto deadline = Clock::now() + (broker_gone ? milliseconds(2000) : kStopGrace);
  for (Replica& r : replicas_) {
    if (r.process->Exited()) {
      clean = clean && (r.process.get() == died_ || r.process->stopped_cleanly());
      continue;
    }
    const auto left = std::max(milliseconds(0),
                               std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    if (!r.process->Stop(left)) {
      if (!broker_gone) {
        std::cerr << fmt::format("warning: {} did not stop within 10s of SIGTERM; killed it\n",
                                 r.process->name());
        clean = false;
      }
    } else if (!r.process->stopped_cleanly()) {
      std::cerr << fmt::format("warning: {} {} when stopped\n", r.process->name(),
                               r.process->DescribeExit());
      clean = false;
    }
  }
  replicas_.clear();
  if (broker_ != nullptr) {
    broker_->CloseStdin();
    // The whole group, while its leader (the broker) still holds the group id: anything a
    // child may have started goes too.
    if (process_group_ > 0 && !broker_->Exited()) killpg(process_group_, SIGTERM);
    if (!broker_->Stop(kStopGrace)) {
      std::cerr << "warning: sb-embedded-broker did not stop within 10s; killed it\n";
      clean = false;
    } else if (broker_.get() != died_ && !broker_->stopped_cleanly()) {
      clean = false;
    }
    broker_.reset();
  }
  return clean;
}

int UpSession::StartService(const std::string& name, const std::string& path,
                            std::vector<std::string> args, Replica* service,
                            Clock::time_point deadline) {
  std::cerr << "starting " << name << "...\n";
  ChildProcess::Options options;
  options.name = name;
  options.path = path;
  options.args = std::move(args);
  options.log_path = fmt::format("{}/{}.log", dir_, name);
  options.process_group = process_group_;
  absl::StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(options);
  if (!started.ok()) {
    std::cerr << "error: " << started.status().message() << "\n";
    return kExitFailure;
  }
  service->process = std::move(*started);
  const Outcome outcome =
      WaitFor(deadline, [&] { return service->ready && !service->grpc.empty(); });
  if (outcome == Outcome::kDone) return kExitOk;
  if (outcome == Outcome::kTimeout || outcome == Outcome::kChildDied) {
    std::cerr << fmt::format("{} did not report ready; last lines of its log ({}):\n{}", name,
                             service->process->log_path(), service->process->LogTail(15));
  }
  return Fail(outcome, "waiting for " + name + " to be ready");
}

bool UpSession::StopService(Replica* service) {
  if (service->process == nullptr) return true;
  bool clean = true;
  const std::string name = service->process->name();
  if (!service->process->Exited()) {
    service->process->Signal(SIGTERM);
    if (!service->process->Stop(kStopGrace)) {
      std::cerr << fmt::format("warning: {} did not stop within 10s of SIGTERM; killed it\n", name);
      clean = false;
    }
  }
  if (service->process.get() != died_ && !service->process->stopped_cleanly()) {
    std::cerr << fmt::format("warning: {} {} when stopped\n", name,
                             service->process->DescribeExit());
    clean = false;
  }
  service->process.reset();
  return clean;
}

int UpSession::Start() {
  absl::StatusOr<std::string> broker_path =
      FindSiblingBinary("sb-embedded-broker", "tools/embedded_broker", SB_BROKER_BUILD_PATH);
  absl::StatusOr<std::string> routing_path =
      FindSiblingBinary("sb-routing", "services/routing/service", SB_ROUTING_BUILD_PATH);
  absl::StatusOr<std::string> policy_path =
      FindSiblingBinary("sb-policy", "services/policy/service", SB_POLICY_BUILD_PATH);
  absl::StatusOr<std::string> agent_state_path = FindSiblingBinary(
      "sb-agent-state", "services/agent_state/service", SB_AGENT_STATE_BUILD_PATH);
  absl::StatusOr<std::string> recording_path =
      FindSiblingBinary("sb-recording", "services/recording/service", SB_RECORDING_BUILD_PATH);
  absl::StatusOr<std::string> insights_path =
      FindSiblingBinary("sb-insights", "services/insights/service", SB_INSIGHTS_BUILD_PATH);
  for (const auto* path : {&broker_path, &routing_path, &policy_path, &agent_state_path,
                           &recording_path, &insights_path}) {
    if (!path->ok()) {
      std::cerr << "error: " << path->status().message() << "\n";
      return kExitFailure;
    }
  }
  std::string config_name;
  absl::StatusOr<routing::config::RoutingConfig> config = LoadConfig(&config_name);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return kExitFailure;
  }
  if (const int rejected = CheckWithEngine(*config, std::cerr); rejected > 0) {
    std::cerr << fmt::format("error: {}: {} error(s); nothing was started\n", config_name,
                             rejected);
    return kExitFailure;
  }
  if (!Setup()) return kExitFailure;
  // With --demo, the past days' interval history is simulated while the services start, so that
  // the dashboard's forecast has something to forecast from (demo_history.h).
  absl::StatusOr<DemoHistory> history = DemoHistory{};
  // Declared after what it reads and writes, so that it is joined first on every way out.
  std::jthread history_thread;
  const std::string insights_store = "sqlite://" + dir_ + "/insights.db";
  if (flags_.demo && flags_.demo_history_days > 0) {
    DemoHistoryOptions h;
    h.tenant = flags_.tenant;
    h.queue_ids = DemoQueues(*config);
    h.calls_per_second = flags_.calls_per_second;
    h.days = flags_.demo_history_days;
    h.seed = flags_.seed == 0 ? 1 : flags_.seed;
    const int64_t now_ms = std::chrono::duration_cast<milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    h.today_start_ms = now_ms - now_ms % (24 * 3600 * 1000);
    std::cerr << fmt::format("simulating {} days of demo history...\n", h.days);
    history_thread = std::jthread([&history, h, &config, insights_store] {
      history = SeedDemoHistory(*config, h, insights_store);
    });
  }

  // 1. The broker. It leads the process group every child joins.
  std::cerr << "starting sb-embedded-broker...\n";
  ChildProcess::Options broker;
  broker.name = "sb-embedded-broker";
  broker.path = *broker_path;
  broker.args = {"--partitions", std::to_string(flags_.partitions), "--bootstrap-file",
                 dir_ + "/bootstrap"};
  broker.log_path = dir_ + "/sb-embedded-broker.log";
  broker.stdin_pipe = true;  // it stops when the pipe closes, even if we are SIGKILLed
  absl::StatusOr<std::unique_ptr<ChildProcess>> started = ChildProcess::Start(broker);
  if (!started.ok()) {
    std::cerr << "error: " << started.status().message() << "\n";
    return kExitFailure;
  }
  broker_ = std::move(*started);
  process_group_ = broker_->pid();
  Outcome outcome =
      WaitFor(Clock::now() + milliseconds(15000), [&] { return !bootstrap_.empty(); });
  if (outcome != Outcome::kDone) return Fail(outcome, "waiting for the broker's bootstrap line");

  // 2. The routing replicas, all at once (each join rebalances the consumer group).
  std::cerr << fmt::format("starting {} sb-routing replica{}...\n", flags_.replicas,
                           flags_.replicas == 1 ? "" : "s");
  for (int i = 0; i < flags_.replicas; ++i) {
    ChildProcess::Options routing;
    routing.name = flags_.replicas == 1 ? "sb-routing" : fmt::format("sb-routing (replica {})", i);
    routing.path = *routing_path;
    const int grpc_port = flags_.grpc_port == 0 ? 0 : flags_.grpc_port + i;
    const int metrics_port = flags_.metrics_port == 0 ? 0 : flags_.metrics_port + i;
    routing.args = {"--bootstrap-file", dir_ + "/bootstrap",
                    "--listen",         fmt::format("127.0.0.1:{}", grpc_port),
                    "--metrics-listen", fmt::format("127.0.0.1:{}", metrics_port)};
    if (flags_.replicas > 1 && flags_.grpc_port != 0) {
      // Fixed ports: each replica knows the others and forwards calls for partitions it does
      // not own, so any address serves every tenant. (With port 0 the addresses are not known
      // in advance; clients then try the next --server on NOT_OWNER.)
      std::vector<std::string> peers;
      for (int j = 0; j < flags_.replicas; ++j) {
        peers.push_back(fmt::format("127.0.0.1:{}", flags_.grpc_port + j));
      }
      routing.args.push_back("--peers");
      routing.args.push_back(fmt::format("{}", fmt::join(peers, ",")));
    }
    routing.args.insert(routing.args.end(), flags_.routing_args.begin(), flags_.routing_args.end());
    routing.log_path = dir_ + fmt::format("/sb-routing-{}.log", i);
    routing.process_group = process_group_;
    started = ChildProcess::Start(routing);
    if (!started.ok()) {
      std::cerr << "error: " << started.status().message() << "\n";
      return kExitFailure;
    }
    replicas_.emplace_back();
    replicas_.back().process = std::move(*started);
  }
  const auto start_deadline =
      Clock::now() + milliseconds(static_cast<int64_t>(flags_.start_timeout * 1000));
  outcome = WaitFor(start_deadline, [&] {
    for (const Replica& r : replicas_) {
      if (!r.ready || r.grpc.empty()) return false;
    }
    return true;
  });
  if (outcome != Outcome::kDone) {
    if (outcome == Outcome::kTimeout) {
      for (const Replica& r : replicas_) {
        if (r.ready) continue;
        std::cerr << fmt::format(
            "{} did not report ready within {}s; last lines of its log ({}):\n{}",
            r.process->name(), flags_.start_timeout, r.process->log_path(), r.process->LogTail(15));
      }
    }
    return Fail(outcome, "waiting for sb-routing to be ready");
  }

  // 3. The policy service (reading interaction facts from routing), the recording service, then
  // agent-state (deciding disconnects with policy).
  const bool free_ports = flags_.grpc_port == 0;
  const auto port = [&](int fixed) { return fmt::format("127.0.0.1:{}", free_ports ? 0 : fixed); };
  const auto metrics_port = [&](int fixed) {
    return fmt::format("127.0.0.1:{}", flags_.metrics_port == 0 ? 0 : fixed);
  };
  std::vector<std::string> policy_args = {
      "--bootstrap-file", dir_ + "/bootstrap",
      "--routing",        replicas_[0].grpc,
      "--listen",         port(flags_.policy_port),
      "--metrics-listen", metrics_port(flags_.policy_metrics_port)};
  if (!flags_.policies.empty()) {
    policy_args.push_back("--policies");
    policy_args.push_back(flags_.policies);
  }
  policy_args.insert(policy_args.end(), flags_.policy_args.begin(), flags_.policy_args.end());
  if (int code = StartService("sb-policy", *policy_path, policy_args, &policy_, start_deadline);
      code != kExitOk) {
    return code;
  }
  // The recording service (recordings and reviews from routing events and policy decisions),
  // on SQLite in the session's directory.
  std::vector<std::string> recording_args = {
      "--bootstrap-file", dir_ + "/bootstrap",
      "--listen",         port(flags_.recording_port),
      "--metrics-listen", metrics_port(flags_.recording_metrics_port),
      "--store",          "sqlite://" + dir_ + "/recording.db",
      "--media-dir",      dir_ + "/media"};
  recording_args.insert(recording_args.end(), flags_.recording_args.begin(),
                        flags_.recording_args.end());
  if (int code = StartService("sb-recording", *recording_path, recording_args, &recording_,
                              start_deadline);
      code != kExitOk) {
    return code;
  }
  // The insights service (statistics, intervals, forecast, the dashboard), on SQLite in the
  // session's directory, after the demo history is written.
  if (history_thread.joinable()) history_thread.join();
  if (!history.ok()) {
    std::cerr << "warning: no demo history (the forecast will be empty): "
              << history.status().message() << "\n";
  } else if (history->intervals_written > 0) {
    std::cerr << fmt::format(
        "demo history: {} intervals over the past {} days (one simulated day of ~{} calls, "
        "repeated)\n",
        history->intervals_written, flags_.demo_history_days, history->calls_per_day);
  }
  std::vector<std::string> insights_args = {
      "--bootstrap-file", dir_ + "/bootstrap",
      "--listen",         port(flags_.insights_port),
      "--metrics-listen", metrics_port(flags_.insights_metrics_port),
      "--http-listen",    fmt::format("127.0.0.1:{}", free_ports ? 0 : flags_.dashboard_port),
      "--data-dir",       dir_ + "/insights",
      "--store",          insights_store};
  insights_args.insert(insights_args.end(), flags_.insights_args.begin(),
                       flags_.insights_args.end());
  if (int code =
          StartService("sb-insights", *insights_path, insights_args, &insights_, start_deadline);
      code != kExitOk) {
    return code;
  }
  std::vector<std::string> agent_state_args = {
      "--bootstrap-file", dir_ + "/bootstrap",
      "--policy",         policy_.grpc,
      "--listen",         port(flags_.agent_state_port),
      "--metrics-listen", metrics_port(flags_.agent_state_metrics_port)};
  agent_state_args.insert(agent_state_args.end(), flags_.agent_state_args.begin(),
                          flags_.agent_state_args.end());
  if (int code = StartService("sb-agent-state", *agent_state_path, agent_state_args, &agent_state_,
                              start_deadline);
      code != kExitOk) {
    return code;
  }

  // 4. The routing config.
  std::cerr << fmt::format("applying {} to tenant {}...\n", config_name, flags_.tenant);
  ServerSet servers(Servers(), milliseconds(10000));
  v1::ApplyConfigResponse applied;
  const grpc::Status status = ApplyConfig(servers, flags_.tenant, *config, false, &applied);
  if (!status.ok()) {
    std::cerr << "the routing service refused " << config_name << ":\n";
    PrintRpcError(status, servers, std::cerr);
    return kExitFailure;
  }
  if (!WaitForQueues(*config, Clock::now() + milliseconds(15000))) {
    if (signal_ != 0 || died_ != nullptr) {
      return Fail(signal_ != 0 ? Outcome::kSignal : Outcome::kChildDied,
                  "waiting for the config to be applied");
    }
    std::cerr << "warning: the applied queues are not listed yet; `switchboard queues` may "
                 "show them in a moment\n";
  }

  // 5. Up.
  PrintSummary(config_name, *config, applied);
  if (flags_.demo) {
    StartDemo(*config);
    if (flags_.open_dashboard) OpenDashboard();
  }
  const auto end = flags_.duration > 0
                       ? Clock::now() + milliseconds(static_cast<int64_t>(flags_.duration * 1000))
                       : Clock::time_point::max();
  outcome = WaitFor(end, [] { return false; });
  if (outcome == Outcome::kChildDied || outcome == Outcome::kDemoEnded) {
    return Fail(outcome, "running");
  }
  if (outcome == Outcome::kSignal) {
    std::cerr << fmt::format("\nswitchboard up: {}; stopping\n", strsignal(signal_));
  } else {
    std::cerr << "switchboard up: --duration elapsed; stopping\n";
  }
  return kExitOk;
}

int UpSession::Run() {
  int code = Start();
  const bool clean = StopAll();
  if (code == kExitOk && !clean) code = kExitFailure;
  if (!dir_.empty()) {
    if (code == kExitOk && !flags_.keep_logs) {
      RemoveTree(dir_);
      std::cerr << "switchboard up: stopped\n";
    } else {
      std::cerr << fmt::format("switchboard up: stopped; logs kept in {}/\n", dir_);
    }
  }
  return code;
}

int RunUp(const UpFlags& flags) {
  if (flags.replicas > flags.partitions) {
    std::cerr << fmt::format(
        "error: --replicas {} is more than --partitions {}: a replica without a partition is "
        "never ready; use at most {} replicas or more partitions\n",
        flags.replicas, flags.partitions, flags.partitions);
    return kExitUsage;
  }
  for (const auto& [name, port] : {std::pair{"--grpc-port", flags.grpc_port},
                                   std::pair{"--metrics-port", flags.metrics_port}}) {
    if (port != 0 && port + flags.replicas - 1 > 65535) {
      std::cerr << fmt::format("error: {} {}: replicas use ports {}..{}, past 65535\n", name, port,
                               port, port + flags.replicas - 1);
      return kExitUsage;
    }
  }
  if (flags.grpc_port != 0 && flags.metrics_port != 0 &&
      flags.grpc_port < flags.metrics_port + flags.replicas &&
      flags.metrics_port < flags.grpc_port + flags.replicas) {
    std::cerr << "error: --grpc-port and --metrics-port ranges overlap; pick other ports\n";
    return kExitUsage;
  }
  // sb-policy's fixed ports must not fall in the replicas' ranges.
  for (const auto& [name, port] :
       {std::pair{"--policy-port", flags.policy_port},
        std::pair{"--policy-metrics-port", flags.policy_metrics_port},
        std::pair{"--agent-state-port", flags.agent_state_port},
        std::pair{"--agent-state-metrics-port", flags.agent_state_metrics_port},
        std::pair{"--recording-port", flags.recording_port},
        std::pair{"--recording-metrics-port", flags.recording_metrics_port},
        std::pair{"--insights-port", flags.insights_port},
        std::pair{"--insights-metrics-port", flags.insights_metrics_port},
        std::pair{"--dashboard-port", flags.dashboard_port}}) {
    for (const int base : {flags.grpc_port, flags.metrics_port}) {
      if (base != 0 && port >= base && port < base + flags.replicas) {
        std::cerr << fmt::format(
            "error: {} {} is one of the routing replicas' ports ({}..{}); pick another\n", name,
            port, base, base + flags.replicas - 1);
        return kExitUsage;
      }
    }
  }
  {
    const std::set<int> fixed = {flags.policy_port,      flags.policy_metrics_port,
                                 flags.agent_state_port, flags.agent_state_metrics_port,
                                 flags.recording_port,   flags.recording_metrics_port,
                                 flags.insights_port,    flags.insights_metrics_port,
                                 flags.dashboard_port};
    if (fixed.size() != 9) {
      std::cerr << "error: --policy-port, --policy-metrics-port, --agent-state-port, "
                   "--agent-state-metrics-port, --recording-port, --recording-metrics-port, "
                   "--insights-port, --insights-metrics-port and --dashboard-port must be nine "
                   "different ports\n";
      return kExitUsage;
    }
  }
#if !SB_HAVE_TRAFFIC
  if (flags.demo) {
    std::cerr << "error: --demo: this switchboard was built without the traffic driver (CMake "
                 "target sb_traffic, tools/loadgen/); rebuild with it, or run without --demo\n";
    return kExitUsage;
  }
#endif
  if (flags.demo && !(flags.calls_per_second > 0)) {
    std::cerr << "error: --calls-per-second must be > 0\n";
    return kExitUsage;
  }
  UpSession session(flags);
  return session.Run();
}

}  // namespace

void AddUpCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<UpFlags>();
  CLI::App* cmd = app.add_subcommand(
      "up",
      "Run Switchboard on this machine: an embedded Kafka-protocol broker (sb-embedded-broker) "
      "and the routing service (sb-routing) as child processes on 127.0.0.1, with a routing "
      "config applied. Prints where everything listens and stays in the foreground; Ctrl-C "
      "stops everything. --demo also plays callers and agents in real time.");
  cmd->add_flag("--demo", flags->demo,
                "Also run the traffic driver: agents log in and take calls that arrive at "
                "--calls-per-second; a live summary is printed every second");
  cmd->add_option("--config,-c", flags->config,
                  "Routing config to apply (docs/configuration.md); default: the built-in "
                  "tools/switchboard/examples/contact_center.yaml (4 queues, 30 agents)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tenant,-t", flags->tenant, "Tenant to apply the config to")
      ->capture_default_str();
  cmd->add_option("--partitions", flags->partitions, "Partitions of every topic")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  cmd->add_option("--replicas", flags->replicas,
                  "Routing replicas (a consumer group sharing the partitions); replica i listens "
                  "on --grpc-port + i and --metrics-port + i")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--grpc-port", flags->grpc_port, "gRPC port of sb-routing; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--metrics-port", flags->metrics_port,
                  "Prometheus /metrics port of sb-routing; 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--duration", flags->duration,
                  "Stop by itself after this many seconds (0: run until Ctrl-C or SIGTERM)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--calls-per-second", flags->calls_per_second, "Demo arrival rate (--demo)")
      ->capture_default_str();
  cmd->add_option("--seed", flags->seed, "Demo random seed (--demo); 0 picks one and prints it")
      ->capture_default_str();
  cmd->add_option("--start-timeout", flags->start_timeout,
                  "Seconds to wait for sb-routing to be ready")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--keep-logs", flags->keep_logs,
                "Keep the temporary directory with the children's logs after a clean stop (it "
                "is always kept after a failure)");
  cmd->add_option("--routing-arg", flags->routing_args,
                  "Extra argument for sb-routing, repeatable, e.g. --routing-arg=--reflection")
      ->allow_extra_args(false);
  cmd->add_option("--policy-port", flags->policy_port,
                  "gRPC port of sb-policy (a free one when --grpc-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--policy-metrics-port", flags->policy_metrics_port,
                  "Prometheus /metrics port of sb-policy (a free one when --metrics-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--policies", flags->policies,
                  "Directory of policy bundles for sb-policy (docs/policies.md); default: the "
                  "built-in default bundle")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--agent-state-port", flags->agent_state_port,
                  "gRPC port of sb-agent-state, where agent desktops and supervisors connect (a "
                  "free one when --grpc-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option(
         "--agent-state-metrics-port", flags->agent_state_metrics_port,
         "Prometheus /metrics port of sb-agent-state (a free one when --metrics-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--agent-state-arg", flags->agent_state_args,
                  "Extra argument for sb-agent-state, repeatable")
      ->allow_extra_args(false);
  cmd->add_option("--recording-port", flags->recording_port,
                  "gRPC port of sb-recording (recordings, reviews, feedback, the audit log; a "
                  "free one when --grpc-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--recording-metrics-port", flags->recording_metrics_port,
                  "Prometheus /metrics port of sb-recording (a free one when --metrics-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--recording-arg", flags->recording_args,
                  "Extra argument for sb-recording, repeatable, e.g. "
                  "--recording-arg=--record-queues=support")
      ->allow_extra_args(false);
  cmd->add_option("--insights-port", flags->insights_port,
                  "gRPC port of sb-insights (statistics, intervals, the forecast; a free one when "
                  "--grpc-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--insights-metrics-port", flags->insights_metrics_port,
                  "Prometheus /metrics port of sb-insights (a free one when --metrics-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--dashboard-port", flags->dashboard_port,
                  "HTTP port of the supervisor dashboard served by sb-insights (a free one when "
                  "--grpc-port is 0)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  cmd->add_option("--insights-arg", flags->insights_args,
                  "Extra argument for sb-insights, repeatable, e.g. "
                  "--insights-arg=--short-abandon-ms=3000")
      ->allow_extra_args(false);
  cmd->add_option("--demo-history-days", flags->demo_history_days,
                  "With --demo, fill this many past days of interval history with simulated "
                  "traffic (the routing engine in virtual time) so that the forecast has data; "
                  "0: none")
      ->check(CLI::Range(0, 366))
      ->capture_default_str();
  cmd->add_flag("!--no-open", flags->open_dashboard,
                "With --demo, do not open the dashboard in a browser (it is opened with "
                "xdg-open when a display is available; the address is printed either way)");
  cmd->add_option("--policy-arg", flags->policy_args,
                  "Extra argument for sb-policy, repeatable, e.g. --policy-arg=--reflection")
      ->allow_extra_args(false);
  cmd->footer(
      "Examples:\n"
      "  switchboard up --demo\n"
      "  switchboard up --config queues.yaml --tenant acme --grpc-port 0 --metrics-port 0\n"
      "  switchboard up --replicas 2 --partitions 8      # then --server 127.0.0.1:7070,"
      "127.0.0.1:7071\n"
      "  switchboard up --duration 30                    # stops by itself (scripts, tests)\n"
      "Binaries: sb-embedded-broker, sb-routing, sb-policy, sb-recording, sb-insights and "
      "sb-agent-state are looked up in $SB_BIN_DIR, next to this executable, in the build tree "
      "it came from, then on $PATH.\n"
      "Children's logs go to a temporary directory (printed); their stdout is read by up.\n"
      "Exit status: 0 after Ctrl-C, SIGTERM or --duration with everything stopped cleanly; 1 "
      "if something could not start, a child died, or the config was refused (the message says "
      "which; logs are kept); 2 bad usage.");
  cmd->callback([flags, exit_code] { *exit_code = RunUp(*flags); });
}

}  // namespace sb::cli
