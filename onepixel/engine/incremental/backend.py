"""The incremental backend: logits of few-pixel candidates computed window by window up to a
cutoff node, densely after it (see the package docstring). About 300 lines: one rule per kind of
graph node (convolution, pooling, elementwise, concatenation, the dense switch) and the k-pixel
regrouping; split further, a reader would chase one forward pass across files."""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from onepixel.storage import atomic_text, cache_dir

from .graph import Spatial, UnsupportedModel, _attr, _binary, _pointwise, _run_node, _spatial, _zero_pad, fold_batchnorm
from .tuning import tune
from .windows import Window, _gather, _paste

_CUTOFFS: dict = {}  # measured cutoffs of this process, by key (see IncrementalBackend._tuned_cutoff)


@dataclass
class _Call:
    """The state of one pass: pixels per candidate, the node being computed, per candidate the first
    node at which its pixels' windows met, and (for :meth:`IncrementalBackend.macs`) a count of the
    windowed multiply-accumulates."""
    k: int
    first: torch.Tensor
    at: int = 0
    count: dict | None = None


class IncrementalBackend:
    """Logits of candidates on ``images`` (N x 3 x H x W, float [0, 1], quantised) by windows.

    It traces a copy of ``model``; the model itself is neither called nor changed.
    ``cutoff``: index in the traced graph's node list from which the network runs densely;
    None chooses it by timing ``probe`` candidates at each possible cutoff (cached per model).
    """

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
                             f"{torch.get_num_threads()}|{torch.__version__}|{probe}|margin, dense retimed, sparse merge{k}"
                             .encode()).hexdigest()[:20]
        if key not in _CUTOFFS:
            path = cache_dir() / "incremental-cutoffs.json"
            stored = json.loads(path.read_text()) if path.exists() else {}
            if key not in stored:
                stored[key] = tune(self, probe, pixels=pixels)[0]
                atomic_text(path, json.dumps(stored))
            _CUTOFFS[key] = stored[key]
        return _CUTOFFS[key]

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

    def _realign(self, ctx: _Call, win: Window, img, r, c, h, w, pad=(0, 0, 0, 0, 0.0)) -> torch.Tensor:
        """Window (h x w at r, c) of ``win``'s node: clean values with ``win`` written in."""
        self._check_clash(ctx, win, r, c, h, w)
        crop = _gather(self.clean[win.node][pad], img, r, c, h, w, pad[:2])
        return _paste(crop, r, c, win)

    def _counted(self, ctx: _Call, win: Window, sp: Spatial) -> Window:
        """Add a windowed convolution's multiply-accumulates to the count :meth:`macs` keeps."""
        if ctx.count is not None and sp.weight is not None:
            ctx.count["windowed"] += win.v.numel() * sp.weight[0].numel()
        return win

    def _check_clash(self, ctx: _Call, win: Window, r, c, h, w) -> None:
        """Mark candidates whose row reads a region that a sibling pixel's window has changed."""
        k = ctx.k
        if k == 1:
            return
        rows = lambda t: t.view(-1, k)  # noqa: E731
        hv, wv = win.v.shape[2:]
        r0, c0, r1, c1 = rows(r), rows(c), rows(win.r), rows(win.c)
        meet = ((r0[:, :, None] < r1[:, None, :] + hv) & (r1[:, None, :] < r0[:, :, None] + h)
                & (c0[:, :, None] < c1[:, None, :] + wv) & (c1[:, None, :] < c0[:, :, None] + w))
        meet &= ~torch.eye(k, dtype=torch.bool, device=meet.device)
        ctx.first = torch.where(meet.any(2).any(1), ctx.first.clamp(max=ctx.at), ctx.first)

    def _step(self, ctx: _Call, node: fx.Node, env: dict, img: torch.Tensor) -> Window:
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
                return self._counted(ctx, Window(sp.fn(src.v), src.r, src.c, node), sp)
            hs, ws = src.v.shape[2:]
            h, w = min(H, (hs + sp.k[0] - 2) // sp.s[0] + 1), min(W, (ws + sp.k[1] - 2) // sp.s[1] + 1)
            r = (-((-(src.r + sp.p[0] - sp.k[0] + 1)) // sp.s[0])).clamp(0, H - h)
            c = (-((-(src.c + sp.p[1] - sp.k[1] + 1)) // sp.s[1])).clamp(0, W - w)
            crop = self._realign(ctx, src, img, r * sp.s[0] - sp.p[0], c * sp.s[1] - sp.p[1],
                                 (h - 1) * sp.s[0] + sp.k[0], (w - 1) * sp.s[1] + sp.k[1], self._pad_key(node))
            return self._counted(ctx, Window(sp.fn(crop), r, c, node), sp)
        ins = [env[a] for a in (node.args if kind[0] == "add" else node.args[0])]
        lo_r = torch.stack([x.r for x in ins]).min(0).values
        lo_c = torch.stack([x.c for x in ins]).min(0).values
        h = min(H, int(max((x.r + x.v.shape[2] - lo_r).max() for x in ins)))
        w = min(W, int(max((x.c + x.v.shape[3] - lo_c).max() for x in ins)))
        r, c = lo_r.clamp(0, H - h), lo_c.clamp(0, W - w)
        parts = [self._realign(ctx, x, img, r, c, h, w) for x in ins]
        return Window(parts[0] + parts[1] if kind[0] == "add" else torch.cat(parts, 1), r, c, node)

    @torch.inference_mode()
    def logits(self, image_idx: torch.Tensor, candidates: torch.Tensor,
               cutoff: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (M x classes) of rounded candidates (M x k x 5) on ``images[image_idx]``, and a mask
        of the k-pixel candidates whose logits must be recomputed densely.

        A k-pixel candidate whose pixels' windows meet at some node before the cutoff is run again
        with the dense switch just before that node (all candidates that meet at one node together);
        only those whose windows already overlap there are left to the dense forward."""
        cutoff = self._clamped(cutoff)
        logits, first = self._pass(image_idx, candidates, cutoff)
        dense = first == 0
        for node in first[(first > 0) & (first < cutoff)].unique().tolist():
            group = (first == node).nonzero().squeeze(1)
            logits[group], again = self._pass(image_idx[group], candidates[group], node)
            dense[group] = again < node
        return logits, dense

    def _clamped(self, cutoff: int | None) -> int:
        return max(1, min(self.cutoff if cutoff is None else cutoff, self.limit))

    def _pass(self, image_idx: torch.Tensor, candidates: torch.Tensor, cutoff: int,
              count: dict | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits with the dense switch at ``cutoff``, and per candidate the first node at which its
        pixels' windows met (``cutoff`` when they never did, 0 when they overlap at the switch).
        Candidates whose windows met are not run past the switch (their logits rows are zeros)."""
        m, k = candidates.shape[:2]
        ctx = _Call(k, torch.full((m,), cutoff, dtype=torch.long, device=candidates.device), count=count)
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
                ctx.at = i
                env[node] = self._step(ctx, node, env, img)
        keep = (ctx.first == cutoff).nonzero().squeeze(1)
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
                    ctx.first[keep[overlap]] = 0
            if node.op == "output":
                out = env[node.args[0]]
                if len(keep) < m:
                    if not isinstance(out, torch.Tensor):
                        raise UnsupportedModel("the traced model's output is not a tensor")
                    full = out.new_zeros((m, *out.shape[1:]))
                    full[keep] = out
                    out = full
                return out, ctx.first
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
        """See :func:`onepixel.engine.incremental.tuning.tune`."""
        return tune(self, probe, repeats, margin, pixels)

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
            self._pass(idx, cand, self._clamped(cutoff), counts)
            windowed_and_dense = dict(counts)
            counts.update(windowed=0, dense=0)
            self._pass(idx, cand, 1, counts)
        finally:
            for h in handles:
                h.remove()
        total = counts["dense"]
        used = windowed_and_dense["windowed"] + windowed_and_dense["dense"]
        return {**{f"{k}_macs": v for k, v in windowed_and_dense.items()}, "dense_pass_macs": total,
                "mac_ratio": total / used}
