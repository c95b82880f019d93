import csv

import torch

from onepixel.nets.data import CIFAR10_CLASSES, ImageDataset
from onepixel.nets.train import TrainConfig, augment, export, train


def toy_dataset(n: int, seed: int) -> ImageDataset:
    """Two easy classes: reddish vs bluish images."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    images = (torch.rand(n, 3, 32, 32, generator=g) * 100).to(torch.uint8)
    images[labels == 0, 0] += 150
    images[labels == 1, 2] += 150
    return ImageDataset(images, labels, CIFAR10_CLASSES, torch.arange(n), "toy", "toy")


CFG = TrainConfig(model="allconv", epochs=2, batch_size=32, lr=0.05, seed=1, bf16=False)  # bf16: slow without AVX-512


def test_training_loss_falls(tmp_path):
    train(CFG, tmp_path, toy_dataset(128, 0), toy_dataset(64, 1))
    rows = list(csv.DictReader(open(tmp_path / "log.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert all(float(r["seconds"]) > 0 for r in rows)


def test_resume_gives_identical_weights(tmp_path):
    data, test = toy_dataset(128, 0), toy_dataset(64, 1)
    straight = train(CFG, tmp_path / "a", data, test).state_dict()
    train(CFG, tmp_path / "b", data, test, stop_after=1)  # killed after epoch 1
    resumed = train(CFG, tmp_path / "b", data, test).state_dict()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
    assert len(list(csv.DictReader(open(tmp_path / "b" / "log.csv")))) == 2


def test_export_measures_what_is_stored(tmp_path):
    data, test = toy_dataset(64, 0), toy_dataset(64, 1)
    cfg = TrainConfig(model="allconv", epochs=1, batch_size=32, seed=1, bf16=False)
    model = train(cfg, tmp_path, data, test)
    meta = export(model, cfg, tmp_path, test, weights_dir=tmp_path / "w")
    assert (tmp_path / "w" / "allconv.pt").exists() and (tmp_path / "w" / "allconv.log.csv").exists()
    assert 0 <= meta["test_accuracy_stored_fp16"] <= 1 and meta["epochs"] == 1


def test_augment_keeps_content():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    out = augment(x, g, pad=0)  # without padding only flips remain
    for a, b in zip(out, x.float() / 255):
        assert torch.equal(a, b) or torch.equal(a, b.flip(2))


def test_defaults_are_the_published_recipe():
    """`onepixel train` with its defaults trains what the published weights' JSON records."""
    import json
    from dataclasses import asdict

    from onepixel.nets.models import NETWORKS, WEIGHTS_DIR

    for name in ("allconv", "nin", "vgg16"):
        published = json.loads((WEIGHTS_DIR / f"{name}.json").read_text())["config"]
        assert asdict(TrainConfig(model=name)) == published, name
    for name, net in NETWORKS.items():
        if net.variant_of:
            changed = {k: v for k, v in asdict(TrainConfig(**{"model": net.variant_of, **dict(net.recipe)})).items()
                       if v != asdict(TrainConfig(model=net.variant_of))[k]}
            assert changed == dict(net.recipe) and changed, name


def test_cli_trains_a_variant_with_its_recipe_and_guards_the_published_weights(tmp_path, monkeypatch):
    """`onepixel train --model nin_ls0` uses the published recipe with label smoothing 0 and exports
    nin_ls0.pt; another recipe needs a new name; existing weights are not replaced by accident."""
    import pytest

    from onepixel import cli

    seen = {}
    def fake_train(cfg, out, device):
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoint.pt").write_bytes(b"state")
        return seen.setdefault("cfg", cfg)

    monkeypatch.setattr(cli, "train", fake_train)
    monkeypatch.setattr(cli, "export", lambda model, cfg, out, name: seen.setdefault("name", name) and {})
    monkeypatch.setattr(cli, "WEIGHTS_DIR", tmp_path)
    cli.main(["train", "--model", "nin_ls0", "--runs", str(tmp_path)])
    assert seen["name"] == "nin_ls0" and seen["cfg"] == TrainConfig(model="nin", label_smoothing=0.0)
    assert not (tmp_path / "nin_ls0").exists(), "exported: the checkpoint and log are not kept beside the weights"
    with pytest.raises(SystemExit, match="registered recipe, not with epochs 3"):
        cli.main(["train", "--model", "nin_ls0", "--epochs", "3", "--runs", str(tmp_path)])
    seen.clear()
    cli.main(["train", "--model", "nin_ls0", "--epochs", "3", "--name", "nin_ls0_short", "--runs", str(tmp_path)])
    assert seen["name"] == "nin_ls0_short" and seen["cfg"].epochs == 3
    (tmp_path / "allconv.pt").write_bytes(b"published")
    with pytest.raises(SystemExit, match="exists"):
        cli.main(["train", "--model", "allconv", "--runs", str(tmp_path)])
