"""Round three (issue 17), ``archlint validate``: datasets are data, every write stays inside the
output folder and never follows a link, and run records are trusted only when this user's run wrote
them. Each attack is built inside the test (``tests/security/hostile3.py``)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.security import hostile3
from tests.security._util import ROOT

pytest.importorskip("torch")

from archlint_validation import data as D  # noqa: E402
from archlint_validation import runner as R  # noqa: E402
from archlint_validation import safeio  # noqa: E402
from archlint_validation.errors import DataError, OutputError  # noqa: E402


def validate(*args: object, cwd: Path = ROOT, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "archlint.cli", "validate", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)


def assert_one_validate_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and errors[0].startswith("archlint: error: "), r.stderr
    for n in needles:
        assert n in errors[0], (n, r.stderr)


# ----------------------------------------------------------------------------------------------
# 1. datasets are data


@pytest.mark.parametrize("where", ["data", "label", "batch"])
def test_cifar_batch_payload_never_runs_in_a_tarball_of_any_name(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "PWNED"
    tar = tmp_path / "any-name.tar.gz"
    tar.write_bytes(hostile3.cifar10_tarball(hostile3.evil_cifar_batch(marker, where=where)))
    r = validate("--data", tar, "--quick", "--no-plots", "--out", tmp_path / "out", "--cache-dir", tmp_path / "c")
    assert_one_validate_error(r, ".exec, which a CIFAR batch never holds", "refused, not loaded")
    assert not marker.exists()
    assert not (tmp_path / "out").exists()  # refused before the output folder is created


def test_cifar_batch_payload_never_runs_in_a_folder(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for n in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / n).write_bytes(hostile3.evil_cifar_batch(marker))
    with pytest.raises(DataError, match=r"__builtin__.exec, which a CIFAR batch never holds"):
        D.load(None, tmp_path / "data")
    with pytest.raises(DataError, match="object array"):  # the payload inside an allowed ndarray
        safeio.load_cifar_pickle(__import__("io").BytesIO(hostile3.object_array_batch(marker)), "b", None)
    assert not marker.exists()


def test_restricted_unpickler_still_reads_real_cifar_batches() -> None:
    from tests.validation.conftest import cifar_pickle

    d, data = cifar_pickle(5, {b"labels": 10}, 0)
    for protocol in (2, 4):
        got = safeio.load_cifar_pickle(__import__("io").BytesIO(pickle.dumps(d, protocol=protocol)), "b", None)
        assert np.array_equal(got[b"data"], data) and got[b"labels"] == d[b"labels"]
        assert got[b"filenames"] == d[b"filenames"]


def test_array_header_claiming_terabytes_is_refused_unallocated() -> None:
    import io

    class Big:
        def __reduce__(self):
            return (np.ndarray, ((1 << 40,), np.dtype("u1")))

    with pytest.raises(DataError, match="larger than"):
        safeio.load_cifar_pickle(io.BytesIO(pickle.dumps({b"data": Big()}, protocol=2)), "b", None)


def test_npy_and_npz_are_read_without_pickle(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    arr = np.empty(1, dtype=object)
    arr[0] = hostile3._Payload(hostile3.marker_code(marker))
    np.save(tmp_path / "x.npy", arr, allow_pickle=True)
    np.savez(tmp_path / "x.npz", a=arr)
    for name in ("x.npy", "x.npz"):
        with pytest.raises(DataError, match="not a plain numpy array"):
            r = safeio.load_array(tmp_path / name)
            if isinstance(r, dict):  # npz members load lazily: reading one is where pickle would run
                r["a"]
    assert not marker.exists()
    np.save(tmp_path / "ok.npy", np.arange(3))
    assert safeio.load_array(tmp_path / "ok.npy").tolist() == [0, 1, 2]


def test_poisoned_decode_cache_is_refused(tmp_path: Path) -> None:
    """A cache entry (keyed by the tarball's sha256) whose arrays are pickles: refused, not run."""
    marker = tmp_path / "PWNED"
    tar = tmp_path / "imgs.tar.gz"
    tar.write_bytes(hostile3.imagefolder_tarball(hostile3.tiny_png(), n_bad=0))
    sha = D.file_digest(tar)
    entry = tmp_path / "cache" / f"imagefolder-{sha[:16]}-trainall-testall"
    entry.mkdir(parents=True)
    arr = np.empty(1, dtype=object)
    arr[0] = hostile3._Payload(hostile3.marker_code(marker))
    for n in ("x_train", "y_train", "x_test", "y_test"):
        np.save(entry / f"{n}.npy", arr, allow_pickle=True)
    (entry / "classes.txt").write_text("a\nb")
    (entry / "done").write_text("ok\n")
    with pytest.raises(DataError, match="not a plain numpy array"):
        D.load(None, tar, cache_dir=tmp_path / "cache")
    assert not marker.exists()


def test_large_images_are_refused_from_their_header(tmp_path: Path) -> None:
    tar = tmp_path / "bomb.tar.gz"
    tar.write_bytes(hostile3.imagefolder_tarball(hostile3.png_header_only(40_000, 40_000)))
    assert tar.stat().st_size < 8 * 1024
    with pytest.raises(DataError, match=r"refused from its header, not decoded"):
        D.load(None, tar, cache_dir=tmp_path / "c")
    tar.write_bytes(hostile3.imagefolder_tarball(hostile3.png_header_only(9000, 9000)))
    with pytest.raises(DataError, match=r"9000x9000 \(size read from its header, not decoded\)"):
        D.load(None, tar, cache_dir=tmp_path / "c")
    solid = hostile3.solid_png(4000, 4000)  # decodable: 16 MB of pixels from a few KB
    tar.write_bytes(hostile3.imagefolder_tarball(solid))
    with pytest.raises(DataError, match="4000x4000"):
        D.load(None, tar, cache_dir=tmp_path / "c")


def test_image_bomb_through_the_cli_is_one_line(tmp_path: Path) -> None:
    tar = tmp_path / "bomb.tar.gz"
    tar.write_bytes(hostile3.imagefolder_tarball(hostile3.solid_png(9000, 9000), n_bad=6))  # 6 x 81 Mpx
    assert tar.stat().st_size < 64 * 1024
    r = validate("--data", tar, "--quick", "--no-plots", "--out", tmp_path / "out", "--cache-dir", tmp_path / "c")
    assert_one_validate_error(r, "9000x9000 (size read from its header, not decoded)")


def test_total_pixel_budget_and_tar_member_cap(tmp_path: Path, monkeypatch) -> None:
    tar = tmp_path / "imgs.tar.gz"
    tar.write_bytes(hostile3.imagefolder_tarball(hostile3.tiny_png(), n_bad=0))  # 12 images
    monkeypatch.setattr(safeio, "MAX_TOTAL_PIXELS", 11 * 32 * 32)
    with pytest.raises(DataError, match="more than 11,264 pixels"):
        D.load(None, tar, cache_dir=tmp_path / "c")
    monkeypatch.setattr(safeio, "MAX_TOTAL_PIXELS", 12 * 32 * 32)
    assert len(D.load(None, tar, cache_dir=tmp_path / "c2").x_train) == 6
    monkeypatch.setattr(safeio, "MAX_TAR_MEMBERS", 5)
    with pytest.raises(DataError, match="more than 5 entries"):
        D.load(None, tar, cache_dir=tmp_path / "c3")


# ----------------------------------------------------------------------------------------------
# 2. one writer: never through a link, never outside the output folder


def test_writer_refuses_links_and_paths_outside(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    victim.write_text("precious")
    out.mkdir()
    (out / "plot.png").symlink_to(victim)
    with pytest.raises(OutputError, match="symbolic link"):
        safeio.write_bytes(out, "plot.png", b"x")
    (tmp_path / "elsewhere").mkdir()
    (out / "runs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="symbolic link"):
        safeio.write_bytes(out, "runs/abc/r.json", b"x")
    for bad in ("../victim.txt", "/etc/x", "a/../../victim.txt"):
        with pytest.raises(OutputError, match="leaves the output folder|absolute"):
            safeio.write_bytes(out, bad, b"x")
    link_root = tmp_path / "linked-out"
    link_root.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutputError, match="is a symbolic link"):
        safeio.write_bytes(link_root, "results.json", b"x")
    assert victim.read_text() == "precious" and not any((tmp_path / "elsewhere").iterdir())
    safeio.write_bytes(out, "sub/ok.txt", b"fine")
    assert (out / "sub" / "ok.txt").read_bytes() == b"fine"
    assert not [p for p in (out / "sub").iterdir() if p.name.endswith(".tmp")]


def test_planted_plot_link_is_refused_before_training(tmp_path: Path) -> None:
    """The repository commits ``archlint-validate/<plot>.png -> ../victim``; validate (default
    --out, run from the repository) refuses in one line and the victim is untouched."""
    repo = tmp_path / "repo"
    (repo / "archlint-validate").mkdir(parents=True)
    victim = tmp_path / "victim.png"
    victim.write_bytes(b"precious")
    (repo / "archlint-validate" / "final_accuracy_faithful.png").symlink_to("../../victim.png")
    env_cache = tmp_path / "c"
    r = validate("--dataset", "synthetic", "--quick", "--rule", "AL001", "--placement", "before",
                 "--cache-dir", env_cache, cwd=repo)
    assert_one_validate_error(r, "final_accuracy_faithful.png", "symbolic link")
    assert victim.read_bytes() == b"precious"
    assert not list((repo / "archlint-validate").glob("runs/*/*.json"))  # nothing trained


# ----------------------------------------------------------------------------------------------
# 3. run records carry an integrity check


def _opts(out: Path, cache: Path) -> R.Options:
    return R.Options(dataset="synthetic", quick=True, steps=2, epochs=2, seeds=2, batch_size=8, limit=200,
                     test_limit=50, val_size=20, out=out, plots=False, progress=False, rules=["AL001"],
                     placements=("before",), cache_dir=cache)


def test_forged_run_records_are_ignored_and_retrained(tmp_path: Path) -> None:
    out, cache = tmp_path / "out", tmp_path / "cache"
    first = R.run(_opts(out, cache))
    files = sorted(p for p in out.glob("runs/*/*.json") if p.name != "settings.json")
    assert len(files) == 8 and (files[0].parent / "records.hmac").is_file()
    assert os.stat(cache / "validate-records.key").st_mode & 0o777 == 0o600
    forged = json.loads(files[0].read_text())
    forged["test_acc"] = 0.999
    files[0].write_text(json.dumps(forged))
    logs: list[str] = []
    second = R.run(_opts(out, cache), log=logs.append)
    text = "\n".join(logs)
    assert "resuming: 7 of 8 runs already finished" in text and "7 run records trusted" in text
    assert "ignored 1 run files" in text and files[0].name in text
    accs = [a for v in second["variants"] for a in v["test_acc"]]
    assert 0.999 not in accs
    assert sorted(accs) == sorted(a for v in first["variants"] for a in v["test_acc"])  # retrained, same maths
    # a whole forged run folder (records and index) copied in from elsewhere: none trusted
    other_key = tmp_path / "attacker"
    R.RunRecords(out, files[0].parent.name, other_key).put(files[1].stem, {**forged, "key": files[1].stem})
    logs.clear()
    R.run(_opts(out, cache), log=logs.append)
    assert "ignored 1 run files" in "\n".join(logs) and files[1].name in "\n".join(logs)
