#include "recording/core/access.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "recording/core/qa_common.h"

namespace sb::recording::qa {
namespace {

absl::Status CheckPrincipal(const Principal& p) {
  if (p.tenant.empty() || p.subject.empty()) {
    return absl::UnauthenticatedError(
        "NO_PRINCIPAL: the request carries no principal (tenant and subject are required)");
  }
  return absl::OkStatus();
}

absl::Status CheckTenant(const Owner& o, const Principal& p) {
  if (absl::Status s = CheckPrincipal(p); !s.ok()) return s;
  if (o.tenant != p.tenant) {
    return PermissionDenied("WRONG_TENANT", absl::StrCat("'", p.subject, "' belongs to tenant '",
                                                         p.tenant, "', not '", o.tenant, "'"));
  }
  return absl::OkStatus();
}

absl::Status RoleError(const Principal& p, std::string_view action, std::string_view allowed) {
  return PermissionDenied("ROLE", absl::StrCat("a ", RoleName(p.role), " cannot ", Av(action),
                                               " (allowed: ", Av(allowed), ")"));
}

absl::Status OwnOnly(const Owner& o, const Principal& p, std::string_view what) {
  if (o.agent_id != p.subject) {
    return PermissionDenied(
        "NOT_OWN", absl::StrCat("agent '", p.subject, "' can only ", Av(what), " their own calls"));
  }
  return absl::OkStatus();
}

absl::Status TeamOnly(const Owner& o, const Principal& p, std::string_view what) {
  if (!p.InTeam(o.team)) {
    return PermissionDenied("NOT_TEAM",
                            absl::StrCat("supervisor '", p.subject, "' can only ", Av(what),
                                         " for their teams; agent '", o.agent_id, "' is in team '",
                                         o.team.empty() ? "(none)" : o.team, "'"));
  }
  return absl::OkStatus();
}

absl::Status NotSelf(const Owner& o, const Principal& p, std::string_view what) {
  if (o.agent_id == p.subject) {
    return PermissionDenied("CONFLICT_OF_INTEREST",
                            absl::StrCat("'", p.subject, "' cannot ", Av(what), " their own call"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kAgent:
      return "agent";
    case Role::kSupervisor:
      return "supervisor";
    case Role::kQaReviewer:
      return "qa_reviewer";
    case Role::kAdmin:
      return "admin";
  }
  return "?";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (Role r : {Role::kAgent, Role::kSupervisor, Role::kQaReviewer, Role::kAdmin}) {
    if (name == RoleName(r)) return r;
  }
  return std::nullopt;
}

bool Principal::InTeam(std::string_view team) const {
  return !team.empty() && std::find(teams.begin(), teams.end(), team) != teams.end();
}

Owner OwnerOf(const Review& review) { return Owner{review.tenant, review.agent_id, review.team}; }

absl::Status CanView(const Review& review, const Principal& p) {
  const Owner o = OwnerOf(review);
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  switch (p.role) {
    case Role::kAgent:
      return OwnOnly(o, p, "see reviews of");
    case Role::kSupervisor:
      return TeamOnly(o, p, "see reviews");
    case Role::kQaReviewer:
    case Role::kAdmin:
      return absl::OkStatus();
  }
  return RoleError(p, "see reviews", "");
}

absl::Status CanScore(const Review& review, const Principal& p) {
  const Owner o = OwnerOf(review);
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  if (p.role != Role::kQaReviewer && p.role != Role::kAdmin) {
    return RoleError(p, "score reviews", "qa_reviewer, admin");
  }
  return NotSelf(o, p, "score");
}

absl::Status CanAcknowledge(const Review& review, const Principal& p) {
  const Owner o = OwnerOf(review);
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  if (p.role != Role::kAgent) {
    return RoleError(p, "acknowledge a review", "the reviewed agent");
  }
  return OwnOnly(o, p, "acknowledge reviews of");
}

absl::Status CanDispute(const Review& review, const Principal& p) {
  const Owner o = OwnerOf(review);
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  if (p.role != Role::kAgent) {
    return RoleError(p, "dispute a review", "the reviewed agent");
  }
  return OwnOnly(o, p, "dispute reviews of");
}

absl::Status CanResolve(const Review& review, const Principal& p) {
  const Owner o = OwnerOf(review);
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  if (p.role == Role::kSupervisor) {
    if (absl::Status s = TeamOnly(o, p, "resolve disputes"); !s.ok()) return s;
  } else if (p.role != Role::kAdmin) {
    return RoleError(p, "resolve disputes", "supervisor of the agent's team, admin");
  }
  if (absl::Status s = NotSelf(o, p, "resolve a dispute about"); !s.ok()) return s;
  if (!review.reviewer.empty() && review.reviewer == p.subject) {
    return PermissionDenied(
        "CONFLICT_OF_INTEREST",
        absl::StrCat("'", p.subject, "' scored this review and cannot resolve its dispute"));
  }
  return absl::OkStatus();
}

absl::Status CanFlag(const Owner& o, const Principal& p) {
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  switch (p.role) {
    case Role::kAgent:
      return OwnOnly(o, p, "flag");
    case Role::kSupervisor:
      return TeamOnly(o, p, "flag calls");
    case Role::kQaReviewer:
    case Role::kAdmin:
      return absl::OkStatus();
  }
  return RoleError(p, "flag calls", "");
}

absl::Status CanViewCoaching(const Owner& o, const Principal& p) {
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  switch (p.role) {
    case Role::kAgent:
      return OwnOnly(o, p, "see coaching tasks for");
    case Role::kSupervisor:
      return TeamOnly(o, p, "see coaching tasks");
    case Role::kQaReviewer:
      return RoleError(p, "see coaching tasks", "the agent, supervisor of the team, admin");
    case Role::kAdmin:
      return absl::OkStatus();
  }
  return RoleError(p, "see coaching tasks", "");
}

absl::Status CanViewCalibration(const Owner& o, const Principal& p) {
  if (absl::Status s = CheckTenant(o, p); !s.ok()) return s;
  switch (p.role) {
    case Role::kAgent:
      return RoleError(p, "see calibrations", "supervisor of the team, qa_reviewer, admin");
    case Role::kSupervisor:
      return TeamOnly(o, p, "see calibrations");
    case Role::kQaReviewer:
    case Role::kAdmin:
      return absl::OkStatus();
  }
  return RoleError(p, "see calibrations", "");
}

}  // namespace sb::recording::qa
