"""The pure-Python HDF5 attribute reader (the fast path that keeps h5py and numpy out of
``archlint check x.h5``) agrees with h5py, and hands every layout it does not
understand back to h5py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from archlint.frontends._hdf5 import read_root_attrs
from archlint.frontends.keras import load

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("model_config", "keras_version", "backend")


def fast(path: Path) -> dict | None:
    with open(path, "rb") as fh:
        return read_root_attrs(fh, path.stat().st_size, NAMES)


def config_text(n: int) -> str:
    return json.dumps({"class_name": "Sequential", "config": {"name": "x" * n, "layers": []}})


# HDF5's original format (libver "earliest", what Keras writes) cannot hold a 300 kB
# fixed-length attribute at all, so that one combination does not exist.
LAYOUTS = [
    (libver, kind, n)
    for libver in ("earliest", "v108", "v110", "latest")
    for kind in ("str", "bytes")
    for n in (10, 30_000, 300_000)
    if not (libver == "earliest" and kind == "bytes" and n == 300_000)
]


@pytest.mark.parametrize(("libver", "kind", "n"), LAYOUTS)
def test_fast_reader_agrees_with_h5py(tmp_path: Path, libver: str, kind: str, n: int) -> None:
    p = tmp_path / "m.h5"
    text = config_text(n)
    with h5py.File(p, "w", libver=libver, track_order=n == 10) as f:
        f.attrs["keras_version"] = "3.15.1"
        f.attrs["backend"] = np.bytes_(b"torch")
        f.attrs["model_config"] = text if kind == "str" else np.bytes_(text.encode())
        f.create_dataset("w", data=np.zeros(64))
    got = fast(p)
    big_fixed = kind == "bytes" and n == 300_000  # stored densely (fractal heap): handed to h5py
    if big_fixed:
        assert got is None or "model_config" not in got
        return
    assert got is not None
    value = got["model_config"]
    assert (value.decode() if isinstance(value, bytes) else value) == text
    assert got["keras_version"] == "3.15.1" and got["backend"] == b"torch"


def test_dense_attribute_storage_falls_back_to_h5py(tmp_path: Path) -> None:
    from tests.zoo.keras_build import to_keras_config
    from tests.zoo.spec import clean_cnn

    p = tmp_path / "dense.h5"
    with h5py.File(p, "w", libver="latest") as f:
        for i in range(30):  # more than 8 attributes: HDF5 moves them to dense storage
            f.attrs[f"extra{i}"] = i
        f.attrs["model_config"] = json.dumps(to_keras_config(clean_cnn()[0]))
    got = fast(p)
    assert got is None or "model_config" not in got
    g = load(p)  # through h5py
    assert len(list(g.nodes)) > 20


def test_fast_reader_never_raises_on_garbage(tmp_path: Path) -> None:
    src = (ROOT / "fixtures" / "keras" / "jansma2018_keras22_dropout05.h5").read_bytes()
    rng = np.random.default_rng(0)
    for i in range(200):
        data = bytearray(src)
        for j in rng.integers(8, len(data), size=8):
            data[j] = int(rng.integers(0, 256))
        p = tmp_path / f"g{i}.h5"
        p.write_bytes(bytes(data[: int(rng.integers(8, len(data)))]))
        got = fast(p)
        assert got is None or isinstance(got, dict)


def test_h5_check_does_not_import_h5py_or_numpy() -> None:
    probe = (
        "import sys; from archlint.frontends.keras import load; "
        f"g = load({str(ROOT / 'fixtures' / 'keras' / 'residual_keras2.h5')!r}); "
        "print(len(g.nodes), sorted(m for m in ('h5py', 'numpy') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1:] == ["[]"]
