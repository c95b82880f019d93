"""The one-pixel attack of Su, Vargas and Sakurai (IEEE TEVC 2019): differential evolution,
batched across images and targets.

Defaults are the paper's: population 400, at most 100 generations, F = 0.5, no crossover,
coordinates uniform over the image, colours N(128, 127); one-to-one selection; early stop when the
target probability exceeds 0.9 (targeted) or the true-class probability falls below 0.05
(non-targeted). Each (seed, image id, target) has its own random stream.

Children whose coordinates or colours leave their range are clipped to it (``bounds="clip"``, the
default, under which every stored result was computed) or redrawn uniformly inside it
(``bounds="redraw"``, as SciPy's differential evolution and the authors' code do).
The operators are in :mod:`onepixel.engine.de`. Each row counts the search's candidates that set a pixel
of the image's outer ring (``border_evaluations``), where clipping piles up children and where
exhaustive search finds the least vulnerable pixels. Success is one definition everywhere: some
evaluated candidate made the prediction change (reach the target); the row reports the best
candidate by fitness when its re-check succeeds, else the most confident candidate that flipped.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from onepixel.engine.attacks import Goal, Targeted, Untargeted, check_goal, ordered, register
from onepixel.engine.de import clip_to_bounds, init_population, mutate, on_border, redraw_out_of_bounds, select
from onepixel.engine.evaluator import (Evaluator, apply_candidates, check_images, check_labels, content_keys,
                                       round_candidates)
from onepixel.engine.settings import PAPER, DESettings


UNTARGETED = -1
# Options added after results were stored: at these values they leave experiment identities unchanged.
IDENTITY_DEFAULTS = {"bounds": "clip"}


def task_rng(seed: int, image_id: int, target: int) -> np.random.Generator:
    """The random stream of one attack, independent of batch composition and order."""
    return np.random.default_rng([seed, image_id, target + 1])


@dataclass
class _Task:
    row: int          # index into the evaluator's images
    image_id: int
    label: int
    target: int       # UNTARGETED for non-targeted attacks
    rng: np.random.Generator
    pop: np.ndarray = None
    fit: np.ndarray = None
    generations: int = 0
    evaluations: int = 0
    border: int = 0   # evaluated candidates with a pixel on the image's outer ring
    first_flip: int | None = None  # evaluations spent when a candidate first succeeded
    flip: np.ndarray | None = None  # the most confident candidate that succeeded (k x 5)
    flip_prob: float = -1.0          # its adversarial (target) probability
    seconds: float = 0.0
    done: bool = False


class AttackResult:
    """One row per attacked (image, target); ``to_pandas()`` gives them as a DataFrame."""

    def __init__(self, rows: list[dict], adversarial: torch.Tensor, params: dict):
        self.rows, self.adversarial, self.params = rows, adversarial, params

    def to_pandas(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def __len__(self) -> int:
        return len(self.rows)


class OnePixelAttack:
    """Differential-evolution attack changing ``pixels`` pixels (Su et al. 2019), configured by a
    :class:`DESettings` (the paper's by default) and keyword changes to it::

        OnePixelAttack(model, pixels=3, maxiter=20)            # the paper's settings, two changed
        OnePixelAttack(model, DESettings(pixels=3), seed=1)

    ``attack.run(images, labels, targets=None)`` returns an :class:`AttackResult`;
    ``attack(images, labels)`` returns the adversarial images (float, [0, 1]).
    ``targeted=True`` with ``targets=None`` attacks every class other than the true one.
    ``stop_on_flip=True`` stops as soon as the prediction changes (or reaches the target) instead
    of at the probability thresholds. ``batch_size`` caps the candidates per model call.
    ``incremental=False`` turns off incremental inference (see :class:`onepixel.Evaluator`).
    ``bounds``: "clip" (default) or "redraw" children that leave the image or the colour range.
    ``seed``, ``batch_size``, ``device``, ``progress`` and ``incremental`` change how it runs, not
    what it finds (the seed aside).
    """

    def __init__(self, model: nn.Module, settings: DESettings = PAPER, *, seed: int = 0,
                 batch_size: int | None = None, device: str | torch.device = "auto", progress: bool = True,
                 incremental: bool | str = "auto", **changes):
        unknown = sorted(set(changes) - {f.name for f in fields(DESettings)})
        if unknown:
            raise ValueError(f"unknown argument(s) {', '.join(unknown)}; DE settings are "
                             f"{', '.join(f.name for f in fields(DESettings))}")
        self.model, self.settings = model, replace(settings, **changes)
        self.seed, self.batch_size, self.device = seed, batch_size, device
        self.progress, self.incremental = progress, incremental

    def params(self) -> dict:
        return {**asdict(self.settings), "seed": self.seed, "incremental": self.incremental}

    def identity(self) -> dict:
        """The parameters that decide the rows (for the results store): not ``incremental``, which
        changes only speed, and not options still at the value every earlier result used."""
        return {k: v for k, v in self.params().items()
                if k != "incremental" and not (k in IDENTITY_DEFAULTS and v == IDENTITY_DEFAULTS[k])}

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, targets=None) -> torch.Tensor:
        return self.run(images, labels, targets).adversarial

    # fitness is minimised: -p(target) when targeted, p(true) otherwise
    def _fitness(self, task: _Task, probs: np.ndarray) -> np.ndarray:
        return -probs[:, task.target] if task.target != UNTARGETED else probs[:, task.label]

    def _stop(self, task: _Task, probs: np.ndarray) -> bool:
        if task.target != UNTARGETED:
            if self.settings.stop_on_flip:
                return bool((probs.argmax(1) == task.target).any())
            return bool((probs[:, task.target] > self.settings.target_threshold).any())
        if self.settings.stop_on_flip:
            return bool((probs.argmax(1) != task.label).any())
        return bool((probs[:, task.label] < self.settings.true_threshold).any())

    def _success(self, task: _Task, pred: np.ndarray) -> np.ndarray:
        return pred == task.target if task.target != UNTARGETED else pred != task.label

    def _note_flips(self, task: _Task, cands: np.ndarray, probs: np.ndarray) -> None:
        """Record the first success (evaluations spent) and the most confident successful candidate."""
        pred = probs.argmax(1)
        hit = np.flatnonzero(self._success(task, pred))
        if not len(hit):
            return
        if task.first_flip is None:
            task.first_flip = task.evaluations + int(hit[0]) + 1
        conf = probs[hit, task.target] if task.target != UNTARGETED else probs[hit, pred[hit]]
        j = int(conf.argmax())
        if conf[j] > task.flip_prob:
            task.flip, task.flip_prob = cands[hit[j]].copy(), float(conf[j])

    def _tasks(self, labels: torch.Tensor, targets, ids, streams: list[int], classes: int) -> list[_Task]:
        n = len(labels)
        if targets is None:
            per_image = [[t for t in range(classes) if t != labels[i]] if self.settings.targeted else [UNTARGETED]
                         for i in range(n)]
        else:
            if not self.settings.targeted:
                raise ValueError("targets were given but targeted=False")
            t = torch.as_tensor(targets)
            t = t[:, None] if t.dim() == 1 else t
            if t.dim() != 2 or len(t) != n:
                raise ValueError(f"targets must be N or N x T with N = {n} images, got shape {tuple(t.shape)}")
            check_labels(t.reshape(-1), t.numel(), classes, "targets")
            if (t == labels[:, None]).any():
                bad = torch.nonzero((t == labels[:, None]).any(1)).flatten().tolist()
                raise ValueError(f"targets equal the true labels for images {bad[:10]}")
            per_image = t.tolist()
        return [_Task(i, int(ids[i]), int(labels[i]), tg, task_rng(self.seed, int(streams[i]), tg))
                for i in range(n) for tg in per_image[i]]

    def run(self, images: torch.Tensor, labels: torch.Tensor, targets=None, ids=None) -> AttackResult:
        """Attack each image (and target). ``ids`` name the images in the rows and seed their random
        streams (pass dataset indices). Without ``ids`` rows name images 0..N-1 and each stream comes
        from a digest of the image's uint8 content, so an image gets the same result alone, in any
        batch and at any position."""
        check_images(images)
        labels = torch.as_tensor(labels).long().cpu()
        if ids is None:
            ids, streams = torch.arange(len(images)), content_keys(images)
        else:
            ids = torch.as_tensor(ids)
            streams = ids.tolist()
        if len(ids) != len(images):
            raise ValueError(f"ids must have one entry per image ({len(images)}), got {len(ids)}")
        ev = Evaluator(self.model, images, self.batch_size, self.device, self.incremental)
        h, w = ev.height, ev.width
        t_start = time.perf_counter()
        clean = ev.clean_probs(torch.arange(len(images))).numpy() if len(images) else np.zeros((0, 0))
        classes = clean.shape[1]
        check_labels(labels, len(images), classes)
        tasks = self._tasks(labels, targets, ids, streams, classes)
        clean_seconds, charged = (time.perf_counter() - t_start) / max(len(images), 1), set()
        for t in tasks:  # each image's clean evaluation is charged to its first attack
            if t.row not in charged:
                t.evaluations, t.seconds = 1, clean_seconds
                charged.add(t.row)
            t.pop = init_population(t.rng, self.settings.popsize, self.settings.pixels, h, w)

        bar = tqdm(total=len(tasks), desc=f"DE {self.settings.pixels}px", disable=not self.progress or None,
                   leave=False, unit="attack")
        # generation 0 evaluates the initial population; later generations the children
        for gen in range(self.settings.maxiter + 1):
            active = [t for t in tasks if not t.done]
            if not active:
                break
            t0 = time.perf_counter()
            if gen == 0:
                cands = [t.pop for t in active]
            else:
                cands = [self._bounded(mutate(t.pop, t.rng, self.settings.F)[0], t.rng, h, w) for t in active]
            idx = torch.tensor(np.repeat([t.row for t in active], self.settings.popsize))
            probs = ev.probs(idx, torch.from_numpy(np.concatenate(cands))).numpy()
            share = (time.perf_counter() - t0) / len(active)
            for i, t in enumerate(active):
                p = probs[i * self.settings.popsize:(i + 1) * self.settings.popsize]
                fit = self._fitness(t, p)
                self._note_flips(t, cands[i], p)
                if gen == 0:
                    t.fit = fit
                else:
                    t.pop, t.fit = select(t.pop, t.fit, cands[i], fit)
                    t.generations = gen
                t.evaluations += self.settings.popsize
                t.border += int(on_border(cands[i], h, w).sum())
                t.seconds += share
                if self._stop(t, p) or gen == self.settings.maxiter:
                    t.done = True
                    bar.update()
        bar.close()
        return self._finish(ev, tasks, clean)

    def _bounded(self, children: np.ndarray, rng: np.random.Generator, h: int, w: int) -> np.ndarray:
        if self.settings.bounds == "redraw":
            return redraw_out_of_bounds(children, rng, h, w)
        return clip_to_bounds(children, h, w)

    def _finish(self, ev: Evaluator, tasks: list[_Task], clean: np.ndarray) -> AttackResult:
        """Quantise each best candidate and re-check it with one more (counted) evaluation; where that
        fails but a candidate flipped during the search, re-check the most confident such one instead
        (one more evaluation). Build the rows."""
        adversarial = ev.images.clone().cpu()
        if not tasks:
            return AttackResult([], adversarial, self.params())
        t0 = time.perf_counter()
        best = torch.from_numpy(np.stack([t.pop[t.fit.argmin()] for t in tasks]))
        best = round_candidates(best, ev.height, ev.width)
        rows_idx = torch.tensor([t.row for t in tasks])
        probs = ev.probs(rows_idx, best).numpy()
        rechecks = np.ones(len(tasks), dtype=np.int64)
        retry = [i for i, t in enumerate(tasks) if t.flip is not None and not self._success(t, probs[i].argmax())]
        if retry:
            flips = round_candidates(torch.from_numpy(np.stack([tasks[i].flip for i in retry])), ev.height, ev.width)
            flip_probs = ev.probs(rows_idx[retry], flips).numpy()
            best[retry], probs[retry] = flips, flip_probs
            rechecks[retry] += 1
        share = (time.perf_counter() - t0) / len(tasks)
        rows = []
        for i, t in enumerate(tasks):
            p, cand = probs[i], best[i]
            adv_class = int(p.argmax())
            success = bool(self._success(t, adv_class))
            before = (ev.images[t.row, :, cand[:, 1], cand[:, 0]].cpu() * 255).round()
            distortion = (cand[:, 2:5].T.float() - before).abs().mean().item()
            row = {"image": t.image_id, "label": t.label, "target": t.target, "success": success,
                   "evaluations": t.evaluations + int(rechecks[i]), "generations": t.generations,
                   "border_evaluations": t.border,
                   "first_success_evaluations": t.first_flip if success and t.first_flip is not None else np.nan,
                   "adv_class": adv_class, "adv_prob": float(p[adv_class]),
                   "true_prob": float(p[t.label]),
                   "target_prob": float(p[t.target]) if t.target != UNTARGETED else np.nan,
                   "clean_class": int(clean[t.row].argmax()), "clean_prob": float(clean[t.row, t.label]),
                   "distortion": distortion, "seconds": t.seconds + share}
            row.update(dict(zip("xyrgb", cand[0].tolist())))
            row["perturbation"] = json.dumps(cand.tolist())
            rows.append(row)
        # adversarial images: the successful candidate of each image's first successful task
        first = {}
        for i, t in enumerate(tasks):
            if rows[i]["success"] and t.row not in first:
                first[t.row] = i
        if first:
            order = list(first)
            adversarial[order] = apply_candidates(ev.images, torch.tensor(order, device=ev.device),
                                                  best[[first[r] for r in order]].to(ev.device)).cpu()
        return AttackResult(rows, adversarial, self.params())


@register
@dataclass(frozen=True)
class DifferentialEvolution:
    """The paper's DE (Su et al. 2019) under ``settings`` (see :class:`onepixel.OnePixelAttack`);
    the goal decides the targeting, its threshold and ``stop_on_flip``."""

    name: ClassVar[str] = "de"
    settings: DESettings = PAPER
    seed: int = 0
    batch_size: int | None = None
    incremental: bool | str = "auto"

    def attack(self, model: nn.Module, goal: Goal, device: str | torch.device = "auto",
               progress: bool = False) -> OnePixelAttack:
        """The configured :class:`OnePixelAttack` for ``goal``."""
        check_goal(self, goal, (Untargeted, Targeted))
        targeted = isinstance(goal, Targeted)
        # the goal's threshold; the other one does not apply and stays the paper's (as in stored identities)
        thresholds = ({"target_threshold": goal.threshold, "true_threshold": PAPER.true_threshold} if targeted
                      else {"target_threshold": PAPER.target_threshold, "true_threshold": goal.threshold})
        settings = replace(self.settings, targeted=targeted, stop_on_flip=goal.stop_on_flip, **thresholds)
        return OnePixelAttack(model, settings, seed=self.seed, batch_size=self.batch_size, device=device,
                              progress=progress, incremental=self.incremental)

    def identity(self, goal: Goal) -> dict[str, Any]:
        return self.attack(nn.Identity(), goal).identity()

    def run(self, model, images, labels, goal=Untargeted(), ids=None, device="auto") -> pd.DataFrame:
        targets = goal.targets if isinstance(goal, Targeted) else None
        return ordered(self.attack(model, goal, device).run(images, labels, targets, ids).to_pandas())
