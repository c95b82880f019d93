"""Background driver for the cpu profile: the same study calls the notebooks make (same
parameters, from each notebook's parameters cell and notebooks/profiles/cpu.yaml), in a chosen
order and thread count, so that result shards land early and several workers can share a CPU.

usage: python tools/run_profile.py THREADS TASK [TASK ...]
TASK = notebook:model:what, what in predictions, untargeted, targeted, px3-untargeted,
px5-targeted (etc.), early-stop, exhaustive, random, single_pixel, cube. Example:
nohup python tools/run_profile.py 1 02_attacks:allconv:predictions 02_attacks:allconv:untargeted > runs/w1.log &
"""
import sys
import time

import torch

from onepixel import study
from onepixel.book import notebook_parameters
from onepixel.models import IMAGENET_MODELS

torch.set_num_threads(int(sys.argv[1]))


def settings(p, pixels=None):
    s = dict(popsize=p["popsize"], maxiter=p["maxiter"], F=p["F"], target_threshold=p["target_threshold"],
             true_threshold=p["true_threshold"], seed=p["seed"], device=p["device"], recompute=False)
    if pixels is not None:
        s["pixels"] = pixels
    return s


for task in sys.argv[2:]:
    nb, model, what = (task.split(":") + [""])[:3]
    p = notebook_parameters("cpu", nb)
    t0 = time.time()
    print(f"{time.strftime('%H:%M:%S')} start {task}", flush=True)
    if what == "predictions":
        study.predictions("cpu", model, p["device"])
    elif what in ("untargeted", "targeted"):
        n = p["n_untargeted"] if what == "untargeted" else p["n_targeted"]
        if what == "untargeted" and model in IMAGENET_MODELS and p.get("n_untargeted_imagenet") is not None:
            n = p["n_untargeted_imagenet"]
        study.attacks("cpu", model, n, targeted=what == "targeted", **settings(p, 1))
    elif what.startswith("px"):  # px3-untargeted / px5-targeted
        k, kind = what[2:].split("-")
        n = p["n_untargeted"] if kind == "untargeted" else p["n_targeted"]
        study.attacks("cpu", model, n, targeted=kind == "targeted", **settings(p, int(k)))
    elif what == "early-stop":
        study.early_stop_runs("cpu", model, p["early_stop_images"], **settings(p, 1))
    elif what == "exhaustive":
        study.exhaustive("cpu", model, p["n_exhaustive"], seed=p["seed"], device=p["device"])
    elif what in ("random", "single_pixel"):
        study.baseline("cpu", model, p["n_baseline"], what, p["random_budget"], p["seed"], p["device"])
    elif what == "cube":
        study.cube_vs_corners("cpu", model, p["n_cube"], p["cube_levels"], p["seed"], p["device"])
    else:
        raise SystemExit(f"unknown task {task}")
    print(f"{time.strftime('%H:%M:%S')} done {task} in {time.time() - t0:.0f} s", flush=True)
