#include "policy/service/app.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/app/service_app.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "policy/core/store.h"
#include "policy/service/metrics.h"
#include "policy/service/policy_service.h"
#include "spdlog/spdlog.h"

namespace sb::policy {
namespace {

struct Flags {
  app::CommonFlags common;
  std::string policies;
  bool no_builtin_default = false;
  int reload_interval_ms = 2000;
  std::string routing;
  int routing_timeout_ms = 1000;
  int send_timeout_ms = 5000;
  int max_message_bytes = 256 << 10;
  int shutdown_timeout_ms = 10000;
};

std::string FileName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Rescans the policy directory every `interval` until stopped, logging and counting what
// changed; a rejected file keeps its last good version in force.
class Reloader {
 public:
  Reloader(BundleStore* store, PolicyMetrics* metrics, std::chrono::milliseconds interval)
      : store_(store), metrics_(metrics), interval_(interval) {}
  ~Reloader() { Stop(); }

  // One pass; returns false when a file was rejected.
  bool ReloadOnce() {
    absl::StatusOr<ReloadReport> report = store_->Reload();
    if (!report.ok()) {
      spdlog::error("policy reload: {}", report.status().ToString());
      metrics_->ReloadFailed("(directory)");
      return false;
    }
    for (const std::string& file : report->loaded) {
      const auto set = store_->Current();
      for (const auto& b : set->bundles()) {
        if (b->file == file) {
          spdlog::info("policy bundle {} loaded: tenant {} version {} ({} rules)", file, b->tenant,
                       b->version, b->rule_count());
        }
      }
    }
    for (const std::string& file : report->removed) {
      spdlog::warn("policy bundle {} removed: its tenant falls back to the \"*\" bundle", file);
    }
    for (const auto& [file, status] : report->rejected) {
      spdlog::error("policy bundle {} rejected, the last good version stays in force: {}", file,
                    std::string(status.message()));
      metrics_->ReloadFailed(FileName(file));
    }
    if (report->changed()) metrics_->SetBundles(*store_->Current());
    return report->rejected.empty();
  }

  void Start() {
    thread_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mu_);
      while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
        lock.unlock();
        ReloadOnce();
        lock.lock();
      }
    });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  BundleStore* const store_;
  PolicyMetrics* const metrics_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int RunPolicyApp(int argc, char** argv) {
  Flags f;
  CLI::App app{
      "sb-policy: Switchboard's policy service. Decides disconnect, escalation, authority, "
      "verification, recording and wellbeing requests with each tenant's policy bundle, records "
      "every decision in sb.policy.decisions.v1 and sends the routing obligations (agent "
      "disconnect, recovery break, escalation) as routing commands.",
      "sb-policy"};
  f.common.listen = "127.0.0.1:7080";
  f.common.metrics_listen = "127.0.0.1:9480";
  app::AddCommonFlags(&app, &f.common);
  app.add_option("--policies", f.policies,
                 "Directory of policy bundles (*.yaml; *.tests.yaml are test cases), rescanned "
                 "for changes (a mounted ConfigMap). Without it only the built-in default "
                 "bundle serves");
  app.add_flag("--no-builtin-default", f.no_builtin_default,
               "Do not serve tenants without a bundle with the built-in default bundle (they "
               "get NO_POLICY) unless a file has tenant \"*\"");
  app.add_option("--reload-interval-ms", f.reload_interval_ms,
                 "How often the policy directory is rescanned")
      ->capture_default_str()
      ->check(CLI::Range(100, 3600000));
  app.add_option("--routing", f.routing,
                 "gRPC address of sb-routing: interaction facts (queue, warnings, handle time, "
                 "...) are read from it instead of trusted from the request");
  app.add_option("--routing-timeout-ms", f.routing_timeout_ms,
                 "Deadline of a fact lookup in routing")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000));
  app.add_option("--send-timeout-ms", f.send_timeout_ms,
                 "How long a decision or routing command may wait for the broker before the call "
                 "answers UNAVAILABLE")
      ->capture_default_str()
      ->check(CLI::Range(100, 300000));
  app.add_option("--max-message-bytes", f.max_message_bytes,
                 "Largest gRPC request accepted (larger: RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::Range(1024, 16 << 20));
  app.add_option("--shutdown-timeout-ms", f.shutdown_timeout_ms,
                 "On SIGTERM, how long calls in flight may finish")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  app.footer(
      "Prints `grpc=ADDR`, `metrics=ADDR`, then `ready` on stdout (gRPC health SERVING). A bad "
      "bundle at start is an error (exit 2); a bad new version later is rejected and logged, "
      "and the last good one stays in force (switchboard_policy_reload_failures_total). "
      "SIGTERM/SIGINT: stop taking calls, finish those in flight, flush, exit 0.\n\nExamples:\n"
      "  sb-policy --bootstrap-file /tmp/sb/bootstrap --listen 127.0.0.1:0 --metrics-listen "
      "127.0.0.1:0\n"
      "  sb-policy --bootstrap kafka:9092 --policies /etc/switchboard/policies --routing "
      "sb-routing:7070");
  CLI11_PARSE(app, argc, argv);
  app::SetUpLogging("sb-policy", f.common);

  const std::string client_id = absl::StrCat("sb-policy-", getpid());
  absl::StatusOr<kafka_io::KafkaConfig> kafka = app::KafkaFromFlags(f.common, client_id);
  if (!kafka.ok()) {
    std::cerr << "error: " << kafka.status().message() << "\n";
    return 2;
  }

  BundleStore store(f.policies, !f.no_builtin_default);
  PolicyMetrics metrics;
  Reloader reloader(&store, &metrics, std::chrono::milliseconds(f.reload_interval_ms));
  if (!f.policies.empty()) {
    absl::StatusOr<ReloadReport> first = store.Reload();
    if (!first.ok()) {
      std::cerr << "error: --policies: " << first.status().message() << "\n";
      return 2;
    }
    if (!first->rejected.empty()) {
      for (const auto& [file, status] : first->rejected) {
        std::cerr << "error: " << status.message() << "\n";
      }
      std::cerr << "(fix the bundle; `switchboard policy validate " << f.policies
                << "` checks them)\n";
      return 2;
    }
  }
  metrics.SetBundles(*store.Current());
  for (const auto& b : store.Current()->bundles()) {
    spdlog::info("policy bundle {} serves tenant {}: version {} ({} rules)", b->file, b->tenant,
                 b->version, b->rule_count());
  }

  app::TerminationSignals signals;  // before any thread starts

  // Each decision is written synchronously while its caller waits: do not linger for a batch
  // (librdkafka's default linger.ms is 5). A --kafka linger.ms=... still wins.
  kafka->overrides.insert(kafka->overrides.begin(), {"linger.ms", "0"});
  kafka_io::ProducerOptions producer_options;
  producer_options.kafka = *kafka;
  producer_options.message_timeout = std::chrono::milliseconds(f.send_timeout_ms);
  absl::StatusOr<std::unique_ptr<kafka_io::Producer>> producer =
      kafka_io::Producer::Create(producer_options);
  routing::RoutingClientOptions routing_options;
  routing_options.kafka = *kafka;
  routing_options.send_timeout = std::chrono::milliseconds(f.send_timeout_ms);
  absl::StatusOr<std::unique_ptr<routing::RoutingClient>> routing =
      producer.ok() ? routing::RoutingClient::Create(routing_options)
                    : absl::StatusOr<std::unique_ptr<routing::RoutingClient>>(producer.status());
  if (!producer.ok() || !routing.ok()) {
    std::cerr << "error: cannot reach Kafka at " << kafka->bootstrap_servers << ": "
              << (producer.ok() ? routing.status() : producer.status())
              << "\n(check --bootstrap; topics must exist: sb.policy.decisions.v1, "
                 "sb.routing.commands.v1)\n";
    return 1;
  }
  std::unique_ptr<RoutingFacts> facts;
  if (!f.routing.empty()) {
    facts = std::make_unique<RoutingFacts>(
        grpc::CreateChannel(f.routing, grpc::InsecureChannelCredentials()),
        std::chrono::milliseconds(f.routing_timeout_ms));
  }

  PolicyServiceOptions options;
  options.publish_timeout = std::chrono::milliseconds(f.send_timeout_ms);
  PolicyServiceImpl service(&store, producer->get(), routing->get(), facts.get(), &metrics,
                            options);
  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      app::StartGrpcServer(f.common, f.max_message_bytes, {&service});
  if (!server.ok()) {
    std::cerr << "error: " << server.status().message() << "\n";
    return 1;
  }
  absl::StatusOr<std::unique_ptr<prometheus::Exposer>> exposer =
      app::StartMetrics(f.common, metrics.registry());
  if (!exposer.ok()) {
    std::cerr << "error: " << exposer.status().message() << "\n";
    return 1;
  }
  if (!f.policies.empty()) reloader.Start();
  (*server)->GetHealthCheckService()->SetServingStatus(true);
  app::PrintLine("ready");
  spdlog::info("serving PolicyService on {}", f.common.listen);

  const int sig = signals.Wait();
  spdlog::info("signal {}: shutting down", sig);
  (*server)->GetHealthCheckService()->SetServingStatus(false);
  (*server)->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(f.shutdown_timeout_ms));
  reloader.Stop();
  if (absl::Status s = (*routing)->Flush(std::chrono::milliseconds(f.shutdown_timeout_ms));
      !s.ok()) {
    spdlog::warn("routing commands not flushed: {}", s.ToString());
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace sb::policy
