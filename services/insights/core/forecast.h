// Staffing forecast: from the interval history of a queue, the expected arrivals and AHT of each
// interval of a day, and the agents needed per interval for a service-level target by Erlang C
// and by Erlang A (with abandonment, patience estimated from the same history).
//
// Method (docs/insights.md "Forecast"): for each interval of the target day, the observations are
// the same interval of the day on the previous `periods` days (kDaily) or on the same weekday of
// the previous `periods` weeks (kWeekly), most recent first. Arrivals are their weighted mean
// (equal weights, or exponential weights alpha (1 - alpha)^k for the k-th most recent); AHT is
// the weighted handle time over the weighted handled count. A past day before the first day with
// any record is not an observation (no data yet); within the history, a missing interval is zero
// arrivals (IntervalBook writes no record for an idle interval).
//
// Pure; thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "insights/core/intervals.h"

namespace sb::insights {

enum class Seasonality { kDaily, kWeekly };
enum class Weighting { kEqual, kExponential };

struct ForecastOptions {
  Seasonality seasonality = Seasonality::kWeekly;
  int periods = 4;  // past days (kDaily) or weeks (kWeekly) to look at, 1..366
  Weighting weighting = Weighting::kEqual;
  double alpha = 0.5;  // kExponential: weight of the most recent observation, (0, 1]
  double sl_target = 0.8;
  int64_t sl_threshold_ms = 20 * 1000;
  double max_occupancy = 1.0;  // (0, 1]; 1 = no cap
  // Erlang A only: the most P(abandon) allowed, (0, 1]; 1 = no cap. With a long threshold the SL
  // alone can be met by an overloaded queue whose callers abandon before T (they are neutral in
  // the SL): see ErlangARequiredAgents.
  double max_abandon = 1.0;
  // AHT when no observation of an interval has a handled interaction: the history's overall AHT,
  // else this.
  int64_t default_aht_ms = 180 * 1000;
  // Mean patience for Erlang A; nullopt: estimated from the whole history (EstimateMeanPatienceS);
  // when the history has no abandons either, Erlang A rows equal Erlang C.
  std::optional<int64_t> patience_ms;
  int max_agents = 100000;

  absl::Status Validate() const;
};

struct ForecastRow {
  int64_t start_ms = 0;  // the interval of the target day
  int observations = 0;  // past intervals averaged
  double offered = 0;    // expected arrivals in the interval
  double rate_per_hour = 0;
  double aht_s = 0;
  double load_erlangs = 0;  // rate x AHT
  // Erlang C
  int agents_erlang_c = 0;
  double sl_erlang_c = 1;  // with that many agents
  double asa_erlang_c_s = 0;
  double occupancy_erlang_c = 0;
  // Erlang A
  int agents_erlang_a = 0;
  double sl_erlang_a = 1;
  double asa_erlang_a_s = 0;
  double abandon_erlang_a = 0;  // P(abandon)
  double occupancy_erlang_a = 0;
};

struct ForecastTable {
  std::string tenant_id;
  std::string queue_id;
  int64_t day_start_ms = 0;
  int64_t interval_ms = kIntervalMs;
  double sl_target = 0;
  int64_t sl_threshold_ms = 0;
  std::optional<double> patience_s;  // used for Erlang A (nullopt: none, Erlang A = Erlang C)
  bool patience_estimated = false;   // from history rather than given
  std::vector<ForecastRow> rows;     // one per interval of the day, in time order

  double total_offered() const;
  // Agent-hours: sum of agents x interval length.
  double agent_hours_erlang_c() const;
  double agent_hours_erlang_a() const;
};

// Forecasts `day_start_ms` (UTC midnight) for one queue from `history` (records of other queues
// or tenants are ignored; records on or after day_start_ms too). Records with the same key are
// merged. InvalidArgument for bad options or a day_start_ms that is not a UTC midnight.
absl::StatusOr<ForecastTable> Forecast(const std::string& tenant_id, const std::string& queue_id,
                                       int64_t day_start_ms,
                                       const std::vector<IntervalAggregate>& history,
                                       const ForecastOptions& options);

// Mean patience from interval records (EstimateMeanPatienceS over their sums), in seconds.
std::optional<double> EstimatePatienceS(const std::vector<IntervalAggregate>& history);

// The table as fixed-width text, for `switchboard forecast`.
std::string FormatTable(const ForecastTable& table);

}  // namespace sb::insights
