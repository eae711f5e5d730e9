#include "insights/service/app.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/app/service_app.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "insights/service/ingest.h"
#include "insights/service/insights_service.h"
#include "insights/service/live_insights.h"
#include "insights/service/metrics.h"
#include "insights/storage/interval_store.h"
#include "spdlog/spdlog.h"
#ifdef SB_INSIGHTS_HAS_DASHBOARD
#include "insights/http/dashboard_server.h"
#endif

namespace sb::insights::service {
namespace {

namespace fs = std::filesystem;

struct Flags {
  app::CommonFlags common;
  std::string data_dir = "insights-data";
  std::string store;
  std::string http_listen = "127.0.0.1:8080";
  int64_t short_abandon_ms = 5000;
  int64_t long_interaction_ms = 600000;
  int64_t interval_ms = 900000;
  int64_t interval_grace_ms = 60000;
  int retention_days = 400;
  int shutdown_timeout_ms = 10000;
};

// Refreshes the queue and agent gauges every second and runs the retention (DeleteBefore) every
// hour, on its own thread. Stop() joins it.
class Housekeeping {
 public:
  Housekeeping(LiveInsights* live, InsightsMetrics* metrics, storage::IntervalStore* store,
               int retention_days)
      : live_(live), metrics_(metrics), store_(store), retention_days_(retention_days) {}
  ~Housekeeping() { Stop(); }
  void Start() {
    thread_ = std::thread([this] { Loop(); });
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
  void Retention() {
    const int64_t before = app::NowMs() - int64_t{retention_days_} * 86'400'000;
    absl::StatusOr<int64_t> n = store_->DeleteBefore(before);
    if (!n.ok()) {
      spdlog::warn("retention: {}", n.status().ToString());
    } else if (*n > 0) {
      spdlog::info("retention: deleted {} interval record(s) older than {} days", *n,
                   retention_days_);
    }
  }
  void Loop() {
    auto next_retention = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      metrics_->RefreshFloor(live_->FiguresForMetrics());
      if (std::chrono::steady_clock::now() >= next_retention) {
        Retention();
        next_retention = std::chrono::steady_clock::now() + std::chrono::hours(1);
      }
      lock.lock();
      cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; });
    }
  }

  LiveInsights* const live_;
  InsightsMetrics* const metrics_;
  storage::IntervalStore* const store_;
  const int retention_days_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

int RunInsightsApp(int argc, char** argv) {
  Flags f;
  CLI::App cli{
      "sb-insights: Switchboard's contact-center statistics and staffing forecast. Every replica "
      "reads every partition of sb.routing.events.v1 from the beginning of what the broker "
      "retains (no consumer group) and applies each routing event once (deduplicated by event "
      "id) to its in-memory statistics: per queue the waiting callers and service level, ASA, "
      "abandon rate and occupancy over rolling windows and today; per agent presence, time in "
      "state and occupancy; long interactions and escalations waiting. Closed 15-minute "
      "intervals are written to the interval store (SQLite or PostgreSQL), which keeps the "
      "history the broker does not; the staffing forecast (Erlang C and Erlang A) reads it. "
      "Serves gRPC InsightsService, the supervisor dashboard (HTTP, server-sent events) and "
      "Prometheus /metrics. Figures are defined in docs/insights.md.",
      "sb-insights"};
  f.common.listen = "127.0.0.1:7110";
  f.common.metrics_listen = "127.0.0.1:9510";
  app::AddCommonFlags(&cli, &f.common);
  cli.add_option("--data-dir", f.data_dir,
                 "Directory of the embedded SQLite interval store (insights.db) when --store is "
                 "not given; created if missing")
      ->capture_default_str();
  cli.add_option("--store", f.store,
                 "The interval store: sqlite:///ABS/PATH.db, sqlite://REL/PATH.db, "
                 "sqlite::memory: or postgresql://USER@HOST:PORT/DB?... (libpq URI). Default: "
                 "sqlite://<data-dir>/insights.db");
  cli.add_option("--http-listen", f.http_listen,
                 "The supervisor dashboard (page, JSON API, server-sent events), HOST:PORT (port "
                 "0: the kernel picks); empty: no dashboard")
      ->capture_default_str();
  cli.add_option("--short-abandon-ms", f.short_abandon_ms,
                 "Abandons after a shorter wait are short: left out of offered, abandoned and SL")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}));
  cli.add_option("--long-interaction-ms", f.long_interaction_ms,
                 "Talk time after which a connected interaction is a long-interaction alert")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1000}, int64_t{86400000}));
  cli.add_option("--interval-ms", f.interval_ms,
                 "Length of the stored intervals; must divide a day (900000 = 15 minutes; "
                 "shorter only for tests and demos)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1000}, int64_t{86400000}));
  cli.add_option("--interval-grace-ms", f.interval_grace_ms,
                 "An interval closes (and is stored) when event time or, once caught up, the "
                 "clock passes its end by this much; must be >= --short-abandon-ms")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{86400000}));
  cli.add_option("--retention-days", f.retention_days,
                 "Stored intervals older than this are deleted (hourly)")
      ->capture_default_str()
      ->check(CLI::Range(1, 36600));
  cli.add_option("--shutdown-timeout-ms", f.shutdown_timeout_ms,
                 "On SIGTERM, how long calls in flight may finish")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  cli.footer(
      "Prints `grpc=ADDR`, `metrics=ADDR`, `http=ADDR` (unless --http-listen is empty), then "
      "`ready` once the ingest has caught up with the events retained at start (gRPC health "
      "SERVING). Bad flags or --store URL: exit 2; Kafka unreachable: exit 1. SIGTERM/SIGINT: "
      "stop gRPC and the dashboard, write the closed intervals to the store, exit 0.\n\n"
      "Examples:\n"
      "  sb-insights --bootstrap-file /tmp/sb/bootstrap --data-dir /tmp/sb/insights\n"
      "  sb-insights --bootstrap kafka:9092 --store "
      "'postgresql://sb@postgres:5432/insights?sslmode=require' --http-listen 0.0.0.0:8080");
  CLI11_PARSE(cli, argc, argv);
  app::SetUpLogging("sb-insights", f.common);

  StatisticsOptions so;
  so.short_abandon_ms = f.short_abandon_ms;
  so.long_interaction_ms = f.long_interaction_ms;
  so.intervals.length_ms = f.interval_ms;
  so.intervals.grace_ms = f.interval_grace_ms;
  if (absl::Status s = so.Validate(); !s.ok()) {
    std::string msg(s.message());
    if (msg.rfind("intervals.length_ms", 0) == 0) {
      msg = "--interval-ms must divide a day (86400000 ms), e.g. 900000, 60000, 2000";
    } else if (msg.rfind("intervals.grace_ms", 0) == 0) {
      msg =
          "--interval-grace-ms must be >= --short-abandon-ms (a short abandon is taken off its "
          "arrival interval, which must still be open)";
    }
    std::cerr << "error: " << msg << "\n";
    return 2;
  }

  absl::StatusOr<kafka_io::KafkaConfig> kafka =
      app::KafkaFromFlags(f.common, absl::StrCat("sb-insights-", getpid()));
  if (!kafka.ok()) {
    std::cerr << "error: " << kafka.status().message() << "\n";
    return 2;
  }

  if (f.store.empty()) {
    std::error_code ec;
    fs::create_directories(f.data_dir, ec);
    if (ec) {
      std::cerr << "error: --data-dir " << f.data_dir << ": " << ec.message() << "\n";
      return 2;
    }
    f.store = absl::StrCat("sqlite://", f.data_dir, "/insights.db");
  }
  absl::StatusOr<std::unique_ptr<storage::IntervalStore>> store =
      storage::OpenIntervalStore(f.store);
  if (!store.ok()) {
    std::cerr << "error: --store: " << store.status().message() << "\n";
    if (store.status().code() == absl::StatusCode::kInvalidArgument) {
      std::cerr << "(expected sqlite:///ABS/PATH.db, sqlite://REL/PATH.db, sqlite::memory: or "
                   "postgresql://...)\n";
      return 2;
    }
    return store.status().code() == absl::StatusCode::kFailedPrecondition ? 2 : 1;
  }

  app::TerminationSignals signals;  // before any thread starts

  InsightsMetrics metrics;
  LiveInsights live(so, store->get(), &metrics, [] { return app::NowMs(); });
  InsightsServiceImpl grpc_service(&live, &metrics);

  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      app::StartGrpcServer(f.common, 4 << 20, {&grpc_service});
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

#ifdef SB_INSIGHTS_HAS_DASHBOARD
  std::unique_ptr<http::DashboardServer> dashboard;
  if (!f.http_listen.empty()) {
    http::DashboardServerOptions ho;
    ho.listen = f.http_listen;
    ho.metrics.add_clients = [&metrics](int delta) { metrics.DashboardClientsChanged(delta); };
    ho.metrics.observe_push_seconds = [&metrics](double s) { metrics.ObservePush(s); };
    dashboard = std::make_unique<http::DashboardServer>(live, ho);
    if (absl::Status s = dashboard->Start(); !s.ok()) {
      std::cerr << "error: --http-listen: " << s.message() << "\n";
      return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
    app::PrintLine(absl::StrCat("http=", app::ListenHost(f.http_listen), ":", dashboard->port()));
  }
#else
  // TODO(insights): the dashboard library (services/insights/http) is not built in; --http-listen
  // is accepted and ignored.
  if (!f.http_listen.empty()) spdlog::warn("no dashboard in this build: --http-listen ignored");
#endif

  absl::StatusOr<std::unique_ptr<Ingest>> ingest = Ingest::Start(*kafka, &live, &metrics);
  if (!ingest.ok()) {
    std::cerr << "error: cannot consume " << kRoutingEventsTopic << ": "
              << ingest.status().message() << "\n";
    return 1;
  }

  Housekeeping housekeeping(&live, &metrics, store->get(), f.retention_days);
  housekeeping.Start();

  grpc::HealthCheckServiceInterface* health = (*server)->GetHealthCheckService();
  app::ReadinessWatch readiness(
      server->get(), [&] { return (*ingest)->caught_up(); }, [&] { return (*ingest)->failed(); });
  spdlog::info("serving InsightsService on {} (store {}, intervals of {} ms)", f.common.listen,
               f.store.rfind("postgres", 0) == 0 ? "postgresql" : f.store, f.interval_ms);

  const int sig = signals.Wait();
  spdlog::info("signal {}: shutting down", sig);
  readiness.Stop();
  health->SetServingStatus(false);
  grpc_service.Stop();
  spdlog::debug("shutdown: gRPC");
  // Wait for the calls in our handlers (WatchFloor streams end within a second of Stop), then
  // shut down with an immediate deadline: with a later deadline gRPC 1.51's Shutdown was seen to
  // wait several seconds after the last call had finished (idle client connections).
  const auto calls_deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(f.shutdown_timeout_ms);
  while (grpc_service.active_calls() > 0 && std::chrono::steady_clock::now() < calls_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a counter
  }
  (*server)->Shutdown(std::chrono::system_clock::now());
  spdlog::debug("shutdown: dashboard");
#ifdef SB_INSIGHTS_HAS_DASHBOARD
  if (dashboard) dashboard->Stop();
#endif
  spdlog::debug("shutdown: ingest");
  (*ingest)->Stop();
  spdlog::debug("shutdown: housekeeping");
  housekeeping.Stop();
  spdlog::debug("shutdown: flush");
  // The intervals closed so far (the open ones are rebuilt by the next start's replay).
  const bool caught_up = (*ingest)->caught_up();
  absl::Status flushed = live.Flush(/*advance_clock=*/caught_up);
  for (int attempt = 1; !flushed.ok() && attempt < 3; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));  // store backoff
    flushed = live.Flush(false);
  }
  if (!flushed.ok()) {
    spdlog::error(
        "{} closed interval(s) not stored: {} (the next start's replay rebuilds what "
        "the broker still retains)",
        live.pending(), flushed.ToString());
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace sb::insights::service
