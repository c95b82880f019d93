"""Each chapter of the book, declared once: its default settings (the paper's) and the stored
experiments it shows, each under a name (a tuple such as ``("untargeted", "allconv", 1)``).

``onepixel run`` computes what the declarations plan (:func:`onepixel.study.plan.jobs`), and a page reads
exactly their stored rows (:func:`onepixel.study.rows.page` returns a :class:`Page`), so what a chapter
shows and what the plan computes cannot drift apart. A new chapter is its notebook, one decorated
function here and a line in ``_toc.yml``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Mapping

import pandas as pd
import torch

from onepixel.engine.settings import PAPER, DESettings
from onepixel.nets.data import ImageDataset
from onepixel.nets.models import NETWORKS, PUBLISHED, VARIANTS, model_and_data
from onepixel.stats.coverage import CANDIDATES
from onepixel.stats.metrics import Runs
from onepixel.study.jobs import Job, size_for


Key = tuple
COMMON = {"device": "auto", "seed": 0, "recompute": False, "compute": False}
# A chapter's DE settings: every DE setting but the pixels and the targeting, which each job sets.
DE = {k: v for k, v in asdict(PAPER).items() if k not in ("pixels", "targeted")}
SAMPLES = {"n_untargeted": 100, "n_targeted": 20}
PAPER_MODELS = ["allconv", "nin", "vgg16", "squeezenet1_0", "efficientnet_lite0"]
CIFAR_MODELS = ["allconv", "nin", "vgg16"]


@dataclass(frozen=True)
class Chapter:
    """A chapter's defaults and its experiments under given settings (name -> job)."""

    name: str
    defaults: dict[str, Any]
    experiments: Callable[[Mapping[str, Any]], dict[Key, Job]]


CHAPTERS: dict[str, Chapter] = {}


def chapter(name: str, **defaults) -> Callable:
    """Register a chapter (the notebook stem): its default settings and, decorated, its experiments."""
    def register(experiments: Callable[[Mapping[str, Any]], dict[Key, Job]]) -> Callable:
        CHAPTERS[name] = Chapter(name, defaults, experiments)
        return experiments
    return register


@dataclass(frozen=True)
class Page:
    """What a chapter's page shows: its settings, its experiments and their stored rows (an empty
    frame where nothing is stored yet), and the exhaustive searches' per-pixel maps."""

    chapter: str
    settings: dict[str, Any]
    jobs: dict[Key, Job]
    rows: dict[Key, pd.DataFrame]
    maps: dict[Key, pd.DataFrame] = field(default_factory=dict)

    def __getitem__(self, key: Key) -> pd.DataFrame:
        if key not in self.rows:
            raise KeyError(f"{self.chapter} plans no experiment {key!r}; it plans {list(self.rows)}")
        return self.rows[key]

    def named(self, role: str) -> dict:
        """The rows of the experiments named ``(role, ...)``, by the rest of their name."""
        return {key[1] if len(key) == 2 else key[1:]: rows for key, rows in self.rows.items() if key[0] == role}

    def settings_pairs(self) -> list[tuple[str, int]]:
        """(model, pixels) of the page's DE attacks, sorted."""
        return sorted({key[1:] for key in self.jobs if key[0] in ("untargeted", "targeted")})

    def model(self, name: str) -> torch.nn.Module:
        """A network the page attacks (read-only: nothing the page does changes it)."""
        return model_and_data(name)[0]

    def data(self, name: str) -> ImageDataset:
        """The test images a network is measured and attacked on."""
        return model_and_data(name)[1]

    def accuracy(self, model: str) -> tuple[float, int]:
        """Clean accuracy (fraction) on the whole test set and its number of images."""
        p = self[("predictions", model)]
        return float((p.pred == p.label).mean()), len(p)

    def runs(self, models: list[str], pixels: int = 1, untargeted: str = "untargeted",
             targeted: str = "targeted") -> dict[str, Runs]:
        """Per model: clean accuracy and the non-targeted and targeted DE rows (None where the
        chapter plans none or none is stored)."""
        def stored(key: Key) -> pd.DataFrame | None:
            rows = self.rows.get(key)
            return rows if rows is not None and len(rows) else None

        out = {}
        for m in models:
            accuracy, n = self.accuracy(m) if len(self.rows.get(("predictions", m), ())) else (None, None)
            out[m] = Runs(accuracy, stored((untargeted, m, pixels)), stored((targeted, m, pixels)), n,
                          NETWORKS[m].dataset)
        return out


def de(s: Mapping[str, Any], pixels: int = 1, targeted: bool = False) -> DESettings:
    """The DE settings of a chapter's settings ``s``, for ``pixels`` pixels and the given targeting."""
    return replace(DESettings.of(s), pixels=pixels, targeted=targeted)


def sized(models: list[str], n, n_imagenet=None) -> list[tuple[str, int]]:
    """(model, sample size) for every model; ImageNet networks take ``n_imagenet`` when given. A
    size of 0 keeps its experiment on the page (as empty rows) and out of the plan."""
    return [(m, size_for(n_imagenet if n_imagenet is not None and NETWORKS[m].dataset == "imagenet" else n, m))
            for m in models]


def predictions(models: list[str]) -> dict[Key, Job]:
    return {("predictions", m): Job.make("predictions", m) for m in models}


def attacks(s, models, n, pixels: int = 1, targeted: bool = False, n_imagenet=None, role: str | None = None,
            **changes) -> dict[Key, Job]:
    """DE attacks, named ``(role, model, pixels)``; role: "targeted" or "untargeted" unless given."""
    settings = replace(de(s, pixels, targeted), **changes)
    role = role or ("targeted" if targeted else "untargeted")
    return {(role, m, pixels): Job.make("de", m, k, seed=s["seed"], settings=settings)
            for m, k in sized(models, n, n_imagenet)}


def one_pixel(s, models, n_untargeted, n_targeted, targeted_models=None, pixels: int = 1,
              n_imagenet=None, roles: tuple[str, str] = ("untargeted", "targeted")) -> dict[Key, Job]:
    """What :meth:`Page.runs` groups: predictions, non-targeted and targeted DE attacks (named by
    ``roles``)."""
    targeted_models = models if targeted_models is None else targeted_models
    return {**predictions(list(dict.fromkeys(models + targeted_models))),
            **attacks(s, models, n_untargeted, pixels, n_imagenet=n_imagenet, role=roles[0]),
            **attacks(s, targeted_models, n_targeted, pixels, True, role=roles[1])}


def baselines(s, models, methods, n, budget) -> dict[Key, Job]:
    return {(x, m): Job.make("baseline", m, k, seed=s["seed"], method=x, budget=budget)
            for m, k in sized(models, n) for x in methods}


def exhaustive(s, models, n) -> dict[Key, Job]:
    return {("exhaustive", m): Job.make("exhaustive", m, k, seed=s["seed"], levels=2) for m, k in sized(models, n)}


def coverage_job(sizes=(12, 16, 20), any_share=(0.15, 0.25, 0.35), reps: int = 2000, a: float = 0.8,
                 b: float = 3.2, seed: int = 0) -> Job:
    """The simulation of :mod:`onepixel.stats.coverage` over every (images, share with any success) pair;
    a vulnerable image's targets succeed at a Beta(a, b) rate. Its identity names the candidate
    intervals too, so a new candidate is a new stored simulation."""
    return Job.make("coverage", "", len(sizes) * len(any_share), seed=seed, sizes=tuple(sizes),
                    any_share=tuple(any_share), reps=reps, a=a, b=b, candidates=CANDIDATES)


@chapter("00_summary", **DE, **SAMPLES, models=PAPER_MODELS, targeted_models=CIFAR_MODELS, n_untargeted_imagenet=20,
         few_pixel_settings=[["allconv", 3], ["nin", 5]], few_n_untargeted=100, few_n_targeted=20,
         random_models=CIFAR_MODELS, random_budget=10000, n_baseline=100)
def _summary(s):
    few = {}
    for m, k in s["few_pixel_settings"]:
        few |= one_pixel(s, [m], s["few_n_untargeted"], s["few_n_targeted"], pixels=k,
                         roles=("few untargeted", "few targeted"))
    return (one_pixel(s, s["models"], s["n_untargeted"], s["n_targeted"], s["targeted_models"],
                      n_imagenet=s["n_untargeted_imagenet"]) | few
            | baselines(s, s["random_models"], ["random"], s["n_baseline"], s["random_budget"])
            | {("coverage",): coverage_job(seed=s["seed"]),
               ("coverage", "half"): coverage_job(any_share=(0.5,), seed=s["seed"])})


def coverage_simulation(page: Page) -> pd.DataFrame:
    """Every stored scenario of the interval simulations chapter 00 plans, in one table."""
    tables = [t for t in page.named("coverage").values() if len(t)]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def summary_runs(page: Page) -> tuple[dict[str, Runs], dict[tuple[str, int], Runs], dict[str, pd.DataFrame]]:
    """Chapter 00's rows as :func:`onepixel.stats.comparison.paper_summary` takes them: one pixel per
    network, the few-pixel settings and the random search (the README states the same verdict)."""
    s = page.settings
    few = {(m, k): page.runs([m], k, "few untargeted", "few targeted")[m] for m, k in s["few_pixel_settings"]}
    return page.runs(s["models"]), few, {m: page[("random", m)] for m in s["random_models"]}


def variants(s, names: list[str]) -> dict[Key, Job]:
    """Per trained variant (a variant not trained yet plans nothing): its clean predictions, the
    exhaustive corner search on the images of its published network's exhaustive sample that it
    classifies correctly, and non-targeted DE on the first ``variant_n_untargeted`` of them; with
    the published network's rows of the same experiments, so that every comparison is paired."""
    jobs: dict[Key, Job] = {}
    for name in names:
        if not NETWORKS[name].locate().exists():
            continue
        base = NETWORKS[name].variant_of
        published = exhaustive(s, [base], s["n_exhaustive"]) | attacks(s, [base], s["n_exhaustive"])
        sample = published[("exhaustive", base)]
        jobs |= predictions([base, name]) | published | {
            ("variant exhaustive", name): Job.make("exhaustive", name, seed=s["seed"], among=sample, levels=2),
            ("variant untargeted", name): Job.make("de", name, size_for(s["variant_n_untargeted"], base),
                                                   seed=s["seed"], among=sample, settings=de(s))}
    return jobs


@chapter("01_networks", **DE, models=[m for m in PUBLISHED if m != "alexnet"], architectures=CIFAR_MODELS,
         variants=list(VARIANTS), n_exhaustive=100, variant_n_untargeted=100)
def _networks(s):
    return predictions(s["models"]) | variants(s, s["variants"])


# The early-stop comparison's rules; the middle one is the paper's 5% rule whatever the profile
# sets, so the comparison always includes the published setting.
PAPER_STOP = "true class below 5% (the paper)"
EARLY_STOP = {"at the first flip": {"stop_on_flip": True},
              PAPER_STOP: {"true_threshold": 0.05},
              "never (all 100 generations)": {"true_threshold": 0.0}}


def early_stop(s, model: str, n_images: int) -> dict[Key, Job]:
    """Per stopping rule: non-targeted DE on the images of the first ``n_images`` of the sample
    that the paper's rule fools (only they have a confidence to compare)."""
    n_images = size_for(n_images, model)
    paper_rule = Job.make("de", model, n_images, seed=s["seed"], settings=replace(de(s), **EARLY_STOP[PAPER_STOP]))
    return {("early stop", rule): Job.make("de", model, seed=s["seed"], fooled_by=paper_rule,
                                           settings=replace(paper_rule.settings, **change))
            for rule, change in EARLY_STOP.items()}


@chapter("02_attacks", **DE, **SAMPLES, models=PAPER_MODELS, targeted_models=CIFAR_MODELS, n_untargeted_imagenet=20,
         pixels=1, depth_models=["resnet20", "resnet32", "resnet44", "resnet56"], n_depth=100,
         early_stop_model="allconv", early_stop_images=100, bounds_model="allconv", bounds_images=100,
         transfer_sources=CIFAR_MODELS, transfer_targets=CIFAR_MODELS)
def _attacks(s):
    px = s["pixels"]
    sources = attacks(s, s["transfer_sources"], s["n_untargeted"], px)
    transfer = {("transfer", source.model, target): Job.make("transfer", target, fooled_by=source, seed=s["seed"])
                for source in sources.values() for target in s["transfer_targets"]}
    bounds = {("bounds", b): job for b in ("clip", "redraw")
              for job in attacks(s, [s["bounds_model"]], s["bounds_images"], bounds=b).values()}
    return (one_pixel(s, s["models"], s["n_untargeted"], s["n_targeted"], s["targeted_models"], px,
                      s["n_untargeted_imagenet"])
            | predictions(s["depth_models"]) | attacks(s, s["depth_models"], s["n_depth"], role="depth")
            | transfer | early_stop(s, s["early_stop_model"], s["early_stop_images"]) | bounds)


@chapter("03_few_pixels", **DE, **SAMPLES, settings_list=[["allconv", 3], ["nin", 5]])
def _few_pixels(s):
    jobs = {}
    for m, k in sorted({(m, 1) for m, _ in s["settings_list"]} | {tuple(p) for p in s["settings_list"]}):
        jobs |= one_pixel(s, [m], s["n_untargeted"], s["n_targeted"], pixels=k)
    return jobs


@chapter("04_cost", **DE, **SAMPLES, pixels=1, models=CIFAR_MODELS, random_budget=10000, n_baseline=100,
         n_exhaustive=100, baselines=["random", "single_pixel"])
def _cost(s):
    return (one_pixel(s, s["models"], s["n_untargeted"], 0, pixels=s["pixels"])
            | baselines(s, s["models"], s["baselines"], s["n_baseline"], s["random_budget"])
            | exhaustive(s, s["models"], s["n_exhaustive"]))


@chapter("05_class_pairs", **DE, **SAMPLES, settings_list=[["allconv", 1], ["nin", 1], ["vgg16", 1]],
         n_exhaustive=100)
def _class_pairs(s):
    jobs = {}
    for m, k in s["settings_list"]:
        jobs |= attacks(s, [m], s["n_targeted"], k, True)
    return jobs | exhaustive(s, sorted({m for m, _ in s["settings_list"]}), s["n_exhaustive"])


@chapter("06_gallery", **DE, **SAMPLES, pixels=1, models=CIFAR_MODELS + ["squeezenet1_0"],
         targeted_models=CIFAR_MODELS, n_untargeted_imagenet=20, per_model=8)
def _gallery(s):
    return one_pixel(s, s["models"], s["n_untargeted"], s["n_targeted"], s["targeted_models"], s["pixels"],
                     s["n_untargeted_imagenet"])


@chapter("07_geometry", **DE, **SAMPLES, pixels=1, models=CIFAR_MODELS, targeted_models=CIFAR_MODELS,
         slice_images=2, line_steps=256, plane_images=1, plane_steps=64, n_exhaustive=100, n_cube=50, cube_levels=16)
def _geometry(s):  # the cube search starts from its exhaustive search's most vulnerable pixels
    cube = {("cube", m): Job.make("cube", m, k, seed=s["seed"], levels=s["cube_levels"])
            for m, k in sized(s["models"], s["n_cube"])}
    untargeted = attacks(s, s["models"], s["n_untargeted"])
    cube |= {("cube at the DE pixel", m): Job.make("cube", m, fooled_by=untargeted[("untargeted", m, 1)],
                                                   seed=s["seed"], levels=s["cube_levels"]) for m in s["models"]}
    probes = {(kind, m): Job.make(kind, m, size_for(s[n], m), fooled_by=untargeted[("untargeted", m, 1)],
                                  seed=s["seed"], steps=s[steps])
              for kind, n, steps in (("lines", "slice_images", "line_steps"), ("planes", "plane_images", "plane_steps"))
              for m in s["models"]}
    return (untargeted | attacks(s, s["targeted_models"], s["n_targeted"], 1, True)
            | exhaustive(s, s["models"], s["n_exhaustive"]) | cube | probes)


# benchmarks (`onepixel bench`, on a quiet machine) and provenance compute nothing in the plan
chapter("08_performance", model="allconv", n_images=8, maxiter=10, peers=True,
        speedup_models=["allconv", "nin", "vgg16", "resnet20", "squeezenet1_0", "efficientnet_lite0"])(lambda s: {})
chapter("09_reproducibility")(lambda s: {})
