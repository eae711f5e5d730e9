#include "routing/service/app.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/app/service_app.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "prometheus/exposer.h"
#include "routing/service/grpc_handlers.h"
#include "routing/service/metrics.h"
#include "routing/service/routing_service.h"
#include "spdlog/spdlog.h"

namespace sb::routing {
namespace {

struct Flags {
  app::CommonFlags common;
  std::string group = "sb-routing";
  std::string replica_id;
  int session_timeout_ms = 3000;
  int snapshot_interval_ms = 5000;
  int64_t snapshot_every = 10000;
  int command_id_window = 10000;
  int max_message_bytes = 1 << 20;
  int send_timeout_ms = 5000;
  int shutdown_timeout_ms = 20000;
  std::vector<std::string> peers;
};

}  // namespace

int RunRoutingApp(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "sb-routing: Switchboard's routing service. A member of the consumer group over "
      "sb.routing.commands.v1: owns partitions (restore snapshot, replay, apply, publish events, "
      "snapshot), serves InteractionService and ConfigService over gRPC, and /metrics.",
      "sb-routing"};
  f.common.listen = "127.0.0.1:7070";
  f.common.metrics_listen = "127.0.0.1:9464";
  app::AddCommonFlags(&app, &f.common);
  app.add_option("--group", f.group, "Kafka consumer group shared by the replicas")
      ->capture_default_str();
  app.add_option("--replica-id", f.replica_id, "Name of this replica (default: host-pid)");
  app.add_option("--session-timeout-ms", f.session_timeout_ms,
                 "Consumer-group session timeout: how long a dead replica keeps its partitions. "
                 "Real Kafka needs >= 6000 (group.min.session.timeout.ms)")
      ->capture_default_str()
      ->check(CLI::Range(500, 300000));
  app.add_option("--snapshot-interval-ms", f.snapshot_interval_ms,
                 "Snapshot each partition at least this often (if anything changed)")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));
  app.add_option("--snapshot-every", f.snapshot_every, "... or after this many commands")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100000000}));
  app.add_option("--command-id-window", f.command_id_window,
                 "Recent command ids remembered per tenant for idempotency")
      ->capture_default_str()
      ->check(CLI::Range(100, 1000000));
  app.add_option("--max-message-bytes", f.max_message_bytes,
                 "Largest gRPC request accepted (larger: RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::Range(1024, 64 << 20));
  app.add_option("--send-timeout-ms", f.send_timeout_ms,
                 "How long an API command may wait for the broker before the call answers "
                 "UNAVAILABLE")
      ->capture_default_str()
      ->check(CLI::Range(100, 300000));
  app.add_option("--shutdown-timeout-ms", f.shutdown_timeout_ms,
                 "On SIGTERM, give up handing partitions over after this long and exit 1 (the "
                 "group then moves them after the session timeout)")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.add_option("--peers", f.peers,
                 "gRPC addresses of the replicas (may include this one), comma-separated: calls "
                 "for a tenant whose partition another replica owns are forwarded there instead "
                 "of answering NOT_OWNER")
      ->delimiter(',')
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.footer(
      "Prints `grpc=ADDR`, `metrics=ADDR` on stdout once listening, then `ready` once it owns "
      "its partitions and has caught up (gRPC health turns SERVING). SIGTERM/SIGINT: hand the "
      "partitions over (final snapshots), exit 0.\n\nExamples:\n"
      "  sb-routing --bootstrap-file /tmp/sb/bootstrap --listen 127.0.0.1:0 --metrics-listen "
      "127.0.0.1:0\n"
      "  sb-routing --bootstrap kafka:9092 --session-timeout-ms 10000 --log-format json");
  CLI11_PARSE(app, argc, argv);

  app::SetUpLogging("sb-routing", f.common);
  ServiceOptions options;
  options.replica_id = f.replica_id.empty() ? absl::StrCat("sb-routing-", getpid()) : f.replica_id;
  absl::StatusOr<kafka_io::KafkaConfig> kafka = app::KafkaFromFlags(f.common, options.replica_id);
  if (!kafka.ok()) {
    std::cerr << "error: " << kafka.status().message() << "\n";
    return 2;
  }
  options.kafka = *kafka;
  options.group_id = f.group;
  options.session_timeout = std::chrono::milliseconds(f.session_timeout_ms);
  options.snapshot_interval = std::chrono::milliseconds(f.snapshot_interval_ms);
  options.snapshot_every = f.snapshot_every;
  options.engine.command_id_window = f.command_id_window;
  options.send_timeout = std::chrono::milliseconds(f.send_timeout_ms);

  app::TerminationSignals signals;  // before any thread starts

  RoutingMetrics metrics;
  auto service = RoutingService::Create(options, &metrics);
  if (!service.ok()) {
    std::cerr << "error: cannot reach Kafka at " << options.kafka.bootstrap_servers << ": "
              << service.status()
              << "\n(check --bootstrap; topics must exist: sb.routing.commands.v1, "
                 "sb.routing.events.v1, sb.routing.snapshots.v1)\n";
    return 1;
  }

  Peers peers(f.peers);
  InteractionServiceImpl interactions(service->get(), &peers);
  ConfigServiceImpl config(service->get(), &peers);
  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      app::StartGrpcServer(f.common, f.max_message_bytes, {&interactions, &config});
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = (*server)->GetHealthCheckService();
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      app::StartMetrics(f.common, metrics.registry());
  if (!exposer.ok()) {
    std::cerr << "error: " << exposer.status().message() << "\n";
    return 1;
  }

  std::mutex ready_mu;
  bool printed_ready = false;
  absl::Status started = (*service)->Start([&](bool ready) {
    health->SetServingStatus(ready);
    std::lock_guard<std::mutex> lock(ready_mu);
    if (ready && !printed_ready) {
      printed_ready = true;
      app::PrintLine("ready");
    }
  });
  if (!started.ok()) {
    std::cerr << "error: cannot join consumer group " << f.group << ": " << started << "\n";
    return 1;
  }
  spdlog::info("replica {} serving gRPC on {}", options.replica_id, f.common.listen);

  const int sig = signals.Wait();
  spdlog::info("signal {}: shutting down (handing partitions over)", sig);
  health->SetServingStatus(false);
  // The handover needs the broker (final snapshots, leaving the group); bound it.
  std::promise<void> stopped;
  std::future<void> stopped_future = stopped.get_future();
  std::thread stopper([&] {
    (*server)->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    (*service)->Shutdown();
    stopped.set_value();
  });
  if (stopped_future.wait_for(std::chrono::milliseconds(f.shutdown_timeout_ms)) !=
      std::future_status::ready) {
    spdlog::error(
        "shutdown did not finish within {} ms (broker unreachable?); exiting without handing "
        "over: the group moves the partitions after the session timeout",
        f.shutdown_timeout_ms);
    spdlog::default_logger()->flush();
    std::fflush(stdout);
    _exit(1);
  }
  stopper.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sb::routing
