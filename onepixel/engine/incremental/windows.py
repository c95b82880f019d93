"""Windows: the changed rectangle of an activation map, carried per candidate, and the two
operations on them: crops of the clean maps and pasting a window into a crop."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.fx as fx


@dataclass
class Window:
    """Rows of values ``v`` (M x C x h x w) at top-left (r, c) of an activation map of node ``node``."""
    v: torch.Tensor
    r: torch.Tensor
    c: torch.Tensor
    node: fx.Node


def _gather(clean_nhwc: torch.Tensor, img: torch.Tensor, r: torch.Tensor, c: torch.Tensor, h: int, w: int,
            pad: tuple[int, int]) -> torch.Tensor:
    """Crops (M x C x h x w, channels_last) of padded clean maps at top-left (r, c) (unpadded coordinates)."""
    dev = clean_nhwc.device
    rows = (r + pad[0])[:, None] + torch.arange(h, device=dev)
    cols = (c + pad[1])[:, None] + torch.arange(w, device=dev)
    return clean_nhwc[img[:, None, None], rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def _paste(crop: torch.Tensor, r: torch.Tensor, c: torch.Tensor, win: Window) -> torch.Tensor:
    """``crop`` (top-left r, c) with the part of ``win`` that falls inside it written in."""
    m, _, h, w = crop.shape
    dev = crop.device
    ri = r[:, None] - win.r[:, None] + torch.arange(h, device=dev)   # row of win.v for each crop row
    ci = c[:, None] - win.c[:, None] + torch.arange(w, device=dev)
    hw, ww = win.v.shape[2:]
    inside = ((ri >= 0) & (ri < hw))[:, :, None] & ((ci >= 0) & (ci < ww))[:, None, :]
    vals = win.v.permute(0, 2, 3, 1)[torch.arange(m, device=dev)[:, None, None],
                                      ri.clamp(0, hw - 1)[:, :, None], ci.clamp(0, ww - 1)[:, None, :]]
    return torch.where(inside[:, None], vals.permute(0, 3, 1, 2), crop)


