// What the dashboard's HTTP server (and the gRPC WatchFloor) read: the service's answers as the
// insights protos. Implemented by sb-insights (services/insights/service); a fake implements it in
// the HTTP server's tests.
#pragma once
#include <chrono>
#include <cstdint>

#include "absl/status/statusor.h"
#include "switchboard/insights/v1/insights.pb.h"

namespace sb::insights::http {

namespace iv1 = ::switchboard::insights::v1;

// InsightsSource
//
// Thread-safe: called from the HTTP server's threads and gRPC threads at once. Errors are
// absl::Status with a canonical code and a message starting with a stable reason
// ("BAD_DAY: day must be YYYY-MM-DD, got '2026-13-01'"); the HTTP server maps INVALID_ARGUMENT to
// 400, NOT_FOUND to 404, UNAVAILABLE to 503, others to 500.
class InsightsSource {
 public:
  virtual ~InsightsSource() = default;

  virtual iv1::ListTenantsResponse ListTenants() = 0;
  virtual absl::StatusOr<iv1::Floor> GetFloor(const iv1::GetFloorRequest& request) = 0;
  virtual absl::StatusOr<iv1::GetIntervalsResponse> GetIntervals(
      const iv1::GetIntervalsRequest& request) = 0;
  virtual absl::StatusOr<iv1::Forecast> GetForecast(const iv1::GetForecastRequest& request) = 0;

  // A number that grows whenever an applied event may have changed a Floor (any tenant).
  virtual uint64_t Version() = 0;
  // Blocks until Version() > seen or `deadline` passes; returns Version(). Callers re-check their
  // own stop flag after it returns (wait with a deadline of at most ~1 s to notice shutdown).
  virtual uint64_t WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) = 0;
};

}  // namespace sb::insights::http
