"""The built book as a reader's browser shows it: every page opened in Chromium through Playwright
at desktop and phone width, checked for what a reader would notice, and photographed.

``python -m onepixel.publish.browser _build/html`` checks a built book and prints the problems;
the book's browser test calls :func:`check_book`. Chromium comes from the system (the Debian
package), never downloaded.
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import sys
import threading
from dataclasses import dataclass
from pathlib import Path


WIDTHS = {"desktop": (1280, 800), "phone": (390, 844)}
MISSING = re.compile(r"\b(nan|NaN|None|NaT)\b|<NA>")
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:home|root|tmp|work|usr|opt|mnt|var)/[\w.-]+")
SMALLEST_READABLE_PX = 7.0  # the smallest figure text a reader can read, in CSS pixels
RAW_ROLE = re.compile(r"\{[a-z:]+\}`[^`]*`")  # a MyST role the build did not render, e.g. {cite:t}`key`

# In the page: elements wider than the article, images that did not load, missing values in
# table cells, math not typeset, output figures and tables without a numbered caption, absolute
# paths and MyST roles left as text.
INSPECT = """() => {
  const article = document.querySelector('article.bd-article') || document.querySelector('main');
  const style = getComputedStyle(article);
  const width = article.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const label = el => (el.id || el.className || el.tagName).toString().slice(0, 60);
  const wide = [...article.querySelectorAll('table, figure, img, mjx-container')]
    .filter(el => el.getBoundingClientRect().width > width + 1)
    .map(el => `${el.tagName.toLowerCase()} ${label(el)}: ${Math.round(el.getBoundingClientRect().width)} px`);
  const broken = [...document.images].filter(img => !img.complete || img.naturalWidth === 0)
    .map(img => img.getAttribute('src'));
  const cells = [...article.querySelectorAll('td, th')].map(td => td.innerText);
  const rawMath = [...article.querySelectorAll('.math')].filter(el => !el.querySelector('mjx-container'))
    .map(el => el.innerText.slice(0, 40));
  const unnumbered = [...article.querySelectorAll('div.cell_output img')]
    .filter(img => !img.closest('figure')?.querySelector('figcaption .caption-number'))
    .map(img => img.getAttribute('src'));
  const uncaptioned = [...article.querySelectorAll('div.cell_output table')]
    .filter(t => !t.querySelector('caption .caption-number')).map(t => t.innerText.slice(0, 40));
  const images = [...article.querySelectorAll('img')]
    .map(img => ({src: img.currentSrc, shown: img.getBoundingClientRect().width, natural: img.naturalWidth}));
  const headline = [...article.querySelectorAll('table#tab-summary')]
    .filter(t => t.getBoundingClientRect().width > width + 1).map(t => Math.round(t.getBoundingClientRect().width));
  return {width, wide, broken, cells, rawMath, unnumbered, uncaptioned, images, headline, text: article.innerText};
}"""


@dataclass
class PageReport:
    page: str
    width: str
    problems: list[str]


def serve(directory: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A local HTTP server for ``directory`` (quiet), and its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def chromium() -> str | None:
    """The system's Chromium, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def smallest_text_shown(image: dict, base: str, root: Path) -> float | None:
    """The height in CSS pixels at which the browser shows the smallest text of a figure drawn by
    :class:`onepixel.publish.captions.Figure` (``image``: its URL, shown and natural widths), from the
    PNG's own record; None for other images."""
    from PIL import Image  # with the browser check only: Pillow comes with matplotlib

    from onepixel.publish.captions import SMALLEST_TEXT  # the check runs without the plotting stack otherwise

    if not image["src"].startswith(base) or not image["natural"]:
        return None
    path = root / image["src"][len(base):].split("#")[0]
    if path.suffix != ".png" or not path.exists():
        return None
    recorded = Image.open(path).text.get(SMALLEST_TEXT)
    return None if recorded is None else float(recorded) * image["shown"] / image["natural"]


def check_page(context, url: str, base: str, wide_limit: bool, shot: Path, root: Path | None = None) -> list[str]:
    """Open ``url`` in a new page of ``context``; return the problems a reader would see (with the
    book's folder ``root``, also figure text too small to read at this width)."""
    problems: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text[:200]}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"script error: {str(e)[:200]}"))

    def route(r):
        if r.request.url.startswith(base) or r.request.url.startswith("data:"):
            return r.continue_()
        problems.append(f"request outside the book: {r.request.url[:120]}")
        return r.abort()
    page.route("**/*", route)
    page.goto(url, wait_until="networkidle")
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=10_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    found = page.evaluate(INSPECT)
    if wide_limit:
        problems += [f"wider than the page ({found['width']:.0f} px): {w}" for w in found["wide"]]
    problems += [f"the headline table is wider than the page ({found['width']:.0f} px): {w} px"
                 for w in found["headline"]]
    for image in found["images"] if root is not None else []:
        shown = smallest_text_shown(image, base, root)
        if shown is not None and shown < SMALLEST_READABLE_PX:
            problems.append(f"figure text {shown:.1f} px high, below {SMALLEST_READABLE_PX:.0f}: "
                            f"{image['src'][len(base):]}")
    problems += [f"image did not load: {src}" for src in found["broken"]]
    problems += [f"missing value in a table: {c!r}" for c in found["cells"] if MISSING.search(c)][:5]
    problems += [f"equation not typeset: {m!r}" for m in found["rawMath"]]
    problems += [f"figure without a numbered caption: {src}" for src in found["unnumbered"]]
    problems += [f"table without a numbered caption: {t!r}" for t in found["uncaptioned"]]
    problems += [f"absolute path in the text: {p}" for p in sorted(set(ABSOLUTE_PATH.findall(found["text"])))]
    problems += [f"markup shown as text: {r}" for r in sorted(set(RAW_ROLE.findall(found["text"])))]
    shot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    return problems


def check_book(html: Path, shots: Path) -> list[PageReport]:
    """Every page of the built book ``html`` at both widths: the problems found, and full-page
    screenshots under ``shots`` (``<page>-<width>.png``)."""
    from playwright.sync_api import sync_playwright  # optional: the browser check's test dependency

    browser_path = chromium()
    if browser_path is None:
        raise FileNotFoundError("Chromium is not installed (Debian package chromium)")
    pages = sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                   if p.parent.name == "book" or p.name == "index.html")
    server, base = serve(html)
    reports = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=browser_path, args=["--no-sandbox", "--disable-gpu"])
            for name, (w, h) in WIDTHS.items():
                context = browser.new_context(viewport={"width": w, "height": h})
                for page in pages:
                    shot = shots / f"{Path(page).stem}-{name}.png"
                    problems = check_page(context, base + page, base, name == "desktop", shot, html)
                    reports.append(PageReport(page, name, problems))
                context.close()
            browser.close()
    finally:
        server.shutdown()
    return reports


if __name__ == "__main__":
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/html")
    found = check_book(root, root.parent / "screenshots")
    for r in found:
        for p in r.problems:
            print(f"{r.page} ({r.width}): {p}")
    print(f"{sum(len(r.problems) for r in found)} problems on {len(found)} page views; "
          f"screenshots in {root.parent / 'screenshots'}")
