import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from onepixel.engine.probes import colour_cube, line_slice, plane_slice
from onepixel.stats import metrics
from onepixel.stats.geometry import (asymmetric_pairs, asymmetry_correlation, asymmetry_index, bootstrap_asymmetry,
                                     crossings, distance_to_centre, robust_classes, symmetric_null)


class Linear(nn.Module):
    """Two classes; class 1 wins when r(3, 4) + g(3, 4) + r(6, 1) > threshold (in [0, 1] units)."""

    def __init__(self, threshold: float):
        super().__init__()
        self.threshold = threshold

    def forward(self, x):
        s = x[:, 0, 4, 3] + x[:, 1, 4, 3] + x[:, 0, 1, 6]
        return torch.stack([torch.zeros_like(s), 10 * (s - self.threshold)], 1)


@pytest.fixture
def black():
    return torch.zeros(1, 3, 8, 8)[0]


def test_line_crossing_is_where_the_algebra_says(black):
    df = line_slice(Linear(0.6), black, 3, 4, "r", device="cpu")
    assert len(df) == 256 and df.value.tolist() == list(range(256))
    c = crossings(df)
    # class 1 needs r / 255 > 0.6, i.e. r >= 154 (153 / 255 is exactly 0.6: a tie, class 0)
    assert c[["from_value", "to_value", "from_class", "to_class"]].values.tolist() == [[153, 154, 0, 1]]
    grey = crossings(line_slice(Linear(0.6), black, 3, 4, "grey", device="cpu"))
    assert grey.to_value.tolist() == [77]  # r + g = 2 v / 255 > 0.6
    with pytest.raises(ValueError, match="channel"):
        line_slice(Linear(0.6), black, 3, 4, "alpha")


def test_planes_match_the_boundary(black):
    values, pred, top = plane_slice(Linear(1.0), black, (3, 4, "r"), (3, 4, "g"), steps=18, device="cpu")
    expected = (values[:, None] + values[None, :]) / 255 > 1.0
    assert np.array_equal(pred == 1, expected) and top.shape == (18, 18)
    values, pred, _ = plane_slice(Linear(1.0), black, (3, 4, "r"), (6, 1, "r"), steps=18, device="cpu")
    assert np.array_equal(pred == 1, expected), "one channel of two pixels"


def test_colour_cube_and_corners(black):
    df = colour_cube(Linear(0.6), black, 0, 3, 4, levels=16, device="cpu")
    assert len(df) == 4096 and df.corner.sum() == 8
    flips = (df.r + df.g) / 255 > 0.6
    assert df.flips.equals(flips)
    assert df[df.corner].flips.sum() == 6  # corners with r or g at 255


def test_asymmetry_measures():
    sym = pd.DataFrame([[np.nan, 0.5, 0.2], [0.5, np.nan, 0.1], [0.2, 0.1, np.nan]])
    assert asymmetry_index(sym) == 0
    one_way = pd.DataFrame([[np.nan, 1.0], [0.0, np.nan]])
    assert asymmetry_index(one_way) == pytest.approx(np.sqrt(2))
    pairs = asymmetric_pairs(pd.DataFrame([[np.nan, 0.9, 0.2], [0.1, np.nan, 0.3], [0.2, 0.35, np.nan]]), "abc")
    assert pairs.iloc[0][["a", "b"]].tolist() == ["a", "b"] and pairs.iloc[0].difference == pytest.approx(0.8)
    m = pd.DataFrame([[np.nan, 0.9, 0.2], [0.1, np.nan, 0.3], [0.25, 0.35, np.nan]])
    corr = asymmetry_correlation({"n1": m, "n2": m * 0.5, "n3": m.T})
    assert corr.loc["n1", "n2"] == pytest.approx(1.0) and corr.loc["n1", "n3"] == pytest.approx(-1.0)
    assert distance_to_centre([0, 15.5], [0, 15.5], 32, 32) == pytest.approx([np.hypot(15.5, 15.5), 0])


def test_bootstrap_interval_and_robust_classes():
    rng = np.random.default_rng(0)
    rows = []
    for image in range(40):
        label = image % 3
        for target in range(3):
            if target != label:  # class 0 -> 1 is easy, 1 -> 0 hard
                p = 0.9 if (label, target) == (0, 1) else 0.1 if (label, target) == (1, 0) else 0.4
                rows.append({"image": image, "label": label, "target": target, "success": rng.random() < p})
    rows = pd.DataFrame(rows)
    b = bootstrap_asymmetry(rows, 3, draws=200)
    assert b["ci_low"] <= b["index"] <= b["ci_high"] and b["ci_low"] > 0.2 and b["images"] == 40
    robust = robust_classes(rows, ["a", "b", "c"])
    assert list(robust.columns) == ["from", "to", "mean"] and robust["mean"].is_monotonic_increasing
    from onepixel.publish.geometry import robust_classes_table

    table = robust_classes_table({"n1": rows, "n2": rows[rows.label != 0]}, ["a", "b", "c"])
    assert list(table.columns) == ["n1", "n2"] and list(table.index) == list(robust.index) and table.index.name == "class"
    assert table.n1.tolist() == (100 * robust["mean"]).round(1).tolist()
    assert table.n2.loc["a"] < table.n1.loc["a"], "without images of class a, only attacks to a count"


def test_the_cube_table_counts_images_per_network():
    from onepixel.publish.geometry import cube_table

    rows = pd.DataFrame({"grid_flips": [True, True, False, False], "corner_flips": [True, False, False, True],
                         "grid_flip_fraction": [0.5, 0.25, 0.0, 0.0]})
    table = cube_table({"allconv": rows, "nin": rows.head(1), "vgg16": rows.head(0)})
    assert table.loc["allconv"].tolist() == [4, 2, 2, 1, "50.0 [9.5, 90.5] (n=2)", 0.188]
    assert table.loc["nin", "grid only"] == 0 and table.index.name == "setting"
    assert table.loc["vgg16", "no corner flips, % of grid flips"] == "-"


def test_stored_planes_draw_the_most_confident_attack_with_its_neighbour(black):
    from onepixel.engine.probes import pixel_planes
    from onepixel.publish.slices import stored_planes

    image = black.clone()
    image[0, 4, 3] = 0.2  # red of (3, 4): 51
    frames = []
    for image_id, conf, (x, y) in ((7, 0.6, (0, 0)), (9, 0.9, (3, 4))):
        p = pixel_planes(Linear(1.0), image, x, y, steps=5, device="cpu")
        one = p.plane == "one pixel"
        frames.append(p.assign(image=image_id, adv_prob=conf, attack_first=np.where(one, 255, np.nan),
                               attack_second=np.where(one, 10, np.nan)))
    panels, shown = stored_planes(pd.concat(frames, ignore_index=True))
    assert shown == 9 and [p["title"] for p in panels] == ["pixel (3, 4)", "two pixels"]
    assert panels[0]["clean"] == (51, 0) and panels[0]["attack"] == (255, 10) and panels[1]["attack"] is None
    assert panels[1]["ylabel"] == "red of (4, 4)"
    values = panels[0]["values"]
    assert np.array_equal(panels[0]["pred"] == 1, (values[:, None] + values[None, :]) / 255 > 1.0)
    from onepixel.publish.slices import planes_sentence

    stored = pd.concat(frames, ignore_index=True).assign(label=0)
    expected = 100 * float((panels[0]["pred"] != 0).mean())
    assert planes_sentence({"net": stored}).startswith(f"net, image 9: another class on {expected:.0f}% of the one-pixel plane")
    assert planes_sentence({"net": stored}, "fig-planes-{}").startswith("net ({numref}`fig-planes-net`), image 9:")
    edge = pixel_planes(Linear(1.0), image, 7, 2, steps=3, device="cpu")
    assert set(edge[edge.plane == "two pixels"].x2) == {6}, "at the right edge the neighbour is on the left"


def test_stored_lines_give_the_attacked_pixel_first_with_its_marks(black):
    from onepixel.engine.probes import pixel_lines
    from onepixel.publish.slices import stored_lines

    image = black.clone()
    image[1, 4, 3] = 0.2  # green of (3, 4): 51
    attacked = pixel_lines(Linear(0.6), image, 3, 4, steps=4, device="cpu")
    assert attacked.channel.unique().tolist() == ["r", "g", "b", "grey"] and len(attacked) == 16
    attacked = attacked.assign(attack=attacked.channel.map({"r": 200, "g": 0, "b": 9}), where="DE pixel", x=3, y=4)
    elsewhere = pixel_lines(Linear(0.6), image, 1, 1, steps=4, device="cpu").assign(attack=np.nan,
                                                                                   where="random pixel", x=1, y=1)
    rows = pd.concat([elsewhere, attacked]).assign(image=5, label=0, adv_prob=0.7)
    lines, labels, marks = stored_lines(rows, ["cat", "dog"])
    assert list(lines) == ["5 (cat), DE pixel (3, 4)", "5 (cat), random pixel (1, 1)"]
    assert list(lines["5 (cat), DE pixel (3, 4)"]) == ["r", "g", "b", "grey"] and set(labels.values()) == {0}
    assert marks["5 (cat), DE pixel (3, 4)"]["g"] == {"clean": 51, "attack": 0}
    assert marks["5 (cat), random pixel (1, 1)"]["r"] == {"clean": 0}
    from onepixel.publish.slices import lines_sentence

    assert lines_sentence({"net": rows, "empty": rows.head(0)}, "fig-lines-{}") == (
        "net ({numref}`fig-lines-net`): the prediction changes along 3 of the 4 lines through the attacked pixels and "
        "0 of the 4 through the random pixels. Over all networks a decision boundary crosses 3 of 4 lines through "
        "attacked pixels and 0 of 4 through random ones: the slices through the pixels the DE chose are where the "
        "boundaries are, as the paper's picture has it, while a random pixel's slices mostly stay in the true class."
    ), "r, g and grey reach r + g > 0.6 at (3, 4); b does not, nor any line at (1, 1)"
    swapped = rows.assign(where=rows["where"].map({"DE pixel": "random pixel", "random pixel": "DE pixel"}))
    assert lines_sentence({"net": swapped}).endswith("no more often crossed than those through random pixels.")


def test_a_probe_goes_through_the_most_confident_attacks_of_a_one_pixel_de_job():
    import onepixel.study  # noqa: F401  (registers the kinds)
    from onepixel.study.jobs import Job

    de = Job.make("de", "allconv", 500)
    lines = Job.make("lines", "allconv", 2, fooled_by=de, steps=256)
    assert lines.label() == "lines-256 allconv (top 2 of allconv 500)" and lines.depends_on == (de,)
    source = pd.DataFrame({"image": [4, 8, 15, 16], "success": [True, False, True, True],
                           "adv_prob": [0.5, 0.99, 0.9, 0.7]})
    assert lines.spec.select(lines, source) == [15, 16]
    assert Job.make("transfer", "nin", fooled_by=de).spec.select(None, source) == [4, 15, 16]
    with pytest.raises(ValueError, match="one-pixel DE job"):
        Job.make("planes", "allconv", 1, fooled_by=Job.make("de", "allconv", 5, pixels=3), steps=8)
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        Job.make("planes", "allconv", 1, fooled_by=de, steps=1)
    assert Job.make("de", "allconv", fooled_by=de).label().endswith("(fooled by the paper rule)")


def test_the_symmetric_null_separates_a_one_way_process_from_noise():
    rng = np.random.default_rng(1)

    def rows(rate):
        return pd.DataFrame([{"image": i, "label": i % 3, "target": t, "success": rng.random() < rate(i % 3, t)}
                             for i in range(150) for t in range(3) if t != i % 3])
    symmetric = rows(lambda a, b: 0.3)
    one_way = rows(lambda a, b: 0.6 if a < b else 0.05)
    null = symmetric_null(symmetric, 3, draws=300)
    assert 0 < np.quantile(null, 0.5) < 0.3, "noise alone gives an index above 0"
    assert asymmetry_index(metrics.success_matrix(symmetric, 3)) < np.quantile(null, 0.99)
    assert asymmetry_index(metrics.success_matrix(one_way, 3)) > np.quantile(symmetric_null(one_way, 3, draws=300), 0.99)
    from onepixel.publish.geometry import asymmetry_table

    table = asymmetry_table({"one way": (one_way, metrics.success_matrix(one_way, 3))}, "abc")
    assert table.loc["one way", "p (symmetric)"] == f"{1 / 1001:.3f}"
    assert table.loc["one way", "symmetric null: 95th percentile"] < table.loc["one way", "asymmetry index"]
    from onepixel.publish.geometry import asymmetry_sentence

    both = asymmetry_table({"one way": (one_way, metrics.success_matrix(one_way, 3)),
                            "symmetric": (symmetric, metrics.success_matrix(symmetric, 3)),
                            "few": (symmetric.head(4), metrics.success_matrix(symmetric.head(4), 3))}, "abc")
    text = asymmetry_sentence(both)
    assert text.startswith("Asymmetric beyond noise (interval above the symmetric null's 95th percentile): one way (")
    assert "Not distinguishable from a symmetric process: symmetric (" in text and text.endswith("Too few images to tell: few.")


def test_the_findings_of_chapter_07_come_from_its_tables():
    from onepixel.publish.geometry import findings

    lines = pd.DataFrame({"where": ["DE pixel"] * 4 + ["random pixel"] * 4, "image": 1, "channel": ["r", "r", "g", "g"] * 2,
                          "pred": [0, 1, 0, 0, 0, 0, 0, 0]})
    cube = pd.DataFrame({"no corner flips, % of grid flips": ["10.0 [5.0, 19.0] (n=40)", "-", "0.0 [0.0, 79.3] (n=1)"]},
                        index=["nin, DE's pixel, DE's colour not a corner", "vgg16, DE's pixel, DE's colour not a corner",
                               "nin, most vulnerable pixel"])
    distance = pd.DataFrame({"images": [40, 20], "mean distance of most vulnerable pixel": [9.0, 13.0],
                             "mean distance of all pixels": [12.0, 12.0], "share within 8 px of centre": [0.5, 0.1],
                             "share of all pixels within 8 px": [0.2, 0.2]}, index=["nin", "vgg16"])
    asymmetry = pd.DataFrame({"95% CI": ["[0.50, 0.70]", "[0.10, 0.30]", "too few images"],
                              "symmetric null: 95th percentile": [0.4, 0.35, "-"]}, index=["nin", "vgg16", "few"])
    text = findings({"nin": lines, "vgg16": lines.head(0)}, cube, distance, asymmetry).split("\n")
    assert text[0] == ("- Lines: the prediction changes along 1 of 2 single-channel and grey lines through the pixels of the "
                       "most confident attacks, and along 0 of 2 through random pixels of the same images.")
    assert text[1].endswith("the share where no cube corner flips it (%, 95% Wilson interval, n): nin 10.0 [5.0, 19.0] (n=40).")
    assert text[2] == ("- Vulnerable pixels: within 8 px of the centre for nin 50% of 40; vgg16 10% of 20 images, against 20% "
                       "of all pixels; on average closer to the centre than a random pixel for 1 of 2 networks (nin).")
    assert text[3] == ("- Asymmetry: 1 of 2 success matrices with enough images are asymmetric beyond a symmetric process "
                       "with the same counts (nin).")
    assert findings({}, cube.head(0), distance.head(0), asymmetry.head(0)) == "Nothing is stored for this chapter yet."


def test_the_cube_at_the_de_pixel_is_split_by_whether_the_de_colour_is_a_corner():
    from onepixel.publish.geometry import by_de_colour

    cube = pd.DataFrame({"image": [1, 2, 3], "grid_flips": True, "corner_flips": [True, True, False]})
    attacks = pd.DataFrame({"image": [1, 2, 3, 4], "r": [0, 255, 12, 0], "g": [255, 3, 0, 0], "b": [0, 255, 255, 0]})
    parts = by_de_colour(cube, attacks)
    assert parts["DE's colour a corner"].image.tolist() == [1] and parts["DE's colour not a corner"].image.tolist() == [2, 3]
    assert all(len(p) == 0 for p in by_de_colour(cube.head(0), attacks).values())


def test_a_matrix_without_success_is_named_as_such():
    from onepixel.publish.geometry import asymmetry_sentence

    table = pd.DataFrame({"asymmetry index": [np.nan], "95% CI": ["no successful attack"],
                          "symmetric null: 95th percentile": ["-"]}, index=["vgg16, DE"])
    assert asymmetry_sentence(table) == "No successful attack: vgg16, DE."


def test_class_heatmaps_blank_the_rows_of_too_few_images_and_label_each_row_with_its_count():
    import matplotlib.pyplot as plt

    from onepixel.publish.geometry import class_heatmaps

    matrix = pd.DataFrame(np.full((3, 3), 0.5))
    fig = class_heatmaps({"x": matrix}, ["a", "b", "c"], images={"x": pd.Series([4, 1], index=[0, 2])})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a (4)", "b (0)", "c (1)"]
    hidden = np.ma.getmaskarray(ax.collections[0].get_array()).reshape(3, 3)
    assert not hidden[0].any() and hidden[1].all() and hidden[2].all(), "only the row of 4 images is drawn"
    assert [t.get_text() for t in ax.texts] == ["50"] * 3
    plt.close(fig)
    few = {"y": pd.Series([1, 1], index=[0, 1])}
    fig = class_heatmaps({"x": matrix, "y": matrix}, ["a", "b", "c"], images={"x": pd.Series([4], index=[0])} | few)
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["x"], "a panel with no row drawn is left out"
    plt.close(fig)
    assert class_heatmaps({"y": matrix}, ["a", "b", "c"], images=few) is None


def test_the_vectorised_bootstrap_draws_what_resampling_the_rows_draws():
    """The asymmetry bootstrap weighs per-image counts; resampling whole images' rows with the same
    generator gives the same interval."""
    rng = np.random.default_rng(3)
    rows = pd.DataFrame([{"image": i, "label": i % 3, "target": t, "success": bool(rng.random() < 0.3 + 0.2 * (t == 0))}
                         for i in rng.permutation(30) for t in range(3) if t != i % 3])
    images = rows.image.unique()
    groups = {i: g for i, g in rows.groupby("image")}
    draw = np.random.default_rng(0)
    values = [asymmetry_index(metrics.success_matrix(pd.concat([groups[i] for i in draw.choice(images, len(images))]), 3))
              for _ in range(200)]
    values = np.array([v for v in values if np.isfinite(v)])
    b = bootstrap_asymmetry(rows, 3, draws=200, seed=0)
    assert b["draws"] == len(values)
    assert (b["ci_low"], b["ci_high"]) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])), abs=1e-12)
