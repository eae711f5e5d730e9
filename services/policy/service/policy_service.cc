#include "policy/service/policy_service.h"

#include "absl/strings/str_cat.h"
#include "common/app/service_app.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "policy/core/evaluator.h"
#include "policy/core/obligations.h"
#include "spdlog/spdlog.h"

namespace sb::policy {
namespace {

namespace rv1 = ::switchboard::routing::v1;
using google::protobuf::util::TimeUtil;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string ReasonOf(const absl::Status& s) {
  const std::string message(s.message());
  const size_t colon = message.find(':');
  return colon == std::string::npos ? "UNKNOWN" : message.substr(0, colon);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* StateName(rv1::InteractionState s) {
  switch (s) {
    case rv1::INTERACTION_STATE_QUEUED:
      return "queued";
    case rv1::INTERACTION_STATE_OFFERED:
      return "offered";
    case rv1::INTERACTION_STATE_CONNECTED:
      return "connected";
    default:
      return "unknown";
  }
}

// A decision id: derived from the request id when there is one (a retry gets the same id, so
// its routing commands are applied once), else random.
std::string DecisionId(const v1::EvaluateRequest& r) {
  if (r.request_id().empty()) return routing::NewCommandId();
  const std::string key = absl::StrCat(r.tenant_id(), "\n", r.kind(), "\n", r.request_id());
  return absl::StrCat(ContentHash(key), ContentHash(absl::StrCat("sb-policy\n", key)));
}

}  // namespace

RoutingFacts::RoutingFacts(std::shared_ptr<grpc::Channel> channel,
                           std::chrono::milliseconds timeout)
    : stub_(rv1::InteractionService::NewStub(channel)), timeout_(timeout) {}

absl::Status RoutingFacts::Enrich(v1::EvaluateRequest* request) const {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout_);
  rv1::GetInteractionRequest get;
  get.set_tenant_id(request->tenant_id());
  get.set_interaction_id(request->interaction_id());
  rv1::GetInteractionResponse resp;
  const grpc::Status s = stub_->Get(&ctx, get, &resp);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) {
    return absl::FailedPreconditionError(
        absl::StrCat("NO_SUCH_INTERACTION: interaction_id: '", request->interaction_id(),
                     "' is not live in routing for tenant '", request->tenant_id(), "'"));
  }
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("ROUTING_UNAVAILABLE: cannot read the interaction's facts from routing: ",
                     s.error_message()));
  }
  const rv1::InteractionRecord& rec = resp.interaction();
  auto& fields = *(*request->mutable_input()->mutable_fields())["interaction"]
                      .mutable_struct_value()
                      ->mutable_fields();
  const int64_t now = NowMs();
  fields["queue"].set_string_value(rec.queue_id());
  fields["state"].set_string_value(StateName(rec.state()));
  fields["agent_id"].set_string_value(rec.agent_id());
  auto* warnings = fields["warnings"].mutable_list_value();
  warnings->clear_values();
  for (const auto& w : rec.warnings()) warnings->add_values()->set_string_value(w.category());
  if (rec.connected_at_ms() > 0) {
    fields["handle_seconds"].set_number_value(static_cast<double>(now - rec.connected_at_ms()) /
                                              1000);
  }
  const int64_t waited_until = rec.connected_at_ms() > 0 ? rec.connected_at_ms() : now;
  fields["waited_seconds"].set_number_value(
      static_cast<double>(waited_until - rec.enqueued_at_ms()) / 1000);
  fields["escalated"].set_bool_value(!rec.escalated_from().empty());
  // Verification as routing recorded it (RecordVerification): verified stays verified across
  // transfers and escalations. A request's own `verified: true` is not believed over routing.
  fields["verified"].set_bool_value(rec.verified());
  auto* attributes = fields["attributes"].mutable_struct_value()->mutable_fields();
  attributes->clear();
  for (const auto& [k, v] : rec.attributes()) (*attributes)[k].set_string_value(v);
  return absl::OkStatus();
}

PolicyServiceImpl::PolicyServiceImpl(const BundleStore* store, kafka_io::Producer* producer,
                                     routing::RoutingClient* routing, const RoutingFacts* facts,
                                     PolicyMetrics* metrics, PolicyServiceOptions options)
    : store_(store),
      producer_(producer),
      routing_(routing),
      facts_(facts),
      metrics_(metrics),
      options_(options) {}

grpc::Status PolicyServiceImpl::Refuse(const absl::Status& status) {
  metrics_->Refused(ReasonOf(status));
  return ToGrpc(status);
}

grpc::Status PolicyServiceImpl::Evaluate(grpc::ServerContext* ctx, const v1::EvaluateRequest* req,
                                         v1::EvaluateResponse* resp) {
  const auto start = std::chrono::steady_clock::now();
  const std::shared_ptr<const BundleSet> set = store_->Current();
  const Bundle* bundle = set->ForTenant(req->tenant_id());
  if (bundle == nullptr) {
    return Refuse(absl::FailedPreconditionError(
        absl::StrCat("NO_POLICY: no bundle serves tenant '", req->tenant_id(),
                     "' and there is no bundle for tenant \"*\"")));
  }
  v1::EvaluateRequest request = *req;
  const KindInfo* kind = FindKind(request.kind());
  if (facts_ != nullptr && kind != nullptr && kind->needs_interaction &&
      !request.interaction_id().empty() && !request.tenant_id().empty()) {
    if (absl::Status s = facts_->Enrich(&request); !s.ok()) return Refuse(s);
  }
  absl::StatusOr<v1::PolicyDecision> decided = Decide(*bundle, request);
  if (!decided.ok()) return Refuse(decided.status());
  v1::PolicyDecision& d = *decided;
  d.set_decision_id(DecisionId(request));
  *d.mutable_time() = app::NowTimestamp();
  metrics_->Decided(
      d.kind(), d.outcome() == v1::OUTCOME_ALLOW, d.dry_run(),
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  if (d.dry_run()) {
    *resp->mutable_decision() = std::move(d);
    return grpc::Status::OK;
  }

  std::vector<rv1::RoutingCommand> commands = RoutingCommandsFor(d);
  for (const rv1::RoutingCommand& c : commands) d.add_routing_command_ids(c.command_id());
  const std::string key = d.interaction_id().empty() ? d.tenant_id() : d.interaction_id();
  absl::StatusOr<kafka_io::RecordPosition> written =
      producer_->Produce(kDecisionsTopic, key, d.SerializeAsString());
  if (!written.ok()) {
    metrics_->PublishFailed();
    spdlog::warn("decision {} ({} {}) not recorded: {}", d.decision_id(), d.tenant_id(), d.kind(),
                 written.status().ToString());
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("BROKER_UNAVAILABLE: the decision could not be recorded in ",
                     std::string(kDecisionsTopic), "; nothing was carried out; retry (",
                     std::string(written.status().message()), ")"));
  }
  for (rv1::RoutingCommand& c : commands) {
    absl::StatusOr<routing::SentCommand> sent = routing_->Send(std::move(c));
    if (!sent.ok()) {
      metrics_->ObligationFailed();
      spdlog::warn("decision {}: routing command not sent: {}", d.decision_id(),
                   sent.status().ToString());
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("ROUTING_UNAVAILABLE: decision ", d.decision_id(),
                       " was recorded but its routing obligations could not be sent; retry with "
                       "the same request_id to carry them out once (",
                       std::string(sent.status().message()), ")"));
    }
    metrics_->ObligationSent();
  }
  spdlog::debug("decision {}: {} {} {} by {}", d.decision_id(), d.tenant_id(), d.kind(),
                d.outcome() == v1::OUTCOME_ALLOW ? "allow" : "deny", d.rule());
  *resp->mutable_decision() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status PolicyServiceImpl::ListBundles(grpc::ServerContext* ctx,
                                            const v1::ListBundlesRequest* req,
                                            v1::ListBundlesResponse* resp) {
  for (const auto& b : store_->Current()->bundles()) {
    v1::BundleInfo* info = resp->add_bundles();
    info->set_name(b->name);
    info->set_tenant(b->tenant);
    info->set_version(b->version);
    info->set_file(b->file);
    info->set_rules(b->rule_count());
  }
  for (const auto& [file, error] : store_->Rejected()) (*resp->mutable_rejected())[file] = error;
  return grpc::Status::OK;
}

}  // namespace sb::policy
