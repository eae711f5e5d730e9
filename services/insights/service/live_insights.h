// LiveInsights: sb-insights' state — one Statistics fed by the ingest thread, the closed
// intervals on their way to the interval store, and the answers (as the insights protos) that
// the gRPC service and the dashboard's HTTP server give.
//
// Interval writing rule (docs/insights.md "The service"): closed intervals are written with
// replace=true when this process saw them from their start, and replace=false (keep a stored row)
// when they started before the first event this process applied for the tenant — the replay
// started mid-interval, so the record is partial and must not overwrite a complete row written by
// an earlier run or another replica. A failed write keeps the records and retries them on the
// next Flush (nothing lost), counting switchboard_insights_store_errors_total.
//
// Threads: Apply, NotifyChanged and Flush are called by the ingest thread (Flush also once more at
// shutdown, after the ingest stopped); the InsightsSource methods and FiguresForMetrics by any
// thread (gRPC, HTTP, housekeeping). One mutex guards the Statistics; store IO happens outside it.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "insights/core/stats.h"
#include "insights/http/source.h"
#include "insights/service/metrics.h"
#include "insights/storage/interval_store.h"

namespace sb::insights::service {

namespace iv1 = ::switchboard::insights::v1;

class LiveInsights : public http::InsightsSource {
 public:
  // `store` and `metrics` are not owned and must outlive this; `now_ms` is the wall clock.
  LiveInsights(StatisticsOptions options, storage::IntervalStore* store, InsightsMetrics* metrics,
               std::function<int64_t()> now_ms);

  // Ingest thread. Applies one event (counted as applied or duplicate).
  void Apply(const rv1::RoutingEvent& event);
  // Wakes WaitForChange callers if something was applied since the last call (after a batch).
  void NotifyChanged();
  // Moves closed intervals to the store. With `advance_clock`, first closes the intervals the wall
  // clock has passed (only once the replay caught up: during the replay the events' own times
  // close the intervals, and a wall-clock close would push the rest of the history into the
  // oldest open interval as late data). Returns the store's error, if any (records kept).
  absl::Status Flush(bool advance_clock);
  // Closed intervals waiting for a store write that failed.
  size_t pending() const;
  int64_t events_applied() const { return events_applied_.load(); }

  // Housekeeping: the figures the gauges show, as of now.
  std::vector<TenantFigures> FiguresForMetrics();

  // InsightsSource
  iv1::ListTenantsResponse ListTenants() override;
  // NOT_FOUND "NO_SUCH_TENANT" for a tenant no event named (after the replay caught up, a typo).
  absl::StatusOr<iv1::Floor> GetFloor(const iv1::GetFloorRequest& request) override;
  absl::StatusOr<iv1::GetIntervalsResponse> GetIntervals(
      const iv1::GetIntervalsRequest& request) override;
  absl::StatusOr<iv1::Forecast> GetForecast(const iv1::GetForecastRequest& request) override;
  uint64_t Version() override;
  uint64_t WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) override;

 private:
  struct Pending {
    IntervalAggregate record;
    bool replace = true;
  };

  storage::IntervalStore* const store_;
  InsightsMetrics* const metrics_;
  const std::function<int64_t()> now_ms_;
  std::atomic<int64_t> events_applied_{0};

  mutable std::mutex mu_;
  std::condition_variable changed_;
  Statistics stats_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t notified_ ABSL_GUARDED_BY(mu_) = 0;
  // The time of the first event applied per tenant (also: the tenants seen).
  std::map<std::string, int64_t, std::less<>> first_event_ms_ ABSL_GUARDED_BY(mu_);

  mutable std::mutex flush_mu_;  // serializes Flush; guards pending_
  std::vector<Pending> pending_ ABSL_GUARDED_BY(flush_mu_);
  bool failing_ ABSL_GUARDED_BY(flush_mu_) = false;
};

}  // namespace sb::insights::service
