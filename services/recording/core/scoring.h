// Scoring an evaluation: a reviewer's answers to a form -> a weighted percentage
// (docs/qa.md, "Scoring").
//
//   question   normalized value n in [0, 1]: yes_no 1/0; scale (v - min) / (max - min);
//              points v / max; N/A questions drop out
//   section    100 * sum(w_q * n_q) / sum(w_q) over the section's non-N/A questions;
//              a section whose questions are all N/A drops out
//   overall    sum(w_s * section_s) / sum(w_s) over the sections that did not drop out
//   critical   a critical question answered at its minimum (no; the scale's min; 0 points)
//              fails the evaluation: score 0, critical_failed, the failing ids listed
//
// Pure functions over plain values; safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "recording/core/form.h"

namespace sb::recording::qa {

// One answer: a value (yes_no: 1 yes / 0 no; scale: min..max; points: 0..max) or N/A.
struct Answer {
  bool na = false;
  int64_t value = 0;

  static Answer Na() { return Answer{true, 0}; }
  static Answer Value(int64_t v) { return Answer{false, v}; }
  static Answer Yes() { return Value(1); }
  static Answer No() { return Value(0); }
  bool operator==(const Answer&) const = default;
};

// Question id -> answer, ordered by id (so the canonical text is stable).
using Answers = std::map<std::string, Answer, std::less<>>;

// ValidateAnswers
//
// OK when every question of the form has an answer, every answer names a question of the form,
// N/A is used only where allowed and values are in range. Otherwise InvalidArgument with one of
// the reasons UNKNOWN_QUESTION, MISSING_ANSWER, NA_NOT_ALLOWED, ANSWER_OUT_OF_RANGE, e.g.
//   "ANSWER_OUT_OF_RANGE: answers.empathy: 7 is outside 0..5 (scale)".
absl::Status ValidateAnswers(const Form& form, const Answers& answers);

struct QuestionScore {
  std::string question_id;
  double weight = 0;
  bool na = false;
  double normalized = 0;  // 0..1; 0 when na
  bool critical_failed = false;
};

struct SectionScore {
  std::string section_id;
  double weight = 0;
  bool na = false;   // every question N/A: the section does not count
  double score = 0;  // 0..100; 0 when na
  std::vector<QuestionScore> questions;
};

struct ScoreResult {
  double score = 0;      // 0..100; 0 when a critical question failed
  double raw_score = 0;  // the weighted score before the critical rule (shown to the agent)
  bool critical_failed = false;
  std::vector<std::string> failed_critical;  // question ids, in form order
  std::vector<SectionScore> sections;        // in form order

  // Question id -> normalized value, nullopt for N/A (the input of calibration).
  std::map<std::string, std::optional<double>> Normalized() const;
};

// Score
//
// Validates (as ValidateAnswers) and scores. An evaluation whose every question is N/A has no
// score: InvalidArgument "NOTHING_TO_SCORE: ...".
absl::StatusOr<ScoreResult> Score(const Form& form, const Answers& answers);

// AnswersToYaml / ParseAnswers
//
// Answers as canonical text for storage, one "id: value" line per answer in id order, N/A as
// "na" ("{}" when empty):
//   closing: 1
//   empathy: 4
//   hold_etiquette: na
// ParseAnswers also reads yes/no/true/false as 1/0 and any key order, and rejects anything else
// with InvalidArgument "INVALID_ANSWERS: ...". It does not check the answers against a form.
std::string AnswersToYaml(const Answers& answers);
absl::StatusOr<Answers> ParseAnswers(const std::string& text);

}  // namespace sb::recording::qa
