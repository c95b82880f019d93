import os
import signal
import subprocess
import sys
import time

import pandas as pd

from onepixel.results import Experiment

WRITER = """
import sys, time
import pandas as pd
from onepixel.results import Experiment
exp = Experiment("p", "demo", {"a": 1}, root=sys.argv[1])
def compute(items):
    time.sleep(0.3)
    return pd.DataFrame({"image": items, "value": [i * i for i in items]})
exp.run(range(40), compute, chunk=4, progress=False)
"""


def square(items):
    return pd.DataFrame({"image": items, "value": [i * i for i in items]})


def test_killed_writer_resumes_without_loss_or_duplicates(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)])
    exp = Experiment("p", "demo", {"a": 1}, root=tmp_path)
    deadline = time.time() + 60
    while len(exp.shards()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = len(exp.load())
    assert 0 < partial < 40 and partial % 4 == 0, "only whole shards are ever visible"
    calls = []

    def counted(items):
        calls.append(list(items))
        return square(items)
    rows = exp.run(range(40), counted, chunk=4, progress=False)
    assert sorted(rows.image) == list(range(40)) and (rows.value == rows.image ** 2).all()
    assert sum(len(c) for c in calls) == 40 - partial, "stored items are not recomputed"
    cost = exp.cost()
    assert cost["shards"] == 10 and cost["wall_seconds"] >= 0.3 * partial / 4, "each shard records its time"


def test_other_parameters_are_never_reused(tmp_path):
    a = Experiment("p", "demo", {"maxiter": 100}, root=tmp_path)
    b = Experiment("p", "demo", {"maxiter": 10}, root=tmp_path)
    a.run(range(5), square, chunk=5, progress=False)
    assert a.key != b.key and len(b.load()) == 0
    calls = []
    b.run(range(5), lambda items: calls.append(items) or square(items), chunk=5, progress=False)
    assert calls == [[0, 1, 2, 3, 4]]
    meta = (a.dir / "meta.json").read_text()
    assert '"maxiter": 100' in meta and '"torch"' in meta


def test_recompute_ignores_stored_rows(tmp_path):
    exp = Experiment("p", "demo", {}, root=tmp_path)
    exp.run(range(3), square, chunk=3, progress=False)
    calls = []
    exp.run(range(3), lambda items: calls.append(items) or square(items), chunk=3, recompute=True, progress=False)
    assert calls == [[0, 1, 2]] and len(exp.shards()) == 1


def test_no_items_gives_an_empty_frame(tmp_path):
    exp = Experiment("p", "demo", {"a": 1}, root=tmp_path)
    assert exp.run([], square, chunk=4, progress=False).empty
    exp.run([1, 2], square, chunk=4, progress=False)
    assert exp.run([], square, chunk=4, progress=False).empty
