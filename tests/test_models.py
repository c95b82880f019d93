import json
from pathlib import Path

import pytest
import torch

from onepixel.nets.data import load_cifar10, load_imagenet
from onepixel.nets.models import (ARCHITECTURES, NETWORKS, TRAINED_HERE, WEIGHTS_DIR, Normalize, WeightsError,
                                  load_pretrained, load_state, parameter_count)
from onepixel.nets.train import accuracy

from .conftest import shared_or_skip


PARAMETERS = {"allconv": 1_370_986, "nin": 968_394, "vgg16": 19_986_378, "resnet20": 269_722, "resnet56": 853_018}


@pytest.mark.parametrize("name", ["allconv", "nin", "vgg16", "resnet20", "resnet56"])
def test_cifar_architectures(name):
    model = ARCHITECTURES[name]().eval()
    assert isinstance(model[0], Normalize), "models normalise their own [0, 1] input"
    assert parameter_count(model) == PARAMETERS[name]
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_normalize_caffe_bgr():
    n = Normalize((0.5, 0.25, 0.0), (1 / 255,) * 3, bgr=True)
    x = torch.tensor([1.0, 0.5, 0.25]).view(1, 3, 1, 1)
    assert n(x).flatten().tolist() == pytest.approx([63.75, 63.75, 127.5])


def test_corrupt_and_mismatched_weights(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    from onepixel.nets.models import _load_file
    with pytest.raises(WeightsError, match="cannot read"):
        _load_file(bad)
    model = ARCHITECTURES["allconv"]()
    state = ARCHITECTURES["nin"]().state_dict()
    with pytest.raises(WeightsError, match="does not fit"):
        load_state(model, state, bad)
    state = model.state_dict()
    state["1.weight"] = torch.zeros(96, 3, 5, 5)
    with pytest.raises(WeightsError, match="shape"):
        load_state(model, state, bad)
    state = ARCHITECTURES["allconv"]().state_dict()
    state["1.weight"][0, 0, 0, 0] = float("nan")
    with pytest.raises(WeightsError, match="NaN"):
        load_state(model, state, bad)
    with pytest.raises(ValueError, match="unknown model"):
        load_pretrained("lenet")


def test_resnet20_reproduces_published_accuracy():
    shared_or_skip("models")
    data = load_cifar10("test").subset(range(1000))
    assert accuracy(load_pretrained("resnet20"), data) == pytest.approx(0.915, abs=1e-9)


@pytest.mark.slow  # the 1,300 ImageNet validation images
@pytest.mark.parametrize("name,expected", [("squeezenet1_0", 0.715), ("efficientnet_lite0", 0.827)])
def test_imagenet_models_reproduce_expected_top1(name, expected):
    shared_or_skip("imagenet-val-1300")
    size = 227 if name == "squeezenet1_0" else 224
    data = load_imagenet("val1300", size=size)
    assert accuracy(load_pretrained(name), data, batch_size=50) == pytest.approx(expected, abs=0.0005)


@pytest.mark.slow  # the 10,000 test images
@pytest.mark.parametrize("name", TRAINED_HERE)
def test_trained_weights_reach_85_percent(name):
    if not (WEIGHTS_DIR / f"{name}.pt").exists():
        pytest.skip(f"{name} has not been trained yet (onepixel train --model {name})")
    shared_or_skip("cifar10")
    meta = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())
    model = load_pretrained(name)
    assert model.weights_digest == meta["weights_sha256"]
    acc = accuracy(model, load_cifar10("test"))
    assert acc == pytest.approx(meta["test_accuracy_stored_fp16"], abs=2e-4)
    base = NETWORKS[name].variant_of
    if base is None:
        assert acc >= 0.85
    else:  # a variant's accuracy is a result: only a training that went wrong falls far below its network's
        assert acc >= json.loads((WEIGHTS_DIR / f"{base}.json").read_text())["test_accuracy_stored_fp16"] - 0.03


def test_a_registered_network_loads_and_is_accepted_by_profiles(tmp_path):
    """Adding a network is one register() call: loading and the profiles' validation read the registry."""
    from torch import nn

    from onepixel.nets.models import NETWORKS, Network, register
    from onepixel.study import plan

    def build():
        return nn.Sequential(Normalize((0.5,) * 3, (0.5,) * 3), nn.Conv2d(3, 10, 32), nn.Flatten())

    torch.save({"state_dict": build()[1].state_dict()}, tmp_path / "toy.pt")
    register(Network("toy", "cifar10", 32, "a test", "none", build, lambda: tmp_path / "toy.pt",
                     state=lambda s: s["state_dict"], inner=lambda m: m[1]))
    try:
        model = load_pretrained("toy")
        assert model.name == "toy" and len(model.weights_digest) == 16
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
        plan.check_values("test", {"models": ["toy"]})
        with pytest.raises(ValueError, match="registered already"):
            register(NETWORKS["toy"])
    finally:
        NETWORKS.pop("toy")
    with pytest.raises(ValueError, match="unknown network 'toy'"):
        plan.check_values("test", {"models": ["toy"]})
    with pytest.raises(ValueError, match="unknown model 'toy'; choose from allconv"):
        load_pretrained("toy")


def test_every_architecture_cites_a_paper_of_the_bibliography():
    from onepixel.nets.models import NETWORKS
    from onepixel.publish.provenance import architecture_references

    bib = (Path(__file__).parents[1] / "book" / "references.bib").read_text()
    for net in NETWORKS.values():
        assert f"{{{net.cite}," in bib, f"{net.name}: {net.cite!r} is not in book/references.bib"
    assert architecture_references(["allconv", "resnet20", "resnet32"]) == \
        "allconv {cite:p}`springenberg2015allconv`; resnet20, resnet32 {cite:p}`he2016resnet`"
