// The demo's interval history: so that `switchboard up --demo` shows a staffing forecast on its
// first minute, the past days are filled with simulated traffic before sb-insights starts.
//
// One day of the demo's traffic (its routing config, rate, handle time and patience, shaped by
// a typical day's hourly curve) is simulated with the real routing engine in virtual time
// (tools/simulator), its events are turned into 15-minute intervals by the same insights
// statistics the service runs, and those intervals are written, for each of the past `days`
// days, into the insights store. It is labelled simulated wherever `up` mentions it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "routing/config/routing_config.h"

namespace sb::cli {

struct DemoHistoryOptions {
  std::string tenant = "demo";
  std::vector<std::string> queue_ids;  // where callers arrive (split evenly)
  double calls_per_second = 2;         // the day's mean rate
  double mean_handle_seconds = 20;
  double mean_patience_seconds = 90;
  int days = 28;
  uint64_t seed = 1;
  int64_t today_start_ms = 0;  // UTC midnight of today; history ends there
};

struct DemoHistory {
  int64_t intervals_written = 0;
  int64_t calls_per_day = 0;  // simulated arrivals in the one simulated day
};

// Simulates and writes. Errors: the simulator refused the config, the store could not be opened
// or written.
absl::StatusOr<DemoHistory> SeedDemoHistory(const routing::config::RoutingConfig& config,
                                            const DemoHistoryOptions& options,
                                            const std::string& store_url);

}  // namespace sb::cli
