"""Graph preparation for incremental inference: tracing with torch.fx, batch-norm folding, and
the classification of nodes into those carried as windows (spatial, pointwise, shift, add, concat)
and the rest."""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights


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


