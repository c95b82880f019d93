import os
from pathlib import Path

import pytest
import torch
from torch import nn


SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_or_skip(sub: str) -> Path:
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"real data not present: {path} (only on machines with the shared offline data)")
    return path


def weights_or_skip(name: str) -> Path:
    """The weights file of ``name``; skips the test only when that file is absent."""
    from onepixel.nets.models import WeightsError, weights_path

    try:
        path = weights_path(name)
    except WeightsError as e:  # weights_path raises it only when no file is found
        pytest.skip(f"weights of {name} not present: {e}")
    if not path.exists():
        pytest.skip(f"weights of {name} not present: {path}")
    return path


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Keep the decoded-data cache of each test session out of the user's home."""
    default = str(tmp_path_factory.getbasetemp() / "cache")
    monkeypatch.setenv("ONEPIXEL_CACHE", os.environ.get("ONEPIXEL_TEST_CACHE", default))


class PlantedModel(nn.Module):
    """Class 1 wins only when pixel (x=5, y=7) is bright red; class 0 otherwise. Input [0, 1]."""

    def __init__(self, x: int = 5, y: int = 7):
        super().__init__()
        self.x, self.y = x, y

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = images[:, :, self.y, self.x]
        s = p[:, 0] - (p[:, 1] + p[:, 2]) / 2  # redness of the planted pixel, in [-1, 1]
        base = images.mean((1, 2, 3))
        return torch.stack([0 * base, 8 * s - 3, base - 5], 1)


@pytest.fixture
def planted():
    return PlantedModel()


@pytest.fixture
def grey_images():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(3, 3, 8, 8, generator=g) * 0.2 + 0.4)
