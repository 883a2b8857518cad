"""Throughput of the validation trainers: plain single-run baseline versus the packed trainer.

    python benchmarks/validate_bench.py --device cpu --steps 3
    python benchmarks/validate_bench.py --device cuda --steps 200 --pack 14 [--compile]

Both trainers run the faithful protocol (batch 80, RMSprop, per-seed data order) on synthetic
uint8 data resident on the device; evaluation sets are tiny so the figures measure training.
Prints images/s of each, their ratio, and the projected wall time of the full grid.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archlint_validation import data as D  # noqa: E402
from archlint_validation import train as T  # noqa: E402

GRID_RUNS = 42  # 14 configurations (shared control, 12 grid cells, GAP head) x 3 seeds, one protocol
FULL_STEPS = 10_000  # 1000 steps x 10 epochs


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=None, help="timed steps per trainer (default 3 cpu / 200 cuda)")
    ap.add_argument("--batch", type=int, default=80)
    ap.add_argument("--pack", type=int, default=None, help="runs per pack (default 3 cpu / 14 cuda)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the packed step (cuda only)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    cuda = device.type == "cuda"
    steps = args.steps or (200 if cuda else 3)
    m = args.pack or (14 if cuda else 3)

    ds = D.load_synthetic(5000, 80, num_classes=100)
    split = D.split_validation(ds, 80)
    dd = T.DeviceData(split, "faithful", device)
    variants = ["control", "dropout0.5", "dropout0.3", "dropout0.1"]
    specs = [T.RunSpec("faithful", v, "none" if v == "control" else "before", "dense1000", i // len(variants))
             for i, v in enumerate((variants * m)[:m])]

    def timed(fn) -> float:
        if cuda:
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - t

    warm = T.TrainConfig(batch_size=args.batch, steps_per_epoch=1, epochs=1, eval_batch=80)
    cfg = T.TrainConfig(batch_size=args.batch, steps_per_epoch=steps, epochs=1, eval_batch=80,
                        compile=args.compile)
    T.train_single(specs[1], dd, warm)
    base_s = timed(lambda: T.train_single(specs[1], dd, cfg))
    T.train_packed(specs, dd, T.TrainConfig(batch_size=args.batch, steps_per_epoch=2, epochs=1, eval_batch=80,
                                            compile=args.compile))
    pack_s = timed(lambda: T.train_packed(specs, dd, cfg))

    base_ips = steps * args.batch / base_s
    pack_ips = m * steps * args.batch / pack_s
    name = torch.cuda.get_device_name(device) if cuda else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}; batch {args.batch}; {steps} timed steps; torch {torch.__version__}")
    print(f"baseline single run : {base_ips:10.1f} images/s  ({base_s / steps * 1000:.1f} ms/step)")
    print(f"packed ({m} runs)    : {pack_ips:10.1f} images/s  ({pack_s / steps * 1000:.1f} ms/step for {m} runs)")
    print(f"ratio packed/baseline: {pack_ips / base_ips:.2f}x")
    grid_imgs = GRID_RUNS * FULL_STEPS * args.batch
    print(f"projected full grid ({GRID_RUNS} runs x {FULL_STEPS} steps, training only): "
          f"baseline {grid_imgs / base_ips / 60:.1f} min, packed {grid_imgs / pack_ips / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
