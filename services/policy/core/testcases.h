// Test cases shipped beside a bundle (NAME.tests.yaml next to NAME.yaml): requests and the
// decisions they must get. Run by `switchboard policy test` and by the unit tests.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/core/bundle.h"
#include "switchboard/policy/v1/policy.pb.h"

namespace sb::policy {

struct TestCase {
  std::string name;
  std::string where;  // "file:line"
  v1::EvaluateRequest request;
  std::optional<v1::Outcome> outcome;
  std::optional<std::string> rule;
  std::optional<std::vector<std::string>> obligations;  // obligation kinds, in order
  std::optional<std::vector<std::string>> audit;        // audit rule ids, in order
  std::string reason_contains;
  std::string error;  // a stable reason (e.g. MISSING_INPUT): the request must be refused
};

struct TestResult {
  const TestCase* test;
  bool passed;
  std::string failure;  // what differed, when !passed
};

// "dir/name.tests.yaml" for "dir/name.yaml".
std::string TestsPathFor(const std::string& bundle_path);

// Parses a tests file; errors name the file, line and field.
absl::StatusOr<std::vector<TestCase>> ParseTestCases(const std::string& text,
                                                     const std::string& file);
absl::StatusOr<std::vector<TestCase>> LoadTestCases(const std::string& path);

// Runs the cases against the bundle (as dry runs).
std::vector<TestResult> RunTestCases(const Bundle& bundle, const std::vector<TestCase>& tests);

// The obligation's kind as written in bundles: "end_interaction", "create_review", ...
std::string ObligationName(const v1::Obligation& o);

}  // namespace sb::policy
