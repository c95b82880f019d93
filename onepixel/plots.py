"""Figures for the book, in one seaborn style."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from . import metrics
from .models import MODELS


def style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "figure.figsize": (7, 3.6)})


def success_bars(runs: dict[str, dict]):
    """Success rates with 95% Wilson intervals per model and attack kind."""
    rows = []
    for name, run in runs.items():
        for kind, df in (("non-targeted", run.get("untargeted")), ("targeted", run.get("targeted"))):
            if df is not None and len(df):
                r = metrics.rate(df.success)
                rows.append({"model": name, "attack": kind, "rate": 100 * r["rate"],
                             "low": 100 * r["ci_low"], "high": 100 * r["ci_high"]})
    df = pd.DataFrame(rows)
    fig, ax = plt.subplots()
    sns.barplot(df, x="model", y="rate", hue="attack", ax=ax)
    for bar, (_, row) in zip(ax.patches, df.sort_values(["attack", "model"], key=lambda s: s.map(
            {k: i for i, k in enumerate(df[s.name].unique())})).iterrows()):
        x = bar.get_x() + bar.get_width() / 2
        ax.plot([x, x], [row.low, row.high], color="black", lw=1)
    ax.set_ylabel("success rate (%)")
    ax.set_xlabel("")
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def depth_series(table: pd.DataFrame):
    """Non-targeted success (with 95% intervals) and clean accuracy against depth, from
    :func:`onepixel.report.depth_series`."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    depth = table.index.to_numpy()
    ax.errorbar(depth, table["success %"], yerr=[table["success %"] - table["ci low %"],
                                                 table["ci high %"] - table["success %"]],
                marker="o", capsize=4)
    ax.set_xticks(depth)
    ax.set_xlabel("ResNet depth (layers)")
    ax.set_ylabel("one-pixel success (%, 95% CI)")
    acc = ax.twinx()
    acc.plot(depth, table["accuracy %"], marker="s", ls="--", color="grey")
    acc.set_ylabel("clean accuracy (%, dashed)")
    acc.grid(False)
    fig.tight_layout()
    return fig


def class_heatmap(matrix: pd.DataFrame, classes, title: str, ax=None):
    """Original (rows) x target (columns) success rates in percent."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.2, 4.4))
    sns.heatmap(100 * matrix, annot=True, fmt=".0f", cmap="rocket_r", vmin=0, ax=ax, cbar=False,
                xticklabels=classes, yticklabels=classes, annot_kws={"size": 7})
    ax.set_xlabel("target class")
    ax.set_ylabel("original class")
    ax.set_title(title)
    return ax


def targets_reached(counts: dict[str, pd.Series]):
    """Histogram of the number of target classes each image reaches, one bar group per setting."""
    df = pd.concat([pd.DataFrame({"setting": k, "classes reached": v.values}) for k, v in counts.items()])
    fig, ax = plt.subplots()
    sns.histplot(df, x="classes reached", hue="setting", multiple="dodge", discrete=True, stat="percent",
                 common_norm=False, shrink=0.8, ax=ax)
    ax.set_ylabel("images (%)")
    fig.tight_layout()
    return fig


def success_curves(curves: dict[str, tuple], points: dict[str, tuple] | None = None):
    """Success rate (%) against evaluations spent, log scale; ``points`` for fixed-cost methods."""
    fig, ax = plt.subplots()
    for name, (budgets, rates) in curves.items():
        ax.plot(budgets, 100 * np.asarray(rates), label=name)
    for name, (cost, rate) in (points or {}).items():
        ax.scatter([cost], [100 * rate], marker="*", s=120, label=name, zorder=3)
    ax.set_xscale("log")
    ax.set_xlabel("model evaluations per image")
    ax.set_ylabel("success rate (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def gallery(rows: pd.DataFrame, data, classes, columns: int = 4, title: str = ""):
    """Original and adversarial images side by side, the changed pixel(s) circled."""
    import json

    n = len(rows)
    fig, axes = plt.subplots(2 * ((n + columns - 1) // columns), columns,
                             figsize=(2.1 * columns, 4.4 * ((n + columns - 1) // columns)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    pos = {int(i): k for k, i in enumerate(data.index.tolist())}
    for k, (_, r) in enumerate(rows.iterrows()):
        img = data.images[pos[int(r.image)]].permute(1, 2, 0).numpy().copy()
        adv = img.copy()
        pixels = json.loads(r.perturbation)
        for x, y, red, green, blue in pixels:
            adv[y, x] = (red, green, blue)
        top, bottom = axes[2 * (k // columns), k % columns], axes[2 * (k // columns) + 1, k % columns]
        top.imshow(img, interpolation="nearest")
        top.set_title(f"{classes[int(r.label)]}", fontsize=8)
        bottom.imshow(adv, interpolation="nearest")
        bottom.set_title(f"{classes[int(r.adv_class)]} {100 * r.adv_prob:.0f}%", fontsize=8)
        radius = max(1.5, img.shape[0] / 20)
        for x, y, *_ in pixels:
            bottom.add_patch(plt.Circle((x, y), radius, fill=False, color="yellow", lw=1.2))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def line_slices(slices: dict[str, pd.DataFrame], classes, label: int, title: str = ""):
    """Class probabilities along each line (one panel per channel), the true class in bold,
    prediction changes marked by dotted lines."""
    from .geometry import crossings

    fig, axes = plt.subplots(1, len(slices), figsize=(3.2 * len(slices), 2.8), sharey=True, squeeze=False)
    for ax, (channel, df) in zip(axes[0], slices.items()):
        for c, name in enumerate(classes):
            if df[f"p{c}"].max() > 0.05 or c == label:
                ax.plot(df.value, df[f"p{c}"], lw=2.5 if c == label else 1.2, label=name)
        for v in crossings(df).to_value:
            ax.axvline(v, ls=":", color="grey")
        ax.set_title(channel, fontsize=9)
        ax.set_xlabel("value (0..255)")
    axes[0, 0].set_ylabel("probability")
    axes[0, -1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plane(values, pred, clean: tuple[int, int], classes, xlabel: str, ylabel: str, title: str = "", ax=None):
    """Predicted class over a plane of two coordinates; the clean image's point marked."""
    from matplotlib.colors import ListedColormap

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.4))
    present = np.unique(pred)
    palette = sns.color_palette("tab10", len(classes))
    ax.imshow(pred.T, origin="lower", extent=(values[0], values[-1], values[0], values[-1]), aspect="auto",
              cmap=ListedColormap(palette), vmin=-0.5, vmax=len(classes) - 0.5, interpolation="nearest")
    ax.scatter(*clean, marker="x", color="black", s=60, label="clean image")
    for c in present:
        ax.scatter([], [], color=palette[c], marker="s", label=classes[c])
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(False)
    return ax


def mean_map(maps: pd.DataFrame, title: str = ""):
    """Mean over images of the per-pixel vulnerability map."""
    grid = maps.groupby(["y", "x"]).best_other_prob.mean().unstack()
    fig, ax = plt.subplots(figsize=(4, 3.4))
    sns.heatmap(grid, cmap="mako", ax=ax, xticklabels=8, yticklabels=8,
                cbar_kws={"label": "best other-class probability"})
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


TABLE_TITLES = {"VIII": "Table VIII: original CIFAR-10 test set, 1 pixel",
                "IV": "Table IV: Kaggle CIFAR-10 set and ImageNet, 1 pixel",
                "V": "Table V: 3 and 5 pixels (Kaggle set)", "VII": "Table VII: random search (Kaggle set)"}


def network_colours() -> dict[str, tuple]:
    """One colour-blind-safe colour per registered network, the same in every figure (grey, the
    palette's eighth colour, is left for everything else)."""
    palette = [c for i, c in enumerate(sns.color_palette("colorblind", 10)) if i != 7]
    return {name: palette[i % len(palette)] for i, name in enumerate(MODELS)}


def headline(summary: pd.DataFrame):
    """Every success rate the paper reports, one panel per paper table: ours with its 95% interval
    (coloured by network) and the paper's value (black diamond). ``summary`` from
    :func:`onepixel.comparison.paper_summary`."""
    rates = summary[summary["ci low"].notna() & summary.paper.notna()].reset_index()
    tables = list(dict.fromkeys(rates["paper table"]))
    heights = [rates["paper table"].eq(t).sum() for t in tables]
    fig, axes = plt.subplots(len(tables), 1, figsize=(7.5, 0.9 + 0.36 * sum(heights) + 0.45 * len(tables)),
                             sharex=True, gridspec_kw={"height_ratios": heights}, squeeze=False)
    colours = network_colours()
    for ax, table in zip(axes[:, 0], tables):
        part = rates[rates["paper table"] == table].rename(columns={"ci low": "lo", "ci high": "hi"})
        y = np.arange(len(part))[::-1]
        for yi, row in zip(y, part.itertuples()):
            colour = colours.get(row.network.split(",")[0], "grey")
            ax.errorbar(row.ours, yi, xerr=[[row.ours - row.lo], [row.hi - row.ours]], fmt="o", color=colour,
                        capsize=3, ms=5)
            ax.plot(row.paper, yi, marker="D", color="black", ms=5, ls="none")
        ax.set_yticks(y, [f"{r.network}: {r.measure.replace(' %', '').replace(' (clustered CI)', '')}"
                          for r in part.itertuples()], fontsize=9)
        ax.set_title(TABLE_TITLES.get(table, f"Table {table}"), loc="left", fontsize=10)
        ax.set_ylim(-0.6, len(part) - 0.4)
    axes[-1, 0].set_xlabel("success rate (%)")
    axes[-1, 0].set_xlim(0, 100)
    handles = [plt.Line2D([], [], marker="o", color="grey", label="ours, 95% interval"),
               plt.Line2D([], [], marker="D", color="black", ls="none", label="paper")]
    fig.legend(handles=handles, loc="upper right", ncols=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig
