// sb-load: drives interactions through the real routing service at a fixed rate and reports the
// throughput routed end to end and the enqueue->offer latency (docs/performance.md, "End to end").
// Either against running services (--server, --bootstrap) or against its own embedded broker and
// 1-2 sb-routing replicas (--spawn-replicas).
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/process/child_process.h"
#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"
#include "loadgen/binaries.h"
#include "loadgen/traffic.h"
#include "routing/client/routing_client.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::traffic {
namespace {

namespace v1 = ::switchboard::routing::v1;
using process::ChildProcess;
using process::MachineBusyCpuSeconds;
using process::SelfCpuSeconds;
using Clock = std::chrono::steady_clock;

std::atomic<bool> g_interrupted{false};
void OnSignal(int) { g_interrupted = true; }

struct Flags {
  std::vector<std::string> servers;
  std::string bootstrap;
  int spawn_replicas = 0;
  int partitions = 2;
  std::vector<std::string> routing_args;
  std::string log_dir;

  double rate = 500;
  double duration_s = 20;
  double warmup_s = 8;
  double drain_s = 10;
  int tenants = 8;
  int queues_per_tenant = 4;
  int agents_per_tenant = 0;  // 0 = sized from rate and handle time
  double handle_ms = 500;
  double patience_s = 0;
  bool even = false;
  uint64_t seed = 0;
  std::string tenant_prefix = "load";
  std::vector<std::string> kafka;
  bool check = false;
  bool quiet = false;
};

// Where sibling binaries are: $SB_BIN_DIR/<name> if set, else the path CMake compiled in.
// `count` tenant ids "<prefix>-<k>", spread round-robin over the partitions (murmur2, as the
// routing client places them), so the load spreads over partitions and replicas.
std::vector<std::string> PickTenants(const std::string& prefix, int count, int32_t partitions) {
  std::vector<std::string> tenants;
  std::set<std::string> used;
  for (int i = 0; i < count; ++i) {
    const int32_t want = i % partitions;
    for (int k = 0;; ++k) {
      std::string t = absl::StrCat(prefix, "-", k);
      if (used.contains(t) || routing::PartitionForTenant(t, partitions) != want) continue;
      used.insert(t);
      tenants.push_back(std::move(t));
      break;
    }
  }
  return tenants;
}

v1::ApplyConfigRequest LoadConfig(const std::string& tenant, int queues, int agents) {
  v1::ApplyConfigRequest request;
  request.set_tenant_id(tenant);
  for (int q = 0; q < queues; ++q) {
    v1::Queue* queue = request.add_queues();
    queue->set_queue_id(absl::StrCat("q", q));
    queue->set_name(absl::StrCat("load queue ", q));
    queue->set_channel(v1::CHANNEL_VOICE);
    queue->set_strategy(v1::STRATEGY_LONGEST_IDLE);
    *queue->mutable_offer_timeout() = google::protobuf::util::TimeUtil::SecondsToDuration(15);
  }
  for (int a = 0; a < agents; ++a) {
    v1::AgentProfile* agent = request.add_agents();
    agent->set_agent_id(fmt::format("a{:05d}", a));
    agent->set_team("load");
  }
  return request;
}

// ApplyConfig, retried while the service answers UNAVAILABLE (a replica still starting).
absl::Status Apply(const std::vector<std::string>& servers, const v1::ApplyConfigRequest& request) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  grpc::Status last;
  for (size_t attempt = 0; Clock::now() < deadline && !g_interrupted; ++attempt) {
    auto channel =
        grpc::CreateChannel(servers[attempt % servers.size()], grpc::InsecureChannelCredentials());
    auto stub = v1::ConfigService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ApplyConfigResponse response;
    last = stub->ApplyConfig(&ctx, request, &response);
    if (last.ok()) return absl::OkStatus();
    if (last.error_code() != grpc::StatusCode::UNAVAILABLE &&
        last.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return absl::Status(
      static_cast<absl::StatusCode>(last.error_code()),
      absl::StrCat("ApplyConfig for tenant ", request.tenant_id(), ": ", last.error_message()));
}

std::string Ms(const LatencyHistogram& h) {
  if (h.count() == 0) return "(no samples)";
  return fmt::format("p50 {:.1f} ms  p90 {:.1f} ms  p99 {:.1f} ms  max {:.1f} ms  (n={})",
                     h.PercentileMs(50), h.PercentileMs(90), h.PercentileMs(99), h.MaxMs(),
                     h.count());
}

int64_t ErrorCount(const TrafficStats& s) {
  int64_t n = 0;
  for (const auto& [what, count] : s.errors_by_code) n += count;
  return n;
}

// The processes whose CPU time the report breaks down.
struct CpuProbe {
  std::vector<ChildProcess*> children;
  std::vector<double> Sample() const {
    std::vector<double> v;
    for (const ChildProcess* c : children) v.push_back(c->CpuSeconds());
    v.push_back(SelfCpuSeconds());
    v.push_back(MachineBusyCpuSeconds());
    return v;
  }
};

int Run(const Flags& flags) {
  const bool spawn = flags.spawn_replicas > 0;
  if (!spawn && (flags.servers.empty() || flags.bootstrap.empty())) {
    std::cerr << "sb-load: give --server and --bootstrap, or --spawn-replicas N\n";
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);

  // --- services -------------------------------------------------------------------------------
  std::vector<std::unique_ptr<ChildProcess>> children;  // broker first
  std::vector<std::string> servers = flags.servers;
  std::string bootstrap = flags.bootstrap;
  std::string log_dir = flags.log_dir;
  auto fail = [&](const absl::Status& s) {
    std::cerr << "sb-load: " << s.message() << "\n";
    if (!log_dir.empty()) std::cerr << "sb-load: service logs are in " << log_dir << "\n";
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      (*it)->Terminate(std::chrono::seconds(5));
    }
    return 1;
  };
  if (spawn) {
    if (log_dir.empty()) {
      std::string tmpl = (std::filesystem::temp_directory_path() / "sb-load-XXXXXX").string();
      if (mkdtemp(tmpl.data()) == nullptr) {
        std::cerr << "sb-load: mkdtemp failed\n";
        return 1;
      }
      log_dir = tmpl;
    } else {
      std::filesystem::create_directories(log_dir);
    }
    const std::string broker_bin = BinaryPath("sb-embedded-broker", SB_EMBEDDED_BROKER_PATH);
    const std::string routing_bin = BinaryPath("sb-routing", SB_ROUTING_PATH);
    if (routing_bin.empty()) {
      return fail(absl::NotFoundError(
          "sb-routing was not a CMake target when sb-load was configured: re-run cmake, or set "
          "SB_BIN_DIR to the directory holding sb-routing and sb-embedded-broker"));
    }
    absl::StatusOr<std::unique_ptr<ChildProcess>> broker = ChildProcess::Start(
        "sb-embedded-broker", {broker_bin, "--partitions", std::to_string(flags.partitions)},
        log_dir + "/sb-embedded-broker.log");
    if (!broker.ok()) return fail(broker.status());
    children.push_back(*std::move(broker));
    absl::StatusOr<std::string> bs =
        children.back()->WaitForLine("bootstrap=", std::chrono::seconds(60));
    if (!bs.ok()) return fail(bs.status());
    bootstrap = *bs;
    for (int r = 1; r <= flags.spawn_replicas; ++r) {
      std::vector<std::string> argv = {routing_bin,   "--bootstrap",      bootstrap,    "--listen",
                                       "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"};
      for (const std::string& a : flags.routing_args) argv.push_back(a);
      absl::StatusOr<std::unique_ptr<ChildProcess>> routing = ChildProcess::Start(
          absl::StrCat("sb-routing#", r), argv, fmt::format("{}/sb-routing-{}.log", log_dir, r));
      if (!routing.ok()) return fail(routing.status());
      children.push_back(*std::move(routing));
    }
    for (size_t i = 1; i < children.size(); ++i) {
      absl::StatusOr<std::string> grpc_addr =
          children[i]->WaitForLine("grpc=", std::chrono::seconds(30));
      if (!grpc_addr.ok()) return fail(grpc_addr.status());
      servers.push_back(*grpc_addr);
    }
    for (size_t i = 1; i < children.size(); ++i) {
      absl::StatusOr<std::string> ready =
          children[i]->WaitForLine("ready", std::chrono::seconds(120));
      if (!ready.ok()) return fail(ready.status());
    }
    std::cerr << fmt::format("sb-load: broker {} ({} partitions), sb-routing at {}; logs in {}\n",
                             bootstrap, flags.partitions, absl::StrJoin(servers, ", "), log_dir);
  }

  // --- config ---------------------------------------------------------------------------------
  int32_t partitions = 0;
  {
    routing::RoutingClientOptions co;
    co.kafka.bootstrap_servers = bootstrap;
    absl::StatusOr<std::unique_ptr<routing::RoutingClient>> client =
        routing::RoutingClient::Create(co);
    if (!client.ok()) return fail(client.status());
    partitions = (*client)->partition_count();
  }
  const std::vector<std::string> tenants =
      PickTenants(flags.tenant_prefix, flags.tenants, partitions);
  const double handle_s = flags.handle_ms / 1000.0;
  // Agents are never the bottleneck: twice the mean number busy (rate x time per call), plus
  // slack for the exponential tail and the offer/accept round trip.
  const int agents_per_tenant =
      flags.agents_per_tenant > 0
          ? flags.agents_per_tenant
          : static_cast<int>(std::ceil(flags.rate / flags.tenants * (handle_s + 0.5) * 2)) + 10;
  DriverOptions d;
  d.grpc_targets = servers;
  d.bootstrap = bootstrap;
  for (const std::string& kv : flags.kafka) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    d.kafka_overrides.push_back(std::move(p));
  }
  for (const std::string& t : tenants) {
    const v1::ApplyConfigRequest request =
        LoadConfig(t, flags.queues_per_tenant, agents_per_tenant);
    if (absl::Status s = Apply(servers, request); !s.ok()) return fail(s);
    for (const v1::Queue& q : request.queues()) d.queues.push_back({t, q.queue_id()});
    for (const v1::AgentProfile& a : request.agents()) d.agents.push_back({t, a.agent_id()});
  }
  d.calls_per_second = flags.rate;
  d.poisson_arrivals = !flags.even;
  d.mean_handle_seconds = handle_s;
  d.mean_patience_seconds = flags.patience_s;
  d.seed = flags.seed;

  absl::StatusOr<std::unique_ptr<TrafficDriver>> driver = TrafficDriver::Create(d);
  if (!driver.ok()) return fail(driver.status());
  TrafficDriver& drv = **driver;
  if (absl::Status s = drv.LoginAgents(std::chrono::seconds(60)); !s.ok()) return fail(s);
  const int replicas = spawn ? flags.spawn_replicas : static_cast<int>(servers.size());
  std::cout << fmt::format(
                   "sb-load: {} replica(s), {} partitions; {} tenants x {} queues, {} agents "
                   "logged in; {} arrivals at {}/s for {} s (+{} s warm-up), handle ~{} ms, "
                   "patience {}; seed {}",
                   replicas, partitions, tenants.size(), flags.queues_per_tenant, d.agents.size(),
                   flags.even ? "evenly spaced" : "Poisson", flags.rate, flags.duration_s,
                   flags.warmup_s, flags.handle_ms,
                   flags.patience_s > 0 ? fmt::format("~{} s", flags.patience_s) : "none",
                   drv.seed())
            << std::endl;

  // --- run --------------------------------------------------------------------------------
  CpuProbe probe;
  for (auto& c : children) probe.children.push_back(c.get());
  drv.StartCalls();
  auto sleep_until = [](Clock::time_point t) {
    while (!g_interrupted && Clock::now() < t) {
      std::this_thread::sleep_for(
          std::min<Clock::duration>(std::chrono::milliseconds(50), t - Clock::now()));
    }
  };
  sleep_until(Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(flags.warmup_s)));
  drv.ResetStats();
  const Clock::time_point start = Clock::now();
  const std::vector<double> cpu0 = probe.Sample();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(flags.duration_s));
  TrafficStats prev;
  for (int sec = 1; !g_interrupted; ++sec) {
    const Clock::time_point tick = std::min(end, start + std::chrono::seconds(sec));
    sleep_until(tick);
    if (!flags.quiet) {
      const TrafficStats s = drv.Stats();
      std::cerr << fmt::format("t={:>3}s  sent/s={:<6} offered/s={:<6} ", sec,
                               s.enqueue_sent - prev.enqueue_sent, s.offered - prev.offered)
                << SummaryLine(s) << "\n";
      prev = s;
    }
    if (tick >= end) break;
  }
  const double window_s = std::chrono::duration<double>(Clock::now() - start).count();
  const TrafficStats window = drv.Stats();
  const std::vector<double> cpu1 = probe.Sample();
  drv.StopCalls();
  const bool idle = drv.WaitIdle(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(flags.drain_s)));
  const TrafficStats final_stats = drv.Stats();
  driver->reset();

  // --- report -----------------------------------------------------------------------------
  const double offered_per_s = window_s > 0 ? static_cast<double>(window.offered) / window_s : 0;
  const LatencyHistogram& h = final_stats.enqueue_to_offer;
  const int64_t errors = ErrorCount(final_stats);
  const int64_t unrouted = final_stats.waiting;
  std::cout << fmt::format(
      "throughput: {} offered in {:.1f} s = {:.1f} interactions/s routed end to end (asked "
      "{}/s; {} enqueued, {:.1f}/s)\n",
      window.offered, window_s, offered_per_s, flags.rate, window.enqueued,
      window.enqueued / std::max(window_s, 1e-9));
  std::cout << "enqueue->offer:   " << Ms(h) << "\n";
  std::cout << "  Enqueue RPC:    " << Ms(final_stats.enqueue_rpc) << "\n";
  std::cout << "  command->event: " << Ms(final_stats.command_to_event)
            << "  [sb-routing: command time to event produced; wall clock, 1 ms resolution]\n";
  std::cout << "  event->sb-load: " << Ms(final_stats.event_to_driver) << "\n";
  std::cout << fmt::format(
      "after the run (drained {}): offered {} of {} enqueued, {} still waiting, {} completed, "
      "{} abandoned, {} other ends; agents accepted {}, offer timeouts {}\n",
      idle ? "fully" : fmt::format("for {} s, NOT idle", flags.drain_s), final_stats.offered,
      final_stats.enqueued, unrouted, final_stats.completed, final_stats.abandoned,
      final_stats.other_ended, final_stats.accepted, final_stats.offer_timeouts);
  std::cout << "errors: "
            << (errors == 0
                    ? "none"
                    : absl::StrJoin(final_stats.errors_by_code, ", ", absl::PairFormatter("=")))
            << "\n";
  for (const auto& [what, message] : final_stats.error_examples) {
    std::cout << "  first " << what << ": " << message << "\n";
  }
  std::cout << "rejected commands: "
            << (final_stats.rejected == 0
                    ? "none"
                    : absl::StrJoin(final_stats.rejected_by_reason, ", ", absl::PairFormatter("=")))
            << "\n";
  double other_cpu_pct = 0;
  {
    std::vector<std::string> parts;
    for (size_t i = 0; i < probe.children.size(); ++i) {
      parts.push_back(fmt::format("{} {:.0f}%", probe.children[i]->name(),
                                  100 * (cpu1[i] - cpu0[i]) / window_s));
    }
    const size_t self = probe.children.size();
    double ours = 0;
    for (size_t i = 0; i <= self; ++i) ours += cpu1[i] - cpu0[i];
    parts.push_back(fmt::format("sb-load {:.0f}%", 100 * (cpu1[self] - cpu0[self]) / window_s));
    const double machine = cpu1[self + 1] - cpu0[self + 1];
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    other_cpu_pct = 100 * std::max(0.0, machine - ours) / window_s;
    std::cout << "cpu (percent of one core over the measured window): "
              << absl::StrJoin(parts, ", ")
              << fmt::format("; other processes {:.0f}%; machine busy {:.0f}% of {} cores\n",
                             other_cpu_pct, 100 * machine / window_s / cores, cores);
    std::cout << fmt::format(
        "sb-load scheduler: max lateness {:.1f} ms (large: sb-load itself was starved)\n",
        final_stats.scheduler_max_late_ms);
  }
  std::cout << fmt::format(
                   "RESULT replicas={} rate={} duration_s={:.1f} enqueued={} offered={} "
                   "offered_per_s={:.1f} p50_ms={:.2f} p90_ms={:.2f} p99_ms={:.2f} "
                   "max_ms={:.2f} errors={} rejected={} unrouted={} other_cpu_pct={:.0f}",
                   replicas, flags.rate, window_s, window.enqueued, window.offered, offered_per_s,
                   h.PercentileMs(50), h.PercentileMs(90), h.PercentileMs(99), h.MaxMs(), errors,
                   final_stats.rejected, unrouted, other_cpu_pct)
            << std::endl;

  bool clean = true;
  for (auto it = children.rbegin(); it != children.rend(); ++it) {
    const std::string how = (*it)->Terminate(std::chrono::seconds(10));
    if (how != "exit 0") {
      clean = false;
      std::cerr << fmt::format("sb-load: {} ended with {} (log: {})\n", (*it)->name(), how,
                               (*it)->log_path());
    }
  }
  int rc = 0;
  if (g_interrupted) {
    rc = 130;
  } else if (flags.check &&
             (errors > 0 || final_stats.rejected > 0 || unrouted > 0 || final_stats.offered == 0)) {
    std::cerr << "sb-load: --check failed: every interaction must be offered, with no errors "
                 "and no rejected commands (service logs: "
              << log_dir << ")\n";
    rc = 1;
  }
  // A log directory of our own making goes away after a clean run; --log-dir ones stay.
  if (spawn && flags.log_dir.empty() && clean && rc == 0) {
    std::error_code ec;
    std::filesystem::remove_all(log_dir, ec);
  }
  return rc;
}

}  // namespace
}  // namespace sb::traffic

int main(int argc, char** argv) {
  // As sb::app::QuietMutexDebugging does for the services: Debian's abseil keeps a lock graph
  // for every absl::Mutex (gRPC's) unless told not to.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  sb::traffic::Flags f;
  CLI::App app{
      "sb-load: plays callers (gRPC Enqueue) and agents (Login, AcceptOffer, Complete through "
      "Kafka) against the real routing service at a fixed arrival rate, and reports the "
      "interactions routed per second end to end and the enqueue->offer latency (from just "
      "before the Enqueue RPC to the receipt of the OfferCreated event).",
      "sb-load"};
  app.add_option("--server", f.servers,
                 "sb-routing gRPC address (repeat for several replicas; calls go to each in turn)");
  app.add_option("--bootstrap", f.bootstrap, "Kafka bootstrap servers of those services");
  app.add_option("--spawn-replicas", f.spawn_replicas,
                 "Instead: start an sb-embedded-broker and this many sb-routing replicas, and "
                 "stop them at the end")
      ->check(CLI::Range(1, 2));
  app.add_option("--partitions", f.partitions,
                 "Partitions per topic of the spawned broker. Few is faster on it: its fetches "
                 "walk every retained batch of each partition fetched (docs/performance.md)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  app.add_option("--routing-arg", f.routing_args,
                 "Extra argument for each spawned sb-routing (repeatable), e.g. "
                 "--routing-arg=--kafka=fetch.wait.max.ms=5");
  app.add_option("--log-dir", f.log_dir,
                 "Where spawned services write their stderr (default: a new /tmp/sb-load-* dir, "
                 "removed after a clean run)");
  app.add_option("--rate", f.rate, "Arrivals per second")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--duration", f.duration_s, "Measured seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--warmup", f.warmup_s,
                 "Seconds of traffic before measuring (a fresh sb-routing stalls for ~1 s at its "
                 "first snapshot, ~5 s after it gets its partitions)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--drain", f.drain_s,
                 "Seconds to wait after the run for callers still waiting to be offered")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--tenants", f.tenants,
                 "Tenants (routing domains), spread over the partitions round-robin")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--queues-per-tenant", f.queues_per_tenant, "Voice queues per tenant")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  app.add_option("--agents-per-tenant", f.agents_per_tenant,
                 "Agents per tenant (default: twice the number busy at this rate, so agents "
                 "are never the bottleneck)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--handle-ms", f.handle_ms, "Mean handle time (exponential)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--patience", f.patience_s,
                 "Mean caller patience in seconds before abandoning (0 = never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--even", f.even, "Evenly spaced arrivals instead of Poisson");
  app.add_option("--seed", f.seed, "Random seed (0 = random, printed)");
  app.add_option("--tenant-prefix", f.tenant_prefix, "Tenant ids are PREFIX-N")
      ->capture_default_str();
  app.add_option("--kafka", f.kafka,
                 "librdkafka PROP=VALUE for sb-load's own producer and consumer (repeatable; "
                 "defaults: producer linger.ms=10, consumer fetch.wait.max.ms=5)");
  app.add_flag("--check", f.check,
               "Exit 1 unless every interaction was offered with no error or rejected command");
  app.add_flag("--quiet", f.quiet, "No per-second progress lines on stderr");
  app.footer(
      "Examples:\n"
      "  sb-load --spawn-replicas 1 --rate 1000 --duration 20\n"
      "  sb-load --spawn-replicas 2 --rate 2000 --duration 20 --tenants 16\n"
      "  sb-load --server 127.0.0.1:7070 --bootstrap 127.0.0.1:9092 --rate 200 --duration 60\n"
      "  sb-load --spawn-replicas 1 --rate 100 --duration 3 --check     (a smoke test)\n"
      "\n"
      "Spawned binaries: sb-embedded-broker and sb-routing from this build tree, or from "
      "$SB_BIN_DIR if set.\n"
      "Output: per-second progress on stderr; the report on stdout, ending with one line\n"
      "  RESULT replicas=N rate=R duration_s=D enqueued=E offered=O offered_per_s=X p50_ms=.. "
      "p90_ms=.. p99_ms=.. max_ms=.. errors=N rejected=N unrouted=N other_cpu_pct=P\n"
      "offered_per_s counts first offers received during the measured window. The load's "
      "tenants, queues and agents are applied with ConfigService.ApplyConfig (in connect mode "
      "too: use a disposable deployment).\n"
      "Exit status: 0 done; 1 setup failed or --check failed; 2 bad flags; 130 interrupted.");
  CLI11_PARSE(app, argc, argv);
  return sb::traffic::Run(f);
}
