#!/usr/bin/env python3
"""sb-insights with sb-routing and the embedded broker, through independent clients
(python3-grpcio with protoc-generated stubs, python's sqlite3, promtool, urllib).

- Routing commands drive a tenant's queue and agents; GetFloor shows the waiting callers, the
  answered ones, the agents' presence and the queue's agent counts that were driven.
- WatchFloor sends its first frame at once and a later one after more traffic.
- With 2-second intervals (--interval-ms 2000 --interval-grace-ms 1000 --short-abandon-ms 500)
  intervals close, are written to the SQLite store and GetIntervals returns them.
- SIGTERM exits 0; a restart on the same SQLite file replays the broker from the beginning: the
  stored intervals are still there and nothing is counted twice.
- GetForecast reads history rows inserted into the SQLite file and returns 96 rows and a table.
- Bad input gets the stable reasons (BAD_TENANT, BAD_QUEUE, BAD_DAY, BAD_OPTION, BAD_TIME_RANGE,
  NO_SUCH_TENANT).
- /metrics passes `promtool check metrics` and shows the queue's series.

Usage: insights_flow_test.py --insights sb-insights --routing sb-routing
       --broker sb-embedded-broker --root REPO
"""
import argparse
import atexit
import datetime
import os
import queue as queue_mod
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request


import sbharness as h  # noqa: E402  (may re-exec under a python3 with grpcio: argv intact)


def _take_insights_flag():
    """--insights is ours (sbharness knows the other services' flags)."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--insights", required=True)
    ours, rest = p.parse_known_args()
    sys.argv = [sys.argv[0], *rest]
    if not os.access(ours.insights, os.X_OK):
        print(f"error: {ours.insights} is not an executable (build sb-insights)", file=sys.stderr)
        sys.exit(2)
    return ours.insights


INSIGHTS = _take_insights_flag()

A = h.args()
import grpc  # noqa: E402  (after sbharness: it picks a python3 that has grpcio)
from google.protobuf import timestamp_pb2  # noqa: E402

PROMTOOL = h.require_tool("promtool")
INTERVAL_MS = 2000
DAY_MS = 86_400_000


def insights_protos(root):
    """protoc-generated python modules of protos/switchboard/insights/v1."""
    out = tempfile.mkdtemp(prefix="sb-pyinsights-")
    atexit.register(shutil.rmtree, out, True)
    protos = os.path.join(root, "protos")
    plugin = shutil.which("grpc_python_plugin") or "/usr/bin/grpc_python_plugin"
    p = subprocess.run(["protoc", f"--python_out={out}", f"--grpc_out={out}",
                        f"--plugin=protoc-gen-grpc={plugin}", "-I", protos,
                        "switchboard/insights/v1/insights.proto"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"protoc failed: {p.stderr}"
    sys.path.insert(0, out)
    from switchboard.insights.v1 import insights_pb2, insights_pb2_grpc  # noqa
    return insights_pb2, insights_pb2_grpc


def ms(ts):
    return ts.seconds * 1000 + ts.nanos // 1000000


def ts(milliseconds):
    t = timestamp_pb2.Timestamp()
    t.FromMilliseconds(milliseconds)
    return t


class InsightsFlow(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.ipb, cls.igrpc = insights_protos(A.root)
        cls.stack = h.Stack()
        cls.db = os.path.join(cls.stack.dir, "insights.db")
        cls.flags = ["--store", f"sqlite://{cls.db}", "--http-listen", "127.0.0.1:0",
                     "--interval-ms", str(INTERVAL_MS), "--interval-grace-ms", "1000",
                     "--short-abandon-ms", "500"]
        cls.start_insights()
        cls.routing_channel = grpc.insecure_channel(cls.stack.grpc_addr)
        cls.interactions = cls.protos.svc_grpc.InteractionServiceStub(cls.routing_channel)
        cls.config = cls.protos.svc_grpc.ConfigServiceStub(cls.routing_channel)
        cls.producer = h.kafka_producer(cls.stack.bootstrap)
        cls.tenant = h.unique_tenant("ins")
        cls.drive_the_floor()

    @classmethod
    def start_insights(cls, name="insights"):
        cls.stack.start_insights(INSIGHTS, cls.flags, name=name)
        cls.channel = grpc.insecure_channel(cls.stack.insights_addr)
        cls.insights = cls.igrpc.InsightsServiceStub(cls.channel)

    @classmethod
    def stop_insights(cls):
        cls.stack.insights.send_signal(signal.SIGTERM)
        code = cls.stack.insights.wait(timeout=30)
        cls.channel.close()
        return code

    @classmethod
    def tearDownClass(cls):
        for closer in (lambda: cls.routing_channel.close(), lambda: cls.channel.close(),
                       lambda: cls.producer.close(timeout=5)):
            try:
                closer()
            except Exception:  # noqa: BLE001
                pass
        if cls.stack.insights is not None and cls.stack.insights.poll() is None:
            cls.stack.insights.kill()
            cls.stack.insights.wait(timeout=10)
        cls.stack.close()

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            for name in sorted(os.listdir(self.stack.dir)):
                if name.startswith("insights") and name.endswith(".stderr"):
                    with open(os.path.join(self.stack.dir, name), errors="replace") as f:
                        print(f"--- {name} (tail) ---\n{f.read()[-6000:]}")

    # ------------------------------------------------------------------------------------------
    # Driving routing

    @classmethod
    def get_or_none(cls, call):
        try:
            return cls.interactions.Get(cls.protos.svc.GetInteractionRequest(
                tenant_id=cls.tenant, interaction_id=call), timeout=5).interaction
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                return None
            raise

    @classmethod
    def wait_state(cls, call, state, what):
        return h.wait_for(what, lambda: (
            lambda r: r if r is not None and r.state == state else None)(cls.get_or_none(call)))

    @classmethod
    def command(cls, body_name, body):
        h.send_command(cls.producer, cls.protos, cls.tenant, body_name, body)

    @classmethod
    def enqueue(cls, call):
        c, svc = cls.protos.commands, cls.protos.svc
        cls.interactions.Enqueue(svc.EnqueueRequest(tenant_id=cls.tenant, enqueue=c.Enqueue(
            interaction_id=call, queue_id="support")), timeout=10)

    @classmethod
    def floor(cls, tenant=None):
        return cls.insights.GetFloor(cls.ipb.GetFloorRequest(tenant_id=tenant or cls.tenant),
                                     timeout=10)

    @classmethod
    def queue_figures(cls):
        try:
            f = cls.floor()
        except grpc.RpcError:
            return None
        for q in f.queues:
            if q.queue_id == "support":
                return q
        return None

    @classmethod
    def drive_the_floor(cls):
        """Queue `support` (SL 90% in 20 s), agents ann and bob; ann logs in and takes call-1;
        call-2 and call-3 wait (bob is offline)."""
        m, c, svc = cls.protos.model, cls.protos.commands, cls.protos.svc
        sl = m.ServiceLevel(target=0.9)
        sl.threshold.FromMilliseconds(20000)
        h.wait_for("ApplyConfig", lambda: cls.config.ApplyConfig(svc.ApplyConfigRequest(
            tenant_id=cls.tenant,
            queues=[m.Queue(queue_id="support", channel=m.CHANNEL_VOICE, service_level=sl,
                            strategy=m.STRATEGY_LONGEST_IDLE)],
            agents=[m.AgentProfile(agent_id="ann", name="Ann", team="blue"),
                    m.AgentProfile(agent_id="bob", name="Bob", team="blue")]), timeout=15))
        h.wait_for("the agents are known", lambda: len(cls.config.ListAgents(
            svc.ListAgentsRequest(tenant_id=cls.tenant), timeout=5).agents) == 2)
        cls.command("login", c.Login(agent_id="ann", presence=m.PRESENCE_AVAILABLE))
        cls.enqueue("call-1")
        rec = cls.wait_state("call-1", m.INTERACTION_STATE_OFFERED, "call-1 is offered")
        cls.command("accept_offer", c.AcceptOffer(agent_id="ann", offer_id=rec.offer_id))
        cls.wait_state("call-1", m.INTERACTION_STATE_CONNECTED, "call-1 is connected")
        cls.enqueue("call-2")
        cls.enqueue("call-3")
        cls.wait_state("call-3", m.INTERACTION_STATE_QUEUED, "call-3 is queued")

    # ------------------------------------------------------------------------------------------

    def assert_rpc_error(self, code, reason, fn):
        with self.assertRaises(grpc.RpcError) as ctx:
            fn()
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertTrue(ctx.exception.details().startswith(reason + ":"),
                        ctx.exception.details())

    def stored_rows(self, tenant):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(
                "SELECT queue_id, start_ms, length_ms, offered, answered, abandoned, "
                "short_abandoned, handled FROM insights_intervals WHERE tenant_id = ? "
                "ORDER BY start_ms, queue_id", (tenant,)).fetchall()
        finally:
            con.close()

    def intervals(self, include_open=False):
        now = int(time.time() * 1000)
        return list(self.insights.GetIntervals(self.ipb.GetIntervalsRequest(
            tenant_id=self.tenant, queue_id="support", **{"from": ts(now - 3600_000)},
            to=ts(now + 60_000), include_open=include_open), timeout=10).intervals)

    @staticmethod
    def sums(ivs):
        return (sum(i.offered for i in ivs), sum(i.answered for i in ivs),
                sum(i.abandoned for i in ivs), sum(i.handled for i in ivs))

    def test_1_floor_watch_and_intervals(self):
        m, c = self.protos.model, self.protos.commands
        q = h.wait_for("the floor shows the callers waiting and the answer", lambda: (
            lambda q: q if q is not None and q.waiting == 2 and q.today.answered == 1
            else None)(self.queue_figures()))
        self.assertEqual(q.today.offered, 3)
        self.assertEqual(q.agents_busy, 1)
        self.assertEqual(q.agents_logged_in, 1)
        self.assertEqual(q.agents_available, 0)
        self.assertAlmostEqual(q.sl_target, 0.9)
        self.assertEqual(q.sl_threshold_ms, 20000)
        self.assertEqual([w.window_ms for w in q.windows], [900000, 3600000])
        self.assertTrue(q.today.HasField("service_level"))  # 1 answered within 20 s
        self.assertAlmostEqual(q.today.service_level, 1.0)
        self.assertFalse(q.today.HasField("aht_ms"))  # nothing handled yet: unset, not 0
        floor = self.floor()
        agents = {a.agent_id: a for a in floor.agents}
        self.assertEqual(agents["ann"].presence, "available")
        self.assertTrue(agents["ann"].busy)
        self.assertEqual(agents["ann"].interactions, 1)
        self.assertEqual(agents["bob"].presence, "offline")
        self.assertIn(self.tenant, self.insights.ListTenants(
            self.ipb.ListTenantsRequest(), timeout=10).tenants)

        # WatchFloor: the first frame at once, a later one after more traffic.
        frames = queue_mod.Queue()
        call = self.insights.WatchFloor(self.ipb.WatchFloorRequest(
            tenant_id=self.tenant, min_interval_ms=50), timeout=60)

        def reader():
            try:
                for f in call:
                    frames.put(f)
            except grpc.RpcError as e:
                frames.put(e)

        threading.Thread(target=reader, daemon=True).start()
        first = frames.get(timeout=10)
        self.assertIsInstance(first, self.ipb.Floor)
        self.assertEqual(first.tenant_id, self.tenant)
        applied_at_first = first.events_applied

        # call-3 hangs up after a wait of at least the short-abandon threshold (500 ms): wait
        # for the floor to show that long a wait, then cancel it as abandoned.
        h.wait_for("call-3 waited 600 ms", lambda: (
            lambda q: q is not None and q.longest_wait_ms >= 600)(self.queue_figures()))
        self.command("cancel", c.Cancel(interaction_id="call-3",
                                        reason=c.CANCEL_REASON_ABANDONED))
        # ann completes call-1 and takes call-2.
        self.command("complete", c.Complete(agent_id="ann", interaction_id="call-1",
                                            disposition="resolved"))
        rec = self.wait_state("call-2", m.INTERACTION_STATE_OFFERED, "call-2 is offered")
        self.command("accept_offer", c.AcceptOffer(agent_id="ann", offer_id=rec.offer_id))
        self.wait_state("call-2", m.INTERACTION_STATE_CONNECTED, "call-2 is connected")

        def later_frame():
            deadline = time.monotonic() + h.DEADLINE_S
            while time.monotonic() < deadline:
                f = frames.get(timeout=max(0.1, deadline - time.monotonic()))
                self.assertIsInstance(f, self.ipb.Floor)
                qs = [q for q in f.queues if q.queue_id == "support"]
                if (f.events_applied > applied_at_first and qs and qs[0].today.answered == 2
                        and qs[0].today.abandoned == 1):
                    return f
            raise TimeoutError("no WatchFloor frame with the later traffic")

        later = later_frame()
        call.cancel()
        q = [q for q in later.queues if q.queue_id == "support"][0]
        self.assertEqual(q.waiting, 0)
        self.assertEqual(q.today.handled, 1)  # call-1 (no wrap-up configured)
        self.assertTrue(q.today.HasField("aht_ms"))
        self.assertTrue(q.today.HasField("abandon_rate"))
        self.assertAlmostEqual(q.today.abandon_rate, 1 / 3)

        # Intervals close (2 s + 1 s grace, by the clock once caught up) and are stored.
        def closed_totals():
            ivs = self.intervals()
            if any(i.open for i in ivs):
                return None
            tot = (sum(i.offered for i in ivs), sum(i.answered for i in ivs),
                   sum(i.abandoned for i in ivs), sum(i.handled for i in ivs))
            return tot if tot == (3, 2, 1, 1) else None

        h.wait_for("the closed intervals hold the traffic", closed_totals, timeout=30)
        rows = h.wait_for("the intervals are in the SQLite file", lambda: (
            lambda r: r if sum(x[3] for x in r) == 3 else None)(self.stored_rows(self.tenant)))
        for row in rows:
            self.assertEqual(row[2], INTERVAL_MS)
            self.assertEqual(row[1] % INTERVAL_MS, 0)
        # include_open adds the open interval(s) of the talk in progress, marked open.
        with_open = self.intervals(include_open=True)
        self.assertGreaterEqual(len(with_open), len(self.intervals()))

    def test_2_dashboard_and_metrics(self):
        h.wait_for("queue series on /metrics", lambda: (
            f'switchboard_insights_queue_waiting{{queue="support",tenant="{self.tenant}"}}'
            in self.metrics_text()))
        text = self.metrics_text()
        for name in ("switchboard_insights_events_applied_total",
                     "switchboard_insights_consumer_lag_messages",
                     "switchboard_insights_queue_service_level_target",
                     "switchboard_insights_queue_agents",
                     "switchboard_insights_agents",
                     "switchboard_insights_dashboard_clients",
                     "switchboard_insights_dashboard_push_seconds"):
            self.assertIn(name, text)
        out = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual((out.stdout + out.stderr).strip(), "", out.stdout + out.stderr)
        if self.stack.insights_http_addr:
            with urllib.request.urlopen(f"http://{self.stack.insights_http_addr}/api/tenants",
                                        timeout=10) as r:
                self.assertIn(self.tenant, r.read().decode())

    def metrics_text(self):
        with urllib.request.urlopen(f"http://{self.stack.insights_metrics_addr}/metrics",
                                    timeout=10) as r:
            return r.read().decode()

    def test_3_forecast_from_inserted_history(self):
        tenant = h.unique_tenant("fc")
        day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=1)
        day_ms = int(datetime.datetime(day.year, day.month, day.day,
                                       tzinfo=datetime.timezone.utc).timestamp() * 1000)
        con = sqlite3.connect(self.db, timeout=10)
        try:
            for week in (1, 2, 3, 4):
                for i in range(36, 40):  # 09:00 .. 10:00 UTC
                    start = day_ms - week * 7 * DAY_MS + i * 900_000
                    offered = 30 + 10 * (week % 2)  # 40, 30, 40, 30: mean 35
                    con.execute(
                        "INSERT INTO insights_intervals (tenant_id, queue_id, start_ms, "
                        "length_ms, offered, answered, answered_within_sl, abandoned, "
                        "abandoned_after_sl, short_abandoned, left_unanswered, "
                        "wait_answered_ms, wait_abandoned_ms, wait_unanswered_ms, max_wait_ms, "
                        "handled, talk_ms, wrap_ms, sl_threshold_ms) VALUES "
                        "(?, 'sales', ?, 900000, ?, ?, ?, 0, 0, 0, 0, ?, 0, 0, 30000, ?, ?, ?, "
                        "20000)",
                        (tenant, start, offered, offered, offered, offered * 5000, offered,
                         offered * 200_000, offered * 40_000))
            con.commit()
        finally:
            con.close()
        fc = self.insights.GetForecast(self.ipb.GetForecastRequest(
            tenant_id=tenant, queue_id="sales", day=day.isoformat()), timeout=30)
        self.assertEqual(fc.day, day.isoformat())
        self.assertEqual(fc.interval_ms, 900_000)
        self.assertEqual(len(fc.rows), 96)
        self.assertAlmostEqual(fc.sl_target, 0.8)  # a queue sb-insights never saw: defaults
        self.assertEqual(fc.sl_threshold_ms, 20000)
        busy = fc.rows[36]
        self.assertEqual(ms(busy.start), day_ms + 36 * 900_000)
        self.assertEqual(busy.observations, 4)
        self.assertAlmostEqual(busy.offered, 35.0)
        self.assertAlmostEqual(busy.aht_s, 240.0)
        load = 35.0 / 900 * 240
        self.assertAlmostEqual(busy.load_erlangs, load, places=6)
        self.assertGreater(busy.agents_erlang_c, load)
        self.assertGreaterEqual(busy.sl_erlang_c, 0.8)
        self.assertEqual(fc.rows[12].offered, 0)
        self.assertEqual(fc.rows[12].agents_erlang_c, 0)
        self.assertAlmostEqual(fc.total_offered, 4 * 35.0)
        self.assertIn("sales", fc.table)
        self.assertGreater(len(fc.table.splitlines()), 10)
        # exponential weighting puts more weight on the most recent week (40)
        ex = self.insights.GetForecast(self.ipb.GetForecastRequest(
            tenant_id=tenant, queue_id="sales", day=day.isoformat(), weighting="exponential"),
            timeout=30)
        self.assertGreater(ex.rows[36].offered, 35.0)

    def test_4_bad_input(self):
        I, N = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
        ipb = self.ipb
        self.assert_rpc_error(I, "BAD_TENANT", lambda: self.insights.GetFloor(
            ipb.GetFloorRequest(), timeout=10))
        self.assert_rpc_error(N, "NO_SUCH_TENANT", lambda: self.insights.GetFloor(
            ipb.GetFloorRequest(tenant_id=h.unique_tenant("nobody")), timeout=10))
        self.assert_rpc_error(I, "BAD_QUEUE", lambda: self.insights.GetForecast(
            ipb.GetForecastRequest(tenant_id=self.tenant), timeout=10))
        self.assert_rpc_error(I, "BAD_DAY", lambda: self.insights.GetForecast(
            ipb.GetForecastRequest(tenant_id=self.tenant, queue_id="support",
                                   day="2026-13-01"), timeout=10))
        self.assert_rpc_error(I, "BAD_OPTION", lambda: self.insights.GetForecast(
            ipb.GetForecastRequest(tenant_id=self.tenant, queue_id="support", periods=400),
            timeout=10))
        self.assert_rpc_error(I, "BAD_OPTION", lambda: self.insights.GetForecast(
            ipb.GetForecastRequest(tenant_id=self.tenant, queue_id="support",
                                   seasonality="monthly"), timeout=10))
        self.assert_rpc_error(I, "BAD_TIME_RANGE", lambda: self.insights.GetIntervals(
            ipb.GetIntervalsRequest(tenant_id=self.tenant, **{"from": ts(2000)}, to=ts(1000)),
            timeout=10))
        self.assert_rpc_error(I, "BAD_TENANT", lambda: next(iter(self.insights.WatchFloor(
            ipb.WatchFloorRequest(), timeout=10))))
        # WatchFloor of a tenant not seen yet: empty floors (not an error) until it appears.
        stream = self.insights.WatchFloor(ipb.WatchFloorRequest(
            tenant_id="not-yet-" + self.tenant), timeout=10)
        first = next(iter(stream))
        stream.cancel()
        self.assertEqual((first.tenant_id, len(first.queues), len(first.agents)),
                         ("not-yet-" + self.tenant, 0, 0))
        # Bad flags: exit 2 with a message.
        p = subprocess.run([INSIGHTS, "--bootstrap", self.stack.bootstrap, "--interval-ms",
                            "7000"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--interval-ms", p.stderr)

    def test_5_restart_keeps_the_history_without_double_counting(self):
        # Every interval of the traffic so far is closed and stored (test 1 waited for it; wait
        # again in case this test runs alone).
        h.wait_for("the intervals are stored", lambda: sum(
            r[3] for r in self.stored_rows(self.tenant)) >= 3)
        h.wait_for("every interval is closed", lambda: not any(
            i.open for i in self.intervals(include_open=True)))
        before = self.stored_rows(self.tenant)
        ivs_before = self.intervals()
        q_before = self.queue_figures()
        # A WatchFloor stream open at SIGTERM ends with the server (it does not hold it up).
        ended = threading.Event()
        stream = self.insights.WatchFloor(self.ipb.WatchFloorRequest(tenant_id=self.tenant))
        first = queue_mod.Queue()

        def watch():
            try:
                for f in stream:
                    first.put(f)
            except grpc.RpcError:
                pass
            ended.set()

        threading.Thread(target=watch, daemon=True).start()
        first.get(timeout=10)
        self.assertEqual(self.stop_insights(), 0)
        self.assertTrue(ended.wait(timeout=10), "the WatchFloor stream outlived the server")
        after_stop = self.stored_rows(self.tenant)
        self.assertEqual(before, after_stop[:len(before)])
        type(self).start_insights(name="insights-restarted")
        # The replay starts at the beginning: the floor comes back with the same figures.
        today = (q_before.today.offered, q_before.today.answered, q_before.today.abandoned)
        h.wait_for("the floor is rebuilt", lambda: (
            lambda q: q is not None and (q.today.offered, q.today.answered,
                                         q.today.abandoned) == today)(self.queue_figures()))
        # Stored intervals are still there and not counted twice (replayed intervals rewrite
        # the same rows).
        self.assertEqual(self.sums(self.intervals()), self.sums(ivs_before))
        self.assertEqual(self.stored_rows(self.tenant)[:len(before)], before)
        # Traffic after the restart lands on top, once: a caller who is withdrawn unanswered.
        c = self.protos.commands
        self.enqueue("call-late")
        self.wait_state("call-late", self.protos.model.INTERACTION_STATE_QUEUED,
                        "call-late is queued")
        self.command("cancel", c.Cancel(interaction_id="call-late",
                                        reason=c.CANCEL_REASON_CANCELLED))
        offered, answered, abandoned, _ = self.sums(ivs_before)
        h.wait_for("call-late is stored", lambda: (
            sum(r[3] for r in self.stored_rows(self.tenant)) == offered + 1))
        rows = self.stored_rows(self.tenant)
        self.assertEqual(sum(r[4] for r in rows), answered)
        self.assertEqual(sum(r[5] for r in rows), abandoned)
        self.assertEqual(self.stop_insights(), 0)


if __name__ == "__main__":
    h.run_tests()
