// switchboard policy validate | test: checks policy bundles (docs/policies.md) and runs the test
// cases shipped beside them (NAME.tests.yaml next to NAME.yaml), locally: nothing is sent to the
// policy service. The same parser and evaluator as sb-policy (services/policy/core).

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "fmt/format.h"
#include "policy/core/bundle.h"
#include "policy/core/testcases.h"
#include "switchboard/commands.h"
#include "switchboard/render.h"

namespace sb::cli {
namespace {

namespace fs = std::filesystem;

constexpr char kBuiltinTestsFile[] = "builtin:deploy/policies/default.tests.yaml";

struct PolicyFlags {
  std::vector<std::string> bundles;  // files or directories
  bool builtin = false;              // test only
  bool quiet = false;                // test only
  std::string output = "text";       // test only
};

// A bundle file to look at: `group` is the directory argument it came from ("" for a file given
// by itself), for the one-tenant-per-directory check of `validate`.
struct BundlePath {
  std::string path;
  std::string group;
};

// The bundles of one directory, as the policy service reads it (store.h): every *.yaml except
// *.tests.yaml and hidden entries, regular files (symlinks followed), sorted.
std::vector<std::string> BundlesInDirectory(const std::string& dir, std::error_code& ec) {
  std::vector<std::string> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(".") || !name.ends_with(".yaml") || name.ends_with(".tests.yaml")) {
      continue;
    }
    std::error_code file_ec;
    if (!fs::is_regular_file(it->path(), file_ec)) continue;
    out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Expands the BUNDLE arguments. A missing path, an unreadable or bundle-less directory or a
// tests file given as a bundle is reported on stderr and counted in *errors.
std::vector<BundlePath> ExpandBundles(const std::vector<std::string>& args, int* errors) {
  std::vector<BundlePath> out;
  for (const std::string& arg : args) {
    std::error_code ec;
    const fs::file_status status = fs::status(arg, ec);
    if (!fs::exists(status)) {
      std::cerr << fmt::format("{}: no such file or directory\n", arg);
      ++*errors;
    } else if (fs::is_directory(status)) {
      const std::vector<std::string> files = BundlesInDirectory(arg, ec);
      if (ec) {
        std::cerr << fmt::format("{}: cannot read the directory: {}\n", arg, ec.message());
        ++*errors;
      } else if (files.empty()) {
        std::cerr << fmt::format(
            "{}: no policy bundles in the directory (NAME.yaml files, NAME.tests.yaml aside)\n",
            arg);
        ++*errors;
      }
      for (const std::string& f : files) out.push_back({f, arg});
    } else if (arg.ends_with(".tests.yaml")) {
      std::cerr << fmt::format(
          "{}: this is a test-cases file; give its bundle ({}.yaml), whose cases it holds\n", arg,
          arg.substr(0, arg.size() - std::string_view(".tests.yaml").size()));
      ++*errors;
    } else {
      out.push_back({arg, ""});
    }
  }
  return out;
}

// ---- validate ----

int RunValidate(const PolicyFlags& flags) {
  int errors = 0;
  const std::vector<BundlePath> paths = ExpandBundles(flags.bundles, &errors);
  // One bundle per tenant in a directory: the service rejects a second file for the same tenant.
  std::map<std::pair<std::string, std::string>, std::string> tenant_file;  // (group, tenant)
  for (const BundlePath& p : paths) {
    absl::StatusOr<std::shared_ptr<const policy::Bundle>> bundle = policy::LoadBundleFile(p.path);
    if (!bundle.ok()) {
      std::cerr << bundle.status().message() << "\n";
      ++errors;
      continue;
    }
    const policy::Bundle& b = **bundle;
    if (!p.group.empty()) {
      auto [it, inserted] = tenant_file.emplace(std::make_pair(p.group, b.tenant), p.path);
      if (!inserted) {
        std::cerr << fmt::format(
            "{}: tenant: '{}' is already served by {} (the policy service would reject this "
            "file)\n",
            p.path, b.tenant, it->second);
        ++errors;
        continue;
      }
    }
    std::cout << fmt::format("ok   {}  tenant={} version={} rules={}\n", p.path, b.tenant,
                             b.version, b.rule_count());
  }
  return errors > 0 ? kExitFailure : kExitOk;
}

// ---- test ----

// One bundle's run: loaded, its cases read and run, or the error that stopped it.
struct BundleRun {
  std::string file;
  std::shared_ptr<const policy::Bundle> bundle;
  std::vector<policy::TestCase> cases;  // TestResult points into these
  std::vector<policy::TestResult> results;
  std::string error;  // set when the bundle or its cases could not be read
  int passed = 0;
  int failed = 0;
};

void RunCases(BundleRun* run) {
  run->results = policy::RunTestCases(*run->bundle, run->cases);
  for (const policy::TestResult& r : run->results) ++(r.passed ? run->passed : run->failed);
}

BundleRun RunBuiltin() {
  BundleRun run;
  run.bundle = policy::DefaultBundle();
  run.file = run.bundle->file;
  absl::StatusOr<std::vector<policy::TestCase>> cases =
      policy::ParseTestCases(policy::DefaultBundleTestsYaml(), kBuiltinTestsFile);
  if (!cases.ok()) {
    run.error = std::string(cases.status().message());
    return run;
  }
  run.cases = *std::move(cases);
  RunCases(&run);
  return run;
}

BundleRun RunFile(const std::string& path) {
  BundleRun run;
  run.file = path;
  absl::StatusOr<std::shared_ptr<const policy::Bundle>> bundle = policy::LoadBundleFile(path);
  if (!bundle.ok()) {
    run.error = std::string(bundle.status().message());
    return run;
  }
  run.bundle = *std::move(bundle);
  const std::string tests_path = policy::TestsPathFor(path);
  const std::string tests_name = fs::path(tests_path).filename().string();
  std::error_code ec;
  if (!fs::exists(tests_path, ec)) {
    run.error = fmt::format("{}: no test cases (expected {} beside it)", path, tests_name);
    return run;
  }
  absl::StatusOr<std::vector<policy::TestCase>> cases = policy::LoadTestCases(tests_path);
  if (!cases.ok()) {
    run.error = std::string(cases.status().message());
    return run;
  }
  if (cases->empty()) {
    run.error = fmt::format("{}: no test cases ({} lists none)", path, tests_path);
    return run;
  }
  run.cases = *std::move(cases);
  RunCases(&run);
  return run;
}

void PrintText(const std::vector<BundleRun>& runs, bool quiet) {
  for (const BundleRun& run : runs) {
    if (!run.error.empty()) {
      std::cerr << run.error << "\n";
      continue;
    }
    for (const policy::TestResult& r : run.results) {
      if (r.passed) {
        if (!quiet) std::cout << fmt::format("PASS {}\n", r.test->name);
      } else {
        std::cout << fmt::format("FAIL {} ({}): {}\n", r.test->name, r.test->where, r.failure);
      }
    }
    std::cout << fmt::format("{}: {} passed, {} failed\n", run.file, run.passed, run.failed);
  }
  if (runs.size() > 1) {
    int passed = 0, failed = 0, broken = 0;
    for (const BundleRun& run : runs) {
      passed += run.passed;
      failed += run.failed;
      broken += run.error.empty() ? 0 : 1;
    }
    std::cout << fmt::format("{} bundles: {} passed, {} failed{}\n", runs.size(), passed, failed,
                             broken > 0 ? fmt::format(", {} not run (errors above)", broken) : "");
  }
}

// {"bundles":[{"file","tenant","version","passed","failed","cases":[{"name","where","passed",
// "failure"}]}]}; a bundle that could not be run has "error" instead of the cases.
void PrintJson(const std::vector<BundleRun>& runs) {
  std::string o = "{\"bundles\": [";
  for (size_t i = 0; i < runs.size(); ++i) {
    const BundleRun& run = runs[i];
    if (i > 0) o += ",";
    o += fmt::format("\n  {{\"file\": {}", JsonString(run.file));
    if (run.bundle != nullptr) {
      o += fmt::format(", \"tenant\": {}, \"version\": {}", JsonString(run.bundle->tenant),
                       JsonString(run.bundle->version));
    }
    if (!run.error.empty()) {
      o += fmt::format(", \"error\": {}}}", JsonString(run.error));
      continue;
    }
    o += fmt::format(", \"passed\": {}, \"failed\": {}, \"cases\": [", run.passed, run.failed);
    for (size_t j = 0; j < run.results.size(); ++j) {
      const policy::TestResult& r = run.results[j];
      o += fmt::format("{}\n    {{\"name\": {}, \"where\": {}, \"passed\": {}, \"failure\": {}}}",
                       j > 0 ? "," : "", JsonString(r.test->name), JsonString(r.test->where),
                       r.passed ? "true" : "false", JsonString(r.failure));
    }
    o += "]}";
  }
  o += "\n]}\n";
  std::cout << o;
}

int RunTest(const PolicyFlags& flags) {
  if (!flags.builtin && flags.bundles.empty()) {
    std::cerr << "switchboard policy test: give a BUNDLE (a file or a directory) or --builtin\n"
                 "Run with --help for more information.\n";
    return kExitUsage;
  }
  int errors = 0;
  std::vector<BundleRun> runs;
  if (flags.builtin) runs.push_back(RunBuiltin());
  for (const BundlePath& p : ExpandBundles(flags.bundles, &errors)) runs.push_back(RunFile(p.path));
  if (flags.output == "json") {
    // Errors still go to stderr too, so that a pipe into jq does not hide them.
    for (const BundleRun& run : runs) {
      if (!run.error.empty()) std::cerr << run.error << "\n";
    }
    PrintJson(runs);
  } else {
    PrintText(runs, flags.quiet);
  }
  for (const BundleRun& run : runs) {
    if (!run.error.empty() || run.failed > 0) ++errors;
  }
  return errors > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void AddPolicyCommand(CLI::App& app, int* exit_code) {
  CLI::App* policy = app.add_subcommand(
      "policy",
      "Check policy bundles (a tenant's conduct rules, docs/policies.md) and run the test cases "
      "shipped beside them, locally: nothing is sent to the policy service.");
  policy->require_subcommand(1);
  policy->footer(
      "A BUNDLE is a bundle file (NAME.yaml) or a directory: every *.yaml in it except "
      "*.tests.yaml and hidden files, as the policy service reads it.\n"
      "Examples:\n"
      "  switchboard policy validate /etc/switchboard/policies/\n"
      "  switchboard policy test deploy/policies/default.yaml\n"
      "  switchboard policy test --builtin\n"
      "Exit status: 0 all good; 1 a bundle is invalid or a test case failed; 2 bad usage.");

  auto validate_flags = std::make_shared<PolicyFlags>();
  CLI::App* validate = policy->add_subcommand(
      "validate",
      "Load each bundle as the policy service would (YAML, fields, inputs, rule expressions, "
      "reason templates, obligations) and print its tenant, version and rule count. In a "
      "directory, two bundles for the same tenant are an error too (the service would reject "
      "the second).");
  validate->add_option("bundle", validate_flags->bundles, "Bundle files or directories.")
      ->required();
  validate->footer(
      "Examples:\n"
      "  switchboard policy validate deploy/policies/default.yaml\n"
      "  switchboard policy validate /etc/switchboard/policies/\n"
      "Output: `ok   FILE  tenant=T version=V rules=N` per valid bundle on stdout; each error on "
      "stderr, naming file:line and the field.\n"
      "Exit status: 0 all valid; 1 a bundle is invalid or missing; 2 bad usage.");
  validate->callback([validate_flags, exit_code] { *exit_code = RunValidate(*validate_flags); });

  auto test_flags = std::make_shared<PolicyFlags>();
  CLI::App* test = policy->add_subcommand(
      "test",
      "Run the test cases of each bundle: NAME.tests.yaml beside NAME.yaml lists requests and "
      "the decisions they must get (outcome, rule, obligations, reason, audit matches, or the "
      "error that refuses them). Prints PASS/FAIL per case and a summary per bundle.");
  test->add_option("bundle", test_flags->bundles, "Bundle files or directories.");
  test->add_flag("--builtin", test_flags->builtin,
                 "Test the default bundle compiled into this binary (deploy/policies/default.yaml "
                 "with default.tests.yaml), the one that serves tenants without a bundle.");
  test->add_flag("--quiet,-q", test_flags->quiet,
                 "Print only the failing cases and the summaries.");
  test->add_option("--output,-o", test_flags->output,
                   "text (PASS/FAIL lines) or json: {\"bundles\": [{\"file\", \"tenant\", "
                   "\"version\", \"passed\", \"failed\", \"cases\": [{\"name\", \"where\", "
                   "\"passed\", \"failure\"}]}]}")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  test->footer(
      "Examples:\n"
      "  switchboard policy test deploy/policies/default.yaml\n"
      "  switchboard policy test /etc/switchboard/policies/ --quiet\n"
      "  switchboard policy test --builtin\n"
      "  switchboard policy test acme.yaml -o json | jq '.bundles[].failed'\n"
      "A failing case reads `FAIL NAME (FILE:LINE): what differed`, e.g.\n"
      "  FAIL profanity is not a reason to disconnect (default.tests.yaml:47): outcome: expected "
      "allow, got deny\n"
      "Exit status: 0 every case passed; 1 a case failed, a bundle or its tests file is invalid "
      "or missing; 2 bad usage.");
  test->callback([test_flags, exit_code] { *exit_code = RunTest(*test_flags); });
}

}  // namespace sb::cli
