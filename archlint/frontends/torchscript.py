"""``.pt`` / ``.pth`` / ``.ts`` files: TorchScript archives, pickled modules, state dicts.

- A TorchScript archive (a zip with ``<name>/code/`` and ``<name>/constants.pkl``)
  is refused unless ``--trust`` is given: ``torch.jit.load`` runs the
  archive's own code (a class's ``__setstate__`` can call
  ``torch.from_file(path, shared=True)`` and so create or overwrite any file,
  read files, loop or allocate without bound). With ``--trust`` it is loaded
  and its inlined graph is mapped by the shared ATen table.
- A pickled whole ``nn.Module`` (``torch.save(model)``) can only be read by
  running code the file names; it is refused unless ``--trust`` is given.
  Detection scans the pickle opcodes without unpickling anything.
- A file holding only tensors (a ``state_dict``) has weights but no
  architecture: say so.
"""

from __future__ import annotations

import io
import collections
import pickletools
import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

from archlint.errors import LoadError
from archlint.frontends import LoadOptions
from archlint.frontends._aten import ANode, TRef, build
from archlint.graph import Graph

#: pickle globals torch writes for tensors and plain containers (safe to name)
_SAFE_GLOBAL = re.compile(
    r"^(torch\._utils\._rebuild_\w+|torch\.\w*Storage|torch\.storage\.\w+|torch\.(float|half|bfloat16|int|long|bool|uint8|int8|int16|double)\w*"
    r"|torch\._tensor\._rebuild_from_type_v2|torch\.Size|torch\.device|torch\.nn\.parameter\.Parameter"
    r"|collections\.OrderedDict|(__builtin__|builtins)\.(set|frozenset|slice|complex|bytearray)|_codecs\.encode"
    r"|numpy\.core\.multiarray\._reconstruct|numpy\.dtype|numpy\.ndarray|numpy\._core\.multiarray\._reconstruct)$"
)


#: the most pickle bytes read to scan for globals (the pickle of a module is small; tensors live elsewhere)
MAX_PICKLE_BYTES = 256 * 1024 * 1024


def _pickle_bytes(path: Path) -> tuple[str, bytes | None, list[str]]:
    """(kind, pickle bytes, zip member names): kind is torchscript, zip, pickle or other."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if any("/code/" in n for n in names) and any(n.endswith("constants.pkl") for n in names):
                return "torchscript", None, names
            data = [n for n in names if n.endswith("data.pkl")]
            if not data:
                return "zip", None, names
            info = zf.getinfo(data[0])
            if info.file_size > MAX_PICKLE_BYTES:  # a zip bomb: never inflate it
                raise LoadError(path, f"data.pkl is {info.file_size:,} bytes uncompressed, more than archlint reads")
            return "zip", zf.read(info), names
    with open(path, "rb") as f:
        head = f.read(2)
        if head[:1] == b"\x80":
            f.seek(0)
            data = f.read(MAX_PICKLE_BYTES + 1)  # bounded, whatever the file is
            if len(data) > MAX_PICKLE_BYTES:
                raise LoadError(path, f"a pickle of more than {MAX_PICKLE_BYTES:,} bytes, more than archlint reads")
            return "pickle", data, []
    return "other", None, []


#: memo entries and characters of a string kept by the opcode scan
MAX_MEMO = 100_000
MAX_NAME = 512
#: opcodes scanned in all (a ResNet-50 state_dict has about 10,000)
MAX_OPCODES = 1_000_000


def pickle_globals(data: bytes, max_pickles: int = 8) -> list[str]:
    """Every ``module.name`` a pickle refers to (GLOBAL / STACK_GLOBAL), in order,
    found by reading opcodes only (nothing is unpickled). Successive pickles
    are read too (the legacy torch.save layout writes several, then raw data)."""
    refs: list[str] = []
    stream = io.BytesIO(data)
    seen = 0
    for i in range(max_pickles):
        if stream.tell() >= len(data):
            break
        # bounded memory whatever the opcodes: only the last two strings matter (STACK_GLOBAL), and
        # at most MAX_MEMO memo entries are kept (a 40 KB zip of 1-byte MEMOIZE opcodes inflates to
        # tens of millions); a name past the cap reads as another string, and the file is refused
        # without --trust either way
        strings: collections.deque[str] = collections.deque(maxlen=2)
        memo: dict[int, str] = {}
        dropped = 0  # memo entries past the cap: counted (MEMOIZE numbers by size), not kept
        try:
            for op, arg, _pos in pickletools.genops(stream):
                seen += 1
                if seen > MAX_OPCODES:  # bounded time too: a real torch.save pickle has far fewer
                    refs.append(f"<more than {MAX_OPCODES:,} pickle opcodes: not scanned further>")
                    return refs
                if op.name in _STRING_OPS:
                    strings.append(str(arg)[:MAX_NAME])
                elif op.name in ("BINPUT", "LONG_BINPUT", "PUT") and strings:
                    if len(memo) < MAX_MEMO or int(arg) in memo:
                        memo[int(arg)] = strings[-1]
                    else:
                        dropped += 1
                elif op.name == "MEMOIZE" and strings:
                    if len(memo) < MAX_MEMO:
                        memo[len(memo) + dropped] = strings[-1]
                    else:
                        dropped += 1
                elif op.name in ("BINGET", "LONG_BINGET", "GET") and int(arg) in memo:
                    strings.append(memo[int(arg)])
                elif op.name == "GLOBAL" and len(refs) < MAX_MEMO:
                    refs.append(str(arg)[:MAX_NAME].replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(refs) < MAX_MEMO:
                    refs.append(f"{strings[-2]}.{strings[-1]}" if len(strings) >= 2 else "?.?")
        except Exception:  # noqa: BLE001 - not (or no longer) a pickle
            if i == 0:
                refs.append("<unreadable pickle>")
            break
    return refs


_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING"}
)


def load(target: str, options: LoadOptions) -> Graph:
    p = Path(target)
    try:
        kind, data, _names = _pickle_bytes(p)
    except OSError as e:
        raise LoadError(target, f"cannot read: {e.strerror or e}") from None
    except (zipfile.BadZipFile, NotImplementedError, EOFError, zlib.error, UnicodeDecodeError, ValueError,
            RuntimeError):
        raise LoadError(target, "cannot read: a damaged or unsupported zip archive") from None
    if kind == "torchscript":
        if not options.trust:
            raise LoadError(
                target,
                "a TorchScript archive; loading it runs code from the file (torch.jit.load runs its __setstate__ "
                "methods), so archlint refuses it. Re-run with --trust only if you trust the file, or export the "
                "model with torch.export.save (.pt2) or to ONNX",
            )
        return _load_torchscript(target)
    if data is None:
        raise LoadError(target, "not a TorchScript archive or torch.save file (no code/ and no data.pkl inside)")
    unsafe = [r for r in pickle_globals(data) if not _SAFE_GLOBAL.match(r)]
    if not unsafe:
        raise LoadError(
            target,
            "holds weights (a state_dict of tensors), not an architecture: lint the model that loads them "
            "(pkg.module:make_model) or a torch.export .pt2 / TorchScript file",
        )
    if not options.trust:
        shown = ", ".join(sorted(set(unsafe))[:3])
        raise LoadError(
            target,
            f"a pickled Python object ({shown}); loading it runs code from the file, so archlint refuses it. "
            "Re-run with --trust only if you trust the file, or save the model with torch.export.save (.pt2) "
            "or export it to ONNX",
        )
    return _load_trusted(target, options)


def _load_trusted(target: str, options: LoadOptions) -> Graph:
    from archlint.frontends.torch import DEFAULT_INPUT_SHAPE, import_torch, from_module

    torch = import_torch(target)
    try:
        obj = torch.load(target, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - the file's own code may raise anything
        raise LoadError(target, f"torch.load failed ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict):
        raise LoadError(target, "holds a dict (weights or a checkpoint), not an nn.Module: lint the model that loads it")
    if not isinstance(obj, torch.nn.Module):
        raise LoadError(target, f"holds a {type(obj).__name__}, not a torch.nn.Module")
    shape = tuple(options.input_shape) if options.input_shape else DEFAULT_INPUT_SHAPE
    graph = from_module(obj, shape, name=Path(target).stem, spec=target)
    if not options.input_shape:
        graph.meta.setdefault("notes", []).append(
            f"assumed input shape {'x'.join(map(str, shape))} (pass --input-shape to set it)"
        )
    return graph


_SCOPE = re.compile(r"(\w+)\((\w+)\)")


def _schema_names(schema: str) -> list[str]:
    """Argument names of ``aten::conv2d(Tensor input, Tensor weight, ...) -> Tensor``."""
    inner = schema[schema.find("(") + 1 : schema.rfind(") ->")]
    names, depth, cur = [], 0, ""
    for ch in inner + ",":
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == "," and depth == 0:
            part = cur.split("=")[0].strip().split(" ")[-1] if cur.strip() else ""
            if part.isidentifier():
                names.append(part)
            cur = ""
        else:
            cur += ch
    return names


def _hierarchy(node: Any) -> tuple[str, str | None]:
    try:
        raw = node.getModuleHierarchy()
    except Exception:  # noqa: BLE001
        return "", None
    comps = [(n, c) for n, c in _SCOPE.findall(raw or "") if n not in ("SELF", "UNKNOWN_INSTANCE")]
    if not comps:
        return "", None
    return ".".join(n for n, _ in comps), comps[-1][1]


def _load_torchscript(target: str) -> Graph:
    from archlint.frontends.torch import import_torch

    torch = import_torch(target)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
            module = torch.jit.load(target, map_location="cpu")
    except Exception as e:  # noqa: BLE001
        raise LoadError(target, f"not a loadable TorchScript archive ({type(e).__name__}: {e})") from None
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        shapes[name] = tuple(t.shape)
    graph = module.inlined_graph
    paths: dict[str, str] = {}  # debug name of a GetAttr result -> qualified attribute path
    consts: dict[str, Any] = {}
    inputs = [v.debugName() for v in list(graph.inputs())[1:]]
    nodes: list[ANode] = []
    for n in graph.nodes():
        k = n.kind()
        outs = [o.debugName() for o in n.outputs()]
        ins = list(n.inputs())
        if k == "prim::GetAttr":
            owner = paths.get(ins[0].debugName(), "")
            paths[outs[0]] = f"{owner}.{n.s('name')}" if owner else n.s("name")
            continue
        if k == "prim::Constant":
            try:
                consts[outs[0]] = n.output().toIValue()
            except Exception:  # noqa: BLE001
                consts[outs[0]] = None
            continue
        if k == "prim::ListConstruct":
            consts[outs[0]] = [_ts_value(v, paths, consts) for v in ins]
            continue
        if not k.startswith("aten::"):
            if k in ("prim::TupleUnpack", "prim::ListUnpack") and ins:
                nodes.append(ANode(outs[0], "getitem", {"self": _ts_value(ins[0], paths, consts)}, outs))
            continue
        names = _schema_names(n.schema()) if n.schema() != "(no schema)" else []
        args = {names[i] if i < len(names) else f"arg{i}": _ts_value(v, paths, consts) for i, v in enumerate(ins)}
        path, cls = _hierarchy(n)
        if "output_size" in args and not isinstance(args["output_size"], (int, list)) and path:
            size = getattr(_submodule(module, path), "output_size", None)
            args["output_size"] = size
        tensor_outs = [o.debugName() for o in n.outputs() if o.type().kind() == "TensorType"]
        nodes.append(
            ANode(k.split("::", 1)[1], "aten." + k.split("::", 1)[1], args, tensor_outs,
                  [(path, cls)] if path else [], None)
        )
    outputs = [v.debugName() for v in graph.outputs()]
    return build(Path(target).stem, "torchscript", nodes, inputs, outputs, shapes)


def _submodule(module: Any, path: str) -> Any:
    obj = module
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _ts_value(v: Any, paths: dict[str, str], consts: dict[str, Any]) -> Any:
    name = v.debugName()
    if name in consts:
        return consts[name]
    if name in paths:
        return TRef(paths[name])
    return TRef(name)
