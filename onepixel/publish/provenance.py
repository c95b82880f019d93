"""Where the book's numbers come from: the networks and data, the environment, the stored results
with their costs, the profiles and the notebooks' run times."""
from __future__ import annotations

import json
import platform
from dataclasses import asdict

import pandas as pd
import torch
import yaml

from onepixel.nets.models import (ARCHITECTURES, WEIGHTS_DIR, input_size, layer_table, load_pretrained, model_and_data,
                                  network, parameter_count)
from onepixel.nets.train import TrainConfig
from onepixel.storage import REPO, results_root
from onepixel.study.chapters import DE
from onepixel.study.plan import PROFILES, settings
from onepixel.study.rows import accuracy
from onepixel.study.store import shard_costs, stored_shards, versions


def network_table(profile: str, models: list[str]) -> pd.DataFrame:
    rows = []
    for name in models:
        model, data = model_and_data(name)
        acc = accuracy(profile, name)
        net = network(name)
        rows.append({"model": name, "dataset": "ImageNet" if net.dataset == "imagenet" else "CIFAR-10",
                     "input": f"{net.input_size}x{net.input_size}", "parameters": f"{parameter_count(model):,}",
                     "top-1 %": round(100 * acc["accuracy"], 2),
                     "weights": net.source, "sha256": model.weights_digest[:8]})
    return pd.DataFrame(rows).set_index("model")

RECIPE = {"epochs": "epochs", "batch_size": "batch", "lr": "peak lr", "momentum": "momentum",
          "weight_decay": "weight decay", "label_smoothing": "label smoothing", "seed": "seed", "bf16": "bf16"}


def training_table(names: list[str]) -> pd.DataFrame:
    """How each network trained here was trained, from its weights' JSON record: the recipe (one-cycle
    SGD with Nesterov momentum, random crop and flip, batch norm), where it ran and how long, and the
    stored weights' test accuracy. A registered variant whose weights are not trained yet shows its
    planned recipe and "not trained yet"."""

    rows = []
    for name in names:
        net = network(name)
        if not net.trained_here:
            continue
        record = WEIGHTS_DIR / f"{name}.json"
        meta = json.loads(record.read_text()) if record.exists() else None
        config = meta["config"] if meta else asdict(TrainConfig(**{"model": net.variant_of or name, **dict(net.recipe)}))
        rows.append({"network": name, "architecture": config["model"],
                     **{label: config[key] for key, label in RECIPE.items()},
                     "trained on": (f"cpu, {meta['threads']} thread{'s' * (meta['threads'] != 1)}" if meta.get("device", "cpu") == "cpu"
                                    else meta["device"]) if meta else "-",
                     "train hours": round(meta["train_seconds"] / 3600, 2) if meta else "not trained yet",
                     "test accuracy %": round(100 * meta["test_accuracy_stored_fp16"], 2) if meta else "-"})
    return pd.DataFrame(rows).set_index("network")


def shared_columns(table: pd.DataFrame) -> tuple[str, pd.DataFrame]:
    """The columns of ``table`` that hold one value in every row, as "name value" text, and the table
    without them (a recipe table keeps only what differs between networks)."""
    same = [c for c in table if table[c].astype(str).nunique() == 1]
    return ", ".join(f"{c} {table[c].iloc[0]}" for c in same), table.drop(columns=same)


def architecture_references(models: list[str]) -> str:
    """Each architecture's paper as a MyST citation, models sharing one grouped:
    ``"allconv {cite:p}`springenberg2015allconv`; resnet20, resnet32 {cite:p}`he2016resnet`"``."""
    by_paper: dict[str, list[str]] = {}
    for name in models:
        by_paper.setdefault(network(name).cite, []).append(name)
    return "; ".join(f"{', '.join(names)} {{cite:p}}`{key}`" for key, names in by_paper.items())

def data_provenance(models: list[str]) -> list[str]:
    seen = {}
    for name in models:
        data = model_and_data(name)[1]
        seen[data.digest] = f"{data.provenance} (digest {data.digest})"
    return list(seen.values())

def architecture(name: str) -> pd.DataFrame:
    """Layer table of the architecture (weights do not matter)."""
    model = ARCHITECTURES[name]() if name in ARCHITECTURES else load_pretrained(name)
    return layer_table(model, input_size(name)).set_index("layer")

def environment_table() -> pd.DataFrame:
    env = {**versions(), "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "threads": torch.get_num_threads(),
           "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else "none"}
    return pd.DataFrame({"value": env})

def stored_results(profile: str) -> pd.DataFrame:
    """One row per stored experiment: its network, rows, device, date, and the wall and CPU hours its
    shards recorded (:func:`onepixel.study.store.shard_costs`, the CPU hours the edition stamp sums)."""
    hours = shard_costs(profile).groupby(["experiment", "key"])[["wall_seconds", "cpu_seconds"]].sum() / 3600
    rows = []
    for meta in sorted((results_root() / profile).glob("*/*/meta.json")):
        m = json.loads(meta.read_text())
        ident, where = m["identity"], (meta.parent.parent.name, meta.parent.name)
        spent = hours.loc[where] if where in hours.index else {"wall_seconds": 0.0, "cpu_seconds": 0.0}
        rows.append({"experiment": where[0], "key": where[1],
                     "model": ident.get("model"), "weights": (ident.get("weights") or "-")[:8],
                     "rows": sum(len(pd.read_csv(s)) for s in stored_shards(meta.parent)),
                     "device": m["info"].get("device", "-"), "created": m["created"][:10],
                     "wall hours": round(float(spent["wall_seconds"]), 3), "CPU hours": round(float(spent["cpu_seconds"]), 3)})
    return pd.DataFrame(rows)


def compute_spent(profile: str) -> pd.DataFrame:
    """Wall and CPU hours recorded in the stored shards of ``profile``, per experiment and in total."""
    stored = stored_results(profile)
    if stored.empty:
        return pd.DataFrame({"wall hours": [], "CPU hours": []})
    table = stored.groupby("experiment")[["rows", "wall hours", "CPU hours"]].sum()
    table.loc["total"] = table.sum()
    return table.round(3)


def profiles_table() -> pd.DataFrame:
    """Every profile's settings side by side, one row per setting (``section.key``), each value as
    code (so that Markdown keeps the priority patterns' ``*`` and the quotes); first the DE settings
    every attack of the profile runs with, whether the profile sets them or takes the paper's."""
    rows = {}
    for path in sorted(PROFILES.glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text()) or {}
        chapter = next((c for c in ("02_attacks", "00_summary") if c in (cfg.get("chapters") or [c])), None)
        effective = settings(path.stem, chapter) if chapter else {}
        flat = {f"DE: {k}": effective[k] for k in DE if k in effective}
        flat.update({f"{section}.{k}": v for section, values in cfg.items() if isinstance(values, dict)
                     for k, v in values.items()})
        flat.update({section: values for section, values in cfg.items() if isinstance(values, list)})
        rows[path.stem] = {k: f"`{json.dumps(v) if isinstance(v, (list, dict)) else v}`" for k, v in flat.items()}
    return pd.DataFrame(rows)

def notebook_timings(profile: str) -> pd.DataFrame:
    path = REPO / "book" / f"timings-{profile}.json"
    if not path.exists():
        return pd.DataFrame({"note": [f"no previous build of profile {profile} recorded"]})
    return pd.DataFrame({"seconds": json.loads(path.read_text())})
