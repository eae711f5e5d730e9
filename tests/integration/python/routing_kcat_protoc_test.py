#!/usr/bin/env python3
"""What sb-routing writes to Kafka, read by kcat and decoded by `protoc --decode`: no python
protobuf and no Switchboard code on the reading side, only the .proto files.

After ApplyConfig and Enqueue over gRPC, sb.routing.events.v1 holds QueueUpserted and
InteractionQueued for the tenant, keyed by tenant, with event ids "<partition>/<offset>/<index>";
the record at the (partition, offset) Enqueue returned in sb.routing.commands.v1 is that Enqueue.

kcat framing: `-f '%p %o %S %k\\n%s'` prints a text header with the payload's exact length before
each binary payload, so a payload holding newlines or any other byte cannot break the split.

Usage: routing_kcat_protoc_test.py --routing sb-routing --broker sb-embedded-broker --root REPO
"""
import os
import re
import subprocess
import unittest
import uuid

import sbharness as h

A = h.args()
KCAT = h.require_tool("kcat")
PROTOC = h.require_tool("protoc")
import grpc  # noqa: E402


def kcat_records(bootstrap, topic, *extra):
    """Every record of `topic` (all partitions, from the beginning, to the current end) as
    (partition, offset, key, payload bytes)."""
    p = subprocess.run([KCAT, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q",
                        "-f", "%p %o %S %k\n%s", *extra], capture_output=True, timeout=60)
    assert p.returncode == 0, f"kcat exit {p.returncode}: {p.stderr.decode(errors='replace')}"
    out, pos, records = p.stdout, 0, []
    while pos < len(out):
        nl = out.index(b"\n", pos)
        part, off, size, key = out[pos:nl].decode().split(" ", 3)
        size = int(size)
        start = nl + 1
        payload = out[start:start + max(size, 0)]
        assert len(payload) == max(size, 0), f"short payload at {part}/{off}"
        records.append((int(part), int(off), key, payload))
        pos = start + max(size, 0)
    return records


def protoc_decode(root, message, proto, payload):
    p = subprocess.run([PROTOC, f"--decode=switchboard.routing.v1.{message}",
                        "-I", os.path.join(root, "protos"), f"switchboard/routing/v1/{proto}"],
                       input=payload, capture_output=True, timeout=30)
    assert p.returncode == 0, f"protoc --decode failed: {p.stderr.decode(errors='replace')}"
    return p.stdout.decode()


def top_level(text):
    """{field: value} of the unindented scalar lines, and the set of unindented message fields."""
    scalars, messages = {}, set()
    for line in text.splitlines():
        if line.startswith(" "):
            continue
        m = re.fullmatch(r'(\w+): "?(.*?)"?', line)
        if m:
            scalars[m.group(1)] = m.group(2)
        m = re.fullmatch(r"(\w+) \{", line)
        if m:
            messages.add(m.group(1))
    return scalars, messages


class RoutingKcatProtoc(h.StackTestCase):
    @classmethod
    def setUpClass(cls):
        cls.protos = h.Protos(A.root)
        cls.stack = h.Stack()
        cls.channel = grpc.insecure_channel(cls.stack.grpc_addr)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.stack.close()


    def test_events_decode_with_kcat_and_protoc(self):
        p = self.protos
        m, svc = p.model, p.svc
        config = p.svc_grpc.ConfigServiceStub(self.channel)
        interactions = p.svc_grpc.InteractionServiceStub(self.channel)
        tenant = h.unique_tenant("kcat")
        part = h.partition_for(tenant)
        call_id = f"call-{uuid.uuid4().hex[:8]}"

        config.ApplyConfig(svc.ApplyConfigRequest(tenant_id=tenant, queues=[
            m.Queue(queue_id="billing", channel=m.CHANNEL_VOICE,
                    strategy=m.STRATEGY_MOST_SKILLED, skill="billing")]), timeout=15)

        def enqueue():
            try:
                return interactions.Enqueue(svc.EnqueueRequest(
                    tenant_id=tenant, enqueue=p.commands.Enqueue(
                        interaction_id=call_id, queue_id="billing",
                        # Bytes that a newline-delimited framing would trip on.
                        attributes={"note": "line1\nline2\r\n\x00end"})), timeout=10)
            except grpc.RpcError as e:
                if e.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    return None  # the queue is not applied yet
                raise
        resp = h.wait_for("Enqueue accepted", enqueue)
        self.assertEqual(resp.partition, part)

        # The command at the offset Enqueue returned: one record, exactly, with -p/-o/-c 1.
        cmd = subprocess.run([KCAT, "-C", "-b", self.stack.bootstrap, "-t", h.COMMANDS_TOPIC,
                              "-p", str(resp.partition), "-o", str(resp.offset), "-c", "1",
                              "-e", "-q", "-f", "%s"], capture_output=True, timeout=60)
        self.assertEqual(cmd.returncode, 0, cmd.stderr)
        text = protoc_decode(A.root, "RoutingCommand", "commands.proto", cmd.stdout)
        scalars, messages = top_level(text)
        self.assertEqual(scalars.get("tenant_id"), tenant, text)
        self.assertEqual(scalars.get("command_id"), resp.command_id, text)
        self.assertIn("enqueue", messages, text)
        self.assertIn(f'interaction_id: "{call_id}"', text)

        def decoded_events():
            out = []
            for rpart, roff, key, payload in kcat_records(self.stack.bootstrap, h.EVENTS_TOPIC):
                if key != tenant:
                    continue
                text = protoc_decode(A.root, "RoutingEvent", "events.proto", payload)
                out.append((rpart, roff, text))
            kinds = {k for _, _, t in out for k in top_level(t)[1]}
            return out if {"queue_upserted", "interaction_queued"} <= kinds else None
        events = h.wait_for("QueueUpserted and InteractionQueued via kcat", decoded_events)

        ids = []
        for rpart, roff, text in events:
            scalars, messages = top_level(text)
            self.assertEqual(scalars.get("tenant_id"), tenant, text)
            self.assertEqual(rpart, part, "events of a tenant go to murmur2(tenant) % partitions")
            event_id = scalars.get("event_id", "")
            self.assertRegex(event_id, r"^\d+/\d+/\d+$", text)
            ep, eoff, eidx = (int(x) for x in event_id.split("/"))
            # proto3 text omits zero values.
            self.assertEqual(ep, int(scalars.get("partition", "0")), text)
            self.assertEqual(eoff, int(scalars.get("command_offset", "0")), text)
            self.assertEqual(eidx, int(scalars.get("index", "0")), text)
            self.assertEqual(ep, part, text)
            ids.append(event_id)
            if "queue_upserted" in messages:
                self.assertIn('queue_id: "billing"', text)
                self.assertIn("strategy: STRATEGY_MOST_SKILLED", text)
                self.assertIn("channel: CHANNEL_VOICE", text)
            if "interaction_queued" in messages:
                self.assertEqual(event_id, f"{resp.partition}/{resp.offset}/{eidx}")
                self.assertEqual(scalars.get("command_id"), resp.command_id)
                self.assertIn(f'interaction_id: "{call_id}"', text)
                self.assertIn('queue_id: "billing"', text)
                self.assertIn("position: 1", text)
                self.assertIn('cause: "enqueued"', text)
                # The awkward attribute survived (protoc escapes it in its text output).
                self.assertIn(r'value: "line1\nline2\r\n\000end"', text)
        self.assertEqual(len(ids), len(set(ids)), f"duplicate event ids: {ids}")
        kinds = [k for _, _, t in events for k in top_level(t)[1] if k != "time"]
        self.assertEqual(kinds.count("queue_upserted"), 1, kinds)
        self.assertEqual(kinds.count("interaction_queued"), 1, kinds)
        self.assertNotIn("command_rejected", kinds)


if __name__ == "__main__":
    h.run_tests()
