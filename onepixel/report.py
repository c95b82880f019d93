"""Tables for the book: networks, comparison with the paper, environment and stored results."""
from __future__ import annotations

import json
import platform
from pathlib import Path

import pandas as pd
import torch
import yaml

from . import metrics, paper
from .models import IMAGENET_MODELS, input_size, parameter_count
from .results import versions
from .study import accuracy, model_and_data, results_root

ROOT = Path(__file__).resolve().parents[1]


def network_table(profile: str, models: list[str]) -> pd.DataFrame:
    rows = []
    for name in models:
        model, data = model_and_data(name)
        acc = accuracy(profile, name)
        rows.append({"model": name, "dataset": "ImageNet" if name in IMAGENET_MODELS else "CIFAR-10",
                     "input": f"{input_size(name)}x{input_size(name)}", "parameters": parameter_count(model),
                     "test images": acc["n"], "top-1 %": round(100 * acc["accuracy"], 2),
                     "weights sha256": model.weights_digest})
    return pd.DataFrame(rows).set_index("model")


def data_provenance(models: list[str]) -> list[str]:
    seen = {}
    for name in models:
        data = model_and_data(name)[1]
        seen[data.digest] = f"{data.provenance} (digest {data.digest})"
    return list(seen.values())


def architecture(name: str) -> pd.DataFrame:
    """Layer table of the architecture (weights do not matter)."""
    from .models import ARCHITECTURES, layer_table, load_pretrained

    model = ARCHITECTURES[name]() if name in ARCHITECTURES else load_pretrained(name)
    return layer_table(model, input_size(name)).set_index("layer")


def paper_comparison(runs: dict[str, dict]) -> pd.DataFrame:
    """Our rates next to the paper's Table VIII (original test set) and Table IV (Kaggle set):
    one column per model, one row per measure."""
    rows = []
    for name, run in runs.items():
        ref = paper.ORIGINAL_TEST_SET.get(name, {})
        kaggle = paper.KAGGLE_SET.get(paper.PAPER_MODEL.get(name, name), {})
        u, t = run.get("untargeted"), run.get("targeted")
        row = {"model": name, "paper network": paper.PAPER_NAME.get(name, "-")}
        if u is not None and len(u):
            row["ours: non-targeted %"] = round(100 * u.success.mean(), 2)
            row["ours: confidence %"] = round(100 * metrics.confidence(u), 2)
        row["paper (original set): non-targeted %"] = ref.get("untargeted")
        row["paper (original set): confidence %"] = ref.get("confidence")
        if t is not None and len(t):
            row["ours: targeted %"] = round(100 * t.success.mean(), 2)
            row["ours: non-targeted from 9 targets %"] = round(
                100 * metrics.derived_untargeted(t).success.mean(), 2)
        row["paper (original set): targeted %"] = ref.get("targeted")
        row["paper (original set): non-targeted from 9 targets %"] = ref.get("untargeted_derived")
        row["paper (Kaggle set): non-targeted %"] = kaggle.get("untargeted")
        rows.append(row)
    return pd.DataFrame(rows).set_index("model").T


def environment_table() -> pd.DataFrame:
    env = {**versions(), "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
           "threads": torch.get_num_threads(),
           "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else "none"}
    return pd.DataFrame({"value": env})


def stored_results(profile: str) -> pd.DataFrame:
    rows = []
    for meta in sorted((results_root() / profile).glob("*/*/meta.json")):
        m = json.loads(meta.read_text())
        ident = m["identity"]
        shards = sorted(meta.parent.glob("shard-*.csv"))
        rows.append({"experiment": meta.parent.parent.name, "key": meta.parent.name,
                     "model": ident.get("model"), "weights": ident.get("weights"), "data": ident.get("data"),
                     "rows": sum(len(pd.read_csv(s)) for s in shards), "shards": len(shards),
                     "device": m["info"].get("device", "-"), "created": m["created"]})
    return pd.DataFrame(rows)


def profiles_table() -> pd.DataFrame:
    rows = {}
    for path in sorted((ROOT / "notebooks" / "profiles").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text()) or {}
        flat = {f"{section}.{k}": v for section, values in cfg.items() for k, v in (values or {}).items()}
        rows[path.stem] = {k: json.dumps(v) if isinstance(v, list) else v for k, v in flat.items()}
    return pd.DataFrame(rows)


def notebook_timings(profile: str) -> pd.DataFrame:
    path = ROOT / "book" / f"timings-{profile}.json"
    if not path.exists():
        return pd.DataFrame({"note": [f"no previous build of profile {profile} recorded"]})
    return pd.DataFrame({"seconds": json.loads(path.read_text())})


def few_pixel_table(runs: dict[tuple[str, int], dict]) -> pd.DataFrame:
    """Table 1 rows per (model, pixels), with the paper's Table V where it reports the pair."""
    table = metrics.attack_table({f"{m}|{k}": r for (m, k), r in runs.items()}).reset_index()
    table[["model", "pixels"]] = table.pop("model").str.split("|", expand=True)
    for col in ("targeted", "untargeted", "confidence"):
        table[f"paper: {col} %"] = [paper.FEW_PIXELS.get((m, int(k)), {}).get(col)
                                    for m, k in zip(table.model, table.pixels)]
    return table.set_index(["model", "pixels"])


def cost_table(runs: dict[str, dict]) -> pd.DataFrame:
    """Mean evaluations and distortion of non-targeted attacks, with the paper's Table VI."""
    rows = []
    for name, run in runs.items():
        u = run["untargeted"]
        ok = u[u.success]
        ref = paper.COST.get(paper.PAPER_MODEL.get(name, name), {})
        rows.append({"model": name, "attacks": len(u), "successful": len(ok),
                     "mean evaluations (all)": round(u.evaluations.mean()),
                     "mean evaluations (successful)": round(ok.evaluations.mean()) if len(ok) else None,
                     "mean distortion (successful)": round(ok.distortion.mean(), 1) if len(ok) else None,
                     "paper: evaluations": ref.get("evaluations"), "paper: distortion": ref.get("distortion")})
    return pd.DataFrame(rows).set_index("model")


def budget_curves(profile: str, models: list[str], runs: dict[str, dict], random_budget: int, n_baseline: int,
                  n_exhaustive: int, seed: int, device: str, recompute: bool) -> dict[str, tuple[dict, dict]]:
    """Per model: success-rate curves against evaluations (DE, random search, random corners) and
    the exhaustive search as a fixed-cost point."""
    import numpy as np

    from .study import baseline, exhaustive

    out = {}
    for name in models:
        de = runs[name]["untargeted"]
        budgets = np.unique(np.geomspace(1, max(de.evaluations.max(), random_budget), 60).round())
        curves = {f"DE (n={len(de)})": (budgets, metrics.success_by_budget(de.first_success_evaluations, budgets))}
        for method in ("random", "single_pixel"):
            b = baseline(profile, name, n_baseline, method, random_budget, seed, device, recompute=recompute)
            spent = b.evaluations.where(b.success)
            curves[f"{method.replace('_', ' ')} (n={len(b)})"] = (budgets, metrics.success_by_budget(spent, budgets))
        ex = exhaustive(profile, name, n_exhaustive, seed=seed, device=device, recompute=recompute)
        per_image = ex.groupby("image").success.any()
        points = {f"exhaustive, 8 corners (n={len(per_image)})": (int(ex.evaluations.iloc[0]), per_image.mean())}
        out[name] = (curves, points)
    return out


def asymmetry_table(matrices: dict[str, tuple[pd.DataFrame, pd.DataFrame]], classes) -> pd.DataFrame:
    """Asymmetry index with bootstrap 95% interval per setting; ``matrices[name] = (rows, matrix)``."""
    from .geometry import asymmetric_pairs, bootstrap_asymmetry

    out = []
    for name, (rows, matrix) in matrices.items():
        b = bootstrap_asymmetry(rows, len(classes))
        top = asymmetric_pairs(matrix, list(classes), top=1)
        out.append({"setting": name, "asymmetry index": round(b["index"], 3),
                    "95% CI": f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]", "images": b["images"],
                    "most asymmetric pair": f"{top.a[0]} -> {top.b[0]}: {100 * top.a_to_b[0]:.0f}% vs "
                                            f"{100 * top.b_to_a[0]:.0f}%" if len(top) else "-"})
    return pd.DataFrame(out).set_index("setting")


def vulnerability_distance(maps: dict[str, pd.DataFrame], size: int = 32) -> pd.DataFrame:
    """Distance to the image centre of each image's most vulnerable pixel, against all pixels."""
    import numpy as np

    from .geometry import distance_to_centre

    rows = []
    every = distance_to_centre(*np.meshgrid(np.arange(size), np.arange(size)), size, size)
    for name, m in maps.items():
        top = m.loc[m.groupby("image").best_other_prob.idxmax()]
        d = distance_to_centre(top.x, top.y, size, size)
        rows.append({"model": name, "images": len(top), "mean distance of most vulnerable pixel": round(d.mean(), 2),
                     "mean distance of all pixels": round(float(every.mean()), 2),
                     "share within 8 px of centre": round(float((d <= 8).mean()), 3),
                     "share of all pixels within 8 px": round(float((every <= 8).mean()), 3)})
    return pd.DataFrame(rows).set_index("model")
