"""Figures for the book, in one seaborn style: the style, one palette per network, one way of
writing class names, and the figures of the attack chapters (00-06; chapters 05 and 07's class-pair
and geometry figures are in :mod:`onepixel.publish.geometry`). Read it as a catalogue, one short
function per figure.
"""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from onepixel.nets.models import MODELS
from onepixel.publish import captions
from onepixel.stats import metrics, paper
from onepixel.stats.metrics import Runs


def style() -> None:
    """The book's look: one seaborn theme, figures at twice screen resolution, and tables shown
    by :func:`onepixel.publish.captions.html` (every notebook calls this first)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7, 3.6)})
    try:
        from IPython import get_ipython  # only inside a notebook
        from matplotlib_inline.backend_inline import set_matplotlib_formats  # only inside a notebook
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        set_matplotlib_formats("png", dpi=220)  # 2x PNG: sharp on high-density screens and in print
        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, captions.html)


def success_bars(runs: dict[str, Runs]):
    """Non-targeted and targeted success per network: ours as bars with the 95% intervals of the
    book's tables (targeted: clustered by image), the paper's value as a black diamond where it
    reports one (:func:`onepixel.stats.paper.reported_rate`)."""
    kinds = {"non-targeted": ("untargeted", lambda rows: metrics.rate(rows.success)),
             "targeted": ("targeted", metrics.targeted_rate)}
    fig, ax = plt.subplots()
    width, names = 0.38, list(runs)
    for k, (label, (kind, interval)) in enumerate(kinds.items()):
        colour = sns.color_palette("colorblind")[k]
        for i, name in enumerate(names):
            x, df = i + (k - 0.5) * width, getattr(runs[name], kind)
            if df is not None and len(df):
                r = {key: 100 * value for key, value in interval(df).items() if key in ("rate", "ci_low", "ci_high")}
                ax.bar(x, r["rate"], width, color=colour, label=label)
                ax.errorbar(x, r["rate"], yerr=[[r["rate"] - r["ci_low"]], [r["ci_high"] - r["rate"]]], color="black",
                            lw=1, capsize=3)
            reported = paper.reported_rate(name, kind)
            if reported is not None:
                ax.plot(x, reported, marker="D", color="black", mec="white", ms=7, ls="none", zorder=3,
                        label="paper")
    handles, labels = ax.get_legend_handles_labels()
    legend = dict(zip(labels, handles))  # one entry per label
    order = [label for label in [*kinds, "paper"] if label in legend]
    ax.legend([legend[label] for label in order], order, fontsize=9)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.grid(axis="x", visible=False)
    ax.set_ylabel("success rate (%)")
    fig.tight_layout()
    return fig


def depth_series(table: pd.DataFrame):
    """Non-targeted one-pixel success (95% intervals) and clean accuracy against ResNet depth, in
    two panels side by side, from :func:`onepixel.publish.report.depth_series`."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4), sharex=True)
    depth = table.index.to_numpy()
    left.errorbar(depth, table["success %"], yerr=[table["success %"] - table["ci low %"],
                                                   table["ci high %"] - table["success %"]],
                  marker="o", capsize=4)
    left.set_ylabel("one-pixel success (%, 95% CI)")
    right.plot(depth, table["accuracy %"], marker="s")
    right.set_ylabel("clean accuracy (%)")
    for ax in (left, right):
        ax.set_xticks(depth)
        ax.set_xlabel("ResNet depth (layers)")
    fig.tight_layout()
    return fig


def transfer_heatmap(table: pd.DataFrame):
    """Target (rows) x source (columns), narrow enough for a phone: the share (%) of the source's
    one-pixel perturbations that also fool the target, coloured on the data's own scale, with n under
    each value."""
    rate = table.pivot(index="target", columns="source", values="rate %")
    n = table.pivot(index="target", columns="source", values="target correct on clean")
    order_rows, order_cols = list(dict.fromkeys(table.target)), list(dict.fromkeys(table.source))
    rate, n = rate.reindex(index=order_rows, columns=order_cols), n.reindex(index=order_rows, columns=order_cols)
    off = table[table.source != table.target]["rate %"]
    labels = (rate.round(0).astype("Int64").astype(str) + "\nn=" + n.astype("Int64").astype(str)).where(rate.notna(), "")
    fig, ax = plt.subplots(figsize=(2.2 + 0.8 * len(order_cols), 0.6 + 0.62 * len(order_rows)), layout="constrained")
    diagonal = rate.index.to_numpy(dtype=object)[:, None] == rate.columns.to_numpy(dtype=object)[None, :]
    sns.heatmap(rate.mask(diagonal), annot=labels.to_numpy(), fmt="",
                cmap="rocket_r", vmin=0, vmax=float(off.max()) if len(off) else 100, ax=ax, annot_kws={"size": 9.5},
                cbar_kws={"label": "also fools the target (%)"})
    ax.set_xlabel("source network (where DE found the pixel)")
    ax.set_ylabel("target network")
    ax.grid(False)
    return fig


def targets_reached(counts: dict[str, pd.Series]):
    """Histogram of the number of target classes each image reaches, one bar group per setting."""
    df = pd.concat([pd.DataFrame({"setting": k, "classes reached": v.values}) for k, v in counts.items()])
    fig, ax = plt.subplots()
    sns.histplot(df, x="classes reached", hue="setting", multiple="dodge", discrete=True, stat="percent",
                 common_norm=False, shrink=0.8, ax=ax)
    ax.set_ylabel("images (%)")
    fig.tight_layout()
    return fig


def success_curves(per_model: dict[str, tuple[dict, dict]]):
    """Success rate (%) against evaluations spent per image (log scale), one panel per network on
    one y scale: a line per search (each to its own budget) and a star per fixed-cost method, one
    legend below. ``per_model[name] = (curves, points)`` from :func:`onepixel.publish.cost.budget_curves`;
    the legend names each method with the first network's n."""
    fig, axes = plt.subplots(1, len(per_model), figsize=(7.0, 3.4), sharey=True, squeeze=False)
    for ax, (model, (curves, points)) in zip(axes[0], per_model.items()):
        for k, (name, (budgets, rates)) in enumerate(curves.items()):
            ax.plot(budgets, 100 * np.asarray(rates), label=name.split(" (")[0], color=f"C{k}")
        for k, (name, (cost, rate)) in enumerate((points or {}).items()):
            ax.scatter([cost], [100 * rate], marker="*", s=140, label=name.split(" (")[0], zorder=3,
                       color=f"C{len(curves) + k}")
        ax.set_xscale("log")
        ax.set_xlabel("evaluations per image", fontsize=10)
        ax.tick_params(labelsize=9.5)
        ns = ", ".join(name.split(" (")[1].rstrip(")") for name in [*curves, *(points or {})] if " (" in name)
        ax.set_title(f"{model}\n({ns})", fontsize=9.5)
    axes[0, 0].set_ylabel("success rate (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9.5, frameon=False)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def short(name: str) -> str:
    """A class name's first synonym ("tench" of "tench, Tinca tinca"), for titles."""
    return name.split(",")[0]


def gallery(rows: pd.DataFrame, data, classes, columns: int = 4, title: str = "", zoom: int = 4,
            name_networks: bool = False):
    """The paper's Figure 1 for attack ``rows``: per attack a column with the clean image (true
    class and its probability), the attacked image (the class it now gets and its probability, the
    changed pixels circled; with ``name_networks``, the ``model`` column's network on a line of its own)
    and the neighbourhood of the first changed pixel enlarged."""
    n = len(rows)
    blocks = -(-n // columns)
    fig, axes = plt.subplots(3 * blocks, columns, figsize=(1.6 * columns + 0.5, 5.4 * blocks), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    for b in range(blocks):
        for row, label in enumerate(("clean", "one pixel changed" if "perturbation" in rows else "attacked",
                                     "enlarged")):
            axes[3 * b + row, 0].set_ylabel(label, fontsize=10)
    pos = {int(i): k for k, i in enumerate(data.index.tolist())}
    for k, (_, r) in enumerate(rows.iterrows()):
        img = data.images[pos[int(r.image)]].permute(1, 2, 0).numpy().copy()
        adv = img.copy()
        pixels = json.loads(r.perturbation)
        for x, y, red, green, blue in pixels:
            adv[y, x] = (red, green, blue)
        top, mid, low = (axes[3 * (k // columns) + i, k % columns] for i in range(3))
        top.imshow(img, interpolation="nearest")
        clean = f" ({100 * r.clean_prob:.0f}%)" if "clean_prob" in r and pd.notna(r.clean_prob) else ""
        top.set_title(f"{short(classes[int(r.label)])}{clean}", fontsize=10.5)
        mid.imshow(adv, interpolation="nearest")
        goal = "" if r.get("target", -1) in (-1, None) or pd.isna(r.get("target", -1)) else " (target)"
        network = f"{r.model}\n" if name_networks else ""
        mid.set_title(f"{network}→ {short(classes[int(r.adv_class)])}{goal}\n({100 * r.adv_prob:.0f}%)", fontsize=10.5)
        radius = max(1.5, img.shape[0] / 20)
        for x, y, *_ in pixels:
            mid.add_patch(plt.Circle((x, y), radius, fill=False, color="yellow", lw=1.5))
        x, y = pixels[0][:2]
        h, w = img.shape[:2]
        y0, x0 = min(max(y - zoom, 0), h - 2 * zoom - 1), min(max(x - zoom, 0), w - 2 * zoom - 1)
        low.imshow(adv[y0:y0 + 2 * zoom + 1, x0:x0 + 2 * zoom + 1], interpolation="nearest")
        low.add_patch(plt.Rectangle((x - x0 - 0.5, y - y0 - 0.5), 1, 1, fill=False, color="yellow", lw=2))
        low.set_title(f"pixel ({x}, {y})", fontsize=10.5)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


# The summary figure's panels: (paper table, measure prefix) -> panel title, x label, x range.
HEADLINE_PANELS = {
    ("VIII", ""): ("paper Table VIII: original CIFAR-10 test set, 1 pixel", "%", (0, 100)),
    ("IV", ""): ("paper Table IV: Kaggle CIFAR-10 set, 1 pixel", "%", (0, 100)),
    ("IV (ImageNet)", ""): ("paper Table IV: ImageNet, 1 pixel", "%", (0, 100)),
    ("V", ""): ("paper Table V: 3 and 5 pixels (Kaggle set)", "%", (0, 100)),
    ("VII", ""): ("paper Table VII: random search (Kaggle set)", "%", (0, 100)),
    ("VI", "evaluations"): ("paper Table VI: evaluations per successful attack", "evaluations", None),
    ("VI", "distortion"): ("paper Table VI: colour change of the pixel", "mean change (0..255)", (0, 255)),
    ("text", ""): ("the paper's text: target classes reached per image", "classes", (0, 9)),
}
SHORT_MEASURE = [(": success", ""), (" (clustered CI)", ""), (" success", ""), (" %", ""), ("(from 9 targets)", "(9 targets)"),
                 (" (successful)", ""), (" (successful, 0..255)", ""), (": success", ""),
                 ("classes reached per image (targeted DE)", "classes reached")]


def network_colours() -> dict[str, tuple]:
    """One colour-blind-safe colour per registered network, the same in every figure (grey, the
    palette's eighth colour, is left for everything else)."""
    palette = [c for i, c in enumerate(sns.color_palette("colorblind", 10)) if i != 7]
    return {name: palette[i % len(palette)] for i, name in enumerate(MODELS)}


# How the summary figure draws our value, by the comparison's verdict (comparison.verdicts); the
# paper's open diamond is drawn over it, so that both stay visible where they coincide.
VERDICT_MARKERS = {"consistent": {"marker": "o", "ms": 6, "markeredgecolor": "white"},
                   "differs": {"marker": "X", "ms": 9, "markeredgecolor": "black", "markeredgewidth": 0.8},
                   "too few to tell": {"marker": "o", "ms": 6, "markerfacecolor": "white"}}


def headline(summary: pd.DataFrame):
    """Every value the paper reports that we measure, accuracy aside, in one narrow figure (readable on
    a phone): a panel per paper table (Table VI split by unit), per row our value with its 95%
    interval (coloured by network, marker by the comparison's verdict) and the paper's value (open
    diamond, drawn over ours so that both stay visible where they coincide). ``summary`` from
    :func:`onepixel.stats.comparison.paper_summary`."""
    rows = summary.reset_index()
    rows = rows[~rows.measure.str.startswith("accuracy")]
    panels = []
    for (table, prefix), (title, unit, limits) in HEADLINE_PANELS.items():
        part = rows[(rows["paper table"] == table) & rows.measure.str.startswith(prefix)]
        order = sorted(dict.fromkeys(part.measure), key=lambda m: m.startswith("targeted") or "9 targets" in m)
        part = part.iloc[np.lexsort((part.network.map(list(dict.fromkeys(part.network)).index),
                                     part.measure.map(order.index)))]
        if len(part):
            panels.append((part, title, unit, limits))
    heights = [len(part) for part, *_ in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(5.0, 0.7 + 0.18 * sum(heights) + 0.58 * len(panels)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    colours = network_colours()
    for ax, (part, title, unit, limits) in zip(axes[:, 0], panels):
        y = np.arange(len(part))[::-1]
        for yi, (_, row) in zip(y, part.iterrows()):
            colour = colours.get(row.network.split(",")[0], "grey")
            if pd.notna(row["ci low"]) and pd.notna(row["ci high"]):
                ax.errorbar(row.ours, yi, xerr=[[row.ours - row["ci low"]], [row["ci high"] - row.ours]], fmt="none",
                            ecolor=colour, capsize=2, lw=1.2, zorder=2)
            ax.plot(row.ours, yi, ls="none", zorder=3, color=colour, **VERDICT_MARKERS[row.verdict])
            ax.plot(row.paper, yi, marker="D", ms=7, mfc="none", mec="black", mew=1.2, ls="none", zorder=4)
        labels = []
        for _, row in part.iterrows():
            measure = row.measure
            for old, new in SHORT_MEASURE:
                measure = measure.replace(old, new)
            labels.append(f"{row.network}: {measure}")
        ax.set_yticks(y, labels, fontsize=10)
        ax.tick_params(axis="x", labelsize=10)
        ax.set_title(title, loc="left", fontsize=10.5)
        ax.set_ylim(-0.7, len(part) - 0.3)
        ax.set_xlim(*(limits or (0, 1.08 * max(part[["ours", "paper", "ci high"]].max().max(), 1))))
        ax.set_xlabel(unit, fontsize=10, labelpad=1)
    handles = [plt.Line2D([], [], ls="none", color="grey", label=f"ours: {verdict}", **style)
               for verdict, style in VERDICT_MARKERS.items()]
    handles.append(plt.Line2D([], [], marker="D", mfc="none", mec="black", ls="none", label="paper"))
    fig.legend(handles=handles, loc="upper center", ncols=2, fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.55 / fig.get_figheight()), h_pad=0.6)
    return fig