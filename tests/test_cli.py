"""The command line: `onepixel attack` (any registered attack by name) and `onepixel status`."""
import pandas as pd
import pytest

from onepixel.cli import main
from onepixel.engine.attacks import COLUMNS

from .conftest import SHARED, shared_or_skip


def test_attack_by_name_prints_a_rate_and_writes_the_rows(tmp_path, monkeypatch, capsys):
    shared_or_skip("models")
    monkeypatch.setenv("ONEPIXEL_DATA", str(SHARED))
    out = tmp_path / "rows.csv"
    main(["attack", "random", "--model", "resnet20", "--images", "2", "--set", "budget=30", "seed=1",
          "--device", "cpu", "--csv", str(out)])
    printed = capsys.readouterr().out
    assert "'attack': 'random', 'budget': 30, 'seed': 1" in printed and "(n=2)" in printed
    rows = pd.read_csv(out)
    assert list(rows.columns[:len(COLUMNS)]) == list(COLUMNS) and len(rows) == 2
    assert (rows.evaluations <= 30).all()


@pytest.mark.parametrize("argv, message", [
    (["attack", "pixle"], "unknown attack 'pixle'"),
    (["attack", "de", "--set", "foo=1"], "no parameter.*foo"),
    (["attack", "de", "--set", "pixels"], "name=value"),
])
def test_attack_names_bad_input(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_status_lists_the_plan_with_hours(tmp_path, monkeypatch, capsys):
    shared_or_skip("models")
    monkeypatch.setenv("ONEPIXEL_DATA", str(SHARED))
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tmp_path))
    main(["status", "--profile", "smoke"])
    printed = capsys.readouterr().out
    assert "de-1px-untargeted resnet20 [maxiter 2, popsize 20] (2)" in printed
    assert "0.00 CPU hours spent" in printed
