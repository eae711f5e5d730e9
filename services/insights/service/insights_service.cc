#include "insights/service/insights_service.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "insights/service/floor.h"
#include "spdlog/spdlog.h"

namespace sb::insights::service {
namespace {

using Clock = std::chrono::steady_clock;

// Counts a call in a handler for its lifetime.
class CallScope {
 public:
  explicit CallScope(std::atomic<int>* n) : n_(n) { n_->fetch_add(1); }
  ~CallScope() { n_->fetch_sub(1); }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  std::atomic<int>* n_;
};

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

InsightsServiceImpl::InsightsServiceImpl(http::InsightsSource* source, InsightsMetrics* metrics,
                                         WatchOptions options)
    : source_(source), metrics_(metrics), options_(options) {}

grpc::Status InsightsServiceImpl::ListTenants(grpc::ServerContext*, const iv1::ListTenantsRequest*,
                                              iv1::ListTenantsResponse* response) {
  CallScope scope(&active_);
  *response = source_->ListTenants();
  return grpc::Status::OK;
}

grpc::Status InsightsServiceImpl::GetFloor(grpc::ServerContext*,
                                           const iv1::GetFloorRequest* request,
                                           iv1::Floor* response) {
  CallScope scope(&active_);
  absl::StatusOr<iv1::Floor> floor = source_->GetFloor(*request);
  if (!floor.ok()) return ToGrpc(floor.status());
  *response = *std::move(floor);
  return grpc::Status::OK;
}

grpc::Status InsightsServiceImpl::WatchFloor(grpc::ServerContext* ctx,
                                             const iv1::WatchFloorRequest* request,
                                             grpc::ServerWriter<iv1::Floor>* writer) {
  CallScope scope(&active_);
  if (request->tenant_id().empty()) {
    return ToGrpc(absl::InvalidArgumentError("BAD_TENANT: tenant_id is required"));
  }
  if (request->min_interval_ms() < 0) {
    return ToGrpc(absl::InvalidArgumentError("BAD_OPTION: min_interval_ms: must be >= 0"));
  }
  const auto min_interval = request->min_interval_ms() == 0
                                ? options_.default_min_interval
                                : std::max(options_.floor_min_interval,
                                           std::chrono::milliseconds(request->min_interval_ms()));
  iv1::GetFloorRequest get;
  get.set_tenant_id(request->tenant_id());
  auto done = [&] { return stopping_.load() || ctx->IsCancelled(); };
  if (metrics_) metrics_->DashboardClientsChanged(+1);
  struct Leave {
    InsightsMetrics* m;
    ~Leave() {
      if (m) m->DashboardClientsChanged(-1);
    }
  } leave{metrics_};

  uint64_t seen = source_->Version();
  Clock::time_point changed_at = Clock::now();
  while (!done()) {
    absl::StatusOr<iv1::Floor> floor = source_->GetFloor(get);
    if (!floor.ok()) {
      if (floor.status().code() != absl::StatusCode::kNotFound) return ToGrpc(floor.status());
      // Not seen yet: an empty floor, so the screen shows the service is there.
      floor = iv1::Floor();
      floor->set_tenant_id(request->tenant_id());
      *floor->mutable_as_of() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(
          std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::system_clock::now().time_since_epoch())
              .count());
    }
    if (!writer->Write(*floor)) return grpc::Status::OK;  // the client went away
    const Clock::time_point sent = Clock::now();
    if (metrics_) {
      metrics_->ObservePush(std::chrono::duration<double>(sent - changed_at).count());
    }
    // Wait for a change (or the heartbeat), then for the rest of min_interval (coalescing).
    const Clock::time_point heartbeat = sent + options_.heartbeat;
    while (!done()) {
      const Clock::time_point now = Clock::now();
      if (now >= heartbeat) break;
      const uint64_t v =
          source_->WaitForChange(seen, std::min(heartbeat, now + std::chrono::seconds(1)));
      if (v > seen) {
        seen = v;
        break;
      }
    }
    changed_at = Clock::now();
    const Clock::time_point earliest = sent + min_interval;
    while (!done() && Clock::now() < earliest) {
      // Interruptible pause of the rate limit: the version cannot pass UINT64_MAX, so this waits
      // until the deadline (at most 100 ms at a time, to notice shutdown).
      source_->WaitForChange(UINT64_MAX,
                             std::min(earliest, Clock::now() + std::chrono::milliseconds(100)));
    }
    seen = std::max(seen, source_->Version());
  }
  return grpc::Status::OK;
}

grpc::Status InsightsServiceImpl::GetIntervals(grpc::ServerContext*,
                                               const iv1::GetIntervalsRequest* request,
                                               iv1::GetIntervalsResponse* response) {
  CallScope scope(&active_);
  absl::StatusOr<iv1::GetIntervalsResponse> r = source_->GetIntervals(*request);
  if (!r.ok()) return ToGrpc(r.status());
  *response = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status InsightsServiceImpl::GetForecast(grpc::ServerContext*,
                                              const iv1::GetForecastRequest* request,
                                              iv1::Forecast* response) {
  CallScope scope(&active_);
  absl::StatusOr<iv1::Forecast> r = source_->GetForecast(*request);
  if (!r.ok()) return ToGrpc(r.status());
  *response = *std::move(r);
  return grpc::Status::OK;
}

}  // namespace sb::insights::service
