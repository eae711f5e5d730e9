// RecordingIntake: the recording lifecycle -- start, pause, resume, stop -- applied to the store
// with an audit entry each, from two sources: routing events and policy decisions (through
// Ingest, deduplicated by event id) and RecordingService calls (the media layer, admins).
//
//   InteractionConnected              -> start "<interaction_id>/rec" when the queue is recorded
//   WrapUpStarted, InteractionEnded   -> stop (a pause still open becomes a gap up to the stop)
//   PolicyDecision with pause_recording -> pause at (decision time - recording start)
//   PolicyDecision kind "recording", ALLOW, no pause obligation -> resume a paused recording
//
// Every change is one store transaction (the dedupe mark, the state, the gap, the audit entry);
// after it commits the change is reported to RecordingEvents. Paused spans become gaps: the
// start of a pause is kept in its audit entry ("offset_ms=N reason=R"), so a resume on another
// replica finds it.
//
// Thread-safe: the ingest thread and any number of gRPC handlers call it concurrently; the store
// serializes conflicting transactions (a state compare-and-set).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recording/service/metrics.h"
#include "recording/service/publisher.h"
#include "recording/storage/store.h"
#include "switchboard/policy/v1/policy.pb.h"
#include "switchboard/routing/v1/events.pb.h"

namespace sb::recording {

// Which interactions are recorded (--record-queues): every queue, or the listed ones.
struct RecordPolicy {
  bool all = true;
  std::set<std::string> queues;
  bool Records(const std::string& queue) const { return all || queues.count(queue) > 0; }
};

// The dedupe consumer name of the recording intake in the store (MarkProcessed).
inline constexpr char kRecordingConsumer[] = "sb-recording.recordings";

class RecordingIntake {
 public:
  RecordingIntake(storage::RecordingStore* store, RecordingEvents* events,
                  RecordingMetrics* metrics, RecordPolicy policy);

  // ---- Events (the ingest thread) ----
  // OK when applied or not relevant; an error only for trouble worth a retry (the store down).
  absl::Status OnRoutingEvent(const ::switchboard::routing::v1::RoutingEvent& event);
  absl::Status OnPolicyDecision(const ::switchboard::policy::v1::PolicyDecision& decision);

  // ---- Actions (gRPC handlers; also used by the events) ----
  struct StartSpec {
    std::string tenant_id;
    std::string recording_id;  // empty: "<interaction_id>/rec"
    std::string interaction_id;
    std::string queue_id;
    std::string agent_id;
    std::string customer_id;
    int64_t at_ms = 0;
  };
  // Idempotent on the recording id (same fields: the existing recording, no new audit entry).
  absl::StatusOr<storage::Recording> Start(const StartSpec& spec, const std::string& principal);

  struct Action {
    std::string tenant_id;
    std::string recording_id;
    int64_t offset_ms = -1;  // into the recording; -1: at_ms - started_at
    std::string reason;
    std::string principal;  // for the audit: "system:policy", "admin:alice"
    int64_t at_ms = 0;
  };
  // RECORDING -> PAUSED (already PAUSED: OK, unchanged). FAILED_PRECONDITION NOT_RECORDING when
  // stopped, deleted or erased; INVALID_ARGUMENT BAD_OFFSET for an offset before the last gap.
  absl::StatusOr<storage::Recording> Pause(const Action& action);
  // PAUSED -> RECORDING, adding the gap (already RECORDING: OK, unchanged).
  absl::StatusOr<storage::Recording> Resume(const Action& action);
  // RECORDING/PAUSED -> STOPPED (already STOPPED: OK, unchanged).
  absl::StatusOr<storage::Recording> Stop(const Action& action);

  // Tenants seen in events (for the periodic retention job).
  std::vector<std::string> Tenants() const;
  void NoteTenant(const std::string& tenant);

 private:
  struct Outbox {
    std::vector<storage::Recording> recordings;
    std::vector<storage::AuditEntry> audit;
  };
  enum class Op { kPause, kResume, kStop };
  // One action inside a transaction.
  absl::StatusOr<storage::Recording> ApplyIn(storage::RecordingStore& tx, Op op,
                                             const Action& action, Outbox* out);
  absl::StatusOr<storage::Recording> StartIn(storage::RecordingStore& tx, const StartSpec& spec,
                                             const std::string& principal, Outbox* out);
  absl::StatusOr<storage::Recording> RunAction(Op op, const Action& action);
  // Applies `op` to every live recording of an interaction, once per event id.
  absl::Status ForInteraction(const std::string& event_id, const std::string& tenant,
                              const std::string& interaction_id, Op op, const std::string& reason,
                              const std::string& principal, int64_t at_ms);
  void Publish(const Outbox& out);

  storage::RecordingStore* const store_;
  RecordingEvents* const events_;
  RecordingMetrics* const metrics_;
  const RecordPolicy policy_;
  mutable std::mutex mu_;
  // "<tenant>\n<interaction>" -> customer id, from InteractionQueued attributes, until it ends.
  std::map<std::string, std::string> customers_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> tenants_ ABSL_GUARDED_BY(mu_);
};

// The offset kept in a pause/resume/stop audit detail ("offset_ms=1200 reason=card_data"), or -1.
int64_t OffsetFromDetail(const std::string& detail);

}  // namespace sb::recording
