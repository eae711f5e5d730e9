// Calibration: several reviewers score the same interaction and the spread of their scores shows
// whether they apply the form alike (docs/qa.md, "Calibration").
//
// Spread is reported for the overall score (0..100) and for each question's normalized value
// (0..1): count, mean, min, max, range (max - min) and population standard deviation. A question
// disagrees when its range exceeds the threshold, or when some reviewers answered it N/A and
// others did not (equality up to rounding does not count). The overall score disagrees when its
// range exceeds 100 * threshold points. Pure functions; safe from any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "recording/core/scoring.h"

namespace sb::recording::qa {

struct CalibrationOptions {
  // In normalized units (0..1): 0.25 flags a question that one reviewer scored 5/5 and another
  // 3/5 (range 0.4), but not 4/5 against 5/5 (range 0.2).
  double disagreement_threshold = 0.25;
};

// One reviewer's evaluation of the interaction.
struct CalibrationEntry {
  std::string reviewer;
  double overall = 0;  // the evaluation's score, 0..100
  // Question id -> normalized value (0..1), nullopt for N/A; see ScoreResult::Normalized().
  std::map<std::string, std::optional<double>> normalized;
};
CalibrationEntry EntryFromScore(std::string reviewer, const ScoreResult& result);

struct Spread {
  int count = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double range = 0;
  double stddev = 0;  // population standard deviation
};
// The spread of the values (all zero for none).
Spread SpreadOf(const std::vector<double>& values);

struct QuestionSpread {
  std::string question_id;
  Spread spread;             // over the reviewers who did not answer N/A
  int na_count = 0;          // reviewers who answered N/A
  bool na_mismatch = false;  // some answered N/A and some did not
  bool disagrees = false;    // range > threshold, or na_mismatch
};

struct CalibrationReport {
  int reviewers = 0;
  Spread overall;
  bool overall_disagrees = false;
  std::vector<QuestionSpread> questions;   // by question id
  std::vector<std::string> disagreements;  // ids of the questions that disagree
};

// Calibrate
//
// InvalidArgument with reason INVALID_CALIBRATION when there are fewer than two entries, a
// reviewer appears twice or has no name, a threshold is outside 0..1, or a score or value is out
// of range; a question answered by only some entries is treated as N/A for the others.
absl::StatusOr<CalibrationReport> Calibrate(const std::vector<CalibrationEntry>& entries,
                                            const CalibrationOptions& options);

}  // namespace sb::recording::qa
