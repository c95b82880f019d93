"""Statistical agreement of this engine with a SciPy ``differential_evolution`` reference run with
the paper's settings, on real images and a real trained network (slow: ``pytest -m slow``)."""
import pytest
import torch

from .conftest import shared_or_skip

pytest.importorskip("scipy")
TOLERANCE = 0.2  # absolute difference in success rate allowed at n = 32 (about 2.5 standard errors)


@pytest.mark.slow
def test_success_rate_agrees_with_scipy_reference():
    from onepixel.bench import run_ours, run_scipy
    from onepixel.data import load_cifar10
    from onepixel.models import load_pretrained

    shared_or_skip("cifar10")
    torch.manual_seed(0)
    model = load_pretrained("resnet20").eval()
    data = load_cifar10("test").subset(range(64))
    with torch.inference_mode():
        correct = (model(data.float()).argmax(1) == data.labels).nonzero().flatten()[:32]
    images, labels = data.float()[correct], data.labels[correct]
    ours = run_ours(model, images, labels, maxiter=10, incremental=True, device="cpu")
    reference = run_scipy(model, images, labels, maxiter=10, device="cpu")
    print(f"\nsuccess on {len(labels)} images, 10 generations of 400, stop at the first flip: "
          f"ours {ours['success']:.3f}, SciPy {reference['success']:.3f}")
    assert abs(ours["success"] - reference["success"]) <= TOLERANCE
