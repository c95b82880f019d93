"""Models wrapped the way evaluation harnesses wrap them: incremental inference traces a copy, falls
back to dense forwards (one warning naming why) when it cannot carry the model, and leaves the
caller's model exactly as it was."""
import warnings

import pytest
import torch
from torch import nn

from onepixel import OnePixelAttack
from onepixel.engine.evaluator import Evaluator
from onepixel.engine.incremental import UnsupportedModel
from onepixel.nets.models import ARCHITECTURES


class QueryCounter(nn.Module):
    """Counts the images it is asked about (``self.calls += x.shape[0]``)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += x.shape[0]
        return self.net(x)


class RangeGuard(nn.Module):
    """Python control flow on a tensor value: rescales 0..255 input (never taken here)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        if x.max() > 1:
            x = x / 255
        return self.net(x)


class NumpyPostprocess(nn.Module):
    """Leaves torch for NumPy on the way out (temperature-scaled logits computed in NumPy)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return torch.from_numpy(self.net(x).detach().cpu().numpy() / 1.5)


def small_allconv() -> nn.Module:
    torch.manual_seed(0)
    model = ARCHITECTURES["allconv"]().eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model


SETTINGS = dict(popsize=12, maxiter=2, progress=False, device="cpu")
WRAPPERS = [QueryCounter, RangeGuard, NumpyPostprocess]


@pytest.mark.parametrize("wrapper", WRAPPERS)
def test_wrapped_models_fall_back_and_match_the_plain_model(wrapper):
    images, labels = torch.rand(2, 3, 32, 32), torch.tensor([3, 5])
    inner = small_allconv()
    wrapped = wrapper(inner)
    wrapped.train()  # the caller's mode, restored after the attack
    state = {k: v.clone() for k, v in wrapped.state_dict().items()}
    cols = ["image", "success", "evaluations", "x", "y", "r", "g", "b", "adv_class"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = OnePixelAttack(wrapped, **SETTINGS).run(images, labels, ids=[0, 1]).to_pandas()
    reference_model = inner if wrapper is not NumpyPostprocess else nn.Sequential(inner, Scale(1 / 1.5))
    reference = OnePixelAttack(reference_model, incremental=False, **SETTINGS).run(images, labels, ids=[0, 1])
    ref = reference.to_pandas()
    assert rows[cols].equals(ref[cols])
    assert rows.adv_prob.to_numpy() == pytest.approx(ref.adv_prob.to_numpy(), abs=1e-6)
    messages = [str(w.message) for w in caught if "incremental inference is off" in str(w.message)]
    if wrapper is not QueryCounter:  # the counter traces fine: its copy runs incrementally
        assert len(messages) == 1 and type(wrapped).__name__ in messages[0], messages
    assert wrapped.training and all(m.training for m in wrapped.modules()), "caller's modes restored"
    assert all(torch.equal(state[k], v) for k, v in wrapped.state_dict().items()), "weights untouched"
    if wrapper is QueryCounter:
        assert isinstance(wrapped.calls, int)
        wrapped.calls += 1  # raised TraceError when the caller's module itself was traced


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


@pytest.mark.parametrize("wrapper", [RangeGuard, NumpyPostprocess])
def test_incremental_true_raises_naming_the_model(wrapper):
    with pytest.raises(UnsupportedModel, match=wrapper.__name__):
        Evaluator(wrapper(small_allconv()), torch.rand(1, 3, 32, 32), device="cpu", incremental=True)


def test_counter_counts_dense_queries():
    counted = QueryCounter(small_allconv())
    res = OnePixelAttack(counted, incremental=False, **SETTINGS).run(torch.rand(2, 3, 32, 32), torch.tensor([3, 5]))
    assert counted.calls == res.to_pandas().evaluations.sum()


def test_bad_incremental_value():
    with pytest.raises(ValueError, match="incremental must be"):
        Evaluator(small_allconv(), torch.rand(1, 3, 32, 32), device="cpu", incremental="yes")
