#!/usr/bin/env python3
"""Bad input to sb-routing over gRPC (DESIGN §7): a clear canonical code, the stable reason as the
message prefix (docs/routing.md), and NOTHING applied: the high watermarks of
sb.routing.commands.v1 (read with python3-kafka) do not move across all the bad calls.

Usage: routing_bad_input_test.py --routing sb-routing --broker sb-embedded-broker --root REPO
"""
import unittest
import uuid

import sbharness as h

A = h.args()
import grpc  # noqa: E402



class RoutingBadInput(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.stack = h.Stack()  # --max-message-bytes: the default, 1 MiB
        cls.channel = grpc.insecure_channel(cls.stack.grpc_addr)
        cls.interactions = cls.protos.svc_grpc.InteractionServiceStub(cls.channel)
        cls.config = cls.protos.svc_grpc.ConfigServiceStub(cls.channel)
        cls.consumer = h.kafka_consumer(cls.stack.bootstrap)

    @classmethod
    def tearDownClass(cls):
        for closer in (lambda: cls.channel.close(), lambda: cls.consumer.close()):
            try:
                closer()
            except Exception:  # noqa: BLE001
                pass
        cls.stack.close()


    def setup_tenant(self):
        """A tenant with queue 'support' and one interaction 'existing' waiting in it (applied)."""
        p = self.protos
        m, svc = p.model, p.svc
        tenant = h.unique_tenant("bad")
        q = m.Queue(queue_id="support", channel=m.CHANNEL_VOICE, strategy=m.STRATEGY_LONGEST_IDLE)
        self.config.ApplyConfig(svc.ApplyConfigRequest(tenant_id=tenant, queues=[q]), timeout=15)

        def enqueue_existing():
            try:
                return self.interactions.Enqueue(svc.EnqueueRequest(
                    tenant_id=tenant, command_id="existing-1",
                    enqueue=p.commands.Enqueue(interaction_id="existing", queue_id="support")),
                    timeout=10)
            except grpc.RpcError as e:
                # Until the queue is applied: NO_SUCH_QUEUE (or UNAVAILABLE while recovering).
                if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    return False
                raise
        sent = h.wait_for("the first enqueue", enqueue_existing)

        def published():  # applied, and its events are on the topic (they follow the state)
            records = h.read_partition(self.consumer, h.EVENTS_TOPIC, sent.partition)
            return any(e.HasField("interaction_queued") and e.command_offset == sent.offset
                       for e in (p.events.RoutingEvent.FromString(r.value) for r in records))
        h.wait_for("the first enqueue's events", published)
        return tenant

    def expect(self, code, prefix, call, *args, contains=(), **kwargs):
        with self.assertRaises(grpc.RpcError, msg=f"expected {code.name} {prefix}: no error") \
                as ctx:
            call(*args, timeout=10, **kwargs)
        e = ctx.exception
        self.assertEqual(e.code(), code, f"expected {code.name} '{prefix}...', got "
                                         f"{e.code().name} '{e.details()}'")
        prefixes = (prefix,) if isinstance(prefix, str) else prefix
        if prefix:
            self.assertTrue(any((e.details() or "").startswith(p + ":") for p in prefixes),
                            f"expected message prefix {' or '.join(p + ':' for p in prefixes)} "
                            f"got '{e.details()}'")
        for text in contains:
            self.assertIn(text, e.details() or "")
        print(f"    {e.code().name}: {(e.details() or '')[:160]}")
        return e

    def test_bad_calls_get_stable_codes_and_change_nothing(self):
        p = self.protos
        m, c, svc = p.model, p.commands, p.svc
        tenant = self.setup_tenant()
        commands_before = h.end_offsets(self.consumer, h.COMMANDS_TOPIC)
        events_before = h.end_offsets(self.consumer, h.EVENTS_TOPIC)

        def enqueue(tenant_id=tenant, **fields):
            body = {"interaction_id": f"i-{uuid.uuid4().hex[:8]}", "queue_id": "support"}
            body.update(fields)
            return svc.EnqueueRequest(tenant_id=tenant_id, enqueue=c.Enqueue(**body))

        E, I = self.interactions, self.config
        S = grpc.StatusCode
        cases = [
            ("unknown queue", S.NOT_FOUND, "NO_SUCH_QUEUE", E.Enqueue,
             enqueue(queue_id="nope"), ["nope"]),
            ("tenant with no config at all", S.NOT_FOUND, "NO_SUCH_QUEUE", E.Enqueue,
             enqueue(tenant_id=h.unique_tenant("ghost")), []),
            ("unparsable requirement", S.INVALID_ARGUMENT, "BAD_EXPRESSION", E.Enqueue,
             enqueue(requirement="skills.x >="), ["requirement"]),
            ("missing tenant", S.INVALID_ARGUMENT, "MISSING_TENANT", E.Enqueue,
             enqueue(tenant_id=""), ["tenant_id"]),
            ("missing queue_id", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             enqueue(queue_id=""), ["queue_id"]),
            ("missing interaction_id", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             enqueue(interaction_id=""), ["interaction_id"]),
            ("missing enqueue body", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             svc.EnqueueRequest(tenant_id=tenant), ["enqueue"]),
            ("priority 500", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             enqueue(priority=500), ["priority"]),
            ("priority -1", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             enqueue(priority=-1), ["priority"]),
            ("unknown preferred agent", S.NOT_FOUND, "NO_SUCH_AGENT", E.Enqueue,
             enqueue(preferred_agent_id="zed"), ["preferred_agent_id"]),
            ("tenant id over 128 bytes", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             enqueue(tenant_id="t" * 129), ["tenant_id"]),
            ("channel mismatch", S.INVALID_ARGUMENT, "CHANNEL_MISMATCH", E.Enqueue,
             enqueue(channel=m.CHANNEL_CHAT), ["channel"]),
            ("duplicate interaction id", S.ALREADY_EXISTS, "DUPLICATE_INTERACTION", E.Enqueue,
             enqueue(interaction_id="existing"), ["existing"]),
            ("Get of an unknown interaction", S.NOT_FOUND, "NO_SUCH_INTERACTION", E.Get,
             svc.GetInteractionRequest(tenant_id=tenant, interaction_id="nobody"), ["nobody"]),
            ("Get without tenant", S.INVALID_ARGUMENT, "MISSING_TENANT", E.Get,
             svc.GetInteractionRequest(interaction_id="existing"), []),
            ("Cancel of an unknown interaction", S.NOT_FOUND, "NO_SUCH_INTERACTION", E.Cancel,
             svc.CancelRequest(tenant_id=tenant, cancel=c.Cancel(interaction_id="nobody")), []),
            # docs/routing.md ties BAD_EXPRESSION to requirements; a membership is one too.
            ("ApplyConfig: malformed membership", S.INVALID_ARGUMENT,
             ("INVALID_ARGUMENT", "BAD_EXPRESSION"),
             I.ApplyConfig, svc.ApplyConfigRequest(tenant_id=tenant, queues=[
                 m.Queue(queue_id="fine", channel=m.CHANNEL_VOICE,
                         strategy=m.STRATEGY_LONGEST_IDLE),
                 m.Queue(queue_id="broken", channel=m.CHANNEL_VOICE,
                         strategy=m.STRATEGY_LONGEST_IDLE, membership="skills.x >= && (")]),
             ["queues[1]", "membership"]),
            ("ApplyConfig: strategy unset", S.INVALID_ARGUMENT, "INVALID_ARGUMENT",
             I.ApplyConfig, svc.ApplyConfigRequest(tenant_id=tenant, queues=[
                 m.Queue(queue_id="nostrategy", channel=m.CHANNEL_VOICE)]),
             ["queues[0]", "strategy"]),
            ("ApplyConfig: agent proficiency 9", S.INVALID_ARGUMENT, "INVALID_ARGUMENT",
             I.ApplyConfig, svc.ApplyConfigRequest(tenant_id=tenant, agents=[
                 m.AgentProfile(agent_id="ok"),
                 m.AgentProfile(agent_id="amy", skills=[m.Skill(name="billing", proficiency=9)])]),
             ["agents[1]", "proficiency"]),
            ("ApplyConfig: nothing", S.INVALID_ARGUMENT, "INVALID_ARGUMENT",
             I.ApplyConfig, svc.ApplyConfigRequest(tenant_id=tenant), []),
            ("ApplyConfig without tenant", S.INVALID_ARGUMENT, "MISSING_TENANT",
             I.ApplyConfig, svc.ApplyConfigRequest(queues=[
                 m.Queue(queue_id="q", channel=m.CHANNEL_VOICE,
                         strategy=m.STRATEGY_LONGEST_IDLE)]), []),
            # Over --max-message-bytes (1 MiB by default): gRPC's own code, before any handler.
            ("request over --max-message-bytes", S.RESOURCE_EXHAUSTED, "", E.Enqueue,
             enqueue(attributes={"blob": "x" * (2 * 1024 * 1024)}), []),
            # Under it, but an attribute value over the engine's 1024 bytes.
            ("huge attribute value", S.INVALID_ARGUMENT, "INVALID_ARGUMENT", E.Enqueue,
             enqueue(attributes={"blob": "x" * (300 * 1024)}), ["attributes"]),
        ]
        for name, code, prefix, call, request, contains in cases:
            with self.subTest(case=name):
                self.expect(code, prefix, call, request, contains=contains)

        # Malformed protobuf bytes (not a message at all): INVALID_ARGUMENT or INTERNAL from the
        # gRPC layer, never a crash, never a command.
        raw = self.channel.unary_unary("/switchboard.routing.v1.InteractionService/Enqueue",
                                       request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
        with self.subTest(case="malformed protobuf"):
            with self.assertRaises(grpc.RpcError) as ctx:
                raw(b"\x0a\xff\xff\xff\xff\x0f garbage", timeout=10)
            self.assertIn(ctx.exception.code(), (S.INVALID_ARGUMENT, S.INTERNAL),
                          ctx.exception.details())
            print(f"    {ctx.exception.code().name}: {ctx.exception.details()}")

        # Dry run: validated, answered, nothing written.
        with self.subTest(case="dry run"):
            r = I.ApplyConfig(svc.ApplyConfigRequest(tenant_id=tenant, dry_run=True, queues=[
                m.Queue(queue_id="dry", channel=m.CHANNEL_CHAT,
                        strategy=m.STRATEGY_ROUND_ROBIN)]), timeout=10)
            self.assertEqual(r.queues_applied, 1)

        # Nothing applied: no command and no event was written by any of the calls above.
        self.assertEqual(h.end_offsets(self.consumer, h.COMMANDS_TOPIC), commands_before,
                         "a bad call wrote to sb.routing.commands.v1")
        self.assertEqual(h.end_offsets(self.consumer, h.EVENTS_TOPIC), events_before,
                         "a bad call led to events")
        queues = self.config.ListQueues(svc.ListQueuesRequest(tenant_id=tenant), timeout=10)
        self.assertEqual([q.config.queue_id for q in queues.queues], ["support"],
                         "a refused or dry-run ApplyConfig changed the queues")
        agents = self.config.ListAgents(svc.ListAgentsRequest(tenant_id=tenant), timeout=10)
        self.assertEqual(list(agents.agents), [], "a refused ApplyConfig added agents")
        # The service is still healthy and serving after all of it.
        got = self.interactions.Get(svc.GetInteractionRequest(
            tenant_id=tenant, interaction_id="existing"), timeout=10)
        self.assertEqual(got.interaction.state, m.INTERACTION_STATE_QUEUED)
        self.assertIsNone(self.stack.routing.poll(), "sb-routing exited")

        # A barrier against late writes: the next good command lands exactly at the old high
        # watermark, and the events after the old mark are that command's only (no rejection).
        part = h.partition_for(tenant)
        probe = self.interactions.Enqueue(enqueue(interaction_id="probe"), timeout=10)
        self.assertEqual((probe.partition, probe.offset), (part, commands_before[part]),
                         "something was written to the commands topic before the probe")
        h.wait_for("the probe applied", lambda: self.interactions.Get(
            svc.GetInteractionRequest(tenant_id=tenant, interaction_id="probe"), timeout=5))

        def events_after():  # Get sees the engine's state; the events are published just after
            records = h.read_partition(self.consumer, h.EVENTS_TOPIC, part)
            return [p.events.RoutingEvent.FromString(r.value) for r in records
                    if r.offset >= events_before[part]]
        after = h.wait_for("the probe's events", events_after)
        self.assertEqual([(h.event_kind(e), e.command_offset) for e in after],
                         [("interaction_queued", probe.offset)])


if __name__ == "__main__":
    h.run_tests()
