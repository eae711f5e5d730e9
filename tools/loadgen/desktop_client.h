// sb::traffic::DesktopStream: one agent desktop's AgentDesktop.Connect stream (sb-agent-state) as
// a gRPC callback reactor, for the tools that play agents: sb-desktop-load (thousands of them)
// and the traffic driver's desktop mode (`switchboard up --demo`).
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "loadgen/scheduler.h"
#include "switchboard/agent/v1/agent_state.grpc.pb.h"

namespace sb::traffic {

// DesktopStream
//
// Lifecycle: construct -> Start (sends Hello, then a Heartbeat every `heartbeat` on the
// scheduler) -> ... -> Close (half-close once queued requests are written; the server then ends
// the stream) or Cancel -> `done()` becomes true after on_done ran. Destroy it only once done()
// is true and the scheduler that runs its heartbeats has been stopped.
//
// Threads: on_event and on_done run on gRPC's callback threads, one event at a time, in stream
// order; on_event may call Send. Send, Close and Cancel may be called from any thread. Writes go
// through an outbox (one write in flight at a time); StartWrite is called outside the mutex.
class DesktopStream final : public grpc::ClientBidiReactor<::switchboard::agent::v1::DesktopRequest,
                                                           ::switchboard::agent::v1::DesktopEvent> {
 public:
  using EventFn =
      std::function<void(DesktopStream& stream, const ::switchboard::agent::v1::DesktopEvent&)>;
  // The final status, and the Goodbye reason if the server sent one ("" otherwise).
  using DoneFn = std::function<void(const grpc::Status& status, const std::string& goodbye)>;

  DesktopStream(Scheduler* scheduler, std::string tenant, std::string agent,
                std::chrono::milliseconds heartbeat, EventFn on_event, DoneFn on_done);

  // Opens the stream on `stub` and sends Hello (principal: the agent itself, role "agent"). The
  // first heartbeat goes after `first_heartbeat` (spread them when starting many desktops).
  void Start(::switchboard::agent::v1::AgentDesktop::Stub* stub,
             Scheduler::Clock::duration first_heartbeat, const std::string& resume_after = "");

  // Queues a request; written after those before it. Dropped once the stream is closing or
  // broken (returns false then).
  bool Send(::switchboard::agent::v1::DesktopRequest request);
  void Close();
  void Cancel() { ctx_.TryCancel(); }
  bool done() const { return done_.load(); }
  const std::string& tenant() const { return tenant_; }
  const std::string& agent() const { return agent_; }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  // True the first time it is called once no write is in flight or about to start.
  bool TakeHoldLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Heartbeat();

  Scheduler* const scheduler_;
  const std::string tenant_;
  const std::string agent_;
  const std::chrono::milliseconds heartbeat_;
  const EventFn on_event_;
  const DoneFn on_done_;
  grpc::ClientContext ctx_;
  ::switchboard::agent::v1::DesktopEvent event_;  // the read in flight (read side only)
  std::string goodbye_;  // read side only; read in OnDone (after the last read)
  std::atomic<bool> done_{false};

  std::mutex mu_;
  // front = the write in flight
  std::deque<::switchboard::agent::v1::DesktopRequest> outbox_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace sb::traffic
