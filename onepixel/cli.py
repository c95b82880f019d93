"""Command line: ``onepixel <command> --help`` (also ``python -m onepixel``)."""
from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import fields
from pathlib import Path

import torch
import yaml

from onepixel import storage
from onepixel.engine.attacks import Targeted, Untargeted, describe, make
from onepixel.engine.bench import few_pixel_rates, write_json
from onepixel.engine.evaluator import resolve_device
from onepixel.engine.settings import PAPER
from onepixel.nets.data import load_cifar10, load_imagenet
from onepixel.nets.models import (MODELS, NETWORKS, PUBLISHED, TRAINED_HERE, WEIGHTS_DIR, WeightsError, input_size,
                                  load_pretrained, model_and_data, network)
from onepixel.nets.train import TrainConfig, accuracy, export, train
from onepixel.publish.book import build
from onepixel.publish.readme import write_readme
from onepixel.publish.report import status_table
from onepixel.stats import metrics
from onepixel.study import benchmarks
from onepixel.study.runner import run
from onepixel.study.rows import status


def cmd_train(args: argparse.Namespace) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
             if f.name != "model" and getattr(args, f.name) is not None}
    if args.name and len(args.model) != 1:
        raise SystemExit("--name names the weights of one network: give one --model")
    for model_name in args.model:
        net = network(model_name)
        recipe = TrainConfig(**{"model": net.variant_of or model_name, **dict(net.recipe), **given})
        name = args.name or model_name
        registered = TrainConfig(**{"model": net.variant_of or model_name, **dict(net.recipe)})
        if recipe != registered and not args.name:  # a network's name means its recipe
            changed = ", ".join(f"{k} {v}" for k, v in given.items() if getattr(registered, k) != v)
            raise SystemExit(f"{model_name}'s weights are trained with its registered recipe, not with {changed}: "
                             "give --name for weights of another recipe (or register a variant in "
                             "onepixel.nets.models.VARIANTS)")
        if args.name in NETWORKS:
            raise SystemExit(f"--name {args.name} is a registered network; choose a new name")
        path = WEIGHTS_DIR / f"{name}.pt"
        if path.exists() and not args.overwrite:
            raise SystemExit(f"{path} exists and stored results name its digest; pass --overwrite to replace it")
        out = Path(args.runs) / name
        model = train(recipe, out, device=args.device)
        print(json.dumps(export(model, recipe, out, name=name), indent=2), flush=True)
        shutil.rmtree(out)  # the exported weights, their JSON and the log beside them are the record


def cmd_accuracy(args: argparse.Namespace) -> None:
    for name in args.model:
        try:
            model = load_pretrained(name)
        except (WeightsError, ImportError) as e:
            print(f"{name:20s} unavailable: {e}")
            continue
        if network(name).dataset == "imagenet":
            data = load_imagenet("val1300", size=input_size(name), limit=args.limit)
        else:
            data = load_cifar10("test")
            if args.limit:
                data = data.subset(range(args.limit))
        acc = accuracy(model, data, batch_size=100)
        print(f"{name:20s} top-1 {100 * acc:6.2f}% on {len(data)} images ({data.provenance}; "
              f"weights {model.weights_digest})", flush=True)


def cmd_bench(args: argparse.Namespace) -> None:
    device, g = resolve_device(args.device), torch.Generator().manual_seed(0)

    fmt = {"float_format": lambda v: f"{v:.3g}", "index": False}
    out = Path(args.json_dir)
    if not args.skip_peers_table:
        df = benchmarks.engine_benchmark(args.profile, args.model, args.images, args.maxiter, not args.no_peers,
                                    args.device, recompute=True).drop(columns=["run"])
        print(df.to_string(**fmt), flush=True)
        write_json(df, out / f"{args.profile}-engine-{args.model}.json", model=args.model, images=args.images,
                   maxiter=args.maxiter, popsize=PAPER.popsize)
    if not args.skip_speedups:
        df = benchmarks.incremental_benchmark(args.profile, args.speedup_models, args.device, recompute=True)
        df = df.drop(columns=["run"])
        print(df.to_string(**fmt), flush=True)
        write_json(df, out / f"{args.profile}-incremental.json", popsize=PAPER.popsize)
    df = few_pixel_rates({name: (load_pretrained(name).to(device), torch.rand(4, 3, 32, 32, generator=g).mul(255)
                                 .round().div(255).to(device), int(k))
                          for name, k in (pair.split(":") for pair in args.pixel_pairs)})
    print(df.to_string(**fmt), flush=True)
    write_json(df, out / f"{args.profile}-few-pixels.json", popsize=PAPER.popsize, threads=torch.get_num_threads())
    print(f"stored under {storage.results_root() / args.profile}/bench-* and {out}/{args.profile}-*.json")


def cmd_attack(args: argparse.Namespace) -> None:
    params = {}
    for pair in args.set or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set takes name=value pairs, got {pair!r}")
        params[key] = yaml.safe_load(value)
    try:
        attack = make(args.attack, **params)
    except ValueError as e:
        raise SystemExit(str(e))
    model, data = model_and_data(args.model)
    head = data.subset(range(min(len(data), 20 * args.images)))
    device = resolve_device(args.device)
    with torch.inference_mode():
        pred = torch.cat([model.to(device)(head.subset(range(s, min(s + 100, len(head)))).float().to(device))
                          .argmax(1).cpu() for s in range(0, len(head), 100)])
    correct = (pred == head.labels).nonzero().flatten()[:args.images].tolist()
    sub = head.subset(correct)
    goal = Targeted() if args.targeted else Untargeted()
    rows = attack.run(model, sub.float(), sub.labels, goal, ids=sub.index, device=args.device)
    if args.csv:
        rows.to_csv(args.csv, index=False)
    rate = metrics.percent(metrics.rate(rows.success))
    print(f"{describe(attack)}\n{type(goal).__name__} on the first {len(sub)} test images {args.model} classifies "
          f"correctly: success % [95% Wilson interval] {rate}, mean evaluations {rows.evaluations.mean():.0f}"
          + (f"; rows written to {args.csv}" if args.csv else ""))


def cmd_book(args: argparse.Namespace) -> None:
    html = build(args.profile, execute_notebooks=not args.no_execute, only=args.only)
    print(f"book built: {html / 'index.html'}")


def cmd_run(args: argparse.Namespace) -> None:
    result = run(args.profile, args.scheduler, args.workers, args.threads, args.device, args.hours, args.nice)
    print(f"stored {result['stored']} shards ({result['cpu_hours']} CPU hours); {result['left']} shards left, "
          f"{result['waiting']} experiments waiting on others", flush=True)


def cmd_status(args: argparse.Namespace) -> None:
    records = status(args.profile)
    print(status_table(records).to_string(index=False, na_rep="-"))
    spent, left = sum(p.cpu_hours_spent for p in records), sum(p.cpu_hours_left or 0 for p in records)
    print(f"\n{spent:.2f} CPU hours spent; about {left:.1f} CPU hours left "
          "(experiments with nothing stored yet not estimated)")


def cmd_readme(args: argparse.Namespace) -> None:
    print(write_readme(args.profile).to_string(index=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="onepixel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train CIFAR-10 networks (resumable) and export their weights: each with its "
                                     "registered recipe (the published one, or a variant's, e.g. nin_ls0)")
    p.add_argument("--model", nargs="+", default=[n for n in TRAINED_HERE if n in PUBLISHED], choices=TRAINED_HERE)
    recipe = TrainConfig()
    for option, kind, text in (("epochs", int, "epochs"), ("batch-size", int, "batch size"),
                               ("lr", float, "peak learning rate of the one-cycle schedule"),
                               ("momentum", float, "Nesterov momentum"), ("weight-decay", float, "weight decay"),
                               ("label-smoothing", float, "label smoothing of the cross-entropy"),
                               ("seed", int, "seed of the initial weights, the batches and the augmentation")):
        p.add_argument(f"--{option}", type=kind, help=f"{text} (published recipe: {getattr(recipe, option.replace('-', '_'))})")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction,
                   help="bfloat16 autocast in the forward pass (published recipe: on)")
    p.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--runs", default=str(storage.REPO / "results" / "training"),
                   help="folder for checkpoints and logs; the default is tracked, so that a training cut off mid-way "
                        "resumes on a fresh checkout once its checkpoint is committed (removed after export)")
    p.add_argument("--name", help="export the weights under this new name (needed when an option changes the "
                                   "network's registered recipe)")
    p.add_argument("--overwrite", action="store_true", help="replace existing weights (orphans their stored results)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("accuracy", help="top-1 accuracy of trained models on their test data")
    p.add_argument("--model", nargs="+", default=[m for m in MODELS if m != "alexnet"], choices=MODELS)
    p.add_argument("--limit", type=int, default=None, help="only the first N test images")
    p.set_defaults(func=cmd_accuracy)

    p = sub.add_parser("bench", help="benchmark against torchattacks, ART, SciPy and the dense forward; "
                                     "incremental-inference speedups")
    p.add_argument("--model", default="allconv", choices=MODELS)
    p.add_argument("--images", type=int, default=32, help="correctly classified test images to attack (the cpu profile's)")
    p.add_argument("--maxiter", type=int, default=10, help="DE generations for every method")
    p.add_argument("--device", default="auto")
    p.add_argument("--no-peers", action="store_true", help="only this engine and the dense limit")
    p.add_argument("--skip-peers-table", action="store_true", help="only the incremental speedups")
    p.add_argument("--speedup-models", nargs="+", choices=MODELS,
                   default=["allconv", "nin", "vgg16", "resnet20", "squeezenet1_0", "efficientnet_lite0"])
    p.add_argument("--pixel-pairs", nargs="+", default=["allconv:3", "nin:5"],
                   help="network:pixels pairs for the few-pixel rates (k-pixel vs 1-pixel, side by side)")
    p.add_argument("--skip-speedups", action="store_true", help="skip the incremental speedups table")
    p.add_argument("--profile", default="cpu", help="results profile to store the benchmark under")
    p.add_argument("--json-dir", default="benchmarks", help="folder for the JSON copy of each table")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("attack", help="run a registered attack (de, exhaustive, random, ...) on a few test images")
    p.add_argument("attack", help="a name from onepixel.engine.attacks.ATTACKS")
    p.add_argument("--model", default="allconv", choices=MODELS)
    p.add_argument("--images", type=int, default=4, help="the first N test images the network classifies correctly")
    p.add_argument("--targeted", action="store_true", help="every class other than the true one, one attack each")
    p.add_argument("--set", nargs="+", metavar="NAME=VALUE", help="attack parameters, e.g. pixels=3 maxiter=20")
    p.add_argument("--device", default="auto")
    p.add_argument("--csv", help="write the rows to this CSV file")
    p.set_defaults(func=cmd_attack)

    p = sub.add_parser("book", help="execute the notebooks with papermill under a profile and build the book")
    p.add_argument("--profile", default="cpu", help="notebooks/profiles/<profile>.yaml (smoke, cpu, paper)")
    p.add_argument("--only", nargs="+", help="execute only these notebooks (file stems)")
    p.add_argument("--no-execute", action="store_true", help="render the executed notebooks already in book/")
    p.set_defaults(func=cmd_book)

    p = sub.add_parser("run", help="compute everything the profile's plan asks for that is not stored (on Dask)")
    p.add_argument("--profile", default="cpu", help="notebooks/profiles/<profile>.yaml")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a LocalCluster here); "
                   "unset MALLOC_TRIM_THRESHOLD_ on its workers, see the README")
    p.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per core or GPU)")
    p.add_argument("--threads", type=int, help="torch threads per task (default: cores / workers)")
    p.add_argument("--device", default="cpu", help="cpu, or cuda (one GPU per task)")
    p.add_argument("--hours", type=float, help="hand out no new work after this many hours")
    p.add_argument("--nice", type=int, default=0, help="lower the workers' priority by this much (e.g. 10)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("status", help="per planned experiment: images planned and stored, CPU hours spent and left")
    p.add_argument("--profile", default="cpu")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("readme", help="put the headline table and gallery of a profile's stored runs in README.md")
    p.add_argument("--profile", default="cpu")
    p.set_defaults(func=cmd_readme)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the study's progress lines
    args.func(args)


if __name__ == "__main__":
    main()
