import json

import numpy as np
import pytest
import torch
from torch import nn

from onepixel import OnePixelAttack
from onepixel.engine.bench import CountingModel
from onepixel.engine.de import clip_to_bounds, distinct_indices, init_population, mutate, select
from onepixel.engine.evaluator import Evaluator, apply_candidates, round_candidates
from onepixel.nets.models import Normalize

from .conftest import PlantedModel


FAST = dict(popsize=100, maxiter=30, progress=False)


def test_de_finds_planted_pixel(planted, grey_images):
    res = OnePixelAttack(planted, **FAST).run(grey_images, torch.zeros(3, dtype=torch.long), ids=[0, 1, 2])
    df = res.to_pandas()
    assert df.success.all() and (df.adv_class == 1).all()
    assert (df.x == 5).all() and (df.y == 7).all() and (df.r > 200).all()
    assert (df.true_prob < 0.05).all(), "default non-targeted stop: true class below 0.05"
    assert (df.first_success_evaluations <= df.evaluations).all() and (df.first_success_evaluations >= 1).all()
    assert set(df.columns) >= {"image", "target", "success", "evaluations", "generations", "adv_class",
                               "adv_prob", "distortion", "seconds", "x", "y", "r", "g", "b"}
    adv = res.adversarial
    assert adv.shape == grey_images.shape and adv.min() >= 0 and adv.max() <= 1
    assert (planted(adv).argmax(1) == 1).all()
    assert torch.equal((adv * 255).round() / 255, adv), "adversarial images are uint8-quantised"


def test_targeted_runs_every_other_class(planted, grey_images):
    attack = OnePixelAttack(planted, targeted=True, popsize=100, maxiter=100, progress=False)
    df = attack.run(grey_images[:1], torch.tensor([0])).to_pandas().set_index("target")
    assert sorted(df.index) == [1, 2]
    assert df.success.to_dict() == {1: True, 2: False}
    assert df.target_prob[1] > 0.9 and df.generations[1] < 100, "targeted stop: target above 0.9"
    assert df.generations[2] == 100 and df.evaluations[2] == 100 * 101 + 1


def test_same_seed_same_result_whatever_the_batch(planted, grey_images):
    labels = torch.zeros(3, dtype=torch.long)
    attack = OnePixelAttack(planted, popsize=20, maxiter=3, progress=False, seed=5)
    alone = attack.run(grey_images[2:], labels[2:], ids=[12]).to_pandas()
    batch = attack.run(grey_images, labels, ids=[10, 11, 12]).to_pandas()
    again = attack.run(grey_images, labels, ids=[10, 11, 12]).to_pandas()
    cols = ["success", "evaluations", "generations", "x", "y", "r", "g", "b", "adv_prob"]
    assert alone[cols].iloc[0].equals(batch[cols].iloc[2])
    assert batch[cols].equals(again[cols])
    other = OnePixelAttack(planted, popsize=20, maxiter=3, progress=False, seed=6).run(grey_images, labels)
    assert not other.to_pandas()[cols].equals(batch[cols])


def test_evaluations_counted_exactly(planted, grey_images):
    counting = CountingModel(planted)
    for targeted in (False, True):
        counting.seen = 0
        res = OnePixelAttack(counting, targeted=targeted, popsize=20, maxiter=4, progress=False,
                             batch_size=7).run(grey_images, torch.zeros(3, dtype=torch.long))
        df = res.to_pandas()
        # per attack: initial population + 20 per generation + the re-check, and each image's
        # clean evaluation charged to its first attack
        first = ~df.image.duplicated()
        assert (df.evaluations == first + 20 * (df.generations + 1) + 1).all()
        assert df.evaluations.sum() == counting.seen


def test_mutation_indices_distinct_and_not_parent():
    rng = np.random.default_rng(0)
    for popsize in (4, 5, 50):
        for _ in range(50):
            r = distinct_indices(rng, popsize)
            full = np.concatenate([np.arange(popsize)[:, None], r], 1)
            assert all(len(set(row)) == 4 for row in full.tolist())
            assert r.min() >= 0 and r.max() < popsize
    # the draws cover every allowed index
    r = np.concatenate([distinct_indices(rng, 5) for _ in range(200)])
    assert set(r[0::5].flatten().tolist()) == {1, 2, 3, 4}


def test_mutation_formula():
    rng = np.random.default_rng(1)
    pop = rng.normal(size=(10, 1, 5))
    child, r = mutate(pop, np.random.default_rng(2), 0.5)
    assert np.allclose(child, pop[r[:, 0]] + 0.5 * (pop[r[:, 1]] - pop[r[:, 2]]))


def test_selection_never_worse():
    rng = np.random.default_rng(0)
    parents, children = rng.normal(size=(30, 1, 5)), rng.normal(size=(30, 1, 5))
    pf, cf = rng.random(30), rng.random(30)
    cf[0] = pf[0]  # ties keep the parent
    pop, fit = select(parents, pf, children, cf)
    assert (fit <= pf).all() and np.array_equal(pop[0], parents[0])
    assert all(np.array_equal(pop[i], children[i] if cf[i] < pf[i] else parents[i]) for i in range(30))


def test_rounding_clipping_and_initial_population():
    c = torch.tensor([[[-3.2, 40.6, 300.0, -7.0, 127.5]], [[31.4, 0.4, 12.49, 254.6, 0.5]]])
    assert round_candidates(c, 32, 32)[:, 0].tolist() == [[0, 31, 255, 0, 128], [31, 0, 12, 255, 0]]
    pop = init_population(np.random.default_rng(0), 4000, 3, 32, 24)
    assert pop.shape == (4000, 3, 5)
    xy = round_candidates(torch.from_numpy(pop), 32, 24)
    assert xy[..., 0].max() == 23 and xy[..., 1].max() == 31 and xy[..., :2].min() == 0
    assert abs(np.bincount(xy[..., 0].flatten()).std() / np.bincount(xy[..., 0].flatten()).mean()) < 0.1
    assert (pop[..., 2:] == 255).mean() == pytest.approx(0.157, abs=0.02), "N(128, 127) clipped to 0..255"
    assert np.array_equal(clip_to_bounds(pop, 32, 24), pop)


def test_perturbation_in_pixel_space_before_normalisation():
    """The pixel is set in the [0, 1] image; the model normalises afterwards."""
    seen = {}

    class Probe(nn.Module):
        def forward(self, x):
            seen["x"] = x.clone()
            return torch.zeros(len(x), 2)

    model = nn.Sequential(Normalize((0.5,) * 3, (0.25,) * 3), Probe())
    images = torch.full((1, 3, 4, 4), 0.5)  # quantised to 128 / 255
    Evaluator(model, images, device="cpu").probs(torch.tensor([0]), torch.tensor([[[1, 2, 255, 0, 51]]]))
    assert seen["x"][0, :, 2, 1].tolist() == pytest.approx([2.0, -2.0, -1.2])
    assert seen["x"][0, :, 0, 0].tolist() == pytest.approx([(128 / 255 - 0.5) / 0.25] * 3, abs=1e-6)


def test_apply_sets_only_the_chosen_pixels():
    images = torch.rand(2, 3, 5, 6)
    cand = torch.tensor([[[0, 4, 255, 0, 0], [5, 0, 0, 255, 0]]])
    out = apply_candidates(images, torch.tensor([1]), cand)
    assert out[0, :, 4, 0].tolist() == [1, 0, 0] and out[0, :, 0, 5].tolist() == [0, 1, 0]
    mask = torch.ones(5, 6, dtype=torch.bool)
    mask[4, 0] = mask[0, 5] = False
    assert torch.equal(out[0][:, mask], images[1][:, mask])


def test_three_pixel_attack(planted, grey_images):
    df = OnePixelAttack(planted, pixels=3, **FAST).run(grey_images[:1], torch.tensor([0])).to_pandas()
    assert len(json.loads(df.perturbation[0])) == 3 and df.success[0]


class BadOutput(nn.Module):
    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out(x)


@pytest.mark.parametrize("images,labels,kwargs,match", [
    (torch.rand(3, 8, 8), torch.zeros(3), {}, "N x C x H x W"),
    ((torch.rand(2, 3, 8, 8) * 255).to(torch.uint8), torch.zeros(2), {}, "float"),
    (torch.rand(2, 3, 8, 8) * 2, torch.zeros(2), {}, r"\[0, 1\]"),
    (torch.rand(2, 3, 8, 8), torch.zeros(3), {}, "one entry per image"),
    (torch.rand(2, 3, 8, 8), torch.tensor([0, 7]), {}, "labels must be in 0..2"),
    (torch.rand(1, 3, 8, 8), torch.tensor([0]), {"targets": torch.tensor([0])}, "targets equal"),
    (torch.rand(1, 3, 8, 8), torch.tensor([0]), {"targets": torch.tensor([5])}, "targets must be in"),
])
def test_bad_input_errors(planted, images, labels, kwargs, match):
    attack = OnePixelAttack(planted, targeted="targets" in kwargs, **FAST)
    with pytest.raises(ValueError, match=match):
        attack.run(images, labels, **kwargs)


def test_bad_parameters_and_models(grey_images):
    with pytest.raises(ValueError, match="pixels"):
        OnePixelAttack(PlantedModel(), pixels=0)
    with pytest.raises(ValueError, match="popsize"):
        OnePixelAttack(PlantedModel(), popsize=3)
    labels = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="N x classes"):
        OnePixelAttack(BadOutput(lambda x: x.mean(1)), **FAST).run(grey_images, labels)
    with pytest.raises(ValueError, match="NaN"):
        OnePixelAttack(BadOutput(lambda x: torch.full((len(x), 3), float("nan"))), **FAST).run(grey_images, labels)


class TrapModel(nn.Module):
    """Class 0 unless a pixel is changed. Green at (1, 1) or (2, 5) is a trap: it lowers p(0) to 0.35
    by raising classes 1 and 2 equally, so the prediction never changes. Red at (6, 6) flips to
    class 1 with p(0) still 0.42: DE's fitness-best candidate is then not a success."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        green = [((images[:, 1, y, x] - images[:, 0, y, x]) * 2).clamp(0, 1) for y, x in ((1, 1), (5, 2))]
        t = torch.maximum(*green)
        flip = images[:, :, 6, 6]
        f = (flip[:, 0] - (flip[:, 1] + flip[:, 2]) / 2).clamp(min=0)
        return torch.stack([0.2 + 0 * t, -4 + 4.15 * t + 4.5 * f, -4 + 4.15 * t], 1)


def test_a_flip_found_during_the_search_is_a_success():
    images = torch.full((20, 3, 8, 8), 0.5)
    images += torch.linspace(0, 0.1, 20)[:, None, None, None]  # 20 different images
    labels = torch.zeros(20, dtype=torch.long)
    attack = OnePixelAttack(TrapModel(), popsize=20, maxiter=10, progress=False, incremental=False)
    df = attack.run(images, labels).to_pandas()
    flipped = df.first_success_evaluations.notna()
    assert flipped.any() and (df.success == flipped).all(), "success exactly when some candidate flipped"
    won = df[df.success]
    assert (won.adv_class == 1).all() and (won.x == 6).all() and (won.y == 6).all()
    rechecks = won.evaluations - (1 + 20 * 11)
    assert set(rechecks) == {1, 2}, "some best candidates were traps: their flip was re-checked too"
    for stop in (True, False):  # stopping at a flip never reports a failure
        rows = OnePixelAttack(TrapModel(), popsize=20, maxiter=10, progress=False, incremental=False,
                              stop_on_flip=stop).run(images, labels).to_pandas()
        assert (rows.success == rows.first_success_evaluations.notna()).all()
        if stop:
            assert (rows.success | (rows.generations == 10)).all()


def test_without_ids_an_image_gets_the_same_result_alone_or_in_any_batch(planted, grey_images):
    four = torch.cat([grey_images, grey_images[:1] * 0.9])
    labels = torch.zeros(4, dtype=torch.long)
    attack = OnePixelAttack(planted, popsize=20, maxiter=3, progress=False)
    cols = ["success", "evaluations", "generations", "x", "y", "r", "g", "b", "adv_prob"]
    batch = attack.run(four, labels).to_pandas()
    alone = attack.run(four[2:3], labels[:1]).to_pandas()
    moved = attack.run(four[[3, 2, 0]], labels[:3]).to_pandas()
    assert alone[cols].iloc[0].equals(batch[cols].iloc[2]) and moved[cols].iloc[1].equals(batch[cols].iloc[2])
    assert alone.image.tolist() == [0], "rows still name images by position"
    assert not batch[cols].iloc[0].equals(batch[cols].iloc[3]), "different images, different streams"


def test_bounds_clip_or_redraw():
    from onepixel.engine.de import redraw_out_of_bounds

    rng = np.random.default_rng(0)
    pop = rng.uniform(-20, 300, (500, 2, 5))
    out = redraw_out_of_bounds(pop, rng, 8, 10)
    assert (out[..., 0] >= -0.5).all() and (out[..., 0] <= 9.5).all() and (out[..., 1] <= 7.5).all()
    assert (out[..., 2:] >= 0).all() and (out[..., 2:] <= 255).all()
    inside = (pop[..., 0] >= -0.5) & (pop[..., 0] <= 9.5)
    assert np.array_equal(out[..., 0][inside], pop[..., 0][inside]), "values in range are kept"
    assert len(np.unique(out[..., 0][~inside])) == (~inside).sum(), "redrawn, not clipped to the border"
    with pytest.raises(ValueError, match="bounds must be one of"):
        OnePixelAttack(nn.Identity(), bounds="wrap")


def test_identity_keeps_stored_keys_at_default_bounds():
    clip = OnePixelAttack(nn.Identity())
    assert "bounds" not in clip.identity() and "incremental" not in clip.identity()
    assert OnePixelAttack(nn.Identity(), bounds="redraw").identity()["bounds"] == "redraw"


def test_border_evaluations_counted():
    from onepixel.engine.de import on_border

    pop = np.array([[[0, 5, 0, 0, 0]], [[9.4, 5, 0, 0, 0]], [[4.6, 7.6, 0, 0, 0]], [[5, 5, 0, 0, 0]], [[-3, 4, 0, 0, 0]]])
    assert on_border(pop, 8, 10).tolist() == [True, True, True, False, True]
    two = np.array([[[5, 5, 0, 0, 0], [3, 0, 0, 0, 0]], [[5, 5, 0, 0, 0], [3, 3, 0, 0, 0]]])
    assert on_border(two, 8, 10).tolist() == [True, False], "a k-pixel candidate counts if any pixel is on the ring"
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 2 * 2, 3)).eval()
    df = OnePixelAttack(model, popsize=10, maxiter=3, progress=False).run(torch.rand(2, 3, 2, 2), [0, 1]).to_pandas()
    assert (df.border_evaluations == 10 * (df.generations + 1)).all(), "on a 2 x 2 image every pixel is on the ring"


def test_a_failed_attack_uses_exactly_the_evaluation_budget():
    from onepixel.engine.settings import DESettings, evaluation_budget

    class Stubborn(nn.Module):  # always class 0: no pixel can fool it
        def forward(self, x):
            return torch.tensor([[5.0, 0.0, 0.0]]).repeat(len(x), 1)

    images = torch.full((2, 3, 8, 8), 0.5)
    rows = OnePixelAttack(Stubborn(), popsize=6, maxiter=3, device="cpu").run(images, torch.tensor([0, 0])).to_pandas()
    assert not rows.success.any() and (rows.evaluations == evaluation_budget(DESettings(popsize=6, maxiter=3))).all()


def test_benchmark_counts_a_flip_that_changes_more_than_k_pixels_as_no_k_pixel_success():
    from onepixel.engine.bench import outcome, pixels_changed

    class Redness(nn.Module):  # class 1 when the image's mean red exceeds its mean green
        def forward(self, x):
            s = x[:, 0].mean((1, 2)) - x[:, 1].mean((1, 2))
            return torch.stack([0 * s, 400 * s - 1], 1)

    images = torch.full((2, 3, 4, 4), 0.5)
    adv = images.clone()
    adv[0, 0, 1, 1] = 1.0                       # one pixel: flips
    adv[1, 0, :2, :2] = 1.0                     # four pixels: flips too
    assert pixels_changed(adv, images).tolist() == [1, 4]
    result = outcome(Redness(), adv, images, torch.tensor([0, 0]), pixels=1)
    assert result["success"] == 0.5 and result["flips_over_k_pixels"] == 1 and result["most_pixels_changed"] == 4


def test_de_settings_are_one_value_that_keyword_changes_replace():
    from onepixel.engine.settings import PAPER, DESettings

    model = nn.Identity()
    assert OnePixelAttack(model, pixels=3, maxiter=20).settings == DESettings(pixels=3, maxiter=20)
    assert OnePixelAttack(model, DESettings(pixels=3), maxiter=20).settings == DESettings(pixels=3, maxiter=20)
    assert DESettings(pixels=3, maxiter=20).changes() == {"pixels": 3, "maxiter": 20} and PAPER.changes() == {}
    with pytest.raises(ValueError, match="unknown argument.*popsise"):
        OnePixelAttack(model, popsise=40)
    with pytest.raises(ValueError, match="DE setting pixels must be int, got 1.5"):
        DESettings(pixels=1.5)
