#include "insights/service/floor.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/time_util.h"

namespace sb::insights::service {
namespace {

using google::protobuf::util::TimeUtil;

google::protobuf::Timestamp Ts(int64_t ms) { return TimeUtil::MillisecondsToTimestamp(ms); }

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp + (mp < 10 ? 3 : -9);
  *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

absl::Status BadOption(const absl::Status& s) {
  return absl::InvalidArgumentError(absl::StrCat("BAD_OPTION: ", s.message()));
}

}  // namespace

std::string PresenceName(rv1::Presence presence) {
  std::string name = rv1::Presence_Name(presence);
  if (name.empty()) return absl::StrCat("presence_", static_cast<int>(presence));
  constexpr std::string_view kPrefix = "PRESENCE_";
  if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
  return absl::AsciiStrToLower(name);
}

void ToProto(const WindowStats& in, iv1::WindowStats* out) {
  out->set_window_ms(in.window_ms);
  *out->mutable_from() = Ts(in.from_ms);
  const Counts& c = in.counts;
  out->set_offered(c.offered);
  out->set_answered(c.answered);
  out->set_answered_within_sl(c.answered_within_sl);
  out->set_abandoned(c.abandoned);
  out->set_abandoned_after_sl(c.abandoned_after_sl);
  out->set_short_abandoned(c.short_abandoned);
  out->set_left_unanswered(c.left_unanswered);
  out->set_handled(c.handled);
  out->set_offers(c.offers);
  out->set_fifo_inversions(c.fifo_inversions);
  if (in.service_level) out->set_service_level(*in.service_level);
  if (in.asa_ms) out->set_asa_ms(*in.asa_ms);
  if (in.aht_ms) out->set_aht_ms(*in.aht_ms);
  if (in.occupancy) out->set_occupancy(*in.occupancy);
  if (in.abandon_rate) out->set_abandon_rate(*in.abandon_rate);
}

void ToProto(const QueueSnapshot& in, iv1::QueueFigures* out) {
  out->set_queue_id(in.queue_id);
  out->set_name(in.name);
  out->set_sl_threshold_ms(in.sl_threshold_ms);
  out->set_sl_target(in.sl_target);
  out->set_waiting(in.waiting);
  out->set_longest_wait_ms(in.longest_wait_ms);
  out->set_members(in.members);
  out->set_agents_logged_in(in.agents_logged_in);
  out->set_agents_available(in.agents_available);
  out->set_agents_busy(in.agents_busy);
  for (const WindowStats& w : in.windows) ToProto(w, out->add_windows());
  ToProto(in.today, out->mutable_today());
  iv1::OfferSpread* spread = out->mutable_offer_spread();
  spread->set_agents(in.offer_spread.agents);
  if (in.offer_spread.mean_per_hour) spread->set_mean_per_hour(*in.offer_spread.mean_per_hour);
  if (in.offer_spread.coefficient_of_variation) {
    spread->set_coefficient_of_variation(*in.offer_spread.coefficient_of_variation);
  }
  if (in.offer_spread.gini) spread->set_gini(*in.offer_spread.gini);
}

void ToProto(const AgentSnapshot& in, iv1::AgentFigures* out) {
  out->set_agent_id(in.agent_id);
  out->set_name(in.name);
  out->set_team(in.team);
  out->set_presence(PresenceName(in.presence));
  out->set_reason(in.reason);
  out->set_time_in_state_ms(in.time_in_state_ms);
  out->set_offers_pending(in.offers_pending);
  out->set_interactions(in.interactions);
  out->set_busy(in.busy);
  out->set_handled_today(in.handled_today);
  out->set_offers_today(in.offers_today);
  if (in.aht_ms_today) out->set_aht_ms_today(*in.aht_ms_today);
  if (in.occupancy_today) out->set_occupancy_today(*in.occupancy_today);
}

void ToProto(const LongInteraction& in, iv1::LongInteraction* out) {
  out->set_interaction_id(in.interaction_id);
  out->set_agent_id(in.agent_id);
  out->set_queue_id(in.queue_id);
  *out->mutable_connected_at() = Ts(in.connected_at_ms);
  out->set_duration_ms(in.duration_ms);
  out->set_threshold_ms(in.threshold_ms);
}

void ToProto(const WaitingEscalation& in, iv1::WaitingEscalation* out) {
  out->set_task_id(in.task_id);
  out->set_interaction_id(in.interaction_id);
  out->set_agent_id(in.agent_id);
  out->set_team(in.team);
  out->set_reason(in.reason);
  out->set_queue_id(in.queue_id);
  *out->mutable_created_at() = Ts(in.created_at_ms);
  out->set_age_ms(in.age_ms);
}

void ToProto(const IntervalAggregate& in, bool open, iv1::Interval* out) {
  out->set_tenant_id(in.tenant_id);
  out->set_queue_id(in.queue_id);
  *out->mutable_start() = Ts(in.start_ms);
  out->set_length_ms(in.length_ms);
  out->set_offered(in.offered);
  out->set_answered(in.answered);
  out->set_answered_within_sl(in.answered_within_sl);
  out->set_abandoned(in.abandoned);
  out->set_abandoned_after_sl(in.abandoned_after_sl);
  out->set_short_abandoned(in.short_abandoned);
  out->set_left_unanswered(in.left_unanswered);
  out->set_wait_answered_ms(in.wait_answered_ms);
  out->set_wait_abandoned_ms(in.wait_abandoned_ms);
  out->set_wait_unanswered_ms(in.wait_unanswered_ms);
  out->set_max_wait_ms(in.max_wait_ms);
  out->set_handled(in.handled);
  out->set_talk_ms(in.talk_ms);
  out->set_wrap_ms(in.wrap_ms);
  out->set_sl_threshold_ms(in.sl_threshold_ms);
  out->set_open(open);
}

void ToProto(const ForecastTable& in, iv1::Forecast* out) {
  out->set_tenant_id(in.tenant_id);
  out->set_queue_id(in.queue_id);
  out->set_day(DayName(in.day_start_ms));
  out->set_interval_ms(in.interval_ms);
  out->set_sl_target(in.sl_target);
  out->set_sl_threshold_ms(in.sl_threshold_ms);
  if (in.patience_s) out->set_patience_s(*in.patience_s);
  out->set_patience_estimated(in.patience_estimated);
  for (const ForecastRow& r : in.rows) {
    iv1::ForecastRow* row = out->add_rows();
    *row->mutable_start() = Ts(r.start_ms);
    row->set_observations(r.observations);
    row->set_offered(r.offered);
    row->set_rate_per_hour(r.rate_per_hour);
    row->set_aht_s(r.aht_s);
    row->set_load_erlangs(r.load_erlangs);
    row->set_agents_erlang_c(r.agents_erlang_c);
    row->set_sl_erlang_c(r.sl_erlang_c);
    row->set_asa_erlang_c_s(r.asa_erlang_c_s);
    row->set_occupancy_erlang_c(r.occupancy_erlang_c);
    row->set_agents_erlang_a(r.agents_erlang_a);
    row->set_sl_erlang_a(r.sl_erlang_a);
    row->set_asa_erlang_a_s(r.asa_erlang_a_s);
    row->set_abandon_erlang_a(r.abandon_erlang_a);
    row->set_occupancy_erlang_a(r.occupancy_erlang_a);
  }
  out->set_total_offered(in.total_offered());
  out->set_agent_hours_erlang_c(in.agent_hours_erlang_c());
  out->set_agent_hours_erlang_a(in.agent_hours_erlang_a());
  out->set_table(FormatTable(in));
}

iv1::Floor BuildFloor(const std::string& tenant, int64_t now_ms, const FloorParts& parts,
                      int64_t events_applied) {
  iv1::Floor floor;
  floor.set_tenant_id(tenant);
  *floor.mutable_as_of() = Ts(now_ms);
  for (const QueueSnapshot& q : parts.queues) ToProto(q, floor.add_queues());
  for (const AgentSnapshot& a : parts.agents) ToProto(a, floor.add_agents());
  for (const LongInteraction& l : parts.long_interactions) {
    ToProto(l, floor.add_long_interactions());
  }
  for (const WaitingEscalation& e : parts.escalations) ToProto(e, floor.add_escalations());
  floor.set_events_applied(events_applied);
  return floor;
}

absl::StatusOr<int64_t> ParseDay(std::string_view day, int64_t now_ms) {
  if (day.empty()) return (FloorDiv(now_ms, kDayMs) + 1) * kDayMs;
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("BAD_DAY: day must be YYYY-MM-DD (UTC), got '", std::string(day), "'"));
  };
  if (day.size() != 10 || day[4] != '-' || day[7] != '-') return bad();
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!std::isdigit(static_cast<unsigned char>(day[i]))) return bad();
  }
  auto num = [&](size_t from, size_t n) {
    int64_t v = 0;
    for (size_t i = from; i < from + n; ++i) v = v * 10 + (day[i] - '0');
    return v;
  };
  const int64_t y = num(0, 4), m = num(5, 2), d = num(8, 2);
  if (m < 1 || m > 12 || d < 1 || d > 31) return bad();
  const int64_t days = DaysFromCivil(y, m, d);
  int64_t yy = 0, mm = 0, dd = 0;
  CivilFromDays(days, &yy, &mm, &dd);
  if (yy != y || mm != m || dd != d) return bad();  // 2026-02-30
  return days * kDayMs;
}

std::string DayName(int64_t day_start_ms) {
  int64_t y = 0, m = 0, d = 0;
  CivilFromDays(FloorDiv(day_start_ms, kDayMs), &y, &m, &d);
  return absl::StrFormat("%04d-%02d-%02d", y, m, d);
}

absl::StatusOr<ForecastOptions> ForecastOptionsFrom(const iv1::GetForecastRequest& request,
                                                    const std::optional<QueueTargets>& queue) {
  if (request.tenant_id().empty()) {
    return absl::InvalidArgumentError("BAD_TENANT: tenant_id is required");
  }
  if (request.queue_id().empty()) {
    return absl::InvalidArgumentError("BAD_QUEUE: queue_id is required");
  }
  ForecastOptions o;
  const std::string seasonality = absl::AsciiStrToLower(request.seasonality());
  if (seasonality.empty() || seasonality == "weekly") {
    o.seasonality = Seasonality::kWeekly;
  } else if (seasonality == "daily") {
    o.seasonality = Seasonality::kDaily;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "BAD_OPTION: seasonality: must be weekly or daily, got '", request.seasonality(), "'"));
  }
  const std::string weighting = absl::AsciiStrToLower(request.weighting());
  if (weighting.empty() || weighting == "equal") {
    o.weighting = Weighting::kEqual;
  } else if (weighting == "exponential") {
    o.weighting = Weighting::kExponential;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "BAD_OPTION: weighting: must be equal or exponential, got '", request.weighting(), "'"));
  }
  if (request.periods() != 0) o.periods = request.periods();
  if (request.alpha() != 0) o.alpha = request.alpha();
  if (request.sl_target() != 0) {
    o.sl_target = request.sl_target();
  } else if (queue && queue->sl_target > 0 && queue->sl_target < 1) {
    o.sl_target = queue->sl_target;
  }
  if (request.sl_threshold_ms() != 0) {
    o.sl_threshold_ms = request.sl_threshold_ms();
  } else if (queue && queue->sl_threshold_ms > 0) {
    o.sl_threshold_ms = queue->sl_threshold_ms;
  }
  if (request.max_occupancy() != 0) o.max_occupancy = request.max_occupancy();
  if (request.max_abandon() != 0) o.max_abandon = request.max_abandon();
  if (request.patience_ms() != 0) o.patience_ms = request.patience_ms();
  if (absl::Status s = o.Validate(); !s.ok()) return BadOption(s);
  return o;
}

int64_t ForecastHistoryFromMs(const ForecastOptions& options, int64_t day_start_ms) {
  const int64_t days =
      options.seasonality == Seasonality::kWeekly ? 7LL * options.periods : options.periods;
  return day_start_ms - days * kDayMs;
}

std::vector<IntervalAggregate> OneLength(std::vector<IntervalAggregate> records) {
  std::map<int64_t, int64_t> count;
  for (const IntervalAggregate& r : records) ++count[r.length_ms];
  if (count.size() <= 1) return records;
  int64_t best = 0, best_n = -1;
  for (const auto& [len, n] : count) {
    if (n >= best_n) best = len, best_n = n;
  }
  records.erase(std::remove_if(records.begin(), records.end(),
                               [best](const IntervalAggregate& r) { return r.length_ms != best; }),
                records.end());
  return records;
}

absl::StatusOr<TimeRange> ParseIntervalsRange(const iv1::GetIntervalsRequest& request,
                                              int64_t now_ms, int64_t max_range_ms) {
  if (request.tenant_id().empty()) {
    return absl::InvalidArgumentError("BAD_TENANT: tenant_id is required");
  }
  TimeRange r;
  r.to_ms = request.has_to() ? TimeUtil::TimestampToMilliseconds(request.to()) : now_ms;
  r.from_ms =
      request.has_from() ? TimeUtil::TimestampToMilliseconds(request.from()) : r.to_ms - 7 * kDayMs;
  if (r.from_ms >= r.to_ms) {
    return absl::InvalidArgumentError("BAD_TIME_RANGE: `from` must be before `to`");
  }
  if (r.to_ms - r.from_ms > max_range_ms) {
    return absl::InvalidArgumentError(
        absl::StrCat("BAD_TIME_RANGE: at most ", max_range_ms / kDayMs, " days at once"));
  }
  return r;
}

}  // namespace sb::insights::service
