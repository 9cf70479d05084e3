#!/usr/bin/python3
"""The browser demo, end to end, in headless Chromium on WebGPU (SwiftShader: no GPU needed).

Builds the demo (web/build.sh) and the native CLI (cargo build --release), serves the demo with
`pathprox serve` on a free port, opens index.html?test=1&steps=N&every=M&seed=S in headless Chromium over
the Chrome DevTools Protocol, waits for the page's <pre id="state"> to say "done", and checks:
  - no error, a WebGPU adapter (a page without one FAILS the test, it is not skipped);
  - for both methods: finite objectives that fall (last < first), active units reported;
  - each toy canvas is drawn (pixel variance above a threshold);
  - the objectives at steps 0, M, 2M, ..., N equal those of the native `pathprox toy` run with the same
    seed within a relative tolerance (--rtol);
and saves a screenshot (--screenshot, default target/browser-test.png).

Needs: chromium and python3-websocket (Debian packages). Run with /usr/bin/python3:
    /usr/bin/python3 web/test_browser.py                  # build everything, then test
    /usr/bin/python3 web/test_browser.py --dist web/dist  # test an existing build
Exits 0 when every check passes, 1 otherwise (with the reason).
"""

import argparse
import base64
import glob
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Chromium on a machine without a GPU: WebGPU is behind --enable-unsafe-webgpu on Linux, and Dawn then
# offers its SwiftShader (CPU Vulkan) adapter. --no-sandbox: CI runs as root.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--enable-unsafe-webgpu",
    "--disable-gpu-sandbox",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--mute-audio",
    # Keep rendering and timers going in a page that has no visible window.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--window-size=1280,1800",
]


class Failure(Exception):
    pass


def log(msg):
    print(f"[browser-test {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_chromium(explicit):
    for name in [explicit] if explicit else ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    raise Failure("no Chromium found: apt-get install chromium (or pass --chromium PATH)")


class Cdp:
    """A minimal Chrome DevTools Protocol client on one page target."""

    def __init__(self, ws_url):
        import websocket  # Debian: python3-websocket

        self.ws = websocket.create_connection(ws_url, timeout=120, suppress_origin=True)
        self.next_id = 0
        self.console = []  # console messages and exceptions, for the failure report

    def _event(self, msg):
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append(f"console.{params.get('type')}: {text}")
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.console.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Log.entryAdded":
            e = params.get("entry", {})
            self.console.append(f"log.{e.get('level')}: {e.get('text')} {e.get('url', '')}")

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise Failure(f"CDP {method}: {msg['error']}")
                return msg.get("result", {})
            self._event(msg)

    def eval(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise Failure(f"evaluating {expression[:60]}...: {r['exceptionDetails']}")
        return r.get("result", {}).get("value")

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass


def start_chromium(chromium, profile, extra=()):
    cmd = [chromium, *CHROMIUM_FLAGS, *extra, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"]
    out = open(os.path.join(profile, "chromium.log"), "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    # With port 0 Chromium picks a free port and writes it to DevToolsActivePort.
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise Failure(f"chromium exited with {proc.returncode}; see {out.name}")
        try:
            with open(port_file) as f:
                port = int(f.readline())
            tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5))
            pages = [t for t in tabs if t.get("type") == "page"]
            if pages:
                return proc, pages[0]["webSocketDebuggerUrl"]
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise Failure("chromium did not open its DevTools port within 60 s")


def stop(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(cmd, **kw):
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=ROOT, **kw)
    if r.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited with {r.returncode}")
    return r


def serve(binary, dist):
    port = free_port()
    proc = subprocess.Popen([binary, "serve", dist, "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if "http://" not in line:
        stop(proc)
        raise Failure(f"pathprox serve did not start: {line!r}")
    log(line.strip())
    return proc, f"http://127.0.0.1:{port}/"


def series_at(points, steps):
    """{step: value} of a [[step, value], ...] list, for the wanted steps."""
    d = {int(s): v for s, v in points}
    return {s: d.get(s) for s in steps}


def native_objectives(binary, steps, every, seed, workdir):
    """Runs `pathprox toy` and returns {method: {iter: objective}} from its JSON-lines logs."""
    out = os.path.join(workdir, "native")
    run([binary, "toy", "--iters", str(steps), "--log-every", str(every), "--seed", str(seed), "--runs-dir", out])
    logs = sorted(glob.glob(os.path.join(out, "**", "*.jsonl"), recursive=True))
    result = {}
    for path in logs:
        name = os.path.splitext(os.path.basename(path))[0]
        rows = {}
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                row = json.loads(line)
                if "iter" in row and "objective" in row:
                    rows[int(row["iter"])] = float(row["objective"])
        if rows:
            result[name] = rows
    if not result:
        raise Failure(f"pathprox toy wrote no JSON-lines log with iter and objective under {out} (found {logs})")
    return result


CANVAS_CHECK = """
(() => [...document.querySelectorAll('canvas.region')].map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0, s = 0, s2 = 0;
  for (let i = 0; i < d.length; i += 4) for (let k = 0; k < 3; k++) { const v = d[i + k]; n++; s += v; s2 += v * v; }
  const mean = s / n;
  return { id: c.id, width: c.width, height: c.height, std: Math.sqrt(Math.max(0, s2 / n - mean * mean)) };
}))()
"""


def check_page(state, steps, every):
    problems = []
    if state.get("status") != "done":
        problems.append(f"status {state.get('status')!r}, error {state.get('error')!r}")
        return problems
    if state.get("error"):
        problems.append(f"error {state['error']!r}")
    if not state.get("adapter"):
        problems.append("no adapter name reported")
    if state.get("steps") != steps:
        problems.append(f"steps {state.get('steps')} != {steps}")
    methods = state.get("methods") or []
    names = [m.get("name") for m in methods]
    for want in ("wd", "pathprox"):
        if want not in names:
            problems.append(f"method {want!r} missing (have {names})")
    wanted = list(range(0, steps + 1, every)) + ([steps] if steps % every else [])
    for m in methods:
        obj = m.get("objective") or []
        act = m.get("active_units") or []
        got = series_at(obj, wanted)
        missing = [s for s, v in got.items() if v is None]
        if missing:
            problems.append(f"{m['name']}: no objective at steps {missing}")
        vals = [v for _, v in obj]
        if not vals or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            problems.append(f"{m['name']}: objectives not all finite: {vals}")
        elif not vals[-1] < vals[0]:
            problems.append(f"{m['name']}: objective did not fall: first {vals[0]}, last {vals[-1]}")
        if not act or not all(isinstance(v, (int, float)) and 0 <= v <= 100 for _, v in act):
            problems.append(f"{m['name']}: active units missing or outside 0..100: {act}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dist", help="a built demo folder (skips web/build.sh)")
    ap.add_argument("--binary", help="the native pathprox binary (skips cargo build --release)")
    ap.add_argument("--chromium", help="the Chromium binary (default: chromium on PATH)")
    ap.add_argument("--chromium-arg", action="append", default=[], metavar="FLAG",
                    help="one more Chromium flag (repeatable), e.g. --chromium-arg=--disable-software-rasterizer (no SwiftShader: no adapter) to see the test fail")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--mnist-steps", type=int, default=0, help="also run this many Task-1 steps in the page (reports steps/s)")
    ap.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance, browser vs native objectives")
    ap.add_argument("--no-native", action="store_true", help="skip the comparison with `pathprox toy`")
    ap.add_argument("--timeout", type=float, default=900, help="seconds to wait for the page")
    ap.add_argument("--screenshot", default=os.path.join(ROOT, "target", "browser-test.png"))
    ap.add_argument("--min-canvas-std", type=float, default=8.0, help="least pixel standard deviation of a drawn canvas")
    args = ap.parse_args()

    t_start = time.time()
    server = chrome = cdp = None
    workdir = tempfile.mkdtemp(prefix="pathprox-browser-")
    ok = False
    try:
        dist = args.dist
        if not dist:
            dist = os.path.join(ROOT, "web", "dist")
            run(["bash", "web/build.sh", dist])
        if not os.path.isfile(os.path.join(dist, "index.html")) or not glob.glob(os.path.join(dist, "pkg", "*.wasm")):
            raise Failure(f"{dist} is not a built demo (index.html, pkg/*.wasm)")
        binary = args.binary
        if not binary:
            run(["cargo", "build", "--release"])
            binary = os.path.join(ROOT, "target", "release", "pathprox")

        server, base = serve(binary, dist)
        chromium = find_chromium(args.chromium)
        log(f"{subprocess.run([chromium, '--version'], capture_output=True, text=True).stdout.strip()}")
        chrome, ws_url = start_chromium(chromium, workdir, args.chromium_arg)
        cdp = Cdp(ws_url)
        cdp.call("Runtime.enable")
        cdp.call("Log.enable")
        cdp.call("Page.enable")
        cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=1800, deviceScaleFactor=1, mobile=False)
        url = f"{base}index.html?test=1&steps={args.steps}&every={args.every}&seed={args.seed}&mnist={args.mnist_steps}"
        log(f"opening {url}")
        t_page = time.time()
        cdp.call("Page.navigate", url=url)

        state, last_report = None, 0
        while time.time() - t_page < args.timeout:
            text = cdp.eval("(() => { const e = document.getElementById('state'); return e ? e.textContent : null; })()")
            try:
                state = json.loads(text) if text else None
            except ValueError:
                state = None
            if state and state.get("status") in ("done", "error"):
                break
            if state and time.time() - last_report > 15:
                mn = state.get("mnist") or {}
                log(f"  {state.get('status')}: toy step {state.get('steps')}" + (f", Task 1 step {mn.get('steps')}" if mn else ""))
                last_report = time.time()
            time.sleep(1)
        page_s = time.time() - t_page

        # The screenshot first: it shows what went wrong too.
        os.makedirs(os.path.dirname(os.path.abspath(args.screenshot)), exist_ok=True)
        shot = cdp.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        log(f"screenshot: {args.screenshot}")

        if not state or state.get("status") not in ("done", "error"):
            raise Failure(f"the page did not finish within {args.timeout:.0f} s; last state: {json.dumps(state)[:500]}")
        log(f"page: {state.get('status')} in {page_s:.1f} s on {state.get('adapter')!r}; toy {state.get('steps')} steps at {state.get('steps_per_s', 0):.1f} steps/s")
        mn = state.get("mnist")
        if mn:
            log(f"Task 1: {mn.get('steps')} steps at {mn.get('steps_per_s', 0):.2f} steps/s")
        problems = check_page(state, args.steps, args.every)
        if args.mnist_steps and state.get("status") == "done":
            if not mn or mn.get("steps") != args.mnist_steps:
                problems.append(f"Task 1: expected {args.mnist_steps} steps, state says {mn and mn.get('steps')}")
            else:
                for m in mn.get("methods", []):
                    vals = [v for _, v in m.get("objective", [])]
                    if not vals or not all(math.isfinite(v) for v in vals):
                        problems.append(f"Task 1 {m.get('name')}: objectives not finite: {vals}")
        if state.get("status") == "done":
            canvases = cdp.eval(CANVAS_CHECK)
            log("canvases: " + ", ".join(f"{c['id']} {c['width']}x{c['height']} std {c['std']:.1f}" for c in canvases))
            if len(canvases) < 2:
                problems.append(f"expected a canvas per method, found {len(canvases)}")
            for c in canvases:
                if c["std"] < args.min_canvas_std:
                    problems.append(f"canvas {c['id']} looks blank (pixel std {c['std']:.2f} < {args.min_canvas_std})")
        for m in state.get("methods") or []:
            log(f"  {m['name']}: objective " + ", ".join(f"{s}: {v:.6g}" for s, v in m.get("objective", [])) +
                "; active units " + ", ".join(f"{s}: {v:.1f}%" for s, v in m.get("active_units", [])))
        if problems:
            raise Failure("the page failed its checks:\n  - " + "\n  - ".join(problems))

        if not args.no_native:
            native = native_objectives(binary, args.steps, args.every, args.seed, workdir)
            wanted = list(range(0, args.steps + 1, args.every))
            worst = 0.0
            diffs = []
            for m in state["methods"]:
                if m["name"] not in native:
                    raise Failure(f"the native run has no log for {m['name']} (has {sorted(native)})")
                browser = series_at(m["objective"], wanted)
                for s in wanted:
                    if s not in native[m["name"]]:
                        raise Failure(f"the native {m['name']} log has no objective at iteration {s} (has {sorted(native[m['name']])})")
                    b, n = browser[s], native[m["name"]][s]
                    rel = abs(b - n) / max(abs(n), 1e-30)
                    worst = max(worst, rel)
                    diffs.append(f"{m['name']}@{s}: browser {b:.8g} native {n:.8g} rel {rel:.2e}")
            log("browser vs native:\n    " + "\n    ".join(diffs))
            log(f"largest relative difference {worst:.3e} (tolerance {args.rtol:g})")
            if worst > args.rtol:
                raise Failure(f"browser and native objectives differ by {worst:.3e} relative, more than {args.rtol:g}")

        ok = True
        log(f"passed in {time.time() - t_start:.0f} s")
    except Failure as e:
        print(f"browser test FAILED: {e}", file=sys.stderr)
    finally:
        if cdp and not ok and cdp.console:
            print("page console:\n  " + "\n  ".join(cdp.console[-40:]), file=sys.stderr)
        if cdp:
            cdp.close()
        stop(chrome)
        stop(server)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"(Chromium's log and the native run are in {workdir})", file=sys.stderr)
    if ok:
        print("browser test: 1 passed, 0 failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
