"""The one place where candidates are evaluated.

A candidate is ``k`` perturbations ``(x, y, r, g, b)``: column x, row y, colour r, g, b in 0..255.
Applying it sets those pixels of a uint8-quantised clean image. The DE attack, the exhaustive
search, the slices and the benchmarks all ask an :class:`Evaluator` for probabilities, which
counts every model evaluation exactly.
"""
from __future__ import annotations

import torch
from torch import nn


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


class Evaluator:
    """Class probabilities of perturbed copies of a fixed set of clean images.

    ``images`` (N x 3 x H x W, float [0, 1]) are quantised to uint8 once. ``probs(idx, cand)``
    evaluates candidate ``cand[m]`` on image ``idx[m]`` in chunks of ``batch_size`` and adds the
    number of candidates to ``evaluations``. ``incremental`` ("auto", True or False) uses the
    backend of :mod:`onepixel.incremental`, which recomputes only what the changed pixels reach;
    "auto" falls back to dense forwards for models it cannot carry and for those where the tuned
    cutoff is 1 (incremental inference measured no faster than dense).
    """

    def __init__(self, model: nn.Module, images: torch.Tensor, batch_size: int | None = None,
                 device: str | torch.device = "auto", incremental: bool | str = "auto"):
        check_images(images)
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.images = (images.to(self.device) * 255).round() / 255
        self.height, self.width = images.shape[-2:]
        self.batch_size = batch_size or (4096 if self.device.type == "cuda" else 400)
        self.evaluations = 0
        self.classes = 0  # known after the first model call
        self.backend = None
        if incremental:
            from .incremental import IncrementalBackend, UnsupportedModel

            try:
                self.backend = IncrementalBackend(self.model, self.images)
            except UnsupportedModel:
                if incremental is True:
                    raise
            if incremental == "auto" and self.backend is not None and self.backend.cutoff <= 1:
                self.backend = None

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._check(self.model(x.contiguous(memory_format=torch.channels_last)), len(x))

    def _check(self, logits: torch.Tensor, n: int) -> torch.Tensor:
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
        for s in range(0, len(image_idx), self.batch_size):
            idx, cand = image_idx[s:s + self.batch_size], candidates[s:s + self.batch_size]
            if self.backend is None:
                logits = self._forward(apply_candidates(self.images, idx, cand))
            else:
                logits, clash = self.backend.logits(idx, cand)
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
