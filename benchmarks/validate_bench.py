"""Throughput of the validation trainers: one plain eager run versus the fast (union) trainer.

    python benchmarks/validate_bench.py --device cpu                 # tiny: 3 runs, 3 timed steps
    python benchmarks/validate_bench.py --device cuda                # the grid's 33 runs of one protocol
    python benchmarks/validate_bench.py --device cuda --precision bf16 --compile
    python benchmarks/validate_bench.py --device cuda --classic      # also the older packed trainer

Every trainer runs batch 80 per run, RMSprop, per-seed data order, on synthetic uint8 images
resident on the device (CIFAR-sized, 32x32x3); evaluation sets are tiny and evaluation is not
timed. The fast trainer is timed after its warm-up (and, on CUDA, its graph capture): the
figures are steady-state training throughput. Prints images/s of each trainer, their ratio, and
the projected training time of the full grid (1000 steps x 10 epochs per run) for one protocol
and for both. The projection assumes the measured images/s holds for the whole grid's packs; on
CPU the figures measure a tiny pack and are labelled CPU.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from archlint_validation import data as D  # noqa: E402
from archlint_validation import experiments as E  # noqa: E402
from archlint_validation import fast_trainer as FT  # noqa: E402
from archlint_validation import models as MD  # noqa: E402
from archlint_validation import train as T  # noqa: E402

FULL_STEPS = 10_000  # 1000 steps x 10 epochs
SEEDS = (0, 1, 2)


def grid_specs(protocol: str) -> list:
    """The runs of one protocol of the full grid (every rule, every placement, 3 seeds)."""
    return E.run_specs(E.select(None, MD.PLACEMENTS), (protocol,), list(SEEDS))


def pick(specs: list, n: int) -> list:
    """n runs spread over the grid's kinds (so a small pack still mixes dropout, BN and heads)."""
    if n >= len(specs):
        return list(specs)
    by_seed = sorted(specs, key=lambda s: s.seed)  # stable: every configuration of seed 0 first
    configs = len({(s.variant, s.placement, s.head) for s in specs})
    span = configs if n <= configs else len(specs)
    return [by_seed[int(i * span / n)] for i in range(n)]


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=None, help="timed steps per trainer (default 3 cpu / 200 cuda)")
    ap.add_argument("--batch", type=int, default=80)
    ap.add_argument("--runs", type=int, default=None,
                    help="runs in the fast trainer's pack (default: 3 on cpu, the grid's runs of one protocol on cuda)")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--compile", action="store_true", help="torch.compile(fullgraph=True) the union forward")
    ap.add_argument("--no-cuda-graph", action="store_true")
    ap.add_argument("--no-channels-last", action="store_true")
    ap.add_argument("--classic", action="store_true", help="also time the older packed trainer (one pack)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    cuda = device.type == "cuda"
    steps = args.steps or (200 if cuda else 3)
    warm = 10 if cuda else 1
    one = grid_specs("faithful")
    both = one + grid_specs("modern")
    m = args.runs or (len(one) if cuda else 3)
    pack = pick(one, m)

    ds = D.load_synthetic(20 * args.batch, 80, num_classes=100)
    split = D.split_validation(ds, 80)
    dd = T.DeviceData(split, "faithful", device)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    # 1. one plain eager run (the reference trainer), timed after one untimed step
    base_spec = T.RunSpec("faithful", "dropout0.5", "before", "dense1000", 0)
    marks = {}

    def mark_at(first: int, last: int):
        count = [0]

        def on_step(k: int) -> None:
            count[0] += k
            if count[0] in (first, last):
                sync()
                marks[count[0]] = time.perf_counter()
        return on_step

    cfg = T.TrainConfig(batch_size=args.batch, steps_per_epoch=1 + steps, epochs=1, eval_batch=80)
    T.train_single(base_spec, dd, cfg, on_step=mark_at(1, 1 + steps))
    base_s = (marks[1 + steps] - marks[1]) / steps
    base_ips = args.batch / base_s

    # 2. the fast trainer: the pack, timed after its warm-up / capture
    marks.clear()
    opts = FT.FastOptions(precision=args.precision, channels_last=not args.no_channels_last, compile=args.compile,
                          cuda_graph=not args.no_cuda_graph)
    cfg = T.TrainConfig(batch_size=args.batch, steps_per_epoch=warm + steps, epochs=1, eval_batch=80)
    logs: list[str] = []
    t_setup = time.perf_counter()
    FT.train_union(pack, {"faithful": dd}, cfg, options=opts, on_step=mark_at(warm, warm + steps), log=logs.append)
    union_s = (marks[warm + steps] - marks[warm]) / steps
    setup_s = marks[warm] - t_setup
    union_ips = m * args.batch / union_s

    classic_ips = math.nan
    if args.classic:
        marks.clear()
        specs = [T.RunSpec("faithful", v, "none" if v == "control" else "before", "dense1000", s)
                 for s in SEEDS for v in ("control", "dropout0.5", "dropout0.3", "dropout0.1")][:m]
        cfg = T.TrainConfig(batch_size=args.batch, steps_per_epoch=2 + steps, epochs=1, eval_batch=80,
                            compile=args.compile)
        T.train_packed(specs, dd, cfg, on_step=mark_at(2, 2 + steps))
        classic_ips = len(specs) * args.batch / ((marks[2 + steps] - marks[2]) / steps)

    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({torch.get_num_threads()} torch threads)"
    label = "" if cuda else "  [CPU, tiny pack: not GPU figures]"
    print(f"device: {name}; torch {torch.__version__}; batch {args.batch} per run; {steps} timed steps{label}")
    print(f"fast trainer options: {args.precision}, channels_last={not args.no_channels_last}, "
          f"compile={args.compile}, cuda_graph={cuda and not args.no_cuda_graph}; pack of {m} runs "
          f"({', '.join(sorted({s.variant + '@' + s.placement + '/' + s.head for s in pack}))})")
    for line in logs:
        print(line)
    print(f"single eager run     : {base_ips:10.1f} images/s  ({base_s * 1000:.1f} ms/step)")
    print(f"fast trainer ({m:2d} runs): {union_ips:10.1f} images/s  ({union_s * 1000:.1f} ms/step for {m} runs; "
          f"warm-up/capture {setup_s:.1f} s)")
    if args.classic:
        print(f"classic packed trainer: {classic_ips:10.1f} images/s")
    print(f"ratio fast/single    : {union_ips / base_ips:.2f}x")
    for what, n in ((f"one protocol ({len(one)} runs)", len(one)), (f"both protocols ({len(both)} runs)", len(both))):
        imgs = n * FULL_STEPS * args.batch
        print(f"projected {what}, training only: single runs one after another {imgs / base_ips / 60:.1f} min, "
              f"fast trainer {imgs / union_ips / 60:.1f} min{label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
