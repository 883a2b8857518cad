"""Atomic JSON files and output-folder checks; every OS failure becomes an OutputError."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

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


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise OutputError(f"cannot write {path}: {e.strerror or e}; finished runs are kept in {path.parent}") from e


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(_clean(obj), indent=1, sort_keys=False) + "\n")


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def ensure_writable(folder: Path) -> Path:
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-probe.{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"output folder {folder} is not writable: {e.strerror or e}") from e
    return folder
