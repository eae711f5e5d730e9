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
    return f"{len(by_kind.get('Deployment', [])) + len(by_kind.get('StatefulSet', []))} workloads"


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
                       (["recording.enabled=true"], "needs a database"),
                       (["kafka.bootstrap="], "kafka.bootstrap is required")):
        r = sh([renderer, "x", CHART, *sum((["--set", s] for s in sets), [])])
        assert r.returncode != 0 and want in r.stderr, f"--set {sets}: {r.returncode} {r.stderr[-300:]}"
    # yamllint rejects a badly indented file.
    bad = os.path.join(tmp, "bad-lint.yaml")
    with open(bad, "w") as f:
        f.write("a:\n  b: 1\n   c: 2\n")
    assert sh(["yamllint", "-c", YAMLLINT_CONF, bad]).returncode != 0, "yamllint accepted bad YAML"
    return f"{len(done)} bad manifests, 3 bad values, 4 bad --set, 1 bad YAML rejected"


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
            "tools/embedded_broker/sb-embedded-broker"]
    for c in cands:
        if all(os.access(os.path.join(c, n), os.X_OK) for n in need):
            return c
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """`switchboard up --demo` on free ports; parses its summary lines."""

    def __init__(self, build, tmp):
        self.log = open(os.path.join(tmp, "switchboard-up.log"), "w+")
        self.proc = subprocess.Popen(
            [os.path.join(build, "tools/switchboard/switchboard"), "up", "--demo",
             "--grpc-port", "0", "--metrics-port", "0", "--calls-per-second", "5",
             "--duration", "600", "--seed", "1"],
            stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        self.metrics, self.grpc = {}, {}
        end = time.monotonic() + 90
        while time.monotonic() < end:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"\s*(routing|policy|desktops)\s+grpc=(\S+)\s+metrics=(\S+)", line)
            if m:
                job = {"routing": "sb-routing", "policy": "sb-policy",
                       "desktops": "sb-agent-state"}[m.group(1)]
                self.grpc[job] = m.group(2)
                self.metrics[job] = m.group(3)
            if line.startswith("Stop with") or len(self.metrics) == 3 and "Try" in line:
                break
        if len(self.metrics) < 3:
            self.stop()
            self.log.seek(0)
            raise AssertionError(f"switchboard up did not report 3 services: {self.metrics}; "
                                 f"log: {self.log.read()[-1500:]}")
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
    """Metric families declared in the services' metric catalogs (prometheus-cpp .Name(...)),
    for labelled families that have no series until first used."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "services/*/service/metrics.cc")):
        names.update(re.findall(r'\.Name\("(switchboard_\w+)"\)', open(path).read()))
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
        # Let the demo traffic create the labelled series (tenant gauges, command kinds).
        wait_for("routing tenant gauges", lambda: "switchboard_routing_interactions{" in
                 scrape(stack.metrics["sb-routing"]), timeout=30)
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

        def targets_up():
            t = prom_api(port, "targets")["activeTargets"]
            return len(t) == 3 and all(x["health"] == "up" for x in t) and t
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

        if os.environ.get("SB_DEPLOY_NO_STACK") == "1":
            report("SKIP", "live checks", "SB_DEPLOY_NO_STACK=1")
        elif not shutil.which("prometheus"):
            report("SKIP", "live checks", "prometheus not installed (tools/bootstrap installs it)")
        else:
            build = find_build_dir()
            if build is None:
                report("FAIL", "live checks", "no build with switchboard and the services "
                       "(set SB_BUILD_DIR, or build: cmake --build --preset ci)")
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
