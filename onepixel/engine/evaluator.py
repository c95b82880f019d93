"""The one place where candidates are evaluated.

A candidate is ``k`` perturbations ``(x, y, r, g, b)``: column x, row y, colour r, g, b in 0..255.
Applying it sets those pixels of a uint8-quantised clean image. The DE attack, the exhaustive
search, the slices and the benchmarks all ask an :class:`Evaluator` for probabilities, which
counts every model evaluation exactly.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import warnings
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from torch import nn

from onepixel.engine.incremental.backend import IncrementalBackend, UnsupportedModel


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def check_images(images: torch.Tensor) -> None:
    """Raise ValueError unless ``images`` is a float N x C x H x W tensor in [0, 1]."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a N x C x H x W tensor, got {shape}")
    if not images.is_floating_point():
        raise ValueError(f"images must be float in [0, 1], got dtype {images.dtype} (divide uint8 by 255)")
    if images.numel() and (images.min() < 0 or images.max() > 1 or not torch.isfinite(images).all()):
        raise ValueError(f"images must be in [0, 1], got values in [{images.min():.3g}, {images.max():.3g}]")


def check_labels(labels: torch.Tensor, n: int, classes: int, what: str = "labels") -> None:
    if labels.dim() != 1 or len(labels) != n:
        raise ValueError(f"{what} must have one entry per image ({n}), got shape {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(f"{what} must be in 0..{classes - 1}, got values in [{labels.min()}, {labels.max()}]")


def content_keys(images: torch.Tensor) -> list[int]:
    """A 63-bit digest of each image's uint8-quantised pixels: names an image by what it is, not by
    where it sits in a batch (the random stream of an attack when the caller gives no ids)."""
    quantised = (images.detach().cpu().float() * 255).round().to(torch.uint8).numpy()
    return [int.from_bytes(hashlib.sha256(q.tobytes()).digest()[:8], "little") >> 1 for q in quantised]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode for the duration, each submodule's own mode restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


def on_device(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` itself when its parameters and buffers are on ``device``, else a copy moved there
    (the caller's model is never moved)."""
    tensors = [*model.parameters(), *model.buffers()]
    if all(t.device.type == device.type and (device.index is None or t.device == device) for t in tensors):
        return model
    return copy.deepcopy(model).to(device)


def round_candidates(candidates: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Round (x, y, r, g, b) to integers; coordinates clipped into the image, colours to 0..255."""
    c = candidates.round().long()
    return torch.stack([c[..., 0].clamp(0, width - 1), c[..., 1].clamp(0, height - 1),
                        c[..., 2].clamp(0, 255), c[..., 3].clamp(0, 255), c[..., 4].clamp(0, 255)], -1)


def apply_candidates(images: torch.Tensor, image_idx: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Copies of ``images[image_idx]`` with each row's pixels set; ``candidates`` are rounded ints (M, k, 5)."""
    x = images[image_idx].clone()
    rows = torch.arange(len(x), device=x.device)
    for j in range(candidates.shape[1]):
        c = candidates[:, j]
        x[rows, :, c[:, 1], c[:, 0]] = c[:, 2:5].to(x.dtype) / 255
    return x


def probe_candidates(n: int, height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Eight fixed one-pixel candidates (corners, centre, random) spread over ``n`` images."""
    g = torch.Generator().manual_seed(0)
    xs = torch.tensor([0, width - 1, 0, width - 1, width // 2, *torch.randint(0, width, (3,), generator=g)])
    ys = torch.tensor([0, 0, height - 1, height - 1, height // 2, *torch.randint(0, height, (3,), generator=g)])
    rgb = torch.randint(0, 256, (8, 3), generator=g)
    cand = torch.cat([xs[:, None], ys[:, None], rgb], 1)[:, None]
    return (torch.arange(8) % n).to(device), cand.to(device)


class Evaluator:
    """Class probabilities of perturbed copies of a fixed set of clean images.

    ``images`` (N x 3 x H x W, float [0, 1]) are quantised to uint8 once. ``probs(idx, cand)``
    evaluates candidate ``cand[m]`` on image ``idx[m]`` in chunks of ``batch_size`` and adds the
    number of candidates to ``evaluations``. ``incremental`` ("auto", True or False) uses the
    backend of :mod:`onepixel.engine.incremental`, which recomputes only what the changed pixels reach.
    It traces a copy of the model; "auto" falls back to dense forwards, with one warning naming the
    reason, whenever that copy cannot be carried or its logits disagree with the model's on probe
    candidates, and silently where the tuned cutoff is 1 (incremental measured no faster than dense);
    ``incremental=True`` raises instead. Dense forwards call the caller's model in eval mode and
    restore its modes afterwards; the model is never modified (a copy runs if it lives on another device).
    """

    def __init__(self, model: nn.Module, images: torch.Tensor, batch_size: int | None = None,
                 device: str | torch.device = "auto", incremental: bool | str = "auto"):
        check_images(images)
        self.device = resolve_device(device)
        if incremental not in (True, False, "auto"):
            raise ValueError(f"incremental must be True, False or 'auto', got {incremental!r}")
        self.model = on_device(model, self.device)
        self.images = (images.to(self.device) * 255).round() / 255
        self.height, self.width = images.shape[-2:]
        self.batch_size = batch_size or (4096 if self.device.type == "cuda" else 400)
        self.evaluations = 0
        self.classes = 0  # known after the first model call
        self.backend = None
        if incremental:
            self.backend = self._incremental_backend(incremental)

    def _incremental_backend(self, incremental: bool | str):
        """The incremental backend on a private copy of the model, checked against dense forwards
        of that copy on probe candidates; None (with a warning under "auto") when it cannot run."""
        name = type(self.model).__name__
        try:
            twin = copy.deepcopy(self.model).eval()
            backend = IncrementalBackend(twin, self.images)
            idx, cand = probe_candidates(len(self.images), self.height, self.width, self.device)
            with torch.inference_mode():
                dense = twin(apply_candidates(self.images, idx, cand))
                fast, clash = backend.logits(idx, cand)
            if not isinstance(fast, torch.Tensor) or fast.shape != dense.shape:
                raise UnsupportedModel(f"the traced model's output is not a N x classes tensor like {name}'s")
            gap = (fast.float().softmax(1) - dense.float().softmax(1)).abs().max().item()
            if not gap <= 1e-4:
                raise UnsupportedModel(f"the traced copy's probabilities differ from {name}'s by {gap:.2g} "
                                       "(control flow on tensor values?)")
        except Exception as e:  # any failure to trace, carry or reproduce the model
            reason = f"{type(e).__name__}: {e}".strip().splitlines()[0][:300]
            if incremental is True:
                raise UnsupportedModel(f"incremental inference cannot carry {name} ({reason}); "
                                       "use incremental='auto' or False for dense forwards") from e
            warnings.warn(f"incremental inference is off for {name}, using dense forwards: {reason}",
                          stacklevel=4)
            return None
        return None if incremental == "auto" and backend.cutoff <= 1 else backend

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with eval_mode(self.model):
            return self._check(self.model(x.contiguous(memory_format=torch.channels_last)), len(x))

    def _check(self, logits: torch.Tensor, n: int) -> torch.Tensor:
        if not isinstance(logits, torch.Tensor):
            raise ValueError(f"model output must be a N x classes tensor of logits, got {type(logits).__name__}")
        if logits.dim() != 2 or logits.shape[0] != n:
            raise ValueError(f"model output must be N x classes, got {tuple(logits.shape)} for {n} images")
        if not torch.isfinite(logits).all():
            raise ValueError("model output contains NaN or infinite values")
        self.classes = logits.shape[1]
        return logits

    @torch.inference_mode()
    def probs(self, image_idx: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        """Probabilities (M x classes, float32, on CPU) of rounded candidates (M x k x 5)."""
        image_idx = torch.as_tensor(image_idx, device=self.device)
        candidates = round_candidates(torch.as_tensor(candidates, device=self.device), self.height, self.width)
        out = []
        cutoff = self.backend.cutoff_for(candidates.shape[1]) if self.backend is not None else 1
        for s in range(0, len(image_idx), self.batch_size):
            idx, cand = image_idx[s:s + self.batch_size], candidates[s:s + self.batch_size]
            if cutoff <= 1:
                logits = self._forward(apply_candidates(self.images, idx, cand))
            else:
                logits, clash = self.backend.logits(idx, cand, cutoff)
                logits = self._check(logits, len(idx))
                if clash.any():  # k-pixel candidates whose pixels interact: dense forward
                    logits[clash] = self._forward(apply_candidates(self.images, idx[clash], cand[clash]))
            out.append(logits.float().softmax(1).cpu())
            self.evaluations += len(idx)
        return torch.cat(out) if out else torch.empty(0, self.classes)

    @torch.inference_mode()
    def clean_probs(self, image_idx: torch.Tensor) -> torch.Tensor:
        """Probabilities of the (quantised) clean images; counted as evaluations."""
        image_idx = torch.as_tensor(image_idx, device=self.device)
        out = [self._forward(self.images[image_idx[s:s + self.batch_size]]).float().softmax(1).cpu()
               for s in range(0, len(image_idx), self.batch_size)]
        self.evaluations += len(image_idx)
        return torch.cat(out) if out else torch.empty(0, self.classes)


def colour_grid(levels: int = 2) -> torch.Tensor:
    """``levels``^3 colours evenly spaced over 0..255 per channel (levels=2: the 8 cube corners)."""
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    values = np.linspace(0, 255, levels).round().astype(np.int64)
    return torch.tensor(list(itertools.product(values, repeat=3)))
