#!/usr/bin/env python3
"""sb-routing through independent clients: python3-grpcio with protoc-generated stubs for the
API, python3-kafka for the agent commands that have no gRPC API yet, and for reading the events.

One interaction's whole life: ApplyConfig, ListQueues, Enqueue, Get, Watch (InteractionQueued),
an agent logs in and accepts over Kafka (OfferCreated, InteractionConnected), completes it
(InteractionEnded ends the stream); the events topic holds the same events with ids
"<partition>/<command offset>/<index>".

Usage: routing_grpc_flow_test.py --routing sb-routing --broker sb-embedded-broker --root REPO
"""
import queue
import threading
import unittest
import uuid

import sbharness as h

A = h.args()
import grpc  # noqa: E402  (after sbharness: it picks a python3 that has grpcio)


def retry_unavailable(fn):
    """Calls fn, treating UNAVAILABLE (RECOVERING / NOT_OWNER while partitions settle) as 'not
    yet' for wait_for."""
    try:
        return fn()
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.UNAVAILABLE:
            return None
        raise


class Watcher:
    """Runs InteractionService.Watch in a thread; events land in a queue."""

    def __init__(self, stub, protos, tenant, interaction_id, timeout):
        self.events = queue.Queue()
        self.seen = []
        self.error = None
        self.finished = threading.Event()
        self._call = stub.Watch(protos.svc.WatchInteractionRequest(
            tenant_id=tenant, interaction_id=interaction_id), timeout=timeout)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            for resp in self._call:
                self.events.put(resp.event)
        except grpc.RpcError as e:
            self.error = e
        finally:
            self.finished.set()

    def next_of(self, kind, timeout=h.DEADLINE_S):
        """Events up to and including the next one of `kind`; returns that one."""
        import time
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {kind} on the Watch stream within {timeout}s; saw "
                                   f"{[h.event_kind(e) for e in self.seen]} error={self.error}")
            try:
                e = self.events.get(timeout=min(left, 0.5))
            except queue.Empty:
                if self.finished.is_set() and self.events.empty():
                    raise AssertionError(f"Watch ended before {kind}; saw "
                                         f"{[h.event_kind(x) for x in self.seen]} "
                                         f"error={self.error}")
                continue
            self.seen.append(e)
            if h.event_kind(e) == kind:
                return e

    def cancel(self):
        self._call.cancel()


class RoutingGrpcFlow(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.stack = h.Stack()
        cls.channel = grpc.insecure_channel(cls.stack.grpc_addr)
        cls.interactions = cls.protos.svc_grpc.InteractionServiceStub(cls.channel)
        cls.config = cls.protos.svc_grpc.ConfigServiceStub(cls.channel)
        cls.producer = h.kafka_producer(cls.stack.bootstrap)
        cls.consumer = h.kafka_consumer(cls.stack.bootstrap)

    @classmethod
    def tearDownClass(cls):
        for closer in (lambda: cls.channel.close(), lambda: cls.producer.close(timeout=5),
                       lambda: cls.consumer.close()):
            try:
                closer()
            except Exception:  # noqa: BLE001
                pass
        cls.stack.close()


    # ------------------------------------------------------------------------------------------

    def test_health_reports_serving(self):
        health = self.protos.health
        print(f"health messages: {self.protos.health_note}")
        status = h.wait_for("health SERVING",
                            lambda: h.health_check(self.channel, health) == health.SERVING)
        self.assertTrue(status)
        # Only the server as a whole ("") is registered (what Kubernetes' grpc probe asks by
        # default); a service name the server does not know: NOT_FOUND, per the health protocol.
        with self.assertRaises(grpc.RpcError) as ctx:
            h.health_check(self.channel, health, "no.such.Service")
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def apply_queue(self, tenant, queue_id="support"):
        """Applies one voice queue; returns once ListQueues shows it."""
        m, svc = self.protos.model, self.protos.svc
        self.config.ApplyConfig(svc.ApplyConfigRequest(tenant_id=tenant, queues=[
            m.Queue(queue_id=queue_id, channel=m.CHANNEL_VOICE,
                    strategy=m.STRATEGY_LONGEST_IDLE)]), timeout=15)
        h.wait_for("ListQueues shows the queue", lambda: retry_unavailable(
            lambda: [q.config.queue_id for q in self.config.ListQueues(
                svc.ListQueuesRequest(tenant_id=tenant), timeout=5).queues] == [queue_id]))

    def events_of(self, tenant, partition):
        records = h.read_partition(self.consumer, h.EVENTS_TOPIC, partition)
        return [e for e in (self.protos.events.RoutingEvent.FromString(r.value) for r in records)
                if e.tenant_id == tenant]

    def test_cancel_ends_the_watch(self):
        p = self.protos
        m, c, svc = p.model, p.commands, p.svc
        tenant = h.unique_tenant("cancel")
        self.apply_queue(tenant)
        self.interactions.Enqueue(svc.EnqueueRequest(tenant_id=tenant, enqueue=c.Enqueue(
            interaction_id="gone", queue_id="support")), timeout=10)
        watch = Watcher(self.interactions, p, tenant, "gone", timeout=40)
        try:
            watch.next_of("interaction_queued")
            resp = self.interactions.Cancel(svc.CancelRequest(
                tenant_id=tenant, command_id="hangup-1",
                cancel=c.Cancel(interaction_id="gone", reason=c.CANCEL_REASON_ABANDONED)),
                timeout=10)
            self.assertEqual(resp.command_id, "hangup-1")
            ended = watch.next_of("interaction_ended")
            self.assertEqual(ended.command_id, "hangup-1")
            self.assertEqual(ended.interaction_ended.reason, m.END_REASON_ABANDONED)
            self.assertTrue(watch.finished.wait(15), "Watch did not end after InteractionEnded")
            self.assertIsNone(watch.error, f"Watch ended with an error: {watch.error}")
        finally:
            watch.cancel()

    def test_retry_with_the_same_command_id_is_idempotent(self):
        """Enqueue/Cancel command_id: "reuse it to retry safely". A client whose first call
        timed out after the command reached the log retries with the same command_id: the retry
        must succeed (the engine ignores a repeated command id: docs/routing.md) and must not
        queue the interaction twice."""
        p = self.protos
        c, svc = p.commands, p.svc
        tenant = h.unique_tenant("retry")
        part = h.partition_for(tenant)
        self.apply_queue(tenant)
        req = svc.EnqueueRequest(tenant_id=tenant, command_id="enq-retry-1", enqueue=c.Enqueue(
            interaction_id="r1", queue_id="support"))
        first = self.interactions.Enqueue(req, timeout=10)
        self.assertEqual(first.command_id, "enq-retry-1")
        h.wait_for("r1 applied", lambda: self.interactions.Get(svc.GetInteractionRequest(
            tenant_id=tenant, interaction_id="r1"), timeout=5))
        # The retry, after the first attempt took effect.
        try:
            again = self.interactions.Enqueue(req, timeout=10)
            retry_error = None
        except grpc.RpcError as e:
            again, retry_error = None, f"{e.code().name} '{e.details()}'"
        # Whatever the answer, r1 is queued once: a probe after the retry is a barrier.
        probe = self.interactions.Enqueue(svc.EnqueueRequest(tenant_id=tenant, enqueue=c.Enqueue(
            interaction_id="probe", queue_id="support")), timeout=10)
        events = h.wait_for("the probe's events", lambda: (
            lambda evs: evs if any(e.command_offset == probe.offset for e in evs) else None)(
                self.events_of(tenant, part)))
        queued = [e for e in events if e.HasField("interaction_queued")
                  and e.interaction_queued.interaction_id == "r1"]
        self.assertEqual(len(queued), 1, "r1 queued more than once")
        self.assertEqual([e for e in events if e.HasField("command_rejected")], [],
                         "the retry was rejected by the engine")
        with self.subTest(rpc="Enqueue"):
            self.assertIsNone(retry_error,
                              "Enqueue retried with the same command_id after the first attempt "
                              f"was applied must answer OK (idempotent), got {retry_error}")
            self.assertEqual(again.command_id, "enq-retry-1")

        # The same for Cancel (CancelRequest.command_id).
        creq = svc.CancelRequest(tenant_id=tenant, command_id="cancel-retry-1",
                                 cancel=c.Cancel(interaction_id="r1"))
        self.assertEqual(self.interactions.Cancel(creq, timeout=10).command_id, "cancel-retry-1")

        def r1_gone():
            try:
                self.interactions.Get(svc.GetInteractionRequest(
                    tenant_id=tenant, interaction_id="r1"), timeout=5)
                return False
            except grpc.RpcError as e:
                return e.code() == grpc.StatusCode.NOT_FOUND
        h.wait_for("r1 cancelled", r1_gone)
        with self.subTest(rpc="Cancel"):
            try:
                again = self.interactions.Cancel(creq, timeout=10)
                retry_error = None
            except grpc.RpcError as e:
                again, retry_error = None, f"{e.code().name} '{e.details()}'"
            self.assertIsNone(retry_error,
                              "Cancel retried with the same command_id after the first attempt "
                              f"was applied must answer OK (idempotent), got {retry_error}")
            self.assertEqual(again.command_id, "cancel-retry-1")

    def test_interaction_life_over_grpc_and_kafka(self):
        p = self.protos
        m, c, svc = p.model, p.commands, p.svc
        tenant = h.unique_tenant("flow")
        part = h.partition_for(tenant)
        call_id = f"call-{uuid.uuid4().hex[:8]}"

        # Config: one voice queue, one agent.
        queue_cfg = m.Queue(queue_id="support", name="Support", channel=m.CHANNEL_VOICE,
                            strategy=m.STRATEGY_LONGEST_IDLE, membership="skills.support >= 1")
        queue_cfg.offer_timeout.FromSeconds(120)
        agent = m.AgentProfile(agent_id="ann", name="Ann", team="blue",
                               skills=[m.Skill(name="support", proficiency=3)])
        applied = self.config.ApplyConfig(svc.ApplyConfigRequest(
            tenant_id=tenant, queues=[queue_cfg], agents=[agent]), timeout=15)
        self.assertEqual((applied.queues_applied, applied.agents_applied), (1, 1))
        self.assertGreater(applied.config_version, 0)

        # ListQueues: the config is applied asynchronously (it goes through the commands topic).
        def queues():
            r = retry_unavailable(lambda: self.config.ListQueues(
                svc.ListQueuesRequest(tenant_id=tenant), timeout=5))
            return r if r is not None and [q.config.queue_id for q in r.queues] == ["support"] \
                else None
        listed = h.wait_for("ListQueues shows the queue", queues)
        self.assertEqual(listed.queues[0].config.channel, m.CHANNEL_VOICE)
        self.assertEqual(listed.queues[0].config.strategy, m.STRATEGY_LONGEST_IDLE)
        self.assertEqual(listed.queues[0].config.membership, "skills.support >= 1")

        # The agent is the command after the queue's: it may be applied a moment later.
        agents = h.wait_for("ListAgents shows the agent", lambda: (
            lambda r: r if [a.profile.agent_id for a in r.agents] == ["ann"] else None)(
                self.config.ListAgents(svc.ListAgentsRequest(tenant_id=tenant), timeout=5)))
        self.assertEqual(agents.agents[0].profile.skills[0].proficiency, 3)
        self.assertIn(agents.agents[0].presence, (m.PRESENCE_UNSPECIFIED, m.PRESENCE_OFFLINE))

        # Enqueue: durable in the commands topic, at the tenant's partition.
        enq = c.Enqueue(interaction_id=call_id, queue_id="support", priority=5,
                        attributes={"language": "en", "customer": "c-42"},
                        requirement="skills.support >= 2")
        resp = self.interactions.Enqueue(svc.EnqueueRequest(tenant_id=tenant, enqueue=enq),
                                         timeout=15)
        self.assertTrue(resp.command_id, "Enqueue must return the (generated) command id")
        self.assertEqual(resp.partition, part, "commands go to murmur2(tenant) % partitions")
        self.assertGreaterEqual(resp.offset, 2, "after the two ApplyConfig commands")

        # Get: waiting in the queue.
        def get():
            try:
                return self.interactions.Get(svc.GetInteractionRequest(
                    tenant_id=tenant, interaction_id=call_id), timeout=5)
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    return None
                raise
        got = h.wait_for("Get finds the interaction", get).interaction
        self.assertEqual(got.interaction_id, call_id)
        self.assertEqual(got.queue_id, "support")
        self.assertEqual(got.state, m.INTERACTION_STATE_QUEUED)
        self.assertEqual(got.channel, m.CHANNEL_VOICE)
        self.assertEqual(got.priority, 5)
        self.assertEqual(dict(got.attributes), {"language": "en", "customer": "c-42"})
        self.assertEqual(got.requirement, "skills.support >= 2")

        # Watch: from the enqueue on (the stream is started after it: retained events come first).
        watch = Watcher(self.interactions, p, tenant, call_id, timeout=50)
        try:
            queued = watch.next_of("interaction_queued")
            self.assertEqual(queued.tenant_id, tenant)
            self.assertEqual(queued.command_id, resp.command_id)
            self.assertEqual(queued.partition, resp.partition)
            self.assertEqual(queued.command_offset, resp.offset)
            self.assertEqual(queued.event_id, f"{resp.partition}/{resp.offset}/{queued.index}")
            self.assertEqual(queued.interaction_queued.queue_id, "support")
            self.assertEqual(queued.interaction_queued.position, 1)
            self.assertEqual(queued.interaction_queued.cause, "enqueued")

            # An agent desktop (python3-kafka) logs ann in: she gets the offer.
            login_id, lpart, loff = h.send_command(
                self.producer, p, tenant, "login",
                c.Login(agent_id="ann", presence=m.PRESENCE_AVAILABLE))
            self.assertEqual(lpart, part)
            offer = watch.next_of("offer_created")
            self.assertEqual(offer.command_id, login_id)
            self.assertEqual(offer.event_id, f"{part}/{loff}/{offer.index}")
            self.assertEqual(offer.offer_created.agent_id, "ann")
            self.assertEqual(offer.offer_created.interaction_id, call_id)
            self.assertEqual(offer.offer_created.queue_id, "support")
            self.assertEqual(offer.offer_created.explanation.trigger, "agent_freed")
            offer_id = offer.offer_created.offer_id
            self.assertTrue(offer_id)
            got = h.wait_for("Get says OFFERED", lambda: (
                lambda r: r if r.interaction.state == m.INTERACTION_STATE_OFFERED else None)(
                    self.interactions.Get(svc.GetInteractionRequest(
                        tenant_id=tenant, interaction_id=call_id), timeout=5)))
            self.assertEqual(got.interaction.agent_id, "ann")
            self.assertEqual(got.interaction.offer_id, offer_id)

            _, _, aoff = h.send_command(self.producer, p, tenant, "accept_offer",
                                        c.AcceptOffer(agent_id="ann", offer_id=offer_id))
            connected = watch.next_of("interaction_connected")
            self.assertEqual(connected.event_id, f"{part}/{aoff}/{connected.index}")
            self.assertEqual(connected.interaction_connected.agent_id, "ann")
            self.assertEqual(connected.interaction_connected.queue_id, "support")
            self.assertIn("offer_accepted", [h.event_kind(e) for e in watch.seen])

            _, _, coff = h.send_command(self.producer, p, tenant, "complete",
                                        c.Complete(agent_id="ann", interaction_id=call_id,
                                                   disposition="resolved"))
            ended = watch.next_of("interaction_ended")
            self.assertEqual(ended.event_id, f"{part}/{coff}/{ended.index}")
            self.assertEqual(ended.interaction_ended.reason, m.END_REASON_COMPLETED)
            self.assertEqual(ended.interaction_ended.disposition, "resolved")
            self.assertEqual(ended.interaction_ended.agent_id, "ann")

            # The stream ends by itself after InteractionEnded, with status OK.
            self.assertTrue(watch.finished.wait(15), "Watch did not end after InteractionEnded")
            self.assertIsNone(watch.error, f"Watch ended with an error: {watch.error}")
            while not watch.events.empty():
                watch.seen.append(watch.events.get())
            self.assertEqual(h.event_kind(watch.seen[-1]), "interaction_ended",
                             [h.event_kind(e) for e in watch.seen])
        finally:
            watch.cancel()

        kinds = [h.event_kind(e) for e in watch.seen]
        order = [kinds.index(k) for k in ("interaction_queued", "offer_created", "offer_accepted",
                                          "interaction_connected", "interaction_ended")]
        self.assertEqual(order, sorted(order), kinds)
        ids = [e.event_id for e in watch.seen]
        self.assertEqual(len(ids), len(set(ids)), f"an event id twice on the stream: {ids}")

        # Ended: Get no longer finds it.
        def gone():
            try:
                self.interactions.Get(svc.GetInteractionRequest(
                    tenant_id=tenant, interaction_id=call_id), timeout=5)
                return False
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.NOT_FOUND:
                    self.assertTrue(e.details().startswith("NO_SUCH_INTERACTION"), e.details())
                    return True
                raise
        h.wait_for("Get answers NOT_FOUND after the end", gone)

        # python3-kafka reads the same events from sb.routing.events.v1, decoded with python
        # protobuf: every event the stream carried, same ids, same order, keyed by tenant.
        want = {e.event_id: e for e in watch.seen}

        def read_events():
            records = h.read_partition(self.consumer, h.EVENTS_TOPIC, part)
            out = []
            for r in records:
                ev = p.events.RoutingEvent.FromString(r.value)
                if ev.tenant_id == tenant:
                    self.assertEqual(r.key, tenant.encode(), "events are keyed by tenant id")
                    out.append(ev)
            return out if all(i in {e.event_id for e in out} for i in want) else None
        on_topic = h.wait_for("the events on sb.routing.events.v1", read_events)
        self.assertEqual(len(on_topic), len({e.event_id for e in on_topic}),
                         "an event id twice on the topic")
        mine = [e for e in on_topic if e.event_id in want]
        self.assertEqual([e.event_id for e in mine], [e.event_id for e in watch.seen])
        for e in mine:
            self.assertEqual(e, want[e.event_id], f"topic and Watch differ for {e.event_id}")
        for e in on_topic:
            pp, off, idx = e.event_id.split("/")
            self.assertEqual((int(pp), int(off), int(idx)),
                             (e.partition, e.command_offset, e.index), e.event_id)
            self.assertEqual(e.partition, part)
        kinds_on_topic = [h.event_kind(e) for e in on_topic]
        for k in ("queue_upserted", "agent_upserted", "agent_state_changed"):
            self.assertIn(k, kinds_on_topic)


if __name__ == "__main__":
    h.run_tests()
