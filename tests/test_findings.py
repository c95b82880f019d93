"""Each chapter's "What we found" follows from the tables it is given: numbers, verdicts and
comparatives change with them."""
import numpy as np
import pandas as pd

from onepixel.publish import findings
from onepixel.stats.metrics import Runs


def _summary(rows: list[tuple]) -> pd.DataFrame:
    columns = ["paper table", "network", "measure", "ours", "n", "paper", "ours - paper", "diff low", "diff high",
               "verdict"]
    return pd.DataFrame(rows, columns=columns).set_index(columns[:3])


SUMMARY = _summary([
    ("VIII", "a", "non-targeted success %", 22.6, 500, 22.6, 0.0, -5.2, 5.2, "consistent"),
    ("VIII", "b", "non-targeted success %", 28.2, 500, 35.2, -7.0, -12.7, -1.2, "consistent"),
    ("VIII", "b", "targeted success % (clustered CI)", 5.6, 180, 4.8, 0.8, -4.2, 19.7, "too few to tell"),
    ("VIII", "b", "confidence %", 53.3, 141, 60.08, -6.8, -9.5, -4.2, "differs"),
    ("IV", "a", "non-targeted success %", 22.6, 500, 68.7, -46.1, -51.3, -40.4, "differs"),
    ("VII", "a", "random search, 100 tries: success %", 12.0, 200, 10.0, 2.0, -3.0, 7.0, "consistent"),
    ("VI", "a", "evaluations (successful)", 32000.0, 113, 16000.0, 16000.0, 15000.0, 17000.0, "differs"),
    ("IV", "a", "accuracy %", 90.0, 10000, 85.6, 4.4, 3.8, 5.0, "differs"),
])


def test_the_summary_names_each_verdict_and_flags_an_excluded_zero():
    lines = findings.summary(SUMMARY).split("\n")
    assert lines[0] == ("- Paper Table VIII, non-targeted success %: consistent for a (22.6 against 22.6, +0.0 [-5.2, "
                        "+5.2]), b (28.2 against 35.2, -7.0 [-12.7, -1.2], its unadjusted interval excludes zero).")
    assert lines[1].startswith("- Paper Table VIII, confidence %: differs for b (53.3 against 60.08")
    assert lines[2] == "- Paper Table VIII, targeted success %: too few to tell for b."
    assert "below the paper's for 1 of 2 values, and differs after Holm's correction for 1" in lines[3]
    assert "more evaluations than the paper's for 1 of 1 network (2.0 times as many)" in lines[4]
    assert lines[5] == "- Clean accuracy differs from the paper's for 1 of 1 network: a +4.4 points."
    assert findings.summary(SUMMARY.iloc[:0]) == findings.NOTHING


def test_depth_says_whether_the_extremes_differ():
    table = pd.DataFrame({"model": ["r20", "r56"], "accuracy %": [91.7, 93.4], "successes": [20, 14],
                          "success %": [42.0, 29.0], "n": [48, 48]}, index=[20, 56])  # rates shown rounded
    text = findings.depth(table)
    assert "no effect of depth is distinguishable" in text and "+12.5 points" in text, "from the counts: 20/48 - 14/48"
    big = table.assign(**{"successes": [43, 5], "success %": [89.6, 10.4]})
    assert findings.depth(big).endswith("depth changes how often one pixel is enough.")
    assert findings.depth(table.head(1)) is None


def test_bounds_and_early_stop_state_their_paired_numbers():
    clip = pd.DataFrame({"image": range(10), "success": [True] * 5 + [False] * 5})
    redraw = clip.assign(success=[True] * 4 + [False] * 6)
    assert "-10.0 points" in findings.bounds({"clip": clip, "redraw": redraw})
    assert findings.bounds({"clip": clip}) is None
    early = pd.DataFrame({"images": [5, 5, 5], "confidence % (successful)": [42.3, 47.9, 47.9],
                          "evaluations (mean)": [2482, 40402, 40402]},
                         index=pd.Index(["first", "the paper", "never"], name="stop"))
    text = findings.early_stop(early)
    assert "first: 2,482 evaluations, confidence 42.3%" in text and "(5 images: a description, not a test)" in text
    assert "The paper's rule stopped none of these attacks early" in text
    assert "stopped none" not in findings.early_stop(early.assign(**{"evaluations (mean)": [2482, 30000, 40402]}))
    assert findings.signed(-0.04) == "-0.04" and findings.signed(0.0) == "+0.0" and findings.signed(1.26) == "+1.3"


def test_few_pixels_pairs_k_pixels_with_one_on_the_same_images():
    one = pd.DataFrame({"image": [1, 2, 3, 4], "success": [True, False, False, False]})
    three = pd.DataFrame({"image": [1, 2, 3, 5], "success": [True, True, True, True]})
    runs = {("allconv", 1): Runs(1.0, one, None), ("allconv", 3): Runs(1.0, three, None)}
    text = findings.few_pixels(runs)
    assert "100.0% against 33.3% with one pixel on the same 3 images" in text
    assert "2 images fell only to 3 pixels, 0 only to one" in text
    assert "Table V (Kaggle set) reports 86.53%" in text and "no targeted 3-pixel attack is stored yet" in text


def test_class_pairs_and_gallery_read_the_rows():
    rows = pd.DataFrame({"image": [1, 1, 2, 2], "label": [0, 0, 1, 1], "target": [1, 2, 0, 2],
                         "success": [True, True, False, False]})
    from onepixel.publish.geometry import class_extremes_table
    from onepixel.stats.metrics import targets_reached

    extremes = class_extremes_table({"x": rows, "empty": rows.iloc[:0]}, ["cat", "dog", "car"])
    assert extremes.loc["x"].tolist() == [2, "cat", 100.0, "dog", 100.0] and "empty" not in extremes.index
    text = findings.class_pairs(extremes, {"x": targets_reached(rows)})
    assert "images of cat move to some target most often (100.0% of its image-target pairs)" in text
    assert "dog is reached most often (100.0% of the pairs aimed at it)" in text
    assert "1.00 classes reached per image" in text
    attacks = pd.DataFrame({"image": [1, 2, 3], "success": [True, True, False], "adv_prob": [0.95, 0.5, 0.2]})
    assert findings.gallery({"x": Runs(1.0, attacks, None)}) == (
        "- x: 2 of 3 non-targeted attacks succeed, the most confident at 95.0%, 1 above 90%.")


def test_performance_and_reproducibility_compute_their_ranges():
    speed = pd.DataFrame({"model": ["a", "b"], "speedup": [1.5, 4.0], "mac_ratio": [2.0, 3.0],
                          "max_prob_diff": [1e-7, 2e-6]})
    engine = pd.DataFrame({"method": ["onepixel (incremental)", "dense forward (limit)", "peer 1.0"],
                           "ours_incremental_x": [1.0, 4.4, 3.0]})
    text = findings.performance(engine, speed)
    assert "1.50 (a) to 4.00 (b) times" in text and "for 1 of 2 networks (b above it: 4.00 against 3.00)" in text
    assert "3.00 times peer 1.0's" in text
    scored = engine.assign(success=[0.25, float("nan"), 0.5])
    assert "peer 1.0 4 of 8 (50.0% [21.5, 78.5])" in findings.performance(scored, speed, images=8)
    status = pd.DataFrame({"planned": pd.array([10, 5, 3], dtype="Int64"), "stored": [10, 2, 0],
                           "CPU hours left": [0.0, 1.5, np.nan]})
    spent = pd.DataFrame({"CPU hours": [2.0]}, index=["total"])
    text = findings.reproducibility(status, spent)
    assert "1 of 3 experiments complete, 12 of 18 planned items stored" in text
    assert "2.0 CPU hours stored" in text and "1 unstarted experiment has no estimate yet, so what is left is more than the 1.5 CPU hours" in text


def test_the_paper_values_name_their_version_and_table():
    import pytest

    from onepixel.stats import comparison, paper

    text = paper.provenance(["VIII", "VI"])
    assert "23(5)" in text and "arXiv 1710.08864" in text and "Table VIII" in text and "Table VI (cost)" in text
    assert set(comparison.TABLE_ORDER) <= set(paper.SOURCES)
    with pytest.raises(ValueError, match="no source recorded for paper table"):
        paper.provenance(["IX"])


def test_the_border_sentence_compares_the_rules_on_the_same_images():
    from onepixel.publish.report import border_sentence

    clip = pd.DataFrame({"image": [1, 2, 3], "evaluations": [100, 100, 100], "border_evaluations": [20, 20, None]})
    redraw = pd.DataFrame({"image": [1, 2, 3], "evaluations": [100, 100, 100], "border_evaluations": [5, 5, 95]})
    text = border_sentence({"clip": clip, "redraw": redraw})
    assert "20.0% of the evaluations set a border pixel under clip (n=2 images)" in text
    assert "5.0% of the evaluations set a border pixel under redraw (n=2 images)" in text
    assert "clipping spends more of the search on the border than the ring's share" in text
