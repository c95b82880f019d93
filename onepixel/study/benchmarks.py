"""The stored benchmarks of ``onepixel bench`` (run on a quiet machine, never by ``onepixel run``):
the engine against its peers on the same images and budget, and dense against incremental
inference. Chapter 08 reads them."""
from __future__ import annotations

import pandas as pd
import torch

from onepixel.engine.bench import benchmark, environment, incremental_speedups
from onepixel.engine.evaluator import resolve_device
from onepixel.nets.models import ARCHITECTURES, input_size, load_pretrained, model_and_data
from onepixel.storage import results_root
from onepixel.study.experiments import timed
from onepixel.study.rows import correct_sample
from onepixel.study.store import Experiment


def engine_benchmark(profile: str, name: str, n_images: int, maxiter: int, peers: bool = True,
                     device: str = "auto", recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """Stored side-by-side benchmark (see :mod:`onepixel.engine.bench`): one row per method."""
    model, data = model_and_data(name)
    images = correct_sample(profile, name, n_images)
    exp = Experiment(profile, "bench-engine", {"model": name, "weights": model.weights_digest, "data": data.digest,
                                                "images": images, "maxiter": maxiter, "peers": peers,
                                                "device": str(resolve_device(device)), **environment()},
                     root=results_root())

    def run_benchmark() -> pd.DataFrame:
        sub = data.subset(images)
        return benchmark(model, sub.float(), sub.labels, maxiter, device, peers).assign(run=0)
    return stored_once(exp, run_benchmark, recompute, compute)


def incremental_benchmark(profile: str, names: list[str], device: str = "auto",
                          recompute: bool = False, compute: bool = True) -> pd.DataFrame:
    """Stored candidates/s of dense and incremental inference at population 400, per model."""
    dev = resolve_device(device)
    exp = Experiment(profile, "bench-incremental", {"models": names, "device": str(dev), **environment()},
                     root=results_root())

    def run_benchmark() -> pd.DataFrame:
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
    return stored_once(exp, run_benchmark, recompute, compute)


def stored_once(exp: Experiment, run, recompute: bool, compute: bool) -> pd.DataFrame:
    """A benchmark's rows: computed first (one costed shard, ``run()``) when ``compute`` and none
    are stored (or ``recompute``), then read."""
    if recompute and compute:
        exp.clear()
    if compute and not exp.shards():
        rows, cost = timed(run)
        exp.append(rows, cost)
    return exp.load()


