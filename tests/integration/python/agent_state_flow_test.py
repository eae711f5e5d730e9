#!/usr/bin/env python3
"""sb-agent-state with sb-routing, sb-policy and the embedded broker, through python3-grpcio
desktops (protoc-generated stubs): the agent desktop stream and the supervisor API.

- an agent logs in, gets an offer, accepts, completes, wraps up; another misses an offer and goes
  to aux not_responding while the call goes to the next agent;
- an escalation reaches a supervisor (on the floor and as an offer) who joins it;
- a warned-then-disconnected abusive caller: denied before the warning, allowed after, the call
  ends and the agent's recovery break starts and ends by itself;
- a desktop that drops reconnects with resume_after and gets what it missed;
- a silent desktop is put in aux "disconnected"; a second connection takes over the first;
- two replicas: killing one, its desktop resumes on the other;
- identity verification is recorded in routing and follows the caller to the supervisor;
- an authority approval goes to a supervisor and the answer comes back;
- bad input: unknown agent, someone else's desktop or interaction, a stale offer, no Hello,
  malformed bytes.

Usage: agent_state_flow_test.py --routing sb-routing --broker sb-embedded-broker --policy
       sb-policy --agent-state sb-agent-state --root REPO
"""
import atexit
import os
import queue
import shutil
import signal
import tempfile
import threading
import time
import unittest

import sbharness as h

A = h.args()
import grpc  # noqa: E402
from google.protobuf import duration_pb2  # noqa: E402

BREAK_SECONDS = 2
GRACE_MS = 3000


class Desktop:
    """One agent desktop: Connect in a thread; requests from a queue (with a heartbeat every
    300 ms unless paused); events into a queue."""

    def __init__(self, test, addr, tenant, agent, resume_after="", role="agent"):
        self.t = test
        self.p = test.protos.agent
        self.tenant, self.agent = tenant, agent
        self.channel = grpc.insecure_channel(addr)
        self.stub = test.protos.agent_grpc.AgentDesktopStub(self.channel)
        self.requests = queue.Queue()
        self.events = queue.Queue()
        self.seen = []
        self.error = None
        self.ended = threading.Event()
        self.heartbeats = True
        self.n = 0
        hello = self.p.DesktopRequest(request_id="hello", hello=self.p.Hello(
            tenant_id=tenant, agent_id=agent, resume_after=resume_after,
            principal=self.p.Principal(subject=agent, role=role)))
        self.requests.put(hello)
        self.call = self.stub.Connect(self._requests(), timeout=120)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _requests(self):
        while not self.ended.is_set():
            try:
                r = self.requests.get(timeout=0.3)
            except queue.Empty:
                if self.heartbeats:
                    yield self.p.DesktopRequest(heartbeat=self.p.Heartbeat())
                continue
            if r is None:
                return
            yield r

    def _read(self):
        try:
            for e in self.call:
                self.events.put(e)
        except grpc.RpcError as e:
            self.error = e
        finally:
            self.ended.set()

    def send(self, **body):
        self.n += 1
        rid = f"r{self.n}"
        self.requests.put(self.p.DesktopRequest(request_id=rid, **body))
        return rid

    def next(self, kind, pred=lambda e: True, timeout=h.DEADLINE_S):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.agent}: no {kind} within {timeout}s; saw "
                                   f"{[e.WhichOneof('body') for e in self.seen][-15:]} "
                                   f"error={self.error}")
            try:
                e = self.events.get(timeout=min(left, 0.3))
            except queue.Empty:
                if self.ended.is_set() and self.events.empty():
                    raise AssertionError(f"{self.agent}: stream ended before {kind}; saw "
                                         f"{[x.WhichOneof('body') for x in self.seen][-15:]} "
                                         f"error={self.error}")
                continue
            self.seen.append(e)
            if e.WhichOneof("body") == kind and pred(e):
                return e

    def ack(self, rid, timeout=h.DEADLINE_S):
        """The Ack of request `rid`. Acks follow the broker's acknowledgement, so one may arrive
        before or after the events its command causes: look at what was already seen too."""
        for e in self.seen:
            if e.WhichOneof("body") == "ack" and e.ack.request_id == rid:
                return e.ack
        return self.next("ack", lambda e: e.ack.request_id == rid, timeout).ack

    def ok(self, **body):
        a = self.ack(self.send(**body))
        self.t.assertEqual(a.code, 0, f"{self.agent} {list(body)}: {a.reason} {a.message}")
        return a

    def state(self, presence, reason=None, timeout=h.DEADLINE_S):
        return self.next("state", lambda e: e.state.presence == presence and (
            reason is None or e.state.reason == reason), timeout).state

    def last_event_id(self):
        ids = [e.event_id for e in self.seen if e.event_id]
        return ids[-1] if ids else ""

    def close(self):
        self.requests.put(None)
        self.call.cancel()
        self.ended.wait(10)
        self.channel.close()


def house_bundle(root):
    with open(os.path.join(root, "deploy/policies/default.yaml")) as f:
        text = f.read()
    old = "- recovery_break: {minutes: 10, offered: true}\n\n  escalation:"
    assert old in text, "default.yaml changed: update agent_state_flow_test.house_bundle"
    return text.replace(old, f"- recovery_break: {{seconds: {BREAK_SECONDS}, offered: true}}"
                             "\n\n  escalation:")


class AgentStateLifecycle(unittest.TestCase):
    def test_sigterm_tells_desktops_to_reconnect_and_exits_zero(self):
        protos = h.Protos(A.root)
        m, p = protos.model, protos.agent
        with h.Stack() as stack:
            i = stack.start_agent_state()
            proc, addr, _ = stack.agent_states[i]
            routing = grpc.insecure_channel(stack.grpc_addr)
            protos.svc_grpc.ConfigServiceStub(routing).ApplyConfig(protos.svc.ApplyConfigRequest(
                tenant_id="life", agents=[m.AgentProfile(agent_id="ann")]), timeout=15)

            class T:  # what Desktop needs of a test case
                pass
            t = T()
            t.protos = protos
            t.assertEqual = self.assertEqual
            d = h.wait_for("a desktop connects", lambda: (
                lambda x: x if x.next("state", timeout=5) else None)(
                    Desktop(t, addr, "life", "ann")))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(d.next("goodbye").goodbye.reason, "SHUTTING_DOWN")
            self.assertEqual(proc.wait(timeout=20), 0, stack.logs())
            d.close()
            routing.close()


class AgentStateFlow(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        policies = tempfile.mkdtemp(prefix="sb-policies-")
        atexit.register(shutil.rmtree, policies, True)
        with open(os.path.join(policies, "house.yaml"), "w") as f:
            f.write(house_bundle(A.root))
        cls.stack = h.Stack(policy_args=["--policies", policies])
        cls.stack.start_agent_state(["--heartbeat-grace-ms", str(GRACE_MS)])
        cls.addr = cls.stack.agent_states[0][1]
        cls.routing = grpc.insecure_channel(cls.stack.grpc_addr)
        cls.interactions = cls.protos.svc_grpc.InteractionServiceStub(cls.routing)
        cls.config = cls.protos.svc_grpc.ConfigServiceStub(cls.routing)
        cls.sup_channel = grpc.insecure_channel(cls.addr)
        cls.supervisor = cls.protos.agent_grpc.SupervisorStub(cls.sup_channel)
        cls.desktops = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.desktops:
            try:
                d.close()
            except Exception:  # noqa: BLE001
                pass
        cls.routing.close()
        cls.sup_channel.close()
        cls.stack.close()


    # ------------------------------------------------------------------------------------------

    def desktop(self, tenant, agent, addr=None, **kw):
        d = Desktop(self, addr or self.addr, tenant, agent, **kw)
        self.desktops.append(d)
        return d

    def setup_tenant(self, prefix, agents=("ann", "bob", "sue")):
        m, svc = self.protos.model, self.protos.svc
        tenant = h.unique_tenant(prefix)
        secs = lambda s: duration_pb2.Duration(seconds=s)  # noqa: E731
        queues = [  # the escalation queue first: a queue may only name queues already known
            m.Queue(queue_id="supervisors", channel=m.CHANNEL_VOICE,
                    strategy=m.STRATEGY_LONGEST_IDLE, membership="supervisor",
                    offer_timeout=secs(30)),
            m.Queue(queue_id="support", channel=m.CHANNEL_VOICE, strategy=m.STRATEGY_LONGEST_IDLE,
                    membership="!supervisor", offer_timeout=secs(3), wrap_up=secs(60),
                    escalation_queue="supervisors"),
        ]
        profiles = [m.AgentProfile(agent_id=a, name=a.title(), team="t1",
                                   supervisor=(a == "sue")) for a in agents]
        self.config.ApplyConfig(svc.ApplyConfigRequest(tenant_id=tenant, queues=queues,
                                                       agents=profiles), timeout=15)
        # The agent-state projection has the agents once a Hello for the last one succeeds.
        h.wait_for("agent-state knows the agents", lambda: self._knows(tenant, agents[-1]))
        return tenant

    def _knows(self, tenant, agent):
        sup = self.supervisor.WatchFloor(self.protos.agent.WatchFloorRequest(
            tenant_id=tenant, principal=self.protos.agent.Principal(subject="x", role="supervisor")),
            timeout=5)
        try:
            floor = next(sup)
            return agent in [a.agent_id for a in floor.agents]
        finally:
            sup.cancel()

    def enqueue(self, tenant, call, queue_id="support"):
        c, svc = self.protos.commands, self.protos.svc
        self.interactions.Enqueue(svc.EnqueueRequest(tenant_id=tenant, enqueue=c.Enqueue(
            interaction_id=call, queue_id=queue_id)), timeout=10)

    def login(self, d):
        m = self.protos.model
        d.ok(login=self.protos.agent.Login(presence=m.PRESENCE_AVAILABLE))
        return d.state(m.PRESENCE_AVAILABLE)

    # ------------------------------------------------------------------------------------------

    def test_offer_accept_complete_wrap_up_and_a_missed_offer(self):
        m, p = self.protos.model, self.protos.agent
        tenant = self.setup_tenant("life")
        bob = self.desktop(tenant, "bob")
        first = bob.next("state")
        self.assertEqual(first.state.presence, m.PRESENCE_OFFLINE)
        self.login(bob)
        self.enqueue(tenant, "call-1")
        offer_b = bob.next("offer").offer
        self.assertEqual(offer_b.interaction_id, "call-1")
        self.assertEqual(offer_b.queue_id, "support")
        ann = self.desktop(tenant, "ann")
        self.login(ann)
        # bob does not answer: the offer times out, bob goes to aux not_responding...
        gone = bob.next("offer_withdrawn").offer_withdrawn
        self.assertEqual((gone.offer_id, gone.cause), (offer_b.offer_id, "timed_out"))
        bob.state(m.PRESENCE_AUX, "not_responding")
        # ...and the call goes to ann.
        offer_a = ann.next("offer").offer
        self.assertEqual(offer_a.interaction_id, "call-1")
        # A stale offer cannot be accepted, nor someone else's.
        stale = bob.ack(bob.send(accept_offer=p.AcceptOffer(offer_id=offer_b.offer_id)))
        self.assertEqual(stale.reason, "NO_SUCH_OFFER", stale)
        theirs = bob.ack(bob.send(accept_offer=p.AcceptOffer(offer_id=offer_a.offer_id)))
        self.assertEqual(theirs.reason, "NOT_YOUR_OFFER", theirs)
        ann.ok(accept_offer=p.AcceptOffer(offer_id=offer_a.offer_id))
        self.assertEqual(ann.next("assignment").assignment.interaction_id, "call-1")
        # bob cannot act on ann's call.
        not_his = bob.ack(bob.send(complete=p.Complete(interaction_id="call-1")))
        self.assertEqual(not_his.reason, "NOT_YOUR_INTERACTION", not_his)
        rid = ann.send(complete=p.Complete(interaction_id="call-1", disposition="resolved"))
        # The call ends at Complete; the agent's wrap-up follows.
        closed = ann.next("interaction_closed").interaction_closed
        self.assertEqual((closed.interaction_id, closed.reason), ("call-1", "completed"))
        self.assertEqual(ann.next("wrap_up").wrap_up.interaction_id, "call-1")
        self.assertEqual(ann.ack(rid).code, 0)
        ann.ok(end_wrap_up=p.EndWrapUp(interaction_id="call-1", disposition="resolved"))
        state = ann.next("state").state
        self.assertEqual(state.presence, m.PRESENCE_AVAILABLE)
        self.assertEqual(list(state.interactions), [])

    def test_escalation_reaches_a_supervisor_who_joins(self):
        m, p = self.protos.model, self.protos.agent
        tenant = self.setup_tenant("esc")
        sue = self.desktop(tenant, "sue", role="agent")
        self.login(sue)
        ann = self.desktop(tenant, "ann")
        self.login(ann)
        self.enqueue(tenant, "call-e")
        ann.ok(accept_offer=p.AcceptOffer(offer_id=ann.next("offer").offer.offer_id))
        ann.next("assignment")
        ann.ok(escalate=p.Escalate(interaction_id="call-e", reason="caller_requested_manager"))
        task = sue.next("offer").offer
        self.assertEqual(task.escalated_from, "call-e")
        principal = p.Principal(subject="sue", role="supervisor")
        floor = h.wait_for("the escalation is on the floor", lambda: (
            lambda f: f if f.escalations else None)(next(self.supervisor.WatchFloor(
                p.WatchFloorRequest(tenant_id=tenant, principal=principal), timeout=5))))
        self.assertEqual(floor.escalations[0].interaction_id, "call-e")
        self.assertEqual(floor.escalations[0].agent_id, "ann")
        # Only the supervisor it is offered to can join.
        with self.assertRaises(grpc.RpcError) as ctx:
            self.supervisor.JoinEscalation(p.JoinEscalationRequest(
                tenant_id=tenant, principal=p.Principal(subject="bob", role="supervisor"),
                task_id=floor.escalations[0].task_id), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.supervisor.JoinEscalation(p.JoinEscalationRequest(
            tenant_id=tenant, principal=principal, task_id=floor.escalations[0].task_id),
            timeout=10)
        self.assertEqual(sue.next("assignment").assignment.interaction_id, task.interaction_id)
        closed = ann.next("interaction_closed").interaction_closed
        self.assertEqual((closed.interaction_id, closed.reason), ("call-e", "escalated"))

    def test_warned_then_disconnected_caller_and_the_recovery_break(self):
        m, p = self.protos.model, self.protos.agent
        tenant = self.setup_tenant("abuse")
        ann = self.desktop(tenant, "ann")
        self.login(ann)
        self.enqueue(tenant, "call-x")
        ann.ok(accept_offer=p.AcceptOffer(offer_id=ann.next("offer").offer.offer_id))
        ann.next("assignment")
        rid = ann.send(request_disconnect=p.RequestDisconnect(interaction_id="call-x",
                                                              category="racial_slur"))
        # The policy's decision comes first, then the Ack.
        decision = ann.next("decision").decision
        self.assertEqual(decision.rule, "disconnect.not-warned")
        denied = ann.ack(rid)
        self.assertEqual(denied.reason, "DISCONNECT_DENIED", denied)
        self.assertIn("Warn the caller first", denied.message)
        ann.ok(warn_caller=p.WarnCaller(interaction_id="call-x", category="racial_slur"))
        svc = self.protos.svc
        h.wait_for("the warning is recorded", lambda: self.interactions.Get(
            svc.GetInteractionRequest(tenant_id=tenant, interaction_id="call-x"),
            timeout=5).interaction.warnings)
        rid = ann.send(request_disconnect=p.RequestDisconnect(interaction_id="call-x",
                                                              category="racial_slur"))
        allowed = ann.next("decision").decision
        self.assertEqual(allowed.rule, "disconnect.allowed")
        self.assertEqual(ann.ack(rid).code, 0)
        closed = ann.next("interaction_closed").interaction_closed
        self.assertEqual((closed.interaction_id, closed.reason), ("call-x", "agent_disconnected"))
        # The break starts when the agent's wrap-up of the call ends.
        ann.next("wrap_up")
        ann.ok(end_wrap_up=p.EndWrapUp(interaction_id="call-x", disposition="abusive"))
        ann.state(m.PRESENCE_AUX, "recovery")
        timer = ann.next("break_timer").break_timer  # with the state change, from one event
        self.assertEqual(timer.reason, "recovery")
        ann.state(m.PRESENCE_AVAILABLE, timeout=BREAK_SECONDS + 20)

    def test_an_approval_goes_to_a_supervisor_and_the_answer_comes_back(self):
        p = self.protos.agent
        tenant = self.setup_tenant("approve")
        sue = self.desktop(tenant, "sue")
        self.login(sue)
        ann = self.desktop(tenant, "ann")
        self.login(ann)
        # Within the agent's limit: approved by the policy at once.
        rid = ann.send(request_approval=p.RequestApproval(action="credit", amount=20,
                                                          tier="tier1"))
        quick = ann.next("approval_answered").approval_answered
        self.assertTrue(quick.approved)
        self.assertEqual(quick.supervisor, "policy")
        self.assertEqual(ann.ack(rid).code, 0)
        # Above it: "approval required", a task for the supervisors.
        rid = ann.send(request_approval=p.RequestApproval(action="credit", amount=120,
                                                          tier="tier1", note="goodwill"))
        decision = ann.next("decision").decision
        self.assertEqual(decision.rule, "authority.default")
        self.assertEqual(ann.ack(rid).code, 0)
        task = sue.next("offer").offer
        approval_id = task.attributes["approval_id"]
        self.assertEqual(task.attributes["requested_by"], "ann")
        self.assertEqual(task.attributes["action"], "credit")
        principal = p.Principal(subject="sue", role="supervisor")
        # Not before the supervisor took the task.
        with self.assertRaises(grpc.RpcError) as ctx:
            self.supervisor.AnswerApproval(p.AnswerApprovalRequest(
                tenant_id=tenant, principal=principal, approval_id=approval_id, approved=True),
                timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertTrue(ctx.exception.details().startswith("APPROVAL_NOT_ACCEPTED"))
        floor = next(self.supervisor.WatchFloor(p.WatchFloorRequest(
            tenant_id=tenant, principal=principal), timeout=10))
        self.assertEqual([a.approval_id for a in floor.approvals], [approval_id])
        sue.ok(accept_offer=p.AcceptOffer(offer_id=task.offer_id))
        sue.next("assignment")
        h.wait_for("the supervisor can answer", lambda: self._answer(tenant, principal,
                                                                       approval_id))
        answer = ann.next("approval_answered").approval_answered
        self.assertEqual(answer.approval_id, approval_id)
        self.assertTrue(answer.approved)
        self.assertEqual(answer.supervisor, "sue")

    def _answer(self, tenant, principal, approval_id):
        p = self.protos.agent
        try:
            self.supervisor.AnswerApproval(p.AnswerApprovalRequest(
                tenant_id=tenant, principal=principal, approval_id=approval_id, approved=True),
                timeout=10)
            return True
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.FAILED_PRECONDITION:
                return False  # the acceptance is not applied yet
            raise

    def test_verification_is_recorded_and_follows_the_caller_to_the_supervisor(self):
        p = self.protos.agent
        tenant = self.setup_tenant("verify")
        sue = self.desktop(tenant, "sue")
        self.login(sue)
        ann = self.desktop(tenant, "ann")
        self.login(ann)
        self.enqueue(tenant, "call-v")
        offer = ann.next("offer").offer
        self.assertFalse(offer.verified)
        ann.ok(accept_offer=p.AcceptOffer(offer_id=offer.offer_id))
        ann.next("assignment")
        rid = ann.send(record_verification=p.RecordVerification(
            interaction_id="call-v", factor="postcode", passed=False))
        failed = ann.next("decision").decision
        self.assertEqual(failed.rule, "verification.one-factor")
        self.assertEqual(ann.ack(rid).code, 0)
        rid = ann.send(record_verification=p.RecordVerification(
            interaction_id="call-v", factor="date_of_birth", passed=True))
        passed = ann.next("decision").decision
        self.assertEqual(passed.outcome, self.protos.policy.OUTCOME_ALLOW, passed)
        self.assertEqual(ann.ack(rid).code, 0)
        svc = self.protos.svc
        rec = h.wait_for("routing records the caller as verified", lambda: (
            lambda r: r if r.verified else None)(self.interactions.Get(svc.GetInteractionRequest(
                tenant_id=tenant, interaction_id="call-v"), timeout=5).interaction))
        self.assertEqual(list(rec.verified_factors), ["date_of_birth"])
        self.assertEqual(rec.failed_verifications, 1)
        # The supervisor taking the escalation sees a verified caller: not asked again.
        ann.ok(escalate=p.Escalate(interaction_id="call-v", reason="caller_requested_manager"))
        task = sue.next("offer").offer
        self.assertEqual(task.escalated_from, "call-v")
        self.assertTrue(task.verified)
        missing = ann.ack(ann.send(record_verification=p.RecordVerification(
            interaction_id="call-v")))
        self.assertEqual(missing.reason, "MISSING_FIELD", missing)

    def test_metrics_pass_promtool(self):
        import subprocess
        import urllib.request
        promtool = h.require_tool("promtool")
        with urllib.request.urlopen(f"http://{self.stack.agent_states[0][2]}/metrics",
                                    timeout=10) as r:
            text = r.read().decode()
        for name in ("switchboard_agent_state_desktops_connected",
                     "switchboard_agent_state_agents",
                     "switchboard_agent_state_offer_accept_seconds",
                     "switchboard_agent_state_offers_missed_total",
                     "switchboard_agent_state_escalation_join_seconds"):
            self.assertIn(name, text)
        out = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual((out.stdout + out.stderr).strip(), "", out.stdout + out.stderr)

    def test_reconnect_resumes_and_a_second_connection_takes_over(self):
        m, p = self.protos.model, self.protos.agent
        tenant = self.setup_tenant("resume")
        ann = self.desktop(tenant, "ann")
        self.login(ann)
        last = ann.last_event_id()
        self.assertTrue(last)
        ann.close()
        # While the desktop is away (within the grace), an offer arrives.
        self.enqueue(tenant, "call-r")
        again = self.desktop(tenant, "ann", resume_after=last)
        first = again.next("offer")  # what it missed comes first, not a fresh state
        self.assertEqual(first.offer.interaction_id, "call-r")
        self.assertNotIn("state", [e.WhichOneof("body") for e in again.seen[:-1]])
        # A second connection takes over; the first is told so.
        third = self.desktop(tenant, "ann")
        third.next("state")
        bye = again.next("goodbye").goodbye
        self.assertEqual(bye.reason, "TAKEN_OVER")

    def test_a_silent_desktop_goes_aux_disconnected(self):
        m = self.protos.model
        tenant = self.setup_tenant("silent")
        bob = self.desktop(tenant, "bob")
        self.login(bob)
        bob.heartbeats = False
        bye = bob.next("goodbye", timeout=GRACE_MS / 1000 + 15).goodbye
        self.assertEqual(bye.reason, "HEARTBEAT_LOST")
        watcher = self.desktop(tenant, "bob")
        watcher.next("state", lambda e: e.state.presence == m.PRESENCE_AUX
                      and e.state.reason == "disconnected", timeout=15)

    def test_bad_input(self):
        p = self.protos.agent
        tenant = self.setup_tenant("bad")
        cases = [
            (p.DesktopRequest(hello=p.Hello(tenant_id=tenant, agent_id="nobody",
                                            principal=p.Principal(subject="nobody"))),
             grpc.StatusCode.NOT_FOUND, "NO_SUCH_AGENT"),
            (p.DesktopRequest(hello=p.Hello(tenant_id=tenant, agent_id="ann",
                                            principal=p.Principal(subject="bob"))),
             grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_DESKTOP"),
            (p.DesktopRequest(heartbeat=p.Heartbeat()),
             grpc.StatusCode.FAILED_PRECONDITION, "HELLO_FIRST"),
            (p.DesktopRequest(hello=p.Hello(agent_id="ann", principal=p.Principal(subject="ann"))),
             grpc.StatusCode.INVALID_ARGUMENT, "MISSING_FIELD"),
        ]
        stub = self.protos.agent_grpc.AgentDesktopStub(self.sup_channel)
        for req, code, reason in cases:
            with self.subTest(reason=reason):
                with self.assertRaises(grpc.RpcError) as ctx:
                    list(stub.Connect(iter([req]), timeout=10))
                self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
                self.assertTrue(ctx.exception.details().startswith(reason),
                                ctx.exception.details())
        raw = self.sup_channel.stream_stream("/switchboard.agent.v1.AgentDesktop/Connect")
        with self.assertRaises(grpc.RpcError) as ctx:
            list(raw(iter([b"\xff\xff\xff"]), timeout=10))
        self.assertIn(ctx.exception.code(), (grpc.StatusCode.INTERNAL,
                                              grpc.StatusCode.INVALID_ARGUMENT,
                                              grpc.StatusCode.FAILED_PRECONDITION))
        with self.assertRaises(grpc.RpcError) as ctx:
            self.supervisor.ForceState(p.ForceStateRequest(
                tenant_id=tenant, principal=p.Principal(subject="ann", role="agent"),
                agent_id="bob"), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_killing_a_replica_moves_its_desktop_to_another(self):
        m, p = self.protos.model, self.protos.agent
        tenant = self.setup_tenant("replicas")
        second = self.stack.start_agent_state(["--heartbeat-grace-ms", str(GRACE_MS)])
        proc, addr2, _ = self.stack.agent_states[second]
        bob = self.desktop(tenant, "bob", addr=addr2)
        self.login(bob)
        last = bob.last_event_id()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        bob.ended.wait(15)
        self.enqueue(tenant, "call-k")
        moved = self.desktop(tenant, "bob", resume_after=last)
        self.assertEqual(moved.next("offer").offer.interaction_id, "call-k")

    def test_supervisor_message_crosses_replicas_and_interventions_are_recorded(self):
        p = self.protos.agent
        tenant = self.setup_tenant("sup")
        second = self.stack.start_agent_state(["--heartbeat-grace-ms", str(GRACE_MS)])
        _, addr2, _ = self.stack.agent_states[second]
        bob = self.desktop(tenant, "bob", addr=addr2)  # bob's desktop is on the second replica
        self.login(bob)
        sue = p.Principal(subject="sue", role="supervisor")
        # A message sent through the first replica reaches bob's desktop on the second.
        sent = self.supervisor.SendMessage(p.SendMessageRequest(
            tenant_id=tenant, principal=sue, agent_id="bob", text="great call!"), timeout=10)
        self.assertTrue(sent.event_id)
        try:
            msg = bob.next("supervisor_message").supervisor_message
        except TimeoutError:
            print(self.stack.logs())
            raise
        self.assertEqual((msg.__getattribute__("from"), msg.text), ("sue", "great call!"))
        # bob takes a call; sue whispers to him: recorded in sb.agent.events.v1 for the media
        # layer, naming the interaction, the agent and the mode.
        self.enqueue(tenant, "call-w")
        offer = bob.next("offer").offer
        bob.ok(accept_offer=p.AcceptOffer(offer_id=offer.offer_id))
        self.assertEqual(bob.next("assignment").assignment.interaction_id, "call-w")
        h.wait_for("the first replica sees the call connected", lambda: self._connected(
            tenant, "call-w"))
        answer = self.supervisor.Intervene(p.InterveneRequest(
            tenant_id=tenant, principal=sue, interaction_id="call-w", mode="whisper"), timeout=10)
        self.assertEqual(answer.agent_id, "bob")
        consumer = h.kafka_consumer(self.stack.bootstrap)
        try:
            events = [p.AgentEvent.FromString(r.value)
                      for part in range(h.PARTITIONS)
                      for r in h.read_partition(consumer, "sb.agent.events.v1", part)]
        finally:
            consumer.close()
        mine = {e.event_id: e for e in events if e.tenant_id == tenant}
        self.assertIn(answer.intervention_id, mine)
        whisper = mine[answer.intervention_id]
        self.assertEqual(whisper.principal.subject, "sue")
        self.assertEqual((whisper.intervention.interaction_id, whisper.intervention.agent_id,
                          whisper.intervention.mode, whisper.intervention.queue_id),
                         ("call-w", "bob", "whisper", "support"))
        self.assertEqual(mine[sent.event_id].message_sent.text, "great call!")
        # Bad input: nothing is written (DesktopConnected announcements aside).
        supervised = lambda e: e.HasField("message_sent") or e.HasField("intervention")  # noqa
        before = sum(1 for e in mine.values() if supervised(e))
        for req, code, reason in [
            (p.InterveneRequest(tenant_id=tenant, principal=sue, interaction_id="call-w",
                                mode="shout"), grpc.StatusCode.INVALID_ARGUMENT, "BAD_MODE"),
            (p.InterveneRequest(tenant_id=tenant, principal=sue, interaction_id="nope",
                                mode="barge"), grpc.StatusCode.FAILED_PRECONDITION, "NOT_CONNECTED"),
            (p.InterveneRequest(tenant_id=tenant, principal=p.Principal(subject="bob", role="agent"),
                                interaction_id="call-w", mode="monitor"),
             grpc.StatusCode.PERMISSION_DENIED, "NOT_A_SUPERVISOR"),
        ]:
            with self.assertRaises(grpc.RpcError) as ctx:
                self.supervisor.Intervene(req, timeout=10)
            self.assertEqual(ctx.exception.code(), code)
            self.assertTrue(ctx.exception.details().startswith(reason), ctx.exception.details())
        with self.assertRaises(grpc.RpcError) as ctx:
            self.supervisor.SendMessage(p.SendMessageRequest(
                tenant_id=tenant, principal=sue, agent_id="nobody", text="hi"), timeout=10)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)
        consumer = h.kafka_consumer(self.stack.bootstrap)
        try:
            after = sum(1 for part in range(h.PARTITIONS)
                        for r in h.read_partition(consumer, "sb.agent.events.v1", part)
                        for e in [p.AgentEvent.FromString(r.value)]
                        if e.tenant_id == tenant and supervised(e))
        finally:
            consumer.close()
        self.assertEqual(after, before)
        # bob's desktop moves to the first replica: the second closes its session (TAKEN_OVER),
        # and the moved desktop resumes with the call still on it.
        moved = self.desktop(tenant, "bob", resume_after=bob.last_event_id())
        self.assertEqual(bob.next("goodbye").goodbye.reason, "TAKEN_OVER")
        moved.ok(complete=p.Complete(interaction_id="call-w", disposition="resolved"))
        self.assertEqual(moved.next("interaction_closed").interaction_closed.interaction_id,
                         "call-w")

    def _connected(self, tenant, interaction):
        sup = self.supervisor.WatchFloor(self.protos.agent.WatchFloorRequest(
            tenant_id=tenant, principal=self.protos.agent.Principal(subject="x", role="supervisor")),
            timeout=5)
        try:
            # An agent's `interactions` hold what is connected (or in wrap-up); the floor's
            # interaction list also shows ones merely offered, which Intervene refuses.
            return any(interaction in a.interactions for a in next(sup).agents)
        finally:
            sup.cancel()


if __name__ == "__main__":
    h.run_tests()
