#include "common/app/service_app.h"

#include <pthread.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server_builder.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace sb::app {

void AddCommonFlags(CLI::App* app, CommonFlags* f) {
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  auto* bs =
      app->add_option("--bootstrap", f->bootstrap, "Kafka bootstrap servers HOST:PORT[,...]");
  auto* bsf = app->add_option("--bootstrap-file", f->bootstrap_file,
                              "Read the bootstrap servers from this file (sb-embedded-broker "
                              "--bootstrap-file writes it)");
  bs->excludes(bsf);
  app->add_option("--listen", f->listen, "gRPC address (port 0 picks a free port)")
      ->capture_default_str();
  app->add_option("--metrics-listen", f->metrics_listen,
                  "Prometheus /metrics address (port 0 picks a free port; empty disables)")
      ->capture_default_str();
  app->add_flag("--reflection", f->reflection, "Serve gRPC server reflection");
  app->add_option("--kafka", f->kafka, "Extra librdkafka property PROP=VALUE (repeatable)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app->add_option("--log-format", f->log_format, "text or json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app->add_option("--log-level", f->log_level, "debug, info, warn or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
}

void SetUpLogging(const std::string& service, const CommonFlags& f) {
  auto logger = spdlog::stderr_color_mt(service);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  if (f.log_format == "json") {
    spdlog::set_pattern(absl::StrCat(R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","service":")",
                                     service, R"(","msg":"%v"})"));
  }
}

absl::StatusOr<kafka_io::KafkaConfig> KafkaFromFlags(const CommonFlags& f,
                                                     const std::string& client_id) {
  kafka_io::KafkaConfig config;
  config.client_id = client_id;
  if (f.bootstrap.empty() && f.bootstrap_file.empty()) {
    return absl::InvalidArgumentError(
        "--bootstrap or --bootstrap-file is required (where Kafka is)");
  }
  config.bootstrap_servers = f.bootstrap;
  if (!f.bootstrap_file.empty()) {
    std::ifstream in(f.bootstrap_file);
    std::stringstream ss;
    ss << in.rdbuf();
    config.bootstrap_servers = std::string(absl::StripAsciiWhitespace(ss.str()));
    if (config.bootstrap_servers.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bootstrap-file ", f.bootstrap_file,
                       ": empty or unreadable (is sb-embedded-broker running?)"));
    }
  }
  for (const auto& kv : f.kafka) {
    std::vector<std::string> parts = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    if (parts.size() != 2 || parts[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--kafka ", kv, ": expected PROP=VALUE"));
    }
    config.overrides.emplace_back(parts[0], parts[1]);
  }
  return config;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

google::protobuf::Timestamp NowTimestamp() {
  return google::protobuf::util::TimeUtil::MillisecondsToTimestamp(NowMs());
}

void PrintLine(const std::string& line) {
  std::cout << line << std::endl;  // flushed: parents wait for these lines
}

std::string ListenHost(const std::string& listen) { return listen.substr(0, listen.rfind(':')); }

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetrics(
    const CommonFlags& f, const std::shared_ptr<prometheus::Registry>& registry) {
  if (f.metrics_listen.empty()) return std::unique_ptr<prometheus::Exposer>();
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(f.metrics_listen);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics-listen ", f.metrics_listen, ": ", e.what()));
  }
  exposer->RegisterCollectable(registry);
  PrintLine(absl::StrCat("metrics=", ListenHost(f.metrics_listen), ":",
                         exposer->GetListeningPorts().at(0)));
  return exposer;
}

void QuietMutexDebugging() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const CommonFlags& f, int max_message_bytes, const std::vector<grpc::Service*>& services) {
  QuietMutexDebugging();
  grpc::EnableDefaultHealthCheckService(true);
  if (f.reflection) grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(f.listen, grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  // The sync server runs each call on a polling thread. With its defaults (at most 2 idle
  // pollers) a thread exits after every call once others are polling, and a new one is made
  // for the next: under load that is a pthread_create and a stack munmap (a TLB shoot-down on
  // every core) per call. Keep the threads; a poller left idle for 10 s still exits.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 2);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 512);
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", f.listen, " (in use? try --listen HOST:0)"));
  }
  server->GetHealthCheckService()->SetServingStatus(false);
  PrintLine(absl::StrCat("grpc=", ListenHost(f.listen), ":", port));
  return server;
}

ReadinessWatch::ReadinessWatch(grpc::Server* server, std::function<bool()> caught_up,
                               std::function<bool()> failed)
    : thread_([this, server, caught_up = std::move(caught_up), failed = std::move(failed)] {
        while (!caught_up() && !failed() && !stop_.load()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a flag
        }
        if (caught_up() && !stop_.load()) {
          server->GetHealthCheckService()->SetServingStatus(true);
          PrintLine("ready");
        }
      }) {}

void ReadinessWatch::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

TerminationSignals::TerminationSignals() {
  sigemptyset(&set_);
  sigaddset(&set_, SIGINT);
  sigaddset(&set_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
}

int TerminationSignals::Wait() {
  int sig = 0;
  sigwait(&set_, &sig);
  return sig;
}

}  // namespace sb::app
