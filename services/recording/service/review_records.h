// The glue between the review workflow's three views of a review: the storage rows
// (storage::Review + storage::ReviewDetails + storage::Dispute), the QA core's qa::Review that the
// workflow and role checks take, and the wire's switchboard.recording.v1.Review. Shared by
// ReviewIntake, ReviewServiceImpl and FeedbackServiceImpl. Pure mapping plus two small store
// helpers; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "google/protobuf/timestamp.pb.h"
#include "recording/core/review.h"
#include "recording/core/triggers.h"
#include "recording/storage/store.h"
#include "switchboard/recording/v1/recording.pb.h"

namespace sb::recording {

// The storage kind of a QA kind. MANUAL is MANUAL_AGENT when the agent flagged their own call,
// else MANUAL_SUPERVISOR; POLICY (a create_review obligation with another reason) has no storage
// kind of its own and is stored as MANUAL_SUPERVISOR (its QA kind is kept in the details).
storage::ReviewKind StorageKindOf(qa::ReviewKind kind, bool flagged_by_agent);
// The QA kind of a storage kind (MANUAL_* and CALIBRATION are MANUAL).
qa::ReviewKind QaKindOf(storage::ReviewKind kind);
storage::ReviewStatus StorageStatusOf(qa::ReviewState state);
qa::ReviewState QaStateOf(storage::ReviewStatus status);

// A review as stored: the row, its details (absent for rows written by other code) and dispute.
struct ReviewRecord {
  storage::Review row;
  std::optional<storage::ReviewDetails> details;
  std::optional<storage::Dispute> dispute;

  // The QA core's view (for access checks and workflow transitions).
  qa::Review ToQa() const;
  // Details to write back: the stored ones, or fresh ones built from the row.
  storage::ReviewDetails DetailsOrNew() const;
};

// Loads the row, details and dispute (NOT_FOUND for an unknown review or another tenant's).
absl::StatusOr<ReviewRecord> LoadReviewRecord(storage::RecordingStore& store,
                                              std::string_view tenant, std::string_view review_id);

// The wire form. `details` may be null (the kind then comes from the storage kind).
switchboard::recording::v1::Review ToProto(const storage::Review& row,
                                           const storage::ReviewDetails* details);

// A deterministic review id for a dedupe key: "rv-" + 16 hex digits of its hash, so a retried
// create lands on the same id.
std::string ReviewIdFor(const std::string& tenant, const std::string& dedupe_key);

// Creates the review of `spec` (row + details) in `tx`, idempotently on the spec's dedupe key.
// created=false when it existed already (its stored row is returned).
absl::StatusOr<storage::Created<storage::Review>> CreateReviewFromSpec(
    storage::RecordingStore& tx, const qa::ReviewTaskSpec& spec, bool flagged_by_agent);

// Unix milliseconds <-> protobuf Timestamp.
google::protobuf::Timestamp ToTimestamp(int64_t unix_ms);
int64_t ToUnixMs(const google::protobuf::Timestamp& ts);

// The system clock in unix milliseconds (the default clock of the handlers).
int64_t SystemNowMs();

}  // namespace sb::recording
