#!/usr/bin/env python3
"""sb-recording with sb-routing, sb-policy and the embedded broker, on a PostgreSQL this test
starts itself (initdb in a temp dir, as `nobody` when run as root, unix socket only), through
independent clients (python3-grpcio with protoc-generated stubs, psql, promtool, the switchboard
CLI).

- A connected call is recorded; policy "recording" decisions pause it while card data is spoken
  and resume it; the recording's gaps are exactly the paused spans; completing the call stops it.
- Media uploads: good ones are stored with their SHA-256 and played back (audited); a chunk out
  of order, a checksum mismatch and an oversized upload are refused with stable reasons and
  nothing partial is stored. Wrong roles and unknown ids get clear errors.
- The audit log is hash-chained: an UPDATE of one row in PostgreSQL is detected by VerifyAudit
  and by `switchboard audit verify` (exit 1); restoring the row makes it verify again.
- EraseCustomer removes an erased customer's media file and personal fields.
- Reviews (the ReviewService/FeedbackService side): a disconnect allowed by policy opens a
  mandatory review; an escalation opens one; a low CSAT opens one; a reviewer scores it, the agent
  disputes and the supervisor resolves.
- sb.recording.events.v1 carries the recording's states, the review's states and the audit
  chain's heads.
- /metrics passes `promtool check metrics`; SIGTERM exits 0; a restart replays both topics from
  the beginning and the dedupe keeps the audit log (and everything else) unchanged.

Usage: recording_flow_test.py --routing sb-routing --broker sb-embedded-broker --policy sb-policy
       --recording sb-recording [--switchboard switchboard] --root REPO
"""
import atexit
import glob
import hashlib
import os
import pwd
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
MAX_UPLOAD = 64 * 1024


# ----------------------------------------------------------------------------------------------
# A private PostgreSQL (the approach of services/recording/storage/testing/postgres_server.cc)


class PostgresServer:
    """initdb + postgres in a fresh /tmp dir, listening on a unix socket only. As `nobody` when
    we are root (initdb refuses root)."""

    def __init__(self):
        self.bindir = self._bindir()
        self.dir = tempfile.mkdtemp(prefix="sb-pg-", dir="/tmp")
        self.proc = None
        self.port = 5432  # names the socket file inside our private dir only
        self.demote = None
        if os.geteuid() == 0:
            pw = pwd.getpwnam("nobody")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            uid, gid = pw.pw_uid, pw.pw_gid

            def demote():
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                h._die_with_parent()

            self.demote = demote
        log = open(os.path.join(self.dir, "server.log"), "w")
        data = os.path.join(self.dir, "data")
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
        p = subprocess.run([os.path.join(self.bindir, "initdb"), "-D", data, "-U", "postgres",
                            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
                           stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.demote, env=env,
                           timeout=120)
        assert p.returncode == 0, f"initdb failed:\n{self.log()}"
        self.proc = subprocess.Popen(
            [os.path.join(self.bindir, "postgres"), "-D", data, "-k", self.dir, "-p",
             str(self.port), "-c", "listen_addresses=", "-c", "fsync=off", "-c",
             "synchronous_commit=off", "-c", "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, preexec_fn=self.demote or h._die_with_parent,
            env=env)
        h._CHILDREN.append(self.proc)
        atexit.register(self.close)
        h.wait_for("postgres accepts connections",
                   lambda: self.psql("postgres", "SELECT 1").strip() == "1", timeout=60)

    @staticmethod
    def _bindir():
        env = os.environ.get("SB_PG_BINDIR")
        if env:
            return env
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                       key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if not found:
            print("SKIP: PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin; "
                  "tools/bootstrap installs them)", file=os.sys.stderr)
            os.sys.exit(h.SKIP)
        return os.path.dirname(found[-1])

    def log(self):
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def url(self, db):
        return f"postgresql://postgres@/{db}?host={self.dir}&port={self.port}"

    def psql(self, db, sql):
        psql = os.path.join(self.bindir, "psql")
        if not os.path.exists(psql):
            psql = shutil.which("psql")
        p = subprocess.run([psql, "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.dir,
                            "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"psql: {p.stderr}")
        return p.stdout

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if os.environ.get("SB_KEEP_TEST_DIR") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def house_bundle(root):
    """The shipped default bundle, with a 1-second recovery break after a disconnect."""
    with open(os.path.join(root, "deploy/policies/default.yaml")) as f:
        text = f.read()
    old = "- recovery_break: {minutes: 10, offered: true}\n\n  escalation:"
    assert old in text, "default.yaml changed: update recording_flow_test.house_bundle"
    return text.replace(old, "- recovery_break: {seconds: 1, offered: true}\n\n  escalation:")


def ms(ts):
    return ts.seconds * 1000 + ts.nanos // 1000000


class RecordingFlow(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.pg = PostgresServer()
        cls.pg.psql("postgres", "CREATE DATABASE recording")
        cls.policies = tempfile.mkdtemp(prefix="sb-policies-")
        atexit.register(shutil.rmtree, cls.policies, True)
        with open(os.path.join(cls.policies, "house.yaml"), "w") as f:
            f.write(house_bundle(A.root))
        cls.stack = h.Stack(policy_args=["--policies", cls.policies])
        cls.media = os.path.join(cls.stack.dir, "media")
        cls.stack.start_recording(["--store", cls.pg.url("recording"), "--media-dir", cls.media,
                                   "--max-upload-bytes", str(MAX_UPLOAD),
                                   "--gauges-interval-ms", "200"])
        cls.routing_channel = grpc.insecure_channel(cls.stack.grpc_addr)
        cls.policy_channel = grpc.insecure_channel(cls.stack.policy_addr)
        cls.recording_channel = grpc.insecure_channel(cls.stack.recording_addr)
        cls.interactions = cls.protos.svc_grpc.InteractionServiceStub(cls.routing_channel)
        cls.config = cls.protos.svc_grpc.ConfigServiceStub(cls.routing_channel)
        cls.policy = cls.protos.policy_grpc.PolicyServiceStub(cls.policy_channel)
        rg = cls.protos.recording_grpc
        cls.recordings = rg.RecordingServiceStub(cls.recording_channel)
        cls.reviews = rg.ReviewServiceStub(cls.recording_channel)
        cls.feedback = rg.FeedbackServiceStub(cls.recording_channel)
        cls.producer = h.kafka_producer(cls.stack.bootstrap)
        try:
            cls.reviews.ListReviews(cls.protos.recording.ListReviewsRequest(
                tenant_id="probe", principal=cls.principal("qa_reviewer", "probe")), timeout=10)
            cls.reviews_missing = None
        except grpc.RpcError as e:
            cls.reviews_missing = (
                None if e.code() != grpc.StatusCode.UNIMPLEMENTED else
                "sb-recording serves no ReviewService/FeedbackService yet (the review side, "
                "services/recording/service/reviews.cmake -> sb_recording_reviews, is not built "
                "in)")

    @classmethod
    def tearDownClass(cls):
        for closer in (lambda: cls.routing_channel.close(), lambda: cls.policy_channel.close(),
                       lambda: cls.recording_channel.close(),
                       lambda: cls.producer.close(timeout=5)):
            try:
                closer()
            except Exception:  # noqa: BLE001
                pass
        cls.stack.close()
        cls.pg.close()

    # ------------------------------------------------------------------------------------------

    @classmethod
    def principal(cls, role, subject, teams=()):
        return cls.protos.recording.Principal(role=role, subject=subject, teams=list(teams))

    def admin(self):
        return self.principal("admin", "ops")

    def require_reviews(self):
        if self.reviews_missing:
            self.skipTest(self.reviews_missing)

    def evaluate(self, tenant, kind, input_obj=None, **fields):
        p = self.protos.policy
        req = p.EvaluateRequest(tenant_id=tenant, kind=kind, **fields)
        if input_obj is not None:
            json_format.ParseDict(input_obj, req.input)
        return self.policy.Evaluate(req, timeout=10).decision

    def get_or_none(self, tenant, call):
        try:
            return self.interactions.Get(self.protos.svc.GetInteractionRequest(
                tenant_id=tenant, interaction_id=call), timeout=5).interaction
        except grpc.RpcError as e:
            if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                return None
            raise

    def connected_call(self, tenant, agent, call, customer="cust-1", team="blue"):
        """A queue, an agent (of `team`) logged in, a call (of `customer`) offered and
        accepted."""
        m, c, svc = self.protos.model, self.protos.commands, self.protos.svc
        h.wait_for("ApplyConfig", lambda: self.config.ApplyConfig(svc.ApplyConfigRequest(
            tenant_id=tenant,
            queues=[m.Queue(queue_id="support", channel=m.CHANNEL_VOICE,
                            strategy=m.STRATEGY_LONGEST_IDLE)],
            agents=[m.AgentProfile(agent_id=agent, name="Ann", team=team)]), timeout=15))
        h.wait_for("the agent is known", lambda: self.config.ListAgents(
            svc.ListAgentsRequest(tenant_id=tenant), timeout=5).agents)
        h.send_command(self.producer, self.protos, tenant, "login",
                       c.Login(agent_id=agent, presence=m.PRESENCE_AVAILABLE))
        self.interactions.Enqueue(svc.EnqueueRequest(tenant_id=tenant, enqueue=c.Enqueue(
            interaction_id=call, queue_id="support", attributes={"customer_id": customer})),
            timeout=10)
        rec = h.wait_for("the call is offered", lambda: (
            lambda r: r if r is not None and r.state == m.INTERACTION_STATE_OFFERED else None)(
                self.get_or_none(tenant, call)))
        h.send_command(self.producer, self.protos, tenant, "accept_offer",
                       c.AcceptOffer(agent_id=agent, offer_id=rec.offer_id))
        h.wait_for("the call is connected", lambda: (
            lambda r: r if r is not None and r.state == m.INTERACTION_STATE_CONNECTED else None)(
                self.get_or_none(tenant, call)))

    def recording(self, tenant, rec_id, principal=None):
        return self.recordings.GetRecording(self.protos.recording.GetRecordingRequest(
            tenant_id=tenant, principal=principal or self.admin(), recording_id=rec_id),
            timeout=5)

    def wait_state(self, tenant, rec_id, state, what):
        return h.wait_for(what, lambda: (lambda r: r if r.state == state else None)(
            self.recording(tenant, rec_id)))

    def upload(self, tenant, rec_id, chunks, sha, total, principal=None):
        r = self.protos.recording

        def messages():
            for i, (seq, data) in enumerate(chunks):
                msg = r.MediaChunk(seq=seq, data=data)
                if i == 0:
                    msg.header.CopyFrom(r.MediaHeader(
                        tenant_id=tenant, principal=principal or self.admin(),
                        recording_id=rec_id, total_bytes=total, sha256=sha))
                yield msg

        return self.recordings.UploadMedia(messages(), timeout=20)

    def play(self, tenant, rec_id, principal, export=False):
        chunks = list(self.recordings.PlayRecording(self.protos.recording.PlayRecordingRequest(
            tenant_id=tenant, principal=principal, recording_id=rec_id, export=export),
            timeout=20))
        self.assertEqual([c.seq for c in chunks], list(range(len(chunks))))
        return b"".join(c.data for c in chunks)

    def media_files(self):
        out = []
        for dirpath, _, names in os.walk(self.media):
            out.extend(os.path.join(dirpath, n) for n in names)
        return out

    def audit_actions(self, tenant, rec_id):
        resp = self.recordings.ListAudit(self.protos.recording.ListAuditRequest(
            principal=self.admin(), tenant_id=tenant, recording_id=rec_id, limit=1000),
            timeout=10)
        return [e.action for e in resp.entries]

    def assert_rpc_error(self, code, reason, fn):
        with self.assertRaises(grpc.RpcError) as ctx:
            fn()
        self.assertEqual(ctx.exception.code(), code, ctx.exception.details())
        self.assertTrue(ctx.exception.details().startswith(reason + ":"),
                        ctx.exception.details())
        return ctx.exception

    def recording_events(self, tenant):
        consumer = h.kafka_consumer(self.stack.bootstrap)
        try:
            out = []
            for part in range(h.PARTITIONS):
                for r in h.read_partition(consumer, "sb.recording.events.v1", part):
                    e = self.protos.recording.RecordingEvent.FromString(r.value)
                    if e.tenant_id == tenant:
                        out.append((r.timestamp, part, r.offset, e))
            # One interaction's events share a key, hence a partition: their order is kept.
            return [e for _, _, _, e in sorted(out, key=lambda x: (x[1], x[2]))]
        finally:
            consumer.close()

    def reviews_of(self, tenant, call, kind=None):
        resp = self.reviews.ListReviews(self.protos.recording.ListReviewsRequest(
            tenant_id=tenant, principal=self.principal("qa_reviewer", "quinn"),
            interaction_id=call, kind=kind or ""), timeout=10)
        return list(resp.reviews)

    # ------------------------------------------------------------------------------------------

    def test_recording_follows_the_call_and_its_gaps_are_the_pauses(self):
        tenant, agent, call = h.unique_tenant("rec"), "ann", "call-1"
        rec_id = f"{call}/rec"
        self.connected_call(tenant, agent, call)
        rs = self.protos.recording
        rec = self.wait_state(tenant, rec_id, rs.RECORDING_STATE_RECORDING, "recording started")
        self.assertEqual(rec.agent_id, agent)
        self.assertEqual(rec.queue_id, "support")
        self.assertEqual(rec.customer_id, "cust-1")
        started = ms(rec.started_at)

        # Card data: policy pauses; done: policy allows (resume); card data again; then the
        # call completes while paused (the open pause is closed at the stop).
        pause1 = self.evaluate(tenant, "recording", {"request": {"sensitive": "payment_card"}},
                               interaction_id=call, agent_id=agent)
        self.assertEqual([o.WhichOneof("kind") for o in pause1.obligations], ["pause_recording"])
        self.wait_state(tenant, rec_id, rs.RECORDING_STATE_PAUSED, "paused")
        resume = self.evaluate(tenant, "recording", {"request": {"direction": "inbound"}},
                               interaction_id=call, agent_id=agent)
        self.assertEqual(resume.outcome, self.protos.policy.OUTCOME_ALLOW)
        self.wait_state(tenant, rec_id, rs.RECORDING_STATE_RECORDING, "resumed")
        pause2 = self.evaluate(tenant, "recording", {"request": {"sensitive": "payment_card"}},
                               interaction_id=call, agent_id=agent)
        self.wait_state(tenant, rec_id, rs.RECORDING_STATE_PAUSED, "paused again")
        h.send_command(self.producer, self.protos, tenant, "complete",
                       self.protos.commands.Complete(agent_id=agent, interaction_id=call))
        rec = self.wait_state(tenant, rec_id, rs.RECORDING_STATE_STOPPED, "stopped")
        self.assertEqual(len(rec.gaps), 2, rec)
        self.assertEqual((rec.gaps[0].start_offset_ms, rec.gaps[0].end_offset_ms),
                         (ms(pause1.time) - started, ms(resume.time) - started))
        self.assertEqual(rec.gaps[0].reason, "payment_card")
        self.assertEqual(rec.gaps[1].start_offset_ms, ms(pause2.time) - started)
        self.assertGreaterEqual(rec.gaps[1].end_offset_ms, rec.gaps[1].start_offset_ms)
        self.assertEqual(self.audit_actions(tenant, rec_id),
                         ["start", "pause", "resume", "pause", "stop"])
        # sb.recording.events.v1 tells the same story, with the audit chain's head after each
        # append (keyed by the interaction / the tenant).
        events = h.wait_for("the recording events", lambda: (
            lambda evs: evs if len([e for e in evs if e.WhichOneof("body") == "recording_changed"])
            >= 5 else None)(self.recording_events(tenant)))
        states = [e.recording_changed.state for e in events
                  if e.WhichOneof("body") == "recording_changed"]
        self.assertEqual(states[:5], [rs.RECORDING_STATE_RECORDING, rs.RECORDING_STATE_PAUSED,
                                      rs.RECORDING_STATE_RECORDING, rs.RECORDING_STATE_PAUSED,
                                      rs.RECORDING_STATE_STOPPED])
        heads = [e.audit_head.seq for e in events if e.WhichOneof("body") == "audit_head"]
        self.assertGreaterEqual(len(heads), 5)
        self.assertEqual(heads, sorted(heads))

        # The media: stored with its SHA-256, played back by the agent (audited), not by another.
        media = os.urandom(20000)
        up = self.upload(tenant, rec_id, [(0, media[:8000]), (1, media[8000:16000]),
                                          (2, media[16000:])],
                         hashlib.sha256(media).hexdigest(), len(media))
        self.assertEqual((up.bytes, up.chunks), (len(media), 3))
        self.assertEqual(self.play(tenant, rec_id, self.principal("agent", agent)), media)
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN",
                              lambda: self.play(tenant, rec_id, self.principal("agent", "bob")))
        self.assertEqual(self.play(tenant, rec_id, self.principal("qa_reviewer", "q"),
                                   export=True), media)
        self.assertEqual(self.audit_actions(tenant, rec_id)[-3:], ["upload", "play", "export"])
        if A.switchboard:
            p = subprocess.run([A.switchboard, "audit", "list", "--server",
                                self.stack.recording_addr, "--tenant", tenant, "--recording",
                                rec_id], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("export", p.stdout)

    def test_bad_input_gets_clear_errors_and_stores_nothing(self):
        tenant, agent, call = h.unique_tenant("bad"), "ann", "call-2"
        rec_id = f"{call}/rec"
        rs = self.protos.recording
        S = grpc.StatusCode
        # Wrong role: an agent cannot start recordings; no principal: UNAUTHENTICATED.
        self.assert_rpc_error(S.PERMISSION_DENIED, "ROLE", lambda: self.recordings.StartRecording(
            rs.StartRecordingRequest(tenant_id=tenant, principal=self.principal("agent", agent),
                                     interaction_id=call), timeout=5))
        self.assert_rpc_error(S.UNAUTHENTICATED, "NO_PRINCIPAL", lambda: self.recording(
            tenant, rec_id, principal=rs.Principal()))
        # Unknown ids.
        self.assert_rpc_error(S.NOT_FOUND, "NOT_FOUND", lambda: self.recording(tenant, "nope"))
        self.assert_rpc_error(S.NOT_FOUND, "NOT_FOUND", lambda: self.recordings.PauseRecording(
            rs.RecordingActionRequest(tenant_id=tenant, principal=self.admin(),
                                      recording_id="nope", offset_ms=5), timeout=5))
        self.recordings.StartRecording(rs.StartRecordingRequest(
            tenant_id=tenant, principal=self.admin(), interaction_id=call, agent_id=agent),
            timeout=5)
        before = self.media_files()
        media = os.urandom(3000)
        sha = hashlib.sha256(media).hexdigest()
        self.assert_rpc_error(S.INVALID_ARGUMENT, "CHUNK_OUT_OF_ORDER", lambda: self.upload(
            tenant, rec_id, [(0, media[:1000]), (2, media[1000:])], sha, len(media)))
        self.assert_rpc_error(S.DATA_LOSS, "CHECKSUM_MISMATCH", lambda: self.upload(
            tenant, rec_id, [(0, media[:1000]), (1, media[1000:])],
            hashlib.sha256(b"other").hexdigest(), len(media)))
        big = os.urandom(MAX_UPLOAD // 2 + 1)
        self.assert_rpc_error(S.RESOURCE_EXHAUSTED, "TOO_LARGE", lambda: self.upload(
            tenant, rec_id, [(0, big), (1, big)], hashlib.sha256(big + big).hexdigest(), 0))
        self.assert_rpc_error(S.RESOURCE_EXHAUSTED, "TOO_LARGE", lambda: self.upload(
            tenant, rec_id, [(0, media)], sha, MAX_UPLOAD + 1))
        self.assert_rpc_error(S.NOT_FOUND, "NOT_FOUND", lambda: self.upload(
            tenant, "nope", [(0, media)], sha, len(media)))
        self.assert_rpc_error(S.PERMISSION_DENIED, "ROLE", lambda: self.upload(
            tenant, rec_id, [(0, media)], sha, len(media), principal=self.principal("agent", agent)))
        # Nothing partial: no file (not even a temp file), no media on the recording, no upload
        # in the audit log.
        self.assertEqual(self.media_files(), before)
        rec = self.recording(tenant, rec_id)
        self.assertEqual((rec.media_bytes, rec.media_sha256), (0, ""))
        self.assertNotIn("upload", self.audit_actions(tenant, rec_id))
        self.assert_rpc_error(S.FAILED_PRECONDITION, "NO_MEDIA",
                              lambda: self.play(tenant, rec_id, self.admin()))
        # The good upload still works afterwards.
        self.upload(tenant, rec_id, [(0, media)], sha, len(media))
        self.assertEqual(self.recording(tenant, rec_id).media_sha256, sha)
        text = urllib.request.urlopen(
            f"http://{self.stack.recording_metrics_addr}/metrics", timeout=10).read().decode()
        self.assertIn('switchboard_recording_upload_errors_total{reason="CHECKSUM_MISMATCH"}', text)

    def test_tampering_with_an_audit_row_is_detected(self):
        tenant = h.unique_tenant("tamper")
        rs = self.protos.recording
        self.recordings.StartRecording(rs.StartRecordingRequest(
            tenant_id=tenant, principal=self.admin(), interaction_id="call-t"), timeout=5)
        ok = self.recordings.VerifyAudit(rs.VerifyAuditRequest(principal=self.admin()), timeout=30)
        self.assertTrue(ok.ok, ok)
        self.assertGreater(ok.entries_checked, 0)
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "ROLE",
                              lambda: self.recordings.VerifyAudit(rs.VerifyAuditRequest(
                                  principal=self.principal("supervisor", "sue")), timeout=10))
        seq = int(self.pg.psql("recording", f"SELECT seq FROM audit_log WHERE tenant_id = "
                                            f"'{tenant}' ORDER BY seq LIMIT 1").strip())
        original = self.pg.psql("recording", f"SELECT detail FROM audit_log WHERE seq = {seq}")
        original = original.rstrip("\n")
        self.pg.psql("recording", f"UPDATE audit_log SET detail = 'nothing happened here' "
                                  f"WHERE seq = {seq}")
        try:
            bad = self.recordings.VerifyAudit(rs.VerifyAuditRequest(principal=self.admin()),
                                              timeout=30)
            self.assertFalse(bad.ok)
            self.assertEqual((bad.first_bad_seq, bad.reason), (seq, "EDITED"), bad)
            if A.switchboard:
                p = subprocess.run([A.switchboard, "audit", "verify", "--server",
                                    self.stack.recording_addr], capture_output=True, text=True,
                                   timeout=30)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("TAMPERED", p.stdout)
                self.assertIn(f"seq {seq}", p.stdout)
        finally:
            escaped = original.replace("'", "''")
            self.pg.psql("recording", f"UPDATE audit_log SET detail = '{escaped}' WHERE seq = {seq}")
        again = self.recordings.VerifyAudit(rs.VerifyAuditRequest(principal=self.admin()),
                                            timeout=30)
        self.assertTrue(again.ok, again)
        if A.switchboard:
            p = subprocess.run([A.switchboard, "audit", "verify", "--server",
                                self.stack.recording_addr], capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("audit chain OK", p.stdout)
            p = subprocess.run([A.switchboard, "audit", "verify", "--server", "127.0.0.1:1",
                                "--timeout", "2"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stdout + p.stderr)

    def test_an_erased_customers_media_is_gone(self):
        tenant, agent, call = h.unique_tenant("erase"), "ann", "call-e"
        rec_id = f"{call}/rec"
        rs = self.protos.recording
        self.connected_call(tenant, agent, call, customer="cust-erase")
        self.wait_state(tenant, rec_id, rs.RECORDING_STATE_RECORDING, "recording started")
        media = os.urandom(5000)
        self.upload(tenant, rec_id, [(0, media)], hashlib.sha256(media).hexdigest(), len(media))
        files = [f for f in self.media_files() if tenant in f]
        self.assertEqual(len(files), 1, self.media_files())
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "ROLE",
                              lambda: self.recordings.EraseCustomer(rs.EraseCustomerRequest(
                                  tenant_id=tenant, principal=self.principal("supervisor", "s"),
                                  customer_id="cust-erase"), timeout=10))
        erased = self.recordings.EraseCustomer(rs.EraseCustomerRequest(
            tenant_id=tenant, principal=self.principal("admin", "privacy-officer"),
            customer_id="cust-erase"), timeout=10)
        self.assertEqual(list(erased.erased_recording_ids), [rec_id])
        self.assertFalse(os.path.exists(files[0]))
        rec = self.recording(tenant, rec_id)
        self.assertEqual(rec.state, rs.RECORDING_STATE_ERASED)
        self.assertEqual((rec.customer_id, rec.media_bytes), ("", 0))
        self.assertEqual(self.audit_actions(tenant, rec_id)[-1], "erase")

    # ---- reviews (ReviewService / FeedbackService) -------------------------------------------

    def answers(self):
        r = self.protos.recording
        import yaml
        with open(os.path.join(A.root, "deploy/recording/forms/default.yaml")) as f:
            form = yaml.safe_load(f)
        out = []
        for section in form["sections"]:
            for q in section["questions"]:
                t = q.get("type")
                value = 1 if t == "yes_no" else (4 if t == "scale" else 2)
                out.append(r.Answer(question_id=q["id"], value=value))
        return out

    def test_a_disconnect_allowed_by_policy_opens_a_mandatory_review_then_dispute(self):
        self.require_reviews()
        tenant, agent, call = h.unique_tenant("dis"), "ann", "call-d"
        rs = self.protos.recording
        self.connected_call(tenant, agent, call, team="blue")
        h.send_command(self.producer, self.protos, tenant, "warn_caller",
                       self.protos.commands.WarnCaller(agent_id=agent, interaction_id=call,
                                                       category="racial_slur"))
        h.wait_for("the warning is on the interaction",
                   lambda: [w.category for w in self.get_or_none(tenant, call).warnings]
                   == ["racial_slur"])
        allowed = self.evaluate(tenant, "disconnect", {"request": {"category": "racial_slur"}},
                                agent_id=agent, interaction_id=call)
        self.assertEqual(allowed.outcome, self.protos.policy.OUTCOME_ALLOW, allowed)
        reviews = h.wait_for("a DISCONNECT review", lambda: self.reviews_of(tenant, call,
                                                                            "DISCONNECT"))
        self.assertEqual(len(reviews), 1)
        review = reviews[0]
        self.assertTrue(review.mandatory)
        self.assertEqual((review.agent_id, review.state), (agent, "OPEN"))
        # The recording stopped with the call.
        self.wait_state(tenant, f"{call}/rec", rs.RECORDING_STATE_STOPPED, "recording stopped")

        # A reviewer scores it; the agent disputes; the team's supervisor resolves.
        ev = self.reviews.SubmitEvaluation(rs.SubmitEvaluationRequest(
            tenant_id=tenant, principal=self.principal("qa_reviewer", "quinn"),
            review_id=review.review_id, answers=self.answers(),
            comments=[rs.Comment(offset_ms=1500, text="warned clearly")]), timeout=10)
        self.assertGreater(ev.score, 0)
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "NOT_OWN",
                              lambda: self.reviews.Dispute(rs.ReviewActionRequest(
                                  tenant_id=tenant, principal=self.principal("agent", "bob"),
                                  review_id=review.review_id, reason="not mine"), timeout=10))
        disputed = self.reviews.Dispute(rs.ReviewActionRequest(
            tenant_id=tenant, principal=self.principal("agent", agent),
            review_id=review.review_id, reason="the caller was abusive"), timeout=10)
        self.assertEqual(disputed.state, "DISPUTED")
        resolved = self.reviews.ResolveDispute(rs.ResolveDisputeRequest(
            tenant_id=tenant, principal=self.principal("supervisor", "sue", [review.team_id]),
            review_id=review.review_id, resolution="UPHELD", note="policy followed"), timeout=10)
        self.assertEqual(resolved.state, "RESOLVED")
        # Each step was published on sb.recording.events.v1.
        h.wait_for("review_changed events up to RESOLVED", lambda: "RESOLVED" in [
            e.review_changed.state for e in self.recording_events(tenant)
            if e.WhichOneof("body") == "review_changed"])
        # The supervisor of the team may now play the recording; another team's may not.
        self.recording(tenant, f"{call}/rec", principal=self.principal("supervisor", "sue",
                                                                       [review.team_id]))
        self.assert_rpc_error(grpc.StatusCode.PERMISSION_DENIED, "NOT_TEAM",
                              lambda: self.recording(tenant, f"{call}/rec", principal=self.principal(
                                  "supervisor", "sam", ["red"])))

    def test_an_escalation_opens_a_review(self):
        self.require_reviews()
        tenant, agent, call = h.unique_tenant("esc"), "ann", "call-x"
        self.connected_call(tenant, agent, call)
        decision = self.evaluate(tenant, "escalation",
                                 {"request": {"reason": "caller_requested_manager"}},
                                 agent_id=agent, interaction_id=call)
        self.assertEqual(decision.outcome, self.protos.policy.OUTCOME_ALLOW, decision)
        reviews = h.wait_for("an ESCALATION review",
                             lambda: self.reviews_of(tenant, call, "ESCALATION"))
        self.assertEqual(len(reviews), 1)
        self.assertTrue(reviews[0].mandatory)

    def test_a_low_csat_opens_a_review(self):
        self.require_reviews()
        tenant, agent, call = h.unique_tenant("csat"), "ann", "call-c"
        self.connected_call(tenant, agent, call)
        h.send_command(self.producer, self.protos, tenant, "complete",
                       self.protos.commands.Complete(agent_id=agent, interaction_id=call))
        self.wait_state(tenant, f"{call}/rec", self.protos.recording.RECORDING_STATE_STOPPED,
                        "recording stopped")
        fb = h.wait_for("feedback accepted with the agent known", lambda: (
            lambda f: f if f.agent_id == agent else None)(self.feedback.SubmitFeedback(
                self.protos.recording.SubmitFeedbackRequest(
                    tenant_id=tenant, interaction_id=call, csat=1,
                    comment="the agent was rude and unhelpful"), timeout=10)))
        self.assertEqual(fb.cause, "AGENT", fb)
        self.assertTrue(fb.review_id)
        reviews = h.wait_for("a LOW_CSAT review", lambda: self.reviews_of(tenant, call,
                                                                          "LOW_CSAT"))
        self.assertEqual(reviews[0].review_id, fb.review_id)

    # ---- operations ---------------------------------------------------------------------------

    def test_metrics_pass_promtool_and_count(self):
        def scrape():
            return urllib.request.urlopen(
                f"http://{self.stack.recording_metrics_addr}/metrics", timeout=10).read().decode()

        text = scrape()
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        for name in ("switchboard_recording_recordings_active",
                     "switchboard_recording_media_stored_bytes",
                     'switchboard_recording_reviews_open{kind="DISCONNECT"}',
                     'switchboard_recording_consumer_lag_records{topic="sb.routing.events.v1"}',
                     "switchboard_recording_events_consumed_total"):
            self.assertIn(name, text)

    def test_zz_sigterm_exits_0_and_a_restart_replays_without_duplicates(self):
        # Last (unittest runs tests in name order): the other tests need the service.
        rows = self.pg.psql("recording", "SELECT count(*) FROM audit_log").strip()
        self.assertEqual(self.stack.stop_recording(), 0)
        # A restart reads both topics from the beginning again (`ready` once caught up): the
        # dedupe marks make every replayed event a no-op, so the audit log does not grow.
        self.stack.start_recording(["--store", self.pg.url("recording"), "--media-dir",
                                    self.media])
        channel = grpc.insecure_channel(self.stack.recording_addr)
        try:
            stub = self.protos.recording_grpc.RecordingServiceStub(channel)
            ok = stub.VerifyAudit(self.protos.recording.VerifyAuditRequest(
                principal=self.admin()), timeout=30)
            self.assertTrue(ok.ok, ok)
            self.assertEqual(str(ok.entries_checked), rows)
        finally:
            channel.close()
        self.assertEqual(self.pg.psql("recording", "SELECT count(*) FROM audit_log").strip(), rows)
        self.assertEqual(self.stack.stop_recording(), 0)


if __name__ == "__main__":
    h.run_tests()
