// The gRPC handlers of sb-routing: InteractionService (the telephony edge) and ConfigService
// (operators). Thin (STYLE §4): validate, run on the partition's owner thread or send a command
// through the routing client, map back. Errors carry a stable reason as the message prefix
// ("NO_SUCH_QUEUE: queue_id: no queue 'x'"); codes follow docs/routing-service.md.
// Called on gRPC's sync-server threads; all state lives in RoutingService.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "routing/service/routing_service.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::routing {

// Peers: the replicas a replica forwards tenant-scoped calls to when it does not own the
// tenant's partition (NOT_OWNER), so a client may call any replica (e.g. through a headless
// Service). The list may include the replica itself. A forwarded call carries the metadata
// `sb-forwarded: 1` and is never forwarded again, so there are no loops. Thread-safe.
class Peers {
 public:
  explicit Peers(const std::vector<std::string>& addresses);
  bool empty() const { return stubs_.empty(); }

  // Calls `method` on each peer until one answers something else than NOT_OWNER (or the
  // peers are exhausted: then NOT_OWNER). The caller's deadline carries over (at most 10 s).
  template <typename Service, typename Req, typename Resp>
  grpc::Status Forward(const grpc::ServerContextBase* ctx, const Req& req, Resp* resp,
                       grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Req&,
                                                             Resp*));

  struct PeerStubs {
    std::string address;
    std::unique_ptr<v1::InteractionService::Stub> interactions;
    std::unique_ptr<v1::ConfigService::Stub> config;
  };
  // Watch, relayed from the peer that owns the interaction's partition (the first that does not
  // answer NOT_OWNER at once) to `writer`, until either side ends. The caller's cancellation
  // and deadline carry over.
  grpc::Status ForwardWatch(grpc::ServerContext* ctx, const v1::WatchInteractionRequest& req,
                            grpc::ServerWriter<v1::WatchInteractionResponse>* writer);

 private:
  template <typename Service>
  typename Service::Stub* StubOf(PeerStubs& p);
  // Calls `call(peer, &answered)` on each peer in turn until one answers: `answered` set, OK, or
  // a status other than UNAVAILABLE. Else the most telling failure: RECOVERING or a peer that
  // is down rather than NOT_OWNER.
  template <typename Call>
  grpc::Status UntilOneAnswers(Call call);
  std::vector<PeerStubs> stubs_;
};

// True if the call came from another replica (it must be answered locally).
bool IsForwarded(const grpc::ServerContextBase* ctx);
// True for UNAVAILABLE "NOT_OWNER: ...".
bool IsNotOwner(const grpc::Status& s);

// True when this replica's answer `here` is NOT_OWNER, there are peers (`peers` may be null)
// and the call was not itself forwarded: the peers answer instead.
bool ShouldForward(const grpc::Status& here, const Peers* peers,
                   const grpc::ServerContextBase* ctx);

// `here` (this replica's answer), or the peers' answer when ShouldForward.
template <typename Service, typename Req, typename Resp>
grpc::Status AnswerOrForward(grpc::Status here, Peers* peers, const grpc::ServerContextBase* ctx,
                             const Req& req, Resp* resp,
                             grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                   Resp*)) {
  if (!ShouldForward(here, peers, ctx)) return here;
  return peers->Forward<Service>(ctx, req, resp, method);
}

// The gRPC status for an engine rejection: NO_SUCH_* -> NOT_FOUND, DUPLICATE_INTERACTION ->
// ALREADY_EXISTS, anything else -> INVALID_ARGUMENT; message "REASON: message".
grpc::Status RejectionStatus(const Rejection& r, const std::string& prefix = "");
grpc::Status ToGrpc(const absl::Status& s);
// Runs Engine::Check for `command` on its tenant's owner thread: OK, the rejection as a status
// (field names prefixed with `field_prefix`), `no_domain` for a tenant without a domain, or
// NOT_OWNER / RECOVERING.
grpc::Status CheckOnOwner(RoutingService* service, const v1::RoutingCommand& command,
                          const std::string& field_prefix, const grpc::Status& no_domain);

// Enqueue uses gRPC's callback API: the call is answered from the command's delivery report, so
// no server thread waits for Kafka (with the sync API each call held a thread for the 5-10 ms of
// the produce: 8-16 context switches per call at 2,000 calls/s). It takes the raw bytes and
// parses them itself: gRPC 1.51's callback handler answers a request that does not parse with
// UNIMPLEMENTED and no message. The other methods are sync.
class InteractionServiceImpl final : public v1::InteractionService::WithRawCallbackMethod_Enqueue<
                                         v1::InteractionService::Service> {
 public:
  InteractionServiceImpl(RoutingService* service, Peers* peers)
      : service_(service), peers_(peers) {}
  grpc::ServerUnaryReactor* Enqueue(grpc::CallbackServerContext* ctx,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::Status Cancel(grpc::ServerContext* ctx, const v1::CancelRequest* req,
                      v1::CancelResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetInteractionRequest* req,
                   v1::GetInteractionResponse* resp) override;
  grpc::Status Watch(grpc::ServerContext* ctx, const v1::WatchInteractionRequest* req,
                     grpc::ServerWriter<v1::WatchInteractionResponse>* writer) override;

 private:
  // Validates the request on the tenant's owner: the command to send, or why not.
  grpc::Status PrepareEnqueue(const v1::EnqueueRequest* req, v1::RoutingCommand* command);
  grpc::Status CancelHere(const v1::CancelRequest* req, v1::CancelResponse* resp);
  grpc::Status GetHere(const v1::GetInteractionRequest* req, v1::GetInteractionResponse* resp);

  RoutingService* const service_;
  Peers* const peers_;  // may be null
};

class ConfigServiceImpl final : public v1::ConfigService::Service {
 public:
  ConfigServiceImpl(RoutingService* service, Peers* peers) : service_(service), peers_(peers) {}
  grpc::Status ApplyConfig(grpc::ServerContext* ctx, const v1::ApplyConfigRequest* req,
                           v1::ApplyConfigResponse* resp) override;
  grpc::Status ListQueues(grpc::ServerContext* ctx, const v1::ListQueuesRequest* req,
                          v1::ListQueuesResponse* resp) override;
  grpc::Status ListAgents(grpc::ServerContext* ctx, const v1::ListAgentsRequest* req,
                          v1::ListAgentsResponse* resp) override;

 private:
  grpc::Status ApplyConfigHere(const v1::ApplyConfigRequest* req, v1::ApplyConfigResponse* resp);
  grpc::Status ListQueuesHere(const v1::ListQueuesRequest* req, v1::ListQueuesResponse* resp);
  grpc::Status ListAgentsHere(const v1::ListAgentsRequest* req, v1::ListAgentsResponse* resp);

  RoutingService* const service_;
  Peers* const peers_;  // may be null
};

template <typename Service>
typename Service::Stub* Peers::StubOf(PeerStubs& p) {
  if constexpr (std::is_same_v<Service, v1::InteractionService>) {
    return p.interactions.get();
  } else {
    return p.config.get();
  }
}

template <typename Call>
grpc::Status Peers::UntilOneAnswers(Call call) {
  grpc::Status last(grpc::StatusCode::UNAVAILABLE,
                    "NOT_OWNER: no replica owns the tenant's partition right now (rebalancing?); "
                    "retry shortly");
  for (PeerStubs& p : stubs_) {
    bool answered = false;
    grpc::Status s = call(p, &answered);
    if (answered || s.ok() || s.error_code() != grpc::StatusCode::UNAVAILABLE) return s;
    if (!IsNotOwner(s)) last = s;  // RECOVERING, or the peer is down: remember why
  }
  return last;
}

template <typename Service, typename Req, typename Resp>
grpc::Status Peers::Forward(const grpc::ServerContextBase* ctx, const Req& req, Resp* resp,
                            grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                  Resp*)) {
  const auto cap = std::chrono::system_clock::now() + std::chrono::seconds(10);
  return UntilOneAnswers([&](PeerStubs& p, bool*) {
    grpc::ClientContext client;
    client.set_deadline(std::min(ctx->deadline(), cap));
    client.AddMetadata("sb-forwarded", "1");
    resp->Clear();
    return (StubOf<Service>(p)->*method)(&client, req, resp);
  });
}

}  // namespace sb::routing
