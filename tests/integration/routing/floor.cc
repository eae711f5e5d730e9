#include "floor.h"

#include <condition_variable>

#include "routing/service/event_tail.h"

namespace sb::routing::testing {

Floor::Floor(const kafka_io::KafkaConfig& kafka, int32_t partitions, RoutingClient* client,
             int capacity)
    : client_(client), capacity_(capacity) {
  kafka_io::ConsumerOptions co;
  co.kafka = kafka;
  auto consumer = kafka_io::Consumer::Create(co);
  if (!consumer.ok()) std::abort();
  consumer_ = *std::move(consumer);
  std::vector<kafka_io::TopicPartitionOffset> parts;
  for (int32_t p = 0; p < partitions; ++p) {
    parts.push_back({std::string(kEventsTopic), p, RD_KAFKA_OFFSET_BEGINNING});
  }
  if (!consumer_->Assign(parts).ok()) std::abort();
  thread_ = std::thread([this] { Loop(); });
}

Floor::~Floor() {
  stop_.store(true);
  thread_.join();
}

Floor::Counts Floor::counts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return counts_;
}

bool Floor::Ended(const std::string& tenant, const std::string& interaction) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_.count({tenant, interaction}) > 0;
}

size_t Floor::EndedCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ended_.size();
}

std::optional<std::chrono::steady_clock::time_point> Floor::FirstSeen(
    const std::string& tenant, const std::string& interaction) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = first_seen_.find({tenant, interaction});
  if (it == first_seen_.end()) return std::nullopt;
  return it->second;
}

void Floor::Loop() {
  while (!stop_.load()) {
    auto records = consumer_->Poll(std::chrono::milliseconds(50), 2000);
    if (!records.ok()) return;
    if (records->empty()) continue;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& r : *records) {
        ++counts_.raw;
        v1::RoutingEvent e;
        if (!e.ParseFromString(r.value)) continue;
        if (!dedup_.Accept(e)) {
          ++counts_.duplicates;
          continue;
        }
        ++counts_.unique;
        if (!ids_.insert(e.event_id()).second) ++counts_.repeated_ids;
        Handle(e);
      }
    }
    cv_.notify_all();
  }
}

void Floor::Handle(const v1::RoutingEvent& e) {
  const std::string& tenant = e.tenant_id();
  const std::string interaction = InteractionIdOf(e);
  if (!interaction.empty())
    first_seen_.emplace(std::make_pair(tenant, interaction), std::chrono::steady_clock::now());
  auto send = [&](v1::RoutingCommand c) {
    c.set_tenant_id(tenant);
    // Deterministic ids: a replayed event (already deduped here) could not cause a second send,
    // and a retry would be ignored by the engine.
    (void)client_->SendAsync(std::move(c), [](absl::StatusOr<SentCommand>) {});
  };
  if (e.has_offer_created()) {
    const auto& o = e.offer_created();
    ++counts_.offers;
    if (++holds_[{tenant, o.agent_id()}] > capacity_) ++counts_.capacity_violations;
    v1::RoutingCommand c;
    c.set_command_id("accept/" + o.offer_id());
    c.mutable_accept_offer()->set_agent_id(o.agent_id());
    c.mutable_accept_offer()->set_offer_id(o.offer_id());
    send(std::move(c));
  } else if (e.has_offer_rejected()) {
    --holds_[{tenant, e.offer_rejected().agent_id()}];
  } else if (e.has_offer_timed_out()) {
    --holds_[{tenant, e.offer_timed_out().agent_id()}];
  } else if (e.has_offer_rescinded()) {
    --holds_[{tenant, e.offer_rescinded().agent_id()}];
  } else if (e.has_wrap_up_ended()) {
    --holds_[{tenant, e.wrap_up_ended().agent_id()}];
  } else if (e.has_interaction_connected()) {
    const auto& c0 = e.interaction_connected();
    ++counts_.connected;
    v1::RoutingCommand c;
    c.set_command_id("complete/" + c0.interaction_id());
    c.mutable_complete()->set_agent_id(c0.agent_id());
    c.mutable_complete()->set_interaction_id(c0.interaction_id());
    c.mutable_complete()->set_disposition("resolved");
    send(std::move(c));
  } else if (e.has_interaction_ended()) {
    ++counts_.ended;
    if (!ended_.insert({tenant, e.interaction_ended().interaction_id()}).second) {
      ++counts_.double_ends;
    } else {
      ++counts_.ended_interactions;
    }
  } else if (e.has_command_rejected()) {
    ++counts_.rejected;
    ++counts_.rejected_by_reason[e.command_rejected().reason()];
  }
}

}  // namespace sb::routing::testing
