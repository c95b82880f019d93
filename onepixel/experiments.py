"""The study's stored experiments as plain values: a :class:`Job` names one experiment (kind, network,
parameters, planned images); this module gives its place in the results store, its images, and the
pure function that computes rows for a chunk of them.

Computing is split so that it can run anywhere: :func:`payload` (client side, may read the store),
then :func:`compute` (``(job, images, payload) -> frames``; no store access, runs on any Dask
worker), then :func:`store` (client side, one atomic shard per frame). :func:`run_job` does the three
in-process, as the notebooks and the library API do.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Mapping

import numpy as np
import pandas as pd
import torch

from .attack import PAPER
from .attacks import Attack, Goal, Targeted, Untargeted
from .attacks import make as make_attack
from .data import ImageDataset, load_cifar10, load_imagenet
from .evaluator import Evaluator, resolve_device
from .models import load_pretrained, network, weights_digest
from .results import Experiment

KINDS = ("predictions", "de", "exhaustive", "baseline", "cube", "transfer", "coverage")
NO_NETWORK = ("coverage",)  # kinds that attack no network: their items are scenarios, not images
# The paper's DE settings (Su et al. 2019): the defaults of every DE job.
DE_DEFAULTS = {"pixels": 1, "targeted": False, **PAPER, "stop_on_flip": False, "bounds": "clip"}


@dataclass(frozen=True)
class Job:
    """One stored experiment of one network. ``n``: that many correctly classified images of the
    sample (a larger ``n`` extends a smaller one); or ``images``: an explicit list; or ``fooled_by``:
    the images that another DE job fooled among its sample (the early-stop comparison)."""

    kind: str
    model: str
    params: tuple = ()                     # sorted (name, value) pairs, plain values
    n: int | None = None
    images: tuple | None = None
    fooled_by: "Job | None" = field(default=None, compare=True)
    seed: int = 0

    @staticmethod
    def make(kind: str, model: str, n: int | None = None, images=None, fooled_by: "Job | None" = None,
             seed: int = 0, **params) -> "Job":
        if kind not in KINDS:
            raise ValueError(f"unknown experiment kind {kind!r}; choose from {', '.join(KINDS)}")
        if kind == "de":
            unknown = sorted(set(params) - set(DE_DEFAULTS))
            if unknown:
                raise ValueError(f"unknown DE setting(s) {', '.join(unknown)}; choose from {', '.join(DE_DEFAULTS)}")
            params = {**DE_DEFAULTS, **params}
        if (kind in NO_NETWORK) != (model == ""):
            raise ValueError(f"a {kind} experiment {'has no' if kind in NO_NETWORK else 'needs a'} network, got {model!r}")
        if kind == "transfer" and (fooled_by is None or fooled_by.kind != "de"):
            raise ValueError(f"a transfer job replays the perturbations of a DE job (fooled_by), got {fooled_by!r}")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValueError(f"{kind} {model}: sample size must be a non-negative integer, got {n!r}")
        return Job(kind, model, tuple(sorted(params.items())), n, None if images is None else tuple(images),
                   fooled_by, seed)

    @property
    def p(self) -> dict:
        return dict(self.params)

    @property
    def key(self) -> tuple:
        """The experiment and sample this job draws from, whatever its size: jobs with one key share
        stored rows, and the largest of them covers the others."""
        return (self.kind, self.model, self.params, self.seed, self.images, self.fooled_by)

    @property
    def depends_on(self) -> tuple["Job", ...]:
        """The jobs whose stored rows decide this job's images or inputs: the clean predictions (a
        sample is drawn among correctly classified images), the job whose fooled images it attacks,
        the exhaustive search whose most vulnerable pixels the cube search starts from."""
        if self.kind == "predictions" or self.kind in NO_NETWORK or self.images is not None:
            return ()
        if self.fooled_by is not None:
            return (self.fooled_by,)
        source = (Job.make("exhaustive", self.model, self.n, seed=self.seed, levels=2),) if self.kind == "cube" else ()
        return (Job.make("predictions", self.model), *source)

    @property
    def name(self) -> str:
        """The experiment's folder name in the store (e.g. ``de-1px-untargeted``)."""
        p = self.p
        if self.kind == "de":
            return f"de-{p['pixels']}px-{'targeted' if p['targeted'] else 'untargeted'}"
        if self.kind == "transfer":
            return f"transfer-{self.fooled_by.name.removeprefix('de-')}"
        if self.kind == "coverage":
            return "coverage-clustered"
        return {"exhaustive": f"exhaustive-{p.get('levels', 2)}", "baseline": f"baseline-{p.get('method')}",
                "cube": f"cube-{p.get('levels')}", "predictions": "predictions"}[self.kind]

    def label(self) -> str:
        """A short readable description: experiment, network and the settings that differ from the paper's."""
        extra = [f"{k} {v}" for k, v in self.p.items() if self.kind == "de" and DE_DEFAULTS.get(k) != v
                 and k not in ("pixels", "targeted")]
        sample = f" ({len(self.images) if self.images else self.n})"
        if self.fooled_by is not None:
            sample = (f" (fooled by {self.fooled_by.model} {self.fooled_by.label().split(' (')[1]}" if self.kind == "transfer"
                      else " (fooled by the paper rule)")
        return (f"{self.name}{' ' + self.model if self.model else ''}" + (f" [{', '.join(extra)}]" if extra else "")
                + ("" if self.kind == "predictions" else sample))


def size_for(n: int | Mapping[str, int], model: str) -> int:
    """A sample size given as one number, or per network (``{allconv: 500, vgg16: 200}``)."""
    if isinstance(n, Mapping):
        if model not in n:
            raise ValueError(f"sample sizes {dict(n)} give none for {model}")
        return n[model]
    return n


@lru_cache(maxsize=16)
def model_and_data(name: str) -> tuple[torch.nn.Module, ImageDataset]:
    """A trained model and its test data (CIFAR-10 test set, or the 1,300 ImageNet validation images)."""
    return load_pretrained(name), test_data(name)


@lru_cache(maxsize=4)
def _test_data(dataset: str, size: int) -> ImageDataset:
    return load_imagenet("val1300", size=size) if dataset == "imagenet" else load_cifar10("test")


def test_data(name: str) -> ImageDataset:
    """The test data a network is measured and attacked on."""
    net = network(name)
    return _test_data(net.dataset, net.input_size)


def attack_for(job: Job) -> tuple[Attack, Goal]:
    """The registered attack (:mod:`onepixel.attacks`) and goal an attack job runs."""
    p = job.p
    if job.kind == "de":
        goal = (Targeted(p["target_threshold"], p["stop_on_flip"]) if p["targeted"]
                else Untargeted(p["true_threshold"], p["stop_on_flip"]))
        return make_attack("de", pixels=p["pixels"], popsize=p["popsize"], maxiter=p["maxiter"], F=p["F"],
                           seed=job.seed, bounds=p["bounds"]), goal
    if job.kind == "exhaustive":
        return make_attack("exhaustive", levels=p.get("levels", 2)), Targeted()
    if job.kind == "baseline":
        return make_attack(p["method"], budget=p["budget"], seed=job.seed), Untargeted()
    raise ValueError(f"{job.kind} jobs run no attack")


def experiments(job: Job, root, profile: str, device: str = "auto") -> list[Experiment]:
    """The store entries a job writes: its rows first, then any companion (exhaustive: the maps).
    An attack's entry is named by the data, the weights, the sample and the attack's own identity."""
    info = {"device": str(resolve_device(device))}
    if job.kind == "coverage":
        return [Experiment(profile, job.name, {"simulation": "clustered rate intervals", **job.p, "seed": job.seed},
                           info, root=root)]
    base = {"model": job.model, "weights": weights_digest(job.model), "data": test_data(job.model).digest}
    if job.kind == "predictions":
        return [Experiment(profile, "predictions", base, root=root)]
    if job.kind == "cube":
        identity = {**base, "levels": job.p["levels"], "sample_seed": job.seed}
        return [Experiment(profile, job.name, identity, info, root=root)]
    if job.kind == "transfer":  # the source attack's identity names the perturbations replayed
        identity = {**base, "source": experiments(job.fooled_by, root, profile)[0].identity}
        return [Experiment(profile, job.name, identity, info, root=root)]
    attack, goal = attack_for(job)
    # the baselines' stored experiments predate a separate sample seed: their own seed (the same) names them
    sample = {} if job.kind == "baseline" else {"sample_seed": job.seed}
    identity = {**base, **sample, **attack.identity(goal)}
    if job.kind == "de":
        info = {**info, "incremental": "auto", "threads": torch.get_num_threads()}
    exps = [Experiment(profile, job.name, identity, info, root=root)]
    if job.kind == "exhaustive":
        exps.append(Experiment(profile, f"vulnerability-{attack.levels}", identity, info, root=root, compress=True))
    return exps


def chunk_size(job: Job) -> int:
    """Images per shard: minutes, not hours, of one core each (a killed run loses the shards in
    flight). A targeted DE image is 9 attacks, so its shards hold one image."""
    if job.kind in ("predictions", "transfer"):
        return 2000
    if job.kind == "coverage":
        return 3
    if job.kind == "baseline":
        return 32
    if job.kind == "de" and job.p["targeted"]:
        return 1
    return 2 if network(job.model).dataset == "imagenet" else 8


def compute(job: Job, images: list[int], payload=None, device: str = "auto") -> list[pd.DataFrame]:
    """Rows for ``images`` (one frame per entry of :func:`experiments`). Pure: reads no results."""
    if job.kind == "coverage":  # items are scenarios: (images, share of images with any success)
        from .coverage import scenarios, simulate  # numpy only; keeps torch-free imports apart

        grid = scenarios(**job.p)
        p = job.p
        return [pd.concat([simulate(*grid[i], reps=p["reps"], a=p["a"], b=p["b"], seed=job.seed).assign(image=i)
                           for i in images], ignore_index=True)]
    model, data = model_and_data(job.model)
    sub = data.subset(images)
    p = job.p
    if job.kind == "predictions":
        dev = resolve_device(device)
        with torch.inference_mode():
            probs = torch.cat([model.to(dev)(sub.subset(range(s, min(s + 200, len(sub)))).float().to(dev))
                               .softmax(1).cpu() for s in range(0, len(sub), 200)])
        labels = sub.labels.numpy()
        return [pd.DataFrame({"image": images, "label": labels, "pred": probs.argmax(1).numpy(),
                              "prob": probs.max(1).values.numpy(),
                              "true_prob": probs[torch.arange(len(images)), sub.labels].numpy()})]
    if job.kind == "exhaustive":
        attack, goal = attack_for(job)
        res = attack.search(model, sub.float(), sub.labels, goal, ids=sub.index, device=device)
        n, h, w = res.pixel_map.shape
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        maps = pd.DataFrame({"image": np.repeat(res.ids.numpy(), h * w), "label": np.repeat(res.labels.numpy(), h * w),
                             "y": np.tile(ys.ravel(), n), "x": np.tile(xs.ravel(), n),
                             "best_other_prob": res.pixel_map.reshape(-1).numpy().round(6)})
        return [attack.rows(res.to_pandas(), goal).assign(model=job.model), maps]
    if job.kind in ("de", "baseline"):
        attack, goal = attack_for(job)
        return [attack.run(model, sub.float(), sub.labels, goal, ids=sub.index, device=device).assign(model=job.model)]
    if job.kind == "transfer":  # payload maps image -> the source attack's perturbation [[x, y, r, g, b], ...]
        return [replay(model, sub, [payload[i] for i in images], device).assign(model=job.model, source=job.fooled_by.model)]
    from .geometry import colour_cube  # cube: payload maps image -> (label, x, y) of its most vulnerable pixel

    rows = []
    for image in images:
        label, x, y = payload[image]
        cube = colour_cube(model, data.images[image].float() / 255, label, x, y, p["levels"], device)
        corners = cube[cube.corner]
        rows.append({"image": image, "label": label, "x": x, "y": y, "grid_flips": bool(cube.flips.any()),
                     "corner_flips": bool(corners.flips.any()), "grid_flip_fraction": float(cube.flips.mean()),
                     "grid_min_true_prob": float(cube.true_prob.min()),
                     "corner_min_true_prob": float(corners.true_prob.min())})
    return [pd.DataFrame(rows)]


def replay(model: torch.nn.Module, data: ImageDataset, perturbations: list, device: str = "auto") -> pd.DataFrame:
    """Each image of ``data`` clean and with its perturbation (a list of (x, y, r, g, b)) applied,
    classified by ``model``: whether the model gets the clean image right and is fooled by the changed one."""
    ev = Evaluator(model, data.float(), device=device, incremental=False)
    index = torch.arange(len(data))
    clean = ev.clean_probs(index)
    adv = ev.probs(index, torch.tensor(perturbations, dtype=torch.long))
    labels = data.labels
    correct = clean.argmax(1) == labels
    return pd.DataFrame({"image": data.index.numpy(), "label": labels.numpy(), "clean_class": clean.argmax(1).numpy(),
                         "clean_correct": correct.numpy(), "adv_class": adv.argmax(1).numpy(),
                         "adv_prob": adv.max(1).values.numpy(), "true_prob": adv[index, labels].numpy(),
                         "fooled": (correct & (adv.argmax(1) != labels)).numpy()})


def timed_compute(job: Job, images: list[int], payload=None, device: str = "auto",
                  threads: int | None = None) -> tuple[list[pd.DataFrame], dict]:
    """:func:`compute` and what it cost (the shard's cost record); ``threads`` sets torch's threads."""
    if threads:
        torch.set_num_threads(threads)
    wall, cpu = time.perf_counter(), time.process_time()
    frames = compute(job, images, payload, device)
    return frames, {"wall_seconds": round(time.perf_counter() - wall, 2),
                    "cpu_seconds": round(time.process_time() - cpu, 2), "threads": torch.get_num_threads(),
                    "host": platform.node(), "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def store(exps: list[Experiment], frames: list[pd.DataFrame], cost: dict) -> None:
    """Companions first, rows last: a run killed in between recomputes the chunk, never loses it."""
    for exp, frame in reversed(list(zip(exps, frames))[1:]):
        exp.append(frame)
    exps[0].append(frames[0], cost)
