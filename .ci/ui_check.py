#!/usr/bin/env python3
"""Open notebooks in a real JupyterLab in headless Chromium, run all cells, screenshot them.

    python3 .ci/ui_check.py [--install] [--python .venv/bin/python] [--out ui_check_out] NOTEBOOK...

What `make ui-check` runs (not part of `make test`), on every notebook in notebooks/. It copies the
notebooks into OUT/lab (the working tree is never touched), starts one JupyterLab there
(COURSE_PROFILE=ci unless already set), drives Chromium through chromedriver's W3C WebDriver HTTP API
(standard library only: no Selenium), and for each notebook in turn: opens it in a fresh workspace,
runs "Run All Cells" as the menu does, waits for the kernel, and records a failure if any cell raised
or did not run. Per notebook it saves OUT/<name>/top.png (the banner), OUT/<name>/end.png (the end
of the notebook) and OUT/<name>/cell<i>.png, one picture of every code cell's outputs that show a
figure or a widget (cell i of the notebook's cell list, as Lab draws it at the window's width), and
it checks that the notebook Lab saved cleans back, through the git filter, to the committed one;
then it shuts that notebook's kernel down. The last lines list each notebook's verdict; the exit
status is 1 if any notebook failed. Look at the pictures: this check catches errors, not ugliness.
Needs Chromium and chromedriver: `apt-get install chromium chromium-driver` on Debian/Ubuntu
(--install does that when run as root).
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbclean import clean_text  # noqa: E402

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
HOW_TO_INSTALL = ("install Chromium and its WebDriver, e.g. `sudo apt-get install chromium "
                  "chromium-driver` (Debian/Ubuntu), then run `make ui-check` again")

# JavaScript run in the page. `window.jupyterapp` exists because Lab runs with
# --LabApp.expose_app_in_browser; the commands are the ones Lab's menus call.
JS_STATE = """
const app = window.jupyterapp;
if (!app || !app.shell.currentWidget || !app.shell.currentWidget.content
    || !app.shell.currentWidget.content.widgets) return {ready: false};
const panel = app.shell.currentWidget;
const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
const cells = panel.content.widgets.map((c, i) => [i, c]).filter(([i, c]) => c.model.type === 'code')
  .map(([i, c]) => ({index: i, count: c.model.executionCount,
  errors: c.model.outputs.toJSON().filter(o => o.output_type === 'error')
                                  .map(o => o.ename + ': ' + o.evalue)}));
return {ready: panel.context.isReady && !!kernel, title: panel.title.label,
        kernel: kernel ? kernel.status : null, cells: cells,
        busy: document.querySelectorAll('.jp-InputPrompt').length > 0 &&
              Array.from(document.querySelectorAll('.jp-InputPrompt')).some(p => p.textContent.includes('*'))};
"""
JS_FIGURES = """
// Indices (in the notebook's cell list) of the code cells whose outputs hold a picture or a widget.
const nb = window.jupyterapp.shell.currentWidget.content;
return nb.widgets.map((c, i) => [i, c]).filter(([i, c]) => c.model.type === 'code' &&
  c.model.outputs.toJSON().some(o => o.data && (o.data['image/png'] || o.data['image/svg+xml']
                                                  || o.data['application/vnd.jupyter.widget-view+json'])))
  .map(([i, c]) => i);
"""
JS_OUTPUT_NODE = """
// The output area of cell i, once the notebook has scrolled it into view (Lab renders lazily).
const done = arguments[arguments.length - 1];
const nb = window.jupyterapp.shell.currentWidget.content;
const i = arguments[0];
nb.activeCellIndex = i;
Promise.resolve(nb.scrollToItem ? nb.scrollToItem(i, 'start') : nb.scrollToCell(nb.widgets[i]))
  .then(() => setTimeout(() => {
    const node = nb.widgets[i].outputArea && nb.widgets[i].outputArea.node;
    if (node) node.scrollIntoView({block: 'start'});
    setTimeout(() => done(node || null), 500);
  }, 1500), e => done(null));
"""
JS_COMMAND = """
const done = arguments[arguments.length - 1];
window.jupyterapp.commands.execute(arguments[0], arguments[1] || {})
  .then(() => done('ok'), e => done('error: ' + e));
"""
JS_SCROLL = """
const done = arguments[arguments.length - 1];
const nb = window.jupyterapp.shell.currentWidget.content;
const i = arguments[0] < 0 ? nb.widgets.length + arguments[0] : arguments[0];
nb.activeCellIndex = i;
Promise.resolve(nb.scrollToItem ? nb.scrollToItem(i, 'start') : nb.scrollToCell(nb.widgets[i]))
  .then(() => setTimeout(() => done('ok'), 1500), e => done('error: ' + e));
"""


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_tools(install: bool) -> tuple[str, str]:
    """(chromium, chromedriver) paths, installing the Debian packages as root if asked."""
    def lookup() -> tuple[str | None, str | None]:
        return next(filter(None, map(shutil.which, BROWSERS)), None), shutil.which("chromedriver")

    browser, driver = lookup()
    if (browser is None or driver is None) and install and os.geteuid() == 0 and shutil.which("apt-get"):
        print("[ui-check] installing chromium and chromium-driver with apt-get", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "chromium", "chromium-driver"], env=env, check=False)
        browser, driver = lookup()
    if browser is None or driver is None:
        missing = " and ".join(n for n, p in (("Chromium", browser), ("chromedriver", driver)) if p is None)
        raise SystemExit(f"[ui-check] {missing} not found: {HOW_TO_INSTALL}")
    return browser, driver


def http(method: str, url: str, body: dict | None = None, timeout: float = 120.0) -> dict:
    """One JSON request (WebDriver or Jupyter REST); returns the decoded answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:  # WebDriver puts the reason in the body
        raise RuntimeError(f"{method} {url}: HTTP {err.code}: {err.read()[:500]!r}") from None


def wait_for(what: str, check, timeout: float, every: float = 1.0):
    """Call ``check`` until it returns something truthy; RuntimeError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            got = check()
        except (OSError, RuntimeError, ValueError):
            got = None
        if got:
            return got
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")


class Browser:
    """A headless Chromium session driven over chromedriver's HTTP API."""

    def __init__(self, driver_url: str, browser: str, size: tuple[int, int]):
        caps = {"browserName": "chrome", "goog:chromeOptions": {"binary": browser, "args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--window-size={size[0]},{size[1]}"]}}
        answer = http("POST", f"{driver_url}/session", {"capabilities": {"alwaysMatch": caps}})
        self.url = f"{driver_url}/session/{answer['value']['sessionId']}"
        http("POST", f"{self.url}/timeouts", {"script": 600_000, "pageLoad": 300_000})

    def open(self, url: str) -> None:
        http("POST", f"{self.url}/url", {"url": url}, timeout=300)

    def js(self, script: str, *args, asynchronous: bool = False):
        kind = "async" if asynchronous else "sync"
        return http("POST", f"{self.url}/execute/{kind}", {"script": script, "args": list(args)},
                    timeout=660)["value"]

    def screenshot(self, path: Path, element: dict | None = None) -> None:
        """The window, or one element (a WebDriver element reference that js() returned)."""
        url = f"{self.url}/screenshot"
        if element is not None:
            url = f"{self.url}/element/{next(iter(element.values()))}/screenshot"
        png = base64.b64decode(http("GET", url)["value"])
        path.write_bytes(png)
        print(f"[ui-check] screenshot: {path}", flush=True)

    def close(self) -> None:
        try:
            http("DELETE", self.url, timeout=30)
        except (OSError, RuntimeError):
            pass


def start_lab(python: str, root: Path, port: int, token: str, log: Path) -> subprocess.Popen:
    """JupyterLab on 127.0.0.1:port serving ``root`` (COURSE_PROFILE=ci unless set), with its own
    settings and workspaces next to the log (the user's ~/.jupyter is neither read nor written)."""
    env = {**os.environ, "COURSE_PROFILE": os.environ.get("COURSE_PROFILE", "ci")}
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as for a student
    settings = log.parent / "lab-settings"
    news = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false"}\n')  # no "news?" toast over the screenshot
    command = [python, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={log.parent / 'lab-workspaces'}",
               "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def run_notebook(browser: Browser, timeout: float, name: str) -> dict:
    """Run all cells of the open notebook NAME; return the final state (cells with counts and errors)."""
    state = wait_for(f"{name} and its kernel", lambda: (s := browser.js(JS_STATE))["ready"]
                     and s["title"] == name and s["kernel"] == "idle" and s, timeout=300)
    print(f"[ui-check] opened {state['title']}: {len(state['cells'])} code cells; running all", flush=True)
    start = time.monotonic()
    # Started, not awaited: a long notebook would outlast WebDriver's script timeout; the loop below waits.
    browser.js("window.jupyterapp.commands.execute('notebook:run-all-cells'); return 'started';")
    idle_polls = 0
    while True:
        state = browser.js(JS_STATE)
        done = [c for c in state["cells"] if c["count"] is not None]
        errors = [e for c in state["cells"] for e in c["errors"]]
        settled = state["kernel"] == "idle" and not state["busy"]
        idle_polls = idle_polls + 1 if settled else 0
        if idle_polls >= 3 and (len(done) == len(state["cells"]) or errors):
            state["seconds"] = time.monotonic() - start
            return state
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s: {len(done)} of "
                               f"{len(state['cells'])} code cells ran")
        time.sleep(2)


def check_notebook(browser: Browser, base: str, token: str, copy: Path, committed: str, out: Path,
                   timeout: float) -> bool:
    """Open one notebook in its own workspace, run it, take its screenshots; True when it passed."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    # A workspace of its own: Lab does not reopen the previous notebook's tab next to this one.
    browser.open(f"{base}/lab/workspaces/ui-{copy.stem}/tree/{copy.name}?reset&token={token}")
    state = run_notebook(browser, timeout, copy.name)
    errors = [(c["index"], e) for c in state["cells"] for e in c["errors"]]
    ran = sum(c["count"] is not None for c in state["cells"])
    print(f"[ui-check] {copy.name}: {ran} of {len(state['cells'])} code cells ran, {len(errors)} error(s) "
          f"[time] in {state['seconds']:.0f} s", flush=True)
    browser.js(JS_SCROLL, 0, asynchronous=True)
    browser.screenshot(out / "top.png")
    for i in browser.js(JS_FIGURES):
        node = browser.js(JS_OUTPUT_NODE, i, asynchronous=True)
        if node:
            try:
                browser.screenshot(out / f"cell{i:02d}.png", element=node)
            except RuntimeError as err:  # e.g. an output of zero height
                print(f"[ui-check] no picture of cell {i}: {err}", flush=True)
    browser.js(JS_SCROLL, -1, asynchronous=True)
    browser.screenshot(out / "end.png")
    browser.js(JS_COMMAND, "docmanager:save", asynchronous=True)
    saved = copy.read_text(encoding="utf-8")
    filtered = clean_text(saved) == clean_text(committed)
    has_outputs = saved.count('"output_type"') > 0
    print(f"[ui-check] {copy.name}: Lab saved it with outputs: {has_outputs}; the git filter strips it "
          f"back to the committed notebook: {filtered}", flush=True)
    for i, e in errors:
        print(f"[ui-check] {copy.name}: ERROR in cell {i}: {e}", flush=True)
    return not errors and ran == len(state["cells"]) and filtered


def shut_down_kernels(base: str, token: str) -> None:
    """Stop every kernel of this Lab (the notebook just checked), so the next starts on a quiet machine."""
    for session in http("GET", f"{base}/api/sessions?token={token}", timeout=30):
        try:
            http("DELETE", f"{base}/api/sessions/{session['id']}?token={token}", timeout=60)
        except (OSError, RuntimeError) as err:
            print(f"[ui-check] could not stop kernel of {session.get('path')}: {err}", flush=True)


def main(argv: list[str]) -> int:
    """CLI: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", type=Path, nargs="+")
    parser.add_argument("--python", default=sys.executable, help="the environment's python (has jupyter)")
    parser.add_argument("--out", type=Path, default=Path("ui_check_out"))
    parser.add_argument("--install", action="store_true", help="apt-get install Chromium if missing (root)")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds for Run All, per notebook")
    args = parser.parse_args(argv)
    names = [nb.name for nb in args.notebooks]
    if len(set(names)) != len(names):
        raise SystemExit(f"[ui-check] two notebooks share a file name: {names}")
    browser_bin, driver_bin = find_tools(args.install)
    out = args.out.resolve()
    root = out / "lab"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    committed = {}
    for notebook in args.notebooks:
        committed[notebook.name] = notebook.read_text(encoding="utf-8")
        (root / notebook.name).write_text(clean_text(committed[notebook.name]), encoding="utf-8")

    lab_port, driver_port, token = free_port(), free_port(), secrets.token_hex(16)
    lab = start_lab(args.python, root, lab_port, token, out / "jupyterlab.log")
    driver = subprocess.Popen([driver_bin, f"--port={driver_port}"], stdout=subprocess.DEVNULL,
                              stderr=(out / "chromedriver.log").open("wb"))
    browser = None
    verdicts: dict[str, str] = {}
    try:
        base = f"http://127.0.0.1:{lab_port}"
        wait_for("JupyterLab to start (see jupyterlab.log)",
                 lambda: http("GET", f"{base}/api/status?token={token}", timeout=5), timeout=180)
        driver_url = f"http://127.0.0.1:{driver_port}"
        wait_for("chromedriver", lambda: http("GET", f"{driver_url}/status", timeout=5)["value"]["ready"],
                 timeout=60)
        browser = Browser(driver_url, browser_bin, (1400, 1600))
        for name in names:
            try:
                ok = check_notebook(browser, base, token, root / name, committed[name], out / Path(name).stem,
                                    args.timeout)
                verdicts[name] = "PASS" if ok else "FAIL"
            except (OSError, RuntimeError) as err:  # a timeout or a lost page: record it, go on
                verdicts[name] = f"FAIL ({err})"
            finally:
                try:
                    shut_down_kernels(base, token)
                except (OSError, RuntimeError) as err:
                    print(f"[ui-check] could not list the kernels: {err}", flush=True)
            print(f"[ui-check] {name}: {verdicts[name]}", flush=True)
    finally:
        if browser is not None:
            browser.close()
        for process in (driver, lab):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    for name in names:
        print(f"[ui-check] {verdicts.get(name, 'FAIL (not reached)'):<6} {name}  (screenshots: "
              f"{out / Path(name).stem})", flush=True)
    ok = all(verdicts.get(name) == "PASS" for name in names)
    print("[ui-check] " + ("PASS" if ok else f"FAIL: {sum(v != 'PASS' for v in verdicts.values())} of "
                           f"{len(names)} notebook(s)"), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
