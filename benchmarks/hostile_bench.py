"""Time and peak memory of ``archlint check`` on each hostile input of issue 11.

    python benchmarks/hostile_bench.py            # prints one row per case

Each case runs the CLI in a fresh process (as CI would); wall time and the
child's peak RSS (GNU ``/usr/bin/time``) are printed with its exit code and first
error line. The inputs come from ``tests/security/hostile.py``; the
TorchScript case needs torch to build its archive (skipped without it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.security import hostile  # noqa: E402

FIXTURE = ROOT / "fixtures" / "onnx" / "article_dropout03_before_act_dense.onnx"


def run_measured(args: list[str], cwd: Path) -> tuple[float, float, int, str]:
    """Wall seconds, peak RSS MiB (GNU time's %M), exit code, first stderr line."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.NamedTemporaryFile(suffix=".txt") as rss:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-o", rss.name, "-f", "%M", sys.executable, "-m", "archlint.cli", *args],
                           cwd=cwd, env=env, capture_output=True, timeout=600)
        wall = time.perf_counter() - t0
        kb = int(Path(rss.name).read_text().split()[-1])
    first = (p.stderr.decode(errors="replace").splitlines() or [""])[0][:110]
    return wall, kb / 1024, p.returncode, first


def cases(d: Path) -> list[tuple[str, list[str], Path]]:
    out: list[tuple[str, list[str], Path]] = []

    def write(name: str, data: bytes) -> str:
        (d / name).write_bytes(data)
        return name

    import importlib.util

    if importlib.util.find_spec("torch") is not None:
        from tests.security.test_code_execution import _EVIL_TS

        script = d / "make_evil_ts.py"
        script.write_text(_EVIL_TS)
        subprocess.run([sys.executable, str(script), str(d / "evil.pt"), str(d / "PWNED")], check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        out.append(("TorchScript __setstate__ (from_file)", ["check", "evil.pt"], d))
    spec = d / "specrepo"
    (spec / "models").mkdir(parents=True)
    (spec / "evilmod.py").write_text("open('IMPORTED', 'w')\n")
    os.symlink("nowhere.onnx", spec / "evilmod:net.onnx")
    os.symlink("evil.py:net.onnx", spec / "models" / "evil.py:net.onnx")
    out.append(("spec-named links, folder scan", ["check", "."], spec))
    out.append(("typed spec evilmod:other.onnx", ["check", "evilmod:other.onnx"], spec))
    out.append(("nested models x4, depth 8 (.keras)", ["check", write("nested.keras", hostile.keras_zip(hostile.nested_models(8, 4)))], d))
    out.append(("8,000 same-name layers (.keras)", ["check", write("same.keras", hostile.keras_zip(hostile.same_name_layers(8000)))], d))
    out.append(("reversed chain of 8,000 (.keras)", ["check", write("rev.keras", hostile.keras_zip(hostile.reversed_chain(8000)))], d))
    out.append(("ONNX dropout chain 10,000", ["check", write("drops.onnx", hostile.onnx_dropout_chain(10_000))], d))
    out.append(("ONNX dead chain 3,000 x 3,000 sinks", ["check", "--format", "json", write("dead.onnx", hostile.onnx_dead_chain(3000, 3000))], d))
    out.append(("ONNX 3,000 dense heads on one 3,000-layer tail (AL003)", ["check", write("fan.onnx", hostile.onnx_flatten_fan_in(3000, 3000))], d))
    out.append(("HDF5 overlapping continuations", ["check", write("bomb.h5", hostile.h5_overlapping_continuations())], d))
    out.append((".pt2 JSON of empty lists (100 MiB)", ["check", write("bomb.pt2", hostile.deflated_zip("b/models/model.json", 100 * 2**20))], d))
    out.append((".keras config of empty lists (60 MiB)", ["check", write("bomb.keras", hostile.deflated_zip("config.json", 60 * 2**20))], d))
    os.mkfifo(d / "pipe.keras")
    out.append(("FIFO named .keras", ["check", "pipe.keras"], d))
    os.symlink("/dev/zero", d / "zero.pt")
    out.append(("link to /dev/zero named .pt", ["check", "zero.pt"], d))
    big = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"name": "x", "batch_shape": [None, 8]}},
        {"class_name": "Dense", "config": {"name": "d", "units": 10**4000}}]}}
    out.append(("4,000-digit integer (.keras)", ["check", "--format", "json", write("bigint.keras", hostile.keras_zip(big))], d))
    toml = d / "toml"
    toml.mkdir()
    (toml / "pyproject.toml").write_text("[tool.archlint]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    (toml / "m.onnx").write_bytes(FIXTURE.read_bytes())
    out.append(("deeply nested TOML", ["check", "m.onnx"], toml))
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        rows = cases(d)
        print(f"{'case':42} {'exit':>4} {'wall s':>7} {'peak MiB':>9}  first stderr line")
        for name, args, cwd in rows:
            wall, rss, rc, first = run_measured(args, cwd)
            print(f"{name:42} {rc:>4} {wall:>7.2f} {rss:>9.0f}  {first}")
        created = [p.name for p in d.rglob("*") if p.name in ("PWNED", "IMPORTED")]
        print(f"files created by hostile inputs: {created or 'none'}")


if __name__ == "__main__":
    main()
