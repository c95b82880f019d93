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
