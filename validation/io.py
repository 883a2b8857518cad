"""Atomic JSON files and output-folder checks; every OS failure becomes an OutputError."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from . import safeio
from .errors import OutputError


def _clean(obj):
    """JSON-safe copy: NaN/inf become None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_text_atomic(path: Path, text: str, *, root: Path | None = None) -> None:
    """Write ``path`` through the one writer (:func:`safeio.write_bytes`): never through a link below
    ``root`` (default: the file's own folder), atomically."""
    write_bytes_atomic(path, text.encode("utf-8"), root=root)


def write_bytes_atomic(path: Path, data: bytes, *, root: Path | None = None) -> None:
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise OutputError(f"refusing to write {path}: it is outside the output folder {root}") from None
    safeio.write_bytes(root, rel, data)


def write_json_atomic(path: Path, obj, *, root: Path | None = None) -> None:
    write_text_atomic(path, json_text(obj), root=root)


def json_text(obj) -> str:
    return json.dumps(_clean(obj), indent=1, sort_keys=False) + "\n"


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def ensure_writable(folder: Path, *, root: Path | None = None) -> Path:
    """Create ``folder`` (below ``root`` without following links) and prove it takes a file."""
    folder = Path(folder)
    root = Path(root) if root is not None else folder
    rel = folder.relative_to(root) if folder != root else None
    safeio.ensure_dir(root, rel)
    probe = f".write-probe.{os.getpid()}"
    safeio.write_bytes(root, (rel / probe) if rel else probe, b"ok")
    try:
        (folder / probe).unlink()
    except OSError as e:
        raise OutputError(f"output folder {folder} is not writable: {e.strerror or e}") from e
    return folder
