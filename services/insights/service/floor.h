// The mapping between the insights core (insights/core) and the wire (switchboard.insights.v1):
// core snapshots to proto messages, and the requests' parsing and validation (stable reasons).
// One place, used by the gRPC service and by the InsightsSource the dashboard's HTTP server reads,
// so both answer the same thing.
//
// Pure functions (no IO, no clock: "now" is a parameter); thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "insights/core/forecast.h"
#include "insights/core/intervals.h"
#include "insights/core/stats.h"
#include "switchboard/insights/v1/insights.pb.h"

namespace sb::insights::service {

namespace iv1 = ::switchboard::insights::v1;

inline constexpr int64_t kDayMs = 86'400'000;

// "available", "aux", "offline"; "unspecified" for PRESENCE_UNSPECIFIED (the enum value name
// without the PRESENCE_ prefix, lower case).
std::string PresenceName(rv1::Presence presence);

void ToProto(const WindowStats& in, iv1::WindowStats* out);
void ToProto(const QueueSnapshot& in, iv1::QueueFigures* out);
void ToProto(const AgentSnapshot& in, iv1::AgentFigures* out);
void ToProto(const LongInteraction& in, iv1::LongInteraction* out);
void ToProto(const WaitingEscalation& in, iv1::WaitingEscalation* out);
void ToProto(const IntervalAggregate& in, bool open, iv1::Interval* out);
void ToProto(const ForecastTable& in, iv1::Forecast* out);  // `table` filled with FormatTable

// What a Floor is made of, taken from Statistics under its owner's lock.
struct FloorParts {
  std::vector<QueueSnapshot> queues;
  std::vector<AgentSnapshot> agents;
  std::vector<LongInteraction> long_interactions;
  std::vector<WaitingEscalation> escalations;
};
iv1::Floor BuildFloor(const std::string& tenant, int64_t now_ms, const FloorParts& parts,
                      int64_t events_applied);

// The UTC midnight of "YYYY-MM-DD"; an empty day is tomorrow (UTC) of now_ms.
// INVALID_ARGUMENT "BAD_DAY: ..." otherwise.
absl::StatusOr<int64_t> ParseDay(std::string_view day, int64_t now_ms);
// "YYYY-MM-DD" of a UTC midnight.
std::string DayName(int64_t day_start_ms);

// The queue's service level as the forecast defaults (nullopt: the queue is not known).
struct QueueTargets {
  double sl_target = 0;
  int64_t sl_threshold_ms = 0;
};

// The forecast options of a request, with the request's zeros replaced by the defaults (the
// queue's SL when known, else 80% / 20 s; 4 periods; alpha 0.5; no caps; patience estimated).
// INVALID_ARGUMENT "BAD_TENANT: ..." / "BAD_QUEUE: ..." for a missing tenant or queue,
// "BAD_OPTION: <field>: ..." for a value out of range or an unknown seasonality/weighting.
absl::StatusOr<ForecastOptions> ForecastOptionsFrom(const iv1::GetForecastRequest& request,
                                                    const std::optional<QueueTargets>& queue);

// The history a forecast of `day_start_ms` reads: [from, day_start_ms).
int64_t ForecastHistoryFromMs(const ForecastOptions& options, int64_t day_start_ms);

// Of records with several interval lengths (the service ran with another --interval-ms), the
// ones of the most frequent length (ties: the longest), so Forecast sees one length.
std::vector<IntervalAggregate> OneLength(std::vector<IntervalAggregate> records);

// [from_ms, to_ms) of a GetIntervalsRequest: to unset = now, from unset = to - 7 days.
// INVALID_ARGUMENT "BAD_TENANT: ..." without a tenant, "BAD_TIME_RANGE: ..." when from >= to or
// the range exceeds `max_range_ms`.
struct TimeRange {
  int64_t from_ms = 0;
  int64_t to_ms = 0;
};
absl::StatusOr<TimeRange> ParseIntervalsRange(const iv1::GetIntervalsRequest& request,
                                              int64_t now_ms, int64_t max_range_ms = 400 * kDayMs);

}  // namespace sb::insights::service
