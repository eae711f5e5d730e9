// RecordingServiceImpl: the gRPC RecordingService of sb-recording -- recording lifecycle calls
// from the media layer, media upload and playback, legal hold, privacy erasure, retention and the
// audit log (docs/recording.md). Thin handlers: check the principal, map the request, call the
// intake / store / media volume, map back, count.
//
// Roles (the principal rides on every request; the tenant is the request's):
//   start/pause/resume/stop, upload, legal hold, erase, retention, audit   admin (the media
//                                                                          layer acts as admin)
//   get / play / export a recording   admin and qa_reviewer: all; agent: their own (the
//                                     recording's agent_id); supervisor: recordings of an
//                                     agent of one of their teams (the agents table the review
//                                     intake keeps), or of an interaction with a review of
//                                     one of their teams
// Errors are canonical codes with a stable reason first in the message ("ROLE: ...",
// "NOT_FOUND: ...", "CHECKSUM_MISMATCH: ...").
//
// Thread-safe: gRPC's sync server runs handlers on its pool; all state is in the store and on
// the media volume.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recording/core/access.h"
#include "recording/service/metrics.h"
#include "recording/service/publisher.h"
#include "recording/service/recording_intake.h"
#include "recording/storage/media_volume.h"
#include "recording/storage/store.h"
#include "switchboard/recording/v1/recording.grpc.pb.h"

namespace sb::recording {

struct RecordingServiceOptions {
  int64_t max_upload_bytes = 256LL << 20;
  int32_t play_chunk_bytes = 64 << 10;
  std::function<int64_t()> now_ms;  // unix milliseconds; required
};

// The media file name of a recording id: [A-Za-z0-9.-] kept, every other byte (and '_') as
// "_XX" hex, so "call-1/rec" -> "call-1_2Frec" (injective; the volume wants safe names).
std::string MediaName(std::string_view id);

class RecordingServiceImpl final : public ::switchboard::recording::v1::RecordingService::Service {
 public:
  RecordingServiceImpl(storage::RecordingStore* store, const storage::MediaVolume* volume,
                       RecordingIntake* intake, RecordingEvents* events, RecordingMetrics* metrics,
                       RecordingServiceOptions options);

  grpc::Status StartRecording(grpc::ServerContext*, const v1::StartRecordingRequest*,
                              v1::Recording*) override;
  grpc::Status PauseRecording(grpc::ServerContext*, const v1::RecordingActionRequest*,
                              v1::Recording*) override;
  grpc::Status ResumeRecording(grpc::ServerContext*, const v1::RecordingActionRequest*,
                               v1::Recording*) override;
  grpc::Status StopRecording(grpc::ServerContext*, const v1::RecordingActionRequest*,
                             v1::Recording*) override;
  grpc::Status UploadMedia(grpc::ServerContext*, grpc::ServerReader<v1::MediaChunk>*,
                           v1::UploadMediaResponse*) override;
  grpc::Status GetRecording(grpc::ServerContext*, const v1::GetRecordingRequest*,
                            v1::Recording*) override;
  grpc::Status PlayRecording(grpc::ServerContext*, const v1::PlayRecordingRequest*,
                             grpc::ServerWriter<v1::MediaChunk>*) override;
  grpc::Status SetLegalHold(grpc::ServerContext*, const v1::SetLegalHoldRequest*,
                            v1::Recording*) override;
  grpc::Status EraseCustomer(grpc::ServerContext*, const v1::EraseCustomerRequest*,
                             v1::EraseCustomerResponse*) override;
  grpc::Status PutRetentionRule(grpc::ServerContext*, const v1::PutRetentionRuleRequest*,
                                v1::RetentionRule*) override;
  grpc::Status ListRetentionRules(grpc::ServerContext*, const v1::ListRetentionRulesRequest*,
                                  v1::ListRetentionRulesResponse*) override;
  grpc::Status RunRetention(grpc::ServerContext*, const v1::RunRetentionRequest*,
                            v1::RunRetentionResponse*) override;
  grpc::Status VerifyAudit(grpc::ServerContext*, const v1::VerifyAuditRequest*,
                           v1::VerifyAuditResponse*) override;
  grpc::Status ListAudit(grpc::ServerContext*, const v1::ListAuditRequest*,
                         v1::ListAuditResponse*) override;

  // The retention job for one tenant (the RPC and the periodic job): deletes the media of
  // expired recordings not on hold, marks them DELETED with a "delete" audit entry. Returns the
  // ids deleted.
  absl::StatusOr<std::vector<std::string>> RunRetentionFor(const std::string& tenant,
                                                           const std::string& principal);

 private:
  // Appends one audit entry in its own transaction together with `change` (may be null).
  absl::StatusOr<storage::AuditEntry> Audit(
      const std::string& tenant, const std::string& recording_id, const std::string& action,
      const std::string& principal, const std::string& detail,
      const std::function<absl::Status(storage::RecordingStore&)>& change = nullptr);
  // Whether the caller may see (get, play) the recording (the role rules above).
  absl::Status CanSee(const qa::Principal& principal, const storage::Recording& recording);
  grpc::Status Act(int op, const v1::RecordingActionRequest* request, v1::Recording* response);

  storage::RecordingStore* const store_;
  const storage::MediaVolume* const volume_;
  RecordingIntake* const intake_;
  RecordingEvents* const events_;
  RecordingMetrics* const metrics_;
  const RecordingServiceOptions options_;
};

}  // namespace sb::recording
