"""The attack engine: the one-pixel DE attack, the exhaustive and sampling searches, the candidate
evaluator (dense or incremental) under all of them, model probes and engine benchmarks. It knows
nothing of the study."""
from onepixel.engine import one_pixel, search  # noqa: F401  (they register their attacks)
