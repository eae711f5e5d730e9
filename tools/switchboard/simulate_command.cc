// switchboard simulate: runs a scenario through the routing engine in virtual time.

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "fmt/format.h"
#include "routing/config/duration.h"
#include "simulator/report.h"
#include "simulator/scenario.h"
#include "simulator/simulator.h"
#include "switchboard/commands.h"

namespace sb::cli {
namespace {

struct SimulateFlags {
  std::string scenario;
  std::optional<uint64_t> seed;
  std::string duration;
  bool json = false;
  bool progress = false;
  bool quiet = false;
};

// Prints "\r  42.0%  3h21m of 8h  123456 commands  234567 events" on stderr at most five times a
// second of wall-clock time. Only reads the clock: the run's results do not depend on it.
class ProgressLine {
 public:
  void Update(const sim::Progress& p, bool final) {
    const auto now = std::chrono::steady_clock::now();
    if (!final && shown_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    shown_ = true;
    const double pct = p.duration_ms > 0 ? 100.0 * static_cast<double>(p.virtual_ms) /
                                               static_cast<double>(p.duration_ms)
                                         : 100.0;
    std::fprintf(stderr, "\r\033[K  %5.1f%%  %s of %s virtual  %lld commands  %lld events", pct,
                 sim::FormatSeconds(static_cast<double>(p.virtual_ms)).c_str(),
                 sim::FormatSeconds(static_cast<double>(p.duration_ms)).c_str(),
                 static_cast<long long>(p.commands), static_cast<long long>(p.events));
    std::fflush(stderr);
  }
  void Clear() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }

 private:
  std::chrono::steady_clock::time_point last_;
  bool shown_ = false;
};

int RunSimulate(const SimulateFlags& flags) {
  absl::StatusOr<sim::Scenario> scenario = sim::LoadScenario(flags.scenario);
  if (!scenario.ok()) {
    std::cerr << "switchboard simulate: " << scenario.status().message() << "\n";
    return 1;
  }
  sim::SimOptions options;
  options.seed = flags.seed;
  if (!flags.duration.empty()) {
    absl::StatusOr<int64_t> ms = routing::config::ParseDurationMs(flags.duration);
    if (!ms.ok() || *ms <= 0) {
      std::cerr << "switchboard simulate: --duration: "
                << (ms.ok() ? std::string("must be > 0") : std::string(ms.status().message()))
                << "\n";
      return 2;
    }
    if (*ms <= scenario->warmup_ms) {
      std::cerr << "switchboard simulate: --duration: must be longer than the scenario's warmup ("
                << routing::config::FormatDurationMs(scenario->warmup_ms) << ")\n";
      return 2;
    }
    options.duration_ms = *ms;
  }
  ProgressLine progress;
  const bool show_progress = !flags.quiet && (flags.progress || isatty(STDERR_FILENO) != 0);
  if (show_progress) {
    options.on_progress = [&progress](const sim::Progress& p) {
      progress.Update(p, p.virtual_ms >= p.duration_ms);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<sim::Report> report = sim::RunSimulation(*scenario, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (show_progress) progress.Clear();
  if (!report.ok()) {
    std::cerr << "switchboard simulate: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << (flags.json ? sim::FormatJson(*report) : sim::FormatTable(*report));
  std::cout.flush();
  if (!flags.quiet) {
    std::cerr << fmt::format("simulated {} in {:.2f} s of wall-clock time ({:.0f} commands/s)\n",
                             routing::config::FormatDurationMs(report->duration_ms), seconds,
                             seconds > 0 ? static_cast<double>(report->commands) / seconds : 0.0);
  }
  return 0;
}

}  // namespace

void AddSimulateCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<SimulateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Run a call-center scenario through the routing engine in virtual time and report service "
      "level, ASA, AHT, abandons, overflow and occupancy per queue. Deterministic for a seed; "
      "no real time passes and nothing is sent anywhere.");
  cmd->add_option("scenario", flags->scenario,
                  "Scenario YAML: routing (queues, agents), arrivals, handle_time, patience, "
                  "agent_behavior, shifts. See docs/simulator.md.")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--seed", flags->seed,
                  "Random seed, overriding the scenario's `seed:` (same seed, same report).");
  cmd->add_option("--duration", flags->duration,
                  "Virtual time to simulate, overriding the scenario's `duration:`, e.g. 30m, "
                  "8h, 1h30m.");
  cmd->add_flag("--json", flags->json, "Print the report as JSON instead of a table.");
  cmd->add_flag("--progress", flags->progress,
                "Show progress on stderr even when it is not a terminal (it is shown on a "
                "terminal anyway).");
  cmd->add_flag("--quiet,-q", flags->quiet,
                "No progress and no timing line on stderr; only the report on stdout.");
  cmd->footer(
      "Examples:\n"
      "  switchboard simulate tools/simulator/scenarios/contact_center.yaml\n"
      "  switchboard simulate overload.yaml --seed 7 --duration 2h --json > report.json\n"
      "Exit status: 0 on success, 1 if the scenario is invalid or the engine rejected its "
      "routing config, 2 for bad flags.");
  cmd->callback([flags, exit_code] { *exit_code = RunSimulate(*flags); });
}

}  // namespace sb::cli
