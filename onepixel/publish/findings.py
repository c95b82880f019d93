"""Each chapter's "What we found" where its tables come from several modules (chapters 00, 02, 03,
05, 06, 08 and 09; chapter 01's is :func:`onepixel.publish.training.findings`, 04's
:func:`onepixel.publish.cost.findings`, 07's :func:`onepixel.publish.geometry.findings`): a short
Markdown list in which every number and every comparative is computed from what the chapter shows."""
from __future__ import annotations

import pandas as pd

from onepixel.stats import metrics, paper
from onepixel.stats.metrics import Runs


NOTHING = "Nothing is stored for this chapter yet."
KAGGLE_TABLES = ("IV", "V", "VII")


def signed(value: float) -> str:
    """``value`` with its sign and one decimal, or its first significant digit where one decimal
    would round it to zero (so that an interval's end shows which side of zero it lies on)."""
    return f"{value:+.1g}" if value and round(value, 1) == 0 else f"{value:+.1f}"


def direction(low: float, high: float, above: str, below: str, neither: str = "no difference at 95%") -> str:
    """What a 95% interval of a difference says: ``above`` where it lies above zero, ``below`` where it
    lies below, ``neither`` where it contains zero."""
    return above if low > 0 else below if high < 0 else neither


def _points(d: dict, scale: float = 100) -> str:
    """A paired or two-sample difference (fractions) as "+d points [low, high]"."""
    return f"{signed(scale * d['diff'])} points [{signed(scale * d['ci_low'])}, {signed(scale * d['ci_high'])}]"


def _count(n: int, noun: str) -> str:
    """"1 image", "2 images"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _listed(lines: list[str]) -> str:
    return "\n".join(lines) if lines else NOTHING


def anchor(summary: pd.DataFrame) -> list[str]:
    """One line per measure of the paper's Table VIII (``summary``:
    :func:`onepixel.stats.comparison.paper_summary`): the networks under each verdict, with the
    difference ours - paper and its interval, and a note where Holm's correction alone makes an
    excluded zero "consistent"."""
    rows = summary.reset_index()
    rows = rows[rows["paper table"] == "VIII"]
    measures = rows.measure.str.replace(" (clustered CI)", "", regex=False)
    order = sorted(dict.fromkeys(measures), key=lambda m: m.startswith("targeted") or "9 targets" in m)  # 500 images first
    out = []
    for measure in order:
        part = rows[measures == measure]
        groups: dict[str, list[str]] = {}
        for _, r in part.iterrows():
            text = r.network
            if r.verdict != "too few to tell":
                text += (f" ({r.ours:.1f} against {r.paper:g}, {r['ours - paper']:+.1f} "
                         f"[{r['diff low']:+.1f}, {r['diff high']:+.1f}]")
                excluded = r["diff low"] > 0 or r["diff high"] < 0
                text += (", its unadjusted interval excludes zero)" if r.verdict == "consistent" and excluded else ")")
            groups.setdefault(r.verdict, []).append(text)
        out.append(f"- Paper Table VIII, {measure}: " + "; ".join(
            f"{verdict} for {', '.join(names)}" for verdict, names in groups.items()) + ".")
    return out


def summary(summary: pd.DataFrame) -> str:
    """Chapter 00: the anchor's verdicts (:func:`anchor`), how our success rates stand against the
    Kaggle-set tables, and our cost and accuracy against the paper's."""
    if not len(summary):
        return NOTHING
    rows = summary.reset_index()
    out = anchor(summary)
    kaggle = rows[rows["paper table"].isin(KAGGLE_TABLES) & rows.measure.str.contains("success")]
    if len(kaggle):
        below = kaggle[kaggle["ours - paper"] < 0]
        out.append(f"- Paper Tables {', '.join(t for t in KAGGLE_TABLES if t in set(kaggle['paper table']))} "
                   f"(the Kaggle set, another test set): our success rate is below the paper's for {len(below)} of "
                   f"{_count(len(kaggle), 'value')}, and differs after Holm's correction for "
                   f"{int((kaggle.verdict == 'differs').sum())}.")
    cost = rows[(rows["paper table"] == "VI") & rows.measure.str.startswith("evaluations")]
    if len(cost):
        ratio = cost.ours / cost.paper
        out.append(f"- Paper Table VI (the Kaggle set): our successful attacks use more evaluations than the paper's for "
                   f"{int((ratio > 1).sum())} of {_count(len(cost), 'network')} ("
                   + (f"{ratio.min():.1f} to {ratio.max():.1f}" if len(cost) > 1 else f"{ratio.iloc[0]:.1f}")
                   + " times as many).")
    accuracy = rows[rows.measure.str.startswith("accuracy")]
    if len(accuracy):
        differs = accuracy[accuracy.verdict == "differs"]
        out.append(f"- Clean accuracy differs from the paper's for {len(differs)} of {_count(len(accuracy), 'network')}"
                   + (": " + ", ".join(f"{r.network} {r['ours - paper']:+.1f} points"
                                       + (f" against the paper's {paper.PAPER_NAME[r.network]}"
                                          if r.network in paper.PAPER_MODEL else "") for _, r in differs.iterrows())
                      if len(differs) else "") + ".")
    return _listed(out)


def depth(table: pd.DataFrame) -> str | None:
    """The ResNet series (:func:`onepixel.publish.report.depth_series`): the range of success over
    depth, and whether the largest and smallest rates differ (Newcombe's interval, two samples)."""
    if len(table) < 2:
        return None
    high, low = table.loc[table["success %"].idxmax()], table.loc[table["success %"].idxmin()]
    rate_high, rate_low = high.successes / high.n, low.successes / low.n  # the counts, not the rounded rates
    lo, hi = metrics.newcombe_difference(rate_high, high.n, rate_low, low.n)
    d = {"diff": rate_high - rate_low, "ci_low": lo, "ci_high": hi}
    return (f"- Depth: across {', '.join(table.model)} (accuracy {table['accuracy %'].min():.1f}% to "
            f"{table['accuracy %'].max():.1f}%), success runs from {low['success %']:.1f}% ({low.model}) to "
            f"{high['success %']:.1f}% ({high.model}), a difference of {_points(d)} on {int(low.n)} and "
            f"{int(high.n)} images: " + direction(lo, hi, *["depth changes how often one pixel is enough."] * 2,
                                                  "no effect of depth is distinguishable at this sample size."))


def early_stop(table: pd.DataFrame) -> str | None:
    """The stopping rules (:func:`onepixel.publish.report.early_stop_table`): evaluations and
    confidence per rule on the same images."""
    known = table.dropna(subset=["evaluations (mean)"]) if "evaluations (mean)" in table else table.iloc[:0]
    if not len(known):
        return None
    costs = known["evaluations (mean)"]
    rule = [costs[i] for i in costs.index if "the paper" in i]
    never = [costs[i] for i in costs.index if i.startswith("never")]
    never_fired = bool(rule and never and rule[0] == never[0])  # the paper's rule cost what running on costs
    return (f"- Stopping rules, on the {int(known.images.max())} images the paper's rule fools: " + "; ".join(
        f"{rule}: {r['evaluations (mean)']:,.0f} evaluations, confidence {r['confidence % (successful)']:.1f}%"
        for rule, r in known.iterrows())
        + (". The paper's rule stopped none of these attacks early: it spent what running every generation spends"
           if never_fired else "") + f" ({int(known.images.max())} images: a description, not a test).")


def bounds(runs: dict[str, pd.DataFrame]) -> str | None:
    """Clip against redraw on the same images: the paired difference in success."""
    if set(runs) != {"clip", "redraw"} or not all(len(r) for r in runs.values()):
        return None
    clip, redraw = (runs[b].set_index("image").success for b in ("clip", "redraw"))
    d = metrics.paired_difference(redraw, clip)
    return (f"- Out-of-range children: redrawing instead of clipping changes success by {_points(d)} on "
            f"{d['n']} images (" + direction(d["ci_low"], d["ci_high"], *["a difference at 95%"] * 2) + ").")


def attacks(summary: pd.DataFrame, depth_table: pd.DataFrame, transfer: str, early: pd.DataFrame,
            clip_redraw: dict[str, pd.DataFrame]) -> str:
    """Chapter 02: the Table VIII verdicts, depth, transfer (its computed sentence), stopping rules
    and out-of-range children."""
    out = anchor(summary) + [depth(depth_table), f"- Transfer: {transfer[:1].lower()}{transfer[1:]}" if transfer else None,
                             early_stop(early), bounds(clip_redraw)]
    return _listed([line for line in out if line])


def few_pixels(runs: dict[tuple[str, int], Runs]) -> str:
    """Chapter 03: per network, k pixels against one on the same images (paired difference), with the
    paper's Table V value, and the targeted k-pixel rate where stored."""
    out = []
    for (name, k), run in runs.items():
        one = getattr(runs.get((name, 1)), "untargeted", None)
        if k == 1 or one is None or run.untargeted is None:
            continue
        many, once = (r.set_index("image").success for r in (run.untargeted, one))
        both = many.index.intersection(once.index)
        d = metrics.paired_difference(many[both], once[both])
        reported = paper.FEW_PIXELS.get((name, k), {})
        line = (f"- {name}, {k} pixels: non-targeted success {100 * many[both].mean():.1f}% against "
                f"{100 * once[both].mean():.1f}% with one pixel on the same {d['n']} images, "
                f"{_points(d)}; {_count(d['only_a'], 'image')} fell only to {k} pixels, {d['only_b']} only to one")
        if reported.get("untargeted") is not None:
            line += f"; the paper's Table V (Kaggle set) reports {reported['untargeted']:g}%"
        if run.targeted is not None and len(run.targeted):
            t = metrics.targeted_rate(run.targeted)
            line += (f"; targeted success {100 * t['rate']:.1f}% [{100 * t['ci_low']:.1f}, {100 * t['ci_high']:.1f}] "
                     f"over {len(run.targeted)} image-target pairs of {_count(run.targeted.image.nunique(), 'image')}"
                     + (f" (paper {reported['targeted']:g}%)" if reported.get("targeted") is not None else ""))
        else:
            line += f"; no targeted {k}-pixel attack is stored yet"
        out.append(line + ".")
    return _listed(out)


def class_pairs(extremes: pd.DataFrame, reached: dict[str, pd.Series]) -> str:
    """Chapter 05, from the exhaustive search (:func:`onepixel.publish.geometry.class_extremes_table`
    and the classes reached per image): per network the class whose images move most often, the class
    reached most often, and the classes reached per image against the paper's."""
    out = []
    for name, r in extremes.iterrows():
        line = (f"- {name} ({_count(int(r.images), 'image')}): images of {r['moves most']} move to some target most "
                f"often ({r['% of its pairs']:.1f}% of its image-target pairs), and {r['reached most']} is reached most "
                f"often ({r['% of the pairs aimed at it']:.1f}% of the pairs aimed at it); "
                f"{reached[name].mean():.2f} classes reached per image")
        if name in paper.TARGETS_REACHED_ORIGINAL:
            line += (f", against {paper.TARGETS_REACHED_ORIGINAL[name]:.2f} implied by the paper's Table VIII "
                     f"and {paper.TARGETS_REACHED[name]:g} on the Kaggle set")
        out.append(line + ".")
    return _listed(out)


def gallery(runs: dict[str, Runs], threshold: float = 0.9) -> str:
    """Chapter 06: per network and kind, how many attacks succeeded and how confident the most
    confident one is, and how many exceed ``threshold``."""
    out = []
    for name, run in runs.items():
        for kind, rows in (("non-targeted", run.untargeted), ("targeted", run.targeted)):
            if rows is None or not len(rows):
                continue
            ok = rows[rows.success]
            text = f"{len(ok)} of {len(rows)} {kind} attacks succeed"
            if len(ok):
                text += (f", the most confident at {100 * ok.adv_prob.max():.1f}%, {int((ok.adv_prob > threshold).sum())}"
                         f" above {100 * threshold:.0f}%")
            out.append(f"- {name}: {text}.")
    return _listed(out)


def performance(engine: pd.DataFrame, speed: pd.DataFrame, images: int | None = None) -> str:
    """Chapter 08: incremental inference against the dense forward per network, this engine against
    each peer in evaluations per second, and (with the benchmark's number of ``images``) each
    method's one-pixel success with its 95% Wilson interval."""
    out = []
    if len(speed):
        fast, slow = speed.loc[speed.speedup.idxmax()], speed.loc[speed.speedup.idxmin()]
        below = int((speed.speedup <= speed.mac_ratio).sum())
        above = speed[speed.speedup > speed.mac_ratio]
        span = (f"{slow.speedup:.2f} ({slow.model}) to {fast.speedup:.2f} ({fast.model})" if len(speed) > 1
                else f"{fast.speedup:.2f} ({fast.model})")
        out.append(f"- Incremental inference evaluates {span} times as many candidates per second as the dense "
                   f"forward, at or below the bound from multiply-accumulate counts for {below} of "
                   f"{_count(len(speed), 'network')}"
                   + "".join(f" ({r.model} above it: {r.speedup:.2f} against {r.mac_ratio:.2f})" for r in above.itertuples())
                   + ", with probabilities "
                   f"within {speed.max_prob_diff.max():.0e} of the dense path's.")
    peers = engine[~engine.method.str.startswith(("onepixel", "dense"))] if len(engine) else engine
    if len(peers) and "ours_incremental_x" in peers:
        out.append("- Candidates per second, this engine with incremental inference against each peer: " + "; ".join(
            f"{r.ours_incremental_x:.2f} times {r.method}'s" for r in peers.itertuples()) + ".")
    scored = engine[engine.success.notna()] if images and "success" in engine else engine.iloc[:0]
    if len(scored):
        parts = []
        for r in scored.itertuples():
            fooled = round(r.success * images)
            low, high = metrics.wilson_interval(fooled, images)
            parts.append(f"{r.method} {fooled} of {images} ({100 * r.success:.1f}% [{100 * low:.1f}, {100 * high:.1f}])")
        out.append("- One-pixel success at this budget, on the same images: " + "; ".join(parts) + ".")
    return _listed(out)


def reproducibility(status: pd.DataFrame, spent: pd.DataFrame) -> str:
    """Chapter 09: how much of the plan is stored and what it cost (``status``:
    :func:`onepixel.publish.report.status_table`; ``spent``:
    :func:`onepixel.publish.provenance.compute_spent`)."""
    if not len(status):
        return NOTHING
    planned = status.dropna(subset=["planned"])
    done = planned[planned.stored >= planned.planned]
    left = planned["CPU hours left"]
    text = (f"- The plan: {len(done)} of {len(planned)} experiments complete, {int(planned.stored.sum()):,} of "
            f"{int(planned.planned.sum()):,} planned items stored.")
    if "total" in spent.index:
        text += f"\n- Compute: {spent.loc['total', 'CPU hours']:.1f} CPU hours stored in this profile's shards"
        open_ = planned[planned.stored < planned.planned]
        unknown = int(left[open_.index].isna().sum())
        if not len(open_):
            text += "; nothing left to compute."
        elif unknown:
            text += (f"; {_count(unknown, 'unstarted experiment')} {'has' if unknown == 1 else 'have'} no estimate "
                     f"yet, so what is left is more than the {left.sum():.1f} CPU hours the others' measured cost "
                     "per item gives.")
        else:
            text += f"; about {left.sum():.1f} CPU hours left by the measured cost per item."
    return text
