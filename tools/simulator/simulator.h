// The call-center simulator: runs the routing engine in virtual time on a scenario.
//
// A discrete-event simulation: a single thread, no real time. Callers arrive (Poisson), wait,
// abandon when their patience runs out; agents log in, answer offers after a delay (or reject or
// miss them), talk for a handle time and complete; the engine's timers fire through Tick commands
// injected at Engine::NextDeadlineMs(). Deterministic for a seed. See docs/simulator.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "routing/engine/engine.h"
#include "simulator/report.h"
#include "simulator/scenario.h"

namespace sb::sim {

namespace v1 = ::switchboard::routing::v1;

// How far a run has got, for progress indicators.
struct Progress {
  int64_t virtual_ms = 0;   // virtual time since the start of the run
  int64_t duration_ms = 0;  // the run's length
  int64_t commands = 0;
  int64_t events = 0;
};

struct SimOptions {
  std::optional<uint64_t> seed;        // overrides the scenario's
  std::optional<int64_t> duration_ms;  // overrides the scenario's
  // Called every `progress_every` commands and once at the end. It must not touch the engine;
  // whatever it does (read a clock, print) cannot change the results.
  std::function<void(const Progress&)> on_progress;
  int64_t progress_every = 2048;
  // Every command applied and its events (for tests and traces).
  std::function<void(const v1::RoutingCommand&, const std::vector<v1::RoutingEvent>&)> observer;
  // Run Engine::CheckInvariants() every this many commands (0 = never); a violation ends the
  // run with an Internal error. For tests: it costs O(state) per check.
  int64_t check_invariants_every = 0;
};

// The virtual clock starts at this instant (2025-01-06T08:00:00Z, a Monday morning); hour h of
// a scenario's arrival profile is [start + h hours, start + h+1 hours).
inline constexpr int64_t kSimEpochMs = 1736150400000;

// Runs `scenario` to its end. Errors: the engine rejected the scenario's routing config or a
// login (InvalidArgument naming the YAML entry), or an invariant check failed (Internal).
absl::StatusOr<Report> RunSimulation(const Scenario& scenario, const SimOptions& options = {});

}  // namespace sb::sim
