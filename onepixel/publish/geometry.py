"""Tables and figures of chapters 05 (class pairs) and 07 (geometry): success matrices, their
asymmetry, robust classes, the colour cube, vulnerable pixels and chapter 07's findings (its lines
and planes are drawn by :mod:`onepixel.publish.slices`). Each turns stored rows into a table or figure."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from onepixel.publish.plots import network_colours
from onepixel.stats import metrics
from onepixel.stats.geometry import (asymmetric_pairs, bootstrap_asymmetry, distance_to_centre, robust_classes,
                                     symmetric_null)


def asymmetry_table(matrices: dict[str, tuple[pd.DataFrame, pd.DataFrame]], classes,
                    min_images: int = 2) -> pd.DataFrame:
    """Asymmetry index with bootstrap 95% interval per setting; ``matrices[name] = (rows, matrix)``.
    A setting with fewer than ``min_images`` images of some original class gets no index (the rule
    of :func:`too_few_per_class`); a most asymmetric pair only where some pair differs."""
    out = []
    for name, (rows, matrix) in matrices.items():
        images = rows.image.nunique() if len(rows) else 0
        covered = metrics.classes_covered(rows, min_images)
        if covered < len(classes):
            out.append({"setting": name, "asymmetry index": None,
                        "95% CI": f"too few images: {covered} of {len(classes)} classes have {min_images} or more",
                        "symmetric null: 95th percentile": "-", "p (symmetric)": "-", "images": images,
                        "most asymmetric pair": "-"})
            continue
        b = bootstrap_asymmetry(rows, len(classes))
        null = symmetric_null(rows, len(classes))
        null = null[np.isfinite(null)]
        top = asymmetric_pairs(matrix, list(classes), top=1)
        found = np.isfinite(b["index"]) and len(null)
        out.append({"setting": name, "asymmetry index": round(b["index"], 3),
                    "95% CI": f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]" if np.isfinite(b["index"])
                    else "no successful attack",
                    "symmetric null: 95th percentile": round(float(np.quantile(null, 0.95)), 3) if found else "-",
                    "p (symmetric)": f"{(1 + (null >= b['index']).sum()) / (1 + len(null)):.3f}" if found else "-",
                    "images": images,
                    "most asymmetric pair": f"{top.a[0]} -> {top.b[0]}: {100 * top.a_to_b[0]:.0f}% vs "
                                            f"{100 * top.b_to_a[0]:.0f}%" if len(top) and top.difference[0] else "-"})
    return pd.DataFrame(out).set_index("setting")


def _interval_low(row: pd.Series) -> float:
    """The lower end of an :func:`asymmetry_table` row's interval ("[low, high]")."""
    return float(row["95% CI"].strip("[]").split(",")[0])


def asymmetry_sentence(table: pd.DataFrame) -> str:
    """Which settings of :func:`asymmetry_table` are asymmetric beyond noise (the lower end of the
    index's interval above the symmetric null's 95th percentile), which are within it, which have
    too few images."""
    beyond, within, few, none = [], [], [], []
    for name, row in table.iterrows():
        null = row["symmetric null: 95th percentile"]
        if not isinstance(null, float):
            (none if row["95% CI"] == "no successful attack" else few).append(name)
            continue
        low = _interval_low(row)
        (beyond if low > null else within).append(f"{name} (index {row['asymmetry index']:.3f}, interval from {low:.3f}, "
                                               f"null {null:.3f})")
    parts = []
    if beyond:
        parts.append(f"Asymmetric beyond noise (interval above the symmetric null's 95th percentile): {'; '.join(beyond)}.")
    if within:
        parts.append(f"Not distinguishable from a symmetric process: {'; '.join(within)}.")
    if few:
        parts.append(f"Too few images to tell: {'; '.join(few)}.")
    if none:
        parts.append(f"No successful attack: {'; '.join(none)}.")
    return " ".join(parts)


def too_few_per_class(setting: str, rows: pd.DataFrame, classes: int, min_images: int = 2) -> str | None:
    """The sentence shown instead of per-class-pair figures when the sample ``rows`` has fewer than
    ``min_images`` images for some original class (None when every class has enough)."""
    covered = metrics.classes_covered(rows, min_images)
    if covered == classes:
        return None
    return (f"*{setting}:* the targeted sample ({rows.image.nunique() if len(rows) else 0} images) "
            f"has {min_images} or more images for {covered} of the {classes} original classes. With fewer "
            "images per class a per-pair rate says nothing, so the class pairs are shown from the exhaustive "
            "search below.")


def vulnerability_distance(maps: dict[str, pd.DataFrame], size: int = 32) -> pd.DataFrame:
    """Distance to the image centre of each image's most vulnerable pixel, against all pixels."""
    rows = []
    every = distance_to_centre(*np.meshgrid(np.arange(size), np.arange(size)), size, size)
    for name, m in maps.items():
        top = m.loc[m.groupby("image").best_other_prob.idxmax()]
        d = distance_to_centre(top.x, top.y, size, size)
        rows.append({"model": name, "images": len(top), "mean distance of most vulnerable pixel": round(d.mean(), 2),
                     "mean distance of all pixels": round(float(every.mean()), 2),
                     "share within 8 px of centre": round(float((d <= 8).mean()), 3),
                     "share of all pixels within 8 px": round(float((every <= 8).mean()), 3)})
    return pd.DataFrame(rows).set_index("model")


def by_de_colour(cube: pd.DataFrame, attacks: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Cube rows at the DE's pixels split by whether the DE's own colour is a cube corner (every channel
    0 or 255; ``attacks``: the DE rows). Where it is, a corner flips by construction; only where it is
    not are the corners tested independently of the DE's choice."""
    if not len(cube):
        return {"DE's colour a corner": cube, "DE's colour not a corner": cube}
    corner = attacks.set_index("image")[["r", "g", "b"]].isin([0, 255]).all(axis=1)
    flag = cube.image.map(corner).fillna(False).astype(bool)
    return {"DE's colour a corner": cube[flag], "DE's colour not a corner": cube[~flag]}


def cube_table(cube: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per setting, from its stored cube-against-corners rows: images where some grid colour flips the
    class, where some cube corner does, where only the grid does, the share of the images with a
    flipping grid colour where no corner flips (95% Wilson interval, n), and the mean share of grid
    colours that flip."""
    out = []
    for name, c in cube.items():
        flips = c[c.grid_flips] if len(c) else c
        missed = metrics.rate(~flips.corner_flips.astype(bool)) if len(flips) else {"n": 0}
        out.append({"setting": name, "images": len(c), "some grid colour flips": int(c.grid_flips.sum()) if len(c) else 0,
                    "some corner flips": int(c.corner_flips.sum()) if len(c) else 0,
                    "grid only": int((c.grid_flips & ~c.corner_flips).sum()) if len(c) else 0,
                    "no corner flips, % of grid flips": metrics.percent(missed) if missed["n"] else "-",
                    "mean share of grid colours that flip": round(float(c.grid_flip_fraction.mean()), 3) if len(c) else "-"})
    return pd.DataFrame(out).set_index("setting")


def robust_classes_table(exhaustive: dict[str, pd.DataFrame], classes) -> pd.DataFrame:
    """Mean success (%) of exhaustive attacks from and to each class, one column per network, rows in
    the first network's order (its most robust class first)."""
    return pd.concat({name: robust_classes(rows, classes)["mean"] for name, rows in exhaustive.items()},
                     axis=1).mul(100).round(1).rename_axis("class")


def class_extremes_table(exhaustive: dict[str, pd.DataFrame], classes) -> pd.DataFrame:
    """Per network, from the exhaustive search: the class whose images move to a chosen target most
    often and the class reached most often, each with its share (%) of the image-target pairs."""
    out = {}
    for name, rows in exhaustive.items():
        if not len(rows):
            continue
        rates = metrics.attacked_from_to(rows, len(classes))
        source, target = rates["from"].idxmax(), rates["to"].idxmax()
        out[name] = {"images": rows.image.nunique(), "moves most": classes[source],
                     "% of its pairs": round(100 * rates["from"][source], 1), "reached most": classes[target],
                     "% of the pairs aimed at it": round(100 * rates["to"][target], 1)}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("network")


def class_heatmaps(matrices: dict[str, pd.DataFrame], classes, columns: int = 1,
                   images: dict[str, pd.Series] | None = None, min_images: int = 2) -> plt.Figure | None:
    """Original (rows) x target (columns) success rates in percent, one panel per title in
    ``matrices``, on one colour scale from 0 to the largest cell (rounded up to ten) with one colour
    bar; blank cells: no data. With ``images`` (per title, the number of images of each original
    class), each row's label gives it, rows of fewer than ``min_images`` images are left blank and
    a panel left all blank is left out (None when every panel is)."""
    labels = {title: list(classes) for title in matrices}
    if images is not None:
        for title in matrices:
            count = images[title].reindex(range(len(classes)), fill_value=0).astype(int).to_numpy()
            keep = pd.Series(count >= min_images, index=matrices[title].index)
            matrices = {**matrices, title: matrices[title].where(keep, axis=0)}
            labels[title] = [f"{c} ({k})" for c, k in zip(classes, count)]
        matrices = {title: m for title, m in matrices.items() if m.notna().any().any()}
        if not matrices:
            return None
    largest = max((float(np.nanmax(m.to_numpy())) for m in matrices.values() if m.notna().any().any()), default=1.0)
    top = max(10.0, 10 * np.ceil(100 * largest / 10))
    n = len(matrices)
    cols = min(columns, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols + 0.8, 5.3 * rows), squeeze=False, layout="constrained")
    for ax, (title, matrix) in zip(axes.flat, matrices.items()):
        sns.heatmap(100 * matrix, annot=True, fmt=".0f", cmap="rocket_r", vmin=0, vmax=top, ax=ax, cbar=False,
                    xticklabels=classes, yticklabels=labels[title], annot_kws={"size": 10.5}, square=True)
        ax.grid(False)
        ax.set_xlabel("target class")
        ax.set_ylabel("original class" + (" (images)" if images is not None else ""))
        ax.set_title(title, fontsize=10)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    fig.colorbar(axes.flat[0].collections[0], ax=list(axes.flat[:n]), shrink=0.7,
                 label=f"success rate (%, scale to the largest cell, {top:.0f})")
    return fig


def from_to_bars(rates: dict[str, pd.DataFrame], classes):
    """Per class, the success rate of attacks *from* it (its images) and *to* it (as the target),
    one panel each, one colour per network; ``rates[name]`` from :func:`onepixel.stats.metrics.attacked_from_to`."""
    colours = network_colours()
    frames = [r.set_axis(list(classes)).mul(100).rename_axis("class").reset_index().assign(network=name)
              for name, r in rates.items()]
    df = pd.concat(frames, ignore_index=True)
    fig, axes = plt.subplots(2, 1, figsize=(7.0, 5.4), sharex=True, sharey=True)
    palette = {name: colours.get(name.split(",")[0].split(" ")[0], "grey") for name in rates}
    for ax, side in zip(axes, ("from", "to")):
        sns.barplot(df, x="class", y=side, hue="network", palette=palette, ax=ax, legend=side == "from")
        ax.set_xlabel("")
        ax.set_ylabel("success rate (%)")
        ax.set_title(f"attacks {side} each class", fontsize=10)
    axes[1].tick_params(axis="x", rotation=30)
    for label in axes[1].get_xticklabels():
        label.set_horizontalalignment("right")
    axes[0].set_ylim(0, 1.3 * max(df["from"].max(), df["to"].max()))  # room for the legend
    axes[0].legend(fontsize=9.5, title="", ncol=len(rates), loc="upper left")
    fig.tight_layout()
    return fig


def classes_reached(counts: dict[str, pd.Series], paper_means: dict[str, float], classes: int = 10):
    """The share of images by the number of other classes they can be made to reach
    (``counts[name]``, one value per image), one bar colour per network, with each network's mean
    over all images (solid line) and the paper's (dashed) marked in its colour."""
    colours = network_colours()
    fig, ax = plt.subplots(figsize=(7.0, 3.6))
    width = 0.8 / len(counts)
    for k, (name, reached) in enumerate(counts.items()):
        share = reached.value_counts(normalize=True).reindex(range(classes), fill_value=0) * 100
        colour = colours.get(name, "grey")
        paper = f", paper {paper_means[name]}" if name in paper_means else ""
        ax.bar(share.index + (k - (len(counts) - 1) / 2) * width, share.values, width=width, color=colour,
               label=f"{name} (n={len(reached)}): mean {reached.mean():.2f}{paper}")
        ax.axvline(reached.mean(), color=colour, lw=1.8)
        if name in paper_means:
            ax.axvline(paper_means[name], color=colour, lw=1.8, ls="--")
    ax.set_xlabel("other classes reached")
    ax.set_ylabel("images (%)")
    ax.set_xticks(range(classes))
    ax.legend(fontsize=9.5, title="network: mean per image (line), paper's (dashed)", title_fontsize=9.5)
    fig.tight_layout()
    return fig


def findings(lines: dict[str, pd.DataFrame], cube: pd.DataFrame, distance: pd.DataFrame,
             asymmetry: pd.DataFrame) -> str:
    """Chapter 07's "What we found", one computed line per section: lines through attacked against
    random pixels (all networks), whether corners miss flips at the DE's pixels, where the most
    vulnerable pixels lie, and how many success matrices are asymmetric beyond noise."""
    out = []
    changed = {"DE pixel": [0, 0], "random pixel": [0, 0]}
    for rows in lines.values():
        if len(rows):
            for (where, *_), c in rows.groupby(["where", "image", "channel"]).pred.nunique().gt(1).items():
                changed[where][0] += int(c)
                changed[where][1] += 1
    if changed["DE pixel"][1]:
        (a, n), (r, m) = changed["DE pixel"], changed["random pixel"]
        out.append(f"- Lines: the prediction changes along {a} of {n} single-channel and grey lines through the pixels of "
                   f"the most confident attacks, and along {r} of {m} through random pixels of the same images.")
    at_de = cube[cube.index.str.endswith("DE's colour not a corner") & (cube["no corner flips, % of grid flips"] != "-")]
    if len(at_de):
        out.append("- Corners: at the pixels of successful DE attacks whose colour is not a corner, among the images "
                   "where some colour flips the class, the share where no cube corner flips it (%, 95% Wilson interval, n): " + "; ".join(
                       f"{name.split(',')[0]} {value}" for name, value in at_de["no corner flips, % of grid flips"].items())
                   + ".")
    if len(distance):
        everywhere = float(distance["share of all pixels within 8 px"].iloc[0])
        shares = "; ".join(f"{name} {100 * share:.0f}% of {n}" for name, share, n in
                           zip(distance.index, distance["share within 8 px of centre"], distance["images"]))
        closer = [n for n, row in distance.iterrows()
                  if row["mean distance of most vulnerable pixel"] < row["mean distance of all pixels"]]
        out.append(f"- Vulnerable pixels: within 8 px of the centre for {shares} images, against "
                   f"{100 * everywhere:.0f}% of all pixels; on average closer to the centre than a random pixel for "
                   f"{len(closer)} of {len(distance)} networks" + (f" ({', '.join(closer)})." if closer else "."))
    rated = asymmetry[asymmetry["symmetric null: 95th percentile"] != "-"]
    if len(rated):
        beyond = [name for name, row in rated.iterrows() if _interval_low(row) > row["symmetric null: 95th percentile"]]
        out.append(f"- Asymmetry: {len(beyond)} of {len(rated)} success matrices with enough images are asymmetric "
                   f"beyond a symmetric process with the same counts" + (f" ({'; '.join(beyond)})." if beyond else "."))
    return "\n".join(out) if out else "Nothing is stored for this chapter yet."


def mean_maps(maps: dict[str, pd.DataFrame]):
    """Mean over images of the per-pixel vulnerability map, one panel per title in ``maps``, on one
    colour scale with one colour bar."""
    grids = {title: m.groupby(["y", "x"]).best_other_prob.mean().unstack() for title, m in maps.items()}
    top = max(float(g.max().max()) for g in grids.values())
    fig, axes = plt.subplots(1, len(grids), figsize=(1.8 * len(grids) + 0.9, 2.7), squeeze=False, layout="constrained")
    for ax, (title, grid) in zip(axes.flat, grids.items()):
        sns.heatmap(grid, cmap="mako", vmin=0, vmax=top, ax=ax, cbar=False, square=True, xticklabels=8, yticklabels=8)
        ax.set_title(title, fontsize=11)
        ax.tick_params(labelsize=10.5)
    fig.colorbar(axes.flat[0].collections[0], ax=axes.ravel().tolist(), label="best other-class probability",
                 shrink=0.85)
    return fig
