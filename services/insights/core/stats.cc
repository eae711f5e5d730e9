#include "insights/core/stats.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <set>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace sb::insights {
namespace {

constexpr int64_t kMinuteMs = 60 * 1000;
constexpr int64_t kDayMs = 24 * 60 * kMinuteMs;
constexpr int64_t kUnset = INT64_MIN;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && a < 0) --q;
  return q;
}

int64_t TimestampMs(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1000000;
}
int64_t DurationMs(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

bool LoggedIn(rv1::Presence p) { return p == rv1::PRESENCE_AVAILABLE || p == rv1::PRESENCE_AUX; }

// Requeue causes: back in the same queue, not a new arrival.
bool IsRequeue(const std::string& cause) {
  return cause == "offer_rejected" || cause == "offer_timeout" || cause == "offer_rescinded";
}

// A ring of one-minute buckets plus a "today" accumulator.
class Buckets {
 public:
  explicit Buckets(int64_t minutes) : ring_(static_cast<size_t>(minutes)) {}

  // The counters of the minute holding t, reset if the slot held an older minute; nullptr for a
  // minute that has already left the ring.
  Counts* Minute(int64_t t) {
    const int64_t m = FloorDiv(t, kMinuteMs);
    Slot& s = ring_[static_cast<size_t>(m % static_cast<int64_t>(ring_.size()) +
                                        static_cast<int64_t>(ring_.size())) %
                    ring_.size()];
    if (s.minute == m) return &s.counts;
    if (s.minute > m) return nullptr;
    s.minute = m;
    s.counts = Counts{};
    return &s.counts;
  }
  Counts* Day(int64_t t) {
    const int64_t d = FloorDiv(t, kDayMs);
    if (d == day_) return &today_;
    if (d < day_) return nullptr;
    day_ = d;
    today_ = Counts{};
    return &today_;
  }
  // Applies `f` to the minute and day counters of t.
  template <typename F>
  void At(int64_t t, F f) {
    if (Counts* c = Minute(t)) f(*c);
    if (Counts* c = Day(t)) f(*c);
  }
  // The sum over the minutes (now_min - minutes, now_min].
  Counts Window(int64_t now_ms, int64_t minutes) const {
    const int64_t now_min = FloorDiv(now_ms, kMinuteMs);
    Counts out;
    for (const Slot& s : ring_) {
      if (s.minute > now_min - minutes && s.minute <= now_min) out.Add(s.counts);
    }
    return out;
  }
  Counts Today(int64_t now_ms) const {
    return FloorDiv(now_ms, kDayMs) == day_ ? today_ : Counts{};
  }

 private:
  struct Slot {
    int64_t minute = INT64_MIN;
    Counts counts;
  };
  std::vector<Slot> ring_;
  int64_t day_ = INT64_MIN;
  Counts today_;
};

}  // namespace

void Counts::Add(const Counts& o) {
  offered += o.offered;
  answered += o.answered;
  answered_within_sl += o.answered_within_sl;
  abandoned += o.abandoned;
  abandoned_after_sl += o.abandoned_after_sl;
  short_abandoned += o.short_abandoned;
  left_unanswered += o.left_unanswered;
  wait_answered_ms += o.wait_answered_ms;
  wait_abandoned_ms += o.wait_abandoned_ms;
  handled += o.handled;
  talk_ms += o.talk_ms;
  wrap_ms += o.wrap_ms;
  busy_ms += o.busy_ms;
  staffed_ms += o.staffed_ms;
  offers += o.offers;
  fifo_inversions += o.fifo_inversions;
}

absl::Status StatisticsOptions::Validate() const {
  if (short_abandon_ms < 0) return absl::InvalidArgumentError("short_abandon_ms: must be >= 0");
  for (int64_t w : windows_ms) {
    if (w <= 0 || w % kMinuteMs != 0 || w > kDayMs) {
      return absl::InvalidArgumentError(
          absl::StrCat("windows_ms: ", w, " is not a whole number of minutes in (0, 24 h]"));
    }
  }
  if (default_sl_threshold_ms <= 0)
    return absl::InvalidArgumentError("default_sl_threshold_ms: must be > 0");
  if (!(default_sl_target > 0 && default_sl_target <= 1))
    return absl::InvalidArgumentError("default_sl_target: must be in (0, 1]");
  if (long_interaction_ms <= 0)
    return absl::InvalidArgumentError("long_interaction_ms: must be > 0");
  if (intervals.length_ms <= 0 || kDayMs % intervals.length_ms != 0)
    return absl::InvalidArgumentError("intervals.length_ms: must divide a day");
  if (intervals.grace_ms < short_abandon_ms) {
    return absl::InvalidArgumentError(
        "intervals.grace_ms: must be >= short_abandon_ms (a short abandon is taken off its "
        "arrival interval, which must still be open)");
  }
  return absl::OkStatus();
}

OfferSpread Spread(const std::vector<double>& values) {
  OfferSpread s;
  s.agents = static_cast<int>(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  const double n = static_cast<double>(values.size());
  const double mean = sum / n;
  s.mean_per_hour = mean;
  if (values.size() < 2 || mean <= 0) return s;
  double var = 0;
  for (double v : values) var += (v - mean) * (v - mean);
  s.coefficient_of_variation = std::sqrt(var / n) / mean;
  // Gini from the sorted values: sum_i (2i - n - 1) x_i / (n sum x), i = 1..n.
  std::vector<double> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  double acc = 0;
  for (size_t i = 0; i < sorted.size(); ++i) acc += (2.0 * (i + 1) - n - 1) * sorted[i];
  s.gini = acc / (n * sum);
  return s;
}

// ---------------------------------------------------------------------------------------------

struct Statistics::Impl {
  struct Leg {
    std::string queue_id;
    int64_t connected_ms = 0;
    int64_t talk_end_ms = 0;  // 0 while talking
  };
  struct Agent {
    std::string name, team;
    std::vector<std::string> queues;
    rv1::Presence presence = rv1::PRESENCE_UNSPECIFIED;
    std::string reason;
    int64_t since_ms = kUnset;
    std::map<std::string, Leg> legs;          // by interaction id: connected or in wrap-up
    absl::flat_hash_set<std::string> offers;  // pending offer ids
    int64_t accrued_until_ms = kUnset;
    // Today.
    int64_t day = INT64_MIN;
    int64_t handled = 0, talk_ms = 0, wrap_ms = 0, busy_ms = 0, staffed_ms = 0, offers_made = 0;
    std::map<std::string, int64_t> offers_by_queue;

    bool Busy() const { return !legs.empty(); }
    bool Staffed() const { return presence == rv1::PRESENCE_AVAILABLE || Busy(); }
    void RollDay(int64_t t) {
      const int64_t d = FloorDiv(t, kDayMs);
      if (d == day) return;
      day = d;
      handled = talk_ms = wrap_ms = busy_ms = staffed_ms = offers_made = 0;
      offers_by_queue.clear();
    }
  };
  using WaitKey = std::pair<int64_t, int64_t>;  // (entry into the queue, arrival sequence)
  struct Interaction {
    std::string queue_id;
    int64_t entry_ms = 0;
    int64_t seq = 0;
    int64_t priority = 0;  // effective priority points when it entered the queue
    bool waiting = false;  // queued or offered in queue_id
    bool offered = false;
  };
  struct Queue {
    explicit Queue(int64_t minutes) : buckets(minutes) {}
    std::string name;
    int64_t sl_threshold_ms = 0;
    double sl_target = 0;
    bool configured = false;
    std::set<std::string> members;
    std::set<WaitKey> waiting;                       // queued or offered
    std::map<int64_t, std::set<WaitKey>> unoffered;  // by priority: queued, not offered
    Buckets buckets;
  };
  struct Tenant {
    explicit Tenant(std::string id, IntervalOptions o) : book(std::move(id), o) {}
    int64_t now_ms = INT64_MIN;
    int64_t next_seq = 0;
    std::map<std::string, Queue> queues;
    std::map<std::string, Agent> agents;
    absl::flat_hash_map<std::string, Interaction> interactions;
    std::map<std::string, WaitingEscalation> escalations;  // by task id
    IntervalBook book;
  };

  explicit Impl(const StatisticsOptions& o) : options(o) {
    ring_minutes = 1;
    for (int64_t w : o.windows_ms) ring_minutes = std::max(ring_minutes, w / kMinuteMs);
  }

  StatisticsOptions options;  // a copy: Statistics may move
  int64_t ring_minutes;
  std::map<std::string, Tenant, std::less<>> tenants;
  std::vector<IntervalAggregate> closed;
  // Deduplication: the (command offset, index) watermark of each partition for routing event ids
  // ("<partition>/<command offset>/<index>"), a FIFO window of the last ids for any other id.
  absl::flat_hash_map<int32_t, std::pair<int64_t, int32_t>> watermarks;
  absl::flat_hash_set<std::string> seen;
  std::deque<std::string> seen_order;

  Tenant& TenantOf(const std::string& id) {
    auto it = tenants.find(id);
    if (it == tenants.end()) it = tenants.emplace(id, Tenant(id, options.intervals)).first;
    return it->second;
  }
  Queue& QueueOf(Tenant& t, const std::string& id) {
    auto it = t.queues.find(id);
    if (it == t.queues.end()) {
      it = t.queues.emplace(id, Queue(ring_minutes)).first;
      it->second.sl_threshold_ms = options.default_sl_threshold_ms;
      it->second.sl_target = options.default_sl_target;
      t.book.SetThreshold(id, options.default_sl_threshold_ms);
    }
    return it->second;
  }

  // Adds an agent's time [from, to) (staffed / busy as now) to its day and its queues' buckets.
  void AddAgentSpan(Tenant& t, Agent& a, int64_t from, int64_t to) {
    if (to <= from || !a.Staffed()) return;
    const bool busy = a.Busy();
    // Split at minute boundaries; only the minutes still in the ring matter to the windows, and
    // only the current day to the agent's "today".
    int64_t start = std::max(from, to - (ring_minutes + 1) * kMinuteMs);
    if (start > from) {
      // The part that left the ring still counts towards today.
      AddAgentSpanToDay(t, a, from, start, busy);
    }
    while (start < to) {
      const int64_t end = std::min(to, (FloorDiv(start, kMinuteMs) + 1) * kMinuteMs);
      const int64_t len = end - start;
      a.RollDay(start);
      if (FloorDiv(start, kDayMs) == a.day) {
        a.staffed_ms += len;
        if (busy) a.busy_ms += len;
      }
      for (const std::string& qid : a.queues) {
        Queue& q = QueueOf(t, qid);
        q.buckets.At(start, [&](Counts& c) {
          c.staffed_ms += len;
          if (busy) c.busy_ms += len;
        });
      }
      start = end;
    }
  }
  void AddAgentSpanToDay(Tenant& t, Agent& a, int64_t from, int64_t to, bool busy) {
    while (from < to) {
      const int64_t end = std::min(to, (FloorDiv(from, kDayMs) + 1) * kDayMs);
      a.RollDay(from);
      a.staffed_ms += end - from;
      if (busy) a.busy_ms += end - from;
      for (const std::string& qid : a.queues) {
        if (Counts* c = QueueOf(t, qid).buckets.Day(from)) {
          c->staffed_ms += end - from;
          if (busy) c->busy_ms += end - from;
        }
      }
      from = end;
    }
  }
  void Accrue(Tenant& t, Agent& a, int64_t now) {
    if (a.accrued_until_ms != kUnset) AddAgentSpan(t, a, a.accrued_until_ms, now);
    a.accrued_until_ms = now;
  }

  void StopWaiting(Tenant& t, Interaction& in) {
    if (!in.waiting) return;
    Queue& q = QueueOf(t, in.queue_id);
    q.waiting.erase({in.entry_ms, in.seq});
    auto it = q.unoffered.find(in.priority);
    if (it != q.unoffered.end()) {
      it->second.erase({in.entry_ms, in.seq});
      if (it->second.empty()) q.unoffered.erase(it);
    }
    in.waiting = false;
    in.offered = false;
  }
  void StartWaiting(Tenant& t, Interaction& in) {
    Queue& q = QueueOf(t, in.queue_id);
    q.waiting.insert({in.entry_ms, in.seq});
    q.unoffered[in.priority].insert({in.entry_ms, in.seq});
    in.waiting = true;
    in.offered = false;
  }

  // A waiting interaction left its queue without an answer at `now`.
  void EndWaiting(Tenant& t, Interaction& in, int64_t now, bool abandoned) {
    Queue& q = QueueOf(t, in.queue_id);
    const int64_t wait = std::max<int64_t>(0, now - in.entry_ms);
    IntervalAggregate& iv = t.book.At(in.queue_id, now);
    iv.max_wait_ms = std::max(iv.max_wait_ms, wait);
    if (abandoned && wait < options.short_abandon_ms) {
      q.buckets.At(now, [](Counts& c) { c.short_abandoned++; });
      // Taken off offered where the arrival was counted (when that minute/day is still held).
      if (Counts* c = q.buckets.Minute(in.entry_ms)) c->offered--;
      if (Counts* c = q.buckets.Day(in.entry_ms)) c->offered--;
      t.book.At(in.queue_id, in.entry_ms).offered--;
      iv.short_abandoned++;
    } else if (abandoned) {
      const bool late = wait > q.sl_threshold_ms;
      q.buckets.At(now, [&](Counts& c) {
        c.abandoned++;
        if (late) c.abandoned_after_sl++;
        c.wait_abandoned_ms += wait;
      });
      iv.abandoned++;
      if (late) iv.abandoned_after_sl++;
      iv.wait_abandoned_ms += wait;
    } else {
      q.buckets.At(now, [&](Counts& c) { c.left_unanswered++; });
      iv.left_unanswered++;
      iv.wait_unanswered_ms += wait;
    }
    StopWaiting(t, in);
  }

  void Apply(Tenant& t, const rv1::RoutingEvent& e, int64_t now);
};

void Statistics::Impl::Apply(Tenant& t, const rv1::RoutingEvent& e, int64_t now) {
  using E = rv1::RoutingEvent;
  switch (e.body_case()) {
    case E::kQueueUpserted: {
      const rv1::Queue& c = e.queue_upserted().queue();
      Queue& q = QueueOf(t, c.queue_id());
      q.configured = true;
      q.name = c.name();
      const int64_t th = DurationMs(c.service_level().threshold());
      q.sl_threshold_ms = th > 0 ? th : options.default_sl_threshold_ms;
      q.sl_target =
          c.service_level().target() > 0 ? c.service_level().target() : options.default_sl_target;
      t.book.SetThreshold(c.queue_id(), q.sl_threshold_ms);
      break;
    }
    case E::kQueueRemoved: {
      auto it = t.queues.find(e.queue_removed().queue_id());
      if (it != t.queues.end()) it->second.configured = false;
      break;
    }
    case E::kAgentUpserted: {
      const auto& u = e.agent_upserted();
      Agent& a = t.agents[u.profile().agent_id()];
      Accrue(t, a, now);
      for (const std::string& q : a.queues) QueueOf(t, q).members.erase(u.profile().agent_id());
      a.name = u.profile().name();
      a.team = u.profile().team();
      a.queues.assign(u.queues().begin(), u.queues().end());
      for (const std::string& q : a.queues) QueueOf(t, q).members.insert(u.profile().agent_id());
      if (a.presence == rv1::PRESENCE_UNSPECIFIED) {
        a.presence = rv1::PRESENCE_OFFLINE;
        a.since_ms = now;
      }
      break;
    }
    case E::kAgentRemoved: {
      auto it = t.agents.find(e.agent_removed().agent_id());
      if (it == t.agents.end()) break;
      Accrue(t, it->second, now);
      for (const std::string& q : it->second.queues) QueueOf(t, q).members.erase(it->first);
      t.agents.erase(it);
      break;
    }
    case E::kAgentStateChanged: {
      const auto& s = e.agent_state_changed();
      Agent& a = t.agents[s.agent_id()];
      Accrue(t, a, now);
      if (a.presence != s.presence() || a.reason != s.reason() || a.since_ms == kUnset) {
        a.since_ms = now;
      }
      a.presence = s.presence();
      a.reason = s.reason();
      break;
    }
    case E::kInteractionQueued: {
      const auto& qd = e.interaction_queued();
      Interaction& in = t.interactions[qd.interaction_id()];
      const bool known = !in.queue_id.empty();
      if (IsRequeue(qd.cause()) && known && in.queue_id == qd.queue_id()) {
        StopWaiting(t, in);
        StartWaiting(t, in);  // same entry time and priority: its place in FIFO order is kept
        break;
      }
      StopWaiting(t, in);
      in.queue_id = qd.queue_id();
      in.seq = t.next_seq++;
      in.priority = qd.effective_priority() / 1000;
      if (IsRequeue(qd.cause())) {
        // Never saw it arrive (mid-stream): its original enqueue time, and no arrival counted.
        in.entry_ms = qd.has_enqueued_at() ? std::min(now, TimestampMs(qd.enqueued_at())) : now;
      } else {
        in.entry_ms = now;
        QueueOf(t, in.queue_id).buckets.At(now, [](Counts& c) { c.offered++; });
        t.book.At(in.queue_id, now).offered++;
      }
      StartWaiting(t, in);
      break;
    }
    case E::kOfferCreated: {
      const auto& o = e.offer_created();
      auto it = t.interactions.find(o.interaction_id());
      const std::string& qid = it != t.interactions.end() && !it->second.queue_id.empty()
                                   ? it->second.queue_id
                                   : o.queue_id();
      Queue& q = QueueOf(t, qid);
      bool inversion = false;
      if (it != t.interactions.end() && it->second.waiting && !it->second.offered) {
        Interaction& in = it->second;
        auto pit = q.unoffered.find(in.priority);
        if (pit != q.unoffered.end() && !pit->second.empty() &&
            *pit->second.begin() < WaitKey{in.entry_ms, in.seq}) {
          inversion = true;
        }
        if (pit != q.unoffered.end()) {
          pit->second.erase({in.entry_ms, in.seq});
          if (pit->second.empty()) q.unoffered.erase(pit);
        }
        in.offered = true;
      }
      q.buckets.At(now, [&](Counts& c) {
        c.offers++;
        if (inversion) c.fifo_inversions++;
      });
      auto ait = t.agents.find(o.agent_id());
      if (ait != t.agents.end()) {
        Agent& a = ait->second;
        Accrue(t, a, now);
        a.RollDay(now);
        a.offers.insert(o.offer_id());
        a.offers_made++;
        a.offers_by_queue[qid]++;
      }
      break;
    }
    case E::kOfferAccepted:
    case E::kOfferRejected:
    case E::kOfferTimedOut:
    case E::kOfferRescinded: {
      // The offer is no longer pending; what follows (connect, requeue, end) has its own event.
      auto [agent, offer] =
          e.has_offer_accepted()
              ? std::tie(e.offer_accepted().agent_id(), e.offer_accepted().offer_id())
          : e.has_offer_rejected()
              ? std::tie(e.offer_rejected().agent_id(), e.offer_rejected().offer_id())
          : e.has_offer_timed_out()
              ? std::tie(e.offer_timed_out().agent_id(), e.offer_timed_out().offer_id())
              : std::tie(e.offer_rescinded().agent_id(), e.offer_rescinded().offer_id());
      auto ait = t.agents.find(agent);
      if (ait != t.agents.end()) ait->second.offers.erase(offer);
      break;
    }
    case E::kInteractionConnected: {
      const auto& c = e.interaction_connected();
      auto it = t.interactions.find(c.interaction_id());
      std::string qid = c.queue_id();
      int64_t wait = DurationMs(c.waited());
      if (it != t.interactions.end() && it->second.waiting) {
        qid = it->second.queue_id;
        wait = std::max<int64_t>(0, now - it->second.entry_ms);
        StopWaiting(t, it->second);
      }
      Queue& q = QueueOf(t, qid);
      const bool within = wait <= q.sl_threshold_ms;
      q.buckets.At(now, [&](Counts& k) {
        k.answered++;
        if (within) k.answered_within_sl++;
        k.wait_answered_ms += wait;
      });
      IntervalAggregate& iv = t.book.At(qid, now);
      iv.answered++;
      if (within) iv.answered_within_sl++;
      iv.wait_answered_ms += wait;
      iv.max_wait_ms = std::max(iv.max_wait_ms, wait);
      Agent& a = t.agents[c.agent_id()];
      Accrue(t, a, now);
      a.legs[c.interaction_id()] = Leg{qid, now, 0};
      break;
    }
    case E::kWrapUpStarted: {
      auto ait = t.agents.find(e.wrap_up_started().agent_id());
      if (ait == t.agents.end()) break;
      auto lit = ait->second.legs.find(e.wrap_up_started().interaction_id());
      if (lit == ait->second.legs.end()) break;
      Accrue(t, ait->second, now);
      lit->second.talk_end_ms = now;
      break;
    }
    case E::kWrapUpEnded: {
      auto ait = t.agents.find(e.wrap_up_ended().agent_id());
      if (ait == t.agents.end()) break;
      Agent& a = ait->second;
      auto lit = a.legs.find(e.wrap_up_ended().interaction_id());
      if (lit == a.legs.end()) break;
      Accrue(t, a, now);
      const Leg leg = lit->second;
      a.legs.erase(lit);
      const int64_t talk_end = leg.talk_end_ms != 0 ? leg.talk_end_ms : now;
      const int64_t talk = talk_end - leg.connected_ms;
      const int64_t wrap = now - talk_end;
      QueueOf(t, leg.queue_id).buckets.At(now, [&](Counts& k) {
        k.handled++;
        k.talk_ms += talk;
        k.wrap_ms += wrap;
      });
      IntervalAggregate& iv = t.book.At(leg.queue_id, now);
      iv.handled++;
      iv.talk_ms += talk;
      iv.wrap_ms += wrap;
      a.RollDay(now);
      a.handled++;
      a.talk_ms += talk;
      a.wrap_ms += wrap;
      break;
    }
    case E::kInteractionEnded: {
      const auto& en = e.interaction_ended();
      t.escalations.erase(en.interaction_id());
      auto it = t.interactions.find(en.interaction_id());
      if (it != t.interactions.end()) {
        if (it->second.waiting) {
          EndWaiting(t, it->second, now, en.reason() == rv1::END_REASON_ABANDONED);
        }
        t.interactions.erase(it);
      } else if (en.reason() == rv1::END_REASON_ABANDONED && en.agent_id().empty() &&
                 !en.queue_id().empty()) {
        // Never saw it arrive: an abandon with the event's wait, no arrival to correct.
        Interaction in;
        in.queue_id = en.queue_id();
        in.entry_ms = now - DurationMs(en.waited());
        if (now - in.entry_ms >= options.short_abandon_ms) EndWaiting(t, in, now, true);
      }
      break;
    }
    case E::kInteractionOverflowed: {
      const auto& o = e.interaction_overflowed();
      if (o.action() != rv1::OVERFLOW_ACTION_QUEUE || o.target_queue_id().empty()) break;
      auto it = t.interactions.find(o.interaction_id());
      if (it != t.interactions.end() && it->second.waiting) {
        EndWaiting(t, it->second, now, /*abandoned=*/false);
      }
      break;
    }
    case E::kInteractionTransferred: {
      auto it = t.interactions.find(e.interaction_transferred().interaction_id());
      if (it != t.interactions.end()) StopWaiting(t, it->second);
      break;
    }
    case E::kEscalationCreated: {
      const auto& c = e.escalation_created();
      WaitingEscalation w;
      w.task_id = c.task_id();
      w.interaction_id = c.interaction_id();
      w.agent_id = c.agent_id();
      w.team = c.team();
      w.reason = c.reason();
      w.queue_id = c.queue_id();
      w.created_at_ms = now;
      t.escalations[c.task_id()] = std::move(w);
      break;
    }
    case E::kEscalationJoined:
      t.escalations.erase(e.escalation_joined().task_id());
      break;
    default:
      break;
  }
}

// ---------------------------------------------------------------------------------------------

Statistics::Statistics(StatisticsOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
Statistics::~Statistics() = default;
Statistics::Statistics(Statistics&& o) noexcept
    : options_(std::move(o.options_)), impl_(std::move(o.impl_)) {}
Statistics& Statistics::operator=(Statistics&& o) noexcept {
  options_ = std::move(o.options_);
  impl_ = std::move(o.impl_);
  return *this;
}

bool Statistics::Apply(const rv1::RoutingEvent& event) {
  const std::string& id = event.event_id();
  if (!id.empty() &&
      id == absl::StrCat(event.partition(), "/", event.command_offset(), "/", event.index())) {
    // A routing event id: exact, in constant memory. A partition's events come in (command
    // offset, index) order; a replay after a routing failover repeats ids at or below the
    // partition's watermark.
    const std::pair<int64_t, int32_t> key{event.command_offset(), event.index()};
    auto [it, inserted] = impl_->watermarks.try_emplace(event.partition(), key);
    if (!inserted) {
      if (key <= it->second) return false;
      it->second = key;
    }
  } else if (!id.empty()) {
    if (impl_->seen.contains(id)) return false;
    if (options_.dedup_window > 0) {
      impl_->seen.insert(id);
      impl_->seen_order.push_back(id);
      while (impl_->seen_order.size() > options_.dedup_window) {
        impl_->seen.erase(impl_->seen_order.front());
        impl_->seen_order.pop_front();
      }
    }
  }
  Impl::Tenant& t = impl_->TenantOf(event.tenant_id());
  const int64_t stamped = event.has_time() ? TimestampMs(event.time()) : t.now_ms;
  t.now_ms = std::max(t.now_ms, stamped);
  if (t.now_ms == INT64_MIN) t.now_ms = 0;
  impl_->Apply(t, event, t.now_ms);
  t.book.Advance(t.now_ms);
  for (IntervalAggregate& a : t.book.TakeClosed()) impl_->closed.push_back(std::move(a));
  return true;
}

void Statistics::AdvanceTime(int64_t now_ms) {
  for (auto& [id, t] : impl_->tenants) {
    const int64_t now = std::max(now_ms, t.now_ms);
    t.book.Advance(now);
    for (IntervalAggregate& a : t.book.TakeClosed()) impl_->closed.push_back(std::move(a));
  }
}

std::vector<IntervalAggregate> Statistics::TakeClosedIntervals() {
  std::vector<IntervalAggregate> out;
  out.swap(impl_->closed);
  return out;
}

std::vector<IntervalAggregate> Statistics::OpenIntervals(std::string_view tenant) const {
  auto it = impl_->tenants.find(tenant);
  if (it == impl_->tenants.end()) return {};
  return it->second.book.Open();
}

std::vector<std::string> Statistics::Tenants() const {
  std::vector<std::string> out;
  for (const auto& [id, t] : impl_->tenants) out.push_back(id);
  return out;
}

namespace {

WindowStats Derive(int64_t window_ms, int64_t from_ms, const Counts& c) {
  WindowStats w;
  w.window_ms = window_ms;
  w.from_ms = from_ms;
  w.counts = c;
  auto ratio = [](double num, double den) -> std::optional<double> {
    if (den <= 0) return std::nullopt;
    return num / den;
  };
  w.service_level = ratio(c.answered_within_sl, c.answered + c.abandoned_after_sl);
  w.asa_ms = ratio(c.wait_answered_ms, c.answered);
  w.aht_ms = ratio(c.talk_ms + c.wrap_ms, c.handled);
  w.occupancy = ratio(c.busy_ms, c.staffed_ms);
  w.abandon_rate = ratio(c.abandoned, c.answered + c.abandoned);
  return w;
}

}  // namespace

std::optional<QueueSnapshot> Statistics::Queue(std::string_view tenant, std::string_view queue,
                                               int64_t now_ms) const {
  auto tit = impl_->tenants.find(tenant);
  if (tit == impl_->tenants.end()) return std::nullopt;
  const Impl::Tenant& t = tit->second;
  auto qit = t.queues.find(std::string(queue));
  if (qit == t.queues.end()) return std::nullopt;
  const Impl::Queue& q = qit->second;
  const int64_t now = std::max(now_ms, t.now_ms);
  QueueSnapshot s;
  s.queue_id = qit->first;
  s.name = q.name;
  s.sl_threshold_ms = q.sl_threshold_ms;
  s.sl_target = q.sl_target;
  s.waiting = static_cast<int64_t>(q.waiting.size());
  if (!q.waiting.empty()) s.longest_wait_ms = std::max<int64_t>(0, now - q.waiting.begin()->first);
  s.members = static_cast<int>(q.members.size());

  // Agents' open spans [accrued_until, now) are not in the buckets yet: added here per window.
  const int64_t day_start = FloorDiv(now, kDayMs) * kDayMs;
  std::vector<double> rates;
  auto open_span = [&](const Impl::Agent& a, int64_t from, Counts& c) {
    if (!a.Staffed() || a.accrued_until_ms == kUnset) return;
    const int64_t start = std::max(a.accrued_until_ms, from);
    if (now <= start) return;
    c.staffed_ms += now - start;
    if (a.Busy()) c.busy_ms += now - start;
  };
  Counts today = q.buckets.Today(now);
  std::vector<Counts> windows;
  for (int64_t w : options_.windows_ms) windows.push_back(q.buckets.Window(now, w / kMinuteMs));
  for (const std::string& id : q.members) {
    auto ait = t.agents.find(id);
    if (ait == t.agents.end()) continue;
    const Impl::Agent& a = ait->second;
    if (LoggedIn(a.presence) || a.Busy()) s.agents_logged_in++;
    if (a.Busy()) s.agents_busy++;
    if (a.presence == rv1::PRESENCE_AVAILABLE && !a.Busy() && a.offers.empty())
      s.agents_available++;
    open_span(a, day_start, today);
    for (size_t i = 0; i < windows.size(); ++i) {
      const int64_t from = (FloorDiv(now, kMinuteMs) + 1) * kMinuteMs - options_.windows_ms[i];
      open_span(a, from, windows[i]);
    }
    // Spread: this queue's offers per staffed hour today.
    int64_t staffed = a.day == FloorDiv(now, kDayMs) ? a.staffed_ms : 0;
    if (a.Staffed() && a.accrued_until_ms != kUnset)
      staffed += now - std::max(a.accrued_until_ms, day_start);
    if (staffed >= kMinuteMs) {
      int64_t offers = 0;
      if (a.day == FloorDiv(now, kDayMs)) {
        auto oit = a.offers_by_queue.find(s.queue_id);
        if (oit != a.offers_by_queue.end()) offers = oit->second;
      }
      rates.push_back(static_cast<double>(offers) * 3600000.0 / static_cast<double>(staffed));
    }
  }
  for (size_t i = 0; i < windows.size(); ++i) {
    const int64_t from = (FloorDiv(now, kMinuteMs) + 1) * kMinuteMs - options_.windows_ms[i];
    s.windows.push_back(Derive(options_.windows_ms[i], from, windows[i]));
  }
  s.today = Derive(0, day_start, today);
  s.offer_spread = Spread(rates);
  return s;
}

std::vector<QueueSnapshot> Statistics::Queues(std::string_view tenant, int64_t now_ms) const {
  std::vector<QueueSnapshot> out;
  auto tit = impl_->tenants.find(tenant);
  if (tit == impl_->tenants.end()) return out;
  for (const auto& [id, q] : tit->second.queues) {
    if (!q.configured && q.members.empty() && q.waiting.empty() &&
        q.buckets.Today(std::max(now_ms, tit->second.now_ms)).offered == 0) {
      continue;  // removed (or never configured) and idle
    }
    if (auto s = Queue(tenant, id, now_ms)) out.push_back(std::move(*s));
  }
  return out;
}

std::vector<AgentSnapshot> Statistics::Agents(std::string_view tenant, int64_t now_ms) const {
  std::vector<AgentSnapshot> out;
  auto tit = impl_->tenants.find(tenant);
  if (tit == impl_->tenants.end()) return out;
  const Impl::Tenant& t = tit->second;
  const int64_t now = std::max(now_ms, t.now_ms);
  const int64_t today = FloorDiv(now, kDayMs);
  for (const auto& [id, a] : t.agents) {
    AgentSnapshot s;
    s.agent_id = id;
    s.name = a.name;
    s.team = a.team;
    s.presence = a.presence;
    s.reason = a.reason;
    s.since_ms = a.since_ms != kUnset ? a.since_ms : 0;
    s.time_in_state_ms = a.since_ms != kUnset ? std::max<int64_t>(0, now - a.since_ms) : 0;
    s.offers_pending = static_cast<int>(a.offers.size());
    s.interactions = static_cast<int>(a.legs.size());
    s.busy = a.Busy();
    if (a.day == today) {
      s.handled_today = a.handled;
      s.offers_today = a.offers_made;
      s.busy_ms_today = a.busy_ms;
      s.staffed_ms_today = a.staffed_ms;
      if (a.handled > 0)
        s.aht_ms_today =
            static_cast<double>(a.talk_ms + a.wrap_ms) / static_cast<double>(a.handled);
    }
    if (a.Staffed() && a.accrued_until_ms != kUnset) {
      const int64_t open = now - std::max(a.accrued_until_ms, today * kDayMs);
      if (open > 0) {
        s.staffed_ms_today += open;
        if (a.Busy()) s.busy_ms_today += open;
      }
    }
    if (s.staffed_ms_today > 0) {
      s.occupancy_today =
          static_cast<double>(s.busy_ms_today) / static_cast<double>(s.staffed_ms_today);
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<LongInteraction> Statistics::LongInteractions(std::string_view tenant,
                                                          int64_t now_ms) const {
  std::vector<LongInteraction> out;
  auto tit = impl_->tenants.find(tenant);
  if (tit == impl_->tenants.end()) return out;
  const int64_t now = std::max(now_ms, tit->second.now_ms);
  for (const auto& [agent_id, a] : tit->second.agents) {
    for (const auto& [interaction_id, leg] : a.legs) {
      if (leg.talk_end_ms != 0) continue;  // in wrap-up
      auto th = options_.long_interaction_ms_by_queue.find(leg.queue_id);
      const int64_t threshold = th != options_.long_interaction_ms_by_queue.end()
                                    ? th->second
                                    : options_.long_interaction_ms;
      const int64_t duration = now - leg.connected_ms;
      if (duration <= threshold) continue;
      out.push_back(
          {interaction_id, agent_id, leg.queue_id, leg.connected_ms, duration, threshold});
    }
  }
  std::sort(out.begin(), out.end(), [](const LongInteraction& x, const LongInteraction& y) {
    return std::tie(y.duration_ms, x.interaction_id) < std::tie(x.duration_ms, y.interaction_id);
  });
  return out;
}

std::vector<WaitingEscalation> Statistics::Escalations(std::string_view tenant,
                                                       int64_t now_ms) const {
  std::vector<WaitingEscalation> out;
  auto tit = impl_->tenants.find(tenant);
  if (tit == impl_->tenants.end()) return out;
  const int64_t now = std::max(now_ms, tit->second.now_ms);
  for (const auto& [id, w] : tit->second.escalations) {
    out.push_back(w);
    out.back().age_ms = std::max<int64_t>(0, now - w.created_at_ms);
  }
  std::sort(out.begin(), out.end(), [](const WaitingEscalation& x, const WaitingEscalation& y) {
    return std::tie(x.created_at_ms, x.task_id) < std::tie(y.created_at_ms, y.task_id);
  });
  return out;
}

}  // namespace sb::insights
