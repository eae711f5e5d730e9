#include "recording/core/form.h"

#include <cstdio>
#include <set>

#include "absl/strings/str_cat.h"
#include "recording/core/qa_common.h"
#include "routing/config/yaml_reader.h"

namespace sb::recording::qa {
namespace {

using routing::config::EnumName;
using routing::config::ForEachItem;
using routing::config::MapReader;
using routing::config::YamlContext;

const std::vector<EnumName>& TypeNames() {
  static const auto* names =
      new std::vector<EnumName>{{"yes_no", static_cast<int>(QuestionType::kYesNo)},
                                {"scale", static_cast<int>(QuestionType::kScale)},
                                {"points", static_cast<int>(QuestionType::kPoints)}};
  return *names;
}

bool IsId(std::string_view s) {
  if (s.empty() || s.size() > kMaxIdLength) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// Reads a required id.
void ReadId(MapReader& r, std::string_view key, std::string* out) {
  if (!r.String(key, out, /*required=*/true)) return;
  if (!IsId(*out)) {
    r.ctx()->Fail(r.Get(key), r.Path(key),
                  absl::StrCat("'", *out, "' is not an id (1..", kMaxIdLength,
                               " letters, digits, '_', '-' or '.')"));
  }
}

// Reads a required non-empty text of at most kMaxTextLength bytes.
void ReadText(MapReader& r, std::string_view key, std::string* out) {
  if (!r.String(key, out, /*required=*/true)) return;
  if (out->empty()) {
    r.ctx()->Fail(r.Get(key), r.Path(key), "must not be empty");
  } else if (out->size() > kMaxTextLength) {
    r.ctx()->Fail(r.Get(key), r.Path(key),
                  absl::StrCat("is ", out->size(), " bytes long (at most ", kMaxTextLength, ")"));
  }
}

// An optional weight (default 1) that must be > 0.
void ReadWeight(MapReader& r, double* out) {
  if (!r.Has("weight")) return;
  double w = 0;
  if (!r.Double("weight", -1e300, 1e300, &w)) return;
  if (!(w > 0) || w > kMaxWeight) {
    r.ctx()->Fail(r.Get("weight"), r.Path("weight"),
                  absl::StrCat("must be > 0 and at most ", kMaxWeight, " (found ",
                               r.Get("weight").Scalar(), ")"));
    return;
  }
  *out = w;
}

void ReadQuestion(YamlContext* ctx, const YAML::Node& node, const std::string& path, Question* q) {
  MapReader r(ctx, node, path,
              {"id", "text", "weight", "type", "min", "max", "critical", "na_allowed"});
  if (!r.valid()) return;
  ReadId(r, "id", &q->id);
  ReadText(r, "text", &q->text);
  ReadWeight(r, &q->weight);
  int type = 0;
  if (!r.Enum("type", TypeNames(), &type, /*required=*/true)) return;
  q->type = static_cast<QuestionType>(type);
  r.Bool("critical", &q->critical);
  r.Bool("na_allowed", &q->na_allowed);
  if (!ctx->ok()) return;
  switch (q->type) {
    case QuestionType::kYesNo:
      for (std::string_view key : {"min", "max"}) {
        if (r.Has(key)) {
          ctx->Fail(r.Get(key), r.Path(key), "a yes_no question has no min or max");
          return;
        }
      }
      q->min = 0;
      q->max = 1;
      break;
    case QuestionType::kScale:
      q->min = 0;
      r.Int("min", 0, kMaxScaleOrPoints, &q->min);
      if (!r.Int("max", 1, kMaxScaleOrPoints, &q->max, /*required=*/true)) return;
      if (q->max <= q->min) {
        ctx->Fail(r.Get("max"), r.Path("max"),
                  absl::StrCat("must be greater than min (", q->min, "), e.g. min: 0, max: 5"));
      }
      break;
    case QuestionType::kPoints:
      if (r.Has("min")) {
        ctx->Fail(r.Get("min"), r.Path("min"), "points always start at 0; remove min");
        return;
      }
      q->min = 0;
      r.Int("max", 1, kMaxScaleOrPoints, &q->max, /*required=*/true);
      break;
  }
}

absl::Status FormError(const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("INVALID_FORM: ", s.message()));
}

// A double-quoted YAML scalar.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out += "\"";
  return out;
}

}  // namespace

const char* QuestionTypeName(QuestionType type) {
  switch (type) {
    case QuestionType::kYesNo:
      return "yes_no";
    case QuestionType::kScale:
      return "scale";
    case QuestionType::kPoints:
      return "points";
  }
  return "?";
}

const Question* Form::FindQuestion(std::string_view question_id) const {
  for (const Section& s : sections) {
    for (const Question& q : s.questions) {
      if (q.id == question_id) return &q;
    }
  }
  return nullptr;
}

std::vector<const Question*> Form::Questions() const {
  std::vector<const Question*> out;
  for (const Section& s : sections) {
    for (const Question& q : s.questions) out.push_back(&q);
  }
  return out;
}

absl::StatusOr<Form> ParseForm(const std::string& text, const std::string& file) {
  absl::StatusOr<YAML::Node> root = routing::config::ParseYaml(text, file);
  if (!root.ok()) return FormError(root.status());
  YamlContext ctx(file);
  Form form;
  MapReader r(&ctx, *root, "", {"form_id", "version", "title", "sections"});
  if (r.valid()) {
    ReadId(r, "form_id", &form.form_id);
    r.Int32("version", 1, 1000000000, &form.version, /*required=*/true);
    ReadText(r, "title", &form.title);
    if (ctx.ok() && r.Require("sections")) {
      const YAML::Node sections = r.Get("sections");
      if (sections.IsSequence() && sections.size() == 0) {
        ctx.Fail(sections, "sections", "a form needs at least one section");
      } else if (sections.IsSequence() && sections.size() > kMaxSections) {
        ctx.Fail(sections, "sections",
                 absl::StrCat("has ", sections.size(), " sections (at most ", kMaxSections, ")"));
      }
      std::set<std::string> section_ids;
      std::set<std::string> question_ids;
      int question_count = 0;
      ForEachItem(&ctx, sections, "sections", [&](const YAML::Node& node, const std::string& path) {
        if (!ctx.ok()) return;
        MapReader sr(&ctx, node, path, {"id", "title", "weight", "questions"});
        if (!sr.valid()) return;
        Section s;
        ReadId(sr, "id", &s.id);
        ReadText(sr, "title", &s.title);
        ReadWeight(sr, &s.weight);
        if (!ctx.ok()) return;
        if (!section_ids.insert(s.id).second) {
          ctx.Fail(sr.Get("id"), sr.Path("id"), absl::StrCat("duplicate section id '", s.id, "'"));
          return;
        }
        if (!sr.Require("questions")) return;
        const YAML::Node questions = sr.Get("questions");
        if (questions.IsSequence() && questions.size() == 0) {
          ctx.Fail(questions, sr.Path("questions"), "a section needs at least one question");
          return;
        }
        ForEachItem(
            &ctx, questions, sr.Path("questions"),
            [&](const YAML::Node& qnode, const std::string& qpath) {
              if (!ctx.ok()) return;
              if (++question_count > kMaxQuestionsPerForm) {
                ctx.Fail(qnode, qpath,
                         absl::StrCat("a form has at most ", kMaxQuestionsPerForm, " questions"));
                return;
              }
              Question q;
              ReadQuestion(&ctx, qnode, qpath, &q);
              if (!ctx.ok()) return;
              if (!question_ids.insert(q.id).second) {
                ctx.Fail(qnode["id"], qpath + ".id",
                         absl::StrCat("duplicate question id '", q.id,
                                      "' (question ids are unique across the form)"));
                return;
              }
              s.questions.push_back(std::move(q));
            });
        if (ctx.ok()) form.sections.push_back(std::move(s));
      });
    }
  }
  if (!ctx.ok()) return FormError(ctx.status());
  return form;
}

std::string CanonicalFormYaml(const Form& form) {
  std::string out;
  absl::StrAppend(&out, "form_id: ", Quote(form.form_id), "\n");
  absl::StrAppend(&out, "version: ", form.version, "\n");
  absl::StrAppend(&out, "title: ", Quote(form.title), "\n");
  absl::StrAppend(&out, "sections:\n");
  for (const Section& s : form.sections) {
    absl::StrAppend(&out, "  - id: ", Quote(s.id), "\n");
    absl::StrAppend(&out, "    title: ", Quote(s.title), "\n");
    absl::StrAppend(&out, "    weight: ", FormatNumber(s.weight), "\n");
    absl::StrAppend(&out, "    questions:\n");
    for (const Question& q : s.questions) {
      absl::StrAppend(&out, "      - id: ", Quote(q.id), "\n");
      absl::StrAppend(&out, "        text: ", Quote(q.text), "\n");
      absl::StrAppend(&out, "        weight: ", FormatNumber(q.weight), "\n");
      absl::StrAppend(&out, "        type: ", QuestionTypeName(q.type), "\n");
      if (q.type == QuestionType::kScale) absl::StrAppend(&out, "        min: ", q.min, "\n");
      if (q.type != QuestionType::kYesNo) absl::StrAppend(&out, "        max: ", q.max, "\n");
      absl::StrAppend(&out, "        critical: ", q.critical ? "true" : "false", "\n");
      absl::StrAppend(&out, "        na_allowed: ", q.na_allowed ? "true" : "false", "\n");
    }
  }
  return out;
}

std::string FormHash(const Form& form) { return Hex16(Fnv1a64(CanonicalFormYaml(form))); }

}  // namespace sb::recording::qa
