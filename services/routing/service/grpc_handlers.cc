#include "routing/service/grpc_handlers.h"

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace sb::routing {
namespace {

using grpc::StatusCode;

grpc::Status Invalid(const std::string& reason, const std::string& message) {
  return grpc::Status(StatusCode::INVALID_ARGUMENT, reason + ": " + message);
}

// Tenant ids are routing keys and label values: keep them short and plain.
grpc::Status CheckTenant(const std::string& tenant) {
  if (tenant.empty()) return Invalid("MISSING_TENANT", "tenant_id: required");
  if (tenant.size() > 128) return Invalid("INVALID_ARGUMENT", "tenant_id: at most 128 bytes");
  return grpc::Status::OK;
}

std::string NoDomain(const std::string& tenant) {
  return "tenant '" + tenant + "' has no routing configuration yet (apply queues first)";
}

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sends one command through the routing client, or maps the failure.
grpc::Status Send(RoutingService* service, v1::RoutingCommand command, SentCommand* sent) {
  auto result = service->client().Send(std::move(command));
  if (!result.ok()) return ToGrpc(result.status());
  *sent = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status CheckOnOwner(RoutingService* service, const v1::RoutingCommand& command,
                          const std::string& field_prefix, const grpc::Status& no_domain) {
  std::optional<Rejection> rejection;
  bool has_domain = true;
  absl::Status run = service->RunOnOwner(command.tenant_id(), [&](const PartitionProcessor& p) {
    const Engine* engine = p.FindDomain(command.tenant_id());
    has_domain = engine != nullptr;
    if (has_domain) rejection = engine->Check(command);
  });
  if (!run.ok()) return ToGrpc(run);
  if (!has_domain) return no_domain;
  if (rejection.has_value()) return RejectionStatus(*rejection, field_prefix);
  return grpc::Status::OK;
}

Peers::Peers(const std::vector<std::string>& addresses) {
  for (const auto& a : addresses) {
    auto channel = grpc::CreateChannel(a, grpc::InsecureChannelCredentials());
    stubs_.push_back(PeerStubs{a, v1::InteractionService::NewStub(channel),
                               v1::ConfigService::NewStub(channel)});
  }
}

grpc::Status Peers::ForwardWatch(grpc::ServerContext* ctx, const v1::WatchInteractionRequest& req,
                                 grpc::ServerWriter<v1::WatchInteractionResponse>* writer) {
  return UntilOneAnswers([&](PeerStubs& p, bool* answered) {
    // A child of the server call: its cancellation (the watcher left) and deadline carry over.
    std::unique_ptr<grpc::ClientContext> client = grpc::ClientContext::FromServerContext(*ctx);
    client->AddMetadata("sb-forwarded", "1");
    auto reader = p.interactions->Watch(client.get(), req);
    v1::WatchInteractionResponse r;
    while (reader->Read(&r)) {
      *answered = true;  // once the owner has sent something, its stream is the answer
      if (!writer->Write(r)) {
        client->TryCancel();
        break;
      }
    }
    return reader->Finish();
  });
}

bool ShouldForward(const grpc::Status& here, const Peers* peers,
                   const grpc::ServerContextBase* ctx) {
  return IsNotOwner(here) && peers != nullptr && !peers->empty() && !IsForwarded(ctx);
}

bool IsForwarded(const grpc::ServerContextBase* ctx) {
  return ctx->client_metadata().count("sb-forwarded") > 0;
}

bool IsNotOwner(const grpc::Status& s) {
  return s.error_code() == StatusCode::UNAVAILABLE &&
         absl::StartsWith(s.error_message(), "NOT_OWNER");
}

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<StatusCode>(s.code()), std::string(s.message()));
}

grpc::Status RejectionStatus(const Rejection& r, const std::string& prefix) {
  StatusCode code = StatusCode::INVALID_ARGUMENT;
  if (absl::StartsWith(r.reason, "NO_SUCH_")) code = StatusCode::NOT_FOUND;
  if (r.reason == "DUPLICATE_INTERACTION") code = StatusCode::ALREADY_EXISTS;
  return grpc::Status(code, r.reason + ": " + prefix + r.message);
}

grpc::ServerUnaryReactor* InteractionServiceImpl::Enqueue(grpc::CallbackServerContext* ctx,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // Answers with `resp` serialized into `response` (which lives until Finish).
  const auto finish_ok = [reactor, response](const v1::EnqueueResponse& resp) {
    bool own_buffer = false;
    grpc::Status s =
        grpc::SerializationTraits<v1::EnqueueResponse>::Serialize(resp, response, &own_buffer);
    reactor->Finish(s);
  };
  v1::EnqueueRequest req;
  grpc::ByteBuffer bytes(*request);  // shares the slices; Deserialize consumes it
  if (!grpc::SerializationTraits<v1::EnqueueRequest>::Deserialize(&bytes, &req).ok()) {
    reactor->Finish(
        Invalid("INVALID_ARGUMENT", "request: not a valid switchboard.routing.v1.EnqueueRequest"));
    return reactor;
  }
  v1::RoutingCommand command;
  if (grpc::Status s = PrepareEnqueue(&req, &command); !s.ok()) {
    // A forward (rare: a client that called a replica not owning the tenant) blocks this
    // callback thread for the peer's round trip.
    v1::EnqueueResponse resp;
    s = AnswerOrForward<v1::InteractionService>(s, peers_, ctx, req, &resp,
                                                &v1::InteractionService::Stub::Enqueue);
    if (s.ok()) {
      finish_ok(resp);
    } else {
      reactor->Finish(s);
    }
    return reactor;
  }
  absl::Status sending = service_->client().SendAsync(
      std::move(command), [reactor, finish_ok](absl::StatusOr<SentCommand> sent) {
        if (!sent.ok()) {
          reactor->Finish(ToGrpc(sent.status()));
          return;
        }
        v1::EnqueueResponse resp;
        resp.set_command_id(sent->command_id);
        resp.set_partition(sent->partition);
        resp.set_offset(sent->offset);
        finish_ok(resp);
      });
  if (!sending.ok()) reactor->Finish(ToGrpc(sending));
  return reactor;
}

grpc::Status InteractionServiceImpl::PrepareEnqueue(const v1::EnqueueRequest* req,
                                                    v1::RoutingCommand* command) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  if (!req->has_enqueue()) return Invalid("INVALID_ARGUMENT", "enqueue: required");
  if (req->enqueue().queue_id().empty()) {
    return Invalid("INVALID_ARGUMENT", "enqueue.queue_id: required");
  }
  command->set_command_id(req->command_id());
  command->set_tenant_id(req->tenant_id());
  *command->mutable_enqueue() = req->enqueue();
  return CheckOnOwner(
      service_, *command, "enqueue.",
      grpc::Status(StatusCode::NOT_FOUND, "NO_SUCH_QUEUE: " + NoDomain(req->tenant_id())));
}

grpc::Status InteractionServiceImpl::Cancel(grpc::ServerContext* ctx, const v1::CancelRequest* req,
                                            v1::CancelResponse* resp) {
  return AnswerOrForward<v1::InteractionService>(CancelHere(req, resp), peers_, ctx, *req, resp,
                                                 &v1::InteractionService::Stub::Cancel);
}

grpc::Status InteractionServiceImpl::CancelHere(const v1::CancelRequest* req,
                                                v1::CancelResponse* resp) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  if (!req->has_cancel() || req->cancel().interaction_id().empty()) {
    return Invalid("INVALID_ARGUMENT", "cancel.interaction_id: required");
  }
  v1::Cancel cancel = req->cancel();
  if (cancel.reason() == v1::CANCEL_REASON_UNSPECIFIED) {
    cancel.set_reason(v1::CANCEL_REASON_CANCELLED);
  }
  v1::RoutingCommand command;
  command.set_command_id(req->command_id());
  command.set_tenant_id(req->tenant_id());
  *command.mutable_cancel() = cancel;
  const grpc::Status no_such =
      RejectionStatus(Rejection{"NO_SUCH_INTERACTION",
                                "interaction_id: no interaction '" + cancel.interaction_id() + "'"},
                      "cancel.");
  if (grpc::Status s = CheckOnOwner(service_, command, "cancel.", no_such); !s.ok()) return s;
  SentCommand sent;
  if (grpc::Status s = Send(service_, std::move(command), &sent); !s.ok()) return s;
  resp->set_command_id(sent.command_id);
  return grpc::Status::OK;
}

grpc::Status InteractionServiceImpl::Get(grpc::ServerContext* ctx,
                                         const v1::GetInteractionRequest* req,
                                         v1::GetInteractionResponse* resp) {
  return AnswerOrForward<v1::InteractionService>(GetHere(req, resp), peers_, ctx, *req, resp,
                                                 &v1::InteractionService::Stub::Get);
}

grpc::Status InteractionServiceImpl::GetHere(const v1::GetInteractionRequest* req,
                                             v1::GetInteractionResponse* resp) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  if (req->interaction_id().empty()) return Invalid("INVALID_ARGUMENT", "interaction_id: required");
  std::optional<v1::InteractionRecord> record;
  absl::Status run = service_->RunOnOwner(req->tenant_id(), [&](const PartitionProcessor& p) {
    if (const Engine* engine = p.FindDomain(req->tenant_id()); engine != nullptr) {
      record = engine->GetInteraction(req->interaction_id());
    }
  });
  if (!run.ok()) return ToGrpc(run);
  if (!record.has_value()) {
    return grpc::Status(StatusCode::NOT_FOUND,
                        "NO_SUCH_INTERACTION: interaction_id: no interaction '" +
                            req->interaction_id() + "' (unknown or already ended)");
  }
  *resp->mutable_interaction() = *std::move(record);
  return grpc::Status::OK;
}

grpc::Status InteractionServiceImpl::Watch(
    grpc::ServerContext* ctx, const v1::WatchInteractionRequest* req,
    grpc::ServerWriter<v1::WatchInteractionResponse>* writer) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  if (req->interaction_id().empty()) return Invalid("INVALID_ARGUMENT", "interaction_id: required");
  // Only the partition's owner has its events (EventTail): another replica relays the owner's
  // stream.
  if (grpc::Status owner = ToGrpc(service_->CheckOwner(req->tenant_id())); !owner.ok()) {
    if (ShouldForward(owner, peers_, ctx)) return peers_->ForwardWatch(ctx, *req, writer);
    return owner;
  }
  EventTail& tail = service_->tail();
  auto sub = tail.Subscribe(req->tenant_id(), req->interaction_id());
  grpc::Status result = grpc::Status::OK;
  bool done = false;
  while (!done) {
    if (ctx->IsCancelled()) {
      result = grpc::Status(StatusCode::CANCELLED, "watch cancelled");
      break;
    }
    // Handed over (or being restored again): the events now go to the next owner. The watcher
    // watches again; events it already had may come again (the same event ids).
    if (grpc::Status owner = ToGrpc(service_->CheckOwner(req->tenant_id())); !owner.ok()) {
      result = grpc::Status(owner.error_code(),
                            absl::StrCat(owner.error_message(),
                                         " (the partition moved during the watch: watch again; "
                                         "events may repeat, with the same event_id)"));
      break;
    }
    for (auto& e : sub->Next(std::chrono::milliseconds(200))) {
      const bool ended = e.has_interaction_ended();
      v1::WatchInteractionResponse r;
      *r.mutable_event() = std::move(e);
      if (!writer->Write(r)) {
        done = true;
        break;
      }
      if (ended) {
        done = true;
        break;
      }
    }
  }
  tail.Unsubscribe(req->tenant_id(), req->interaction_id(), sub);
  return result;
}

grpc::Status ConfigServiceImpl::ApplyConfig(grpc::ServerContext* ctx,
                                            const v1::ApplyConfigRequest* req,
                                            v1::ApplyConfigResponse* resp) {
  return AnswerOrForward<v1::ConfigService>(ApplyConfigHere(req, resp), peers_, ctx, *req, resp,
                                            &v1::ConfigService::Stub::ApplyConfig);
}

grpc::Status ConfigServiceImpl::ApplyConfigHere(const v1::ApplyConfigRequest* req,
                                                v1::ApplyConfigResponse* resp) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  if (req->queues_size() == 0 && req->agents_size() == 0) {
    return Invalid("INVALID_ARGUMENT", "queues, agents: nothing to apply");
  }
  if (req->queues_size() + req->agents_size() > 20000) {
    return Invalid("INVALID_ARGUMENT", "queues, agents: at most 20000 items per request");
  }
  const std::string batch = NewCommandId();
  std::vector<v1::RoutingCommand> commands;
  std::vector<std::string> labels;
  const int64_t now = WallMs();
  for (int i = 0; i < req->queues_size(); ++i) {
    v1::RoutingCommand c;
    c.set_tenant_id(req->tenant_id());
    c.set_command_id(absl::StrCat("apply/", batch, "/q", i));
    *c.mutable_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(now);
    *c.mutable_upsert_queue()->mutable_queue() = req->queues(i);
    commands.push_back(std::move(c));
    labels.push_back(absl::StrCat("queues[", i, "] ('", req->queues(i).queue_id(), "'): "));
  }
  for (int i = 0; i < req->agents_size(); ++i) {
    v1::RoutingCommand c;
    c.set_tenant_id(req->tenant_id());
    c.set_command_id(absl::StrCat("apply/", batch, "/a", i));
    *c.mutable_time() = google::protobuf::util::TimeUtil::MillisecondsToTimestamp(now);
    *c.mutable_upsert_agent()->mutable_profile() = req->agents(i);
    commands.push_back(std::move(c));
    labels.push_back(absl::StrCat("agents[", i, "] ('", req->agents(i).agent_id(), "'): "));
  }
  // Validate against a scratch copy of the domain: exactly the engine's rules, nothing applied.
  std::optional<Rejection> rejection;
  size_t rejected_at = 0;
  int64_t version = 0;
  absl::Status run = service_->RunOnOwner(req->tenant_id(), [&](const PartitionProcessor& p) {
    std::unique_ptr<Engine> scratch;
    if (const Engine* engine = p.FindDomain(req->tenant_id()); engine != nullptr) {
      auto restored = Engine::Restore(engine->Snapshot());
      if (!restored.ok()) {
        rejection = Rejection{"INTERNAL", std::string(restored.status().message())};
        return;
      }
      scratch = *std::move(restored);
    } else {
      scratch = std::make_unique<Engine>(req->tenant_id());
    }
    std::vector<v1::RoutingEvent> events;
    for (size_t i = 0; i < commands.size(); ++i) {
      events.clear();
      scratch->Apply(commands[i], &events);
      for (const auto& e : events) {
        if (e.has_command_rejected()) {
          rejection = Rejection{e.command_rejected().reason(), e.command_rejected().message()};
          rejected_at = i;
          return;
        }
        if (e.has_queue_upserted()) version = e.queue_upserted().config_version();
        if (e.has_agent_upserted()) version = e.agent_upserted().config_version();
      }
    }
  });
  if (!run.ok()) return ToGrpc(run);
  if (rejection.has_value()) return RejectionStatus(*rejection, labels[rejected_at]);
  if (!req->dry_run()) {
    for (auto& c : commands) {
      SentCommand sent;
      if (grpc::Status s = Send(service_, std::move(c), &sent); !s.ok()) return s;
    }
  }
  resp->set_queues_applied(req->queues_size());
  resp->set_agents_applied(req->agents_size());
  resp->set_config_version(version);
  return grpc::Status::OK;
}

grpc::Status ConfigServiceImpl::ListQueues(grpc::ServerContext* ctx,
                                           const v1::ListQueuesRequest* req,
                                           v1::ListQueuesResponse* resp) {
  return AnswerOrForward<v1::ConfigService>(ListQueuesHere(req, resp), peers_, ctx, *req, resp,
                                            &v1::ConfigService::Stub::ListQueues);
}

grpc::Status ConfigServiceImpl::ListQueuesHere(const v1::ListQueuesRequest* req,
                                               v1::ListQueuesResponse* resp) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  absl::Status run = service_->RunOnOwner(req->tenant_id(), [&](const PartitionProcessor& p) {
    if (const Engine* engine = p.FindDomain(req->tenant_id()); engine != nullptr) {
      v1::RoutingSnapshot snap = engine->Snapshot();
      for (auto& q : *snap.mutable_queues()) {
        (*resp->mutable_waiting())[q.config().queue_id()] =
            engine->QueueWaiting(q.config().queue_id());
        *resp->add_queues() = std::move(q);
      }
    }
  });
  return ToGrpc(run);
}

grpc::Status ConfigServiceImpl::ListAgents(grpc::ServerContext* ctx,
                                           const v1::ListAgentsRequest* req,
                                           v1::ListAgentsResponse* resp) {
  return AnswerOrForward<v1::ConfigService>(ListAgentsHere(req, resp), peers_, ctx, *req, resp,
                                            &v1::ConfigService::Stub::ListAgents);
}

grpc::Status ConfigServiceImpl::ListAgentsHere(const v1::ListAgentsRequest* req,
                                               v1::ListAgentsResponse* resp) {
  if (grpc::Status s = CheckTenant(req->tenant_id()); !s.ok()) return s;
  absl::Status run = service_->RunOnOwner(req->tenant_id(), [&](const PartitionProcessor& p) {
    if (const Engine* engine = p.FindDomain(req->tenant_id()); engine != nullptr) {
      v1::RoutingSnapshot snap = engine->Snapshot();
      for (auto& a : *snap.mutable_agents()) *resp->add_agents() = std::move(a);
    }
  });
  return ToGrpc(run);
}

}  // namespace sb::routing
