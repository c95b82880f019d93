"""One plan per profile: every chapter's settings and the stored experiments they need.

A profile (``notebooks/profiles/<name>.yaml``) gives ``common`` values for every chapter and a
section per chapter (by notebook stem) that overrides them (and optionally ``chapters``, the only
chapters whose experiments it plans); :data:`onepixel.study.chapters.CHAPTERS` declares each chapter's
defaults (the paper's settings) and experiments, so a key a chapter does not use is an error. A
notebook calls :func:`onepixel.study.rows.page` with the values its user set and gets exactly the
stored rows of its chapter's experiments; ``onepixel run`` computes :func:`jobs`, in the order
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

from onepixel.engine.settings import DESettings
from onepixel.nets.models import NETWORKS
from onepixel.storage import REPO
from onepixel.study.chapters import CHAPTERS, COMMON, attacks
from onepixel.study.jobs import KINDS, Job


PROFILES = Path(os.environ.get("ONEPIXEL_PROFILES", REPO / "notebooks" / "profiles"))


SIZE_KEYS = {"n_untargeted", "n_targeted", "n_untargeted_imagenet", "few_n_untargeted", "few_n_targeted",
             "random_budget", "n_baseline", "n_exhaustive", "n_depth", "early_stop_images", "n_cube", "per_model",
             "n_images", "slice_images", "plane_images", "bounds_images", "variant_n_untargeted"}
MODEL_KEYS = {"models", "targeted_models", "random_models", "depth_models", "architectures", "speedup_models",
              "transfer_sources", "transfer_targets", "variants"}


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
    used_anywhere = set(COMMON).union(*(c.defaults for c in CHAPTERS.values()))
    for key in set(cfg.get("common") or {}) - used_anywhere:
        raise ValueError(f"{path.name}: common key {key!r} is used by no chapter")
    for chapter in CHAPTERS:
        for key in set(cfg.get(chapter) or {}) - set(CHAPTERS[chapter].defaults) - set(COMMON):
            raise ValueError(f"{path.name}: chapter {chapter} has no setting {key!r}; "
                             f"it has {', '.join(sorted(CHAPTERS[chapter].defaults))}")
        check_values(f"{path.name}, {chapter}", {**(cfg.get("common") or {}), **(cfg.get(chapter) or {})})
    for entry in cfg.get("priority") or []:
        if not (isinstance(entry, str) or (isinstance(entry, list) and entry and all(isinstance(e, str) for e in entry))):
            raise ValueError(f"{path.name}: a priority entry is a pattern or a list of patterns, got {entry!r}")
    for chapter in set(cfg.get("chapters") or []) - set(CHAPTERS):
        raise ValueError(f"{path.name}: chapters lists unknown chapter {chapter!r}; chapters are {', '.join(CHAPTERS)}")
    return cfg


def check_values(where: str, values: Mapping[str, Any]) -> None:
    """Sizes are non-negative integers (or a mapping network -> size); networks are known; DE
    settings are valid (:class:`onepixel.engine.settings.DESettings` checks them)."""
    try:
        DESettings.of(values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None
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
        if key == "baselines":  # any registered attack with a budget and a seed
            for name in set(value) - set(KINDS["baseline"].methods()):
                raise ValueError(f"{where}: unknown baseline {name!r} in baselines; "
                                 f"choose from {', '.join(KINDS['baseline'].methods())}")


def settings(profile: str, chapter: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A chapter's settings under ``profile``: defaults, then the profile's ``common`` and chapter
    sections, then ``overrides`` that are not None (a notebook passes its ``globals()``)."""
    if chapter not in CHAPTERS:
        raise ValueError(f"unknown chapter {chapter!r}; choose from {', '.join(CHAPTERS)}")
    cfg = load(profile)
    defaults = CHAPTERS[chapter].defaults
    names = set(defaults) | set(COMMON)
    common = {k: v for k, v in (cfg.get("common") or {}).items() if k in names}
    user = {k: v for k, v in (overrides or {}).items() if k in names and v is not None}
    check_values(f"{chapter} parameters", user)
    return {**COMMON, **defaults, **common, **(cfg.get(chapter) or {}), **user, "profile": profile}


def headline_jobs(profile: str) -> list[Job]:
    """The one-pixel non-targeted attacks on chapter 02's networks, as the profile plans them: the
    runs that the README's headline and each page's edition line report (none if the profile does
    not plan chapter 02)."""
    if "02_attacks" not in (load(profile).get("chapters") or CHAPTERS):
        return []
    s = settings(profile, "02_attacks")
    planned = attacks(s, s["models"], s["n_untargeted"], s["pixels"], n_imagenet=s["n_untargeted_imagenet"])
    return [job for job in planned.values() if not job.empty]


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
        if job.empty:  # nothing to compute: its page shows empty rows
            return
        for dependency in job.depends_on:
            add(dependency)
        planned.append(job)
    for chapter in cfg.get("chapters") or CHAPTERS:
        for job in CHAPTERS[chapter].experiments(settings(profile, chapter)).values():
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
