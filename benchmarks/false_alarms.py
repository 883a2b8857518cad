"""Walk well-known good models and print every finding archlint gives on them.

    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py                 # torchvision list
    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py --keras         # keras.applications
    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py --timm          # timm
    OMP_NUM_THREADS=1 python benchmarks/false_alarms.py resnet18 vgg11_bn

Models are built with random weights (torchvision: ``weights=None``; timm:
``pretrained=False``; Keras:
``weights=None``, KERAS_BACKEND=torch, saved to .keras in a temporary folder and
linted from the file). Prints, per model, the capture time and the findings;
at the end the totals per rule. The test suite asserts the same lists on a
subset (tests/zoo/test_false_alarms.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.zoo.good_models import (  # noqa: E402
    KERAS_MODELS,
    TIMM_MODELS,
    TORCHVISION_MODELS,
    keras_findings,
    timm_findings,
    torchvision_findings,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--keras", action="store_true", help="keras.applications instead of torchvision")
    ap.add_argument("--timm", action="store_true", help="timm instead of torchvision")
    args = ap.parse_args(argv)
    table = KERAS_MODELS if args.keras else dict.fromkeys(TIMM_MODELS) if args.timm else TORCHVISION_MODELS
    names = args.names or list(table)
    totals: Counter[str] = Counter()
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            try:
                if args.keras:
                    found = keras_findings(name, Path(tmp))
                elif args.timm:
                    found = timm_findings(name)
                else:
                    found = torchvision_findings(name)
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"{name}: FAILED {type(e).__name__}: {str(e).splitlines()[0][:200]}", flush=True)
                continue
            dt = time.perf_counter() - t0
            print(f"{name}: {len(found)} findings ({dt:.1f} s)", flush=True)
            for f in found:
                totals[f.code] += 1
                print(f"  {f.code} {f.severity.label} {f.layer}: {f.message[:160]}", flush=True)
    print(f"total {sum(totals.values())} findings on {len(names)} models in {time.perf_counter() - t_all:.0f} s: "
          + ", ".join(f"{c} {n}" for c, n in sorted(totals.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
