"""Ground truth and baselines for one-pixel attacks, all through the shared :class:`Evaluator`.

- :func:`exhaustive_search`: every pixel position x every colour of a grid over the RGB cube
  (by default its 8 corners: 1024 x 8 = 8,192 candidates per CIFAR-10 image).
- :func:`baseline_search` with a name from :data:`BASELINES`: sampled one-pixel candidates tried in
  order until the first flip: "random" (uniform, the paper's Table VII baseline, also as
  :func:`random_search`) and "single_pixel" (cube corners, foolbox's SinglePixelAttack idea, also as
  :func:`single_pixel_search`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from onepixel.engine.attacks import Goal, Targeted, Untargeted, check_goal, ordered, register
from onepixel.engine.evaluator import Evaluator, check_images, check_labels, colour_grid, content_keys


@dataclass
class SearchResult:
    """Per image and class: the best probability reached and where (x, y, r, g, b).

    ``best_prob[i, c]``: highest p(c) over all candidates; ``best_candidate[i, c]`` reaches it.
    ``reach_prob[i, c]``: highest p(c) among candidates predicted as c (0 where none is), so
    ``reach_prob > 0`` says whether a targeted attack towards c can succeed.
    ``pixel_map[i, y, x]``: highest probability of any class other than the true one over the
    colours tried at that pixel (the vulnerability map). ``evaluations`` per image.
    """

    labels: torch.Tensor
    best_prob: torch.Tensor
    best_candidate: torch.Tensor
    reach_prob: torch.Tensor
    pixel_map: torch.Tensor
    evaluations: torch.Tensor
    ids: torch.Tensor

    @property
    def reachable(self) -> torch.Tensor:
        """Boolean N x classes: some candidate makes the class the prediction (true class excluded)."""
        r = self.reach_prob > 0
        r[torch.arange(len(r)), self.labels] = False
        return r

    @property
    def success(self) -> torch.Tensor:
        """Non-targeted success per image: some candidate changes the prediction."""
        return self.reachable.any(1)

    def to_pandas(self) -> pd.DataFrame:
        """One row per (image, class other than the true one)."""
        rows = []
        for i in range(len(self.labels)):
            for c in range(self.best_prob.shape[1]):
                if c == self.labels[i]:
                    continue
                x, y, r, g, b = self.best_candidate[i, c].tolist()
                rows.append({"image": int(self.ids[i]), "label": int(self.labels[i]), "target": c,
                             "success": bool(self.reach_prob[i, c] > 0), "best_prob": float(self.best_prob[i, c]),
                             "reach_prob": float(self.reach_prob[i, c]), "x": x, "y": y, "r": r, "g": g, "b": b,
                             "evaluations": int(self.evaluations[i])})
        return pd.DataFrame(rows)


def exhaustive_search(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, levels: int = 2,
                      batch_size: int | None = None, device: str | torch.device = "auto",
                      ids=None, progress: bool = True, incremental: bool | str = "auto") -> SearchResult:
    """Evaluate every pixel with every colour of ``colour_grid(levels)``; keep the best per class."""
    check_images(images)
    labels = torch.as_tensor(labels).long().cpu()
    ev = Evaluator(model, images, batch_size, device, incremental)
    h, w = ev.height, ev.width
    colours = colour_grid(levels)
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([xs.flatten(), ys.flatten()], 1)  # (H*W, 2), row-major
    cands = torch.cat([pos.repeat_interleave(len(colours), 0), colours.repeat(h * w, 1)], 1)[:, None, :]
    n, m = len(images), len(cands)
    out = None
    for i in tqdm(range(n), desc="exhaustive", disable=not progress or None, leave=False):
        probs = ev.probs(torch.full((m,), i), cands)
        if out is None:
            c = probs.shape[1]
            check_labels(labels, n, c)
            out = dict(best_prob=torch.zeros(n, c), best_candidate=torch.zeros(n, c, 5, dtype=torch.long),
                       reach_prob=torch.zeros(n, c), pixel_map=torch.zeros(n, h, w))
        best, where = probs.max(0)
        out["best_prob"][i], out["best_candidate"][i] = best, cands[where, 0]
        pred = probs.argmax(1)
        own = probs.gather(1, pred[:, None])[:, 0]
        out["reach_prob"][i].scatter_reduce_(0, pred, own, reduce="amax")
        other = probs.clone()
        other[:, labels[i]] = -1
        out["pixel_map"][i] = other.max(1).values.view(h * w, len(colours)).max(1).values.view(h, w)
    if out is None:
        raise ValueError("exhaustive_search needs at least one image")
    ids = torch.arange(n) if ids is None else torch.as_tensor(ids)
    return SearchResult(labels, ids=ids, evaluations=torch.full((n,), m), **out)


@dataclass(frozen=True)
class Baseline:
    """A sampling baseline: ``sampler(rng, n, h, w)`` draws n one-pixel candidates (n x 1 x 5); each
    image's search tries them in order and stops at the first flip. ``stream`` keeps its random
    numbers apart from the DE's (which use target + 1 >= 0) and from the other baselines'."""
    name: str
    sampler: Callable[[np.random.Generator, int, int, int], np.ndarray]
    stream: int
    description: str


def _uniform_candidates(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    return np.stack([rng.integers(0, w, n), rng.integers(0, h, n), rng.integers(0, 256, n),
                     rng.integers(0, 256, n), rng.integers(0, 256, n)], 1)[:, None, :]


def _corner_candidates(rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray:
    corners = 255 * rng.integers(0, 2, (n, 3))
    return np.concatenate([rng.integers(0, w, (n, 1)), rng.integers(0, h, (n, 1)), corners], 1)[:, None, :]


# The baselines the plan, the study and the book know by name: add one here and list it in a profile.
BASELINES = {b.name: b for b in (
    Baseline("random", _uniform_candidates, 1_000, "uniformly random pixel and colour (the paper's Table VII)"),
    Baseline("single_pixel", _corner_candidates, 1_001, "random pixel set to a random corner of the RGB cube "
                                                        "(foolbox's SinglePixelAttack idea)"),
)}


def baseline_search(method: str, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, budget: int = 100,
                    batch_size: int | None = None, device: str | torch.device = "auto", seed: int = 0,
                    ids=None) -> pd.DataFrame:
    """Non-targeted search by the baseline ``method``: ``budget`` candidates per image, stopping at
    the first flip. Without ``ids`` each image's random stream comes from its content (as in the DE attack)."""
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; choose from {', '.join(BASELINES)}")
    baseline = BASELINES[method]
    check_images(images)
    labels = torch.as_tensor(labels).long().cpu()
    streams = content_keys(images) if ids is None else [int(i) for i in ids]
    ids = torch.arange(len(images)) if ids is None else torch.as_tensor(ids)
    ev = Evaluator(model, images, batch_size, device)
    rows = []
    for i in range(len(images)):
        rng = np.random.default_rng([seed, streams[i], baseline.stream])
        cands = torch.from_numpy(baseline.sampler(rng, budget, ev.height, ev.width))
        probs = ev.probs(torch.full((budget,), i), cands)
        if i == 0:
            check_labels(labels, len(images), probs.shape[1])
        flipped = torch.nonzero(probs.argmax(1) != labels[i]).flatten()
        # success at the first flip, in sampling order; evaluations up to and including it
        k = int(flipped[0]) if len(flipped) else int(probs[:, labels[i]].argmin())
        p = probs[k]
        x, y, r, g, b = cands[k, 0].round().long().tolist()
        rows.append({"image": int(ids[i]), "label": int(labels[i]), "target": -1, "method": method,
                     "success": bool(len(flipped)), "evaluations": k + 1 if len(flipped) else budget,
                     "adv_class": int(p.argmax()), "adv_prob": float(p.max()), "true_prob": float(p[labels[i]]),
                     "x": x, "y": y, "r": r, "g": g, "b": b})
    return pd.DataFrame(rows)


def random_search(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, budget: int = 100,
                  batch_size: int | None = None, device: str | torch.device = "auto", seed: int = 0,
                  ids=None) -> pd.DataFrame:
    """Non-targeted random search: ``budget`` uniformly random one-pixel candidates per image."""
    return baseline_search("random", model, images, labels, budget, batch_size, device, seed, ids)


def single_pixel_search(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, budget: int = 100,
                        batch_size: int | None = None, device: str | torch.device = "auto", seed: int = 0,
                        ids=None) -> pd.DataFrame:
    """SinglePixel-style baseline: random pixels set to random corners of the RGB cube."""
    return baseline_search("single_pixel", model, images, labels, budget, batch_size, device, seed, ids)


@register
@dataclass(frozen=True)
class ExhaustiveSearch:
    """Every pixel with every colour of a ``levels``^3 grid (2: the RGB cube's 8 corners). Targeted
    (every other class at once; ``targets`` must be None): one row per image and class, success when
    some candidate makes that class the prediction. Untargeted: one row per image, the most
    confident candidate that changes the prediction. Thresholds do not apply (it never stops early)."""

    name: ClassVar[str] = "exhaustive"
    levels: int = 2
    batch_size: int | None = None
    incremental: bool | str = "auto"

    def identity(self, goal: Goal) -> dict[str, Any]:
        check_goal(self, goal, (Untargeted, Targeted))
        return {"levels": self.levels}

    def run(self, model, images, labels, goal=Targeted(), ids=None, device="auto") -> pd.DataFrame:
        return self.rows(self.search(model, images, labels, goal, ids, device).to_pandas(), goal)

    def search(self, model, images, labels, goal=Targeted(), ids=None, device="auto"):
        """The full :class:`onepixel.engine.search.SearchResult` (with the per-pixel vulnerability maps)."""
        check_goal(self, goal, (Untargeted, Targeted))
        if isinstance(goal, Targeted) and goal.targets is not None:
            raise ValueError("the exhaustive search covers every class at once; use Targeted() without targets")
        return exhaustive_search(model, images, labels, self.levels, self.batch_size, device, ids, False,
                                 self.incremental)

    @staticmethod
    def rows(per_class: pd.DataFrame, goal: Goal) -> pd.DataFrame:
        """Rows under ``goal`` from the per-class rows of :meth:`onepixel.engine.search.SearchResult.to_pandas`."""
        if isinstance(goal, Targeted) or not len(per_class):
            return ordered(per_class)
        best = per_class.assign(score=per_class.reach_prob.where(per_class.success, per_class.best_prob - 1))
        best = best.loc[best.groupby("image", sort=False).score.idxmax()].drop(columns="score")
        return ordered(best.assign(target=-1).reset_index(drop=True))


@dataclass(frozen=True)
class SamplingSearch:
    """A baseline of :data:`onepixel.engine.search.BASELINES`: ``budget`` sampled one-pixel candidates per
    image, in order, stopping at the first change of the prediction (so only untargeted goals)."""

    name: ClassVar[str] = "sampling"
    method: str = "random"
    budget: int = 100
    seed: int = 0
    batch_size: int | None = None

    def __post_init__(self):
        if self.method not in BASELINES:
            raise ValueError(f"unknown baseline {self.method!r}; choose from {', '.join(BASELINES)}")

    def identity(self, goal: Goal) -> dict[str, Any]:
        check_goal(self, goal, (Untargeted,))
        return {"budget": self.budget, "seed": self.seed}

    def run(self, model, images, labels, goal=Untargeted(), ids=None, device="auto") -> pd.DataFrame:
        check_goal(self, goal, (Untargeted,))
        return ordered(baseline_search(self.method, model, images, labels, self.budget, self.batch_size, device,
                                        self.seed, ids))


def _sampling(method: str) -> type:
    """A :class:`SamplingSearch` subclass named after (and fixed to) one baseline."""
    doc = f"{SamplingSearch.__doc__.split(':')[0]}: {BASELINES[method].description}."
    cls = type(f"{method.title().replace('_', '')}Search", (SamplingSearch,),
               {"name": method, "method": field(default=method, init=False), "__annotations__": {"method": "str"},
                "__doc__": doc})
    return dataclass(frozen=True)(cls)


for _method in BASELINES:
    register(_sampling(_method))
