"""Incremental inference: logits of one-pixel (or few-pixel) candidates without a full forward pass.

A candidate differs from its clean image in a few pixels, so most activations of the first layers
equal the clean image's. The model is traced with torch.fx, batch norms are folded into the
convolutions before them, and the clean activations of every node are cached once. A candidate is
then carried as a *window*: the values of a small rectangle of each activation map (fixed size per
node, clamped inside the map) that covers everything the changed pixel can reach. Spatial layers
(convolution, max/average pooling, zero padding, strided subsampling) recompute their window from
a crop of the cached clean input with the changed window written in; pointwise layers apply to the
window; additions and channel concatenations align their operands' windows first. From the
*cutoff* node on, windows are written into copies of the clean maps and the rest of the network
runs densely. The cutoff is chosen by measurement per model, device and input size.

Nodes that it cannot carry as windows (anything not listed above) make the dense switch happen
before them, so results are never silently wrong; :class:`UnsupportedModel` is raised when not even
the first layer can be carried. k-pixel candidates run one window per pixel; a candidate whose
windows meet before the cutoff is run again with the dense switch just before the node where they
met, and densely from the input only when they already overlap there.
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import operator
import time
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

from .storage import atomic_text, cache_dir


class UnsupportedModel(ValueError):
    """The model has no prefix that incremental inference can carry."""


POINTWISE_MODULES = (nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU, nn.SiLU, nn.Sigmoid,
                     nn.Hardswish, nn.Dropout, nn.Identity)
POINTWISE_FUNCTIONS = (F.relu, torch.relu, F.relu6, F.silu, torch.sigmoid)
ARITHMETIC = (operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub, torch.mul)


def fold_batchnorm(gm: fx.GraphModule) -> fx.GraphModule:
    """Fold every eval-mode BatchNorm2d into the convolution that alone feeds it."""
    for node in list(gm.graph.nodes):
        if node.op != "call_module" or not isinstance(gm.get_submodule(node.target), nn.BatchNorm2d):
            continue
        src = node.args[0]
        if not isinstance(src, fx.Node) or len(src.users) != 1:
            continue
        conv = _as_conv(gm, src)
        if conv is None:
            continue
        bn = gm.get_submodule(node.target)
        w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                    bn.weight, bn.bias)
        conv.weight, conv.bias = w, b
        name = f"folded_{src.name}"
        gm.add_submodule(name, conv)
        with gm.graph.inserting_after(src):
            new = gm.graph.call_module(name, (src.args[0],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
        gm.graph.erase_node(src)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


def _as_conv(gm: fx.GraphModule, node: fx.Node) -> nn.Conv2d | None:
    """A fresh nn.Conv2d equal to a conv node (module, or F.conv2d on attributes), else None."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if type(m) is not nn.Conv2d or m.padding_mode != "zeros":
            return None
        c = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                      bias=m.bias is not None)
        c.load_state_dict(m.state_dict())
        return c
    if node.op == "call_function" and node.target in (F.conv2d, torch.conv2d):
        args = list(node.args) + [None] * (7 - len(node.args))
        x, w, b, stride, padding, dilation, groups = args
        if not isinstance(w, fx.Node) or w.op != "get_attr" or (b is not None and b.op != "get_attr"):
            return None
        if any(k in node.kwargs for k in ("weight", "bias")) or isinstance(padding, str):
            return None
        weight = _attr(gm, w.target)
        c = nn.Conv2d(weight.shape[1] * (groups or 1), weight.shape[0], weight.shape[2:], stride or 1,
                      padding or 0, dilation or 1, groups or 1, bias=b is not None)
        c.weight.data.copy_(weight)
        if b is not None:
            c.bias.data.copy_(_attr(gm, b.target))
        return c
    return None


def _attr(gm: fx.GraphModule, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


@dataclass
class Spatial:
    """A sliding-window op: kernel, stride, top/left padding, value of the padding, op on a crop."""
    k: tuple[int, int]
    s: tuple[int, int]
    p: tuple[int, int]
    pad_value: float
    fn: object
    weight: torch.Tensor | None = None


@dataclass
class Window:
    """Rows of values ``v`` (M x C x h x w) at top-left (r, c) of an activation map of node ``node``."""
    v: torch.Tensor
    r: torch.Tensor
    c: torch.Tensor
    node: fx.Node


def _spatial(gm: fx.GraphModule, node: fx.Node) -> Spatial | None:
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if type(m) is nn.Conv2d and m.padding_mode == "zeros" and _pair(m.dilation) == (1, 1) \
                and not isinstance(m.padding, str):
            return Spatial(_pair(m.kernel_size), _pair(m.stride), _pair(m.padding), 0.0,
                           lambda x, m=m: F.conv2d(x, m.weight, m.bias, m.stride, 0, 1, m.groups), m.weight)
        if type(m) is nn.MaxPool2d and _pair(m.dilation) == (1, 1) and not m.return_indices:
            k = _pair(m.kernel_size)
            s = _pair(m.stride or m.kernel_size)
            return Spatial(k, s, _pair(m.padding), -math.inf, lambda x, k=k, s=s: F.max_pool2d(x, k, s))
        if type(m) is nn.AvgPool2d and m.count_include_pad and not m.ceil_mode and m.divisor_override is None:
            k = _pair(m.kernel_size)
            s = _pair(m.stride or m.kernel_size)
            return Spatial(k, s, _pair(m.padding), 0.0, lambda x, k=k, s=s: F.avg_pool2d(x, k, s))
    if node.op == "call_function" and node.target is operator.getitem and _is_subsample(node.args[1]):
        s = (node.args[1][2].step or 1, node.args[1][3].step or 1)
        return Spatial((1, 1), s, (0, 0), 0.0, lambda x, s=s: x[:, :, ::s[0], ::s[1]])
    return None


def _is_subsample(idx) -> bool:
    return (isinstance(idx, tuple) and len(idx) == 4 and all(isinstance(i, slice) for i in idx)
            and all(i.start is None and i.stop is None for i in idx) and idx[0].step is None and idx[1].step is None)


def _zero_pad(gm: fx.GraphModule, node: fx.Node) -> tuple[int, int] | None:
    """(top, left) of a ZeroPad2d node; its window keeps its values and shifts."""
    if node.op == "call_module" and type(gm.get_submodule(node.target)) is nn.ZeroPad2d:
        left, _, top, _ = gm.get_submodule(node.target).padding
        return top, left
    return None


def _pointwise(gm: fx.GraphModule, node: fx.Node, windowed: set) -> bool:
    """Whether ``node`` acts on each position independently, with one windowed tensor input."""
    ins = [a for a in node.all_input_nodes if a in windowed]
    if len(ins) != 1:
        return False
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), POINTWISE_MODULES)
    if node.op == "call_function" and node.target in POINTWISE_FUNCTIONS:
        return True
    if node.op == "call_function" and node.target in ARITHMETIC:
        return all(not isinstance(a, fx.Node) or a in windowed or a.op == "get_attr" for a in node.args)
    if node.op == "call_method" and node.target == "flip":
        return tuple(node.args[1:]) in ((1,), ([1],), ((1,),))
    if node.op == "call_function" and node.target is F.pad:
        pad = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
        return len(pad) == 6 and tuple(pad[:4]) == (0, 0, 0, 0)
    return False


def _binary(node: fx.Node, windowed: set) -> str | None:
    if node.op == "call_function" and node.target in (operator.add, torch.add) and len(node.args) == 2 \
            and all(a in windowed for a in node.args) and not node.kwargs:
        return "add"
    if node.op == "call_function" and node.target is torch.cat and node.kwargs.get("dim", node.args[1]
                                                                                    if len(node.args) > 1 else 0) == 1 \
            and all(a in windowed for a in node.args[0]):
        return "cat"
    return None


def _run_node(gm: fx.GraphModule, node: fx.Node, env: dict):
    args = fx.node.map_arg(node.args, lambda n: env[n])
    kwargs = fx.node.map_arg(node.kwargs, lambda n: env[n])
    if node.op == "call_module":
        return gm.get_submodule(node.target)(*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    if node.op == "get_attr":
        return _attr(gm, node.target)
    raise ValueError(f"unexpected node {node.op}")


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


class IncrementalBackend:
    """Logits of candidates on ``images`` (N x 3 x H x W, float [0, 1], quantised) by windows.

    It traces a copy of ``model``; the model itself is neither called nor changed.
    ``cutoff``: index in the traced graph's node list from which the network runs densely;
    None chooses it by timing ``probe`` candidates at each possible cutoff (cached per model).
    """

    _cutoff_cache: dict = {}

    def __init__(self, model: nn.Module, images: torch.Tensor, cutoff: int | None = None, probe: int = 64):
        model = copy.deepcopy(model).eval()  # tracing runs forward on proxies: never on the caller's module
        try:
            gm = fx.GraphModule(model, fx.Tracer().trace(model))
        except Exception as e:
            raise UnsupportedModel(f"cannot trace {type(model).__name__} with torch.fx: {e}") from None
        self.gm = fold_batchnorm(gm)
        self.nodes = list(self.gm.graph.nodes)
        self.images = images
        self.device = images.device
        self.height, self.width = images.shape[-2:]
        self._plan()
        if self.limit <= 1:
            raise UnsupportedModel(f"{type(model).__name__}: the first layer cannot be carried incrementally")
        self.clean = self._clean_maps()
        self._count = None
        self.probe = probe
        self.cutoff = self._tuned_cutoff(probe) if cutoff is None else cutoff
        self._fixed = cutoff is not None
        self._cutoffs = {1: self.cutoff}

    def cutoff_for(self, pixels: int) -> int:
        """The cutoff for ``pixels``-pixel candidates: the 1-pixel one, or for k > 1 the fastest
        measured with k-pixel candidates, counting the dense recomputation of those whose windows
        meet (1, dense, when no cutoff beats it)."""
        if pixels not in self._cutoffs:
            self._cutoffs[pixels] = self.cutoff if self._fixed else self._tuned_cutoff(self.probe, pixels)
        return self._cutoffs[pixels]

    def _tuned_cutoff(self, probe: int, pixels: int = 1) -> int:
        """The measured best cutoff, remembered per graph, input size, device, thread count and
        pixels per candidate (in memory and in the cache folder, so each machine measures once)."""
        k = f"|{pixels} pixels, regrouped" if pixels > 1 else ""
        key = hashlib.sha256(f"{self.gm.graph}|{tuple(self.images.shape[1:])}|{self.device.type}|"
                             f"{torch.get_num_threads()}|{torch.__version__}|{probe}|margin, dense retimed, sparse merge{k}".encode()).hexdigest()[:20]
        if key not in self._cutoff_cache:
            path = cache_dir() / "incremental-cutoffs.json"
            stored = json.loads(path.read_text()) if path.exists() else {}
            if key not in stored:
                stored[key] = self.tune(probe, pixels=pixels)[0]
                atomic_text(path, json.dumps(stored))
            self._cutoff_cache[key] = stored[key]
        return self._cutoff_cache[key]

    def _plan(self) -> None:
        """Classify nodes; ``limit`` is the first node that cannot be carried as a window."""
        windowed: set = set()
        self.kind: dict = {}
        placeholder = self.nodes[0]
        self.limit = len(self.nodes)
        for i, node in enumerate(self.nodes):
            if node.op == "placeholder":
                if node is not placeholder:
                    self.limit = i
                    break
                self.kind[node] = ("input",)
                windowed.add(node)
                continue
            if node.op == "get_attr":
                self.kind[node] = ("attr",)
                continue
            if node.op == "call_method" and node.target == "size" and node.args[1:] == (0,):
                self.kind[node] = ("batch",)
                continue
            sp = _spatial(self.gm, node)
            ins = [a for a in node.all_input_nodes if a in windowed]
            if sp is not None and len(ins) == 1 and node.args[0] is ins[0]:
                self.kind[node] = ("spatial", sp)
            elif _zero_pad(self.gm, node) is not None and ins and node.args[0] is ins[0]:
                self.kind[node] = ("shift", _zero_pad(self.gm, node))
            elif _pointwise(self.gm, node, windowed):
                self.kind[node] = ("pointwise",)
            elif _binary(node, windowed):
                self.kind[node] = (_binary(node, windowed),)
            else:
                self.limit = i
                break
            windowed.add(node)
        self.windowed = windowed

    @torch.inference_mode()
    def _clean_maps(self) -> dict:
        """Clean activations (NHWC copies) of every windowed node, padded as the spatial ops read them."""
        env, maps = {}, {}
        self.shape: dict = {}  # node -> (H, W) of its activation map
        for node in self.nodes[:self.limit]:
            env[node] = self.images if node.op == "placeholder" else _run_node(self.gm, node, env)
            if node in self.windowed:  # copy now: a later in-place op may overwrite env[node]
                self.shape[node] = tuple(env[node].shape[-2:])
                maps[node] = {(0, 0, 0, 0, 0.0): env[node].permute(0, 2, 3, 1).clone(
                    memory_format=torch.contiguous_format)}
        for node in self.nodes[:self.limit]:
            if self.kind[node][0] == "spatial":
                src = node.args[0]
                key = self._pad_key(node)
                if key not in maps[src]:
                    nhwc = maps[src][(0, 0, 0, 0, 0.0)]
                    maps[src][key] = F.pad(nhwc, (0, 0, key[1], key[3], key[0], key[2]), value=key[4])
        return maps

    def _pad_key(self, node: fx.Node) -> tuple:
        """(top, left, bottom, right, value) padding of the clean input map that ``node`` crops."""
        sp = self.kind[node][1]
        H, W = self.shape[node.args[0]]
        Ho, Wo = self.shape[node]
        bottom = max(0, (Ho - 1) * sp.s[0] - sp.p[0] + sp.k[0] - H)
        right = max(0, (Wo - 1) * sp.s[1] - sp.p[1] + sp.k[1] - W)
        return sp.p[0], sp.p[1], bottom, right, sp.pad_value

    def _realign(self, win: Window, img, r, c, h, w, pad=(0, 0, 0, 0, 0.0)) -> torch.Tensor:
        """Window (h x w at r, c) of ``win``'s node: clean values with ``win`` written in."""
        self._check_clash(win, r, c, h, w)
        crop = _gather(self.clean[win.node][pad], img, r, c, h, w, pad[:2])
        return _paste(crop, r, c, win)

    def _counted(self, win: Window, sp: Spatial) -> Window:
        """Add a windowed convolution's multiply-accumulates to the count :meth:`macs` keeps."""
        if self._count is not None and sp.weight is not None:
            self._count["windowed"] += win.v.numel() * sp.weight[0].numel()
        return win

    def _check_clash(self, win: Window, r, c, h, w) -> None:
        """Mark candidates whose row reads a region that a sibling pixel's window has changed."""
        k = self._k
        if k == 1:
            return
        rows = lambda t: t.view(-1, k)  # noqa: E731
        hv, wv = win.v.shape[2:]
        r0, c0, r1, c1 = rows(r), rows(c), rows(win.r), rows(win.c)
        meet = ((r0[:, :, None] < r1[:, None, :] + hv) & (r1[:, None, :] < r0[:, :, None] + h)
                & (c0[:, :, None] < c1[:, None, :] + wv) & (c1[:, None, :] < c0[:, :, None] + w))
        meet &= ~torch.eye(k, dtype=torch.bool, device=meet.device)
        self._first = torch.where(meet.any(2).any(1), self._first.clamp(max=self._at), self._first)

    def _step(self, node: fx.Node, env: dict, img: torch.Tensor) -> Window:
        kind = self.kind[node]
        H, W = self.shape[node]
        if kind[0] == "pointwise":
            src = next(a for a in node.all_input_nodes if isinstance(env[a], Window))
            env2 = dict(env)
            env2[src] = env[src].v
            if getattr(self.gm.get_submodule(node.target) if node.op == "call_module" else None, "inplace", False):
                env2[src] = env2[src].clone()
            return Window(_run_node(self.gm, node, env2), env[src].r, env[src].c, node)
        if kind[0] == "shift":
            src = env[node.args[0]]
            return Window(src.v, src.r + kind[1][0], src.c + kind[1][1], node)
        if kind[0] == "spatial":
            src, sp = env[node.args[0]], kind[1]
            if sp.k == (1, 1) and sp.s == (1, 1) and sp.p == (0, 0):  # pointwise in space: no context
                return self._counted(Window(sp.fn(src.v), src.r, src.c, node), sp)
            hs, ws = src.v.shape[2:]
            h, w = min(H, (hs + sp.k[0] - 2) // sp.s[0] + 1), min(W, (ws + sp.k[1] - 2) // sp.s[1] + 1)
            r = (-((-(src.r + sp.p[0] - sp.k[0] + 1)) // sp.s[0])).clamp(0, H - h)
            c = (-((-(src.c + sp.p[1] - sp.k[1] + 1)) // sp.s[1])).clamp(0, W - w)
            crop = self._realign(src, img, r * sp.s[0] - sp.p[0], c * sp.s[1] - sp.p[1],
                                 (h - 1) * sp.s[0] + sp.k[0], (w - 1) * sp.s[1] + sp.k[1], self._pad_key(node))
            return self._counted(Window(sp.fn(crop), r, c, node), sp)
        ins = [env[a] for a in (node.args if kind[0] == "add" else node.args[0])]
        lo_r = torch.stack([x.r for x in ins]).min(0).values
        lo_c = torch.stack([x.c for x in ins]).min(0).values
        h = min(H, int(max((x.r + x.v.shape[2] - lo_r).max() for x in ins)))
        w = min(W, int(max((x.c + x.v.shape[3] - lo_c).max() for x in ins)))
        r, c = lo_r.clamp(0, H - h), lo_c.clamp(0, W - w)
        parts = [self._realign(x, img, r, c, h, w) for x in ins]
        return Window(parts[0] + parts[1] if kind[0] == "add" else torch.cat(parts, 1), r, c, node)

    @torch.inference_mode()
    def logits(self, image_idx: torch.Tensor, candidates: torch.Tensor,
               cutoff: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (M x classes) of rounded candidates (M x k x 5) on ``images[image_idx]``, and a mask
        of the k-pixel candidates whose logits must be recomputed densely.

        A k-pixel candidate whose pixels' windows meet at some node before the cutoff is run again
        with the dense switch just before that node (all candidates that meet at one node together);
        only those whose windows already overlap there are left to the dense forward."""
        cutoff = max(1, min(self.cutoff if cutoff is None else cutoff, self.limit))
        logits, first = self._pass(image_idx, candidates, cutoff)
        dense = first == 0
        for node in first[(first > 0) & (first < cutoff)].unique().tolist():
            group = (first == node).nonzero().squeeze(1)
            logits[group], again = self._pass(image_idx[group], candidates[group], node)
            dense[group] = again < node
        return logits, dense

    def _pass(self, image_idx: torch.Tensor, candidates: torch.Tensor, cutoff: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits with the dense switch at ``cutoff``, and per candidate the first node at which its
        pixels' windows met (``cutoff`` when they never did, 0 when they overlap at the switch).
        Candidates whose windows met are not run past the switch (their logits rows are zeros)."""
        m, k = candidates.shape[:2]
        self._k = k
        self._first = torch.full((m,), cutoff, dtype=torch.long, device=candidates.device)
        img = image_idx.repeat_interleave(k)
        flat = candidates.reshape(m * k, 5)
        rgb = flat[:, 2:5].to(self.images.dtype).div(255)[:, :, None, None]
        env: dict = {}
        for i, node in enumerate(self.nodes[:cutoff]):
            kind = self.kind[node][0]
            if kind == "input":
                env[node] = Window(rgb, flat[:, 1], flat[:, 0], node)
            elif kind == "attr":
                env[node] = _attr(self.gm, node.target)
            elif kind == "batch":
                env[node] = m
            else:
                self._at = i
                env[node] = self._step(node, env, img)
        keep = (self._first == cutoff).nonzero().squeeze(1)
        if len(keep) < m:  # the others are run again from where their windows met
            rows = (keep[:, None] * k + torch.arange(k, device=keep.device)).flatten()
            img = img[rows]
            for node, value in env.items():
                if isinstance(value, Window):
                    env[node] = Window(value.v[rows], value.r[rows], value.c[rows], node)
                elif self.kind[node][0] == "batch":
                    env[node] = len(keep)
        for node in self.nodes[cutoff:]:
            for a in node.all_input_nodes:
                if isinstance(env[a], Window):
                    env[a], overlap = self._merge(env[a], img, len(keep), k)
                    self._first[keep[overlap]] = 0
            if node.op == "output":
                out = env[node.args[0]]
                if len(keep) < m:
                    if not isinstance(out, torch.Tensor):
                        raise UnsupportedModel("the traced model's output is not a tensor")
                    full = out.new_zeros((m, *out.shape[1:]))
                    full[keep] = out
                    out = full
                return out, self._first
            env[node] = _run_node(self.gm, node, env)
        raise RuntimeError("graph has no output")

    def _merge(self, win: Window, img, m: int, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Dense maps (M x C x H x W, channels_last) with each candidate's k windows written into a
        copy of its clean map (only the windows' elements are written), and a mask of the candidates
        whose windows overlap (their maps are wrong)."""
        parts = [(win.v[j::k], win.r[j::k], win.c[j::k]) for j in range(k)]
        overlap = torch.zeros(m, dtype=torch.bool, device=win.r.device)
        for j, (v, r, c) in enumerate(parts):
            for v2, r2, c2 in parts[j + 1:]:
                overlap |= (r < r2 + v2.shape[2]) & (r2 < r + v.shape[2]) & (c < c2 + v2.shape[3]) & (c2 < c + v.shape[3])
        dense = self.clean[win.node][(0, 0, 0, 0, 0.0)][img[0::k]]  # a copy: M x H x W x C
        dev = win.r.device
        hv, wv = win.v.shape[2:]
        rows = win.r[:, None] + torch.arange(hv, device=dev)  # windows lie inside their maps
        cols = win.c[:, None] + torch.arange(wv, device=dev)
        owner = torch.arange(m, device=dev).repeat_interleave(k)
        dense[owner[:, None, None], rows[:, :, None], cols[:, None, :]] = win.v.permute(0, 2, 3, 1)
        return dense.permute(0, 3, 1, 2), overlap

    def tune(self, probe: int = 64, repeats: int = 2, margin: float = 0.9, pixels: int = 1) -> tuple[int, dict]:
        """Time ``probe`` random ``pixels``-pixel candidates at 1 (dense) and at each cutoff before a
        spatial, add or concat node (switching before a cheap op never pays), once each; then time
        the three fastest and dense ``repeats`` times more (each keeps its best time, so dense is
        judged on as many runs as its rivals). Returns the fastest cutoff, or 1 (dense) when it is
        not faster than dense by ``margin`` (a gain inside timing noise is none), and all timings (s)."""
        g = torch.Generator().manual_seed(0)
        n = len(self.images)
        cand = torch.stack([torch.randint(0, self.width, (probe, pixels), generator=g),
                            torch.randint(0, self.height, (probe, pixels), generator=g),
                            *torch.randint(0, 256, (3, probe, pixels), generator=g)], -1).to(self.device)
        idx = torch.randint(0, n, (probe,), generator=g).to(self.device)

        def seconds(cutoff: int) -> float:
            t0 = time.perf_counter()
            _, clash = self.logits(idx, cand, cutoff)
            if clash.any():  # candidates whose windows met: recomputed densely, as the Evaluator does
                self.logits(idx[clash], cand[clash], 1)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - t0

        seconds(self.limit)  # warm-up
        timings = {c: seconds(c) for c in range(1, self.limit + 1)
                   if c in (1, self.limit) or self.kind[self.nodes[c]][0] in ("spatial", "add", "cat")}
        for c in {1, *sorted(timings, key=timings.get)[:3]}:
            timings[c] = min([timings[c]] + [seconds(c) for _ in range(repeats)])
        best = min(timings, key=timings.get)
        return (best if timings[best] < margin * timings[1] else 1), timings

    def macs(self, cutoff: int | None = None) -> dict:
        """Multiply-accumulates of convolutions and linear layers for one central one-pixel
        candidate: the windowed part, the dense part after the cutoff, and a full dense pass.
        Their ratio bounds the speedup that fewer operations alone can give."""
        counts = {"windowed": 0, "dense": 0}
        target = {"key": "dense"}

        def hook(m, inputs, out):
            per_out = m.weight[0].numel() if isinstance(m, nn.Conv2d) else m.in_features
            counts[target["key"]] += out.numel() * per_out
        modules = [m for m in self.gm.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        handles = [m.register_forward_hook(hook) for m in modules]
        cand = torch.tensor([[[self.width // 2, self.height // 2, 255, 0, 0]]], device=self.device)
        idx = torch.zeros(1, dtype=torch.long, device=self.device)
        try:
            self._count = counts
            self.logits(idx, cand, cutoff)
            windowed_and_dense = dict(counts)
            counts.update(windowed=0, dense=0)
            self.logits(idx, cand, 1)
        finally:
            self._count = None
            for h in handles:
                h.remove()
        total = counts["dense"]
        used = windowed_and_dense["windowed"] + windowed_and_dense["dense"]
        return {**{f"{k}_macs": v for k, v in windowed_and_dense.items()}, "dense_pass_macs": total,
                "mac_ratio": total / used}
