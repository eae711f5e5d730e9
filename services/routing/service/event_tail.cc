#include "routing/service/event_tail.h"

#include <map>

#include "common/thread_name.h"
#include "google/protobuf/arena.h"

namespace sb::routing {

std::string InteractionIdOf(const v1::RoutingEvent& event) {
  // The body's `interaction_id` field, by body field, looked up once (every event published
  // passes here).
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

EventTail::EventTail(Options options) : options_(std::move(options)) {
  thread_ = std::thread([this] {
    NameThisThread("sb-event-tail");
    Loop();
  });
}

EventTail::~EventTail() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    stop_ = true;
  }
  inbox_cv_.notify_all();
  idle_cv_.notify_all();
  thread_.join();
}

void EventTail::Add(std::vector<std::string> events) {
  if (events.empty()) return;
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    was_empty = inbox_.empty();
    if (was_empty) {
      inbox_.swap(events);
    } else {
      inbox_.insert(inbox_.end(), std::make_move_iterator(events.begin()),
                    std::make_move_iterator(events.end()));
    }
  }
  if (was_empty) inbox_cv_.notify_one();
}

void EventTail::Loop() {
  // Parsed events live on the arena until their batch is done: no allocation per field.
  google::protobuf::Arena arena;
  std::vector<std::string> batch;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(inbox_mu_);
      busy_ = false;
      if (inbox_.empty()) idle_cv_.notify_all();
      inbox_cv_.wait(lock, [&] { return stop_ || !inbox_.empty(); });
      if (stop_) return;
      batch.swap(inbox_);
      busy_ = true;
    }
    for (std::string& bytes : batch) {
      auto* e = google::protobuf::Arena::CreateMessage<v1::RoutingEvent>(&arena);
      if (e->ParseFromString(bytes)) Keep(*e, std::move(bytes));
    }
    batch.clear();
    arena.Reset();
  }
}

void EventTail::WaitIdle() {
  std::unique_lock<std::mutex> lock(inbox_mu_);
  idle_cv_.wait(lock, [&] { return stop_ || (!busy_ && inbox_.empty()); });
}

size_t EventTail::retained_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return retained_count_;
}

void EventTail::Evict(Clock::time_point now) {
  while (!order_.empty()) {
    auto& [queued, key] = order_.front();
    const bool full = retained_count_ >= options_.max_events;
    if (!full && now - queued <= options_.retention) break;
    auto it = retained_.find(key);
    if (it != retained_.end()) {
      if (!full && now - it->second.newest <= options_.retention) {
        // Still active: its turn comes again a retention from now (queued at `now`, the order
        // stays sorted; so an interaction is kept between one and two retentions after its
        // newest event).
        order_.emplace_back(now, std::move(key));
        order_.pop_front();
        continue;
      }
      retained_count_ -= it->second.events.size();
      retained_.erase(it);
    }
    order_.pop_front();
  }
}

void EventTail::Keep(const v1::RoutingEvent& event, std::string bytes) {
  std::string interaction = InteractionIdOf(event);
  if (interaction.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (!dedup_.Accept(event)) return;
  const Clock::time_point now = options_.now();
  Evict(now);
  Key key{event.tenant_id(), std::move(interaction)};
  if (auto it = subscribers_.find(key); it != subscribers_.end()) {
    for (const auto& sub : it->second) {
      std::lock_guard<std::mutex> l(sub->mu);
      sub->pending.emplace_back().CopyFrom(event);
      sub->cv.notify_all();
    }
  }
  auto [it, inserted] = retained_.try_emplace(key);
  if (inserted) order_.emplace_back(now, std::move(key));
  it->second.events.push_back(std::move(bytes));
  it->second.newest = now;
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
    if (auto it = retained_.find(key); it != retained_.end()) retained = it->second.events;
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
