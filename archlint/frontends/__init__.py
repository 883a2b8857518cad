"""Frontends: the only code that knows a framework. Each is imported lazily,
so linting an ONNX or Keras file never imports torch or tensorflow.

``load_graph(target, options)`` picks the frontend from the target: a file
extension, a SavedModel folder, or a PyTorch factory spec ``pkg.mod:make`` /
``path/file.py:Net``. The frontend's ``load`` only builds the graph;
``load_graph`` then runs the one pass pipeline (:mod:`archlint.graph.passes`:
tie weights, shapes, patterns, the frontend's ``RELABELS``, layouts).
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import re
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, UsageError
from archlint.graph import Graph, GraphError
from archlint.graph.passes import finish

#: file extensions archlint reads, and the frontend module for each
EXTENSIONS: dict[str, str] = {
    ".onnx": "onnx",
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
    ".pt2": "pt2",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".ts": "torchscript",
}
_MAGIC = {
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (Keras .h5)",
    b"PK\x03\x04": "a zip archive (.keras, .pt2 or a torch .pt)",
}
_SPEC = re.compile(r"^(?P<target>[^:]+?):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


#: dtypes ``--input`` accepts (names as torch spells them)
INPUT_DTYPES = ("float32", "float16", "bfloat16", "int64", "int32", "bool")


@dataclass(frozen=True)
class InputSpec:
    """One example input for a PyTorch module: ``--input [NAME=]SHAPE[:DTYPE]``
    (no name: the next positional argument of ``forward``)."""

    name: str | None
    shape: tuple[int, ...]
    dtype: str = "float32"

    def __str__(self) -> str:
        text = "x".join(map(str, self.shape)) + ("" if self.dtype == "float32" else f":{self.dtype}")
        return f"{self.name}={text}" if self.name else text


def parse_shape(text: str, option: str = "--input-shape") -> tuple[int, ...]:
    """``"1x3x224x224"`` (or ``1,3,224,224``) -> ``(1, 3, 224, 224)``."""
    try:
        dims = tuple(int(x) for x in text.lower().replace(",", "x").split("x") if x.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected numbers like 1x3x32x32") from None
    if not dims or any(d <= 0 for d in dims):
        raise UsageError(f"{option} {text!r}: dimensions must be positive")
    return dims


def parse_input(text: str) -> InputSpec:
    """``"input_ids=2x16:int64"`` -> ``InputSpec("input_ids", (2, 16), "int64")``."""
    name: str | None = None
    body = text.strip()
    if "=" in body:
        name, body = (p.strip() for p in body.split("=", 1))
        if not name.isidentifier():
            raise UsageError(f"--input {text!r}: {name!r} is not an argument name (use NAME=SHAPE[:DTYPE])")
    dtype = "float32"
    if ":" in body:
        body, dtype = (p.strip() for p in body.rsplit(":", 1))
        dtype = {"float": "float32", "half": "float16", "long": "int64", "int": "int32"}.get(dtype.lower(), dtype.lower())
        if dtype not in INPUT_DTYPES:
            raise UsageError(f"--input {text!r}: unknown dtype {dtype!r} (use {', '.join(INPUT_DTYPES)})")
    return InputSpec(name, parse_shape(body, f"--input {text!r}:"), dtype)


@dataclass
class LoadOptions:
    """How to load models that need more than a path."""

    trust: bool = False  # allow running code from model files (pickle, Lambda)
    input_shape: tuple[int, ...] | None = None  # for PyTorch modules (the same as one positional --input)
    args: list[str] = field(default_factory=list)  # factory arguments (name=value or value)
    inputs: list[InputSpec] = field(default_factory=list)  # --input values, in order
    time_budget: float | None = 60.0  # seconds to load and check one file (None: no limit)

    def example_inputs(self) -> list[InputSpec]:
        """The inputs the user gave: ``--input-shape`` is the first positional float input."""
        if self.input_shape:
            return [InputSpec(None, tuple(self.input_shape)), *self.inputs]
        return list(self.inputs)


def _lexists(target: str) -> bool:
    """Whether anything is at ``target``: a file, a folder, or a link (dangling
    or self-referencing links too: ``lstat`` never follows them)."""
    try:
        os.lstat(target)
    except (OSError, ValueError):
        return False
    return True


def is_torch_spec(target: str) -> bool:
    """``pkg.module:make_model`` or ``path/file.py:Net``, and nothing at that path.

    Only a target the user typed (command line or config) may be a spec:
    callers never ask this of names found by walking a folder. A path that
    exists as a file or a link, even a dangling one, is never a spec."""
    if _lexists(target):
        return False
    m = _SPEC.match(target)
    if not m:
        return False
    t = m.group("target")
    return t.endswith(".py") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", t) is not None


def check_spec(target: str) -> None:
    """Refuse a spec that looks like a model file name (``evilmod:net.onnx``,
    ``models/evil.py:net.onnx``): a missing file is far likelier than a
    factory attribute named after a model extension, and importing code is
    the wrong way to find out."""
    attr = target.rsplit(":", 1)[1]
    ext = Path(attr).suffix.lower()
    if ext in EXTENSIONS:
        raise LoadError(
            target,
            f"no such file, and not run as a PyTorch factory spec because its attribute ends in '{ext}' "
            "(a model file name with ':' in it?): check the path, or name the factory without the extension",
        )


def regular_file_size(target: str) -> int:
    """The size of the regular file at ``target`` (links followed), or raise
    :class:`LoadError`: FIFOs, devices (a link to /dev/zero), sockets and
    link loops are refused before anything opens them."""
    try:
        st = os.stat(target)
    except OSError as e:
        raise LoadError(target, f"cannot read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        what = (
            "a FIFO" if stat.S_ISFIFO(st.st_mode) else
            "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
            "a socket" if stat.S_ISSOCK(st.st_mode) else "not a file"
        )
        raise LoadError(target, f"is {what}, not a regular file (archlint reads only regular files)")
    return st.st_size


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def is_zip(target: str | Path) -> bool:
    """Whether the file starts with a zip header (read 4 bytes; regular files only)."""
    try:
        if not stat.S_ISREG(os.stat(target).st_mode):
            return False
        with open(target, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def frontend_for(target: str, *, spec_allowed: bool = True) -> str:
    """The frontend module name for a target, or raise :class:`LoadError`.

    ``spec_allowed=False`` (a path found by walking a folder) never picks the
    factory-spec frontend, whatever the name looks like."""
    if spec_allowed and is_torch_spec(target):
        check_spec(target)
        return "torch"
    p = Path(target)
    if is_model_dir(p):
        return "savedmodel"
    if p.is_dir():
        raise LoadError(target, "is a folder, not a model (give a model file or a SavedModel folder)")
    if not _lexists(target):
        raise LoadError(target, "no such file or folder")
    regular_file_size(target)
    ext = p.suffix.lower()
    if ext == ".ts" and not is_zip(target):
        raise LoadError(target, "not a TorchScript archive (no zip header; a TypeScript file?)")
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    hint = ""
    try:
        with open(p, "rb") as f:
            head = f.read(8)
        for magic, what in _MAGIC.items():
            if head.startswith(magic):
                hint = f"; it looks like {what}: rename it with the right extension"
    except OSError:
        pass
    known = ", ".join(sorted(EXTENSIONS))
    raise LoadError(target, f"unsupported file type '{ext or p.name}' (archlint reads {known}, SavedModel folders and module:factory specs){hint}")


@contextlib.contextmanager
def _prints_to_stderr() -> Iterator[None]:
    """Send what a model's own code prints while it is built and captured (a factory, a trusted
    pickle) to stderr, so a JSON or SARIF report on stdout stays valid."""
    sys.stdout.flush()
    with contextlib.redirect_stdout(sys.stderr):
        yield


def load_graph(target: str | Path, options: LoadOptions | None = None, *, spec_allowed: bool = True) -> Graph:
    """Load any supported model into the common graph.

    ``spec_allowed=False`` for paths found by walking a folder: they are read
    as files, never imported as factory specs."""
    target = str(target)
    options = options or LoadOptions()
    name = frontend_for(target, spec_allowed=spec_allowed)
    module = importlib.import_module(f"archlint.frontends.{name}")
    loader: Any = module.load
    # a graph of a million nodes makes millions of objects: without the
    # collector's repeated full passes loading stays linear (and ~35% faster)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if name == "onnx":
            graph = loader(target)
        else:
            with _prints_to_stderr():
                graph = loader(target, options)
        return finish(graph, getattr(module, "RELABELS", ()))
    except GraphError as e:  # broken edges in the file (a value produced twice, ...)
        raise LoadError(target, f"malformed model graph: {e}") from None
    finally:
        if was_enabled:
            gc.enable()
