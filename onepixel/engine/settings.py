"""The settings of the DE search as one frozen value, the paper's by default."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from numbers import Integral, Real
from typing import Any, Mapping


BOUNDS = ("clip", "redraw")


@dataclass(frozen=True)
class DESettings:
    """The settings of one DE search, as one value passed whole through the attack, the study's jobs
    and the profiles. The defaults are the paper's (Su et al. 2019): population 400, at most 100
    generations, scale factor 0.5, early stop when the target's probability exceeds 0.9 (targeted)
    or the true class's falls below 0.05 (non-targeted). ``stop_on_flip`` stops at the first
    success instead; ``bounds`` clips (the default) or redraws children that leave their range."""

    pixels: int = 1
    targeted: bool = False
    popsize: int = 400
    maxiter: int = 100
    F: float = 0.5
    target_threshold: float = 0.9
    true_threshold: float = 0.05
    stop_on_flip: bool = False
    bounds: str = "clip"

    def __post_init__(self):
        for f in fields(self):
            value, kind = getattr(self, f.name), {"int": Integral, "float": Real, "bool": bool}.get(f.type)
            if kind is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
                raise ValueError(f"DE setting {f.name} must be {'a number' if kind is Real else f.type}, got {value!r}")
            if kind is Integral:
                object.__setattr__(self, f.name, int(value))
        if self.pixels < 1:
            raise ValueError(f"pixels must be >= 1, got {self.pixels}")
        if self.popsize < 4:
            raise ValueError(f"popsize must be >= 4 (mutation needs three others), got {self.popsize}")
        if self.maxiter < 0:
            raise ValueError(f"maxiter must be >= 0, got {self.maxiter}")
        if self.bounds not in BOUNDS:
            raise ValueError(f"bounds must be one of {BOUNDS}, got {self.bounds!r}")

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> "DESettings":
        """The settings named in ``values`` (a chapter's settings, a job's parameters), the paper's
        for the rest; keys that are not DE settings are ignored."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})

    def changes(self) -> dict[str, Any]:
        """The settings that differ from the paper's."""
        return {k: v for k, v in asdict(self).items() if v != getattr(PAPER, k)}


PAPER = DESettings()


def evaluation_budget(settings: DESettings = PAPER) -> int:
    """Evaluations of an attack that runs every generation: the clean image, the initial population
    and ``maxiter`` generations of children, and the re-check of the quantised best candidate (one
    more where it fails and an earlier flip is re-checked instead)."""
    return 1 + settings.popsize * (settings.maxiter + 1) + 1
