"""The smoke profile end to end: every notebook through papermill, then a Jupyter Book build."""
import json
import re
import shutil
from pathlib import Path

import pytest

from onepixel.book import NotebookFailed, build, execute, notebook_parameters

from .conftest import SHARED, shared_or_skip

ROOT = Path(__file__).resolve().parents[1]
# Chromium's own background requests (time sync, accounts, update pings), not the page's
CHROMIUM_OWN = re.compile(r"(^|\.)(google\.com|googleapis\.com|gstatic\.com|gvt1\.com|chromium\.org)$")


def scratch_book(tmp_path: Path) -> Path:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    (tmp_path / "book").mkdir()
    for p in (ROOT / "book").glob("*.md"):
        shutil.copy(p, tmp_path / "book" / p.name)
    shutil.copytree(ROOT / "book" / "_static", tmp_path / "book" / "_static")
    return tmp_path


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    shared_or_skip("models")
    tmp_path = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ONEPIXEL_DATA", str(SHARED))
        mp.setenv("ONEPIXEL_RESULTS", str(tmp_path / "results"))
        root = scratch_book(tmp_path)
        yield root, build("smoke", root=root)


def test_smoke_book_builds(smoke_book, monkeypatch):
    root, html = smoke_book
    tmp_path = root
    monkeypatch.setenv("ONEPIXEL_DATA", str(SHARED))
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tmp_path / "results"))
    pages = sorted(html.rglob("*.html"))
    chapters = {p.stem for p in (root / "notebooks").glob("[0-9]*.ipynb")}
    assert chapters <= {p.stem for p in pages}
    for page in pages:
        text = page.read_text()
        assert not re.search(r'(src|href)="https?://', text), f"{page.name} loads a remote resource"
        assert "Traceback" not in text, f"{page.name} shows an error"
    for nb in (root / "book").glob("[0-9]*.ipynb"):
        executed = json.loads(nb.read_text())
        cells = executed["cells"]
        injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
        assert injected and "hide-input" in injected[0]["metadata"]["tags"]
        assert injected[0]["id"] == "injected-parameters"
        papermill = executed["metadata"]["papermill"]
        assert papermill["input_path"] == f"notebooks/{nb.name}" and papermill["output_path"] == f"book/{nb.name}"
        assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    # results were stored and a second run reuses them
    stored = sorted((tmp_path / "results" / "smoke").rglob("shard-*.csv"))
    assert stored
    mtimes = [p.stat().st_mtime for p in stored]
    execute("smoke", root / "book", root / "notebooks", only=["02_attacks"], cwd=root)
    assert [p.stat().st_mtime for p in stored] == mtimes


def test_failing_notebook_stops_the_build(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("1 / 0")]
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "smoke.yaml").write_text("common: {}\n")
    nbformat.write(nb, tmp_path / "01_broken.ipynb")
    with pytest.raises(NotebookFailed, match=r"01_broken.ipynb, cell \d+: ZeroDivisionError"):
        execute("smoke", tmp_path / "out", tmp_path, cwd=tmp_path)


@pytest.mark.parametrize("profile", sorted(p.stem for p in (ROOT / "notebooks" / "profiles").glob("*.yaml")))
def test_every_profile_gives_every_notebook_declared_parameters(profile):
    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        params = notebook_parameters(profile, nb.stem)
        assert params["profile"] == profile, nb.name


def test_a_parameter_the_notebook_does_not_declare_is_an_error(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("profile = 'x'\nmodels = ['allconv']", metadata={"tags": ["parameters"]})]
    nbformat.write(nb, tmp_path / "01_chapter.ipynb")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "cpu.yaml").write_text("common: {n: 1}\n01_chapter: {modles: [nin]}\n")
    with pytest.raises(ValueError, match="01_chapter declares no parameter modles"):
        notebook_parameters("cpu", "01_chapter", tmp_path)
    (tmp_path / "profiles" / "cpu.yaml").write_text("common: {n: 1}\n01_chapter: {models: [nin]}\n")
    assert notebook_parameters("cpu", "01_chapter", tmp_path) == {"profile": "cpu", "models": ["nin"]}


def test_pages_in_headless_chromium(smoke_book):
    """Every page loads in Chromium, its images are present and non-empty, its internal links
    resolve, and it requests nothing outside the book. Screenshots go to artifacts/screenshots."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Chromium is not installed (Debian package chromium)")
    import functools
    import http.server
    import subprocess
    import threading
    from html.parser import HTMLParser
    from urllib.parse import urljoin, urlparse

    root, html = smoke_book
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)

    class Refs(HTMLParser):
        def __init__(self):
            super().__init__()
            self.images, self.links = [], []

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "img":
                self.images.append(a.get("src", ""))
            if tag == "a" and a.get("href"):
                self.links.append(a["href"])

    pages = ["index.html"] + sorted(str(p.relative_to(html)) for p in (html / "book").glob("*.html"))
    try:
        for page in pages:
            url = urljoin(base, page)
            work = root / "chromium" / page.replace("/", "_")
            work.mkdir(parents=True, exist_ok=True)
            flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                     "--disable-background-networking", "--disable-component-update",
                     f"--user-data-dir={work / 'profile'}", f"--log-net-log={work / 'net.json'}",
                     "--window-size=1280,1600", "--virtual-time-budget=5000"]
            dom = subprocess.run(flags + ["--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
            shot = shots / (page.replace("/", "_") + ".png")
            subprocess.run(flags + [f"--screenshot={shot}", url], capture_output=True, timeout=120)
            assert shot.stat().st_size > 1000, f"{page}: no screenshot"
            assert "<main" in dom, f"{page} did not load"
            if page == "index.html":
                continue  # a redirect to book/intro.html, checked below
            refs = Refs()
            refs.feed(dom)
            for src in refs.images:
                if src.startswith("data:"):
                    assert len(src) > 100, f"{page}: empty inline image"
                    continue
                target = urlparse(urljoin(url, src))
                assert target.netloc == urlparse(base).netloc, f"{page} loads an image from {src}"
                path = html / target.path.lstrip("/")
                assert path.is_file() and path.stat().st_size > 0, f"{page}: missing image {src}"
            for href in refs.links:
                target = urlparse(urljoin(url, href))
                if target.scheme in ("http", "https") and target.netloc != urlparse(base).netloc:
                    continue  # outbound links (paper, repositories) are not requests
                if target.scheme in ("http", "https"):
                    path = html / target.path.lstrip("/")
                    assert path.exists(), f"{page}: broken link {href}"
            requested = set(re.findall(r'"url":"([^"]+)"', (work / "net.json").read_text()))
            outside = {u for u in requested if u.startswith(("http:", "https:")) and not u.startswith(base)
                       and not CHROMIUM_OWN.search(urlparse(u).netloc)}
            assert not outside, f"{page} requested {sorted(outside)[:5]}"
    finally:
        server.shutdown()
