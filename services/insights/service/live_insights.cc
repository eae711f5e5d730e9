#include "insights/service/live_insights.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "insights/core/forecast.h"
#include "insights/service/floor.h"
#include "spdlog/spdlog.h"

namespace sb::insights::service {
namespace {

using google::protobuf::util::TimeUtil;

absl::Status StoreUnavailable(const absl::Status& s) {
  return absl::UnavailableError(absl::StrCat("STORE_UNAVAILABLE: ", s.message()));
}

}  // namespace

LiveInsights::LiveInsights(StatisticsOptions options, storage::IntervalStore* store,
                           InsightsMetrics* metrics, std::function<int64_t()> now_ms)
    : store_(store), metrics_(metrics), now_ms_(std::move(now_ms)), stats_(std::move(options)) {}

void LiveInsights::Apply(const rv1::RoutingEvent& event) {
  bool applied = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    applied = stats_.Apply(event);
    if (applied) {
      ++version_;
      if (!event.tenant_id().empty() && !first_event_ms_.contains(event.tenant_id())) {
        first_event_ms_.emplace(
            event.tenant_id(),
            event.has_time() ? TimeUtil::TimestampToMilliseconds(event.time()) : INT64_MIN);
      }
    }
  }
  if (applied) {
    events_applied_.fetch_add(1);
    if (metrics_) metrics_->EventApplied();
  } else if (metrics_) {
    metrics_->EventDuplicate();
  }
}

void LiveInsights::NotifyChanged() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (notified_ == version_) return;
    notified_ = version_;
  }
  changed_.notify_all();
}

absl::Status LiveInsights::Flush(bool advance_clock) {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (advance_clock) stats_.AdvanceTime(now_ms_());
    for (IntervalAggregate& r : stats_.TakeClosedIntervals()) {
      auto first = first_event_ms_.find(r.tenant_id);
      const bool full = first == first_event_ms_.end() || r.start_ms >= first->second;
      pending_.push_back({std::move(r), full});
    }
  }
  if (pending_.empty()) return absl::OkStatus();
  std::vector<IntervalAggregate> full, partial;
  for (const Pending& p : pending_) (p.replace ? full : partial).push_back(p.record);
  absl::Status status;
  int64_t written = 0;
  if (!full.empty()) {
    absl::StatusOr<int64_t> n = store_->Put(full, /*replace=*/true);
    if (n.ok()) {
      written += *n;
      std::erase_if(pending_, [](const Pending& p) { return p.replace; });
    } else {
      status = n.status();
    }
  }
  if (!partial.empty()) {
    absl::StatusOr<int64_t> n = store_->Put(partial, /*replace=*/false);
    if (n.ok()) {
      written += *n;
      std::erase_if(pending_, [](const Pending& p) { return !p.replace; });
    } else if (status.ok()) {
      status = n.status();
    }
  }
  if (metrics_ && written > 0) metrics_->IntervalsWritten(written);
  if (!status.ok()) {
    if (metrics_) metrics_->StoreError();
    if (!failing_) {
      spdlog::error("interval store write failed ({} record(s) kept, retried every second): {}",
                    pending_.size(), status.ToString());
    }
    failing_ = true;
  } else if (failing_) {
    spdlog::info("interval store writes work again");
    failing_ = false;
  }
  return status;
}

size_t LiveInsights::pending() const {
  std::lock_guard<std::mutex> lock(flush_mu_);
  return pending_.size();
}

std::vector<TenantFigures> LiveInsights::FiguresForMetrics() {
  const int64_t now = now_ms_();
  std::vector<TenantFigures> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& tenant : stats_.Tenants()) {
    TenantFigures t;
    t.tenant = tenant;
    t.queues = stats_.Queues(tenant, now);
    t.agents = stats_.Agents(tenant, now);
    out.push_back(std::move(t));
  }
  return out;
}

iv1::ListTenantsResponse LiveInsights::ListTenants() {
  std::vector<std::string> tenants;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tenants = stats_.Tenants();
  }
  // Plus the tenants of the stored history (events long gone from the broker).
  if (absl::StatusOr<std::vector<std::string>> stored = store_->Tenants(); stored.ok()) {
    tenants.insert(tenants.end(), stored->begin(), stored->end());
  } else {
    spdlog::warn("ListTenants: the store's tenants are left out: {}", stored.status().ToString());
  }
  std::sort(tenants.begin(), tenants.end());
  tenants.erase(std::unique(tenants.begin(), tenants.end()), tenants.end());
  iv1::ListTenantsResponse resp;
  for (std::string& t : tenants) resp.add_tenants(std::move(t));
  return resp;
}

absl::StatusOr<iv1::Floor> LiveInsights::GetFloor(const iv1::GetFloorRequest& request) {
  if (request.tenant_id().empty()) {
    return absl::InvalidArgumentError("BAD_TENANT: tenant_id is required");
  }
  const std::string& tenant = request.tenant_id();
  const int64_t now = now_ms_();
  FloorParts parts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!first_event_ms_.contains(tenant)) {
      return absl::NotFoundError(
          absl::StrCat("NO_SUCH_TENANT: no routing event of tenant '", tenant, "' seen"));
    }
    parts.queues = stats_.Queues(tenant, now);
    parts.agents = stats_.Agents(tenant, now);
    parts.long_interactions = stats_.LongInteractions(tenant, now);
    parts.escalations = stats_.Escalations(tenant, now);
  }
  return BuildFloor(tenant, now, parts, events_applied_.load());
}

absl::StatusOr<iv1::GetIntervalsResponse> LiveInsights::GetIntervals(
    const iv1::GetIntervalsRequest& request) {
  const int64_t now = now_ms_();
  absl::StatusOr<TimeRange> range = ParseIntervalsRange(request, now);
  if (!range.ok()) return range.status();
  const std::string& tenant = request.tenant_id();
  const std::string& queue = request.queue_id();
  auto wanted = [&](const IntervalAggregate& r) {
    return r.tenant_id == tenant && (queue.empty() || r.queue_id == queue) &&
           r.start_ms >= range->from_ms && r.start_ms < range->to_ms;
  };
  absl::StatusOr<std::vector<IntervalAggregate>> stored =
      store_->Range(tenant, queue, range->from_ms, range->to_ms);
  if (!stored.ok()) return StoreUnavailable(stored.status());
  using Key = std::tuple<int64_t, std::string, int64_t>;  // start, queue, length
  std::map<Key, std::pair<IntervalAggregate, bool>> by_key;
  for (IntervalAggregate& r : *stored) {
    Key k{r.start_ms, r.queue_id, r.length_ms};
    by_key.insert_or_assign(k, std::make_pair(std::move(r), false));
  }
  {
    // Closed but not written yet (the store failed): as the store will have them.
    std::lock_guard<std::mutex> lock(flush_mu_);
    for (const Pending& p : pending_) {
      if (!wanted(p.record)) continue;
      Key k{p.record.start_ms, p.record.queue_id, p.record.length_ms};
      if (p.replace) {
        by_key.insert_or_assign(k, std::make_pair(p.record, false));
      } else {
        by_key.try_emplace(k, p.record, false);
      }
    }
  }
  if (request.include_open()) {
    std::vector<IntervalAggregate> open;
    {
      std::lock_guard<std::mutex> lock(mu_);
      open = stats_.OpenIntervals(tenant);
    }
    for (IntervalAggregate& r : open) {
      if (!wanted(r)) continue;
      Key k{r.start_ms, r.queue_id, r.length_ms};
      by_key.insert_or_assign(k, std::make_pair(std::move(r), true));
    }
  }
  iv1::GetIntervalsResponse resp;
  for (const auto& [k, v] : by_key) ToProto(v.first, v.second, resp.add_intervals());
  return resp;
}

absl::StatusOr<iv1::Forecast> LiveInsights::GetForecast(const iv1::GetForecastRequest& request) {
  const int64_t now = now_ms_();
  std::optional<QueueTargets> targets;
  if (!request.tenant_id().empty() && !request.queue_id().empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (std::optional<QueueSnapshot> q =
            stats_.Queue(request.tenant_id(), request.queue_id(), now)) {
      targets = QueueTargets{q->sl_target, q->sl_threshold_ms};
    }
  }
  absl::StatusOr<ForecastOptions> options = ForecastOptionsFrom(request, targets);
  if (!options.ok()) return options.status();
  absl::StatusOr<int64_t> day = ParseDay(request.day(), now);
  if (!day.ok()) return day.status();
  absl::StatusOr<std::vector<IntervalAggregate>> history = store_->Range(
      request.tenant_id(), request.queue_id(), ForecastHistoryFromMs(*options, *day), *day);
  if (!history.ok()) return StoreUnavailable(history.status());
  absl::StatusOr<ForecastTable> table = Forecast(request.tenant_id(), request.queue_id(), *day,
                                                 OneLength(*std::move(history)), *options);
  if (!table.ok()) {
    if (table.status().code() == absl::StatusCode::kInvalidArgument) {
      return absl::InvalidArgumentError(absl::StrCat("BAD_OPTION: ", table.status().message()));
    }
    return table.status();
  }
  iv1::Forecast out;
  ToProto(*table, &out);
  return out;
}

uint64_t LiveInsights::Version() {
  std::lock_guard<std::mutex> lock(mu_);
  return notified_;
}

uint64_t LiveInsights::WaitForChange(uint64_t seen,
                                     std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return notified_ > seen; });
  return notified_;
}

}  // namespace sb::insights::service
