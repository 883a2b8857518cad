"""Frontends: the only code that knows a framework. Each is imported lazily,
so linting an ONNX or Keras file never imports torch or tensorflow.

``load_graph(target, options)`` picks the frontend from the target: a file
extension, a SavedModel folder, or a PyTorch factory spec ``pkg.mod:make`` /
``path/file.py:Net``.
"""

from __future__ import annotations

import gc
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, UsageError
from archlint.graph import Graph, GraphError

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

    def example_inputs(self) -> list[InputSpec]:
        """The inputs the user gave: ``--input-shape`` is the first positional float input."""
        if self.input_shape:
            return [InputSpec(None, tuple(self.input_shape)), *self.inputs]
        return list(self.inputs)


def is_torch_spec(target: str) -> bool:
    """``pkg.module:make_model`` or ``path/file.py:Net`` (and not an existing path)."""
    if Path(target).exists():
        return False
    m = _SPEC.match(target)
    if not m:
        return False
    t = m.group("target")
    return t.endswith(".py") or re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", t) is not None


def is_model_dir(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def frontend_for(target: str) -> str:
    """The frontend module name for a target, or raise :class:`LoadError`."""
    if is_torch_spec(target):
        return "torch"
    p = Path(target)
    if is_model_dir(p):
        return "savedmodel"
    if p.is_dir():
        raise LoadError(target, "is a folder, not a model (give a model file or a SavedModel folder)")
    ext = p.suffix.lower()
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


def load_graph(target: str | Path, options: LoadOptions | None = None) -> Graph:
    """Load any supported model into the common graph."""
    target = str(target)
    options = options or LoadOptions()
    name = frontend_for(target)
    if name not in ("torch",) and not Path(target).exists():
        raise LoadError(target, "no such file or folder")
    module = importlib.import_module(f"archlint.frontends.{name}")
    loader: Any = module.load
    # a graph of a million nodes makes millions of objects: without the
    # collector's repeated full passes loading stays linear (and ~35% faster)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        if name == "onnx":
            return loader(target)
        return loader(target, options)
    except GraphError as e:  # broken edges in the file (a value produced twice, ...)
        raise LoadError(target, f"malformed model graph: {e}") from None
    finally:
        if was_enabled:
            gc.enable()
