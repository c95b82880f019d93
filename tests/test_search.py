import pytest
import torch

from onepixel.engine.bench import CountingModel
from onepixel.engine.evaluator import apply_candidates
from onepixel.engine.search import colour_grid, exhaustive_search, random_search, single_pixel_search


def test_colour_grid():
    corners = colour_grid(2)
    assert len(corners) == 8 and set(corners.flatten().tolist()) == {0, 255}
    assert len(colour_grid(4)) == 64 and sorted(set(colour_grid(4)[:, 0].tolist())) == [0, 85, 170, 255]
    with pytest.raises(ValueError):
        colour_grid(1)


def test_exhaustive_finds_exactly_the_planted_pixel(planted, grey_images):
    counting = CountingModel(planted)
    res = exhaustive_search(counting, grey_images, torch.zeros(3, dtype=torch.long), progress=False)
    assert counting.seen == 3 * 64 * 8 and res.evaluations.tolist() == [512] * 3
    assert res.success.all()
    assert res.reachable[:, 1].all() and not res.reachable[:, 2].any() and not res.reachable[:, 0].any()
    assert (res.best_candidate[:, 1] == torch.tensor([5, 7, 255, 0, 0])).all()
    # only the planted pixel can raise another class above its clean level
    vulnerable = res.pixel_map > 0.5
    assert vulnerable[:, 7, 5].all() and vulnerable.sum() == 3
    df = res.to_pandas()
    assert len(df) == 6 and df[df.target == 1].success.all() and not df[df.target == 2].success.any()


def test_finer_grid_and_batching_agree(planted, grey_images):
    labels = torch.zeros(3, dtype=torch.long)
    a = exhaustive_search(planted, grey_images, labels, levels=3, batch_size=1000, progress=False)
    b = exhaustive_search(planted, grey_images, labels, levels=3, batch_size=77, progress=False)
    assert torch.equal(a.best_prob, b.best_prob) and torch.equal(a.pixel_map, b.pixel_map)
    assert a.evaluations[0] == 64 * 27


def test_random_baselines(planted, grey_images):
    labels = torch.zeros(3, dtype=torch.long)
    rnd = random_search(planted, grey_images, labels, budget=400, seed=1)
    assert len(rnd) == 3 and rnd.success.any() and (rnd.evaluations[~rnd.success] == 400).all()
    for row in rnd[rnd.success].itertuples():  # the reported candidate is a flip, found at `evaluations`
        x = apply_candidates(grey_images, torch.tensor([row.image]), torch.tensor([[[row.x, row.y, row.r, row.g,
                                                                                    row.b]]]))
        assert planted(x).argmax(1).item() == row.adv_class != 0
    again = random_search(planted, grey_images, labels, budget=400, seed=1)
    assert rnd.equals(again)
    # corners that flip the planted pixel: red, yellow and magenta (3/512 per try)
    sp = single_pixel_search(planted, grey_images, labels, budget=4000, seed=0)
    assert sp.success.all() and (sp.x == 5).all() and (sp.y == 7).all()
    assert (sp.r == 255).all() and ((sp.g == 0) | (sp.b == 0)).all()
