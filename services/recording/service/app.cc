#include "recording/service/app.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/app/service_app.h"
#include "common/kafka/producer.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/server.h"
#include "recording/core/defaults.h"
#include "recording/core/qa_config.h"
#include "recording/service/feedback_service.h"
#include "recording/service/ingest.h"
#include "recording/service/metrics.h"
#include "recording/service/publisher.h"
#include "recording/service/recording_intake.h"
#include "recording/service/recording_service.h"
#include "recording/service/review_intake.h"
#include "recording/service/review_service.h"
#include "recording/storage/media_volume.h"
#include "recording/storage/open_store.h"
#include "spdlog/spdlog.h"

namespace sb::recording {
namespace {

namespace fs = std::filesystem;

struct Flags {
  app::CommonFlags common;
  std::string data_dir = "sb-recording-data";
  std::string store;
  std::string media_dir;
  std::string qa_config;
  int64_t max_upload_bytes = 256LL << 20;
  int64_t retention_interval_ms = 3600000;
  int64_t gauges_interval_ms = 5000;
  std::string record_queues = "*";
  int max_message_bytes = 4 << 20;
  int shutdown_timeout_ms = 10000;
};

// Refreshes the store-derived gauges and runs the retention job on a schedule, on its own
// thread (never a gRPC or ingest thread). Stop() joins it.
class Housekeeping {
 public:
  Housekeeping(storage::RecordingStore* store, const storage::MediaVolume* volume,
               RecordingServiceImpl* service, RecordingIntake* intake, Publisher* publisher,
               RecordingMetrics* metrics, std::chrono::milliseconds gauges_every,
               std::chrono::milliseconds retention_every)
      : store_(store),
        volume_(volume),
        service_(service),
        intake_(intake),
        publisher_(publisher),
        metrics_(metrics),
        gauges_every_(gauges_every),
        retention_every_(retention_every) {}
  ~Housekeeping() { Stop(); }

  // Run with the retention job, for every tenant seen.
  void SetWeeklySample(std::function<void(const std::string& tenant)> fn) {
    weekly_sample_ = std::move(fn);
  }
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

  void Gauges() {
    absl::StatusOr<std::map<storage::ReviewKind, int64_t>> open =
        store_->CountOpenReviewsByKind("");
    if (open.ok()) {
      std::map<std::string, int64_t> by_kind;
      for (const auto& [kind, n] : *open) by_kind[std::string(storage::ReviewKindName(kind))] = n;
      metrics_->SetOpenReviews(by_kind);
    } else {
      spdlog::warn("open reviews gauge: {}", open.status().ToString());
    }
    metrics_->SetActive(publisher_->active());
    int64_t bytes = 0;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(volume_->root(), ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->path().extension() == ".media" && it->is_regular_file(ec)) {
        bytes += static_cast<int64_t>(it->file_size(ec));
      }
    }
    metrics_->SetStoredBytes(bytes);
  }

  void Retention() {
    for (const std::string& tenant : intake_->Tenants()) {
      absl::StatusOr<std::vector<std::string>> deleted =
          service_->RunRetentionFor(tenant, "system:retention");
      if (!deleted.ok()) {
        spdlog::warn("retention of tenant {}: {}", tenant, deleted.status().ToString());
      } else if (!deleted->empty()) {
        spdlog::info("retention: deleted the media of {} recording(s) of tenant {}",
                     deleted->size(), tenant);
      }
    }
    // The weekly random sample of the last closed ISO week (idempotent: a re-run finds the
    // reviews it made before).
    if (weekly_sample_) {
      for (const std::string& tenant : intake_->Tenants()) weekly_sample_(tenant);
    }
    // Uploads a crash left behind (older than any upload can take).
    absl::StatusOr<int> stale = volume_->RemoveStaleUploads(app::NowMs() - 6 * 3600 * 1000);
    if (stale.ok() && *stale > 0) spdlog::info("removed {} abandoned upload(s)", *stale);
  }

 private:
  void Loop() {
    auto next_gauges = std::chrono::steady_clock::now();
    auto next_retention = std::chrono::steady_clock::now() + retention_every_;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_gauges) {
        lock.unlock();
        Gauges();
        lock.lock();
        next_gauges = now + gauges_every_;
      }
      if (retention_every_.count() > 0 && now >= next_retention) {
        lock.unlock();
        Retention();
        lock.lock();
        next_retention = now + retention_every_;
      }
      auto wake = next_gauges;
      if (retention_every_.count() > 0) wake = std::min(wake, next_retention);
      cv_.wait_until(lock, wake, [this] { return stop_; });
    }
  }

  storage::RecordingStore* const store_;
  const storage::MediaVolume* const volume_;
  RecordingServiceImpl* const service_;
  RecordingIntake* const intake_;
  Publisher* const publisher_;
  RecordingMetrics* const metrics_;
  const std::chrono::milliseconds gauges_every_;
  const std::chrono::milliseconds retention_every_;
  std::function<void(const std::string& tenant)> weekly_sample_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the file"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int RunRecordingApp(int argc, char** argv) {
  Flags f;
  CLI::App cli{
      "sb-recording: Switchboard's recording and call-review (QA) service. Starts, pauses and "
      "stops recordings from routing events (sb.routing.events.v1) and policy obligations "
      "(sb.policy.decisions.v1), stores uploaded media on a volume with its SHA-256, keeps a "
      "hash-chained audit log of every recording action, runs retention, legal hold and "
      "privacy erasure, opens review tasks, and publishes sb.recording.events.v1. gRPC: "
      "RecordingService, ReviewService, FeedbackService.",
      "sb-recording"};
  f.common.listen = "127.0.0.1:7100";
  f.common.metrics_listen = "127.0.0.1:9500";
  app::AddCommonFlags(&cli, &f.common);
  cli.add_option("--data-dir", f.data_dir,
                 "Directory for the embedded SQLite database (recording.db) and the media "
                 "(media/) when --store / --media-dir are not given; created if missing")
      ->capture_default_str();
  cli.add_option("--store", f.store,
                 "The database: sqlite:///ABS/PATH.db, sqlite://REL/PATH.db, sqlite::memory: or "
                 "postgresql://USER@HOST:PORT/DB?... (libpq URI). Default: "
                 "sqlite://<data-dir>/recording.db");
  cli.add_option("--media-dir", f.media_dir,
                 "The media volume (a directory; shared by every replica). Default: "
                 "<data-dir>/media");
  cli.add_option("--qa-config", f.qa_config,
                 "QA configuration YAML (deploy/recording/qa.yaml; docs/qa.md). Default: the "
                 "compiled-in copy of deploy/recording/qa.yaml");
  cli.add_option("--max-upload-bytes", f.max_upload_bytes,
                 "Largest media upload accepted (larger: RESOURCE_EXHAUSTED TOO_LARGE)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{64} << 30));
  cli.add_option("--retention-interval-ms", f.retention_interval_ms,
                 "How often the retention job runs for the tenants seen (0: only through "
                 "RunRetention)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{7} * 86400000));
  cli.add_option("--gauges-interval-ms", f.gauges_interval_ms,
                 "How often the store-derived gauges (open reviews, bytes stored) are refreshed")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{100}, int64_t{3600000}));
  cli.add_option("--record-queues", f.record_queues,
                 "The recording policy: the queues whose interactions are recorded when they "
                 "connect, comma-separated; * records every queue")
      ->capture_default_str();
  cli.add_option("--max-message-bytes", f.max_message_bytes,
                 "Largest gRPC message accepted (an upload chunk must fit)")
      ->capture_default_str()
      ->check(CLI::Range(1024, 64 << 20));
  cli.add_option("--shutdown-timeout-ms", f.shutdown_timeout_ms,
                 "On SIGTERM, how long calls in flight may finish")
      ->capture_default_str()
      ->check(CLI::Range(100, 600000));
  cli.footer(
      "Prints `grpc=ADDR`, `metrics=ADDR`, then `ready` once the ingest has caught up with the "
      "events retained at start (gRPC health SERVING). A bad --store URL or --qa-config is an "
      "error (exit 2); Kafka unreachable exits 1. SIGTERM/SIGINT: stop the ingest, finish the "
      "calls in flight, flush, exit 0.\n\nExamples:\n"
      "  sb-recording --bootstrap-file /tmp/sb/bootstrap --data-dir /tmp/sb/recording\n"
      "  sb-recording --bootstrap kafka:9092 --store "
      "'postgresql://sb@postgres:5432/recording?sslmode=require' --media-dir /media "
      "--qa-config /etc/switchboard/qa.yaml --record-queues support,billing");
  CLI11_PARSE(cli, argc, argv);
  app::SetUpLogging("sb-recording", f.common);

  absl::StatusOr<kafka_io::KafkaConfig> kafka =
      app::KafkaFromFlags(f.common, absl::StrCat("sb-recording-", getpid()));
  if (!kafka.ok()) {
    std::cerr << "error: " << kafka.status().message() << "\n";
    return 2;
  }

  // The QA configuration.
  std::unique_ptr<qa::QaConfig> loaded_qa;
  if (!f.qa_config.empty()) {
    absl::StatusOr<std::string> text = ReadFile(f.qa_config);
    absl::StatusOr<qa::QaConfig> parsed = text.ok() ? qa::ParseQaConfig(*text, f.qa_config)
                                                    : absl::StatusOr<qa::QaConfig>(text.status());
    if (!parsed.ok()) {
      std::cerr << "error: --qa-config: " << parsed.status().message() << "\n";
      return 2;
    }
    loaded_qa = std::make_unique<qa::QaConfig>(*std::move(parsed));
  }
  const qa::QaConfig* qa_config = loaded_qa ? loaded_qa.get() : &qa::DefaultQaConfig();

  // The store and the media volume.
  std::error_code ec;
  if (f.store.empty() || f.media_dir.empty()) {
    fs::create_directories(f.data_dir, ec);
    if (ec) {
      std::cerr << "error: --data-dir " << f.data_dir << ": " << ec.message() << "\n";
      return 2;
    }
  }
  if (f.store.empty()) f.store = absl::StrCat("sqlite://", f.data_dir, "/recording.db");
  if (f.media_dir.empty()) f.media_dir = absl::StrCat(f.data_dir, "/media");
  fs::create_directories(f.media_dir, ec);
  if (ec) {
    std::cerr << "error: --media-dir " << f.media_dir << ": " << ec.message() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<storage::RecordingStore>> store = storage::OpenStore(f.store);
  if (!store.ok()) {
    std::cerr << "error: --store: " << store.status().message() << "\n";
    if (store.status().code() == absl::StatusCode::kInvalidArgument) {
      std::cerr << "(expected sqlite:///ABS/PATH.db, sqlite://REL/PATH.db, sqlite::memory: or "
                   "postgresql://...)\n";
    }
    return 2;
  }
  storage::MediaVolume volume(fs::absolute(f.media_dir).string());

  RecordPolicy record;
  if (f.record_queues != "*") {
    record.all = false;
    for (absl::string_view q : absl::StrSplit(f.record_queues, ',', absl::SkipWhitespace())) {
      record.queues.insert(std::string(q));
    }
  }

  app::TerminationSignals signals;  // before any thread starts

  RecordingMetrics metrics;
  kafka_io::ProducerOptions po;
  po.kafka = *kafka;
  absl::StatusOr<std::unique_ptr<kafka_io::Producer>> producer = kafka_io::Producer::Create(po);
  if (!producer.ok()) {
    std::cerr << "error: cannot create the " << kRecordingEventsTopic
              << " producer: " << producer.status().message() << "\n";
    return 1;
  }
  kafka_io::Producer* raw_producer = producer->get();
  Publisher publisher(
      [raw_producer, &metrics](const std::string& key, const std::string& value) {
        absl::Status s = raw_producer->ProduceAsync(
            kRecordingEventsTopic, key, value,
            [&metrics](absl::StatusOr<kafka_io::RecordPosition> done) {
              metrics.Published(done.ok());
              if (!done.ok()) spdlog::warn("recording event lost: {}", done.status().ToString());
            });
        if (!s.ok()) {
          metrics.Published(false);
          spdlog::warn("recording event not sent: {}", s.ToString());
        }
      },
      [] { return app::NowMs(); }, &metrics, absl::StrFormat("%08x", std::random_device{}()));

  RecordingIntake intake(store->get(), &publisher, &metrics, record);
  RecordingServiceOptions options;
  options.max_upload_bytes = f.max_upload_bytes;
  options.now_ms = [] { return app::NowMs(); };
  RecordingServiceImpl recordings(store->get(), &volume, &intake, &publisher, &metrics, options);

  IngestHandlers handlers;
  handlers.routing.push_back([&intake](const ::switchboard::routing::v1::RoutingEvent& e) {
    return intake.OnRoutingEvent(e);
  });
  handlers.decisions.push_back(
      [&intake](const ::switchboard::policy::v1::PolicyDecision& d, const std::string&) {
        return intake.OnPolicyDecision(d);
      });
  std::vector<grpc::Service*> services = {&recordings};
  ReviewIntake reviews_intake(store->get(), qa_config, &publisher);
  ReviewServiceImpl reviews(store->get(), qa_config, &publisher);
  FeedbackServiceImpl feedback(store->get(), qa_config, &publisher);
  handlers.routing.push_back([&reviews_intake](const ::switchboard::routing::v1::RoutingEvent& e) {
    return reviews_intake.OnRoutingEvent(e);
  });
  handlers.decisions.push_back([&reviews_intake](const ::switchboard::policy::v1::PolicyDecision& d,
                                                 const std::string& event_id) {
    return reviews_intake.OnPolicyDecision(d, event_id);
  });
  services.push_back(&reviews);
  services.push_back(&feedback);
  spdlog::info("serving ReviewService and FeedbackService (qa config {})",
               qa_config->content_hash());

  absl::StatusOr<std::unique_ptr<Ingest>> ingest = Ingest::Start(*kafka, handlers, &metrics);
  if (!ingest.ok()) {
    std::cerr << "error: cannot reach Kafka at " << kafka->bootstrap_servers << ": "
              << ingest.status()
              << "\n(check --bootstrap; topics must exist: " << kRoutingEventsTopic << ", "
              << kPolicyDecisionsTopic << ", " << kRecordingEventsTopic << ")\n";
    return 1;
  }

  absl::StatusOr<std::unique_ptr<grpc::Server>> server =
      app::StartGrpcServer(f.common, f.max_message_bytes, services);
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
  Housekeeping housekeeping(store->get(), &volume, &recordings, &intake, &publisher, &metrics,
                            std::chrono::milliseconds(f.gauges_interval_ms),
                            std::chrono::milliseconds(f.retention_interval_ms));
  housekeeping.SetWeeklySample([&reviews](const std::string& tenant) {
    v1::RunWeeklySampleRequest req;
    req.set_tenant_id(tenant);
    req.mutable_principal()->set_subject("system:weekly-sample");
    req.mutable_principal()->set_role("admin");
    *req.mutable_week_of() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
        app::NowMs() - int64_t{7} * 24 * 3600 * 1000);
    v1::RunWeeklySampleResponse resp;
    grpc::ServerContext ctx;
    const grpc::Status s = reviews.RunWeeklySample(&ctx, &req, &resp);
    if (!s.ok()) {
      spdlog::warn("weekly sample of tenant {}: {}", tenant, s.error_message());
    } else if (resp.created_size() > 0) {
      spdlog::info("weekly sample of tenant {}: {} review(s)", tenant, resp.created_size());
    }
  });
  housekeeping.Start();

  app::ReadinessWatch readiness(
      server->get(), [&] { return (*ingest)->caught_up(); }, [&] { return (*ingest)->failed(); });
  spdlog::info("serving RecordingService on {} (store {}, media {})", f.common.listen,
               f.store.rfind("postgres", 0) == 0 ? "postgresql" : f.store, f.media_dir);

  const int sig = signals.Wait();
  spdlog::info("signal {}: shutting down", sig);
  readiness.Stop();
  health->SetServingStatus(false);
  (*ingest)->Stop();
  (*server)->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(f.shutdown_timeout_ms));
  housekeeping.Stop();
  if (absl::Status s = (*producer)->Flush(std::chrono::milliseconds(f.shutdown_timeout_ms));
      !s.ok()) {
    spdlog::warn("recording events not flushed: {}", s.ToString());
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace sb::recording
