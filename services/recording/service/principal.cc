#include "recording/service/principal.h"

#include "absl/strings/str_cat.h"

namespace sb::recording {

absl::StatusOr<qa::Principal> ToPrincipal(const std::string& tenant,
                                          const switchboard::recording::v1::Principal& p) {
  if (tenant.empty() || p.subject().empty()) {
    return absl::UnauthenticatedError(
        tenant.empty() ? "NO_PRINCIPAL: tenant_id is required"
                       : "NO_PRINCIPAL: the request carries no principal (principal.subject)");
  }
  std::optional<qa::Role> role = qa::ParseRole(p.role());
  if (!role) {
    return absl::InvalidArgumentError(
        absl::StrCat("BAD_ROLE: principal.role '", p.role(),
                     "' is not one of agent, supervisor, qa_reviewer, admin"));
  }
  qa::Principal out;
  out.tenant = tenant;
  out.subject = p.subject();
  out.role = *role;
  out.teams.assign(p.teams().begin(), p.teams().end());
  return out;
}

grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message().data(), status.message().size()));
}

}  // namespace sb::recording
