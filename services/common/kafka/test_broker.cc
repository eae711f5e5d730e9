#include "common/kafka/test_broker.h"

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace sb::kafka_io::testing {

absl::StatusOr<std::unique_ptr<TestBroker>> TestBroker::Start(int partitions) {
  // A broker that died must not kill the test with SIGPIPE when we write a command.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<TestBroker> broker(new TestBroker());
  std::string tmpl = (std::filesystem::temp_directory_path() / "sb_kafka_io_XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  broker->dir_ = tmpl;
  auto child = process::ChildProcess::Start(
      "sb-embedded-broker",
      {SB_EMBEDDED_BROKER_PATH, "--partitions", std::to_string(partitions), "--bootstrap-file",
       broker->dir_ + "/bootstrap"},
      broker->dir_ + "/stderr.log");
  if (!child.ok()) return child.status();
  broker->child_ = *std::move(child);
  absl::StatusOr<std::string> bootstrap =
      // It starts in ~30 ms, but a CI machine running the integration tests two at a time was
      // seen to miss a 10 s deadline: a generous bound, only reached on failure.
      broker->child_->WaitForLine("bootstrap=", std::chrono::seconds(60));
  if (!bootstrap.ok()) return bootstrap.status();
  broker->bootstrap_ = *bootstrap;
  return broker;
}

TestBroker::~TestBroker() {
  if (child_ != nullptr) {
    (void)child_->WriteLine("quit");
    child_->Terminate(std::chrono::seconds(5));  // closes stdin: the broker stops on EOF too
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

absl::StatusOr<std::string> TestBroker::Command(std::string_view line) {
  if (absl::Status s = child_->WriteLine(line); !s.ok()) return s;
  absl::StatusOr<std::string> reply = child_->ReadLine(std::chrono::seconds(10));
  if (!reply.ok()) return reply.status();
  if (reply->rfind("ok", 0) != 0) {
    return absl::InternalError(
        absl::StrCat("broker command '", std::string(line), "' failed: ", *reply));
  }
  return reply;
}

}  // namespace sb::kafka_io::testing
