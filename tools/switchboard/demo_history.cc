#include "switchboard/demo_history.h"

#include <numeric>
#include <utility>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "insights/core/stats.h"
#include "insights/storage/interval_store.h"
#include "simulator/simulator.h"

namespace sb::cli {
namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000;

// Calls per hour of a typical inbound day relative to its mean (hour 0 = 00:00 UTC): quiet
// nights, a morning ramp, a late-morning peak, a dip at lunch, a second peak, an evening tail.
std::vector<double> DayCurve() {
  std::vector<double> curve = {0.15, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 1.0, 1.5, 1.8, 1.9, 1.8,
                               1.5,  1.6, 1.8, 1.7, 1.5,  1.2, 1.0, 0.8, 0.6, 0.4, 0.3, 0.2};
  const double mean = std::accumulate(curve.begin(), curve.end(), 0.0) / curve.size();
  for (double& x : curve) x /= mean;
  return curve;
}

}  // namespace

absl::StatusOr<DemoHistory> SeedDemoHistory(const routing::config::RoutingConfig& config,
                                            const DemoHistoryOptions& options,
                                            const std::string& store_url) {
  if (options.queue_ids.empty() || options.days <= 0) return DemoHistory{};
  absl::StatusOr<std::unique_ptr<insights::storage::IntervalStore>> store =
      insights::storage::OpenIntervalStore(store_url);
  if (!store.ok()) return store.status();
  sim::Scenario scenario;
  scenario.file = "demo history";
  scenario.seed = options.seed;
  scenario.duration_ms = kDayMs;
  scenario.tenant = options.tenant;
  scenario.routing = config;
  const double per_queue_per_hour =
      options.calls_per_second * 3600.0 / static_cast<double>(options.queue_ids.size());
  for (const std::string& queue : options.queue_ids) {
    sim::ArrivalStream arrivals;
    arrivals.queue_id = queue;
    arrivals.rate_per_hour = per_queue_per_hour;
    arrivals.profile = DayCurve();
    scenario.arrivals.push_back(std::move(arrivals));
  }
  for (const routing::v1::Queue& q : config.queues) {
    scenario.handle_time.emplace(
        q.queue_id(), sim::Distribution::Exponential(options.mean_handle_seconds * 1000));
    scenario.patience.emplace(q.queue_id(),
                              sim::Distribution::Exponential(options.mean_patience_seconds * 1000));
  }
  scenario.agent_behavior.accept_delay = sim::Distribution::Uniform(500, 2000);

  // The statistics the service runs, fed in virtual time; the simulated day starts at
  // sim::kSimEpochMs (a multiple of 15 minutes), mapped below onto each past day's midnight.
  insights::Statistics stats;
  DemoHistory result;
  sim::SimOptions sim_options;
  sim_options.observer = [&](const routing::v1::RoutingCommand&,
                             const std::vector<routing::v1::RoutingEvent>& events) {
    for (const routing::v1::RoutingEvent& e : events) {
      stats.Apply(e);
      if (e.has_interaction_queued() && e.interaction_queued().cause() == "enqueued") {
        ++result.calls_per_day;
      }
    }
  };
  absl::StatusOr<sim::Report> report = sim::RunSimulation(scenario, sim_options);
  if (!report.ok()) {
    return absl::Status(
        report.status().code(),
        fmt::format("simulating the demo's history: {}", std::string(report.status().message())));
  }
  stats.AdvanceTime(sim::kSimEpochMs + 2 * kDayMs);
  const std::vector<insights::IntervalAggregate> day = stats.TakeClosedIntervals();

  std::vector<insights::IntervalAggregate> records;
  records.reserve(day.size() * static_cast<size_t>(options.days));
  for (int d = 1; d <= options.days; ++d) {
    const int64_t shift = options.today_start_ms - d * kDayMs - sim::kSimEpochMs;
    for (insights::IntervalAggregate r : day) {
      if (r.start_ms >= sim::kSimEpochMs + kDayMs) continue;  // drain after the day's end
      r.start_ms += shift;
      records.push_back(std::move(r));
    }
  }
  // Keep what is there: a store with real history is never overwritten by simulated days.
  absl::StatusOr<int64_t> written = (*store)->Put(records, /*replace=*/false);
  if (!written.ok()) return written.status();
  result.intervals_written = *written;
  return result;
}

}  // namespace sb::cli
