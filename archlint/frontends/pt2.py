"""``.pt2`` frontend: a ``torch.export.save`` archive, read without torch.

The archive is a zip whose ``<name>/models/model.json`` holds the exported
graph as JSON (nodes with ``torch.ops.aten.*`` targets, named inputs and
outputs, ``nn_module_stack`` and ``stack_trace`` metadata, tensor shapes).
Only that JSON is read: no torch import, no unpickling, never
``torch.export.load``. The ATen ops are mapped by
:mod:`archlint.frontends._aten`, the table the live-module frontend uses.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from archlint.errors import LoadError, plain_reason
from archlint.frontends import LoadOptions
from archlint.frontends._aten import ANode, Shape, TRef, build
from archlint.frontends._limits import parse_json, read_member
from archlint.graph import Graph

#: the most graph JSON read from a .pt2 (inflated); a large LLM export is tens of MiB
MAX_JSON_BYTES = 128 * 1024 * 1024


def load(target: str, options: LoadOptions | None = None) -> Graph:
    """Read the exported graph of a ``.pt2`` archive; raise :class:`LoadError`."""
    del options
    p = Path(target)
    try:
        zf = zipfile.ZipFile(p)
    except (NotImplementedError, UnicodeDecodeError) as e:  # unknown zip feature, member names not UTF-8
        raise LoadError(target, f"the .pt2 archive uses an unsupported zip feature ({type(e).__name__})") from None
    except zipfile.BadZipFile:
        raise LoadError(target, "not a .pt2 archive (not a zip file; was it written by torch.export.save?)") from None
    except OSError as e:
        raise LoadError(target, f"cannot read: {e.strerror or e}") from None
    with zf:
        names = [n for n in zf.namelist() if n.endswith("/models/model.json") or n == "models/model.json"]
        if not names:
            names = [n for n in zf.namelist() if "/models/" in n and n.endswith(".json")]
        if not names:
            raise LoadError(target, "a zip without models/model.json: not a torch.export.save archive")
        info = zf.getinfo(sorted(names)[0])
        if info.file_size > MAX_JSON_BYTES:
            raise LoadError(target, f"the exported graph JSON is {info.file_size:,} bytes, more than archlint reads")
        raw = read_member(zf, info, target, "the exported graph JSON", MAX_JSON_BYTES)
        doc = parse_json(raw, target, "the exported graph JSON")
        del raw
    try:
        return from_json(doc, name=p.stem)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as e:
        raise LoadError(target, f"unexpected exported graph layout: {plain_reason(e)}") from None


def _value(arg: dict[str, Any]) -> Any:
    """One serialized argument as a plain value; tensors as :class:`TRef`."""
    if not isinstance(arg, dict) or not arg:
        return None
    kind, v = next(iter(arg.items()))
    if kind == "as_tensor":
        return TRef(v["name"])
    if kind in ("as_tensors", "as_optional_tensors"):
        out = []
        for t in v:
            if isinstance(t, dict) and "as_tensor" in t:
                out.append(TRef(t["as_tensor"]["name"]))
            elif isinstance(t, dict) and "name" in t:
                out.append(TRef(t["name"]))
            else:
                out.append(None)
        return out
    if kind == "as_none":
        return None
    if kind in ("as_int", "as_float", "as_bool", "as_string", "as_ints", "as_floats", "as_bools", "as_strings"):
        return v
    if kind == "as_sym_int":
        return v.get("as_int") if isinstance(v, dict) else None
    if kind == "as_sym_ints":
        return [x.get("as_int") if isinstance(x, dict) else None for x in v]
    return None


def _outputs(outs: list[dict[str, Any]]) -> list[str]:
    names = []
    for o in outs:
        if "as_tensor" in o:
            names.append(o["as_tensor"]["name"])
        elif "as_tensors" in o:
            names += [t["name"] for t in o["as_tensors"] if isinstance(t, dict) and "name" in t]
    return names


def _module_stack(raw: str | None) -> list[tuple[str, str]]:
    """``key,path,cls;key,path,cls`` -> [(path, cls)]."""
    if not raw:
        return []
    out = []
    for item in raw.split(";"):
        parts = item.split(",")
        if len(parts) < 3:
            continue
        out.append((",".join(parts[1:-1]), parts[-1]))
    return out


def _dim(d: Any) -> int | None:
    if isinstance(d, dict) and isinstance(d.get("as_int"), int):
        return int(d["as_int"])
    return None


def from_json(doc: dict[str, Any], name: str = "model") -> Graph:
    """Map the ``model.json`` document of a ``.pt2`` archive."""
    gm = doc["graph_module"]
    g = gm["graph"]
    shapes: dict[str, Shape | None] = {
        k: tuple(_dim(d) for d in t.get("sizes", [])) for k, t in g.get("tensor_values", {}).items()
    }
    sig = gm.get("signature", {})
    inputs = []
    for spec in sig.get("input_specs", []):
        if "user_input" in spec:
            arg = spec["user_input"]["arg"]
            if "as_tensor" in arg:
                inputs.append(arg["as_tensor"]["name"])
    outputs = []
    for spec in sig.get("output_specs", []):
        if "user_output" in spec:
            arg = spec["user_output"]["arg"]
            if "as_tensor" in arg:
                outputs.append(arg["as_tensor"]["name"])
    nodes = []
    for i, n in enumerate(g.get("nodes", [])):
        meta = n.get("metadata") or {}
        outs = _outputs(n.get("outputs", []))
        nodes.append(
            ANode(
                name=n.get("name") or (outs[0] if outs else f"node{i}"),
                target=str(n.get("target", "")),
                args={a.get("name", f"arg{j}"): _value(a.get("arg")) for j, a in enumerate(n.get("inputs", []))},
                outputs=outs,
                module_stack=_module_stack(meta.get("nn_module_stack")),
                stack_trace=meta.get("stack_trace"),
            )
        )
    graph = build(name, "pt2", nodes, inputs, outputs, shapes)
    graph.meta["torch_version"] = doc.get("torch_version")
    return graph
