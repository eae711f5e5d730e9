#include "routing_process.h"

#include <filesystem>

#include "absl/strings/str_cat.h"

namespace sb::routing::testing {

absl::StatusOr<std::unique_ptr<RoutingProcess>> RoutingProcess::Start(
    const std::string& bootstrap, const std::vector<std::string>& extra) {
  std::unique_ptr<RoutingProcess> p(new RoutingProcess());
  std::string tmpl = (std::filesystem::temp_directory_path() / "sb_routing_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  p->log_ = tmpl + "/stderr.log";
  std::vector<std::string> argv = {SB_ROUTING_PATH, "--bootstrap",
                                   bootstrap,       "--listen",
                                   "127.0.0.1:0",   "--metrics-listen",
                                   "127.0.0.1:0",   "--session-timeout-ms",
                                   "3000",          "--snapshot-interval-ms",
                                   "1000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto child = process::ChildProcess::Start("sb-routing", std::move(argv), p->log_);
  if (!child.ok()) return child.status();
  p->child_ = *std::move(child);
  auto grpc = p->child_->WaitForLine("grpc=", std::chrono::seconds(15));
  if (!grpc.ok()) return grpc.status();
  auto metrics = p->child_->WaitForLine("metrics=", std::chrono::seconds(5));
  if (!metrics.ok()) return metrics.status();
  p->grpc_ = *grpc;
  p->metrics_ = *metrics;
  return p;
}

RoutingProcess::~RoutingProcess() { Kill(); }

absl::Status RoutingProcess::WaitReady(std::chrono::milliseconds timeout) {
  auto line = child_->WaitForLine("ready", timeout);
  return line.ok() ? absl::OkStatus() : line.status();
}

void RoutingProcess::Kill() {
  if (child_ != nullptr) child_->Kill();
}

absl::StatusOr<int> RoutingProcess::Terminate(std::chrono::milliseconds timeout) {
  const std::string how = child_->Terminate(timeout);
  if (!child_->exit_status().has_value()) {
    return absl::DeadlineExceededError(
        absl::StrCat("sb-routing did not exit by itself after SIGTERM: ", how));
  }
  return *child_->exit_status();
}

}  // namespace sb::routing::testing
