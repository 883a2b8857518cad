"""Hostile and broken Keras and PyTorch files: pickles that would run code,
Lambda bytecode, zip bombs, path-traversal member names, invalid bytes,
truncated and bit-flipped files. Each gives one clear error line and exit 2,
or valid findings; nothing from the file runs."""

from __future__ import annotations

import base64
import io
import json
import marshal
import pickle
import random
import zipfile
from pathlib import Path

import pytest

from tests.security._util import ROOT, assert_one_clear_error, frontend_present, run_cli

SEEDS = ROOT / "tests" / "security" / "seeds"
needs_keras = pytest.mark.skipif(not frontend_present("keras"), reason="Keras frontend not in this branch")
needs_pt2 = pytest.mark.skipif(not frontend_present("pt2"), reason=".pt2 frontend not in this branch")
needs_ts = pytest.mark.skipif(not frontend_present("torchscript"), reason=".pt frontend not in this branch")


class _Payload:
    """Unpickling this creates (opens for writing) the file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # noqa: ANN204
        return (open, (self.path, "w"))


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, blob in members.items():
            z.writestr(zipfile.ZipInfo(name), blob, compression)
    return buf.getvalue()


def _seed_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


# ------------------------------------------------------------------ PyTorch
@needs_ts
def test_pickled_pt_is_refused_without_trust_and_runs_nothing(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    marker = tmp_path / "pwned.txt"
    model = tmp_path / "model.pt"
    torch.save({"model": _Payload(marker)}, model)  # the zip layout torch.save writes
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Payload(marker), protocol=2))  # a bare legacy pickle
    for target in (model, raw):
        r = run_cli("check", target)
        assert_one_clear_error(r, "refuses", "--trust")
        assert "builtins.open" in r.stderr or "io.open" in r.stderr
        assert not marker.exists()


@needs_pt2
def test_pt2_pickled_members_are_never_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    members = _seed_members(SEEDS / "pt2" / "cnn.pt2")
    payload = pickle.dumps(_Payload(marker))
    for name in list(members):
        if name.endswith(("sample_inputs/model.pt", "weights/weight_0")) or "/constants/" in name:
            members[name] = payload
    members["cnn/data/constants/constant_0.pkl"] = payload
    path = tmp_path / "evil.pt2"
    path.write_bytes(_zip(members))
    r = run_cli("check", path, "--format", "json")
    assert not marker.exists()
    assert r.returncode == 1, r.stderr  # findings still come from models/model.json
    doc = json.loads(r.stdout)
    assert "AL001" in doc["summary"]["by_code"]


# ------------------------------------------------------------------ Keras Lambda
def _lambda_code(marker: Path) -> bytes:
    fn = eval(f"lambda x: (open({str(marker)!r}, 'w'), x)[1]")  # noqa: S307 - the test's own payload
    return marshal.dumps(fn.__code__)


def _with_lambda(config: dict, layer: dict, keras3: bool) -> dict:
    layers = config["config"]["layers"] if keras3 else config["config"]
    layers.insert(2, layer)
    return config


@needs_keras
@pytest.mark.parametrize("fmt", ["keras3", "keras2_h5"])
def test_lambda_bytecode_is_never_deserialised(tmp_path: Path, fmt: str) -> None:
    from tests.security.seeds import make_seeds

    marker = tmp_path / "pwned.txt"
    code = base64.b64encode(_lambda_code(marker)).decode()
    if fmt == "keras3":
        layer = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                 "config": {"name": "evil_lambda", "function": {"class_name": "__lambda__",
                                                                "config": {"code": code, "defaults": None,
                                                                           "closure": None}},
                            "arguments": {}}}
        path = tmp_path / "evil.keras"
        make_seeds.write_keras(path, _with_lambda(make_seeds.keras3_sequential(), layer, True))
    else:
        layer = {"class_name": "Lambda", "config": {"name": "evil_lambda", "function": [code, None, None],
                                                    "function_type": "lambda", "arguments": {}}}
        path = tmp_path / "evil.h5"
        make_seeds.write_h5(path, _with_lambda(make_seeds.keras2_config(), layer, False))
    for extra in ((), ("--trust",)):
        r = run_cli("check", path, "--format", "json", *extra)
        assert not marker.exists()
        assert r.returncode in (0, 1), r.stderr
        doc = json.loads(r.stdout)
        assert doc["files"][0]["error"] is None
        assert doc["files"][0]["nodes"] > 5


# ------------------------------------------------------------------ .keras zips
@needs_keras
def test_keras_zip_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    """config.json inflates to 256 MiB of spaces (~250 KiB on disk), over the 64 MiB cap."""
    members = _seed_members(SEEDS / "keras" / "sequential_cnn.keras")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", members["metadata.json"])
        info = zipfile.ZipInfo("config.json")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as fh:
            fh.write(b"{")
            chunk = b" " * (1 << 20)
            for _ in range(256):
                fh.write(chunk)
            fh.write(b"}")
    path = tmp_path / "bomb.keras"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 4 << 20
    r = run_cli("check", path, timeout=60)
    assert_one_clear_error(r, "config.json")
    assert list(tmp_path.iterdir()) == [path]  # nothing extracted


@needs_keras
def test_keras_oversized_config_is_refused(tmp_path: Path) -> None:
    from archlint.frontends import keras as kf

    cfg = json.dumps({"class_name": "Sequential", "config": {"layers": [], "pad": "x" * (kf.MAX_CONFIG_BYTES + 10)}})
    path = tmp_path / "big.keras"
    path.write_bytes(_zip({"config.json": cfg.encode()}, zipfile.ZIP_DEFLATED))
    assert_one_clear_error(run_cli("check", path, timeout=60), "config.json")


@needs_keras
@pytest.mark.parametrize("name", ["../../config.json", "/etc/config.json", "../x/../config.json"])
def test_keras_member_names_with_dotdot_or_absolute(tmp_path: Path, name: str) -> None:
    members = _seed_members(SEEDS / "keras" / "sequential_cnn.keras")
    blob = members.pop("config.json")
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    path = work / "trav.keras"
    path.write_bytes(_zip({**members, name: blob}))
    r = run_cli("check", path, cwd=work)
    assert_one_clear_error(r, "config.json")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "er", "trav.keras"]
    assert not Path("/etc/config.json").exists()


@needs_keras
def test_keras_odd_unicode_names_give_valid_output(tmp_path: Path) -> None:
    from tests.security.seeds import make_seeds

    cfg = make_seeds.keras3_sequential()
    cfg["config"]["layers"][2]["config"]["name"] = "drop\ud800\u202e\x00\ufffe"
    path = tmp_path / "odd.keras"
    make_seeds.write_keras(path, json.loads(json.dumps(cfg)))
    for fmt in ("json", "text"):
        r = run_cli("check", path, "--format", fmt)
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr
    doc = json.loads(run_cli("check", path, "--format", "json").stdout)
    assert "AL001" in doc["summary"]["by_code"]


@needs_keras
def test_h5_attributes_with_invalid_bytes(tmp_path: Path) -> None:
    import h5py

    from tests.security.seeds import make_seeds

    path = tmp_path / "bad_bytes.h5"
    make_seeds.write_h5(path, make_seeds.keras2_config())
    with h5py.File(path, "a") as f:
        raw = f.attrs["model_config"]
        raw = raw.encode() if isinstance(raw, str) else raw
        f.attrs["model_config"] = raw.replace(b'"dropout_1"', b'"drop\xff\xfe_1"')
        f.attrs["keras_version"] = b"\xff\xfe2.2"
    r = run_cli("check", path, "--format", "json")
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert r.returncode == 1 and "AL001" in doc["summary"]["by_code"], r.stderr


# ------------------------------------------------------------------ truncated / bit-flipped
_ALL = {
    "keras": (needs_keras, SEEDS / "keras" / "sequential_cnn.keras"),
    "h5": (needs_keras, SEEDS / "h5" / "keras22_cnn.h5"),
    "pt2": (needs_pt2, SEEDS / "pt2" / "cnn.pt2"),
}


@pytest.mark.parametrize("fmt", list(_ALL))
def test_truncated_and_bitflipped_files(tmp_path: Path, fmt: str) -> None:
    mark, seed = _ALL[fmt]
    if mark.args[0]:
        pytest.skip(mark.kwargs["reason"])
    data = seed.read_bytes()
    rng = random.Random(fmt)
    paths = []
    for i in range(8):
        b = bytearray(data[: rng.randrange(1, len(data))] if i % 2 == 0 else data)
        if i % 2:
            for _ in range(rng.randrange(1, 12)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        p = tmp_path / f"broken_{i}{seed.suffix}"
        p.write_bytes(bytes(b))
        paths.append(p)
    r = run_cli("check", *paths, "--format", "json")
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    errors = [f for f in doc["files"] if f["error"]]
    assert errors, "truncated files must not load"
    assert r.returncode == 2
    assert len([ln for ln in r.stderr.splitlines() if ln.startswith("archlint: error: ")]) == len(errors)
    for f in errors:
        assert "\n" not in f["error"] and "could not read the model (" not in f["error"]
