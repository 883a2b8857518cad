"""Build the small CIFAR-10 subset shipped with archlint (validation/assets/cifar10-subset.npz).

    python scripts/make_cifar10_subset.py /work/shared/data/cifar10-jpeg.tar.gz

2,000 training and 500 test images (balanced: the first 200 / 50 of each class in file-name
order), 32x32 RGB uint8, from the CIFAR-10 JPEG set (sha256 45b041e8...). ``archlint validate``
trains image models on it when no --data is given (a proxy task, named so in every output), and
the reference experiments fall back to it when the full JPEG set is not at hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(src: str) -> None:
    from archlint_validation.data import load_imagefolder

    ds = load_imagefolder(Path(src), limit_train=2000, limit_test=500)
    out = ROOT / "validation" / "assets" / "cifar10-subset.npz"
    np.savez_compressed(out, x_train=ds.x_train, y_train=ds.y_train.astype(np.uint8), x_test=ds.x_test,
                        y_test=ds.y_test.astype(np.uint8), classes=np.asarray(ds.identity["classes"]),
                        source_sha256=np.asarray(ds.identity.get("sha256", "")))
    print(out, out.stat().st_size, "bytes", np.bincount(ds.y_train), np.bincount(ds.y_test))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/cifar10-jpeg.tar.gz")
