"""The networks' architectures (random weights): the paper's AllConv, NiN and VGG16 with batch norm,
the CIFAR-10 ResNets with option-A shortcuts, and SqueezeNet 1.0 as Caffe ran it. Every model
takes float images in [0, 1] and normalises them in its first layer (:class:`Normalize`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
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
    from torchvision.models import squeezenet1_0 as tv_squeezenet  # heavy (all of torchvision.models, seconds): only this network needs it

    net = tv_squeezenet(weights=None)
    net.classifier[1].padding = (1, 1)
    return nn.Sequential(Normalize((0.48502, 0.45796, 0.40761), (1 / 255,) * 3, bgr=True), net)
