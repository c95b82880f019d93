"""Tables of chapter 08 (performance): the engine against its peers, and incremental inference."""
from __future__ import annotations

import numpy as np
import pandas as pd


ENGINE_COLUMNS = {"evaluations": "evaluations", "seconds": "seconds", "success": "success rate",
                  "pixels": "pixels changed (mean, most)", "evals_per_s": "evaluations/s",
                  "ours_incremental_x": "ours (incremental) is x faster"}


def engine_table(engine: pd.DataFrame) -> pd.DataFrame:
    """The stored engine benchmark for reading: one row per method, readable headers, the pixels
    each method changed as "mean, most" in one column (columns a run did not measure are left
    out; :func:`engine_caveats` says what the success column counts)."""
    engine = engine.copy()
    if "pixels_changed" in engine:
        most = engine["most_pixels_changed"] if "most_pixels_changed" in engine else pd.Series(np.nan, engine.index)
        engine["pixels"] = [("" if pd.isna(m) and pd.isna(c) else f"{c:.1f}" + ("" if pd.isna(m) else f", {m:.0f}"))
                            for c, m in zip(engine.pixels_changed, most)]
        if (engine["pixels"] == "").all():
            engine = engine.drop(columns="pixels")
    present = [c for c in ENGINE_COLUMNS if c in engine]
    return engine.set_index("method")[present].rename(columns=ENGINE_COLUMNS)


def engine_caveats(engine: pd.DataFrame, pixels: int = 1) -> str:
    """What each stored benchmark row's success means, from the row itself: which methods' flips
    changed more than ``pixels`` pixels (not ``pixels``-pixel successes), where pixels were not
    counted (rows stored before the benchmark counted them), whether ART ran as a ``pixels``-pixel
    attack (``th``) or searched for the fewest pixels, and which methods spent far more or fewer
    evaluations than this engine (more than a quarter apart)."""
    rows = engine[engine.success.notna()] if "success" in engine else engine.iloc[:0]
    notes, old = [], False
    counted = rows.flips_over_k_pixels.notna() if "flips_over_k_pixels" in rows else pd.Series(False, rows.index)
    for r in rows[counted].itertuples():
        if r.flips_over_k_pixels:
            notes.append(f"{r.flips_over_k_pixels:.0f} flips of {r.method} changed more than {pixels} pixel"
                         f"{'s' if pixels != 1 else ''} (up to {r.most_pixels_changed:.0f}) and are not counted")
    legacy = rows[~counted]
    for r in legacy.itertuples():  # stored before flips over k pixels were counted: the mean is all there is
        changed = getattr(r, "pixels_changed", float("nan"))
        if pd.notna(changed) and changed > pixels:
            notes.append(f"{r.method} changed {changed:.1f} pixels per image on average, so its flips are not "
                         f"{pixels}-pixel successes")
            old = True
    unmeasured = [r.method for r in legacy.itertuples() if pd.isna(getattr(r, "pixels_changed", float("nan")))]
    if unmeasured:
        notes.append(f"pixels changed were not counted for {', '.join(unmeasured)}")
        old = True
    art = rows[rows.method.str.startswith("ART")]
    if len(art) and not art.method.str.contains(f"th={pixels}").any():
        notes.append("ART's PixelAttack ran with th=None, which searches for the fewest pixels that flip the class "
                     "(from 1 to 127), not a one-pixel attack, so its successes are not one-pixel successes")
        old = True
    ours = rows[rows.method == "onepixel (incremental)"].evaluations
    for r in rows.itertuples():  # a search that stops far from the shared budget is not at equal evaluations
        if len(ours) and not 0.75 <= r.evaluations / float(ours.iloc[0]) <= 1.25:
            notes.append(f"{r.method} spent {r.evaluations:,.0f} evaluations against {float(ours.iloc[0]):,.0f} for this "
                         "engine, so its success is not at an equal budget")
    if not notes:
        return f"Every success in the table is a {pixels}-pixel success: no counted flip changed more pixels."
    text = "What the success column means: " + "; ".join(notes) + "."
    if old:
        text += (f" This run was stored before `onepixel bench` ran ART with th={pixels}, counted the pixels every "
                 f"method changes and counted a flip as a success only within {pixels} pixel"
                 f"{'s' if pixels != 1 else ''}; a new run replaces it.")
    return text


def speed_table(speed: pd.DataFrame) -> pd.DataFrame:
    """The stored incremental-inference benchmark for reading: candidates per second dense and
    incremental, the speedup, the bound that counting multiply-accumulates gives, and the largest
    probability difference between the two paths (the measured cutoff node is in the stored rows)."""
    return pd.DataFrame({"input": speed.input, "dense /s": speed.dense_per_s.round(0),
                         "incremental /s": speed.incremental_per_s.round(0), "speedup": speed.speedup.round(2),
                         "MAC bound": speed.mac_ratio.round(2),
                         "max prob. diff": speed.max_prob_diff.map(lambda v: f"{v:.0e}")}
                        ).set_axis(speed.model).rename_axis("model")
