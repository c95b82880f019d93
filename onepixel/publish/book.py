"""Build the book: execute every notebook with papermill under a profile into ``book/``, then
render the HTML with Jupyter Book 1.x (offline, warnings as errors).

Each notebook receives only ``profile`` and reads its settings from the profile itself (see
:mod:`onepixel.study.plan`); whether it computes what is missing is the profile's ``compute`` (cpu: no,
only what is stored is shown; smoke: yes).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import yaml

from onepixel.storage import REPO
from onepixel.study import plan
from onepixel.study.chapters import CHAPTERS
from onepixel.study.plan import load
from onepixel.study.rows import progress
from onepixel.study.store import stamp


class NotebookFailed(RuntimeError):
    """A notebook raised while papermill executed it."""


REPRODUCE = """```{{admonition}} Reproduce this page
:class: tip
From a checkout of the repository (its `results/` included), re-execute this page's notebook under
the `{profile}` profile and rebuild the book:

    papermill notebooks/{stem}.ipynb \\
        book/{stem}.ipynb -p profile {profile}
    onepixel book --profile {profile} --no-execute

Add `-p compute True` to first compute whatever the profile plans and the store lacks
(`onepixel status --profile {profile}` lists it), and open `notebooks/{stem}.ipynb` in Jupyter to
change a setting: every setting in its first cell overrides the profile's.
```"""


def sample_box(profile: str, chapter: str) -> str | None:
    """A note listing the page's experiments whose planned sample is not all stored yet (None when
    all are): one box at the top of a page, where a reader looks for it."""
    if chapter not in CHAPTERS:
        return None
    jobs = plan.largest(list(CHAPTERS[chapter].experiments(plan.settings(profile, chapter)).values()))
    lines = []
    for p in progress(profile, [job for job in jobs if job.kind != "predictions"]):
        name = p.job.label(sample=p.job.n is None)
        if p.planned is None:
            lines.append(f"- {name}: waits on results not stored yet")
        elif not p.complete:
            lines.append(f"- {name}: {p.stored} of {p.planned} images stored")
    if not lines:
        return None
    return ("```{admonition} A sample still growing\n:class: note\n"
            f"This page shows what is stored of the `{profile}` profile's plan, and every table and figure "
            "gives its own n. These experiments of its plan are not complete yet (`onepixel status --profile "
            f"{profile}` lists the whole plan):\n\n" + "\n".join(lines) + "\n```")


def is_setup(cell: dict) -> bool:
    """The parameters cell, papermill's injected parameters and the cell that imports and reads the
    profile's settings: code a reader of the rendered page need not see."""
    tags = cell.get("metadata", {}).get("tags", [])
    source = "".join(cell.get("source", ""))
    return cell["cell_type"] == "code" and ("parameters" in tags or "injected-parameters" in tags
                                            or "globals().update(page.settings)" in source)


def tidy_executed(path: Path, root: Path, profile: str) -> None:
    """Make an executed notebook a page: the setup cells (:func:`is_setup`) are removed from the
    rendered page (tag ``remove-cell``), a :func:`sample_box` after the page's introduction lists
    the experiments whose sample is still growing, a "Reproduce this page" box with the exact
    commands for ``profile`` ends it, papermill's injected-parameters cell gets a fixed id and papermill's input
    and output paths are stored relative to ``root``. A rebuild from the same results then changes
    only the execution timestamps, the platform line, and figures computed live (chapter 07's line
    slices differ in float rounding)."""
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags:
            cell["id"] = "injected-parameters"
        if is_setup(cell) and "remove-cell" not in tags:
            tags.append("remove-cell")
    nb["cells"] = [c for c in nb["cells"] if c.get("id") not in ("reproduce", "sample")]
    box = sample_box(profile, path.stem)
    if box:
        at = next((i + 1 for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"), 0)
        nb["cells"].insert(at, {"cell_type": "markdown", "id": "sample", "metadata": {}, "source": box})
    nb["cells"].append({"cell_type": "markdown", "id": "reproduce", "metadata": {},
                        "source": REPRODUCE.format(profile=profile, stem=path.stem)})
    papermill = nb["metadata"].get("papermill", {})
    for key in ("input_path", "output_path"):
        if papermill.get(key) and Path(papermill[key]).is_relative_to(root):
            papermill[key] = str(Path(papermill[key]).relative_to(root))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def execute(profile: str, out_dir: Path, notebooks_dir: Path = REPO / "notebooks", only: list[str] | None = None,
            cwd: Path = REPO, workers: int | None = None) -> dict:
    """Run each notebook into ``out_dir``, the slowest of the previous build first; stop at the first
    failure with notebook, cell and error. A profile that only shows what is stored runs ``workers``
    notebooks at a time (default: one per core); one that computes what is missing runs one at a
    time, so that no two notebooks compute the same experiment."""
    import papermill as pm  # heavy (jupyter, nbclient): only a build executes notebooks
    load(profile)  # a bad profile fails before any notebook runs
    computes = any(plan.settings(profile, chapter).get("compute") for chapter in CHAPTERS)
    out_dir.mkdir(parents=True, exist_ok=True)
    notebooks = [nb for nb in sorted(notebooks_dir.glob("[0-9]*.ipynb")) if not only or nb.stem in only]
    previous = out_dir / f"timings-{profile}.json"
    seconds = json.loads(previous.read_text()) if previous.exists() else {}
    notebooks.sort(key=lambda nb: -seconds.get(nb.stem, 0))
    workers = 1 if computes else max(1, min(workers or os.cpu_count() or 1, len(notebooks)))

    def run(nb: Path) -> float:
        print(f"[{profile}] {nb.name} {{'profile': '{profile}'}}", flush=True)
        t0 = time.time()
        try:
            pm.execute_notebook(nb, out_dir / nb.name, parameters={"profile": profile}, kernel_name="python3",
                                progress_bar=workers == 1)  # kernels start in ``cwd``, set once below
        except pm.PapermillExecutionError as e:
            raise NotebookFailed(f"{nb.name}, cell {e.exec_count}: {e.ename}: {e.evalue}") from None
        tidy_executed(out_dir / nb.name, cwd, profile)
        return round(time.time() - t0, 1)

    # papermill's own ``cwd`` changes the process's directory and back around each notebook, which
    # threads would undo for one another: the directory is set once, here
    before = os.getcwd()
    os.chdir(cwd)
    try:
        with ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(run, nb): nb.stem for nb in notebooks}
            try:
                timings = {futures[f]: f.result() for f in as_completed(futures)}
            except BaseException:  # a failed notebook, a dead kernel, Ctrl-C: start no other notebook
                pool.shutdown(cancel_futures=True)
                raise
    finally:
        os.chdir(before)
    return dict(sorted(timings.items()))


def edition(profile: str, root: Path = REPO) -> dict:
    """What names an edition: its :func:`onepixel.study.store.stamp` and the sample sizes (images) of the headline
    runs (:func:`onepixel.study.plan.headline_jobs`), as the store holds them now."""
    samples = {p.job.model: p.stored for p in progress(profile, plan.headline_jobs(profile))}
    return {**stamp(profile, root), "samples": samples}


def edition_path(profile: str, root: Path = REPO) -> Path:
    """Where a build records the edition its executed notebooks show."""
    return root / "book" / f"edition-{profile}.json"


def footer(record: dict) -> str:
    """The footer line of every page, from an :func:`edition` record."""
    samples = ", ".join(f"{model} {n}" for model, n in record["samples"].items())
    return (f"Edition: profile <code>{record['profile']}</code>, built {record['built']} from commit "
            f"{record['commit']}, {record['cpu_hours']:.1f} CPU hours of stored results"
            + (f"; one-pixel non-targeted samples (images): {samples}" if samples else "")
            + ". Every number on these pages comes from a recorded run under results/.")


def citation(record: dict, root: Path = REPO) -> str:
    """The BibTeX entry of an edition (an :func:`edition` record), filled from ``root/CITATION.cff``:
    authors, title, version and its ``url`` or ``repository-code`` where the file gives one, with the
    edition's profile, build date and commit."""
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    authors = " and ".join(f"{{{a['name']}}}" if "name" in a else f"{a['family-names']}, {a['given-names']}"
                           for a in cff["authors"])
    fields = {"author": authors, "title": cff["title"], "version": cff["version"], "year": record["built"][:4],
              "howpublished": "Jupyter Book and Python package onepixel",
              "url": cff.get("url") or cff.get("repository-code"),
              "note": f"Edition: profile {record['profile']}, built {record['built']} from commit {record['commit']}"}
    body = ",\n".join(f"  {key} = {{{value}}}" for key, value in fields.items() if value)
    return f"@misc{{onepixel{fields['year']},\n{body}\n}}"


def render(root: Path = REPO, profile: str | None = None) -> Path:
    """Jupyter Book HTML build of ``root`` (all files, nitpicky, warnings as errors); with a
    ``profile``, the footer names the edition the executed notebooks show (recorded when they were
    executed; the store as it is now where no build recorded one)."""
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(root), "--all", "-W", "-n", "--keep-going"]
    if profile is not None:
        cfg = yaml.safe_load((root / "_config.yml").read_text())
        recorded = edition_path(profile, root)
        record = json.loads(recorded.read_text()) if recorded.exists() else edition(profile, root)
        cfg.setdefault("html", {})["extra_footer"] = footer(record)
        local = cfg.get("sphinx", {}).get("local_extensions") or {}  # paths relative to the config: make them absolute
        cfg.get("sphinx", {})["local_extensions"] = {ext: str((root / path).resolve()) for ext, path in local.items()}
        config = root / "_build" / "_config.edition.yml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        cmd += ["--config", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    html = root / "_build" / "html"
    if proc.returncode != 0 or not (html / "index.html").exists():
        raise RuntimeError(f"jupyter-book build failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return html


def build(profile: str = "cpu", execute_notebooks: bool = True, only: list[str] | None = None,
          root: Path = REPO) -> Path:
    """Execute the notebooks into ``root/book`` (unless told not to), record the edition they show
    and render the book."""
    if execute_notebooks:
        timings = execute(profile, root / "book", root / "notebooks", only, cwd=root)
        log = root / "book" / f"timings-{profile}.json"
        previous = json.loads(log.read_text()) if log.exists() else {}
        log.write_text(json.dumps({**previous, **timings}, indent=2) + "\n")
        edition_path(profile, root).write_text(json.dumps(edition(profile, root), indent=2) + "\n")
    return render(root, profile)
