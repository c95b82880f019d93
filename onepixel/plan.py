"""One plan per profile: every chapter's settings and the stored experiments they need.

A profile (``notebooks/profiles/<name>.yaml``) gives ``common`` values for every chapter and a
section per chapter (by notebook stem) that overrides them (and optionally ``chapters``, the only
chapters whose experiments it plans); :data:`CHAPTERS` holds each chapter's
defaults (the paper's settings), so a key a chapter does not use is an error. A notebook calls
:func:`settings` with the values its user set; ``onepixel run`` computes :func:`jobs`, in the order
of the profile's ``priority`` list (patterns over :meth:`Job.label` with ``*`` and ``?`` as wildcards, first match wins;
a list of patterns is one rank, computed side by side).
Profiles are read from ``$ONEPIXEL_PROFILES`` when set.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from .attack import PAPER
from .experiments import Job, size_for
from .models import NETWORKS, PUBLISHED
from .storage import REPO

PROFILES = Path(os.environ.get("ONEPIXEL_PROFILES", REPO / "notebooks" / "profiles"))
COMMON = {"device": "auto", "seed": 0, "recompute": False, "compute": False}
SAMPLES = {"n_untargeted": 100, "n_targeted": 20}
PAPER_MODELS = ["allconv", "nin", "vgg16", "squeezenet1_0", "efficientnet_lite0"]
CIFAR_MODELS = ["allconv", "nin", "vgg16"]
CHAPTERS: dict[str, dict[str, Any]] = {}          # chapter (notebook stem) -> its default settings
CHAPTER_JOBS: dict[str, Callable[[Mapping[str, Any]], list[Job]]] = {}


def chapter(name: str, **defaults) -> Callable:
    """Register a chapter: its default settings, and (decorated) the stored experiments it shows
    under its settings. A new chapter is its notebook, one decorated function here, and ``_toc.yml``."""
    def register(jobs: Callable[[Mapping[str, Any]], list[Job]]) -> Callable:
        CHAPTERS[name], CHAPTER_JOBS[name] = defaults, jobs
        return jobs
    return register


def _de(s: Mapping[str, Any]) -> dict[str, Any]:
    return {k: s[k] for k in PAPER if k in s} | {"seed": s["seed"]}


def _sized(models: list[str], n, n_imagenet=None) -> list[tuple[str, int]]:
    pairs = [(m, size_for(n_imagenet if n_imagenet is not None and NETWORKS[m].dataset == "imagenet" else n, m))
             for m in models]
    return [(m, k) for m, k in pairs if k]


def _untargeted(s, models, n, pixels=1, n_imagenet=None) -> list[Job]:
    from .study import de_job

    return [de_job(m, k, pixels, **_de(s)) for m, k in _sized(models, n, n_imagenet)]


def _targeted(s, models, n, pixels=1) -> list[Job]:
    from .study import de_job

    return [de_job(m, k, pixels, True, **_de(s)) for m, k in _sized(models, n)]


def _baselines(s, models, methods, n, budget) -> list[Job]:
    return [Job.make("baseline", m, k, seed=s["seed"], method=x, budget=budget) for m, k in _sized(models, n)
            for x in methods]


def _exhaustive(s, models, n) -> list[Job]:
    return [Job.make("exhaustive", m, k, seed=s["seed"], levels=2) for m, k in _sized(models, n)]


@chapter("00_summary", **PAPER, **SAMPLES, models=PAPER_MODELS, targeted_models=CIFAR_MODELS, n_untargeted_imagenet=20,
         few_pixel_settings=[["allconv", 3], ["nin", 5]], few_n_untargeted=100, few_n_targeted=20,
         random_models=CIFAR_MODELS, random_budget=10000, n_baseline=100)
def _summary(s):
    from .study import coverage_job  # study imports the engine; the plan reads it only here

    return (_untargeted(s, s["models"], s["n_untargeted"], 1, s["n_untargeted_imagenet"])
            + _targeted(s, s["targeted_models"], s["n_targeted"])
            + [j for m, k in s["few_pixel_settings"]
               for j in _untargeted(s, [m], s["few_n_untargeted"], k) + _targeted(s, [m], s["few_n_targeted"], k)]
            + _baselines(s, s["random_models"], ["random"], s["n_baseline"], s["random_budget"])
            + [coverage_job(seed=s["seed"])])


@chapter("01_networks", models=[m for m in PUBLISHED if m != "alexnet"], architectures=CIFAR_MODELS)
def _networks(s):
    return [Job.make("predictions", m) for m in s["models"]]


@chapter("02_attacks", **PAPER, **SAMPLES, models=PAPER_MODELS, targeted_models=CIFAR_MODELS, n_untargeted_imagenet=20,
         pixels=1, depth_models=["resnet20", "resnet32", "resnet44", "resnet56"], n_depth=100,
         early_stop_model="allconv", early_stop_images=100, bounds_model="allconv", bounds_images=100,
         transfer_sources=CIFAR_MODELS, transfer_targets=CIFAR_MODELS)
def _attacks(s):
    from .study import de_job, early_stop_jobs

    early = list(early_stop_jobs(s["early_stop_model"], s["early_stop_images"], **_de(s)).values()) \
        if s["early_stop_images"] else []
    bounds = [de_job(s["bounds_model"], s["bounds_images"], **_de(s), bounds=b) for b in ("clip", "redraw")
              if s["bounds_images"]]
    return (_untargeted(s, s["models"], s["n_untargeted"], s["pixels"], s["n_untargeted_imagenet"])
            + _targeted(s, s["targeted_models"], s["n_targeted"], s["pixels"])
            + _untargeted(s, s["depth_models"], s["n_depth"]) + early + bounds + _transfer(s))


def _transfer(s) -> list[Job]:
    """Every source's stored one-pixel perturbations replayed on every target (itself included: a
    check that replaying reproduces the attack)."""
    return [Job.make("transfer", target, fooled_by=source, seed=s["seed"])
            for source in _untargeted(s, s["transfer_sources"], s["n_untargeted"], s["pixels"])
            for target in s["transfer_targets"]]


@chapter("03_few_pixels", **PAPER, **SAMPLES, settings_list=[["allconv", 3], ["nin", 5]])
def _few_pixels(s):
    pairs = sorted({(m, 1) for m, _ in s["settings_list"]} | {tuple(p) for p in s["settings_list"]})
    return [j for m, k in pairs for j in _untargeted(s, [m], s["n_untargeted"], k) + _targeted(s, [m], s["n_targeted"], k)]


@chapter("04_cost", **PAPER, **SAMPLES, pixels=1, models=CIFAR_MODELS, random_budget=10000, n_baseline=100,
         n_exhaustive=100, baselines=["random", "single_pixel"])
def _cost(s):
    return (_untargeted(s, s["models"], s["n_untargeted"], s["pixels"])
            + _baselines(s, s["models"], s["baselines"], s["n_baseline"], s["random_budget"])
            + _exhaustive(s, s["models"], s["n_exhaustive"]))


@chapter("05_class_pairs", **PAPER, **SAMPLES, settings_list=[["allconv", 1], ["nin", 1], ["vgg16", 1]],
         n_exhaustive=100)
def _class_pairs(s):
    return ([j for m, k in s["settings_list"] for j in _targeted(s, [m], s["n_targeted"], k)]
            + _exhaustive(s, sorted({m for m, _ in s["settings_list"]}), s["n_exhaustive"]))


@chapter("06_gallery", **PAPER, **SAMPLES, pixels=1, models=CIFAR_MODELS + ["squeezenet1_0"],
         targeted_models=CIFAR_MODELS, n_untargeted_imagenet=20, per_model=8)
def _gallery(s):
    return (_untargeted(s, s["models"], s["n_untargeted"], s["pixels"], s["n_untargeted_imagenet"])
            + _targeted(s, s["targeted_models"], s["n_targeted"], s["pixels"]))


@chapter("07_geometry", **PAPER, **SAMPLES, pixels=1, models=CIFAR_MODELS, targeted_models=CIFAR_MODELS,
         slice_images=2, plane_steps=64, n_exhaustive=100, n_cube=50, cube_levels=16)
def _geometry(s):  # the cube search's exhaustive source is planned as its dependency
    return (_untargeted(s, s["models"], s["n_untargeted"]) + _targeted(s, s["targeted_models"], s["n_targeted"])
            + _exhaustive(s, s["models"], s["n_exhaustive"])
            + [Job.make("cube", m, k, seed=s["seed"], levels=s["cube_levels"]) for m, k in _sized(s["models"], s["n_cube"])])


# benchmarks (`onepixel bench`, on a quiet machine) and provenance compute nothing in the plan
chapter("08_performance", model="allconv", n_images=8, maxiter=10, peers=True,
        speedup_models=["allconv", "nin", "vgg16", "resnet20", "squeezenet1_0", "efficientnet_lite0"])(lambda s: [])
chapter("09_reproducibility")(lambda s: [])

SIZE_KEYS = {"n_untargeted", "n_targeted", "n_untargeted_imagenet", "few_n_untargeted", "few_n_targeted",
             "random_budget", "n_baseline", "n_exhaustive", "n_depth", "early_stop_images", "n_cube", "per_model",
             "n_images", "slice_images", "bounds_images"}
MODEL_KEYS = {"models", "targeted_models", "random_models", "depth_models", "architectures", "speedup_models",
              "transfer_sources", "transfer_targets"}


def load(profile: str) -> dict:
    """The profile's YAML, checked: known chapters and keys, integer sizes, known networks."""
    path = PROFILES / f"{profile}.yaml"
    if not path.exists():
        raise ValueError(f"unknown profile {profile!r}; choose from {sorted(p.stem for p in PROFILES.glob('*.yaml'))}")
    cfg = yaml.safe_load(path.read_text()) or {}
    known = set(CHAPTERS) | {"common", "priority", "chapters"}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"{path.name}: unknown section(s) {', '.join(unknown)}; chapters are {', '.join(CHAPTERS)}")
    used_anywhere = set(COMMON).union(*CHAPTERS.values())
    for key in set(cfg.get("common") or {}) - used_anywhere:
        raise ValueError(f"{path.name}: common key {key!r} is used by no chapter")
    for chapter in CHAPTERS:
        for key in set(cfg.get(chapter) or {}) - set(CHAPTERS[chapter]) - set(COMMON):
            raise ValueError(f"{path.name}: chapter {chapter} has no setting {key!r}; "
                             f"it has {', '.join(sorted(CHAPTERS[chapter]))}")
        check_values(f"{path.name}, {chapter}", {**(cfg.get("common") or {}), **(cfg.get(chapter) or {})})
    for entry in cfg.get("priority") or []:
        if not (isinstance(entry, str) or (isinstance(entry, list) and entry and all(isinstance(e, str) for e in entry))):
            raise ValueError(f"{path.name}: a priority entry is a pattern or a list of patterns, got {entry!r}")
    for chapter in set(cfg.get("chapters") or []) - set(CHAPTERS):
        raise ValueError(f"{path.name}: chapters lists unknown chapter {chapter!r}; chapters are {', '.join(CHAPTERS)}")
    return cfg


def check_values(where: str, values: Mapping[str, Any]) -> None:
    """Sizes are non-negative integers (or a mapping network -> size); networks are known."""
    for key, value in values.items():
        sizes = value.values() if key in SIZE_KEYS and isinstance(value, Mapping) else [value] if key in SIZE_KEYS else []
        for size in sizes:
            if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                raise ValueError(f"{where}: {key} must be a non-negative integer (or one per network), got {value!r}")
        names = list(value) if key in SIZE_KEYS and isinstance(value, Mapping) else value if key in MODEL_KEYS else [value] if key in ("model", "early_stop_model", "bounds_model") else \
            [m for m, _ in value] if key in ("settings_list", "few_pixel_settings") else []
        for name in names:
            if name not in NETWORKS:
                raise ValueError(f"{where}: unknown network {name!r} in {key}; choose from {', '.join(NETWORKS)}")
        if key == "baselines":
            from .search import BASELINES

            for name in value:
                if name not in BASELINES:
                    raise ValueError(f"{where}: unknown baseline {name!r} in baselines; choose from {', '.join(BASELINES)}")


def settings(profile: str, chapter: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A chapter's settings under ``profile``: defaults, then the profile's ``common`` and chapter
    sections, then ``overrides`` that are not None (a notebook passes its ``globals()``)."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; choose from {', '.join(CHAPTERS)}")
    cfg = load(profile)
    names = set(CHAPTERS[chapter]) | set(COMMON)
    common = {k: v for k, v in (cfg.get("common") or {}).items() if k in names}
    user = {k: v for k, v in (overrides or {}).items() if k in names and v is not None}
    check_values(f"{chapter} parameters", user)
    return {**COMMON, **CHAPTERS[chapter], **common, **(cfg.get(chapter) or {}), **user, "profile": profile}


def chapter_jobs(chapter: str, s: Mapping[str, Any]) -> list[Job]:
    """The stored experiments a chapter shows, under its settings ``s``."""
    return CHAPTER_JOBS[chapter](s)


def headline_jobs(profile: str) -> list[Job]:
    """The one-pixel non-targeted attacks on chapter 02's networks, as the profile plans them: the
    runs that the README's headline and each page's edition line report (none if the profile does
    not plan chapter 02)."""
    if "02_attacks" not in (load(profile).get("chapters") or CHAPTERS):
        return []
    s = settings(profile, "02_attacks")
    return _untargeted(s, s["models"], s["n_untargeted"], s["pixels"], s["n_untargeted_imagenet"])


def matches(label: str, pattern: str) -> bool:
    """Whether an experiment label matches a priority pattern: ``*`` and ``?`` are wildcards,
    everything else (the brackets of ``[bounds redraw]`` included) is literal."""
    return fnmatch.fnmatchcase(label, pattern.replace("[", "[[]"))


def largest(planned: list[Job]) -> list[Job]:
    """Each experiment once (by :attr:`Job.key`), at its largest planned sample, in first-seen order:
    the largest sample of an experiment covers the smaller ones."""
    found: dict[tuple, Job] = {}
    for job in planned:
        if job.key not in found or (job.n or 0) > (found[job.key].n or 0):
            found[job.key] = job
    return list(found.values())


def jobs(profile: str) -> list[Job]:
    """Every stored experiment the profile's chapters (all, or those its ``chapters`` list names)
    need, with what they depend on, once each (see :func:`largest`), predictions first, then in the
    profile's priority order."""
    cfg = load(profile)
    planned: list[Job] = []

    def add(job: Job) -> None:
        for dependency in job.depends_on:
            add(dependency)
        planned.append(job)
    for chapter in cfg.get("chapters") or CHAPTERS:
        for job in chapter_jobs(chapter, settings(profile, chapter)):
            add(job)
    found = largest(planned)
    predictions = [Job.make("predictions", m) for m in dict.fromkeys(j.model for j in found if j.model)]
    found = [j for j in found if j.kind != "predictions"]
    return predictions + sorted(found, key=priority(cfg))


def priority(cfg: Mapping[str, Any]) -> Callable[[Job], int]:
    """A job's rank under the profile's ``priority`` list: the index of the first entry that
    matches its label (an entry is a pattern, or a list of patterns of equal rank whose jobs
    ``onepixel run`` computes side by side); jobs no entry matches come last."""
    entries = [[e] if isinstance(e, str) else list(e) for e in cfg.get("priority") or []]

    def rank(job: Job) -> int:
        return next((i for i, patterns in enumerate(entries) if any(matches(job.label(), p) for p in patterns)),
                    len(entries))
    return rank
