#include "recording/service/recording_service.h"

#include <algorithm>
#include <fstream>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "recording/core/access.h"
#include "recording/storage/audit_chain.h"
#include "spdlog/spdlog.h"

namespace sb::recording {
namespace {

using storage::RecordingState;

grpc::Status ToStatus(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string ReasonOf(const absl::Status& s) {
  const std::string m(s.message());
  const size_t colon = m.find(':');
  return colon == std::string::npos ? std::string(absl::StatusCodeToString(s.code()))
                                    : m.substr(0, colon);
}

grpc::Status Error(grpc::StatusCode code, const std::string& reason, const std::string& text) {
  return grpc::Status(code, absl::StrCat(reason, ": ", text));
}

// The caller, checked: a subject and a known role. Tenant = the request's tenant.
absl::StatusOr<qa::Principal> Caller(const std::string& tenant, const v1::Principal& p) {
  if (p.subject().empty()) {
    return absl::UnauthenticatedError(
        "NO_PRINCIPAL: principal.subject: required (who is asking: the principal rides on every "
        "request)");
  }
  std::optional<qa::Role> role = qa::ParseRole(p.role());
  if (!role.has_value()) {
    return absl::PermissionDeniedError(absl::StrCat("ROLE: principal.role: '", p.role(),
                                                    "' is not agent, supervisor, qa_reviewer "
                                                    "or admin"));
  }
  qa::Principal out;
  out.tenant = tenant;
  out.subject = p.subject();
  out.role = *role;
  out.teams.assign(p.teams().begin(), p.teams().end());
  return out;
}

std::string Who(const qa::Principal& p) {
  return absl::StrCat(qa::RoleName(p.role), ":", p.subject);
}

// Admin only (the media layer authenticates as an admin service account).
absl::StatusOr<qa::Principal> Admin(const std::string& tenant, const v1::Principal& p,
                                    const std::string& what) {
  absl::StatusOr<qa::Principal> caller = Caller(tenant, p);
  if (!caller.ok()) return caller.status();
  if (caller->role != qa::Role::kAdmin) {
    return absl::PermissionDeniedError(absl::StrCat("ROLE: a ", qa::RoleName(caller->role),
                                                    " cannot ", what, " (allowed: admin)"));
  }
  return caller;
}

absl::Status RequireTenant(const std::string& tenant) {
  if (tenant.empty()) return absl::InvalidArgumentError("MISSING_FIELD: tenant_id: required");
  return absl::OkStatus();
}

absl::Status RequireId(const std::string& field, const std::string& v) {
  if (v.empty())
    return absl::InvalidArgumentError(absl::StrCat("MISSING_FIELD: ", field, ": required"));
  return absl::OkStatus();
}

}  // namespace

std::string MediaName(std::string_view id) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    const bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || (c == '.' && !out.empty());
    if (safe) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('_');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  // Long ids: a prefix plus a hash keeps the name within the volume's 128 bytes, still unique.
  if (out.size() > 120)
    out = absl::StrCat(out.substr(0, 50), "_", storage::Sha256::Hex(id).substr(0, 32));
  return out;
}

RecordingServiceImpl::RecordingServiceImpl(storage::RecordingStore* store,
                                           const storage::MediaVolume* volume,
                                           RecordingIntake* intake, RecordingEvents* events,
                                           RecordingMetrics* metrics,
                                           RecordingServiceOptions options)
    : store_(store),
      volume_(volume),
      intake_(intake),
      events_(events),
      metrics_(metrics),
      options_(std::move(options)) {}

absl::StatusOr<storage::AuditEntry> RecordingServiceImpl::Audit(
    const std::string& tenant, const std::string& recording_id, const std::string& action,
    const std::string& principal, const std::string& detail,
    const std::function<absl::Status(storage::RecordingStore&)>& change) {
  storage::AuditEntry appended;
  absl::Status s = store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    if (change) {
      if (absl::Status c = change(tx); !c.ok()) return c;
    }
    storage::AuditEntry e;
    e.tenant_id = tenant;
    e.recording_id = recording_id;
    e.action = action;
    e.principal = principal;
    e.detail = detail;
    e.at_ms = options_.now_ms();
    absl::StatusOr<storage::AuditEntry> a = tx.AppendAudit(e);
    if (!a.ok()) return a.status();
    appended = *a;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (metrics_ != nullptr) metrics_->Action(action);
  if (events_ != nullptr) events_->AuditAppended(appended);
  return appended;
}

// ---- Lifecycle ----

grpc::Status RecordingServiceImpl::StartRecording(grpc::ServerContext*,
                                                  const v1::StartRecordingRequest* r,
                                                  v1::Recording* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "start recordings");
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("interaction_id", r->interaction_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  RecordingIntake::StartSpec spec;
  spec.tenant_id = r->tenant_id();
  spec.recording_id = r->recording_id();
  spec.interaction_id = r->interaction_id();
  spec.queue_id = r->queue_id();
  spec.agent_id = r->agent_id();
  spec.customer_id = r->customer_id();
  spec.at_ms = options_.now_ms();
  absl::StatusOr<storage::Recording> rec = intake_->Start(spec, Who(*caller));
  if (!rec.ok()) return ToStatus(rec.status());
  *response = ToProto(*rec);
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::Act(int op, const v1::RecordingActionRequest* r,
                                       v1::Recording* response) {
  static constexpr const char* kWhat[] = {"pause recordings", "resume recordings",
                                          "stop recordings"};
  auto caller = Admin(r->tenant_id(), r->principal(), kWhat[op]);
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("recording_id", r->recording_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  if (r->offset_ms() < 0) {
    return Error(grpc::StatusCode::INVALID_ARGUMENT, "BAD_OFFSET",
                 absl::StrCat("offset_ms: ", r->offset_ms(), " is negative"));
  }
  RecordingIntake::Action a;
  a.tenant_id = r->tenant_id();
  a.recording_id = r->recording_id();
  a.offset_ms = r->offset_ms();
  a.reason = r->reason();
  a.principal = Who(*caller);
  a.at_ms = options_.now_ms();
  absl::StatusOr<storage::Recording> rec = op == 0   ? intake_->Pause(a)
                                           : op == 1 ? intake_->Resume(a)
                                                     : intake_->Stop(a);
  if (!rec.ok()) return ToStatus(rec.status());
  *response = ToProto(*rec);
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::PauseRecording(grpc::ServerContext*,
                                                  const v1::RecordingActionRequest* r,
                                                  v1::Recording* response) {
  return Act(0, r, response);
}
grpc::Status RecordingServiceImpl::ResumeRecording(grpc::ServerContext*,
                                                   const v1::RecordingActionRequest* r,
                                                   v1::Recording* response) {
  return Act(1, r, response);
}
grpc::Status RecordingServiceImpl::StopRecording(grpc::ServerContext*,
                                                 const v1::RecordingActionRequest* r,
                                                 v1::Recording* response) {
  return Act(2, r, response);
}

// ---- Media ----

grpc::Status RecordingServiceImpl::UploadMedia(grpc::ServerContext*,
                                               grpc::ServerReader<v1::MediaChunk>* reader,
                                               v1::UploadMediaResponse* response) {
  auto fail = [&](const absl::Status& s) {
    if (metrics_ != nullptr) metrics_->UploadFailed(ReasonOf(s));
    return ToStatus(s);
  };
  v1::MediaChunk chunk;
  if (!reader->Read(&chunk)) {
    return fail(absl::InvalidArgumentError("MISSING_HEADER: the upload sent no message"));
  }
  if (!chunk.has_header()) {
    return fail(absl::InvalidArgumentError(
        "MISSING_HEADER: the first message must carry the header (tenant, principal, "
        "recording_id, total_bytes, sha256)"));
  }
  const v1::MediaHeader header = chunk.header();
  auto caller = Admin(header.tenant_id(), header.principal(), "upload media");
  if (!caller.ok()) return fail(caller.status());
  for (auto s :
       {RequireTenant(header.tenant_id()), RequireId("recording_id", header.recording_id())}) {
    if (!s.ok()) return fail(s);
  }
  if (!storage::IsSha256Hex(header.sha256())) {
    return fail(absl::InvalidArgumentError(
        "BAD_SHA256: header.sha256: must be 64 lowercase hex digits (the SHA-256 of the media)"));
  }
  if (header.total_bytes() > options_.max_upload_bytes) {
    return fail(absl::ResourceExhaustedError(absl::StrCat(
        "TOO_LARGE: header.total_bytes: ", header.total_bytes(), " exceeds the limit of ",
        options_.max_upload_bytes, " bytes (--max-upload-bytes)")));
  }
  absl::StatusOr<storage::Recording> rec =
      store_->GetRecording(header.tenant_id(), header.recording_id());
  if (!rec.ok()) return fail(rec.status());
  if (rec->state == RecordingState::kDeleted || rec->state == RecordingState::kErased) {
    return fail(absl::FailedPreconditionError(
        absl::StrCat("RECORDING_GONE: recording '", rec->id, "' is ",
                     std::string(storage::RecordingStateName(rec->state)))));
  }
  if (rec->media.has_value()) {
    return fail(absl::AlreadyExistsError(absl::StrCat("MEDIA_ALREADY_SET: recording '", rec->id,
                                                      "' already has media (sha256 ",
                                                      rec->media->sha256_hex, ")")));
  }
  absl::StatusOr<std::unique_ptr<storage::MediaUpload>> upload = volume_->Begin(
      MediaName(header.tenant_id()), MediaName(header.recording_id()), options_.max_upload_bytes);
  if (!upload.ok()) return fail(upload.status());
  // Every message is a chunk; the first carries the header too.
  do {
    if (absl::Status s = (*upload)->Append(chunk.seq(), chunk.data()); !s.ok()) return fail(s);
  } while (reader->Read(&chunk));
  if (header.total_bytes() > 0 && (*upload)->bytes() != header.total_bytes()) {
    (*upload)->Abort();
    return fail(
        absl::InvalidArgumentError(absl::StrCat("SIZE_MISMATCH: received ", (*upload)->bytes(),
                                                " bytes, the header said ", header.total_bytes())));
  }
  const int64_t chunks = (*upload)->chunks();
  absl::StatusOr<storage::MediaInfo> info = (*upload)->Commit(header.sha256());
  if (!info.ok()) return fail(info.status());
  const int64_t now = options_.now_ms();
  absl::StatusOr<storage::AuditEntry> audited =
      Audit(header.tenant_id(), header.recording_id(), "upload", Who(*caller),
            absl::StrCat("bytes=", info->bytes, " sha256=", info->sha256_hex, " chunks=", chunks),
            [&](storage::RecordingStore& tx) {
              return tx.SetMedia(header.tenant_id(), header.recording_id(), *info, now);
            });
  if (!audited.ok()) {
    // Nothing partial: the file goes when the store refused it.
    if (absl::Status d = volume_->Delete(info->path); !d.ok()) {
      spdlog::error("upload of {}: store refused ({}), and the file {} could not be removed: {}",
                    header.recording_id(), audited.status().ToString(), info->path, d.ToString());
    }
    return fail(audited.status());
  }
  if (metrics_ != nullptr) metrics_->Uploaded(info->bytes);
  if (events_ != nullptr) {
    absl::StatusOr<storage::Recording> after =
        store_->GetRecording(header.tenant_id(), header.recording_id());
    if (after.ok()) events_->RecordingChanged(*after);
  }
  response->set_bytes(info->bytes);
  response->set_sha256(info->sha256_hex);
  response->set_chunks(chunks);
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::GetRecording(grpc::ServerContext*,
                                                const v1::GetRecordingRequest* r,
                                                v1::Recording* response) {
  auto caller = Caller(r->tenant_id(), r->principal());
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("recording_id", r->recording_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  absl::StatusOr<storage::Recording> rec = store_->GetRecording(r->tenant_id(), r->recording_id());
  if (!rec.ok()) return ToStatus(rec.status());
  if (absl::Status s = CanSee(*caller, *rec); !s.ok()) return ToStatus(s);
  *response = ToProto(*rec);
  return grpc::Status::OK;
}

absl::Status RecordingServiceImpl::CanSee(const qa::Principal& p, const storage::Recording& rec) {
  switch (p.role) {
    case qa::Role::kAdmin:
    case qa::Role::kQaReviewer:
      return absl::OkStatus();
    case qa::Role::kAgent:
      if (rec.agent_id == p.subject) return absl::OkStatus();
      return absl::PermissionDeniedError(
          absl::StrCat("NOT_OWN: agent '", p.subject, "' may only access their own recordings"));
    case qa::Role::kSupervisor: {
      // The agent's team (from the routing configuration, kept by the review intake)...
      if (!p.teams.empty() && !rec.agent_id.empty()) {
        absl::StatusOr<storage::AgentRecord> agent = store_->GetAgent(rec.tenant_id, rec.agent_id);
        if (agent.ok() && !agent->team_id.empty() && p.InTeam(agent->team_id)) {
          return absl::OkStatus();
        }
      }
      // ...or a review of the interaction opened for one of the supervisor's teams.
      if (!p.teams.empty()) {
        storage::ReviewFilter f;
        f.tenant_id = rec.tenant_id;
        f.interaction_id = rec.interaction_id;
        f.team_ids = p.teams;
        if (f.team_ids.size() > storage::kMaxTeamIds) f.team_ids.resize(storage::kMaxTeamIds);
        f.limit = 1;
        absl::StatusOr<storage::ReviewPage> page = store_->ListReviews(f);
        if (!page.ok()) return page.status();
        if (!page->reviews.empty()) return absl::OkStatus();
      }
      return absl::PermissionDeniedError(
          absl::StrCat("NOT_TEAM: the recording's agent is not in supervisor '", p.subject,
                       "''s teams (", absl::StrJoin(p.teams, ","), ")"));
    }
  }
  return absl::PermissionDeniedError("ROLE: unknown role");
}

grpc::Status RecordingServiceImpl::PlayRecording(grpc::ServerContext* context,
                                                 const v1::PlayRecordingRequest* r,
                                                 grpc::ServerWriter<v1::MediaChunk>* writer) {
  auto caller = Caller(r->tenant_id(), r->principal());
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("recording_id", r->recording_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  absl::StatusOr<storage::Recording> rec = store_->GetRecording(r->tenant_id(), r->recording_id());
  if (!rec.ok()) return ToStatus(rec.status());
  if (absl::Status s = CanSee(*caller, *rec); !s.ok()) return ToStatus(s);
  if (!rec->media.has_value()) {
    return Error(grpc::StatusCode::FAILED_PRECONDITION, "NO_MEDIA",
                 absl::StrCat("recording '", rec->id, "' has no media (",
                              std::string(storage::RecordingStateName(rec->state)), ")"));
  }
  const std::string path = absl::StrCat(volume_->root(), "/", rec->media->path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error(grpc::StatusCode::DATA_LOSS, "MEDIA_MISSING",
                 absl::StrCat("the media file of recording '", rec->id, "' is missing"));
  }
  // Audited before the first byte leaves: a cancelled playback still shows.
  const std::string action = r->export_() ? "export" : "play";
  absl::StatusOr<storage::AuditEntry> audited = Audit(r->tenant_id(), rec->id, action, Who(*caller),
                                                      absl::StrCat("bytes=", rec->media->bytes));
  if (!audited.ok()) return ToStatus(audited.status());
  std::string buffer(static_cast<size_t>(options_.play_chunk_bytes), '\0');
  storage::Sha256 sha;
  int64_t seq = 0;
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (n <= 0) break;
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
    v1::MediaChunk chunk;
    chunk.set_seq(seq++);
    chunk.set_data(buffer.data(), static_cast<size_t>(n));
    sha.Update(std::string_view(buffer.data(), static_cast<size_t>(n)));
    if (!writer->Write(chunk)) return grpc::Status::CANCELLED;
  }
  if (sha.FinishHex() != rec->media->sha256_hex) {
    return Error(grpc::StatusCode::DATA_LOSS, "CHECKSUM_MISMATCH",
                 "the stored media no longer matches its SHA-256");
  }
  return grpc::Status::OK;
}

// ---- Hold, erasure, retention ----

grpc::Status RecordingServiceImpl::SetLegalHold(grpc::ServerContext*,
                                                const v1::SetLegalHoldRequest* r,
                                                v1::Recording* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "set legal holds");
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("recording_id", r->recording_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  absl::StatusOr<storage::Recording> rec = store_->GetRecording(r->tenant_id(), r->recording_id());
  if (!rec.ok()) return ToStatus(rec.status());
  if (rec->legal_hold != r->hold()) {
    const int64_t now = options_.now_ms();
    absl::StatusOr<storage::AuditEntry> audited =
        Audit(r->tenant_id(), r->recording_id(), r->hold() ? "hold" : "release", Who(*caller),
              r->reason(), [&](storage::RecordingStore& tx) {
                return tx.SetLegalHold(r->tenant_id(), r->recording_id(), r->hold(), now);
              });
    if (!audited.ok()) return ToStatus(audited.status());
    rec = store_->GetRecording(r->tenant_id(), r->recording_id());
    if (!rec.ok()) return ToStatus(rec.status());
    if (events_ != nullptr) events_->RecordingChanged(*rec);
  }
  *response = ToProto(*rec);
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::EraseCustomer(grpc::ServerContext*,
                                                 const v1::EraseCustomerRequest* r,
                                                 v1::EraseCustomerResponse* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "erase customers");
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("customer_id", r->customer_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  absl::StatusOr<storage::EraseResult> erased =
      store_->EraseCustomer(r->tenant_id(), r->customer_id(), Who(*caller), options_.now_ms());
  if (!erased.ok()) return ToStatus(erased.status());
  for (const std::string& path : erased->media_paths) {
    if (absl::Status d = volume_->Delete(path); !d.ok()) {
      spdlog::error("erase: the media file {} could not be removed: {}", path, d.ToString());
      return Error(grpc::StatusCode::INTERNAL, "MEDIA_DELETE_FAILED",
                   absl::StrCat("the recordings are erased in the store but a media file could "
                                "not be removed (",
                                d.message(), "); retry the request"));
    }
  }
  for (const std::string& id : erased->erased_recording_ids) {
    if (metrics_ != nullptr) metrics_->Action("erase");
    if (events_ == nullptr) continue;
    absl::StatusOr<storage::Recording> rec = store_->GetRecording(r->tenant_id(), id);
    if (rec.ok()) events_->RecordingChanged(*rec);
    absl::StatusOr<std::vector<storage::AuditEntry>> entries =
        store_->ListAudit(r->tenant_id(), id);
    if (entries.ok() && !entries->empty()) events_->AuditAppended(entries->back());
  }
  *response->mutable_erased_recording_ids() = {erased->erased_recording_ids.begin(),
                                               erased->erased_recording_ids.end()};
  *response->mutable_held_recording_ids() = {erased->held_recording_ids.begin(),
                                             erased->held_recording_ids.end()};
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::PutRetentionRule(grpc::ServerContext*,
                                                    const v1::PutRetentionRuleRequest* r,
                                                    v1::RetentionRule* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "set retention rules");
  if (!caller.ok()) return ToStatus(caller.status());
  if (absl::Status s = RequireTenant(r->tenant_id()); !s.ok()) return ToStatus(s);
  if (!r->rule().tenant_id().empty() && r->rule().tenant_id() != r->tenant_id()) {
    return Error(grpc::StatusCode::INVALID_ARGUMENT, "WRONG_TENANT",
                 "rule.tenant_id: differs from the request's tenant_id");
  }
  if (r->rule().days() <= 0 || r->rule().days() > 36500) {
    return Error(grpc::StatusCode::INVALID_ARGUMENT, "BAD_DAYS",
                 absl::StrCat("rule.days: ", r->rule().days(), " is not 1..36500"));
  }
  storage::RetentionRule rule{r->tenant_id(), r->rule().queue_id(), r->rule().days()};
  absl::StatusOr<storage::AuditEntry> audited =
      Audit(r->tenant_id(), "", "retention_rule", Who(*caller),
            absl::StrCat("queue=", rule.queue_id, " days=", rule.days),
            [&](storage::RecordingStore& tx) { return tx.PutRetentionRule(rule); });
  if (!audited.ok()) return ToStatus(audited.status());
  intake_->NoteTenant(r->tenant_id());
  response->set_tenant_id(rule.tenant_id);
  response->set_queue_id(rule.queue_id);
  response->set_days(rule.days);
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::ListRetentionRules(grpc::ServerContext*,
                                                      const v1::ListRetentionRulesRequest* r,
                                                      v1::ListRetentionRulesResponse* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "list retention rules");
  if (!caller.ok()) return ToStatus(caller.status());
  if (absl::Status s = RequireTenant(r->tenant_id()); !s.ok()) return ToStatus(s);
  absl::StatusOr<std::vector<storage::RetentionRule>> rules =
      store_->ListRetentionRules(r->tenant_id());
  if (!rules.ok()) return ToStatus(rules.status());
  for (const storage::RetentionRule& rule : *rules) {
    v1::RetentionRule* out = response->add_rules();
    out->set_tenant_id(rule.tenant_id);
    out->set_queue_id(rule.queue_id);
    out->set_days(rule.days);
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::vector<std::string>> RecordingServiceImpl::RunRetentionFor(
    const std::string& tenant, const std::string& principal) {
  std::vector<std::string> deleted;
  while (true) {
    absl::StatusOr<std::vector<storage::ExpiredRecording>> expired =
        store_->ListExpiredRecordings(tenant, options_.now_ms(), 100);
    if (!expired.ok()) return expired.status();
    if (expired->empty()) break;
    size_t progressed = 0;
    for (const storage::ExpiredRecording& x : *expired) {
      // The file first: if the store update then fails, the next run retries (Delete of a file
      // already gone is OK); the other order could leave a file nobody points at.
      if (!x.media_path.empty()) {
        if (absl::Status d = volume_->Delete(x.media_path); !d.ok()) return d;
      }
      absl::StatusOr<storage::Recording> rec = store_->GetRecording(tenant, x.id);
      if (!rec.ok()) return rec.status();
      const int64_t now = options_.now_ms();
      absl::StatusOr<storage::AuditEntry> audited = Audit(
          tenant, x.id, "delete", principal,
          absl::StrCat("retention days=", x.retention_days, " queue=", x.queue_id),
          [&](storage::RecordingStore& tx) {
            return tx.SetRecordingState(tenant, x.id, rec->state, RecordingState::kDeleted, now)
                .status();
          });
      if (!audited.ok()) {
        spdlog::warn("retention: recording {} of {} not deleted: {}", x.id, tenant,
                     audited.status().ToString());
        continue;
      }
      ++progressed;
      deleted.push_back(x.id);
      if (events_ != nullptr) {
        absl::StatusOr<storage::Recording> after = store_->GetRecording(tenant, x.id);
        if (after.ok()) events_->RecordingChanged(*after);
      }
    }
    if (progressed == 0) break;  // nothing moved: do not spin
  }
  if (metrics_ != nullptr && !deleted.empty()) {
    metrics_->RetentionDeleted(static_cast<int64_t>(deleted.size()));
  }
  return deleted;
}

grpc::Status RecordingServiceImpl::RunRetention(grpc::ServerContext*,
                                                const v1::RunRetentionRequest* r,
                                                v1::RunRetentionResponse* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "run retention");
  if (!caller.ok()) return ToStatus(caller.status());
  if (absl::Status s = RequireTenant(r->tenant_id()); !s.ok()) return ToStatus(s);
  absl::StatusOr<std::vector<std::string>> deleted = RunRetentionFor(r->tenant_id(), Who(*caller));
  if (!deleted.ok()) return ToStatus(deleted.status());
  *response->mutable_deleted_recording_ids() = {deleted->begin(), deleted->end()};
  return grpc::Status::OK;
}

// ---- Audit ----

grpc::Status RecordingServiceImpl::VerifyAudit(grpc::ServerContext*,
                                               const v1::VerifyAuditRequest* r,
                                               v1::VerifyAuditResponse* response) {
  // The chain spans every tenant: the principal's tenant is not checked, the role is.
  auto caller = Admin("", r->principal(), "verify the audit log");
  if (!caller.ok()) return ToStatus(caller.status());
  absl::StatusOr<storage::AuditVerifyResult> result = store_->VerifyAudit();
  if (!result.ok()) return ToStatus(result.status());
  response->set_ok(result->ok);
  response->set_entries_checked(result->entries_checked);
  response->set_first_bad_seq(result->first_bad_seq);
  if (!result->ok) response->set_reason(std::string(storage::AuditTamperName(result->reason)));
  response->set_detail(result->detail);
  if (!result->ok) {
    spdlog::error("audit chain verification FAILED at seq {}: {} ({})", result->first_bad_seq,
                  storage::AuditTamperName(result->reason), result->detail);
  }
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::ListAudit(grpc::ServerContext*, const v1::ListAuditRequest* r,
                                             v1::ListAuditResponse* response) {
  auto caller = Admin(r->tenant_id(), r->principal(), "list the audit log");
  if (!caller.ok()) return ToStatus(caller.status());
  for (auto s : {RequireTenant(r->tenant_id()), RequireId("recording_id", r->recording_id())}) {
    if (!s.ok()) return ToStatus(s);
  }
  if (r->limit() < 0 || r->limit() > 1000) {
    return Error(grpc::StatusCode::INVALID_ARGUMENT, "BAD_LIMIT",
                 absl::StrCat("limit: ", r->limit(), " is not 0..1000"));
  }
  const int limit = r->limit() == 0 ? 100 : r->limit();
  absl::StatusOr<std::vector<storage::AuditEntry>> entries =
      store_->ListAudit(r->tenant_id(), r->recording_id());
  if (!entries.ok()) return ToStatus(entries.status());
  for (const storage::AuditEntry& e : *entries) {
    if (e.seq <= r->after_seq()) continue;
    if (response->entries_size() >= limit) break;
    *response->add_entries() = ToProto(e);
  }
  return grpc::Status::OK;
}

}  // namespace sb::recording
