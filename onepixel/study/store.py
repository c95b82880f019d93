"""The results store: attack rows on disk, resumable, never reused across parameters.

``results/<profile>/<experiment>/<key>/`` holds ``meta.json`` (every parameter, the model and data
digests, library versions, device) and ``shard-NNNNN.csv`` files, each written atomically, so a
killed run loses at most the shard in progress and a rerun computes only the missing items. Each
computed shard has a ``shard-NNNNN.json`` beside it with the wall and CPU seconds it took.
``key`` is a digest of the metadata that determines the rows, so other parameters never match.
An experiment created with ``compress=True`` writes ``shard-NNNNN.csv.gz`` (large per-pixel maps);
both kinds of shard are read alike.
"""
from __future__ import annotations

import hashlib
import json
import platform
import shutil
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

import numpy
import pandas as pd
import torch

from onepixel.storage import REPO, atomic_text, atomic_write, results_root


def versions() -> dict:
    return {"onepixel": version("onepixel"), "torch": torch.__version__, "numpy": numpy.__version__,
            "pandas": pd.__version__, "python": platform.python_version()}


_LOADED: dict[Path, tuple[tuple, pd.DataFrame]] = {}  # rows read per experiment folder, with their shards' signature


class Experiment:
    """One set of rows with fixed parameters. ``identity`` decides what the rows mean (and the
    folder); ``info`` is recorded alongside (device, versions) without changing the key."""

    def __init__(self, profile: str, name: str, identity: dict, info: dict | None = None,
                 root: Path | str = "results", compress: bool = False):
        blob = json.dumps(identity, sort_keys=True, default=str)
        self.key = hashlib.sha256(blob.encode()).hexdigest()[:12]
        self.dir = Path(root) / profile / name / self.key
        self.identity, self.info = identity, info or {}
        self.compress = compress

    def shards(self) -> list[Path]:
        """The stored shards, in the order they were written (``.csv`` and ``.csv.gz`` alike)."""
        return stored_shards(self.dir)

    def load(self) -> pd.DataFrame:
        """All stored rows (an empty frame when there are none). Attack rows are read once per process
        while their shards stay the same (a page and a plan read one experiment many times); the
        large compressed maps are read each time, so that no process keeps them."""
        shards = self.shards()
        if not shards:
            return pd.DataFrame()
        if self.compress:
            return pd.concat([pd.read_csv(p) for p in shards], ignore_index=True)
        signature = tuple((p.name, s.st_ino, s.st_size, s.st_mtime_ns) for p in shards for s in [p.stat()])
        cached = _LOADED.get(self.dir)
        if cached is None or cached[0] != signature:
            cached = _LOADED[self.dir] = (signature, pd.concat([pd.read_csv(p) for p in shards], ignore_index=True))
        return cached[1].copy(deep=False)  # copy-on-write: a caller's change never reaches the cache

    def cost(self) -> dict:
        """Shards, wall and CPU seconds recorded for the stored shards."""
        costs = [json.loads(cost_path(p).read_text()) for p in self.shards() if cost_path(p).exists()]
        return {"shards": len(costs), "wall_seconds": sum(c["wall_seconds"] for c in costs),
                "cpu_seconds": sum(c["cpu_seconds"] for c in costs)}

    def cpu_seconds_per_image(self, images: int, cost: dict | None = None) -> float | None:
        """Mean CPU seconds per stored image, for ``images`` stored images (None before the first
        costed shard); pass the ``cost`` when already read."""
        cost = self.cost() if cost is None else cost
        return cost["cpu_seconds"] / images if images and cost["shards"] else None

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def _write_meta(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "meta.json"
        if not meta.exists():
            atomic_text(meta, json.dumps({"identity": self.identity, "info": {**versions(), **self.info},
                                           "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                          indent=2, default=str) + "\n")

    def append(self, rows: pd.DataFrame, cost: dict | None = None) -> Path:
        """Store ``rows`` as the next shard, atomically, and ``cost`` (seconds spent) beside it."""
        self._write_meta()
        shards = self.shards()
        n = shard_number(shards[-1]) + 1 if shards else 0
        path = self.dir / f"shard-{n:05d}.csv{'.gz' if self.compress else ''}"
        if cost is not None:
            atomic_text(cost_path(path), json.dumps({"rows": len(rows), **cost}) + "\n")
        return atomic_write(path, lambda tmp: rows.to_csv(tmp, index=False,
                                                         compression="gzip" if self.compress else None))


def stored_shards(directory: Path) -> list[Path]:
    """The shards in an experiment's folder, in the order they were written."""
    return sorted([*directory.glob("shard-*.csv"), *directory.glob("shard-*.csv.gz")], key=shard_number)


def shard_number(path: Path) -> int:
    """N of ``shard-N.csv`` or ``shard-N.csv.gz``."""
    return int(path.name.split(".")[0].split("-")[1])


def cost_path(shard: Path) -> Path:
    """The ``shard-N.json`` cost record beside a shard."""
    return shard.with_name(shard.name.split(".")[0] + ".json")


def shard_costs(profile: str) -> pd.DataFrame:
    """The cost record of every stored shard of ``profile``: experiment, key, wall and CPU seconds."""
    records = [{"experiment": d.name, "key": folder.name, **json.loads(cost_path(shard).read_text())}
               for d in sorted((results_root() / profile).glob("*")) for folder in sorted(d.glob("*"))
               for shard in stored_shards(folder) if cost_path(shard).exists()]  # a killed write may leave a record alone
    return pd.DataFrame(records, columns=["experiment", "key", "wall_seconds", "cpu_seconds"])


def cpu_hours(profile: str) -> float:
    """CPU hours recorded by every stored shard of ``profile``."""
    return round(float(shard_costs(profile).cpu_seconds.sum()) / 3600, 2)


def stamp(profile: str, root: Path = REPO) -> dict:
    """Where a publication's numbers come from: profile, date, commit and CPU hours of the stored
    results."""
    git = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return {"profile": profile, "built": time.strftime("%Y-%m-%d"),
            "commit": git.stdout.strip() if git.returncode == 0 else "none (not a git checkout)",
            "cpu_hours": cpu_hours(profile)}
