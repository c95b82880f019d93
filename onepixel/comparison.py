"""Our results next to the paper's: every value the paper reports that we can measure, with our
interval, the paper's value and the main reason for a difference; and the per-network comparison
table of chapter 02. Reads attack rows, computes nothing."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import metrics, paper
from .models import network
from .results import Runs


def reported(value: float | None) -> str | None:
    """A paper value as the paper reports it, as text (so that no table rounds it): 56.57, 16,000."""
    return None if value is None or pd.isna(value) else f"{value:,g}"


def paper_comparison(runs: dict[str, Runs]) -> pd.DataFrame:
    """Our rates next to the paper's Table VIII (original test set) and Table IV (Kaggle set): one
    column per model, one row per measure; ours to one decimal (as in :func:`summary_table`), the
    paper's as it reports them (text, so that no table rounds them)."""
    def ours(value: float) -> float:
        return round(100 * value, 1)

    rows = []
    for name, run in runs.items():
        ref = paper.ORIGINAL_TEST_SET.get(name, {})
        kaggle = paper.kaggle(name)
        u, t = run.untargeted, run.targeted
        row = {"model": name, "paper network": paper.PAPER_NAME.get(name, "-")}
        if u is not None and len(u):
            row["ours: non-targeted %"] = ours(u.success.mean())
            row["ours: confidence %"] = ours(metrics.confidence(u))
        row["paper (original set): non-targeted %"] = reported(ref.get("untargeted"))
        row["paper (original set): confidence %"] = reported(ref.get("confidence"))
        if t is not None and len(t):
            row["ours: targeted %"] = ours(t.success.mean())
            row["ours: non-targeted from 9 targets %"] = ours(metrics.derived_untargeted(t).success.mean())
        row["paper (original set): targeted %"] = reported(ref.get("targeted"))
        row["paper (original set): non-targeted from 9 targets %"] = reported(ref.get("untargeted_derived"))
        row["paper (Kaggle set): non-targeted %"] = reported(kaggle.get("untargeted"))
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").T

_WHY = {
    "VIII": "same test set and DE settings; our networks are retrained here, and the sample is small "
            "(see the interval)",
    "IV": "the Kaggle set adds rotated, cropped, blurred and noisy copies that are easier to attack and cannot be "
          "rebuilt: compare with Table VIII",
    "V": "paper measured on the Kaggle set (see Table IV)",
    "VI": "paper averaged over the Kaggle set; here over successful non-targeted attacks on the original test set",
    "VII": "paper: 100 random one-pixel tries on the Kaggle set; here the first 100 tries of our random search",
    "text": "paper: in its text, on the Kaggle set (9 x its targeted rate); here per image with all 9 targets attacked",
    "ImageNet": "BVLC AlexNet weights are not available offline: SqueezeNet 1.0 stands in; the paper attacked "
                "its own ImageNet sample",
}

def paper_summary(runs: dict[str, Runs], few: dict[tuple[str, int], Runs] | None = None,
                  random_rows: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every paper value we can compare with, next to ours: one row per (table, network, measure)
    with our value, its 95% interval and denominator, the paper's, the difference and the main
    reason for it. ``runs`` as for :func:`onepixel.metrics.attack_table`; ``few[(model, k)]`` the
    k-pixel runs; ``random_rows[model]`` random-search rows (budget at least 100)."""
    rows = []

    def add(table, name, measure, ours, paper_value, why, r=None):
        if ours is None or (isinstance(ours, float) and np.isnan(ours)):
            return
        rows.append({"paper table": table, "network": name, "measure": measure, "ours": round(ours, 2),
                     "ci low": round(100 * r["ci_low"], 1) if r else None,
                     "ci high": round(100 * r["ci_high"], 1) if r else None,
                     "n": r["n"] if r else None, "paper": paper_value,
                     "ours - paper": round(ours - paper_value, 2) if paper_value is not None else None,
                     "paper inside our CI": (r["ci_low"] <= paper_value / 100 <= r["ci_high"])
                     if r and paper_value is not None else None,
                     "main reason for a difference": why})

    for name, run in runs.items():
        u, t = run.untargeted, run.targeted
        ref, kaggle = paper.ORIGINAL_TEST_SET.get(name), paper.kaggle(name)
        imagenet = network(name).dataset == "imagenet"
        if kaggle:
            add("IV" if not imagenet else "IV (ImageNet)", name, "accuracy %", 100 * run.accuracy,
                kaggle.get("accuracy"), _WHY["ImageNet" if imagenet else "IV"])
        if ref and t is not None and len(t):
            r = metrics.targeted_rate(t)
            add("VIII", name, "targeted success % (clustered CI)", 100 * r["rate"], ref["targeted"], _WHY["VIII"], r)
            d = metrics.derived_untargeted(t)
            r = metrics.rate(d.success)
            add("VIII", name, "non-targeted success (from 9 targets) %", 100 * r["rate"], ref["untargeted_derived"],
                _WHY["VIII"], r)
            add("VIII", name, "confidence (from 9 targets) %", 100 * float(d[d.success].adv_prob.mean())
                if d.success.any() else None, ref["confidence_derived"], _WHY["VIII"])
            add("text", name, "classes reached per image", float(d.targets_reached.mean()),
                paper.TARGETS_REACHED.get(name), _WHY["text"])
        if u is not None and len(u):
            r = metrics.rate(u.success)
            if ref:
                add("VIII", name, "non-targeted success %", 100 * r["rate"], ref["untargeted"], _WHY["VIII"], r)
                add("VIII", name, "confidence %", 100 * metrics.confidence(u), ref["confidence"], _WHY["VIII"])
            if kaggle:
                why = _WHY["ImageNet" if imagenet else "IV"]
                add("IV", name, "non-targeted success %", 100 * r["rate"], kaggle.get("untargeted"), why, r)
                add("IV", name, "confidence %", 100 * metrics.confidence(u), kaggle.get("confidence"), why)
            cost = paper.COST.get(paper.PAPER_MODEL.get(name, name), {})
            ok = u[u.success]
            if cost and len(ok):
                add("VI", name, "evaluations (successful)", float(ok.evaluations.mean()), cost["evaluations"],
                    _WHY["VI"])
                add("VI", name, "distortion (successful, 0..255)", float(ok.distortion.mean()), cost["distortion"],
                    _WHY["VI"])
    for (name, k), run in (few or {}).items():
        ref = paper.FEW_PIXELS.get((name, k))
        if not ref:
            continue
        label = f"{name}, {k} px"
        t, u = run.targeted, run.untargeted
        if t is not None and len(t):
            r = metrics.targeted_rate(t)
            add("V", label, "targeted success % (clustered CI)", 100 * r["rate"], ref["targeted"], _WHY["V"], r)
            d = metrics.derived_untargeted(t)
            r = metrics.rate(d.success)
            add("V", label, "non-targeted success (from 9 targets) %", 100 * r["rate"], ref["untargeted"], _WHY["V"], r)
            add("V", label, "confidence (from 9 targets) %", 100 * float(d[d.success].adv_prob.mean())
                if d.success.any() else None, ref["confidence"], _WHY["V"])
        elif u is not None and len(u):
            r = metrics.rate(u.success)
            add("V", label, "non-targeted success %", 100 * r["rate"], ref["untargeted"], _WHY["V"], r)
    for name, b in (random_rows or {}).items():
        ref = paper.RANDOM_SEARCH.get(name)
        if ref:
            r = metrics.rate(b.success & (b.evaluations <= 100))
            add("VII", name, "random search, 100 tries: success %", 100 * r["rate"], ref["untargeted"], _WHY["VII"], r)
    columns = ["paper table", "network", "measure", "ours", "ci low", "ci high", "n", "paper", "ours - paper",
               "paper inside our CI", "main reason for a difference"]
    return pd.DataFrame(rows, columns=columns).set_index(columns[:3])

TABLE_ORDER = ["VIII", "IV", "IV (ImageNet)", "V", "VI", "VII", "text"]

def summary_table(summary: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """:func:`paper_summary` for reading, one flat row per value and the paper's tables in order
    (VIII, the original test set, first): our value and its 95% interval, integers as integers,
    blanks instead of missing values, reasons as letters; and the Markdown list of the reasons."""
    table, legend = reason_codes(summary)
    table = table.reset_index()
    table = table.iloc[table["paper table"].map(lambda t: TABLE_ORDER.index(t) if t in TABLE_ORDER else 99)
                       .argsort(kind="stable")]
    interval = table.apply(lambda r: f"[{r['ci low']:.1f}, {r['ci high']:.1f}]" if pd.notna(r["ci low"]) else "",
                           axis=1)
    inside = table["paper inside our CI"].map({True: "yes", False: "no"})
    out = pd.DataFrame({"table": table["paper table"], "network": table.network,
                        "measure": table.measure.str.replace(" (clustered CI)", "", regex=False),
                        "ours": table.ours.map(lambda v: f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.1f}"),
                        "95% CI": interval, "n": table.n.map(lambda v: f"{int(v):,}" if pd.notna(v) else ""),
                        "paper": table.paper.map(lambda v: reported(v) or ""),
                        "paper in CI": inside.where(inside.notna(), ""), "reason": table.reason})
    return out.reset_index(drop=True), legend

def reason_codes(summary: pd.DataFrame, column: str = "main reason for a difference") -> tuple[pd.DataFrame, str]:
    """``summary`` with its long ``column`` replaced by letters, and the Markdown legend of the letters
    (keeps the table narrow enough to read)."""
    codes = {why: chr(ord("a") + i) for i, why in enumerate(dict.fromkeys(summary[column]))}
    table = summary.drop(columns=column).assign(reason=summary[column].map(codes))
    return table, "\n".join(f"- ({c}) {why}" for why, c in codes.items())


def verdict(summary: pd.DataFrame, paper_n: int = 500) -> str:
    """What :func:`paper_summary` says, in a few sentences: how many of the paper's success rates lie
    inside our 95% intervals (all, and on the original test set), which lie outside, and how wide the
    one-pixel non-targeted intervals on the original test set are now, next to the width the paper's
    sample of ``paper_n`` images would give at the paper's rate."""
    rates = summary.dropna(subset=["paper inside our CI"])
    if not len(rates):
        return "No success rate is stored yet that the paper reports."
    inside = rates["paper inside our CI"].astype(bool)
    original = rates.index.get_level_values("paper table") == "VIII"
    text = [f"Of the {len(rates)} success rates compared with the paper, {int(inside.sum())} have the paper's "
            f"value inside our 95% interval; on the original test set (Table VIII), {int(inside[original].sum())} "
            f"of {int(original.sum())} do."]
    def listed(selected: pd.DataFrame, table: bool) -> str:
        return "; ".join(f"{f'Table {t}, ' if table else ''}{name}, {measure.replace(' (clustered CI)', '')}: "
                         f"ours {r.ours:.1f} [{r['ci low']:.1f}, {r['ci high']:.1f}], paper {r.paper:g}"
                         for (t, name, measure), r in selected.iterrows())

    if (~inside & original).any():
        text.append(f"Outside on the original test set (Table VIII): {listed(rates[~inside & original], False)}.")
    if (~inside & ~original).any():
        text.append("Outside on the paper's other tables (the Kaggle set, easier to attack than the original "
                    f"test set, or its own ImageNet sample): {listed(rates[~inside & ~original], True)}.")
    main = rates[original & (rates.index.get_level_values("measure") == "non-targeted success %")]
    if len(main):
        widths = []
        for (_, name, _), r in main.iterrows():
            lo, hi = metrics.wilson_interval(round(r.paper / 100 * paper_n), paper_n)
            widths.append(f"{name} {r['ci high'] - r['ci low']:.1f} points (n={int(r.n)}; the paper's "
                          f"{paper_n} images at its own rate: {100 * (hi - lo):.1f})")
        text.append("Widths of the one-pixel non-targeted intervals on the original test set: "
                    + ", ".join(widths) + ".")
    return " ".join(text)

