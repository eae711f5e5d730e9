#include "recording/core/form.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "recording/core/defaults.h"
#include "recording/core/qa_test_util.h"

namespace sb::recording::qa {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Status Error(const std::string& text) {
  auto f = ParseForm(text, "f.yaml");
  return f.ok() ? absl::OkStatus() : f.status();
}

// A valid form whose only question is `question` (a flow map), for splicing errors in.
std::string OneQuestion(const std::string& question) {
  return "form_id: f\nversion: 1\ntitle: T\nsections:\n  - id: s\n    title: S\n"
         "    questions:\n      - " +
         question + "\n";
}

TEST(FormTest, ParsesEveryField) {
  const Form f = testing::SmallForm();
  EXPECT_EQ(f.form_id, "small");
  EXPECT_EQ(f.version, 2);
  EXPECT_EQ(f.title, "Small form");
  ASSERT_EQ(f.sections.size(), 2u);
  EXPECT_EQ(f.sections[0].weight, 3);
  ASSERT_EQ(f.sections[0].questions.size(), 3u);
  const Question* solve = f.FindQuestion("solve");
  ASSERT_NE(solve, nullptr);
  EXPECT_EQ(solve->type, QuestionType::kScale);
  EXPECT_EQ(solve->min, 0);
  EXPECT_EQ(solve->max, 4);
  EXPECT_EQ(solve->weight, 3);
  EXPECT_TRUE(solve->critical);
  EXPECT_FALSE(solve->na_allowed);
  const Question* greet = f.FindQuestion("greet");
  ASSERT_NE(greet, nullptr);
  EXPECT_EQ(greet->weight, 1);  // the default
  EXPECT_EQ(greet->max, 1);
  EXPECT_EQ(f.FindQuestion("empathy")->min, 1);
  EXPECT_EQ(f.FindQuestion("notes")->type, QuestionType::kPoints);
  EXPECT_TRUE(f.FindQuestion("notes")->na_allowed);
  EXPECT_EQ(f.FindQuestion("nope"), nullptr);
  EXPECT_EQ(f.Questions().size(), 5u);
  EXPECT_EQ(f.Questions()[3]->id, "hold");
}

TEST(FormTest, CanonicalTextRoundTripsAndIgnoresLayout) {
  const Form f = testing::SmallForm();
  const std::string canonical = CanonicalFormYaml(f);
  auto again = ParseForm(canonical, "canonical.yaml");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << canonical;
  EXPECT_EQ(*again, f);
  EXPECT_EQ(CanonicalFormYaml(*again), canonical);
  EXPECT_EQ(FormHash(*again), FormHash(f));
  EXPECT_EQ(FormHash(f).size(), 16u);

  // The same form written differently: block style, other key order, comments, explicit defaults.
  const std::string other = R"(# a comment
version: 2
title: "Small form"
form_id: small
sections:
  - title: Main
    id: main
    weight: 3.0
    questions:
      - id: greet
        type: yes_no
        text: Greeted
        weight: 1
        critical: false
      - {id: solve, text: Solved, type: scale, min: 0, max: 4, weight: 3, critical: true}
      - {id: notes, text: Notes, type: points, max: 2, na_allowed: true}
  - id: extra
    title: Extra
    questions:
      - {id: hold, text: Hold etiquette, type: yes_no, na_allowed: true}
      - {id: empathy, text: Empathy, type: scale, min: 1, max: 5}
)";
  auto g = ParseForm(other, "other.yaml");
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(*g, f);
  EXPECT_EQ(FormHash(*g), FormHash(f));
}

TEST(FormTest, HashChangesWithContent) {
  Form f = testing::SmallForm();
  const std::string h = FormHash(f);
  f.sections[1].questions[1].text = "Empathy!";
  EXPECT_NE(FormHash(f), h);
  Form g = testing::SmallForm();
  g.version = 3;
  EXPECT_NE(FormHash(g), h);
  Form w = testing::SmallForm();
  w.sections[0].weight = 3.5;
  EXPECT_NE(FormHash(w), h);
}

TEST(FormTest, CanonicalTextQuotesAwkwardStrings) {
  Form f = testing::SmallForm();
  f.title = "Quotes \" and \\ backslash: yes\nnew line\t#not a comment";
  f.sections[0].questions[0].text = "true";
  auto again = ParseForm(CanonicalFormYaml(f), "c.yaml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->title, f.title);
  EXPECT_EQ(again->sections[0].questions[0].text, "true");
}

TEST(FormTest, ErrorsNameFileLineAndPath) {
  struct Case {
    std::string text;
    std::string want;  // prefix of the message after "INVALID_FORM: "
  };
  const std::string head = "form_id: f\nversion: 1\ntitle: T\n";
  const Case cases[] = {
      {OneQuestion("{id: q, text: Q, type: yes_no, weight: 0}"),
       "f.yaml:8: sections[0].questions[0].weight: must be > 0"},
      {OneQuestion("{id: q, text: Q, type: yes_no, weight: -2}"),
       "f.yaml:8: sections[0].questions[0].weight: must be > 0"},
      {OneQuestion("{id: q, text: Q, type: yes_no, wieght: 2}"),
       "f.yaml:8: sections[0].questions[0].wieght: unknown key 'wieght'; did you mean 'weight'?"},
      {OneQuestion("{id: q, text: Q, type: stars}"),
       "f.yaml:8: sections[0].questions[0].type: unknown value 'stars'"},
      {OneQuestion("{id: q, text: Q}"),
       "f.yaml:8: sections[0].questions[0]: missing required key 'type'"},
      {OneQuestion("{id: q, type: yes_no}"),
       "f.yaml:8: sections[0].questions[0]: missing required key 'text'"},
      {OneQuestion("{id: q, text: '', type: yes_no}"),
       "f.yaml:8: sections[0].questions[0].text: must not be empty"},
      {OneQuestion("{id: 'has space', text: Q, type: yes_no}"),
       "f.yaml:8: sections[0].questions[0].id: 'has space' is not an id"},
      {OneQuestion("{id: q, text: Q, type: yes_no, max: 3}"),
       "f.yaml:8: sections[0].questions[0].max: a yes_no question has no min or max"},
      {OneQuestion("{id: q, text: Q, type: scale}"),
       "f.yaml:8: sections[0].questions[0]: missing required key 'max'"},
      {OneQuestion("{id: q, text: Q, type: scale, min: 3, max: 3}"),
       "f.yaml:8: sections[0].questions[0].max: must be greater than min (3)"},
      {OneQuestion("{id: q, text: Q, type: points, min: 1, max: 3}"),
       "f.yaml:8: sections[0].questions[0].min: points always start at 0"},
      {OneQuestion("{id: q, text: Q, type: points, max: 0}"),
       "f.yaml:8: sections[0].questions[0].max: 0 is out of range (1..1000)"},
      {OneQuestion("{id: q, text: Q, type: yes_no, critical: maybe}"),
       "f.yaml:8: sections[0].questions[0].critical: 'maybe' is not a boolean"},
      {head + "sections:\n  - id: s\n    title: S\n    questions:\n"
              "      - {id: q, text: Q, type: yes_no}\n      - {id: q, text: R, type: yes_no}\n",
       "f.yaml:9: sections[0].questions[1].id: duplicate question id 'q'"},
      {head + "sections:\n  - id: s\n    title: S\n    questions:\n"
              "      - {id: q, text: Q, type: yes_no}\n"
              "  - id: t\n    title: T\n    questions:\n"
              "      - {id: q, text: R, type: yes_no}\n",
       "f.yaml:12: sections[1].questions[0].id: duplicate question id 'q'"},
      {head + "sections:\n  - id: s\n    title: S\n    questions:\n"
              "      - {id: q, text: Q, type: yes_no}\n"
              "  - id: s\n    title: T\n    questions:\n"
              "      - {id: r, text: R, type: yes_no}\n",
       "f.yaml:9: sections[1].id: duplicate section id 's'"},
      {head + "sections:\n  - id: s\n    title: S\n    weight: 0\n    questions:\n"
              "      - {id: q, text: Q, type: yes_no}\n",
       "f.yaml:7: sections[0].weight: must be > 0"},
      {head + "sections:\n  - id: s\n    title: S\n    questions: []\n",
       "f.yaml:7: sections[0].questions: a section needs at least one question"},
      {head + "sections:\n  - id: s\n    title: S\n",
       "f.yaml:5: sections[0]: missing required key 'questions'"},
      {head + "sections: []\n", "f.yaml:4: sections: a form needs at least one section"},
      {head, "f.yaml:1: missing required key 'sections'"},
      {"form_id: f\nversion: 0\ntitle: T\nsections: []\n", "f.yaml:2: version: 0 is out of range"},
      {"form_id: f\nversion: one\ntitle: T\nsections: []\n",
       "f.yaml:2: version: 'one' is not an integer"},
      {"form_id: f\nform_id: g\nversion: 1\n", "f.yaml:"},  // yaml-cpp or the reader: repeated
      {"form_id: f\nversion: 1\ntitle: T\nsections: []\nowner: me\n",
       "f.yaml:5: owner: unknown key 'owner'"},
      {"form_id: [f\n", "f.yaml:"},  // a syntax error
      {"- a\n- b\n", "f.yaml:1: expected a map, found a list"},
  };
  for (const Case& c : cases) {
    absl::Status s = Error(c.text);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(s.message()), StartsWith("INVALID_FORM: " + c.want)) << c.text;
  }
}

TEST(FormTest, LimitsAreEnforced) {
  std::string text = "form_id: f\nversion: 1\ntitle: T\nsections:\n";
  for (int i = 0; i <= kMaxSections; ++i) {
    text += "  - {id: s" + std::to_string(i) + ", title: S, questions: [{id: q" +
            std::to_string(i) + ", text: Q, type: yes_no}]}\n";
  }
  EXPECT_THAT(std::string(Error(text).message()), HasSubstr("at most 50"));
  EXPECT_THAT(
      std::string(Error(OneQuestion("{id: q, text: " + std::string(2001, 'x') + ", type: yes_no}"))
                      .message()),
      HasSubstr("text: is 2001 bytes long"));
}

TEST(DefaultFormTest, ShippedFileLoadsAndMatchesTheBuiltIn) {
  auto f = ParseForm(testing::ReadFile(SB_QA_DEFAULT_FORM_PATH), SB_QA_DEFAULT_FORM_PATH);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->form_id, "default");
  EXPECT_EQ(*f, DefaultForm());
  EXPECT_GE(f->sections.size(), 4u);
  double weights = 0;
  int critical = 0;
  int na = 0;
  for (const Section& s : f->sections) {
    weights += s.weight;
    for (const Question& q : s.questions) {
      critical += q.critical;
      na += q.na_allowed;
    }
  }
  EXPECT_EQ(weights, 100);  // documented: the section weights read as percentages
  EXPECT_GE(critical, 3);
  EXPECT_GE(na, 3);
}

}  // namespace
}  // namespace sb::recording::qa
