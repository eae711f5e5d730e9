// RunDemo and the TrafficDriver against a real sb-embedded-broker, sb-routing and sb-agent-state
// (label integration): the agents log in (through their desktops, as in `switchboard up --demo`,
// or straight through routing commands, as sb-load does), callers are offered, accepted and
// completed, and the errors an operator can make are reported as such.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/process/child_process.h"
#include "grpcpp/grpcpp.h"
#include "loadgen/traffic.h"
#include "switchboard/agent/v1/agent_state.grpc.pb.h"
#include "switchboard/routing/v1/routing_service.grpc.pb.h"

namespace sb::traffic {
namespace {

namespace v1 = ::switchboard::routing::v1;
namespace av1 = ::switchboard::agent::v1;
using process::ChildProcess;

// One broker, one sb-routing and one sb-agent-state for the whole suite (starting them takes
// seconds).
class DemoTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = (std::filesystem::temp_directory_path() / "sb-traffic-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(dir.data()), nullptr);
    dir_ = new std::string(dir);
    auto broker = ChildProcess::Start(
        "sb-embedded-broker", {SB_EMBEDDED_BROKER_PATH, "--partitions", "2"}, dir + "/broker.log");
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = broker->release();
    auto bootstrap = broker_->WaitForLine("bootstrap=", std::chrono::seconds(30));
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status();
    bootstrap_ = new std::string(*bootstrap);
    auto routing = ChildProcess::Start("sb-routing",
                                       {SB_ROUTING_PATH, "--bootstrap", *bootstrap, "--listen",
                                        "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
                                       dir + "/routing.log");
    ASSERT_TRUE(routing.ok()) << routing.status();
    routing_ = routing->release();
    auto grpc = routing_->WaitForLine("grpc=", std::chrono::seconds(30));
    ASSERT_TRUE(grpc.ok()) << grpc.status();
    grpc_ = new std::string(*grpc);
    ASSERT_TRUE(routing_->WaitForLine("ready", std::chrono::seconds(60)).ok());
    auto agent_state =
        ChildProcess::Start("sb-agent-state",
                            {SB_AGENT_STATE_PATH, "--bootstrap", *bootstrap, "--listen",
                             "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
                            dir + "/agent-state.log");
    ASSERT_TRUE(agent_state.ok()) << agent_state.status();
    agent_state_ = agent_state->release();
    auto desktops = agent_state_->WaitForLine("grpc=", std::chrono::seconds(30));
    ASSERT_TRUE(desktops.ok()) << desktops.status();
    desktops_ = new std::string(*desktops);
    ASSERT_TRUE(agent_state_->WaitForLine("ready", std::chrono::seconds(60)).ok());

    // Tenant "demo": three queues (q1 with a wrap-up, so agents end theirs), eight agents.
    v1::ApplyConfigRequest request;
    request.set_tenant_id("demo");
    for (int q = 0; q < 3; ++q) {
      v1::Queue* queue = request.add_queues();
      queue->set_queue_id(absl::StrCat("q", q));
      queue->set_channel(v1::CHANNEL_VOICE);
      queue->set_strategy(v1::STRATEGY_LONGEST_IDLE);
      if (q == 1) queue->mutable_wrap_up()->set_seconds(30);
      queue->set_membership(q < 2 ? "skills.demo >= 1" : "skills.load >= 1");
    }
    // a0-a3 answer q0 and q1 (the demo), r0-r3 answer q2 (the routing-mode driver).
    for (int a = 0; a < 4; ++a) {
      v1::AgentProfile* agent = request.add_agents();
      agent->set_agent_id(absl::StrCat("a", a));
      agent->add_skills()->set_name("demo");
      agent->mutable_skills(0)->set_proficiency(1);
      v1::AgentProfile* other = request.add_agents();
      other->set_agent_id(absl::StrCat("r", a));
      other->add_skills()->set_name("load");
      other->mutable_skills(0)->set_proficiency(1);
    }
    auto stub =
        v1::ConfigService::NewStub(grpc::CreateChannel(*grpc_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::ApplyConfigResponse response;
    const grpc::Status s = stub->ApplyConfig(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static void TearDownTestSuite() {
    delete agent_state_;
    delete routing_;
    delete broker_;
    if (dir_ != nullptr) std::filesystem::remove_all(*dir_);
    delete dir_;
    delete bootstrap_;
    delete grpc_;
    delete desktops_;
  }

  void SetUp() override {
    ASSERT_NE(desktops_, nullptr)
        << "the broker, sb-routing or sb-agent-state did not start (see the log above)";
  }

  static DemoOptions Options() {
    DemoOptions o;
    o.grpc_target = *grpc_;
    o.bootstrap = *bootstrap_;
    o.agent_state_target = *desktops_;
    o.queue_ids = {"q0", "q1"};
    o.agent_ids = {"a0", "a1", "a2", "a3"};
    o.calls_per_second = 5;
    o.mean_handle_seconds = 0.3;
    o.mean_patience_seconds = 60;
    o.seed = 42;
    return o;
  }

  static inline ChildProcess* broker_ = nullptr;
  static inline ChildProcess* routing_ = nullptr;
  static inline ChildProcess* agent_state_ = nullptr;
  static inline std::string* dir_ = nullptr;
  static inline std::string* bootstrap_ = nullptr;
  static inline std::string* grpc_ = nullptr;
  static inline std::string* desktops_ = nullptr;  // sb-agent-state's gRPC address
};

// The agents of tenant "demo" whose desktop sb-agent-state shows as connected, from the first
// Floor of a supervisor's WatchFloor.
int DesktopsOnTheFloor(const std::string& target) {
  auto stub =
      av1::Supervisor::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  av1::WatchFloorRequest request;
  request.set_tenant_id("demo");
  request.mutable_principal()->set_subject("sup");
  request.mutable_principal()->set_role("supervisor");
  auto reader = stub->WatchFloor(&ctx, request);
  av1::Floor floor;
  if (!reader->Read(&floor)) return -1;
  ctx.TryCancel();
  int connected = 0;
  for (const av1::AgentState& a : floor.agents()) connected += a.desktop_connected() ? 1 : 0;
  return connected;
}

int64_t Field(const std::string& line, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(line, m, std::regex(" " + name + "=([0-9]+)"))) return -1;
  return std::stoll(m[1]);
}

// An ostream buffer the test can read while RunDemo writes to it from another thread.
class SyncBuf : public std::streambuf {
 public:
  std::string Text() const {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 protected:
  int overflow(int c) override {
    if (c == EOF) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    text_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    std::lock_guard<std::mutex> lock(mu_);
    text_.append(s, static_cast<size_t>(n));
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

// The last live summary line printed so far ("" if none).
std::string LastLine(const std::string& text, const std::string& prefix) {
  const size_t at = text.rfind(prefix);
  if (at == std::string::npos) return "";
  return text.substr(at, text.find('\n', at) - at);
}

TEST_F(DemoTest, PlaysCallersAndAgentsUntilStopped) {
  std::atomic<bool> stop{false};
  SyncBuf buf;
  std::ostream out(&buf);
  absl::Status status;
  std::thread demo([&] { status = RunDemo(Options(), stop, out); });
  // Until callers have been offered and completed, with a deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string line = LastLine(buf.Text(), "demo t=");
    if (Field(line, "offered") > 5 && Field(line, "completed") > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // polling the printed lines
  }
  // The agents play through their desktops: sb-agent-state sees all four connected, and the
  // demo itself reports four open streams.
  EXPECT_EQ(DesktopsOnTheFloor(*desktops_), 4);
  EXPECT_EQ(Field(LastLine(buf.Text(), "demo t="), "desktops"), 4) << buf.Text();
  stop = true;
  demo.join();
  ASSERT_TRUE(status.ok()) << status;
  const std::string text = buf.Text();
  const std::string summary = LastLine(text, "demo stopped:");
  ASSERT_FALSE(summary.empty()) << text;
  EXPECT_GT(Field(summary, "offered"), 5) << summary;
  EXPECT_GT(Field(summary, "completed"), 0) << summary;
  EXPECT_EQ(Field(summary, "agents"), 4) << summary;
  EXPECT_EQ(Field(summary, "errors"), 0) << summary;
  EXPECT_EQ(Field(summary, "rejected"), 0) << summary;
}

TEST_F(DemoTest, UnknownAgentsAreAConfigError) {
  DemoOptions o = Options();
  o.agent_ids = {"a0", "nobody"};
  std::atomic<bool> stop{true};
  std::ostringstream out;
  const absl::Status status = RunDemo(o, stop, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("demo/nobody"), std::string::npos) << status;
}

TEST(Demo, MissingOptionsAreInvalidBeforeAnythingIsContacted) {
  DemoOptions o;
  o.grpc_target = "127.0.0.1:1";
  o.bootstrap = "127.0.0.1:1";
  o.agent_ids = {"a0"};
  std::atomic<bool> stop{true};
  std::ostringstream out;
  EXPECT_EQ(RunDemo(o, stop, out).code(), absl::StatusCode::kInvalidArgument);
}

// sb-load's mode: the driver sends the agents' routing commands itself (other agents than the
// desktop tests', so the two modes do not meet).
TEST_F(DemoTest, DriverCountsEveryCallerOfARun) {
  DriverOptions d;
  d.grpc_targets = {*grpc_};
  d.bootstrap = *bootstrap_;
  d.queues = {{"demo", "q2"}};
  d.agents = {{"demo", "r0"}, {"demo", "r1"}, {"demo", "r2"}, {"demo", "r3"}};
  d.calls_per_second = 20;
  d.poisson_arrivals = false;
  d.mean_handle_seconds = 0.05;
  d.mean_patience_seconds = 0;
  d.seed = 7;
  auto driver = TrafficDriver::Create(d);
  ASSERT_TRUE(driver.ok()) << driver.status();
  ASSERT_TRUE((*driver)->LoginAgents(std::chrono::seconds(30)).ok());
  (*driver)->StartCalls();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  (*driver)->StopCalls();
  ASSERT_TRUE((*driver)->WaitIdle(std::chrono::seconds(30)));
  const TrafficStats s = (*driver)->Stats();
  EXPECT_GE(s.enqueued, 30);
  EXPECT_EQ(s.offered, s.enqueued);
  EXPECT_EQ(s.enqueue_to_offer.count(), s.offered);
  EXPECT_EQ(s.waiting, 0);
  EXPECT_EQ(s.enqueue_errors, 0);
  EXPECT_EQ(s.rejected, 0) << SummaryLine(s);
  EXPECT_GT(s.enqueue_to_offer.max(), std::chrono::nanoseconds(0));
}

}  // namespace
}  // namespace sb::traffic
