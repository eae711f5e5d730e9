#include "insights/core/intervals.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sb::insights {

absl::Status Merge(IntervalAggregate& a, const IntervalAggregate& b) {
  if (a.tenant_id != b.tenant_id || a.queue_id != b.queue_id || a.start_ms != b.start_ms ||
      a.length_ms != b.length_ms) {
    return absl::InvalidArgumentError(absl::StrCat(
        "INTERVAL_MISMATCH: cannot merge ", b.tenant_id, "/", b.queue_id, "@", b.start_ms, "+",
        b.length_ms, " into ", a.tenant_id, "/", a.queue_id, "@", a.start_ms, "+", a.length_ms));
  }
  a.offered += b.offered;
  a.answered += b.answered;
  a.answered_within_sl += b.answered_within_sl;
  a.abandoned += b.abandoned;
  a.abandoned_after_sl += b.abandoned_after_sl;
  a.short_abandoned += b.short_abandoned;
  a.left_unanswered += b.left_unanswered;
  a.wait_answered_ms += b.wait_answered_ms;
  a.wait_abandoned_ms += b.wait_abandoned_ms;
  a.wait_unanswered_ms += b.wait_unanswered_ms;
  a.max_wait_ms = std::max(a.max_wait_ms, b.max_wait_ms);
  a.handled += b.handled;
  a.talk_ms += b.talk_ms;
  a.wrap_ms += b.wrap_ms;
  a.sl_threshold_ms = std::max(a.sl_threshold_ms, b.sl_threshold_ms);
  return absl::OkStatus();
}

int64_t IntervalStart(int64_t t_ms, int64_t length_ms) {
  int64_t q = t_ms / length_ms;
  if (t_ms % length_ms != 0 && t_ms < 0) --q;
  return q * length_ms;
}

IntervalBook::IntervalBook(std::string tenant_id, IntervalOptions options)
    : tenant_id_(std::move(tenant_id)), options_(options) {
  if (options_.length_ms <= 0) options_.length_ms = kIntervalMs;
  if (options_.grace_ms < 0) options_.grace_ms = 0;
}

IntervalAggregate& IntervalBook::At(const std::string& queue_id, int64_t t_ms) {
  if (closed_until_ms_ != INT64_MIN) t_ms = std::max(t_ms, closed_until_ms_);
  const int64_t start = IntervalStart(t_ms, options_.length_ms);
  auto [it, inserted] = open_.try_emplace(std::make_tuple(start, queue_id));
  if (inserted) {
    IntervalAggregate& a = it->second;
    a.tenant_id = tenant_id_;
    a.queue_id = queue_id;
    a.start_ms = start;
    a.length_ms = options_.length_ms;
  }
  return it->second;
}

void IntervalBook::Advance(int64_t now_ms) {
  // Intervals whose end + grace <= now: start + length + grace <= now.
  const int64_t boundary =
      IntervalStart(now_ms - options_.grace_ms, options_.length_ms);  // first still-open start
  if (closed_until_ms_ != INT64_MIN && boundary <= closed_until_ms_) return;
  closed_until_ms_ = boundary;
  while (!open_.empty() && std::get<0>(open_.begin()->first) < boundary) {
    IntervalAggregate a = std::move(open_.begin()->second);
    open_.erase(open_.begin());
    auto t = thresholds_.find(a.queue_id);
    if (t != thresholds_.end()) a.sl_threshold_ms = t->second;
    closed_.push_back(std::move(a));
  }
}

std::vector<IntervalAggregate> IntervalBook::TakeClosed() {
  std::vector<IntervalAggregate> out;
  out.swap(closed_);
  return out;
}

std::vector<IntervalAggregate> IntervalBook::Open() const {
  std::vector<IntervalAggregate> out;
  out.reserve(open_.size());
  for (const auto& [key, a] : open_) {
    out.push_back(a);
    auto t = thresholds_.find(a.queue_id);
    if (t != thresholds_.end()) out.back().sl_threshold_ms = t->second;
  }
  return out;
}

void IntervalBook::SetThreshold(const std::string& queue_id, int64_t threshold_ms) {
  thresholds_[queue_id] = threshold_ms;
}

}  // namespace sb::insights
