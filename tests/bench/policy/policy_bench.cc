// Benchmarks of the policy core: one decision with the default bundle, per kind, in process
// (docs/performance.md, "Policy service"). Target: >= 50k decisions/s per core.
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "google/protobuf/util/json_util.h"
#include "policy/core/bundle.h"
#include "policy/core/evaluator.h"

namespace sb::policy {
namespace {

v1::EvaluateRequest Request(const std::string& kind, const std::string& input) {
  v1::EvaluateRequest r;
  r.set_tenant_id("acme");
  r.set_kind(kind);
  r.set_agent_id("agent-1");
  r.set_interaction_id("call-1");
  if (!google::protobuf::util::JsonStringToMessage(input, r.mutable_input()).ok()) std::abort();
  return r;
}

void Decide(benchmark::State& state, const v1::EvaluateRequest& request) {
  std::shared_ptr<const Bundle> bundle = DefaultBundle();
  for (auto _ : state) {
    absl::StatusOr<v1::PolicyDecision> d = Decide(*bundle, request);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_DisconnectAllowed(benchmark::State& state) {
  Decide(state, Request("disconnect", R"({"request":{"category":"racial_slur"},
                                          "interaction":{"warnings":["racial_slur"],
                                                         "state":"connected","agent_id":"agent-1"}})"));
}
void BM_DisconnectNotWarned(benchmark::State& state) {
  Decide(state, Request("disconnect", R"({"request":{"category":"racial_slur"}})"));
}
void BM_EscalationNoRule(benchmark::State& state) {
  // Every rule is tried and the fallback decides: the longest path of the kind.
  Decide(state, Request("escalation", R"({"request":{"reason":"agent_request"},
                                          "interaction":{"handle_seconds":60},
                                          "customer":{"open_case":true,"contacts_7d":1}})"));
}
void BM_AuthorityApprovalRequired(benchmark::State& state) {
  Decide(state, Request("authority", R"({"request":{"action":"credit","amount":900},
                                         "agent":{"tier":"tier2"}})"));
}
void BM_VerificationTwoFactors(benchmark::State& state) {
  Decide(state, Request("verification", R"({"interaction":{"queue":"billing"},
                                            "request":{"factors":["postcode","date_of_birth"]}})"));
}
void BM_RecordingPaused(benchmark::State& state) {
  Decide(state, Request("recording", R"({"interaction":{"queue":"payments"},
                                         "request":{"sensitive":"payment_card"}})"));
}
void BM_WellbeingReady(benchmark::State& state) {
  Decide(state, Request("wellbeing", R"({"agent":{"difficult_last_hour":1}})"));
}

BENCHMARK(BM_DisconnectAllowed);
BENCHMARK(BM_DisconnectNotWarned);
BENCHMARK(BM_EscalationNoRule);
BENCHMARK(BM_AuthorityApprovalRequired);
BENCHMARK(BM_VerificationTwoFactors);
BENCHMARK(BM_RecordingPaused);
BENCHMARK(BM_WellbeingReady);

// Loading (parsing and validating) the default bundle, as a reload does.
void BM_ParseDefaultBundle(benchmark::State& state) {
  const std::string text = DefaultBundleYaml();
  for (auto _ : state) {
    auto b = ParseBundle(text, "default.yaml", "default");
    benchmark::DoNotOptimize(b);
  }
}
BENCHMARK(BM_ParseDefaultBundle)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sb::policy

BENCHMARK_MAIN();
