"""The smoke profile end to end: every notebook through papermill, then a Jupyter Book build."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from onepixel.publish.book import NotebookFailed, build, execute, tidy_executed

from .conftest import SHARED, shared_or_skip


ROOT = Path(__file__).resolve().parents[1]


def scratch_book(tmp_path: Path) -> Path:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    (tmp_path / "book").mkdir()
    for p in [*(ROOT / "book").glob("*.md"), *(ROOT / "book").glob("*.bib")]:
        shutil.copy(p, tmp_path / "book" / p.name)
    for folder in ("_static", "_ext"):
        shutil.copytree(ROOT / "book" / folder, tmp_path / "book" / folder)
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


@pytest.mark.slow  # the smoke book: every notebook executed and rendered
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
        # resources a page loads (src on any tag, href on <link>); links to read (DOIs) are fine
        assert not re.search(r'src="https?://|<link[^>]*href="https?://', text), f"{page.name} loads a remote resource"
        assert "Traceback" not in text, f"{page.name} shows an error"
    for nb in (root / "book").glob("[0-9]*.ipynb"):
        executed = json.loads(nb.read_text())
        cells = executed["cells"]
        injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
        assert injected and injected[0]["id"] == "injected-parameters"
        setup = [c for c in cells if "remove-cell" in c["metadata"].get("tags", [])]
        assert len(setup) == 3, f"{nb.name}: parameters, injected parameters and settings are removed from the page"
        assert cells[-1]["id"] == "reproduce" and f"papermill notebooks/{nb.name} \\\n" in cells[-1]["source"]
        assert f"book/{nb.name} -p profile smoke" in cells[-1]["source"]
        papermill = executed["metadata"]["papermill"]
        assert papermill["input_path"] == f"notebooks/{nb.name}" and papermill["output_path"] == f"book/{nb.name}"
        assert not any(o.get("output_type") == "error" for c in cells for o in c.get("outputs", []))
    # results were stored and a second run reuses them
    stored = sorted((tmp_path / "results" / "smoke").rglob("shard-*.csv"))
    assert stored
    mtimes = [p.stat().st_mtime for p in stored]
    execute("smoke", root / "book", root / "notebooks", only=["02_attacks"], cwd=root)
    assert [p.stat().st_mtime for p in stored] == mtimes


@pytest.mark.slow  # the smoke book
def test_the_footer_names_the_edition_the_notebooks_were_executed_from(smoke_book):
    """The build records the edition when it executes; rendering again (``--no-execute``) after the
    store has changed still names that edition, not the store as it is now."""
    from onepixel.publish.book import edition_path, footer, render

    root, html = smoke_book
    path = edition_path("smoke", root)
    record = json.loads(path.read_text())
    assert record["profile"] == "smoke" and record["samples"] and all(n > 0 for n in record["samples"].values())
    assert footer(record) in (html / "book" / "intro.html").read_text()
    path.write_text(json.dumps({**record, "commit": "recorded", "cpu_hours": 1234.5}))
    try:
        page = (render(root, "smoke") / "book" / "02_attacks.html").read_text()
        assert "from commit recorded, 1234.5 CPU hours" in page
    finally:
        path.write_text(json.dumps(record))
        render(root, "smoke")


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


def test_a_profile_that_only_shows_runs_notebooks_side_by_side(tmp_path):
    """The cpu profile computes nothing while rendering, so two notebooks run at once: each leaves a
    mark and waits for the other's (one at a time, the first would wait in vain); each gets its
    timing, in name order, and the build leaves the working directory as it found it."""
    import nbformat

    for name, other in (("01_a", "02_b"), ("02_b", "01_a")):
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        wait = (f"import pathlib, time\nhere = pathlib.Path.cwd()\n(here / '{name}.mark').touch()\n"
                f"deadline = time.time() + 60\nwhile not (here / '{other}.mark').exists() and time.time() < deadline:\n"
                f"    time.sleep(0.1)\n(here / '{name}.met').write_text(str((here / '{other}.mark').exists()))")
        nb.cells = [nbformat.v4.new_code_cell("profile = 'x'", metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(wait)]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    before = os.getcwd()
    timings = execute("cpu", tmp_path / "out", tmp_path, cwd=tmp_path, workers=2)
    assert os.getcwd() == before
    assert list(timings) == ["01_a", "02_b"]
    assert [(tmp_path / f"{n}.met").read_text() for n in ("01_a", "02_b")] == ["True", "True"], "ran side by side"


def test_every_notebook_takes_its_settings_from_the_profile():
    """Parameters cells hold ``profile``, ``compute`` and one override per chapter setting, all None;
    the package reads the profile, never a notebook."""
    import papermill as pm

    from onepixel.study.chapters import CHAPTERS, COMMON

    for nb in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        declared = pm.inspect_notebook(str(nb))
        assert declared.pop("profile")["default"] == '"cpu"', nb.name
        assert set(declared) == set(CHAPTERS[nb.stem].defaults) | set(COMMON), nb.name
        assert all(v["default"] == "None" for v in declared.values()), nb.name


def test_bad_profiles_fail_naming_the_entry(tmp_path, monkeypatch):
    from onepixel.study import plan

    monkeypatch.setattr(plan, "PROFILES", tmp_path)
    cases = {"02_attacks: {modles: [nin]}": "chapter 02_attacks has no setting 'modles'",
             "02_attacks: {models: [resnet99]}": "unknown network 'resnet99' in models",
             "common: {n_untargeted: -3}": "n_untargeted must be a non-negative integer",
             "common: {n_targeted: 2.5}": "n_targeted must be a non-negative integer",
             "chapter_11: {}": "unknown section",
             "common: {colour: red}": "common key 'colour' is used by no chapter",
             "04_cost: {baselines: [random, gradient]}": "unknown baseline 'gradient' in baselines"}
    for text, message in cases.items():
        (tmp_path / "bad.yaml").write_text(text + "\n")
        with pytest.raises(ValueError, match=message):
            plan.jobs("bad")
    (tmp_path / "good.yaml").write_text("common: {n_untargeted: 3}\n02_attacks: {models: [nin]}\n")
    assert plan.settings("good", "02_attacks", {"n_targeted": 1, "models": None})["models"] == ["nin"]
    assert plan.settings("good", "02_attacks", {"n_targeted": 1})["n_targeted"] == 1
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        plan.settings("nope", "02_attacks")


@pytest.mark.slow  # the smoke book in Chromium
def test_pages_in_chromium(smoke_book):
    """Every page at 1280 x 800 and 390 x 844 in Chromium (Playwright): no request outside the book,
    no console error, every image loaded, nothing wider than the page at 1280 px, every equation
    typeset, no missing value in a table, no absolute path, no MyST role left as text; internal links resolve. Screenshots of
    every page at both widths go to _build/screenshots/smoke for a person to look at."""
    from html.parser import HTMLParser
    from urllib.parse import urljoin, urlparse

    from onepixel.publish.browser import check_book, chromium

    if chromium() is None:
        pytest.skip("Chromium is not installed (Debian package chromium; `make test` installs it)")
    root, html = smoke_book
    reports = check_book(html, ROOT / "_build" / "screenshots" / "smoke")
    problems = [f"{r.page} ({r.width}): {p}" for r in reports for p in r.problems]
    assert not problems, "\n".join(problems)
    assert len(reports) == 2 * len([p for p in html.rglob("*.html") if p.parent.name == "book" or p.name == "index.html"])

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hrefs = []

        def handle_starttag(self, tag, attrs):
            if tag == "a" and dict(attrs).get("href"):
                self.hrefs.append(dict(attrs)["href"])

    for page in (html / "book").glob("*.html"):
        links = Links()
        links.feed(page.read_text())
        for href in links.hrefs:
            target = urlparse(urljoin(f"http://book/book/{page.name}", href))
            if target.netloc == "book" and target.path:
                assert (html / target.path.lstrip("/")).exists(), f"{page.name}: broken link {href}"


def test_the_browser_check_finds_what_a_reader_would_see(tmp_path):
    """A page with each defect the book must not have: the check names every one."""
    from onepixel.publish.browser import check_book, chromium

    if chromium() is None:
        pytest.skip("Chromium is not installed (Debian package chromium; `make test` installs it)")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from onepixel.publish.captions import Figure

    (tmp_path / "book").mkdir()
    fig, ax = plt.subplots(figsize=(7, 2))
    ax.set_title("tiny", fontsize=4)
    (tmp_path / "book" / "small.png").write_bytes(Figure(fig, "A figure with small text.", "fig-small").png)
    (tmp_path / "book" / "bad.html").write_text(
        "<html><body><main><article class='bd-article' style='width: 600px'>"
        "<table><tr><td>NaN</td><td>None</td></tr></table>"
        "<table style='width: 2000px'><tr><td>wide</td></tr></table>"
        "<table id='tab-summary' style='width: 1500px'><tr><td>headline</td></tr></table><img src='small.png' style='width: 300px'>"
        "<img src='missing.png'><img src='https://example.org/x.png'>"
        "<p>read from /home/someone/data, see {cite:t}`su2019onepixel`</p><span class='math'>\\(x^2\\)</span>"
        "<div class='cell_output'><img src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4"
        "2mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=='><table><tr><td>bare</td></tr></table></div>"
        "<script>console.error('boom')</script></article></main></body></html>")
    problems = " | ".join(p for r in check_book(tmp_path, tmp_path / "shots") for p in r.problems)
    for expected in ("missing value in a table: 'NaN'", "missing value in a table: 'None'", "wider than the page",
                     "image did not load: missing.png", "request outside the book: https://example.org",
                     "absolute path in the text: /home/someone",
                     "markup shown as text: {cite:t}`su2019onepixel`", "equation not typeset", "console error: boom",
                     "figure without a numbered caption: data:image/png", "table without a numbered caption: 'bare'",
                     "the headline table is wider than the page", "below 7: book/small.png"):
        assert expected in problems, f"{expected!r} not found in: {problems}"
    assert (tmp_path / "shots" / "bad-desktop.png").stat().st_size > 1000


def papermill(notebook: str, out: Path, *params: str, env: dict) -> str:
    """Run the papermill command line as the README shows it; return the executed notebook's text."""
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / f"{notebook}.ipynb"), str(out), *params]
    subprocess.run(cmd, env={**os.environ, **env}, check=True, capture_output=True, cwd=ROOT)
    return out.read_text()


def stored_images(results: Path, experiment: str) -> int:
    import pandas as pd

    shards = sorted((results).glob(f"*/{experiment}/*/shard-*.csv"))
    return pd.concat([pd.read_csv(p) for p in shards]).image.nunique() if shards else 0


def drop_last_shard(experiments: Path, model: str) -> None:
    """Remove the newest shard of `model`'s experiment, so that its sample is incomplete."""
    from onepixel.study import store

    [folder] = [d for d in experiments.iterdir() if json.loads((d / "meta.json").read_text())["identity"]["model"] == model]
    last = store.stored_shards(folder)[-1]
    last.unlink()
    store.cost_path(last).unlink()


@pytest.mark.slow  # executes chapter 02 three times
def test_the_readme_papermill_commands(tmp_path, monkeypatch):
    """smoke with compute: computes in seconds; a larger n computes only the new images; cpu without
    compute renders the stored results and writes nothing."""
    shared_or_skip("models")
    smoke = {"ONEPIXEL_DATA": str(SHARED), "ONEPIXEL_RESULTS": str(tmp_path / "smoke-results")}
    papermill("02_attacks", tmp_path / "a.ipynb", "-p", "profile", "smoke", "-p", "compute", "True", env=smoke)
    assert stored_images(tmp_path / "smoke-results", "de-1px-untargeted") == 2  # smoke: n_untargeted 2
    papermill("02_attacks", tmp_path / "b.ipynb", "-p", "profile", "smoke", "-p", "n_untargeted", "3",
              "-p", "compute", "True", env=smoke)
    assert stored_images(tmp_path / "smoke-results", "de-1px-untargeted") == 3, "one image more, none redone"
    cpu = tmp_path / "cpu-results"
    shutil.copytree(ROOT / "results", cpu)
    drop_last_shard(cpu / "cpu" / "de-1px-untargeted", model="resnet20")  # a sample still growing, whatever is stored
    before = sorted(p.relative_to(cpu) for p in cpu.rglob("*"))
    page = tmp_path / "cpu-page" / "02_attacks.ipynb"  # named as the book names it: its chapter's plan
    page.parent.mkdir()
    text = papermill("02_attacks", page, "-p", "profile", "cpu",
                     env={"ONEPIXEL_DATA": str(SHARED), "ONEPIXEL_RESULTS": str(cpu)})
    assert sorted(p.relative_to(cpu) for p in cpu.rglob("*")) == before, "rendering the cpu profile computed"
    assert "(n=" in text, "every rate gives its n"
    monkeypatch.setenv("ONEPIXEL_DATA", str(SHARED))
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(cpu))
    tidy_executed(page, tmp_path, "cpu")
    assert "A sample still growing" in page.read_text(), "the page says a sample is incomplete"
    assert re.search(r"resnet20: \d+ of \d+ images stored", page.read_text()), "the page says how much is stored"


def test_a_growing_sample_gets_one_box_per_page(tmp_path, monkeypatch):
    from onepixel.publish import book
    from onepixel.study import plan, rows

    monkeypatch.setattr(plan, "PROFILES", tmp_path)
    (tmp_path / "p.yaml").write_text("05_class_pairs: {settings_list: [[allconv, 1]], n_targeted: 10, n_exhaustive: 4}\n")
    monkeypatch.setattr(rows, "job_images", lambda profile, job, compute=True: list(range(job.n)))
    monkeypatch.setattr(rows, "stored_images", lambda profile, job: {0, 1, 2} if job.kind == "de" else {0, 1, 2, 3})
    box = book.sample_box("p", "05_class_pairs")
    assert "- de-1px-targeted allconv: 3 of 10 images stored" in box and "exhaustive" not in box
    monkeypatch.setattr(rows, "stored_images", lambda profile, job: set(range(10)))
    assert book.sample_box("p", "05_class_pairs") is None


def test_the_pages_workflow_runs_what_the_readme_documents():
    """The GitHub Pages workflow fetches the data and builds with `make book` on the README's Python,
    and publishes what the build writes; the README shows the same commands and names the secret."""
    import yaml

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Publish the book")[1].split("\n## ")[0]
    runs = [s["run"] for s in steps if "run" in s]
    assert runs == re.findall(r"```\n(.*?)\n```", section, re.S)[0].split("\n") and runs[-1] == "make book"
    secrets = {name for s in steps for name in s.get("env", {})}
    assert secrets == {"ONEPIXEL_DATA_URL"} and "`ONEPIXEL_DATA_URL`" in section
    uses = {s["uses"].split("@")[0]: s.get("with", {}) for s in steps if "uses" in s}
    python = uses["actions/setup-python"]["python-version"]
    assert f"Python {python}" in readme and f"on Python {python}" in section
    assert uses["actions/upload-pages-artifact"]["path"] == "_build/html" and "`_build/html`" in section
    assert "actions/deploy-pages" in uses and "make book" in (ROOT / "Makefile").read_text()


def test_bibliography_labels_are_author_year():
    import importlib.util

    from pybtex.database import Entry, Person

    spec = importlib.util.spec_from_file_location("author_year_labels", ROOT / "book" / "_ext" / "author_year_labels.py")
    labels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(labels)

    def entry(*authors, year="2019"):
        return Entry("article", fields={"year": year}, persons={"author": [Person(a) for a in authors]})
    assert labels.author_year(entry("Krizhevsky, Alex", year="2009")) == "Krizhevsky 2009"
    assert labels.author_year(entry("Vargas, Danilo", "Su, Jiawei", year="2020")) == "Vargas and Su 2020"
    assert labels.author_year(entry("Su, Jiawei", "Vargas, Danilo", "Sakurai, Kouichi")) == "Su et al. 2019"
    assert labels.author_year(entry("Virtanen, Pauli", "others", year="2020")) == "Virtanen et al. 2020"
    assert labels.author_year(entry("{Executable Books Community}", year="2020")) == "Executable Books Community 2020"
    entries = [entry("Croce, F", "Andriushchenko, M", "Hein, M", year="2022"), entry("Croce, F", "Hein, M"),
               entry("{nteract contributors}", year="2017"), entry("Croce, F"), entry("Wilson, E", year="1927")]
    assert [labels.author_year(e) for e in sorted(entries, key=labels.label_order)] == [
        "Croce 2019", "Croce and Hein 2019", "Croce et al. 2022", "nteract contributors 2017", "Wilson 1927"]
