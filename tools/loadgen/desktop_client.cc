#include "loadgen/desktop_client.h"

#include <utility>

namespace sb::traffic {

namespace av1 = ::switchboard::agent::v1;

DesktopStream::DesktopStream(Scheduler* scheduler, std::string tenant, std::string agent,
                             std::chrono::milliseconds heartbeat, EventFn on_event, DoneFn on_done)
    : scheduler_(scheduler),
      tenant_(std::move(tenant)),
      agent_(std::move(agent)),
      heartbeat_(heartbeat),
      on_event_(std::move(on_event)),
      on_done_(std::move(on_done)) {}

void DesktopStream::Start(av1::AgentDesktop::Stub* stub, Scheduler::Clock::duration first_heartbeat,
                          const std::string& resume_after) {
  av1::DesktopRequest hello;
  hello.set_request_id("hello");
  hello.mutable_hello()->set_tenant_id(tenant_);
  hello.mutable_hello()->set_agent_id(agent_);
  hello.mutable_hello()->mutable_principal()->set_subject(agent_);
  hello.mutable_hello()->mutable_principal()->set_role("agent");
  hello.mutable_hello()->set_resume_after(resume_after);
  stub->async()->Connect(&ctx_, this);
  // Writes are started from outside reactions (the scheduler, other threads): the hold keeps
  // the call alive (no OnDone) until we know no more will be started.
  AddHold();
  Send(std::move(hello));
  StartRead(&event_);
  StartCall();
  scheduler_->After(first_heartbeat, [this] { Heartbeat(); });
}

bool DesktopStream::Send(av1::DesktopRequest request) {
  const av1::DesktopRequest* write = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_ || broken_) return false;
    outbox_.push_back(std::move(request));
    if (writing_) return true;
    writing_ = true;
    write = &outbox_.front();
  }
  StartWrite(write);
  return true;
}

void DesktopStream::Close() {
  bool writes_done = false;
  bool release = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return;
    closing_ = true;
    if (!writing_) {
      writes_done = !broken_;
      release = TakeHoldLocked();
    }
  }
  if (writes_done) StartWritesDone();
  if (release) RemoveHold();
}

void DesktopStream::OnWriteDone(bool ok) {
  const av1::DesktopRequest* write = nullptr;
  bool writes_done = false;
  bool release = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {  // the stream is broken; OnDone tells why
      broken_ = true;
      outbox_.clear();
    } else {
      outbox_.pop_front();
    }
    if (!outbox_.empty()) {
      write = &outbox_.front();
    } else {
      writing_ = false;
      if (closing_ || broken_) {
        writes_done = closing_ && !broken_;
        release = TakeHoldLocked();
      }
    }
  }
  if (write != nullptr) StartWrite(write);
  if (writes_done) StartWritesDone();
  if (release) RemoveHold();
}

void DesktopStream::OnReadDone(bool ok) {
  if (!ok) {  // the server ended the stream: OnDone follows once the hold is gone
    bool release = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      broken_ = true;
      if (!writing_) release = TakeHoldLocked();
    }
    if (release) RemoveHold();
    return;
  }
  if (event_.has_goodbye()) goodbye_ = event_.goodbye().reason();
  on_event_(*this, event_);
  StartRead(&event_);
}

void DesktopStream::OnDone(const grpc::Status& status) {
  on_done_(status, goodbye_);
  done_ = true;
}

bool DesktopStream::TakeHoldLocked() {
  if (hold_released_) return false;
  hold_released_ = true;
  return true;
}

void DesktopStream::Heartbeat() {
  av1::DesktopRequest beat;
  beat.mutable_heartbeat();
  if (!Send(std::move(beat))) return;  // closing or broken: no more heartbeats
  scheduler_->After(heartbeat_, [this] { Heartbeat(); });
}

}  // namespace sb::traffic
