#!/usr/bin/env python3
"""End-to-end test of the `switchboard` command line, as an operator would use it.

Usage: switchboard_cli_test.py PATH/TO/switchboard REPO_ROOT
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BIN = sys.argv[1]
ROOT = sys.argv[2]
SCENARIOS = os.path.join(ROOT, "tools", "simulator", "scenarios")


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


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
