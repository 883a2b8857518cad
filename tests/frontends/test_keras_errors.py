"""Bad Keras input: one clear line on stderr naming the file and the problem, exit 2,
no traceback (run through the CLI as a user would)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import pytest

from tests.zoo.keras_build import to_keras_config, write_h5, write_keras
from tests.zoo.spec import clean_cnn

ROOT = Path(__file__).resolve().parents[2]


def check(path: Path) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "archlint.cli", "check", str(path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"archlint: error: {path}: "), lines[0]
    return lines[0]


def test_h5_with_weights_only(tmp_path: Path) -> None:
    p = tmp_path / "w.h5"
    with h5py.File(p, "w") as f:  # what model.save_weights("w.h5") writes
        f.attrs["layer_names"] = [b"conv2d_1", b"dense_1"]
        f.attrs["keras_version"] = "2.2.0"
        f.create_group("conv2d_1").create_dataset("kernel", data=[1.0, 2.0])
    line = check(p)
    assert "holds weights, not an architecture" in line
    assert "model.save('model.keras')" in line and "save_weights" in line


def test_keras_with_corrupt_json(tmp_path: Path) -> None:
    p = tmp_path / "bad.keras"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("config.json", '{"class_name": "Sequential", "config": {')
    line = check(p)
    assert "config.json is not valid JSON (line 1 column" in line


def test_keras_with_oversized_config(tmp_path: Path) -> None:
    p = tmp_path / "big.keras"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("config.json", "w", force_zip64=True) as fh:
            chunk = b" " * (1 << 20)
            for _ in range(65):  # 65 MiB of spaces, a few KiB compressed
                fh.write(chunk)
    assert p.stat().st_size < 1 << 20
    line = check(p)
    assert "config.json is 65 MiB uncompressed, over archlint's 64 MiB limit" in line


def test_keras_without_config(tmp_path: Path) -> None:
    p = tmp_path / "weights.keras"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("model.weights.h5", b"\x00")
    line = check(p)
    assert "no config.json inside the .keras archive (model.weights.h5 only)" in line


def test_keras_that_is_not_a_zip(tmp_path: Path) -> None:
    p = tmp_path / "text.keras"
    p.write_text("hello")
    assert "not a zip archive, so not a Keras .keras file" in check(p)


def test_keras_that_is_hdf5_gets_a_rename_hint(tmp_path: Path) -> None:
    p = write_h5(tmp_path / "m.h5", to_keras_config(clean_cnn()[0]))
    q = p.rename(tmp_path / "m.keras")
    assert "it is an HDF5 file: rename it to .h5" in check(q)


def test_empty_h5(tmp_path: Path) -> None:
    p = tmp_path / "empty.h5"
    p.write_bytes(b"")
    assert "empty file, not a Keras model" in check(p)


def test_truncated_h5(tmp_path: Path) -> None:
    full = write_h5(tmp_path / "full.h5", to_keras_config(clean_cnn()[0])).read_bytes()
    p = tmp_path / "cut.h5"
    p.write_bytes(full[:600])
    assert "not a readable HDF5 file (truncated or corrupt" in check(p)


def test_h5_that_is_a_zip_gets_a_hint(tmp_path: Path) -> None:
    p = write_keras(tmp_path / "m.keras", to_keras_config(clean_cnn()[0]))
    q = p.rename(tmp_path / "m.h5")
    assert "not an HDF5 file" in check(q) and ".keras file?" in check(q)


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"class_name": "Conv2D", "config": {"name": "c", "filters": 3}}, "model config holds a 'Conv2D', not a model"),
        ([1, 2, 3], "model config is not a Keras model"),
        ("just text", "model config is not a Keras model"),
    ],
)
def test_h5_whose_model_config_is_not_a_model(tmp_path: Path, config: object, says: str) -> None:
    p = tmp_path / "layer.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = json.dumps(config)
    assert says in check(p)


def test_h5_with_dangling_layer_reference(tmp_path: Path) -> None:
    cfg = to_keras_config(clean_cnn()[0], functional=True)
    cfg["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["ghost", 0, 0]
    p = write_h5(tmp_path / "dangling.h5", cfg)
    assert "reads 'ghost' (node 0), which no layer produces" in check(p)


def test_savedmodel_without_tensorflow_names_the_extra(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("tensorflow is installed here")
    d = tmp_path / "sm"
    d.mkdir()
    (d / "saved_model.pb").write_bytes(b"\x08\x01")
    line = check(d)
    assert "needs the optional 'keras' extra: pip install 'archlint[keras]'" in line
