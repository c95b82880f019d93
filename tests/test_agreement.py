"""Paired agreement of this engine with a SciPy ``differential_evolution`` reference on real images
and a real trained network (tens of minutes: ``pytest -m agreement``). Same images, the same success definition
(some evaluated candidate flipped the class: both stop at the first flip) and the same handling of
out-of-range children (redrawn, SciPy's rule). With 100 images the paired 95% interval of the
difference is narrow enough to detect a 10-point difference."""
import numpy as np
import pytest
import torch

from .conftest import shared_or_skip


pytest.importorskip("scipy")
IMAGES = 100


@pytest.mark.agreement
def test_success_agrees_with_scipy_reference_image_by_image():
    from onepixel.engine.bench import run_ours, run_scipy
    from onepixel.nets.data import load_cifar10
    from onepixel.nets.models import load_pretrained

    shared_or_skip("cifar10")
    model = load_pretrained("resnet20")
    data = load_cifar10("test").subset(range(200))
    with torch.inference_mode():
        correct = (model(data.float()).argmax(1) == data.labels).nonzero().flatten()[:IMAGES]
    images, labels = data.float()[correct], data.labels[correct]
    ours = run_ours(model, images, labels, maxiter=10, incremental="auto", device="cpu", bounds="redraw")
    reference = run_scipy(model, images, labels, maxiter=10, device="cpu")
    diff = ours["per_image"].astype(float) - reference["per_image"].astype(float)
    half = 1.96 * diff.std(ddof=1) / np.sqrt(len(diff)) if diff.any() else 0.0
    print(f"\n{len(diff)} images, 10 generations of 400, first flip: ours {ours['success']:.3f}, "
          f"SciPy {reference['success']:.3f}, paired difference {diff.mean():+.3f} +- {half:.3f}; "
          f"fooled by ours only {(diff > 0).sum()}, by SciPy only {(diff < 0).sum()}")
    assert half <= 0.10, "too few images to detect a 10-point difference"
    assert abs(diff.mean()) <= half, "the engines differ"
