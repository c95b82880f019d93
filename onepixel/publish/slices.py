"""Chapter 07's slices of the input space: lines and planes through the pixels of the most
confident one-pixel attacks (stored probes, :mod:`onepixel.study.probe_kinds`), drawn and summarised."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap

from onepixel.publish.plots import short
from onepixel.stats.geometry import crossings


def line_slices(rows: dict[str, dict[str, pd.DataFrame]], classes, labels: dict[str, int], title: str = "",
                marks: dict[str, dict[str, dict[str, int]]] | None = None):
    """Small multiples of :func:`onepixel.engine.probes.pixel_lines`: one row per line set (``rows``:
    row title -> channel -> slice), one column per channel; class probabilities along each line,
    the true class (``labels[row]``) in bold, prediction changes as dotted lines, one legend.
    ``marks[row][channel]`` may give the "clean" and the "attack" value, drawn as vertical lines."""
    channels = list(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), len(channels), figsize=(1.45 * len(channels) + 1.2, 1.85 * len(rows) + 1.5),
                             sharex=True, sharey=True, squeeze=False)
    palette = sns.color_palette("tab10", len(classes))
    shown = set()
    for r, (row_title, lines) in enumerate(rows.items()):
        for c, channel in enumerate(channels):
            ax, df = axes[r, c], lines[channel]
            for k, name in enumerate(classes):
                if df[f"p{k}"].max() > 0.05 or k == labels[row_title]:
                    ax.plot(df.value, df[f"p{k}"], color=palette[k], lw=2.6 if k == labels[row_title] else 1.3)
                    shown.add(k)
            for v in crossings(df).to_value:
                ax.axvline(v, ls=":", color="grey")
            for what, v in ((marks or {}).get(row_title, {}).get(channel) or {}).items():
                ax.axvline(v, color="black" if what == "clean" else "crimson", lw=1.2, ls="-" if what == "clean" else "--")
            ax.tick_params(labelsize=10.5)
            if r == 0:
                ax.set_title({"grey": "all three (grey)"}.get(channel, f"{channel} channel"), fontsize=11)
            if r == len(rows) - 1:
                ax.set_xlabel("value (0..255)", fontsize=11)
        axes[r, 0].set_ylabel(row_title.replace(", ", ",\n", 1), fontsize=10.5)
    handles = [plt.Line2D([], [], color=palette[k], lw=2) for k in sorted(shown)]
    names = [short(classes[k]) for k in sorted(shown)]
    if marks:
        handles += [plt.Line2D([], [], color="black", lw=1.2), plt.Line2D([], [], color="crimson", lw=1.2, ls="--")]
        names += ["clean value", "DE's value"]
    handles.append(plt.Line2D([], [], color="grey", ls=":"))
    names.append("prediction changes")
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 3), fontsize=10.5, frameon=False)
    if title:
        fig.suptitle(title, fontsize=11)
    rows_of_legend = -(-len(names) // 3)
    fig.tight_layout(rect=(0, (0.25 + 0.26 * rows_of_legend) / fig.get_figheight(), 1, 1))
    return fig


def stored_lines(rows: pd.DataFrame, classes) -> tuple[dict, dict, dict]:
    """A stored ``lines`` probe as the arguments of :func:`line_slices`, the most confident attack
    first, its attacked pixel before the random one: per row title the lines by channel, the true
    class, and the clean and the DE's value per channel."""
    lines, labels, marks = {}, {}, {}
    order = rows.sort_values(["adv_prob", "image", "where"], ascending=[False, True, True])
    for (image, where), probe in order.groupby(["image", "where"], sort=False):
        first = probe.iloc[0]
        key = f"{image} ({classes[int(first.label)]}), {where} ({int(first.x)}, {int(first.y)})"
        lines[key] = {ch: line.reset_index(drop=True) for ch, line in probe.groupby("channel", sort=False)}
        labels[key] = int(first.label)
        marks[key] = {ch: {"clean": int(line.clean.iloc[0]),
                           **({} if np.isnan(line.attack.iloc[0]) else {"attack": int(line.attack.iloc[0])})}
                      for ch, line in lines[key].items() if ch in ("r", "g", "b")}
    return lines, labels, marks


def _figure(label: str | None, name: str) -> str:
    """``name``, or a citation of its figure where ``label`` (a template such as "fig-lines-{}") names it."""
    return f"{name} ({{numref}}`{label.format(name)}`)" if label else name


def lines_sentence(lines: dict[str, pd.DataFrame], label: str | None = None) -> str:
    """Per network (``lines[name]``: its stored ``lines`` probe; ``label``: its figure's label
    template), on how many of the lines through the attacked pixels and through the random pixels
    the prediction changes, naming the random ones; then whether, over all networks, the lines
    through attacked pixels change class more often than those through random pixels (the paper's
    picture: a successful attack is where a decision boundary crosses the pixel's slice)."""
    parts, totals = [], {"DE pixel": [0, 0], "random pixel": [0, 0]}
    for name, rows in lines.items():
        if not len(rows):
            continue
        changes = rows.groupby(["where", "image", "channel"], sort=False).pred.nunique().gt(1)
        counts = {where: (int(c.sum()), len(c)) for where, c in changes.groupby(level="where")}
        random = [f"image {image}, {'grey axis' if ch == 'grey' else ch + ' channel'}"
                  for (where, image, ch), changed in changes.items() if where == "random pixel" and changed]
        attacked, elsewhere = counts.get("DE pixel", (0, 0)), counts.get("random pixel", (0, 0))
        for where, (changed, n) in (("DE pixel", attacked), ("random pixel", elsewhere)):
            totals[where][0] += changed
            totals[where][1] += n
        parts.append(f"{_figure(label, name)}: the prediction changes along {attacked[0]} of the {attacked[1]} lines "
                     f"through the attacked pixels and {elsewhere[0]} of the {elsewhere[1]} through the random pixels"
                     + (f" ({'; '.join(random)})" if random else "") + ".")
    (a, n), (r, m) = totals["DE pixel"], totals["random pixel"]
    if n and m:
        at_random = ("while a random pixel's slices mostly stay in the true class." if r / m < 0.5
                     else "and a random pixel's slices less often.")
        parts.append(f"Over all networks a decision boundary crosses {a} of {n} lines through attacked pixels and {r} of "
                     f"{m} through random ones: " + (f"the slices through the pixels the DE chose are where the "
                     f"boundaries are, as the paper's picture has it, {at_random}" if a / n > r / m else "the slices "
                     "through the pixels the DE chose are no more often crossed than those through random pixels."))
    return " ".join(parts)


def planes_sentence(planes: dict[str, pd.DataFrame], label: str | None = None) -> str:
    """Per network (``label``: its figure's label template), the share of each plane of its most
    confident attack where the predicted class is not the true one."""
    parts = []
    for name, rows in planes.items():
        if not len(rows):
            continue
        image = int(rows.sort_values(["adv_prob", "image"], ascending=[False, True]).image.iloc[0])
        shown = rows[rows.image == image]
        share = shown.assign(other=shown.pred != shown.label).groupby("plane", sort=False).other.mean()
        parts.append(f"{_figure(label, name)}, image {image}: another class on "
                     + " and ".join(f"{100 * v:.0f}% of the {plane} plane".replace("one pixel plane", "one-pixel plane")
                                    .replace("two pixels plane", "two-pixel plane") for plane, v in share.items()) + ".")
    return " ".join(parts)


def stored_planes(rows: pd.DataFrame) -> tuple[list[dict], int]:
    """A stored ``planes`` probe of the most confident attack as :func:`planes` panels, and its image."""
    image = int(rows.sort_values(["adv_prob", "image"], ascending=[False, True]).image.iloc[0])
    panels = []
    for name, grid in rows[rows.image == image].groupby("plane", sort=False):
        first = grid.iloc[0]
        values = np.sort(grid["first"].unique())
        pred = grid.pivot(index="first", columns="second", values="pred").loc[values, values].to_numpy()
        x, y, x2 = int(first.x), int(first.y), int(first.x2)
        one = name == "one pixel"
        panels.append(dict(values=values, pred=pred, clean=(int(first.clean_first), int(first.clean_second)),
                           attack=None if np.isnan(first.attack_first) else (int(first.attack_first),
                                                                              int(first.attack_second)),
                           xlabel="red" if one else f"red of ({x}, {y})", ylabel="green" if one else f"red of ({x2}, {y})",
                           title=f"pixel ({x}, {y})" if one else "two pixels"))
    return panels, image


def plane(values, pred, clean: tuple[int, int], classes, xlabel: str, ylabel: str, title: str = "", ax=None,
          attack: tuple[int, int] | None = None):
    """Predicted class over a plane of two coordinates; the clean image's point marked (and the
    DE's, ``attack``), the classes present named in a legend below the panel."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.5, 4))
    present = np.unique(pred)
    palette = sns.color_palette("tab10", len(classes))
    ax.imshow(pred.T, origin="lower", extent=(values[0], values[-1], values[0], values[-1]), aspect="auto",
              cmap=ListedColormap(palette), vmin=-0.5, vmax=len(classes) - 0.5, interpolation="nearest")
    ax.scatter(*clean, marker="x", color="black", s=60, label="clean image")
    if attack is not None:
        ax.scatter(*attack, marker="o", facecolor="none", edgecolor="black", s=70, lw=1.5, label="DE's colour",
                   clip_on=False)
    for c in present:
        ax.scatter([], [], color=palette[c], marker="s", label=short(classes[c]))
    ax.legend(fontsize=10.5, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set_xlabel(xlabel, fontsize=10.5)
    ax.set_ylabel(ylabel, fontsize=10.5)
    ax.set_title(title, fontsize=11)
    ax.tick_params(labelsize=10.5)
    ax.grid(False)
    return ax


def planes(panels: list[dict], classes):
    """:func:`plane` panels two to a row, narrow enough for a phone (``panels``: their keyword arguments)."""
    rows = -(-len(panels) // 2)
    fig, axes = plt.subplots(rows, 2, figsize=(6.6, 4.6 * rows), squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        plane(classes=classes, ax=ax, **panel)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig
