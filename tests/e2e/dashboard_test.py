#!/usr/bin/env python3
"""The supervisor dashboard in a real browser: headless Chromium driven over the DevTools
protocol (CDP) with python3-websocket.

    dashboard_test.py --url http://127.0.0.1:8080/?tenant=demo      # a dashboard already running
    dashboard_test.py --switchboard BIN --root SRC                  # starts `switchboard up --demo`

With --switchboard it runs `BIN up --demo --no-open --grpc-port 0 --metrics-port 0 ...` and reads
the dashboard's address from up's summary: a line with `dashboard=http://HOST:PORT/?tenant=T`
(or, failing that, a line starting with `insights` that holds an http:// URL).

Then: the page shows the queues; at a moment where the page and GET /api/floor have the same
events_applied, the page's queue figures (waiting, agents available / logged in) and every agent's
presence equal the API's; the page changes live (events_applied grows and a figure changes,
without a reload); no "NaN"/"undefined" anywhere; a screenshot is saved ($SB_ARTIFACT_DIR, else
--artifact-dir, else the working directory) and the update latency p50/p99 printed (each SSE
frame's arrival time minus its Floor's as_of, window.sbLatencies).

Exit 0 passed, 1 failed, 77 skipped (no chromium or no python3-websocket).
"""
import argparse
import base64
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

SKIP = 77

try:
    import websocket  # python3-websocket (websocket-client)
except ImportError:
    # A python3 that is not Debian's (pyenv, venv) does not see Debian's dist-packages.
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import websocket
    except ImportError:
        websocket = None


def log(msg):
    print(f"[dashboard_test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def wait_until(predicate, deadline_s, what, interval=0.05):
    """Polls predicate() until it returns something truthy; fails after deadline_s seconds."""
    end = time.monotonic() + deadline_s
    last_error = None
    while time.monotonic() < end:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - reported if the deadline passes
            last_error = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {deadline_s}s waiting for {what}"
                         + (f" (last error: {last_error})" if last_error else ""))


# ---- switchboard up --------------------------------------------------------------------------

class Up:
    """`switchboard up --demo`, its output read on threads."""

    def __init__(self, binary, duration_s):
        env = dict(os.environ)
        env.pop("DISPLAY", None)  # never open a desktop browser
        env.pop("WAYLAND_DISPLAY", None)
        cmd = [binary, "up", "--demo", "--no-open", "--grpc-port", "0", "--metrics-port", "0",
               "--seed", "7", "--calls-per-second", "1", "--duration", str(duration_s)]
        log("starting: " + " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, start_new_session=True)
        self.lines = queue.Queue()
        self.out = []
        self.threads = [threading.Thread(target=self._pump, args=(s, q), daemon=True)
                        for s, q in ((self.proc.stdout, self.lines), (self.proc.stderr, None))]
        for t in self.threads:
            t.start()

    def _pump(self, stream, q):
        for line in stream:
            self.out.append(line)
            if q is not None:
                q.put(line)
        if q is not None:
            q.put(None)

    def dashboard_url(self, deadline_s):
        """The dashboard's URL from up's summary, once up says it is up."""
        end = time.monotonic() + deadline_s
        url = None
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("switchboard up printed no dashboard address in "
                                     f"{deadline_s}s:\n{''.join(self.out)}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self.proc.wait(timeout=30)
                raise AssertionError(f"switchboard up exited with {self.proc.returncode} "
                                     f"before the dashboard was up:\n{''.join(self.out)}")
            m = re.search(r"dashboard=(http://\S+)", line)
            if not m and re.match(r"\s*insights\b", line):
                m = re.search(r"(http://\S+/(?:\?\S*)?)(?:\s|$)", line)
                if m and "/metrics" in m.group(1):
                    m = None
            if m and url is None:
                url = m.group(1)
            if line.startswith("Stop with Ctrl-C") or line.startswith("Stopping in"):
                if url is None:
                    raise AssertionError("switchboard up is up but printed no dashboard address "
                                         "(want `dashboard=http://...`):\n" + "".join(self.out))
                return url

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        for t in self.threads:
            t.join(timeout=10)


# ---- Chromium over CDP -----------------------------------------------------------------------

def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A headless Chromium with one page, driven through the page's DevTools websocket."""

    def __init__(self, binary, width=1600, height=1000):
        self.profile = tempfile.mkdtemp(prefix="sb-dashboard-chromium-")
        cmd = [binary, "--headless=new", "--remote-debugging-port=0",
               f"--user-data-dir={self.profile}", "--no-first-run", "--no-default-browser-check",
               "--disable-gpu", "--disable-extensions", "--disable-background-networking",
               "--disable-dev-shm-usage", "--remote-allow-origins=*",
               f"--window-size={width},{height}", "about:blank"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")

        def port():
            if self.proc.poll() is not None:
                raise AssertionError(f"chromium exited with {self.proc.returncode}")
            with open(port_file) as f:
                lines = f.read().split("\n")
            return int(lines[0]) if lines and lines[0].strip() else None

        self.port = wait_until(port, 30, "chromium's DevToolsActivePort")

        def page_ws():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as r:
                targets = json.load(r)
            pages = [t for t in targets if t.get("type") == "page"]
            return pages[0]["webSocketDebuggerUrl"] if pages else None

        ws_url = wait_until(page_ws, 30, "a page target")
        self.ws = websocket.create_connection(ws_url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        my_id = self.next_id
        self.ws.send(json.dumps({"id": my_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise AssertionError(f"CDP {method} failed: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)
                del self.events[:-200]

    def eval(self, expression):
        """The value of a JS expression (awaited if a promise), as JSON-able Python."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"JS exception in {expression[:80]}...: "
                                 f"{r['exceptionDetails'].get('text')} "
                                 f"{r['exceptionDetails'].get('exception', {}).get('description')}")
        return r["result"].get("value")

    def console_errors(self):
        out = []
        for e in self.events:
            if e["method"] == "Runtime.exceptionThrown":
                out.append(e["params"]["exceptionDetails"].get("exception", {})
                           .get("description", "exception"))
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"]["type"] == "error":
                out.append(" ".join(str(a.get("value", a.get("description", "")))
                                    for a in e["params"]["args"]))
        return out

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - it may be gone already
            pass
        try:
            self.ws.close()
        except Exception:  # noqa: BLE001
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


# What the page shows, read from the DOM through the data-testid / data-field marks.
PAGE_SNAPSHOT_JS = r"""(() => {
  const field = (el, name) => {
    const f = el.querySelector(`[data-field="${name}"]`);
    return f ? f.textContent.trim() : null;
  };
  const queues = {};
  for (const el of document.querySelectorAll('[data-testid^="queue-"]')) {
    queues[el.dataset.testid.slice(6)] = {
      waiting: field(el, 'waiting'), agents_available: field(el, 'agents_available'),
      agents_logged_in: field(el, 'agents_logged_in'), agents_busy: field(el, 'agents_busy'),
      sl_today: field(el, 'sl_today'), answered_today: field(el, 'answered_today')};
  }
  const agents = {};
  for (const el of document.querySelectorAll('[data-testid^="agent-"]')) {
    agents[el.dataset.testid.slice(6)] = {
      presence: field(el, 'presence'), handled_today: field(el, 'handled_today'),
      state: field(el, 'state')};
  }
  return {eventsApplied: document.body.dataset.eventsApplied || null,
          asOf: document.body.dataset.asOf || null,
          connection: document.getElementById('connection')?.textContent || null,
          noReload: window.__sbNoReload === 1, queues, agents};
})()"""


def api_expectation(floor):
    """The page's figures as the API says they should read (the page formats integers with
    thousands separators)."""
    def fmt(v):
        return f"{int(v or 0):,}"
    queues = {q["queue_id"]: {"waiting": fmt(q.get("waiting")),
                              "agents_available": fmt(q.get("agents_available")),
                              "agents_logged_in": fmt(q.get("agents_logged_in"))}
              for q in floor.get("queues", [])}
    agents = {a["agent_id"]: {"presence": a.get("presence", ""),
                              "handled_today": fmt(a.get("handled_today"))}
              for a in floor.get("agents", [])}
    return queues, agents


def page_view(snapshot):
    queues = {q: {k: v[k] for k in ("waiting", "agents_available", "agents_logged_in")}
              for q, v in snapshot["queues"].items()}
    agents = {a: {k: v[k] for k in ("presence", "handled_today")}
              for a, v in snapshot["agents"].items()}
    return queues, agents


def percentile(values, p):
    s = sorted(values)
    if not s:
        return None
    k = min(len(s) - 1, max(0, int(round(p / 100 * (len(s) - 1)))))
    return s[k]


class ApiPoller:
    """Polls GET /api/floor on a thread, keeping the Floors by events_applied (the last 5000)."""

    def __init__(self, base, tenant):
        self.url = f"{base}/api/floor?tenant={urllib.parse.quote(tenant)}"
        self.by_events = {}
        self.order = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    floor = json.load(r)
            except Exception:  # noqa: BLE001 - counted; the test fails on its own deadline
                self.errors += 1
                time.sleep(0.1)
                continue
            key = str(floor.get("events_applied", "0"))
            with self.lock:
                if key not in self.by_events:
                    self.order.append(key)
                self.by_events[key] = floor
                while len(self.order) > 5000:
                    self.by_events.pop(self.order.pop(0), None)
            time.sleep(0.01)

    def get(self, events_applied):
        with self.lock:
            return self.by_events.get(str(events_applied))

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)


def run(url, artifact_dir, deadline_s):
    parsed = urllib.parse.urlparse(url)
    base = f"{parsed.scheme}://{parsed.netloc}"
    tenant = urllib.parse.parse_qs(parsed.query).get("tenant", ["demo"])[0]
    chromium = find_chromium()
    browser = Browser(chromium)
    poller = ApiPoller(base, tenant)
    try:
        browser.call("Page.enable")
        browser.call("Runtime.enable")
        log(f"loading {url}")
        browser.call("Page.navigate", url=url)

        # 1. The page shows queues.
        wait_until(lambda: browser.eval(
            "document.querySelector('[data-testid^=\"queue-\"]') !== null && "
            "document.body.dataset.eventsApplied !== undefined"), deadline_s,
            "a queue row on the page")
        browser.eval("window.__sbNoReload = 1")
        first = browser.eval(PAGE_SNAPSHOT_JS)
        log(f"page up: {len(first['queues'])} queues, {len(first['agents'])} agents, "
            f"events_applied {first['eventsApplied']}, connection '{first['connection']}'")
        assert first["queues"], "no queue on the page"

        # 2. Page and API agree where they have the same events_applied.
        matched = {}

        def coincide():
            snap = browser.eval(PAGE_SNAPSHOT_JS)
            floor = poller.get(snap["eventsApplied"])
            if floor is None:
                return None
            want_q, want_a = api_expectation(floor)
            got_q, got_a = page_view(snap)
            assert got_q == want_q, (f"queues differ at events_applied {snap['eventsApplied']}:"
                                     f"\n page {got_q}\n api  {want_q}")
            assert got_a == want_a, (f"agents differ at events_applied {snap['eventsApplied']}:"
                                     f"\n page {got_a}\n api  {want_a}")
            matched.update(snap=snap)
            return True

        wait_until(coincide, deadline_s, "a moment where page and API have the same "
                   "events_applied", interval=0.03)
        snap = matched["snap"]
        log(f"page matches /api/floor at events_applied {snap['eventsApplied']}: "
            f"{len(snap['queues'])} queues, {len(snap['agents'])} agents")

        # 3. The page changes live, without a reload.
        def changed():
            now = browser.eval(PAGE_SNAPSHOT_JS)
            assert now["noReload"], "the page reloaded"
            grew = int(now["eventsApplied"] or 0) > int(snap["eventsApplied"] or 0)
            figures_moved = (now["queues"] != snap["queues"] or now["agents"] != snap["agents"])
            return now if grew and figures_moved else None

        later = wait_until(changed, deadline_s, "the page to change live (events_applied grows "
                           "and a figure changes)", interval=0.1)
        log(f"live: events_applied {snap['eventsApplied']} -> {later['eventsApplied']}")
        assert later["connection"] == "live", f"connection shows {later['connection']!r}"

        # 4. No NaN / undefined shown anywhere; the forecast chart rendered.
        text = browser.eval("document.body.innerText")
        for bad in ("NaN", "undefined", "[object Object]"):
            assert bad not in text, f"the page shows {bad!r}"
        wait_until(lambda: browser.eval(
            "document.querySelector('[data-testid=\"forecast-chart\"] svg') !== null || "
            "/unavailable|No history/.test(document.querySelector("
            "'[data-testid=\"forecast-summary\"]').textContent)"), deadline_s,
            "the forecast chart (or its explanation)")
        errors = browser.console_errors()
        assert not errors, f"errors in the page's console: {errors}"

        # 5. Screenshot and latency.
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        os.makedirs(artifact_dir, exist_ok=True)
        path = os.path.join(artifact_dir, "dashboard.png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        log(f"screenshot: {path}")
        # More frames for the latency figure: up to 40, for at most 30 s more (not a failure).
        try:
            wait_until(lambda: browser.eval("window.sbLatencies.length") >= 40, 30,
                       "40 frames", interval=0.5)
        except AssertionError:
            pass
        lat = browser.eval("window.sbLatencies") or []
        assert lat, "window.sbLatencies is empty: no SSE frame was timed"
        log(f"dashboard update latency (Floor as_of -> frame applied in the page), "
            f"{len(lat)} frames: p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} "
            f"ms, max {max(lat):.0f} ms")
    finally:
        poller.close()
        browser.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running dashboard, e.g. http://127.0.0.1:8080/?tenant=demo")
    ap.add_argument("--switchboard", help="the switchboard binary: start `up --demo`")
    ap.add_argument("--root", help="the source tree (unused for now; for symmetry with others)")
    ap.add_argument("--artifact-dir", default=os.getcwd(),
                    help="where the screenshot goes when $SB_ARTIFACT_DIR is unset")
    ap.add_argument("--deadline", type=float, default=60, help="seconds for each wait")
    args = ap.parse_args()
    if not args.url and not args.switchboard:
        ap.error("give --url or --switchboard")
    if websocket is None:
        print("SKIP: python3-websocket is not installed (apt-get install python3-websocket)")
        return SKIP
    if find_chromium() is None:
        print("SKIP: chromium is not installed (apt-get install chromium)")
        return SKIP
    artifact_dir = os.environ.get("SB_ARTIFACT_DIR") or args.artifact_dir
    up = None
    try:
        url = args.url
        if not url:
            up = Up(args.switchboard, duration_s=170)
            url = up.dashboard_url(deadline_s=90)
            log(f"switchboard up: dashboard at {url}")
        run(url, artifact_dir, args.deadline)
    except AssertionError as e:
        print(f"FAIL: {e}", flush=True)
        if up is not None:
            print("---- switchboard up output ----\n" + "".join(up.out[-80:]), flush=True)
        return 1
    finally:
        if up is not None:
            up.stop()
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
