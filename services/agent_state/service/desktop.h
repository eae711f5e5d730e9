// The AgentDesktop and Supervisor gRPC services of sb-agent-state.
//
// A desktop's Connect stream is a callback-API reactor (no thread per connection): requests are
// checked against the projection and turned into routing commands (sent asynchronously through
// the routing client; the Ack comes back on the stream when the broker has them); disconnect and
// approval requests go to the policy service first. A heartbeat monitor puts silent desktops in
// aux "disconnected" and returns their pending offers to the queue.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent_state/service/hub.h"
#include "common/kafka/producer.h"
#include "grpcpp/channel.h"
#include "routing/client/routing_client.h"
#include "switchboard/agent/v1/agent_state.grpc.pb.h"
#include "switchboard/policy/v1/policy.grpc.pb.h"

namespace sb::agent_state {

struct DesktopOptions {
  // A desktop silent this long (no request, heartbeats included) is put in aux "disconnected".
  std::chrono::milliseconds heartbeat_grace{15000};
  // Events queued for one desktop beyond this: the desktop is too slow; it is disconnected (and
  // resumes when it reconnects).
  size_t max_queued_events = 10000;
  // Where approval tasks are routed (a queue supervisors are members of).
  std::string approvals_queue = "supervisors";
  std::chrono::milliseconds policy_timeout{2000};
};

// A few threads for the blocking calls a desktop request may need (the policy service), so the
// gRPC callback threads never block.
class Workers {
 public:
  explicit Workers(int threads);
  ~Workers();
  void Run(std::function<void()> task);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

class DesktopSession;

class AgentDesktopService final : public av1::AgentDesktop::CallbackService {
 public:
  // `policy` may be null (disconnect and approval requests are then refused: NO_POLICY_SERVICE).
  // `agent_events` (sb.agent.events.v1, may be null) carries the DesktopConnected announcements
  // that make takeover work across replicas.
  AgentDesktopService(Hub* hub, routing::RoutingClient* routing,
                      std::shared_ptr<grpc::Channel> policy, AgentStateMetrics* metrics,
                      DesktopOptions options, kafka_io::Producer* agent_events = nullptr);
  ~AgentDesktopService() override;

  grpc::ServerBidiReactor<av1::DesktopRequest, av1::DesktopEvent>* Connect(
      grpc::CallbackServerContext* ctx) override;

  // Ends every session with Goodbye{reason}; new Connects are refused after it.
  void Shutdown(const std::string& reason);

 private:
  friend class DesktopSession;
  void Forget(DesktopSession* s);
  // Tells the other replicas (sb.agent.events.v1) that the agent's desktop is now here.
  void AnnounceDesktop(const std::string& tenant, const std::string& agent,
                       const av1::Principal& principal);
  void MonitorLoop();

  Hub* const hub_;
  routing::RoutingClient* const routing_;
  std::unique_ptr<::switchboard::policy::v1::PolicyService::Stub> policy_;
  AgentStateMetrics* const metrics_;
  const DesktopOptions options_;
  kafka_io::Producer* const agent_events_;
  Workers workers_{4};

  std::mutex mu_;
  std::condition_variable cv_;
  std::set<DesktopSession*> sessions_;  // guarded by mu_
  bool stopping_ = false;               // guarded by mu_
  std::thread monitor_;
};

class SupervisorService final : public av1::Supervisor::Service {
 public:
  // `agent_events` (sb.agent.events.v1) may be null: SendMessage and Intervene then answer
  // UNAVAILABLE NO_AGENT_EVENTS.
  SupervisorService(Hub* hub, routing::RoutingClient* routing, kafka_io::Producer* agent_events,
                    AgentStateMetrics* metrics)
      : hub_(hub), routing_(routing), agent_events_(agent_events), metrics_(metrics) {}
  grpc::Status WatchFloor(grpc::ServerContext* ctx, const av1::WatchFloorRequest* req,
                          grpc::ServerWriter<av1::Floor>* writer) override;
  grpc::Status JoinEscalation(grpc::ServerContext* ctx, const av1::JoinEscalationRequest* req,
                              av1::JoinEscalationResponse* resp) override;
  grpc::Status AnswerApproval(grpc::ServerContext* ctx, const av1::AnswerApprovalRequest* req,
                              av1::AnswerApprovalResponse* resp) override;
  grpc::Status ForceState(grpc::ServerContext* ctx, const av1::ForceStateRequest* req,
                          av1::ForceStateResponse* resp) override;
  grpc::Status SendMessage(grpc::ServerContext* ctx, const av1::SendMessageRequest* req,
                           av1::SendMessageResponse* resp) override;
  grpc::Status Intervene(grpc::ServerContext* ctx, const av1::InterveneRequest* req,
                         av1::InterveneResponse* resp) override;

  // A new AgentEvent: random event id, now, the principal.
  static av1::AgentEvent NewAgentEvent(const std::string& tenant, const av1::Principal& principal);

 private:
  grpc::Status Send(rv1::RoutingCommand command, std::string* command_id);
  // Writes `event` to sb.agent.events.v1 and waits for the broker; counts `action`.
  grpc::Status Publish(av1::AgentEvent event, const char* action);
  Hub* const hub_;
  routing::RoutingClient* const routing_;
  kafka_io::Producer* const agent_events_;
  AgentStateMetrics* const metrics_;
};

}  // namespace sb::agent_state
