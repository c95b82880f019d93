"""The smoke profile end to end: every notebook through papermill, then a Jupyter Book build."""
import json
import re
import shutil
from pathlib import Path

import pytest

from onepixel.book import NotebookFailed, build, execute

from .conftest import SHARED, shared_or_skip

ROOT = Path(__file__).resolve().parents[1]


def scratch_book(tmp_path: Path) -> Path:
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    (tmp_path / "book").mkdir()
    for p in (ROOT / "book").glob("*.md"):
        shutil.copy(p, tmp_path / "book" / p.name)
    shutil.copytree(ROOT / "book" / "_static", tmp_path / "book" / "_static")
    return tmp_path


def test_smoke_book_builds(tmp_path, monkeypatch):
    shared_or_skip("models")
    monkeypatch.setenv("ONEPIXEL_DATA", str(SHARED))
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tmp_path / "results"))
    root = scratch_book(tmp_path)
    html = build("smoke", root=root)
    pages = sorted(html.rglob("*.html"))
    chapters = {p.stem for p in (root / "notebooks").glob("[0-9]*.ipynb")}
    assert chapters <= {p.stem for p in pages}
    for page in pages:
        text = page.read_text()
        assert not re.search(r'(src|href)="https?://', text), f"{page.name} loads a remote resource"
        assert "Traceback" not in text, f"{page.name} shows an error"
    for nb in (root / "book").glob("[0-9]*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
        assert injected and "hide-input" in injected[0]["metadata"]["tags"]
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
