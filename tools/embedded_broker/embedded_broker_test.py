#!/usr/bin/env python3
"""End-to-end test of sb-embedded-broker, as tests and `switchboard up` use it: the binary runs as
a child process and an independent Kafka client (kcat) talks to it.

Usage: embedded_broker_test.py PATH/TO/sb-embedded-broker PATH/TO/kcat
Exits 77 (ctest: skipped) when kcat is missing.

Parallel-safe: every broker listens on ports the kernel picks and writes its bootstrap file in
a fresh temporary directory. No sleeps: every wait is for a condition, with a deadline.
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

BIN = sys.argv[1] if len(sys.argv) > 1 else ""
KCAT = sys.argv[2] if len(sys.argv) > 2 else ""
DEADLINE_S = 30
TOPICS = [
    "sb.routing.commands.v1",
    "sb.routing.events.v1",
    "sb.routing.snapshots.v1",
    "sb.policy.decisions.v1",
    "sb.recording.events.v1",
    "sb.agent.events.v1",
]


class LineReader:
    """Reads lines from a pipe or socket with a deadline, so a hung broker fails the test."""

    def __init__(self, read_chunk, fileno):
        self._read_chunk = read_chunk
        self._fileno = fileno
        self._buffer = b""

    def readline(self, timeout=DEADLINE_S):
        end = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line within {timeout}s (have {self._buffer!r})")
            ready, _, _ = select.select([self._fileno], [], [], left)
            if not ready:
                continue
            chunk = self._read_chunk()
            if not chunk:
                raise EOFError(f"closed (have {self._buffer!r})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()


class Broker:
    """sb-embedded-broker as a child process, with a temp bootstrap file and stdin as a pipe."""

    def __init__(self, *args, control=False):
        self.dir = tempfile.mkdtemp(prefix="sb-embedded-broker-test-")
        self.file = os.path.join(self.dir, "bootstrap")
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        cmd = [BIN, "--bootstrap-file", self.file, *args]
        if control:
            cmd += ["--control-port", "0"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.out = LineReader(lambda: os.read(self.proc.stdout.fileno(), 4096),
                              self.proc.stdout.fileno())
        first = self.out.readline()
        assert first.startswith("bootstrap="), first
        self.bootstrap = first[len("bootstrap="):]
        self.control = None
        if control:
            second = self.out.readline()
            assert second.startswith("control=127.0.0.1:"), second
            self.control = int(second.rsplit(":", 1)[1])

    def command(self, line):
        """Sends one line on stdin; returns the one-line reply."""
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()
        return self.out.readline()

    def wait(self, timeout=DEADLINE_S):
        return self.proc.wait(timeout=timeout)

    def stderr_text(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class ControlClient:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
        self.reader = LineReader(lambda: self.sock.recv(4096), self.sock.fileno())

    def command(self, line):
        self.sock.sendall((line + "\n").encode())
        return self.reader.readline()

    def close(self):
        self.sock.close()


def kcat(bootstrap, *args, input=None):
    return subprocess.run([KCAT, "-b", bootstrap, *args], input=input, capture_output=True,
                          text=True, timeout=120)


def consume_all(bootstrap, topic):
    """Every record of `topic`, as kcat's JSON envelopes."""
    p = kcat(bootstrap, "-C", "-t", topic, "-e", "-q", "-J")
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def produce(bootstrap, topic, lines, *extra):
    """kcat -P with 'key<TAB>value' lines; returns the CompletedProcess."""
    return kcat(bootstrap, "-P", "-t", topic, "-K", r"\t", *extra,
                input="".join(f"{k}\t{v}\n" for k, v in lines))


class EmbeddedBrokerTest(unittest.TestCase):
    def start(self, *args, control=False):
        broker = Broker(*args, control=control)
        self.addCleanup(broker.close)
        return broker

    def test_announces_bootstrap_on_stdout_and_in_the_file(self):
        broker = self.start("--partitions", "3", control=True)
        self.assertRegex(broker.bootstrap, r"^127\.0\.0\.1:\d+$")
        with open(broker.file) as f:
            self.assertEqual(f.read(), broker.bootstrap + "\n")
        self.assertEqual(sorted(os.listdir(broker.dir)), ["bootstrap", "stderr"],
                         "a temporary file was left next to the bootstrap file")
        self.assertGreater(broker.control, 0)
        # A second broker at the same time gets its own ports.
        other = self.start("--brokers", "3")
        self.assertEqual(len(other.bootstrap.split(",")), 3)
        self.assertNotEqual(other.bootstrap.split(",")[0], broker.bootstrap)

    def test_metadata_shows_the_five_topics_with_the_partition_count(self):
        broker = self.start("--partitions", "6")
        p = kcat(broker.bootstrap, "-L", "-J")
        self.assertEqual(p.returncode, 0, p.stderr)
        md = json.loads(p.stdout)
        topics = {t["topic"]: len(t["partitions"]) for t in md["topics"]}
        self.assertEqual(topics, {t: 6 for t in TOPICS})
        self.assertEqual(broker.command("partitions"),
                         "ok " + " ".join(f"{t}=6" for t in TOPICS))

    def test_keyed_messages_round_trip_and_keys_keep_their_partition(self):
        broker = self.start("--partitions", "8")
        tenants = [f"tenant-{i:02d}" for i in range(12)]
        sent = [(tenants[n % len(tenants)], f"cmd-{n:03d}") for n in range(96)]
        p = produce(broker.bootstrap, "sb.routing.commands.v1", sent)
        self.assertEqual(p.returncode, 0, p.stderr)

        records = consume_all(broker.bootstrap, "sb.routing.commands.v1")
        self.assertEqual(sorted((r["key"], r["payload"]) for r in records), sorted(sent))
        partitions_of = {}
        for r in records:
            partitions_of.setdefault(r["key"], set()).add(r["partition"])
        for key, parts in partitions_of.items():
            self.assertEqual(len(parts), 1, f"{key} landed in partitions {parts}")
        self.assertGreater(len({next(iter(p)) for p in partitions_of.values()}), 1,
                           "12 keys all in one partition: the topic is not partitioned")
        # Within a key, offsets follow the order the commands were sent in.
        for key in tenants:
            mine = sorted((r for r in records if r["key"] == key), key=lambda r: r["offset"])
            self.assertEqual([r["payload"] for r in mine], [v for k, v in sent if k == key])

    def test_broker_down_fails_produce_and_broker_up_recovers(self):
        broker = self.start("--partitions", "2")
        self.assertEqual(produce(broker.bootstrap, "sb.routing.commands.v1",
                                 [("t", "before")]).returncode, 0)
        self.assertEqual(broker.command("broker down 1"), "ok broker 1 down")
        self.assertIn("brokers=1:down", broker.command("status"))
        down = produce(broker.bootstrap, "sb.routing.commands.v1", [("t", "while-down")],
                       "-X", "message.timeout.ms=1500", "-m", "3")
        self.assertNotEqual(down.returncode, 0, "produce succeeded against a downed broker")

        self.assertEqual(broker.command("broker up 1"), "ok broker 1 up")
        up = produce(broker.bootstrap, "sb.routing.commands.v1", [("t", "after")],
                     "-X", "message.timeout.ms=10000")
        self.assertEqual(up.returncode, 0, up.stderr)
        payloads = [r["payload"] for r in consume_all(broker.bootstrap, "sb.routing.commands.v1")]
        self.assertEqual(payloads, ["before", "after"])

    def test_injected_request_errors_fail_exactly_that_many_requests(self):
        broker = self.start("--partitions", "1")
        self.assertEqual(produce(broker.bootstrap, "sb.routing.events.v1",
                                 [("t", "warm-up")]).returncode, 0)
        self.assertEqual(broker.command("error Produce MSG_SIZE_TOO_LARGE 1"),
                         "ok next 1 Produce request(s) fail with MSG_SIZE_TOO_LARGE (10)")
        refused = produce(broker.bootstrap, "sb.routing.events.v1", [("t", "refused")],
                          "-X", "retries=0")
        self.assertNotEqual(refused.returncode, 0)
        accepted = produce(broker.bootstrap, "sb.routing.events.v1", [("t", "accepted")],
                           "-X", "retries=0")
        self.assertEqual(accepted.returncode, 0, accepted.stderr)
        payloads = [r["payload"] for r in consume_all(broker.bootstrap, "sb.routing.events.v1")]
        self.assertEqual(payloads, ["warm-up", "accepted"])
        self.assertIn("errors_pushed=Produce:1", broker.command("status"))
        self.assertEqual(broker.command("clear errors"),
                         "ok cleared injected errors of every request")

    def test_added_latency_delays_requests(self):
        broker = self.start("--partitions", "1")
        self.assertEqual(broker.command("broker rtt 1 400"), "ok broker 1 rtt 400ms")
        started = time.monotonic()
        self.assertEqual(kcat(broker.bootstrap, "-L", "-t", "sb.routing.commands.v1").returncode, 0)
        # A lower bound only: the metadata request alone waits 400 ms.
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        self.assertEqual(broker.command("broker rtt all 0"), "ok all brokers rtt 0ms")

    def test_bad_commands_get_a_reason_and_a_hint(self):
        broker = self.start(control=True)
        for line, reason in [
            ("frobnicate", "error UNKNOWN_COMMAND: 'frobnicate' is not a command (try help)"),
            ("broker down 9", "error NO_SUCH_BROKER:"),
            ("broker down", "error MISSING_ARGUMENT:"),
            ("broker rtt 1 soon", "error BAD_RTT:"),
            ("error Produce", "error MISSING_ARGUMENT:"),
            ("error CreateTopics 6", "error UNKNOWN_API:"),
            ("error Produce NOT_A_CODE", "error UNKNOWN_ERROR_CODE:"),
            ("leader no.such.topic 0 1", "error NO_SUCH_TOPIC:"),
            ("status please", "error EXTRA_ARGUMENT:"),
        ]:
            with self.subTest(line=line):
                self.assertTrue(broker.command(line).startswith(reason))
        # The same protocol on the control port; the broker is unharmed.
        client = ControlClient(broker.control)
        self.addCleanup(client.close)
        self.assertTrue(client.command("frobnicate").startswith("error UNKNOWN_COMMAND:"))
        self.assertTrue(client.command("status").startswith("ok bootstrap=" + broker.bootstrap))
        self.assertTrue(broker.command("help").startswith("ok commands:"))

    def test_control_port_injects_faults_and_quit_stops_the_broker(self):
        broker = self.start("--partitions", "2", control=True)
        client = ControlClient(broker.control)
        self.addCleanup(client.close)
        self.assertEqual(client.command("broker down 1"), "ok broker 1 down")
        self.assertIn("brokers=1:down", broker.command("status"))  # seen from stdin too
        self.assertEqual(client.command("broker up 1"), "ok broker 1 up")
        self.assertEqual(client.command("quit"), "ok bye")
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertFalse(os.path.exists(broker.file))

    def test_sigterm_exits_zero_and_removes_the_bootstrap_file(self):
        broker = self.start()
        self.assertTrue(os.path.exists(broker.file))
        broker.proc.send_signal(signal.SIGTERM)
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertFalse(os.path.exists(broker.file))

    def test_end_of_stdin_stops_the_broker(self):
        broker = self.start()
        broker.proc.stdin.close()  # what a dying parent does
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertFalse(os.path.exists(broker.file))

    def test_ignore_stdin_eof_keeps_serving_until_sigterm(self):
        broker = self.start("--ignore-stdin-eof", control=True)
        client = ControlClient(broker.control)
        self.addCleanup(client.close)
        broker.proc.stdin.close()
        # Wait until the broker has seen the end of stdin, then check it still serves Kafka.
        end = time.monotonic() + DEADLINE_S
        while "stdin=closed" not in client.command("status"):
            self.assertLess(time.monotonic(), end, "the broker never saw the end of stdin")
        self.assertIsNone(broker.proc.poll())
        self.assertEqual(kcat(broker.bootstrap, "-L").returncode, 0)
        broker.proc.send_signal(signal.SIGINT)
        self.assertEqual(broker.wait(), 0, broker.stderr_text())
        self.assertFalse(os.path.exists(broker.file))

    def test_bad_flags_exit_non_zero_with_a_message(self):
        tmp = tempfile.mkdtemp(prefix="sb-embedded-broker-test-")
        self.addCleanup(shutil.rmtree, tmp, True)
        for args, code, text in [
            (["--partitions", "0"], None, "--partitions"),
            (["--topics", "a.v1,,b.v1"], 2, "--topics"),
            (["--topics", "bad topic"], 2, "not a legal topic name"),
            (["--bootstrap-file", os.path.join(tmp, "missing", "dir", "bootstrap")], 1,
             "--bootstrap-file"),
        ]:
            with self.subTest(args=args):
                p = subprocess.run([BIN, *args], stdin=subprocess.DEVNULL, capture_output=True,
                                   text=True, timeout=DEADLINE_S)
                if code is None:
                    self.assertNotEqual(p.returncode, 0)
                else:
                    self.assertEqual(p.returncode, code, p.stderr)
                self.assertIn(text, p.stderr + p.stdout)

    def test_help_documents_flags_and_commands(self):
        p = subprocess.run([BIN, "--help"], capture_output=True, text=True, timeout=DEADLINE_S)
        self.assertEqual(p.returncode, 0)
        for text in ("--brokers", "--partitions", "--bootstrap-file", "--control-port",
                     "--ignore-stdin-eof", "broker down", "error API CODE", "quit"):
            self.assertIn(text, p.stdout)


if __name__ == "__main__":
    if not KCAT or not os.path.exists(KCAT):
        print(f"SKIP: kcat not found ({KCAT!r}); install it with tools/bootstrap")
        sys.exit(77)
    unittest.main(argv=[sys.argv[0], "-v"])
