#include "recording/storage/store.h"

#include <array>
#include <utility>

namespace sb::recording::storage {
namespace {

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E v) {
  for (const auto& [value, name] : table) {
    if (value == v) return name;
  }
  return "UNKNOWN";
}

template <typename E, size_t N>
std::optional<E> Parse(const std::array<std::pair<E, std::string_view>, N>& table,
                       std::string_view name) {
  for (const auto& [value, n] : table) {
    if (n == name) return value;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<RecordingState, std::string_view>, 5> kRecordingStates{{
    {RecordingState::kRecording, "RECORDING"},
    {RecordingState::kPaused, "PAUSED"},
    {RecordingState::kStopped, "STOPPED"},
    {RecordingState::kDeleted, "DELETED"},
    {RecordingState::kErased, "ERASED"},
}};

constexpr std::array<std::pair<ReviewKind, std::string_view>, 7> kReviewKinds{{
    {ReviewKind::kDisconnect, "DISCONNECT"},
    {ReviewKind::kEscalation, "ESCALATION"},
    {ReviewKind::kLowCsat, "LOW_CSAT"},
    {ReviewKind::kSample, "SAMPLE"},
    {ReviewKind::kManualSupervisor, "MANUAL_SUPERVISOR"},
    {ReviewKind::kManualAgent, "MANUAL_AGENT"},
    {ReviewKind::kCalibration, "CALIBRATION"},
}};

constexpr std::array<std::pair<ReviewStatus, std::string_view>, 5> kReviewStatuses{{
    {ReviewStatus::kOpen, "OPEN"},
    {ReviewStatus::kSubmitted, "SUBMITTED"},
    {ReviewStatus::kAcknowledged, "ACKNOWLEDGED"},
    {ReviewStatus::kDisputed, "DISPUTED"},
    {ReviewStatus::kResolved, "RESOLVED"},
}};

constexpr std::array<std::pair<CoachingStatus, std::string_view>, 3> kCoachingStatuses{{
    {CoachingStatus::kOpen, "OPEN"},
    {CoachingStatus::kDone, "DONE"},
    {CoachingStatus::kCancelled, "CANCELLED"},
}};

}  // namespace

std::string_view RecordingStateName(RecordingState v) { return NameOf(kRecordingStates, v); }
std::string_view ReviewKindName(ReviewKind v) { return NameOf(kReviewKinds, v); }
std::string_view ReviewStatusName(ReviewStatus v) { return NameOf(kReviewStatuses, v); }
std::string_view CoachingStatusName(CoachingStatus v) { return NameOf(kCoachingStatuses, v); }

std::optional<RecordingState> ParseRecordingState(std::string_view name) {
  return Parse(kRecordingStates, name);
}
std::optional<ReviewKind> ParseReviewKind(std::string_view name) {
  return Parse(kReviewKinds, name);
}
std::optional<ReviewStatus> ParseReviewStatus(std::string_view name) {
  return Parse(kReviewStatuses, name);
}
std::optional<CoachingStatus> ParseCoachingStatus(std::string_view name) {
  return Parse(kCoachingStatuses, name);
}

}  // namespace sb::recording::storage
