#!/usr/bin/env python3
"""`switchboard up` and the operator commands, end to end, as an operator uses them.

Each test starts its own `switchboard up` (which starts sb-embedded-broker and sb-routing as
child processes) on ports the kernel picks, so tests run in parallel. Nothing sleeps to
synchronise: every wait is a poll with a deadline.

Usage: switchboard_up_test.py PATH/TO/switchboard REPO_ROOT [unittest args, e.g. -k Demo]
"""
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN = sys.argv[1]
ROOT = sys.argv[2]
EXAMPLE = os.path.join(ROOT, "tools", "switchboard", "examples", "contact_center.yaml")
CHILD_NAMES = ("sb-embedded-broker", "sb-routing", "sb-policy", "sb-agent-state", "sb-recording",
               "sb-insights")


def run(*args, check=None, timeout=60, input=None):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout, input=input)
    if check is not None:
        assert p.returncode == check, (
            f"exit {p.returncode} (wanted {check}) for {args}\nstdout:{p.stdout}\nstderr:{p.stderr}")
    return p


def children_of(pid):
    """Pids of the processes whose parent is `pid` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None


def wait_until(predicate, deadline_s, what):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        time.sleep(0.05)


class Up:
    """A running `switchboard up`, its stdout read line by line on a thread."""

    def __init__(self, *args):
        self.proc = subprocess.Popen(
            [BIN, "up", "--grpc-port", "0", "--metrics-port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.stdout = []
        self.stderr = []
        self.pumps = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines, self.stdout),
                             daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, None, self.stderr),
                             daemon=True)]
        for t in self.pumps:
            t.start()
        self.summary = {}
        self.children = []

    @staticmethod
    def _pump(stream, q, keep):
        for line in stream:
            keep.append(line)
            if q is not None:
                q.put(line)
        if q is not None:
            q.put(None)

    def output(self):
        return "".join(self.stdout) + "".join(self.stderr)

    def wait_up(self, deadline_s=60):
        """Reads the summary up to 'Stop with Ctrl-C' / 'Stopping in'; returns its addresses."""
        end = time.monotonic() + deadline_s
        text = ""
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"switchboard up did not come up:\n{self.output()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=30)
                raise AssertionError(
                    f"switchboard up exited with {self.proc.returncode}:\n{self.output()}")
            text += line
            if line.startswith("Stop with Ctrl-C") or line.startswith("Stopping in"):
                break
        self.summary = {
            "bootstrap": re.search(r"bootstrap=(\S+)", text).group(1),
            "grpc": re.findall(r"routing\s+grpc=(\S+)", text),
            "metrics": re.findall(r"routing\s+grpc=\S+\s+metrics=(\S+)", text),
            "policy": re.findall(r"policy\s+grpc=(\S+)\s+metrics=(\S+)", text),
            "desktops": re.findall(r"desktops\s+grpc=(\S+)\s+metrics=(\S+)", text),
            "recording": re.findall(r"recording\s+grpc=(\S+)\s+metrics=(\S+)", text),
            "insights": re.findall(
                r"insights\s+grpc=(\S+)\s+metrics=(\S+)\s+dashboard=(\S+)", text),
            "text": text,
        }
        self.children = children_of(self.proc.pid)
        return self.summary

    def stop(self, sig=signal.SIGINT, deadline_s=30):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=deadline_s)

    def kill(self):
        """Cleanup: SIGTERM (up stops its children, removes its directory), SIGKILL if stuck."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        for t in self.pumps:  # they end at end of file, once every writer is gone
            t.join(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()


class UpTestCase(unittest.TestCase):
    def start(self, *args):
        up = Up(*args)
        self.addCleanup(up.kill)
        return up

    def assertNoLeftovers(self, up):
        """The children `up` started are gone (not merely reparented)."""
        self.assertTrue(up.children, "up had no children to check")
        for pid in up.children:
            line = cmdline(pid)
            self.assertFalse(line and any(n in line for n in CHILD_NAMES),
                             f"child {pid} survived: {line}")


class OperatorCommands(UpTestCase):
    """One `up` (one replica), every operator command against it, then Ctrl-C."""

    def test_up_apply_queues_agents_enqueue_watch_then_ctrl_c(self):
        up = self.start("--duration", "300")  # a safety net: the test stops it with SIGINT
        s = up.wait_up()
        server = s["grpc"][0]
        self.assertRegex(s["bootstrap"], r"^127\.0\.0\.1:\d+")
        self.assertRegex(server, r"^127\.0\.0\.1:\d+$")
        self.assertRegex(s["metrics"][0], r"^http://127\.0\.0\.1:\d+/metrics$")
        self.assertIn("switchboard queues --server " + server, s["text"])
        self.assertEqual(sorted(os.path.basename((cmdline(pid) or "?").split()[0])
                                for pid in up.children),
                         ["sb-agent-state", "sb-embedded-broker", "sb-insights", "sb-policy",
                          "sb-recording", "sb-routing"])
        self.assertEqual(len(s["policy"]), 1, s["text"])
        self.assertRegex(s["policy"][0][0], r"^127\.0\.0\.1:\d+$")
        self.assertRegex(s["policy"][0][1], r"^http://127\.0\.0\.1:\d+/metrics$")
        self.assertEqual(len(s["desktops"]), 1, s["text"])
        self.assertEqual(len(s["recording"]), 1, s["text"])
        self.assertRegex(s["recording"][0][1], r"^http://127\.0\.0\.1:\d+/metrics$")
        # The recording audit log of the session's sb-recording verifies.
        p = run("audit", "verify", "--server", s["recording"][0][0], check=0)
        self.assertIn("audit chain OK", p.stdout)
        sv = ["--server", server]

        # The built-in example config is applied and visible as soon as up says so.
        p = run("queues", *sv, check=0)
        for q in ("billing", "sales", "support", "supervisors"):
            self.assertIn(q, p.stdout)
        self.assertRegex(p.stdout, r"(?m)^billing\s+voice\s+most_skilled\s+0\s+0\s+13\s+0\s+0\b")
        queues = json.loads(run("queues", *sv, "-o", "json", check=0).stdout)["queues"]
        self.assertEqual({q["config"]["queue_id"] for q in queues},
                         {"billing", "sales", "support", "supervisors"})
        p = run("agents", *sv, check=0)
        self.assertEqual(len(p.stdout.strip().splitlines()), 31)  # header + 30 agents
        self.assertRegex(p.stdout, r"(?m)^billing-001\s+offline\s+voice 0/1\s+-\s+0\s+billing$")

        # apply: a new queue and agent; dry run first (nothing changes), then for real.
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("queues:\n  - id: vip\n    membership: 'skills.vip >= 1'\n"
                    "agents:\n  - {id: val, skills: {vip: 5}}\n")
        self.addCleanup(os.unlink, f.name)
        p = run("apply", "-f", f.name, *sv, "--dry-run", check=0)
        self.assertIn("dry run", p.stdout)
        p = run("apply", "-f", f.name, *sv, check=0)
        self.assertIn("applied 1 queues and 1 agents to tenant demo", p.stdout)
        self.assertRegex(p.stdout, r"queue vip\s+1 members")
        # ApplyConfig logs commands; the owner applies them a moment later.
        wait_until(lambda: "vip" in run("queues", *sv, check=0).stdout, 15, "queue vip listed")

        # enqueue, then watch it queue (agents are logged out: nobody is offered it).
        p = run("enqueue", "--queue", "billing", "--interaction-id", "call-1",
                "--attr", "language=en", "--attr", "tier=gold", "--priority", "5", *sv, check=0)
        m = re.search(r"command_id=([0-9a-f]{32}) partition=(\d+) offset=(\d+)", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        self.assertIn("switchboard watch call-1", p.stdout)
        p = run("watch", "call-1", "--until", "queued", *sv, check=0)
        self.assertRegex(p.stdout, r"queued\s+queue=billing position=1 .*cause=enqueued")
        self.assertIn("attrs=language=en,tier=gold", p.stdout)
        # `queues` shows it waiting in billing (WAITING is the 5th column).
        row = next(l for l in run("queues", *sv, check=0).stdout.splitlines()
                   if l.startswith("billing "))
        self.assertEqual(row.split()[4], "1", row)
        p = run("watch", "call-1", "--until", "queued", "-o", "json", *sv, check=0)
        event = json.loads(p.stdout.splitlines()[0])
        self.assertEqual(event["interaction_queued"]["queue_id"], "billing")
        self.assertEqual(event["tenant_id"], "demo")
        # A generated id, and JSON output for scripts.
        p = run("enqueue", "-q", "sales", "-o", "json", *sv, check=0)
        enq = json.loads(p.stdout)
        self.assertRegex(enq["interaction_id"], r"^cli-[0-9a-f]{12}$")
        self.assertEqual(enq["partition"], int(m.group(2)))  # same tenant, same partition
        self.assertGreater(enq["offset"], int(m.group(3)))

        # The server's reasons come through as `error: CODE: REASON: message`, exit 1.
        p = run("enqueue", "--queue", "nope", *sv, check=1)
        self.assertIn("error: NOT_FOUND: NO_SUCH_QUEUE:", p.stderr)
        self.assertIn("'nope'", p.stderr)
        p = run("enqueue", "--queue", "billing", "--interaction-id", "call-1", *sv, check=1)
        self.assertIn("DUPLICATE_INTERACTION", p.stderr)
        p = run("queues", *sv, "--tenant", "nobody-here", check=0)
        self.assertIn("has no queues", p.stderr)

        # A dead address first in --server: the command moves on to the live one.
        dead = free_port()
        p = run("queues", "--server", f"127.0.0.1:{dead},{server}", check=0)
        self.assertIn("billing", p.stdout)
        p = run("queues", "--server", f"127.0.0.1:{dead}", "--timeout", "5", check=1)
        self.assertRegex(p.stderr, r"^error: UNAVAILABLE: ")
        self.assertIn("hint: nothing answers", p.stderr)

        # Ctrl-C: everything stops, exit 0, no process left, the temporary directory removed.
        logs = re.search(r"logs\s+(\S+)/", s["text"]).group(1)
        self.assertTrue(os.path.isdir(logs))
        self.assertEqual(up.stop(signal.SIGINT), 0, up.output())
        self.assertNoLeftovers(up)
        self.assertFalse(os.path.exists(logs), "up left its temporary directory behind")
        self.assertIn("switchboard up: stopped", up.output())


class Replicas(UpTestCase):
    """Two replicas: reads reach the tenant's owner whichever replica is listed first."""

    def test_not_owner_moves_on_to_the_next_replica_and_sigterm_stops_all(self):
        up = self.start("--replicas", "2", "--partitions", "2", "--tenant", "acme",
                        "--duration", "300")
        s = up.wait_up()
        self.assertEqual(len(s["grpc"]), 2)
        a, b = s["grpc"]
        self.assertIn(f"--server {a},{b} --tenant acme", s["text"])
        answers = [run("queues", "--server", x, "--tenant", "acme") for x in (a, b)]
        owners = [p for p in answers if p.returncode == 0]
        others = [p for p in answers if p.returncode != 0]
        self.assertEqual(len(owners), 1, [p.stderr for p in answers])
        self.assertIn("billing", owners[0].stdout)
        self.assertIn("error: UNAVAILABLE: NOT_OWNER", others[0].stderr)
        self.assertIn("hint: no replica in --server", others[0].stderr)
        for order in (f"{a},{b}", f"{b},{a}"):
            p = run("queues", "--server", order, "--tenant", "acme", check=0)
            self.assertIn("billing", p.stdout)
            p = run("agents", "--server", order, "--tenant", "acme", check=0)
            self.assertIn("sup-support", p.stdout)
        # Enqueue moves on from a replica that cannot take it; so does Watch (only the owner
        # keeps a partition's events; without --peers, here, a replica does not forward).
        for i, order in enumerate((f"{a},{b}", f"{b},{a}")):
            run("enqueue", "-q", "support", "-i", f"t-{i}", "--server", order, "--tenant", "acme",
                check=0)
            for o in (f"{a},{b}", f"{b},{a}"):
                p = run("watch", f"t-{i}", "--until", "queued", "--server", o, "--tenant", "acme",
                        check=0)
                self.assertIn("queue=support", p.stdout)
        other = a if owners[0] is answers[1] else b
        p = run("watch", "t-0", "--until", "queued", "--server", other, "--tenant", "acme",
                check=1)
        self.assertIn("error: UNAVAILABLE: NOT_OWNER", p.stderr)
        self.assertEqual(up.stop(signal.SIGTERM), 0, up.output())
        # broker, 2 routing replicas, policy, recording, insights, agent-state
        self.assertEqual(len(up.children), 7)
        self.assertNoLeftovers(up)


class Demo(UpTestCase):
    """--demo: agents log in and answer, so an enqueued call is offered and connected."""

    def test_demo_answers_an_enqueued_call(self):
        up = self.start("--demo", "--seed", "7", "--calls-per-second", "1", "--duration", "300")
        try:
            s = up.wait_up()
        except AssertionError:
            if "built without the traffic driver" in up.output():
                self.skipTest("switchboard built without sb_traffic")
            raise
        sv = ["--server", s["grpc"][0]]
        p = run("enqueue", "-q", "sales", "-i", "demo-call", "--watch", "--until", "connected",
                "--timeout", "20", *sv, check=0, timeout=60)
        self.assertRegex(p.stdout, r"queued\s+queue=sales")
        self.assertRegex(p.stdout, r"offer_created\s+agent=sales-\d+ offer=\S+ queue=sales")
        self.assertRegex(p.stdout, r"connected\s+agent=sales-\d+ queue=sales")
        # The demo logged the agents in.
        agents = run("agents", *sv, check=0).stdout
        self.assertRegex(agents, r"(?m)^sales-\d+\s+(available|aux)")
        # Its live summary is on stdout.
        wait_until(lambda: any(l.startswith("demo t=") for l in up.stdout), 15, "demo summary")
        # sb-insights runs, with the dashboard, and `switchboard forecast` forecasts tomorrow from
        # the simulated demo history: one row per 15 minutes, agents needed in the daytime.
        self.assertEqual(len(s["insights"]), 1, s["text"])
        insights, _, dashboard = s["insights"][0]
        self.assertRegex(dashboard, r"^http://127\.0\.0\.1:\d+/\?tenant=demo$")
        self.assertIn("switchboard forecast --queue", s["text"])
        p = run("forecast", "--queue", "sales", "--server", insights, check=0)
        rows = [l for l in p.stdout.splitlines() if re.match(r"^\d\d:\d\d ", l)]
        self.assertEqual(len(rows), 96, p.stdout)
        erlang_c = [int(l.split("|")[1].split()[0]) for l in rows]
        self.assertGreater(max(erlang_c), 0, p.stdout)
        self.assertGreater(max(erlang_c[36:48]), max(erlang_c[8:16]), "09-12h busier than 02-04h")
        p = run("forecast", "--queue", "sales", "--day", "2026-13-01", "--server", insights,
                check=1)
        self.assertIn("BAD_DAY", p.stderr)
        self.assertEqual(up.stop(signal.SIGINT), 0, up.output())
        self.assertNoLeftovers(up)


class Failures(UpTestCase):
    def test_a_child_that_dies_is_named_and_up_exits_1(self):
        up = self.start("--duration", "300")
        up.wait_up()
        routing = [pid for pid in up.children if "sb-routing" in (cmdline(pid) or "")]
        self.assertEqual(len(routing), 1)
        os.kill(routing[0], signal.SIGKILL)
        self.assertEqual(up.proc.wait(timeout=30), 1)
        out = up.output()
        self.assertIn("error: sb-routing was killed by signal 9", out)
        self.assertIn("logs kept in", out)
        self.assertNoLeftovers(up)
        logs = re.search(r"logs kept in (\S+)/", out).group(1)
        self.assertTrue(os.path.isfile(os.path.join(logs, "sb-routing-0.log")))
        subprocess.run(["rm", "-rf", logs], check=True)

    def test_ctrl_c_while_starting_stops_everything(self):
        up = self.start("--duration", "300")
        wait_until(lambda: any("sb-routing replica" in l for l in up.stderr), 30,
                   "up starting sb-routing")
        up.children = wait_until(lambda: len(children_of(up.proc.pid)) == 2 and
                                 children_of(up.proc.pid), 10, "two children")
        self.assertEqual(up.stop(signal.SIGINT), 0, up.output())
        self.assertNoLeftovers(up)

    def test_duration_stops_by_itself(self):
        up = self.start("--duration", "1")
        up.wait_up()
        self.assertEqual(up.proc.wait(timeout=30), 0, up.output())
        self.assertIn("--duration elapsed", up.output())
        self.assertNoLeftovers(up)


class BadInput(unittest.TestCase):
    """What is refused before anything starts or is sent (no services needed)."""

    def write(self, text):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        return f.name

    def test_bad_yaml_names_file_line_and_field_exit_1(self):
        bad = self.write("queues:\n  - id: billing\n    strategy: fastest\n")
        for args in (["apply", "-f", bad], ["up", "--config", bad]):
            p = run(*args, check=1)
            self.assertIn(f"{bad}:3: queues[0].strategy: unknown value 'fastest'", p.stderr)
        p = run("apply", "-f", "-", check=1, input="queues:\n  - id: a\n    prio: 1\n")
        self.assertIn("<stdin>:3: queues[0]", p.stderr)
        # Caught by the routing engine's own validation, still with a line, nothing sent.
        engine = self.write("queues:\n  - id: Billing\n")
        p = run("apply", "-f", engine, check=1)
        self.assertIn(f"{engine}:2: queues[0]: rejected by the routing engine", p.stderr)
        self.assertIn("nothing was sent", p.stderr)

    def test_bad_usage_exits_2(self):
        run("enqueue", check=2)  # --queue is required
        p = run("enqueue", "-q", "billing", "--attr", "novalue", check=2)
        self.assertIn("expected KEY=VALUE", p.stderr)
        run("enqueue", "-q", "billing", "--priority", "101", check=2)
        run("queues", "--output", "yaml", check=2)
        p = run("queues", "--server", "localhost", check=2)
        self.assertIn("has no port", p.stderr)
        run("watch", check=2)
        run("watch", "x", "--until", "later", check=2)
        p = run("up", "--replicas", "3", "--partitions", "2", check=2)
        self.assertIn("more than --partitions", p.stderr)
        run("up", "--config", "/nonexistent.yaml", check=2)
        run("nonsense", check=2)
        run("forecast", check=2)  # --queue is required
        p = run("forecast", "-q", "billing", "--server", "localhost", check=2)
        self.assertIn("expected HOST:PORT", p.stderr)
        run("forecast", "-q", "billing", "--seasonality", "monthly", check=2)
        p = run("forecast", "-q", "billing", "--server", "127.0.0.1:1", "--timeout", "2", check=2)
        self.assertIn("hint: nothing answers", p.stderr)

    def test_help_has_examples_and_exit_codes(self):
        p = run("--help", check=0)
        for cmd in ("up", "apply", "queues", "agents", "enqueue", "watch"):
            self.assertRegex(p.stdout, rf"(?m)^  {cmd}\s")
        for cmd in ("up", "apply", "queues", "agents", "enqueue", "watch"):
            p = run(cmd, "--help", check=0)
            self.assertIn("Examples:", p.stdout, cmd)
            self.assertIn(f"switchboard {cmd}", p.stdout, cmd)
            self.assertIn("Exit status:", p.stdout, cmd)

    def test_the_example_config_is_valid(self):
        p = run("config", "validate", EXAMPLE, check=0)
        self.assertIn("OK: 4 queues, 30 agents", p.stderr)


def free_port():
    """A port nothing listens on (bound and closed: the kernel does not hand it out again soon)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v", *sys.argv[3:]])
