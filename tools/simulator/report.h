// What a simulation run measured, and its two renderings (a table for people, JSON for
// machines). Definitions are in docs/simulator.md ("What the report means").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sb::sim {

// QueueStats
//
// Counters of one queue (or of the whole center, for the total row). Only interactions that
// arrived at or after the warm-up count; agent time is counted from the warm-up on.
struct QueueStats {
  std::string queue_id;  // "total" for the total row
  int64_t sl_threshold_ms = 20000;
  double sl_target = 0;  // 0 = none configured

  int64_t arrivals = 0;     // new callers into this queue
  int64_t overflow_in = 0;  // moved here by another queue's overflow
  int64_t answered = 0;     // connected to an agent in this queue
  int64_t abandoned = 0;    // hung up while waiting (or ringing) in this queue
  // Left this queue by overflow (max wait or queue full): to another queue or out of the center.
  // In the total row: only those that left the center (disconnect, callback, voicemail).
  int64_t overflowed = 0;
  int64_t waiting_at_end = 0;  // still queued or ringing when the run ended

  int64_t answered_within_sl = 0;   // answered with wait <= threshold
  int64_t abandoned_within_sl = 0;  // "short abandons": hung up within the threshold
  int64_t answered_wait_ms = 0;     // sum of waits of the answered
  int64_t max_wait_ms = 0;          // answered, abandoned or still waiting

  int64_t handled = 0;        // wrap-up finished within the run
  int64_t talk_ms = 0;        // of the handled
  int64_t wrap_up_ms = 0;     // of the handled
  int64_t agent_busy_ms = 0;  // member agents: connected or in wrap-up
  int64_t agent_idle_ms = 0;  // member agents: available and holding nothing
  int64_t agents = 0;         // member agents

  int64_t offers = 0;
  int64_t offers_rejected = 0;
  int64_t offers_missed = 0;  // timed out

  // arrivals + overflow_in. Conservation: offered == answered + abandoned + overflowed +
  // waiting_at_end (per queue; for the total, arrivals == the same sum).
  int64_t offered() const { return arrivals + overflow_in; }
  // answered_within_sl / (answered + abandoned after the threshold); nullopt if 0/0.
  std::optional<double> service_level() const;
  std::optional<double> asa_ms() const;        // answered_wait_ms / answered
  std::optional<double> aht_ms() const;        // (talk + wrap-up) / handled
  std::optional<double> talk_time_ms() const;  // talk / handled
  std::optional<double> occupancy() const;     // busy / (busy + idle)

  friend bool operator==(const QueueStats&, const QueueStats&) = default;
};

// Report
//
// The result of one run. Deterministic: the same scenario and seed give an equal report (it
// holds no wall-clock time).
struct Report {
  std::string scenario;
  std::string tenant;
  uint64_t seed = 0;
  int64_t duration_ms = 0;
  int64_t warmup_ms = 0;
  std::vector<QueueStats> queues;  // in the order of the routing config
  QueueStats total;
  int64_t agents = 0;
  int64_t commands = 0;  // applied to the engine, including setup and ticks
  int64_t ticks = 0;
  int64_t events = 0;
  std::map<std::string, int64_t> rejected;  // by reason; expected empty

  friend bool operator==(const Report&, const Report&) = default;
};

// A fixed-width table with one row per queue and a total row, then the engine's counters.
std::string FormatTable(const Report& report);
// One JSON object (see docs/simulator.md for the fields).
std::string FormatJson(const Report& report);
// "45s", "4m05s", "1h02m" (rounded to the second).
std::string FormatSeconds(double ms);

}  // namespace sb::sim
