#include "recording/core/review.h"

#include <utility>

namespace sb::recording::qa {
namespace {

template <typename E, size_t N>
std::optional<E> Find(const std::pair<E, const char*> (&table)[N], std::string_view name) {
  for (const auto& [value, spelling] : table) {
    if (name == spelling) return value;
  }
  return std::nullopt;
}

template <typename E, size_t N>
const char* Name(const std::pair<E, const char*> (&table)[N], E value) {
  for (const auto& [v, spelling] : table) {
    if (v == value) return spelling;
  }
  return "?";
}

constexpr std::pair<ReviewKind, const char*> kKinds[] = {
    {ReviewKind::kDisconnect, "DISCONNECT"}, {ReviewKind::kEscalation, "ESCALATION"},
    {ReviewKind::kLowCsat, "LOW_CSAT"},      {ReviewKind::kSample, "SAMPLE"},
    {ReviewKind::kManual, "MANUAL"},         {ReviewKind::kPolicy, "POLICY"},
};
constexpr std::pair<ReviewState, const char*> kStates[] = {
    {ReviewState::kOpen, "OPEN"},
    {ReviewState::kSubmitted, "SUBMITTED"},
    {ReviewState::kAcknowledged, "ACKNOWLEDGED"},
    {ReviewState::kDisputed, "DISPUTED"},
    {ReviewState::kResolved, "RESOLVED"},
};
constexpr std::pair<Resolution, const char*> kResolutions[] = {
    {Resolution::kUpheld, "UPHELD"},
    {Resolution::kAmended, "AMENDED"},
};

}  // namespace

const char* ReviewKindName(ReviewKind kind) { return Name(kKinds, kind); }
std::optional<ReviewKind> ParseReviewKind(std::string_view name) { return Find(kKinds, name); }
const char* ReviewStateName(ReviewState state) { return Name(kStates, state); }
std::optional<ReviewState> ParseReviewState(std::string_view name) { return Find(kStates, name); }
const char* ResolutionName(Resolution resolution) {
  return resolution == Resolution::kNone ? "" : Name(kResolutions, resolution);
}
std::optional<Resolution> ParseResolution(std::string_view name) {
  return Find(kResolutions, name);
}

}  // namespace sb::recording::qa
