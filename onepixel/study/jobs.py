"""The study's stored experiments as plain values. A :class:`Job` names one experiment: its kind,
network, parameters and planned images. Each kind is a registered ``Kind`` that says what the
job's store entries are called and identified by, what it depends on, what it needs read from the
store, and how to compute its rows for a chunk of images; the kinds are classes of
:mod:`onepixel.study.experiments`, registered in :data:`KINDS` when :mod:`onepixel.study` is imported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pandas as pd

from onepixel.engine.settings import DESettings


Read = Callable[["Job", int], pd.DataFrame]  # a job's stored rows (entry 0) or companion (entry 1, ...)


@dataclass(frozen=True)
class Job:
    """One stored experiment of one network. ``n``: that many correctly classified images of the
    sample (a larger ``n`` extends a smaller one); or ``images``: an explicit list; or ``fooled_by``:
    the images that another DE job fooled among its sample (the early-stop comparison, transfer; a
    probe of chapter 07 takes the ``n`` most confident of them); or
    ``among``: the images of another job's sample that this network also classifies correctly, in
    that sample's order, the first ``n`` of them (all when ``n`` is None; a network variant attacked
    on the published network's images, so that every comparison is paired)."""

    kind: str
    model: str
    params: tuple = ()                     # sorted (name, value) pairs, plain values
    n: int | None = None
    images: tuple | None = None
    fooled_by: "Job | None" = field(default=None, compare=True)
    seed: int = 0
    among: "Job | None" = None

    @staticmethod
    def make(kind: str, model: str, n: int | None = None, images=None, fooled_by: "Job | None" = None,
             seed: int = 0, among: "Job | None" = None, **params) -> "Job":
        if kind not in KINDS:
            raise ValueError(f"unknown experiment kind {kind!r}; choose from {', '.join(KINDS)}")
        spec = KINDS[kind]
        if spec.network != (model != ""):
            raise ValueError(f"a {kind} experiment {'needs a' if spec.network else 'has no'} network, got {model!r}")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise ValueError(f"{kind} {model}: sample size must be a non-negative integer, got {n!r}")
        if among is not None and (fooled_by is not None or images is not None or among.n is None):
            raise ValueError(f"{kind} {model}: `among` takes the images of another job's sample of a stated size "
                             "(among.n), not with `images` or `fooled_by`")
        params = spec.check(params, fooled_by)
        return Job(kind, model, tuple(sorted(params.items())), n, None if images is None else tuple(images),
                   fooled_by, seed, among)

    @property
    def parameters(self) -> dict:
        """The parameters as a dict (``params`` keeps them hashable: sorted name-value pairs)."""
        return dict(self.params)

    @property
    def spec(self):  # -> onepixel.study.experiments.Kind
        return KINDS[self.kind]

    @property
    def settings(self) -> DESettings:
        """A DE job's settings."""
        return DESettings.of(self.parameters)

    @property
    def key(self) -> tuple:
        """The experiment and sample this job draws from, whatever its size: jobs with one key share
        stored rows, and the largest of them covers the others."""
        return (self.kind, self.model, self.params, self.seed, self.images, self.fooled_by,
                *((self.among.model, self.among.n, self.among.seed) if self.among else ()))

    @property
    def depends_on(self) -> tuple["Job", ...]:
        """The jobs whose stored rows decide this job's images or inputs: the clean predictions (a
        sample is drawn among correctly classified images), the job whose fooled images it attacks,
        and whatever else its kind reads (:meth:`onepixel.study.experiments.Kind.inputs`)."""
        if not self.spec.network or self.kind == "predictions" or self.images is not None:
            return ()
        if self.fooled_by is not None:
            return (self.fooled_by,)
        among = () if self.among is None else (Job.make("predictions", self.among.model),)
        return (Job.make("predictions", self.model), *among, *self.spec.inputs(self))

    @property
    def name(self) -> str:
        """The experiment's folder name in the store (e.g. ``de-1px-untargeted``)."""
        return self.spec.folder(self)

    def label(self, sample: bool = True) -> str:
        """A short readable description: experiment, network, the settings that differ from the
        paper's and (``sample``) the images it covers."""
        extra = self.spec.changes(self)
        covers = f" ({self.size})"
        if self.among is not None:
            covers = f" ({'' if self.n is None else f'{self.n} of '}{self.among.model} {self.among.n})"
        if self.fooled_by is not None:
            covers = self.spec.covers(self)
        return (f"{self.name}{' ' + self.model if self.model else ''}" + (f" [{', '.join(extra)}]" if extra else "")
                + ("" if self.kind == "predictions" or not sample else covers))

    @property
    def empty(self) -> bool:
        """Planned with no images: a sample of 0, or the fooled images of such a job."""
        return (self.n == 0 or (self.fooled_by is not None and self.fooled_by.empty)
                or (self.among is not None and self.among.empty))

    @property
    def size(self) -> int | None:
        """Images planned: the sample size or the number of images given."""
        return len(self.images) if self.images else self.n


KINDS: dict[str, Any] = {}  # name -> Kind of onepixel.study.experiments, registered when onepixel.study is imported


def size_for(n: int | Mapping[str, int], model: str) -> int:
    """A sample size given as one number, or per network (``{allconv: 500, vgg16: 200}``)."""
    if isinstance(n, Mapping):
        if model not in n:
            raise ValueError(f"sample sizes {dict(n)} give none for {model}")
        return n[model]
    return n
