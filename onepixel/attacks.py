"""One interface for every one-pixel search, in the spirit of foolbox 3.

An attack is configured once from plain values, then run on a model, images, labels and a
:class:`Goal`; it returns a DataFrame whose first columns are :data:`COLUMNS` (the same in every
attack), followed by the attack's own. :meth:`Attack.identity` gives the plain values that decide
the rows under a goal (the results store names experiments by them). :data:`ATTACKS` maps names to
attack classes, so the plan, the study and ``onepixel attack`` find them by name::

    from onepixel.attacks import ATTACKS, Targeted
    rows = ATTACKS["de"](pixels=3).run(model, images, labels, Targeted())

- ``"de"``: :class:`DifferentialEvolution`, the paper's attack (:class:`onepixel.OnePixelAttack`).
- ``"exhaustive"``: :class:`ExhaustiveSearch`, every pixel x a colour grid (ground truth).
- one :class:`SamplingSearch` per entry of :data:`onepixel.search.BASELINES` (``"random"``, ...).

A new attack is one class here with a ``name``, ``identity`` and ``run``, added to :data:`ATTACKS`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Protocol, Sequence

import pandas as pd
import torch
from torch import nn

from .attack import PAPER, OnePixelAttack
from .search import BASELINES, baseline_search, exhaustive_search

# Every attack's rows start with these; ``target`` is -1 in the rows of a non-targeted goal.
COLUMNS = ("image", "label", "target", "success", "evaluations", "x", "y", "r", "g", "b")


@dataclass(frozen=True)
class Goal:
    """What counts as success, and when a search may stop early."""

    threshold: float
    stop_on_flip: bool = False


@dataclass(frozen=True)
class Untargeted(Goal):
    """Change the prediction. Stop when the true class's probability falls below ``threshold``
    (the paper: 5%), or at the first change with ``stop_on_flip``."""

    threshold: float = PAPER["true_threshold"]


@dataclass(frozen=True)
class Targeted(Goal):
    """Make ``targets`` the prediction: None for every class other than the true one (one attack
    each), else one class per image (N) or several (N x T). Stop when the target's probability
    exceeds ``threshold`` (the paper: 90%), or when it first becomes the prediction with ``stop_on_flip``."""

    threshold: float = PAPER["target_threshold"]
    targets: Sequence | torch.Tensor | None = None


class Attack(Protocol):
    """What the plan, the study and the CLI need of an attack."""

    name: ClassVar[str]

    def identity(self, goal: Goal) -> dict[str, Any]:
        """Plain values that decide the rows under ``goal`` (not speed settings)."""

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, goal: Goal = Untargeted(),
            ids=None, device: str | torch.device = "auto") -> pd.DataFrame:
        """Rows for ``images`` (float N x C x H x W in [0, 1]); ``ids`` name the images in the rows."""


def _ordered(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[[*COLUMNS, *(c for c in rows.columns if c not in COLUMNS)]] if len(rows) else rows


def _check_goal(attack: Attack, goal: Goal, kinds: tuple[type, ...]) -> None:
    if not isinstance(goal, kinds):
        raise ValueError(f"the {attack.name!r} attack takes goals {', '.join(k.__name__ for k in kinds)}, "
                         f"got {goal!r}")


@dataclass(frozen=True)
class DifferentialEvolution:
    """The paper's DE (Su et al. 2019): see :class:`onepixel.OnePixelAttack` for the parameters."""

    name: ClassVar[str] = "de"
    pixels: int = 1
    popsize: int = PAPER["popsize"]
    maxiter: int = PAPER["maxiter"]
    F: float = PAPER["F"]
    seed: int = 0
    bounds: str = "clip"
    batch_size: int | None = None
    incremental: bool | str = "auto"

    def attack(self, model: nn.Module, goal: Goal, device: str | torch.device = "auto",
               progress: bool = False) -> OnePixelAttack:
        """The configured :class:`OnePixelAttack` for ``goal``."""
        _check_goal(self, goal, (Untargeted, Targeted))
        targeted = isinstance(goal, Targeted)
        return OnePixelAttack(model, self.pixels, self.popsize, self.maxiter, self.F, targeted,
                              goal.threshold if targeted else PAPER["target_threshold"],
                              PAPER["true_threshold"] if targeted else goal.threshold, self.seed, self.batch_size,
                              device, goal.stop_on_flip, progress, self.incremental, self.bounds)

    def identity(self, goal: Goal) -> dict[str, Any]:
        return self.attack(nn.Identity(), goal).identity()

    def run(self, model, images, labels, goal=Untargeted(), ids=None, device="auto") -> pd.DataFrame:
        targets = goal.targets if isinstance(goal, Targeted) else None
        return _ordered(self.attack(model, goal, device).run(images, labels, targets, ids).to_pandas())


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
        _check_goal(self, goal, (Untargeted, Targeted))
        return {"levels": self.levels}

    def run(self, model, images, labels, goal=Targeted(), ids=None, device="auto") -> pd.DataFrame:
        return self.rows(self.search(model, images, labels, goal, ids, device).to_pandas(), goal)

    def search(self, model, images, labels, goal=Targeted(), ids=None, device="auto"):
        """The full :class:`onepixel.search.SearchResult` (with the per-pixel vulnerability maps)."""
        _check_goal(self, goal, (Untargeted, Targeted))
        if isinstance(goal, Targeted) and goal.targets is not None:
            raise ValueError("the exhaustive search covers every class at once; use Targeted() without targets")
        return exhaustive_search(model, images, labels, self.levels, self.batch_size, device, ids, False,
                                 self.incremental)

    @staticmethod
    def rows(per_class: pd.DataFrame, goal: Goal) -> pd.DataFrame:
        """Rows under ``goal`` from the per-class rows of :meth:`onepixel.search.SearchResult.to_pandas`."""
        if isinstance(goal, Targeted) or not len(per_class):
            return _ordered(per_class)
        best = per_class.assign(score=per_class.reach_prob.where(per_class.success, per_class.best_prob - 1))
        best = best.loc[best.groupby("image", sort=False).score.idxmax()].drop(columns="score")
        return _ordered(best.assign(target=-1).reset_index(drop=True))


@dataclass(frozen=True)
class SamplingSearch:
    """A baseline of :data:`onepixel.search.BASELINES`: ``budget`` sampled one-pixel candidates per
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
        _check_goal(self, goal, (Untargeted,))
        return {"budget": self.budget, "seed": self.seed}

    def run(self, model, images, labels, goal=Untargeted(), ids=None, device="auto") -> pd.DataFrame:
        _check_goal(self, goal, (Untargeted,))
        return _ordered(baseline_search(self.method, model, images, labels, self.budget, self.batch_size, device,
                                        self.seed, ids))


def _sampling(method: str) -> type:
    """A :class:`SamplingSearch` subclass named after (and fixed to) one baseline."""
    doc = f"{SamplingSearch.__doc__.split(':')[0]}: {BASELINES[method].description}."
    cls = type(f"{method.title().replace('_', '')}Search", (SamplingSearch,),
               {"name": method, "method": method, "__annotations__": {"method": "str"}, "__doc__": doc})
    return dataclass(frozen=True)(cls)


ATTACKS: dict[str, type] = {cls.name: cls for cls in (DifferentialEvolution, ExhaustiveSearch)} | {
    method: _sampling(method) for method in BASELINES}


def make(name: str, **params) -> Attack:
    """The attack registered as ``name``, configured with ``params`` (a clear error for unknown ones)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    cls = ATTACKS[name]
    known = [f.name for f in fields(cls) if f.name != "method" or cls is SamplingSearch]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"attack {name!r} has no parameter(s) {', '.join(unknown)}; it has {', '.join(known)}")
    return cls(**params)


def describe(attack: Attack) -> dict[str, Any]:
    """An attack's name and parameters as plain values (for tables and logs)."""
    return {"attack": attack.name, **{k: v for k, v in asdict(attack).items() if k != "method"}}
