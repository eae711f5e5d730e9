#include "insights/core/forecast.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "insights/core/erlang.h"

namespace sb::insights {
namespace {

constexpr int64_t kDayMs = 24 * 3600 * 1000LL;

}  // namespace

absl::Status ForecastOptions::Validate() const {
  if (periods < 1 || periods > 366) return absl::InvalidArgumentError("periods: must be 1..366");
  if (!(alpha > 0 && alpha <= 1)) return absl::InvalidArgumentError("alpha: must be in (0, 1]");
  if (!(sl_target > 0 && sl_target < 1))
    return absl::InvalidArgumentError("sl_target: must be in (0, 1)");
  if (sl_threshold_ms < 0) return absl::InvalidArgumentError("sl_threshold_ms: must be >= 0");
  if (!(max_occupancy > 0 && max_occupancy <= 1))
    return absl::InvalidArgumentError("max_occupancy: must be in (0, 1]");
  if (!(max_abandon > 0 && max_abandon <= 1))
    return absl::InvalidArgumentError("max_abandon: must be in (0, 1]");
  if (default_aht_ms <= 0) return absl::InvalidArgumentError("default_aht_ms: must be > 0");
  if (patience_ms && *patience_ms <= 0)
    return absl::InvalidArgumentError("patience_ms: must be > 0");
  if (max_agents < 1) return absl::InvalidArgumentError("max_agents: must be >= 1");
  return absl::OkStatus();
}

double ForecastTable::total_offered() const {
  double s = 0;
  for (const ForecastRow& r : rows) s += r.offered;
  return s;
}
double ForecastTable::agent_hours_erlang_c() const {
  double s = 0;
  for (const ForecastRow& r : rows) s += r.agents_erlang_c * (interval_ms / 3600000.0);
  return s;
}
double ForecastTable::agent_hours_erlang_a() const {
  double s = 0;
  for (const ForecastRow& r : rows) s += r.agents_erlang_a * (interval_ms / 3600000.0);
  return s;
}

std::optional<double> EstimatePatienceS(const std::vector<IntervalAggregate>& history) {
  int64_t wait_ms = 0, abandons = 0;
  for (const IntervalAggregate& a : history) {
    wait_ms += a.total_wait_ms();
    abandons += a.abandoned;
  }
  return EstimateMeanPatienceS(static_cast<double>(wait_ms) / 1000.0, abandons);
}

absl::StatusOr<ForecastTable> Forecast(const std::string& tenant_id, const std::string& queue_id,
                                       int64_t day_start_ms,
                                       const std::vector<IntervalAggregate>& history,
                                       const ForecastOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  if (day_start_ms % kDayMs != 0) {
    return absl::InvalidArgumentError(
        "day_start_ms: must be a UTC midnight (a multiple of 86400000)");
  }
  // The queue's records before the day, merged by start.
  std::map<int64_t, IntervalAggregate> by_start;
  int64_t interval_ms = 0;
  for (const IntervalAggregate& a : history) {
    if (a.tenant_id != tenant_id || a.queue_id != queue_id || a.start_ms >= day_start_ms) continue;
    if (interval_ms == 0) interval_ms = a.length_ms;
    if (a.length_ms != interval_ms) {
      return absl::InvalidArgumentError(absl::StrCat("history: mixed interval lengths (",
                                                     interval_ms, " and ", a.length_ms, " ms)"));
    }
    auto [it, inserted] = by_start.try_emplace(a.start_ms, a);
    if (!inserted) {
      if (absl::Status s = Merge(it->second, a); !s.ok()) return s;
    }
  }
  if (interval_ms == 0) interval_ms = kIntervalMs;
  if (kDayMs % interval_ms != 0)
    return absl::InvalidArgumentError("history: interval length must divide a day");

  ForecastTable table;
  table.tenant_id = tenant_id;
  table.queue_id = queue_id;
  table.day_start_ms = day_start_ms;
  table.interval_ms = interval_ms;
  table.sl_target = options.sl_target;
  table.sl_threshold_ms = options.sl_threshold_ms;

  std::vector<IntervalAggregate> records;
  int64_t total_talk = 0, total_wrap = 0, total_handled = 0;
  for (const auto& [start, a] : by_start) {
    records.push_back(a);
    total_talk += a.talk_ms;
    total_wrap += a.wrap_ms;
    total_handled += a.handled;
  }
  if (options.patience_ms) {
    table.patience_s = *options.patience_ms / 1000.0;
  } else {
    table.patience_s = EstimatePatienceS(records);
    table.patience_estimated = table.patience_s.has_value();
  }
  const double fallback_aht_s =
      total_handled > 0 ? (total_talk + total_wrap) / 1000.0 / static_cast<double>(total_handled)
                        : options.default_aht_ms / 1000.0;
  const int64_t first_day =
      by_start.empty() ? day_start_ms : (by_start.begin()->first / kDayMs) * kDayMs;
  const int64_t step = options.seasonality == Seasonality::kDaily ? kDayMs : 7 * kDayMs;
  const double threshold_s = options.sl_threshold_ms / 1000.0;
  const double patience_s = table.patience_s.value_or(INFINITY);

  for (int64_t start = day_start_ms; start < day_start_ms + kDayMs; start += interval_ms) {
    ForecastRow row;
    row.start_ms = start;
    double weight_sum = 0, offered = 0, handle_ms = 0, handled = 0;
    double w = options.weighting == Weighting::kExponential ? options.alpha : 1.0;
    for (int k = 1; k <= options.periods; ++k) {
      const int64_t past = start - k * step;
      if (past < first_day) break;
      auto it = by_start.find(past);
      if (it != by_start.end()) {
        offered += w * static_cast<double>(it->second.offered);
        handle_ms += w * static_cast<double>(it->second.talk_ms + it->second.wrap_ms);
        handled += w * static_cast<double>(it->second.handled);
      }
      weight_sum += w;
      row.observations++;
      if (options.weighting == Weighting::kExponential) w *= 1 - options.alpha;
    }
    row.offered = weight_sum > 0 ? std::max(0.0, offered / weight_sum) : 0;
    row.aht_s = handled > 0 ? handle_ms / handled / 1000.0 : fallback_aht_s;
    const double rate_per_s = row.offered / (interval_ms / 1000.0);
    row.rate_per_hour = rate_per_s * 3600;
    row.load_erlangs = rate_per_s * row.aht_s;
    if (row.offered > 0) {
      row.agents_erlang_c =
          ErlangCRequiredAgents(rate_per_s, row.aht_s, threshold_s, options.sl_target,
                                options.max_occupancy, options.max_agents);
      const ErlangCResult c = ErlangC(row.agents_erlang_c, rate_per_s, row.aht_s, threshold_s);
      row.sl_erlang_c = c.service_level;
      row.asa_erlang_c_s = c.asa_s;
      row.occupancy_erlang_c = c.occupancy;
      row.agents_erlang_a =
          ErlangARequiredAgents(rate_per_s, row.aht_s, patience_s, threshold_s, options.sl_target,
                                options.max_occupancy, options.max_abandon, options.max_agents);
      const ErlangAResult a =
          ErlangA(row.agents_erlang_a, rate_per_s, row.aht_s, patience_s, threshold_s);
      row.sl_erlang_a = a.service_level;
      row.asa_erlang_a_s = a.asa_s;
      row.abandon_erlang_a = a.probability_abandon;
      row.occupancy_erlang_a = a.occupancy;
    }
    table.rows.push_back(row);
  }
  return table;
}

std::string FormatTable(const ForecastTable& t) {
  std::string out = absl::StrFormat(
      "queue %s  SL target %.0f%% in %gs  patience %s\n", t.queue_id, t.sl_target * 100,
      t.sl_threshold_ms / 1000.0,
      t.patience_s
          ? absl::StrFormat("%.0fs%s", *t.patience_s, t.patience_estimated ? " (estimated)" : "")
          : std::string("none (Erlang A = Erlang C)"));
  absl::StrAppendFormat(&out, "%-5s %8s %7s %7s | %6s %6s %7s %5s | %6s %6s %7s %6s\n", "UTC",
                        "offered", "AHT s", "erl", "C agt", "C SL", "C ASA", "C occ", "A agt",
                        "A SL", "A ASA", "A abn");
  for (const ForecastRow& r : t.rows) {
    const int64_t minute_of_day = (r.start_ms % kDayMs) / 60000;
    absl::StrAppendFormat(&out,
                          "%02d:%02d %8.1f %7.0f %7.2f | %6d %5.1f%% %7.1f %4.0f%% | %6d %5.1f%% "
                          "%7.1f %5.1f%%\n",
                          minute_of_day / 60, minute_of_day % 60, r.offered, r.aht_s,
                          r.load_erlangs, r.agents_erlang_c, r.sl_erlang_c * 100, r.asa_erlang_c_s,
                          r.occupancy_erlang_c * 100, r.agents_erlang_a, r.sl_erlang_a * 100,
                          r.asa_erlang_a_s, r.abandon_erlang_a * 100);
  }
  absl::StrAppendFormat(&out, "total offered %.1f; agent-hours Erlang C %.1f, Erlang A %.1f\n",
                        t.total_offered(), t.agent_hours_erlang_c(), t.agent_hours_erlang_a());
  return out;
}

}  // namespace sb::insights
