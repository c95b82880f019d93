import pandas as pd
import pytest
import torch

from onepixel import OnePixelAttack
from onepixel.engine.attacks import ATTACKS, COLUMNS, Targeted, Untargeted, describe, make
from onepixel.engine.one_pixel import DifferentialEvolution
from onepixel.engine.search import BASELINES, exhaustive_search, random_search
from onepixel.engine.settings import DESettings


SMALL = {"de": {"popsize": 40, "maxiter": 10}, "exhaustive": {}}


def small(name: str):
    return make(name, **SMALL.get(name, {"budget": 3000}))


@pytest.mark.parametrize("name", list(ATTACKS))
def test_every_attack_finds_the_planted_pixel_and_returns_the_common_columns(name, planted, grey_images):
    rows = small(name).run(planted, grey_images, torch.zeros(3, dtype=torch.long), Untargeted(), ids=[7, 8, 9])
    assert list(rows.columns[:len(COLUMNS)]) == list(COLUMNS)
    assert rows.image.tolist() == [7, 8, 9] and (rows.target == -1).all()
    assert rows.success.all(), f"{name} should find the planted red pixel on every image"
    assert (rows[rows.success].x == 5).all() and (rows[rows.success].y == 7).all()


def test_registry_holds_de_the_exhaustive_search_and_every_baseline():
    assert set(ATTACKS) == {"de", "exhaustive", *BASELINES}
    assert all(ATTACKS[m]().method == m for m in BASELINES), "each baseline class is fixed to its own method"
    assert describe(make("single_pixel", budget=5))["attack"] == "single_pixel"


def test_targeted_goal_runs_every_other_class(planted, grey_images):
    de = make("de", popsize=100, maxiter=100).run(planted, grey_images[:1], torch.tensor([0]), Targeted())
    assert sorted(de.target) == [1, 2] and de.set_index("target").success.to_dict() == {1: True, 2: False}
    ex = make("exhaustive").run(planted, grey_images[:1], torch.tensor([0]), Targeted())
    assert ex.set_index("target").success.to_dict() == {1: True, 2: False}


def test_de_matches_one_pixel_attack_and_its_identity(planted, grey_images):
    labels = torch.zeros(3, dtype=torch.long)
    direct = OnePixelAttack(planted, popsize=40, maxiter=10, progress=False, true_threshold=0.2,
                            stop_on_flip=True).run(grey_images, labels, ids=[0, 1, 2]).to_pandas()
    goal = Untargeted(0.2, stop_on_flip=True)
    rows = DifferentialEvolution(DESettings(popsize=40, maxiter=10)).run(planted, grey_images, labels, goal, ids=[0, 1, 2])
    pd.testing.assert_frame_equal(rows.drop(columns="seconds"), direct[rows.columns].drop(columns="seconds"))
    assert DifferentialEvolution(DESettings(popsize=40, maxiter=10)).identity(goal) == OnePixelAttack(
        planted, popsize=40, maxiter=10, true_threshold=0.2, stop_on_flip=True).identity()


def test_exhaustive_and_random_match_the_search_functions(planted, grey_images):
    labels = torch.zeros(3, dtype=torch.long)
    per_class = exhaustive_search(planted, grey_images, labels, ids=[0, 1, 2], progress=False).to_pandas()
    rows = make("exhaustive").run(planted, grey_images, labels, Targeted(), ids=[0, 1, 2])
    pd.testing.assert_frame_equal(rows, per_class[rows.columns])
    random = random_search(planted, grey_images, labels, budget=50, seed=3)
    pd.testing.assert_frame_equal(make("random", budget=50, seed=3).run(planted, grey_images, labels),
                                  random[list(COLUMNS) + [c for c in random if c not in COLUMNS]])


def test_untargeted_exhaustive_keeps_the_most_confident_flip_per_image(planted, grey_images):
    labels = torch.zeros(3, dtype=torch.long)
    per_class = exhaustive_search(planted, grey_images, labels, progress=False).to_pandas()
    rows = make("exhaustive").run(planted, grey_images, labels, Untargeted())
    assert len(rows) == 3 and (rows.target == -1).all()
    best = per_class[per_class.success].groupby("image").reach_prob.max()
    assert rows.set_index("image").reach_prob.to_dict() == best.to_dict()


def test_bad_goals_and_parameters_are_named(planted, grey_images):
    with pytest.raises(ValueError, match="unknown attack 'pixle'"):
        make("pixle")
    with pytest.raises(ValueError, match="no parameter.*popsize"):
        make("random", popsize=3)
    with pytest.raises(ValueError, match="'random' attack takes goals Untargeted"):
        make("random").run(planted, grey_images, torch.zeros(3, dtype=torch.long), Targeted())
    with pytest.raises(ValueError, match="every class at once"):
        make("exhaustive").run(planted, grey_images, torch.zeros(3, dtype=torch.long), Targeted(targets=[1, 1, 1]))
