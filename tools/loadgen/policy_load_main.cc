// sb-policy-load: closed-loop load on sb-policy's Evaluate over gRPC on loopback; prints the
// throughput, the latency percentiles and sb-policy's CPU per decision (docs/performance.md,
// "Policy service"). Either against a running sb-policy (--server) or against its own embedded
// broker and sb-policy (--spawn).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "common/process/child_process.h"
#include "fmt/format.h"
#include "google/protobuf/util/json_util.h"
#include "loadgen/binaries.h"
#include "loadgen/latency_histogram.h"
#include "switchboard/policy/v1/policy.grpc.pb.h"

namespace sb::traffic {
namespace {

namespace pv1 = ::switchboard::policy::v1;
using process::ChildProcess;
using Clock = std::chrono::steady_clock;

struct Flags {
  std::string server;
  bool spawn = false;
  int threads = 1;
  double duration_s = 10;
  double warmup_s = 2;
  bool dry_run = false;
  bool quiet = false;
  std::string log_dir;
};

// A mix of requests over the six kinds, decided by the default bundle, none with routing
// obligations (so a recorded run measures deciding + recording, not routing).
std::vector<pv1::EvaluateRequest> Mix(bool dry_run) {
  const std::vector<std::pair<std::string, std::string>> kinds = {
      {"disconnect", R"({"request":{"category":"racial_slur"},"interaction":{"warnings":[]}})"},
      {"escalation",
       R"({"request":{"reason":"agent_request"},"interaction":{"handle_seconds":60}})"},
      {"authority", R"({"request":{"action":"credit","amount":40},"agent":{"tier":"tier1"}})"},
      {"verification",
       R"({"interaction":{"queue":"billing"},"request":{"factors":["postcode","date_of_birth"]}})"},
      {"recording", R"({"interaction":{"queue":"sales"},"request":{"direction":"inbound"}})"},
      {"wellbeing", R"({"agent":{"difficult_last_hour":1}})"},
  };
  std::vector<pv1::EvaluateRequest> out;
  for (const auto& [kind, input] : kinds) {
    pv1::EvaluateRequest r;
    r.set_tenant_id("load");
    r.set_kind(kind);
    r.set_agent_id("agent-1");
    r.set_interaction_id("call-1");
    r.set_dry_run(dry_run);
    if (!google::protobuf::util::JsonStringToMessage(input, r.mutable_input()).ok()) std::abort();
    out.push_back(std::move(r));
  }
  return out;
}

int Run(const Flags& flags) {
  std::vector<std::unique_ptr<ChildProcess>> children;
  std::string server = flags.server;
  if (flags.spawn) {
    const std::string log_dir =
        flags.log_dir.empty() ? std::filesystem::temp_directory_path().string() : flags.log_dir;
    auto broker = ChildProcess::Start(
        "sb-embedded-broker",
        {BinaryPath("sb-embedded-broker", SB_EMBEDDED_BROKER_PATH), "--partitions", "4"},
        log_dir + "/sb-policy-load-broker.log");
    if (!broker.ok()) {
      std::cerr << "sb-policy-load: " << broker.status() << "\n";
      return 1;
    }
    children.push_back(*std::move(broker));
    auto bootstrap = children[0]->WaitForLine("bootstrap=", std::chrono::seconds(60));
    if (!bootstrap.ok()) {
      std::cerr << "sb-policy-load: the broker did not start: " << bootstrap.status() << "\n";
      return 1;
    }
    auto policy = ChildProcess::Start(
        "sb-policy",
        {BinaryPath("sb-policy", SB_POLICY_PATH), "--bootstrap", *bootstrap, "--listen",
         "127.0.0.1:0", "--metrics-listen", "", "--log-level", "warn"},
        log_dir + "/sb-policy-load-policy.log");
    if (!policy.ok()) {
      std::cerr << "sb-policy-load: " << policy.status() << "\n";
      return 1;
    }
    children.push_back(*std::move(policy));
    auto addr = children[1]->WaitForLine("grpc=", std::chrono::seconds(30));
    auto ready = addr.ok() ? children[1]->WaitForLine("ready", std::chrono::seconds(30)) : addr;
    if (!ready.ok()) {
      std::cerr << "sb-policy-load: sb-policy did not start: " << ready.status() << " (log in "
                << log_dir << "/sb-policy-load-policy.log)\n";
      return 1;
    }
    server = *addr;
  }
  if (server.empty()) {
    std::cerr << "sb-policy-load: give --server ADDR or --spawn\n";
    return 2;
  }

  const std::vector<pv1::EvaluateRequest> mix = Mix(flags.dry_run);
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> errors{0};
  std::mutex mu;
  LatencyHistogram total;
  std::string first_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < flags.threads; ++t) {
    threads.emplace_back([&, t] {
      // One channel per thread: separate HTTP/2 connections, as separate clients would have.
      grpc::ChannelArguments args;
      args.SetInt("sb-load-thread", t);
      auto stub = pv1::PolicyService::NewStub(
          grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args));
      LatencyHistogram mine;
      size_t i = static_cast<size_t>(t);
      while (!stop.load(std::memory_order_relaxed)) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        pv1::EvaluateResponse resp;
        const auto start = Clock::now();
        const grpc::Status s = stub->Evaluate(&ctx, mix[i++ % mix.size()], &resp);
        const auto took = Clock::now() - start;
        if (!measuring.load(std::memory_order_relaxed)) continue;
        if (!s.ok()) {
          if (errors.fetch_add(1) == 0) {
            std::lock_guard<std::mutex> lock(mu);
            first_error = absl::StrCat(s.error_code(), " ", s.error_message());
          }
          continue;
        }
        mine.Record(took);
      }
      std::lock_guard<std::mutex> lock(mu);
      total.Merge(mine);
    });
  }
  const auto sleep_s = [](double s) {
    std::this_thread::sleep_for(std::chrono::duration<double>(s));  // pacing a load tool
  };
  sleep_s(flags.warmup_s);
  const double cpu_start = flags.spawn ? children[1]->CpuSeconds() : 0;
  measuring = true;
  const auto start = Clock::now();
  for (double left = flags.duration_s; left > 0; left -= 1) {
    sleep_s(std::min(1.0, left));
    if (!flags.quiet) {
      std::cerr << fmt::format("\rsb-policy-load: {:.0f}/{:.0f} s", flags.duration_s - left + 1,
                               flags.duration_s)
                << std::flush;
    }
  }
  measuring = false;
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = flags.spawn ? children[1]->CpuSeconds() - cpu_start : 0;
  stop = true;
  for (auto& t : threads) t.join();
  if (!flags.quiet) std::cerr << "\n";

  const double rate = static_cast<double>(total.count()) / seconds;
  std::cout << fmt::format(
      "sb-policy-load: {} threads, {} ({}), {:.1f} s: {} decisions, {:.0f}/s; latency p50 "
      "{:.3f} ms, p99 {:.3f} ms, p99.9 {:.3f} ms, max {:.3f} ms; errors {}\n",
      flags.threads, flags.dry_run ? "dry runs" : "recorded in sb.policy.decisions.v1",
      flags.spawn ? "spawned sb-policy" : server, seconds, total.count(), rate,
      total.PercentileMs(50), total.PercentileMs(99), total.PercentileMs(99.9), total.MaxMs(),
      errors.load());
  if (flags.spawn && total.count() > 0) {
    std::cout << fmt::format(
        "sb-policy-load: sb-policy used {:.2f} CPU-seconds: {:.1f} us CPU per decision, "
        "{:.0f} decisions per CPU-second (gRPC + decide{})\n",
        cpu, cpu * 1e6 / static_cast<double>(total.count()),
        static_cast<double>(total.count()) / cpu, flags.dry_run ? "" : " + Kafka");
  }
  for (auto& c : children) c->Terminate(std::chrono::seconds(10));
  if (errors > 0) {
    std::cerr << "sb-policy-load: " << errors << " calls failed; first: " << first_error << "\n";
    return 1;
  }
  return total.count() > 0 ? 0 : 1;
}

}  // namespace
}  // namespace sb::traffic

int main(int argc, char** argv) {
  sb::traffic::Flags f;
  CLI::App app{
      "sb-policy-load: closed-loop load on sb-policy's PolicyService.Evaluate over gRPC; prints "
      "throughput, latency p50/p99/p99.9 and, with --spawn, sb-policy's CPU per decision.",
      "sb-policy-load"};
  auto* server = app.add_option("--server", f.server, "A running sb-policy's gRPC address");
  app.add_flag("--spawn", f.spawn, "Start an embedded broker and an sb-policy to measure")
      ->excludes(server);
  app.add_option("--threads", f.threads,
                 "Client threads, each with its own connection, each "
                 "sending one request at a time")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--duration", f.duration_s, "Seconds measured")
      ->capture_default_str()
      ->check(CLI::Range(0.5, 3600.0));
  app.add_option("--warmup", f.warmup_s, "Seconds run before measuring")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  app.add_flag("--dry-run", f.dry_run, "Send dry runs (decide only; nothing recorded)");
  app.add_flag("--quiet", f.quiet, "No progress line");
  app.add_option("--log-dir", f.log_dir, "Where spawned processes log (default: the temp dir)");
  app.footer(
      "Examples:\n"
      "  sb-policy-load --spawn --threads 1 --duration 10      # latency, recorded decisions\n"
      "  sb-policy-load --spawn --threads 8 --dry-run          # throughput, decide only\n"
      "  sb-policy-load --server 127.0.0.1:7080 --threads 4");
  CLI11_PARSE(app, argc, argv);
  return sb::traffic::Run(f);
}
