#include "routing/service/event_tail.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "common/thread_name.h"
#include "google/protobuf/arena.h"
#include "routing/client/routing_client.h"
#include "spdlog/spdlog.h"

namespace sb::routing {

std::string InteractionIdOf(const v1::RoutingEvent& event) {
  // The body's `interaction_id` field, by body field, looked up once (every replica's tail reads
  // every event).
  struct Fields {
    const google::protobuf::OneofDescriptor* body = nullptr;
    std::map<const google::protobuf::FieldDescriptor*, const google::protobuf::FieldDescriptor*>
        interaction_id;
  };
  static const Fields* const kFields = [] {
    auto* f = new Fields;
    f->body = v1::RoutingEvent::descriptor()->FindOneofByName("body");
    for (int i = 0; i < f->body->field_count(); ++i) {
      const google::protobuf::FieldDescriptor* set = f->body->field(i);
      if (set->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) continue;
      const google::protobuf::FieldDescriptor* id =
          set->message_type()->FindFieldByName("interaction_id");
      if (id != nullptr && id->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
        f->interaction_id[set] = id;
      }
    }
    return f;
  }();
  const google::protobuf::Reflection* refl = event.GetReflection();
  const google::protobuf::FieldDescriptor* set =
      refl->GetOneofFieldDescriptor(event, kFields->body);
  auto it = kFields->interaction_id.find(set);
  if (it == kFields->interaction_id.end()) return "";
  const google::protobuf::Message& msg = refl->GetMessage(event, set);
  return msg.GetReflection()->GetString(msg, it->second);
}

std::vector<v1::RoutingEvent> EventTail::Subscription::Next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu);
  cv.wait_for(lock, timeout, [&] { return !pending.empty(); });
  std::vector<v1::RoutingEvent> out(std::make_move_iterator(pending.begin()),
                                    std::make_move_iterator(pending.end()));
  pending.clear();
  return out;
}

absl::StatusOr<std::unique_ptr<EventTail>> EventTail::Start(const Options& options) {
  kafka_io::ConsumerOptions co;
  co.kafka = options.kafka;
  // `Watch` is how the telephony edge learns which agent to connect, so events must not wait out
  // librdkafka's default 500 ms fetch wait, which the embedded broker serves in full when a
  // partition is idle (a real Kafka answers as soon as data arrives). 20 ms bounds that wait at
  // about 50 empty fetches/s when idle. A --kafka override still wins.
  co.kafka.overrides.insert(co.kafka.overrides.begin(), {"fetch.wait.max.ms", "20"});
  auto consumer = kafka_io::Consumer::Create(co);
  if (!consumer.ok()) return consumer.status();
  std::vector<kafka_io::TopicPartitionOffset> parts;
  for (int32_t p = 0; p < options.partitions; ++p) {
    // From the end as of now: the high watermark, so nothing written after Start is missed.
    auto marks = (*consumer)->QueryWatermarks(kEventsTopic, p, std::chrono::seconds(10));
    if (!marks.ok()) return marks.status();
    parts.push_back({std::string(kEventsTopic), p, marks->second});
  }
  if (absl::Status s = (*consumer)->Assign(parts); !s.ok()) return s;
  std::unique_ptr<EventTail> tail(new EventTail(options, *std::move(consumer)));
  tail->thread_ = std::thread([t = tail.get()] {
    NameThisThread("sb-event-tail");
    t->Loop();
  });
  return tail;
}

EventTail::~EventTail() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void EventTail::Loop() {
  // Parsed events live on the arena until their batch is done: no allocation per field.
  google::protobuf::Arena arena;
  while (!stop_.load()) {
    auto records = consumer_->Poll(std::chrono::milliseconds(100), 1000);
    if (!records.ok()) {
      spdlog::error("event tail: {}", records.status().ToString());
      return;
    }
    for (auto& r : *records) {
      auto* e = google::protobuf::Arena::CreateMessage<v1::RoutingEvent>(&arena);
      if (e->ParseFromString(r.value)) Add(*e, std::move(r.value));
    }
    arena.Reset();
  }
}

void EventTail::Add(const v1::RoutingEvent& event, std::string bytes) {
  std::string interaction = InteractionIdOf(event);
  if (interaction.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!dedup_.Accept(event)) return;
  Key key{event.tenant_id(), std::move(interaction)};
  const auto now = std::chrono::steady_clock::now();
  // Evict what is too old or over the bound (oldest first).
  while (!order_.empty() && (retained_count_ >= options_.max_events ||
                             now - order_.front().first > options_.retention)) {
    auto it = retained_.find(order_.front().second);
    if (it != retained_.end() && !it->second.empty()) {
      it->second.erase(it->second.begin());
      --retained_count_;
      if (it->second.empty()) retained_.erase(it);
    }
    order_.pop_front();
  }
  if (auto it = subscribers_.find(key); it != subscribers_.end()) {
    for (const auto& sub : it->second) {
      std::lock_guard<std::mutex> l(sub->mu);
      sub->pending.emplace_back().CopyFrom(event);
      sub->cv.notify_all();
    }
  }
  retained_[key].push_back(std::move(bytes));
  order_.emplace_back(now, std::move(key));
  ++retained_count_;
}

std::shared_ptr<EventTail::Subscription> EventTail::Subscribe(const std::string& tenant,
                                                              const std::string& interaction_id) {
  auto sub = std::make_shared<Subscription>();
  Key key{tenant, interaction_id};
  std::vector<std::string> retained;
  {
    // Only a copy of the bytes under the tail's lock: the parse below does not hold up Add.
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = retained_.find(key); it != retained_.end()) retained = it->second;
    subscribers_[std::move(key)].push_back(sub);
  }
  // Events Add queued since are newer than the retained ones: these go in front of them.
  std::deque<v1::RoutingEvent> earlier;
  for (const std::string& bytes : retained) {
    if (!earlier.emplace_back().ParseFromString(bytes)) earlier.pop_back();
  }
  std::lock_guard<std::mutex> l(sub->mu);
  sub->pending.insert(sub->pending.begin(), std::make_move_iterator(earlier.begin()),
                      std::make_move_iterator(earlier.end()));
  return sub;
}

void EventTail::Unsubscribe(const std::string& tenant, const std::string& interaction_id,
                            const std::shared_ptr<Subscription>& sub) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = subscribers_.find(Key{tenant, interaction_id});
  if (it == subscribers_.end()) return;
  std::erase(it->second, sub);
  if (it->second.empty()) subscribers_.erase(it);
}

}  // namespace sb::routing
