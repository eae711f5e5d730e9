// The review state machine (docs/qa.md, "Workflow"):
//
//   OPEN      --Submit (qa_reviewer, admin)-------------------------------> SUBMITTED
//   SUBMITTED --Acknowledge (the agent)-----------------------------------> ACKNOWLEDGED
//   SUBMITTED --Dispute (the agent, with a reason)------------------------> DISPUTED
//   DISPUTED  --Resolve (supervisor of the team, admin; UPHELD | AMENDED)--> RESOLVED
//
// Each function takes the current review and returns the next version; the input is never
// changed, so on an error nothing happened. Checks run in this order, and the first failure is
// returned:
//   1. the principal may act on the review at all (access.h reasons: NO_PRINCIPAL, WRONG_TENANT,
//      ROLE, NOT_OWN, NOT_TEAM, CONFLICT_OF_INTEREST);
//   2. the review is in a state the action leaves from: FailedPrecondition "INVALID_TRANSITION:
//      cannot dispute a review that is ACKNOWLEDGED (allowed from SUBMITTED)";
//   3. the arguments: InvalidArgument DISPUTE_REASON_REQUIRED, RESOLUTION_REQUIRED,
//      RESOLUTION_NOTE_REQUIRED, AMENDED_SCORE_REQUIRED, UPHELD_TAKES_NO_SCORE, TEXT_TOO_LONG.
// Pure functions; time is passed in.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "recording/core/access.h"
#include "recording/core/review.h"
#include "recording/core/scoring.h"

namespace sb::recording::qa {

enum class ReviewAction { kSubmit, kAcknowledge, kDispute, kResolve };
// "submit", "acknowledge", "dispute", "resolve".
const char* ReviewActionName(ReviewAction action);

// The longest dispute reason or resolution note accepted.
inline constexpr size_t kMaxWorkflowTextLength = 4000;

// OPEN -> SUBMITTED with the evaluation's score; `principal` becomes the reviewer.
absl::StatusOr<Review> Submit(const Review& review, const Principal& principal,
                              const ScoreResult& evaluation, int64_t now_ms);
// SUBMITTED -> ACKNOWLEDGED.
absl::StatusOr<Review> Acknowledge(const Review& review, const Principal& principal,
                                   int64_t now_ms);
// SUBMITTED -> DISPUTED; `reason` (what the agent disagrees with) must not be blank.
absl::StatusOr<Review> Dispute(const Review& review, const Principal& principal,
                               std::string_view reason, int64_t now_ms);
// DISPUTED -> RESOLVED. UPHELD keeps the score; AMENDED needs the re-scored evaluation, whose
// score replaces the old one (kept in score_before_amendment). The note must not be blank.
absl::StatusOr<Review> Resolve(const Review& review, const Principal& principal,
                               Resolution resolution, std::string_view note,
                               const std::optional<ScoreResult>& amended, int64_t now_ms);

// The actions `principal` could take on `review` now (for a UI's buttons), in enum order.
std::vector<ReviewAction> AllowedActions(const Review& review, const Principal& principal);

}  // namespace sb::recording::qa
