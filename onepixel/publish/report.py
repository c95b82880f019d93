"""The attack chapters' tables and sentences: few pixels, transfer, ResNet depth, early stop and
bounds ablations, the interval simulation, the plan's status (chapter 04 is in
:mod:`onepixel.publish.cost`, 05 and 07 in :mod:`onepixel.publish.geometry`, 08 in
:mod:`onepixel.publish.performance`). Each turns stored
rows into a table; none computes."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from onepixel.stats import metrics, paper
from onepixel.stats.coverage import choose
from onepixel.stats.metrics import Runs


if TYPE_CHECKING:  # a type only: the tables import nothing that reads the store
    from onepixel.study.rows import Progress


FEW_PIXEL_COLUMNS = {
    "non-targeted": ["non-targeted %", "confidence %", "paper: non-targeted %", "paper: confidence %"],
    "targeted": ["targeted % (clustered)", "non-targeted from 9 targets %", "confidence (from 9 targets) %",
                 "classes reached per image", "paper: targeted %"]}


def few_pixel_table(runs: dict[tuple[str, int], Runs], goal: str | None = None) -> pd.DataFrame:
    """Table 1 rows per (model, pixels), with the paper's Table V where it reports the pair; with
    ``goal`` ("non-targeted" or "targeted") only that goal's columns and the rows that have them,
    narrow enough for a page."""
    table = metrics.attack_table({f"{m}|{k}": r for (m, k), r in runs.items()}).reset_index()
    table[["model", "pixels"]] = table.pop("model").str.split("|", expand=True)
    for key, col in (("targeted", "targeted"), ("untargeted", "non-targeted"), ("confidence", "confidence")):
        values = [paper.FEW_PIXELS.get((m, int(k)), {}).get(key) for m, k in zip(table.model, table.pixels)]
        if any(v is not None for v in values):  # networks the paper did not attack get no paper columns
            table[f"paper: {col} %"] = values
    table = table.set_index(["model", "pixels"])
    if goal is None:
        return table
    columns = [c for c in FEW_PIXEL_COLUMNS[goal] if c in table]
    ours = [c for c in columns if not c.startswith("paper")]
    return table[columns][table[ours].notna().any(axis=1)] if ours else table.iloc[:0][columns]


def pixel_gain(runs: dict[tuple[str, int], Runs]) -> pd.DataFrame:
    """Per (model, k > 1): on the images both the one-pixel and the k-pixel non-targeted runs
    attacked, how many each fooled, and how many only one of them fooled (a paired comparison)."""
    rows = []
    for (name, k), run in runs.items():
        one, many = getattr(runs.get((name, 1)), "untargeted", None), run.untargeted
        if k == 1 or one is None or many is None:
            continue
        both = one.set_index("image").success.to_frame("one").join(many.set_index("image").success.rename("many"),
                                                                   how="inner")
        rows.append({"model": name, "pixels": k, "images": len(both), "fooled with 1 px": int(both.one.sum()),
                     "fooled with k px": int(both.many.sum()), "only with k px": int((both.many & ~both.one).sum()),
                     "only with 1 px": int((both.one & ~both.many).sum())})
    columns = ["model", "pixels", "images", "fooled with 1 px", "fooled with k px", "only with k px", "only with 1 px"]
    return pd.DataFrame(rows, columns=columns).set_index(["model", "pixels"])

def transfer_table(transfer: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """One row per (source, target): of the images the source's one-pixel attack fooled and the
    target classifies correctly, how many the same pixel also fools, with a 95% Wilson interval."""
    rows = []
    for (source, target), r in transfer.items():
        if not len(r):
            continue
        shown = r[r.clean_correct.astype(bool)]
        rate = metrics.rate(shown.fooled.astype(bool))
        rows.append({"source": source, "target": target, "fooled by the source": len(r),
                     "target correct on clean": rate["n"], "also fool the target": rate["successes"],
                     "rate %": round(100 * rate["rate"], 1), "ci low %": round(100 * rate["ci_low"], 1),
                     "ci high %": round(100 * rate["ci_high"], 1)})
    columns = ["source", "target", "fooled by the source", "target correct on clean", "also fool the target",
               "rate %", "ci low %", "ci high %"]
    return pd.DataFrame(rows, columns=columns)


def transfer_matrix(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`transfer_table` as source (rows) x target (columns) cells "rate [low, high] (n)"."""
    cells = table.assign(cell=[f"{r['rate %']:.0f} [{r['ci low %']:.0f}, {r['ci high %']:.0f}] "
                               f"(n={r['target correct on clean']})" for _, r in table.iterrows()])
    return cells.pivot(index="source", columns="target", values="cell").reindex(
        index=list(dict.fromkeys(table.source)), columns=list(dict.fromkeys(table.target)))


def transfer_summary(table: pd.DataFrame) -> str:
    """What the transfer table says, computed from it: the replay check on the diagonal, the range of
    the rates between different networks, and the highest and lowest pair."""
    if not len(table):
        return "No transfer is stored yet."
    same = table[table.source == table.target]
    other = table[table.source != table.target].sort_values("rate %")
    text = []
    if len(same):
        exact = (same["also fool the target"] == same["fooled by the source"]).all()
        text.append(f"Replayed on the network it was found for, every stored perturbation fools it again "
                    f"({int(same['also fool the target'].sum())} of {int(same['fooled by the source'].sum())})"
                    if exact else "Replayed on the network it was found for, "
                    f"{int(same['also fool the target'].sum())} of {int(same['fooled by the source'].sum())} "
                    "perturbations fool it again")
    if len(other):
        low, high = other.iloc[0], other.iloc[-1]
        text.append(f"between different networks, {low['rate %']:.0f}% to {high['rate %']:.0f}% of the pixels also "
                    f"fool the target: least from {low.source} to {low.target} ({low['rate %']:.0f}% "
                    f"[{low['ci low %']:.0f}, {low['ci high %']:.0f}], n={low['target correct on clean']}), most "
                    f"from {high.source} to {high.target} ({high['rate %']:.0f}% [{high['ci low %']:.0f}, "
                    f"{high['ci high %']:.0f}], n={high['target correct on clean']})")
    return "; ".join(text) + "."


def clean_confidence(predictions: dict[str, pd.DataFrame], thresholds=(0.9, 0.95)) -> pd.DataFrame:
    """Per network, over the test images it classifies correctly: the mean top probability and the
    share of images whose top probability exceeds each threshold (the paper's early stops fire only
    when an attack's probabilities cross 90% for the target or fall below 5% for the true class)."""
    rows = []
    for name, p in predictions.items():
        ok = p[p.pred == p.label]
        rows.append({"network": name, "correct images": len(ok), "mean top probability %": round(100 * ok.prob.mean(), 1),
                     **{f"top probability > {t:.0%}": f"{100 * (ok.prob > t).mean():.1f}%" for t in thresholds}})
    return pd.DataFrame(rows).set_index("network")


def coverage_table(simulation: pd.DataFrame) -> pd.DataFrame:
    """The stored interval simulation for reading, one row per candidate interval: its lowest, mean and
    highest coverage over the scenarios, and its mean width; the scenarios in ``scenarios``."""
    per = simulation.groupby("method")
    return pd.DataFrame({"lowest coverage %": per["coverage %"].min(), "mean coverage %": per["coverage %"].mean(),
                         "highest coverage %": per["coverage %"].max(),
                         "mean width (points)": per["mean width (points)"].mean()}).round(1).sort_values(
        "mean coverage %", ascending=False).rename_axis("interval")


def scenarios_text(simulation: pd.DataFrame) -> str:
    """The simulated scenarios in words: image counts, shares with any success, true rates, samples."""
    images = ", ".join(str(g) for g in sorted(simulation.images.unique()))
    shares = ", ".join(f"{s}%" for s in sorted(simulation["images with any success %"].unique()))
    rates = simulation["true rate %"]
    return (f"{images} images per sample, {shares} of them with any success (true rates {rates.min():.1f}% to "
            f"{rates.max():.1f}%), {int(simulation.samples.iloc[0]):,} samples per scenario")


def targeted_regime(runs: dict[str, Runs], simulation: pd.DataFrame) -> str:
    """Our targeted samples in the simulation's terms (images, and the share of them with any
    success), and whether each lies within the range of the simulated scenarios."""
    samples = {paper.PAPER_NAME.get(m, m): r.targeted.groupby("image").success.any()
               for m, r in runs.items() if r.targeted is not None}
    if not samples or not len(simulation):
        return ""
    simulated, images = simulation["images with any success %"], simulation.images
    outside = [name for name, hit in samples.items()
               if not (simulated.min() <= 100 * hit.mean() <= simulated.max() and images.min() <= len(hit) <= images.max())]
    listed = ", ".join(f"{name} {int(hit.sum())} of {len(hit)} ({100 * hit.mean():.0f}%)" for name, hit in samples.items())
    return (f"Images with any targeted success: {listed}; the simulated scenarios span {images.min()} to {images.max()} "
            f"images with {simulated.min()}% to {simulated.max()}% of them with any success, so "
            + (f"{' and '.join(outside)} lie{'s' if len(outside) == 1 else ''} outside that range." if outside
               else "every sample lies within that range."))


def coverage_choice(simulation: pd.DataFrame, reported: str) -> str:
    """Which interval the simulation chooses, and whether it is the one the metrics report."""
    if not len(simulation):
        return "The interval simulation is not stored yet."
    chosen = choose(simulation)
    per = simulation.groupby("method")["coverage %"]
    scenarios = simulation.groupby(["images", "images with any success %"]).ngroups
    text = (f"The simulation chooses *{chosen}*: its coverage runs from {per.min()[chosen]:.1f}% to "
            f"{per.max()[chosen]:.1f}% over {scenarios} scenarios of {int(simulation.samples.iloc[0]):,} samples each"
            if chosen else "No candidate covers 93% in every scenario")
    others = [f"{m} {per.min()[m]:.1f}%" for m in per.min().index if m != chosen]
    text += f"; the lowest coverage of the others: {', '.join(others)}."
    if chosen and chosen != reported:
        text += f" The tables still report *{reported}*, which the simulation did not choose."
    elif chosen:
        text += " Every targeted rate in this book carries it"
        text += (": it is conservative (its coverage exceeds 95% in every scenario), so a targeted interval is as wide "
                 "as its number of images allows." if per.min()[chosen] > 95 else ".")
    return text


def depth_series(runs: dict[str, Runs]) -> pd.DataFrame:
    """The ResNet-(6n+2) networks among ``runs`` by depth: clean accuracy, non-targeted success
    (count, rate and 95% interval, in percent), confidence and mean evaluations."""
    rows = []
    for name, run in runs.items():
        u = run.untargeted
        if not name.startswith("resnet") or u is None or not len(u):
            continue
        r = metrics.rate(u.success)
        rows.append({"depth": int(name[len("resnet"):]), "model": name, "accuracy %": round(100 * run.accuracy, 2),
                     "successes": int(u.success.sum()), "success %": round(100 * r["rate"], 1), "ci low %": round(100 * r["ci_low"], 1),
                     "ci high %": round(100 * r["ci_high"], 1), "n": len(u),
                     "confidence %": round(100 * metrics.confidence(u), 2) if u.success.any() else None,
                     "mean evaluations": round(float(u.evaluations.mean()))})
    if not rows:
        raise ValueError("no ResNet non-targeted runs among the models: add resnet20 ... resnet56 to `models`")
    return pd.DataFrame(rows).sort_values("depth").set_index("depth")

def on_common_images(runs: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Each frame restricted to the images stored in every one of them (a paired comparison)."""
    common = set.intersection(*(set(r.image) if len(r) else set() for r in runs.values())) if runs else set()
    return {k: r[r.image.isin(common)].reset_index(drop=True) if len(r) else r for k, r in runs.items()}


def bounds_table(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Clip vs redraw on the same images: success (95% Wilson interval), the paired difference from
    clipping, confidence, evaluations, and the share of evaluations spent on the image's border."""
    if not all(len(r) for r in runs.values()):
        return pd.DataFrame({"note": ["no image is stored under both rules yet"]})
    success = {b: r.set_index("image").success for b, r in runs.items()}
    rows = []
    for b, r in runs.items():
        d = metrics.paired_difference(success[b], success["clip"])
        border = metrics.border_share(r)
        rows.append({"out-of-range children": b, "images": len(r), "success %": metrics.percent(metrics.rate(r.success)),
                     "vs clip, points": "-" if b == "clip" else
                     f"{100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]",
                     "fooled only under this rule": int(sum((success[b] & ~success[o].reindex(success[b].index)).sum()
                                                            for o in runs if o != b)),
                     "confidence % (successful)": round(100 * metrics.confidence(r), 1),
                     "mean evaluations": int(round(r.evaluations.mean())),
                     "border share % of evaluations": "-" if not border["n"] else
                     f"{100 * border['share']:.1f} (n={border['n']})"})
    return pd.DataFrame(rows).set_index("out-of-range children")

def border_sentence(runs: dict[str, pd.DataFrame], size: int = 32) -> str:
    """Whether clipping spends the search on the image's outer ring: per rule, the share of
    evaluations that set a border pixel, next to the ring's share of the pixels, on the images whose
    rows record it under every rule (a paired comparison)."""
    ring = (4 * size - 4) / size ** 2
    recorded = [set(r.image[r.border_evaluations.notna()]) if "border_evaluations" in r else set()
                for r in runs.values() if len(r)]
    common = set.intersection(*recorded) if recorded else set()
    shares = {rule: metrics.border_share(r[r.image.isin(common)]) for rule, r in runs.items() if len(r)}
    known = {rule: b for rule, b in shares.items() if b["n"]}
    if not known:
        return "No stored attack records its border evaluations yet."
    parts = [f"{100 * b['share']:.1f}% of the evaluations set a border pixel under {rule} (n={b['n']} images)"
             for rule, b in known.items()]
    clip, redraw = known.get("clip"), known.get("redraw")
    if clip is None:
        verdict = ""
    elif clip["share"] > ring:
        verdict = ", so clipping spends more of the search on the border than the ring's share of the image"
    elif redraw is not None and clip["share"] > redraw["share"]:
        verdict = (", so clipping puts more of the search on the border than redrawing does, though less than the "
                   "ring's share of the image")
    else:
        verdict = ", so clipping does not pile the search onto the border"
    return (f"The outer ring holds {4 * size - 4:,} of the {size * size:,} pixels ({100 * ring:.1f}%); "
            + "; ".join(parts) + verdict + ".")


def early_stop_table(runs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Success, confidence and cost of the same attacks under each stopping rule (one row per rule)."""
    rows = []
    for rule, r in runs.items():
        if not len(r):  # the paper's rule fooled no image of the sample: nothing to compare
            rows.append({"stop": rule, "images": 0})
            continue
        ok = r[r.success]
        rows.append({"stop": rule, "images": r.image.nunique(), "success %": metrics.percent(metrics.rate(r.success)),
                     "confidence % (successful)": round(100 * metrics.confidence(r), 2),
                     "true class % (successful)": round(100 * float(ok.true_prob.mean()), 2) if len(ok) else None,
                     "evaluations (mean)": round(float(r.evaluations.mean()))})
    return pd.DataFrame(rows).set_index("stop")


def most_confident(rows: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` successful attacks of ``rows`` with the highest adversarial probability, one per image
    (an image's most confident target), most confident first."""
    ok = rows[rows.success].sort_values("adv_prob", ascending=False, kind="stable")
    return ok.drop_duplicates("image").head(n)


def status_table(records: list[Progress]) -> pd.DataFrame:
    """:func:`onepixel.study.rows.status` as a table: per experiment, images planned and stored,
    CPU hours spent and left (blank where not known yet)."""
    return pd.DataFrame([{"experiment": p.job.label(), "planned": p.planned, "stored": p.stored,
                          "CPU hours spent": p.cpu_hours_spent, "CPU hours left": p.cpu_hours_left}
                         for p in records]).astype({"planned": "Int64"})
