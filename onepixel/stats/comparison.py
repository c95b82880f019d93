"""Our results next to the paper's: every value the paper reports that we can measure, with our
interval, the paper's value and the main reason for a difference; and the per-network comparison
table of chapter 02. Reads attack rows, computes nothing."""
from __future__ import annotations

import numpy as np
import pandas as pd

from onepixel.stats import metrics, paper
from onepixel.stats.metrics import Runs


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
        row["paper Table IV (Kaggle set; ImageNet for AlexNet): non-targeted %"] = reported(kaggle.get("untargeted"))
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").T

_WHY = {
    "VIII": "same test set and DE settings; our networks are trained here (how much that moves the rates is "
            "measured by the network variants of chapter 01 as they are stored)",
    "IV": "the paper attacked images of the test set of Kaggle's CIFAR-10 competition without listing which; we "
          "attack the original test set, on which the paper's own rates are lower (compare Table VIII)",
    "V": "paper measured on the Kaggle set (see Table IV)",
    "VI": "paper averaged over the Kaggle set; here over successful non-targeted attacks on the original test set",
    "VII": "paper: 100 random one-pixel tries on the Kaggle set; here the first 100 tries of our random search",
    "text": "paper: in its text, on the Kaggle set (9 x its targeted rate); here per image with all 9 targets attacked",
    "ImageNet": "SqueezeNet 1.0 stands in for BVLC AlexNet, a different and more accurate network, and the paper "
                "attacked its own ImageNet sample: the rows compare two networks, not two attacks",
}

TOO_WIDE = 20.0  # points: a percentage whose 95% interval is wider than this is "too few to tell"
ALPHA = 0.05


def _compare(ours: dict, paper_value: float, paper_n: float | None, percent: bool) -> dict:
    """Our estimate against the paper's value: the difference ours - paper with its 95% interval and
    a p-value. Rates: as two samples where the paper states its n (Newcombe's hybrid score interval
    and the pooled z-test), counting a clustered rate on both sides by its images (the ICC = 1
    bound of :data:`onepixel.stats.metrics.CLUSTERED_INTERVAL`, for us and for the paper alike), else
    as one sample. Means: one sample (the paper gives no spread), a t interval. Neither is tested
    below :data:`onepixel.stats.metrics.MIN_UNITS` images (or attacks on distinct images)."""
    scale = 100.0 if percent else 1.0
    if ours["kind"] == "rate":
        p1, n1, p0 = ours["rate"], ours.get("n_effective", ours["n"]), paper_value / 100
        if n1 < metrics.MIN_UNITS:  # a z-test on a handful of images is not to be trusted
            return {"diff low": round(100 * (ours["ci_low"] - p0), 1), "diff high": round(100 * (ours["ci_high"] - p0), 1),
                    "p": float("nan"), "test": f"not tested (fewer than {metrics.MIN_UNITS} images)"}
        if paper_n:
            n0 = paper_n * n1 / ours["n"]  # the paper's pairs, counted by its images as ours are
            lo, hi = metrics.newcombe_difference(p1, n1, p0, n0)
            p, test = metrics.two_proportion_p(p1, n1, p0, n0), "two-sample"
        else:
            lo, hi = ours["ci_low"] - p0, ours["ci_high"] - p0
            p, test = metrics.one_proportion_p(p1, n1, p0), "one-sample"
        return {"diff low": round(100 * lo, 1), "diff high": round(100 * hi, 1), "p": p, "test": test}
    value = ours["mean"] * scale
    lo, hi = ours["ci_low"] * scale - paper_value, ours["ci_high"] * scale - paper_value
    testable = ours["units"] >= metrics.MIN_UNITS and ours["se"] > 0
    p = 2 * (1 - metrics.t_cdf(abs(value - paper_value) / (ours["se"] * scale), ours["df"])) if testable else float("nan")
    return {"diff low": round(lo, 2), "diff high": round(hi, 2), "p": p,
            "test": "one-sample" if testable else f"not tested (fewer than {metrics.MIN_UNITS} images)"}


def paper_summary(runs: dict[str, Runs], few: dict[tuple[str, int], Runs] | None = None,
                  random_rows: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """Every paper value we can compare with, next to ours: one row per (table, network, measure)
    with our value, its 95% interval and denominator, the paper's value and sample, the difference
    ours - paper with its 95% interval and p-value (see :func:`_compare`), the verdict
    (:func:`verdicts`) and the main reason for a difference. ``runs`` as for
    :func:`onepixel.stats.metrics.attack_table`; ``few[(model, k)]`` the k-pixel runs;
    ``random_rows[model]`` random-search rows (budget at least 100)."""
    rows = []

    def add(table, name, measure, ours: dict | None, paper_value, why, per_image_pairs: int = 1,
            on_the_sample: bool = True):
        """``per_image_pairs``: attacks per image of the paper's sample; ``on_the_sample``: False for
        a value the paper measured on other data than its attacked sample (accuracy)."""
        if ours is None or paper_value is None or not ours["n"]:
            return
        percent = "%" in measure
        value = 100 * ours["rate"] if ours["kind"] == "rate" else ours["mean"] * (100 if percent else 1)
        scale = 100 if ours["kind"] == "rate" or percent else 1
        paper_n = paper.SAMPLE_IMAGES.get(table) if on_the_sample and ours["kind"] == "rate" else None
        paper_n = paper_n * per_image_pairs if paper_n else None
        rows.append({"paper table": table, "network": name, "measure": measure, "ours": round(value, 2),
                     "ci low": round(scale * ours["ci_low"], 1), "ci high": round(scale * ours["ci_high"], 1),
                     "n": ours["n"], "paper": paper_value, "paper n": paper_n,
                     "ours - paper": round(value - paper_value, 2),
                     **_compare(ours, paper_value, paper_n, percent), "kind": ours["kind"],
                     "main reason for a difference": why})

    def success(series: pd.Series) -> dict:
        return {**metrics.rate(series), "kind": "rate"}

    def clustered(t: pd.DataFrame) -> dict:
        return {**metrics.targeted_rate(t), "kind": "rate"}

    def mean(values: pd.Series, clusters: pd.Series | None = None) -> dict | None:
        return {**metrics.mean_interval(values, clusters), "kind": "mean"} if len(values.dropna()) else None

    def target_confidence(t: pd.DataFrame) -> pd.Series:
        """The paper's confidence from the 9 targets: the target's probability, averaged over every
        successful targeted attack."""
        ok = t[t.success]
        return ok.target_prob if "target_prob" in ok else ok.adv_prob

    for name, run in runs.items():
        u, t = run.untargeted, run.targeted
        ref, kaggle = paper.ORIGINAL_TEST_SET.get(name), paper.kaggle(name)
        imagenet = run.dataset == "imagenet"
        if ref and t is not None and len(t):
            add("VIII", name, "targeted success % (clustered CI)", clustered(t), ref["targeted"], _WHY["VIII"], 9)
            d = metrics.derived_untargeted(t)
            add("VIII", name, "non-targeted success (from 9 targets) %", success(d.success), ref["untargeted_derived"],
                _WHY["VIII"])
            ok = t[t.success]
            add("VIII", name, "confidence (from 9 targets) %", mean(target_confidence(t), ok.image),
                ref["confidence_derived"], _WHY["VIII"])
            add("text", name, "classes reached per image (targeted DE)", mean(d.targets_reached.astype(float)),
                paper.TARGETS_REACHED.get(name), _WHY["text"])
        if u is not None and len(u):
            if ref:
                add("VIII", name, "non-targeted success %", success(u.success), ref["untargeted"], _WHY["VIII"])
                add("VIII", name, "confidence %", mean(u[u.success].adv_prob), ref["confidence"], _WHY["VIII"])
            if kaggle:
                table, why = ("IV (ImageNet)", _WHY["ImageNet"]) if imagenet else ("IV", _WHY["IV"])
                add(table, name, "non-targeted success %", success(u.success), kaggle.get("untargeted"), why)
                add(table, name, "confidence %", mean(u[u.success].adv_prob), kaggle.get("confidence"), why)
            cost = paper.COST.get(paper.PAPER_MODEL.get(name, name), {})
            ok = u[u.success]
            if cost:
                add("VI", name, "evaluations (successful)", mean(ok.evaluations.astype(float)), cost["evaluations"],
                    _WHY["VI"])
                add("VI", name, "distortion (successful, 0..255)", mean(ok.distortion.astype(float)),
                    cost["distortion"], _WHY["VI"])
        if kaggle and run.accuracy is not None and run.test_images:  # the paper's accuracy: on its own test data
            table, why = ("IV (ImageNet)", _WHY["ImageNet"]) if imagenet else ("IV", _WHY["IV"])
            correct = pd.Series([True] * round(run.accuracy * run.test_images)
                                + [False] * (run.test_images - round(run.accuracy * run.test_images)))
            add(table, name, "accuracy %", success(correct), kaggle.get("accuracy"), why, on_the_sample=False)
    for (name, k), run in (few or {}).items():
        ref = paper.FEW_PIXELS.get((name, k))
        if not ref:
            continue
        label = f"{name}, {k} px"
        t, u = run.targeted, run.untargeted
        if t is not None and len(t):
            add("V", label, "targeted success % (clustered CI)", clustered(t), ref["targeted"], _WHY["V"], 9)
            d = metrics.derived_untargeted(t)
            add("V", label, "non-targeted success (from 9 targets) %", success(d.success), ref["untargeted"], _WHY["V"])
            add("V", label, "confidence (from 9 targets) %", mean(target_confidence(t), t[t.success].image),
                ref["confidence"], _WHY["V"])
        elif u is not None and len(u):
            add("V", label, "non-targeted success %", success(u.success), ref["untargeted"], _WHY["V"])
    for name, b in (random_rows or {}).items():
        ref = paper.RANDOM_SEARCH.get(name)
        if ref:
            add("VII", name, "random search, 100 tries: success %", success(b.success & (b.evaluations <= 100)),
                ref["untargeted"], _WHY["VII"])
    columns = ["paper table", "network", "measure", "ours", "ci low", "ci high", "n", "paper", "paper n",
               "ours - paper", "diff low", "diff high", "test", "p", "kind", "main reason for a difference"]
    summary = pd.DataFrame(rows, columns=columns)
    return verdicts(summary).set_index(columns[:3])


def verdicts(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` with the p-values Holm-adjusted within each paper table ("p (Holm)"; accuracy,
    measured on other data, is its own family) and a verdict per row: "differs" where the adjusted
    p is below ``ALPHA``; otherwise "too few to tell" where the row was not tested or our 95%
    interval of a percentage is wider than ``TOO_WIDE`` points; otherwise "consistent"."""
    family = summary["paper table"] + summary.measure.str.startswith("accuracy").map({True: " accuracy", False: ""})
    adjusted = summary.p.groupby(family, group_keys=False).apply(metrics.holm) if len(summary) else summary.p
    wide = summary.measure.str.contains("%") & ((summary["ci high"] - summary["ci low"]) > TOO_WIDE)
    verdict = np.where(adjusted < ALPHA, "differs",
                       np.where(wide | adjusted.isna(), "too few to tell", "consistent"))
    return summary.assign(**{"p (Holm)": adjusted, "verdict": verdict})


TABLE_ORDER = ["VIII", "IV", "IV (ImageNet)", "V", "VI", "VII", "text"]

def summary_table(summary: pd.DataFrame, tables: list[str] | None = None) -> tuple[pd.DataFrame, str]:
    """:func:`paper_summary` for reading (only the paper tables ``tables``, when given), one flat row
    per value and the paper's tables in order (VIII, the original test set, first): the network and
    measure in one column (narrow enough for a phone), our value with
    its 95% interval and n in one cell, the paper's value as reported, the difference with its
    interval, the verdict with its Holm-corrected p, and the reason as a letter (column left out when
    one table is shown); and the Markdown list of the reasons."""
    table, legend = reason_codes(summary)
    table = table.reset_index()
    if tables is not None:
        table = table[table["paper table"].isin(tables)]
    table = table.iloc[table["paper table"].map(lambda t: TABLE_ORDER.index(t) if t in TABLE_ORDER else 99)
                       .argsort(kind="stable")]

    def number(v: float) -> str:
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.1f}"

    def interval(low: float, high: float, fmt) -> str:
        return "" if pd.isna(low) or pd.isna(high) else f" [{fmt(low)}, {fmt(high)}]"

    ours = table.apply(lambda r: f"{number(r.ours)}{interval(r['ci low'], r['ci high'], number)} (n={int(r.n):,})",
                       axis=1)
    difference = table.apply(lambda r: f"{r['ours - paper']:+,.1f}"
                             + interval(r["diff low"], r["diff high"], lambda v: f"{v:+,.1f}"), axis=1)
    verdict = table.apply(lambda r: r.verdict if pd.isna(r["p (Holm)"]) else f"{r.verdict} (p={r['p (Holm)']:.2g})",
                          axis=1)
    out = pd.DataFrame({"table": table["paper table"],
                        "measure": table.network + ": " + table.measure.str.replace(" (clustered CI)", "", regex=False),
                        "ours [95% CI] (n)": ours, "paper": table.paper.map(lambda v: reported(v) or ""),
                        "ours - paper [95% CI, unadjusted]": difference, "verdict": verdict, "reason": table.reason})
    if out.table.nunique() <= 1:
        out = out.drop(columns=["table", "reason"])
    return out.reset_index(drop=True), legend

def reason_codes(summary: pd.DataFrame, column: str = "main reason for a difference") -> tuple[pd.DataFrame, str]:
    """``summary`` with its long ``column`` replaced by letters, and the Markdown legend of the letters
    (keeps the table narrow enough to read)."""
    codes = {why: chr(ord("a") + i) for i, why in enumerate(dict.fromkeys(summary[column]))}
    table = summary.drop(columns=column).assign(reason=summary[column].map(codes))
    return table, "\n".join(f"- ({c}) {why}" for why, c in codes.items())


ANCHOR = "VIII"


def verdict(summary: pd.DataFrame) -> str:
    """What :func:`paper_summary` says, as a short Markdown list: per paper table how many measures
    are consistent with the paper, differ, or rest on too few images to tell; the measures of the
    original test set (Table VIII) that differ, with the difference and its interval; and how the
    verdicts were reached. README and book show this same text."""
    if not len(summary):
        return "No value is stored yet that the paper reports."
    flat = summary.reset_index()
    order = [t for t in TABLE_ORDER if t in set(flat["paper table"])]

    def counts(part: pd.DataFrame) -> str:
        n = part.verdict.value_counts()
        return (f"{n.get('consistent', 0)} consistent, {n.get('differs', 0)} differ, "
                f"{n.get('too few to tell', 0)} too few to tell (of {len(part)})")

    def listed(part: pd.DataFrame) -> str:
        return "; ".join(f"{r.network} {r.measure.replace(' (clustered CI)', '')}: ours {r.ours:,.1f}, paper "
                         f"{r.paper:,g}, difference {r['ours - paper']:+,.1f} [{r['diff low']:+,.1f}, "
                         f"{r['diff high']:+,.1f}]" for _, r in part.iterrows())

    lines = []
    for table in order:
        part = flat[flat["paper table"] == table]
        line = f"- **{TABLE_TITLES.get(table, 'Table ' + table)}**: {counts(part)}."
        if table == ANCHOR and (part.verdict == "differs").any():
            line += f" Differ: {listed(part[part.verdict == 'differs'])}."
        lines.append(line)
    sizes = ", ".join(f"Table {t}: {n}" for t, n in paper.SAMPLE_IMAGES.items())
    lines.append(f"- *How*: the difference ours - paper with a 95% interval (unadjusted), as two samples where the "
                 f"paper states its images per network ({sizes}; Newcombe's interval for rates), else against the "
                 f"paper's value alone (means, which the paper reports without spread). *Differs*: p below {ALPHA} "
                 f"after Holm's correction within each paper table. Otherwise *too few to tell* where our 95% "
                 f"interval is wider than {TOO_WIDE:.0f} points or the measure rests on fewer than "
                 f"{metrics.MIN_UNITS} images, else *consistent*: no difference found, which is not proof of "
                 f"agreement (the difference's interval says how large a difference the data cannot rule out). A "
                 f"targeted rate counts images, not pairs, on both sides.")
    return "\n".join(lines)


TABLE_TITLES = {"VIII": "paper Table VIII (original test set, the anchor)", "IV": "paper Table IV (Kaggle set)",
                "IV (ImageNet)": "paper Table IV (ImageNet)", "V": "paper Table V (few pixels, Kaggle set)",
                "VI": "paper Table VI (cost, Kaggle set)", "VII": "paper Table VII (random search, Kaggle set)",
                "text": "classes reached (the paper's text, Kaggle set)"}
