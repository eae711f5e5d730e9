#!/usr/bin/env python3
"""The deploy checks (issue 8): chart, kustomize, values schema, alert rules, dashboard, and a
real Prometheus scraping a running `switchboard up`. Run through tests/deploy/run.

Each check prints "ok"/"FAIL"/"SKIP" with a reason; the summary counts them; any FAIL exits 1.
Environment: SB_BUILD_DIR (the build tree with switchboard and the services; default: the first
of build-ci/ and build/ holding all of them), SB_DEPLOY_NO_STACK=1 skips the live part.
"""
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import k8s_validate  # noqa: E402

CHART = os.path.join(ROOT, "deploy/helm/switchboard")
RULES = os.path.join(ROOT, "deploy/prometheus/switchboard.rules.yaml")
RULE_TESTS = os.path.join(ROOT, "deploy/prometheus/switchboard.rules.test.yaml")
DASHBOARD = os.path.join(ROOT, "deploy/grafana/switchboard.json")
YAMLLINT_CONF = os.path.join(HERE, "yamllint.yaml")
FIXTURES = os.path.join(HERE, "fixtures")

results = {"ok": 0, "FAIL": 0, "SKIP": 0}
failures = []
notes = set()


def report(status, name, detail=""):
    results[status] += 1
    line = f"{status:4} {name}" + (f": {detail}" if detail else "")
    print(line, flush=True)
    if status == "FAIL":
        failures.append(line)


def check(name):
    """check(name)(fn, *args): runs fn, reports ok (with the string fn returns) or FAIL."""
    def run(fn, *args):
        try:
            detail = fn(*args)
            report("ok", name, detail or "")
            return True
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
            msg = str(e) if isinstance(e, AssertionError) else f"{type(e).__name__}: {e}"
            if os.environ.get("SB_DEPLOY_DEBUG"):
                traceback.print_exc()
            report("FAIL", name, msg)
            return False
    return run


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def sh_ok(cmd, what=None, **kw):
    """Runs cmd; fails with its output unless it exits 0. Returns the last output line."""
    r = sh(cmd, **kw)
    assert r.returncode == 0, f"{what or cmd[0]}: " + (r.stdout + r.stderr).strip()[-2000:]
    return (r.stdout.strip().splitlines() or [""])[-1]


# ---------------------------------------------------------------- renderer and chart

def build_renderer(tmp):
    out = os.path.join(tmp, "helm_render")
    r = sh([os.path.join(ROOT, "tools/helm_render/build"), out])
    assert r.returncode == 0, r.stderr.strip()
    return out


def values_files():
    return [None] + sorted(glob.glob(os.path.join(CHART, "ci/*-values.yaml")))


def render(renderer, values_file, extra=()):
    helm = shutil.which("helm")
    args = ["switchboard", CHART, "--namespace", "switchboard"]
    if values_file:
        args += ["-f", values_file]
    args += list(extra)
    if helm:
        r = sh([helm, "template", *args])
    else:
        r = sh([renderer, *args])
    assert r.returncode == 0, (r.stderr or r.stdout).strip()[-2000:]
    for line in r.stderr.splitlines():
        if "note:" in line:
            notes.add(line.strip())
    return r.stdout


def validate_docs(text, what):
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert docs, f"{what}: no objects"
    errors = []
    kinds = {}
    for d in docs:
        errs, note = k8s_validate.validate(d)
        if note:
            notes.add(note)
        name = f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        errors += [f"{name}: {e}" for e in errs]
        kinds[d.get("kind")] = kinds.get(d.get("kind"), 0) + 1
    assert not errors, "; ".join(errors[:10])
    return docs, f"{len(docs)} objects (" + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) + ")"


def yamllint(*paths):
    r = sh(["yamllint", "-f", "parsable", "-c", YAMLLINT_CONF, *paths])
    assert r.returncode == 0, r.stdout.strip()[-1500:]


def chart_semantics(docs, values_file):
    """Cross-object checks a schema cannot express."""
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for w in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []):
        pod = w["spec"]["template"]["spec"]
        c = pod["containers"][0]
        name = w["metadata"]["name"]
        # Restricted Pod Security Standard.
        psc, csc = pod.get("securityContext", {}), c.get("securityContext", {})
        assert psc.get("runAsNonRoot") or csc.get("runAsNonRoot"), f"{name}: runAsNonRoot"
        assert csc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation"
        assert csc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: capabilities.drop"
        assert (psc.get("seccompProfile") or csc.get("seccompProfile", {})).get("type") in (
            "RuntimeDefault", "Localhost"), f"{name}: seccompProfile"
        # The readiness probe is gRPC health on the gRPC port.
        grpc_port = next(p["containerPort"] for p in c["ports"] if p["name"] == "grpc")
        assert c["readinessProbe"].get("grpc", {}).get("port") == grpc_port, \
            f"{name}: readiness probe is not gRPC on {grpc_port}"
        # Drain fits in the grace period.
        sleep = int(c["lifecycle"]["preStop"]["exec"]["command"][1])
        grace = pod["terminationGracePeriodSeconds"]
        timeout = next((int(a.split("=")[1]) // 1000 for a in c["args"]
                        if a.startswith("--shutdown-timeout-ms=")), 10)
        assert grace >= sleep + timeout, f"{name}: grace {grace} < preStop {sleep} + drain {timeout}"
        # A headless Service with the same selector.
        svc = services.get(name)
        assert svc and svc["spec"].get("clusterIP") == "None", f"{name}: no headless Service"
        assert svc["spec"]["selector"] == w["spec"]["selector"]["matchLabels"], f"{name}: selector"
    for s in by_kind.get("StatefulSet", []):
        assert s["spec"]["serviceName"] in services, "StatefulSet serviceName has no Service"
    storage_semantics(by_kind, services)
    return f"{len(by_kind.get('Deployment', [])) + len(by_kind.get('StatefulSet', []))} workloads"


PATH_FLAGS = re.compile(r"^--(data-dir|media-dir|qa-config|policies)=(/.*)$")


def storage_semantics(by_kind, services):
    """Volumes, stores and ports of the workloads: the root file system is read-only, so every path
    a service writes or reads must be a mount; SQLite is one replica on a persistent volume; a pod
    on a ReadWriteOnce claim rolls with Recreate; named probe ports exist; a component with an
    http port has a (non-headless) Service for it."""
    claims = {c["metadata"]["name"]: c for c in by_kind.get("PersistentVolumeClaim", [])}
    hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", [])}
    for w in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []):
        name = w["metadata"]["name"]
        pod = w["spec"]["template"]["spec"]
        c = pod["containers"][0]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in c.get("volumeMounts", [])}

        def volume_of(path):
            best = max((m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")),
                       key=len, default=None)
            assert best, f"{name}: {path} is on the read-only root file system (no volume mounted there)"
            return mounts[best]
        paths = [m.group(2) for m in map(PATH_FLAGS.match, c["args"]) if m]
        sqlite = [a.split("sqlite://", 1)[1] for a in c["args"] if a.startswith("--store=sqlite://")]
        for path in paths:
            volume_of(path)
        for db in sqlite:
            assert db.startswith("/"), f"{name}: SQLite path {db} is relative"
            v = volume_of(db)
            assert "persistentVolumeClaim" in v, f"{name}: the SQLite database {db} is not on a PersistentVolumeClaim"
            assert w["spec"].get("replicas") == 1 and name not in hpa_targets, \
                f"{name}: SQLite with more than one replica (or an HPA)"
        for v in volumes.values():
            claim = claims.get((v.get("persistentVolumeClaim") or {}).get("claimName"))
            if claim and "ReadWriteMany" not in claim["spec"]["accessModes"]:
                assert w["kind"] == "Deployment" and w["spec"]["strategy"]["type"] == "Recreate", \
                    f"{name}: mounts ReadWriteOnce claim {claim['metadata']['name']} but does not roll with Recreate"
                assert w["spec"].get("replicas") == 1 and name not in hpa_targets, \
                    f"{name}: several replicas on ReadWriteOnce claim {claim['metadata']['name']}"
        port_names = {p["name"] for p in c["ports"]}
        for probe in ("readinessProbe", "livenessProbe"):
            for action in ("httpGet", "tcpSocket", "grpc"):
                port = (c.get(probe, {}).get(action) or {}).get("port")
                if isinstance(port, str):
                    assert port in port_names, f"{name}: {probe} uses port {port}, not a container port"
        if "http" in port_names:
            selector = w["spec"]["selector"]["matchLabels"]
            assert any(s["spec"].get("clusterIP") != "None" and s["spec"].get("selector") == selector
                       and any(p.get("targetPort") == "http" for p in s["spec"]["ports"])
                       for s in services.values()), f"{name}: no ClusterIP Service for its http port"


def rendered_rules(docs, tmp):
    for d in docs:
        if d["kind"] == "PrometheusRule":
            path = os.path.join(tmp, "rendered.rules.yaml")
            with open(path, "w") as f:
                yaml.safe_dump({"groups": d["spec"]["groups"]}, f)
            r = sh(["promtool", "check", "rules", path])
            assert r.returncode == 0, r.stdout + r.stderr
            return "PrometheusRule passes promtool check rules"
    return "no PrometheusRule"


# ---------------------------------------------------------------- values schema

def merged_values(values_file):
    def merge(a, b):
        for k, v in b.items():
            if v is None:
                a.pop(k, None)
            elif isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v
        return a
    base = yaml.safe_load(open(os.path.join(CHART, "values.yaml")))
    return merge(base, yaml.safe_load(open(values_file)) or {}) if values_file else base


def schema_validate(values):
    schema = json.load(open(os.path.join(CHART, "values.schema.json")))
    errs = list(jsonschema.Draft7Validator(schema).iter_errors(values))
    assert not errs, "; ".join(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errs[:5])


def values_documented():
    """Every key of values.yaml is preceded by a comment (itself, its block, or its component's
    shared keys) - checked as: every top-level key and every key of routing has a comment line."""
    lines = open(os.path.join(CHART, "values.yaml")).read().splitlines()
    missing = []
    section = None
    for i, line in enumerate(lines):
        m = re.match(r"^( *)([A-Za-z][A-Za-z0-9]*):", line)
        if not m:
            continue
        indent, key = len(m.group(1)), m.group(2)
        if indent == 0:
            section = key
        if indent == 0 or (section in ("routing", "kafka", "image", "serviceMonitor") and indent == 2):
            j = i - 1
            while j >= 0 and lines[j].strip() == "":
                j -= 1
            prev = lines[j].strip() if j >= 0 else ""
            if not prev.startswith("#") and not lines[i - 1].strip().endswith(":") \
                    and not prev.endswith(":"):
                missing.append(f"{key} (line {i + 1})")
    assert not missing, "undocumented: " + ", ".join(missing)


# ---------------------------------------------------------------- negative tests

def negative_tests(renderer, tmp):
    """The checks must reject bad input, or they prove nothing."""
    done = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, "bad-*.yaml"))):
        doc = yaml.safe_load(open(path))
        errs, _ = k8s_validate.validate(doc)
        assert errs, f"{os.path.basename(path)} was accepted by the validator"
        done.append(os.path.basename(path))
    good = yaml.safe_load(open(os.path.join(FIXTURES, "good-deployment.yaml")))
    errs, _ = k8s_validate.validate(good)
    assert not errs, f"good-deployment.yaml rejected: {errs}"
    # Values: a typo and a wrong type are rejected by the schema.
    for bad in ({"routing": {"replica": 3}}, {"routing": {"replicas": "3"}}, {"logFormat": "xml"}):
        v = merged_values(None)
        for k, val in bad.items():
            v[k] = {**v[k], **val} if isinstance(val, dict) else val
        try:
            schema_validate(v)
        except AssertionError:
            continue
        raise AssertionError(f"values {bad} passed the schema")
    # The chart refuses impossible settings with a message.
    for sets, want in ((["routing.replicas=20"], "kafka.topics.partitions"),
                       (["routing.terminationGracePeriodSeconds=10"], "terminationGracePeriodSeconds"),
                       (["recording.replicas=2"], "SQLite store"),
                       (["insights.autoscaling.enabled=true"], "SQLite store"),
                       (["postgresql.enabled=true", "recording.replicas=2"], "share the media files"),
                       (["insights.terminationGracePeriodSeconds=8"], "terminationGracePeriodSeconds"),
                       (["kafka.bootstrap="], "kafka.bootstrap is required")):
        r = sh([renderer, "x", CHART, *sum((["--set", s] for s in sets), [])])
        assert r.returncode != 0 and want in r.stderr, f"--set {sets}: {r.returncode} {r.stderr[-300:]}"
    # yamllint rejects a badly indented file.
    bad = os.path.join(tmp, "bad-lint.yaml")
    with open(bad, "w") as f:
        f.write("a:\n  b: 1\n   c: 2\n")
    assert sh(["yamllint", "-c", YAMLLINT_CONF, bad]).returncode != 0, "yamllint accepted bad YAML"
    # The storage semantics reject SQLite on two replicas and a ReadWriteOnce claim rolled with
    # surge pods (objects the chart itself refuses to render).
    good_docs = [d for d in yaml.safe_load_all(render(renderer, None)) if d]
    for mutate, want in ((lambda d: d["spec"].update(replicas=2), "SQLite with more than one"),
                         (lambda d: d["spec"].update(strategy={"type": "RollingUpdate"}), "Recreate"),
                         (lambda d: d["spec"]["template"]["spec"]["containers"][0]["volumeMounts"].pop(),
                          "read-only root file system")):
        docs = json.loads(json.dumps(good_docs))
        mutate(next(d for d in docs if d["metadata"]["name"] == "switchboard-insights"
                    and d["kind"] == "Deployment"))
        try:
            chart_semantics(docs, None)
        except AssertionError as e:
            assert want in str(e), f"storage semantics: wanted {want!r}, got {e}"
            continue
        raise AssertionError(f"storage semantics accepted a broken insights Deployment ({want})")
    return f"{len(done)} bad manifests, 3 bad values, 7 bad --set, 3 bad workloads, 1 bad YAML rejected"


# ---------------------------------------------------------------- kustomize

def kubectl_version():
    """The kubectl on PATH and its version line (kustomize is the one built into kubectl: v2.0.3
    in Debian bookworm's kubectl 1.20, v5 in current ones; the overlays are written for both)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, ("kubectl not found on PATH: the kustomize checks need it (CI installs it; "
                     "tools/bootstrap installs Debian's kubernetes-client when no kubectl exists)")
    r = sh([kubectl, "version", "--client", "-o", "json"])
    try:
        v = json.loads(r.stdout)
        version = f"kubectl {v['clientVersion']['gitVersion']}, kustomize " + \
            v.get("kustomizeVersion", "built in (v2.0.3 before kubectl 1.21)")
    except (ValueError, KeyError):
        version = "unknown version"
    return kubectl, version


def kustomize(overlay):
    kubectl, _ = kubectl_version()
    r = sh([kubectl, "kustomize", overlay])
    assert r.returncode == 0, r.stderr.strip()[-1000:]
    return r.stdout


def overlay_semantics(docs, env):
    """What every overlay must give: the environment annotation on every object, selectors as
    the chart's (no environment in them), the overlay's namespace."""
    ns = {"dev": "switchboard-dev", "prod": "switchboard"}.get(env)
    for d in docs:
        meta = d["metadata"]
        name = f"{d['kind']}/{meta['name']}"
        assert (meta.get("annotations") or {}).get("switchboard.io/environment") == env, \
            f"{name}: no switchboard.io/environment={env} annotation"
        if ns:
            assert meta.get("namespace") == ns, f"{name}: namespace {meta.get('namespace')}"
        sel = (d.get("spec") or {}).get("selector") or {}
        sel = sel.get("matchLabels", sel) if isinstance(sel, dict) else {}
        assert not any("environment" in k for k in sel), f"{name}: environment in the selector"


def dev_overlay_semantics(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            args = d["spec"]["template"]["spec"]["containers"][0]["args"]
            assert "--log-level=debug" in args and not any(a == "--log-level=info" for a in args), \
                f"{d['metadata']['name']}: the dev overlay's args patch missed --log-level: {args}"
            peers = [a for a in args if a.startswith("--peers=")]
            if d["kind"] == "StatefulSet":
                assert peers == ["--peers=switchboard-routing-0.switchboard-routing:7070"], peers
            assert d["spec"]["replicas"] == 1, f"{d['metadata']['name']}: replicas"
        assert d["kind"] != "PodDisruptionBudget", "PDB left in dev"


def prod_overlay_semantics(docs):
    kinds = [d["kind"] for d in docs]
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert kinds.count("PodDisruptionBudget") == len(workloads), "prod: a PDB per workload"
    for w in workloads:
        tsc = w["spec"]["template"]["spec"]["topologySpreadConstraints"]
        zone = [c["whenUnsatisfiable"] for c in tsc if c["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zone == ["DoNotSchedule"], \
            f"{w['metadata']['name']}: zone spreading is not strict: {tsc}"
    hpa = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    assert [h["spec"]["scaleTargetRef"]["name"] for h in hpa] == ["switchboard-policy"], "prod: HPA"


# ---------------------------------------------------------------- rules and dashboard

def promtool_rules():
    r = sh(["promtool", "check", "rules", RULES])
    assert r.returncode == 0, r.stdout + r.stderr
    r = sh(["promtool", "test", "rules", os.path.basename(RULE_TESTS)], cwd=os.path.dirname(RULE_TESTS))
    assert r.returncode == 0, (r.stdout + r.stderr)[-2000:]
    alerts = [rule["alert"] for g in yaml.safe_load(open(RULES))["groups"] for rule in g["rules"]]
    tested = set(re.findall(r"alertname: (\w+)", open(RULE_TESTS).read()))
    untested = [a for a in alerts if a not in tested]
    assert not untested, f"alerts without a promtool test: {untested}"
    return f"{len(alerts)} alerts, all unit-tested"


def runbooks():
    ops = open(os.path.join(ROOT, "docs/operations.md")).read()
    headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", ops, re.M)}
    missing = []
    for g in yaml.safe_load(open(RULES))["groups"]:
        for rule in g["rules"]:
            url = rule["annotations"]["runbook_url"]
            anchor = url.split("#", 1)[1]
            assert anchor == rule["alert"].lower(), f"{rule['alert']}: runbook anchor {anchor}"
            if anchor not in headings:
                missing.append(rule["alert"])
    assert not missing, f"no runbook heading in docs/operations.md for {missing}"


def promql_metric_names(expr):
    expr = re.sub(r'"[^"]*"', '""', expr)          # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)           # matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)          # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    return {t for t in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr)
            if t.startswith("switchboard_")}


def dashboard_exprs():
    dash = json.load(open(DASHBOARD))
    exprs = []

    def walk(panels):
        for p in panels:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            walk(p.get("panels", []))
    walk(dash["panels"])
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        if isinstance(q, dict) and q.get("query"):
            exprs.append(q["query"])
    assert dash.get("uid") and dash.get("title") and exprs, "dashboard without uid/title/queries"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    return exprs


def rule_exprs():
    return [r["expr"] for g in yaml.safe_load(open(RULES))["groups"] for r in g["rules"]]


# ---------------------------------------------------------------- the live stack

def find_build_dir():
    cands = [os.environ["SB_BUILD_DIR"]] if os.environ.get("SB_BUILD_DIR") else [
        os.path.join(ROOT, "build-ci"), os.path.join(ROOT, "build")]
    need = ["tools/switchboard/switchboard", "services/routing/service/sb-routing",
            "services/policy/service/sb-policy", "services/agent_state/service/sb-agent-state",
            "services/recording/service/sb-recording", "services/insights/service/sb-insights",
            "tools/embedded_broker/sb-embedded-broker"]
    missing = {}
    for c in cands:
        missing[c] = [n for n in need if not os.access(os.path.join(c, n), os.X_OK)]
        if not missing[c]:
            return c, None
    return None, "; ".join(f"{c} lacks {', '.join(os.path.basename(n) for n in m)}"
                           for c, m in missing.items())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The service lines of `switchboard up`'s summary -> the Prometheus job (the binary's name), e.g.
#   "  insights  grpc=127.0.0.1:7110  metrics=http://127.0.0.1:9510/metrics  dashboard=http://..."
UP_JOBS = {"routing": "sb-routing", "policy": "sb-policy", "desktops": "sb-agent-state",
           "recording": "sb-recording", "insights": "sb-insights"}
UP_LINE = re.compile(r"^\s+(" + "|".join(UP_JOBS) + r")\s+grpc=(\S+)\s+metrics=(\S+)"
                     r"(?:\s+dashboard=(\S+))?")


def parse_up_line(line):
    """(job, grpc, metrics URL, dashboard URL or None) of a service line, else None."""
    m = UP_LINE.match(line)
    return m and (UP_JOBS[m.group(1)], m.group(2), m.group(3), m.group(4))


def up_parser_selftest():
    lines = {
        "  routing   grpc=127.0.0.1:1  metrics=http://127.0.0.1:2/metrics  (replica 0)":
            ("sb-routing", "127.0.0.1:1", "http://127.0.0.1:2/metrics", None),
        "  recording grpc=127.0.0.1:3  metrics=http://127.0.0.1:4/metrics  (SQLite /tmp/x/recording.db)":
            ("sb-recording", "127.0.0.1:3", "http://127.0.0.1:4/metrics", None),
        "  insights  grpc=127.0.0.1:5  metrics=http://127.0.0.1:6/metrics  "
        "dashboard=http://127.0.0.1:7/?tenant=demo  (SQLite /tmp/x/insights.db)":
            ("sb-insights", "127.0.0.1:5", "http://127.0.0.1:6/metrics", "http://127.0.0.1:7/?tenant=demo"),
        "  config    contact_center.yaml: 3 queues": None,
        "Try, in another terminal:": None,
    }
    for line, want in lines.items():
        got = parse_up_line(line)
        assert (got or None) == want, f"parse_up_line({line!r}) = {got}, want {want}"
    return f"{len(lines)} summary lines parsed as expected"


class Stack:
    """`switchboard up --demo` on free ports; parses its summary lines (every service of UP_JOBS
    must be reported)."""

    def __init__(self, build, tmp):
        self.log = open(os.path.join(tmp, "switchboard-up.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(build, "tools/switchboard/switchboard"), "up", "--demo",
             "--grpc-port", "0", "--metrics-port", "0", "--calls-per-second", "5",
             "--duration", "600", "--seed", "1"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        self.metrics, self.grpc, self.dashboard = {}, {}, None
        self.summary = []
        end = time.monotonic() + 90
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.summary.append(line.rstrip())
            parsed = parse_up_line(line)
            if parsed:
                job, grpc, metrics, dashboard = parsed
                self.grpc[job], self.metrics[job] = grpc, metrics
                self.dashboard = dashboard or self.dashboard
            if line.startswith("Stop with") or line.startswith("Try"):
                break
        missing = [j for j in UP_JOBS.values() if j not in self.metrics]
        if missing:
            self.stop()
            self.log.seek(0)
            raise AssertionError(
                f"switchboard up did not report {', '.join(missing)} (it starts all of "
                f"{', '.join(UP_JOBS.values())}); its summary: {' | '.join(self.summary)[-1200:]}; "
                f"log: {self.log.read()[-800:]}")
        # Keep draining stdout (the demo prints a line every second).
        import threading
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def scrape(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def metric_catalog(pages):
    names = set()
    for text in pages.values():
        for line in text.splitlines():
            if line.startswith("# TYPE ") or line.startswith("# HELP "):
                names.add(line.split()[2])
            elif line and not line.startswith("#"):
                names.add(re.split(r"[{ ]", line, 1)[0])
    # A histogram family also names its _bucket/_sum/_count series.
    for n in list(names):
        names.update({n + "_bucket", n + "_sum", n + "_count"})
    return names


def source_catalog():
    """Metric families declared in the services' metric catalogs (services/*/service/metrics.cc:
    prometheus-cpp .Name("...") or a helper taking the name as a string literal), for labelled
    families that have no series until first used."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "services/*/service/metrics.cc")):
        names.update(re.findall(r'"(switchboard_[a-z0-9_]+)"', open(path).read()))
    for n in list(names):
        names.update({n + "_bucket", n + "_sum", n + "_count"})
    return names


def wait_for(what, fn, timeout=60, interval=0.5):
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
            last = v
        except Exception as e:  # noqa: BLE001
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}: {last}")


def prom_api(port, path):
    return json.loads(scrape(f"http://127.0.0.1:{port}/api/v1/{path}"))["data"]


def live_checks(build, tmp):
    stack = Stack(build, tmp)
    prom = None
    try:
        report("ok", "live: switchboard up", ", ".join(f"{j} {u}" for j, u in stack.metrics.items()))
        # Let the demo traffic create the labelled series (tenant gauges, command kinds, the
        # insights queue gauges).
        wait_for("routing tenant gauges", lambda: "switchboard_routing_interactions{" in
                 scrape(stack.metrics["sb-routing"]), timeout=30)
        wait_for("insights queue gauges", lambda: "switchboard_insights_queue_waiting{" in
                 scrape(stack.metrics["sb-insights"]), timeout=30)
        pages = {j: scrape(u) for j, u in stack.metrics.items()}
        catalog = metric_catalog(pages)
        declared = source_catalog()

        def names_exist(exprs, what):
            used = {n for e in exprs for n in promql_metric_names(e)}
            missing = sorted(used - catalog - declared)
            assert not missing, f"{what} names metrics no service exports: {missing}"
            lazy = sorted(used - catalog)
            if lazy:
                notes.add(f"{what}: {len(lazy)} labelled families had no series yet on the scraped "
                          f"pages (prometheus-cpp omits them until first use); found in "
                          f"services/*/service/metrics.cc: {', '.join(lazy)}")
            return f"{len(used)} metric names: {len(used) - len(lazy)} on the scraped pages, " \
                   f"{len(lazy)} declared but not yet used"
        check("live: dashboard metrics exist")(names_exist, dashboard_exprs(), "dashboard")
        check("live: rule metrics exist")(names_exist, rule_exprs(), "rules")

        def health():
            tool = os.path.join(ROOT, "deploy/docker/sb-grpc-health")
            r = sh([sys.executable, tool, "--timeout", "30", *stack.grpc.values()])
            assert r.returncode == 0, r.stdout + r.stderr
            bad = sh([sys.executable, tool, "--timeout", "1", f"127.0.0.1:{free_port()}"])
            assert bad.returncode == 1, "sb-grpc-health passed a closed port"
            return f"{len(stack.grpc)} services SERVING; a closed port fails"
        check("live: sb-grpc-health (helm test)")(health)

        port = free_port()
        cfg = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
               "rule_files": [RULES],
               "scrape_configs": [{"job_name": j, "static_configs": [{"targets": [
                   u.split("//")[1].split("/")[0]]}]} for j, u in stack.metrics.items()]}
        cfg_path = os.path.join(tmp, "prometheus.yml")
        with open(cfg_path, "w") as f:
            yaml.safe_dump(cfg, f)
        prom_log = open(os.path.join(tmp, "prometheus.log"), "w")
        prom = subprocess.Popen(
            ["prometheus", f"--config.file={cfg_path}", f"--storage.tsdb.path={tmp}/tsdb",
             f"--web.listen-address=127.0.0.1:{port}"], stdout=prom_log, stderr=prom_log)

        def dashboard():
            # What the chart's liveness probe (/healthz) and the dashboard Service serve.
            assert stack.dashboard, "switchboard up printed no dashboard= URL on its insights line"
            base = stack.dashboard.split("?")[0].rstrip("/")
            with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                assert r.status == 200, f"/healthz: HTTP {r.status}"
            with urllib.request.urlopen(stack.dashboard, timeout=5) as r:
                page = r.read().decode(errors="replace")
                assert r.status == 200 and "<html" in page.lower(), f"{stack.dashboard}: not a web page"
            return f"{base}/healthz 200, the dashboard page 200"
        check("live: insights dashboard and /healthz")(dashboard)

        def targets_up():
            t = prom_api(port, "targets")["activeTargets"]
            return len(t) == len(stack.metrics) and all(x["health"] == "up" for x in t) and t
        check("live: prometheus targets up")(
            lambda: f"{len(wait_for('targets up', targets_up))} targets up")

        def rules_evaluated():
            groups = prom_api(port, "rules")["groups"]
            rules = [r for g in groups for r in g["rules"]]
            bad = [f"{r['name']}: {r.get('lastError')}" for r in rules
                   if r.get("health") == "err" or r.get("lastError")]
            assert not bad, f"rule evaluation errors: {bad}"
            done = [r for r in rules if r.get("health") == "ok"]
            return len(done) == len(rules) and len(rules) > 0 and rules
        check("live: rules evaluate without errors")(
            lambda: f"{len(wait_for('rules evaluated', rules_evaluated))} rules healthy")

        def query(expr):
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            try:
                body = json.loads(scrape(url))
            except urllib.error.HTTPError as e:
                body = json.loads(e.read().decode())
            assert body.get("status") == "success", f"{expr}: {body.get('error')}"
            return body["data"]["result"]

        def dashboard_queries():
            """Every dashboard query is valid PromQL; the insights row's return data (the queue
            gauges exist once the demo traffic runs)."""
            # (label_values(...) of the template variables is Grafana's, not PromQL)
            exprs = [e.replace("$namespace", ".*").replace("$__rate_interval", "30s")
                     for e in dashboard_exprs() if not e.startswith("label_values(")]
            for e in exprs:
                query(e)
            insights = [e for e in exprs if "switchboard_insights_" in e]
            assert insights, "the dashboard has no insights queries"
            empty = lambda: [e for e in insights if not query(e)]  # noqa: E731
            wait_for("insights dashboard queries with data", lambda: not empty(), timeout=30)
            return f"{len(exprs)} queries valid, {len(insights)} insights queries with data"
        check("live: dashboard queries evaluate")(dashboard_queries)

        def insights_alert_joins():
            """The label sets the insights alerts join on (tenant, queue) match on real series:
            a renamed label would silence the alerts without failing their unit tests."""
            joins = [
                'max by (tenant, queue) (switchboard_insights_queue_service_level{job="sb-insights", window="60m"})'
                ' and on(tenant, queue) max by (tenant, queue) (switchboard_insights_queue_service_level_target{job="sb-insights"})'
                ' and on(tenant, queue) max by (tenant, queue) (switchboard_insights_queue_waiting{job="sb-insights"})',
                'max by (tenant, queue) (switchboard_insights_queue_waiting{job="sb-insights"})'
                ' and on(tenant, queue) max by (tenant, queue) (switchboard_insights_queue_agents{job="sb-insights", state="logged_in"})',
                'max by (tenant, queue) (switchboard_insights_queue_longest_wait_seconds{job="sb-insights"})',
                'max by (job, instance) (switchboard_insights_consumer_lag_messages{job="sb-insights"})',
            ]
            wait_for("insights alert joins", lambda: all(query(j) for j in joins), timeout=30)
            return f"{len(joins)} joins match {len(query(joins[0]))} queues"
        check("live: insights alerts match real series")(insights_alert_joins)

        def promtool_metrics():
            out = []
            for job, text in pages.items():
                r = subprocess.run(["promtool", "check", "metrics"], input=text,
                                   capture_output=True, text=True)
                assert r.returncode == 0, f"{job}: {r.stdout}{r.stderr}"
                out.append(job)
            return ", ".join(out)
        check("live: promtool check metrics")(promtool_metrics)

        def no_firing_critical():
            alerts = prom_api(port, "alerts")["alerts"]
            firing = [a["labels"]["alertname"] for a in alerts
                      if a["state"] == "firing" and a["labels"].get("severity") == "critical"]
            assert not firing, f"critical alerts firing on a healthy stack: {firing}"
            names = sorted({f"{a['labels']['alertname']} ({a['state']})" for a in alerts})
            return f"none critical; active: {', '.join(names) or 'none'}"
        check("live: healthy stack fires no critical alert")(no_firing_critical)
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(20)
        stack.stop()


# ---------------------------------------------------------------- main

def main():
    start = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="sb-deploy-")
    try:
        renderer = None
        try:
            renderer = build_renderer(tmp)
            report("ok", "helm_render builds")
        except AssertionError as e:
            report("FAIL", "helm_render builds", str(e))
        check("helm_render go test")(sh_ok, [os.path.join(ROOT, "tools/helm_render/build"), "--test"])
        if shutil.which("helm"):
            check("helm lint")(sh_ok, ["helm", "lint", "--strict", CHART])
        else:
            notes.add("helm not on PATH: rendered with tools/helm_render")
        check("values.schema.json up to date")(
            sh_ok, [sys.executable, os.path.join(HERE, "gen_values_schema.py"), "--check"])
        check("values.yaml documented")(values_documented)
        if renderer:
            check("generated and copied files in sync")(
                sh_ok, [sys.executable, os.path.join(HERE, "sync.py"), "--renderer", renderer, "--check"])
        handwritten = [CHART + "/Chart.yaml", RULES, RULE_TESTS] + \
            glob.glob(os.path.join(ROOT, "k8s/**/*.yaml"), recursive=True) + \
            glob.glob(os.path.join(ROOT, ".github/workflows/*.yml"))
        check("yamllint: chart, rules, k8s, workflows")(
            lambda: yamllint(*handwritten) or f"{len(handwritten)} files")

        for vf in values_files():
            label = os.path.basename(vf) if vf else "default values"
            check(f"schema: {label}")(schema_validate, merged_values(vf))
            check(f"yamllint: {label}")(yamllint, vf or os.path.join(CHART, "values.yaml"))
            if not renderer:
                continue
            out_path = os.path.join(tmp, f"render-{label.replace(' ', '-')}.yaml")
            try:
                text = render(renderer, vf)
            except AssertionError as e:
                report("FAIL", f"render: {label}", str(e))
                continue
            with open(out_path, "w") as f:
                f.write(text)
            report("ok", f"render: {label}")
            docs = []
            if check(f"k8s models: {label}")(lambda: validate_docs(text, label)[1]):
                docs = validate_docs(text, label)[0]
                check(f"chart semantics: {label}")(chart_semantics, docs, vf)
                check(f"rendered rules: {label}")(rendered_rules, docs, tmp)
            check(f"yamllint rendered: {label}")(yamllint, out_path)
        if renderer:
            def notes_render():
                r = sh([renderer, "x", CHART, "--notes"])
                assert "helm test x" in r.stdout, "NOTES.txt did not render"
                assert "port-forward svc/x-switchboard-insights-dashboard 8080" in r.stdout, \
                    "NOTES.txt does not say how to open the insights dashboard"
                return None
            check("NOTES.txt renders")(notes_render)
            check("negative tests")(negative_tests, renderer, tmp)

        try:
            kubectl, version = kubectl_version()
            report("ok", "kubectl for kustomize", f"{kubectl} ({version})")
        except AssertionError as e:
            report("FAIL", "kubectl for kustomize", str(e))
            kubectl = None
        for overlay in sorted(glob.glob(os.path.join(ROOT, "k8s/overlays/*"))):
            name = os.path.basename(overlay)
            if not kubectl:
                report("FAIL", f"kustomize {name}", "not run: no kubectl on PATH")
                continue
            try:
                text = kustomize(overlay)
            except AssertionError as e:
                report("FAIL", f"kustomize {name}", str(e))
                continue
            path = os.path.join(tmp, f"kustomize-{name}.yaml")
            with open(path, "w") as f:
                f.write(text)
            if check(f"k8s models: kustomize {name}")(lambda: validate_docs(text, name)[1]):
                docs = validate_docs(text, name)[0]
                check(f"semantics: kustomize {name}")(chart_semantics, docs, None)
                check(f"kustomize {name}: environment, namespace, selectors")(
                    overlay_semantics, docs, name)
                if name == "dev":
                    check("kustomize dev patches applied")(dev_overlay_semantics, docs)
                if name == "prod":
                    check("kustomize prod patches applied")(prod_overlay_semantics, docs)
            check(f"yamllint: kustomize {name}")(yamllint, path)

        check("promtool rules")(promtool_rules)
        check("runbook per alert")(runbooks)
        check("dashboard JSON")(lambda: f"{len(dashboard_exprs())} queries")
        check("switchboard up summary parser")(up_parser_selftest)

        if os.environ.get("SB_DEPLOY_NO_STACK") == "1":
            report("SKIP", "live checks", "SB_DEPLOY_NO_STACK=1")
        elif not shutil.which("prometheus"):
            report("SKIP", "live checks", "prometheus not installed (tools/bootstrap installs it)")
        else:
            build, why = find_build_dir()
            if build is None:
                report("FAIL", "live checks", f"no build with switchboard and the services ({why}; "
                       "set SB_BUILD_DIR, or build: cmake --build --preset ci)")
            else:
                try:
                    live_checks(build, tmp)
                except AssertionError as e:
                    report("FAIL", "live checks", str(e))
    finally:
        if os.environ.get("SB_DEPLOY_KEEP"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for n in sorted(notes):
        print(f"note: {n}")
    print(f"\ntests/deploy: {results['ok']} ok, {results['FAIL']} failed, {results['SKIP']} skipped "
          f"in {time.monotonic() - start:.0f} s")
    for f in failures:
        print(f"  {f}")
    return 1 if results["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main())
