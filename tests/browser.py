"""Headless Chromium driven over the Chrome DevTools Protocol, for tests that open real pages.

Small on purpose: start Debian's `/usr/bin/chromium`, open pages, evaluate JavaScript, wait on a
condition *in the page* with a deadline (never a fixed sleep), collect console errors and
uncaught exceptions, move the mouse, take screenshots. Used by `test_html_browser.py`, and
meant to be reused by notebook end-to-end tests (open a JupyterLab URL, wait on a selector).

    with Chromium() as browser:
        page = browser.new_page()
        page.goto("file:///tmp/report.html")
        page.wait_for("window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle")
        assert page.errors() == []

Chromium is started with its own throw-away profile and `--remote-debugging-port=0`; it writes
the port it chose to `<profile>/DevToolsActivePort`, which we read (no port races). On close we
ask it to quit over CDP and, if it does not, kill the process group we started it in.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = os.environ.get("ANE_NOTEBOOK_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",  # containers usually lack the user namespaces the sandbox needs
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-port=0",
    # WebGL through SwiftShader, so bokeh's webgl backend is exercised, not silently skipped.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
)


class BrowserError(RuntimeError):
    pass


def chromium_missing_reason() -> str | None:
    """Why browser tests cannot run here, or None when they can."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        reason = (
            f"headless Chromium not found at {CHROMIUM} (Debian: apt-get install -y "
            "chromium; or set ANE_NOTEBOOK_CHROMIUM)"
        )
        if os.environ.get("ANE_NOTEBOOK_REQUIRE_BROWSER"):
            # CI installs Chromium: there a missing browser is a failure, never a skip.
            raise RuntimeError(f"ANE_NOTEBOOK_REQUIRE_BROWSER is set but {reason}")
        return reason
    return None


# JavaScript helpers injected into every page: bokeh renders inside shadow roots, which
# document.querySelectorAll does not enter.
_PAGE_HELPERS = """
window.__deepQueryAll = function (selector, root) {
  const out = [];
  const visit = (node) => {
    if (node.querySelectorAll) { out.push(...node.querySelectorAll(selector)); }
    const all = node.querySelectorAll ? node.querySelectorAll('*') : [];
    for (const el of all) { if (el.shadowRoot) { visit(el.shadowRoot); } }
    if (node.shadowRoot) { visit(node.shadowRoot); }
  };
  visit(root || document);
  return out;
};
"""


class Page:
    """One tab, attached through a flattened CDP session on the browser's websocket."""

    def __init__(self, browser: Chromium, target_id: str, session_id: str) -> None:
        self._browser = browser
        self.target_id = target_id
        self.session_id = session_id
        self.console: list[dict[str, Any]] = []  # every console call: {"type", "text"}
        self.exceptions: list[str] = []  # uncaught exceptions and unhandled rejections
        self.log_errors: list[str] = []  # browser-side errors (failed loads, CSP, ...)
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": _PAGE_HELPERS})
        # Also into the current document: an adopted iframe has loaded already.
        self.send("Runtime.evaluate", {"expression": _PAGE_HELPERS})

    # --- protocol ---------------------------------------------------------------------------
    def send(
        self, method: str, params: dict[str, Any] | None = None, timeout: float = 20.0
    ) -> dict[str, Any]:
        return self._browser.send(method, params, session_id=self.session_id, timeout=timeout)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(
                str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
            )
            self.console.append({"type": params.get("type"), "text": text})
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            exc = d.get("exception", {})
            self.exceptions.append(str(exc.get("description") or d.get("text")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                self.log_errors.append(
                    f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip()
                )

    # --- navigation and evaluation ------------------------------------------------------------
    def goto(self, url: str, timeout: float = 20.0) -> None:
        """Navigate and wait for the load event."""
        self._browser.pending_events.clear()
        res = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if res.get("errorText"):
            raise BrowserError(f"cannot open {url}: {res['errorText']}")
        self._browser.wait_event("Page.loadEventFired", self.session_id, timeout)

    def set_viewport(self, width: int, height: int, scale: float = 1.0) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
        )

    def evaluate(self, expression: str, timeout: float = 20.0) -> Any:
        """Evaluate `expression` (awaiting promises) and return its JSON value."""
        res = self.send(
            "Runtime.evaluate",
            {
                "expression": expression,
                "returnByValue": True,
                "awaitPromise": True,
                "userGesture": True,
            },
            timeout=timeout,
        )
        if "exceptionDetails" in res:
            d = res["exceptionDetails"]
            desc = d.get("exception", {}).get("description") or d.get("text")
            raise BrowserError(f"JavaScript error: {desc}")
        return res.get("result", {}).get("value")

    def wait_for(self, condition: str, timeout: float = 15.0, what: str = "") -> Any:
        """Wait until the JavaScript expression `condition` is truthy; return its value.

        The polling runs inside the page (setTimeout, 25 ms), so one CDP call waits for it; the
        deadline is enforced there and again here.
        """
        ms = int(timeout * 1000)
        js = f"""new Promise((resolve) => {{
          const t0 = performance.now();
          const check = () => {{
            let v = null;
            try {{ v = ({condition}); }} catch (e) {{ v = null; }}
            if (v) {{ resolve({{ok: true, value: v}}); }}
            else if (performance.now() - t0 > {ms}) {{ resolve({{ok: false}}); }}
            else {{ setTimeout(check, 25); }}
          }};
          check();
        }})"""
        res = self.evaluate(js, timeout=timeout + 5)
        if not res or not res.get("ok"):
            raise BrowserError(
                f"timed out after {timeout:.0f} s waiting for "
                f"{what or condition}; console: {self.console[-5:]}; "
                f"exceptions: {self.exceptions[-3:]}"
            )
        return res.get("value")

    def wait_for_bokeh(self, timeout: float = 15.0) -> None:
        """Wait until every bokeh document on the page has rendered (document idle)."""
        self.wait_for(
            "window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents.every((d) => d.is_idle)",
            timeout,
            what="bokeh documents to render",
        )

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser error logs seen so far."""
        msgs = [
            f"console.{c['type']}: {c['text']}"
            for c in self.console
            if c["type"] in ("error", "assert")
        ]
        return (
            msgs
            + [f"exception: {e}" for e in self.exceptions]
            + [f"log: {e}" for e in self.log_errors]
        )

    # --- input and output -------------------------------------------------------------------
    def mouse_move(self, x: float, y: float) -> None:
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def screenshot(self, path: str | os.PathLike[str], full_page: bool = True) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            m = self.send("Page.getLayoutMetrics")
            size = m.get("cssContentSize") or m["contentSize"]
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": size["height"],
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params, timeout=30)["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out

    def track_iframes(self) -> None:
        """Attach to this page's out-of-process iframes as they appear (call before `goto`).
        Chromium runs sandboxed and cross-origin iframes in their own renderer, where the
        page's own session cannot evaluate anything."""
        self.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True},
        )

    def iframe(self, timeout: float = 15.0, index: int = 0) -> Page:
        """The `index`-th out-of-process iframe of this page, as a Page (see track_iframes)."""
        deadline = time.monotonic() + timeout
        while True:
            found = [
                c
                for c in self._browser.children.get(self.session_id, [])
                if c.get("targetInfo", {}).get("type") == "iframe"
            ]
            if len(found) > index:
                info = found[index]
                sid = info["sessionId"]
                existing = self._browser.page_for_session(sid)
                if existing is not None:
                    return existing
                return self._browser.adopt(info["targetInfo"]["targetId"], sid)
            self._browser.receive_one(deadline, what="an iframe to attach")

    def close(self) -> None:
        self._browser.send("Target.closeTarget", {"targetId": self.target_id})


class Chromium:
    """A headless Chromium process and a CDP connection to it."""

    def __init__(
        self,
        binary: str = CHROMIUM,
        extra_flags: tuple[str, ...] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self.binary = binary
        self.extra_flags = extra_flags
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._ws: websocket.WebSocket | None = None
        self._profile: str | None = None
        self._next_id = 0
        self._pages: dict[str, Page] = {}
        self.pending_events: list[tuple[str | None, str, dict[str, Any]]] = []
        self.event_log: list[tuple[str | None, str, dict[str, Any]]] = []
        self.children: dict[str | None, list[dict[str, Any]]] = {}

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Chromium:
        reason = chromium_missing_reason() if self.binary == CHROMIUM else None
        if reason:
            raise BrowserError(reason)
        self._profile = tempfile.mkdtemp(prefix="ane-chromium-")
        log = open(os.path.join(self._profile, "chromium.log"), "wb")  # noqa: SIM115
        # A new session: Chromium's helper processes share its process group, so close() can
        # end exactly what we started.
        self._proc = subprocess.Popen(
            [
                self.binary,
                *CHROMIUM_FLAGS,
                *self.extra_flags,
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        port_file = Path(self._profile, "DevToolsActivePort")
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if port_file.exists():
                lines = port_file.read_text().split("\n")
                if len(lines) >= 2 and lines[1]:
                    break
            if self._proc.poll() is not None:
                raise BrowserError(
                    f"Chromium exited with {self._proc.returncode}: {self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.close()
                raise BrowserError("Chromium did not open its DevTools port in time")
            time.sleep(0.02)  # waiting for a file another process writes: nothing to poll on
        port, path = lines[0].strip(), lines[1].strip()
        self._ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}{path}", timeout=self.startup_timeout, suppress_origin=True
        )
        return self

    def log_tail(self, n: int = 20) -> str:
        if not self._profile:
            return ""
        p = Path(self._profile, "chromium.log")
        return "\n".join(p.read_text(errors="replace").splitlines()[-n:]) if p.exists() else ""

    def close(self) -> None:
        if self._ws is not None:
            # Chromium may close the socket before answering; the process check below decides.
            with suppress(BrowserError, OSError, websocket.WebSocketException):
                self.send("Browser.close", timeout=5)
            self._ws.close()
            self._ws = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=5)
            self._proc = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> Chromium:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- protocol -----------------------------------------------------------------------------
    def _recv(self, deadline: float) -> dict[str, Any]:
        assert self._ws is not None
        self._ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            msg: dict[str, Any] = json.loads(self._ws.recv())
        except websocket.WebSocketTimeoutException:
            raise BrowserError("no answer from Chromium in time") from None
        if msg.get("method") == "Target.attachedToTarget":
            # A child target (an out-of-process iframe, e.g. a sandboxed srcdoc iframe) of the
            # page whose session reported it.
            self.children.setdefault(msg.get("sessionId"), []).append(msg["params"])
        if "method" in msg:
            sid = msg.get("sessionId")
            page = self._pages.get(sid) if sid else None
            if page is not None:
                page._on_event(msg["method"], msg.get("params", {}))
            event = (sid, msg["method"], msg.get("params", {}))
            self.pending_events.append(event)
            del self.pending_events[:-200]  # only recent events are ever waited on
            self.event_log.append(event)
            del self.event_log[:-500]  # for diagnostics
        return msg

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session_id: str | None = None,
        timeout: float = 20.0,
    ) -> dict[str, Any]:
        if self._ws is None:
            raise BrowserError("browser not started")
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        self._ws.send(json.dumps(msg))
        deadline = time.monotonic() + timeout
        while True:
            reply = self._recv(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def wait_event(self, method: str, session_id: str | None, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, (sid, m, params) in enumerate(self.pending_events):
                if m == method and sid == session_id:
                    del self.pending_events[: i + 1]
                    return params
            self.pending_events.clear()
            self._recv(deadline)

    def receive_one(self, deadline: float, what: str = "an event") -> None:
        """Process one message from Chromium (an event), or fail at `deadline`."""
        if time.monotonic() > deadline:
            raise BrowserError(f"timed out waiting for {what}")
        self._recv(deadline)

    def page_for_session(self, session_id: str) -> Page | None:
        return self._pages.get(session_id)

    def adopt(self, target_id: str, session_id: str) -> Page:
        page = Page(self, target_id, session_id)
        self._pages[session_id] = page
        return page

    def new_page(self, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, target, session)
        self._pages[session] = page
        page.set_viewport(width, height)
        return page


@contextmanager
def chromium(**kwargs: Any) -> Iterator[Chromium]:
    with Chromium(**kwargs) as browser:
        yield browser
