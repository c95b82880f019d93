import pandas as pd
import pytest

from onepixel.metrics import derived_untargeted, rate, success_matrix, summary, targets_reached, wilson_interval


def test_wilson_interval_known_values():
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


ROWS = pd.DataFrame({
    "image": [0, 0, 1, 1, 2, 2], "label": [0, 0, 1, 1, 0, 0], "target": [1, 2, 0, 2, 1, 2],
    "success": [True, True, False, False, False, True], "adv_prob": [0.9, 0.6, 0.2, 0.3, 0.4, 0.95],
    "evaluations": [10, 20, 30, 40, 50, 60], "distortion": [100.0, 50, 0, 0, 0, 150],
})


def test_paper_metrics():
    r = rate(ROWS.success)
    assert (r["successes"], r["n"]) == (3, 6) and r["rate"] == 0.5 and r["ci_low"] < 0.5 < r["ci_high"]
    d = derived_untargeted(ROWS)
    assert d.success.tolist() == [True, False, True] and d.adv_prob[0] == 0.9
    assert targets_reached(ROWS).tolist() == [2, 0, 1]
    m = success_matrix(ROWS, 3)
    assert m.loc[0, 2] == 1.0 and m.loc[0, 1] == 0.5 and pd.isna(m.loc[0, 0])
    s = summary(ROWS)
    assert s["confidence"] == pytest.approx((0.9 + 0.6 + 0.95) / 3) and s["distortion"] == 100.0
    assert s["evaluations"] == 35.0
