"""The kinds of stored experiment, registered in :data:`onepixel.study.jobs.KINDS`. The attack
kinds (``de``, ``exhaustive``, ``baseline``) run an attack of :mod:`onepixel.engine.attacks`
(``baseline`` any registered attack with a ``budget``); the experiments that are no attack (clean
predictions, replayed perturbations, the interval simulation) are registered the same way: a new
kind is one class here (or, for the probes of the input space drawn in chapter 07, in
:mod:`onepixel.study.probe_kinds`).

Computing is split so that it can run anywhere: :meth:`Kind.payload` (client side, reads the
store), then :meth:`Kind.rows` (``(job, images, payload) -> frames``; no store access, runs on any
Dask worker; :func:`timed_compute` adds the cost record), then :func:`store` (client side, one
atomic shard per frame).
"""
from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, fields
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd
import torch

from onepixel.engine.attacks import ATTACKS, Attack, Goal, Targeted, Untargeted, make
from onepixel.engine.evaluator import resolve_device
from onepixel.engine.probes import replay
from onepixel.engine.settings import PAPER, DESettings
from onepixel.nets.models import model_and_data, network, test_data, weights_digest
from onepixel.stats.coverage import scenarios, simulate
from onepixel.study.jobs import KINDS, Job, Read
from onepixel.study.store import Experiment


class Kind:
    """What one kind of stored experiment is. Subclasses set ``name`` and override what differs."""

    name: ClassVar[str]
    network: ClassVar[bool] = True  # False: its items are scenarios, not a network's images
    row_key: ClassVar[tuple[str, ...]] = ("image", "target", "method")  # those present name a row once

    def check(self, params: dict, fooled_by: Job | None) -> dict:
        """The job's parameters, checked and completed (a clear error for bad ones)."""
        return params

    def folder(self, job: Job) -> str:
        return self.name

    def changes(self, job: Job) -> list[str]:
        """Settings that differ from the paper's, for the job's label."""
        return []

    def inputs(self, job: Job) -> tuple[Job, ...]:
        """Jobs besides the clean predictions whose stored rows this one reads."""
        return ()

    def identity(self, job: Job, source: Callable[[Job], dict]) -> dict:
        """The values that decide the rows (``source``: the identity of another job's rows)."""
        return {"model": job.model, "weights": weights_digest(job.model), "data": test_data(job.model).digest}

    def info(self, job: Job) -> dict:
        """Recorded beside the rows, not part of the key."""
        return {}

    def companions(self, job: Job) -> list[str]:
        """Further store entries (compressed) written with the rows, one frame each."""
        return []

    def select(self, job: Job, source: pd.DataFrame) -> list[int]:
        """A ``fooled_by`` job's images, from its source job's stored ``rows``: every image it fooled."""
        return sorted(source.image[source.success].unique().tolist())

    def covers(self, job: Job) -> str:
        """What a ``fooled_by`` job covers, for its label."""
        return f" (fooled by {job.fooled_by.model} {job.fooled_by.size})"

    def items(self, job: Job) -> list[int] | None:
        """The items it covers when they do not come from the store (a sample drawn from it)."""
        return None

    def chunk_size(self, job: Job) -> int:
        """Items per shard: minutes, not hours, of one core (a killed run loses the shards in flight)."""
        return 2 if network(job.model).dataset == "imagenet" else 8

    def payload(self, job: Job, images: list[int], read: Read) -> Any:
        """What :meth:`rows` needs from the store, read on the client (workers share no files)."""
        return None

    def rows(self, job: Job, images: list[int], payload: Any, device: str) -> list[pd.DataFrame]:
        raise NotImplementedError


def register(cls: type[Kind]) -> type[Kind]:
    """Register a kind of experiment under its ``name``."""
    KINDS[cls.name] = cls()
    return cls


class AttackKind(Kind):
    """An attack of :mod:`onepixel.engine.attacks` on a sample of images; its identity is the attack's."""

    sample_seed: ClassVar[bool] = True  # the baselines' stored identities predate a separate sample seed

    def attack(self, job: Job) -> tuple[Attack, Goal]:
        raise NotImplementedError

    def identity(self, job, source):
        attack, goal = self.attack(job)
        return {**super().identity(job, source), **({"sample_seed": job.seed} if self.sample_seed else {}),
                **attack.identity(goal)}

    def rows(self, job, images, payload, device):
        model, data = model_and_data(job.model)
        sub = data.subset(images)
        attack, goal = self.attack(job)
        return [attack.run(model, sub.float(), sub.labels, goal, ids=sub.index, device=device).assign(model=job.model)]


@register
class DEKind(AttackKind):
    name = "de"

    def check(self, params, fooled_by):  # the settings whole (``settings=``) or one by one
        names = [f.name for f in fields(DESettings)]
        unknown = sorted(set(params) - {*names, "settings"})
        if unknown:
            raise ValueError(f"unknown DE setting(s) {', '.join(unknown)}; choose from {', '.join(names)}")
        return asdict(DESettings.of({**asdict(params.pop("settings", PAPER)), **params}))

    def folder(self, job):
        s = job.settings
        return f"de-{s.pixels}px-{'targeted' if s.targeted else 'untargeted'}"

    def changes(self, job):
        return [f"{k} {v}" for k, v in sorted(job.settings.changes().items()) if k not in ("pixels", "targeted")]

    def attack(self, job):
        s = job.settings
        goal = Targeted(s.target_threshold, s.stop_on_flip) if s.targeted else Untargeted(s.true_threshold, s.stop_on_flip)
        return make("de", settings=s, seed=job.seed), goal

    def info(self, job):
        return {"incremental": "auto", "threads": torch.get_num_threads()}

    def covers(self, job):  # the early-stop comparison: the images the paper's rule fooled
        return " (fooled by the paper rule)"

    def chunk_size(self, job):  # a targeted image is 9 attacks
        return 1 if job.settings.targeted else super().chunk_size(job)


@register
class ExhaustiveKind(AttackKind):
    """Every pixel x ``levels``^3 colours; its per-pixel vulnerability maps are stored beside it."""

    name = "exhaustive"

    def check(self, params, fooled_by):
        return {"levels": 2, **params}

    def folder(self, job):
        return f"exhaustive-{job.parameters['levels']}"

    def attack(self, job):
        return make("exhaustive", levels=job.parameters["levels"]), Targeted()

    def companions(self, job):
        return [f"vulnerability-{job.parameters['levels']}"]

    def rows(self, job, images, payload, device):
        model, data = model_and_data(job.model)
        sub = data.subset(images)
        attack, goal = self.attack(job)
        res = attack.search(model, sub.float(), sub.labels, goal, ids=sub.index, device=device)
        n, h, w = res.pixel_map.shape
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        maps = pd.DataFrame({"image": np.repeat(res.ids.numpy(), h * w), "label": np.repeat(res.labels.numpy(), h * w),
                             "y": np.tile(ys.ravel(), n), "x": np.tile(xs.ravel(), n),
                             "best_other_prob": res.pixel_map.reshape(-1).numpy().round(6)})
        return [attack.rows(res.to_pandas(), goal).assign(model=job.model), maps]


@register
class BaselineKind(AttackKind):
    """Any registered attack with a ``budget`` and a ``seed``, untargeted (``method``: its name)."""

    name = "baseline"
    sample_seed = False

    @staticmethod
    def methods() -> list[str]:
        """The registered attacks a baseline job can run."""
        return sorted(name for name, cls in ATTACKS.items() if {"budget", "seed"} <= {f.name for f in fields(cls)})

    def check(self, params, fooled_by):
        if params.get("method") not in self.methods():
            raise ValueError(f"unknown baseline {params.get('method')!r}; choose from {', '.join(self.methods())}")
        return params

    def folder(self, job):
        return f"baseline-{job.parameters['method']}"

    def attack(self, job):
        return make(job.parameters["method"], budget=job.parameters["budget"], seed=job.seed), Untargeted()

    def chunk_size(self, job):
        return 32


@register
class PredictionsKind(Kind):
    """The network's clean prediction of every test image."""

    name = "predictions"

    def items(self, job):
        return list(range(len(test_data(job.model))))

    def chunk_size(self, job):
        return 2000

    def rows(self, job, images, payload, device):
        model, data = model_and_data(job.model)
        sub, dev = data.subset(images), resolve_device(device)
        with torch.inference_mode():
            probs = torch.cat([model.to(dev)(sub.subset(range(s, min(s + 200, len(sub)))).float().to(dev))
                               .softmax(1).cpu() for s in range(0, len(sub), 200)])
        return [pd.DataFrame({"image": images, "label": sub.labels.numpy(), "pred": probs.argmax(1).numpy(),
                              "prob": probs.max(1).values.numpy(),
                              "true_prob": probs[torch.arange(len(images)), sub.labels].numpy()})]


@register
class TransferKind(Kind):
    """A DE job's stored successful perturbations (``fooled_by``) replayed on another network."""

    name = "transfer"

    def check(self, params, fooled_by):
        if fooled_by is None or fooled_by.kind != "de":
            raise ValueError(f"a transfer job replays the perturbations of a DE job (fooled_by), got {fooled_by!r}")
        return params

    def folder(self, job):
        return f"transfer-{job.fooled_by.name.removeprefix('de-')}"

    def identity(self, job, source):  # the source attack's identity names the perturbations replayed
        return {**super().identity(job, source), "source": source(job.fooled_by)}

    def chunk_size(self, job):
        return 2000

    def payload(self, job, images, read):  # image -> the source attack's perturbation [[x, y, r, g, b], ...]
        rows = read(job.fooled_by, 0)
        return {int(r.image): json.loads(r.perturbation) for r in rows[rows.image.isin(images)].itertuples()}

    def rows(self, job, images, payload, device):
        model, data = model_and_data(job.model)
        sub = data.subset(images)
        return [replay(model, sub.float(), sub.labels, [payload[i] for i in images], sub.index, device)
                .assign(model=job.model, source=job.fooled_by.model)]


@register
class CoverageKind(Kind):
    """The simulation of :mod:`onepixel.stats.coverage`; its items are (images, share with any success) scenarios."""

    name = "coverage"
    network = False

    def folder(self, job):
        return "coverage-clustered"

    def identity(self, job, source):
        return {"simulation": "clustered rate intervals", **job.parameters, "seed": job.seed}

    def items(self, job):
        return list(range(len(scenarios(**job.parameters))))

    def chunk_size(self, job):
        return 3

    def rows(self, job, images, payload, device):
        grid, p = scenarios(**job.parameters), job.parameters
        return [pd.concat([simulate(*grid[i], reps=p["reps"], a=p["a"], b=p["b"], seed=job.seed).assign(image=i)
                           for i in images], ignore_index=True)]


def entries(job: Job, root, profile: str, device: str = "auto") -> list[Experiment]:
    """The store entries a job writes: its rows first, then its kind's companions."""
    identity = job.spec.identity(job, lambda other: entries(other, root, profile)[0].identity)
    info = {"device": str(resolve_device(device)), **job.spec.info(job)} if job.kind != "predictions" else {}
    return [Experiment(profile, job.name, identity, info, root=root),
            *(Experiment(profile, c, identity, info, root=root, compress=True) for c in job.spec.companions(job))]


def timed(fn: Callable[..., Any], *args, threads: int | None = None) -> tuple[Any, dict]:
    """``fn(*args)`` and what it cost: the shard's cost record (``threads`` sets torch's threads)."""
    if threads:
        torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, {"wall_seconds": round(time.perf_counter() - wall, 2),
                 "cpu_seconds": round(time.process_time() - cpu, 2), "threads": torch.get_num_threads(),
                 "host": platform.node(), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def timed_compute(job: Job, images: list[int], payload=None, device: str = "auto",
                  threads: int | None = None) -> tuple[list[pd.DataFrame], dict]:
    """The job's rows for ``images`` (one frame per entry of :func:`entries`; pure: reads no results)
    and their cost record."""
    return timed(job.spec.rows, job, images, payload, device, threads=threads)


def store(exps: list[Experiment], frames: list[pd.DataFrame], cost: dict) -> None:
    """Companions first, rows last: a run killed in between recomputes the chunk, never loses it."""
    for exp, frame in reversed(list(zip(exps, frames))[1:]):
        exp.append(frame)
    exps[0].append(frames[0], cost)
