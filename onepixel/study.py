"""The study's experiments, as the notebooks call them: each returns the stored rows of one
:class:`~onepixel.experiments.Job` and, with ``compute=True`` (the library default), computes and
stores only what is missing first. With ``compute=False`` nothing is computed and the log (logger
``onepixel.study``, level INFO) says how many of the planned images are stored. See :mod:`onepixel.results` and :mod:`onepixel.experiments`.

It is the one module the notebooks call for data (about 350 lines): one short function per kind
of stored experiment, read top to bottom, rather than a module per chapter.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from . import metrics
from .attack import PAPER
from .evaluator import resolve_device
from .experiments import Job, chunk_size, experiments, model_and_data, size_for, store, timed_compute
from .models import input_size, load_pretrained, network
from .results import Experiment, Runs
from .storage import results_root

__all__ = ["model_and_data"]
log = logging.getLogger(__name__)


def job_images(profile: str, job: Job, compute: bool = True) -> list[int] | None:
    """The images a job covers, sorted; None while they cannot be known without computing (the jobs
    it depends on, :attr:`Job.depends_on`, are not all stored) and ``compute`` is False."""
    if job.kind == "predictions":
        return list(range(len(model_and_data(job.model)[1])))
    if job.kind == "coverage":
        from .coverage import scenarios

        return list(range(len(scenarios(**job.p))))
    if job.images is not None:
        return sorted(job.images)
    for dependency in job.depends_on:
        if missing_images(profile, dependency, compute=False) != []:
            if not compute:
                return None
            run_job(profile, dependency, quiet=True)
    if job.fooled_by is not None:
        source = run_job(profile, job.fooled_by, compute=False, quiet=True)
        return sorted(source.image[source.success].unique().tolist())
    return correct_sample(profile, job.model, job.n, job.seed)


def stored_images(profile: str, job: Job) -> set[int]:
    rows = experiments(job, results_root(), profile)[0].load()
    return set(rows.image.tolist()) if len(rows) else set()


def missing_images(profile: str, job: Job, compute: bool = True) -> list[int] | None:
    """Planned images with no stored rows (None: not known yet, see :func:`job_images`)."""
    images = job_images(profile, job, compute)
    if images is None:
        return None
    done = stored_images(profile, job)
    return [i for i in images if i not in done]


def payload(profile: str, job: Job, images: list[int]):
    """What a job's computation needs from the store (the cube search: each image's most
    vulnerable pixel; a transfer: the source attack's perturbations), read on the client so that
    workers need no shared filesystem."""
    if job.kind == "transfer":
        source = run_job(profile, job.fooled_by, compute=False, quiet=True)
        source = source[source.image.isin(images)]
        return {int(r.image): json.loads(r.perturbation) for r in source.itertuples()}
    if job.kind != "cube":
        return None
    maps = vulnerability_maps(profile, job.model, job.n, 2, job.seed, compute=False)
    best = maps.loc[maps[maps.image.isin(images)].groupby("image").best_other_prob.idxmax()]
    return {int(r.image): (int(r.label), int(r.x), int(r.y)) for r in best.itertuples()}


def run_job(profile: str, job: Job, device: str = "auto", compute: bool = True, recompute: bool = False,
            quiet: bool = False) -> pd.DataFrame:
    """The job's stored rows for its images; missing ones computed in-process first if ``compute``."""
    from tqdm.auto import tqdm

    exps = experiments(job, results_root(), profile, device)
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
        per_image = exps[0].cpu_seconds_per_image()
        estimate = f", about {len(missing) * per_image / 3600:.2g} CPU hours" if per_image else ""
        log.info("%s: computing %d missing images%s", job.label(), len(missing), estimate)
        size = chunk_size(job)
        for s in tqdm(range(0, len(missing), size), desc=job.name, disable=quiet or None, leave=False):
            chunk = missing[s:s + size]
            frames, cost = timed_compute(job, chunk, payload(profile, job, chunk), device)
            store(exps, frames, cost)
    rows = exps[0].load()
    if not len(rows):
        return rows
    rows = rows.drop_duplicates(subset=[c for c in ("image", "target", "method") if c in rows])
    return rows[rows.image.isin(images)].reset_index(drop=True)


def predictions(profile: str, name: str, device: str = "auto", compute: bool = True) -> pd.DataFrame:
    """Clean predictions of model ``name`` on its whole test set (one row per image)."""
    return run_job(profile, Job.make("predictions", name), device, compute, quiet=True)


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
    if job.n is None or job.kind in ("predictions", "coverage") or job.fooled_by is not None:
        return images
    rank = {image: r for r, image in enumerate(sample_order(profile, job.model, job.seed))}
    return sorted(images, key=lambda i: rank.get(i, len(rank)))


def de_job(name: str, images: int | list[int], pixels: int = 1, targeted: bool = False,
           popsize: int = PAPER["popsize"], maxiter: int = PAPER["maxiter"], F: float = PAPER["F"],
           target_threshold: float = PAPER["target_threshold"], true_threshold: float = PAPER["true_threshold"],
           stop_on_flip: bool = False, seed: int = 0, bounds: str = "clip") -> Job:
    """The DE job on ``images`` (a count of the sample, or a list of image indices)."""
    if isinstance(images, Mapping):
        images = size_for(images, name)
    sample = {"n": int(images)} if isinstance(images, (int, np.integer)) else {"images": sorted(images)}
    return Job.make("de", name, seed=seed, pixels=pixels, targeted=targeted, popsize=popsize, maxiter=maxiter, F=F,
                    target_threshold=target_threshold, true_threshold=true_threshold, stop_on_flip=stop_on_flip,
                    bounds=bounds, **sample)


def attacks(profile: str, name: str, images: int | list[int], pixels: int = 1, targeted: bool = False,
            popsize: int = PAPER["popsize"], maxiter: int = PAPER["maxiter"], F: float = PAPER["F"],
            target_threshold: float = PAPER["target_threshold"], true_threshold: float = PAPER["true_threshold"],
            stop_on_flip: bool = False, seed: int = 0, device: str = "auto",
            recompute: bool = False, bounds: str = "clip", compute: bool = True) -> pd.DataFrame:
    """DE attacks on ``images`` (a count: that many correctly classified images of the sample; or a
    list of image indices), all 9 other targets if targeted."""
    job = de_job(name, images, pixels, targeted, popsize, maxiter, F, target_threshold, true_threshold,
                 stop_on_flip, seed, bounds)
    return run_job(profile, job, device, compute, recompute)


def exhaustive(profile: str, name: str, n_images: int, levels: int = 2, seed: int = 0, device: str = "auto",
               recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """Exhaustive one-pixel search (every pixel x ``levels``^3 colours): rows per image and class.
    Its vulnerability maps are stored alongside (see :func:`vulnerability_maps`)."""
    return run_job(profile, Job.make("exhaustive", name, size_for(n_images, name), seed=seed, levels=levels), device,
                   compute, recompute)


def vulnerability_maps(profile: str, name: str, n_images: int, levels: int = 2, seed: int = 0,
                       device: str = "auto", recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """Per image and pixel: the highest probability of a class other than the true one that
    changing that pixel reaches (over the exhaustive search's colours)."""
    job = Job.make("exhaustive", name, size_for(n_images, name), seed=seed, levels=levels)
    rows = run_job(profile, job, device, compute, recompute)
    maps = experiments(job, results_root(), profile)[1].load()
    if not len(maps) or not len(rows):
        return pd.DataFrame(columns=["image", "label", "y", "x", "best_other_prob"])
    maps = maps.drop_duplicates(subset=["image", "y", "x"])
    return maps[maps.image.isin(set(rows.image))].reset_index(drop=True)


def baseline(profile: str, name: str, n_images: int, method: str = "random", budget: int = 100, seed: int = 0,
             device: str = "auto", recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """The baseline ``method`` (a name in :data:`onepixel.search.BASELINES`), ``budget`` tries per image."""
    from .search import BASELINES

    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")
    job = Job.make("baseline", name, size_for(n_images, name), seed=seed, method=method, budget=budget)
    return run_job(profile, job, device, compute, recompute)


DE_SETTINGS = ("popsize", "maxiter", "F", "target_threshold", "true_threshold", "seed", "device", "recompute",
               "compute")


def de_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The DE and run settings of :func:`attacks` found in ``params`` (a chapter's settings),
    so every caller passes the same ones."""
    return {k: params[k] for k in DE_SETTINGS if k in params}


def one_pixel_runs(profile: str, models: list[str], n_untargeted: int, n_targeted: int,
                   targeted_models: list[str] | None = None, n_untargeted_imagenet: int | None = None,
                   **settings) -> dict[str, Runs]:
    """Per model: clean accuracy and the non-targeted and targeted attack rows. ImageNet networks
    attack ``n_untargeted_imagenet`` images when given (a failed attack costs them 6-20x more)."""
    targeted_models = models if targeted_models is None else targeted_models
    runs = {}
    for name in models:
        n = n_untargeted_imagenet if n_untargeted_imagenet is not None and network(name).dataset == "imagenet" else n_untargeted
        n = size_for(n, name)
        nt = size_for(n_targeted, name) if name in targeted_models else 0
        untargeted = attacks(profile, name, n, **settings) if n else None
        targeted = attacks(profile, name, nt, targeted=True, **settings) if nt else None
        clean = accuracy(profile, name)
        runs[name] = Runs(clean["accuracy"],  # None: nothing planned or stored
                          untargeted if untargeted is not None and len(untargeted) else None,
                          targeted if targeted is not None and len(targeted) else None, clean["n"])
    return runs


def transfer(profile: str, sources: list[str], targets: list[str], n_untargeted, pixels: int = 1,
             **settings) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (source, target): the source's successful non-targeted perturbations (on its sample of
    ``n_untargeted`` images) replayed on the target, one row per image (see
    :func:`onepixel.experiments.replay`)."""
    run = {k: settings[k] for k in ("device", "compute", "recompute") if k in settings}
    de = {k: v for k, v in settings.items() if k not in run}
    out = {}
    for source in sources:
        attack = de_job(source, size_for(n_untargeted, source), pixels, **de)
        for target in targets:
            out[source, target] = run_job(profile, Job.make("transfer", target, fooled_by=attack, seed=attack.seed),
                                          **run, quiet=True)
    return out


def coverage_job(sizes=(12, 16, 20), any_share=(0.15, 0.25, 0.35), reps: int = 2000, a: float = 0.8,
                 b: float = 3.2, seed: int = 0) -> Job:
    """The simulation of :mod:`onepixel.coverage` over every (images, share with any success) pair;
    a vulnerable image's targets succeed at a Beta(a, b) rate. Its identity names the candidate
    intervals too, so a new candidate is a new stored simulation."""
    from .coverage import CANDIDATES

    return Job.make("coverage", "", len(sizes) * len(any_share), seed=seed, sizes=tuple(sizes),
                    any_share=tuple(any_share), reps=reps, a=a, b=b, candidates=CANDIDATES)


def interval_coverage(profile: str, sizes=(12, 16, 20), any_share=(0.15, 0.25, 0.35), reps: int = 2000,
                      seed: int = 0, compute: bool = True) -> pd.DataFrame:
    """The stored simulation of :mod:`onepixel.coverage`: coverage and width of each candidate interval
    for a clustered rate, one row per scenario and method."""
    return run_job(profile, coverage_job(sizes, any_share, reps, seed=seed), compute=compute, quiet=True)


def summary_runs(profile: str, s: Mapping[str, Any]) -> tuple[dict[str, Runs], dict[tuple[str, int], Runs],
                                                                dict[str, pd.DataFrame]]:
    """The runs compared with the paper under chapter 00's settings ``s``: one pixel per network, the
    few-pixel settings and the random search, as :func:`onepixel.comparison.paper_summary` takes
    them. Chapter 00 and the README both read these, so they state the same verdict."""
    settings = de_settings(s)
    runs = one_pixel_runs(profile, s["models"], s["n_untargeted"], s["n_targeted"], s["targeted_models"],
                          n_untargeted_imagenet=s["n_untargeted_imagenet"], pixels=1, **settings)
    few = {(m, k): one_pixel_runs(profile, [m], s["few_n_untargeted"], s["few_n_targeted"], pixels=k, **settings)[m]
           for m, k in s["few_pixel_settings"]}
    random = {m: baseline(profile, m, s["n_baseline"], "random", s["random_budget"], s["seed"], s["device"],
                          s["recompute"], s["compute"]) for m in s["random_models"]}
    return runs, few, random


# Fixed rules, not the notebook's thresholds: the middle row is the paper's 5% rule whatever the
# profile sets, so the comparison always includes the published setting.
PAPER_STOP = "true class below 5% (the paper)"
EARLY_STOP = {"at the first flip": {"stop_on_flip": True},
              PAPER_STOP: {"true_threshold": 0.05},
              "never (all 100 generations)": {"true_threshold": 0.0}}


def early_stop_jobs(name: str, n_images: int, **settings) -> dict[str, Job]:
    """Per stopping rule of :data:`EARLY_STOP`: non-targeted DE on the images of the first
    ``n_images`` of the sample that the paper's rule fools (only they have a confidence to compare)."""
    de = {k: v for k, v in settings.items() if k not in ("device", "recompute", "compute")}
    paper_rule = de_job(name, n_images, **{**de, **EARLY_STOP[PAPER_STOP]})
    return {rule: Job.make("de", name, seed=paper_rule.seed, fooled_by=paper_rule,
                           **{**paper_rule.p, **override}) for rule, override in EARLY_STOP.items()}


def early_stop_runs(profile: str, name: str, n_images: int, **settings) -> dict[str, pd.DataFrame]:
    """Rows of :func:`early_stop_jobs`: how much of the reported confidence is the stopping rule's doing."""
    device, compute = settings.get("device", "auto"), settings.get("compute", True)
    return {rule: run_job(profile, job, device, compute, settings.get("recompute", False))
            for rule, job in early_stop_jobs(name, n_images, **settings).items()}


def bounds_runs(profile: str, name: str, n_images: int, **settings) -> dict[str, pd.DataFrame]:
    """Non-targeted DE with out-of-range children clipped (the default) or redrawn (SciPy's rule) on
    the same first ``n_images`` of the sample; each frame restricted to the images stored for both."""
    runs = {b: attacks(profile, name, n_images, **settings, bounds=b) for b in ("clip", "redraw")}
    common = set.intersection(*(set(r.image) if len(r) else set() for r in runs.values()))
    return {b: r[r.image.isin(common)].reset_index(drop=True) if len(r) else r for b, r in runs.items()}


def engine_benchmark(profile: str, name: str, n_images: int, maxiter: int, peers: bool = True,
                     device: str = "auto", recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """Stored side-by-side benchmark (see :mod:`onepixel.bench`): one row per method."""
    from .bench import benchmark, environment

    model, data = model_and_data(name)
    images = correct_sample(profile, name, n_images)
    exp = Experiment(profile, "bench-engine", {"model": name, "weights": model.weights_digest, "data": data.digest,
                                                "images": images, "maxiter": maxiter, "peers": peers,
                                                "device": str(resolve_device(device)), **environment()},
                     root=results_root())

    def run_benchmark(_: list[int]) -> pd.DataFrame:
        sub = data.subset(images)
        return benchmark(model, sub.float(), sub.labels, maxiter, device, peers).assign(run=0)
    return exp.run([0], run_benchmark, 1, column="run", recompute=recompute and compute, progress=False,
                   computing=compute)


def incremental_benchmark(profile: str, names: list[str], device: str = "auto",
                          recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """Stored candidates/s of dense and incremental inference at population 400, per model."""
    from .bench import environment, incremental_speedups
    from .models import ARCHITECTURES

    dev = resolve_device(device)
    exp = Experiment(profile, "bench-incremental", {"models": names, "device": str(dev), **environment()},
                     root=results_root())

    def run_benchmark(_: list[int]) -> pd.DataFrame:
        models = {}
        g = torch.Generator().manual_seed(0)
        for name in names:
            try:
                model, label = load_pretrained(name), name
            except Exception:  # not trained yet: timing does not depend on the weights
                model, label = ARCHITECTURES[name]().eval(), f"{name} (random weights)"
            size = input_size(name)
            images = torch.rand(4, 3, size, size, generator=g).mul(255).round().div(255)
            models[label] = (model.to(dev), images.to(dev))
        return incremental_speedups(models).assign(run=0)
    return exp.run([0], run_benchmark, 1, column="run", recompute=recompute and compute, progress=False,
                   keys=("model",), computing=compute)


def cube_vs_corners(profile: str, name: str, n_images: int, levels: int = 16, seed: int = 0,
                    device: str = "auto", recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """At each image's most vulnerable pixel (from the corner search), every colour of a
    ``levels``^3 grid: does any colour flip the class, does any corner, and how far they get."""
    n_images = size_for(n_images, name)
    exhaustive(profile, name, n_images, 2, seed, device, compute=compute)
    return run_job(profile, Job.make("cube", name, n_images, seed=seed, levels=levels), device, compute, recompute)


def cost_rows(profile: str, models: list[str], runs: dict[str, Runs], random_budget: int, n_baseline: int,
              n_exhaustive: int, seed: int, device: str, recompute: bool, compute: bool = True,
              baselines: tuple[str, ...] = ("random", "single_pixel")) -> dict[str, dict[str, pd.DataFrame]]:
    """Per model, the rows chapter 04 compares: DE's non-targeted rows ("de"), each baseline's
    rows (by method) and the exhaustive search's rows ("exhaustive")."""
    out = {}
    for name in models:
        rows = {"de": runs[name].untargeted}
        for method in baselines:
            rows[method] = baseline(profile, name, n_baseline, method, random_budget, seed, device, recompute, compute)
        rows["exhaustive"] = exhaustive(profile, name, n_exhaustive, seed=seed, device=device, recompute=recompute,
                                        compute=compute)
        out[name] = rows
    return out