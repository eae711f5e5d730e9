// Evaluation forms: what a QA reviewer answers about a call (docs/qa.md, "Evaluation forms").
//
// A form is versioned YAML: sections with weights, each holding questions with weights, a type
// (yes_no, scale, points), a critical flag (a failing answer fails the whole evaluation) and
// whether N/A is allowed. Loading is strict (unknown or repeated keys, duplicate ids, weights that
// are not > 0 are errors naming file:line and the field path). A loaded Form is a plain value:
// immutable by convention, cheap to copy, safe to share between threads.
//
// The storage keeps a form as its canonical text (CanonicalFormYaml), which parses back to an
// equal Form and hashes identically whatever the spacing, comments or key order of the source.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sb::recording::qa {

enum class QuestionType {
  kYesNo,   // 1 = yes (pass), 0 = no
  kScale,   // an integer min..max (default min 0), e.g. 0..5
  kPoints,  // an integer 0..max points
};
// "yes_no", "scale", "points".
const char* QuestionTypeName(QuestionType type);

// Limits that keep a form reviewable and a malicious form cheap to reject.
inline constexpr int kMaxSections = 50;
inline constexpr int kMaxQuestionsPerForm = 500;
inline constexpr size_t kMaxIdLength = 64;
inline constexpr size_t kMaxTextLength = 2000;
inline constexpr double kMaxWeight = 1000;
inline constexpr int64_t kMaxScaleOrPoints = 1000;

struct Question {
  std::string id;    // unique in the form: answers are keyed by it
  std::string text;  // what the reviewer reads
  double weight = 1;
  QuestionType type = QuestionType::kYesNo;
  int64_t min = 0;  // scale only (0 for the others)
  int64_t max = 1;  // scale and points; 1 for yes_no
  bool critical = false;
  bool na_allowed = false;

  bool operator==(const Question&) const = default;
};

struct Section {
  std::string id;  // unique in the form
  std::string title;
  double weight = 1;
  std::vector<Question> questions;

  bool operator==(const Section&) const = default;
};

struct Form {
  std::string form_id;  // e.g. "default"; letters, digits, '_', '-', '.'
  int32_t version = 1;  // >= 1; a changed form gets a new version
  std::string title;
  std::vector<Section> sections;

  // Null when the form has no such question.
  const Question* FindQuestion(std::string_view question_id) const;
  // Every question in form order.
  std::vector<const Question*> Questions() const;

  bool operator==(const Form&) const = default;
};

// ParseForm
//
// Parses and validates a form. `file` names it in errors. Every error is InvalidArgument with the
// reason INVALID_FORM, e.g.
//   "INVALID_FORM: default.yaml:14: sections[1].questions[0].weight: must be > 0 (found 0)".
// (The core does no IO: the service reads the file and passes its text.)
absl::StatusOr<Form> ParseForm(const std::string& text, const std::string& file);

// CanonicalFormYaml
//
// The form as YAML in one fixed layout: fixed key order, strings double-quoted, numbers in their
// shortest exact spelling, every field written (defaults included). ParseForm of it gives back
// an equal Form, and two equal Forms give the same text.
std::string CanonicalFormYaml(const Form& form);

// A stable content hash of the canonical text: 16 hex digits (FNV-1a 64).
std::string FormHash(const Form& form);

}  // namespace sb::recording::qa
