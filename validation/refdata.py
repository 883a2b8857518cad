"""Data of the per-rule reference experiments and of the user-model proxy task.

- CIFAR-10 images: the shared JPEG set (``$ARCHLINT_CIFAR10_JPEG`` or an explicit path, decoded
  once and cached by ``data.load_imagefolder``), or, without it, the small subset shipped with
  archlint (``assets/cifar10-subset.npz``: 2,000 training and 500 test images, 32x32, balanced;
  made by ``scripts/make_cifar10_subset.py``). Inputs are scaled to [0, 1] and normalised per
  channel with the training split's statistics (the seed experiment's "modern" protocol).
- ``image16`` (reduced seed network): 2x2 average-pooled to 16x16.
- ``flat`` (MLPs): 4x4 average-pooled to 8x8x3 = 192 features; ``binary``: the same with the
  label "vehicle" (airplane, automobile, ship, truck) against "animal".
- ``text`` (language models): the Debian/GNU licence texts shipped in ``assets/licences.txt.gz``
  (verbatim copies, which the licences allow), characters as tokens; the first 90 % trains, the
  last 10 % tests.

Nothing here runs code from a data file: archives are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import file_digest

ASSETS = Path(__file__).resolve().parent / "assets"
SUBSET = ASSETS / "cifar10-subset.npz"
CORPUS = ASSETS / "licences.txt.gz"
JPEG_ENV = "ARCHLINT_CIFAR10_JPEG"
VEHICLES = (0, 1, 8, 9)  # airplane, automobile, ship, truck


@dataclass
class Images:
    x_train: np.ndarray  # N, 32, 32, 3 uint8
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    identity: dict = field(default_factory=dict)


def load_images(path: str | os.PathLike | None = None, *, n_train: int | None = None, n_test: int | None = None,
                cache_dir: Path | None = None) -> Images:
    """CIFAR-10 from the JPEG set at ``path`` (or ``$ARCHLINT_CIFAR10_JPEG``), else the shipped
    subset. ``n_train`` / ``n_test`` take balanced subsets."""
    from .data import balanced_indices, default_cache_dir, load_imagefolder

    path = path or os.environ.get(JPEG_ENV)
    if path:
        ds = load_imagefolder(Path(path), limit_train=n_train, limit_test=n_test,
                              cache_dir=cache_dir or default_cache_dir())
        ident = {"name": "cifar10-jpeg", "description": ds.identity.get("description", "CIFAR-10 (image folder)"),
                 "sha256": ds.identity.get("sha256"), "source": str(path)}
        return Images(ds.x_train, ds.y_train, ds.x_test, ds.y_test, ident)
    with np.load(SUBSET, allow_pickle=False) as z:
        xtr, ytr, xte, yte = (z[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    itr = balanced_indices(ytr, n_train if n_train and n_train < len(ytr) else None, 10)
    ite = balanced_indices(yte, n_test if n_test and n_test < len(yte) else None, 10)
    ident = {"name": "cifar10-subset", "description": "CIFAR-10 subset shipped with archlint "
             "(2,000 train / 500 test, balanced, from the JPEG set)", "sha256": file_digest(SUBSET),
             "source": "archlint_validation/assets/cifar10-subset.npz"}
    return Images(xtr[itr], ytr[itr].astype(np.int64), xte[ite], yte[ite].astype(np.int64), ident)


def _pool(x: np.ndarray, k: int) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // k, k, w // k, k, c).mean(axis=(2, 4))


def normalise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """[0, 1] scaling and per-channel standardisation with the training split's statistics."""
    arrays = [a.astype(np.float32) / 255.0 for a in (train, *others)]
    axes = tuple(range(arrays[0].ndim - 1))
    mean, std = arrays[0].mean(axis=axes), arrays[0].std(axis=axes) + 1e-6
    return [(a - mean) / std for a in arrays]


@dataclass
class Task:
    """Arrays ready for torch: ``x_*`` float32 (images NCHW, vectors NF) or int64 token ids."""

    name: str
    kind: str  # image | flat | text
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    identity: dict
    input_shape: tuple = ()  # one example, without the batch

    @property
    def chance(self) -> float:
        if self.kind in ("text", "mlm"):
            y = self.y_test.reshape(-1)
            counts = np.bincount(y[y >= 0], minlength=self.num_classes)
            return float(counts.max() / counts.sum())
        return 1.0 / self.num_classes


def image_task(images: Images, size: int = 16) -> Task:
    xtr, xte = (_pool(x.astype(np.float32), 32 // size) for x in (images.x_train, images.x_test))
    xtr, xte = normalise(xtr, xte)
    xtr, xte = (np.ascontiguousarray(a.transpose(0, 3, 1, 2)) for a in (xtr, xte))
    return Task(f"cifar10-{size}px", "image", xtr, images.y_train, xte, images.y_test, 10,
                {**images.identity, "resolution": f"{size}x{size}"}, (3, size, size))


def flat_task(images: Images, binary: bool = False) -> Task:
    xtr, xte = (_pool(x.astype(np.float32), 4).reshape(len(x), -1) for x in (images.x_train, images.x_test))
    xtr, xte = normalise(xtr, xte)
    ytr, yte = images.y_train, images.y_test
    if binary:
        ytr, yte = (np.isin(y, VEHICLES).astype(np.int64) for y in (ytr, yte))
    name = "cifar10-8px-flat" + ("-vehicle-vs-animal" if binary else "")
    return Task(name, "flat", xtr, ytr, xte, yte, 2 if binary else 10,
                {**images.identity, "resolution": "8x8x3 flattened"}, (xtr.shape[1],))


MASK_RATE = 0.15


def mlm_task(text: Task, seed: int = 0) -> Task:
    """The masked-character task on the same text: 15 % of the characters of each window are
    replaced by a mask token (id = vocabulary size) and predicted from both sides; targets are -100
    (ignored) where nothing was masked. Training windows are masked per batch (``mask_batch``)."""
    rng = np.random.default_rng(seed)
    seq = np.concatenate([text.x_test[:, :1], text.y_test], axis=1)[:, :-1]
    x, y = mask_batch(seq, rng, text.num_classes)
    return Task("licence-chars-masked", "mlm", text.x_train, text.y_train, x, y, text.num_classes,
                {**text.identity, "task": f"masked characters ({MASK_RATE:.0%})"}, text.input_shape)


def mask_batch(seq: np.ndarray, rng, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    m = rng.random(seq.shape) < MASK_RATE
    m[:, 0] |= ~m.any(axis=1)  # at least one masked position per window
    x = np.where(m, vocab, seq)
    y = np.where(m, seq, -100)
    return x.astype(np.int64), y.astype(np.int64)


def text_task(ctx: int = 64) -> Task:
    raw = gzip.decompress(CORPUS.read_bytes()).decode("utf-8")
    chars = sorted(set(raw))
    index = {c: i for i, c in enumerate(chars)}
    ids = np.asarray([index[c] for c in raw], dtype=np.int64)
    cut = int(len(ids) * 0.9)
    train, test = ids[:cut], ids[cut:]
    n_test = (len(test) - 1) // ctx
    xte = test[: n_test * ctx].reshape(n_test, ctx)
    yte = test[1: n_test * ctx + 1].reshape(n_test, ctx)
    ident = {"name": "licence-texts", "description": "GNU/Debian licence texts (/usr/share/common-licenses, "
             f"{len(raw):,} characters, {len(chars)} distinct), character-level", "sha256": file_digest(CORPUS),
             "source": "archlint_validation/assets/licences.txt.gz"}
    # training "examples" are start offsets; windows are cut per batch
    return Task("licence-chars", "text", train, np.zeros(0, np.int64), xte, yte, len(chars), ident, (ctx,))
