"""Train the paper's CIFAR-10 networks: random crop + flip, SGD with Nesterov momentum,
one-cycle schedule, label smoothing, bfloat16 autocast, channels_last. :class:`TrainConfig`'s
defaults are the recipe of the published weights (``onepixel/weights/*.json``); every setting is a
field, so a variant (another seed, no label smoothing) is the same recipe with one value changed.
Resumable: a checkpoint is written atomically after every epoch, and a resumed run ends with the
same weights as an uninterrupted one.
"""
from __future__ import annotations

import csv
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from onepixel.engine.evaluator import resolve_device
from onepixel.nets.data import ImageDataset, load_cifar10
from onepixel.nets.models import ARCHITECTURES, WEIGHTS_DIR, file_digest, load_state
from onepixel.storage import atomic_write


@dataclass
class TrainConfig:
    """The training recipe; the defaults are the published weights' (their JSON's ``config``)."""
    model: str = "allconv"  # the architecture
    epochs: int = 12
    batch_size: int = 256
    lr: float = 0.1  # the one-cycle schedule's peak
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0
    bf16: bool = True  # bfloat16 autocast in the forward pass


def save_atomic(obj, path: Path) -> None:
    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def write_log(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def augment(images: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (reflect padding ``pad``) and horizontal flip of a uint8 batch."""
    n, _, h, w = images.shape
    padded = F.pad(images.float(), (pad,) * 4, mode="reflect")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, 3, h, w + 2 * pad)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, 3, h, w)
    out = out.gather(3, cols)
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(3)
    return out.div_(255)


@torch.inference_mode()
def accuracy(model: nn.Module, data: ImageDataset, batch_size: int = 500) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``data``."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(data), batch_size):
        x = data.images[i:i + batch_size].to(device).float().div_(255).contiguous(memory_format=torch.channels_last)
        correct += (model(x).argmax(1).cpu() == data.labels[i:i + batch_size]).sum().item()
    return correct / len(data)


def train(cfg: TrainConfig, out_dir: Path, train_data: ImageDataset | None = None,
          test_data: ImageDataset | None = None, stop_after: int | None = None,
          device: str | torch.device = "cpu") -> nn.Module:
    """Train ``cfg.model`` on ``device`` ("auto": CUDA when present); ``out_dir`` holds checkpoint.pt
    and log.csv. Resumes when a checkpoint exists. The batches and their augmentation are drawn on
    the CPU, so the data order does not depend on the device.

    ``stop_after`` ends the run after that many epochs of this call (used to test resuming).
    """
    device = resolve_device(device)
    train_data = train_data or load_cifar10("train")
    test_data = test_data or load_cifar10("test")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = out_dir / "checkpoint.pt", out_dir / "log.csv"

    torch.manual_seed(cfg.seed)
    model = ARCHITECTURES[cfg.model]().to(device, memory_format=torch.channels_last)
    steps_per_epoch = len(train_data) // cfg.batch_size
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          weight_decay=cfg.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.25, anneal_strategy="linear")
    start = 0
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        if ckpt["config"] != asdict(cfg):
            raise ValueError(f"{ckpt_path} was written with another configuration: {ckpt['config']}")
        load_state(model, ckpt["model"], ckpt_path)
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        start = ckpt["epoch"]
    rows = []
    if log_path.exists():
        with open(log_path) as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= start]

    for epoch in range(start + 1, cfg.epochs + 1):
        if stop_after is not None and epoch > start + stop_after:
            break
        torch.manual_seed(cfg.seed * 100_003 + epoch)  # dropout stream, identical on resume
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        order = torch.randperm(len(train_data), generator=gen)
        model.train()
        t0, loss_sum, correct, seen = time.time(), 0.0, 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"{cfg.model} epoch {epoch}/{cfg.epochs}", leave=False, disable=None)
        for step in bar:
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            x = augment(train_data.images[idx], gen).to(device).contiguous(memory_format=torch.channels_last)
            y = train_data.labels[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.bf16):
                logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
        train_seconds = time.time() - t0
        test_acc = accuracy(model, test_data)
        rows.append({"epoch": epoch, "loss": f"{loss_sum / seen:.4f}", "train_acc": f"{correct / seen:.4f}",
                     "test_acc": f"{test_acc:.4f}", "seconds": f"{train_seconds:.1f}",
                     "lr": f"{sched.get_last_lr()[0]:.5f}"})
        save_atomic({"config": asdict(cfg), "epoch": epoch, "device": device.type, "model": model.state_dict(),
                     "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, ckpt_path)
        atomic_write(log_path, lambda tmp: write_log(tmp, rows))
        print(f"{cfg.model} epoch {epoch}: loss {loss_sum / seen:.3f} train {correct / seen:.4f} "
              f"test {test_acc:.4f} ({train_seconds:.0f} s)", flush=True)
    return model.eval()


def export(model: nn.Module, cfg: TrainConfig, out_dir: Path, test_data: ImageDataset | None = None,
           weights_dir: Path = WEIGHTS_DIR, name: str | None = None) -> dict:
    """Store float16 weights and the training log in ``weights_dir`` as ``<name>.pt`` (default: the
    architecture's name; a variant gets its own); measure test accuracy on what was stored."""
    test_data = test_data or load_cifar10("test")
    name = name or cfg.model
    path = Path(weights_dir) / f"{name}.pt"
    state = {k: (v.cpu().half() if v.is_floating_point() else v.cpu()) for k, v in model.state_dict().items()}
    save_atomic({"state_dict": state, "config": asdict(cfg)}, path)
    stored = ARCHITECTURES[cfg.model]()
    load_state(stored, torch.load(path, map_location="cpu", weights_only=True)["state_dict"], path)
    stored = stored.eval().to(memory_format=torch.channels_last)
    log = list(csv.DictReader(open(Path(out_dir) / "log.csv")))
    meta = {"model": cfg.model, **({"network": name} if name != cfg.model else {}), "config": asdict(cfg), "test_accuracy_stored_fp16": accuracy(stored, test_data),
            "test_accuracy_fp32": float(log[-1]["test_acc"]), "epochs": len(log),
            "train_seconds": round(sum(float(r["seconds"]) for r in log), 1),
            "weights_sha256": file_digest(path), "data_digest": test_data.digest,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name() if next(model.parameters()).is_cuda else "cpu"}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.copy(Path(out_dir) / "log.csv", path.with_suffix(".log.csv"))
    return meta
