import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def find_cifar10_jpeg() -> Path | None:
    """<repo>/../shared/data/cifar10-jpeg.tar.gz (the CI layout), else the nearest shared/ further up
    (a git worktree sits deeper than the clone)."""
    for base in REPO_ROOT.parents:
        p = base / "shared" / "data" / "cifar10-jpeg.tar.gz"
        if p.is_file():
            return p
    return None


@pytest.fixture
def cifar10_jpeg() -> Path:
    path = find_cifar10_jpeg()
    if path is None:
        pytest.skip(f"real CIFAR-10 tarball not found at {REPO_ROOT.parent / 'shared/data/cifar10-jpeg.tar.gz'}")
    return path


@pytest.fixture
def make_cifar_pickle():
    return cifar_pickle


def cifar_pickle(n: int, label_keys: dict, seed: int) -> tuple[dict, np.ndarray]:
    rng = np.random.RandomState(seed)
    data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    d = {b"batch_label": b"tiny", b"filenames": [f"img{i}.png".encode() for i in range(n)], b"data": data}
    for key, classes in label_keys.items():
        d[key] = rng.randint(0, classes, size=n).tolist()
    return d, data


@pytest.fixture
def tiny_cifar100(tmp_path):
    """A CIFAR-100 tarball in exactly the official layout, with 20 train / 10 test images."""
    folder = tmp_path / "src" / "cifar-100-python"
    folder.mkdir(parents=True)
    train, train_data = cifar_pickle(20, {b"fine_labels": 100, b"coarse_labels": 20}, 0)
    test, _ = cifar_pickle(10, {b"fine_labels": 100, b"coarse_labels": 20}, 1)
    for name, obj in (("train", train), ("test", test),
                      ("meta", {b"fine_label_names": [b"c%d" % i for i in range(100)],
                                b"coarse_label_names": [b"s%d" % i for i in range(20)]})):
        with open(folder / name, "wb") as f:
            pickle.dump(obj, f)

    def make_tar(name: str) -> Path:
        out = tmp_path / name
        with tarfile.open(out, "w:gz") as tf:
            tf.add(folder, arcname="cifar-100-python")
        return out

    return {"folder": folder.parent, "make_tar": make_tar, "train": train, "train_data": train_data, "test": test}


def pytest_configure(config):
    try:
        import archlint_validation  # noqa: F401
    except ImportError:
        raise pytest.UsageError(
            "archlint_validation is not importable: validation/ is installed under that name since the "
            "package-dir mapping; rerun `python -m pip install -e . --no-deps` in this checkout"
        ) from None
