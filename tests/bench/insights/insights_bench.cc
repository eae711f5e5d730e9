// Benchmarks of the insights core (docs/performance.md, "Insights: ingest and snapshot"):
// Statistics::Apply on a realistic event stream, the same with ParseFromString per record (what
// the service does per Kafka record), a dashboard snapshot (Queues + Agents) of a loaded state,
// and the memory of the deduplication window. Target (issue 7): ingest >= 20,000 events/s per
// core.
//
// The stream is the routing events of tools/simulator/scenarios/contact_center.yaml (143 agents,
// 7 queues, an 8-hour day), recorded through the simulator's observer once at startup, with
// event ids in the service's format (`<partition>/<command offset>/<index>`, as
// services/routing/service/partition.cc sets them), so deduplication is exercised as in
// production.
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "insights/core/stats.h"
#include "simulator/scenario.h"
#include "simulator/simulator.h"

namespace sb::insights {
namespace {

namespace v1 = ::switchboard::routing::v1;

struct Stream {
  std::string tenant;
  std::vector<v1::RoutingEvent> events;
  std::vector<std::string> serialized;
  int64_t commands = 0;
  int64_t start_ms = 0;  // time of the first event
  int64_t end_ms = 0;    // time of the last event
};

int64_t TimestampMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}

const Stream& TheStream() {
  static const Stream* stream = [] {
    auto* s = new Stream;
    absl::StatusOr<sim::Scenario> sc = sim::LoadScenario(SB_SCENARIO_DIR "/contact_center.yaml");
    if (!sc.ok()) {
      std::cerr << sc.status() << "\n";
      std::abort();
    }
    s->tenant = sc->tenant;
    // A plausible Kafka offset: the routing partition has been running for a while.
    constexpr int64_t kFirstOffset = 123456789;
    sim::SimOptions options;
    options.observer = [&](const v1::RoutingCommand&, const std::vector<v1::RoutingEvent>& es) {
      const int64_t offset = kFirstOffset + s->commands++;
      for (const v1::RoutingEvent& e : es) {
        v1::RoutingEvent& copy = s->events.emplace_back(e);
        copy.set_event_id(absl::StrCat(3, "/", offset, "/", e.index()));
      }
    };
    absl::StatusOr<sim::Report> report = sim::RunSimulation(*sc, options);
    if (!report.ok()) {
      std::cerr << report.status() << "\n";
      std::abort();
    }
    s->serialized.reserve(s->events.size());
    for (const v1::RoutingEvent& e : s->events) s->serialized.push_back(e.SerializeAsString());
    if (!s->events.empty()) {
      s->start_ms = TimestampMs(s->events.front().time());
      s->end_ms = TimestampMs(s->events.back().time());
    }
    return s;
  }();
  return *stream;
}

void SetStreamCounters(benchmark::State& state, const Stream& s) {
  state.counters["events"] = static_cast<double>(s.events.size());
  state.counters["commands"] = static_cast<double>(s.commands);
  // The scenario's own rate, in virtual time: how far the measured rate is above what one such
  // contact center produces.
  state.counters["events_per_virtual_s"] =
      static_cast<double>(s.events.size()) * 1000.0 /
      static_cast<double>(std::max<int64_t>(1, s.end_ms - s.start_ms));
}

// Statistics::Apply over the whole day's stream, into a fresh Statistics per iteration. Arg 1:
// default options (dedup window 2^20 ids); arg 0: dedup_window = 0 (ids are looked up in an
// empty set and not remembered), to show what deduplication costs.
void BM_Apply(benchmark::State& state) {
  const Stream& s = TheStream();
  StatisticsOptions options;
  if (state.range(0) == 0) options.dedup_window = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto stats = std::make_unique<Statistics>(options);
    state.ResumeTiming();
    for (const v1::RoutingEvent& e : s.events) benchmark::DoNotOptimize(stats->Apply(e));
    state.PauseTiming();
    stats.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.events.size()));
  SetStreamCounters(state, s);
}
BENCHMARK(BM_Apply)->ArgName("dedup")->Arg(1)->Arg(0)->Unit(benchmark::kMillisecond);

// BM_Apply/dedup:1 starts from an empty dedup window, which stays small (54k ids) and in cache.
// A long-running replica has the window full: 2^20 ids, ~100 MiB, mostly out of cache. Here
// each iteration's Statistics first takes 2^20 other ids (untimed; about 1 s, hence the fixed
// iteration count), then the day's stream is applied (timed).
void BM_ApplyFullWindow(benchmark::State& state) {
  const Stream& s = TheStream();
  StatisticsOptions options;
  for (auto _ : state) {
    state.PauseTiming();
    auto stats = std::make_unique<Statistics>(options);
    v1::RoutingEvent filler;
    filler.set_tenant_id("other");
    for (size_t i = 0; i < options.dedup_window; ++i) {
      filler.set_event_id(absl::StrCat(9, "/", 123456789 + static_cast<int64_t>(i), "/", 0));
      stats->Apply(filler);
    }
    state.ResumeTiming();
    for (const v1::RoutingEvent& e : s.events) benchmark::DoNotOptimize(stats->Apply(e));
    state.PauseTiming();
    stats.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.events.size()));
  SetStreamCounters(state, s);
}
BENCHMARK(BM_ApplyFullWindow)->Iterations(3)->Unit(benchmark::kMillisecond);

// What the service does per Kafka record: parse the value into a RoutingEvent, then Apply. A
// fresh message per record (arg 0) or one reused message (arg 1, ParseFromString clears it and
// keeps its allocated sub-messages).
void BM_ParseAndApply(benchmark::State& state) {
  const Stream& s = TheStream();
  const bool reuse = state.range(0) == 1;
  for (auto _ : state) {
    state.PauseTiming();
    auto stats = std::make_unique<Statistics>();
    v1::RoutingEvent reused;
    state.ResumeTiming();
    for (const std::string& bytes : s.serialized) {
      if (reuse) {
        if (!reused.ParseFromString(bytes)) std::abort();
        benchmark::DoNotOptimize(stats->Apply(reused));
      } else {
        v1::RoutingEvent e;
        if (!e.ParseFromString(bytes)) std::abort();
        benchmark::DoNotOptimize(stats->Apply(e));
      }
    }
    state.PauseTiming();
    stats.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.events.size()));
  SetStreamCounters(state, s);
}
BENCHMARK(BM_ParseAndApply)->ArgName("reuse")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// ParseFromString alone (fresh message per record), to split the figure above.
void BM_ParseOnly(benchmark::State& state) {
  const Stream& s = TheStream();
  for (auto _ : state) {
    for (const std::string& bytes : s.serialized) {
      v1::RoutingEvent e;
      if (!e.ParseFromString(bytes)) std::abort();
      benchmark::DoNotOptimize(e);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(s.events.size()));
  SetStreamCounters(state, s);
}
BENCHMARK(BM_ParseOnly)->Unit(benchmark::kMillisecond);

// One dashboard push: Queues() + Agents() of the tenant, on the state after the first
// range(0)% of the stream (50: mid-day, callers waiting and agents busy; 100: end of the day).
void BM_Snapshot(benchmark::State& state) {
  const Stream& s = TheStream();
  Statistics stats;
  const size_t n = s.events.size() * static_cast<size_t>(state.range(0)) / 100;
  for (size_t i = 0; i < n; ++i) stats.Apply(s.events[i]);
  const int64_t now = n > 0 ? TimestampMs(s.events[n - 1].time()) : 0;
  size_t queues = 0;
  size_t agents = 0;
  for (auto _ : state) {
    std::vector<QueueSnapshot> q = stats.Queues(s.tenant, now);
    std::vector<AgentSnapshot> a = stats.Agents(s.tenant, now);
    queues = q.size();
    agents = a.size();
    benchmark::DoNotOptimize(q);
    benchmark::DoNotOptimize(a);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["queues"] = static_cast<double>(queues);
  state.counters["agents"] = static_cast<double>(agents);
}
BENCHMARK(BM_Snapshot)->ArgName("pct")->Arg(50)->Arg(100)->Unit(benchmark::kMicrosecond);

// Bytes in use in the malloc heap (single-threaded here: the main arena; large blocks mmapped).
int64_t HeapBytes() {
  struct mallinfo2 m = mallinfo2();
  return static_cast<int64_t>(m.uordblks + m.hblkhd);
}

// The memory of a full deduplication window of 2^range(0) ids: a Statistics fills it with
// body-less events (one tenant, nothing else to remember) whose ids look like the service's;
// `bytes_per_id` is the heap growth divided by the window. The id length (14 characters here)
// matters: libstdc++ keeps strings of up to 15 characters inline (no heap block).
void BM_DedupWindowMemory(benchmark::State& state) {
  const size_t window = size_t{1} << state.range(0);
  double bytes_per_id = 0;
  for (auto _ : state) {
    StatisticsOptions options;
    options.dedup_window = window;
    const int64_t before = HeapBytes();
    {
      Statistics stats(options);
      v1::RoutingEvent e;
      e.set_tenant_id("acme");
      for (size_t i = 0; i < window + window / 2; ++i) {  // full, and cycled half way
        e.set_event_id(absl::StrCat(3, "/", 123456789 + static_cast<int64_t>(i), "/", 0));
        stats.Apply(e);
      }
      bytes_per_id = static_cast<double>(HeapBytes() - before) / static_cast<double>(window);
    }
  }
  state.counters["bytes_per_id"] = bytes_per_id;
  state.counters["MiB_full"] = bytes_per_id * static_cast<double>(window) / (1 << 20);
}
BENCHMARK(BM_DedupWindowMemory)
    ->ArgName("log2_window")
    ->Arg(16)
    ->Arg(20)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sb::insights

BENCHMARK_MAIN();
