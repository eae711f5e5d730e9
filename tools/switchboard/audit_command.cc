// switchboard audit verify | list: the recording audit log of sb-recording (docs/recording.md).
// `verify` walks the whole hash chain (RecordingService.VerifyAudit) and says whether an entry
// was edited, removed or reordered; `list` prints one recording's entries (ListAudit). Both act
// as an admin principal (authentication comes later).
//
// Exit status: verify 0 = the chain is intact, 1 = tampering found, 2 = bad usage or the service
// could not answer (nothing was verified); list 0 = listed, 1 = the service refused, 2 = bad
// usage or unreachable.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "fmt/format.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/grpcpp.h"
#include "switchboard/commands.h"
#include "switchboard/recording/v1/recording.grpc.pb.h"
#include "switchboard/render.h"
#include "switchboard/rpc.h"

namespace sb::cli {
namespace {

namespace rv1 = ::switchboard::recording::v1;

struct AuditFlags {
  OneServer target{"sb-recording", "127.0.0.1:7100", "127.0.0.1:7100"};
  std::string subject;
  std::string output = "text";
  // list
  std::string tenant = "demo";
  std::string recording;
  int64_t after_seq = 0;
  int limit = 100;
};

std::string DefaultSubject() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "switchboard-cli";
}

rv1::Principal AdminPrincipal(const AuditFlags& flags) {
  rv1::Principal p;
  p.set_subject(flags.subject.empty() ? DefaultSubject() : flags.subject);
  p.set_role("admin");
  return p;
}

std::unique_ptr<rv1::RecordingService::Stub> Stub(const AuditFlags& flags) {
  return rv1::RecordingService::NewStub(OneServerChannel(flags.target));
}

int RunVerify(const AuditFlags& flags) {
  if (!CheckOneServer(flags.target, std::cerr)) return kExitUsage;
  rv1::VerifyAuditRequest request;
  *request.mutable_principal() = AdminPrincipal(flags);
  rv1::VerifyAuditResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, flags.target);
  const grpc::Status status = Stub(flags)->VerifyAudit(&ctx, request, &response);
  if (!status.ok()) {
    PrintOneServerError(status, flags.target, std::cerr);
    return kExitUsage;  // nothing was verified
  }
  if (flags.output == "json") {
    std::cout << ToJson(response) << "\n";
  } else if (response.ok()) {
    std::cout << fmt::format("audit chain OK: {} entries checked, every hash links to the head\n",
                             response.entries_checked());
  } else {
    std::cout << fmt::format(
        "audit chain TAMPERED: {} at entry seq {} ({} entries checked before it)\n  {}\n",
        response.reason(), response.first_bad_seq(), response.entries_checked(), response.detail());
  }
  return response.ok() ? kExitOk : kExitFailure;
}

int RunList(const AuditFlags& flags) {
  if (!CheckOneServer(flags.target, std::cerr)) return kExitUsage;
  if (flags.tenant.empty() || flags.recording.empty()) {
    std::cerr << "error: --tenant and --recording are required (the entries of one recording)\n";
    return kExitUsage;
  }
  rv1::ListAuditRequest request;
  *request.mutable_principal() = AdminPrincipal(flags);
  request.set_tenant_id(flags.tenant);
  request.set_recording_id(flags.recording);
  request.set_after_seq(flags.after_seq);
  request.set_limit(flags.limit);
  rv1::ListAuditResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx, flags.target);
  const grpc::Status status = Stub(flags)->ListAudit(&ctx, request, &response);
  if (!status.ok()) {
    PrintOneServerError(status, flags.target, std::cerr);
    return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                   status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED
               ? kExitUsage
               : kExitFailure;
  }
  if (flags.output == "json") {
    std::cout << ToJson(response) << "\n";
    return kExitOk;
  }
  if (response.entries().empty()) {
    std::cerr << fmt::format("no audit entries for recording {} of tenant {}\n", flags.recording,
                             flags.tenant);
    return kExitOk;
  }
  std::cout << fmt::format("{:>6}  {:<24}  {:<8}  {:<22}  {:<16}  {}\n", "SEQ", "AT", "ACTION",
                           "PRINCIPAL", "HASH", "DETAIL");
  for (const rv1::AuditEntry& e : response.entries()) {
    std::cout << fmt::format("{:>6}  {:<24}  {:<8}  {:<22}  {:<16}  {}\n", e.seq(),
                             google::protobuf::util::TimeUtil::ToString(e.at()), e.action(),
                             e.principal(), e.hash().substr(0, 16), e.detail());
  }
  return kExitOk;
}

void AddCommonAuditFlags(CLI::App* cmd, AuditFlags* flags) {
  AddOneServerFlags(cmd, &flags->target, "SWITCHBOARD_RECORDING_SERVER");
  cmd->add_option("--as", flags->subject,
                  "The admin principal's subject recorded by the service (default: $USER)");
}

}  // namespace

void AddAuditCommand(CLI::App& app, int* exit_code) {
  CLI::App* audit = app.add_subcommand(
      "audit",
      "The recording audit log of sb-recording: every start, pause, resume, stop, upload, "
      "play, export, hold, delete and erase, hash-chained so that an edited, removed or "
      "reordered entry is detected.");
  audit->require_subcommand(1);

  auto verify_flags = std::make_shared<AuditFlags>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Walk the whole audit hash chain and report whether it is intact.");
  AddCommonAuditFlags(verify, verify_flags.get());
  verify->add_option("--output,-o", verify_flags->output, "text or json (the API response)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  verify->footer(
      "Examples:\n"
      "  switchboard audit verify\n"
      "  switchboard audit verify --server sb-recording:7100 -o json\n"
      "Exit status: 0 the chain is intact; 1 tampering found (what and where is printed); 2 bad "
      "usage or the service could not answer (nothing verified).");
  verify->callback([verify_flags, exit_code] { *exit_code = RunVerify(*verify_flags); });

  auto list_flags = std::make_shared<AuditFlags>();
  CLI::App* list =
      audit->add_subcommand("list", "List the audit entries of one recording, oldest first.");
  AddCommonAuditFlags(list, list_flags.get());
  list->add_option("--tenant,-t", list_flags->tenant, "Tenant")
      ->envname("SWITCHBOARD_TENANT")
      ->capture_default_str();
  list->add_option("--recording,-r", list_flags->recording,
                   "Recording id (\"<interaction id>/rec\" for automatic recordings)")
      ->required();
  list->add_option("--after-seq", list_flags->after_seq, "Only entries after this sequence number")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  list->add_option("--limit", list_flags->limit, "At most this many entries")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  list->add_option("--output,-o", list_flags->output, "text (a table) or json (the API response)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  list->footer(
      "Examples:\n"
      "  switchboard audit list --recording call-17/rec\n"
      "  switchboard audit list --tenant acme --recording call-17/rec -o json\n"
      "Exit status: 0 listed; 1 the service refused (error: CODE: message); 2 bad usage or "
      "unreachable.");
  list->callback([list_flags, exit_code] { *exit_code = RunList(*list_flags); });
}

}  // namespace sb::cli
