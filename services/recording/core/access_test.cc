#include "recording/core/access.h"

#include "gtest/gtest.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

Review R() {
  Review r;
  r.review_id = "rv-1";
  r.tenant = "acme";
  r.interaction_id = "int-1";
  r.agent_id = "agent-a";
  r.team = "red";
  return r;
}

Principal P(Role role, const std::string& subject, std::vector<std::string> teams = {},
            const std::string& tenant = "acme") {
  return Principal{tenant, subject, role, std::move(teams)};
}

const Principal kAgentA = P(Role::kAgent, "agent-a");
const Principal kAgentB = P(Role::kAgent, "agent-b");
const Principal kRedSup = P(Role::kSupervisor, "sup-red", {"red", "green"});
const Principal kBlueSup = P(Role::kSupervisor, "sup-blue", {"blue"});
const Principal kQa = P(Role::kQaReviewer, "qa-1");
const Principal kAdmin = P(Role::kAdmin, "root");
const Principal kOtherTenantQa = P(Role::kQaReviewer, "qa-9", {}, "globex");

std::string Reason(const absl::Status& s) { return std::string(ReasonOf(s)); }

TEST(AccessTest, View) {
  EXPECT_TRUE(CanView(R(), kAgentA).ok());
  EXPECT_EQ(Reason(CanView(R(), kAgentB)), "NOT_OWN");
  EXPECT_TRUE(CanView(R(), kRedSup).ok());
  EXPECT_EQ(Reason(CanView(R(), kBlueSup)), "NOT_TEAM");
  EXPECT_TRUE(CanView(R(), kQa).ok());
  EXPECT_TRUE(CanView(R(), kAdmin).ok());
  EXPECT_EQ(Reason(CanView(R(), kOtherTenantQa)), "WRONG_TENANT");
  EXPECT_EQ(CanView(R(), kOtherTenantQa).code(), absl::StatusCode::kPermissionDenied);
  Review no_team = R();
  no_team.team = "";
  EXPECT_EQ(Reason(CanView(no_team, P(Role::kSupervisor, "s", {""}))), "NOT_TEAM");
}

TEST(AccessTest, NoPrincipal) {
  for (const Principal& p : {P(Role::kAdmin, ""), P(Role::kAdmin, "root", {}, "")}) {
    absl::Status s = CanView(R(), p);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(Reason(s), "NO_PRINCIPAL");
    EXPECT_EQ(Reason(CanFlag(OwnerOf(R()), p)), "NO_PRINCIPAL");
  }
}

TEST(AccessTest, Score) {
  EXPECT_TRUE(CanScore(R(), kQa).ok());
  EXPECT_TRUE(CanScore(R(), kAdmin).ok());
  EXPECT_EQ(Reason(CanScore(R(), kAgentA)), "ROLE");
  EXPECT_EQ(Reason(CanScore(R(), kRedSup)), "ROLE");
  EXPECT_EQ(Reason(CanScore(R(), kOtherTenantQa)), "WRONG_TENANT");
  EXPECT_EQ(CanScore(R(), kRedSup).message(),
            "ROLE: a supervisor cannot score reviews (allowed: qa_reviewer, admin)");
  Review own = R();
  own.agent_id = "qa-1";  // a QA reviewer who also takes calls
  EXPECT_EQ(Reason(CanScore(own, kQa)), "CONFLICT_OF_INTEREST");
}

TEST(AccessTest, AcknowledgeAndDisputeAreTheAgentsOwn) {
  for (auto* fn : {&CanAcknowledge, &CanDispute}) {
    EXPECT_TRUE(fn(R(), kAgentA).ok());
    EXPECT_EQ(Reason(fn(R(), kAgentB)), "NOT_OWN");
    EXPECT_EQ(Reason(fn(R(), kRedSup)), "ROLE");
    EXPECT_EQ(Reason(fn(R(), kQa)), "ROLE");
    EXPECT_EQ(Reason(fn(R(), kAdmin)), "ROLE");
  }
}

TEST(AccessTest, Resolve) {
  Review r = R();
  r.reviewer = "qa-1";
  EXPECT_TRUE(CanResolve(r, kRedSup).ok());
  EXPECT_EQ(Reason(CanResolve(r, kBlueSup)), "NOT_TEAM");
  EXPECT_TRUE(CanResolve(r, kAdmin).ok());
  EXPECT_EQ(Reason(CanResolve(r, kQa)), "ROLE");
  EXPECT_EQ(Reason(CanResolve(r, kAgentA)), "ROLE");
  r.reviewer = "root";  // the admin scored it
  EXPECT_EQ(Reason(CanResolve(r, kAdmin)), "CONFLICT_OF_INTEREST");
  Review sup_call = R();
  sup_call.agent_id = "sup-red";  // a supervisor's own call
  EXPECT_EQ(Reason(CanResolve(sup_call, kRedSup)), "CONFLICT_OF_INTEREST");
}

TEST(AccessTest, Flag) {
  const Owner o = OwnerOf(R());
  EXPECT_TRUE(CanFlag(o, kAgentA).ok());  // "please review my call"
  EXPECT_EQ(Reason(CanFlag(o, kAgentB)), "NOT_OWN");
  EXPECT_TRUE(CanFlag(o, kRedSup).ok());
  EXPECT_EQ(Reason(CanFlag(o, kBlueSup)), "NOT_TEAM");
  EXPECT_TRUE(CanFlag(o, kQa).ok());
  EXPECT_TRUE(CanFlag(o, kAdmin).ok());
  EXPECT_EQ(Reason(CanFlag(o, kOtherTenantQa)), "WRONG_TENANT");
}

TEST(AccessTest, CoachingAndCalibration) {
  const Owner o = OwnerOf(R());
  EXPECT_TRUE(CanViewCoaching(o, kAgentA).ok());
  EXPECT_EQ(Reason(CanViewCoaching(o, kAgentB)), "NOT_OWN");
  EXPECT_TRUE(CanViewCoaching(o, kRedSup).ok());
  EXPECT_EQ(Reason(CanViewCoaching(o, kBlueSup)), "NOT_TEAM");
  EXPECT_EQ(Reason(CanViewCoaching(o, kQa)), "ROLE");
  EXPECT_TRUE(CanViewCoaching(o, kAdmin).ok());

  EXPECT_EQ(Reason(CanViewCalibration(o, kAgentA)), "ROLE");
  EXPECT_TRUE(CanViewCalibration(o, kRedSup).ok());
  EXPECT_EQ(Reason(CanViewCalibration(o, kBlueSup)), "NOT_TEAM");
  EXPECT_TRUE(CanViewCalibration(o, kQa).ok());
  EXPECT_TRUE(CanViewCalibration(o, kAdmin).ok());
}

TEST(AccessTest, RoleNames) {
  for (Role r : {Role::kAgent, Role::kSupervisor, Role::kQaReviewer, Role::kAdmin}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_EQ(ParseRole("root"), std::nullopt);
  EXPECT_EQ(ParseRole("Admin"), std::nullopt);
}

}  // namespace
}  // namespace sb::recording::qa
