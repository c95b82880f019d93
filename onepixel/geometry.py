"""Geometry of one-pixel attacks: low-dimensional slices of the input space and class-pair asymmetry.

A one-pixel perturbation moves an image along axis-parallel lines (one per colour channel of the
pixel); a k-pixel perturbation within a low-dimensional cube. The slices here evaluate the model
on such lines and planes (through the shared :class:`~onepixel.evaluator.Evaluator`, so incremental
inference applies) and locate where the predicted class changes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from .evaluator import Evaluator

CHANNELS = {"r": (0,), "g": (1,), "b": (2,), "grey": (0, 1, 2)}


def _pixel(image: torch.Tensor, x: int, y: int) -> np.ndarray:
    return (image[:, y, x] * 255).round().long().cpu().numpy()


def line_slice(model: nn.Module, image: torch.Tensor, x: int, y: int, channel: str = "r", steps: int = 256,
               device: str = "auto") -> pd.DataFrame:
    """Sweep one channel of pixel (x, y) (or all three together, "grey") over 0..255, the other
    channels kept at their clean values. One row per value: the probabilities and the prediction."""
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {sorted(CHANNELS)}, got {channel!r}")
    values = np.linspace(0, 255, steps).round().astype(np.int64)
    rgb = np.tile(_pixel(image, x, y), (steps, 1))
    for c in CHANNELS[channel]:
        rgb[:, c] = values
    cand = torch.from_numpy(np.concatenate([np.tile([x, y], (steps, 1)), rgb], 1))[:, None, :]
    probs = Evaluator(model, image[None], device=device).probs(torch.zeros(steps, dtype=torch.long), cand)
    df = pd.DataFrame(probs.numpy(), columns=[f"p{c}" for c in range(probs.shape[1])])
    df.insert(0, "value", values)
    df["pred"] = probs.argmax(1).numpy()
    return df


def pixel_lines(model: nn.Module, image: torch.Tensor, x: int, y: int, device: str = "auto") -> dict[str, pd.DataFrame]:
    """:func:`line_slice` along every channel of pixel (x, y) and along the grey axis."""
    return {channel: line_slice(model, image, x, y, channel, device=device) for channel in ("r", "g", "b", "grey")}


def attack_lines(model: nn.Module, data, rows: pd.DataFrame, n_images: int, rng: np.random.Generator,
                 device: str = "auto") -> tuple[dict, dict, dict]:
    """:func:`pixel_lines` through the pixel of the ``n_images`` most confident successful attacks
    of ``rows`` (on ``data``, a whole test set) and through a random pixel of each image, keyed by a readable title:
    the lines, each title's true class, and the clean and the attack's values per channel (the
    arguments of :func:`onepixel.plots.line_slices`)."""
    lines, labels, marks = {}, {}, {}
    for r in rows[rows.success].nlargest(n_images, "adv_prob").itertuples():
        image = data.images[int(r.image)].float() / 255  # a whole test set: an image's id is its position
        h, w = image.shape[1:]
        for where, (x, y) in (("DE pixel", (int(r.x), int(r.y))),
                              ("random pixel", (int(rng.integers(0, w)), int(rng.integers(0, h))))):
            key = f"{r.image} ({data.classes[r.label]}), {where} ({x}, {y})"
            lines[key], labels[key] = pixel_lines(model, image, x, y, device), int(r.label)
            clean = _pixel(image, x, y).tolist()
            marks[key] = {ch: {"clean": clean[i], **({"attack": int((r.r, r.g, r.b)[i])} if where == "DE pixel" else {})}
                          for i, ch in enumerate("rgb")}
    return lines, labels, marks


def crossings(slice_df: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """Where the predicted class changes along a line: the two values around each change."""
    pred = slice_df.pred.to_numpy()
    at = np.flatnonzero(pred[1:] != pred[:-1])
    return pd.DataFrame({"from_value": slice_df[column].to_numpy()[at], "to_value": slice_df[column].to_numpy()[at + 1],
                         "from_class": pred[at], "to_class": pred[at + 1]})


def plane_slice(model: nn.Module, image: torch.Tensor, first: tuple[int, int, str], second: tuple[int, int, str],
                steps: int = 64, device: str = "auto") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted class on a steps x steps grid over two coordinates, each (x, y, channel): two
    channels of one pixel, or one channel of two pixels. Returns (values, predictions[i, j] for
    first = values[i] and second = values[j], top probability)."""
    values = np.linspace(0, 255, steps).round().astype(np.int64)
    a, b = np.meshgrid(values, values, indexing="ij")
    same_pixel = first[:2] == second[:2]
    cands = []
    for (x, y, ch), grid in ((first, a), (second, b)):
        rgb = np.tile(_pixel(image, x, y), (steps * steps, 1))
        for c in CHANNELS[ch]:
            rgb[:, c] = grid.ravel()
        cands.append(np.concatenate([np.tile([x, y], (steps * steps, 1)), rgb], 1))
    if same_pixel:  # one pixel, both channels set
        rgb = cands[0][:, 2:].copy()
        for c in CHANNELS[second[2]]:
            rgb[:, c] = b.ravel()
        cand = np.concatenate([cands[0][:, :2], rgb], 1)[:, None, :]
    else:
        cand = np.stack(cands, 1)
    probs = Evaluator(model, image[None], device=device).probs(torch.zeros(len(cand), dtype=torch.long),
                                                                 torch.from_numpy(cand))
    return (values, probs.argmax(1).numpy().reshape(steps, steps), probs.max(1).values.numpy().reshape(steps, steps))


def attack_planes(model: nn.Module, data, rows: pd.DataFrame, steps: int = 64,
                  device: str = "auto") -> tuple[list[dict], int] | None:
    """The planes through the pixel of the most confident successful attack in ``rows`` (on
    ``data``, a whole test set): its red and green channels, and its red channel against its
    neighbour's; as :func:`onepixel.plots.planes` panels, with the image. None without a success."""
    ok = rows[rows.success].sort_values("adv_prob", ascending=False)
    if not len(ok):
        return None
    r = ok.iloc[0]
    image = data.images[int(r.image)].float() / 255  # a whole test set: an image's id is its position
    x, y = int(r.x), int(r.y)
    x2 = x + 1 if x < image.shape[2] - 1 else x - 1
    red, green, red2 = (int((image[c, y, px] * 255).round()) for c, px in ((0, x), (1, x), (0, x2)))
    values, pred, _ = plane_slice(model, image, (x, y, "r"), (x, y, "g"), steps, device)
    values2, pred2, _ = plane_slice(model, image, (x, y, "r"), (x2, y, "r"), steps, device)
    return [dict(values=values, pred=pred, clean=(red, green), xlabel="red", ylabel="green",
                 title=f"pixel ({x}, {y})"),
            dict(values=values2, pred=pred2, clean=(red, red2), xlabel=f"red of ({x}, {y})",
                 ylabel=f"red of ({x2}, {y})", title="two pixels")], int(r.image)


def colour_cube(model: nn.Module, image: torch.Tensor, label: int, x: int, y: int, levels: int = 16,
                device: str = "auto") -> pd.DataFrame:
    """Every colour of a levels^3 grid over the RGB cube at pixel (x, y): prediction and true-class
    probability, and whether the colour is a cube corner."""
    from .search import colour_grid

    colours = colour_grid(levels)
    cand = torch.cat([torch.tensor([[x, y]]).repeat(len(colours), 1), colours], 1)[:, None, :]
    probs = Evaluator(model, image[None], device=device).probs(torch.zeros(len(cand), dtype=torch.long), cand)
    df = pd.DataFrame(colours.numpy(), columns=["r", "g", "b"])
    df["pred"] = probs.argmax(1).numpy()
    df["true_prob"] = probs[:, label].numpy()
    df["flips"] = df.pred != label
    df["corner"] = df[["r", "g", "b"]].isin([0, 255]).all(axis=1)
    return df


def distance_to_centre(x, y, height: int, width: int) -> np.ndarray:
    """Euclidean distance (pixels) of (x, y) to the image centre."""
    return np.hypot(np.asarray(x) - (width - 1) / 2, np.asarray(y) - (height - 1) / 2)


def asymmetry_index(matrix: pd.DataFrame | np.ndarray) -> float:
    """||M - M^T|| / ||M|| (Frobenius) over the off-diagonal entries; 0 for a symmetric matrix."""
    m = np.nan_to_num(np.asarray(matrix, dtype=float))
    np.fill_diagonal(m, 0)
    norm = np.linalg.norm(m)
    return float(np.linalg.norm(m - m.T) / norm) if norm else float("nan")


def bootstrap_asymmetry(rows: pd.DataFrame, classes: int, draws: int = 1000, seed: int = 0) -> dict:
    """Asymmetry index of the original x target success matrix with a bootstrap 95% interval
    (images resampled with replacement)."""
    from .metrics import success_matrix

    images = rows.image.unique()
    groups = {i: g for i, g in rows.groupby("image")}
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(draws):
        sample = pd.concat([groups[i] for i in rng.choice(images, len(images))])
        values.append(asymmetry_index(success_matrix(sample, classes)))
    values = np.array([v for v in values if np.isfinite(v)])
    low, high = np.quantile(values, [0.025, 0.975]) if len(values) else (np.nan, np.nan)
    return {"index": asymmetry_index(success_matrix(rows, classes)), "ci_low": float(low), "ci_high": float(high),
            "images": len(images), "draws": len(values)}


def asymmetric_pairs(matrix: pd.DataFrame, names=None, top: int = 10) -> pd.DataFrame:
    """Class pairs (a, b) with the largest difference between a -> b and b -> a success rates."""
    m = matrix.to_numpy(dtype=float)
    rows = []
    for a in range(len(m)):
        for b in range(a + 1, len(m)):
            if np.isfinite(m[a, b]) and np.isfinite(m[b, a]):
                rows.append({"a": names[a] if names else a, "b": names[b] if names else b,
                             "a_to_b": m[a, b], "b_to_a": m[b, a], "difference": m[a, b] - m[b, a]})
    df = pd.DataFrame(rows, columns=["a", "b", "a_to_b", "b_to_a", "difference"])
    return df.reindex(df.difference.abs().sort_values(ascending=False).index).head(top).reset_index(drop=True)


def asymmetry_correlation(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rank correlation, between networks, of the antisymmetric parts M - M^T (upper triangle)."""
    parts = {}
    for name, m in matrices.items():
        a = np.nan_to_num(m.to_numpy(dtype=float))
        iu = np.triu_indices(len(a), 1)
        parts[name] = (a - a.T)[iu]
    return pd.DataFrame(parts).corr(method="spearman")


def robust_classes(rows: pd.DataFrame, names) -> pd.DataFrame:
    """Per class: success rate of attacks from it and to it, and their mean, most robust first."""
    from .metrics import attacked_from_to

    df = attacked_from_to(rows, len(names)).set_axis(list(names))
    df["mean"] = df.mean(axis=1)
    return df.sort_values("mean")
