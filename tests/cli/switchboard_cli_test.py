#!/usr/bin/env python3
"""End-to-end test of the `switchboard` command line, as an operator would use it.

Usage: switchboard_cli_test.py PATH/TO/switchboard REPO_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BIN = sys.argv[1]
ROOT = sys.argv[2]
SCENARIOS = os.path.join(ROOT, "tools", "simulator", "scenarios")
POLICIES = os.path.join(ROOT, "deploy", "policies")


def run(*args, check=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)
    if check is not None:
        assert p.returncode == check, f"exit {p.returncode} for {args}\nstdout:{p.stdout}\nstderr:{p.stderr}"
    return p


class SwitchboardCli(unittest.TestCase):
    def test_help_lists_subcommands_and_flags(self):
        p = run("--help", check=0)
        self.assertIn("simulate", p.stdout)
        p = run("simulate", "--help", check=0)
        for flag in ("--seed", "--duration", "--json", "--progress"):
            self.assertIn(flag, p.stdout)

    def test_every_example_scenario_runs_and_conserves_callers(self):
        for name in sorted(os.listdir(SCENARIOS)):
            with self.subTest(scenario=name):
                p = run("simulate", os.path.join(SCENARIOS, name), "--json", check=0)
                report = json.loads(p.stdout)
                self.assertEqual(report["engine"]["rejected"], {}, "the engine refused a command")
                self.assertGreater(report["total"]["offered"], 0)
                for q in report["queues"]:
                    self.assertEqual(
                        q["offered"],
                        q["answered"] + q["abandoned"] + q["overflowed"] + q["waiting_at_end"],
                        f"queue {q['queue']} lost callers")

    def test_same_seed_same_report_other_seed_other_report(self):
        small = os.path.join(SCENARIOS, "small.yaml")
        a = run("simulate", small, "--json", "--seed", "11", check=0).stdout
        b = run("simulate", small, "--json", "--seed", "11", check=0).stdout
        c = run("simulate", small, "--json", "--seed", "12", check=0).stdout
        self.assertEqual(a, b)
        self.assertNotEqual(json.loads(a)["queues"], json.loads(c)["queues"])

    def test_table_output_names_every_queue(self):
        p = run("simulate", os.path.join(SCENARIOS, "contact_center.yaml"), check=0)
        for queue in ("billing", "sales", "support", "chat"):
            self.assertIn(queue, p.stdout)

    def test_bad_input_is_refused_with_a_line_number(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("queues:\n  - id: billing\n    strategy: fastest\n")
        try:
            p = run("config", "validate", f.name)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(f"{f.name}:3:", p.stderr + p.stdout)
            self.assertIn("strategy", p.stderr + p.stdout)
        finally:
            os.unlink(f.name)
        p = run("simulate", "/nonexistent/scenario.yaml")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/scenario.yaml", p.stderr)
        p = run("simulate", os.path.join(SCENARIOS, "small.yaml"), "--duration", "banana")
        self.assertNotEqual(p.returncode, 0)

    def test_a_valid_config_validates(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("queues:\n  - id: billing\n    membership: 'skills.billing > 0'\n"
                    "agents:\n  - id: ann\n    skills: {billing: 3}\n")
        try:
            p = run("config", "validate", f.name)
            self.assertEqual(p.returncode, 0, p.stderr)
        finally:
            os.unlink(f.name)


# A small bundle of its own (the shipped default changes with the product), and its tests.
MINI_BUNDLE = """tenant: globex
version: "1"
policies:
  disconnect:
    inputs:
      request.category: string
    rules:
      - id: disconnect.never
        when: request.category != ""
        outcome: deny
        reason: "Not for '{request.category}'."
"""
MINI_TESTS = """tests:
  - name: no disconnect for profanity
    request:
      kind: disconnect
      tenant_id: globex
      agent_id: a1
      interaction_id: call-1
      input:
        request: {category: profanity}
    expect: {outcome: deny, rule: disconnect.never, reason_contains: profanity}
"""


class SwitchboardPolicy(unittest.TestCase):
    """`switchboard policy validate` and `switchboard policy test`."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def copy_default(self, name="acme"):
        """A copy of the shipped default bundle and its tests as NAME.yaml, NAME.tests.yaml."""
        bundle = os.path.join(self.dir, f"{name}.yaml")
        shutil.copy(os.path.join(POLICIES, "default.yaml"), bundle)
        shutil.copy(os.path.join(POLICIES, "default.tests.yaml"),
                    os.path.join(self.dir, f"{name}.tests.yaml"))
        return bundle

    def break_first_case(self, name="acme"):
        """Flips the outcome the first case of NAME.tests.yaml expects; returns the case's name,
        the outcome now expected and the one the bundle gives."""
        path = os.path.join(self.dir, f"{name}.tests.yaml")
        with open(path) as f:
            text = f.read()
        case = re.search(r"^  - name: (.+)$", text, re.M)
        outcome = re.compile(r"(outcome: )(allow|deny)")
        got = outcome.search(text, case.end())
        wrong = "allow" if got.group(2) == "deny" else "deny"
        text = text[:got.start()] + got.group(1) + wrong + text[got.end():]
        with open(path, "w") as f:
            f.write(text)
        return case.group(1).strip(), wrong, got.group(2)

    @staticmethod
    def summary(stdout, file):
        m = re.search(rf"^{re.escape(file)}: (\d+) passed, (\d+) failed$", stdout, re.M)
        assert m, f"no summary for {file} in:\n{stdout}"
        return int(m.group(1)), int(m.group(2))

    def test_the_shipped_default_bundle_passes(self):
        default = os.path.join(POLICIES, "default.yaml")
        p = run("policy", "test", default, check=0)
        passed, failed = self.summary(p.stdout, default)
        self.assertGreater(passed, 0)
        self.assertEqual(failed, 0)
        self.assertNotIn("FAIL", p.stdout)
        self.assertEqual(p.stdout.count("\nPASS ") + p.stdout.startswith("PASS "), passed)

        p = run("policy", "test", "--builtin", check=0)
        passed, failed = self.summary(p.stdout, "builtin:deploy/policies/default.yaml")
        self.assertGreater(passed, 0)
        self.assertEqual(failed, 0)

        p = run("policy", "validate", default, check=0)
        self.assertRegex(p.stdout, rf"^ok   {re.escape(default)}  tenant=\* version=\S+@[0-9a-f]{{12}} rules=\d+$")

    def test_a_wrong_expectation_fails_naming_the_case_and_the_difference(self):
        bundle = self.copy_default()
        case, wrong, right = self.break_first_case()
        p = run("policy", "test", bundle, check=1)
        fails = [line for line in p.stdout.splitlines() if line.startswith("FAIL ")]
        self.assertEqual(len(fails), 1, p.stdout)
        tests_file = os.path.join(self.dir, "acme.tests.yaml")
        self.assertRegex(fails[0], rf"^FAIL {re.escape(case)} \({re.escape(tests_file)}:\d+\): ")
        self.assertIn(f"outcome: expected {wrong}, got {right}", fails[0])
        self.assertEqual(self.summary(p.stdout, bundle)[1], 1)

        # --quiet: only the failure and the summary.
        p = run("policy", "test", "--quiet", bundle, check=1)
        self.assertEqual(p.stdout.splitlines()[0], fails[0])
        self.assertNotIn("PASS", p.stdout)
        self.assertEqual(len(p.stdout.splitlines()), 2, p.stdout)

    def test_an_expression_syntax_error_names_file_line_and_field(self):
        bundle = self.write("broken.yaml", MINI_BUNDLE.replace('request.category != ""',
                                                              "request.category =="))
        self.write("broken.tests.yaml", MINI_TESTS)
        for command in ("test", "validate"):
            with self.subTest(command=command):
                p = run("policy", command, bundle, check=1)
                self.assertIn(f"{bundle}:9: policies.disconnect.rules[0].when: column ", p.stderr)
                self.assertNotIn("ok ", p.stdout)

    def test_a_directory_runs_every_bundle(self):
        acme = self.copy_default()
        mini = self.write("mini.yaml", MINI_BUNDLE)
        self.write("mini.tests.yaml", MINI_TESTS)
        self.write(".hidden.yaml", "not: [a bundle")  # ignored, as the service ignores it
        p = run("policy", "test", self.dir, check=0)
        self.assertEqual(self.summary(p.stdout, mini), (1, 0))
        acme_passed, _ = self.summary(p.stdout, acme)
        self.assertIn(f"2 bundles: {acme_passed + 1} passed, 0 failed", p.stdout)
        self.assertIn("PASS no disconnect for profanity", p.stdout)

        p = run("policy", "validate", self.dir, check=0)
        oks = sorted(line.split()[1] for line in p.stdout.splitlines())
        self.assertEqual(oks, [acme, mini])
        self.assertIn("tenant=globex version=1@", p.stdout)

        # Two bundles for one tenant in a directory: the service would reject the second.
        shutil.copy(mini, os.path.join(self.dir, "zz.yaml"))
        p = run("policy", "validate", self.dir, check=1)
        self.assertIn(f"zz.yaml: tenant: 'globex' is already served by {mini}", p.stderr)

    def test_json_output(self):
        self.copy_default()
        self.break_first_case()
        self.write("mini.yaml", MINI_BUNDLE)
        self.write("mini.tests.yaml", MINI_TESTS)
        p = run("policy", "test", self.dir, "--output", "json", check=1)
        doc = json.loads(p.stdout)
        by_name = {os.path.basename(b["file"]): b for b in doc["bundles"]}
        self.assertEqual(sorted(by_name), ["acme.yaml", "mini.yaml"])
        acme = by_name["acme.yaml"]
        self.assertEqual(acme["tenant"], "*")  # a copy of the default
        self.assertEqual(acme["failed"], 1)
        self.assertEqual(acme["passed"] + acme["failed"], len(acme["cases"]))
        failing = [c for c in acme["cases"] if not c["passed"]]
        self.assertEqual(len(failing), 1)
        self.assertIn("outcome: expected", failing[0]["failure"])
        self.assertRegex(failing[0]["where"], r"acme\.tests\.yaml:\d+$")
        mini = by_name["mini.yaml"]
        self.assertEqual((mini["tenant"], mini["passed"], mini["failed"]), ("globex", 1, 0))
        self.assertTrue(mini["version"].startswith("1@"))
        self.assertEqual(mini["cases"][0]["name"], "no disconnect for profanity")

        p = run("policy", "test", "--builtin", "-o", "json", check=0)
        [builtin] = json.loads(p.stdout)["bundles"]
        self.assertEqual(builtin["failed"], 0)
        self.assertEqual(builtin["passed"], len(builtin["cases"]))

    def test_missing_files_are_clear_errors(self):
        missing = os.path.join(self.dir, "nope.yaml")
        for command in ("test", "validate"):
            with self.subTest(command=command):
                p = run("policy", command, missing, check=1)
                self.assertIn(f"{missing}: no such file or directory", p.stderr)
        # A bundle without its tests file.
        mini = self.write("mini.yaml", MINI_BUNDLE)
        p = run("policy", "test", mini, check=1)
        self.assertIn(f"{mini}: no test cases (expected mini.tests.yaml beside it)", p.stderr)
        # An empty directory.
        empty = os.path.join(self.dir, "empty")
        os.mkdir(empty)
        p = run("policy", "test", empty, check=1)
        self.assertIn(f"{empty}: no policy bundles", p.stderr)

    def test_bad_usage_exits_2(self):
        default = os.path.join(POLICIES, "default.yaml")
        run("policy", "test", "--no-such-flag", default, check=2)
        run("policy", "test", default, "--output", "yaml", check=2)
        run("policy", "test", check=2)  # neither a BUNDLE nor --builtin
        run("policy", "validate", check=2)
        run("policy", check=2)

    def test_help_has_examples(self):
        for args in (("policy",), ("policy", "test"), ("policy", "validate")):
            with self.subTest(args=args):
                p = run(*args, "--help", check=0)
                self.assertIn("Examples:", p.stdout)
                self.assertIn("Exit status:", p.stdout)
        p = run("policy", "test", "--help", check=0)
        self.assertIn("switchboard policy test deploy/policies/default.yaml", p.stdout)
        self.assertIn("switchboard policy test /etc/switchboard/policies/", p.stdout)
        for flag in ("--builtin", "--quiet", "--output"):
            self.assertIn(flag, p.stdout)
        self.assertIn("policy", run("--help", check=0).stdout)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
