"""The differential-evolution operators of the paper's attack, on populations of candidates
(P x k x 5: column, row, red, green, blue per changed pixel): initialisation, DE/rand/1 mutation
without crossover, the two rules for children out of range, one-to-one selection, and the test for
candidates on the image border. :class:`onepixel.OnePixelAttack` runs them."""
from __future__ import annotations

import numpy as np


def distinct_indices(rng: np.random.Generator, popsize: int, count: int = 3) -> np.ndarray:
    """popsize x count indices, distinct within a row and different from the row index."""
    excluded = np.arange(popsize)[:, None]
    out = np.empty((popsize, count), dtype=np.int64)
    for j in range(count):
        r = rng.integers(0, popsize - 1 - j, popsize)
        for e in np.sort(excluded, axis=1).T:  # skip each excluded value, smallest first
            r += r >= e
        out[:, j] = r
        excluded = np.concatenate([excluded, r[:, None]], axis=1)
    return out


def mutate(pop: np.ndarray, rng: np.random.Generator, F: float) -> tuple[np.ndarray, np.ndarray]:
    """DE/rand/1 without crossover: child_i = x_r1 + F (x_r2 - x_r3). Returns children and indices."""
    r = distinct_indices(rng, len(pop))
    return pop[r[:, 0]] + F * (pop[r[:, 1]] - pop[r[:, 2]]), r


def clip_to_bounds(pop: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keep coordinates inside the image and colours in [0, 255] (pop: P x k x 5)."""
    out = pop.copy()
    out[..., 0] = out[..., 0].clip(0, width - 1)
    out[..., 1] = out[..., 1].clip(0, height - 1)
    out[..., 2:] = out[..., 2:].clip(0, 255)
    return out


def redraw_out_of_bounds(pop: np.ndarray, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Replace each coordinate or colour outside its range by a uniform draw inside it (SciPy's rule)."""
    out = pop.copy()
    for axis, lo, hi in ((0, -0.5, width - 0.5), (1, -0.5, height - 0.5), (2, 0, 255), (3, 0, 255), (4, 0, 255)):
        bad = (out[..., axis] < lo) | (out[..., axis] > hi)
        out[..., axis][bad] = rng.uniform(lo, hi, int(bad.sum()))
    return out


def on_border(pop: np.ndarray, height: int, width: int) -> np.ndarray:
    """Whether each candidate (pop: P x k x 5) sets a pixel of the image's outer ring once rounded."""
    x, y = np.rint(pop[..., 0]).clip(0, width - 1), np.rint(pop[..., 1]).clip(0, height - 1)
    return ((x == 0) | (x == width - 1) | (y == 0) | (y == height - 1)).any(-1)


def init_population(rng: np.random.Generator, popsize: int, pixels: int, height: int, width: int) -> np.ndarray:
    """Coordinates uniform over the image; colours N(128, 127) (clipped to 0..255)."""
    pop = np.empty((popsize, pixels, 5))
    pop[..., 0] = rng.uniform(-0.5, width - 0.5, (popsize, pixels))
    pop[..., 1] = rng.uniform(-0.5, height - 0.5, (popsize, pixels))
    pop[..., 2:] = rng.normal(128, 127, (popsize, pixels, 3))
    return clip_to_bounds(pop, height, width)


def select(parents: np.ndarray, parent_fit: np.ndarray, children: np.ndarray,
           child_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one selection on a fitness to minimise: a child replaces its parent only if strictly better."""
    better = child_fit < parent_fit
    return np.where(better[:, None, None], children, parents), np.where(better, child_fit, parent_fit)
