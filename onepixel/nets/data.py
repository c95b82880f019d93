"""Datasets: the official CIFAR-10 (verified bit-exact) and ImageNet validation images.

Images are returned as uint8 tensors N x 3 x H x W; models take float [0, 1] and normalise
themselves (see :mod:`onepixel.nets.models`). About 310 lines: each source format (torchvision's
pickled batches, ImageFolder trees, the ImageNet sample folder) needs its own reader and checks,
and they share the cache and the error that says where data was looked for.
"""
from __future__ import annotations

import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from onepixel import storage
from onepixel.storage import atomic_write, cache_dir


CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
# MD5 of the official binary batches (cifar-10-binary.tar.gz): label byte + 3072 RGB bytes per image.
CIFAR10_BINARY_MD5 = {
    "train": (
        "5dd7e06a14cb22eb9f671a540d1b7c25",
        "5ea93a67294ea407fff1d09f752e9692",
        "942cd6a4bcdd0dd3c604fbe906cb4421",
        "ae636b3ba5c66a11e91e8cb52e771fcb",
        "53f37980c15c3d472c316c40844f3f0d",
    ),
    "test": ("803d5f7f4d78ea53de84dbe85f74fb6d",),
}
CIFAR10_SPLIT_SIZE = {"train": 50_000, "test": 10_000}
BATCH_FILES = {"train": [f"data_batch_{i}.bin" for i in range(1, 6)], "test": ["test_batch.bin"]}
HOW_TO_PROVIDE = (
    "Provide the data in one of these ways: set ONEPIXEL_DATA to a folder holding "
    "'cifar-10-batches-py/' (torchvision's download) or 'cifar10/{train,test}/<class>/NNNNN.<ext>' "
    "(ImageFolder layout, NNNNN = official index); or run "
    "`python -c \"import torchvision; torchvision.datasets.CIFAR10('data', download=True)\"` "
    "on a machine with internet access, which creates ./data/cifar-10-batches-py."
)


class DataNotFoundError(FileNotFoundError):
    """No copy of a dataset was found in any of the searched places."""


class DataIntegrityError(ValueError):
    """The data read does not match the official digests."""


@dataclass
class ImageDataset:
    """Images (uint8, N x 3 x H x W), labels, class names and provenance.

    ``index`` holds each image's official index (CIFAR-10) or position in the source list;
    ``ids`` its file name where it came from files; ``digest`` is a SHA-256 prefix of the
    pixels and labels, independent of the on-disk layout.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    index: torch.Tensor
    provenance: str
    digest: str
    ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def float(self) -> torch.Tensor:
        """Images as float32 in [0, 1]."""
        return self.images.float().div_(255)

    def subset(self, idx) -> "ImageDataset":
        idx = torch.as_tensor(idx, dtype=torch.long)
        ids = [self.ids[i] for i in idx.tolist()] if self.ids else []
        return ImageDataset(self.images[idx], self.labels[idx], self.classes, self.index[idx],
                            self.provenance, self.digest, ids)


def data_roots() -> list[Path]:
    """Folders searched for data, in order: $ONEPIXEL_DATA, ./data, ../shared/data, then the same two
    beside the checkout (a notebook opened in Jupyter runs in ``notebooks/``)."""
    roots = []
    if os.environ.get("ONEPIXEL_DATA"):
        roots.append(Path(os.environ["ONEPIXEL_DATA"]))
    roots += [Path("data"), Path("..") / "shared" / "data"]
    repo = storage.checkout()
    if repo is not None:
        roots += [repo / "data", repo.parent / "shared" / "data"]
    return list(dict.fromkeys(r.resolve() for r in roots))


def shown_path(path: Path) -> str:
    """``path`` as a reader may see it: relative to the data folder it lies in (no machine's paths)."""
    path = Path(path).resolve()
    for root in data_roots():
        if path.is_relative_to(root):
            return f"{path.relative_to(root)} in the data folder"
    return path.name


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.savez would add ".npz" to a temporary name
        np.savez(f, **arrays)


def array_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def binary_batches(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """The official binary-format bytes for consecutive batches of 10,000 images."""
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(len(images), -1)], axis=1)
    return [records[i:i + 10_000].tobytes() for i in range(0, len(records), 10_000)]


def verify_cifar10(split: str, images: np.ndarray, labels: np.ndarray, source: Path) -> None:
    """Raise DataIntegrityError unless the arrays reproduce the official binary MD5s."""
    if len(images) != CIFAR10_SPLIT_SIZE[split]:
        raise DataIntegrityError(
            f"CIFAR-10 {split} at {source}: found {len(images)} images, expected {CIFAR10_SPLIT_SIZE[split]}")
    for name, blob, expected in zip(BATCH_FILES[split], binary_batches(images, labels), CIFAR10_BINARY_MD5[split]):
        got = hashlib.md5(blob).hexdigest()
        if got != expected:
            raise DataIntegrityError(
                f"CIFAR-10 {split} at {source} does not match the official {name}: "
                f"md5 {got}, expected {expected}. The copy is corrupt or not the official data.")


def _read_batches_py(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in names:
        with open(folder / name, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        images.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(entry["labels"], dtype=np.int64))
    return np.concatenate(images), np.concatenate(labels)


def _folder_files(folder: Path) -> list[tuple[int, int, Path]]:
    """(official index, label, path) for every image in an ImageFolder split, sorted by index."""
    files = []
    for label, name in enumerate(CIFAR10_CLASSES):
        class_dir = folder / name
        if not class_dir.is_dir():
            raise DataIntegrityError(f"CIFAR-10 folder {folder} has no class folder '{name}'")
        for path in class_dir.iterdir():
            if path.stem.isdigit():
                files.append((int(path.stem), label, path))
    files.sort()
    return files


def _read_folder(files: list[tuple[int, int, Path]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:

    images = np.empty((len(files), 3, 32, 32), dtype=np.uint8)
    for i, (_, _, path) in enumerate(files):
        with Image.open(path) as im:
            images[i] = np.asarray(im.convert("RGB")).transpose(2, 0, 1)
    index = np.array([f[0] for f in files], dtype=np.int64)
    labels = np.array([f[1] for f in files], dtype=np.int64)
    return images, labels, index


def _stat_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _find_cifar10(split: str) -> tuple[str, Path]:
    searched = []
    for root in data_roots():
        py = root / "cifar-10-batches-py"
        searched.append(str(py))
        if (py / ("test_batch" if split == "test" else "data_batch_1")).is_file():
            return "batches-py", py
        folder = root / "cifar10" / split
        searched.append(str(folder))
        if folder.is_dir():
            return "folder", folder
    raise DataNotFoundError(
        f"CIFAR-10 ({split}) not found. Searched: {', '.join(searched)}. {HOW_TO_PROVIDE}")


def load_cifar10(split: str = "test") -> ImageDataset:
    """The official CIFAR-10 ``split`` ("train" or "test"), verified against the official MD5s.

    Looks in $ONEPIXEL_DATA, ./data and ../shared/data for torchvision's
    ``cifar-10-batches-py/`` or a ``cifar10/<split>/<class>/NNNNN.*`` folder. Decoded arrays are
    cached (keyed by the source files) and verified once, when the cache is built.
    """
    if split not in CIFAR10_SPLIT_SIZE:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    kind, source = _find_cifar10(split)
    if kind == "batches-py":
        sources = sorted(source.glob("*_batch*"))
    else:
        files = _folder_files(source)
        sources = [f[2] for f in files]
    key = _stat_digest(sources)
    cached = cache_dir() / f"cifar10-{split}-{key}.npz"
    if cached.exists():
        with np.load(cached) as z:
            images, labels, index = z["images"], z["labels"], z["index"]
    else:
        if kind == "batches-py":
            images, labels = _read_batches_py(source, split)
            index = np.arange(len(labels), dtype=np.int64)
        else:
            images, labels, index = _read_folder(files)
            if not np.array_equal(index, np.arange(len(index))):
                raise DataIntegrityError(f"CIFAR-10 folder {source}: image indices are not 0..{len(index) - 1}")
        verify_cifar10(split, images, labels, source)
        atomic_write(cached, lambda tmp: save_npz(tmp, images=images, labels=labels, index=index))
    provenance = f"CIFAR-10 {split} (official, MD5-verified), read from {shown_path(source)}"
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), CIFAR10_CLASSES,
                        torch.from_numpy(index), provenance, array_digest(images, labels))


def imagenet_classes() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in the standard order (shipped with torchvision)."""
    from torchvision.models import ResNet18_Weights  # heavy (all of torchvision.models, seconds): only this needs it

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def _centre_crop_resize(im, size: int, resize: int):
    """Resize the short side to ``resize`` then centre-crop a square ``size`` x ``size``."""

    w, h = im.size
    if min(w, h) != resize:
        scale = resize / min(w, h)
        im = im.resize((max(resize, round(w * scale)), max(resize, round(h * scale))), Image.BILINEAR)
        w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


def _imagenet_listing(root: Path) -> tuple[list[Path], list[int], str]:
    """Files and labels of one of the supported ImageNet layouts under ``root``."""
    if (root / "dataset.txt").is_file():  # imagenet-val-1300 style: "./data/<file>, <label>"
        paths, labels = [], []
        for line in (root / "dataset.txt").read_text().splitlines():
            if line.strip():
                name, label = line.rsplit(",", 1)
                paths.append(root / name.strip())
                labels.append(int(label))
        return paths, labels, "ILSVRC2012 validation images listed in dataset.txt"
    samples = sorted(root.glob("imagenet_*_*.*"))
    if samples:  # foolbox samples: imagenet_II_LLL.jpg, LLL = class index
        return samples, [int(p.stem.split("_")[2]) for p in samples], "foolbox ImageNet sample photos"
    wnids = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("n"))
    if len(wnids) == 1000:  # standard val/<wnid>/ layout; sorted wnids are the class order
        paths, labels = [], []
        for label, wnid in enumerate(wnids):
            for p in sorted((root / wnid).iterdir()):
                paths.append(p)
                labels.append(label)
        return paths, labels, "ImageNet folder val/<wnid>/"
    raise DataNotFoundError(
        f"{root} is not a known ImageNet layout (dataset.txt listing, imagenet_II_LLL.jpg samples, "
        "or val/<wnid>/ with all 1000 class folders)")


IMAGENET_SOURCES = {"val1300": "imagenet-val-1300", "samples": "imagenet-samples", "val": "val"}


def load_imagenet(source: str = "val1300", size: int = 227, resize: int = 227,
                  limit: int | None = None) -> ImageDataset:
    """ImageNet validation images as uint8 ``size`` x ``size``: short side resized to ``resize``
    (the 1,300 validation images are stored at 227), then a centre crop.

    ``source``: "val1300" (1,300 ILSVRC2012 validation images), "samples" (20 foolbox photos),
    "val" (a standard ``val/<wnid>/`` folder) or a path to a folder in one of those layouts.
    """

    if source in IMAGENET_SOURCES:
        candidates = [root / IMAGENET_SOURCES[source] for root in data_roots()]
        if source == "val":
            candidates += [root / "imagenet" / "val" for root in data_roots()]
    else:
        candidates = [Path(source)]
    root = next((c for c in candidates if c.is_dir()), None)
    if root is None:
        raise DataNotFoundError(
            f"ImageNet '{source}' not found. Searched: {', '.join(map(str, candidates))}. "
            "Set ONEPIXEL_DATA to a folder holding imagenet-val-1300/ (dataset.txt + data/), "
            "imagenet-samples/ or imagenet/val/<wnid>/.")
    paths, labels, kind = _imagenet_listing(root)
    if limit is not None:
        paths, labels = paths[:limit], labels[:limit]
    images = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        if not p.is_file():
            raise DataNotFoundError(f"ImageNet image listed but missing: {p}")
        with Image.open(p) as im:
            images[i] = np.asarray(_centre_crop_resize(im.convert("RGB"), size, resize)).transpose(2, 0, 1)
    labels_np = np.asarray(labels, dtype=np.int64)
    provenance = f"{kind}, {len(paths)} images, short side {resize} then centre {size}x{size}, read from {shown_path(root)}"
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels_np), imagenet_classes(),
                        torch.arange(len(paths)), provenance, array_digest(images, labels_np), [p.name for p in paths])
