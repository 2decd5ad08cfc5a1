"""A real-browser check of a rendered report: headless Chromium opens the index and every page in an iframe
and reports, per page, how many images it has, which did not load, and whether it shows a Python traceback."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

CHECKER = """<!DOCTYPE html><html><body><pre id="out">pending</pre><script>
const pages = %s;
function check(page) {
  return new Promise(resolve => {
    const frame = document.createElement("iframe");
    frame.style.width = "1200px"; frame.style.height = "900px";
    frame.onload = async () => {
      const doc = frame.contentDocument;
      const images = Array.from(doc.images);
      await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
      resolve({page, images: images.length,
               broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 60)),
               traceback: doc.body.innerText.includes("Traceback (most recent call last)")});
      frame.remove();
    };
    frame.src = page;
    document.body.appendChild(frame);
  });
}
(async () => {
  const results = [];
  for (const page of pages) results.push(await check(page));
  document.getElementById("out").textContent = JSON.stringify(results);
})();
</script></body></html>"""


def chromium() -> str | None:
    return next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


def check_report(report: Path, screenshot: Path) -> list[dict]:
    """Open index.html and every page under `report` in headless Chromium; return one result per page, and
    write a screenshot of the index."""
    browser = chromium()
    pages = ["index.html"] + sorted(str(p.relative_to(report)) for p in report.rglob("*.html")
                                    if p.name not in ("index.html", "_check.html"))
    checker = report / "_check.html"
    checker.write_text(CHECKER % json.dumps(pages))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--hide-scrollbars"]
    try:
        dom = subprocess.run([browser, *flags, "--virtual-time-budget=60000", "--dump-dom", checker.as_uri()],
                             capture_output=True, text=True, timeout=240).stdout
    finally:
        checker.unlink()
    subprocess.run([browser, *flags, f"--screenshot={screenshot}", "--window-size=1280,2400",
                    (report / "index.html").as_uri()], capture_output=True, timeout=120)
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    if not found or found.group(1) == "pending":
        raise RuntimeError(f"the browser check did not finish: {dom[-500:]!r}")
    return json.loads(html.unescape(found.group(1)))


def table_cells(page: str) -> list[str]:
    """The text of every cell (td and th) of the HTML tables in `page`."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self.cell = [], None

        def handle_starttag(self, tag, attrs):
            if tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                self.cells.append(self.cell.strip())
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    parser = Cells()
    parser.feed(page)
    return parser.cells


def unreadable(cells: list[str]) -> list[str]:
    """Cells a reader should not meet in a hand-in table: NaN, <NA>, None, or a raw number with four or more
    decimals."""
    return [c for c in cells if c in ("NaN", "nan", "<NA>", "None") or re.fullmatch(r"-?\d+\.\d{4,}", c)]


def write_y4m(video: Path, target: Path) -> Path:
    """The frames of `video` as a YUV4MPEG2 file (4:2:0), which Chromium plays as a fake camera
    (--use-file-for-fake-video-capture), looping."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    fps = int(round(capture.get(cv2.CAP_PROP_FPS))) or 10
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    height, width = frames[0].shape[:2]
    with open(target, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return target


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 60) -> None:
    """Until `url` answers (a server starting), or RuntimeError after `timeout` seconds."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.2)


class Page:
    """A page in headless Chromium, driven over the DevTools protocol (Tornado's WebSocket client): evaluate
    JavaScript in it, take a screenshot. `flags` are Chromium's, e.g. a fake camera."""

    def __init__(self, url: str, folder: Path, flags=(), size=(1280, 900)):
        import asyncio
        import time
        import urllib.request

        self.port = free_port()
        self.process = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={folder}", f"--remote-debugging-port={self.port}", f"--window-size={size[0]},{size[1]}",
             *flags, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.loop, self.next_id = asyncio.new_event_loop(), 0
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=2) as answer:
                    targets = [t for t in json.loads(answer.read()) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise RuntimeError("headless Chromium did not open the page")
            time.sleep(0.2)
        from tornado.websocket import websocket_connect

        self.socket = self._run(lambda: websocket_connect(targets[0]["webSocketDebuggerUrl"],
                                                          max_message_size=64 << 20))

    def _run(self, make):
        """The result of the awaitable `make()` makes, run on this page's own event loop."""
        async def waited():
            return await make()
        return self.loop.run_until_complete(waited())

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        request = json.dumps({"id": self.next_id, "method": method, "params": params})
        self._run(lambda: self.socket.write_message(request))
        while True:
            message = json.loads(self._run(self.socket.read_message))
            if message.get("id") == self.next_id:
                return message.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path) -> Path:
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        return path

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.kill()
        self.process.wait()
        self.loop.close()
