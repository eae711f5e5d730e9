#!/usr/bin/env python3
"""sb-policy with sb-routing and the embedded broker, through independent clients
(python3-grpcio with protoc-generated stubs, python3-kafka, promtool).

- An agent asks to disconnect an abusive caller: denied before a warning (nothing happens in
  routing); the agent warns the caller (WarnCaller, recorded on the interaction in routing); the
  disconnect is then allowed: routing ends the interaction as an agent disconnect, the agent goes
  on a recovery break that ends by itself, and the decision with its obligations is in
  sb.policy.decisions.v1.
- Bad requests get stable reasons and publish nothing.
- Hot reload: a broken new bundle version is rejected (metric, log, ListBundles) and the last
  good one keeps deciding; a fixed version takes over.
- /metrics passes `promtool check metrics`; SIGTERM exits 0.

Usage: policy_flow_test.py --routing sb-routing --broker sb-embedded-broker --policy sb-policy
       --root REPO
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import unittest
import urllib.request

import sbharness as h

A = h.args()
import grpc  # noqa: E402  (after sbharness: it picks a python3 that has grpcio)
from google.protobuf import json_format  # noqa: E402

PROMTOOL = h.require_tool("promtool")
DECISIONS_TOPIC = "sb.policy.decisions.v1"
BREAK_SECONDS = 2


def house_bundle(root):
    """The shipped default bundle as the "*" bundle, with a 2-second recovery break after a
    disconnect so the test sees the break end by itself."""
    with open(os.path.join(root, "deploy/policies/default.yaml")) as f:
        text = f.read()
    old = "- recovery_break: {minutes: 10, offered: true}\n\n  escalation:"
    assert old in text, "default.yaml changed: update policy_flow_test.house_bundle"
    return text.replace(old, f"- recovery_break: {{seconds: {BREAK_SECONDS}, offered: true}}"
                             "\n\n  escalation:")


def small_bundle(tenant, version, when="agent.difficult_last_hour >= 2"):
    return (f'tenant: "{tenant}"\nversion: "{version}"\npolicies:\n  wellbeing:\n    rules:\n'
            f'      - {{id: cap, when: "{when}", outcome: deny, reason: "take a break"}}\n')


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # atomically, as a ConfigMap update swaps files


class PolicyFlow(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.policies = tempfile.mkdtemp(prefix="sb-policies-")
        atexit.register(shutil.rmtree, cls.policies, True)
        write(os.path.join(cls.policies, "house.yaml"), house_bundle(A.root))
        cls.stack = h.Stack(policy_args=["--policies", cls.policies, "--reload-interval-ms", "200"])
        cls.routing_channel = grpc.insecure_channel(cls.stack.grpc_addr)
        cls.policy_channel = grpc.insecure_channel(cls.stack.policy_addr)
        cls.interactions = cls.protos.svc_grpc.InteractionServiceStub(cls.routing_channel)
        cls.config = cls.protos.svc_grpc.ConfigServiceStub(cls.routing_channel)
        cls.policy = cls.protos.policy_grpc.PolicyServiceStub(cls.policy_channel)
        cls.producer = h.kafka_producer(cls.stack.bootstrap)
        cls.consumer = h.kafka_consumer(cls.stack.bootstrap)

    @classmethod
    def tearDownClass(cls):
        for closer in (lambda: cls.routing_channel.close(), lambda: cls.policy_channel.close(),
                       lambda: cls.producer.close(timeout=5), lambda: cls.consumer.close()):
            try:
                closer()
            except Exception:  # noqa: BLE001
                pass
        cls.stack.close()


    # ------------------------------------------------------------------------------------------

    def evaluate(self, tenant, kind, input_obj=None, **fields):
        p = self.protos.policy
        req = p.EvaluateRequest(tenant_id=tenant, kind=kind, **fields)
        if input_obj is not None:
            json_format.ParseDict(input_obj, req.input)
        return self.policy.Evaluate(req, timeout=10).decision

    def get(self, tenant, interaction_id):
        svc = self.protos.svc
        return self.interactions.Get(svc.GetInteractionRequest(
            tenant_id=tenant, interaction_id=interaction_id), timeout=5).interaction

    def get_or_none(self, tenant, interaction_id):
        try:
            return self.get(tenant, interaction_id)
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                return None
            raise

    def events_of(self, tenant):
        records = h.read_partition(self.consumer, h.EVENTS_TOPIC, h.partition_for(tenant))
        return [e for e in (self.protos.events.RoutingEvent.FromString(r.value) for r in records)
                if e.tenant_id == tenant]

    def decisions(self):
        out = []
        for part in range(h.PARTITIONS):
            for r in h.read_partition(self.consumer, DECISIONS_TOPIC, part):
                out.append((r.key.decode(), self.protos.policy.PolicyDecision.FromString(r.value)))
        return out

    def decision_count(self):
        return sum(h.end_offsets(self.consumer, DECISIONS_TOPIC).values())

    def metrics_text(self):
        with urllib.request.urlopen(f"http://{self.stack.policy_metrics_addr}/metrics",
                                    timeout=10) as r:
            return r.read().decode()

    def connected_call(self, tenant, agent, call):
        """A queue, an agent logged in, a call offered to and accepted by the agent."""
        m, c, svc = self.protos.model, self.protos.commands, self.protos.svc
        h.wait_for("ApplyConfig", lambda: self.config.ApplyConfig(svc.ApplyConfigRequest(
            tenant_id=tenant,
            queues=[m.Queue(queue_id="support", channel=m.CHANNEL_VOICE,
                            strategy=m.STRATEGY_LONGEST_IDLE)],
            agents=[m.AgentProfile(agent_id=agent, name="Ann")]), timeout=15))
        h.wait_for("the agent is known", lambda: self.config.ListAgents(
            svc.ListAgentsRequest(tenant_id=tenant), timeout=5).agents)
        h.send_command(self.producer, self.protos, tenant, "login",
                       c.Login(agent_id=agent, presence=m.PRESENCE_AVAILABLE))
        self.interactions.Enqueue(svc.EnqueueRequest(tenant_id=tenant, enqueue=c.Enqueue(
            interaction_id=call, queue_id="support")), timeout=10)
        rec = h.wait_for("the call is offered", lambda: (
            lambda r: r if r is not None and r.state == m.INTERACTION_STATE_OFFERED else None)(
                self.get_or_none(tenant, call)))
        h.send_command(self.producer, self.protos, tenant, "accept_offer",
                       c.AcceptOffer(agent_id=agent, offer_id=rec.offer_id))
        h.wait_for("the call is connected", lambda: (
            lambda r: r if r is not None and r.state == m.INTERACTION_STATE_CONNECTED else None)(
                self.get_or_none(tenant, call)))

    # ------------------------------------------------------------------------------------------

    def test_disconnect_after_a_warning_ends_the_call_and_starts_a_recovery_break(self):
        p, m, c = self.protos.policy, self.protos.model, self.protos.commands
        tenant, agent, call = h.unique_tenant("pol"), "ann", "call-1"
        self.connected_call(tenant, agent, call)

        # No warning yet: denied, with a reason the agent can read; routing untouched.
        denied = self.evaluate(tenant, "disconnect", {"request": {"category": "racial_slur"}},
                               agent_id=agent, interaction_id=call)
        self.assertEqual(denied.outcome, p.OUTCOME_DENY)
        self.assertEqual(denied.rule, "disconnect.not-warned")
        self.assertIn("Warn the caller first", denied.reason)
        self.assertEqual(len(denied.routing_command_ids), 0)
        # The facts came from routing, not from the request.
        facts = json_format.MessageToDict(denied.input)["interaction"]
        self.assertEqual(facts["state"], "connected")
        self.assertEqual(facts["agent_id"], agent)
        self.assertEqual(facts["queue"], "support")
        self.assertEqual(facts["warnings"], [])
        # A client that claims a warning routing never saw is not believed.
        lying = self.evaluate(tenant, "disconnect", {"request": {"category": "racial_slur"},
                                                     "interaction": {"warnings": ["racial_slur"]}},
                              agent_id=agent, interaction_id=call)
        self.assertEqual(lying.rule, "disconnect.not-warned")
        self.assertEqual(self.get(tenant, call).state, m.INTERACTION_STATE_CONNECTED)

        # The agent warns the caller: recorded on the interaction by routing.
        h.send_command(self.producer, self.protos, tenant, "warn_caller",
                       c.WarnCaller(agent_id=agent, interaction_id=call, category="racial_slur"))
        h.wait_for("the warning is on the interaction",
                   lambda: [w.category for w in self.get(tenant, call).warnings] == ["racial_slur"])

        allowed = self.evaluate(tenant, "disconnect", {"request": {"category": "racial_slur"}},
                                agent_id=agent, interaction_id=call, request_id="req-1")
        self.assertEqual(allowed.outcome, p.OUTCOME_ALLOW, allowed)
        self.assertEqual(allowed.rule, "disconnect.allowed")
        self.assertEqual([o.WhichOneof("kind") for o in allowed.obligations],
                         ["end_interaction", "create_review", "recovery_break"])
        self.assertTrue(allowed.obligations[1].create_review.mandatory)
        self.assertEqual(allowed.obligations[2].recovery_break.seconds, BREAK_SECONDS)
        self.assertEqual(len(allowed.routing_command_ids), 2)
        self.assertTrue(allowed.policy_version.startswith("2026.11.1@"), allowed.policy_version)
        self.assertEqual(allowed.bundle, "house")

        # Routing carried the obligations out: the call ended as an agent disconnect...
        # (Routing applies a command before its events reach the topic, so the test waits for
        # the event itself, not for Get to stop finding the call.)
        ended = h.wait_for("the call's end is in the events topic", lambda: [
            e for e in self.events_of(tenant) if h.event_kind(e) == "interaction_ended"
            and e.interaction_ended.interaction_id == call])
        self.assertEqual(len(ended), 1)
        with self.assertRaises(grpc.RpcError) as gone:
            self.get(tenant, call)
        self.assertEqual(gone.exception.code(), grpc.StatusCode.NOT_FOUND)
        self.assertEqual(ended[0].interaction_ended.reason, m.END_REASON_AGENT_DISCONNECTED)
        self.assertEqual(ended[0].command_id, allowed.routing_command_ids[0])
        # ...and the agent went on a recovery break that then ended by itself.

        def states():
            return [(e.agent_state_changed.presence, e.agent_state_changed.reason)
                    for e in self.events_of(tenant)
                    if h.event_kind(e) == "agent_state_changed"
                    and e.agent_state_changed.agent_id == agent]

        def break_over():
            s = states()
            if (m.PRESENCE_AUX, "recovery") not in s:
                return None
            after = s[s.index((m.PRESENCE_AUX, "recovery")) + 1:]
            return after if (m.PRESENCE_AVAILABLE, "") in after else None

        h.wait_for("the recovery break starts and ends by itself", break_over,
                   timeout=BREAK_SECONDS + 20)

        # The decision (with its obligations) is in the audit topic, keyed by the interaction.
        recorded = [(k, d) for k, d in self.decisions() if d.decision_id == allowed.decision_id]
        self.assertEqual(len(recorded), 1)
        key, d = recorded[0]
        self.assertEqual(key, call)
        self.assertEqual(d.outcome, p.OUTCOME_ALLOW)
        self.assertEqual(d.tenant_id, tenant)
        self.assertEqual(d.agent_id, agent)
        self.assertEqual(d.obligations, allowed.obligations)
        self.assertEqual(list(d.routing_command_ids), list(allowed.routing_command_ids))
        self.assertTrue(d.HasField("time"))
        denied_recorded = [d for _, d in self.decisions() if d.decision_id == denied.decision_id]
        self.assertEqual(len(denied_recorded), 1, "denials are audited too")

    def test_escalation_and_authority_decisions(self):
        p = self.protos.policy
        tenant = h.unique_tenant("auth")
        d = self.evaluate(tenant, "authority", {"request": {"action": "credit", "amount": 120},
                                                "agent": {"tier": "tier1"}}, agent_id="ann")
        self.assertEqual(d.outcome, p.OUTCOME_DENY)
        self.assertEqual(d.obligations[0].WhichOneof("kind"), "require_approval")
        self.assertIn("a supervisor must approve", d.reason)
        # A dry run decides the same but records nothing.
        before = self.decision_count()
        dry = self.evaluate(tenant, "authority", {"request": {"action": "credit", "amount": 20},
                                                  "agent": {"tier": "tier1"}},
                            agent_id="ann", dry_run=True)
        self.assertEqual(dry.outcome, p.OUTCOME_ALLOW)
        self.assertTrue(dry.dry_run)
        self.assertEqual(self.decision_count(), before)

    def test_bad_requests_get_stable_reasons_and_publish_nothing(self):
        p = self.protos.policy
        tenant = h.unique_tenant("bad")
        before = self.decision_count()
        cases = [
            (p.EvaluateRequest(tenant_id=tenant, kind="refund", agent_id="a"),
             grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_KIND"),
            (p.EvaluateRequest(tenant_id=tenant, agent_id="a"),
             grpc.StatusCode.INVALID_ARGUMENT, "MISSING_KIND"),
            (p.EvaluateRequest(kind="authority", agent_id="a"),
             grpc.StatusCode.INVALID_ARGUMENT, "MISSING_TENANT"),
            (p.EvaluateRequest(tenant_id=tenant, kind="wellbeing"),
             grpc.StatusCode.INVALID_ARGUMENT, "MISSING_FIELD"),
            (p.EvaluateRequest(tenant_id=tenant, kind="disconnect", agent_id="a",
                               interaction_id="nope"),
             grpc.StatusCode.FAILED_PRECONDITION, "NO_SUCH_INTERACTION"),
        ]
        missing = p.EvaluateRequest(tenant_id=tenant, kind="authority", agent_id="a")
        json_format.ParseDict({"request": {"action": "credit"}, "agent": {"tier": "tier1"}},
                              missing.input)
        cases.append((missing, grpc.StatusCode.INVALID_ARGUMENT, "MISSING_INPUT"))
        wrong = p.EvaluateRequest(tenant_id=tenant, kind="authority", agent_id="a")
        json_format.ParseDict({"request": {"action": "credit", "amount": "12"},
                               "agent": {"tier": "tier1"}}, wrong.input)
        cases.append((wrong, grpc.StatusCode.INVALID_ARGUMENT, "WRONG_INPUT_TYPE"))
        huge = p.EvaluateRequest(tenant_id=tenant, kind="authority", agent_id="a")
        json_format.ParseDict({"blob": "x" * (300 << 10)}, huge.input)
        cases.append((huge, grpc.StatusCode.RESOURCE_EXHAUSTED, ""))
        for req, code, reason in cases:
            with self.subTest(reason=reason or "oversized"):
                with self.assertRaises(grpc.RpcError) as ctx:
                    self.policy.Evaluate(req, timeout=10)
                self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
                self.assertTrue(ctx.exception.details().startswith(reason),
                                ctx.exception.details())
        # Malformed protobuf bytes: the server cannot parse the request.
        raw = self.policy_channel.unary_unary("/switchboard.policy.v1.PolicyService/Evaluate")
        with self.assertRaises(grpc.RpcError) as ctx:
            raw(b"\xff\xff\xff\xff", timeout=10)
        self.assertIn(ctx.exception.code(), (grpc.StatusCode.INTERNAL,
                                              grpc.StatusCode.INVALID_ARGUMENT))
        self.assertEqual(self.decision_count(), before, "a refused request was published")
        text = self.metrics_text()
        self.assertIn('switchboard_policy_requests_refused_total{reason="UNKNOWN_KIND"}', text)

    def test_a_broken_new_bundle_is_rejected_and_the_last_good_one_stays(self):
        p = self.protos.policy
        tenant = h.unique_tenant("reload")
        path = os.path.join(self.policies, f"{tenant}.yaml")
        bundles = lambda: self.policy.ListBundles(p.ListBundlesRequest(), timeout=5)  # noqa
        versions = lambda: {b.tenant: b.version for b in bundles().bundles}  # noqa

        write(path, small_bundle(tenant, "r1"))
        h.wait_for("r1 loaded", lambda: versions().get(tenant, "").startswith("r1@"))
        probe = {"agent": {"difficult_last_hour": 5}}
        first = self.evaluate(tenant, "wellbeing", probe, agent_id="a", dry_run=True)
        self.assertTrue(first.policy_version.startswith("r1@"))
        self.assertEqual(first.rule, "cap")

        write(path, small_bundle(tenant, "r2", when="agent.difficult_last_hour >="))
        rejected = h.wait_for("r2 rejected", lambda: bundles().rejected.get(path))
        self.assertIn(f"{path}:6: policies.wellbeing.rules[0].when: column", rejected)
        self.assertTrue(versions()[tenant].startswith("r1@"))
        still = self.evaluate(tenant, "wellbeing", probe, agent_id="a", dry_run=True)
        self.assertEqual(still.policy_version, first.policy_version)
        name = f"{tenant}.yaml"
        h.wait_for("the reload failure is counted", lambda: (
            f'switchboard_policy_reload_failures_total{{bundle="{name}"}} 1' in self.metrics_text()))
        with open(os.path.join(self.stack.dir, "policy.stderr")) as f:
            log = f.read()
        self.assertIn(f"policy bundle {path} rejected, the last good version stays in force", log)

        write(path, small_bundle(tenant, "r3"))
        h.wait_for("r3 loaded", lambda: versions().get(tenant, "").startswith("r3@"))
        self.assertNotIn(path, bundles().rejected)
        self.assertIn(f'version="{versions()[tenant]}"', self.metrics_text())

    def test_metrics_pass_promtool(self):
        self.evaluate(h.unique_tenant("m"), "wellbeing", {}, agent_id="a")
        text = self.metrics_text()
        for name in ("switchboard_policy_decisions_total", "switchboard_policy_evaluation_seconds",
                     "switchboard_policy_bundle_info",
                     "switchboard_policy_last_reload_timestamp_seconds"):
            self.assertIn(name, text)
        self.assertIn('kind="wellbeing",outcome="allow"', text)
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, f"promtool: {p.stdout}{p.stderr}")
        self.assertEqual((p.stdout + p.stderr).strip(), "", f"promtool: {p.stdout}{p.stderr}")


class PolicyLifecycle(unittest.TestCase):
    def test_health_serving_and_sigterm_exits_zero(self):
        protos = h.Protos(A.root)
        with h.Stack(policy_args=[]) as stack:
            channel = grpc.insecure_channel(stack.policy_addr)
            self.assertEqual(h.health_check(channel, protos.health), protos.health.SERVING)
            channel.close()
            stack.policy.send_signal(signal.SIGTERM)
            self.assertEqual(stack.policy.wait(timeout=20), 0, stack.logs())

    def test_a_bad_bundle_at_start_is_refused(self):
        with h.Stack() as stack:
            d = os.path.join(stack.dir, "bad")
            os.makedirs(d)
            write(os.path.join(d, "x.yaml"), small_bundle("x", "v", when="(("))
            p = subprocess.run([A.policy, "--bootstrap", stack.bootstrap, "--policies", d,
                                "--listen", "127.0.0.1:0", "--metrics-listen", ""],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(f"{d}/x.yaml:6: policies.wellbeing.rules[0].when", p.stderr)


if __name__ == "__main__":
    h.run_tests()
