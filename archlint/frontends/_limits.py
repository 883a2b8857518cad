"""Resource limits shared by the frontends: JSON from model files is parsed
only when its decoded form stays small.

``json.loads`` of a few megabytes of ``[],[],[]...`` builds millions of list
objects (about 30 times the text in memory), and a zip inflates a small file
to that text; so the text is capped in bytes *and* in containers (``[`` and
``{`` counted in the raw bytes before parsing, an upper bound on the lists and
objects it decodes to). Nesting is bounded by the decoder's recursion check
(a clear error, never a crash).
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

from archlint.errors import LoadError

#: most lists and objects one JSON document may decode to (about 60 MB of empty
#: containers); a torch.export graph of 100,000 nodes has about 1.5 million
MAX_JSON_CONTAINERS = 2_000_000


class JSONBombError(LoadError):
    """More JSON lists and objects than archlint decodes (a memory bomb)."""


def parse_json(data: bytes | str, path: str | Path, what: str, *, max_containers: int = MAX_JSON_CONTAINERS) -> Any:
    """``json.loads(data)`` with the container cap; every failure a :class:`LoadError`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    n = raw.count(b"[") + raw.count(b"{")
    if n > max_containers:
        raise JSONBombError(
            path,
            f"{what} holds up to {n:,} JSON lists and objects, more than archlint decodes "
            f"({max_containers:,}): a memory bomb?",
        )
    try:
        return json.loads(data)
    except json.JSONDecodeError as e:
        raise LoadError(path, f"{what} is not valid JSON (line {e.lineno} column {e.colno}: {e.msg})") from None
    except RecursionError:
        raise LoadError(path, f"{what} is nested too deeply to read") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise LoadError(path, f"{what} is not valid JSON ({type(e).__name__})") from None


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str | Path, what: str, max_bytes: int,
                *, max_containers: int = MAX_JSON_CONTAINERS) -> bytes:
    """A zip member's bytes, inflated in 1 MiB chunks and refused as soon as
    they pass ``max_bytes`` or hold more JSON containers than ``max_containers``:
    a deflated run of ``[],[],...`` never grows past the cap in memory."""
    chunks: list[bytes] = []
    size = containers = 0
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                containers += chunk.count(b"[") + chunk.count(b"{")
                if size > max_bytes:
                    raise LoadError(path, f"{what} inflates past {max_bytes // 2**20} MiB, more than archlint reads (zip bomb?)")
                if containers > max_containers:
                    raise LoadError(
                        path,
                        f"{what} holds more than {max_containers:,} JSON lists and objects, more than archlint "
                        "decodes: a memory bomb?",
                    )
                chunks.append(chunk)
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError, zlib.error) as e:
        raise LoadError(path, f"cannot read {what} ({type(e).__name__}: {e})") from None
    return b"".join(chunks)
