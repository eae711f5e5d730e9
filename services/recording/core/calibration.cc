#include "recording/core/calibration.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

// Ranges are differences of doubles (1.0 - 0.8 = 0.19999999999999996); a range equal to the
// threshold up to rounding does not disagree.
constexpr double kEpsilon = 1e-9;

}  // namespace

CalibrationEntry EntryFromScore(std::string reviewer, const ScoreResult& result) {
  return CalibrationEntry{std::move(reviewer), result.score, result.Normalized()};
}

Spread SpreadOf(const std::vector<double>& values) {
  Spread s;
  if (values.empty()) return s;
  s.count = static_cast<int>(values.size());
  s.min = *std::min_element(values.begin(), values.end());
  s.max = *std::max_element(values.begin(), values.end());
  s.range = s.max - s.min;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / s.count;
  double sq = 0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(sq / s.count);
  return s;
}

absl::StatusOr<CalibrationReport> Calibrate(const std::vector<CalibrationEntry>& entries,
                                            const CalibrationOptions& options) {
  const auto fail = [](std::string message) {
    return InvalidArgument("INVALID_CALIBRATION", message);
  };
  if (entries.size() < 2) {
    return fail(
        absl::StrCat("calibration needs at least two evaluations (got ", entries.size(), ")"));
  }
  if (!(options.disagreement_threshold >= 0 && options.disagreement_threshold <= 1)) {
    return fail(absl::StrCat("disagreement_threshold: ", options.disagreement_threshold,
                             " is outside 0..1"));
  }
  std::set<std::string> reviewers;
  std::set<std::string> question_ids;
  std::vector<double> overall;
  for (size_t i = 0; i < entries.size(); ++i) {
    const CalibrationEntry& e = entries[i];
    if (e.reviewer.empty()) return fail(absl::StrCat("entries[", i, "].reviewer: missing"));
    if (!reviewers.insert(e.reviewer).second) {
      return fail(absl::StrCat("entries[", i, "].reviewer: '", e.reviewer,
                               "' appears twice (one evaluation per reviewer)"));
    }
    if (!(e.overall >= 0 && e.overall <= 100)) {
      return fail(absl::StrCat("entries[", i, "].overall: ", e.overall, " is outside 0..100"));
    }
    overall.push_back(e.overall);
    for (const auto& [id, v] : e.normalized) {
      if (v.has_value() && !(*v >= 0 && *v <= 1)) {
        return fail(absl::StrCat("entries[", i, "].normalized.", id, ": ", *v, " is outside 0..1"));
      }
      question_ids.insert(id);
    }
  }
  CalibrationReport report;
  report.reviewers = static_cast<int>(entries.size());
  report.overall = SpreadOf(overall);
  report.overall_disagrees = report.overall.range > 100 * options.disagreement_threshold + kEpsilon;
  for (const std::string& id : question_ids) {
    QuestionSpread q;
    q.question_id = id;
    std::vector<double> values;
    for (const CalibrationEntry& e : entries) {
      auto it = e.normalized.find(id);
      if (it == e.normalized.end() || !it->second.has_value()) {
        ++q.na_count;
      } else {
        values.push_back(*it->second);
      }
    }
    q.spread = SpreadOf(values);
    q.na_mismatch = q.na_count > 0 && !values.empty();
    q.disagrees = q.na_mismatch || q.spread.range > options.disagreement_threshold + kEpsilon;
    if (q.disagrees) report.disagreements.push_back(id);
    report.questions.push_back(std::move(q));
  }
  return report;
}

}  // namespace sb::recording::qa
