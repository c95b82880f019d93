import os
import signal
import subprocess
import sys
import time

import pandas as pd

from onepixel.study.store import Experiment


WRITER = """
import sys, time
import pandas as pd
from onepixel.study.store import Experiment
exp = Experiment("p", "demo", {"a": 1}, root=sys.argv[1])
for s in range(0, 40, 4):
    time.sleep(0.3)
    exp.append(pd.DataFrame({"image": range(s, s + 4), "value": [i * i for i in range(s, s + 4)]}),
               {"wall_seconds": 0.3, "cpu_seconds": 0.0})
"""


def square(items):
    return pd.DataFrame({"image": items, "value": [i * i for i in items]})


def test_a_killed_writer_leaves_only_whole_shards_with_their_cost(tmp_path):
    """(Resuming a killed run without loss or duplicates: tests/test_runner.py.)"""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    exp = Experiment("p", "demo", {"a": 1}, root=tmp_path)
    deadline = time.time() + 60
    while len(exp.shards()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    rows = exp.load()
    assert 0 < len(rows) < 40 and len(rows) % 4 == 0, "only whole shards are ever visible"
    assert (rows.value == rows.image ** 2).all() and rows.image.is_unique
    assert exp.cost()["shards"] == len(exp.shards()), "each shard records its cost"


def test_other_parameters_are_never_reused(tmp_path):
    a = Experiment("p", "demo", {"maxiter": 100}, root=tmp_path)
    b = Experiment("p", "demo", {"maxiter": 10}, root=tmp_path)
    a.append(square(range(5)))
    assert a.key != b.key and len(b.load()) == 0
    meta = (a.dir / "meta.json").read_text()
    assert '"maxiter": 100' in meta and '"torch"' in meta


def test_clear_forgets_stored_rows_and_no_rows_give_an_empty_frame(tmp_path):
    exp = Experiment("p", "demo", {}, root=tmp_path)
    assert exp.load().empty
    exp.append(square(range(3)))
    exp.clear()
    assert exp.load().empty and exp.shards() == []


def test_rows_read_once_stay_as_stored_and_new_shards_are_seen(tmp_path):
    """A process reads an experiment's rows once; a caller that changes the frame it got changes
    nothing another caller reads, and a shard appended later is read."""
    exp = Experiment("p", "demo", {}, root=tmp_path)
    exp.append(square(range(3)))
    first = exp.load()
    first.loc[0, "value"] = -1
    first["extra"] = 1
    again = Experiment("p", "demo", {}, root=tmp_path).load()
    assert again.value.tolist() == [0, 1, 4] and "extra" not in again
    exp.append(square(range(3, 5)))
    assert exp.load().image.tolist() == [0, 1, 2, 3, 4]


def test_the_cost_records_count_only_stored_shards(tmp_path, monkeypatch):
    """A cost record whose shard was never written (a writer killed between the two) is not spent."""
    from onepixel.study.store import cpu_hours, shard_costs

    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tmp_path))
    exp = Experiment("p", "demo", {}, root=tmp_path)
    exp.append(square(range(3)), {"wall_seconds": 7200.0, "cpu_seconds": 3600.0})
    (exp.dir / "shard-00001.json").write_text('{"rows": 3, "wall_seconds": 1.0, "cpu_seconds": 36000.0}\n')
    assert len(shard_costs("p")) == 1 and cpu_hours("p") == 1.0
