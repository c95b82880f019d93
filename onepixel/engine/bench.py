"""Side-by-side benchmark: this engine (incremental and dense) against torchattacks' OnePixel,
ART's PixelAttack, a SciPy ``differential_evolution`` reference with the paper's settings, and the
model's own dense forward throughput, on the same model, images and evaluation budget.

Every method's evaluations are counted by a wrapper around the model (or by the Evaluator for the
methods that use it), and every success is re-checked on the uint8-quantised adversarial image.
Peers are optional (``pip install -e .[bench]``); a missing one is reported, not fatal.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from onepixel.engine.de import init_population
from onepixel.engine.evaluator import Evaluator, apply_candidates, resolve_device, round_candidates
from onepixel.engine.incremental import IncrementalBackend
from onepixel.engine.one_pixel import OnePixelAttack, task_rng
from onepixel.engine.settings import PAPER


class CountingModel(nn.Module):
    """Counts the images the wrapped model classifies."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.seen = model, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen += len(x)
        return self.model(x)


@torch.inference_mode()
def flipped(model: nn.Module, adversarial: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """Non-targeted success on the uint8-quantised images."""
    x = (adversarial.clamp(0, 1) * 255).round() / 255
    return (model(x).argmax(1).cpu() != labels.cpu()).numpy()


def pixels_changed(adversarial: torch.Tensor, images: torch.Tensor) -> np.ndarray:
    """Per image, how many pixels the uint8-quantised adversarial image changes (any channel)."""
    def quantised(x: torch.Tensor) -> torch.Tensor:
        return (x.detach().cpu().clamp(0, 1) * 255).round()
    return (quantised(adversarial) != quantised(images)).any(1).flatten(1).sum(1).numpy()


def outcome(model: nn.Module, adversarial: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
            pixels: int = 1) -> dict:
    """Success as a ``pixels``-pixel attack: the class flips and at most ``pixels`` pixels changed;
    also how many pixels each method changed (mean and most) and how many flips changed more."""
    flips, changed = flipped(model, adversarial, labels), pixels_changed(adversarial, images)
    within = changed <= pixels
    return {"success": float((flips & within).mean()), "pixels_changed": float(changed.mean()),
            "most_pixels_changed": int(changed.max()) if len(changed) else 0,
            "flips_over_k_pixels": int((flips & ~within).sum()), "per_image": flips & within}


def timed(method: str, model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
          run: Callable[[], tuple[torch.Tensor, int]]) -> dict:
    """One benchmark row: the wall time of ``run()``, which returns the adversarial images and the
    evaluations it spent, and the :func:`outcome` of its images."""
    t0 = time.perf_counter()
    adversarial, evaluations = run()
    seconds = time.perf_counter() - t0
    return {"method": method, "evaluations": int(evaluations), "seconds": seconds,
            **outcome(model, adversarial.to(images.device), images, labels)}


def dense_limit(model: nn.Module, images: torch.Tensor, batch: int = 400, repeats: int = 3) -> dict:
    """The model's own forward throughput on ``batch`` copies (channels_last, inference mode)."""
    x = images[torch.arange(batch) % len(images)].contiguous(memory_format=torch.channels_last)
    model = model.to(memory_format=torch.channels_last)
    best = float("inf")
    with torch.inference_mode():
        model(x[:8])
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t0)
    return {"method": "dense forward (limit)", "evaluations": batch, "seconds": best}


def run_ours(model, images, labels, maxiter, incremental, device, bounds: str = "clip") -> dict:
    attack = OnePixelAttack(model, maxiter=maxiter, stop_on_flip=True, incremental=incremental, device=device,
                            progress=False, bounds=bounds)
    Evaluator(model, images[:1], device=device, incremental=incremental)  # tune the cutoff outside the timing

    def run() -> tuple[torch.Tensor, int]:
        result = attack.run(images, labels)
        return result.adversarial, int(result.to_pandas().evaluations.sum())
    return timed(f"onepixel ({'incremental' if incremental else 'dense'})", model, images, labels, run)


def run_torchattacks(model, images, labels, maxiter, device) -> dict:
    """torchattacks' OnePixel. It vendors SciPy's ``differential_evolution`` with SciPy's defaults
    (``best1bin``, F dithered in [0.5, 1), uniform initial colours): a greedier search than the
    paper's rand/1 with F = 0.5, so its success at a small budget differs from the paper's DE."""
    import torchattacks  # optional: pip install -e .[bench]

    counting = CountingModel(model)
    attack = torchattacks.OnePixel(counting, pixels=1, steps=maxiter, popsize=PAPER.popsize, inf_batch=PAPER.popsize)
    return timed(f"torchattacks {torchattacks.__version__} OnePixel", model, images, labels,
                 lambda: (attack(images.to(device), labels.to(device)), counting.seen))


def run_pixle(model, images, labels, maxiter, device) -> dict:
    """torchattacks' Pixle restricted to single pixels (1 x 1 patches copied from the image)."""
    import torchattacks  # optional: pip install -e .[bench]

    counting = CountingModel(model)
    attack = torchattacks.Pixle(counting, x_dimensions=(1, 1), y_dimensions=(1, 1), restarts=maxiter,
                                max_iterations=10)
    return timed(f"torchattacks {torchattacks.__version__} Pixle (1x1 patches)", model, images, labels,
                 lambda: (attack(images.to(device), labels.to(device)), counting.seen))


def run_art(model, images, labels, maxiter, device) -> dict:
    import art  # optional: pip install -e .[bench]
    from art.attacks.evasion import PixelAttack  # optional: pip install -e .[bench]
    from art.estimators.classification import PyTorchClassifier  # optional: pip install -e .[bench]

    counting = CountingModel(model)
    clf = PyTorchClassifier(counting, nn.CrossEntropyLoss(), input_shape=tuple(images.shape[1:]),
                            nb_classes=int(model(images[:1].to(device)).shape[1]), clip_values=(0.0, 1.0),
                            device_type="gpu" if resolve_device(device).type == "cuda" else "cpu")
    # th is the number of pixels; th=None would search for the fewest pixels (1 to 127), not a one-pixel attack
    attack = PixelAttack(clf, th=1, es=1, max_iter=maxiter, targeted=False, verbose=False)
    counting.seen = 0
    return timed(f"ART {art.__version__} PixelAttack (DE, th=1)", model, images, labels,
                 lambda: (torch.from_numpy(attack.generate(images.cpu().numpy(), labels.cpu().numpy())), counting.seen))


def run_scipy(model, images, labels, maxiter, device, seed: int = 0) -> dict:
    """SciPy's differential_evolution with the paper's settings: population 400 (given as the
    initial array: coordinates uniform, colours N(128, 127)), F = 0.5, crossover off
    (recombination 1), vectorised fitness through the dense Evaluator, stop at the first flip."""
    import scipy  # optional: pip install -e .[bench]
    from scipy.optimize import differential_evolution  # optional: pip install -e .[bench]

    ev = Evaluator(model, images, device=device, incremental=False)
    h, w = ev.height, ev.width
    bounds = [(0, w - 1), (0, h - 1), (0, 255), (0, 255), (0, 255)]

    def search() -> tuple[torch.Tensor, int]:
        adversarial = images.clone()
        for i in range(len(images)):
            label = int(labels[i])
            state = {"flip": False}

            def fitness(x: np.ndarray) -> np.ndarray:  # x: 5 x S
                cands = torch.from_numpy(x.T.copy())[:, None, :]
                probs = ev.probs(torch.full((x.shape[1],), i), cands)
                hits = (probs.argmax(1) != label).nonzero().flatten()
                if len(hits) and not state["flip"]:  # the first flipping candidate is the attack's result
                    state["flip"] = True
                    best = round_candidates(cands[hits[:1]], h, w)
                    adversarial[i] = apply_candidates(images[i:i + 1], torch.zeros(1, dtype=torch.long),
                                                      best.to(images.device))[0]
                return probs[:, label].numpy()

            init = init_population(task_rng(seed, i, -1), 400, 1, h, w)[:, 0]
            differential_evolution(fitness, bounds, strategy="rand1bin", maxiter=maxiter, mutation=0.5,
                                   recombination=1.0, init=init, polish=False, vectorized=True, updating="deferred",
                                   seed=seed + i, callback=lambda *a, **k: state["flip"], tol=0, atol=0)
        return adversarial, ev.evaluations
    return timed(f"SciPy {scipy.__version__} differential_evolution (reference)", model, images, labels, search)


def benchmark(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, maxiter: int = 10,
              device: str = "auto", peers: bool = True) -> pd.DataFrame:
    """Run every method on the same images with the same budget; one row per method."""
    device = str(resolve_device(device))
    model = model.eval().to(device)
    images, labels = images.to(device), labels.to(device)
    rows = [dense_limit(model, images), run_ours(model, images, labels, maxiter, True, device),
            run_ours(model, images, labels, maxiter, False, device)]
    if peers:
        for peer in (run_torchattacks, run_pixle, run_art, run_scipy):
            try:
                rows.append(peer(model, images, labels, maxiter, device))
            except ImportError as e:
                rows.append({"method": peer.__name__, "error": f"not installed ({e.name}); pip install -e .[bench]"})
    df = pd.DataFrame([{k: v for k, v in r.items() if k != "per_image"} for r in rows])
    df["evals_per_s"] = df.evaluations / df.seconds
    ours = df.loc[df.method == "onepixel (incremental)", "evals_per_s"].iloc[0]
    df["ours_incremental_x"] = ours / df.evals_per_s
    return df


def environment() -> dict:
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or
            platform.machine(), "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def incremental_speedups(models: dict[str, tuple[nn.Module, torch.Tensor]], popsize: int = PAPER.popsize,
                         repeats: int = 3) -> pd.DataFrame:
    """Candidates/s of the dense forward and of the incremental path, per model, at population size;
    ``mac_ratio`` is the speedup that fewer multiply-accumulates alone would give at the cutoff."""
    rows = []
    for name, (model, images) in models.items():
        model = model.eval()
        backend = IncrementalBackend(model, images)
        g = torch.Generator().manual_seed(0)
        h, w = images.shape[-2:]
        cand = torch.stack([torch.randint(0, w, (popsize,), generator=g), torch.randint(0, h, (popsize,), generator=g),
                            *torch.randint(0, 256, (3, popsize), generator=g)], 1)[:, None].to(images.device)
        idx = (torch.arange(popsize) % len(images)).to(images.device)
        times = {"dense": float("inf"), "incremental": float("inf")}
        with torch.inference_mode():
            x = apply_candidates(images, idx, cand).contiguous(memory_format=torch.channels_last)
            model = model.to(memory_format=torch.channels_last)
            for _ in range(repeats):
                t0 = time.perf_counter()
                dense = model(x)
                times["dense"] = min(times["dense"], time.perf_counter() - t0)
                t0 = time.perf_counter()
                inc, _ = backend.logits(idx, cand)
                times["incremental"] = min(times["incremental"], time.perf_counter() - t0)
        err = (inc.softmax(1) - dense.softmax(1)).abs().max().item()
        rows.append({"model": name, "input": f"{h}x{w}", "dense_per_s": popsize / times["dense"],
                     "incremental_per_s": popsize / times["incremental"],
                     "speedup": times["dense"] / times["incremental"],
                     "mac_ratio": backend.macs()["mac_ratio"], "cutoff": backend.cutoff,
                     "cutoff_node": backend.nodes[backend.cutoff - 1].name, "max_prob_diff": err})
    return pd.DataFrame(rows)


def few_pixel_rates(models: dict[str, tuple[nn.Module, torch.Tensor, int]], popsize: int = PAPER.popsize,
                    repeats: int = 3) -> pd.DataFrame:
    """Candidates/s through the Evaluator, measured side by side in one run per model: 1-pixel
    candidates (incremental "auto"), k-pixel candidates ("auto", which tunes its own cutoff per k) and
    k-pixel candidates dense; the paper's pairs are AllConv at 3 pixels and NiN at 5."""
    rows = []
    for name, (model, images, k) in models.items():
        g = torch.Generator().manual_seed(0)
        h, w = images.shape[-2:]
        idx = torch.arange(popsize) % len(images)

        def candidates(pixels: int) -> torch.Tensor:
            return torch.stack([torch.randint(0, w, (popsize, pixels), generator=g),
                                torch.randint(0, h, (popsize, pixels), generator=g),
                                *torch.randint(0, 256, (3, popsize, pixels), generator=g)], -1)

        auto, dense = Evaluator(model, images, device=images.device), Evaluator(model, images, device=images.device,
                                                                               incremental=False)
        one, many = candidates(1), candidates(k)
        rate = {}
        for label, ev, cand in (("1 px", auto, one), (f"{k} px", auto, many), (f"{k} px dense", dense, many)):
            ev.probs(idx, cand)  # warm-up (and the tuning of the k-pixel cutoff)
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                ev.probs(idx, cand)
                best = min(best, time.perf_counter() - t0)
            rate[label] = popsize / best
        err = (auto.probs(idx, many) - dense.probs(idx, many)).abs().max().item()
        cutoff = auto.backend.cutoff_for(k) if auto.backend is not None else 1
        rows.append({"model": name, "pixels": k, "1px_per_s": rate["1 px"], "kpx_per_s": rate[f"{k} px"],
                     "kpx_dense_per_s": rate[f"{k} px dense"], "kpx_over_1px": rate[f"{k} px"] / rate["1 px"],
                     "kpx_cutoff": cutoff, "max_prob_diff": err})
    return pd.DataFrame(rows)


def write_json(df: pd.DataFrame, path: Path, **meta) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment(), **meta, "rows": df.to_dict("records")}, indent=2,
                               default=str) + "\n")
