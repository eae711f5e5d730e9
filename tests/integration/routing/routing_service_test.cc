// Integration tests of sb-routing as processes (DESIGN §7's failure model), against a real
// sb-embedded-broker: failover under load with SIGKILL, graceful handover, a broker outage.
// Each test starts its own broker and replicas (parallel-safe: port 0, temp dirs).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/kafka/test_broker.h"
#include "floor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "routing/client/routing_client.h"
#include "routing_process.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::routing::testing {
namespace {

using Clock = std::chrono::steady_clock;
using kafka_io::testing::TestBroker;
using ::testing::HasSubstr;

constexpr int kPartitions = 4;

kafka_io::KafkaConfig KafkaFor(const TestBroker& broker) {
  kafka_io::KafkaConfig c;
  c.bootstrap_servers = broker.bootstrap();
  c.overrides = {{"reconnect.backoff.ms", "50"}, {"reconnect.backoff.max.ms", "500"}};
  return c;
}

// One tenant per partition, so a killed replica always owned some of them.
std::vector<std::string> TenantsCoveringPartitions() {
  std::vector<std::string> tenants(kPartitions);
  int found = 0;
  for (int i = 0; found < kPartitions; ++i) {
    const std::string t = absl::StrCat("tenant-", i);
    const int32_t p = PartitionForTenant(t, kPartitions);
    if (tenants[p].empty()) {
      tenants[p] = t;
      ++found;
    }
  }
  return tenants;
}

v1::ApplyConfigRequest ConfigFor(const std::string& tenant, int agents, int wrap_up_ms) {
  v1::ApplyConfigRequest req;
  req.set_tenant_id(tenant);
  v1::Queue* q = req.add_queues();
  q->set_queue_id("support");
  q->set_channel(v1::CHANNEL_VOICE);
  q->set_strategy(v1::STRATEGY_LONGEST_IDLE);
  q->mutable_wrap_up()->set_seconds(wrap_up_ms / 1000);
  q->mutable_wrap_up()->set_nanos((wrap_up_ms % 1000) * 1000000);
  for (int i = 0; i < agents; ++i) {
    v1::AgentProfile* a = req.add_agents();
    a->set_agent_id(absl::StrCat("agent-", i));
    v1::Skill* skill = a->add_skills();
    skill->set_name("support");
    skill->set_proficiency(3);
  }
  return req;
}

// Calls `rpc` on each replica in turn until one answers something other than UNAVAILABLE
// (NOT_OWNER / RECOVERING), for up to `timeout`.
template <typename Rpc>
grpc::Status CallOwner(const std::vector<std::string>& addresses, Rpc rpc,
                       std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = Clock::now() + timeout;
  grpc::Status last;
  while (Clock::now() < deadline) {
    for (const auto& address : addresses) {
      auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      last = rpc(channel, &ctx);
      if (last.error_code() != grpc::StatusCode::UNAVAILABLE) return last;
    }
    std::this_thread::yield();
  }
  return last;
}

grpc::Status ApplyConfig(const std::vector<std::string>& addresses,
                         const v1::ApplyConfigRequest& req) {
  return CallOwner(addresses, [&](auto channel, grpc::ClientContext* ctx) {
    v1::ApplyConfigResponse resp;
    return v1::ConfigService::NewStub(channel)->ApplyConfig(ctx, req, &resp);
  });
}

// Watches one interaction through the replicas at `addresses` (retried on UNAVAILABLE:
// NOT_OWNER / RECOVERING) and returns its events: all of them up to its end, or the first
// `first_n`.
std::vector<v1::RoutingEvent> WatchEvents(const std::vector<std::string>& addresses,
                                          const std::string& tenant, const std::string& id,
                                          size_t first_n = SIZE_MAX) {
  std::vector<v1::RoutingEvent> events;
  grpc::Status s = CallOwner(addresses, [&](auto channel, grpc::ClientContext* ctx) {
    events.clear();
    v1::WatchInteractionRequest req;
    req.set_tenant_id(tenant);
    req.set_interaction_id(id);
    auto reader = v1::InteractionService::NewStub(channel)->Watch(ctx, req);
    v1::WatchInteractionResponse r;
    while (events.size() < first_n && reader->Read(&r)) events.push_back(r.event());
    if (events.size() == first_n) ctx->TryCancel();
    grpc::Status st = reader->Finish();
    return events.size() == first_n ? grpc::Status::OK : st;
  });
  EXPECT_TRUE(s.ok()) << tenant << "/" << id << ": " << s.error_message();
  return events;
}

void LoginAll(RoutingClient& client, const std::string& tenant, int agents) {
  for (int i = 0; i < agents; ++i) {
    v1::RoutingCommand c;
    c.set_tenant_id(tenant);
    c.set_command_id(absl::StrCat("login/", i));
    c.mutable_login()->set_agent_id(absl::StrCat("agent-", i));
    ASSERT_TRUE(client.Send(c).ok());
  }
}

v1::RoutingCommand Enqueue(const std::string& tenant, const std::string& id) {
  v1::RoutingCommand c;
  c.set_tenant_id(tenant);
  c.set_command_id("enqueue/" + id);
  c.mutable_enqueue()->set_interaction_id(id);
  c.mutable_enqueue()->set_queue_id("support");
  return c;
}

std::unique_ptr<RoutingClient> MakeClient(const TestBroker& broker) {
  RoutingClientOptions o;
  o.kafka = KafkaFor(broker);
  o.send_timeout = std::chrono::seconds(20);
  auto client = RoutingClient::Create(o);
  EXPECT_TRUE(client.ok()) << client.status();
  return client.ok() ? *std::move(client) : nullptr;
}

// Two replicas route a few thousand interactions; one is SIGKILLed midway. Afterwards every
// interaction ended exactly once, no agent was ever over capacity, and the deduplicating
// consumer saw each event id once (and did drop the replays).
TEST(RoutingServiceTest, SigkillOfAReplicaMidStreamLosesNothing) {
  auto broker = TestBroker::Start(kPartitions);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto a = RoutingProcess::Start((*broker)->bootstrap());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = RoutingProcess::Start((*broker)->bootstrap());
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->WaitReady(std::chrono::seconds(30)).ok());
  ASSERT_TRUE((*b)->WaitReady(std::chrono::seconds(30)).ok());
  const std::vector<std::string> addresses = {(*a)->grpc_address(), (*b)->grpc_address()};

  constexpr int kAgents = 100;
  const auto tenants = TenantsCoveringPartitions();
  for (const auto& t : tenants) {
    grpc::Status s = ApplyConfig(addresses, ConfigFor(t, kAgents, 300));
    ASSERT_TRUE(s.ok()) << t << ": " << s.error_message();
  }
  auto client = MakeClient(**broker);
  ASSERT_NE(client, nullptr);
  Floor floor(KafkaFor(**broker), kPartitions, client.get(), /*capacity=*/1);
  for (const auto& t : tenants) LoginAll(*client, t, kAgents);

  constexpr int kInteractions = 3000;
  constexpr int kKillAt = 1200;
  const auto paced_start = Clock::now();
  Clock::time_point killed_at;
  std::vector<std::pair<std::string, std::string>> sent;
  std::atomic<int> send_errors{0};
  for (int i = 0; i < kInteractions; ++i) {
    if (i == kKillAt) {
      // Make sure the victim is busy: some of its work is surely in flight.
      (*a)->Kill();
      killed_at = Clock::now();
      std::printf("SIGKILLed replica A (pid gone) after %d enqueues\n", i);
    }
    const std::string& tenant = tenants[i % tenants.size()];
    const std::string id = absl::StrCat("call-", i);
    sent.emplace_back(tenant, id);
    ASSERT_TRUE(client
                    ->SendAsync(Enqueue(tenant, id),
                                [&](absl::StatusOr<SentCommand> s) {
                                  if (!s.ok()) send_errors.fetch_add(1);
                                })
                    .ok());
    // ~500 per second: pace against the clock (this is load shaping, not synchronisation).
    std::this_thread::sleep_until(paced_start + std::chrono::microseconds(2000) * (i + 1));
  }
  ASSERT_TRUE(client->Flush(std::chrono::seconds(30)).ok());
  EXPECT_EQ(send_errors.load(), 0);

  const bool all_ended = floor.WaitFor(
      [&](const Floor::Counts& c) {
        return c.ended_interactions >= static_cast<int64_t>(sent.size());
      },
      std::chrono::seconds(90));
  const Floor::Counts c = floor.counts();
  std::printf(
      "events: raw=%ld unique=%ld duplicates dropped=%ld; offers=%ld connected=%ld ended=%ld "
      "rejected=%ld\n",
      c.raw, c.unique, c.duplicates, c.offers, c.connected, c.ended, c.rejected);
  for (const auto& [reason, n] : c.rejected_by_reason)
    std::printf("  rejected %s: %ld\n", reason.c_str(), n);
  EXPECT_TRUE(all_ended) << "ended " << floor.EndedCount() << " of " << sent.size()
                         << " (replica B log: " << (*b)->log_path() << ")";
  EXPECT_EQ(c.repeated_ids, 0);
  EXPECT_EQ(c.capacity_violations, 0);
  EXPECT_EQ(c.double_ends, 0);

  // Recovery: the longest gap, per tenant, between the kill and the first event of an
  // interaction enqueued after it.
  double worst = 0;
  for (const auto& t : tenants) {
    for (size_t i = kKillAt; i < sent.size(); ++i) {
      if (sent[i].first != t) continue;
      auto seen = floor.FirstSeen(t, sent[i].second);
      ASSERT_TRUE(seen.has_value()) << sent[i].second;
      worst = std::max(worst, std::chrono::duration<double>(*seen - killed_at).count());
      break;
    }
  }
  std::printf(
      "recovery after SIGKILL: first event of a post-kill interaction within %.2f s on "
      "every partition\n",
      worst);
  EXPECT_LT(worst, 15.0);

  // Watch through the survivor, for an interaction of each tenant from before the kill: all its
  // events, the ones the dead replica published included (read back at recovery), once each.
  for (const auto& t : tenants) {
    auto first = std::find_if(sent.begin(), sent.begin() + kKillAt,
                              [&](const auto& tid) { return tid.first == t; });
    ASSERT_NE(first, sent.begin() + kKillAt) << t;
    std::vector<v1::RoutingEvent> events = WatchEvents({(*b)->grpc_address()}, t, first->second);
    ASSERT_FALSE(events.empty()) << first->second;
    EXPECT_TRUE(events.front().has_interaction_queued()) << events.front().ShortDebugString();
    EXPECT_TRUE(events.back().has_interaction_ended()) << events.back().ShortDebugString();
    std::set<std::string> ids;
    for (const auto& e : events) EXPECT_TRUE(ids.insert(e.event_id()).second) << e.event_id();
  }

  // The survivor owns everything and nothing is left waiting.
  for (const auto& t : tenants) {
    v1::ListQueuesResponse queues;
    grpc::Status s = CallOwner({(*b)->grpc_address()}, [&](auto channel, grpc::ClientContext* ctx) {
      v1::ListQueuesRequest req;
      req.set_tenant_id(t);
      return v1::ConfigService::NewStub(channel)->ListQueues(ctx, req, &queues);
    });
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(queues.queues_size(), 1);
  }
  auto code = (*b)->Terminate(std::chrono::seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
}

// SIGTERM hands partitions over with a final snapshot: the other replica takes them without
// replaying the whole log and interactions keep flowing.
TEST(RoutingServiceTest, SigtermHandsPartitionsOverCleanly) {
  auto broker = TestBroker::Start(kPartitions);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto a = RoutingProcess::Start((*broker)->bootstrap(), {"--snapshot-interval-ms", "600000"});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE((*a)->WaitReady(std::chrono::seconds(30)).ok());
  const auto tenants = TenantsCoveringPartitions();
  for (const auto& t : tenants) {
    ASSERT_TRUE(ApplyConfig({(*a)->grpc_address()}, ConfigFor(t, 10, 0)).ok());
  }
  auto client = MakeClient(**broker);
  ASSERT_NE(client, nullptr);
  Floor floor(KafkaFor(**broker), kPartitions, client.get(), 1);
  for (const auto& t : tenants) LoginAll(*client, t, 10);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(client->Send(Enqueue(tenants[i % 4], absl::StrCat("a-", i))).ok());
  }
  ASSERT_TRUE(floor.WaitFor(
      [&](const Floor::Counts& c) { return c.ended_interactions >= static_cast<int64_t>(200); },
      std::chrono::seconds(60)));
  // B joins, then A leaves gracefully: B restores A's final snapshots.
  auto b = RoutingProcess::Start((*broker)->bootstrap());
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->WaitReady(std::chrono::seconds(30)).ok());
  auto code = (*a)->Terminate(std::chrono::seconds(20));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(client->Send(Enqueue(tenants[i % 4], absl::StrCat("b-", i))).ok());
  }
  ASSERT_TRUE(floor.WaitFor(
      [&](const Floor::Counts& c) { return c.ended_interactions >= static_cast<int64_t>(400); },
      std::chrono::seconds(60)))
      << "ended " << floor.EndedCount() << " (B log: " << (*b)->log_path() << ")";
  const auto c = floor.counts();
  EXPECT_EQ(c.capacity_violations, 0);
  EXPECT_EQ(c.double_ends, 0);
  EXPECT_EQ(c.repeated_ids, 0);
  // Everything is in order in B: each tenant's queue is known and empty.
  for (const auto& t : tenants) {
    v1::ListQueuesResponse queues;
    grpc::Status s = CallOwner({(*b)->grpc_address()}, [&](auto channel, grpc::ClientContext* ctx) {
      v1::ListQueuesRequest req;
      req.set_tenant_id(t);
      return v1::ConfigService::NewStub(channel)->ListQueues(ctx, req, &queues);
    });
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(queues.queues_size(), 1);
  }
}

// The broker goes away: Enqueue answers UNAVAILABLE (nothing accepted that is not logged); when
// it is back, the service resumes and every interaction accepted before, during (retried with
// the same command id) and after the outage is routed exactly once.
TEST(RoutingServiceTest, BrokerOutageIsUnavailableThenResumesWithoutLoss) {
  auto broker = TestBroker::Start(kPartitions);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto r = RoutingProcess::Start((*broker)->bootstrap(), {"--send-timeout-ms", "1500", "--kafka",
                                                          "reconnect.backoff.max.ms=500"});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE((*r)->WaitReady(std::chrono::seconds(30)).ok());
  const std::string tenant = TenantsCoveringPartitions()[0];
  ASSERT_TRUE(ApplyConfig({(*r)->grpc_address()}, ConfigFor(tenant, 20, 0)).ok());
  auto client = MakeClient(**broker);
  ASSERT_NE(client, nullptr);
  Floor floor(KafkaFor(**broker), kPartitions, client.get(), 1);
  LoginAll(*client, tenant, 20);

  auto stub = v1::InteractionService::NewStub(
      grpc::CreateChannel((*r)->grpc_address(), grpc::InsecureChannelCredentials()));
  auto enqueue = [&](const std::string& id) {
    v1::EnqueueRequest req;
    req.set_tenant_id(tenant);
    req.set_command_id("enq/" + id);
    req.mutable_enqueue()->set_interaction_id(id);
    req.mutable_enqueue()->set_queue_id("support");
    v1::EnqueueResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub->Enqueue(&ctx, req, &resp);
  };
  // Wait until the tenant's queue is applied (ApplyConfig returns once logged, not applied).
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  grpc::Status first = enqueue("before-0");
  while (!first.ok() && Clock::now() < deadline) first = enqueue("before-0");
  ASSERT_TRUE(first.ok()) << first.error_message();
  for (int i = 1; i < 50; ++i) ASSERT_TRUE(enqueue(absl::StrCat("before-", i)).ok());

  ASSERT_TRUE((*broker)->Command("broker down all").ok());
  grpc::Status during = enqueue("during-0");
  EXPECT_EQ(during.error_code(), grpc::StatusCode::UNAVAILABLE) << during.error_message();
  ASSERT_TRUE((*broker)->Command("broker up all").ok());

  // Retry the same command until the service takes it; then more traffic.
  const auto retry_deadline = Clock::now() + std::chrono::seconds(30);
  grpc::Status retried = enqueue("during-0");
  while (!retried.ok() && Clock::now() < retry_deadline) {
    // ALREADY_EXISTS: the first attempt did reach the log after all — that is success too.
    if (retried.error_code() == grpc::StatusCode::ALREADY_EXISTS) break;
    retried = enqueue("during-0");
  }
  EXPECT_TRUE(retried.ok() || retried.error_code() == grpc::StatusCode::ALREADY_EXISTS)
      << retried.error_message();
  for (int i = 0; i < 50; ++i) {
    grpc::Status s = enqueue(absl::StrCat("after-", i));
    const auto d2 = Clock::now() + std::chrono::seconds(20);
    while (s.error_code() == grpc::StatusCode::UNAVAILABLE && Clock::now() < d2) {
      s = enqueue(absl::StrCat("after-", i));
    }
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(floor.WaitFor(
      [&](const Floor::Counts& c) { return c.ended_interactions >= static_cast<int64_t>(101); },
      std::chrono::seconds(60)))
      << "ended " << floor.EndedCount() << " of 101 (log: " << (*r)->log_path() << ")";
  EXPECT_TRUE(floor.Ended(tenant, "during-0"));
  const auto c = floor.counts();
  EXPECT_EQ(c.double_ends, 0);
  EXPECT_EQ(c.capacity_violations, 0);
  EXPECT_EQ(c.repeated_ids, 0);
  EXPECT_EQ(c.rejected_by_reason.count("DUPLICATE_INTERACTION"), 0u)
      << "a retried enqueue must be ignored by command id, not rejected";
}

// A replica forwards calls for tenants whose partition another replica owns (--peers), so a
// client that knows only one replica reaches every tenant.
TEST(RoutingServiceTest, ForwardsCallsForPartitionsItDoesNotOwn) {
  auto broker = TestBroker::Start(kPartitions);
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto a = RoutingProcess::Start((*broker)->bootstrap());
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = RoutingProcess::Start((*broker)->bootstrap(), {"--peers", (*a)->grpc_address()});
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*a)->WaitReady(std::chrono::seconds(30)).ok());
  ASSERT_TRUE((*b)->WaitReady(std::chrono::seconds(30)).ok());
  const std::vector<std::string> only_b = {(*b)->grpc_address()};
  const auto tenants = TenantsCoveringPartitions();
  for (const auto& t : tenants) {
    grpc::Status s = ApplyConfig(only_b, ConfigFor(t, 2, 0));
    ASSERT_TRUE(s.ok()) << t << ": " << s.error_message();
  }
  int not_owned_by_b = 0;
  for (const auto& t : tenants) {
    // Enqueue through B (retried only while the config is not applied yet / rebalancing).
    grpc::Status s = CallOwner(only_b, [&](auto channel, grpc::ClientContext* ctx) {
      v1::EnqueueRequest req;
      req.set_tenant_id(t);
      req.set_command_id("fwd-" + t);
      req.mutable_enqueue()->set_interaction_id("call-" + t);
      req.mutable_enqueue()->set_queue_id("support");
      v1::EnqueueResponse resp;
      grpc::Status st = v1::InteractionService::NewStub(channel)->Enqueue(ctx, req, &resp);
      // NOT_FOUND: the queue is logged but not applied yet; ask again.
      return st.error_code() == grpc::StatusCode::NOT_FOUND
                 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, st.error_message())
                 : st;
    });
    ASSERT_TRUE(s.ok()) << t << ": " << s.error_message();
    // The same call marked as already forwarded is answered by B alone.
    auto channel = grpc::CreateChannel((*b)->grpc_address(), grpc::InsecureChannelCredentials());
    grpc::ClientContext ctx;
    ctx.AddMetadata("sb-forwarded", "1");
    v1::ListQueuesRequest req;
    req.set_tenant_id(t);
    v1::ListQueuesResponse resp;
    grpc::Status direct = v1::ConfigService::NewStub(channel)->ListQueues(&ctx, req, &resp);
    if (!direct.ok()) {
      EXPECT_THAT(direct.error_message(), HasSubstr("NOT_OWNER")) << t;
      ++not_owned_by_b;
    }
  }
  EXPECT_GT(not_owned_by_b, 0) << "A owns no partition: forwarding was not exercised";
  // Get through B for every tenant: the interaction is there, waiting.
  for (const auto& t : tenants) {
    v1::GetInteractionResponse got;
    grpc::Status s = CallOwner(only_b, [&](auto channel, grpc::ClientContext* ctx) {
      v1::GetInteractionRequest req;
      req.set_tenant_id(t);
      req.set_interaction_id("call-" + t);
      grpc::Status st = v1::InteractionService::NewStub(channel)->Get(ctx, req, &got);
      return st.error_code() == grpc::StatusCode::NOT_FOUND
                 ? grpc::Status(grpc::StatusCode::UNAVAILABLE, st.error_message())
                 : st;
    });
    ASSERT_TRUE(s.ok()) << t << ": " << s.error_message();
    EXPECT_EQ(got.interaction().interaction_id(), "call-" + t);
    // Watch through B: only the owner keeps a partition's events, so B relays A's stream for
    // A's tenants.
    std::vector<v1::RoutingEvent> events = WatchEvents(only_b, t, "call-" + t, 1);
    ASSERT_EQ(events.size(), 1u) << t;
    EXPECT_TRUE(events[0].has_interaction_queued()) << events[0].ShortDebugString();
    EXPECT_EQ(events[0].interaction_queued().interaction_id(), "call-" + t);
  }
  // Marked as forwarded, a Watch for a tenant B does not own is refused at once, not left open.
  for (const auto& t : tenants) {
    auto channel = grpc::CreateChannel((*b)->grpc_address(), grpc::InsecureChannelCredentials());
    grpc::ClientContext ctx;
    ctx.AddMetadata("sb-forwarded", "1");
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::WatchInteractionRequest req;
    req.set_tenant_id(t);
    req.set_interaction_id("call-" + t);
    auto reader = v1::InteractionService::NewStub(channel)->Watch(&ctx, req);
    v1::WatchInteractionResponse r;
    if (reader->Read(&r)) continue;  // B owns it
    grpc::Status st = reader->Finish();
    EXPECT_THAT(st.error_message(), HasSubstr("NOT_OWNER")) << t;
  }
}

}  // namespace
}  // namespace sb::routing::testing
