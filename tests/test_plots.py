"""Every figure of the book, drawn from small data made here: it draws, and its text is legible
where the book shows it (at the page's width, 7.0 inches at 1280 px: 672 CSS pixels)."""
import json
from types import SimpleNamespace

import matplotlib


matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from onepixel.publish import geometry, plots, slices  # noqa: E402
from onepixel.stats import paper  # noqa: E402
from onepixel.stats.metrics import Runs  # noqa: E402


CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PAGE_INCHES = 7.0  # the book's text column at 1280 px; a figure is scaled to it
SMALLEST_PT = 9


def smallest_text(fig) -> tuple[float, str]:
    """The smallest font of ``fig``'s visible text as the book shows it (points at page width),
    and that text."""
    renderer = fig.canvas.get_renderer()
    width = fig.get_tightbbox(renderer).width  # inches: the inline backend crops to the tight box
    texts = [t for t in fig.findobj(matplotlib.text.Text) if t.get_visible() and t.get_text().strip()
             and t.get_window_extent(renderer).width > 0]
    t = min(texts, key=lambda t: t.get_fontsize())
    return t.get_fontsize() * PAGE_INCHES / width, t.get_text()


def overlapping_titles(fig) -> list[tuple[str, str]]:
    """Pairs of ``fig``'s axes titles (and its suptitle) whose drawn boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    titles = [t for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)]
    titles = [t for t in titles + [fig._suptitle] if t is not None and t.get_visible() and t.get_text().strip()]
    boxes = [t.get_window_extent(renderer) for t in titles]
    return [(titles[i].get_text(), titles[j].get_text()) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
            if boxes[i].overlaps(boxes[j])]


def rows(n: int, rng, targeted: bool = False) -> pd.DataFrame:
    labels = rng.integers(0, 10, n)
    return pd.DataFrame({"image": np.arange(n), "label": labels,
                         "target": (labels + 1) % 10 if targeted else -1, "success": rng.random(n) < 0.4,
                         "adv_class": (labels + 1) % 10, "adv_prob": rng.random(n), "clean_prob": rng.random(n),
                         "true_prob": rng.random(n), "x": rng.integers(0, 32, n), "y": rng.integers(0, 32, n),
                         "perturbation": [json.dumps([[int(x), int(y), 255, 0, 0]])
                                          for x, y in rng.integers(0, 32, (n, 2))]})


def line(rng) -> pd.DataFrame:
    p = rng.dirichlet(np.ones(10), 64)
    return pd.DataFrame({"value": np.linspace(0, 255, 64), **{f"p{k}": p[:, k] for k in range(10)},
                         "pred": p.argmax(1)})


def figures():
    """(name, a function drawing the figure as a chapter does)."""
    rng = np.random.default_rng(0)
    nets = ["allconv", "nin", "vgg16"]
    runs = {m: Runs(0.9, rows(40, rng), rows(18, rng, True)) for m in nets}
    matrix = pd.DataFrame(rng.random((10, 10)))
    grid = pd.DataFrame([(i, y, x, rng.random()) for i in range(3) for y in range(32) for x in range(32)],
                        columns=["image", "y", "x", "best_other_prob"])
    budgets = np.geomspace(1, 40_000, 30)
    curves = {m: ({"DE (n=40)": (budgets, np.linspace(0, 0.3, 30)),
                   "random (n=24)": (budgets[:20], np.linspace(0, 0.1, 20)),
                   "single pixel (n=24)": (budgets[:20], np.linspace(0, 0.05, 20))},
                  {"exhaustive, 8 corners (n=500)": (8192, 0.25)}) for m in nets}
    data = SimpleNamespace(index=torch.arange(40), images=torch.randint(0, 256, (40, 3, 32, 32), dtype=torch.uint8))
    best = rows(40, rng).nlargest(8, "adv_prob")
    lines = {f"{i} (frog), {where} (3, 4)": {c: line(rng) for c in ("r", "g", "b", "grey")}
             for i in (4179, 6063) for where in ("DE pixel", "random pixel")}
    marks = {title: {c: {"clean": 100, "attack": 255} for c in ("r", "g", "b", "grey")} for title in lines}
    plane = dict(values=np.linspace(0, 255, 16), pred=rng.integers(0, 3, (16, 16)), clean=(100, 50))
    summary = pd.DataFrame([{"paper table": t, "network": m, "measure": "non-targeted success %", "ours": 30.0,
                             "ci low": 20.0, "ci high": 40.0, "paper": 25.0, "kind": "rate", "verdict": v}
                            for t in ("VIII", "IV") for m, v in zip(nets, ("consistent", "differs", "too few to tell"))]
                           ).set_index(["paper table", "network", "measure"])
    return [
        ("success_bars", lambda: plots.success_bars(runs)),
        ("depth_series", lambda: plots.depth_series(pd.DataFrame(
            {"success %": [20, 25, 30, 35], "ci low %": [10] * 4, "ci high %": [50] * 4,
             "accuracy %": [91, 92, 93, 93]}, index=[20, 32, 44, 56]))),
        ("class_heatmaps", lambda: geometry.class_heatmaps({f"{m}, exhaustive (n=500 images)": matrix for m in nets},
                                                        CLASSES)),
        ("class_heatmaps with images per class", lambda: geometry.class_heatmaps(
            {"allconv, 3 px": matrix, "nin, 5 px": matrix}, CLASSES,
            images={"allconv, 3 px": pd.Series([3, 1, 2], index=[0, 1, 4]), "nin, 5 px": pd.Series([2], index=[3])})),
        ("from_to_bars", lambda: geometry.from_to_bars(
            {f"{m}, exhaustive": pd.DataFrame({"from": rng.random(10), "to": rng.random(10)}) for m in nets}, CLASSES)),
        ("targets_reached", lambda: plots.targets_reached({"allconv, 1 px": pd.Series(rng.integers(0, 9, 20)),
                                                          "allconv, 3 px": pd.Series(rng.integers(0, 9, 20))})),
        ("classes_reached", lambda: geometry.classes_reached({m: pd.Series(rng.integers(0, 4, 500)) for m in nets},
                                                          paper.TARGETS_REACHED)),
        ("success_curves", lambda: plots.success_curves(curves)),
        ("gallery", lambda: plots.gallery(best, data, CLASSES)),
        ("gallery with networks named", lambda: plots.gallery(  # the README's ImageNet gallery: two columns
            best.head(2).assign(model="squeezenet1_0", adv_class=1), data, CLASSES, columns=2, name_networks=True)),
        ("line_slices", lambda: slices.line_slices(lines, CLASSES, {t: 6 for t in lines}, marks=marks)),
        ("planes", lambda: slices.planes([{**plane, "xlabel": "red", "ylabel": "green", "title": "allconv: pixel (3, 4)"},
                                         {**plane, "xlabel": "red of (3, 4)", "ylabel": "red of (4, 4)",
                                          "title": "allconv: two pixels"}], CLASSES)),
        ("mean_maps", lambda: geometry.mean_maps({f"{m} (n=500 images)": grid for m in nets})),
        ("headline", lambda: plots.headline(summary)),
    ]


@pytest.mark.parametrize("name, draw", figures(), ids=[name for name, _ in figures()])
def test_every_figure_draws_with_legible_text_at_page_width_and_titles_apart(name, draw):
    plots.style()
    fig = draw()
    try:
        size, text = smallest_text(fig)
        assert size >= SMALLEST_PT - 0.05, f"{name}: {text!r} shows at {size:.1f} pt at page width"
        assert not overlapping_titles(fig), f"{name}: titles drawn over each other"
    finally:
        plt.close(fig)


def test_the_legibility_check_sees_small_text_and_titles_over_each_other():
    fig, ax = plt.subplots(figsize=(14, 3))
    ax.set_title("small", fontsize=10)
    assert smallest_text(fig)[0] < SMALLEST_PT
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(3, 2))
    for ax in axes:
        ax.set_title("squeezenet1_0: → guenon")
    assert overlapping_titles(fig) == [("squeezenet1_0: → guenon", "squeezenet1_0: → guenon")]
    plt.close(fig)


def test_success_bars_mark_every_value_the_paper_reports():
    rng = np.random.default_rng(1)
    runs = {m: Runs(0.9, rows(40, rng), rows(18, rng, True)) for m in ("allconv", "nin", "vgg16")}
    runs["efficientnet_lite0"] = Runs(0.8, rows(8, rng), None)  # the paper reports nothing for it
    fig = plots.success_bars(runs)
    diamonds = sorted(round(y, 2) for line in fig.axes[0].lines if line.get_marker() == "D" for y in line.get_ydata())
    plt.close(fig)
    assert diamonds == sorted(paper.ORIGINAL_TEST_SET[m][k] for m in ("allconv", "nin", "vgg16")
                              for k in ("untargeted", "targeted"))
