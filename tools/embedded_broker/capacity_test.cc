// The capacity figures of docs/embedded-broker.md, measured with the real protos and routing
// engine: serialized sizes of typical commands and events, and snapshot bytes per agent and per
// waiting interaction. The assertions are the budgets the document's estimate assumes; if one
// fails, the messages grew: re-run, read the printed table and update the document.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "routing/engine/engine.h"

namespace sb::broker {
namespace {

namespace v1 = ::switchboard::routing::v1;
using ::sb::routing::Engine;
using ::sb::routing::EngineStats;

constexpr int64_t kT0Ms = 1'700'000'000'000;
constexpr int kQueues = 10;

// Drives one domain the way the simulator's callers and agents would, and keeps size statistics
// per command and event kind.
class Domain {
 public:
  Domain() : engine_("tenant-0042") {}

  std::vector<v1::RoutingEvent> Apply(v1::RoutingCommand c) {
    ++seq_;
    char id[64];
    // Client-chosen ids in the style of a UUID (36 characters), as the edge would send.
    std::snprintf(id, sizeof(id), "6f1c2a9e-0000-4000-8000-%012lld", static_cast<long long>(seq_));
    c.set_command_id(id);
    c.set_tenant_id("tenant-0042");
    now_ms_ += 50;
    c.mutable_time()->set_seconds(now_ms_ / 1000);
    c.mutable_time()->set_nanos(static_cast<int32_t>((now_ms_ % 1000) * 1'000'000));
    std::vector<v1::RoutingEvent> events;
    engine_.Apply(c, &events);
    Count(&commands_, c.GetDescriptor()->FindFieldByNumber(c.body_case())->name(),
          c.ByteSizeLong());
    for (const v1::RoutingEvent& e : events) {
      EXPECT_NE(e.body_case(), v1::RoutingEvent::kCommandRejected)
          << e.command_rejected().message();
      Count(&events_, e.GetDescriptor()->FindFieldByNumber(e.body_case())->name(),
            e.ByteSizeLong());
      event_bytes_ += static_cast<int64_t>(e.ByteSizeLong());
    }
    return events;
  }

  void Configure(int agents) {
    for (int q = 0; q < kQueues; ++q) {
      v1::RoutingCommand c;
      v1::Queue* queue = c.mutable_upsert_queue()->mutable_queue();
      queue->set_queue_id(QueueId(q));
      queue->set_name("Queue " + QueueId(q));
      queue->set_channel(v1::CHANNEL_VOICE);
      queue->set_strategy(v1::STRATEGY_LONGEST_IDLE);
      queue->set_membership("skills." + QueueId(q) + " > 0");
      Apply(c);
    }
    for (int a = 0; a < agents; ++a) {
      v1::RoutingCommand c;
      v1::AgentProfile* p = c.mutable_upsert_agent()->mutable_profile();
      p->set_agent_id(AgentId(a));
      p->set_name("Agent " + std::to_string(a));
      p->set_team("team-" + std::to_string(a % 20));
      (*p->mutable_attributes())["language"] = a % 3 == 0 ? "en,es" : "en";
      for (int s = 0; s < 3; ++s) {  // three of the ten queues, proficiency 1..5
        v1::Skill* skill = p->add_skills();
        skill->set_name(QueueId((a + s * 3) % kQueues));
        skill->set_proficiency(1 + (a + s) % 5);
      }
      Apply(c);
      v1::RoutingCommand login;
      login.mutable_login()->set_agent_id(AgentId(a));
      Apply(login);
    }
  }

  // Enqueues one caller; returns the offer it got, if an agent was free.
  std::vector<v1::RoutingEvent> Enqueue(int n) {
    v1::RoutingCommand c;
    v1::Enqueue* e = c.mutable_enqueue();
    char id[64];
    std::snprintf(id, sizeof(id), "call-7d3e5b1a-%08d", n);  // a telephony call id
    e->set_interaction_id(id);
    e->set_queue_id(QueueId(n % kQueues));
    e->set_priority(n % 7 == 0 ? 20 : 0);
    (*e->mutable_attributes())["language"] = n % 3 == 0 ? "es" : "en";
    (*e->mutable_attributes())["customer_id"] = "C-" + std::to_string(1'000'000 + n);
    if (n % 3 == 0) e->set_requirement("\"es\" in language");
    return Apply(c);
  }

  void AcceptAndComplete(const v1::OfferCreated& offer, bool complete) {
    v1::RoutingCommand accept;
    accept.mutable_accept_offer()->set_agent_id(offer.agent_id());
    accept.mutable_accept_offer()->set_offer_id(offer.offer_id());
    Apply(accept);
    if (!complete) return;
    v1::RoutingCommand done;
    done.mutable_complete()->set_agent_id(offer.agent_id());
    done.mutable_complete()->set_interaction_id(offer.interaction_id());
    done.mutable_complete()->set_disposition("resolved");
    Apply(done);
  }

  void Tick() {
    v1::RoutingCommand c;
    c.mutable_tick();
    Apply(c);
  }

  int64_t SnapshotBytes() const { return static_cast<int64_t>(engine_.Snapshot().ByteSizeLong()); }
  EngineStats Stats() const { return engine_.Stats(); }

  struct Sizes {
    int64_t count = 0;
    int64_t bytes = 0;
    int64_t max = 0;
  };
  std::map<std::string, Sizes> commands_;
  std::map<std::string, Sizes> events_;
  int64_t event_bytes_ = 0;

 private:
  static std::string QueueId(int q) { return "q" + std::to_string(q); }
  static std::string AgentId(int a) { return "agent-" + std::to_string(10000 + a); }
  static void Count(std::map<std::string, Sizes>* m, const std::string& kind, size_t bytes) {
    Sizes& s = (*m)[kind];
    ++s.count;
    s.bytes += static_cast<int64_t>(bytes);
    s.max = std::max(s.max, static_cast<int64_t>(bytes));
  }

  Engine engine_;
  int64_t seq_ = 0;
  int64_t now_ms_ = kT0Ms;
};

void Print(const char* title, const std::map<std::string, Domain::Sizes>& sizes) {
  std::printf("%s\n", title);
  for (const auto& [kind, s] : sizes) {
    std::printf("  %-24s n=%-7lld mean=%-5lld max=%lld bytes\n", kind.c_str(),
                static_cast<long long>(s.count), static_cast<long long>(s.bytes / s.count),
                static_cast<long long>(s.max));
  }
}

// The steady state: callers arrive, are offered, accepted and completed.
TEST(EmbeddedBrokerCapacity, TypicalCommandAndEventSizes) {
  Domain d;
  d.Configure(200);
  int64_t events_before = d.event_bytes_;
  int64_t commands = 0;
  for (int n = 0; n < 5000; ++n) {
    for (const v1::RoutingEvent& e : d.Enqueue(n)) {
      if (e.has_offer_created()) d.AcceptAndComplete(e.offer_created(), /*complete=*/true);
    }
    if (n % 10 == 0) d.Tick();
  }
  for (const auto& [kind, s] : d.commands_) {
    if (kind != "upsert_queue" && kind != "upsert_agent" && kind != "login") commands += s.count;
  }
  Print("commands (serialized RoutingCommand):", d.commands_);
  Print("events (serialized RoutingEvent):", d.events_);
  double events_per_command = static_cast<double>(d.event_bytes_ - events_before) / commands;
  std::printf("event bytes per steady-state command: %.0f\n", events_per_command);

  // The budgets docs/embedded-broker.md assumes.
  EXPECT_LE(d.commands_["enqueue"].max, 200);
  EXPECT_LE(d.commands_["accept_offer"].max, 120);
  EXPECT_LE(d.commands_["complete"].max, 140);
  EXPECT_LE(d.commands_["tick"].max, 80);
  EXPECT_LE(d.events_["offer_created"].max, 900);
  EXPECT_LE(events_per_command, 600);
}

// Snapshot bytes grow with agents (all busy, each holding a connected call) and with callers
// waiting; the document derives the largest domain from these two slopes.
TEST(EmbeddedBrokerCapacity, SnapshotBytesPerAgentAndPerWaitingInteraction) {
  struct Point {
    int agents;
    int waiting;
    int64_t bytes;
  };
  std::vector<Point> points;
  for (auto [agents, waiting] : {std::pair{500, 0}, std::pair{1000, 0}, std::pair{1000, 2000}}) {
    Domain d;
    d.Configure(agents);
    // Fill the engine's window of recent command ids (10,000), a constant part of every snapshot
    // of a domain that has run for a while, so it does not leak into the slopes.
    for (int i = 0; i < 10'000; ++i) d.Tick();
    int n = 0;
    int connected = 0;
    // Fill every agent with a connected call, then let callers wait.
    while (connected < agents) {
      for (const v1::RoutingEvent& e : d.Enqueue(n++)) {
        if (e.has_offer_created()) {
          d.AcceptAndComplete(e.offer_created(), /*complete=*/false);
          ++connected;
        }
      }
      ASSERT_LT(n, agents * 20) << "agents are not being offered calls";
    }
    int64_t waiting_now = 0;
    while (waiting_now < waiting) {
      d.Enqueue(n++);
      waiting_now = d.Stats().waiting;
    }
    points.push_back({agents, waiting, d.SnapshotBytes()});
    std::printf("snapshot: %d agents busy, %lld waiting: %lld bytes\n", agents,
                static_cast<long long>(d.Stats().waiting),
                static_cast<long long>(points.back().bytes));
  }
  double per_agent = static_cast<double>(points[1].bytes - points[0].bytes) /
                     (points[1].agents - points[0].agents);
  double per_waiting = static_cast<double>(points[2].bytes - points[1].bytes) /
                       (points[2].waiting - points[1].waiting);
  double fixed = static_cast<double>(points[0].bytes) - per_agent * points[0].agents;
  std::printf("snapshot bytes per busy agent: %.0f; per waiting interaction: %.0f; fixed: %.0f\n",
              per_agent, per_waiting, fixed);
  EXPECT_LE(per_agent, 400);
  EXPECT_LE(per_waiting, 250);
}

}  // namespace
}  // namespace sb::broker
