#include "simulator/report.h"

#include <cmath>

#include "fmt/format.h"
#include "routing/config/duration.h"

namespace sb::sim {
namespace {

std::optional<double> Ratio(double num, double den) {
  if (den <= 0) return std::nullopt;
  return num / den;
}

std::string Percent(std::optional<double> v) {
  return v.has_value() ? fmt::format("{:.1f}%", *v * 100) : "-";
}

std::string Seconds(std::optional<double> ms) { return ms.has_value() ? FormatSeconds(*ms) : "-"; }

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<int>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(std::optional<double> v, int decimals) {
  if (!v.has_value() || !std::isfinite(*v)) return "null";
  return fmt::format("{:.{}f}", *v, decimals);
}

std::string QueueJson(const QueueStats& s, const std::string& indent) {
  std::string o = "{\n";
  auto field = [&](const std::string& name, const std::string& value, bool last = false) {
    o += fmt::format("{}  \"{}\": {}{}\n", indent, name, value, last ? "" : ",");
  };
  field("queue", JsonString(s.queue_id));
  field("offered", std::to_string(s.offered()));
  field("arrivals", std::to_string(s.arrivals));
  field("overflow_in", std::to_string(s.overflow_in));
  field("answered", std::to_string(s.answered));
  field("abandoned", std::to_string(s.abandoned));
  field("abandoned_within_threshold", std::to_string(s.abandoned_within_sl));
  field("overflowed", std::to_string(s.overflowed));
  field("waiting_at_end", std::to_string(s.waiting_at_end));
  field("service_level", JsonNumber(s.service_level(), 4));
  field("service_level_threshold_ms",
        s.sl_threshold_ms > 0 ? std::to_string(s.sl_threshold_ms) : std::string("null"));
  field("service_level_target", s.sl_target > 0 ? JsonNumber(s.sl_target, 4) : "null");
  field("answered_within_threshold", std::to_string(s.answered_within_sl));
  field("asa_ms", JsonNumber(s.asa_ms(), 0));
  field("aht_ms", JsonNumber(s.aht_ms(), 0));
  field("talk_time_ms", JsonNumber(s.talk_time_ms(), 0));
  field("handled", std::to_string(s.handled));
  field("max_wait_ms", std::to_string(s.max_wait_ms));
  field("occupancy", JsonNumber(s.occupancy(), 4));
  field("agents", std::to_string(s.agents));
  field("offers", std::to_string(s.offers));
  field("offers_rejected", std::to_string(s.offers_rejected));
  field("offers_missed", std::to_string(s.offers_missed), /*last=*/true);
  return o + indent + "}";
}

}  // namespace

std::optional<double> QueueStats::service_level() const {
  const int64_t abandoned_after = abandoned - abandoned_within_sl;
  return Ratio(static_cast<double>(answered_within_sl),
               static_cast<double>(answered + abandoned_after));
}
std::optional<double> QueueStats::asa_ms() const {
  return Ratio(static_cast<double>(answered_wait_ms), static_cast<double>(answered));
}
std::optional<double> QueueStats::aht_ms() const {
  return Ratio(static_cast<double>(talk_ms + wrap_up_ms), static_cast<double>(handled));
}
std::optional<double> QueueStats::talk_time_ms() const {
  return Ratio(static_cast<double>(talk_ms), static_cast<double>(handled));
}
std::optional<double> QueueStats::occupancy() const {
  return Ratio(static_cast<double>(agent_busy_ms),
               static_cast<double>(agent_busy_ms + agent_idle_ms));
}

std::string FormatSeconds(double ms) {
  const int64_t s = std::llround(ms / 1000);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, s / 60 % 60);
}

std::string FormatTable(const Report& r) {
  using routing::config::FormatDurationMs;
  std::string out =
      fmt::format("Simulated {} of {} (tenant {}, seed {}, warm-up {}): {} agents\n\n",
                  FormatDurationMs(r.duration_ms), r.scenario, r.tenant, r.seed,
                  FormatDurationMs(r.warmup_ms), r.agents);
  size_t width = 5;
  for (const QueueStats& q : r.queues) width = std::max(width, q.queue_id.size());
  const std::string header =
      fmt::format("{:<{}} {:>8} {:>8} {:>9} {:>10} {:>7} {:>7} {:>10} {:>7} {:>7} {:>6} {:>8}\n",
                  "queue", width, "offered", "answered", "abandoned", "overflowed", "waiting", "SL",
                  "SL target", "ASA", "AHT", "occ", "max wait");
  out += header;
  out += std::string(header.size() - 1, '-') + "\n";
  auto row = [&](const QueueStats& q, bool total) {
    std::string target = "-";
    if (total) {
      target = "";
    } else if (q.sl_target > 0) {
      target = fmt::format("{:.0f}%/{}", q.sl_target * 100, FormatDurationMs(q.sl_threshold_ms));
    } else {
      target = fmt::format("-/{}", FormatDurationMs(q.sl_threshold_ms));
    }
    out += fmt::format(
        "{:<{}} {:>8} {:>8} {:>9} {:>10} {:>7} {:>7} {:>10} {:>7} {:>7} {:>6} {:>8}\n", q.queue_id,
        width, q.offered(), q.answered, q.abandoned, q.overflowed, q.waiting_at_end,
        Percent(q.service_level()), target, Seconds(q.asa_ms()), Seconds(q.aht_ms()),
        q.occupancy().has_value() ? fmt::format("{:.0f}%", *q.occupancy() * 100) : "-",
        FormatSeconds(static_cast<double>(q.max_wait_ms)));
  };
  for (const QueueStats& q : r.queues) row(q, false);
  out += std::string(header.size() - 1, '-') + "\n";
  row(r.total, true);
  out += fmt::format(
      "\nSL = answered within the threshold / (answered + abandoned after it); short abandons "
      "excluded.\nASA = mean wait of the answered, from arrival in the center; AHT = talk + "
      "wrap-up; occ = busy / (busy + available) of the queue's agents.\nThe total row's "
      "overflowed counts only callers who left the center (not moves between queues).\n");
  out += fmt::format("\noffers: {} ({} rejected, {} missed)\n", r.total.offers,
                     r.total.offers_rejected, r.total.offers_missed);
  out += fmt::format("engine: {} commands ({} ticks), {} events", r.commands, r.ticks, r.events);
  int64_t rejected = 0;
  std::string reasons;
  for (const auto& [reason, n] : r.rejected) {
    rejected += n;
    reasons += fmt::format("{}{} {}", reasons.empty() ? "" : ", ", reason, n);
  }
  out += rejected == 0 ? ", no command rejected\n"
                       : fmt::format(", {} commands rejected ({})\n", rejected, reasons);
  return out;
}

std::string FormatJson(const Report& r) {
  std::string o = "{\n";
  o += fmt::format("  \"scenario\": {},\n", JsonString(r.scenario));
  o += fmt::format("  \"tenant\": {},\n", JsonString(r.tenant));
  o += fmt::format("  \"seed\": {},\n", r.seed);
  o += fmt::format("  \"duration_ms\": {},\n", r.duration_ms);
  o += fmt::format("  \"warmup_ms\": {},\n", r.warmup_ms);
  o += fmt::format("  \"agents\": {},\n", r.agents);
  o += "  \"queues\": [";
  for (size_t i = 0; i < r.queues.size(); ++i) {
    o += (i == 0 ? "\n    " : ",\n    ") + QueueJson(r.queues[i], "    ");
  }
  o += r.queues.empty() ? "],\n" : "\n  ],\n";
  o += "  \"total\": " + QueueJson(r.total, "  ") + ",\n";
  o += "  \"engine\": {\n";
  o += fmt::format("    \"commands\": {},\n    \"ticks\": {},\n    \"events\": {},\n", r.commands,
                   r.ticks, r.events);
  o += "    \"rejected\": {";
  bool first = true;
  for (const auto& [reason, n] : r.rejected) {
    o += fmt::format("{}{}: {}", first ? "" : ", ", JsonString(reason), n);
    first = false;
  }
  o += "}\n  }\n}\n";
  return o;
}

}  // namespace sb::sim
