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
