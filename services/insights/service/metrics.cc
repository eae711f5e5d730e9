#include "insights/service/metrics.h"

#include "absl/strings/str_cat.h"
#include "insights/service/floor.h"
#include "prometheus/text_serializer.h"

namespace sb::insights::service {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

namespace {

prometheus::Family<prometheus::Gauge>* Gauges(prometheus::Registry& r, const std::string& name,
                                              const std::string& help) {
  return &BuildGauge().Name(name).Help(help).Register(r);
}

std::string WindowLabel(const WindowStats& w) {
  if (w.window_ms == 0) return "today";
  return absl::StrCat(w.window_ms / 60000, "m");
}

}  // namespace

InsightsMetrics::InsightsMetrics(size_t max_queue_series)
    : max_queue_series_(max_queue_series),
      registry_(std::make_shared<prometheus::Registry>()),
      applied_(BuildCounter()
                   .Name("switchboard_insights_events_applied_total")
                   .Help("Routing events applied to the statistics.")
                   .Register(*registry_)
                   .Add({})),
      duplicate_(BuildCounter()
                     .Name("switchboard_insights_events_duplicate_total")
                     .Help("Routing events dropped as already applied (same event id).")
                     .Register(*registry_)
                     .Add({})),
      invalid_(BuildCounter()
                   .Name("switchboard_insights_events_invalid_total")
                   .Help("Records of sb.routing.events.v1 that are not a RoutingEvent (skipped).")
                   .Register(*registry_)
                   .Add({})),
      lag_(BuildGauge()
               .Name("switchboard_insights_consumer_lag_messages")
               .Help("Records of sb.routing.events.v1 not yet consumed (high watermark minus "
                     "position, summed over partitions).")
               .Register(*registry_)
               .Add({})),
      written_(BuildCounter()
                   .Name("switchboard_insights_intervals_written_total")
                   .Help("Closed interval records written to the interval store.")
                   .Register(*registry_)
                   .Add({})),
      store_errors_(BuildCounter()
                        .Name("switchboard_insights_store_errors_total")
                        .Help("Failed interval store writes (the records are kept and retried).")
                        .Register(*registry_)
                        .Add({})),
      clients_(BuildGauge()
                   .Name("switchboard_insights_dashboard_clients")
                   .Help("Clients receiving pushed floors (dashboard event streams and gRPC "
                         "WatchFloor streams).")
                   .Register(*registry_)
                   .Add({})),
      push_(BuildHistogram()
                .Name("switchboard_insights_dashboard_push_seconds")
                .Help("Time to build and send one pushed floor to one client.")
                .Register(*registry_)
                .Add({},
                     prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                             0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
      queues_dropped_(BuildGauge()
                          .Name("switchboard_insights_queue_series_dropped")
                          .Help("Queues without per-queue series because the cap on (tenant, "
                                "queue) series was reached.")
                          .Register(*registry_)
                          .Add({})) {
  sl_.family = Gauges(*registry_, "switchboard_insights_queue_service_level",
                      "Service level of the queue (answered within the threshold / (answered + "
                      "abandoned after it)), 0..1, by window; absent while undefined.");
  sl_.labels = {"tenant", "queue", "window"};
  sl_target_.family = Gauges(*registry_, "switchboard_insights_queue_service_level_target",
                             "The queue's service-level target, 0..1.");
  sl_target_.labels = {"tenant", "queue"};
  asa_.family = Gauges(*registry_, "switchboard_insights_queue_asa_seconds",
                       "Average speed of answer of the queue, by window; absent while undefined.");
  asa_.labels = {"tenant", "queue", "window"};
  abandon_rate_.family =
      Gauges(*registry_, "switchboard_insights_queue_abandon_rate",
             "Abandoned / (answered + abandoned) of the queue, by window; absent "
             "while undefined.");
  abandon_rate_.labels = {"tenant", "queue", "window"};
  waiting_.family = Gauges(*registry_, "switchboard_insights_queue_waiting",
                           "Callers waiting in the queue now (queued or offered).");
  waiting_.labels = {"tenant", "queue"};
  longest_wait_.family = Gauges(*registry_, "switchboard_insights_queue_longest_wait_seconds",
                                "Wait so far of the queue's oldest waiting caller (0 when none).");
  longest_wait_.labels = {"tenant", "queue"};
  queue_agents_.family =
      Gauges(*registry_, "switchboard_insights_queue_agents",
             "Member agents of the queue by state (logged_in, available, busy).");
  queue_agents_.labels = {"tenant", "queue", "state"};
  agents_.family =
      Gauges(*registry_, "switchboard_insights_agents", "Agents of the tenant by presence.");
  agents_.labels = {"tenant", "presence"};
}

std::string InsightsMetrics::Serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

void InsightsMetrics::Set(GaugeSet& g, const Key& values, double v) {
  g.seen.insert(values);
  auto it = g.live.find(values);
  if (it == g.live.end()) {
    std::map<std::string, std::string> labels;
    for (size_t i = 0; i < g.labels.size(); ++i) labels[g.labels[i]] = values[i];
    it = g.live.emplace(values, &g.family->Add(labels)).first;
  }
  it->second->Set(v);
}

void InsightsMetrics::Sweep(GaugeSet& g) {
  for (auto it = g.live.begin(); it != g.live.end();) {
    if (g.seen.count(it->first) == 0) {
      g.family->Remove(it->second);
      it = g.live.erase(it);
    } else {
      ++it;
    }
  }
  g.seen.clear();
}

void InsightsMetrics::RefreshFloor(const std::vector<TenantFigures>& figures) {
  std::lock_guard<std::mutex> lock(mu_);
  // Which (tenant, queue) pairs have series: the ones that had them and still exist, then new
  // ones while under the cap (in tenant, queue order).
  std::set<std::tuple<std::string, std::string>> present;
  for (const TenantFigures& t : figures) {
    for (const QueueSnapshot& q : t.queues) present.emplace(t.tenant, q.queue_id);
  }
  for (auto it = exported_queues_.begin(); it != exported_queues_.end();) {
    it = present.count(*it) ? std::next(it) : exported_queues_.erase(it);
  }
  int64_t dropped = 0;
  for (const auto& key : present) {
    if (exported_queues_.count(key)) continue;
    if (exported_queues_.size() < max_queue_series_) {
      exported_queues_.insert(key);
    } else {
      ++dropped;
    }
  }
  queues_dropped_.Set(static_cast<double>(dropped));

  for (const TenantFigures& t : figures) {
    for (const QueueSnapshot& q : t.queues) {
      if (!exported_queues_.count({t.tenant, q.queue_id})) continue;
      const std::string& tn = t.tenant;
      const std::string& qn = q.queue_id;
      std::vector<const WindowStats*> windows;
      for (const WindowStats& w : q.windows) windows.push_back(&w);
      windows.push_back(&q.today);
      for (const WindowStats* w : windows) {
        const std::string wl = WindowLabel(*w);
        if (w->service_level) Set(sl_, {tn, qn, wl}, *w->service_level);
        if (w->asa_ms) Set(asa_, {tn, qn, wl}, *w->asa_ms / 1000.0);
        if (w->abandon_rate) Set(abandon_rate_, {tn, qn, wl}, *w->abandon_rate);
      }
      Set(sl_target_, {tn, qn}, q.sl_target);
      Set(waiting_, {tn, qn}, static_cast<double>(q.waiting));
      Set(longest_wait_, {tn, qn}, static_cast<double>(q.longest_wait_ms) / 1000.0);
      Set(queue_agents_, {tn, qn, "logged_in"}, q.agents_logged_in);
      Set(queue_agents_, {tn, qn, "available"}, q.agents_available);
      Set(queue_agents_, {tn, qn, "busy"}, q.agents_busy);
    }
    // Every presence, 0 included, so a drop to zero shows as 0 rather than a gap.
    std::map<std::string, int64_t> by_presence = {{"available", 0}, {"aux", 0}, {"offline", 0}};
    for (const AgentSnapshot& a : t.agents) ++by_presence[PresenceName(a.presence)];
    for (const auto& [presence, n] : by_presence) {
      Set(agents_, {t.tenant, presence}, static_cast<double>(n));
    }
  }
  for (GaugeSet* g : {&sl_, &sl_target_, &asa_, &abandon_rate_, &waiting_, &longest_wait_,
                      &queue_agents_, &agents_}) {
    Sweep(*g);
  }
}

}  // namespace sb::insights::service
