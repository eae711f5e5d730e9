#include "agent_state/service/hub.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "routing/client/routing_client.h"
#include "spdlog/spdlog.h"

namespace sb::agent_state {

namespace {
int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Hub::Hub(ProjectionOptions options, AgentStateMetrics* metrics)
    : projection_(std::move(options)), metrics_(metrics) {}

void Hub::Apply(const std::vector<rv1::RoutingEvent>& events) {
  std::vector<DesktopOutput> out;
  size_t applied = 0;
  size_t pushed = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const rv1::RoutingEvent& e : events) {
      out.clear();
      if (!projection_.Apply(e, &out)) continue;
      ++applied;
      if (e.has_escalation_created()) {
        escalation_created_ms_[e.tenant_id() + "/" + e.escalation_created().task_id()] =
            e.time().seconds() * 1000 + e.time().nanos() / 1000000;
      } else if (e.has_escalation_joined()) {
        auto it =
            escalation_created_ms_.find(e.tenant_id() + "/" + e.escalation_joined().task_id());
        if (it != escalation_created_ms_.end()) {
          const int64_t joined = e.time().seconds() * 1000 + e.time().nanos() / 1000000;
          metrics_->EscalationJoined(static_cast<double>(joined - it->second) / 1000);
          escalation_created_ms_.erase(it);
        }
      }
      for (const DesktopOutput& o : out) {
        if (o.event.has_offer_withdrawn() && o.event.offer_withdrawn().cause() == "timed_out") {
          metrics_->OfferMissed();
        }
        auto it = sessions_.find({o.tenant_id, o.agent_id});
        if (it == sessions_.end()) continue;
        it->second->Push(o.event);
        ++pushed;
      }
    }
  }
  if (applied > 0) changed_.notify_all();
  metrics_->EventsApplied(applied);
  metrics_->EventsPushed(pushed);
}

absl::StatusOr<size_t> Hub::Register(const std::string& tenant, const std::string& agent,
                                     const std::string& resume_after, DesktopSink* sink) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<av1::AgentState> state = projection_.StateOf(tenant, agent);
  if (!state.ok()) return state.status();
  auto [it, inserted] = sessions_.try_emplace({tenant, agent}, sink);
  if (!inserted) {
    it->second->Close("TAKEN_OVER");
    it->second = sink;
  }
  registered_ms_[{tenant, agent}] = WallMs();
  metrics_->SetConnected(sessions_.size());
  std::optional<std::vector<av1::DesktopEvent>> missed;
  if (!resume_after.empty()) missed = projection_.EventsAfter(tenant, agent, resume_after);
  if (missed.has_value()) {
    for (const av1::DesktopEvent& e : *missed) sink->Push(e);
    return missed->size();
  }
  av1::DesktopEvent e;
  e.set_event_id(projection_.LastEventId(tenant, agent));
  *e.mutable_state() = *state;
  e.mutable_state()->set_desktop_connected(true);
  sink->Push(e);
  return 0;
}

void Hub::Unregister(const std::string& tenant, const std::string& agent, DesktopSink* sink) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find({tenant, agent});
  if (it != sessions_.end() && it->second == sink) {
    sessions_.erase(it);
    registered_ms_.erase({tenant, agent});
  }
  metrics_->SetConnected(sessions_.size());
}

void Hub::CloseAll(const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, sink] : sessions_) sink->Close(reason);
}

bool Hub::PushTo(const std::string& tenant, const std::string& agent,
                 const av1::DesktopEvent& event) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = sessions_.find({tenant, agent});
  if (it == sessions_.end()) return false;
  it->second->Push(event);
  return true;
}

bool Hub::IsConnected(const std::string& tenant, const std::string& agent) const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.contains({tenant, agent});
}

void Hub::ApplyAgentEvents(const std::vector<av1::AgentEvent>& events) {
  constexpr size_t kDedupWindow = 10000;
  std::lock_guard<std::mutex> lock(mu_);
  for (const av1::AgentEvent& e : events) {
    if (!e.event_id().empty()) {
      if (!agent_event_ids_.insert(e.event_id()).second) continue;
      agent_event_order_.push_back(e.event_id());
      if (agent_event_order_.size() > kDedupWindow) {
        agent_event_ids_.erase(agent_event_order_.front());
        agent_event_order_.pop_front();
      }
    }
    if (e.has_desktop_connected()) {
      const av1::DesktopConnected& dc = e.desktop_connected();
      if (dc.replica() == replica_) continue;
      const Key key{e.tenant_id(), dc.agent_id()};
      auto it = sessions_.find(key);
      if (it == sessions_.end()) continue;
      const int64_t at = e.time().seconds() * 1000 + e.time().nanos() / 1000000;
      if (registered_ms_[key] > at) continue;  // ours is the newer connection: it stays
      spdlog::info("desktop {}/{} connected to replica {}: closing the session here", e.tenant_id(),
                   dc.agent_id(), dc.replica());
      it->second->Close("TAKEN_OVER");
      sessions_.erase(it);
      registered_ms_.erase(key);
      metrics_->SetConnected(sessions_.size());
      continue;
    }
    if (!e.has_message_sent()) continue;  // interventions are for the media layer
    auto it = sessions_.find({e.tenant_id(), e.message_sent().agent_id()});
    if (it == sessions_.end()) continue;
    av1::DesktopEvent d;
    *d.mutable_time() = e.time();
    d.mutable_supervisor_message()->set_from(e.principal().subject());
    d.mutable_supervisor_message()->set_text(e.message_sent().text());
    it->second->Push(d);
    metrics_->EventsPushed(1);
  }
}

uint64_t Hub::WaitForChange(uint64_t version, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, timeout, [&] { return projection_.version() != version; });
  return projection_.version();
}

size_t Hub::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

void Hub::UpdateGauges() {
  std::map<std::string, int64_t> counts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    counts = projection_.AgentsByPresence();
  }
  metrics_->SetAgentsByPresence(counts);
}

// ---------------------------------------------------------------------------------------------

struct Feed::State {
  std::unique_ptr<kafka_io::Consumer> consumer;
  std::map<int32_t, int64_t> start_marks;  // partition -> high watermark at start
  std::map<int32_t, int64_t> position;     // partition -> next offset read
};

absl::StatusOr<std::unique_ptr<Feed>> Feed::Start(const kafka_io::KafkaConfig& kafka, Hub* hub) {
  kafka_io::ConsumerOptions co;
  co.kafka = kafka;
  // Desktops wait for these events: a broker with nothing new answers a fetch after this long,
  // not librdkafka's default 500 ms (which the embedded broker always waits out). As sb-routing.
  co.kafka.overrides.insert(co.kafka.overrides.begin(), {"fetch.wait.max.ms", "10"});
  auto consumer = kafka_io::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  kafka_io::ProducerOptions po;
  po.kafka = kafka;
  auto producer = kafka_io::Producer::Create(po);
  if (!producer.ok()) return producer.status();
  auto partitions = (*producer)->PartitionCount(routing::kEventsTopic, std::chrono::seconds(10));
  if (!partitions.ok()) return partitions.status();
  auto agent_partitions = (*producer)->PartitionCount(kAgentEventsTopic, std::chrono::seconds(10));
  if (!agent_partitions.ok()) return agent_partitions.status();
  std::unique_ptr<Feed> feed(new Feed());
  feed->hub_ = hub;
  feed->state_ = std::make_unique<State>();
  std::vector<kafka_io::TopicPartitionOffset> parts;
  for (int32_t p = 0; p < *partitions; ++p) {
    auto marks = (*consumer)->QueryWatermarks(routing::kEventsTopic, p, std::chrono::seconds(10));
    if (!marks.ok()) return marks.status();
    feed->state_->start_marks[p] = marks->second;
    feed->state_->position[p] = marks->first;
    parts.push_back({std::string(routing::kEventsTopic), p, RD_KAFKA_OFFSET_BEGINNING});
  }
  // From the high watermark now (an absolute offset: librdkafka's logical OFFSET_END was seen to
  // resolve late on the mock cluster and skip what was written meanwhile).
  for (int32_t p = 0; p < *agent_partitions; ++p) {
    auto marks = (*consumer)->QueryWatermarks(kAgentEventsTopic, p, std::chrono::seconds(10));
    if (!marks.ok()) return marks.status();
    parts.push_back({std::string(kAgentEventsTopic), p, marks->second});
  }
  if (absl::Status s = (*consumer)->Assign(parts); !s.ok()) return s;
  feed->state_->consumer = *std::move(consumer);
  feed->thread_ = std::thread([f = feed.get()] { f->Loop(); });
  return feed;
}

Feed::~Feed() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Feed::Loop() {
  std::vector<rv1::RoutingEvent> batch;
  std::vector<av1::AgentEvent> agent_batch;
  while (!stop_.load()) {
    auto records = state_->consumer->Poll(std::chrono::milliseconds(100), 2000);
    if (!records.ok()) {
      spdlog::error("routing events feed: {}", records.status().ToString());
      failed_.store(true);
      return;
    }
    batch.clear();
    agent_batch.clear();
    for (const auto& r : *records) {
      if (r.topic == kAgentEventsTopic) {
        spdlog::debug("agent event {}/{}", r.partition, r.offset);
        av1::AgentEvent e;
        if (e.ParseFromString(r.value)) {
          agent_batch.push_back(std::move(e));
        } else {
          spdlog::warn("agent events feed: {}/{} is not an AgentEvent; skipped", r.partition,
                       r.offset);
        }
        continue;
      }
      state_->position[r.partition] = r.offset + 1;
      rv1::RoutingEvent e;
      if (e.ParseFromString(r.value)) {
        batch.push_back(std::move(e));
      } else {
        spdlog::warn("routing events feed: {}/{} is not a RoutingEvent; skipped", r.partition,
                     r.offset);
      }
    }
    if (!batch.empty()) hub_->Apply(batch);
    if (!agent_batch.empty()) hub_->ApplyAgentEvents(agent_batch);
    if (!caught_up_.load()) {
      bool all = true;
      for (const auto& [p, mark] : state_->start_marks) {
        if (state_->position[p] < mark) all = false;
      }
      if (all) {
        caught_up_.store(true);
        spdlog::info("routing events feed caught up");
      }
    }
  }
}

}  // namespace sb::agent_state
