// Who may see and do what in the QA workflow (docs/qa.md, "Roles").
//
// The principal rides on every request (authentication comes later); every rule is a pure
// function of the principal and the record, returning OK or an error whose reason says why:
//   Unauthenticated  NO_PRINCIPAL          the principal has no tenant or subject
//   PermissionDenied WRONG_TENANT          the record belongs to another tenant
//   PermissionDenied ROLE                  the role may not do this at all
//   PermissionDenied NOT_OWN               an agent, and the record is about another agent
//   PermissionDenied NOT_TEAM              a supervisor, and the agent is not in their teams
//   PermissionDenied CONFLICT_OF_INTEREST  scoring or resolving one's own call or evaluation
//
// Summary (own = the record's agent_id is the principal's subject; team = the record's team is
// one of the principal's teams):
//   action              agent  supervisor  qa_reviewer  admin
//   view review         own    team        all          all
//   score (submit)      -      -           all*         all*
//   acknowledge/dispute own    -           -            -
//   resolve dispute     -      team*       -            all*
//   flag a call         own    team        all          all
//   view coaching       own    team        -            all
//   view calibration    -      team        all          all
//   (* not one's own call; a resolver is not the one who scored it)
// Acknowledging and disputing are the reviewed agent's own statements, so nobody else (not even
// an admin) makes them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "recording/core/review.h"

namespace sb::recording::qa {

enum class Role { kAgent, kSupervisor, kQaReviewer, kAdmin };
// "agent", "supervisor", "qa_reviewer", "admin".
const char* RoleName(Role role);
std::optional<Role> ParseRole(std::string_view name);

// The caller of a request. Every principal is scoped to one tenant.
struct Principal {
  std::string tenant;
  std::string subject;  // the user id; for an agent, their agent id
  Role role = Role::kAgent;
  std::vector<std::string> teams;  // for supervisors: the teams they lead

  bool InTeam(std::string_view team) const;
};

// Whose work a record is about: a review, a call to flag, a coaching task, a calibration.
struct Owner {
  std::string tenant;
  std::string agent_id;
  std::string team;
};
Owner OwnerOf(const Review& review);

absl::Status CanView(const Review& review, const Principal& principal);
absl::Status CanScore(const Review& review, const Principal& principal);
absl::Status CanAcknowledge(const Review& review, const Principal& principal);
absl::Status CanDispute(const Review& review, const Principal& principal);
absl::Status CanResolve(const Review& review, const Principal& principal);
// Flagging a call of `owner` (the agent who handled it) for review.
absl::Status CanFlag(const Owner& owner, const Principal& principal);
absl::Status CanViewCoaching(const Owner& owner, const Principal& principal);
absl::Status CanViewCalibration(const Owner& owner, const Principal& principal);

}  // namespace sb::recording::qa
