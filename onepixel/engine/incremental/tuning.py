"""Choosing the cutoff: the node from which the network runs densely, measured per model,
input size, device, thread count and pixels per candidate (the backend remembers the result in
the cache folder, so that each machine measures once)."""
from __future__ import annotations

import time

import torch

def tune(backend, probe: int = 64, repeats: int = 2, margin: float = 0.9, pixels: int = 1) -> tuple[int, dict]:
    """Time ``probe`` random ``pixels``-pixel candidates at 1 (dense) and at each cutoff before a
    spatial, add or concat node (switching before a cheap op never pays), once each; then time
    dense and the three fastest other cutoffs ``repeats`` times more (each keeps its best time, so dense is
    judged on as many runs as its rivals). Returns the fastest cutoff, or 1 (dense) when it is
    not faster than dense by ``margin`` (a gain inside timing noise is none), and all timings (s)."""
    g = torch.Generator().manual_seed(0)
    n = len(backend.images)
    cand = torch.stack([torch.randint(0, backend.width, (probe, pixels), generator=g),
                        torch.randint(0, backend.height, (probe, pixels), generator=g),
                        *torch.randint(0, 256, (3, probe, pixels), generator=g)], -1).to(backend.device)
    idx = torch.randint(0, n, (probe,), generator=g).to(backend.device)

    def seconds(cutoff: int) -> float:
        t0 = time.perf_counter()
        _, clash = backend.logits(idx, cand, cutoff)
        if clash.any():  # candidates whose windows met: recomputed densely, as the Evaluator does
            backend.logits(idx[clash], cand[clash], 1)
        if backend.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    seconds(backend.limit)  # warm-up
    timings = {c: seconds(c) for c in range(1, backend.limit + 1)
               if c in (1, backend.limit) or backend.kind[backend.nodes[c]][0] in ("spatial", "add", "cat")}
    for c in {1, *sorted((c for c in timings if c != 1), key=timings.get)[:3]}:  # dense and its 3 fastest rivals
        timings[c] = min([timings[c]] + [seconds(c) for _ in range(repeats)])
    best = min(timings, key=timings.get)
    return (best if timings[best] < margin * timings[1] else 1), timings
