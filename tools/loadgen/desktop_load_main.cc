// sb-desktop-load: N agent desktops on sb-agent-state's AgentDesktop.Connect stream (one gRPC
// callback reactor each, over a few HTTP/2 connections), calls enqueued at a fixed rate through
// sb-routing; reports the offer->desktop latency, the desktops' cost in sb-agent-state (RSS per
// connection, CPU) and every error. Either against running services (--routing, --agent-state,
// --tenant) or against its own embedded broker, sb-routing and sb-agent-state (--spawn).
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/process/child_process.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"
#include "loadgen/binaries.h"
#include "loadgen/desktop_client.h"
#include "loadgen/latency_histogram.h"
#include "loadgen/scheduler.h"
#include "switchboard/agent/v1/agent_state.grpc.pb.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::traffic {
namespace {

namespace av1 = ::switchboard::agent::v1;
namespace rv1 = ::switchboard::routing::v1;
using google::protobuf::util::TimeUtil;
using process::ChildProcess;
using process::SelfCpuSeconds;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted = true; }

struct Flags {
  bool spawn = false;
  std::string routing;
  std::string agent_state;
  std::string tenant;
  int agent_state_pid = 0;
  std::string log_dir;
  std::vector<std::string> agent_state_args;

  int desktops = 2000;
  int per_channel = 100;
  double rate = 50;
  double duration_s = 30;
  double warmup_s = 2;
  int hold_ms = 2000;
  int heartbeat_ms = 5000;
  double connect_timeout_s = 120;
  bool quiet = false;
};

constexpr char kQueue[] = "voice";

// --- /proc figures of a process (sb-agent-state) ------------------------------------------------

// VmRSS in KiB, or -1 when unreadable.
int64_t RssKb(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// User + system CPU seconds (fields 14 and 15 of /proc/PID/stat).
double ProcCpuSeconds(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  const std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  long long ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::atoll(field.c_str());
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Open file descriptors of a process (its sockets included), or -1.
int OpenFds(const std::string& pid) {
  std::error_code ec;
  int n = 0;
  for (auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/fd"), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

// --- shared state of the run --------------------------------------------------------------------

// One call this tool enqueued: interaction "<run>-<seq>".
struct Call {
  Clock::time_point sent{};
  bool in_window = false;
  bool enqueued = false;  // the Enqueue RPC succeeded
  bool offered = false;
  bool accepted = false;
  bool completed = false;
};

struct Counts {
  int64_t enqueued = 0;
  int64_t offered = 0;
  int64_t accepted = 0;
  int64_t completed = 0;
};

class Desktop;

// Everything the reactors, the scheduler and the pacing thread share. Counters are behind one
// mutex (the rates are tens of calls per second; heartbeats touch nothing here).
class Load {
 public:
  Load(const Flags& flags, std::string run_id, size_t max_calls)
      : flags_(flags), run_id_(std::move(run_id)), calls_(max_calls) {}

  const Flags& flags() const { return flags_; }
  Scheduler& scheduler() { return scheduler_; }
  bool stopping() const { return stopping_.load(); }
  void set_stopping() { stopping_ = true; }

  std::string InteractionId(size_t seq) const { return absl::StrCat(run_id_, "-", seq); }
  // The sequence number of one of our interactions, or nullopt for someone else's.
  std::optional<size_t> SeqOf(const std::string& interaction) const {
    if (interaction.size() <= run_id_.size() + 1 || interaction.rfind(run_id_, 0) != 0 ||
        interaction[run_id_.size()] != '-') {
      return std::nullopt;
    }
    char* end = nullptr;
    const unsigned long long seq =
        std::strtoull(interaction.c_str() + run_id_.size() + 1, &end, 10);
    if (end == nullptr || *end != '\0' || seq >= calls_.size()) return std::nullopt;
    return static_cast<size_t>(seq);
  }

  // --- desktops
  void OnConnected() {
    std::lock_guard<std::mutex> lock(mu_);
    if (++connected_ == flags_.desktops) all_connected_ = Clock::now();
  }
  void OnLoggedIn() {
    std::lock_guard<std::mutex> lock(mu_);
    if (++logged_in_ == flags_.desktops) all_logged_in_ = Clock::now();
  }
  void OnStreamEnded(const std::string& agent, const grpc::Status& status,
                     const std::string& goodbye) {
    std::lock_guard<std::mutex> lock(mu_);
    ++ended_;
    if (stopping_) return;
    ++stream_failures_;
    if (first_stream_failure_.empty()) {
      first_stream_failure_ = absl::StrCat(
          agent, ": ", status.ok() ? "OK" : absl::StrCat("code ", status.error_code()), " ",
          status.error_message(), goodbye.empty() ? "" : absl::StrCat(" (goodbye ", goodbye, ")"));
    }
  }
  void OnGoodbye(const std::string& agent, const std::string& reason) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    ++goodbyes_;
    if (first_goodbye_.empty()) first_goodbye_ = absl::StrCat(agent, ": ", reason);
  }
  // An offer on `agent`'s desktop; `event_time` is the routing event's wall-clock time.
  void OnOffer(const std::string& interaction, const google::protobuf::Timestamp& event_time,
               std::chrono::system_clock::time_point received_wall, Clock::time_point received) {
    const auto event_wall = std::chrono::system_clock::time_point(
        std::chrono::milliseconds(TimeUtil::TimestampToMilliseconds(event_time)));
    const auto latency =
        std::max(std::chrono::nanoseconds(0),
                 std::chrono::duration_cast<std::chrono::nanoseconds>(received_wall - event_wall));
    std::lock_guard<std::mutex> lock(mu_);
    ++offers_total_;
    const std::optional<size_t> seq = SeqOf(interaction);
    if (!seq.has_value() || calls_[*seq].offered) return;  // someone else's, or a re-offer
    Call& c = calls_[*seq];
    c.offered = true;
    ++run_.offered;
    if (!c.in_window) return;
    ++window_.offered;
    offer_to_desktop_.Record(latency);
    enqueue_to_desktop_.Record(received - c.sent);
  }
  void OnAck(const std::string& agent, const av1::Ack& ack) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ack.code() != 0) {
      ++ack_errors_;
      if (first_ack_error_.empty()) {
        first_ack_error_ = absl::StrCat(agent, " request ", ack.request_id(), ": code ", ack.code(),
                                        " ", ack.reason(), ": ", ack.message());
      }
      return;
    }
    // Request ids: "a/<interaction>" for AcceptOffer, "c/<interaction>" for Complete.
    const std::string& id = ack.request_id();
    if (id.size() < 3 || id[1] != '/' || (id[0] != 'a' && id[0] != 'c')) return;
    const std::optional<size_t> seq = SeqOf(id.substr(2));
    if (!seq.has_value()) return;
    Call& c = calls_[*seq];
    bool& flag = id[0] == 'a' ? c.accepted : c.completed;
    if (flag) return;
    flag = true;
    (id[0] == 'a' ? run_.accepted : run_.completed)++;
    if (c.in_window) (id[0] == 'a' ? window_.accepted : window_.completed)++;
  }

  // --- calls (pacing thread, gRPC callbacks)
  void OnSent(size_t seq, bool in_window) {
    std::lock_guard<std::mutex> lock(mu_);
    calls_[seq].sent = Clock::now();
    calls_[seq].in_window = in_window;
    ++in_flight_;
    ++sent_;
  }
  void OnEnqueued(size_t seq, const grpc::Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    --in_flight_;
    if (!s.ok()) {
      ++enqueue_errors_;
      if (first_enqueue_error_.empty()) {
        first_enqueue_error_ =
            absl::StrCat(InteractionId(seq), ": code ", s.error_code(), " ", s.error_message());
      }
      return;
    }
    calls_[seq].enqueued = true;
    ++run_.enqueued;
    if (calls_[seq].in_window) ++window_.enqueued;
  }
  size_t max_calls() const { return calls_.size(); }

  // True once every Enqueue answered and every call of the window enqueued has been offered
  // and completed (or was offered and the hold is still running: then false).
  bool Drained() {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_ > 0) return false;
    for (const Call& c : calls_) {
      if (c.enqueued && (!c.offered || !c.completed)) return false;
    }
    return true;
  }

  struct Snapshot {
    int connected = 0;
    int logged_in = 0;
    int ended = 0;
    Clock::time_point all_connected{};
    Clock::time_point all_logged_in{};
    int64_t sent = 0;
    int64_t offers_total = 0;
    Counts run;
    Counts window;
    LatencyHistogram offer_to_desktop;
    LatencyHistogram enqueue_to_desktop;
    int64_t stream_failures = 0;
    int64_t goodbyes = 0;
    int64_t ack_errors = 0;
    int64_t enqueue_errors = 0;
    std::string first_stream_failure, first_goodbye, first_ack_error, first_enqueue_error;
    // A goodbye ends its stream: it is counted as a stream failure, and also shown apart.
    int64_t errors() const { return stream_failures + ack_errors + enqueue_errors; }
  };
  Snapshot Get() {
    std::lock_guard<std::mutex> lock(mu_);
    Snapshot s;
    s.connected = connected_;
    s.logged_in = logged_in_;
    s.ended = ended_;
    s.all_connected = all_connected_;
    s.all_logged_in = all_logged_in_;
    s.sent = sent_;
    s.offers_total = offers_total_;
    s.run = run_;
    s.window = window_;
    s.offer_to_desktop = offer_to_desktop_;
    s.enqueue_to_desktop = enqueue_to_desktop_;
    s.stream_failures = stream_failures_;
    s.goodbyes = goodbyes_;
    s.ack_errors = ack_errors_;
    s.enqueue_errors = enqueue_errors_;
    s.first_stream_failure = first_stream_failure_;
    s.first_goodbye = first_goodbye_;
    s.first_ack_error = first_ack_error_;
    s.first_enqueue_error = first_enqueue_error_;
    return s;
  }

 private:
  const Flags& flags_;
  const std::string run_id_;
  Scheduler scheduler_;
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::vector<Call> calls_;
  int connected_ = 0;
  int logged_in_ = 0;
  int ended_ = 0;
  Clock::time_point all_connected_{};
  Clock::time_point all_logged_in_{};
  int64_t sent_ = 0;
  int64_t in_flight_ = 0;
  int64_t offers_total_ = 0;  // every offer, re-offers and other people's calls included
  Counts run_;
  Counts window_;
  LatencyHistogram offer_to_desktop_;
  LatencyHistogram enqueue_to_desktop_;
  int64_t stream_failures_ = 0;
  int64_t goodbyes_ = 0;
  int64_t ack_errors_ = 0;
  int64_t enqueue_errors_ = 0;
  std::string first_stream_failure_, first_goodbye_, first_ack_error_, first_enqueue_error_;
};

// --- one agent desktop ------------------------------------------------------------------------

// Desktop: one agent's DesktopStream and what it reacts with: log in on the first state, accept
// every offer, complete each assignment after the hold time. Read-side fields are touched only by
// the stream's (serialised) event callbacks.
class Desktop {
 public:
  Desktop(Load* load, const std::string& tenant, const std::string& agent)
      : load_(load),
        stream_(
            &load->scheduler(), tenant, agent,
            std::chrono::milliseconds(load->flags().heartbeat_ms),
            [this](DesktopStream& s, const av1::DesktopEvent& e) { OnEvent(s, e); },
            [this, agent](const grpc::Status& status, const std::string& goodbye) {
              load_->OnStreamEnded(agent, status, goodbye);
            }) {}

  void Start(av1::AgentDesktop::Stub* stub, Clock::duration first_heartbeat) {
    stream_.Start(stub, first_heartbeat);
  }
  void Close() { stream_.Close(); }
  void Cancel() { stream_.Cancel(); }
  bool done() const { return stream_.done(); }

 private:
  void OnEvent(DesktopStream& stream, const av1::DesktopEvent& event) {
    const auto received_wall = std::chrono::system_clock::now();
    const auto received = Clock::now();
    switch (event.body_case()) {
      case av1::DesktopEvent::kState:
        if (!got_state_) {
          got_state_ = true;
          load_->OnConnected();
          av1::DesktopRequest login;
          login.set_request_id("login");
          login.mutable_login()->set_presence(rv1::PRESENCE_AVAILABLE);
          stream.Send(std::move(login));
        }
        if (!logged_in_ && event.state().presence() == rv1::PRESENCE_AVAILABLE) {
          logged_in_ = true;
          load_->OnLoggedIn();
        }
        break;
      case av1::DesktopEvent::kOffer: {
        const av1::Offer& offer = event.offer();
        load_->OnOffer(offer.interaction_id(), event.time(), received_wall, received);
        av1::DesktopRequest accept;
        accept.set_request_id(absl::StrCat("a/", offer.interaction_id()));
        accept.mutable_accept_offer()->set_offer_id(offer.offer_id());
        stream.Send(std::move(accept));
        break;
      }
      case av1::DesktopEvent::kAssignment: {
        const std::string interaction = event.assignment().interaction_id();
        load_->scheduler().After(std::chrono::milliseconds(load_->flags().hold_ms),
                                 [this, interaction] {
                                   av1::DesktopRequest complete;
                                   complete.set_request_id(absl::StrCat("c/", interaction));
                                   complete.mutable_complete()->set_interaction_id(interaction);
                                   complete.mutable_complete()->set_disposition("load");
                                   stream_.Send(std::move(complete));
                                 });
        break;
      }
      case av1::DesktopEvent::kAck:
        load_->OnAck(stream.agent(), event.ack());
        break;
      case av1::DesktopEvent::kGoodbye:
        load_->OnGoodbye(stream.agent(), event.goodbye().reason());
        break;
      default:
        break;
    }
  }

  Load* const load_;
  DesktopStream stream_;
  bool got_state_ = false;  // event callbacks only
  bool logged_in_ = false;  // event callbacks only
};

// --- setup ------------------------------------------------------------------------------------

std::string AgentId(int i) { return fmt::format("desk{:05d}", i); }

rv1::ApplyConfigRequest LoadConfig(const std::string& tenant, int agents) {
  rv1::ApplyConfigRequest request;
  request.set_tenant_id(tenant);
  rv1::Queue* queue = request.add_queues();
  queue->set_queue_id(kQueue);
  queue->set_name("desktop load");
  queue->set_channel(rv1::CHANNEL_VOICE);
  queue->set_strategy(rv1::STRATEGY_LONGEST_IDLE);
  *queue->mutable_offer_timeout() = TimeUtil::SecondsToDuration(30);
  *queue->mutable_wrap_up() = TimeUtil::SecondsToDuration(0);
  for (int a = 0; a < agents; ++a) {
    rv1::AgentProfile* agent = request.add_agents();
    agent->set_agent_id(AgentId(a));
    agent->set_team("desktop-load");
    rv1::ChannelCapacity* cap = agent->add_capacity();
    cap->set_channel(rv1::CHANNEL_VOICE);
    cap->set_capacity(1);
  }
  return request;
}

// ApplyConfig, retried while sb-routing answers UNAVAILABLE (still taking its partitions).
absl::Status Apply(const std::string& server, const rv1::ApplyConfigRequest& request) {
  auto stub =
      rv1::ConfigService::NewStub(grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  grpc::Status last;
  while (Clock::now() < deadline && !g_interrupted) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(15));
    rv1::ApplyConfigResponse response;
    last = stub->ApplyConfig(&ctx, request, &response);
    if (last.ok()) return absl::OkStatus();
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE &&
        last.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // retry pacing
  }
  return absl::Status(static_cast<absl::StatusCode>(last.error_code()),
                      absl::StrCat("ApplyConfig: ", last.error_message()));
}

// Waits until sb-agent-state's projection knows all the agents (a desktop of an agent it does not
// know yet is refused: NO_SUCH_AGENT), from the supervisor's floor.
absl::Status WaitForAgents(const std::string& server, const std::string& tenant, int agents,
                           std::chrono::seconds timeout) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  auto stub = av1::Supervisor::NewStub(
      grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args));
  const auto deadline = Clock::now() + timeout;
  std::string last = "no floor yet";
  while (Clock::now() < deadline && !g_interrupted) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    av1::WatchFloorRequest req;
    req.set_tenant_id(tenant);
    req.mutable_principal()->set_subject("desktop-load");
    req.mutable_principal()->set_role("supervisor");
    auto reader = stub->WatchFloor(&ctx, req);
    av1::Floor floor;
    const bool got = reader->Read(&floor);
    ctx.TryCancel();
    const grpc::Status s = reader->Finish();
    if (got) {
      std::set<std::string> known;
      for (const av1::AgentState& a : floor.agents()) known.insert(a.agent_id());
      int have = 0;
      for (int i = 0; i < agents; ++i) have += known.contains(AgentId(i)) ? 1 : 0;
      if (have == agents) return absl::OkStatus();
      last = fmt::format("{} of {} agents known", have, agents);
    } else {
      last = absl::StrCat("WatchFloor: code ", s.error_code(), " ", s.error_message());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling the projection
  }
  return absl::DeadlineExceededError(absl::StrCat("sb-agent-state does not know the agents after ",
                                                  timeout.count(), " s (", last, ")"));
}

std::string Ms(const LatencyHistogram& h) {
  if (h.count() == 0) return "(no samples)";
  return fmt::format("p50 {:.1f} ms  p90 {:.1f} ms  p99 {:.1f} ms  max {:.1f} ms  (n={})",
                     h.PercentileMs(50), h.PercentileMs(90), h.PercentileMs(99), h.MaxMs(),
                     h.count());
}

std::string Kb(int64_t kb) {
  return kb < 0 ? "n/a" : fmt::format("{:.1f} MiB", static_cast<double>(kb) / 1024);
}

// --- the run ----------------------------------------------------------------------------------

int Run(Flags flags) {
  if (!flags.spawn &&
      (flags.routing.empty() || flags.agent_state.empty() || flags.tenant.empty())) {
    std::cerr << "sb-desktop-load: give --spawn, or --routing ADDR --agent-state ADDR --tenant T\n";
    return 2;
  }
  if (flags.tenant.empty()) flags.tenant = "desktop-load";
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  auto say = [&](const std::string& line) {
    if (!flags.quiet) std::cerr << "sb-desktop-load: " << line << "\n";
  };

  // --- services -------------------------------------------------------------------------------
  std::vector<std::unique_ptr<ChildProcess>> children;  // broker, sb-routing, sb-agent-state
  std::string log_dir = flags.log_dir;
  auto stop_children = [&] {
    bool clean = true;
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      const std::string how = (*it)->Terminate(std::chrono::seconds(10));
      if (how != "exit 0") {
        clean = false;
        std::cerr << fmt::format("sb-desktop-load: {} ended with {} (log: {})\n", (*it)->name(),
                                 how, (*it)->log_path());
      }
    }
    children.clear();
    return clean;
  };
  auto fail = [&](const absl::Status& s) {
    std::cerr << "sb-desktop-load: " << s.message() << "\n";
    if (!log_dir.empty()) std::cerr << "sb-desktop-load: service logs are in " << log_dir << "\n";
    stop_children();
    return 1;
  };
  int agent_state_pid = flags.agent_state_pid;
  if (flags.spawn) {
    if (log_dir.empty()) {
      std::string tmpl =
          (std::filesystem::temp_directory_path() / "sb-desktop-load-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) {
        std::cerr << "sb-desktop-load: mkdtemp failed\n";
        return 1;
      }
      log_dir = tmpl;
    } else {
      std::filesystem::create_directories(log_dir);
    }
    auto start = [&](const std::string& name, std::vector<std::string> argv) -> absl::Status {
      absl::StatusOr<std::unique_ptr<ChildProcess>> child =
          ChildProcess::Start(name, std::move(argv), absl::StrCat(log_dir, "/", name, ".log"));
      if (!child.ok()) return child.status();
      children.push_back(*std::move(child));
      return absl::OkStatus();
    };
    if (absl::Status s =
            start("sb-embedded-broker",
                  {BinaryPath("sb-embedded-broker", SB_EMBEDDED_BROKER_PATH), "--partitions", "4"});
        !s.ok()) {
      return fail(s);
    }
    absl::StatusOr<std::string> bootstrap =
        children[0]->WaitForLine("bootstrap=", std::chrono::seconds(60));
    if (!bootstrap.ok()) return fail(bootstrap.status());
    // sb-routing first: it creates the topics sb-agent-state reads.
    if (absl::Status s = start(
            "sb-routing", {BinaryPath("sb-routing", SB_ROUTING_PATH), "--bootstrap", *bootstrap,
                           "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"});
        !s.ok()) {
      return fail(s);
    }
    absl::StatusOr<std::string> routing =
        children[1]->WaitForLine("grpc=", std::chrono::seconds(30));
    if (!routing.ok()) return fail(routing.status());
    if (auto ready = children[1]->WaitForLine("ready", std::chrono::seconds(120)); !ready.ok()) {
      return fail(ready.status());
    }
    flags.routing = *routing;
    std::vector<std::string> argv = {BinaryPath("sb-agent-state", SB_AGENT_STATE_PATH),
                                     "--bootstrap",
                                     *bootstrap,
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--metrics-listen",
                                     "",
                                     "--log-level",
                                     "warn"};
    for (const std::string& a : flags.agent_state_args) argv.push_back(a);
    if (absl::Status s = start("sb-agent-state", std::move(argv)); !s.ok()) return fail(s);
    absl::StatusOr<std::string> agent_state =
        children[2]->WaitForLine("grpc=", std::chrono::seconds(30));
    if (!agent_state.ok()) return fail(agent_state.status());
    if (auto ready = children[2]->WaitForLine("ready", std::chrono::seconds(60)); !ready.ok()) {
      return fail(ready.status());
    }
    flags.agent_state = *agent_state;
    agent_state_pid = children[2]->pid();
    say(fmt::format("broker {}, sb-routing {}, sb-agent-state {} (pid {}); logs in {}", *bootstrap,
                    flags.routing, flags.agent_state, agent_state_pid, log_dir));
  }
  auto agent_state_cpu = [&]() -> double {
    if (flags.spawn) return children[2]->CpuSeconds();
    return agent_state_pid > 0 ? ProcCpuSeconds(agent_state_pid) : 0;
  };
  auto agent_state_rss = [&]() -> int64_t {
    return agent_state_pid > 0 ? RssKb(agent_state_pid) : -1;
  };

  // --- config ---------------------------------------------------------------------------------
  const auto setup_start = Clock::now();
  if (absl::Status s = Apply(flags.routing, LoadConfig(flags.tenant, flags.desktops)); !s.ok()) {
    return fail(s);
  }
  const double apply_s = std::chrono::duration<double>(Clock::now() - setup_start).count();
  if (absl::Status s =
          WaitForAgents(flags.agent_state, flags.tenant, flags.desktops, std::chrono::seconds(120));
      !s.ok()) {
    return fail(s);
  }
  say(fmt::format(
      "tenant {}: queue '{}' and {} agents applied in {:.1f} s, known to sb-agent-state {:.1f} s "
      "later",
      flags.tenant, kQueue, flags.desktops, apply_s,
      std::chrono::duration<double>(Clock::now() - setup_start).count() - apply_s));

  // --- desktops -------------------------------------------------------------------------------
  const int64_t rss_before = agent_state_rss();
  const int fds_before = flags.spawn ? OpenFds(std::to_string(agent_state_pid)) : -1;
  const std::string run_id =
      fmt::format("dl{:x}", std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());
  const size_t max_calls =
      static_cast<size_t>(std::ceil(flags.rate * (flags.warmup_s + flags.duration_s))) + 16;
  auto load = std::make_unique<Load>(flags, run_id, max_calls);

  const int channels_n = (flags.desktops + flags.per_channel - 1) / flags.per_channel;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<av1::AgentDesktop::Stub>> stubs;
  for (int k = 0; k < channels_n; ++k) {
    // Distinct args: its own subchannel, so its own HTTP/2 connection.
    grpc::ChannelArguments args;
    args.SetInt("sb-desktop-load-channel", k);
    channels.push_back(
        grpc::CreateCustomChannel(flags.agent_state, grpc::InsecureChannelCredentials(), args));
    stubs.push_back(av1::AgentDesktop::NewStub(channels.back()));
  }
  std::vector<std::unique_ptr<Desktop>> desktops;
  desktops.reserve(static_cast<size_t>(flags.desktops));
  const auto connect_start = Clock::now();
  for (int i = 0; i < flags.desktops; ++i) {
    desktops.push_back(std::make_unique<Desktop>(load.get(), flags.tenant, AgentId(i)));
    // Heartbeats spread over the period, so they do not all come at once.
    const auto phase =
        std::chrono::milliseconds(static_cast<int64_t>(flags.heartbeat_ms) * (i % 1000) / 1000 + 1);
    desktops.back()->Start(stubs[static_cast<size_t>(i / flags.per_channel)].get(), phase);
  }
  const auto connect_deadline =
      connect_start + std::chrono::duration_cast<Clock::duration>(
                          std::chrono::duration<double>(flags.connect_timeout_s));
  Load::Snapshot snap;
  for (auto next = Clock::now() + std::chrono::seconds(1);; next += std::chrono::seconds(1)) {
    while (Clock::now() < next) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the counters
      snap = load->Get();
      if (snap.logged_in + snap.ended >= flags.desktops || g_interrupted) break;
    }
    if (snap.logged_in + snap.ended >= flags.desktops || g_interrupted ||
        Clock::now() >= connect_deadline) {
      break;
    }
    say(fmt::format("{:.0f} s: {} of {} desktops connected, {} logged in, {} ended",
                    std::chrono::duration<double>(Clock::now() - connect_start).count(),
                    snap.connected, flags.desktops, snap.logged_in, snap.ended));
  }
  const bool all_in = snap.logged_in == flags.desktops;
  const double connect_s =
      snap.connected == flags.desktops
          ? std::chrono::duration<double>(snap.all_connected - connect_start).count()
          : std::nan("");
  const double login_s =
      all_in ? std::chrono::duration<double>(snap.all_logged_in - connect_start).count()
             : std::nan("");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let the allocator settle
  const int64_t rss_after = agent_state_rss();
  const int fds_after = flags.spawn ? OpenFds(std::to_string(agent_state_pid)) : -1;
  const int own_fds = OpenFds("self");
  std::cout << fmt::format(
                   "desktops: {} of {} connected (Hello -> state) in {:.2f} s, {} logged in "
                   "(state AVAILABLE) in {:.2f} s, over {} channels ({} desktops each); "
                   "sb-desktop-load has {} fds open",
                   snap.connected, flags.desktops, connect_s, snap.logged_in, login_s, channels_n,
                   flags.per_channel, own_fds)
            << std::endl;
  const double rss_per_desktop_kb =
      rss_before >= 0 && rss_after >= 0
          ? static_cast<double>(rss_after - rss_before) / flags.desktops
          : std::nan("");

  // --- calls ----------------------------------------------------------------------------------
  double window_s = 0;
  double cpu_s = 0;
  double self_cpu_s = 0;
  int64_t rss_end = -1;
  bool drained = false;
  double drain_s = 0;
  if (all_in && !g_interrupted) {
    auto interactions = rv1::InteractionService::NewStub(
        grpc::CreateChannel(flags.routing, grpc::InsecureChannelCredentials()));
    const auto t0 = Clock::now() + std::chrono::milliseconds(100);
    const auto to_clock = [](double s) {
      return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    const auto window_start = t0 + to_clock(flags.warmup_s);
    const auto window_end = window_start + to_clock(flags.duration_s);
    std::atomic<bool> stop_pacing{false};
    std::thread pacing([&] {
      for (size_t seq = 0; seq < load->max_calls() && !stop_pacing; ++seq) {
        const auto due = t0 + to_clock(static_cast<double>(seq) / flags.rate);
        if (due >= window_end) break;
        while (Clock::now() < due && !stop_pacing) {
          std::this_thread::sleep_for(
              std::min<Clock::duration>(std::chrono::milliseconds(50), due - Clock::now()));
        }
        if (stop_pacing) break;
        struct Rpc {
          grpc::ClientContext ctx;
          rv1::EnqueueRequest req;
          rv1::EnqueueResponse resp;
        };
        auto* rpc = new Rpc;
        rpc->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        rpc->req.set_tenant_id(flags.tenant);
        rpc->req.mutable_enqueue()->set_interaction_id(load->InteractionId(seq));
        rpc->req.mutable_enqueue()->set_queue_id(kQueue);
        rpc->req.mutable_enqueue()->set_channel(rv1::CHANNEL_VOICE);
        load->OnSent(seq, due >= window_start);
        interactions->async()->Enqueue(&rpc->ctx, &rpc->req, &rpc->resp,
                                       [l = load.get(), rpc, seq](grpc::Status s) {
                                         l->OnEnqueued(seq, s);
                                         delete rpc;
                                       });
      }
    });
    auto sleep_until = [](Clock::time_point t) {
      while (!g_interrupted && Clock::now() < t) {
        std::this_thread::sleep_for(
            std::min<Clock::duration>(std::chrono::milliseconds(50), t - Clock::now()));
      }
    };
    say(fmt::format("calls at {}/s: {} s warm-up, then {} s measured", flags.rate, flags.warmup_s,
                    flags.duration_s));
    Load::Snapshot prev = load->Get();
    auto progress = [&](const std::string& what) {
      if (flags.quiet) return;
      const Load::Snapshot s = load->Get();
      std::cerr << fmt::format(
          "sb-desktop-load: {:<8} sent/s={:<4} offers/s={:<4} completed/s={:<4} offer->desktop "
          "p50={:.1f} ms p99={:.1f} ms errors={}\n",
          what, s.sent - prev.sent, s.run.offered - prev.run.offered,
          s.run.completed - prev.run.completed, s.offer_to_desktop.PercentileMs(50),
          s.offer_to_desktop.PercentileMs(99), s.errors());
      prev = s;
    };
    int sec = 0;
    for (auto t = t0 + std::chrono::seconds(1); t <= window_start; t += std::chrono::seconds(1)) {
      sleep_until(t);
      progress(fmt::format("w{}s", ++sec));
    }
    sleep_until(window_start);
    const double cpu0 = agent_state_cpu();
    const double self0 = SelfCpuSeconds();
    sec = 0;
    for (auto t = window_start + std::chrono::seconds(1);; t += std::chrono::seconds(1)) {
      sleep_until(std::min(t, window_end));
      if (g_interrupted) break;
      progress(fmt::format("t={}s", ++sec));
      if (t >= window_end) break;
    }
    window_s = std::chrono::duration<double>(Clock::now() - window_start).count();
    cpu_s = agent_state_cpu() - cpu0;
    self_cpu_s = SelfCpuSeconds() - self0;
    rss_end = agent_state_rss();
    stop_pacing = true;
    pacing.join();
    // Drain: offers for the last calls, their holds and Completes.
    const auto drain_start = Clock::now();
    const auto drain_deadline =
        drain_start + std::chrono::milliseconds(flags.hold_ms) + std::chrono::seconds(15);
    while (!g_interrupted && Clock::now() < drain_deadline && !(drained = load->Drained())) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the counters
    }
    drain_s = std::chrono::duration<double>(Clock::now() - drain_start).count();
  }

  // --- stop -----------------------------------------------------------------------------------
  const Load::Snapshot r = load->Get();  // before the desktops close: closing is no error
  load->set_stopping();
  load->scheduler().Stop();
  for (auto& d : desktops) d->Close();
  auto wait_done = [&](std::chrono::seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (std::all_of(desktops.begin(), desktops.end(), [](const auto& d) { return d->done(); })) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the reactors
    }
    return false;
  };
  if (!wait_done(std::chrono::seconds(15))) {
    std::cerr << "sb-desktop-load: some streams did not end 15 s after the half-close; "
                 "cancelling them\n";
    for (auto& d : desktops) d->Cancel();
    if (!wait_done(std::chrono::seconds(15))) {
      std::cerr << "sb-desktop-load: streams still open after cancelling; exiting anyway\n";
      stop_children();
      std::_Exit(1);  // the reactors cannot be destroyed while gRPC holds them
    }
  }
  desktops.clear();
  stubs.clear();
  channels.clear();

  // --- report ---------------------------------------------------------------------------------
  const LatencyHistogram& h = r.offer_to_desktop;
  const double cpu_pct = window_s > 0 ? 100 * cpu_s / window_s : std::nan("");
  const bool have_pid = agent_state_pid > 0;
  std::cout << fmt::format(
      "window {:.1f} s: {} calls enqueued ({:.1f}/s, asked {}/s); of those, offers received {}, "
      "accepted {}, completed {} (drained {} in {:.1f} s)\n",
      window_s, r.window.enqueued, window_s > 0 ? r.window.enqueued / window_s : 0.0, flags.rate,
      r.window.offered, r.window.accepted, r.window.completed, drained ? "fully" : "NOT fully",
      drain_s);
  std::cout << "offer->desktop:   " << Ms(h)
            << "  [routing event time (wall clock, ms) to receipt by the desktop]\n";
  std::cout << "enqueue->desktop: " << Ms(r.enqueue_to_desktop)
            << "  [before the Enqueue RPC to receipt, steady clock]\n";
  std::cout << fmt::format(
      "whole run (warm-up included): {} enqueued, {} offered, {} accepted, {} completed; {} offer "
      "events in all\n",
      r.run.enqueued, r.run.offered, r.run.accepted, r.run.completed, r.offers_total);
  std::cout << fmt::format(
      "errors: {} (streams ended early {}, {} of them with a goodbye; acks with code != 0 {}; "
      "Enqueue failures {})\n",
      r.errors(), r.stream_failures, r.goodbyes, r.ack_errors, r.enqueue_errors);
  for (const std::string* first :
       {&r.first_stream_failure, &r.first_goodbye, &r.first_ack_error, &r.first_enqueue_error}) {
    if (!first->empty()) std::cout << "  first: " << *first << "\n";
  }
  if (have_pid) {
    std::cout << fmt::format(
        "sb-agent-state: RSS {} before the desktops, {} with {} connected = {:.1f} KiB per "
        "desktop; {} at the end of the window; CPU {:.2f} s over the window = {:.1f}% of a "
        "core{}\n",
        Kb(rss_before), Kb(rss_after), snap.connected, rss_per_desktop_kb, Kb(rss_end), cpu_s,
        cpu_pct,
        fds_before >= 0 ? fmt::format("; fds {} -> {}", fds_before, fds_after) : std::string());
  } else {
    std::cout << "sb-agent-state: RSS and CPU not measured (give --agent-state-pid)\n";
  }
  std::cout << fmt::format(
      "sb-desktop-load itself: {:.2f} CPU-s over the window ({:.1f}% of a "
      "core); scheduler max lateness {:.1f} ms\n",
      self_cpu_s, window_s > 0 ? 100 * self_cpu_s / window_s : 0.0,
      std::chrono::duration<double, std::milli>(load->scheduler().max_lateness()).count());
  std::cout << fmt::format(
                   "RESULT desktops={} rate={} p50_ms={:.2f} p99_ms={:.2f} rss_per_desktop_kb={} "
                   "errors={} connected={} connect_s={:.2f} enqueued={} offered={} p90_ms={:.2f} "
                   "max_ms={:.2f} cpu_pct={}",
                   flags.desktops, flags.rate, h.PercentileMs(50), h.PercentileMs(99),
                   have_pid ? fmt::format("{:.1f}", rss_per_desktop_kb) : "na", r.errors(),
                   snap.connected, connect_s, r.window.enqueued, r.window.offered,
                   h.PercentileMs(90), h.MaxMs(), have_pid ? fmt::format("{:.1f}", cpu_pct) : "na")
            << std::endl;

  const bool clean = stop_children();
  int rc = 0;
  if (g_interrupted) {
    rc = 130;
  } else if (!all_in) {
    std::cerr << fmt::format(
        "sb-desktop-load: FAIL: only {} of {} desktops logged in within {} s\n", snap.logged_in,
        flags.desktops, flags.connect_timeout_s);
    rc = 1;
  } else {
    if (r.errors() > 0) {
      std::cerr << fmt::format("sb-desktop-load: FAIL: {} errors\n", r.errors());
      rc = 1;
    }
    if (r.window.enqueued == 0 ||
        static_cast<double>(r.window.offered) < 0.9 * static_cast<double>(r.window.enqueued)) {
      std::cerr << fmt::format(
          "sb-desktop-load: FAIL: offers received for {} of the {} calls enqueued in the window "
          "(< 90%)\n",
          r.window.offered, r.window.enqueued);
      rc = 1;
    }
  }
  if (rc != 0 && !log_dir.empty()) {
    std::cerr << "sb-desktop-load: service logs are in " << log_dir << "\n";
  }
  // A log directory of our own making goes away after a clean run; --log-dir ones stay.
  if (flags.spawn && flags.log_dir.empty() && clean && rc == 0) {
    std::error_code ec;
    std::filesystem::remove_all(log_dir, ec);
  }
  return rc;
}

}  // namespace
}  // namespace sb::traffic

int main(int argc, char** argv) {
  sb::traffic::Flags f;
  CLI::App app{
      "sb-desktop-load: opens N agent desktops on sb-agent-state (AgentDesktop.Connect, one "
      "callback reactor per desktop over a few HTTP/2 connections), logs them in, enqueues calls "
      "at a fixed rate through sb-routing, and has each desktop accept its offers and complete "
      "its calls after a hold time. Reports the offer->desktop latency, the connect time, "
      "sb-agent-state's RSS per connected desktop and CPU, and every error.",
      "sb-desktop-load"};
  auto* spawn = app.add_flag(
      "--spawn", f.spawn,
      "Start an sb-embedded-broker, sb-routing and sb-agent-state on loopback, and stop them at "
      "the end");
  auto* routing = app.add_option("--routing", f.routing, "A running sb-routing's gRPC address");
  auto* agent_state =
      app.add_option("--agent-state", f.agent_state, "A running sb-agent-state's gRPC address");
  app.add_option(
      "--tenant", f.tenant,
      "Tenant the load's queue and agents are applied to (default with --spawn: desktop-load)");
  auto* pid = app.add_option("--agent-state-pid", f.agent_state_pid,
                             "With --agent-state: its pid on this machine, to report its RSS "
                             "and CPU");
  spawn->excludes(routing)->excludes(agent_state)->excludes(pid);
  app.add_option("--agent-state-arg", f.agent_state_args,
                 "Extra argument for the spawned sb-agent-state (repeatable), e.g. "
                 "--agent-state-arg=--kafka=fetch.wait.max.ms=10")
      ->excludes(routing);
  app.add_option("--log-dir", f.log_dir,
                 "Where spawned services write their stderr (default: a new "
                 "/tmp/sb-desktop-load-* dir, removed after a clean run)");
  app.add_option("--desktops", f.desktops, "Desktop streams (one agent each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--desktops-per-channel", f.per_channel,
                 "Desktops sharing one gRPC channel (one HTTP/2 connection)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--rate", f.rate, "Calls enqueued per second (evenly spaced)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 100000.0));
  app.add_option("--duration", f.duration_s, "Measured seconds")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 86400.0));
  app.add_option("--warmup", f.warmup_s, "Seconds of calls before measuring")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--hold-ms", f.hold_ms, "How long a desktop keeps a call before Complete")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
  app.add_option("--heartbeat-ms", f.heartbeat_ms,
                 "Heartbeat period of each desktop (sb-agent-state's grace is 15 s by default)")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.add_option("--connect-timeout", f.connect_timeout_s,
                 "Seconds for every desktop to connect and log in")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 3600.0));
  app.add_flag("--quiet", f.quiet, "No progress lines on stderr");
  app.footer(
      "Examples:\n"
      "  sb-desktop-load --spawn --desktops 2000 --rate 50 --duration 20\n"
      "  sb-desktop-load --spawn --desktops 200 --rate 20 --duration 5 --warmup 1 --quiet   "
      "(smoke)\n"
      "  sb-desktop-load --routing 127.0.0.1:7070 --agent-state 127.0.0.1:7090 --tenant dl-1 \\\n"
      "      --agent-state-pid $(pgrep -n sb-agent-state) --desktops 500\n"
      "\n"
      "The agents are desk00000.. in one voice queue 'voice' (offer timeout 30 s, no wrap-up), "
      "capacity voice 1, applied with ConfigService.ApplyConfig (in connect mode too: use a "
      "disposable tenant; the agents stay logged in afterwards).\n"
      "Spawned binaries: from this build tree, or from $SB_BIN_DIR if set.\n"
      "Output: progress on stderr; the report on stdout, ending with one line\n"
      "  RESULT desktops=N rate=R p50_ms=.. p99_ms=.. rss_per_desktop_kb=.. errors=N "
      "connected=N connect_s=.. enqueued=N offered=N p90_ms=.. max_ms=.. cpu_pct=..\n"
      "Exit status: 0 done; 1 setup failed, errors (stream failures, goodbyes, Acks with a "
      "non-zero code, failed Enqueues), or offers for < 90% of the calls enqueued in the window; "
      "2 bad flags; 130 interrupted.");
  CLI11_PARSE(app, argc, argv);
  return sb::traffic::Run(f);
}
