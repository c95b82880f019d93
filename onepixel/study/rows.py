"""What the store holds for the plan: the rows of one :class:`~onepixel.study.jobs.Job`
(:func:`job_rows`; with ``compute=True`` what is missing is computed and stored first, in-process;
with ``compute=False`` nothing is computed and the log, logger ``onepixel.study.rows`` at level
INFO, says how many of the planned images are stored), the images a job covers (a sample of the
correctly classified images, drawn from the stored predictions), a chapter's page (:func:`page`:
exactly the rows of its experiments) and how much of a plan is stored (:func:`status`, typed
records made here and only here; the CLI, the book and the README turn them into text).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from onepixel.storage import results_root
from onepixel.study import plan
from onepixel.study.chapters import CHAPTERS, Page
from onepixel.study.experiments import entries, store, timed_compute
from onepixel.study.jobs import Job


log = logging.getLogger(__name__)


def job_images(profile: str, job: Job, compute: bool = True) -> list[int] | None:
    """The images a job covers, sorted; None while they cannot be known without computing (the jobs
    it depends on, :attr:`Job.depends_on`, are not all stored) and ``compute`` is False."""
    own = job.spec.items(job)
    if own is not None:
        return own
    if job.images is not None:
        return sorted(job.images)
    for dependency in job.depends_on:
        if missing_images(profile, dependency, compute=False) != []:
            if not compute:
                return None
            job_rows(profile, dependency, quiet=True)
    if job.fooled_by is not None:
        return job.spec.select(job, job_rows(profile, job.fooled_by, compute=False, quiet=True))
    if job.among is not None:
        return sorted(among_order(profile, job)[:job.n])
    return correct_sample(profile, job.model, job.n, job.seed)


def among_order(profile: str, job: Job) -> list[int]:
    """The images of ``job.among``'s sample that ``job.model`` classifies correctly, in that sample's order."""
    p = predictions(profile, job.model, compute=False)
    correct = set(p.image[p.pred == p.label].tolist())
    return [i for i in sample_order(profile, job.among.model, job.among.seed)[:job.among.n] if i in correct]


def stored_images(profile: str, job: Job) -> set[int]:
    rows = entries(job, results_root(), profile)[0].load()
    return set(rows.image.tolist()) if len(rows) else set()


def missing_images(profile: str, job: Job, compute: bool = True) -> list[int] | None:
    """Planned images with no stored rows (None: not known yet, see :func:`job_images`)."""
    images = job_images(profile, job, compute)
    if images is None:
        return None
    done = stored_images(profile, job)
    return [i for i in images if i not in done]


def payload(profile: str, job: Job, images: list[int]):
    """What a job's computation needs from the store (:meth:`onepixel.study.experiments.Kind.payload`),
    read on the client so that workers need no shared filesystem."""
    def read(other: Job, entry: int) -> pd.DataFrame:
        rows = job_rows(profile, other, compute=False, quiet=True)
        return exhaustive_maps(profile, other, rows) if entry else rows
    return job.spec.payload(job, images, read)


def job_rows(profile: str, job: Job, device: str = "auto", compute: bool = True, recompute: bool = False,
            quiet: bool = False) -> pd.DataFrame:
    """The job's stored rows for its images; missing ones computed in-process first if ``compute``."""
    if job.empty:
        return pd.DataFrame()
    exps = entries(job, results_root(), profile, device)
    if recompute and compute:
        for exp in exps:
            exp.clear()
    images = job_images(profile, job, compute)
    if images is None:
        log.info("%s: waiting on results not stored yet", job.label())
        return pd.DataFrame()
    done = stored_images(profile, job)
    missing = [i for i in images if i not in done]
    if missing and not compute:
        log.info("%s: %d stored of %d planned", job.label(), len(images) - len(missing), len(images))
    elif missing:
        per_image = exps[0].cpu_seconds_per_image(len(done))
        estimate = f", about {len(missing) * per_image / 3600:.2g} CPU hours" if per_image else ""
        log.info("%s: computing %d missing images%s", job.label(), len(missing), estimate)
        size = job.spec.chunk_size(job)
        for s in tqdm(range(0, len(missing), size), desc=job.name, disable=quiet or None, leave=False):
            chunk = missing[s:s + size]
            frames, cost = timed_compute(job, chunk, payload(profile, job, chunk), device)
            store(exps, frames, cost)
    rows = exps[0].load()
    if not len(rows):
        return rows
    rows = rows.drop_duplicates(subset=[c for c in job.spec.row_key if c in rows])  # a shard stored twice
    return rows[rows.image.isin(images)].reset_index(drop=True)


def exhaustive_maps(profile: str, job: Job, rows: pd.DataFrame) -> pd.DataFrame:
    """An exhaustive search's per-pixel maps for the images of its ``rows``: per image and pixel,
    the highest probability of a class other than the true one that changing that pixel reaches."""
    maps = entries(job, results_root(), profile)[1].load()
    if not len(maps) or not len(rows):
        return pd.DataFrame(columns=["image", "label", "y", "x", "best_other_prob"])
    maps = maps.drop_duplicates(subset=["image", "y", "x"])
    return maps[maps.image.isin(set(rows.image))].reset_index(drop=True)


def predictions(profile: str, name: str, device: str = "auto", compute: bool = True) -> pd.DataFrame:
    """Clean predictions of model ``name`` on its whole test set (one row per image)."""
    return job_rows(profile, Job.make("predictions", name), device, compute, quiet=True)


def accuracy(profile: str, name: str) -> dict:
    p = predictions(profile, name)
    return {"model": name, "correct": int((p.pred == p.label).sum()), "n": len(p),
            "accuracy": float((p.pred == p.label).mean())}


def sample_order(profile: str, name: str, seed: int = 0) -> list[int]:
    """Every image the model classifies correctly, in the sample's random order: the sample of
    size n is the first n (so a larger sample extends a smaller one)."""
    p = predictions(profile, name)
    correct = np.sort(p.image[p.pred == p.label].to_numpy())  # shards may be stored in any order
    return np.random.default_rng([seed, 1710_08864]).permutation(correct).tolist()


def correct_sample(profile: str, name: str, n: int, seed: int = 0) -> list[int]:
    """``n`` images the model classifies correctly, drawn without replacement, sorted."""
    order = sample_order(profile, name, seed)
    if n > len(order):
        raise ValueError(f"{name} classifies only {len(order)} images correctly; asked for {n}")
    return sorted(order[:n])


def in_sample_order(profile: str, job: Job, images: list[int]) -> list[int]:
    """``images`` of a sampled job in the sample's order (so that a partly computed sample of n is a
    complete smaller sample); jobs on given images keep their order."""
    if job.spec.items(job) is not None or job.fooled_by is not None or (job.n is None and job.among is None):
        return images
    order = among_order(profile, job) if job.among is not None else sample_order(profile, job.model, job.seed)
    rank = {image: r for r, image in enumerate(order)}
    return sorted(images, key=lambda i: rank.get(i, len(rank)))


def page(profile: str, chapter: str, overrides: Mapping[str, Any] | None = None) -> Page:
    """A chapter's page under ``profile``: its settings (with ``overrides`` that are not None, as
    for :func:`onepixel.study.plan.settings`) and the stored rows of exactly its experiments, what is missing computed
    first when its ``compute`` setting is on."""
    s = plan.settings(profile, chapter, overrides)
    planned = CHAPTERS[chapter].experiments(s)
    stored, maps, cleared = {}, {}, set()
    for key, job in planned.items():
        recompute = s["recompute"] and job.key not in cleared  # an experiment named twice is cleared once
        cleared.add(job.key)
        stored[key] = job_rows(profile, job, s["device"], s["compute"], recompute, quiet=True)
        if job.kind == "exhaustive":
            maps[key] = exhaustive_maps(profile, job, stored[key])
    return Page(chapter, s, planned, stored, maps)


@dataclass(frozen=True)
class Progress:
    """One planned experiment: images planned and stored, CPU hours spent and left."""

    job: Job
    planned: int | None            # None while its images depend on results not stored yet
    stored: int                    # planned images with stored rows
    cpu_hours_spent: float         # recorded by its shards (0 for a second job of the same experiment)
    cpu_hours_left: float | None   # from its CPU seconds per image; None before its first shard

    @property
    def complete(self) -> bool:
        return self.planned is not None and self.stored >= self.planned


def progress(profile: str, jobs: list[Job]) -> list[Progress]:
    """A record per job. An experiment planned twice (the paper rule of the early-stop comparison)
    counts its hours once."""
    records, seen = [], set()
    root = results_root()
    for job in jobs:
        exp = entries(job, root, profile)[0]
        cost, stored = exp.cost(), stored_images(profile, job)
        spent = 0.0 if exp.dir in seen else cost["cpu_seconds"] / 3600
        seen.add(exp.dir)
        images = job_images(profile, job, compute=False)
        per_image = exp.cpu_seconds_per_image(len(stored), cost)
        left = len([i for i in images if i not in stored]) if images is not None else None
        records.append(Progress(job, len(images) if images is not None else None, len(stored & set(images or [])),
                                round(spent, 2),
                                round(left * per_image / 3600, 2) if left is not None and per_image else None))
    return records


def status(profile: str) -> list[Progress]:
    """A record per experiment of the profile's plan, in the order ``onepixel run`` computes them."""
    return progress(profile, plan.jobs(profile))
