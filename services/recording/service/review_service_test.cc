// ReviewServiceImpl, FeedbackServiceImpl and ReviewIntake against an in-memory SQLite store, with
// a fake clock: reviews from disconnects, escalations and low CSAT; the score / dispute / resolve
// flow; roles; calibration; coaching; weekly sampling; bad input changes nothing.
#include "recording/service/review_service.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "recording/core/qa_common.h"
#include "recording/core/qa_config.h"
#include "recording/service/feedback_service.h"
#include "recording/service/principal.h"
#include "recording/service/review_intake.h"
#include "recording/service/review_records.h"
#include "recording/storage/open_store.h"

namespace sb::recording {
namespace {

namespace v1 = ::switchboard::recording::v1;
namespace rv1 = ::switchboard::routing::v1;
namespace pv1 = ::switchboard::policy::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z (a Thursday)
constexpr char kTenant[] = "acme";

// Coaching after two evaluations, so a test can reach it quickly.
constexpr char kQaYaml[] = R"(
defaults:
  coaching: {target: 80, window: 2, max_age_days: 30}
  sampling: {per_agent_per_week: 1, seed: 7}
)";

class CollectingSink : public ReviewEventSink {
 public:
  void ReviewChanged(const v1::Review& review) override {
    std::lock_guard<std::mutex> lock(mu_);
    reviews_.push_back(review);
  }
  std::vector<v1::Review> reviews() {
    std::lock_guard<std::mutex> lock(mu_);
    return reviews_;
  }

 private:
  std::mutex mu_;
  std::vector<v1::Review> reviews_;
};

v1::Principal P(const std::string& role, const std::string& subject,
                std::vector<std::string> teams = {}) {
  v1::Principal p;
  p.set_role(role);
  p.set_subject(subject);
  for (auto& t : teams) p.add_teams(t);
  return p;
}

grpc::StatusCode Code(const grpc::Status& s) { return s.error_code(); }
// The stable reason: the message up to the first ':'.
std::string Reason(const grpc::Status& s) {
  const std::string& m = s.error_message();
  return m.substr(0, m.find(':'));
}

rv1::RoutingEvent Ev(const std::string& id, int64_t at_ms) {
  rv1::RoutingEvent e;
  e.set_event_id(id);
  e.set_tenant_id(kTenant);
  *e.mutable_time() = ToTimestamp(at_ms);
  return e;
}

class ReviewServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = storage::OpenStore("sqlite::memory:");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto config = qa::ParseQaConfig(kQaYaml, "qa.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *std::move(config);
    auto clock = [this] { return now_; };
    intake_ = std::make_unique<ReviewIntake>(store_.get(), &config_, &sink_);
    reviews_ = std::make_unique<ReviewServiceImpl>(store_.get(), &config_, &sink_, clock);
    feedback_ = std::make_unique<FeedbackServiceImpl>(store_.get(), &config_, &sink_, clock);
    // Two agents in two teams, each with a completed call.
    Agent("a1", "red");
    Agent("a2", "blue");
    Call("i1", "a1", kT0 + 1000, /*wait_ms=*/20000);
    Call("i2", "a2", kT0 + 2000, /*wait_ms=*/5000);
  }

  void Agent(const std::string& id, const std::string& team) {
    rv1::RoutingEvent e = Ev("agent-" + id, kT0);
    auto* p = e.mutable_agent_upserted()->mutable_profile();
    p->set_agent_id(id);
    p->set_team(team);
    ASSERT_TRUE(intake_->OnRoutingEvent(e).ok());
  }

  // Queued, connected after `wait_ms`, ended a minute later.
  void Call(const std::string& id, const std::string& agent, int64_t at, int64_t wait_ms) {
    rv1::RoutingEvent q = Ev(id + "/q", at);
    q.mutable_interaction_queued()->set_interaction_id(id);
    q.mutable_interaction_queued()->set_queue_id("billing");
    (*q.mutable_interaction_queued()->mutable_attributes())["customer_id"] = "cust-" + id;
    ASSERT_TRUE(intake_->OnRoutingEvent(q).ok());
    rv1::RoutingEvent c = Ev(id + "/c", at + wait_ms);
    c.mutable_interaction_connected()->set_interaction_id(id);
    c.mutable_interaction_connected()->set_agent_id(agent);
    c.mutable_interaction_connected()->set_queue_id("billing");
    c.mutable_interaction_connected()->mutable_waited()->set_seconds(wait_ms / 1000);
    ASSERT_TRUE(intake_->OnRoutingEvent(c).ok());
    rv1::RoutingEvent d = Ev(id + "/e", at + wait_ms + 60000);
    d.mutable_interaction_ended()->set_interaction_id(id);
    d.mutable_interaction_ended()->set_agent_id(agent);
    d.mutable_interaction_ended()->set_queue_id("billing");
    d.mutable_interaction_ended()->set_reason(rv1::END_REASON_COMPLETED);
    ASSERT_TRUE(intake_->OnRoutingEvent(d).ok());
  }

  pv1::PolicyDecision Disconnect(const std::string& id, const std::string& interaction,
                                 const std::string& agent) {
    pv1::PolicyDecision d;
    d.set_decision_id(id);
    d.set_tenant_id(kTenant);
    d.set_kind("disconnect");
    d.set_interaction_id(interaction);
    d.set_agent_id(agent);
    d.set_outcome(pv1::OUTCOME_ALLOW);
    *d.mutable_time() = ToTimestamp(kT0 + 90000);
    d.add_obligations()->mutable_end_interaction()->set_category("racial_slur");
    auto* cr = d.add_obligations()->mutable_create_review();
    cr->set_reason("agent_disconnect");
    cr->set_mandatory(true);
    return d;
  }

  // Opens the mandatory disconnect review of i1 (agent a1, team red) and returns its id.
  std::string OpenDisconnectReview() {
    EXPECT_TRUE(intake_->OnPolicyDecision(Disconnect("d-1", "i1", "a1"), "d-1").ok());
    v1::ListReviewsRequest req;
    req.set_tenant_id(kTenant);
    *req.mutable_principal() = P("qa_reviewer", "qa1");
    req.set_interaction_id("i1");
    v1::ListReviewsResponse resp;
    EXPECT_TRUE(reviews_->ListReviews(&ctx_, &req, &resp).ok());
    EXPECT_EQ(resp.reviews_size(), 1);
    return resp.reviews_size() > 0 ? resp.reviews(0).review_id() : "";
  }

  // Answers to the default form: every question at its best, except `overrides`.
  static void Answers(v1::SubmitEvaluationRequest* req, std::map<std::string, double> overrides) {
    const std::map<std::string, double> best = {{"greeting", 1},
                                                {"verification", 1},
                                                {"understood_need", 5},
                                                {"active_listening", 5},
                                                {"accurate_information", 1},
                                                {"resolved", 5},
                                                {"within_authority", 1},
                                                {"courtesy", 5},
                                                {"empathy", 5},
                                                {"hold_etiquette", 1},
                                                {"disconnect_policy", 1},
                                                {"payment_data_paused", 1},
                                                {"closing", 1},
                                                {"wrap_up_notes", 3}};
    for (const auto& [id, value] : best) {
      v1::Answer* a = req->add_answers();
      a->set_question_id(id);
      auto it = overrides.find(id);
      a->set_value(it == overrides.end() ? value : it->second);
    }
  }

  grpc::Status Score(const std::string& review_id, const v1::Principal& who,
                     std::map<std::string, double> overrides = {}, bool calibration = false,
                     v1::Evaluation* out = nullptr) {
    v1::SubmitEvaluationRequest req;
    req.set_tenant_id(kTenant);
    *req.mutable_principal() = who;
    req.set_review_id(review_id);
    req.set_calibration(calibration);
    Answers(&req, std::move(overrides));
    auto* c = req.add_comments();
    c->set_offset_ms(42000);
    c->set_text("apologized well here");
    v1::Evaluation resp;
    grpc::Status s = reviews_->SubmitEvaluation(&ctx_, &req, &resp);
    if (out != nullptr) *out = resp;
    return s;
  }

  grpc::Status Act(bool dispute, const std::string& review_id, const v1::Principal& who,
                   const std::string& reason = "", v1::Review* out = nullptr) {
    v1::ReviewActionRequest req;
    req.set_tenant_id(kTenant);
    *req.mutable_principal() = who;
    req.set_review_id(review_id);
    req.set_reason(reason);
    v1::Review resp;
    grpc::Status s =
        dispute ? reviews_->Dispute(&ctx_, &req, &resp) : reviews_->Acknowledge(&ctx_, &req, &resp);
    if (out != nullptr) *out = resp;
    return s;
  }

  v1::ReviewDetail Get(const std::string& review_id, const v1::Principal& who,
                       grpc::Status* status = nullptr) {
    v1::GetReviewRequest req;
    req.set_tenant_id(kTenant);
    *req.mutable_principal() = who;
    req.set_review_id(review_id);
    v1::ReviewDetail resp;
    grpc::Status s = reviews_->GetReview(&ctx_, &req, &resp);
    if (status != nullptr) *status = s;
    return resp;
  }

  grpc::Status List(const v1::Principal& who, v1::ListReviewsResponse* resp,
                    const std::function<void(v1::ListReviewsRequest&)>& edit = {}) {
    v1::ListReviewsRequest req;
    req.set_tenant_id(kTenant);
    *req.mutable_principal() = who;
    if (edit) edit(req);
    return reviews_->ListReviews(&ctx_, &req, resp);
  }

  grpc::Status Feedback(const std::string& interaction, int csat, const std::string& comment,
                        v1::Feedback* out, const std::string& id = "") {
    v1::SubmitFeedbackRequest req;
    req.set_tenant_id(kTenant);
    req.set_feedback_id(id);
    req.set_interaction_id(interaction);
    req.set_csat(csat);
    req.set_comment(comment);
    return feedback_->SubmitFeedback(&ctx_, &req, out);
  }

  int64_t now_ = kT0 + 3'600'000;
  grpc::ServerContext ctx_;
  std::unique_ptr<storage::RecordingStore> store_;
  qa::QaConfig config_;
  CollectingSink sink_;
  std::unique_ptr<ReviewIntake> intake_;
  std::unique_ptr<ReviewServiceImpl> reviews_;
  std::unique_ptr<FeedbackServiceImpl> feedback_;
};

// ---- Principal ----

TEST(PrincipalTest, MapsRolesAndRefusesMissingOrUnknown) {
  auto p = ToPrincipal("acme", P("supervisor", "s1", {"red", "blue"}));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->role, qa::Role::kSupervisor);
  EXPECT_EQ(p->tenant, "acme");
  EXPECT_THAT(p->teams, ElementsAre("red", "blue"));
  EXPECT_EQ(ToPrincipal("acme", v1::Principal()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ToPrincipal("", P("admin", "x")).status().code(), absl::StatusCode::kUnauthenticated);
  auto bad = ToPrincipal("acme", P("boss", "x"));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(qa::ReasonOf(bad.status()), "BAD_ROLE");
  grpc::Status g = ToGrpc(absl::PermissionDeniedError("NOT_OWN: x"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(g.error_message(), "NOT_OWN: x");
}

// ---- Intake ----

TEST_F(ReviewServiceTest, AllowedDisconnectOpensOneMandatoryReview) {
  const pv1::PolicyDecision d = Disconnect("d-1", "i1", "a1");
  ASSERT_TRUE(intake_->OnPolicyDecision(d, "d-1").ok());
  ASSERT_TRUE(intake_->OnPolicyDecision(d, "d-1").ok());  // redelivered
  // A different decision about the same disconnect lands on the same review (dedupe key).
  ASSERT_TRUE(intake_->OnPolicyDecision(Disconnect("d-2", "i1", "a1"), "d-2").ok());
  ASSERT_EQ(sink_.reviews().size(), 1u);
  const v1::Review r = sink_.reviews()[0];
  EXPECT_EQ(r.kind(), "DISCONNECT");
  EXPECT_TRUE(r.mandatory());
  EXPECT_EQ(r.state(), "OPEN");
  EXPECT_EQ(r.agent_id(), "a1");
  EXPECT_EQ(r.team_id(), "red");
  EXPECT_EQ(r.reason(), "agent_disconnect");
  // Dry runs and decisions without create_review open nothing.
  pv1::PolicyDecision dry = Disconnect("d-3", "i2", "a2");
  dry.set_dry_run(true);
  ASSERT_TRUE(intake_->OnPolicyDecision(dry, "d-3").ok());
  pv1::PolicyDecision denied;
  denied.set_decision_id("d-4");
  denied.set_tenant_id(kTenant);
  denied.set_interaction_id("i2");
  denied.set_agent_id("a2");
  denied.set_outcome(pv1::OUTCOME_DENY);
  ASSERT_TRUE(intake_->OnPolicyDecision(denied, "d-4").ok());
  EXPECT_EQ(sink_.reviews().size(), 1u);
  // A decision that cannot be applied is refused and leaves nothing behind.
  pv1::PolicyDecision bad = Disconnect("d-5", "i2", "");
  EXPECT_EQ(intake_->OnPolicyDecision(bad, "d-5").code(), absl::StatusCode::kInvalidArgument);
  v1::ListReviewsResponse all;
  ASSERT_TRUE(List(P("admin", "root"), &all).ok());
  EXPECT_EQ(all.reviews_size(), 1);
}

TEST_F(ReviewServiceTest, EscalationEventAndDecisionOpenOneReview) {
  rv1::RoutingEvent e = Ev("esc-1", kT0 + 50000);
  auto* x = e.mutable_escalation_created();
  x->set_interaction_id("i2");
  x->set_task_id("task-1");
  x->set_agent_id("a2");
  x->set_reason("caller_requested_manager");
  ASSERT_TRUE(intake_->OnRoutingEvent(e).ok());
  ASSERT_TRUE(intake_->OnRoutingEvent(e).ok());
  pv1::PolicyDecision d;
  d.set_decision_id("d-esc");
  d.set_tenant_id(kTenant);
  d.set_kind("escalation");
  d.set_interaction_id("i2");
  d.set_agent_id("a2");
  d.set_outcome(pv1::OUTCOME_ALLOW);
  d.add_obligations()->mutable_create_review()->set_reason("escalation");
  ASSERT_TRUE(intake_->OnPolicyDecision(d, "d-esc").ok());
  ASSERT_EQ(sink_.reviews().size(), 1u);
  EXPECT_EQ(sink_.reviews()[0].kind(), "ESCALATION");
  EXPECT_TRUE(sink_.reviews()[0].mandatory());
  EXPECT_EQ(sink_.reviews()[0].team_id(), "blue");  // from AgentUpserted
}

TEST_F(ReviewServiceTest, LowCsatAboutTheAgentOpensReviewAboutTheQueueDoesNot) {
  v1::Feedback f;
  // i2 waited 5 s (short): "rude" and low -> about the agent.
  ASSERT_TRUE(Feedback("i2", 1, "the agent was rude", &f).ok());
  EXPECT_EQ(f.cause(), "AGENT");
  EXPECT_EQ(f.agent_id(), "a2");
  EXPECT_EQ(f.queue_id(), "billing");
  EXPECT_EQ(f.wait_ms(), 5000);
  EXPECT_EQ(f.feedback_id(), "i2/csat");
  ASSERT_FALSE(f.review_id().empty());
  ASSERT_EQ(sink_.reviews().size(), 1u);
  EXPECT_EQ(sink_.reviews()[0].kind(), "LOW_CSAT");
  EXPECT_FALSE(sink_.reviews()[0].mandatory());
  // The same feedback again: the same answer, no second review.
  v1::Feedback again;
  ASSERT_TRUE(Feedback("i2", 1, "the agent was rude", &again).ok());
  EXPECT_EQ(again.review_id(), f.review_id());
  EXPECT_EQ(sink_.reviews().size(), 1u);
  // Different content under the same id is refused.
  v1::Feedback other;
  EXPECT_EQ(Code(Feedback("i2", 3, "fine", &other)), grpc::StatusCode::ALREADY_EXISTS);
  // i1 waited 20 s, within the 60 s target; complaining about the wait -> QUEUE, no review.
  v1::Feedback q;
  ASSERT_TRUE(Feedback("i1", 2, "I waited forever", &q).ok());
  EXPECT_EQ(q.cause(), "QUEUE");
  EXPECT_TRUE(q.review_id().empty());
  // A good score is not low.
  v1::Feedback good;
  ASSERT_TRUE(Feedback("i1", 5, "great", &good, "i1/second").ok());
  EXPECT_EQ(good.cause(), "NOT_LOW");
  EXPECT_EQ(sink_.reviews().size(), 1u);
}

TEST_F(ReviewServiceTest, BadFeedbackIsRefusedAndNothingStored) {
  v1::Feedback f;
  grpc::Status s = Feedback("i1", 7, "", &f);
  EXPECT_EQ(Code(s), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "CSAT_OUT_OF_RANGE");
  s = Feedback("i1", 0, "", &f);
  EXPECT_EQ(Reason(s), "CSAT_OUT_OF_RANGE");
  s = Feedback("", 3, "", &f);
  EXPECT_EQ(Reason(s), "MISSING_FIELD");
  s = Feedback("i1", 1, std::string(5000, 'x'), &f);
  EXPECT_EQ(Reason(s), "COMMENT_TOO_LONG");
  auto stored = store_->ListFeedbackByInteraction(kTenant, "i1");
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->empty());
  EXPECT_TRUE(sink_.reviews().empty());
}

// ---- The workflow ----

TEST_F(ReviewServiceTest, ScoreDisputeResolve) {
  const std::string id = OpenDisconnectReview();
  ASSERT_FALSE(id.empty());
  // A supervisor may not score; an agent may not score; the reviewer may.
  grpc::Status s = Score(id, P("supervisor", "s-red", {"red"}));
  EXPECT_EQ(Code(s), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Reason(s), "ROLE");
  v1::Evaluation ev;
  ASSERT_TRUE(Score(id, P("qa_reviewer", "qa1"), {{"empathy", 2}}, false, &ev).ok());
  EXPECT_GT(ev.score(), 80);
  EXPECT_LT(ev.score(), 100);
  EXPECT_EQ(ev.form_id(), "default");
  EXPECT_EQ(ev.comments_size(), 1);
  EXPECT_EQ(ev.comments(0).author(), "qa1");
  // Scoring twice: the review is no longer OPEN.
  s = Score(id, P("qa_reviewer", "qa2"));
  EXPECT_EQ(Code(s), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "INVALID_TRANSITION");

  // Only the reviewed agent disputes, with a reason.
  EXPECT_EQ(Reason(Act(true, id, P("agent", "a2"), "no")), "NOT_OWN");
  EXPECT_EQ(Reason(Act(true, id, P("agent", "a1"), "  ")), "DISPUTE_REASON_REQUIRED");
  v1::Review disputed;
  ASSERT_TRUE(Act(true, id, P("agent", "a1"), "I was polite", &disputed).ok());
  EXPECT_EQ(disputed.state(), "DISPUTED");
  EXPECT_EQ(Reason(Act(false, id, P("agent", "a1"))), "INVALID_TRANSITION");

  // A supervisor of another team may not resolve; the red supervisor amends the score.
  v1::ResolveDisputeRequest res;
  res.set_tenant_id(kTenant);
  *res.mutable_principal() = P("supervisor", "s-blue", {"blue"});
  res.set_review_id(id);
  res.set_resolution("AMENDED");
  res.set_note("empathy was fine on the recording");
  Answers(res.mutable_amended(), {});
  v1::Review resolved;
  s = reviews_->ResolveDispute(&ctx_, &res, &resolved);
  EXPECT_EQ(Reason(s), "NOT_TEAM");
  *res.mutable_principal() = P("supervisor", "s-red", {"red"});
  res.set_resolution("SORT_OF");
  EXPECT_EQ(Reason(reviews_->ResolveDispute(&ctx_, &res, &resolved)), "BAD_RESOLUTION");
  res.set_resolution("AMENDED");
  ASSERT_TRUE(reviews_->ResolveDispute(&ctx_, &res, &resolved).ok());
  EXPECT_EQ(resolved.state(), "RESOLVED");
  EXPECT_DOUBLE_EQ(resolved.score(), 100);

  const v1::ReviewDetail detail = Get(id, P("agent", "a1"));
  EXPECT_EQ(detail.review().state(), "RESOLVED");
  EXPECT_EQ(detail.evaluations_size(), 2);
  EXPECT_EQ(detail.dispute().reason(), "I was polite");
  EXPECT_EQ(detail.dispute().resolution(), "AMENDED");
  EXPECT_EQ(detail.dispute().resolved_by(), "s-red");
  EXPECT_EQ(detail.dispute().note(), "empathy was fine on the recording");
  EXPECT_TRUE(detail.allowed_actions().empty());
  // The sink heard: created, submitted, disputed, resolved.
  std::vector<std::string> states;
  for (const v1::Review& r : sink_.reviews()) states.push_back(r.state());
  EXPECT_THAT(states, ElementsAre("OPEN", "SUBMITTED", "DISPUTED", "RESOLVED"));
}

TEST_F(ReviewServiceTest, AcknowledgeAndAllowedActions) {
  const std::string id = OpenDisconnectReview();
  EXPECT_THAT(Get(id, P("qa_reviewer", "qa1")).allowed_actions(), ElementsAre("submit"));
  ASSERT_TRUE(Score(id, P("admin", "root")).ok());
  EXPECT_THAT(Get(id, P("agent", "a1")).allowed_actions(), ElementsAre("acknowledge", "dispute"));
  v1::Review r;
  ASSERT_TRUE(Act(false, id, P("agent", "a1"), "", &r).ok());
  EXPECT_EQ(r.state(), "ACKNOWLEDGED");
  EXPECT_DOUBLE_EQ(r.score(), 100);
}

TEST_F(ReviewServiceTest, CriticalFailureScoresZero) {
  const std::string id = OpenDisconnectReview();
  v1::Evaluation ev;
  ASSERT_TRUE(Score(id, P("qa_reviewer", "qa1"), {{"accurate_information", 0}}, false, &ev).ok());
  EXPECT_EQ(ev.score(), 0);
  EXPECT_TRUE(ev.critical_failed());
  EXPECT_THAT(ev.failed_critical(), ElementsAre("accurate_information"));
  const v1::ReviewDetail d = Get(id, P("qa_reviewer", "qa1"));
  EXPECT_TRUE(d.review().critical_failed());
  ASSERT_EQ(d.evaluations_size(), 1);
  EXPECT_THAT(d.evaluations(0).failed_critical(), ElementsAre("accurate_information"));
}

// ---- Roles ----

TEST_F(ReviewServiceTest, EachRoleSeesWhatItMay) {
  OpenDisconnectReview();                                                             // a1 / red
  ASSERT_TRUE(intake_->OnPolicyDecision(Disconnect("d-9", "i2", "a2"), "d-9").ok());  // a2 / blue
  auto agents_of = [](const v1::ListReviewsResponse& r) {
    std::vector<std::string> out;
    for (const auto& x : r.reviews()) out.push_back(x.agent_id());
    return out;
  };
  v1::ListReviewsResponse r;
  ASSERT_TRUE(List(P("qa_reviewer", "qa1"), &r).ok());
  EXPECT_THAT(agents_of(r), UnorderedElementsAre("a1", "a2"));
  r.Clear();
  ASSERT_TRUE(List(P("agent", "a1"), &r).ok());
  EXPECT_THAT(agents_of(r), ElementsAre("a1"));
  r.Clear();
  EXPECT_EQ(Reason(List(P("agent", "a1"), &r, [](auto& q) { q.set_agent_id("a2"); })), "NOT_OWN");
  r.Clear();
  ASSERT_TRUE(List(P("supervisor", "s-red", {"red"}), &r).ok());
  EXPECT_THAT(agents_of(r), ElementsAre("a1"));
  r.Clear();
  EXPECT_EQ(
      Reason(List(P("supervisor", "s-red", {"red"}), &r, [](auto& q) { q.add_team_ids("blue"); })),
      "NOT_TEAM");
  EXPECT_EQ(Reason(List(P("supervisor", "s-none"), &r)), "NOT_TEAM");
  grpc::Status s = List(P("boss", "x"), &r);
  EXPECT_EQ(Code(s), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "BAD_ROLE");
  s = List(v1::Principal(), &r);
  EXPECT_EQ(Code(s), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Reason(s), "NO_PRINCIPAL");
  EXPECT_EQ(Reason(List(P("admin", "root"), &r, [](auto& q) { q.set_kind("MANUAL"); })),
            "BAD_KIND");
  EXPECT_EQ(Reason(List(P("admin", "root"), &r, [](auto& q) { q.set_state("DONE"); })),
            "BAD_STATE");
  r.Clear();
  ASSERT_TRUE(List(P("admin", "root"), &r, [](auto& q) {
                q.set_kind("DISCONNECT");
                q.set_state("OPEN");
              }).ok());
  EXPECT_EQ(r.reviews_size(), 2);

  // GetReview: another agent's review is denied; another tenant's is not found.
  const std::string id =
      r.reviews(0).agent_id() == "a1" ? r.reviews(0).review_id() : r.reviews(1).review_id();
  grpc::Status g;
  Get(id, P("agent", "a2"), &g);
  EXPECT_EQ(Reason(g), "NOT_OWN");
  Get(id, P("supervisor", "s-blue", {"blue"}), &g);
  EXPECT_EQ(Reason(g), "NOT_TEAM");
  v1::GetReviewRequest other;
  other.set_tenant_id("globex");
  *other.mutable_principal() = P("admin", "root");
  other.set_review_id(id);
  v1::ReviewDetail d;
  EXPECT_EQ(Code(reviews_->GetReview(&ctx_, &other, &d)), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ReviewServiceTest, PagesThroughReviews) {
  for (int i = 0; i < 7; ++i) {
    const std::string ix = "p" + std::to_string(i);
    Call(ix, "a1", kT0 + 10000 * i, 1000);
    ASSERT_TRUE(intake_
                    ->OnPolicyDecision(Disconnect("dp" + std::to_string(i), ix, "a1"),
                                       "dp" + std::to_string(i))
                    .ok());
  }
  std::vector<std::string> seen;
  std::string token;
  do {
    v1::ListReviewsResponse r;
    ASSERT_TRUE(List(P("agent", "a1"), &r, [&](auto& q) {
                  q.set_limit(3);
                  q.set_page_token(token);
                }).ok());
    for (const auto& x : r.reviews()) seen.push_back(x.interaction_id());
    token = r.next_page_token();
  } while (!token.empty());
  EXPECT_EQ(seen.size(), 7u);
  v1::ListReviewsResponse r;
  EXPECT_EQ(Reason(List(P("agent", "a1"), &r, [](auto& q) { q.set_limit(5000); })), "BAD_LIMIT");
}

TEST_F(ReviewServiceTest, ManualFlags) {
  v1::FlagInteractionRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("agent", "a1");
  req.set_interaction_id("i1");
  req.set_reason("please review my call");
  v1::Review r;
  ASSERT_TRUE(reviews_->FlagInteraction(&ctx_, &req, &r).ok());
  EXPECT_EQ(r.kind(), "MANUAL");
  EXPECT_EQ(r.agent_id(), "a1");
  EXPECT_EQ(r.team_id(), "red");
  // An agent cannot flag another agent's call; a supervisor cannot flag another team's call even
  // when naming their own team (the stored team wins).
  req.set_interaction_id("i2");
  EXPECT_EQ(Reason(reviews_->FlagInteraction(&ctx_, &req, &r)), "NOT_OWN");
  *req.mutable_principal() = P("supervisor", "s-red", {"red"});
  req.set_team_id("red");
  EXPECT_EQ(Reason(reviews_->FlagInteraction(&ctx_, &req, &r)), "NOT_TEAM");
  *req.mutable_principal() = P("supervisor", "s-blue", {"blue"});
  ASSERT_TRUE(reviews_->FlagInteraction(&ctx_, &req, &r).ok());
  EXPECT_EQ(r.team_id(), "blue");
  EXPECT_EQ(sink_.reviews().size(), 2u);
  v1::ListReviewsResponse list;
  ASSERT_TRUE(List(P("admin", "root"), &list, [](auto& q) { q.set_kind("MANUAL_AGENT"); }).ok());
  EXPECT_EQ(list.reviews_size(), 1);
}

// ---- Calibration and coaching ----

TEST_F(ReviewServiceTest, CalibrationReportsTheSpread) {
  const std::string id = OpenDisconnectReview();
  ASSERT_TRUE(Score(id, P("qa_reviewer", "qa1"), {{"empathy", 5}}).ok());
  ASSERT_TRUE(Score(id, P("qa_reviewer", "qa2"), {{"empathy", 1}}, /*calibration=*/true).ok());
  // The calibration evaluation did not change the review.
  EXPECT_EQ(Get(id, P("admin", "root")).review().state(), "SUBMITTED");
  v1::GetCalibrationRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("supervisor", "s-red", {"red"});
  req.set_interaction_id("i1");
  v1::CalibrationReport rep;
  ASSERT_TRUE(reviews_->GetCalibration(&ctx_, &req, &rep).ok());
  EXPECT_EQ(rep.evaluations(), 2);
  EXPECT_GT(rep.range(), 0);
  EXPECT_DOUBLE_EQ(rep.max(), 100);
  bool empathy_disagrees = false;
  for (const auto& q : rep.questions()) {
    if (q.question_id() == "empathy") empathy_disagrees = q.disagreement();
    if (q.question_id() == "greeting") {
      EXPECT_FALSE(q.disagreement());
    }
  }
  EXPECT_TRUE(empathy_disagrees);
  *req.mutable_principal() = P("agent", "a1");
  EXPECT_EQ(Reason(reviews_->GetCalibration(&ctx_, &req, &rep)), "ROLE");
  *req.mutable_principal() = P("supervisor", "s-blue", {"blue"});
  EXPECT_EQ(Reason(reviews_->GetCalibration(&ctx_, &req, &rep)), "NOT_TEAM");
}

TEST_F(ReviewServiceTest, LowScoresOpenACoachingTask) {
  // Two low-scored reviews of a1 (window 2, target 80).
  const std::string first = OpenDisconnectReview();
  ASSERT_TRUE(Score(first, P("qa_reviewer", "qa1"), {{"accurate_information", 0}}).ok());
  Call("i3", "a1", kT0 + 5000, 1000);
  ASSERT_TRUE(intake_->OnPolicyDecision(Disconnect("d-3", "i3", "a1"), "d-3").ok());
  v1::ListReviewsResponse open;
  ASSERT_TRUE(List(P("qa_reviewer", "qa1"), &open, [](auto& q) { q.set_state("OPEN"); }).ok());
  ASSERT_EQ(open.reviews_size(), 1);
  v1::ListCoachingTasksRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("supervisor", "s-red", {"red"});
  v1::ListCoachingTasksResponse tasks;
  ASSERT_TRUE(reviews_->ListCoachingTasks(&ctx_, &req, &tasks).ok());
  EXPECT_EQ(tasks.tasks_size(), 0);  // one evaluation is too little evidence
  now_ += 60000;
  ASSERT_TRUE(
      Score(open.reviews(0).review_id(), P("qa_reviewer", "qa1"), {{"accurate_information", 0}})
          .ok());
  ASSERT_TRUE(reviews_->ListCoachingTasks(&ctx_, &req, &tasks).ok());
  ASSERT_EQ(tasks.tasks_size(), 1);
  EXPECT_EQ(tasks.tasks(0).agent_id(), "a1");
  EXPECT_EQ(tasks.tasks(0).team_id(), "red");
  EXPECT_LT(tasks.tasks(0).average_score(), 80);
  EXPECT_EQ(tasks.tasks(0).status(), "OPEN");
  tasks.Clear();
  *req.mutable_principal() = P("agent", "a1");
  ASSERT_TRUE(reviews_->ListCoachingTasks(&ctx_, &req, &tasks).ok());
  EXPECT_EQ(tasks.tasks_size(), 1);
  tasks.Clear();
  *req.mutable_principal() = P("supervisor", "s-blue", {"blue"});
  ASSERT_TRUE(reviews_->ListCoachingTasks(&ctx_, &req, &tasks).ok());
  EXPECT_EQ(tasks.tasks_size(), 0);
  *req.mutable_principal() = P("qa_reviewer", "qa1");
  EXPECT_EQ(Reason(reviews_->ListCoachingTasks(&ctx_, &req, &tasks)), "ROLE");
  *req.mutable_principal() = P("agent", "a1");
  req.set_agent_id("a2");
  EXPECT_EQ(Reason(reviews_->ListCoachingTasks(&ctx_, &req, &tasks)), "NOT_OWN");
}

// ---- Bad input changes nothing ----

TEST_F(ReviewServiceTest, BadEvaluationsChangeNothing) {
  const std::string id = OpenDisconnectReview();
  auto unchanged = [&] {
    const v1::ReviewDetail d = Get(id, P("admin", "root"));
    EXPECT_EQ(d.review().state(), "OPEN");
    EXPECT_EQ(d.evaluations_size(), 0);
  };
  v1::SubmitEvaluationRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("qa_reviewer", "qa1");
  req.set_review_id(id);
  Answers(&req, {});
  req.mutable_answers()->RemoveLast();  // wrap_up_notes missing
  v1::Evaluation ev;
  grpc::Status s = reviews_->SubmitEvaluation(&ctx_, &req, &ev);
  EXPECT_EQ(Code(s), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "MISSING_ANSWER");
  unchanged();
  EXPECT_EQ(Reason(Score(id, P("qa_reviewer", "qa1"), {{"empathy", 9}})), "ANSWER_OUT_OF_RANGE");
  EXPECT_EQ(Reason(Score(id, P("qa_reviewer", "qa1"), {{"empathy", 2.5}})), "INVALID_ANSWERS");
  EXPECT_EQ(Reason(Score(id, P("qa_reviewer", "qa1"), {{"greeting", -1}})), "ANSWER_OUT_OF_RANGE");
  // An agent scoring their own call (as admin) is a conflict of interest.
  EXPECT_EQ(Reason(Score(id, P("admin", "a1"))), "CONFLICT_OF_INTEREST");
  req.set_form_id("nope");
  Answers(&req, {});
  EXPECT_EQ(Reason(reviews_->SubmitEvaluation(&ctx_, &req, &ev)), "FORM_NOT_FOUND");
  unchanged();
  req.set_review_id("rv-unknown");
  EXPECT_EQ(Code(reviews_->SubmitEvaluation(&ctx_, &req, &ev)), grpc::StatusCode::NOT_FOUND);
  // Disputing an OPEN review is refused and opens no dispute.
  EXPECT_EQ(Reason(Act(true, id, P("agent", "a1"), "why")), "INVALID_TRANSITION");
  EXPECT_EQ(store_->GetDispute(kTenant, id).status().code(), absl::StatusCode::kNotFound);
  unchanged();
  EXPECT_EQ(sink_.reviews().size(), 1u);  // only the creation
}

// ---- Forms ----

TEST_F(ReviewServiceTest, FormsArePutValidatedAndUsed) {
  v1::GetFormRequest get;
  get.set_tenant_id(kTenant);
  *get.mutable_principal() = P("agent", "a1");
  v1::Form form;
  ASSERT_TRUE(reviews_->GetForm(&ctx_, &get, &form).ok());  // the compiled-in default
  EXPECT_EQ(form.form_id(), "default");
  EXPECT_EQ(form.version(), 1);

  v1::PutFormRequest put;
  put.set_tenant_id(kTenant);
  *put.mutable_principal() = P("qa_reviewer", "qa1");
  put.set_definition_yaml(R"(form_id: short
version: 1
title: Short
sections:
  - id: all
    title: All
    questions:
      - id: polite
        text: Was the agent polite?
        type: yes_no
)");
  ASSERT_TRUE(reviews_->PutForm(&ctx_, &put, &form).ok());
  EXPECT_EQ(form.form_id(), "short");
  put.set_definition_yaml("form_id: short\nversion: 2\nsections: []\ncolour: red\n");
  grpc::Status s = reviews_->PutForm(&ctx_, &put, &form);
  EXPECT_EQ(Code(s), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_FORM");
  *put.mutable_principal() = P("agent", "a1");
  EXPECT_EQ(Reason(reviews_->PutForm(&ctx_, &put, &form)), "ROLE");

  // Scored with the stored form.
  const std::string id = OpenDisconnectReview();
  v1::SubmitEvaluationRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("qa_reviewer", "qa1");
  req.set_review_id(id);
  req.set_form_id("short");
  auto* a = req.add_answers();
  a->set_question_id("polite");
  a->set_value(0);
  v1::Evaluation ev;
  ASSERT_TRUE(reviews_->SubmitEvaluation(&ctx_, &req, &ev).ok());
  EXPECT_EQ(ev.form_id(), "short");
  EXPECT_EQ(ev.score(), 0);
}

// ---- Weekly sample ----

TEST_F(ReviewServiceTest, WeeklySampleOncePerAgent) {
  Call("i4", "a1", kT0 + 20000, 1000);
  Call("i5", "a2", kT0 + 30000, 1000);
  v1::RunWeeklySampleRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("qa_reviewer", "qa1");
  *req.mutable_week_of() = ToTimestamp(kT0);
  v1::RunWeeklySampleResponse resp;
  EXPECT_EQ(Reason(reviews_->RunWeeklySample(&ctx_, &req, &resp)), "ROLE");
  *req.mutable_principal() = P("admin", "root");
  ASSERT_TRUE(reviews_->RunWeeklySample(&ctx_, &req, &resp).ok());
  ASSERT_EQ(resp.created_size(), 2);  // per_agent_per_week: 1, two agents
  std::vector<std::string> agents;
  for (const auto& r : resp.created()) {
    EXPECT_EQ(r.kind(), "SAMPLE");
    agents.push_back(r.agent_id());
  }
  EXPECT_THAT(agents, UnorderedElementsAre("a1", "a2"));
  v1::RunWeeklySampleResponse again;
  ASSERT_TRUE(reviews_->RunWeeklySample(&ctx_, &req, &again).ok());
  EXPECT_EQ(again.created_size(), 0);  // re-running is harmless
  // Another week has no calls.
  *req.mutable_week_of() = ToTimestamp(kT0 + 14 * 86'400'000LL);
  ASSERT_TRUE(reviews_->RunWeeklySample(&ctx_, &req, &again).ok());
  EXPECT_EQ(again.created_size(), 0);
}

// ---- Over gRPC ----

TEST_F(ReviewServiceTest, ServesOverGrpc) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(reviews_.get());
  builder.RegisterService(feedback_.get());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  auto stub = v1::ReviewService::NewStub(channel);
  auto fstub = v1::FeedbackService::NewStub(channel);
  v1::SubmitFeedbackRequest fb;
  fb.set_tenant_id(kTenant);
  fb.set_interaction_id("i2");
  fb.set_csat(1);
  fb.set_comment("rude");
  v1::Feedback fresp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(fstub->SubmitFeedback(&ctx, fb, &fresp).ok());
  }
  EXPECT_FALSE(fresp.review_id().empty());
  v1::ListReviewsRequest req;
  req.set_tenant_id(kTenant);
  *req.mutable_principal() = P("agent", "a1");
  req.set_agent_id("a2");
  v1::ListReviewsResponse resp;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub->ListReviews(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), ::testing::StartsWith("NOT_OWN:"));
  }
  *req.mutable_principal() = P("agent", "a2");
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->ListReviews(&ctx, req, &resp).ok());
  }
  ASSERT_EQ(resp.reviews_size(), 1);
  EXPECT_EQ(resp.reviews(0).kind(), "LOW_CSAT");
  server->Shutdown();
}

}  // namespace
}  // namespace sb::recording
