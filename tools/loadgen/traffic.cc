#include "loadgen/traffic.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/kafka/consumer.h"
#include "google/protobuf/util/time_util.h"
#include "loadgen/desktop_client.h"
#include "loadgen/scheduler.h"
#include "routing/client/routing_client.h"
#include "routing/service/partition.h"
#include "switchboard/agent/v1/agent_state.grpc.pb.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::traffic {
namespace {

namespace v1 = ::switchboard::routing::v1;
namespace av1 = ::switchboard::agent::v1;
using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;
using InteractionServiceStub = ::switchboard::routing::v1::InteractionService::Stub;

// Ids of a routing domain never contain this byte, so "<tenant>\x1f<id>" is unambiguous.
std::string Key(const std::string& tenant, const std::string& id) {
  return absl::StrCat(tenant, "\x1f", id);
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl codes are the same numbers.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// sb-routing's answer on a replica that does not own the tenant's partition: try another.
bool IsNotOwner(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         status.error_message().rfind("NOT_OWNER", 0) == 0;
}

// Kafka settings for low latency against the embedded broker: the mock answers an empty fetch
// only after fetch.wait.max.ms and does not cut the wait short when data arrives, so the default
// (500 ms) would dominate every measurement (docs/embedded-broker.md §4).
const std::vector<std::pair<std::string, std::string>>& ConsumerDefaults() {
  static const auto* kDefaults =
      new std::vector<std::pair<std::string, std::string>>{{"fetch.wait.max.ms", "5"}};
  return *kDefaults;
}

// The agents' commands batch for 10 ms (librdkafka's default is 5). They are not on the measured
// path, and the embedded broker answers a fetch with one batch per partition: every batch costs
// sb-routing's consumer a round trip, so fewer, larger batches keep it from falling behind
// (measured in docs/performance.md, "What is left: a slow regime with two replicas").
const std::vector<std::pair<std::string, std::string>>& ProducerDefaults() {
  static const auto* kDefaults =
      new std::vector<std::pair<std::string, std::string>>{{"linger.ms", "10"}};
  return *kDefaults;
}
}  // namespace

// ---------------------------------------------------------------------------------------------

class TrafficDriver::Impl {
 public:
  explicit Impl(const DriverOptions& options) : options_(options) {}
  ~Impl() { Shutdown(); }

  absl::Status Init();
  absl::Status LoginAgents(std::chrono::milliseconds timeout);
  void StartCalls();
  void StopCalls();
  bool WaitIdle(std::chrono::milliseconds timeout);
  void ResetStats();
  TrafficStats Stats() const;
  uint64_t seed() const { return seed_; }
  const std::string& run_id() const { return run_id_; }

 private:
  // A caller of ours (one interaction), from just before its Enqueue until it ends.
  struct Call {
    std::string tenant;
    std::string id;
    Clock::time_point t0;
    uint64_t generation = 0;  // ResetStats generation it was enqueued in
    bool waiting = true;      // neither offered yet nor ended (counted in waiting_)
    bool connected = false;
  };
  // An agent we play.
  struct Agent {
    AgentRef ref;
    bool logged_in = false;
    bool confirmed = false;  // LoginAgents: logged in, seen in the events
    std::string login_error;
    std::set<std::string> connected;  // interaction ids
    std::set<std::string> wrap_ups;   // interaction ids in wrap-up
    // Desktop mode: the last desktop event id seen (resume token) and whether the first state
    // of the current stream has been handled.
    std::string last_event_id;
    bool desktop_greeted = false;
    int unknown_attempts = 0;  // streams refused with NO_SUCH_AGENT
  };

  // An asynchronous unary RPC on cq_; the completion thread calls Done and deletes it.
  struct AsyncCall {
    virtual ~AsyncCall() = default;
    virtual void Done() = 0;
    grpc::ClientContext ctx;
    grpc::Status status;
  };
  struct EnqueueCall : AsyncCall {
    Impl* impl = nullptr;
    std::string key;
    Clock::time_point t0;
    uint64_t generation = 0;
    v1::EnqueueRequest request;
    size_t replica = 0;  // index into stubs_
    int attempt = 0;
    v1::EnqueueResponse response;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::EnqueueResponse>> reader;
    void Done() override { impl->OnEnqueueDone(*this); }
  };
  struct CancelCall : AsyncCall {
    Impl* impl = nullptr;
    v1::CancelRequest request;
    size_t replica = 0;
    int attempt = 0;
    v1::CancelResponse response;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::CancelResponse>> reader;
    void Done() override { impl->OnCancelDone(*this); }
  };

  void Shutdown();
  void CompletionLoop();
  void ConsumeLoop();
  void HandleBatch(std::vector<kafka_io::Record> records);
  void HandleEvent(const v1::RoutingEvent& event, int64_t record_ts_ms, Clock::time_point now,
                   int64_t wall_now_ms, std::vector<v1::RoutingCommand>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArrivalTick(uint64_t epoch);
  void StartEnqueue(const std::string& key, v1::EnqueueRequest request, Clock::time_point t0);
  void IssueEnqueue(EnqueueCall* call);
  void IssueCancel(CancelCall* call);
  void OnEnqueueDone(EnqueueCall& call);
  void OnCancelDone(CancelCall& call);
  // Where a call on `tenant` goes: the replica that last accepted one, else the next in turn.
  size_t ReplicaFor(const std::string& tenant) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a NOT_OWNER answer from `replica`: the replica to try next and how long to wait first
  // (a pause after every replica refused, as during a rebalance); nullopt once out of attempts.
  std::optional<std::pair<size_t, Clock::duration>> Redirect(const std::string& tenant,
                                                             size_t replica, int attempt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Abandon(const std::string& key);
  void CompleteLater(const std::string& agent_key, const std::string& interaction_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndWrapUpLater(const std::string& agent_key, const std::string& interaction_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetAvailableLater(const std::string& agent_key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(v1::RoutingCommand command);
  v1::RoutingCommand NewCommand(const std::string& tenant, const char* kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LeaveWaiting(Call& call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Desktop mode (options_.agent_state_target set): one DesktopStream per agent.
  bool desktop_mode() const { return !options_.agent_state_target.empty(); }
  void ConnectDesktop(const std::string& agent_key);
  void OnDesktopEvent(const std::string& agent_key, DesktopStream& stream,
                      const av1::DesktopEvent& event);
  void OnDesktopDone(const std::string& agent_key, const grpc::Status& status,
                     const std::string& goodbye);
  // Sends on the agent's current stream (it may have been replaced by a reconnect).
  void DesktopSend(const std::string& agent_key, av1::DesktopRequest request);
  void DesktopLater(const std::string& agent_key, Clock::duration delay,
                    av1::DesktopRequest request);
  void CloseDesktops();
  void CountError(const std::string& what, absl::string_view message = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Clock::duration Draw(double mean_seconds) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const DriverOptions options_;
  uint64_t seed_ = 0;
  std::string run_id_;

  // gRPC: one channel per replica; calls complete on cq_, served by cq_thread_.
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<v1::InteractionService::Stub>> stubs_;
  grpc::CompletionQueue cq_;
  std::thread cq_thread_;
  std::atomic<int64_t> rpcs_in_flight_{0};
  std::atomic<int64_t> enqueues_in_flight_{0};

  std::unique_ptr<routing::RoutingClient> client_;
  std::unique_ptr<kafka_io::Consumer> consumer_;  // used by consumer_thread_ only after Init
  std::thread consumer_thread_;
  std::atomic<bool> stop_consumer_{false};

  Scheduler scheduler_;
  bool shut_down_ = false;

  // Desktop mode. Lock order: desktops_mu_ is never held while taking mu_.
  std::shared_ptr<grpc::Channel> desktop_channel_;
  std::unique_ptr<av1::AgentDesktop::Stub> desktop_stub_;
  mutable std::mutex desktops_mu_;
  std::condition_variable desktops_cv_;  // open_desktops_ reaching 0
  std::unordered_map<std::string, std::unique_ptr<DesktopStream>> desktops_
      ABSL_GUARDED_BY(desktops_mu_);
  // Streams replaced after they ended: destroyed at shutdown (gRPC may still be in OnDone).
  std::vector<std::unique_ptr<DesktopStream>> ended_desktops_ ABSL_GUARDED_BY(desktops_mu_);
  int64_t open_desktops_ ABSL_GUARDED_BY(desktops_mu_) = 0;
  bool closing_desktops_ ABSL_GUARDED_BY(desktops_mu_) = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // login confirmations, waiting_/in-flight reaching 0
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::unordered_set<std::string> tenants_;  // immutable after Init
  std::unordered_map<std::string, Call> calls_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, Agent> agents_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, std::string> pending_logins_ ABSL_GUARDED_BY(mu_);  // cmd->agent
  routing::EventDeduplicator dedup_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, size_t> owner_ ABSL_GUARDED_BY(mu_);  // tenant -> replica
  uint64_t next_replica_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool calling_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t arrival_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point next_arrival_ ABSL_GUARDED_BY(mu_);
  int64_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t connected_now_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t agents_logged_in_ ABSL_GUARDED_BY(mu_) = 0;
  std::string consumer_error_ ABSL_GUARDED_BY(mu_);
  TrafficStats stats_ ABSL_GUARDED_BY(mu_);  // counters and histograms; gauges filled by Stats()
};

absl::Status TrafficDriver::Impl::Init() {
  if (options_.grpc_targets.empty()) {
    return absl::InvalidArgumentError("traffic: no sb-routing address (grpc_targets)");
  }
  if (options_.bootstrap.empty()) {
    return absl::InvalidArgumentError("traffic: no Kafka bootstrap servers");
  }
  if (options_.queues.empty()) return absl::InvalidArgumentError("traffic: no queues to call");
  if (!(options_.calls_per_second > 0)) {
    return absl::InvalidArgumentError("traffic: calls_per_second must be > 0");
  }
  seed_ = options_.seed != 0 ? options_.seed : std::random_device{}() | uint64_t{1} << 32;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rng_.seed(seed_);
  }
  // The run id must differ between runs even with the same seed (interaction ids would collide
  // with DUPLICATE_INTERACTION), so it does not come from the seed.
  run_id_ = absl::StrFormat("t%08x", std::random_device{}());

  for (const QueueRef& q : options_.queues) tenants_.insert(q.tenant_id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const AgentRef& a : options_.agents) {
      tenants_.insert(a.tenant_id);
      Agent& agent = agents_[Key(a.tenant_id, a.agent_id)];
      agent.ref = a;
    }
  }

  // gRPC: the replicas must answer (the channel connects) within 10 s.
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  for (const std::string& target : options_.grpc_targets) {
    grpc::ChannelArguments args;
    // Separate connections per channel even to the same address.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat("traffic: cannot reach sb-routing at ", target,
                                                 " (gRPC channel not connected within 10 s); is "
                                                 "it running, and is the address right?"));
    }
    stubs_.push_back(v1::InteractionService::NewStub(channel));
    channels_.push_back(std::move(channel));
  }

  if (desktop_mode()) {
    desktop_channel_ =
        grpc::CreateChannel(options_.agent_state_target, grpc::InsecureChannelCredentials());
    if (!desktop_channel_->WaitForConnected(deadline)) {
      return absl::UnavailableError(absl::StrCat(
          "traffic: cannot reach sb-agent-state at ", options_.agent_state_target,
          " (gRPC channel not connected within 10 s); is it running, and is the address right?"));
    }
    desktop_stub_ = av1::AgentDesktop::NewStub(desktop_channel_);
  }

  routing::RoutingClientOptions co;
  co.kafka.bootstrap_servers = options_.bootstrap;
  co.kafka.client_id = "sb-traffic";
  co.kafka.overrides = ProducerDefaults();  // --kafka linger.ms=N overrides it
  for (const auto& kv : options_.kafka_overrides) co.kafka.overrides.push_back(kv);
  absl::StatusOr<std::unique_ptr<routing::RoutingClient>> client =
      routing::RoutingClient::Create(co);
  if (!client.ok()) {
    return absl::Status(client.status().code(),
                        absl::StrCat("traffic: routing client on ", options_.bootstrap, ": ",
                                     client.status().message()));
  }
  client_ = *std::move(client);

  kafka_io::ConsumerOptions cons;
  cons.kafka.bootstrap_servers = options_.bootstrap;
  cons.kafka.client_id = "sb-traffic";
  cons.kafka.overrides = ConsumerDefaults();
  for (const auto& kv : options_.kafka_overrides) cons.kafka.overrides.push_back(kv);
  absl::StatusOr<std::unique_ptr<kafka_io::Consumer>> consumer = kafka_io::Consumer::Create(cons);
  if (!consumer.ok()) return consumer.status();
  consumer_ = *std::move(consumer);
  // Start at the current end of every partition of the events topic: what happens from now on.
  std::vector<kafka_io::TopicPartitionOffset> assignment;
  const std::string topic(routing::kEventsTopic);
  for (int32_t p = 0; p < client_->partition_count(); ++p) {
    absl::StatusOr<std::pair<int64_t, int64_t>> marks =
        consumer_->QueryWatermarks(topic, p, std::chrono::seconds(10));
    if (!marks.ok()) {
      return absl::Status(marks.status().code(),
                          absl::StrCat("traffic: ", marks.status().message(), " (", topic,
                                       " must have as many partitions as ",
                                       std::string(routing::kCommandsTopic), ")"));
    }
    assignment.push_back({topic, p, marks->second});
  }
  if (absl::Status s = consumer_->Assign(assignment); !s.ok()) return s;

  cq_thread_ = std::thread([this] { CompletionLoop(); });
  consumer_thread_ = std::thread([this] { ConsumeLoop(); });
  return absl::OkStatus();
}

void TrafficDriver::Impl::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    std::lock_guard<std::mutex> lock(mu_);
    calling_ = false;
    ++arrival_epoch_;
  }
  scheduler_.Stop();  // no more arrivals or timers (nor heartbeats)
  CloseDesktops();
  stop_consumer_ = true;
  if (consumer_thread_.joinable()) consumer_thread_.join();
  // Outstanding RPCs finish by their deadline; Next returns false once they are all drained.
  cq_.Shutdown();
  if (cq_thread_.joinable()) cq_thread_.join();
  if (client_ != nullptr) (void)client_->Flush(std::chrono::seconds(5));
  consumer_.reset();
  client_.reset();
}

size_t TrafficDriver::Impl::ReplicaFor(const std::string& tenant) {
  if (auto it = owner_.find(tenant); it != owner_.end()) return it->second;
  return next_replica_++ % stubs_.size();
}

std::optional<std::pair<size_t, Clock::duration>> TrafficDriver::Impl::Redirect(
    const std::string& tenant, size_t replica, int attempt) {
  owner_.erase(tenant);
  const int n = static_cast<int>(stubs_.size());
  // Every replica twice, then a few more slow rounds (a rebalance takes a few seconds).
  if (attempt >= 2 * n + 20) return std::nullopt;
  const Clock::duration pause =
      (attempt + 1) % n == 0 ? Clock::duration(std::chrono::milliseconds(250)) : Clock::duration(0);
  return std::make_pair((replica + 1) % stubs_.size(), pause);
}

void TrafficDriver::Impl::CompletionLoop() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    auto* call = static_cast<AsyncCall*>(tag);
    call->Done();
    delete call;
    if (rpcs_in_flight_.fetch_sub(1) == 1) cv_.notify_all();
  }
}

// --- callers ---------------------------------------------------------------------------------

void TrafficDriver::Impl::StartCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  if (calling_) return;
  calling_ = true;
  const uint64_t epoch = ++arrival_epoch_;
  next_arrival_ = Clock::now();
  scheduler_.At(next_arrival_, [this, epoch] { ArrivalTick(epoch); });
}

void TrafficDriver::Impl::StopCalls() {
  std::lock_guard<std::mutex> lock(mu_);
  calling_ = false;
  ++arrival_epoch_;
}

void TrafficDriver::Impl::ArrivalTick(uint64_t epoch) {
  struct Start {
    std::string key;
    v1::EnqueueRequest request;
    Clock::time_point t0;
  };
  std::vector<Start> starts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!calling_ || epoch != arrival_epoch_) return;
    const Clock::time_point now = Clock::now();
    std::uniform_int_distribution<size_t> pick(0, options_.queues.size() - 1);
    while (next_arrival_ <= now) {
      const QueueRef& q = options_.queues[pick(rng_)];
      const std::string id = absl::StrCat(run_id_, "-", next_seq_++);
      const std::string key = Key(q.tenant_id, id);
      Call& call = calls_[key];
      call.tenant = q.tenant_id;
      call.id = id;
      call.t0 = now;
      call.generation = generation_;
      ++waiting_;
      v1::EnqueueRequest request;
      request.set_tenant_id(q.tenant_id);
      request.set_command_id(absl::StrCat(run_id_, ":enq:", id));
      request.mutable_enqueue()->set_interaction_id(id);
      request.mutable_enqueue()->set_queue_id(q.queue_id);
      starts.push_back({key, std::move(request), now});
      if (options_.mean_patience_seconds > 0) {
        scheduler_.After(Draw(options_.mean_patience_seconds), [this, key] { Abandon(key); });
      }
      const double gap_s =
          options_.poisson_arrivals
              ? std::exponential_distribution<double>(options_.calls_per_second)(rng_)
              : 1.0 / options_.calls_per_second;
      next_arrival_ +=
          std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(gap_s));
    }
    scheduler_.At(next_arrival_, [this, epoch] { ArrivalTick(epoch); });
  }
  for (Start& s : starts) {
    // t0 was taken under the lock just before; the RPC starts now.
    StartEnqueue(s.key, std::move(s.request), s.t0);
  }
}

void TrafficDriver::Impl::StartEnqueue(const std::string& key, v1::EnqueueRequest request,
                                       Clock::time_point t0) {
  if (enqueues_in_flight_.load() >= options_.max_enqueues_in_flight) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.enqueue_errors;
    CountError("Enqueue CLIENT_BACKLOG");
    auto it = calls_.find(key);
    if (it != calls_.end()) {
      LeaveWaiting(it->second);
      calls_.erase(it);
    }
    return;
  }
  auto* call = new EnqueueCall();
  call->impl = this;
  call->key = key;
  call->t0 = t0;
  call->request = std::move(request);
  ++enqueues_in_flight_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.enqueue_sent;
    call->generation = generation_;
    call->replica = ReplicaFor(call->request.tenant_id());
  }
  IssueEnqueue(call);
}

void TrafficDriver::Impl::IssueEnqueue(EnqueueCall* call) {
  call->ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  ++rpcs_in_flight_;
  call->reader = stubs_[call->replica]->AsyncEnqueue(&call->ctx, call->request, &cq_);
  call->reader->Finish(&call->response, &call->status, call);
}

void TrafficDriver::Impl::OnEnqueueDone(EnqueueCall& call) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string& tenant = call.request.tenant_id();
  if (IsNotOwner(call.status)) {
    if (auto next = Redirect(tenant, call.replica, call.attempt); next.has_value()) {
      ++stats_.redirects;
      // A new call (a ClientContext serves one RPC), same command id: a retry is safe.
      auto holder = std::make_shared<std::unique_ptr<EnqueueCall>>(new EnqueueCall());
      EnqueueCall* retry = holder->get();
      retry->impl = this;
      retry->key = call.key;
      retry->t0 = call.t0;
      retry->generation = call.generation;
      retry->request = call.request;
      retry->replica = next->first;
      retry->attempt = call.attempt + 1;
      // The holder frees the call if the task is dropped (shutdown).
      scheduler_.After(next->second, [this, holder] { IssueEnqueue(holder->release()); });
      return;
    }
  }
  --enqueues_in_flight_;
  auto it = calls_.find(call.key);
  if (call.status.ok()) {
    owner_[tenant] = call.replica;
    if (call.generation == generation_) {
      ++stats_.enqueued;
      stats_.enqueue_rpc.Record(Clock::now() - call.t0);
    }
    return;
  }
  ++stats_.enqueue_errors;
  CountError(absl::StrCat("Enqueue ", CodeName(call.status.error_code())),
             call.status.error_message());
  if (it != calls_.end()) {
    LeaveWaiting(it->second);
    calls_.erase(it);
  }
}

void TrafficDriver::Impl::Abandon(const std::string& key) {
  auto* call = new CancelCall();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(key);
    if (it == calls_.end() || it->second.connected) {
      delete call;
      return;
    }
    call->request.set_tenant_id(it->second.tenant);
    call->request.set_command_id(absl::StrCat(run_id_, ":can:", it->second.id));
    call->request.mutable_cancel()->set_interaction_id(it->second.id);
    call->request.mutable_cancel()->set_reason(v1::CANCEL_REASON_ABANDONED);
    call->replica = ReplicaFor(it->second.tenant);
  }
  call->impl = this;
  IssueCancel(call);
}

void TrafficDriver::Impl::IssueCancel(CancelCall* call) {
  call->ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  ++rpcs_in_flight_;
  call->reader = stubs_[call->replica]->AsyncCancel(&call->ctx, call->request, &cq_);
  call->reader->Finish(&call->response, &call->status, call);
}

void TrafficDriver::Impl::OnCancelDone(CancelCall& call) {
  if (call.status.ok()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (IsNotOwner(call.status)) {
    if (auto next = Redirect(call.request.tenant_id(), call.replica, call.attempt);
        next.has_value()) {
      ++stats_.redirects;
      auto holder = std::make_shared<std::unique_ptr<CancelCall>>(new CancelCall());
      CancelCall* retry = holder->get();
      retry->impl = this;
      retry->request = call.request;
      retry->replica = next->first;
      retry->attempt = call.attempt + 1;
      scheduler_.After(next->second, [this, holder] { IssueCancel(holder->release()); });
      return;
    }
  }
  CountError(absl::StrCat("Cancel ", CodeName(call.status.error_code())),
             call.status.error_message());
}

// --- agents ----------------------------------------------------------------------------------

v1::RoutingCommand TrafficDriver::Impl::NewCommand(const std::string& tenant, const char* kind) {
  v1::RoutingCommand command;
  command.set_tenant_id(tenant);
  command.set_command_id(absl::StrCat(run_id_, ":", kind, ":", next_seq_++));
  return command;
}

void TrafficDriver::Impl::Send(v1::RoutingCommand command) {
  const std::string kind = [&] {
    switch (command.body_case()) {
      case v1::RoutingCommand::kLogin:
        return "Login";
      case v1::RoutingCommand::kAcceptOffer:
        return "AcceptOffer";
      case v1::RoutingCommand::kComplete:
        return "Complete";
      case v1::RoutingCommand::kEndWrapUp:
        return "EndWrapUp";
      case v1::RoutingCommand::kSetPresence:
        return "SetPresence";
      default:
        return "Command";
    }
  }();
  absl::Status s = client_->SendAsync(
      std::move(command), [this, kind](absl::StatusOr<routing::SentCommand> sent) {
        if (sent.ok()) return;
        std::lock_guard<std::mutex> lock(mu_);
        CountError(absl::StrCat(kind, " ", absl::StatusCodeToString(sent.status().code())),
                   sent.status().message());
      });
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    CountError(absl::StrCat(kind, " ", absl::StatusCodeToString(s.code())), s.message());
  }
}

absl::Status TrafficDriver::Impl::LoginAgents(std::chrono::milliseconds timeout) {
  std::vector<v1::RoutingCommand> logins;
  if (desktop_mode()) {
    // Each desktop logs its agent in when it sees the agent's state (OnDesktopEvent).
    std::vector<std::string> keys;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [key, agent] : agents_) {
        if (agent.confirmed) continue;
        agent.login_error.clear();
        keys.push_back(key);
      }
    }
    for (const std::string& key : keys) ConnectDesktop(key);
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [key, agent] : agents_) {
      if (agent.confirmed) continue;
      agent.login_error.clear();
      v1::RoutingCommand command = NewCommand(agent.ref.tenant_id, "lgi");
      command.mutable_login()->set_agent_id(agent.ref.agent_id);
      command.mutable_login()->set_presence(v1::PRESENCE_AVAILABLE);
      pending_logins_[command.command_id()] = key;
      logins.push_back(std::move(command));
    }
  }  // else
  for (v1::RoutingCommand& c : logins) Send(std::move(c));

  std::unique_lock<std::mutex> lock(mu_);
  auto settled = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& [key, agent] : agents_) {
      if (!agent.confirmed && agent.login_error.empty()) return false;
    }
    return true;
  };
  const bool done = cv_.wait_for(lock, timeout, settled);
  std::vector<std::string> unknown;
  std::vector<std::string> failed;
  std::vector<std::string> silent;
  for (const auto& [key, agent] : agents_) {
    const std::string name = absl::StrCat(agent.ref.tenant_id, "/", agent.ref.agent_id);
    if (agent.confirmed) continue;
    if (agent.login_error == "NO_SUCH_AGENT") {
      unknown.push_back(name);
    } else if (!agent.login_error.empty()) {
      failed.push_back(absl::StrCat(name, " (", agent.login_error, ")"));
    } else {
      silent.push_back(name);
    }
  }
  auto few = [](const std::vector<std::string>& v) {
    std::vector<std::string> head(v.begin(), v.begin() + std::min<size_t>(v.size(), 5));
    return absl::StrCat(absl::StrJoin(head, ", "), v.size() > 5 ? ", ..." : "");
  };
  if (!unknown.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("traffic: ", unknown.size(), " agents are not in the routing config (",
                     few(unknown), "): apply a config that has them first"));
  }
  if (!failed.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("traffic: Login refused for ", failed.size(), " agents: ", few(failed)));
  }
  if (!done || !silent.empty()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "traffic: no Login confirmation within ", timeout.count(), " ms for ", silent.size(),
        " agents (", few(silent), "): is an sb-routing replica serving their tenant's partition?",
        consumer_error_.empty() ? "" : absl::StrCat(" Event consumer: ", consumer_error_)));
  }
  return absl::OkStatus();
}

void TrafficDriver::Impl::CompleteLater(const std::string& agent_key,
                                        const std::string& interaction_id) {
  scheduler_.After(Draw(options_.mean_handle_seconds), [this, agent_key, interaction_id] {
    v1::RoutingCommand command;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = agents_.find(agent_key);
      if (it == agents_.end() || !it->second.connected.contains(interaction_id)) return;
      command = NewCommand(it->second.ref.tenant_id, "cmp");
      command.mutable_complete()->set_agent_id(it->second.ref.agent_id);
      command.mutable_complete()->set_interaction_id(interaction_id);
      command.mutable_complete()->set_disposition("resolved");
    }
    Send(std::move(command));
  });
}

void TrafficDriver::Impl::EndWrapUpLater(const std::string& agent_key,
                                         const std::string& interaction_id) {
  scheduler_.After(Draw(options_.mean_wrap_up_seconds), [this, agent_key, interaction_id] {
    v1::RoutingCommand command;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = agents_.find(agent_key);
      if (it == agents_.end() || !it->second.wrap_ups.contains(interaction_id)) return;
      command = NewCommand(it->second.ref.tenant_id, "wrp");
      command.mutable_end_wrap_up()->set_agent_id(it->second.ref.agent_id);
      command.mutable_end_wrap_up()->set_interaction_id(interaction_id);
    }
    Send(std::move(command));
  });
}

void TrafficDriver::Impl::SetAvailableLater(const std::string& agent_key) {
  scheduler_.After(options_.not_responding_recovery, [this, agent_key] {
    v1::RoutingCommand command;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = agents_.find(agent_key);
      if (it == agents_.end() || !it->second.logged_in) return;
      command = NewCommand(it->second.ref.tenant_id, "prs");
      command.mutable_set_presence()->set_agent_id(it->second.ref.agent_id);
      command.mutable_set_presence()->set_presence(v1::PRESENCE_AVAILABLE);
    }
    Send(std::move(command));
  });
}

// --- events ----------------------------------------------------------------------------------

void TrafficDriver::Impl::ConsumeLoop() {
  while (!stop_consumer_) {
    absl::StatusOr<std::vector<kafka_io::Record>> records =
        consumer_->Poll(std::chrono::milliseconds(100), 2000);
    if (!records.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      consumer_error_ = std::string(records.status().message());
      CountError(absl::StrCat("Consume ", absl::StatusCodeToString(records.status().code())),
                 records.status().message());
      break;
    }
    if (!records->empty()) HandleBatch(*std::move(records));
  }
}

void TrafficDriver::Impl::HandleBatch(std::vector<kafka_io::Record> records) {
  const Clock::time_point now = Clock::now();
  const int64_t wall_now_ms = WallMs();
  // Parse outside the lock; skip other tenants' events early.
  std::vector<std::pair<v1::RoutingEvent, int64_t>> events;
  events.reserve(records.size());
  for (const kafka_io::Record& r : records) {
    if (!tenants_.contains(r.key)) continue;  // the key is the tenant id
    v1::RoutingEvent event;
    if (!event.ParseFromString(r.value)) continue;
    events.emplace_back(std::move(event), r.timestamp_ms);
  }
  std::vector<v1::RoutingCommand> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [event, ts] : events) {
      if (!tenants_.contains(event.tenant_id())) continue;
      if (!dedup_.Accept(event)) {
        ++stats_.duplicate_events;
        continue;
      }
      ++stats_.events;
      HandleEvent(event, ts, now, wall_now_ms, &out);
    }
  }
  cv_.notify_all();
  for (v1::RoutingCommand& c : out) Send(std::move(c));
}

void TrafficDriver::Impl::HandleEvent(const v1::RoutingEvent& event, int64_t record_ts_ms,
                                      Clock::time_point now, int64_t wall_now_ms,
                                      std::vector<v1::RoutingCommand>* out) {
  const std::string& tenant = event.tenant_id();
  auto find_agent = [&](const std::string& agent_id) -> Agent* {
    auto it = agents_.find(Key(tenant, agent_id));
    return it == agents_.end() ? nullptr : &it->second;
  };
  auto find_call = [&](const std::string& interaction_id) {
    return calls_.find(Key(tenant, interaction_id));
  };
  switch (event.body_case()) {
    case v1::RoutingEvent::kOfferCreated: {
      const v1::OfferCreated& e = event.offer_created();
      if (auto it = find_call(e.interaction_id()); it != calls_.end()) {
        Call& call = it->second;
        if (call.waiting) {
          if (call.generation == generation_) {
            ++stats_.offered;
            stats_.enqueue_to_offer.Record(now - call.t0);
            if (record_ts_ms > 0) {
              const int64_t event_ms = TimeUtil::TimestampToMilliseconds(event.time());
              stats_.command_to_event.Record(
                  std::chrono::milliseconds(std::max<int64_t>(0, record_ts_ms - event_ms)));
              stats_.event_to_driver.Record(
                  std::chrono::milliseconds(std::max<int64_t>(0, wall_now_ms - record_ts_ms)));
            }
          }
          LeaveWaiting(call);
        }
      }
      if (Agent* agent = find_agent(e.agent_id()); agent != nullptr && !desktop_mode()) {
        v1::RoutingCommand command = NewCommand(tenant, "acc");
        command.mutable_accept_offer()->set_agent_id(e.agent_id());
        command.mutable_accept_offer()->set_offer_id(e.offer_id());
        out->push_back(std::move(command));
      }
      break;
    }
    case v1::RoutingEvent::kOfferAccepted:
      if (find_agent(event.offer_accepted().agent_id()) != nullptr) ++stats_.accepted;
      break;
    case v1::RoutingEvent::kOfferTimedOut:
      if (find_agent(event.offer_timed_out().agent_id()) != nullptr) ++stats_.offer_timeouts;
      break;
    case v1::RoutingEvent::kInteractionConnected: {
      const v1::InteractionConnected& e = event.interaction_connected();
      if (auto it = find_call(e.interaction_id()); it != calls_.end()) {
        it->second.connected = true;
      }
      if (Agent* agent = find_agent(e.agent_id()); agent != nullptr) {
        if (agent->connected.insert(e.interaction_id()).second) ++connected_now_;
        if (!desktop_mode()) CompleteLater(Key(tenant, e.agent_id()), e.interaction_id());
      }
      break;
    }
    case v1::RoutingEvent::kInteractionEnded: {
      const v1::InteractionEnded& e = event.interaction_ended();
      if (auto it = find_call(e.interaction_id()); it != calls_.end()) {
        if (it->second.generation == generation_) {
          switch (e.reason()) {
            case v1::END_REASON_COMPLETED:
              ++stats_.completed;
              break;
            case v1::END_REASON_ABANDONED:
              ++stats_.abandoned;
              break;
            default:
              ++stats_.other_ended;
          }
        }
        LeaveWaiting(it->second);
        calls_.erase(it);
      }
      if (!e.agent_id().empty()) {
        if (Agent* agent = find_agent(e.agent_id()); agent != nullptr) {
          if (agent->connected.erase(e.interaction_id()) > 0) --connected_now_;
        }
      }
      break;
    }
    case v1::RoutingEvent::kWrapUpStarted: {
      const v1::WrapUpStarted& e = event.wrap_up_started();
      if (Agent* agent = find_agent(e.agent_id()); agent != nullptr) {
        if (agent->connected.erase(e.interaction_id()) > 0) --connected_now_;
        agent->wrap_ups.insert(e.interaction_id());
        // A queue without wrap-up ends it in the same command (deadline == time): nothing to do.
        if (!desktop_mode() && TimeUtil::TimestampToMilliseconds(e.deadline()) >
                                   TimeUtil::TimestampToMilliseconds(event.time())) {
          EndWrapUpLater(Key(tenant, e.agent_id()), e.interaction_id());
        }
      }
      break;
    }
    case v1::RoutingEvent::kWrapUpEnded: {
      const v1::WrapUpEnded& e = event.wrap_up_ended();
      if (Agent* agent = find_agent(e.agent_id()); agent != nullptr) {
        agent->wrap_ups.erase(e.interaction_id());
      }
      break;
    }
    case v1::RoutingEvent::kAgentStateChanged: {
      const v1::AgentStateChanged& e = event.agent_state_changed();
      Agent* agent = find_agent(e.agent_id());
      if (agent == nullptr) break;
      const bool in = e.presence() == v1::PRESENCE_AVAILABLE || e.presence() == v1::PRESENCE_AUX;
      if (in && !agent->logged_in) ++agents_logged_in_;
      if (!in && agent->logged_in) --agents_logged_in_;
      agent->logged_in = in;
      if (in) agent->confirmed = true;
      if (!desktop_mode() && e.presence() == v1::PRESENCE_AUX && e.reason() == "not_responding") {
        SetAvailableLater(Key(tenant, e.agent_id()));
      }
      break;
    }
    case v1::RoutingEvent::kCommandRejected: {
      const std::string& id = event.command_id();
      if (id.size() <= run_id_.size() || id.compare(0, run_id_.size(), run_id_) != 0 ||
          id[run_id_.size()] != ':') {
        break;  // not ours
      }
      const std::string& reason = event.command_rejected().reason();
      ++stats_.rejected;
      ++stats_.rejected_by_reason[reason];
      const std::string_view rest = std::string_view(id).substr(run_id_.size() + 1);
      if (rest.starts_with("enq:")) {
        if (auto it = find_call(std::string(rest.substr(4))); it != calls_.end()) {
          LeaveWaiting(it->second);
          calls_.erase(it);
        }
      } else if (rest.starts_with("lgi:")) {
        auto it = pending_logins_.find(id);
        if (it != pending_logins_.end()) {
          auto agent = agents_.find(it->second);
          if (agent != agents_.end()) {
            if (reason == "ALREADY_LOGGED_IN") {
              if (!agent->second.logged_in) ++agents_logged_in_;
              agent->second.logged_in = true;
              agent->second.confirmed = true;
            } else {
              agent->second.login_error = reason;
            }
          }
          pending_logins_.erase(it);
        }
      }
      break;
    }
    default:
      break;
  }
}

// --- desktop mode ----------------------------------------------------------------------------

void TrafficDriver::Impl::ConnectDesktop(const std::string& agent_key) {
  AgentRef ref;
  std::string resume_after;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = agents_.find(agent_key);
    if (it == agents_.end()) return;
    ref = it->second.ref;
    resume_after = it->second.last_event_id;
    it->second.desktop_greeted = false;
  }
  std::lock_guard<std::mutex> lock(desktops_mu_);
  if (closing_desktops_) return;
  auto stream = std::make_unique<DesktopStream>(
      &scheduler_, ref.tenant_id, ref.agent_id, std::chrono::seconds(5),
      [this, agent_key](DesktopStream& s, const av1::DesktopEvent& e) {
        OnDesktopEvent(agent_key, s, e);
      },
      [this, agent_key](const grpc::Status& status, const std::string& goodbye) {
        OnDesktopDone(agent_key, status, goodbye);
      });
  DesktopStream* raw = stream.get();
  std::unique_ptr<DesktopStream>& slot = desktops_[agent_key];
  if (slot != nullptr) ended_desktops_.push_back(std::move(slot));
  slot = std::move(stream);
  ++open_desktops_;
  raw->Start(desktop_stub_.get(), std::chrono::seconds(5), resume_after);
}

void TrafficDriver::Impl::OnDesktopEvent(const std::string& agent_key, DesktopStream& stream,
                                         const av1::DesktopEvent& event) {
  std::optional<av1::DesktopRequest> now;  // sent on this stream at once
  std::optional<std::pair<Clock::duration, av1::DesktopRequest>> later;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = agents_.find(agent_key);
    if (it == agents_.end()) return;
    Agent& agent = it->second;
    if (!event.event_id().empty()) agent.last_event_id = event.event_id();
    switch (event.body_case()) {
      case av1::DesktopEvent::kState: {
        const av1::AgentState& st = event.state();
        if (!agent.desktop_greeted) {
          // The first event of a stream is the agent's state: log in if needed.
          agent.desktop_greeted = true;
          if (st.presence() == v1::PRESENCE_OFFLINE || st.presence() == v1::PRESENCE_UNSPECIFIED) {
            av1::DesktopRequest login;
            login.set_request_id("login");
            login.mutable_login()->set_presence(v1::PRESENCE_AVAILABLE);
            now = std::move(login);
            break;
          }
          if (!agent.logged_in) ++agents_logged_in_;
          agent.logged_in = true;
          agent.confirmed = true;
          cv_.notify_all();
        }
        if (st.presence() == v1::PRESENCE_AUX && st.reason() == "not_responding") {
          av1::DesktopRequest back;
          back.set_request_id("available");
          back.mutable_set_presence()->set_presence(v1::PRESENCE_AVAILABLE);
          later.emplace(options_.not_responding_recovery, std::move(back));
        }
        break;
      }
      case av1::DesktopEvent::kOffer: {
        av1::DesktopRequest accept;
        accept.set_request_id(absl::StrCat("accept/", event.offer().interaction_id()));
        accept.mutable_accept_offer()->set_offer_id(event.offer().offer_id());
        now = std::move(accept);
        break;
      }
      case av1::DesktopEvent::kAssignment: {
        const std::string& interaction = event.assignment().interaction_id();
        av1::DesktopRequest complete;
        complete.set_request_id(absl::StrCat("complete/", interaction));
        complete.mutable_complete()->set_interaction_id(interaction);
        complete.mutable_complete()->set_disposition("resolved");
        later.emplace(Draw(options_.mean_handle_seconds), std::move(complete));
        break;
      }
      case av1::DesktopEvent::kWrapUp: {
        // A queue without wrap-up ends it in the same command (deadline == time): nothing to do.
        if (TimeUtil::TimestampToMilliseconds(event.wrap_up().deadline()) <=
            TimeUtil::TimestampToMilliseconds(event.time())) {
          break;
        }
        const std::string& interaction = event.wrap_up().interaction_id();
        av1::DesktopRequest end;
        end.set_request_id(absl::StrCat("wrapup/", interaction));
        end.mutable_end_wrap_up()->set_interaction_id(interaction);
        end.mutable_end_wrap_up()->set_disposition("resolved");
        later.emplace(Draw(options_.mean_wrap_up_seconds), std::move(end));
        break;
      }
      case av1::DesktopEvent::kAck:
        if (event.ack().code() != 0) {
          // A request overtaken by events (the offer expired, the call was abandoned) is
          // refused with a reason: counted, as CommandRejected events are in routing mode.
          ++stats_.rejected;
          ++stats_.rejected_by_reason[event.ack().reason()];
        }
        break;
      default:
        break;
    }
  }
  if (now.has_value()) stream.Send(*std::move(now));
  if (later.has_value()) DesktopLater(agent_key, later->first, std::move(later->second));
}

void TrafficDriver::Impl::OnDesktopDone(const std::string& agent_key, const grpc::Status& status,
                                        const std::string& goodbye) {
  bool reconnect = false;
  {
    std::lock_guard<std::mutex> lock(desktops_mu_);
    --open_desktops_;
    reconnect = !closing_desktops_;
  }
  desktops_cv_.notify_all();
  if (!reconnect) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = agents_.find(agent_key);
    if (it == agents_.end()) return;
    const std::string message = status.error_message();
    const std::string reason = message.substr(0, message.find(':'));
    if (!it->second.confirmed && status.error_code() == grpc::StatusCode::NOT_FOUND) {
      // NO_SUCH_AGENT: a config applied a moment ago may not have reached sb-agent-state's
      // projection yet; retry for ~5 s before calling it a config error.
      if (++it->second.unknown_attempts >= 20) {
        it->second.login_error = reason;
        cv_.notify_all();
        return;
      }
      scheduler_.After(std::chrono::milliseconds(250),
                       [this, agent_key] { ConnectDesktop(agent_key); });
      return;
    }
    CountError(absl::StrCat("Desktop ", goodbye.empty() ? CodeName(status.error_code()) : goodbye),
               message);
    ++stats_.desktop_reconnects;
  }
  scheduler_.After(std::chrono::seconds(1), [this, agent_key] { ConnectDesktop(agent_key); });
}

void TrafficDriver::Impl::DesktopSend(const std::string& agent_key, av1::DesktopRequest request) {
  std::lock_guard<std::mutex> lock(desktops_mu_);
  auto it = desktops_.find(agent_key);
  if (it != desktops_.end() && it->second != nullptr) it->second->Send(std::move(request));
}

void TrafficDriver::Impl::DesktopLater(const std::string& agent_key, Clock::duration delay,
                                       av1::DesktopRequest request) {
  scheduler_.After(delay, [this, agent_key, request = std::move(request)]() mutable {
    DesktopSend(agent_key, std::move(request));
  });
}

void TrafficDriver::Impl::CloseDesktops() {
  std::unique_lock<std::mutex> lock(desktops_mu_);
  closing_desktops_ = true;
  for (auto& [key, stream] : desktops_) stream->Close();
  if (!desktops_cv_.wait_for(lock, std::chrono::seconds(10),
                             [this] { return open_desktops_ == 0; })) {
    for (auto& [key, stream] : desktops_) stream->Cancel();
    desktops_cv_.wait(lock, [this] { return open_desktops_ == 0; });
  }
  lock.unlock();
  // OnDone sets done() just after our callback returned: wait for that before destroying.
  auto all_done = [](const auto& streams) {
    for (const auto& s : streams) {
      while (!s->done()) std::this_thread::yield();
    }
  };
  std::vector<std::unique_ptr<DesktopStream>> streams;
  {
    std::lock_guard<std::mutex> relock(desktops_mu_);
    for (auto& [key, stream] : desktops_) streams.push_back(std::move(stream));
    for (auto& stream : ended_desktops_) streams.push_back(std::move(stream));
    desktops_.clear();
    ended_desktops_.clear();
  }
  all_done(streams);
}

// --- helpers ---------------------------------------------------------------------------------

void TrafficDriver::Impl::LeaveWaiting(Call& call) {
  if (!call.waiting) return;
  call.waiting = false;
  if (--waiting_ == 0) cv_.notify_all();
}

void TrafficDriver::Impl::CountError(const std::string& what, absl::string_view message) {
  if (++stats_.errors_by_code[what] == 1 && !message.empty()) {
    stats_.error_examples[what] = std::string(message);
  }
}

Clock::duration TrafficDriver::Impl::Draw(double mean_seconds) {
  if (!(mean_seconds > 0)) return Clock::duration::zero();
  const double s =
      std::min(std::exponential_distribution<double>(1.0 / mean_seconds)(rng_), 10 * mean_seconds);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

bool TrafficDriver::Impl::WaitIdle(std::chrono::milliseconds timeout) {
  // enqueues_in_flight_ changes outside mu_, so wait in short slices rather than trust a wakeup.
  const Clock::time_point deadline = Clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  while (waiting_ != 0 || enqueues_in_flight_.load() != 0) {
    if (Clock::now() >= deadline) return false;
    cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  return true;
}

void TrafficDriver::Impl::ResetStats() {
  std::lock_guard<std::mutex> lock(mu_);
  ++generation_;
  stats_ = TrafficStats();
}

TrafficStats TrafficDriver::Impl::Stats() const {
  TrafficStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
    s.waiting = waiting_;
    s.connected_now = connected_now_;
    s.agents_logged_in = agents_logged_in_;
  }
  {
    std::lock_guard<std::mutex> lock(desktops_mu_);
    s.desktops_connected = open_desktops_;
  }
  s.scheduler_max_late_ms =
      std::chrono::duration<double, std::milli>(scheduler_.max_lateness()).count();
  return s;
}

// ---------------------------------------------------------------------------------------------

TrafficDriver::TrafficDriver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrafficDriver::~TrafficDriver() = default;

absl::StatusOr<std::unique_ptr<TrafficDriver>> TrafficDriver::Create(const DriverOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  if (absl::Status s = impl->Init(); !s.ok()) return s;
  return std::unique_ptr<TrafficDriver>(new TrafficDriver(std::move(impl)));
}

absl::Status TrafficDriver::LoginAgents(std::chrono::milliseconds timeout) {
  return impl_->LoginAgents(timeout);
}
void TrafficDriver::StartCalls() { impl_->StartCalls(); }
void TrafficDriver::StopCalls() { impl_->StopCalls(); }
bool TrafficDriver::WaitIdle(std::chrono::milliseconds timeout) { return impl_->WaitIdle(timeout); }
void TrafficDriver::ResetStats() { impl_->ResetStats(); }
TrafficStats TrafficDriver::Stats() const { return impl_->Stats(); }
uint64_t TrafficDriver::seed() const { return impl_->seed(); }
const std::string& TrafficDriver::run_id() const { return impl_->run_id(); }

std::string SummaryLine(const TrafficStats& s) {
  int64_t errors = 0;
  for (const auto& [what, n] : s.errors_by_code) errors += n;
  std::string line = absl::StrFormat(
      "enqueued=%d offered=%d waiting=%d talking=%d completed=%d abandoned=%d agents=%d "
      "errors=%d rejected=%d | enqueue->offer p50=%.1fms p90=%.1fms p99=%.1fms max=%.1fms",
      s.enqueued, s.offered, s.waiting, s.connected_now, s.completed, s.abandoned,
      s.agents_logged_in, errors, s.rejected, s.enqueue_to_offer.PercentileMs(50),
      s.enqueue_to_offer.PercentileMs(90), s.enqueue_to_offer.PercentileMs(99),
      s.enqueue_to_offer.MaxMs());
  if (s.desktops_connected > 0 || s.desktop_reconnects > 0) {
    absl::StrAppend(&line, " desktops=", s.desktops_connected,
                    " reconnects=", s.desktop_reconnects);
  }
  if (!s.rejected_by_reason.empty()) {
    absl::StrAppend(
        &line, " rejected_by:", absl::StrJoin(s.rejected_by_reason, ",", absl::PairFormatter("=")));
  }
  if (errors > 0) {
    absl::StrAppend(&line,
                    " errors_by:", absl::StrJoin(s.errors_by_code, ",", absl::PairFormatter("=")));
  }
  return line;
}

// --- the demo --------------------------------------------------------------------------------

absl::Status RunDemo(const DemoOptions& options, const std::atomic<bool>& stop, std::ostream& out) {
  if (options.queue_ids.empty()) return absl::InvalidArgumentError("demo: no queue_ids");
  if (options.agent_ids.empty()) return absl::InvalidArgumentError("demo: no agent_ids");
  DriverOptions d;
  d.grpc_targets = {options.grpc_target};
  d.bootstrap = options.bootstrap;
  d.agent_state_target = options.agent_state_target;
  for (const std::string& q : options.queue_ids) d.queues.push_back({options.tenant, q});
  for (const std::string& a : options.agent_ids) d.agents.push_back({options.tenant, a});
  d.calls_per_second = options.calls_per_second;
  d.mean_handle_seconds = options.mean_handle_seconds;
  d.mean_patience_seconds = options.mean_patience_seconds;
  d.seed = options.seed;
  absl::StatusOr<std::unique_ptr<TrafficDriver>> driver = TrafficDriver::Create(d);
  if (!driver.ok()) return driver.status();
  out << absl::StrFormat(
             "demo: tenant %s, %d queues, %d agents, %.1f calls/s, handle ~%.0fs, patience "
             "~%.0fs, seed %d",
             options.tenant, options.queue_ids.size(), options.agent_ids.size(),
             options.calls_per_second, options.mean_handle_seconds, options.mean_patience_seconds,
             (*driver)->seed())
      << std::endl;
  if (absl::Status s = (*driver)->LoginAgents(std::chrono::seconds(30)); !s.ok()) return s;
  (*driver)->StartCalls();
  const Clock::time_point start = Clock::now();
  Clock::time_point next_print = start + std::chrono::seconds(1);
  while (!stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (Clock::now() < next_print) continue;
    next_print += std::chrono::seconds(1);
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
    out << "demo t=" << secs << "s " << SummaryLine((*driver)->Stats()) << std::endl;
  }
  (*driver)->StopCalls();
  out << "demo stopped: " << SummaryLine((*driver)->Stats()) << std::endl;
  return absl::OkStatus();
}

}  // namespace sb::traffic
