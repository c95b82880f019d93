"""``onepixel run``: compute what a profile's plan asks for and the store lacks, on Dask.

The client walks the plan (:func:`onepixel.study.plan.jobs`) in priority order, cuts each job's missing
images into shards and hands them to Dask workers as pure tasks ``(job, images, payload) -> rows``
(:func:`onepixel.study.experiments.timed_compute`); it writes each finished shard itself, atomically, so
workers need no shared filesystem and a killed run loses at most the shards in flight. Jobs whose
images depend on other results (the early-stop comparison) start once those are stored, and a network
trained while the run goes on (``onepixel train`` beside it) joins the plan when its weights appear.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from onepixel.nets.models import TRAINED_HERE, weights_path
from onepixel.storage import results_root
from onepixel.study import plan, rows
from onepixel.study.experiments import entries, store, timed_compute
from onepixel.study.jobs import Job


@dataclass
class Piece:
    job: Job
    images: list[int]


def pending(profile: str, busy: set) -> tuple[list[Piece], int]:
    """Shards still to compute, in plan order (not those in flight), and how many jobs wait on others.
    Jobs of one priority rank take turns, a shard each, so that their samples grow together."""
    pieces, waiting = [], 0
    rank = plan.priority(plan.load(profile))
    for _, group in itertools.groupby(plan.jobs(profile), key=rank):
        turns = []
        for job in group:
            missing = rows.missing_images(profile, job, compute=False)
            if missing is None:
                waiting += 1
                continue
            missing = rows.in_sample_order(profile, job, [i for i in missing if (job, i) not in busy])
            size = job.spec.chunk_size(job)
            turns.append([Piece(job, missing[s:s + size]) for s in range(0, len(missing), size)])
        pieces += [p for turn in itertools.zip_longest(*turns) for p in turn if p is not None]
    return pieces, waiting


def weights_on_disk() -> frozenset[tuple[str, float]]:
    """The networks trained here whose weights file exists, with its modification time: the plan
    depends on it (a variant not trained yet plans nothing)."""
    paths = {name: weights_path(name) for name in TRAINED_HERE}
    return frozenset((name, path.stat().st_mtime) for name, path in paths.items() if path.exists())


_NICED = threading.local()  # Linux keeps a nice value per thread, so each executor thread lowers its own


def worker_task(job: Job, images: list[int], payload, device: str, threads: int, nice: int):
    """What a Dask worker runs: lower the calling thread's priority once, then compute one shard."""
    if nice and not getattr(_NICED, "done", False):
        os.nice(nice)
        _NICED.done = True
    return timed_compute(job, images, payload, device, threads)


# Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's adaptive
# mmap threshold: every large tensor is then mapped, zeroed and unmapped again, and a DE shard spends
# a quarter of its CPU time in the kernel (targeted AllConv shards: 415 instead of 580 evaluations
# per CPU-second). The workers of our LocalCluster keep glibc's defaults; the README says how to
# do the same on workers started by hand.
GLIBC_MALLOC = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
# A worker that misses its heartbeats for minutes (paused with SIGSTOP while a benchmark measures
# speed, or starved by other work at nice 10) keeps its shard: Dask's default restarts it after five
# minutes, and the shard in flight (up to an hour of CPU) starts again from nothing.
KEEP_SILENT_WORKERS = {"distributed.scheduler.worker-ttl": None}


def cluster_client(scheduler: str | None, workers: int | None, threads: int | None, device: str):
    """A Dask client: on ``scheduler`` if given, else a LocalCluster of worker processes sized from
    the cores (one GPU per worker with ``device="cuda"``, declared as the resource ``GPU``) whose
    memory allocator keeps its defaults (see ``GLIBC_MALLOC``) and which are never restarted for
    missed heartbeats (``KEEP_SILENT_WORKERS``)."""
    import dask  # heavy: only `onepixel run` needs Dask
    from dask.distributed import Client, LocalCluster  # heavy: only `onepixel run` needs Dask

    if scheduler:
        return Client(scheduler)
    cores = os.cpu_count() or 1
    with dask.config.set({**GLIBC_MALLOC, **KEEP_SILENT_WORKERS}):
        if device.startswith("cuda"):
            workers = workers or max(torch.cuda.device_count(), 1)
            return Client(LocalCluster(n_workers=workers, threads_per_worker=1, resources={"GPU": 1},
                                       dashboard_address=":0"))
        workers = workers or cores
        return Client(LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0",
                                   memory_limit=0))


def run(profile: str, scheduler: str | None = None, workers: int | None = None, threads: int | None = None,
        device: str = "cpu", hours: float | None = None, nice: int = 0, client=None) -> dict:
    """Compute every missing shard of the plan; returns counts of shards stored and jobs left waiting.
    ``hours``: hand out no new shard after that many hours (those in flight finish)."""
    from dask.distributed import as_completed  # heavy: only `onepixel run` needs Dask

    plan.load(profile)  # a bad plan fails before any work starts
    own = client is None
    client = client or cluster_client(scheduler, workers, threads, device)
    slots = sum(w["nthreads"] for w in client.scheduler_info()["workers"].values()) or 1
    share = threads or max((os.cpu_count() or 1) // slots, 1)
    if own and getattr(client, "dashboard_link", None):
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)
    deadline = time.time() + hours * 3600 if hours else None
    resources = {"GPU": 1} if device.startswith("cuda") else None
    stored, in_flight, busy = 0, {}, set()
    weights = weights_on_disk()
    todo, waiting = pending(profile, busy)
    bar = tqdm(total=len(todo), desc=f"onepixel run {profile}", unit="shard")
    cpu_hours = 0.0
    done = as_completed()

    def submit() -> None:
        while todo and len(in_flight) < 2 * slots and (deadline is None or time.time() < deadline):
            piece = todo.pop(0)
            data = rows.payload(profile, piece.job, piece.images)
            future = client.submit(worker_task, piece.job, piece.images, data, device, share, nice,
                                   pure=False, resources=resources)
            in_flight[future] = piece
            busy.update((piece.job, i) for i in piece.images)
            done.add(future)

    try:
        submit()
        while in_flight:
            future = next(done)
            piece = in_flight.pop(future)
            frames, cost = future.result()
            store(entries(piece.job, results_root(), profile, device), frames, cost)
            busy.difference_update((piece.job, i) for i in piece.images)
            stored += 1
            cpu_hours += cost["cpu_seconds"] / 3600
            bar.update()
            bar.set_postfix_str(f"{cpu_hours:.2f} CPU h")
            # plan again while jobs wait on results (this shard may complete them: they then take their
            # rank ahead of lower-ranked shards), or when a network was trained
            on_disk = weights_on_disk()
            if waiting or on_disk != weights:
                weights = on_disk
                todo, waiting = pending(profile, busy)
                bar.total = bar.n + len(in_flight) + len(todo)
            submit()
    finally:
        bar.close()
        if own:
            client.close()
            if client.cluster is not None:  # the LocalCluster made here: its worker processes end too
                client.cluster.close()
    left, waiting = pending(profile, set())
    return {"stored": stored, "left": len(left), "waiting": waiting, "cpu_hours": round(cpu_hours, 3)}
