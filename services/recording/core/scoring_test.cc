#include "recording/core/scoring.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/defaults.h"
#include "recording/core/qa_common.h"
#include "recording/core/qa_test_util.h"

namespace sb::recording::qa {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Answers Good() {
  return Answers{{"greet", Answer::Yes()},
                 {"solve", Answer::Value(3)},
                 {"notes", Answer::Value(1)},
                 {"hold", Answer::Na()},
                 {"empathy", Answer::Value(5)}};
}

TEST(ScoringTest, WeightedPercentage) {
  auto r = Score(testing::SmallForm(), Good());
  ASSERT_TRUE(r.ok()) << r.status();
  // main: (1*1 + 3*0.75 + 1*0.5) / 5 = 75%; extra: hold N/A, empathy (5-1)/(5-1) = 100%.
  ASSERT_EQ(r->sections.size(), 2u);
  EXPECT_DOUBLE_EQ(r->sections[0].score, 75);
  EXPECT_DOUBLE_EQ(r->sections[1].score, 100);
  EXPECT_FALSE(r->sections[1].na);
  // overall: (3*75 + 1*100) / 4.
  EXPECT_DOUBLE_EQ(r->score, 81.25);
  EXPECT_DOUBLE_EQ(r->raw_score, 81.25);
  EXPECT_FALSE(r->critical_failed);
  EXPECT_TRUE(r->failed_critical.empty());
  EXPECT_TRUE(r->sections[1].questions[0].na);
  EXPECT_DOUBLE_EQ(r->sections[0].questions[1].normalized, 0.75);
}

TEST(ScoringTest, NaDropsOutOfTheSection) {
  Answers a = Good();
  a["notes"] = Answer::Na();
  auto r = Score(testing::SmallForm(), a);
  ASSERT_TRUE(r.ok()) << r.status();
  // main: (1 + 2.25) / 4 = 81.25%.
  EXPECT_DOUBLE_EQ(r->sections[0].score, 81.25);
  EXPECT_DOUBLE_EQ(r->score, (3 * 81.25 + 100) / 4);
  auto n = r->Normalized();
  EXPECT_EQ(n.at("notes"), std::nullopt);
  EXPECT_EQ(n.at("hold"), std::nullopt);
  EXPECT_EQ(n.at("greet"), 1.0);
}

TEST(ScoringTest, FullyNaSectionDropsOutOfTheOverall) {
  auto form = ParseForm(R"(form_id: f
version: 1
title: F
sections:
  - id: a
    title: A
    weight: 1
    questions: [{id: q1, text: Q1, type: yes_no}]
  - id: b
    title: B
    weight: 9
    questions:
      - {id: q2, text: Q2, type: yes_no, na_allowed: true}
      - {id: q3, text: Q3, type: points, max: 4, na_allowed: true}
)",
                        "f.yaml");
  ASSERT_TRUE(form.ok()) << form.status();
  auto r = Score(*form, {{"q1", Answer::No()}, {"q2", Answer::Na()}, {"q3", Answer::Na()}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->sections[1].na);
  EXPECT_DOUBLE_EQ(r->score, 0);  // only section a counts, and it scored 0
  auto r2 = Score(*form, {{"q1", Answer::Yes()}, {"q2", Answer::Na()}, {"q3", Answer::Value(1)}});
  ASSERT_TRUE(r2.ok());
  EXPECT_DOUBLE_EQ(r2->score, (1 * 100 + 9 * 25) / 10.0);
}

TEST(ScoringTest, CriticalFailureZeroesTheScore) {
  Answers a = Good();
  a["solve"] = Answer::Value(0);  // the bottom of a critical scale
  auto r = Score(testing::SmallForm(), a);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->critical_failed);
  EXPECT_THAT(r->failed_critical, ElementsAre("solve"));
  EXPECT_EQ(r->score, 0);
  // main: (1 + 0 + 0.5) / 5 = 30%; overall (3*30 + 100) / 4 = 47.5 before the critical rule.
  EXPECT_DOUBLE_EQ(r->raw_score, 47.5);
  EXPECT_TRUE(r->sections[0].questions[1].critical_failed);

  a["solve"] = Answer::Value(1);  // anything above the bottom passes
  EXPECT_FALSE(Score(testing::SmallForm(), a)->critical_failed);
}

TEST(ScoringTest, CriticalNoOnTheDefaultFormListsEveryFailure) {
  const Form& form = DefaultForm();
  Answers a;
  for (const Question* q : form.Questions()) a[q->id] = Answer::Value(q->max);
  auto perfect = Score(form, a);
  ASSERT_TRUE(perfect.ok()) << perfect.status();
  EXPECT_DOUBLE_EQ(perfect->score, 100);
  a["accurate_information"] = Answer::No();
  a["verification"] = Answer::No();
  auto r = Score(form, a);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->critical_failed);
  EXPECT_THAT(r->failed_critical, ElementsAre("verification", "accurate_information"));
  EXPECT_EQ(r->score, 0);
  EXPECT_GT(r->raw_score, 50);
}

// The worked example of docs/qa.md ("Scoring"); keep the two in step.
TEST(ScoringTest, DocsWorkedExample) {
  auto answers = ParseAnswers(R"(greeting: yes
verification: yes
understood_need: 4
active_listening: 3
accurate_information: yes
resolved: 3
within_authority: na
courtesy: 5
empathy: 2
hold_etiquette: no
disconnect_policy: na
payment_data_paused: na
closing: yes
wrap_up_notes: 2
)");
  ASSERT_TRUE(answers.ok()) << answers.status();
  auto r = Score(DefaultForm(), *answers);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->sections.size(), 5u);
  EXPECT_NEAR(r->sections[0].score, 100, 1e-9);
  EXPECT_NEAR(r->sections[1].score, 73.333333333, 1e-6);
  EXPECT_NEAR(r->sections[2].score, 84, 1e-9);
  EXPECT_NEAR(r->sections[3].score, 60, 1e-9);
  EXPECT_NEAR(r->sections[4].score, 83.333333333, 1e-6);
  EXPECT_NEAR(r->score, 77.4, 1e-9);
  (*answers)["accurate_information"] = Answer::No();
  r = Score(DefaultForm(), *answers);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->score, 0);
  EXPECT_NEAR(r->raw_score, 56.4, 1e-9);
}

TEST(ScoringTest, ValidationReasons) {
  struct Case {
    Answers answers;
    std::string want;
  };
  auto with = [](const std::string& id, Answer a) {
    Answers x = Good();
    x[id] = a;
    return x;
  };
  Answers missing = Good();
  missing.erase("solve");
  missing.erase("greet");
  const Case cases[] = {
      {with("bogus", Answer::Yes()),
       "UNKNOWN_QUESTION: answers.bogus: form 'small' version 2 has no such question"},
      {missing, "MISSING_ANSWER: answers: 2 question(s) unanswered: greet, solve"},
      {with("greet", Answer::Na()), "NA_NOT_ALLOWED: answers.greet: this question cannot be N/A"},
      {with("greet", Answer::Value(2)),
       "ANSWER_OUT_OF_RANGE: answers.greet: 2 is outside 1 (yes) or 0 (no)"},
      {with("solve", Answer::Value(5)),
       "ANSWER_OUT_OF_RANGE: answers.solve: 5 is outside 0..4 (scale)"},
      {with("empathy", Answer::Value(0)),
       "ANSWER_OUT_OF_RANGE: answers.empathy: 0 is outside 1..5 (scale)"},
      {with("notes", Answer::Value(-1)),
       "ANSWER_OUT_OF_RANGE: answers.notes: -1 is outside 0..2 (points)"},
  };
  for (const Case& c : cases) {
    absl::Status s = ValidateAnswers(testing::SmallForm(), c.answers);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.want;
    EXPECT_THAT(std::string(s.message()), StartsWith(c.want));
    EXPECT_EQ(Score(testing::SmallForm(), c.answers).status(), s);
  }
  EXPECT_TRUE(ValidateAnswers(testing::SmallForm(), Good()).ok());
}

TEST(ScoringTest, NothingToScore) {
  auto form = ParseForm(
      "form_id: f\nversion: 1\ntitle: F\nsections:\n  - id: a\n    title: A\n"
      "    questions: [{id: q, text: Q, type: yes_no, na_allowed: true}]\n",
      "f.yaml");
  ASSERT_TRUE(form.ok());
  auto r = Score(*form, {{"q", Answer::Na()}});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(r.status()), "NOTHING_TO_SCORE");
}

TEST(AnswersTextTest, CanonicalRoundTrip) {
  const Answers a = Good();
  const std::string text = AnswersToYaml(a);
  EXPECT_EQ(text, "empathy: 5\ngreet: 1\nhold: na\nnotes: 1\nsolve: 3\n");
  auto back = ParseAnswers(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, a);
  EXPECT_EQ(AnswersToYaml({}), "{}\n");
  EXPECT_TRUE(ParseAnswers("{}\n")->empty());
  EXPECT_TRUE(ParseAnswers("")->empty());
}

TEST(AnswersTextTest, ReadsFriendlySpellings) {
  auto a = ParseAnswers("greet: yes\nhold: N/A\nsolve: 4\nnotes: no\nempathy: true\nx: NA\n");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->at("greet"), Answer::Yes());
  EXPECT_EQ(a->at("hold"), Answer::Na());
  EXPECT_EQ(a->at("x"), Answer::Na());
  EXPECT_EQ(a->at("notes"), Answer::No());
  EXPECT_EQ(a->at("empathy"), Answer::Yes());
  EXPECT_EQ(a->at("solve"), Answer::Value(4));
  EXPECT_EQ(AnswersToYaml(*a), "empathy: 1\ngreet: 1\nhold: na\nnotes: 0\nsolve: 4\nx: na\n");
}

TEST(AnswersTextTest, Errors) {
  for (const auto& [text, want] : std::vector<std::pair<std::string, std::string>>{
           {"greet: maybe\n", "INVALID_ANSWERS: answers.greet: 'maybe' is not an integer"},
           {"greet: 1\ngreet: 0\n", "INVALID_ANSWERS: answers.greet: answered twice"},
           {"- 1\n", "INVALID_ANSWERS: expected a map"},
           {"greet: [1]\n", "INVALID_ANSWERS: line 1: each entry is 'question_id: value'"},
           {"greet: {\n", "INVALID_ANSWERS: line "},
           {"greet: 1.5\n", "INVALID_ANSWERS: answers.greet: '1.5' is not an integer"},
       }) {
    auto a = ParseAnswers(text);
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(std::string(a.status().message()), StartsWith(want)) << text;
  }
}

TEST(AnswersTextTest, QuotesKeysThatAreNotIds) {
  Answers a{{"odd key: x", Answer::Yes()}};
  auto back = ParseAnswers(AnswersToYaml(a));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, a);
}

}  // namespace
}  // namespace sb::recording::qa
