"""Which 95% interval to report for a clustered success rate: a simulation in the regime of our
targeted attacks (12 to 20 images, 9 targets each, only some images with any success).

Each simulated image is vulnerable with probability ``v``; a vulnerable image's targets succeed
independently with a rate drawn from Beta(a, b), the others never do, so successes cluster by image
as they do in the stored rows. ``v`` is set so that a given share of images has any success. Every
candidate interval is computed on the same simulated samples, and its coverage of the true rate
``v * a / (a + b)`` and its mean width are recorded. Pure functions of their arguments and a seed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from onepixel.stats.metrics import t_quantile, wilson_bounds


TARGETS = 9
Z = 1.96
CANDIDATES = ("Wilson, design effect (plug-in ICC)", "Wilson, images as n", "normal, cluster-robust",
              "Wilson, design effect (robust variance)", "Wilson, design effect (robust variance, t)",
              "cluster bootstrap, percentile")  # the intervals of :func:`intervals`, in its order


def icc_equal_clusters(counts: np.ndarray, m: int, min_clusters: int = 10) -> np.ndarray:
    """ANOVA intraclass correlation of 0/1 outcomes from per-cluster success ``counts`` (last axis:
    clusters of ``m`` outcomes each), clipped to [0, 1]; 1 (the cautious value) where it cannot be
    estimated: fewer than ``min_clusters`` clusters, or no variation."""
    g = counts.shape[-1]
    means = counts / m
    p = means.mean(-1, keepdims=True)
    between = (m * (means - p) ** 2).sum(-1) / (g - 1)
    within = (m * means * (1 - means)).sum(-1) / (g * m - g)
    denom = between + (m - 1) * within
    with np.errstate(divide="ignore", invalid="ignore"):
        icc = np.where(denom > 0, (between - within) / denom, 1.0)
    icc = np.clip(icc, 0, 1)
    degenerate = (p[..., 0] == 0) | (p[..., 0] == 1) | (g < min_clusters)
    return np.where(degenerate, 1.0, icc)


def intervals(counts: np.ndarray, m: int = TARGETS, boot: int = 1000,
              rng: np.random.Generator | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every candidate 95% interval of the rate, for samples given as per-image success ``counts``
    (reps x images, each image ``m`` attacks)."""
    rng = rng or np.random.default_rng(0)
    reps, g = counts.shape
    n = g * m
    total = counts.sum(1)
    rate = total / n
    out = {}
    n_eff = n / (1 + (m - 1) * icc_equal_clusters(counts, m))
    out["Wilson, design effect (plug-in ICC)"] = wilson_bounds(rate * n_eff, n_eff)
    out["Wilson, images as n"] = wilson_bounds(rate * g, np.full(reps, float(g)))
    resid = counts - rate[:, None] * m
    se = np.sqrt(g / (g - 1) * (resid ** 2).sum(1)) / n
    out["normal, cluster-robust"] = (np.clip(rate - Z * se, 0, 1), np.clip(rate + Z * se, 0, 1))
    # the design effect from the cluster-robust variance (no ICC), at most one image per cluster of m
    with np.errstate(divide="ignore", invalid="ignore"):
        n_robust = np.clip(np.where(se > 0, rate * (1 - rate) / se ** 2, n), g, n)
    out["Wilson, design effect (robust variance)"] = wilson_bounds(rate * n_robust, n_robust)
    out["Wilson, design effect (robust variance, t)"] = wilson_bounds(rate * n_robust, n_robust, t_quantile(g - 1))
    picks = rng.integers(0, g, size=(boot, g))
    boot_rates = counts[:, picks].sum(-1) / n  # reps x boot
    out["cluster bootstrap, percentile"] = (np.quantile(boot_rates, 0.025, axis=1),
                                            np.quantile(boot_rates, 0.975, axis=1))
    return out


def vulnerable_share(any_share: float, a: float, b: float, rng: np.random.Generator) -> float:
    """The share of vulnerable images that makes ``any_share`` of all images have some success."""
    q = rng.beta(a, b, 200_000)
    return min(1.0, any_share / float((1 - (1 - q) ** TARGETS).mean()))


def simulate(images: int, any_share: float, reps: int = 2000, a: float = 0.8, b: float = 3.2,
             seed: int = 0) -> pd.DataFrame:
    """Coverage and mean width (points) of each interval of :func:`intervals`, one row per method,
    for ``reps`` samples of ``images`` images of which about ``any_share`` have any success."""
    rng = np.random.default_rng([seed, images, round(1000 * any_share)])
    v = vulnerable_share(any_share, a, b, rng)
    true = v * a / (a + b)
    q = np.where(rng.random((reps, images)) < v, rng.beta(a, b, (reps, images)), 0.0)
    counts = rng.binomial(TARGETS, q)
    rows = []
    for method, (lo, hi) in intervals(counts, TARGETS, rng=rng).items():
        rows.append({"images": images, "images with any success %": round(100 * any_share),
                     "true rate %": round(100 * true, 2), "method": method,
                     "coverage %": round(100 * float(((lo <= true) & (true <= hi)).mean()), 1),
                     "mean width (points)": round(100 * float((hi - lo).mean()), 1), "samples": reps})
    return pd.DataFrame(rows)


def scenarios(sizes: tuple, any_share: tuple, **_) -> list[tuple[int, float]]:
    """The simulated regimes, numbered: every (images, share of images with any success) pair (other
    settings of the simulation are ignored)."""
    return [(g, s) for g in sizes for s in any_share]


def choose(table: pd.DataFrame, least: float = 93.0, aim: float = 95.0) -> str | None:
    """The method whose coverage is closest to ``aim`` over all scenarios, among those that cover at
    least ``least`` percent in every scenario (None if none does)."""
    per = table.groupby("method")["coverage %"]
    ok = per.min()[per.min() >= least].index
    if not len(ok):
        return None
    gap = table[table.method.isin(ok)].assign(gap=lambda t: (t["coverage %"] - aim).abs()).groupby("method").gap.mean()
    return str(gap.idxmin())
