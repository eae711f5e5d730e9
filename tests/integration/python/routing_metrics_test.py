#!/usr/bin/env python3
"""sb-routing's /metrics, read with urllib and checked with `promtool check metrics`, before and
after traffic (an interaction offered to an agent and answered); SIGTERM then exits 0.

Usage: routing_metrics_test.py --routing sb-routing --broker sb-embedded-broker --root REPO
"""
import re
import subprocess
import unittest
import urllib.request
import uuid

import sbharness as h

A = h.args()
PROMTOOL = h.require_tool("promtool")
import grpc  # noqa: E402


def scrape(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as r:
        assert r.status == 200, r.status
        ctype = r.headers.get("Content-Type", "")
        return r.read().decode(), ctype


def samples(text):
    """{(name, labels-string): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+\d+)?", line)
        assert m, f"unparsable sample line: {line!r}"
        out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


def total(s, name, label_filter=""):
    return sum(v for (n, labels), v in s.items() if n == name and label_filter in labels)


class RoutingMetrics(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.stack = h.Stack()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()


    def promtool_check(self, text):
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, f"promtool check metrics: {p.stdout}{p.stderr}")
        self.assertEqual((p.stdout + p.stderr).strip(), "",
                         f"promtool check metrics reported problems:\n{p.stdout}{p.stderr}")

    def test_metrics_are_valid_and_count_traffic(self):
        p = self.protos
        m, c, svc = p.model, p.commands, p.svc
        text, ctype = scrape(self.stack.metrics_addr)
        self.assertTrue(ctype.startswith("text/plain"), ctype)
        self.promtool_check(text)
        s = samples(text)
        self.assertEqual(s.get(("switchboard_routing_partitions_owned", "")), h.PARTITIONS, text)
        self.assertEqual(s.get(("switchboard_routing_ready", "")), 1, text)

        # Traffic: a queue and an agent over gRPC, the agent logs in over Kafka, an interaction
        # over gRPC is offered to them (enqueue -> offer latency observed) and accepted.
        tenant = h.unique_tenant("metrics")
        call_id = f"call-{uuid.uuid4().hex[:8]}"
        with grpc.insecure_channel(self.stack.grpc_addr) as channel:
            config = p.svc_grpc.ConfigServiceStub(channel)
            interactions = p.svc_grpc.InteractionServiceStub(channel)
            config.ApplyConfig(svc.ApplyConfigRequest(
                tenant_id=tenant,
                queues=[m.Queue(queue_id="sales", channel=m.CHANNEL_VOICE,
                                strategy=m.STRATEGY_ROUND_ROBIN)],
                agents=[m.AgentProfile(agent_id="bob")]), timeout=15)
            producer = h.kafka_producer(self.stack.bootstrap)
            try:
                h.send_command(producer, p, tenant, "login",
                               c.Login(agent_id="bob", presence=m.PRESENCE_AVAILABLE))

                def enqueue():
                    try:
                        return interactions.Enqueue(svc.EnqueueRequest(
                            tenant_id=tenant, enqueue=c.Enqueue(interaction_id=call_id,
                                                                queue_id="sales")), timeout=10)
                    except grpc.RpcError as e:
                        if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                            return None
                        raise
                h.wait_for("Enqueue accepted", enqueue)

                def offered():
                    r = interactions.Get(svc.GetInteractionRequest(
                        tenant_id=tenant, interaction_id=call_id), timeout=5)
                    return r if r.interaction.state == m.INTERACTION_STATE_OFFERED else None
                offer = h.wait_for("the offer to bob", offered)
                h.send_command(producer, p, tenant, "accept_offer",
                               c.AcceptOffer(agent_id="bob", offer_id=offer.interaction.offer_id))
                h.wait_for("connected", lambda: interactions.Get(svc.GetInteractionRequest(
                    tenant_id=tenant, interaction_id=call_id), timeout=5).interaction.state
                    == m.INTERACTION_STATE_CONNECTED)
            finally:
                producer.close(timeout=5)

        def after_traffic():
            t, _ = scrape(self.stack.metrics_addr)
            s = samples(t)
            ok = (total(s, "switchboard_routing_commands_applied_total") >= 5 and
                  s.get(("switchboard_routing_enqueue_to_offer_seconds_count", ""), 0) >= 1)
            return (t, s) if ok else None
        text, s = h.wait_for("metrics count the traffic", after_traffic)
        self.promtool_check(text)

        # Counters by command kind (the label's name is the service's choice; values are not).
        applied = {labels: v for (n, labels), v in s.items()
                   if n == "switchboard_routing_commands_applied_total"}
        self.assertTrue(applied, text)
        for kind in ("enqueue", "login", "accept_offer"):
            self.assertTrue(any(kind in labels and v >= 1 for labels, v in applied.items()),
                            f"no applied count for {kind}: {applied}")
        self.assertGreaterEqual(total(s, "switchboard_routing_commands_applied_total"), 5)

        buckets = {labels: v for (n, labels), v in s.items()
                   if n == "switchboard_routing_enqueue_to_offer_seconds_bucket"}
        self.assertIn('{le="+Inf"}', buckets, text)
        self.assertGreaterEqual(buckets['{le="+Inf"}'], 1)
        values = [v for _, v in sorted(
            ((float(re.search(r'le="([^"]+)"', k).group(1)), v) for k, v in buckets.items()))]
        self.assertEqual(values, sorted(values), "histogram buckets must be cumulative")
        self.assertEqual(s.get(("switchboard_routing_enqueue_to_offer_seconds_count", "")),
                         buckets['{le="+Inf"}'])
        self.assertEqual(s.get(("switchboard_routing_partitions_owned", "")), h.PARTITIONS)
        self.assertEqual(s.get(("switchboard_routing_ready", "")), 1)

        # A graceful stop: SIGTERM -> partitions handed over -> exit 0.
        self.assertEqual(self.stack.stop_routing(), 0, self.stack.logs())


if __name__ == "__main__":
    h.run_tests()
