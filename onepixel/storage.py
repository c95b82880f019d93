"""Where files live (the checkout, the results store, the cache folder) and atomic writes (a reader,
or a run killed mid-write, sees the old file or the new one)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable


# The checkout this package runs from: its notebooks, book and README.
REPO = Path(__file__).resolve().parents[1]


def checkout() -> Path | None:
    """The repository this package runs from (None when installed elsewhere, without notebooks)."""
    return REPO if (REPO / "notebooks" / "profiles").is_dir() else None


def results_root() -> Path:
    """$ONEPIXEL_RESULTS, else the checkout's ``results/`` (wherever Python was started: a notebook
    opened in Jupyter runs in ``notebooks/``), else ./results."""
    if os.environ.get("ONEPIXEL_RESULTS"):
        return Path(os.environ["ONEPIXEL_RESULTS"])
    repo = checkout()
    return repo / "results" if repo is not None else Path("results")


def atomic_write(path: Path | str, write: Callable[[Path], object]) -> Path:
    """``write(tmp)`` to a temporary file beside ``path``, then move it over ``path`` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_text(path: Path | str, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def cache_dir() -> Path:
    """Where decoded arrays and measured cutoffs are cached: $ONEPIXEL_CACHE or ~/.cache/onepixel."""
    path = Path(os.environ.get("ONEPIXEL_CACHE", Path.home() / ".cache" / "onepixel"))
    path.mkdir(parents=True, exist_ok=True)
    return path
