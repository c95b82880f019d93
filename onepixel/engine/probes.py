"""Probes of a model around one-pixel attacks: low-dimensional slices of the input space.

A one-pixel perturbation moves an image along axis-parallel lines (one per colour channel of the
pixel); a k-pixel perturbation within a low-dimensional cube. The slices here evaluate the model
on such lines and planes (through the shared :class:`~onepixel.engine.evaluator.Evaluator`, so incremental
inference applies); :mod:`onepixel.stats.geometry` locates where the predicted class changes.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from onepixel.engine.evaluator import Evaluator, colour_grid


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


def pixel_lines(model: nn.Module, image: torch.Tensor, x: int, y: int, steps: int = 256,
                device: str = "auto") -> pd.DataFrame:
    """:func:`line_slice` along every channel of pixel (x, y) and along the grey axis, one frame
    with a ``channel`` column (r, g, b, grey) and the channel's ``clean`` value (none for grey)."""
    clean = dict(zip("rgb", _pixel(image, x, y).tolist()))
    return pd.concat([line_slice(model, image, x, y, channel, steps, device).assign(
        channel=channel, clean=clean.get(channel, np.nan)) for channel in ("r", "g", "b", "grey")], ignore_index=True)


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


def pixel_planes(model: nn.Module, image: torch.Tensor, x: int, y: int, steps: int = 64,
                 device: str = "auto") -> pd.DataFrame:
    """The two planes through pixel (x, y): its red and green channels ("one pixel"), and its red
    channel against the red channel of its right-hand neighbour (left-hand at the edge; "two
    pixels"). One row per grid point: plane, the pixels, the two values, the predicted class, and
    the clean image's two values."""
    x2 = x + 1 if x < image.shape[2] - 1 else x - 1
    red, green, red2 = (int(v) for v in (*_pixel(image, x, y)[:2], _pixel(image, x2, y)[0]))
    frames = []
    for plane, second, clean in (("one pixel", (x, y, "g"), green), ("two pixels", (x2, y, "r"), red2)):
        values, pred, _ = plane_slice(model, image, (x, y, "r"), second, steps, device)
        first, other = np.meshgrid(values, values, indexing="ij")
        frames.append(pd.DataFrame({"plane": plane, "x": x, "y": y, "x2": second[0], "first": first.ravel(),
                                    "second": other.ravel(), "pred": pred.ravel(), "clean_first": red,
                                    "clean_second": clean}))
    return pd.concat(frames, ignore_index=True)


def colour_cube(model: nn.Module, image: torch.Tensor, label: int, x: int, y: int, levels: int = 16,
                device: str = "auto") -> pd.DataFrame:
    """Every colour of a levels^3 grid over the RGB cube at pixel (x, y): prediction and true-class
    probability, and whether the colour is a cube corner."""

    colours = colour_grid(levels)
    cand = torch.cat([torch.tensor([[x, y]]).repeat(len(colours), 1), colours], 1)[:, None, :]
    probs = Evaluator(model, image[None], device=device).probs(torch.zeros(len(cand), dtype=torch.long), cand)
    df = pd.DataFrame(colours.numpy(), columns=["r", "g", "b"])
    df["pred"] = probs.argmax(1).numpy()
    df["true_prob"] = probs[:, label].numpy()
    df["flips"] = df.pred != label
    df["corner"] = df[["r", "g", "b"]].isin([0, 255]).all(axis=1)
    return df


def replay(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, perturbations: list, ids: torch.Tensor,
           device: str = "auto") -> pd.DataFrame:
    """Each image (float N x C x H x W in [0, 1], named by ``ids``) clean and with its perturbation
    (a list of (x, y, r, g, b)) applied, classified by ``model``: whether the model gets the clean
    image right and is fooled by the changed one."""
    ev = Evaluator(model, images, device=device, incremental=False)
    index = torch.arange(len(images))
    clean = ev.clean_probs(index)
    adv = ev.probs(index, torch.tensor(perturbations, dtype=torch.long))
    correct = clean.argmax(1) == labels
    return pd.DataFrame({"image": ids.numpy(), "label": labels.numpy(), "clean_class": clean.argmax(1).numpy(),
                         "clean_correct": correct.numpy(), "adv_class": adv.argmax(1).numpy(),
                         "adv_prob": adv.max(1).values.numpy(), "true_prob": adv[index, labels].numpy(),
                         "fooled": (correct & (adv.argmax(1) != labels)).numpy()})
