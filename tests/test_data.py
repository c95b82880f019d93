import hashlib
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from onepixel.nets import data
from onepixel.nets.data import (CIFAR10_CLASSES, DataIntegrityError, DataNotFoundError, binary_batches, load_cifar10,
                                load_imagenet)

from .conftest import shared_or_skip


def synthetic(n=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, n)


@pytest.fixture
def small_official(monkeypatch):
    """Pretend the official test split is 20 synthetic images, with their binary MD5 as the digest."""
    images, labels = synthetic()
    md5 = hashlib.md5(binary_batches(images, labels)[0]).hexdigest()
    monkeypatch.setitem(data.CIFAR10_SPLIT_SIZE, "test", len(images))
    monkeypatch.setitem(data.CIFAR10_BINARY_MD5, "test", (md5,))
    return images, labels


def write_folder(root, images, labels, ext="webp"):
    for i, (im, lab) in enumerate(zip(images, labels)):
        folder = root / "cifar10" / "test" / CIFAR10_CLASSES[lab]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(im.transpose(1, 2, 0)).save(folder / f"{i:05d}.{ext}", lossless=True)
    for name in CIFAR10_CLASSES:
        (root / "cifar10" / "test" / name).mkdir(parents=True, exist_ok=True)


def test_folder_layout_in_official_order(tmp_path, monkeypatch, small_official):
    images, labels = small_official
    write_folder(tmp_path, images, labels, "png")
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path))
    d = load_cifar10("test")
    assert d.images.dtype == torch.uint8 and d.images.shape == (20, 3, 32, 32)
    assert np.array_equal(d.images.numpy(), images) and np.array_equal(d.labels.numpy(), labels)
    assert d.index.tolist() == list(range(20)) and d.classes == CIFAR10_CLASSES
    assert d.provenance.endswith("cifar10/test in the data folder") and len(d.digest) == 16
    assert str(tmp_path) not in d.provenance, "no machine's paths in what the book prints"
    again = load_cifar10("test")  # from the cache
    assert torch.equal(again.images, d.images) and again.digest == d.digest


def test_batches_py_layout(tmp_path, monkeypatch, small_official):
    images, labels = small_official
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({"data": images.reshape(20, -1), "labels": labels.tolist()}, f)
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path))
    d = load_cifar10("test")
    assert np.array_equal(d.images.numpy(), images) and np.array_equal(d.labels.numpy(), labels)


def test_corrupt_copy_names_the_batch(tmp_path, monkeypatch, small_official):
    images, labels = small_official
    images = images.copy()
    images[3, 0, 0, 0] ^= 1
    write_folder(tmp_path, images, labels)
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path))
    with pytest.raises(DataIntegrityError, match="test_batch.bin"):
        load_cifar10("test")


def test_missing_data_lists_places(tmp_path, monkeypatch):
    monkeypatch.setenv("ONEPIXEL_DATA", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)  # no ./data and no ../shared/data here
    monkeypatch.setattr("onepixel.storage.checkout", lambda: None)  # nor beside an installed package
    with pytest.raises(DataNotFoundError, match="nowhere.*ONEPIXEL_DATA"):
        load_cifar10("test")
    with pytest.raises(ValueError, match="split"):
        load_cifar10("validation")


def test_a_notebook_opened_in_its_folder_finds_the_checkouts_data_and_results(monkeypatch):
    from onepixel.storage import REPO, results_root

    shared_or_skip("cifar10")
    monkeypatch.delenv("ONEPIXEL_DATA", raising=False)
    monkeypatch.delenv("ONEPIXEL_RESULTS", raising=False)
    monkeypatch.chdir(REPO / "notebooks")  # where Jupyter runs a notebook it opens
    assert results_root() == REPO / "results"
    assert len(load_cifar10("test")) == 10_000


def test_real_cifar10_is_official():
    shared_or_skip("cifar10")
    d = load_cifar10("test")  # raises unless the official MD5 is reproduced
    assert len(d) == 10_000 and d.index.tolist() == list(range(10_000))
    assert torch.bincount(d.labels).tolist() == [1000] * 10


def test_real_imagenet():
    shared_or_skip("imagenet-val-1300")
    d = load_imagenet("val1300", size=224, limit=8)
    assert d.images.shape == (8, 3, 224, 224) and d.ids[0].startswith("ILSVRC2012_val_")
    assert len(d.classes) == 1000 and d.classes[0] == "tench"
    s = load_imagenet("samples", size=227)
    assert len(s) == 20 and s.images.shape[1:] == (3, 227, 227)
