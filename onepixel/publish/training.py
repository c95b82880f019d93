"""How much the network decides (chapter 01): each trained variant of a published network (one
training setting changed: seed or label smoothing) against its control
(:func:`onepixel.nets.models.control`), attacked on the same images, next to the paper's values."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from onepixel.nets.models import control, network
from onepixel.nets.train import TrainConfig
from onepixel.publish.report import clean_confidence
from onepixel.stats import metrics, paper
from onepixel.study.chapters import Page


def measured(page: Page) -> dict[str, dict[str, pd.DataFrame]]:
    """Per network of the comparison, the published ones first: its clean predictions and its
    exhaustive and DE rows (a published network's on its whole sample, a variant's on the images
    of that sample it classifies correctly). A variant appears once its predictions and part of its
    exhaustive search are stored (its DE rows may still be empty); variants not that far yet are
    absent, and so is a published network without a variant."""
    out: dict[str, dict[str, pd.DataFrame]] = {}
    stored = {name: {"predictions": page[("predictions", name)], "exhaustive": rows,
                     "de": page.named("variant untargeted")[name]}
              for name, rows in page.named("variant exhaustive").items()}
    stored = {name: d for name, d in stored.items() if len(d["predictions"]) and len(d["exhaustive"])}
    for name in stored:
        base = network(name).variant_of
        out.setdefault(base, {"predictions": page[("predictions", base)], "exhaustive": page[("exhaustive", base)],
                              "de": page[("untargeted", base, 1)]})
    return out | stored


def _per_image(rows: pd.DataFrame) -> pd.Series:
    return rows.groupby("image").success.any() if len(rows) else pd.Series(dtype=bool)


def _de_per_image(rows: pd.DataFrame) -> pd.Series:
    return rows.set_index("image").success if len(rows) else pd.Series(dtype=bool)


def _points(d: dict) -> str:
    return f"{100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] (n={d['n']})"


def _change(name: str) -> str:
    net = network(name)
    if net.variant_of is None:
        return "published recipe"
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in net.recipe)


def differences(data: dict[str, dict[str, pd.DataFrame]]) -> dict[str, dict[str, dict]]:
    """Per variant whose control is measured: the paired differences variant - control of the
    exhaustive and the DE success, on the images both attacked (Newcombe's paired interval); a kind
    with no rows stored for the variant or its control is absent."""
    out = {}
    for name in data:
        if network(name).variant_of is None or control(name) not in data:
            continue
        out[name] = {}
        for kind, per_image in (("exhaustive", _per_image), ("de", _de_per_image)):
            ours, theirs = per_image(data[name][kind]), per_image(data[control(name)][kind])
            if not len(ours) or not len(theirs):
                continue
            both = ours.index.intersection(theirs.index)
            out[name][kind] = metrics.paired_difference(ours[both], theirs[both])
    return out


def de_differences(data: dict[str, dict[str, pd.DataFrame]]) -> dict[str, dict]:
    """The DE paired differences of :func:`differences` that rest on more than one shared image."""
    return {name: d["de"] for name, d in differences(data).items() if "de" in d and d["de"]["n"] > 1}


CLEAN_HIGH = "top probability > 95%"  # a column of report.clean_confidence
# variant_table's columns in two tables that each fit a page: the clean and exhaustive measures, then DE's
EXHAUSTIVE_COLUMNS = ["control", "change", "accuracy %", CLEAN_HIGH, "exhaustive %", "exhaustive - control, points"]
DE_COLUMNS = ["DE %", "confidence %", "mean evaluations", "early stops %"]


def _clean_high(d: dict[str, pd.DataFrame]) -> str:
    name = "network"
    return clean_confidence({name: d["predictions"]}).loc[name, CLEAN_HIGH]


def variant_table(data: dict[str, dict[str, pd.DataFrame]], maxiter: int) -> pd.DataFrame:
    """One row per network: what its training changes against its control, clean accuracy, the share
    of the test images it classifies correctly whose top probability exceeds 95% (label smoothing
    lowers it, and with it the chance that an early stop fires), the exhaustive one-pixel success
    (95% Wilson interval, n) with its paired difference from the control, the DE one-pixel success,
    the paper's confidence (mean probability of the adversarial class over successes), mean
    evaluations and the share of attacks that stopped before ``maxiter`` generations (the paired
    DE differences: :func:`paired_de_table`)."""
    diffs = differences(data)
    rows = []
    for name, d in data.items():
        p, de = d["predictions"], d["de"]
        ex = _per_image(d["exhaustive"])
        row = {"network": name, "control": control(name) if network(name).variant_of else "-",
               "change": _change(name), "accuracy %": round(100 * float((p.pred == p.label).mean()), 2),
               CLEAN_HIGH: _clean_high(d)}
        for label, success in (("exhaustive", ex), ("DE", de.success if len(de) else pd.Series(dtype=bool))):
            r = metrics.rate(success)
            row[f"{label} %"] = metrics.percent(r) if r["n"] else "-"
            if label == "exhaustive":
                diff = diffs.get(name, {}).get("exhaustive")
                row["exhaustive - control, points"] = _points(diff) if diff and diff["n"] > 1 else "-"
        ok = de.success.any() if len(de) else False
        row |= {"confidence %": round(100 * metrics.confidence(de), 1) if ok else "-",
                "mean evaluations": f"{de.evaluations.mean():,.0f}" if len(de) else "-",
                "early stops %": round(100 * float((de.generations < maxiter).mean()), 1) if len(de) else "-"}
        rows.append(row)
    return pd.DataFrame(rows).set_index("network")


def _mean_points(differences: pd.Series) -> str:
    """Mean of paired differences (points) with its 95% t interval and n; no interval below
    :data:`onepixel.stats.metrics.MIN_UNITS` pairs."""
    differences = differences.dropna()
    n = len(differences)
    if n < metrics.MIN_UNITS:
        return f"{differences.mean():+.1f} (n={n}, too few for an interval)" if n else "-"
    half = metrics.t_quantile(n - 1) * float(differences.std(ddof=1)) / np.sqrt(n)
    mean = float(differences.mean())
    return f"{mean:+.1f} [{mean - half:+.1f}, {mean + half:+.1f}] (n={n})"


def paired_de_table(data: dict[str, dict[str, pd.DataFrame]], maxiter: int) -> pd.DataFrame:
    """One row per variant whose DE shares more than one image with its control's: on those images,
    the differences variant - control (points) of the DE success and of the share of attacks that
    stopped before ``maxiter`` generations (Newcombe's paired interval), and of the confidence on
    the images both fooled (the adversarial class's probability; mean difference, 95% t interval)."""
    rows = []
    for name, diff in de_differences(data).items():
        ours, theirs = (data[n]["de"].set_index("image") for n in (name, control(name)))
        both = ours.index.intersection(theirs.index)
        ours, theirs = ours.loc[both], theirs.loc[both]
        fooled = ours.success & theirs.success
        stops = metrics.paired_difference(ours.generations < maxiter, theirs.generations < maxiter)
        rows.append({"network": name, "control": control(name), "change": _change(name),
                     "DE success - control": _points(diff),
                     "confidence - control (both fooled)": _mean_points(100 * (ours.adv_prob - theirs.adv_prob)[fooled]),
                     "early stops - control": _points(stops)})
    return pd.DataFrame(rows).set_index("network") if rows else pd.DataFrame()


def _seed(name: str) -> int:
    return dict(network(name).recipe).get("seed", TrainConfig.seed)


def seed_spread(data: dict[str, dict[str, pd.DataFrame]]) -> pd.DataFrame:
    """Per published network with DE rows and a seed variant with DE rows: on the images that it and
    those seed variants attacked (at least two), each seed's DE and exhaustive one-pixel success (%)
    and their spread (largest minus smallest, points), and on the same DE images the published
    network's difference from the paper's Table VIII value. Empty when no network qualifies."""
    out = []
    for base in (n for n in data if network(n).variant_of is None and len(data[n]["de"])):
        names = [base] + [n for n in data if network(n).variant_of == base and "seed" in dict(network(n).recipe)
                          and len(data[n]["de"])]
        if len(names) < 2:
            continue
        row = {"network": base, "seeds": ", ".join(str(_seed(n)) for n in names)}
        for label, kind, per_image in (("DE", "de", _de_per_image), ("exhaustive", "exhaustive", _per_image)):
            successes = [per_image(data[n][kind]) for n in names]
            both = successes[0].index
            for s in successes[1:]:
                both = both.intersection(s.index)
            rates = [100 * float(s[both].mean()) for s in successes]
            row |= {f"{label} images": len(both),
                    f"{label} % by seed": ", ".join(f"{r:.1f}" for r in rates) if len(both) > 1 else "-",
                    f"{label} spread, points": round(max(rates) - min(rates), 1) if len(both) > 1 else "-"}
            if label == "DE":
                shared = both
        if len(shared) < 2:
            continue
        row["published - paper, points"] = round(100 * float(_de_per_image(data[base]["de"])[shared].mean())
                                                 - paper.ORIGINAL_TEST_SET[base]["untargeted"], 1)
        out.append(row)
    return pd.DataFrame(out).set_index("network") if out else pd.DataFrame()


def spread_sentence(spread: pd.DataFrame) -> str:
    """The seed spread of :func:`seed_spread` beside the published network's difference from the
    paper on the same images, or "" (the verdict with intervals is :func:`sentence`'s)."""
    parts = [f"{paper.PAPER_NAME[base]} seeds {r['seeds']}: DE success {r['DE % by seed']}% on the same "
             f"{r['DE images']} images, a spread of {r['DE spread, points']:.1f} points; on them the published network "
             f"is {r['published - paper, points']:+.1f} points from the paper's value"
             for base, r in spread.iterrows()]
    return "; ".join(parts) + "." if parts else ""


def _estimates(rows: pd.DataFrame) -> dict[str, tuple[float, float, float]]:
    """DE success and confidence (%, with 95% interval) of one network's rows."""
    r = metrics.rate(rows.success)
    out = {"success": (100 * r["rate"], 100 * r["ci_low"], 100 * r["ci_high"])}
    ok = rows[rows.success]
    c = metrics.mean_interval(ok.adv_prob) if len(ok) else None
    out["confidence"] = (100 * c["mean"], 100 * c["ci_low"], 100 * c["ci_high"]) if c else (np.nan,) * 3
    return out


def figure(data: dict[str, dict[str, pd.DataFrame]]) -> plt.Figure:
    """Per published network (a row of panels), each network's DE success rate and confidence with
    its 95% interval; the dashed line is the paper's Table VIII value."""
    bases = [n for n in data if network(n).variant_of is None]
    fig, axes = plt.subplots(len(bases), 2, figsize=(6.4, 0.5 + 0.42 * len(data) + 0.5 * len(bases)),
                             squeeze=False, sharex="col", gridspec_kw={"height_ratios": [
                                 1 + sum(network(n).variant_of == b for n in data) for b in bases]})
    for row, base in enumerate(bases):
        names = [base] + [n for n in data if network(n).variant_of == base]
        for col, (measure, key) in enumerate((("success", "untargeted"), ("confidence", "confidence"))):
            ax = axes[row, col]
            for y, name in enumerate(names):
                if not len(data[name]["de"]):
                    continue
                mid, lo, hi = _estimates(data[name]["de"])[measure]
                ax.errorbar(mid, y, xerr=[[mid - lo], [hi - mid]], fmt="o", color="C0" if y == 0 else "C1", ms=4)
            ax.axvline(paper.ORIGINAL_TEST_SET[base][key], ls="--", color="0.3", lw=1)
            ax.set_yticks(range(len(names)), names if col == 0 else [""] * len(names))
            ax.set_ylim(len(names) - 0.5, -0.5)
            if row == len(bases) - 1:
                ax.set_xlabel(f"DE {'success' if measure == 'success' else 'confidence'} %")
    fig.tight_layout()
    return fig


def sentence(data: dict[str, dict[str, pd.DataFrame]]) -> str:
    """Per published network with attacked variants: the gap between our non-targeted DE success and
    the paper's Table VIII value, each variant's paired difference from its control (toward or away
    from the paper's value), and whether a change of seed, or of recipe towards the paper, moves the
    rate by as much as the gap (where there is no gap, by how much each moves it)."""
    diffs = de_differences(data)
    parts = []
    for base in (n for n in data if network(n).variant_of is None):
        mine = {n: d for n, d in diffs.items() if network(n).variant_of == base}
        if not mine:
            continue
        ours, theirs = 100 * float(data[base]["de"].success.mean()), paper.ORIGINAL_TEST_SET[base]["untargeted"]
        gap = ours - theirs
        moves = [f"{_change(n)} {100 * d['diff']:+.1f} points [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] "
                 f"on {d['n']} images"
                 + ("" if d["diff"] == 0 or gap == 0 else
                    f", {'toward' if np.sign(d['diff']) != np.sign(gap) else 'away from'} the paper's value")
                 for n, d in mine.items()]
        seeds = [100 * abs(d["diff"]) for n, d in mine.items() if "seed" in _change(n)]
        toward = [100 * abs(d["diff"]) for n, d in mine.items()
                  if "seed" not in _change(n) and np.sign(d["diff"]) == -np.sign(gap)]
        verdicts = []
        if round(gap, 1) == 0:  # no gap to close: how far each kind of change moves the rate
            recipe = [100 * abs(d["diff"]) for n, d in mine.items() if "seed" not in _change(n)]
            verdicts += [f"a change of {kind} moves the rate by at most {max(moved):.1f} points"
                         for kind, moved in (("seed alone", seeds), ("recipe", recipe)) if moved]
        elif seeds:
            verdicts.append(f"a change of seed alone moves the rate by {'as much as' if max(seeds) >= abs(gap) else 'less than'}"
                            f" the gap (at most {max(seeds):.1f} points)")
        if round(gap, 1) != 0 and any("seed" not in _change(n) for n in mine):
            verdicts.append("a change of recipe " + (f"moves it toward the paper by {'as much as' if max(toward) >= abs(gap) else 'less than'}"
                                                     f" the gap (at most {max(toward):.1f} points)" if toward
                                                     else "does not move it toward the paper's value"))
        zero = [n for n, d in mine.items() if d["ci_low"] <= 0 <= d["ci_high"]]
        verdicts.append("no difference is distinguishable from zero at 95%" if len(zero) == len(mine) else
                        "every difference is distinguishable from zero at 95%" if not zero else
                        f"the 95% interval of {', '.join(_change(n) for n in zero)} contains zero")
        parts.append(f"{paper.PAPER_NAME[base]}: our non-targeted success {ours:.1f}% against the paper's {theirs:.1f}%, "
                     f"a gap of {gap:+.1f} points. Paired against its control: {'; '.join(moves)}. "
                     f"{'; '.join(verdicts)[0].upper()}{'; '.join(verdicts)[1:]}.")
    if parts:
        return " ".join(parts)
    if any(network(n).variant_of for n in data):
        return ("No variant's DE attack shares more than one image with its control's yet, so no change of training "
                "can be set against the gap to the paper's value yet.")
    return "No variant is trained and attacked yet."


def findings(clean: pd.DataFrame, data: dict[str, dict[str, pd.DataFrame]], maxiter: int) -> str:
    """Chapter 01's "What we found": the share of correctly classified images whose top probability
    exceeds 95% (``clean``: :func:`onepixel.publish.report.clean_confidence`), networks trained here
    against weights from elsewhere, each variant's share and exhaustive success against its
    control's, the paired DE differences (:func:`paired_de_table`), the spread between seeds
    (:func:`seed_spread`) and the variants' verdict (:func:`sentence`)."""
    groups = {here: [f"{name} {clean.loc[name, CLEAN_HIGH]}" for name in clean.index if network(name).trained_here == here]
              for here in (True, False)}
    out = []
    if groups[True] or groups[False]:
        out.append("- Clean confidence, the share of correctly classified test images whose top probability exceeds "
                   "95%: "
                   + "; ".join(f"{', '.join(names)} ({'trained here' if here else 'weights from elsewhere'})"
                               for here, names in groups.items() if names) + ".")
    shifts = [f"{name} ({_change(name)}) {_clean_high(data[name])} against {control(name)} {_clean_high(data[control(name)])}"
              for name in data if network(name).variant_of and control(name) in data]
    if shifts:
        out.append(f"- The same share for each variant against its control: {'; '.join(shifts)}.")
    exhaustive = [f"{name} ({_change(name)}) {_points(d['exhaustive'])} against {control(name)}"
                  + (", an interval that contains zero" if d["exhaustive"]["ci_low"] <= 0 <= d["exhaustive"]["ci_high"] else "")
                  for name, d in differences(data).items() if "exhaustive" in d and d["exhaustive"]["n"] > 1]
    if exhaustive:
        out.append("- Exhaustive one-pixel success, each variant minus its control on the images both searched (points, "
                   f"95% interval): {'; '.join(exhaustive)}.")
    paired = paired_de_table(data, maxiter)
    if not paired.empty:
        out.append("- DE on the same images, each variant minus its control (points, 95% interval): "
                   + "; ".join(f"{name} ({r['change']}): confidence where both fooled "
                               f"{r['confidence - control (both fooled)']}, early stops {r['early stops - control']}"
                               for name, r in paired.iterrows()) + ".")
    spread = spread_sentence(seed_spread(data))
    if spread:
        out.append(f"- Seeds: {spread}")
    out.append(f"- Training: {sentence(data)}")
    return "\n".join(out)
