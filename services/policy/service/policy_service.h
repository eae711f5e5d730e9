// The gRPC PolicyService of sb-policy: decide with the tenant's bundle, record the decision in
// sb.policy.decisions.v1, carry out the routing obligations through the routing client.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/kafka/producer.h"
#include "grpcpp/channel.h"
#include "policy/core/store.h"
#include "policy/service/metrics.h"
#include "routing/client/routing_client.h"
#include "switchboard/policy/v1/policy.grpc.pb.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::policy {

inline constexpr std::string_view kDecisionsTopic = "sb.policy.decisions.v1";

// Reads an interaction's facts from the routing service (InteractionService.Get) and writes them
// into the request's input under `interaction` (overriding what the caller sent): queue, state,
// agent_id, warnings, handle_seconds, waited_seconds, escalated, attributes.
class RoutingFacts {
 public:
  RoutingFacts(std::shared_ptr<grpc::Channel> channel, std::chrono::milliseconds timeout);
  // FAILED_PRECONDITION "NO_SUCH_INTERACTION: ..." when routing does not know the interaction,
  // UNAVAILABLE "ROUTING_UNAVAILABLE: ..." when routing cannot answer.
  absl::Status Enrich(v1::EvaluateRequest* request) const;

 private:
  std::unique_ptr<::switchboard::routing::v1::InteractionService::Stub> stub_;
  const std::chrono::milliseconds timeout_;
};

struct PolicyServiceOptions {
  // How long a decision may wait for the broker before Evaluate answers UNAVAILABLE.
  std::chrono::milliseconds publish_timeout{5000};
};

class PolicyServiceImpl final : public v1::PolicyService::Service {
 public:
  // `facts` may be null (facts come from the request only). The others must outlive this.
  PolicyServiceImpl(const BundleStore* store, kafka_io::Producer* producer,
                    routing::RoutingClient* routing, const RoutingFacts* facts,
                    PolicyMetrics* metrics, PolicyServiceOptions options);

  grpc::Status Evaluate(grpc::ServerContext* ctx, const v1::EvaluateRequest* req,
                        v1::EvaluateResponse* resp) override;
  grpc::Status ListBundles(grpc::ServerContext* ctx, const v1::ListBundlesRequest* req,
                           v1::ListBundlesResponse* resp) override;

 private:
  grpc::Status Refuse(const absl::Status& status);

  const BundleStore* const store_;
  kafka_io::Producer* const producer_;
  routing::RoutingClient* const routing_;
  const RoutingFacts* const facts_;
  PolicyMetrics* const metrics_;
  const PolicyServiceOptions options_;
};

}  // namespace sb::policy
