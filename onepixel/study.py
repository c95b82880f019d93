"""The study's experiments, as the notebooks call them: each returns stored rows that match its
parameters and computes (and stores) only what is missing. See :mod:`onepixel.results`.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import torch

from .attack import OnePixelAttack
from .data import ImageDataset, load_cifar10, load_imagenet
from .evaluator import resolve_device
from .models import IMAGENET_MODELS, input_size, load_pretrained
from .results import Experiment
from .search import exhaustive_search, random_search, single_pixel_search


def results_root() -> Path:
    """$ONEPIXEL_RESULTS or ./results."""
    return Path(os.environ.get("ONEPIXEL_RESULTS", "results"))


@lru_cache(maxsize=16)
def model_and_data(name: str) -> tuple[torch.nn.Module, ImageDataset]:
    """A trained model and its test data (CIFAR-10 test set, or the 1,300 ImageNet validation images)."""
    model = load_pretrained(name)
    data = (load_imagenet("val1300", size=input_size(name)) if name in IMAGENET_MODELS
            else load_cifar10("test"))
    return model, data


def predictions(profile: str, name: str, device: str = "auto") -> pd.DataFrame:
    """Clean predictions of model ``name`` on its whole test set (one row per image)."""
    model, data = model_and_data(name)
    exp = Experiment(profile, "predictions", {"model": name, "weights": model.weights_digest,
                                              "data": data.digest}, root=results_root())
    dev = resolve_device(device)

    def compute(items: list[int]) -> pd.DataFrame:
        m = model.to(dev)
        with torch.inference_mode():
            probs = torch.cat([m(data.subset(items[s:s + 200]).float().to(dev)).softmax(1).cpu()
                               for s in range(0, len(items), 200)])
        pos = torch.as_tensor(items)
        return pd.DataFrame({"image": items, "label": data.labels[pos].numpy(), "pred": probs.argmax(1).numpy(),
                             "prob": probs.max(1).values.numpy(), "true_prob": probs[torch.arange(len(items)),
                                                                                      data.labels[pos]].numpy()})
    return exp.run(range(len(data)), compute, chunk=2000, progress=False)


def accuracy(profile: str, name: str) -> dict:
    p = predictions(profile, name)
    return {"model": name, "correct": int((p.pred == p.label).sum()), "n": len(p),
            "accuracy": float((p.pred == p.label).mean())}


def correct_sample(profile: str, name: str, n: int, seed: int = 0) -> list[int]:
    """``n`` images the model classifies correctly, drawn without replacement; a larger ``n``
    extends a smaller one (same permutation)."""
    p = predictions(profile, name)
    correct = p.image[p.pred == p.label].to_numpy()
    order = np.random.default_rng([seed, 1710_08864]).permutation(correct)
    if n > len(order):
        raise ValueError(f"{name} classifies only {len(order)} images correctly; asked for {n}")
    return sorted(order[:n].tolist())


def attacks(profile: str, name: str, images: int | list[int], pixels: int = 1, targeted: bool = False,
            popsize: int = 400, maxiter: int = 100, F: float = 0.5, target_threshold: float = 0.9,
            true_threshold: float = 0.05, stop_on_flip: bool = False, seed: int = 0, device: str = "auto",
            chunk: int | None = None, recompute: bool = False, incremental: bool | str = "auto") -> pd.DataFrame:
    """DE attacks on ``images`` (a count: that many correctly classified images of the sample; or a
    list of image indices), all 9 other targets if targeted, stored ``chunk`` images per shard
    (default 8 CIFAR-10 images, 2 ImageNet ones: those cost minutes each)."""
    if chunk is None:
        chunk = 2 if name in IMAGENET_MODELS else 8
    model, data = model_and_data(name)
    attack = OnePixelAttack(model, pixels, popsize, maxiter, F, targeted, target_threshold, true_threshold,
                            seed, device=device, stop_on_flip=stop_on_flip, progress=False, incremental=incremental)
    identity = {"model": name, "weights": model.weights_digest, "data": data.digest, "sample_seed": seed,
                **{k: v for k, v in attack.params().items() if k != "incremental"}}
    exp = Experiment(profile, f"de-{pixels}px-{'targeted' if targeted else 'untargeted'}", identity,
                     {"device": str(resolve_device(device)), "incremental": incremental,
                      "threads": torch.get_num_threads()}, root=results_root())

    def compute(items: list[int]) -> pd.DataFrame:
        sub = data.subset(items)
        df = attack.run(sub.float(), sub.labels, ids=sub.index).to_pandas()
        df.insert(0, "model", name)
        return df
    items = correct_sample(profile, name, images, seed) if isinstance(images, int) else sorted(images)
    return exp.run(items, compute, chunk, recompute=recompute)


def _exhaustive_experiments(profile: str, name: str, levels: int, seed: int, device: str):
    model, data = model_and_data(name)
    identity = {"model": name, "weights": model.weights_digest, "data": data.digest, "levels": levels,
                "sample_seed": seed}
    info = {"device": str(resolve_device(device))}
    return (Experiment(profile, f"exhaustive-{levels}", identity, info, root=results_root()),
            Experiment(profile, f"vulnerability-{levels}", identity, info, root=results_root()))


def exhaustive(profile: str, name: str, n_images: int, levels: int = 2, seed: int = 0, device: str = "auto",
               chunk: int = 8, recompute: bool = False) -> pd.DataFrame:
    """Exhaustive one-pixel search (every pixel x ``levels``^3 colours): rows per image and class.
    Its vulnerability maps are stored alongside (see :func:`vulnerability_maps`)."""
    model, data = model_and_data(name)
    rows_exp, maps_exp = _exhaustive_experiments(profile, name, levels, seed, device)
    if recompute:
        maps_exp.clear()

    def compute(items: list[int]) -> pd.DataFrame:
        sub = data.subset(items)
        res = exhaustive_search(model, sub.float(), sub.labels, levels, device=device, ids=sub.index,
                                progress=False)
        n, h, w = res.pixel_map.shape
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        maps_exp.append(pd.DataFrame({"image": np.repeat(res.ids.numpy(), h * w), "label": np.repeat(
            res.labels.numpy(), h * w), "y": np.tile(ys.ravel(), n), "x": np.tile(xs.ravel(), n),
            "best_other_prob": res.pixel_map.reshape(-1).numpy().round(6)}))
        df = res.to_pandas()
        df.insert(0, "model", name)
        return df
    return rows_exp.run(correct_sample(profile, name, n_images, seed), compute, chunk, recompute=recompute)


def vulnerability_maps(profile: str, name: str, n_images: int, levels: int = 2, seed: int = 0,
                       device: str = "auto", recompute: bool = False) -> pd.DataFrame:
    """Per image and pixel: the highest probability of a class other than the true one that
    changing that pixel reaches (over the exhaustive search's colours)."""
    exhaustive(profile, name, n_images, levels, seed, device, recompute=recompute)
    maps = _exhaustive_experiments(profile, name, levels, seed, device)[1].load()
    images = correct_sample(profile, name, n_images, seed)
    maps = maps.drop_duplicates(subset=["image", "y", "x"])
    return maps[maps.image.isin(images)].reset_index(drop=True)


def baseline(profile: str, name: str, n_images: int, method: str = "random", budget: int = 100, seed: int = 0,
             device: str = "auto", chunk: int = 32, recompute: bool = False) -> pd.DataFrame:
    """Random one-pixel search ("random") or random cube corners ("single_pixel"), ``budget`` tries."""
    model, data = model_and_data(name)
    search = {"random": random_search, "single_pixel": single_pixel_search}[method]
    exp = Experiment(profile, f"baseline-{method}", {"model": name, "weights": model.weights_digest,
                                                      "data": data.digest, "budget": budget, "seed": seed},
                     {"device": str(resolve_device(device))}, root=results_root())

    def compute(items: list[int]) -> pd.DataFrame:
        sub = data.subset(items)
        df = search(model, sub.float(), sub.labels, budget, device=device, seed=seed, ids=sub.index)
        df.insert(0, "model", name)
        return df
    return exp.run(correct_sample(profile, name, n_images, seed), compute, chunk, recompute=recompute)


DE_SETTINGS = ("popsize", "maxiter", "F", "target_threshold", "true_threshold", "seed", "device", "recompute")


def de_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """The DE and run settings of :func:`attacks` found in ``params`` (a notebook's ``globals()``
    or a profile's parameters), so every caller passes the same ones."""
    return {k: params[k] for k in DE_SETTINGS if k in params}


def one_pixel_runs(profile: str, models: list[str], n_untargeted: int, n_targeted: int,
                   targeted_models: list[str] | None = None, n_untargeted_imagenet: int | None = None,
                   **settings) -> dict[str, dict]:
    """Per model: clean accuracy and the non-targeted and targeted attack rows. ImageNet networks
    attack ``n_untargeted_imagenet`` images when given (a failed attack costs them 6-20x more)."""
    targeted_models = models if targeted_models is None else targeted_models
    runs = {}
    for name in models:
        n = n_untargeted_imagenet if n_untargeted_imagenet is not None and name in IMAGENET_MODELS else n_untargeted
        runs[name] = {"accuracy": accuracy(profile, name)["accuracy"],
                      "untargeted": attacks(profile, name, n, **settings) if n else None,
                      "targeted": attacks(profile, name, n_targeted, targeted=True, **settings)
                      if n_targeted and name in targeted_models else None}
    return runs


# Fixed rules, not the notebook's thresholds: the middle row is the paper's 5% rule whatever the
# profile sets, so the comparison always includes the published setting.
PAPER_STOP = "true class below 5% (the paper)"
EARLY_STOP = {"at the first flip": {"stop_on_flip": True},
              PAPER_STOP: {"true_threshold": 0.05},
              "never (all 100 generations)": {"true_threshold": 0.0}}


def early_stop_runs(profile: str, name: str, n_images: int, **settings) -> dict[str, pd.DataFrame]:
    """Non-targeted attacks under each stopping rule of :data:`EARLY_STOP` on the same images: those
    of the first ``n_images`` of the sample that the paper's rule fools (only they have a confidence
    to compare). Shows how much of the reported confidence is the stopping rule's doing."""
    paper_rule = attacks(profile, name, n_images, **{**settings, **EARLY_STOP[PAPER_STOP]})
    fooled = sorted(paper_rule.image[paper_rule.success].unique().tolist())
    return {rule: attacks(profile, name, fooled, **{**settings, **override}) for rule, override in EARLY_STOP.items()}


def engine_benchmark(profile: str, name: str, n_images: int, maxiter: int, peers: bool = True,
                     device: str = "auto", recompute: bool = False) -> pd.DataFrame:
    """Stored side-by-side benchmark (see :mod:`onepixel.bench`): one row per method."""
    from .bench import benchmark, environment

    model, data = model_and_data(name)
    images = correct_sample(profile, name, n_images)
    exp = Experiment(profile, "bench-engine", {"model": name, "weights": model.weights_digest, "data": data.digest,
                                                "images": images, "maxiter": maxiter, "peers": peers,
                                                "device": str(resolve_device(device)), **environment()},
                     root=results_root())

    def compute(_: list[int]) -> pd.DataFrame:
        sub = data.subset(images)
        return benchmark(model, sub.float(), sub.labels, maxiter, device, peers).assign(run=0)
    return exp.run([0], compute, 1, column="run", recompute=recompute, progress=False)


def incremental_benchmark(profile: str, names: list[str], device: str = "auto",
                          recompute: bool = False) -> pd.DataFrame:
    """Stored candidates/s of dense and incremental inference at population 400, per model."""
    from .bench import environment, incremental_speedups
    from .models import ARCHITECTURES

    dev = resolve_device(device)
    exp = Experiment(profile, "bench-incremental", {"models": names, "device": str(dev), **environment()},
                     root=results_root())

    def compute(_: list[int]) -> pd.DataFrame:
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
    return exp.run([0], compute, 1, column="run", recompute=recompute, progress=False, keys=("model",))


def cube_vs_corners(profile: str, name: str, n_images: int, levels: int = 16, seed: int = 0,
                    device: str = "auto", recompute: bool = False) -> pd.DataFrame:
    """At each image's most vulnerable pixel (from the corner search), every colour of a
    ``levels``^3 grid: does any colour flip the class, does any corner, and how far they get."""
    from .geometry import colour_cube

    model, data = model_and_data(name)
    maps = vulnerability_maps(profile, name, n_images, 2, seed, device)
    exp = Experiment(profile, f"cube-{levels}", {"model": name, "weights": model.weights_digest, "data": data.digest,
                                                  "levels": levels, "sample_seed": seed},
                     {"device": str(resolve_device(device))}, root=results_root())

    def compute(items: list[int]) -> pd.DataFrame:
        rows = []
        for image in items:
            m = maps[maps.image == image]
            best = m.loc[m.best_other_prob.idxmax()]
            cube = colour_cube(model, data.images[image].float() / 255, int(best.label), int(best.x), int(best.y),
                               levels, device)
            corners = cube[cube.corner]
            rows.append({"image": image, "label": int(best.label), "x": int(best.x), "y": int(best.y),
                         "grid_flips": bool(cube.flips.any()), "corner_flips": bool(corners.flips.any()),
                         "grid_flip_fraction": float(cube.flips.mean()),
                         "grid_min_true_prob": float(cube.true_prob.min()),
                         "corner_min_true_prob": float(corners.true_prob.min())})
        return pd.DataFrame(rows)
    return exp.run(correct_sample(profile, name, n_images, seed), compute, 8, recompute=recompute)
