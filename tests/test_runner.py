"""`onepixel run` on Dask: the same rows as an in-process run; a killed run resumes losing nothing."""
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from onepixel.study import plan, rows, runner
from onepixel.study.experiments import entries

from .conftest import SHARED, shared_or_skip


TINY = """chapters: [06_gallery, 07_geometry]
common: {popsize: 20, maxiter: 6, seed: 0, device: cpu, compute: true}
06_gallery: {models: [resnet20], targeted_models: [resnet20], n_untargeted: %d, n_targeted: 1}
07_geometry: {models: [resnet20], targeted_models: [resnet20], n_untargeted: 0, n_targeted: 1, n_exhaustive: 1,
              n_cube: 1, cube_levels: 2}
"""


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    shared_or_skip("models")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "tiny.yaml").write_text(TINY % 24)
    monkeypatch.setenv("ONEPIXEL_DATA", str(SHARED))
    monkeypatch.setenv("ONEPIXEL_PROFILES", str(tmp_path / "profiles"))
    monkeypatch.setattr(plan, "PROFILES", tmp_path / "profiles")
    return tmp_path


def all_rows(profile: str, root: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for job in plan.jobs(profile):
        for exp in entries(job, root, profile):
            rows = exp.load()
            sort = [c for c in ("image", "target", "y", "x") if c in rows]
            out[str(exp.dir.relative_to(root))] = rows.drop(columns=["seconds"], errors="ignore").sort_values(
                sort).reset_index(drop=True)
    return out


def in_process(profile: str, root: Path, monkeypatch) -> dict[str, pd.DataFrame]:
    """The plan run job by job in this process, on one thread like each Dask task (float sums
    depend on the thread count)."""
    import torch

    monkeypatch.setenv("ONEPIXEL_RESULTS", str(root))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for job in plan.jobs(profile):
            rows.job_rows(profile, job, "cpu", quiet=True)
    finally:
        torch.set_num_threads(threads)
    return all_rows(profile, root)


@pytest.mark.slow  # a Dask LocalCluster
def test_dask_run_stores_what_an_in_process_run_stores(tiny, monkeypatch):
    from dask.distributed import Client, LocalCluster

    reference = in_process("tiny", tiny / "reference", monkeypatch)
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tiny / "dask"))
    with (LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None, memory_limit=0) as cluster,
          Client(cluster) as client):
        result = runner.run("tiny", client=client, threads=1)
    assert result["left"] == 0 and result["waiting"] == 0 and result["stored"] > 0
    ours = all_rows("tiny", tiny / "dask")
    assert set(ours) == set(reference) and len(ours) >= 5  # predictions, DE x2, exhaustive + maps, cube
    for name, expected in reference.items():
        pd.testing.assert_frame_equal(ours[name], expected, check_dtype=False, obj=name)
    assert all(p.complete for p in rows.status("tiny"))
    assert runner.run("tiny", client=None, workers=1)["stored"] == 0, "nothing left to do"
    assert not multiprocessing.active_children(), "the LocalCluster run made has shut its workers down"


@pytest.mark.slow  # a Dask LocalCluster, killed and restarted
def test_a_killed_run_resumes_without_loss_or_duplicates(tiny, monkeypatch):
    reference = in_process("tiny", tiny / "reference", monkeypatch)
    results = tiny / "killed"
    env = {**os.environ, "ONEPIXEL_RESULTS": str(results)}
    cmd = [sys.executable, "-m", "onepixel", "run", "--profile", "tiny", "--workers", "1", "--threads", "1"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    de = results / "tiny" / "de-1px-untargeted"
    deadline = time.time() + 300
    while not list(de.glob("*/shard-*.csv")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the client, its scheduler and its workers
    proc.wait()
    shards_at_kill = len(list(de.glob("*/shard-*.csv")))
    assert 1 <= shards_at_kill < 3, "killed in the middle of the 3 DE shards"
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(results))
    resumed = all_rows("tiny", results)
    for name, expected in reference.items():
        pd.testing.assert_frame_equal(resumed[name], expected, check_dtype=False, obj=name)
        assert not resumed[name].duplicated().any(), name


TRAINED_MEANWHILE = """chapters: [01_networks, 06_gallery]
common: {popsize: 20, maxiter: 2, seed: 0, device: cpu, compute: true}
01_networks: {models: [resnet20], architectures: [allconv], variants: [allconv_ls0], n_exhaustive: 1,
              variant_n_untargeted: {allconv: 1}}
06_gallery: {models: [resnet20], targeted_models: [resnet20], n_untargeted: 48, n_targeted: 0}
priority: ["exhaustive-2 *", "de-1px-untargeted allconv*", "de-1px-untargeted resnet20 *"]
"""


@pytest.mark.slow  # predictions of two networks on the 10,000 test images
def test_a_network_trained_while_the_run_goes_on_joins_its_plan(tiny, tmp_path, monkeypatch):
    """`onepixel train` beside `onepixel run`: once the variant's weights appear, the running plan grows
    by the variant's experiments, with no restart (which would lose the shards in flight); those that
    wait on its predictions take their rank ahead of lower-ranked shards once the predictions are stored."""
    from dask.distributed import Client

    shared_or_skip("cifar10")
    from onepixel.nets import models

    (tiny / "profiles" / "trained.yaml").write_text(TRAINED_MEANWHILE)
    published = models.weights_path("allconv").read_bytes()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "allconv.pt").write_bytes(published)
    monkeypatch.setattr(models, "WEIGHTS_DIR", tmp_path / "weights")
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tmp_path / "results"))
    rows.predictions("trained", "resnet20", "cpu")  # resnet20's DE shards are pending from the start
    store = runner.store

    def store_then_train(*args):  # the training ends while the first shard is stored
        store(*args)
        trained = tmp_path / "weights" / "allconv_ls0.pt"
        if not trained.exists():
            trained.write_bytes(published)

    order, entries_of = [], runner.entries

    def recorded(job, *args):
        order.append((job.kind, job.model))
        return entries_of(job, *args)

    monkeypatch.setattr(runner, "store", store_then_train)
    monkeypatch.setattr(runner, "entries", recorded)
    with Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        result = runner.run("trained", client=client, threads=1)
    assert result["left"] == 0 and result["waiting"] == 0
    stored = {(p.job.kind, p.job.model) for p in rows.status("trained") if p.complete}
    assert {("predictions", "allconv_ls0"), ("exhaustive", "allconv_ls0"), ("de", "allconv_ls0")} <= stored
    assert all(p.complete for p in rows.status("trained")), "every job of the grown plan computed"
    last_low_rank = max(i for i, job in enumerate(order) if job == ("de", "resnet20"))
    assert order.index(("exhaustive", "allconv_ls0")) < last_low_rank, order


def test_every_stored_cpu_experiment_is_in_the_cpu_plan_under_the_same_key():
    shared_or_skip("models")
    shared_or_skip("imagenet-val-1300")
    root = Path(__file__).resolve().parents[1] / "results"
    planned = {exp.dir for job in plan.jobs("cpu") for exp in entries(job, root, "cpu")}
    stored = {p.parent for p in (root / "cpu").glob("*/*/meta.json") if not p.parts[-3].startswith("bench")}
    assert stored and stored <= planned


def test_pending_shards_follow_the_sample_order(tiny, monkeypatch):
    """A partly computed sample of n is a complete smaller sample: missing images are handed out
    in the sample's random order, not sorted by index."""
    monkeypatch.setenv("ONEPIXEL_RESULTS", str(tiny / "results"))
    rows.predictions("tiny", "resnet20", "cpu")  # the sample is drawn from the stored predictions
    pieces, _ = runner.pending("tiny", set())
    job = next(p.job for p in pieces if p.job.kind == "de" and p.job.n == 24)
    handed = [i for p in pieces if p.job == job for i in p.images]
    assert handed == rows.sample_order("tiny", "resnet20")[:24]
    assert handed != sorted(handed)
    assert sorted(handed[:8]) == rows.correct_sample("tiny", "resnet20", 8), "the first shards are the 8-sample"


def test_local_cluster_workers_keep_the_default_allocator():
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which slows DE by a third on CPU;
    the LocalCluster of `onepixel run` leaves it unset (checked in a fresh process: a LocalCluster
    made earlier in this one has set it in os.environ)."""
    code = ("import os; from onepixel.study import runner; c = runner.cluster_client(None, 1, 1, 'cpu'); "
            "print(sorted(map(str, c.run(os.environ.get, 'MALLOC_TRIM_THRESHOLD_').values()))); "
            "c.close(); c.cluster.close()")
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                         timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "['None']", out.stdout


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a per-thread nice value is Linux behaviour")
def test_every_worker_thread_lowers_its_own_priority(monkeypatch):
    monkeypatch.setattr(runner, "timed_compute", lambda *args: os.getpriority(os.PRIO_PROCESS, 0))
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen = []

    def task():  # each call in a fresh thread, as on a Dask worker with several threads
        seen.append(runner.worker_task(None, [], None, "cpu", 1, 1))
        seen.append(runner.worker_task(None, [], None, "cpu", 1, 1))

    for _ in range(2):
        thread = threading.Thread(target=task)
        thread.start()
        thread.join()
    assert seen == [min(base + 1, 19)] * 4
    assert os.getpriority(os.PRIO_PROCESS, 0) == base  # the calling thread is left alone
