// libFuzzer entry point for the policy bundle loader, the evaluator and the test-case loader.
// Built only with -DSB_FUZZ=ON and Clang (see services/common/expr/CMakeLists.txt); run it with
// tools/fuzz. The bytes are read as a bundle; when one parses, a few fixed requests of every kind
// are decided with it, so rules, params and reason/obligation templates written by the fuzzer are
// evaluated and rendered. The same bytes are then read as a tests file, and parsed cases are run
// against the built-in default bundle (fuzzed facts reach the evaluator that way).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/core/bundle.h"
#include "policy/core/evaluator.h"
#include "policy/core/testcases.h"

namespace {

namespace v1 = ::switchboard::policy::v1;
using google::protobuf::Struct;
using google::protobuf::Value;

// Sets input.<path> (dotted), turning whatever lies on the way into objects.
void Set(Struct* input, std::string_view path, const Value& value) {
  Struct* object = input;
  for (size_t dot = path.find('.'); dot != std::string_view::npos; dot = path.find('.')) {
    Value& v = (*object->mutable_fields())[std::string(path.substr(0, dot))];
    object = v.mutable_struct_value();  // replaces a value of another kind
    path.remove_prefix(dot + 1);
  }
  (*object->mutable_fields())[std::string(path)] = value;
}

Value String(std::string_view s) {
  Value v;
  v.set_string_value(std::string(s));
  return v;
}
Value Number(double d) {
  Value v;
  v.set_number_value(d);
  return v;
}
Value Bool(bool b) {
  Value v;
  v.set_bool_value(b);
  return v;
}
Value List(const std::vector<std::string>& items) {
  Value v;
  for (const std::string& s : items) *v.mutable_list_value()->add_values() = String(s);
  return v;
}

// A value of the declared type (or, when `wrong`, of another type).
Value Typed(sb::policy::InputType type, bool wrong) {
  using sb::policy::InputType;
  switch (type) {
    case InputType::kString:
      return wrong ? Number(7) : String("racial_slur");
    case InputType::kNumber:
      return wrong ? String("3") : Number(3);
    case InputType::kBool:
      return wrong ? List({"true"}) : Bool(true);
    case InputType::kList:
      return wrong ? Bool(false) : List({"a", "racial_slur", "date_of_birth"});
    case InputType::kAny:
      break;
  }
  if (!wrong) return String("any");
  Value v;  // read as missing
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}

// Fixed facts under the names the seed bundles use, of every type.
Struct FixedFacts() {
  Struct in;
  Set(&in, "request.category", String("racial_slur"));
  Set(&in, "request.reason", String("caller_requested_manager"));
  Set(&in, "request.action", String("credit"));
  Set(&in, "request.amount", Number(120.5));
  Set(&in, "request.factors", List({"date_of_birth", "postcode"}));
  Set(&in, "request.failed_attempts", Number(-1e300));
  Set(&in, "request.sensitive", String(""));
  Set(&in, "interaction.warnings", List({"racial_slur", "", "{x}"}));
  Set(&in, "interaction.queue", String("billing"));
  Set(&in, "interaction.verified", Bool(false));
  Set(&in, "customer.vip", Bool(true));
  Set(&in, "customer.contacts_7d", Number(1e18));
  Set(&in, "agent.tier", String("tier1"));
  Value mixed = List({"a"});
  *mixed.mutable_list_value()->add_values() = Number(1);  // a list with a non-string item
  Set(&in, "agent.mixed", mixed);
  Value null;
  null.set_null_value(google::protobuf::NULL_VALUE);
  Set(&in, "agent.nothing", null);
  Set(&in, "x", Number(0));
  return in;
}

void CheckDecision(const sb::policy::Bundle& bundle, const v1::EvaluateRequest& request) {
  absl::StatusOr<v1::PolicyDecision> d = sb::policy::Decide(bundle, request);
  if (!d.ok()) {
    // Refusals are InvalidArgument or FailedPrecondition with a stable reason prefix.
    if (d.status().code() != absl::StatusCode::kInvalidArgument &&
        d.status().code() != absl::StatusCode::kFailedPrecondition) {
      std::abort();
    }
    if (d.status().message().find(": ") == std::string_view::npos) std::abort();
    return;
  }
  // Every decision names the rule that made it and has an outcome.
  if (d->rule().empty() ||
      (d->outcome() != v1::OUTCOME_ALLOW && d->outcome() != v1::OUTCOME_DENY)) {
    std::abort();
  }
  const sb::policy::KindPolicy* policy = bundle.Find(request.kind());
  if (policy == nullptr) std::abort();
}

void DecideAll(const sb::policy::Bundle& bundle) {
  static const Struct* const kFacts = new Struct(FixedFacts());
  for (const sb::policy::KindInfo& kind : sb::policy::Kinds()) {
    v1::EvaluateRequest request;
    request.set_tenant_id("acme");
    request.set_kind(kind.name);
    request.set_agent_id("a1");
    request.set_interaction_id("call-1");
    request.set_dry_run(true);

    // No facts: required inputs are missing, rules see nulls.
    CheckDecision(bundle, request);
    // The fixed facts.
    *request.mutable_input() = *kFacts;
    CheckDecision(bundle, request);
    // The declared inputs, of the right types (so the rules run), then of the wrong types.
    if (const sb::policy::KindPolicy* policy = bundle.Find(kind.name)) {
      for (const bool wrong : {false, true}) {
        request.clear_input();
        for (const sb::policy::InputSpec& spec : policy->inputs) {
          Set(request.mutable_input(), spec.path, Typed(spec.type, wrong));
        }
        CheckDecision(bundle, request);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // SB_FUZZ_VERBOSE=1 says what the loaders made of the input (to check a seed or a crash).
  static const bool verbose = std::getenv("SB_FUZZ_VERBOSE") != nullptr;
  const std::string text(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<std::shared_ptr<const sb::policy::Bundle>> bundle =
      sb::policy::ParseBundle(text, "fuzz.yaml", "fuzz");
  if (verbose) {
    std::fprintf(stderr, "bundle: %s\n",
                 bundle.ok() ? "parsed" : std::string(bundle.status().message()).c_str());
  }
  if (bundle.ok()) {
    DecideAll(**bundle);
  } else if (bundle.status().code() != absl::StatusCode::kInvalidArgument ||
             bundle.status().message().substr(0, 9) != "fuzz.yaml") {
    // Load errors are InvalidArgument and start with the file name (then line and field).
    std::abort();
  }

  absl::StatusOr<std::vector<sb::policy::TestCase>> tests =
      sb::policy::ParseTestCases(text, "fuzz.tests.yaml");
  if (verbose) {
    std::fprintf(stderr, "tests: %s\n",
                 tests.ok() ? "parsed" : std::string(tests.status().message()).c_str());
  }
  if (tests.ok()) {
    (void)sb::policy::RunTestCases(*sb::policy::DefaultBundle(), *tests);
  } else if (tests.status().code() != absl::StatusCode::kInvalidArgument ||
             tests.status().message().substr(0, 15) != "fuzz.tests.yaml") {
    std::abort();
  }
  return 0;
}
