"""One interface for every one-pixel search, in the spirit of foolbox 3.

An attack is configured once from plain values, then run on a model, images, labels and a
:class:`Goal`; it returns a DataFrame whose first columns are :data:`COLUMNS` (the same in every
attack), followed by the attack's own. :meth:`Attack.identity` gives the plain values that decide
the rows under a goal (the results store names experiments by them). :data:`ATTACKS` maps names to
attack classes, so the plan, the study and ``onepixel attack`` find them by name::

    from onepixel.engine.attacks import Targeted, make
    rows = make("de", pixels=3).run(model, images, labels, Targeted())

- ``"de"``: :class:`onepixel.engine.one_pixel.DifferentialEvolution`, the paper's attack.
- ``"exhaustive"``: :class:`onepixel.engine.search.ExhaustiveSearch`, every pixel x a colour grid
  (ground truth).
- one :class:`onepixel.engine.search.SamplingSearch` per entry of
  :data:`onepixel.engine.search.BASELINES` (``"random"``, ...).

A new attack is one class with a ``name``, ``identity`` and ``run``, decorated with
:func:`register`; its module is imported by :mod:`onepixel.engine` (so the registry is complete
whenever any part of the engine is imported).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Protocol, Sequence

import pandas as pd
import torch
from torch import nn

from onepixel.engine.settings import PAPER


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

    threshold: float = PAPER.true_threshold


@dataclass(frozen=True)
class Targeted(Goal):
    """Make ``targets`` the prediction: None for every class other than the true one (one attack
    each), else one class per image (N) or several (N x T). Stop when the target's probability
    exceeds ``threshold`` (the paper: 90%), or when it first becomes the prediction with ``stop_on_flip``."""

    threshold: float = PAPER.target_threshold
    targets: Sequence | torch.Tensor | None = None


class Attack(Protocol):
    """What the plan, the study and the CLI need of an attack."""

    name: ClassVar[str]

    def identity(self, goal: Goal) -> dict[str, Any]:
        """Plain values that decide the rows under ``goal`` (not speed settings)."""

    def run(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor, goal: Goal = Untargeted(),
            ids=None, device: str | torch.device = "auto") -> pd.DataFrame:
        """Rows for ``images`` (float N x C x H x W in [0, 1]); ``ids`` name the images in the rows."""


def ordered(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[[*COLUMNS, *(c for c in rows.columns if c not in COLUMNS)]] if len(rows) else rows


def check_goal(attack: Attack, goal: Goal, kinds: tuple[type, ...]) -> None:
    if not isinstance(goal, kinds):
        raise ValueError(f"the {attack.name!r} attack takes goals {', '.join(k.__name__ for k in kinds)}, "
                         f"got {goal!r}")


ATTACKS: dict[str, type] = {}


def register(cls: type) -> type:
    """Register an attack class under its ``name`` (the DE attack, the searches of
    :mod:`onepixel.engine.search`, and any new one)."""
    ATTACKS[cls.name] = cls
    return cls


def make(name: str, **params) -> Attack:
    """The attack registered as ``name``, configured with ``params`` (a clear error for unknown ones);
    DE settings may be given one by one (``make("de", pixels=3)``) or whole (``settings=...``)."""
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; choose from {', '.join(ATTACKS)}")
    cls = ATTACKS[name]
    known = [f.name for f in fields(cls) if f.init]
    if "settings" in known:  # a frozen settings value: its fields may be given one by one
        names = [f.name for f in fields(cls.settings)]
        changes = {k: params.pop(k) for k in names if k in params}
        params["settings"] = replace(params.get("settings", cls.settings), **changes)
        known += names
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"attack {name!r} has no parameter(s) {', '.join(unknown)}; it has {', '.join(known)}")
    return cls(**params)


def describe(attack: Attack) -> dict[str, Any]:
    """An attack's name and parameters as plain values (for tables and logs)."""
    values = {k: v for k, v in asdict(attack).items() if k != "method"}
    return {"attack": attack.name, **values.pop("settings", {}), **values}
