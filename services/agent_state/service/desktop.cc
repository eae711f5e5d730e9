#include "agent_state/service/desktop.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/app/service_app.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "spdlog/spdlog.h"

namespace sb::agent_state {
namespace {

namespace pv1 = ::switchboard::policy::v1;
using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;

std::string ReasonOf(const absl::Status& s) {
  const std::string m(s.message());
  const size_t colon = m.find(':');
  return colon == std::string::npos ? "UNKNOWN" : m.substr(0, colon);
}

av1::DesktopEvent AckEvent(const std::string& request_id, const absl::Status& status,
                           const std::string& command_id = "") {
  av1::DesktopEvent e;
  *e.mutable_time() = app::NowTimestamp();
  av1::Ack* ack = e.mutable_ack();
  ack->set_request_id(request_id);
  ack->set_code(static_cast<int>(status.code()));
  if (!status.ok()) {
    ack->set_reason(ReasonOf(status));
    ack->set_message(std::string(status.message()));
  }
  ack->set_command_id(command_id);
  return e;
}

absl::Status Invalid(const std::string& reason, const std::string& message) {
  return absl::InvalidArgumentError(absl::StrCat(reason, ": ", message));
}

// The request kind as metrics and logs name it: the DesktopRequest body field name.
std::string KindOf(const av1::DesktopRequest& r) {
  const auto* field = r.GetReflection()->GetOneofFieldDescriptor(
      r, av1::DesktopRequest::descriptor()->FindOneofByName("body"));
  return field == nullptr ? "none" : field->name();
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Workers::Workers(int threads) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this] {
      while (true) {
        std::function<void()> task;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
          if (tasks_.empty()) return;
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        task();
      }
    });
  }
}

Workers::~Workers() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Workers::Run(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

// ---------------------------------------------------------------------------------------------

class DesktopSession final : public grpc::ServerBidiReactor<av1::DesktopRequest, av1::DesktopEvent>,
                             public DesktopSink {
 public:
  explicit DesktopSession(AgentDesktopService* svc) : svc_(svc), last_seen_(Clock::now()) {
    StartRead(&request_);
  }

  // DesktopSink (called by the hub under its lock; never blocks).
  void Push(const av1::DesktopEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    if (outbox_.size() >= svc_->options_.max_queued_events) {
      CloseLocked("SLOW_DESKTOP");
      return;
    }
    if (event.has_offer()) offers_shown_[event.offer().offer_id()] = Clock::now();
    outbox_.push_back(event);
    MaybeWriteLocked();
  }

  void Close(const std::string& reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    CloseLocked(reason);
  }

  void OnReadDone(bool ok) override {
    if (!ok && !registered_) {
      // gRPC reports a message that does not parse like the end of the stream.
      return FinishWith(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                     "HELLO_FIRST: the stream ended, or sent a message that is not "
                                     "a DesktopRequest, before its Hello"));
    }
    if (!ok) {  // the desktop half-closed or went away
      std::lock_guard<std::mutex> lock(mu_);
      read_done_ = true;
      if (!closing_) {
        closing_ = true;
        close_reason_ = "DESKTOP_CLOSED";
      }
      MaybeWriteLocked();
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      last_seen_ = Clock::now();
    }
    if (!registered_) {
      Hello();
    } else {
      Handle(request_);
    }
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      more = !closing_;
      if (!more) read_done_ = true;
    }
    if (more) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {  // the stream is broken: nothing more can be written
      outbox_.clear();
      closing_ = true;
      if (close_reason_.empty()) close_reason_ = "DESKTOP_GONE";
    } else {
      outbox_.pop_front();
    }
    MaybeWriteLocked();
  }

  void OnDone() override {
    if (registered_) svc_->hub_->Unregister(tenant_, agent_, this);
    svc_->metrics_->SessionClosed(close_reason_.empty() ? "UNKNOWN" : close_reason_);
    svc_->Forget(this);
    delete this;
  }

  // For the heartbeat monitor.
  bool SilentFor(std::chrono::milliseconds grace, Clock::time_point now) {
    std::lock_guard<std::mutex> lock(mu_);
    return registered_ && !closing_ && now - last_seen_ > grace;
  }
  const std::string& tenant() const { return tenant_; }
  const std::string& agent() const { return agent_; }

 private:
  void CloseLocked(const std::string& reason) {
    if (closing_) return;
    closing_ = true;
    close_reason_ = reason;
    av1::DesktopEvent bye;
    *bye.mutable_time() = app::NowTimestamp();
    bye.mutable_goodbye()->set_reason(reason);
    outbox_.push_back(std::move(bye));
    MaybeWriteLocked();
  }

  void MaybeWriteLocked() {
    if (writing_ || finished_) return;
    if (!outbox_.empty()) {
      writing_ = true;
      StartWrite(&outbox_.front());
      return;
    }
    if (closing_) {
      finished_ = true;
      Finish(finish_status_);
    }
  }

  void FinishWith(grpc::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    read_done_ = true;
    finish_status_ = std::move(status);
    closing_ = true;
    if (close_reason_.empty()) close_reason_ = "REFUSED";
    MaybeWriteLocked();
  }

  void Hello() {
    if (!request_.has_hello()) {
      return FinishWith(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                     "HELLO_FIRST: the first request must be a Hello"));
    }
    const av1::Hello& h = request_.hello();
    if (h.tenant_id().empty() || h.agent_id().empty()) {
      return FinishWith(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "MISSING_FIELD: hello.tenant_id and hello.agent_id are required"));
    }
    if (h.principal().subject() != h.agent_id()) {
      return FinishWith(
          grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                       absl::StrCat("NOT_YOUR_DESKTOP: principal '", h.principal().subject(),
                                    "' cannot open the desktop of agent '", h.agent_id(), "'")));
    }
    tenant_ = h.tenant_id();
    agent_ = h.agent_id();
    absl::StatusOr<size_t> replayed = svc_->hub_->Register(tenant_, agent_, h.resume_after(), this);
    if (!replayed.ok()) {
      return FinishWith(grpc::Status(static_cast<grpc::StatusCode>(replayed.status().code()),
                                     std::string(replayed.status().message())));
    }
    registered_ = true;
    svc_->AnnounceDesktop(tenant_, agent_, h.principal());
    spdlog::debug("desktop {}/{} connected ({} events replayed)", tenant_, agent_, *replayed);
  }

  void Ack(const std::string& request_id, const absl::Status& status,
           const std::string& command_id = "") {
    svc_->metrics_->Request(kind_, status.ok() ? "ok" : ReasonOf(status));
    Push(AckEvent(request_id, status, command_id));
  }

  // Sends a routing command; the Ack follows the broker's acknowledgement (to the agent's desktop,
  // wherever it is connected on this replica by then).
  void SendCommand(const std::string& request_id, rv1::RoutingCommand command) {
    command.set_tenant_id(tenant_);
    Hub* hub = svc_->hub_;
    AgentStateMetrics* metrics = svc_->metrics_;
    const std::string tenant = tenant_;
    const std::string agent = agent_;
    const std::string kind = kind_;
    absl::Status s = svc_->routing_->SendAsync(
        std::move(command),
        [hub, metrics, tenant, agent, kind, request_id](absl::StatusOr<routing::SentCommand> sent) {
          const absl::Status status =
              sent.ok() ? absl::OkStatus()
                        : absl::UnavailableError(absl::StrCat(
                              "ROUTING_UNAVAILABLE: ", std::string(sent.status().message())));
          metrics->Request(kind, status.ok() ? "ok" : "ROUTING_UNAVAILABLE");
          hub->PushTo(tenant, agent,
                      AckEvent(request_id, status, sent.ok() ? sent->command_id : ""));
        });
    if (!s.ok()) Ack(request_id, s);
  }

  absl::Status CheckInteraction(const std::string& interaction_id) {
    if (interaction_id.empty()) return Invalid("MISSING_FIELD", "interaction_id: required");
    return svc_->hub_->Read(
        [&](const Projection& p) { return p.CheckInteraction(tenant_, agent_, interaction_id); });
  }

  void Handle(const av1::DesktopRequest& r) {
    kind_ = KindOf(r);
    const std::string& id = r.request_id();
    rv1::RoutingCommand c;
    absl::Status check;
    switch (r.body_case()) {
      case av1::DesktopRequest::kHeartbeat:
        return;
      case av1::DesktopRequest::kHello:
        return Ack(
            id, absl::FailedPreconditionError("ALREADY_CONNECTED: this stream already said Hello"));
      case av1::DesktopRequest::kLogin:
        c.mutable_login()->set_agent_id(agent_);
        c.mutable_login()->set_presence(r.login().presence());
        c.mutable_login()->set_reason(r.login().reason());
        break;
      case av1::DesktopRequest::kLogout:
        c.mutable_logout()->set_agent_id(agent_);
        c.mutable_logout()->set_force(r.logout().force());
        break;
      case av1::DesktopRequest::kSetPresence:
        c.mutable_set_presence()->set_agent_id(agent_);
        c.mutable_set_presence()->set_presence(r.set_presence().presence());
        c.mutable_set_presence()->set_reason(r.set_presence().reason());
        break;
      case av1::DesktopRequest::kAcceptOffer:
      case av1::DesktopRequest::kRejectOffer: {
        const bool accept = r.has_accept_offer();
        const std::string& offer =
            accept ? r.accept_offer().offer_id() : r.reject_offer().offer_id();
        check = svc_->hub_->Read(
            [&](const Projection& p) { return p.CheckOffer(tenant_, agent_, offer); });
        if (!check.ok()) break;
        if (accept) {
          std::lock_guard<std::mutex> lock(mu_);
          auto it = offers_shown_.find(offer);
          if (it != offers_shown_.end()) {
            svc_->metrics_->OfferAccepted(
                std::chrono::duration<double>(Clock::now() - it->second).count());
            offers_shown_.erase(it);
          }
          c.mutable_accept_offer()->set_agent_id(agent_);
          c.mutable_accept_offer()->set_offer_id(offer);
        } else {
          c.mutable_reject_offer()->set_agent_id(agent_);
          c.mutable_reject_offer()->set_offer_id(offer);
        }
        break;
      }
      case av1::DesktopRequest::kComplete:
        check = CheckInteraction(r.complete().interaction_id());
        c.mutable_complete()->set_agent_id(agent_);
        c.mutable_complete()->set_interaction_id(r.complete().interaction_id());
        c.mutable_complete()->set_disposition(r.complete().disposition());
        break;
      case av1::DesktopRequest::kEndWrapUp:
        check = CheckInteraction(r.end_wrap_up().interaction_id());
        c.mutable_end_wrap_up()->set_agent_id(agent_);
        c.mutable_end_wrap_up()->set_interaction_id(r.end_wrap_up().interaction_id());
        c.mutable_end_wrap_up()->set_disposition(r.end_wrap_up().disposition());
        break;
      case av1::DesktopRequest::kTransfer:
        check = CheckInteraction(r.transfer().interaction_id());
        c.mutable_transfer()->set_agent_id(agent_);
        c.mutable_transfer()->set_interaction_id(r.transfer().interaction_id());
        c.mutable_transfer()->set_target_queue_id(r.transfer().target_queue_id());
        c.mutable_transfer()->set_target_agent_id(r.transfer().target_agent_id());
        break;
      case av1::DesktopRequest::kEscalate:
        check = CheckInteraction(r.escalate().interaction_id());
        c.mutable_escalate()->set_agent_id(agent_);
        c.mutable_escalate()->set_interaction_id(r.escalate().interaction_id());
        c.mutable_escalate()->set_reason(r.escalate().reason());
        c.mutable_escalate()->set_cold(r.escalate().cold());
        break;
      case av1::DesktopRequest::kWarnCaller:
        check = CheckInteraction(r.warn_caller().interaction_id());
        c.mutable_warn_caller()->set_agent_id(agent_);
        c.mutable_warn_caller()->set_interaction_id(r.warn_caller().interaction_id());
        c.mutable_warn_caller()->set_category(r.warn_caller().category());
        break;
      case av1::DesktopRequest::kRequestDisconnect:
        check = CheckInteraction(r.request_disconnect().interaction_id());
        if (check.ok()) return AskPolicyToDisconnect(id, r.request_disconnect());
        break;
      case av1::DesktopRequest::kRequestApproval:
        if (!r.request_approval().interaction_id().empty()) {
          check = CheckInteraction(r.request_approval().interaction_id());
        }
        if (check.ok()) return AskPolicyForApproval(id, r.request_approval());
        break;
      case av1::DesktopRequest::kRecordVerification:
        check = CheckInteraction(r.record_verification().interaction_id());
        if (check.ok() && (r.record_verification().factor().empty() ||
                           r.record_verification().factor().size() > 64)) {
          check = Invalid("MISSING_FIELD", "factor: required (1-64 bytes), e.g. date_of_birth");
        }
        if (check.ok()) return RecordVerification(id, r.record_verification());
        break;
      case av1::DesktopRequest::BODY_NOT_SET:
        check = Invalid("MISSING_BODY", "the request has no body");
        break;
    }
    if (!check.ok()) return Ack(id, check);
    SendCommand(id, std::move(c));
  }

  // The policy service decides, and (when it allows) ends the call itself; the decision comes
  // back on the stream, then the Ack (FAILED_PRECONDITION DISCONNECT_DENIED with the policy's
  // reason when denied).
  void AskPolicyToDisconnect(const std::string& request_id, const av1::RequestDisconnect& r) {
    if (svc_->policy_ == nullptr) {
      return Ack(request_id, absl::FailedPreconditionError(
                                 "NO_POLICY_SERVICE: this sb-agent-state has no --policy"));
    }
    pv1::EvaluateRequest req;
    req.set_tenant_id(tenant_);
    req.set_kind("disconnect");
    req.set_agent_id(agent_);
    req.set_interaction_id(r.interaction_id());
    req.set_request_id(absl::StrCat(agent_, "/", request_id));
    (*req.mutable_input()->mutable_fields())["request"]
        .mutable_struct_value()
        ->mutable_fields()
        ->
        operator[]("category")
        .set_string_value(r.category());
    AgentDesktopService* svc = svc_;
    const std::string tenant = tenant_;
    const std::string agent = agent_;
    svc_->workers_.Run([svc, req, tenant, agent, request_id] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + svc->options_.policy_timeout);
      pv1::EvaluateResponse resp;
      const grpc::Status s = svc->policy_->Evaluate(&ctx, req, &resp);
      absl::Status status;
      if (!s.ok()) {
        status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
      } else {
        av1::DesktopEvent decision;
        *decision.mutable_time() = app::NowTimestamp();
        *decision.mutable_decision() = resp.decision();
        svc->hub_->PushTo(tenant, agent, decision);
        if (resp.decision().outcome() != pv1::OUTCOME_ALLOW) {
          status = absl::FailedPreconditionError(
              absl::StrCat("DISCONNECT_DENIED: ", resp.decision().reason()));
        }
      }
      svc->metrics_->Request("request_disconnect", status.ok() ? "ok" : ReasonOf(status));
      svc->hub_->PushTo(tenant, agent, AckEvent(request_id, status));
    });
  }

  // Authority: the policy service decides; within the agent's limit the answer comes at once
  // (approval_answered, approved by "policy"); above it, an approval task is routed to the
  // supervisors' queue and a supervisor's AnswerApproval comes back as approval_answered.
  void AskPolicyForApproval(const std::string& request_id, const av1::RequestApproval& r) {
    if (svc_->policy_ == nullptr) {
      return Ack(request_id, absl::FailedPreconditionError(
                                 "NO_POLICY_SERVICE: this sb-agent-state has no --policy"));
    }
    if (r.action().empty()) return Ack(request_id, Invalid("MISSING_FIELD", "action: required"));
    pv1::EvaluateRequest req;
    req.set_tenant_id(tenant_);
    req.set_kind("authority");
    req.set_agent_id(agent_);
    req.set_interaction_id(r.interaction_id());
    req.set_request_id(absl::StrCat(agent_, "/", request_id));
    auto& input = *req.mutable_input()->mutable_fields();
    auto& request = *input["request"].mutable_struct_value()->mutable_fields();
    request["action"].set_string_value(r.action());
    request["amount"].set_number_value(r.amount());
    (*input["agent"].mutable_struct_value()->mutable_fields())["tier"].set_string_value(r.tier());
    AgentDesktopService* svc = svc_;
    const std::string tenant = tenant_;
    const std::string agent = agent_;
    svc_->workers_.Run([svc, req, r, tenant, agent, request_id] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + svc->options_.policy_timeout);
      pv1::EvaluateResponse resp;
      const grpc::Status s = svc->policy_->Evaluate(&ctx, req, &resp);
      absl::Status status;
      std::string command_id;
      if (!s.ok()) {
        status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
      } else {
        const pv1::PolicyDecision& d = resp.decision();
        av1::DesktopEvent decision;
        *decision.mutable_time() = app::NowTimestamp();
        *decision.mutable_decision() = d;
        svc->hub_->PushTo(tenant, agent, decision);
        bool needs_approval = false;
        for (const pv1::Obligation& o : d.obligations()) {
          needs_approval = needs_approval || o.has_require_approval();
        }
        if (d.outcome() == pv1::OUTCOME_ALLOW) {
          av1::DesktopEvent answer;
          *answer.mutable_time() = app::NowTimestamp();
          answer.mutable_approval_answered()->set_approval_id(d.decision_id());
          answer.mutable_approval_answered()->set_approved(true);
          answer.mutable_approval_answered()->set_supervisor("policy");
          answer.mutable_approval_answered()->set_note(d.reason());
          svc->hub_->PushTo(tenant, agent, answer);
        } else if (needs_approval) {
          rv1::RoutingCommand c;
          c.set_tenant_id(tenant);
          c.set_command_id(absl::StrCat("approval/", d.decision_id()));
          rv1::Enqueue* e = c.mutable_enqueue();
          const std::string approval_id = d.decision_id().substr(0, 16);
          e->set_interaction_id(absl::StrCat("approval-", approval_id));
          e->set_queue_id(svc->options_.approvals_queue);
          auto& a = *e->mutable_attributes();
          a[std::string(ProjectionOptions::kApprovalAttribute)] = approval_id;
          a["requested_by"] = agent;
          a["interaction_id"] = r.interaction_id();
          a["action"] = r.action();
          a["amount"] = absl::StrCat(r.amount());
          a["reason"] = d.reason();
          absl::StatusOr<routing::SentCommand> sent = svc->routing_->Send(std::move(c));
          if (!sent.ok()) {
            status = absl::UnavailableError(
                absl::StrCat("ROUTING_UNAVAILABLE: ", std::string(sent.status().message())));
          } else {
            command_id = sent->command_id;
          }
        } else {
          status = absl::FailedPreconditionError(absl::StrCat("NOT_ALLOWED: ", d.reason()));
        }
      }
      svc->metrics_->Request("request_approval", status.ok() ? "ok" : ReasonOf(status));
      svc->hub_->PushTo(tenant, agent, AckEvent(request_id, status, command_id));
    });
  }

  // Identity verification: routing records the step on the interaction (so it survives
  // transfers and escalations); the policy service then says whether the caller is verified for
  // the queue (its decision comes on the stream), and a "verified" is recorded in routing too.
  void RecordVerification(const std::string& request_id, const av1::RecordVerification& r) {
    const Projection::Verification before = svc_->hub_->Read(
        [&](const Projection& p) { return p.VerificationOf(tenant_, r.interaction_id()); });
    AgentDesktopService* svc = svc_;
    const std::string tenant = tenant_;
    const std::string agent = agent_;
    svc_->workers_.Run([svc, r, before, tenant, agent, request_id] {
      auto record = [&](const std::string& factor, bool passed, bool verified) {
        rv1::RoutingCommand c;
        c.set_tenant_id(tenant);
        rv1::RecordVerification* v = c.mutable_record_verification();
        v->set_agent_id(agent);
        v->set_interaction_id(r.interaction_id());
        v->set_factor(factor);
        v->set_passed(passed);
        v->set_verified(verified);
        return svc->routing_->Send(std::move(c));
      };
      absl::Status status;
      std::string command_id;
      absl::StatusOr<routing::SentCommand> sent = record(r.factor(), r.passed(), false);
      if (!sent.ok()) {
        status = absl::UnavailableError(
            absl::StrCat("ROUTING_UNAVAILABLE: ", std::string(sent.status().message())));
      } else {
        command_id = sent->command_id;
      }
      if (status.ok() && svc->policy_ != nullptr) {
        // The facts after this step (routing may not have applied it yet).
        std::vector<std::string> factors = before.factors;
        if (r.passed() && std::find(factors.begin(), factors.end(), r.factor()) == factors.end()) {
          factors.push_back(r.factor());
        }
        const int failed = before.failed_attempts + (r.passed() ? 0 : 1);
        pv1::EvaluateRequest req;
        req.set_tenant_id(tenant);
        req.set_kind("verification");
        req.set_agent_id(agent);
        req.set_interaction_id(r.interaction_id());
        req.set_request_id(absl::StrCat(agent, "/", request_id));
        auto& input = *req.mutable_input()->mutable_fields();
        auto& request = *input["request"].mutable_struct_value()->mutable_fields();
        auto* list = request["factors"].mutable_list_value();
        for (const std::string& f : factors) list->add_values()->set_string_value(f);
        request["failed_attempts"].set_number_value(failed);
        (*input["interaction"].mutable_struct_value()->mutable_fields())["verified"].set_bool_value(
            before.verified);
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + svc->options_.policy_timeout);
        pv1::EvaluateResponse resp;
        const grpc::Status s = svc->policy_->Evaluate(&ctx, req, &resp);
        if (!s.ok()) {
          status = absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
        } else {
          av1::DesktopEvent decision;
          *decision.mutable_time() = app::NowTimestamp();
          *decision.mutable_decision() = resp.decision();
          svc->hub_->PushTo(tenant, agent, decision);
          if (resp.decision().outcome() == pv1::OUTCOME_ALLOW && !before.verified) {
            if (absl::StatusOr<routing::SentCommand> v = record("", false, true); !v.ok()) {
              status = absl::UnavailableError(
                  absl::StrCat("ROUTING_UNAVAILABLE: ", std::string(v.status().message())));
            }
          }
        }
      }
      svc->metrics_->Request("record_verification", status.ok() ? "ok" : ReasonOf(status));
      svc->hub_->PushTo(tenant, agent, AckEvent(request_id, status, command_id));
    });
  }

  AgentDesktopService* const svc_;
  av1::DesktopRequest request_;  // the read in flight (read side only)
  bool registered_ = false;      // read side only, then constant
  std::string tenant_;
  std::string agent_;
  std::string kind_;

  std::mutex mu_;
  Clock::time_point last_seen_;                            // guarded by mu_
  std::deque<av1::DesktopEvent> outbox_;                   // guarded by mu_
  std::map<std::string, Clock::time_point> offers_shown_;  // guarded by mu_
  bool writing_ = false;                                   // guarded by mu_
  bool closing_ = false;                                   // guarded by mu_
  bool finished_ = false;                                  // guarded by mu_
  bool read_done_ = false;                                 // guarded by mu_
  std::string close_reason_;                               // guarded by mu_
  grpc::Status finish_status_ = grpc::Status::OK;          // guarded by mu_
};

// ---------------------------------------------------------------------------------------------

AgentDesktopService::AgentDesktopService(Hub* hub, routing::RoutingClient* routing,
                                         std::shared_ptr<grpc::Channel> policy,
                                         AgentStateMetrics* metrics, DesktopOptions options,
                                         kafka_io::Producer* agent_events)
    : hub_(hub),
      routing_(routing),
      policy_(policy ? pv1::PolicyService::NewStub(policy) : nullptr),
      metrics_(metrics),
      options_(std::move(options)),
      agent_events_(agent_events) {
  monitor_ = std::thread([this] { MonitorLoop(); });
}

AgentDesktopService::~AgentDesktopService() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
}

grpc::ServerBidiReactor<av1::DesktopRequest, av1::DesktopEvent>* AgentDesktopService::Connect(
    grpc::CallbackServerContext* ctx) {
  auto* s = new DesktopSession(this);
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.insert(s);
  if (stopping_) s->Close("SHUTTING_DOWN");
  return s;
}

void AgentDesktopService::AnnounceDesktop(const std::string& tenant, const std::string& agent,
                                          const av1::Principal& principal) {
  if (agent_events_ == nullptr) return;
  av1::AgentEvent e = SupervisorService::NewAgentEvent(tenant, principal);
  e.mutable_desktop_connected()->set_agent_id(agent);
  e.mutable_desktop_connected()->set_replica(hub_->replica());
  // Best effort: without it, only cross-replica takeover and the grace period are affected.
  absl::Status s = agent_events_->ProduceAsync(kAgentEventsTopic, tenant, e.SerializeAsString(),
                                               [](absl::StatusOr<kafka_io::RecordPosition> r) {
                                                 if (!r.ok())
                                                   spdlog::warn("DesktopConnected not written: {}",
                                                                r.status().ToString());
                                               });
  if (!s.ok()) spdlog::warn("DesktopConnected not written: {}", s.ToString());
}

void AgentDesktopService::Forget(DesktopSession* s) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(s);
  cv_.notify_all();
}

void AgentDesktopService::Shutdown(const std::string& reason) {
  std::unique_lock<std::mutex> lock(mu_);
  stopping_ = true;
  for (DesktopSession* s : sessions_) s->Close(reason);
  // Give the desktops a moment to read their Goodbye.
  cv_.wait_for(lock, std::chrono::seconds(5), [&] { return sessions_.empty(); });
}

void AgentDesktopService::MonitorLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stopping_) break;
    const auto now = Clock::now();
    std::vector<std::pair<std::string, std::string>> silent;
    for (DesktopSession* s : sessions_) {
      if (s->SilentFor(options_.heartbeat_grace, now)) {
        silent.emplace_back(s->tenant(), s->agent());
        s->Close("HEARTBEAT_LOST");
      }
    }
    lock.unlock();
    for (const auto& [tenant, agent] : silent) {
      // Its pending offers go back to the queue, and the agent to aux "disconnected".
      absl::StatusOr<av1::AgentState> state =
          hub_->Read([&](const Projection& p) { return p.StateOf(tenant, agent); });
      if (!state.ok()) continue;
      spdlog::info("desktop {}/{} silent for {} ms: aux disconnected, {} offer(s) returned", tenant,
                   agent, options_.heartbeat_grace.count(), state->offers_size());
      for (const std::string& offer : state->offers()) {
        rv1::RoutingCommand c;
        c.set_tenant_id(tenant);
        c.mutable_reject_offer()->set_agent_id(agent);
        c.mutable_reject_offer()->set_offer_id(offer);
        (void)routing_->SendAsync(std::move(c), [](absl::StatusOr<routing::SentCommand>) {});
      }
      if (state->presence() != rv1::PRESENCE_OFFLINE) {
        rv1::RoutingCommand c;
        c.set_tenant_id(tenant);
        c.mutable_set_presence()->set_agent_id(agent);
        c.mutable_set_presence()->set_presence(rv1::PRESENCE_AUX);
        c.mutable_set_presence()->set_reason("disconnected");
        (void)routing_->SendAsync(std::move(c), [](absl::StatusOr<routing::SentCommand>) {});
      }
    }
    hub_->UpdateGauges();
    lock.lock();
  }
}

// ---------------------------------------------------------------------------------------------

grpc::Status SupervisorService::Send(rv1::RoutingCommand command, std::string* command_id) {
  absl::StatusOr<routing::SentCommand> sent = routing_->Send(std::move(command));
  if (!sent.ok()) {
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("ROUTING_UNAVAILABLE: ", std::string(sent.status().message())));
  }
  if (command_id != nullptr) *command_id = sent->command_id;
  return grpc::Status::OK;
}

namespace {
grpc::Status CheckSupervisor(const std::string& tenant, const av1::Principal& p) {
  if (tenant.empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "MISSING_FIELD: tenant_id: required");
  }
  if (p.role() != "supervisor" || p.subject().empty()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "NOT_A_SUPERVISOR: principal.role must be supervisor");
  }
  return grpc::Status::OK;
}
grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}
}  // namespace

grpc::Status SupervisorService::WatchFloor(grpc::ServerContext* ctx,
                                           const av1::WatchFloorRequest* req,
                                           grpc::ServerWriter<av1::Floor>* writer) {
  if (grpc::Status s = CheckSupervisor(req->tenant_id(), req->principal()); !s.ok()) return s;
  const std::set<std::string> teams(req->teams().begin(), req->teams().end());
  const auto interval = std::chrono::milliseconds(
      req->min_interval_ms() > 0 ? std::min(req->min_interval_ms(), 60000) : 250);
  uint64_t version = ~uint64_t{0};
  auto last_sent = Clock::now() - std::chrono::hours(1);
  while (!ctx->IsCancelled()) {
    // Durations on the floor move with time: resend at least every second.
    const uint64_t now_version = hub_->WaitForChange(version, std::chrono::seconds(1));
    if (Clock::now() - last_sent < interval) {
      std::this_thread::sleep_for(interval - (Clock::now() - last_sent));  // coalescing window
    }
    version = now_version;
    const int64_t now_ms = app::NowMs();
    av1::Floor floor =
        hub_->Read([&](const Projection& p) { return p.FloorOf(req->tenant_id(), teams, now_ms); });
    for (av1::AgentState& a : *floor.mutable_agents()) {
      a.set_desktop_connected(hub_->IsConnected(req->tenant_id(), a.agent_id()));
    }
    if (!writer->Write(floor)) break;
    last_sent = Clock::now();
  }
  return grpc::Status::OK;
}

grpc::Status SupervisorService::JoinEscalation(grpc::ServerContext* ctx,
                                               const av1::JoinEscalationRequest* req,
                                               av1::JoinEscalationResponse* resp) {
  if (grpc::Status s = CheckSupervisor(req->tenant_id(), req->principal()); !s.ok()) return s;
  absl::StatusOr<Projection::EscalationTask> task = hub_->Read(
      [&](const Projection& p) { return p.FindEscalation(req->tenant_id(), req->task_id()); });
  if (!task.ok()) return ToGrpc(task.status());
  if (task->offered_to != req->principal().subject() || task->offer_id.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("NOT_OFFERED_TO_YOU: escalation '", req->task_id(),
                                     "' is not offered to '", req->principal().subject(), "'",
                                     task->offered_to.empty() ? " (it is still queued)" : ""));
  }
  rv1::RoutingCommand c;
  c.set_tenant_id(req->tenant_id());
  c.mutable_accept_offer()->set_agent_id(req->principal().subject());
  c.mutable_accept_offer()->set_offer_id(task->offer_id);
  return Send(std::move(c), resp->mutable_command_id());
}

grpc::Status SupervisorService::AnswerApproval(grpc::ServerContext* ctx,
                                               const av1::AnswerApprovalRequest* req,
                                               av1::AnswerApprovalResponse* resp) {
  if (grpc::Status s = CheckSupervisor(req->tenant_id(), req->principal()); !s.ok()) return s;
  absl::StatusOr<Projection::ApprovalTask> task = hub_->Read(
      [&](const Projection& p) { return p.FindApproval(req->tenant_id(), req->approval_id()); });
  if (!task.ok()) return ToGrpc(task.status());
  if (!task->connected || task->connected_to != req->principal().subject()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("APPROVAL_NOT_ACCEPTED: accept approval '", req->approval_id(),
                                     "' on your desktop first (it is ",
                                     task->connected            ? "with " + task->connected_to
                                     : task->offered_to.empty() ? std::string("queued")
                                                                : "offered to " + task->offered_to,
                                     ")"));
  }
  rv1::RoutingCommand c;
  c.set_tenant_id(req->tenant_id());
  c.mutable_complete()->set_agent_id(req->principal().subject());
  c.mutable_complete()->set_interaction_id(task->task_id);
  c.mutable_complete()->set_disposition(req->approved() ? "approved" : "denied");
  spdlog::info("supervisor {} {} approval {} of {}", req->principal().subject(),
               req->approved() ? "grants" : "refuses", req->approval_id(), task->requested_by);
  return Send(std::move(c), nullptr);
}

grpc::Status SupervisorService::ForceState(grpc::ServerContext* ctx,
                                           const av1::ForceStateRequest* req,
                                           av1::ForceStateResponse* resp) {
  if (grpc::Status s = CheckSupervisor(req->tenant_id(), req->principal()); !s.ok()) return s;
  absl::StatusOr<av1::AgentState> state =
      hub_->Read([&](const Projection& p) { return p.StateOf(req->tenant_id(), req->agent_id()); });
  if (!state.ok()) return ToGrpc(state.status());
  rv1::RoutingCommand c;
  c.set_tenant_id(req->tenant_id());
  switch (req->presence()) {
    case rv1::PRESENCE_OFFLINE:
      c.mutable_logout()->set_agent_id(req->agent_id());
      c.mutable_logout()->set_force(true);
      break;
    case rv1::PRESENCE_AVAILABLE:
    case rv1::PRESENCE_AUX:
      if (state->presence() == rv1::PRESENCE_OFFLINE) {
        c.mutable_login()->set_agent_id(req->agent_id());
        c.mutable_login()->set_presence(req->presence());
        c.mutable_login()->set_reason(req->reason());
      } else {
        c.mutable_set_presence()->set_agent_id(req->agent_id());
        c.mutable_set_presence()->set_presence(req->presence());
        c.mutable_set_presence()->set_reason(req->reason());
      }
      break;
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "INVALID_ARGUMENT: presence: AVAILABLE, AUX or OFFLINE");
  }
  spdlog::info("supervisor {} forces {}/{} to {}", req->principal().subject(), req->tenant_id(),
               req->agent_id(), rv1::Presence_Name(req->presence()));
  return Send(std::move(c), resp->mutable_command_id());
}

grpc::Status SupervisorService::Publish(av1::AgentEvent event, const char* action) {
  if (agent_events_ == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        "NO_AGENT_EVENTS: this replica has no sb.agent.events.v1 producer");
  }
  const std::string tenant = event.tenant_id();
  absl::StatusOr<kafka_io::RecordPosition> written =
      agent_events_->Produce(kAgentEventsTopic, tenant, event.SerializeAsString());
  if (!written.ok()) {
    metrics_->SupervisorAction(action, "AGENT_EVENTS_UNAVAILABLE");
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("AGENT_EVENTS_UNAVAILABLE: ", std::string(written.status().message())));
  }
  metrics_->SupervisorAction(action, "ok");
  return grpc::Status::OK;
}

av1::AgentEvent SupervisorService::NewAgentEvent(const std::string& tenant,
                                                 const av1::Principal& principal) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  av1::AgentEvent e;
  e.set_event_id(absl::StrFormat("%016x%016x", rng(), rng()));
  e.set_tenant_id(tenant);
  *e.mutable_time() = app::NowTimestamp();
  *e.mutable_principal() = principal;
  return e;
}

grpc::Status SupervisorService::SendMessage(grpc::ServerContext* ctx,
                                            const av1::SendMessageRequest* req,
                                            av1::SendMessageResponse* resp) {
  auto refuse = [&](grpc::Status s) {
    metrics_->SupervisorAction(
        "send_message", ReasonOf(absl::Status(absl::StatusCode::kUnknown, s.error_message())));
    return s;
  };
  if (grpc::Status s = CheckSupervisor(req->tenant_id(), req->principal()); !s.ok()) {
    return refuse(s);
  }
  if (req->text().empty() || req->text().size() > 4096) {
    return refuse(
        grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT: text: 1-4096 bytes"));
  }
  absl::StatusOr<av1::AgentState> state =
      hub_->Read([&](const Projection& p) { return p.StateOf(req->tenant_id(), req->agent_id()); });
  if (!state.ok()) return refuse(ToGrpc(state.status()));
  // Written to sb.agent.events.v1: the replica holding the agent's desktop (this one or another)
  // delivers it from there.
  av1::AgentEvent e = NewAgentEvent(req->tenant_id(), req->principal());
  e.mutable_message_sent()->set_agent_id(req->agent_id());
  e.mutable_message_sent()->set_text(req->text());
  if (grpc::Status s = Publish(e, "send_message"); !s.ok()) return s;
  resp->set_event_id(e.event_id());
  return grpc::Status::OK;
}

grpc::Status SupervisorService::Intervene(grpc::ServerContext* ctx,
                                          const av1::InterveneRequest* req,
                                          av1::InterveneResponse* resp) {
  const std::string action = absl::StrCat("intervene_", req->mode());
  auto refuse = [&](const char* metric_action, grpc::Status s) {
    metrics_->SupervisorAction(
        metric_action, ReasonOf(absl::Status(absl::StatusCode::kUnknown, s.error_message())));
    return s;
  };
  if (grpc::Status s = CheckSupervisor(req->tenant_id(), req->principal()); !s.ok()) {
    return refuse("intervene", s);
  }
  if (req->mode() != "monitor" && req->mode() != "whisper" && req->mode() != "barge") {
    return refuse("intervene", grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            absl::StrCat("BAD_MODE: mode '", req->mode(),
                                                         "': monitor, whisper or barge")));
  }
  if (req->interaction_id().empty()) {
    return refuse(action.c_str(), grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                               "MISSING_FIELD: interaction_id: required"));
  }
  // Only an interaction an agent is talking on can be monitored, whispered to or barged into.
  absl::StatusOr<Projection::Connection> found = hub_->Read(
      [&](const Projection& p) { return p.ConnectionOf(req->tenant_id(), req->interaction_id()); });
  if (!found.ok()) return refuse(action.c_str(), ToGrpc(found.status()));
  av1::AgentEvent e = NewAgentEvent(req->tenant_id(), req->principal());
  av1::Intervention* in = e.mutable_intervention();
  in->set_interaction_id(req->interaction_id());
  in->set_agent_id(found->agent_id);
  in->set_queue_id(found->queue_id);
  in->set_mode(req->mode());
  if (grpc::Status s = Publish(e, action.c_str()); !s.ok()) return s;
  spdlog::info("audit: supervisor {} {} interaction {}/{} (agent {}), event {}",
               req->principal().subject(), req->mode(), req->tenant_id(), req->interaction_id(),
               found->agent_id, e.event_id());
  resp->set_intervention_id(e.event_id());
  resp->set_agent_id(found->agent_id);
  return grpc::Status::OK;
}

}  // namespace sb::agent_state
