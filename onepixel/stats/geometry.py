"""Statistics of the geometric analysis: where the class changes along a slice, class-pair
asymmetry of success matrices, robust classes and distances from the image centre (pandas and
numpy only; the probes that evaluate models are in :mod:`onepixel.engine.probes`)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from onepixel.stats.metrics import attacked_from_to, success_matrix


def crossings(slice_df: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """Where the predicted class changes along a line: the two values around each change."""
    pred = slice_df.pred.to_numpy()
    at = np.flatnonzero(pred[1:] != pred[:-1])
    return pd.DataFrame({"from_value": slice_df[column].to_numpy()[at], "to_value": slice_df[column].to_numpy()[at + 1],
                         "from_class": pred[at], "to_class": pred[at + 1]})


def distance_to_centre(x, y, height: int, width: int) -> np.ndarray:
    """Euclidean distance (pixels) of (x, y) to the image centre."""
    return np.hypot(np.asarray(x) - (width - 1) / 2, np.asarray(y) - (height - 1) / 2)


def asymmetry_index(matrix: pd.DataFrame | np.ndarray) -> float:
    """||M - M^T|| / ||M|| (Frobenius) over the off-diagonal entries; 0 for a symmetric matrix."""
    return float(_asymmetry(np.asarray(matrix, dtype=float)[None])[0])


def _asymmetry(matrices: np.ndarray) -> np.ndarray:
    """:func:`asymmetry_index` of each of a stack of square matrices (NaN counts as 0)."""
    m = np.nan_to_num(matrices)
    m[:, np.arange(m.shape[1]), np.arange(m.shape[1])] = 0
    norm = np.linalg.norm(m, axis=(1, 2))
    spread = np.linalg.norm(m - m.transpose(0, 2, 1), axis=(1, 2))
    return np.divide(spread, norm, out=np.full(len(m), np.nan), where=norm > 0)


def bootstrap_asymmetry(rows: pd.DataFrame, classes: int, draws: int = 1000, seed: int = 0) -> dict:
    """Asymmetry index of the original x target success matrix with a bootstrap 95% interval
    (images resampled with replacement; each draw's matrix is the weighted sum of per-image counts)."""
    codes, images = pd.factorize(rows.image)
    cell = rows.label.to_numpy() * classes + rows.target.to_numpy()
    successes, attacks = np.zeros((len(images), classes * classes)), np.zeros((len(images), classes * classes))
    np.add.at(successes, (codes, cell), rows.success.to_numpy(dtype=float))
    np.add.at(attacks, (codes, cell), 1.0)
    rng = np.random.default_rng(seed)
    weights = np.stack([np.bincount(rng.choice(len(images), len(images)), minlength=len(images))
                        for _ in range(draws)]).astype(float)
    drawn, tried = weights @ successes, weights @ attacks
    matrices = np.divide(drawn, tried, out=np.full_like(drawn, np.nan), where=tried > 0)
    values = _asymmetry(matrices.reshape(draws, classes, classes))
    values = values[np.isfinite(values)]
    low, high = np.quantile(values, [0.025, 0.975]) if len(values) else (np.nan, np.nan)
    return {"index": asymmetry_index(success_matrix(rows, classes)), "ci_low": float(low), "ci_high": float(high),
            "images": len(images), "draws": len(values)}


def symmetric_null(rows: pd.DataFrame, classes: int, draws: int = 1000, seed: int = 0) -> np.ndarray:
    """Asymmetry indices that a symmetric process with the same counts gives: each pair's two cells
    share the pooled success rate of both directions, and each cell is drawn binomially with its own
    number of attacks. Targets of one image are drawn independently, so the spread is, if anything,
    smaller than the sampling noise of real rows (whose targets succeed together)."""
    def cells(how: str) -> np.ndarray:
        m = rows.pivot_table(index="label", columns="target", values="success", aggfunc=how)
        return np.nan_to_num(m.reindex(index=range(classes), columns=range(classes)).to_numpy(dtype=float))
    successes, attacks = cells("sum"), cells("count")
    np.fill_diagonal(attacks, 0)
    both = attacks + attacks.T
    pooled = np.divide(successes + successes.T, both, out=np.zeros_like(both), where=both > 0)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        drawn = rng.binomial(attacks.astype(int), pooled)
        out.append(asymmetry_index(np.divide(drawn, attacks, out=np.zeros_like(attacks), where=attacks > 0)))
    return np.array(out)


def asymmetric_pairs(matrix: pd.DataFrame, names=None, top: int = 10) -> pd.DataFrame:
    """Class pairs (a, b) with the largest difference between a -> b and b -> a success rates."""
    m = matrix.to_numpy(dtype=float)
    rows = []
    for a in range(len(m)):
        for b in range(a + 1, len(m)):
            if np.isfinite(m[a, b]) and np.isfinite(m[b, a]):
                rows.append({"a": names[a] if names else a, "b": names[b] if names else b,
                             "a_to_b": m[a, b], "b_to_a": m[b, a], "difference": m[a, b] - m[b, a]})
    df = pd.DataFrame(rows, columns=["a", "b", "a_to_b", "b_to_a", "difference"])
    return df.reindex(df.difference.abs().sort_values(ascending=False).index).head(top).reset_index(drop=True)


def asymmetry_correlation(matrices: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rank correlation, between networks, of the antisymmetric parts M - M^T (upper triangle)."""
    parts = {}
    for name, m in matrices.items():
        a = np.nan_to_num(m.to_numpy(dtype=float))
        iu = np.triu_indices(len(a), 1)
        parts[name] = (a - a.T)[iu]
    return pd.DataFrame(parts).corr(method="spearman")


def robust_classes(rows: pd.DataFrame, names) -> pd.DataFrame:
    """Per class: success rate of attacks from it and to it, and their mean, most robust first."""
    df = attacked_from_to(rows, len(names)).set_axis(list(names))
    df["mean"] = df.mean(axis=1)
    return df.sort_values("mean")
