"""Background driver for the cpu profile: the same study calls the notebooks make (same
parameters, from each notebook's parameters cell and notebooks/profiles/cpu.yaml), in a chosen
order and thread count, so that result shards land early and several workers can share a CPU.

usage: python tools/run_profile.py THREADS TASK [TASK ...]
TASK = notebook:model:what, what in predictions, untargeted, targeted, px3-untargeted,
px5-targeted (etc.), depth, early-stop, exhaustive, random, single_pixel, cube. Example:
nohup python tools/run_profile.py 1 02_attacks:allconv:predictions 02_attacks:allconv:untargeted > runs/w1.log &
"""
import sys
import time

import torch

from onepixel import study
from onepixel.book import notebook_parameters

torch.set_num_threads(int(sys.argv[1]))

for task in sys.argv[2:]:
    nb, model, what = (task.split(":") + [""])[:3]
    p = notebook_parameters("cpu", nb)
    settings = study.de_settings(p)
    t0 = time.time()
    print(f"{time.strftime('%H:%M:%S')} start {task}", flush=True)
    if what == "predictions":
        study.predictions("cpu", model, p["device"])
    elif what in ("untargeted", "targeted") or what.startswith("px"):  # px3-untargeted / px5-targeted
        pixels, kind = (int(what[2:].split("-")[0]), what.split("-")[1]) if what.startswith("px") else (1, what)
        if kind == "untargeted":
            study.one_pixel_runs("cpu", [model], p["n_untargeted"], 0, pixels=pixels,
                                 n_untargeted_imagenet=p.get("n_untargeted_imagenet"), **settings)
        else:
            study.one_pixel_runs("cpu", [model], 0, p["n_targeted"], pixels=pixels, **settings)
    elif what == "depth":  # the ResNet depth series of chapter 02
        study.one_pixel_runs("cpu", [model], p["n_depth"], 0, pixels=1, **settings)
    elif what == "early-stop":
        study.early_stop_runs("cpu", model, p["early_stop_images"], pixels=1, **settings)
    elif what == "exhaustive":
        study.exhaustive("cpu", model, p["n_exhaustive"], seed=p["seed"], device=p["device"])
    elif what in ("random", "single_pixel"):
        study.baseline("cpu", model, p["n_baseline"], what, p["random_budget"], p["seed"], p["device"])
    elif what == "cube":
        study.cube_vs_corners("cpu", model, p["n_cube"], p["cube_levels"], p["seed"], p["device"])
    else:
        raise SystemExit(f"unknown task {task}")
    print(f"{time.strftime('%H:%M:%S')} done {task} in {time.time() - t0:.0f} s", flush=True)
