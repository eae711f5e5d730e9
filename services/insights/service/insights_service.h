// InsightsServiceImpl: the gRPC switchboard.insights.v1.InsightsService, thin handlers over an
// InsightsSource (LiveInsights in sb-insights): validate, ask the source, map its absl::Status to
// the canonical gRPC code with the stable reason kept as the message prefix.
//
// Threads: gRPC's synchronous server threads. WatchFloor holds one thread per stream; it waits on
// the source's WaitForChange with deadlines of at most 1 s and ends when the client cancels or
// when Stop() was called (before Server::Shutdown, so shutdown does not wait for the streams).
#pragma once

#include <atomic>
#include <chrono>

#include "grpcpp/grpcpp.h"
#include "insights/http/source.h"
#include "insights/service/metrics.h"
#include "switchboard/insights/v1/insights.grpc.pb.h"

namespace sb::insights::service {

namespace iv1 = ::switchboard::insights::v1;

grpc::Status ToGrpc(const absl::Status& status);

struct WatchOptions {
  std::chrono::milliseconds default_min_interval{250};
  std::chrono::milliseconds floor_min_interval{50};
  std::chrono::milliseconds heartbeat{5000};
};

class InsightsServiceImpl final : public iv1::InsightsService::Service {
 public:
  // `source` and `metrics` (may be null) are not owned and must outlive the server.
  InsightsServiceImpl(http::InsightsSource* source, InsightsMetrics* metrics,
                      WatchOptions options = {});

  // Ends every WatchFloor stream within about a second; later ones end at once.
  void Stop() { stopping_.store(true); }
  // Calls in the handlers now (the shutdown waits for them to finish before it cancels the rest).
  int active_calls() const { return active_.load(); }

  grpc::Status ListTenants(grpc::ServerContext* ctx, const iv1::ListTenantsRequest* request,
                           iv1::ListTenantsResponse* response) override;
  grpc::Status GetFloor(grpc::ServerContext* ctx, const iv1::GetFloorRequest* request,
                        iv1::Floor* response) override;
  // The first Floor at once; then on a change, at most every min_interval_ms (default 250, at
  // least 50); at least every heartbeat. A tenant not seen yet gets empty floors (tenant_id,
  // as_of, events_applied) until its first event: a screen opened before the traffic fills in.
  grpc::Status WatchFloor(grpc::ServerContext* ctx, const iv1::WatchFloorRequest* request,
                          grpc::ServerWriter<iv1::Floor>* writer) override;
  grpc::Status GetIntervals(grpc::ServerContext* ctx, const iv1::GetIntervalsRequest* request,
                            iv1::GetIntervalsResponse* response) override;
  grpc::Status GetForecast(grpc::ServerContext* ctx, const iv1::GetForecastRequest* request,
                           iv1::Forecast* response) override;

 private:
  http::InsightsSource* const source_;
  InsightsMetrics* const metrics_;
  const WatchOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_{0};
};

}  // namespace sb::insights::service
