"""Let ``import torchvision`` work beside a torch whose build its C++ ops do not match.

torchvision ships its operators (``nms``, ``roi_align`` ...) in a compiled
library, ``torchvision/_C``. When that library cannot load (a torchvision
wheel built for CUDA beside a CPU build of torch, or a minor-version skew),
torchvision's Python side still registers *fake* (shape-only) kernels for
``torchvision::nms`` and ``torchvision::qnms`` with
``torch.library.register_fake``, which raises
``RuntimeError: operator torchvision::nms does not exist`` and aborts the
whole ``import torchvision``, model definitions included.

:func:`install` puts a finder on ``sys.meta_path`` that runs once, the first
time ``torchvision`` is imported (importing nothing itself until then). It
loads ``torchvision/_C`` the way torchvision does (``torch.ops.load_library``);
when that works the ops exist and nothing else is touched. When it fails, the
two schemas are defined in a ``FRAGMENT`` library so the fake registrations
succeed. The model definitions then import and run; the detection operators
themselves still cannot run (they have no kernel), so ``torchvision.ops.nms``
and the detection models' post-processing raise when called. (A kernel
registered here would not help: ``torchvision.ops.nms`` checks that the compiled
library loaded before it calls the op.) ``torchvision.ops.roi_align`` does run:
torchvision falls back to its plain-torch implementation when its ops are absent.

Installed by the PyTorch frontend before it imports a model's module, and by the
live Keras reader before it runs a model (keras-hub's SAM 3 imports torchvision
for ``roi_align`` on the torch backend).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from pathlib import Path
from typing import Any

#: schemas torchvision's ``_meta_registrations`` needs to exist (copied from its C++ registration)
SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

_state: dict[str, Any] = {"defined": False, "library": None}


def defined() -> bool:
    """True when this module defined the op schemas (torchvision's own library did not load)."""
    return bool(_state["defined"])


def _extension_path(package_dir: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        p = package_dir / f"_C{suffix}"
        if p.is_file():
            return p
    return None


def _has_op(torch: Any, name: str) -> bool:
    try:
        return hasattr(torch.ops.torchvision, name)
    except Exception:  # noqa: BLE001 - an op namespace that cannot be read has no op
        return False


def prepare(package_dir: Path | None) -> None:
    """Load torchvision's compiled ops, or define the schemas its Python side needs."""
    import torch

    names = [s.split("(", 1)[0] for s in SCHEMAS]
    if all(_has_op(torch, n) for n in names):
        return
    lib_path = _extension_path(package_dir) if package_dir else None
    if lib_path is not None:
        try:
            torch.ops.load_library(str(lib_path))
        except (ImportError, OSError):
            pass
    missing = [s for s, n in zip(SCHEMAS, names) if not _has_op(torch, n)]
    if not missing:
        return
    lib = torch.library.Library("torchvision", "FRAGMENT")
    for schema in missing:
        lib.define(schema)
    _state["library"] = lib  # a Library object unregisters its definitions when collected
    _state["defined"] = True


class _Finder(importlib.abc.MetaPathFinder):
    """Runs :func:`prepare` when ``torchvision`` is first imported, then steps aside."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        if fullname != "torchvision":
            return None
        uninstall()
        spec = importlib.util.find_spec("torchvision")
        locations = list(spec.submodule_search_locations or []) if spec else []
        prepare(Path(locations[0]) if locations else None)
        return None  # the regular finders import it


_finder = _Finder()


def install() -> None:
    """Arrange for :func:`prepare` to run before ``torchvision`` is imported.
    Does nothing when torchvision is already imported or not installed."""
    if "torchvision" in sys.modules or _finder in sys.meta_path:
        return
    if importlib.util.find_spec("torchvision") is None:
        return
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    if _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
