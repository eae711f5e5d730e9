// What every Switchboard service binary does the same way: the common flags (Kafka, gRPC and
// /metrics addresses, logging), logging setup, the stdout lines parents wait for, and shutdown on
// SIGTERM/SIGINT taken by one thread. Used by sb-routing and sb-policy.
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/kafka/config.h"
#include "google/protobuf/timestamp.pb.h"
#include "grpcpp/server.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace sb::app {

struct CommonFlags {
  std::string bootstrap;
  std::string bootstrap_file;
  std::string listen;
  std::string metrics_listen;
  bool reflection = false;
  std::vector<std::string> kafka;
  std::string log_format = "text";
  std::string log_level = "info";
};

// Adds --bootstrap/--bootstrap-file (exclusive), --listen, --metrics-listen, --reflection,
// --kafka PROP=VALUE, --log-format, --log-level. `flags` holds the defaults for listen and
// metrics_listen. Also makes a repeated flag take its last value (wrappers append overrides).
void AddCommonFlags(CLI::App* app, CommonFlags* flags);

// Logs to stderr (text or JSON lines naming `service`) at the flag's level.
void SetUpLogging(const std::string& service, const CommonFlags& flags);

// The Kafka config from the flags: bootstrap servers (read from --bootstrap-file when given),
// client id, --kafka overrides. Errors are for humans (exit 2).
absl::StatusOr<kafka_io::KafkaConfig> KafkaFromFlags(const CommonFlags& flags,
                                                     const std::string& client_id);

// Prints a line on stdout and flushes it (parents wait for `grpc=`, `metrics=`, `ready`).
void PrintLine(const std::string& line);

// The wall clock now, with millisecond precision (protobuf 3.21's TimeUtil::GetCurrentTime has
// whole seconds only).
google::protobuf::Timestamp NowTimestamp();
int64_t NowMs();

// "127.0.0.1" for "127.0.0.1:0".
std::string ListenHost(const std::string& listen);

// Starts /metrics on --metrics-listen (null when it is empty) and prints `metrics=HOST:PORT`.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetrics(
    const CommonFlags& flags, const std::shared_ptr<prometheus::Registry>& registry);

// Turns off abseil's mutex deadlock detection for the process. Debian builds abseil without
// NDEBUG, so every absl::Mutex (gRPC's locks are) keeps a lock graph up to date on each lock and
// unlock (GraphCycles::GetId showed in profiles of sb-routing and sb-load under load).
// StartGrpcServer calls it; gRPC clients under load may call it at start.
void QuietMutexDebugging();

// Builds and starts the gRPC server on --listen with `services`, the health service (NOT_SERVING
// until the caller says otherwise), reflection with --reflection and a request size cap, and
// prints `grpc=HOST:PORT`. Errors are for humans ("cannot listen on ...").
absl::StatusOr<std::unique_ptr<grpc::Server>> StartGrpcServer(
    const CommonFlags& flags, int max_message_bytes, const std::vector<grpc::Service*>& services);

// ReadinessWatch
//
// Marks `server`'s health service SERVING and prints `ready` once `caught_up()` holds, from a
// thread of its own that looks every 20 ms (the ingest loops publish an atomic flag, not an
// event). Gives up, leaving the service NOT_SERVING, when `failed()` holds or on Stop(). Both
// functions are called on that thread.
class ReadinessWatch {
 public:
  ReadinessWatch(grpc::Server* server, std::function<bool()> caught_up,
                 std::function<bool()> failed);
  ReadinessWatch(const ReadinessWatch&) = delete;
  ReadinessWatch& operator=(const ReadinessWatch&) = delete;
  ~ReadinessWatch() { Stop(); }
  // Stops looking (idempotent) and joins the thread.
  void Stop();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Blocks SIGTERM and SIGINT in every thread created after it (call first in main), so that only
// Wait() takes them.
class TerminationSignals {
 public:
  TerminationSignals();
  // Blocks until SIGTERM or SIGINT; returns the signal number.
  int Wait();

 private:
  sigset_t set_;
};

}  // namespace sb::app
