"""Chapter 04's tables and sentences: what an attack costs, success against evaluations spent (DE,
the random baselines and the exhaustive search), the paired comparison at equal budgets and the
chapter's findings. Each turns stored rows into a table or text; none computes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from onepixel.engine.settings import PAPER
from onepixel.publish.findings import direction, signed
from onepixel.stats import metrics, paper
from onepixel.stats.metrics import Runs


def cost_table(runs: dict[str, Runs], maxiter: int = PAPER.maxiter) -> pd.DataFrame:
    """Mean evaluations and distortion of non-targeted attacks, the share of attacks that stopped
    before ``maxiter`` generations, with the paper's Table VI."""
    rows = []
    for name, run in runs.items():
        u = run.untargeted
        ok = u[u.success]
        ref = paper.COST.get(paper.PAPER_MODEL.get(name, name), {})
        rows.append({"model": name, "fooled of attacked": f"{len(ok)} of {len(u)}",
                     "stopped early %": round(100 * float((u.generations < maxiter).mean()), 1),
                     "evaluations, all": round(u.evaluations.mean()),
                     "evaluations, successful": round(ok.evaluations.mean()) if len(ok) else None,
                     "distortion, successful": round(ok.distortion.mean(), 1) if len(ok) else None,
                     "paper: evaluations": ref.get("evaluations"), "paper: distortion": ref.get("distortion")})
    return pd.DataFrame(rows).set_index("model")


def budget_curves(rows: dict[str, dict[str, pd.DataFrame]], budget: int) -> dict[str, tuple[dict, dict]]:
    """Per model, from chapter 04's rows (``{"de": ..., <baseline>: ..., "exhaustive": ...}``): success-rate
    curves against evaluations (DE to its largest count, each baseline only up to its own ``budget``) and
    the exhaustive search as a fixed-cost point."""
    out = {}
    for name, r in rows.items():
        de = r["de"]
        budgets = np.unique(np.geomspace(1, max(de.evaluations.max(), budget), 60).round())
        curves = {f"DE (n={len(de)})": (budgets, metrics.success_by_budget(de.first_success_evaluations, budgets))}
        for method, b in r.items():
            if method in ("de", "exhaustive"):
                continue
            spent, own = b.evaluations.where(b.success), budgets[budgets <= budget]
            curves[f"{method.replace('_', ' ')} (n={len(b)})"] = (own, metrics.success_by_budget(spent, own))
        ex = r["exhaustive"]
        per_image = ex.groupby("image").success.any()
        points = {f"exhaustive, 8 corners (n={len(per_image)})": (int(ex.evaluations.iloc[0]), per_image.mean())}
        out[name] = (curves, points)
    return out


def budget_differences(rows: dict[str, dict[str, pd.DataFrame]], budget: int) -> pd.DataFrame:
    """Paired, on the images both attacked: the share of images DE had fooled within ``budget``
    evaluations (its first flip) against each baseline within the same budget, and DE's final
    success against the exhaustive corner search; each difference (fractions) with Newcombe's paired
    95% interval and the images only one of the two fooled."""
    out = []
    for name, r in rows.items():
        de = r["de"].set_index("image")
        de_within = de.first_success_evaluations.fillna(np.inf) <= budget
        pairs = {f"DE vs {method.replace('_', ' ')}": (de_within, b.set_index("image").pipe(
                     lambda t: t.success & (t.evaluations <= budget)), f"{budget:,}")
                 for method, b in r.items() if method not in ("de", "exhaustive")}
        pairs["DE (all generations) vs exhaustive"] = (de.success, r["exhaustive"].groupby("image").success.any(),
                                                       "each its own")
        for comparison, (a, b, spent) in pairs.items():
            both = a.index.intersection(b.index)
            d = metrics.paired_difference(a[both], b[both]) if len(both) > 1 else {}
            out.append({"model": name, "comparison": comparison, "budget": spent, "images": len(both),
                        "DE": float(a[both].mean()) if len(both) else np.nan,
                        "other": float(b[both].mean()) if len(both) else np.nan,
                        **{k: d.get(k, np.nan) for k in ("diff", "ci_low", "ci_high", "only_a", "only_b")}})
    return pd.DataFrame(out).set_index(["model", "comparison"])


def budget_comparison(d: pd.DataFrame) -> pd.DataFrame:
    """:func:`budget_differences` for reading: shares and differences in percent (points), the images
    only one search fooled named for the exhaustive comparison."""
    def difference(r) -> str:
        if pd.isna(r["diff"]):
            return "-"
        text = f"{signed(100 * r['diff'])} [{signed(100 * r.ci_low)}, {signed(100 * r.ci_high)}]"
        if r.name[1].endswith("exhaustive"):
            text += f" ({r.only_a:.0f} only DE, {r.only_b:.0f} only exhaustive)"
        return text

    return pd.DataFrame({"budget": d.budget, "images": d.images, "DE %": (100 * d.DE).round(1),
                         "other %": (100 * d.other).round(1),
                         "DE - other, points": d.apply(difference, axis=1)})


def _verdict(diff: pd.Series, other: str) -> str:
    """Which search a paired 95% interval (fractions) favours, or none where it contains zero."""
    return direction(diff.ci_low, diff.ci_high, f"DE fools more images than {other}", f"DE fools fewer images than {other}")


def findings(cost: pd.DataFrame, differences: pd.DataFrame) -> str:
    """Chapter 04's "What we found" from :func:`cost_table` and :func:`budget_differences`: our
    evaluations and distortion against the paper's, and per comparison which search fools more images
    (by whether the paired interval excludes zero)."""
    out = []
    both = cost.dropna(subset=["evaluations, successful", "paper: evaluations"])
    if len(both):
        ratio = both["evaluations, successful"] / both["paper: evaluations"]
        out.append("- Cost: a successful attack used " + "; ".join(
            f"{r['evaluations, successful']:,.0f} evaluations on average for {name} ({ratio[name]:.1f} times "
            f"the paper's {r['paper: evaluations']:,.0f}; {r['stopped early %']:.1f}% of its attacks stopped before "
            "the last generation)" for name, r in both.iterrows())
            + f", and changed its pixel by more than the paper's mean distortion for "
            f"{int((both['distortion, successful'] > both['paper: distortion']).sum())} of {len(both)} networks. "
            "The paper's Table VI was measured on the Kaggle set, and an attack that never stops early spends the "
            "whole budget whether or not it succeeds."),
    for comparison, part in differences.dropna(subset=["diff"]).groupby(level="comparison", sort=False):
        other = comparison.split(" vs ")[1]
        by = {}
        for (name, _), r in part.iterrows():
            by.setdefault(_verdict(r, other), []).append(
                f"{name} {signed(100 * r['diff'])} points [{signed(100 * r.ci_low)}, {signed(100 * r.ci_high)}], "
                f"n={r.images}")
        within = "" if other == "exhaustive" else f" within {part.budget.iloc[0]} evaluations"
        out.append(f"- {comparison.split(' vs ')[0]} against {other}{within}: " + "; ".join(
            f"{how} ({'; '.join(names)})" for how, names in by.items()) + ".")
    return "\n".join(out) if out else "Nothing is stored for this chapter yet."
