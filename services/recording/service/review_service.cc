#include "recording/service/review_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "recording/core/access.h"
#include "recording/core/calibration.h"
#include "recording/core/coaching.h"
#include "recording/core/defaults.h"
#include "recording/core/qa_common.h"
#include "recording/core/review_workflow.h"
#include "recording/core/scoring.h"
#include "recording/core/triggers.h"
#include "recording/service/principal.h"
#include "recording/service/review_records.h"

namespace sb::recording {
namespace {

namespace v1 = ::switchboard::recording::v1;

constexpr int64_t kMsPerDay = 86'400'000;
constexpr int32_t kDefaultPageSize = 50;
constexpr size_t kMaxComments = 1000;
constexpr size_t kMaxCommentText = 4000;

#define SB_RV_CONCAT_I(a, b) a##b
#define SB_RV_CONCAT(a, b) SB_RV_CONCAT_I(a, b)
#define SB_RV_ASSIGN_OR_RETURN(lhs, expr) \
  SB_RV_ASSIGN_OR_RETURN_I(SB_RV_CONCAT(sb_rv_, __LINE__), lhs, expr)
#define SB_RV_ASSIGN_OR_RETURN_I(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(*tmp)
#define SB_RV_RETURN_IF_ERROR(expr)                    \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

absl::Status Missing(std::string_view field) {
  return qa::InvalidArgument("MISSING_FIELD", absl::StrCat(qa::Av(field), ": required"));
}

// Answers on the wire -> the core's answers. Values must be whole numbers.
absl::StatusOr<qa::Answers> ToAnswers(
    const google::protobuf::RepeatedPtrField<v1::Answer>& answers) {
  qa::Answers out;
  for (const v1::Answer& a : answers) {
    if (a.question_id().empty()) return Missing("answers[].question_id");
    qa::Answer answer;
    if (a.na()) {
      answer = qa::Answer::Na();
    } else {
      const double v = a.value();
      if (!(v >= -1e15 && v <= 1e15) || v != static_cast<double>(static_cast<int64_t>(v))) {
        return qa::InvalidArgument(
            "INVALID_ANSWERS",
            absl::StrCat("answers.", a.question_id(), ": ", v, " is not a whole number"));
      }
      answer = qa::Answer::Value(static_cast<int64_t>(v));
    }
    if (!out.emplace(a.question_id(), answer).second) {
      return qa::InvalidArgument("INVALID_ANSWERS",
                                 absl::StrCat("answers.", a.question_id(), ": answered twice"));
    }
  }
  return out;
}

absl::StatusOr<std::vector<storage::EvaluationComment>> ToComments(
    const google::protobuf::RepeatedPtrField<v1::Comment>& comments, const std::string& author) {
  if (static_cast<size_t>(comments.size()) > kMaxComments) {
    return qa::InvalidArgument("TOO_MANY_COMMENTS",
                               absl::StrCat("at most ", kMaxComments, " comments"));
  }
  std::vector<storage::EvaluationComment> out;
  for (int i = 0; i < comments.size(); ++i) {
    const v1::Comment& c = comments[i];
    if (c.offset_ms() < 0) {
      return qa::InvalidArgument("BAD_OFFSET",
                                 absl::StrCat("comments[", i, "].offset_ms: must be >= 0"));
    }
    if (c.text().empty()) return Missing(absl::StrCat("comments[", i, "].text"));
    if (c.text().size() > kMaxCommentText) {
      return qa::InvalidArgument("TEXT_TOO_LONG", absl::StrCat("comments[", i, "].text: over ",
                                                               kMaxCommentText, " bytes"));
    }
    out.push_back(storage::EvaluationComment{c.offset_ms(), c.text(), author});
  }
  return out;
}

v1::Evaluation EvaluationToProto(const storage::Evaluation& e, const qa::Form* form) {
  v1::Evaluation out;
  out.set_evaluation_id(e.id);
  out.set_review_id(e.review_id);
  out.set_reviewer(e.reviewer);
  out.set_form_id(e.form_id);
  out.set_form_version(static_cast<int32_t>(e.form_version));
  out.set_score(e.score);
  out.set_critical_failed(e.critical_failed);
  *out.mutable_submitted_at() = ToTimestamp(e.submitted_at_ms);
  auto answers = qa::ParseAnswers(e.answers_json);
  if (answers.ok()) {
    for (const auto& [id, a] : *answers) {
      v1::Answer* pa = out.add_answers();
      pa->set_question_id(id);
      pa->set_na(a.na);
      pa->set_value(static_cast<double>(a.value));
    }
    if (form != nullptr) {
      if (auto scored = qa::Score(*form, *answers); scored.ok()) {
        for (const std::string& q : scored->failed_critical) out.add_failed_critical(q);
      }
    }
  }
  for (const storage::EvaluationComment& c : e.comments) {
    v1::Comment* pc = out.add_comments();
    pc->set_offset_ms(c.offset_ms);
    pc->set_text(c.text);
    pc->set_author(c.author);
  }
  return out;
}

// A deterministic id for an evaluation.
std::string EvaluationIdFor(const std::string& tenant, const std::string& review_id,
                            const std::string& reviewer, std::string_view purpose, int64_t at_ms) {
  return "ev-" + qa::Hex16(qa::MixHash(
                     0xe7a1, {tenant, review_id, reviewer, purpose, std::to_string(at_ms)}));
}

// Runs the coaching rule for the review's agent (in `tx`, after the score was written) and opens
// the task when one is due.
absl::Status RunCoaching(storage::RecordingStore& tx, const qa::QaConfig& config,
                         const qa::Review& review, int64_t now_ms) {
  const qa::CoachingSettings& settings = config.For(review.tenant, review.queue).coaching;
  const int64_t since = now_ms - static_cast<int64_t>(settings.max_age_days) * kMsPerDay;
  const int32_t limit = std::min<int32_t>(storage::kMaxPageSize, settings.window + 16);
  SB_RV_ASSIGN_OR_RETURN(std::vector<storage::ReviewDetails> scored,
                         tx.ListScoredReviewsOfAgent(review.tenant, review.agent_id, since, limit));
  std::vector<qa::ScoredEvaluation> evaluations;
  for (const storage::ReviewDetails& d : scored) {
    evaluations.push_back(
        qa::ScoredEvaluation{d.review_id, std::clamp(d.score, 0.0, 100.0), d.submitted_at_ms});
  }
  SB_RV_ASSIGN_OR_RETURN(std::optional<qa::CoachingTaskSpec> due,
                         qa::EvaluateCoaching(review.tenant, review.agent_id, review.team,
                                              evaluations, settings, now_ms));
  if (!due) return absl::OkStatus();
  storage::CoachingTask task;
  task.id = "ct-" + qa::Hex16(qa::MixHash(0xc0ac, {due->tenant, due->dedupe_key}));
  task.tenant_id = due->tenant;
  task.agent_id = due->agent_id;
  task.team_id = due->team;
  task.reason = due->reason;
  task.average_score = due->average;
  task.status = storage::CoachingStatus::kOpen;
  task.dedupe_key = due->dedupe_key;
  task.created_at_ms = now_ms;
  task.updated_at_ms = now_ms;
  return tx.CreateCoachingTask(task).status();
}

v1::CoachingTask CoachingToProto(const storage::CoachingTask& t) {
  v1::CoachingTask out;
  out.set_task_id(t.id);
  out.set_agent_id(t.agent_id);
  out.set_team_id(t.team_id);
  out.set_reason(t.reason);
  out.set_average_score(t.average_score);
  out.set_status(std::string(storage::CoachingStatusName(t.status)));
  *out.mutable_created_at() = ToTimestamp(t.created_at_ms);
  return out;
}

// The filter kinds ListReviews accepts: the QA kinds that map to one storage kind, plus the two
// storage kinds of manual flags.
absl::StatusOr<storage::ReviewKind> FilterKind(const std::string& kind) {
  if (kind == "MANUAL" || kind == "POLICY") {
    return qa::InvalidArgument("BAD_KIND",
                               absl::StrCat("kind: filter manual reviews with MANUAL_SUPERVISOR or "
                                            "MANUAL_AGENT (",
                                            kind, " is not a stored kind)"));
  }
  if (auto k = storage::ParseReviewKind(kind)) return *k;
  return qa::InvalidArgument("BAD_KIND",
                             absl::StrCat("kind: '", kind,
                                          "' is not DISCONNECT, ESCALATION, LOW_CSAT, SAMPLE, "
                                          "MANUAL_SUPERVISOR or MANUAL_AGENT"));
}

}  // namespace

ReviewServiceImpl::ReviewServiceImpl(storage::RecordingStore* store, const qa::QaConfig* config,
                                     ReviewEventSink* sink, std::function<int64_t()> now_ms)
    : store_(store),
      config_(config),
      sink_(sink),
      now_ms_(now_ms ? std::move(now_ms) : std::function<int64_t()>(SystemNowMs)) {}

void ReviewServiceImpl::Publish(const v1Review& review) {
  if (sink_ != nullptr) sink_->ReviewChanged(review);
}

absl::StatusOr<qa::Form> ReviewServiceImpl::LoadForm(const std::string& tenant,
                                                     const std::string& form_id, int32_t version) {
  if (version < 0) {
    return qa::InvalidArgument("BAD_VERSION", "form_version: must be >= 0 (0: the latest)");
  }
  absl::StatusOr<storage::EvaluationForm> stored = version == 0
                                                       ? store_->GetLatestForm(tenant, form_id)
                                                       : store_->GetForm(tenant, form_id, version);
  if (stored.ok()) {
    return qa::ParseForm(stored->definition_text,
                         absl::StrCat("form ", form_id, " v", stored->version));
  }
  if (stored.status().code() != absl::StatusCode::kNotFound) return stored.status();
  const qa::Form& builtin = qa::DefaultForm();
  if (form_id == builtin.form_id && (version == 0 || version == builtin.version)) return builtin;
  return absl::NotFoundError(absl::StrCat("FORM_NOT_FOUND: form '", form_id, "'",
                                          version == 0 ? "" : absl::StrCat(" version ", version),
                                          " not found"));
}

// ---- ListReviews ----

absl::StatusOr<v1::ListReviewsResponse> ReviewServiceImpl::DoListReviews(
    const v1::ListReviewsRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  storage::ReviewFilter f;
  f.tenant_id = req.tenant_id();
  if (!req.state().empty()) {
    f.status = storage::ParseReviewStatus(req.state());
    if (!f.status) {
      return qa::InvalidArgument(
          "BAD_STATE",
          absl::StrCat("state: '", req.state(),
                       "' is not OPEN, SUBMITTED, ACKNOWLEDGED, DISPUTED or RESOLVED"));
    }
  }
  if (!req.kind().empty()) {
    SB_RV_ASSIGN_OR_RETURN(storage::ReviewKind kind, FilterKind(req.kind()));
    f.kind = kind;
  }
  if (req.limit() < 0 || req.limit() > storage::kMaxPageSize) {
    return qa::InvalidArgument(
        "BAD_LIMIT", absl::StrCat("limit: must be 0..", storage::kMaxPageSize, " (0: 50)"));
  }
  f.limit = req.limit() == 0 ? kDefaultPageSize : req.limit();
  f.page_token = req.page_token();
  f.interaction_id = req.interaction_id();
  f.agent_id = req.agent_id();
  f.team_ids.assign(req.team_ids().begin(), req.team_ids().end());
  switch (p.role) {
    case qa::Role::kAgent:
      // Agents see only their own reviews.
      if (!f.agent_id.empty() && f.agent_id != p.subject) {
        return qa::PermissionDenied(
            "NOT_OWN", absl::StrCat("agent '", p.subject, "' may list only their own reviews"));
      }
      f.agent_id = p.subject;
      break;
    case qa::Role::kSupervisor:
      // Supervisors see their teams: the requested ones (each must be theirs) or all of them.
      if (f.team_ids.empty()) {
        if (p.teams.empty()) {
          return qa::PermissionDenied("NOT_TEAM",
                                      absl::StrCat("supervisor '", p.subject, "' leads no teams"));
        }
        f.team_ids = p.teams;
      }
      for (const std::string& team : f.team_ids) {
        if (!p.InTeam(team)) {
          return qa::PermissionDenied(
              "NOT_TEAM",
              absl::StrCat("supervisor '", p.subject, "' does not lead team '", team, "'"));
        }
      }
      break;
    case qa::Role::kQaReviewer:
    case qa::Role::kAdmin:
      break;
  }
  SB_RV_ASSIGN_OR_RETURN(storage::ReviewPage page, store_->ListReviews(f));
  std::vector<std::string> ids;
  ids.reserve(page.reviews.size());
  for (const storage::Review& r : page.reviews) ids.push_back(r.id);
  SB_RV_ASSIGN_OR_RETURN(std::vector<storage::ReviewDetails> details,
                         store_->ListReviewDetails(f.tenant_id, ids));
  std::map<std::string, const storage::ReviewDetails*> by_id;
  for (const storage::ReviewDetails& d : details) by_id[d.review_id] = &d;
  v1::ListReviewsResponse out;
  for (const storage::Review& r : page.reviews) {
    auto it = by_id.find(r.id);
    *out.add_reviews() = ToProto(r, it == by_id.end() ? nullptr : it->second);
  }
  out.set_next_page_token(page.next_page_token);
  return out;
}

// ---- GetReview ----

absl::StatusOr<v1::ReviewDetail> ReviewServiceImpl::DoGetReview(const v1::GetReviewRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (req.review_id().empty()) return Missing("review_id");
  SB_RV_ASSIGN_OR_RETURN(ReviewRecord rec, LoadReviewRecord(*store_, p.tenant, req.review_id()));
  const qa::Review review = rec.ToQa();
  SB_RV_RETURN_IF_ERROR(qa::CanView(review, p));
  v1::ReviewDetail out;
  *out.mutable_review() = ToProto(rec.row, rec.details ? &*rec.details : nullptr);
  SB_RV_ASSIGN_OR_RETURN(std::vector<storage::Evaluation> evaluations,
                         store_->ListEvaluationsByReview(p.tenant, req.review_id()));
  std::map<std::pair<std::string, int64_t>, std::optional<qa::Form>> forms;
  for (const storage::Evaluation& e : evaluations) {
    auto key = std::make_pair(e.form_id, e.form_version);
    if (!forms.contains(key)) {
      auto form = LoadForm(p.tenant, e.form_id, static_cast<int32_t>(e.form_version));
      forms[key] = form.ok() ? std::optional<qa::Form>(*std::move(form)) : std::nullopt;
    }
    const auto& form = forms[key];
    *out.add_evaluations() = EvaluationToProto(e, form ? &*form : nullptr);
  }
  if (rec.dispute) {
    v1::Dispute* d = out.mutable_dispute();
    d->set_reason(rec.dispute->reason);
    *d->mutable_opened_at() = ToTimestamp(rec.dispute->opened_at_ms);
    if (rec.dispute->resolved) {
      d->set_resolution(rec.dispute->resolution);
      d->set_resolved_by(rec.dispute->resolved_by);
      *d->mutable_resolved_at() = ToTimestamp(rec.dispute->resolved_at_ms);
      if (rec.details) d->set_note(rec.details->resolution_note);
    }
  }
  SB_RV_ASSIGN_OR_RETURN(std::vector<storage::Feedback> feedback,
                         store_->ListFeedbackByInteraction(p.tenant, rec.row.interaction_id));
  for (const storage::Feedback& f : feedback) {
    v1::Feedback* pf = out.add_feedback();
    pf->set_feedback_id(f.id);
    pf->set_interaction_id(f.interaction_id);
    pf->set_agent_id(f.agent_id);
    pf->set_queue_id(f.queue_id);
    pf->set_csat(f.csat);
    pf->set_comment(f.comment);
    pf->set_wait_ms(f.wait_ms);
  }
  for (qa::ReviewAction a : qa::AllowedActions(review, p)) {
    out.add_allowed_actions(qa::ReviewActionName(a));
  }
  return out;
}

// ---- FlagInteraction ----

absl::StatusOr<v1::Review> ReviewServiceImpl::DoFlag(const v1::FlagInteractionRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (req.interaction_id().empty()) return Missing("interaction_id");
  // What the routing events told us wins over what the request says (a supervisor cannot move a
  // call into their team by naming it).
  storage::InteractionRecord known;
  if (auto ix = store_->GetInteraction(p.tenant, req.interaction_id()); ix.ok()) {
    known = *std::move(ix);
  } else if (ix.status().code() != absl::StatusCode::kNotFound) {
    return ix.status();
  }
  std::string agent = req.agent_id();
  if (agent.empty()) agent = known.agent_id;
  if (agent.empty() && p.role == qa::Role::kAgent) agent = p.subject;
  if (agent.empty()) return Missing("agent_id");
  std::string team = agent == known.agent_id ? known.team_id : std::string();
  if (team.empty()) {
    if (auto a = store_->GetAgent(p.tenant, agent); a.ok()) {
      team = a->team_id;
    } else if (a.status().code() != absl::StatusCode::kNotFound) {
      return a.status();
    }
  }
  if (team.empty()) team = req.team_id();
  const int64_t now = now_ms_();
  qa::ManualFlag flag;
  flag.tenant = p.tenant;
  flag.flag_id = absl::StrCat("flag:", p.subject, ":", req.interaction_id());
  flag.interaction_id = req.interaction_id();
  flag.agent_id = agent;
  flag.team = team;
  flag.queue = known.queue_id;
  flag.note = req.reason();
  flag.time_ms = now;
  SB_RV_ASSIGN_OR_RETURN(qa::ReviewTaskSpec spec, qa::ReviewForManualFlag(flag, p));
  storage::Created<storage::Review> created;
  storage::ReviewDetails details;
  SB_RV_RETURN_IF_ERROR(store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    SB_RV_ASSIGN_OR_RETURN(created, CreateReviewFromSpec(tx, spec, p.role == qa::Role::kAgent));
    SB_RV_ASSIGN_OR_RETURN(details, tx.GetReviewDetails(p.tenant, created.value.id));
    return absl::OkStatus();
  }));
  v1::Review out = ToProto(created.value, &details);
  if (created.created) Publish(out);
  return out;
}

// ---- SubmitEvaluation ----

absl::StatusOr<v1::Evaluation> ReviewServiceImpl::DoSubmit(const v1::SubmitEvaluationRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (req.review_id().empty()) return Missing("review_id");
  SB_RV_ASSIGN_OR_RETURN(ReviewRecord rec, LoadReviewRecord(*store_, p.tenant, req.review_id()));
  const qa::Review review = rec.ToQa();
  const int64_t now = now_ms_();
  // Who, then the state, then the arguments (the core's order).
  SB_RV_RETURN_IF_ERROR(qa::CanScore(review, p));
  if (!req.calibration()) {
    SB_RV_RETURN_IF_ERROR(qa::Submit(review, p, qa::ScoreResult{}, now).status());
  }
  const std::string form_id =
      req.form_id().empty() ? config_->For(p.tenant, review.queue).form_id : req.form_id();
  SB_RV_ASSIGN_OR_RETURN(qa::Form form, LoadForm(p.tenant, form_id, req.form_version()));
  SB_RV_ASSIGN_OR_RETURN(qa::Answers answers, ToAnswers(req.answers()));
  SB_RV_ASSIGN_OR_RETURN(qa::ScoreResult score, qa::Score(form, answers));
  SB_RV_ASSIGN_OR_RETURN(std::vector<storage::EvaluationComment> comments,
                         ToComments(req.comments(), p.subject));
  storage::Evaluation e;
  e.id = EvaluationIdFor(p.tenant, review.review_id, p.subject,
                         req.calibration() ? "calibration" : "review", now);
  e.tenant_id = p.tenant;
  e.review_id = review.review_id;
  e.reviewer = p.subject;
  e.form_id = form.form_id;
  e.form_version = form.version;
  e.answers_json = qa::AnswersToYaml(answers);
  e.score = score.score;
  e.critical_failed = score.critical_failed;
  e.submitted_at_ms = now;
  e.comments = std::move(comments);
  std::optional<v1Review> changed;
  if (req.calibration()) {
    // An extra evaluation for calibration: the review does not change.
    SB_RV_RETURN_IF_ERROR(store_->CreateEvaluation(e).status());
  } else {
    SB_RV_ASSIGN_OR_RETURN(qa::Review next, qa::Submit(review, p, score, now));
    SB_RV_RETURN_IF_ERROR(store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
      SB_RV_RETURN_IF_ERROR(tx.CreateEvaluation(e).status());
      SB_RV_ASSIGN_OR_RETURN(
          storage::Review row,
          tx.UpdateReviewStatus(p.tenant, review.review_id, storage::ReviewStatus::kOpen,
                                storage::ReviewStatus::kSubmitted, now));
      storage::ReviewDetails d = rec.DetailsOrNew();
      d.evaluation_id = e.id;
      d.reviewer = next.reviewer;
      d.score = next.score;
      d.critical_failed = next.critical_failed;
      d.submitted_at_ms = next.submitted_at_ms;
      SB_RV_RETURN_IF_ERROR(tx.PutReviewDetails(d));
      SB_RV_RETURN_IF_ERROR(RunCoaching(tx, *config_, next, now));
      changed = ToProto(row, &d);
      return absl::OkStatus();
    }));
  }
  if (changed) Publish(*changed);
  v1::Evaluation out = EvaluationToProto(e, &form);
  return out;
}

// ---- Acknowledge / Dispute ----

absl::StatusOr<v1::Review> ReviewServiceImpl::DoRespond(const v1::ReviewActionRequest& req,
                                                        bool dispute) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (req.review_id().empty()) return Missing("review_id");
  SB_RV_ASSIGN_OR_RETURN(ReviewRecord rec, LoadReviewRecord(*store_, p.tenant, req.review_id()));
  const qa::Review review = rec.ToQa();
  const int64_t now = now_ms_();
  SB_RV_ASSIGN_OR_RETURN(qa::Review next, dispute ? qa::Dispute(review, p, req.reason(), now)
                                                  : qa::Acknowledge(review, p, now));
  v1Review out;
  SB_RV_RETURN_IF_ERROR(store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    if (dispute) {
      storage::Dispute d;
      d.tenant_id = p.tenant;
      d.review_id = review.review_id;
      d.agent_id = review.agent_id;
      d.reason = next.dispute_reason;
      d.opened_at_ms = now;
      SB_RV_RETURN_IF_ERROR(tx.OpenDispute(d).status());
    }
    SB_RV_ASSIGN_OR_RETURN(
        storage::Review row,
        tx.UpdateReviewStatus(p.tenant, review.review_id, storage::ReviewStatus::kSubmitted,
                              StorageStatusOf(next.state), now));
    storage::ReviewDetails d = rec.DetailsOrNew();
    d.responded_at_ms = next.responded_at_ms;
    SB_RV_RETURN_IF_ERROR(tx.PutReviewDetails(d));
    out = ToProto(row, &d);
    return absl::OkStatus();
  }));
  Publish(out);
  return out;
}

// ---- ResolveDispute ----

absl::StatusOr<v1::Review> ReviewServiceImpl::DoResolve(const v1::ResolveDisputeRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (req.review_id().empty()) return Missing("review_id");
  SB_RV_ASSIGN_OR_RETURN(ReviewRecord rec, LoadReviewRecord(*store_, p.tenant, req.review_id()));
  const qa::Review review = rec.ToQa();
  const int64_t now = now_ms_();
  // Who and the state first (with a well-formed probe), then the arguments.
  SB_RV_RETURN_IF_ERROR(
      qa::Resolve(review, p, qa::Resolution::kUpheld, "probe", std::nullopt, now).status());
  std::optional<qa::Resolution> resolution = qa::ParseResolution(req.resolution());
  if (!resolution) {
    return qa::InvalidArgument("BAD_RESOLUTION", absl::StrCat("resolution: '", req.resolution(),
                                                              "' is not UPHELD or AMENDED"));
  }
  std::optional<qa::ScoreResult> amended_score;
  std::optional<storage::Evaluation> amended;
  if (req.has_amended()) {
    const v1::SubmitEvaluationRequest& a = req.amended();
    const std::string form_id =
        a.form_id().empty() ? config_->For(p.tenant, review.queue).form_id : a.form_id();
    SB_RV_ASSIGN_OR_RETURN(qa::Form form, LoadForm(p.tenant, form_id, a.form_version()));
    SB_RV_ASSIGN_OR_RETURN(qa::Answers answers, ToAnswers(a.answers()));
    SB_RV_ASSIGN_OR_RETURN(qa::ScoreResult score, qa::Score(form, answers));
    SB_RV_ASSIGN_OR_RETURN(std::vector<storage::EvaluationComment> comments,
                           ToComments(a.comments(), p.subject));
    storage::Evaluation e;
    e.id = EvaluationIdFor(p.tenant, review.review_id, p.subject, "amended", now);
    e.tenant_id = p.tenant;
    e.review_id = review.review_id;
    e.reviewer = p.subject;
    e.form_id = form.form_id;
    e.form_version = form.version;
    e.answers_json = qa::AnswersToYaml(answers);
    e.score = score.score;
    e.critical_failed = score.critical_failed;
    e.submitted_at_ms = now;
    e.comments = std::move(comments);
    amended = std::move(e);
    amended_score = std::move(score);
  }
  SB_RV_ASSIGN_OR_RETURN(qa::Review next,
                         qa::Resolve(review, p, *resolution, req.note(), amended_score, now));
  v1Review out;
  SB_RV_RETURN_IF_ERROR(store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    if (amended) SB_RV_RETURN_IF_ERROR(tx.CreateEvaluation(*amended).status());
    SB_RV_RETURN_IF_ERROR(tx.ResolveDispute(p.tenant, review.review_id,
                                            qa::ResolutionName(next.resolution), p.subject, now)
                              .status());
    SB_RV_ASSIGN_OR_RETURN(
        storage::Review row,
        tx.UpdateReviewStatus(p.tenant, review.review_id, storage::ReviewStatus::kDisputed,
                              storage::ReviewStatus::kResolved, now));
    storage::ReviewDetails d = rec.DetailsOrNew();
    d.score = next.score;
    d.critical_failed = next.critical_failed;
    d.resolution_note = next.resolution_note;
    d.score_before_amendment = next.score_before_amendment;
    if (amended) d.amended_evaluation_id = amended->id;
    SB_RV_RETURN_IF_ERROR(tx.PutReviewDetails(d));
    if (amended) SB_RV_RETURN_IF_ERROR(RunCoaching(tx, *config_, next, now));
    out = ToProto(row, &d);
    return absl::OkStatus();
  }));
  Publish(out);
  return out;
}

// ---- GetCalibration ----

absl::StatusOr<v1::CalibrationReport> ReviewServiceImpl::DoCalibration(
    const v1::GetCalibrationRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (req.interaction_id().empty()) return Missing("interaction_id");
  // Whose call it is: the interaction's reviews say.
  storage::ReviewFilter f;
  f.tenant_id = p.tenant;
  f.interaction_id = req.interaction_id();
  f.limit = 1;
  SB_RV_ASSIGN_OR_RETURN(storage::ReviewPage page, store_->ListReviews(f));
  if (page.reviews.empty()) {
    return absl::NotFoundError(
        absl::StrCat("NOT_FOUND: no reviews of interaction '", req.interaction_id(), "'"));
  }
  const storage::Review& any = page.reviews.front();
  SB_RV_RETURN_IF_ERROR(qa::CanViewCalibration(qa::Owner{p.tenant, any.agent_id, any.team_id}, p));
  SB_RV_ASSIGN_OR_RETURN(std::vector<storage::Evaluation> evaluations,
                         store_->ListEvaluationsByInteraction(p.tenant, req.interaction_id()));
  // One entry per reviewer: their latest evaluation (evaluations come oldest first).
  std::map<std::string, const storage::Evaluation*> latest;
  for (const storage::Evaluation& e : evaluations) latest[e.reviewer] = &e;
  std::vector<qa::CalibrationEntry> entries;
  for (const auto& [reviewer, e] : latest) {
    SB_RV_ASSIGN_OR_RETURN(qa::Form form,
                           LoadForm(p.tenant, e->form_id, static_cast<int32_t>(e->form_version)));
    SB_RV_ASSIGN_OR_RETURN(qa::Answers answers, qa::ParseAnswers(e->answers_json));
    SB_RV_ASSIGN_OR_RETURN(qa::ScoreResult score, qa::Score(form, answers));
    entries.push_back(qa::EntryFromScore(reviewer, score));
  }
  SB_RV_ASSIGN_OR_RETURN(qa::CalibrationReport report,
                         qa::Calibrate(entries, config_->For(p.tenant).calibration));
  v1::CalibrationReport out;
  out.set_evaluations(report.reviewers);
  out.set_mean(report.overall.mean);
  out.set_min(report.overall.min);
  out.set_max(report.overall.max);
  out.set_range(report.overall.range);
  out.set_stddev(report.overall.stddev);
  for (const qa::QuestionSpread& q : report.questions) {
    v1::QuestionSpread* pq = out.add_questions();
    pq->set_question_id(q.question_id);
    pq->set_mean(q.spread.mean);
    pq->set_min(q.spread.min);
    pq->set_max(q.spread.max);
    pq->set_stddev(q.spread.stddev);
    pq->set_disagreement(q.disagrees);
  }
  return out;
}

// ---- ListCoachingTasks ----

absl::StatusOr<v1::ListCoachingTasksResponse> ReviewServiceImpl::DoListCoaching(
    const v1::ListCoachingTasksRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  std::vector<storage::CoachingFilter> filters;
  storage::CoachingFilter base;
  base.tenant_id = p.tenant;
  base.agent_id = req.agent_id();
  base.limit = storage::kMaxPageSize;
  switch (p.role) {
    case qa::Role::kAgent:
      if (base.agent_id.empty()) base.agent_id = p.subject;
      SB_RV_RETURN_IF_ERROR(qa::CanViewCoaching(qa::Owner{p.tenant, base.agent_id, ""}, p));
      filters.push_back(base);
      break;
    case qa::Role::kSupervisor:
      for (const std::string& team : p.teams) {
        storage::CoachingFilter f = base;
        f.team_id = team;
        filters.push_back(f);
      }
      break;
    case qa::Role::kQaReviewer:
      SB_RV_RETURN_IF_ERROR(qa::CanViewCoaching(qa::Owner{p.tenant, base.agent_id, ""}, p));
      break;
    case qa::Role::kAdmin:
      filters.push_back(base);
      break;
  }
  v1::ListCoachingTasksResponse out;
  for (const storage::CoachingFilter& f : filters) {
    SB_RV_ASSIGN_OR_RETURN(std::vector<storage::CoachingTask> tasks, store_->ListCoachingTasks(f));
    for (const storage::CoachingTask& t : tasks) {
      if (!qa::CanViewCoaching(qa::Owner{t.tenant_id, t.agent_id, t.team_id}, p).ok()) continue;
      *out.add_tasks() = CoachingToProto(t);
    }
  }
  return out;
}

// ---- Forms ----

absl::StatusOr<v1::Form> ReviewServiceImpl::DoPutForm(const v1::PutFormRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (p.role != qa::Role::kQaReviewer && p.role != qa::Role::kAdmin) {
    return qa::PermissionDenied(
        "ROLE", absl::StrCat("a ", qa::RoleName(p.role),
                             " cannot change evaluation forms (allowed: qa_reviewer, admin)"));
  }
  if (req.definition_yaml().empty()) return Missing("definition_yaml");
  SB_RV_ASSIGN_OR_RETURN(qa::Form form, qa::ParseForm(req.definition_yaml(), "definition_yaml"));
  storage::EvaluationForm stored;
  stored.tenant_id = p.tenant;
  stored.form_id = form.form_id;
  stored.version = form.version;
  stored.definition_text = qa::CanonicalFormYaml(form);
  stored.created_at_ms = now_ms_();
  SB_RV_RETURN_IF_ERROR(store_->PutForm(stored).status());
  v1::Form out;
  out.set_form_id(form.form_id);
  out.set_version(form.version);
  out.set_definition_yaml(stored.definition_text);
  return out;
}

absl::StatusOr<v1::Form> ReviewServiceImpl::DoGetForm(const v1::GetFormRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  const std::string form_id =
      req.form_id().empty() ? config_->For(p.tenant).form_id : req.form_id();
  SB_RV_ASSIGN_OR_RETURN(qa::Form form, LoadForm(p.tenant, form_id, req.version()));
  v1::Form out;
  out.set_form_id(form.form_id);
  out.set_version(form.version);
  out.set_definition_yaml(qa::CanonicalFormYaml(form));
  return out;
}

// ---- RunWeeklySample ----

absl::StatusOr<v1::RunWeeklySampleResponse> ReviewServiceImpl::DoWeeklySample(
    const v1::RunWeeklySampleRequest& req) {
  SB_RV_ASSIGN_OR_RETURN(qa::Principal p, ToPrincipal(req.tenant_id(), req.principal()));
  if (p.role != qa::Role::kAdmin) {
    return qa::PermissionDenied(
        "ROLE",
        absl::StrCat("a ", qa::RoleName(p.role), " cannot run the weekly sample (allowed: admin)"));
  }
  if (!req.has_week_of()) return Missing("week_of");
  const qa::IsoWeek week = qa::IsoWeekOf(ToUnixMs(req.week_of()));
  std::vector<qa::SampleCandidate> candidates;
  int64_t after_ended = 0;
  std::string after_id;
  while (true) {
    SB_RV_ASSIGN_OR_RETURN(
        std::vector<storage::InteractionRecord> page,
        store_->ListEndedInteractions(p.tenant, week.start_unix_ms, week.end_unix_ms(), after_ended,
                                      after_id, storage::kMaxPageSize));
    for (const storage::InteractionRecord& ix : page) {
      candidates.push_back(qa::SampleCandidate{ix.tenant_id, ix.agent_id, ix.team_id, ix.queue_id,
                                               ix.interaction_id, ix.ended_at_ms});
    }
    if (page.size() < static_cast<size_t>(storage::kMaxPageSize)) break;
    after_ended = page.back().ended_at_ms;
    after_id = page.back().interaction_id;
  }
  const int64_t now = now_ms_();
  SB_RV_ASSIGN_OR_RETURN(std::vector<qa::ReviewTaskSpec> specs,
                         qa::SelectWeeklySample(
                             candidates,
                             [this](const std::string& tenant, const std::string& queue) {
                               return config_->SamplingFor(tenant, queue);
                             },
                             now));
  v1::RunWeeklySampleResponse out;
  SB_RV_RETURN_IF_ERROR(store_->InTransaction([&](storage::RecordingStore& tx) -> absl::Status {
    out.Clear();
    for (const qa::ReviewTaskSpec& spec : specs) {
      SB_RV_ASSIGN_OR_RETURN(storage::Created<storage::Review> created,
                             CreateReviewFromSpec(tx, spec, /*flagged_by_agent=*/false));
      if (!created.created) continue;
      SB_RV_ASSIGN_OR_RETURN(storage::ReviewDetails d,
                             tx.GetReviewDetails(p.tenant, created.value.id));
      *out.add_created() = ToProto(created.value, &d);
    }
    return absl::OkStatus();
  }));
  for (const v1::Review& r : out.created()) Publish(r);
  return out;
}

// ---- The gRPC handlers ----

namespace {

template <typename Resp>
grpc::Status Answer(absl::StatusOr<Resp> result, Resp* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ReviewServiceImpl::ListReviews(grpc::ServerContext*,
                                            const v1::ListReviewsRequest* request,
                                            v1::ListReviewsResponse* response) {
  return Answer(DoListReviews(*request), response);
}
grpc::Status ReviewServiceImpl::GetReview(grpc::ServerContext*, const v1::GetReviewRequest* request,
                                          v1::ReviewDetail* response) {
  return Answer(DoGetReview(*request), response);
}
grpc::Status ReviewServiceImpl::FlagInteraction(grpc::ServerContext*,
                                                const v1::FlagInteractionRequest* request,
                                                v1::Review* response) {
  return Answer(DoFlag(*request), response);
}
grpc::Status ReviewServiceImpl::SubmitEvaluation(grpc::ServerContext*,
                                                 const v1::SubmitEvaluationRequest* request,
                                                 v1::Evaluation* response) {
  return Answer(DoSubmit(*request), response);
}
grpc::Status ReviewServiceImpl::Acknowledge(grpc::ServerContext*,
                                            const v1::ReviewActionRequest* request,
                                            v1::Review* response) {
  return Answer(DoRespond(*request, /*dispute=*/false), response);
}
grpc::Status ReviewServiceImpl::Dispute(grpc::ServerContext*,
                                        const v1::ReviewActionRequest* request,
                                        v1::Review* response) {
  return Answer(DoRespond(*request, /*dispute=*/true), response);
}
grpc::Status ReviewServiceImpl::ResolveDispute(grpc::ServerContext*,
                                               const v1::ResolveDisputeRequest* request,
                                               v1::Review* response) {
  return Answer(DoResolve(*request), response);
}
grpc::Status ReviewServiceImpl::GetCalibration(grpc::ServerContext*,
                                               const v1::GetCalibrationRequest* request,
                                               v1::CalibrationReport* response) {
  return Answer(DoCalibration(*request), response);
}
grpc::Status ReviewServiceImpl::ListCoachingTasks(grpc::ServerContext*,
                                                  const v1::ListCoachingTasksRequest* request,
                                                  v1::ListCoachingTasksResponse* response) {
  return Answer(DoListCoaching(*request), response);
}
grpc::Status ReviewServiceImpl::PutForm(grpc::ServerContext*, const v1::PutFormRequest* request,
                                        v1::Form* response) {
  return Answer(DoPutForm(*request), response);
}
grpc::Status ReviewServiceImpl::GetForm(grpc::ServerContext*, const v1::GetFormRequest* request,
                                        v1::Form* response) {
  return Answer(DoGetForm(*request), response);
}
grpc::Status ReviewServiceImpl::RunWeeklySample(grpc::ServerContext*,
                                                const v1::RunWeeklySampleRequest* request,
                                                v1::RunWeeklySampleResponse* response) {
  return Answer(DoWeeklySample(*request), response);
}

}  // namespace sb::recording
