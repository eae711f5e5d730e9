#include "recording/core/scoring.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "recording/core/qa_common.h"
#include "yaml-cpp/yaml.h"

namespace sb::recording::qa {
namespace {

double Normalize(const Question& q, int64_t v) {
  return static_cast<double>(v - q.min) / static_cast<double>(q.max - q.min);
}

std::string RangeText(const Question& q) {
  if (q.type == QuestionType::kYesNo) return "1 (yes) or 0 (no)";
  return absl::StrCat(q.min, "..", q.max, " (", QuestionTypeName(q.type), ")");
}

}  // namespace

absl::Status ValidateAnswers(const Form& form, const Answers& answers) {
  for (const auto& [id, answer] : answers) {
    const Question* q = form.FindQuestion(id);
    if (q == nullptr) {
      return InvalidArgument("UNKNOWN_QUESTION",
                             absl::StrCat("answers.", id, ": form '", form.form_id, "' version ",
                                          form.version, " has no such question"));
    }
    if (answer.na) {
      if (!q->na_allowed) {
        return InvalidArgument("NA_NOT_ALLOWED",
                               absl::StrCat("answers.", id, ": this question cannot be N/A"));
      }
      continue;
    }
    if (answer.value < q->min || answer.value > q->max) {
      return InvalidArgument("ANSWER_OUT_OF_RANGE", absl::StrCat("answers.", id, ": ", answer.value,
                                                                 " is outside ", RangeText(*q)));
    }
  }
  std::vector<std::string> missing;
  for (const Question* q : form.Questions()) {
    if (answers.find(q->id) == answers.end()) missing.push_back(q->id);
  }
  if (!missing.empty()) {
    const size_t shown = std::min<size_t>(missing.size(), 5);
    std::vector<std::string> head(missing.begin(), missing.begin() + shown);
    return InvalidArgument(
        "MISSING_ANSWER", absl::StrCat("answers: ", missing.size(),
                                       " question(s) unanswered: ", absl::StrJoin(head, ", "),
                                       missing.size() > shown ? ", ..." : "",
                                       " (answer every question, or na where the form allows it)"));
  }
  return absl::OkStatus();
}

std::map<std::string, std::optional<double>> ScoreResult::Normalized() const {
  std::map<std::string, std::optional<double>> out;
  for (const SectionScore& s : sections) {
    for (const QuestionScore& q : s.questions) {
      out[q.question_id] = q.na ? std::nullopt : std::optional<double>(q.normalized);
    }
  }
  return out;
}

absl::StatusOr<ScoreResult> Score(const Form& form, const Answers& answers) {
  if (absl::Status s = ValidateAnswers(form, answers); !s.ok()) return s;
  ScoreResult result;
  double weighted = 0;
  double weights = 0;
  for (const Section& section : form.sections) {
    SectionScore ss;
    ss.section_id = section.id;
    ss.weight = section.weight;
    double sum = 0;
    double sum_w = 0;
    for (const Question& q : section.questions) {
      const Answer& a = answers.find(q.id)->second;
      QuestionScore qs;
      qs.question_id = q.id;
      qs.weight = q.weight;
      qs.na = a.na;
      if (!a.na) {
        qs.normalized = Normalize(q, a.value);
        qs.critical_failed = q.critical && a.value == q.min;
        if (qs.critical_failed) result.failed_critical.push_back(q.id);
        sum += q.weight * qs.normalized;
        sum_w += q.weight;
      }
      ss.questions.push_back(std::move(qs));
    }
    ss.na = sum_w == 0;
    if (!ss.na) {
      ss.score = 100.0 * sum / sum_w;
      weighted += section.weight * ss.score;
      weights += section.weight;
    }
    result.sections.push_back(std::move(ss));
  }
  if (weights == 0) {
    return InvalidArgument("NOTHING_TO_SCORE",
                           "answers: every question is N/A, so the evaluation has no score");
  }
  result.raw_score = weighted / weights;
  result.critical_failed = !result.failed_critical.empty();
  result.score = result.critical_failed ? 0 : result.raw_score;
  return result;
}

std::string AnswersToYaml(const Answers& answers) {
  if (answers.empty()) return "{}\n";
  std::string out;
  for (const auto& [id, a] : answers) {
    // Question ids are plain (letters, digits, '_', '-', '.'), so they need no quoting; a key
    // that is not an id cannot come from a valid form but is quoted all the same.
    bool plain = !id.empty();
    for (char c : id) {
      plain = plain && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                        c == '-' || c == '.');
    }
    const std::string key = plain ? id : YAML::Dump(YAML::Node(id));
    absl::StrAppend(&out, key, ": ", a.na ? "na" : absl::StrCat(a.value), "\n");
  }
  return out;
}

absl::StatusOr<Answers> ParseAnswers(const std::string& text) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return InvalidArgument("INVALID_ANSWERS", absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
  Answers answers;
  if (root.IsNull() || !root.IsDefined()) return answers;
  if (!root.IsMap()) {
    return InvalidArgument("INVALID_ANSWERS", "expected a map of question id to value");
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    if (!it->first.IsScalar() || !it->second.IsScalar()) {
      return InvalidArgument(
          "INVALID_ANSWERS",
          absl::StrCat("line ", it->first.Mark().line + 1, ": each entry is 'question_id: value'"));
    }
    const std::string id = it->first.Scalar();
    const std::string v = absl::AsciiStrToLower(it->second.Scalar());
    Answer a;
    int64_t n = 0;
    if (v == "na" || v == "n/a") {
      a = Answer::Na();
    } else if (v == "yes" || v == "true") {
      a = Answer::Yes();
    } else if (v == "no" || v == "false") {
      a = Answer::No();
    } else if (absl::SimpleAtoi(v, &n)) {
      a = Answer::Value(n);
    } else {
      return InvalidArgument("INVALID_ANSWERS",
                             absl::StrCat("answers.", id, ": '", it->second.Scalar(),
                                          "' is not an integer, yes, no or na"));
    }
    if (!answers.emplace(id, a).second) {
      return InvalidArgument("INVALID_ANSWERS", absl::StrCat("answers.", id, ": answered twice"));
    }
  }
  return answers;
}

}  // namespace sb::recording::qa
