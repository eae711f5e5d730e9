#include "agent_state/service/app.h"

#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent_state/service/desktop.h"
#include "agent_state/service/hub.h"
#include "common/app/service_app.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "spdlog/spdlog.h"

namespace sb::agent_state {

int RunAgentStateApp(int argc, char** argv) {
  app::CommonFlags common;
  std::string policy;
  int heartbeat_grace_ms = 15000;
  int desktop_log_size = 256;
  int64_t long_interaction_ms = 600000;
  int max_message_bytes = 64 << 10;
  int shutdown_timeout_ms = 10000;
  CLI::App cli{
      "sb-agent-state: Switchboard's agent-state service. Keeps a projection of every routing "
      "event (sb.routing.events.v1), serves agent desktops (AgentDesktop.Connect, a bidirectional "
      "stream: offers, assignments, timers in; login, presence, accept, complete, escalate, warn, "
      "disconnect out) and supervisors (Supervisor: the live floor, join an escalation, force a "
      "state), and sends agents' actions to routing as commands.",
      "sb-agent-state"};
  common.listen = "127.0.0.1:7090";
  common.metrics_listen = "127.0.0.1:9490";
  app::AddCommonFlags(&cli, &common);
  cli.add_option("--policy", policy,
                 "gRPC address of sb-policy (disconnect requests are decided there)");
  cli.add_option("--heartbeat-grace-ms", heartbeat_grace_ms,
                 "A desktop silent this long is put in aux \"disconnected\" and its pending "
                 "offers go back to the queue")
      ->capture_default_str()
      ->check(CLI::Range(500, 600000));
  cli.add_option("--desktop-log-size", desktop_log_size,
                 "Desktop events kept per agent for a reconnecting desktop to resume from")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cli.add_option("--long-interaction-ms", long_interaction_ms,
                 "Interactions longer than this are flagged on the supervisor's floor")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1000}, int64_t{86400000}));
  cli.add_option("--max-message-bytes", max_message_bytes, "Largest gRPC message accepted")
      ->capture_default_str()
      ->check(CLI::Range(1024, 16 << 20));
  cli.add_option("--shutdown-timeout-ms", shutdown_timeout_ms,
                 "On SIGTERM, how long desktops get to read their Goodbye and calls to finish")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  cli.footer(
      "Prints `grpc=ADDR`, `metrics=ADDR`, then `ready` once the projection has caught up with "
      "the routing events retained (gRPC health SERVING). SIGTERM: desktops get "
      "Goodbye{SHUTTING_DOWN} (reconnect to another replica), then exit 0.\n\nExamples:\n"
      "  sb-agent-state --bootstrap-file /tmp/sb/bootstrap --policy 127.0.0.1:7080 --listen "
      "127.0.0.1:0 --metrics-listen 127.0.0.1:0");
  CLI11_PARSE(cli, argc, argv);
  app::SetUpLogging("sb-agent-state", common);

  absl::StatusOr<kafka_io::KafkaConfig> kafka =
      app::KafkaFromFlags(common, absl::StrCat("sb-agent-state-", getpid()));
  if (!kafka.ok()) {
    std::cerr << "error: " << kafka.status().message() << "\n";
    return 2;
  }
  // Desktop actions are sent one at a time while an agent waits: no batching window.
  kafka->overrides.insert(kafka->overrides.begin(), {"linger.ms", "0"});
  app::TerminationSignals signals;

  AgentStateMetrics metrics;
  ProjectionOptions projection;
  projection.desktop_log_size = static_cast<size_t>(desktop_log_size);
  projection.long_interaction_ms = long_interaction_ms;
  Hub hub(projection, &metrics);
  routing::RoutingClientOptions ro;
  ro.kafka = *kafka;
  auto routing = routing::RoutingClient::Create(ro);
  absl::StatusOr<std::unique_ptr<Feed>> feed =
      routing.ok() ? Feed::Start(*kafka, &hub)
                   : absl::StatusOr<std::unique_ptr<Feed>>(routing.status());
  if (!routing.ok() || !feed.ok()) {
    std::cerr << "error: cannot reach Kafka at " << kafka->bootstrap_servers << ": "
              << (routing.ok() ? feed.status() : routing.status())
              << "\n(check --bootstrap; topics must exist: sb.routing.commands.v1, "
                 "sb.routing.events.v1, sb.agent.events.v1)\n";
    return 1;
  }
  std::shared_ptr<grpc::Channel> policy_channel;
  if (!policy.empty()) {
    policy_channel = grpc::CreateChannel(policy, grpc::InsecureChannelCredentials());
  }
  DesktopOptions desktop;
  desktop.heartbeat_grace = std::chrono::milliseconds(heartbeat_grace_ms);

  kafka_io::ProducerOptions agent_events_options;
  agent_events_options.kafka = *kafka;
  absl::StatusOr<std::unique_ptr<kafka_io::Producer>> agent_events =
      kafka_io::Producer::Create(agent_events_options);
  if (!agent_events.ok()) {
    std::cerr << "error: cannot create the sb.agent.events.v1 producer: "
              << agent_events.status().message() << "\n";
    return 1;
  }
  hub.set_replica(absl::StrFormat("%08x", std::random_device{}()));
  AgentDesktopService desktops(&hub, routing->get(), policy_channel, &metrics, desktop,
                               agent_events->get());
  SupervisorService supervisors(&hub, routing->get(), agent_events->get(), &metrics);

  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      app::StartGrpcServer(common, max_message_bytes, {&desktops, &supervisors});
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    return 1;
  }
  grpc::HealthCheckServiceInterface* health = (*server)->GetHealthCheckService();
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      app::StartMetrics(common, metrics.registry());
  if (!exposer.ok()) {
    std::cerr << "error: " << exposer.status().message() << "\n";
    return 1;
  }
  // Ready once the projection holds what the broker retains (or the feed failed: then not).
  app::ReadinessWatch readiness(
      server->get(), [&] { return (*feed)->caught_up(); }, [&] { return (*feed)->failed(); });
  spdlog::info("serving AgentDesktop and Supervisor on {}", common.listen);

  const int sig = signals.Wait();
  spdlog::info("signal {}: telling {} desktop(s) to reconnect elsewhere", sig, hub.connected());
  readiness.Stop();
  health->SetServingStatus(false);
  desktops.Shutdown("SHUTTING_DOWN");
  (*server)->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(shutdown_timeout_ms));
  if (absl::Status s = (*routing)->Flush(std::chrono::milliseconds(shutdown_timeout_ms)); !s.ok()) {
    spdlog::warn("routing commands not flushed: {}", s.ToString());
  }
  feed->reset();
  spdlog::info("stopped");
  return 0;
}

}  // namespace sb::agent_state
