// The gRPC handlers of sb-routing: InteractionService (the telephony edge) and ConfigService
// (operators). Thin (STYLE §4): validate, run on the partition's owner thread or send a command
// through the routing client, map back. Errors carry a stable reason as the message prefix
// ("NO_SUCH_QUEUE: queue_id: no queue 'x'"); codes follow docs/routing-service.md.
// Called on gRPC's sync-server threads; all state lives in RoutingService.
#pragma once

#include "routing/service/routing_service.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::routing {

// The gRPC status for an engine rejection: NO_SUCH_* -> NOT_FOUND, DUPLICATE_INTERACTION ->
// ALREADY_EXISTS, anything else -> INVALID_ARGUMENT; message "REASON: message".
grpc::Status RejectionStatus(const Rejection& r, const std::string& prefix = "");
grpc::Status ToGrpc(const absl::Status& s);

class InteractionServiceImpl final : public v1::InteractionService::Service {
 public:
  explicit InteractionServiceImpl(RoutingService* service) : service_(service) {}
  grpc::Status Enqueue(grpc::ServerContext* ctx, const v1::EnqueueRequest* req,
                       v1::EnqueueResponse* resp) override;
  grpc::Status Cancel(grpc::ServerContext* ctx, const v1::CancelRequest* req,
                      v1::CancelResponse* resp) override;
  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetInteractionRequest* req,
                   v1::GetInteractionResponse* resp) override;
  grpc::Status Watch(grpc::ServerContext* ctx, const v1::WatchInteractionRequest* req,
                     grpc::ServerWriter<v1::WatchInteractionResponse>* writer) override;

 private:
  RoutingService* const service_;
};

class ConfigServiceImpl final : public v1::ConfigService::Service {
 public:
  explicit ConfigServiceImpl(RoutingService* service) : service_(service) {}
  grpc::Status ApplyConfig(grpc::ServerContext* ctx, const v1::ApplyConfigRequest* req,
                           v1::ApplyConfigResponse* resp) override;
  grpc::Status ListQueues(grpc::ServerContext* ctx, const v1::ListQueuesRequest* req,
                          v1::ListQueuesResponse* resp) override;
  grpc::Status ListAgents(grpc::ServerContext* ctx, const v1::ListAgentsRequest* req,
                          v1::ListAgentsResponse* resp) override;

 private:
  RoutingService* const service_;
};

}  // namespace sb::routing
