"""ONNX frontend: a ModelProto into the common graph.

Reads with ``load_external_data=False``: weights stored outside the file are
never opened (their shapes are in the initializer headers). Node
``metadata_props`` written by torch's exporter give module paths and
file:line; the legacy exporter's ``/features/features.0/Conv`` names give
module paths too.
"""

from __future__ import annotations

import graphlib
import math
import re
import threading
from array import array
from pathlib import Path
from typing import Any

from archlint.errors import LoadError
from archlint.graph import ExportNote, Graph, GraphBuilder, GraphError, Node, OpKind, SourceLocation, names
from archlint.graph.attrs import matmul_attrs
from archlint.graph.passes import FunctionPass, finish

_ACTIVATIONS = names.activations("onnx")
_NORMS = names.norms("onnx")
#: torch dropout modules -> channel-wise (spatial)
_DROPOUT_MODULES = {module: spatial for module, (_, spatial) in names.dropouts("torch_modules").items()}
_GLOBAL_AXES = ({2, 3}, {-2, -1}, {2, 3, 4}, {-3, -2, -1}, {2})
_RESHAPES = {"Reshape", "Squeeze", "Unsqueeze"}
#: data movement: slices, picks, repeats (understood, no arithmetic)
_VIEWS = {"Slice", "Split", "Expand", "Tile", "GatherElements", "GatherND", "Gather", "SplitToSequence",
          "SequenceAt", "Trilu", "DepthToSpace", "SpaceToDepth"}
#: ops that carry a weight unchanged (as far as its parameter count goes)
_WEIGHT_VIEWS = {"Transpose", "Cast", "Identity", "CastLike"}
#: ops that read only a tensor's shape
_SHAPE_OPS = {"Shape", "Size"}
_RNN_OPS = {"LSTM": ("lstm", 4), "GRU": ("gru", 3), "RNN": ("rnn", 1)}
_PASSTHROUGH = {"Identity", "Cast"}
_FRAME = re.compile(r'File "([^"]+)", line (\d+)')
# torch's own files (not any folder named torch: a user's project may live in one)
_LIB = re.compile(
    r"(site-packages|dist-packages|/onnxscript/|<|[/\\]torch[/\\](nn|fx|export|onnx|jit|utils|autograd|_[a-z_]+)[/\\]"
    r"|[/\\]torch[/\\](functional|__init__|overrides|_[a-z_]+)\.py$)"
)

MAX_NODES = 5_000_000


def load(path: str | Path) -> Graph:
    """Read an ONNX file into a :class:`Graph`; raise :class:`LoadError`."""
    import onnx
    from google.protobuf.message import DecodeError

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as e:
        raise LoadError(path, f"cannot read: {e.strerror or e}") from None
    if size == 0:
        raise LoadError(path, "empty file, not an ONNX model")
    try:
        with open(p, "rb") as f:
            first = f.read(1)
    except OSError as e:
        raise LoadError(path, f"cannot read: {e.strerror or e}") from None
    if first == b"\x00":  # field number 0 is no protobuf field: not ONNX (a sparse file of zeros), unread
        _PREFETCH.pop(str(p.resolve()), None)
        raise LoadError(path, "not an ONNX model (it starts with a zero byte, which no protobuf message does)")
    try:
        data = _prefetched(p)
        if data is not None:
            model = onnx.ModelProto()
            model.ParseFromString(data)  # what onnx.load does; external data never read
            del data
        else:
            model = onnx.load(str(p), load_external_data=False)
    except DecodeError as e:
        raise LoadError(path, f"not a valid ONNX model (protobuf decode failed: {e})") from None
    except (OSError, ValueError, RuntimeError, TypeError) as e:
        raise LoadError(path, f"not a valid ONNX model ({type(e).__name__}: {e})") from None
    if not model.HasField("graph") or (model.ir_version == 0 and not model.graph.node):
        raise LoadError(path, "not an ONNX model (no graph; is the file truncated?)")
    clean_strings(model)
    try:
        return build_model(model, name=p.stem, base_dir=str(p.parent))
    except GraphError as e:
        raise LoadError(path, f"malformed ONNX graph: {e}") from None


_PREFETCH: dict[str, tuple[threading.Thread, list[bytes]]] = {}
#: bytes prefetched in all (the first files named, each whole): the others are read when linted
PREFETCH_MAX_BYTES = 256 << 20


def prefetch(paths: list[str]) -> None:
    """Start reading ONNX files in background threads (file reads release the
    GIL), so the bytes are in memory by the time the imports of a CLI run are
    done. Only a speed-up: :func:`load` reads the file itself when a prefetch
    is missing or failed. At most :data:`PREFETCH_MAX_BYTES` are held in all."""
    left = PREFETCH_MAX_BYTES
    for raw in paths:
        p = Path(raw)
        try:
            if p.suffix.lower() != ".onnx" or not p.is_file():
                continue
            size = p.stat().st_size
        except OSError:
            continue
        if size > left:
            continue
        left -= size
        box: list[bytes] = []

        def read(p: Path = p, box: list[bytes] = box, size: int = size) -> None:
            try:
                with open(p, "rb") as f:  # at most what was counted: a file growing meanwhile is read later
                    blob = f.read(size + 1)
                if len(blob) <= size:
                    box.append(blob)
            except (OSError, MemoryError):
                pass

        t = threading.Thread(target=read, name=f"archlint-prefetch:{p.name}", daemon=True)
        _PREFETCH[str(p.resolve())] = (t, box)
        t.start()


def _prefetched(p: Path) -> bytes | None:
    entry = _PREFETCH.pop(str(p.resolve()), None)
    if entry is None:
        return None
    thread, box = entry
    thread.join()
    return box[0] if box else None


def _text(x: str | bytes) -> str:
    """A protobuf string field as text: upb hands back ``bytes`` when the
    stored bytes are not UTF-8; escape them (injective, so names stay unique)."""
    return x if isinstance(x, str) else x.decode("utf-8", "backslashreplace")


def _fix_repeated(field: Any) -> None:
    if any(isinstance(x, bytes) for x in field):
        fixed = [_text(x) for x in field]
        del field[:]
        field.extend(fixed)


def clean_strings(model: Any) -> None:
    """Replace non-UTF-8 string fields that archlint reads with escaped text,
    in place, so names with invalid bytes give findings instead of a crash."""
    for msg, names in ((model, ("producer_name", "producer_version", "domain")),):
        for f in names:
            v = getattr(msg, f)
            if isinstance(v, bytes):
                setattr(msg, f, _text(v))
    for o in model.opset_import:
        if isinstance(o.domain, bytes):
            o.domain = _text(o.domain)
    g = model.graph
    for coll in (g.input, g.output, g.value_info, g.initializer):
        for x in coll:
            if isinstance(x.name, bytes):
                x.name = _text(x.name)
    for n in g.node:
        for f in ("name", "op_type", "domain"):
            v = getattr(n, f)
            if isinstance(v, bytes):
                setattr(n, f, _text(v))
        _fix_repeated(n.input)
        _fix_repeated(n.output)
        for a in n.attribute:
            if isinstance(a.name, bytes):
                a.name = _text(a.name)
        for p in n.metadata_props:
            if isinstance(p.key, bytes) or isinstance(p.value, bytes):
                p.key, p.value = _text(p.key), _text(p.value)


def _static_value(t: Any) -> list[float] | None:
    """Small constant tensors (shapes, axes, rates) as a flat list."""
    from onnx import numpy_helper

    if not hasattr(t, "dims") or not hasattr(t, "data_location"):  # an attribute of another type: unknown
        return None
    n = math.prod(t.dims) if t.dims else 1
    if n > 64 or t.data_location == 1:  # external data is never read
        return None
    try:
        return [float(x) for x in numpy_helper.to_array(t).reshape(-1).tolist()]
    except Exception:  # noqa: BLE001 - malformed constant: treat as unknown
        return None


#: the type each attribute archlint reads must have; a value of another type
#: (a hostile or broken file) is treated as absent
_ATTR_TYPES: dict[str, str] = {
    **dict.fromkeys(("kernel_shape", "strides", "dilations", "pads", "axes"), "ints"),
    **dict.fromkeys(("group", "transB", "axis", "keepdims", "training_mode"), "int"),
    **dict.fromkeys(("epsilon", "momentum", "ratio", "min", "max"), "float"),
    "auto_pad": "bytes",
}


def _typed(value: Any, want: str | None) -> bool:
    if want is None:
        return True
    if want == "ints":
        return isinstance(value, (list, tuple)) and all(isinstance(x, int) for x in value)
    if want == "int":
        return isinstance(value, int)
    if want == "float":
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, (bytes, str))


def _attr(node: Any, name: str, default: Any = None) -> Any:
    from onnx import helper

    for a in node.attribute:
        if a.name == name:
            try:
                value = helper.get_attribute_value(a)
            except Exception:  # noqa: BLE001
                return default
            return value if _typed(value, _ATTR_TYPES.get(name)) else default
    return default


def _module_path_from_legacy(name: str) -> str | None:
    """``/layer2/layer2.0/downsample/downsample.0/Conv`` -> ``layer2.0.downsample.0``: each
    scope names a module relative to its parent, repeating the parent's own attribute
    name when the parent is a container (``downsample`` -> ``downsample.0``)."""
    parts = [c for c in name.split("/") if c]
    if len(parts) < 2:
        return None
    path = ""
    last = ""
    for comp in parts[:-1]:
        if path and last and comp.startswith(last + "."):
            path = path + comp[len(last):]
        elif path:
            path = f"{path}.{comp}"
        else:
            path = comp
        last = comp
    return path or None


def _scopes(meta: dict[str, str]) -> list[str] | None:
    raw = meta.get("pkg.torch.onnx.name_scopes")
    if not raw:
        return None
    try:
        import ast

        val = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    return [str(x) for x in val] if isinstance(val, list) else None


def _layer_and_source(node: Any, meta: dict[str, str]) -> tuple[str, SourceLocation | None]:
    layer = None
    scopes = _scopes(meta)
    if scopes:
        inner = [s for s in scopes[1:-1] if s]
        layer = inner[-1] if inner else scopes[-1]
    if not layer and node.name.startswith("/"):
        layer = _module_path_from_legacy(node.name)
    if not layer:
        layer = node.name or (node.output[0] if node.output else node.op_type)
    source = None
    trace = meta.get("pkg.torch.onnx.stack_trace")
    if trace:
        frames = _FRAME.findall(trace)
        user = [(f, ln) for f, ln in frames if not _LIB.search(f)]
        if user:
            f, ln = user[-1]
            source = SourceLocation(f, int(ln))
    return layer, source


def _module_class(meta: dict[str, str]) -> str | None:
    raw = meta.get("pkg.torch.onnx.class_hierarchy")
    if not raw:
        return None
    classes = re.findall(r"'([^']+)'", raw)
    mods = [c for c in classes if not c.startswith("aten.")]
    return mods[-1] if mods else None


def _topological_positions(nodes: list[Any], produced_outside: set[str]) -> list[int]:
    """The positions of the nodes in topological order over value names, by the standard
    library's :class:`graphlib.TopologicalSorter` (:func:`_graphlib_order`);
    raises on a cycle.

    Most files are already in that order (an exporter writes a chain in
    order), and one linear pass tells: the file order is the one graphlib
    gives exactly when every producer a node reads comes before it and the
    last of them never steps back from one node to the next (a node becomes
    ready when its last producer is done, and ready nodes leave in the order
    they became ready). The file order is then kept without building the sorter."""
    producer: dict[str, int] = {}
    unseen: set[str] = set()  # names read before any node produced them (graph inputs, or a file out of order)
    last = -1
    in_order = True
    for i, n in enumerate(nodes):
        if in_order:
            key = -1
            for x in n.input:
                if x and x not in produced_outside:
                    p = producer.get(x)
                    if p is None:
                        unseen.add(x)
                    elif p > key:
                        key = p
            if key < last:
                in_order = False
            last = key
        for o in n.output:
            if o:
                producer.setdefault(o, i)
    if in_order and unseen.isdisjoint(producer):
        return list(range(len(nodes)))
    return _graphlib_order(nodes, _producers_read(nodes, produced_outside))


def _toposort(nodes: list[Any], produced_outside: set[str]) -> list[Any]:
    """The nodes in topological order (:func:`_topological_positions`); raises on a cycle."""
    return [nodes[i] for i in _topological_positions(nodes, produced_outside)]


def _producers_read(nodes: list[Any], produced_outside: set[str]) -> list[set[int]]:
    """For each node, the positions of the nodes whose outputs it reads."""
    producer: dict[str, int] = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            if o:
                producer.setdefault(o, i)
    return [{producer[x] for x in n.input if x and x in producer and x not in produced_outside} for n in nodes]


def _graphlib_order(nodes: list[Any], deps: list[set[int]]) -> list[int]:
    """Kahn's first-ready-first-out order by :class:`graphlib.TopologicalSorter` (``deps[i]``: the
    positions node ``i`` waits for); raises on a cycle.

    Taken a wave of ready nodes at a time, the first wave in file order:
    graphlib hands out each next wave in the order the nodes became ready,
    which is Kahn's first-ready-first-out order (a node waits only for its
    producers, branches interleave)."""
    sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
    for i, d in enumerate(deps):
        sorter.add(i, *d)
    try:
        sorter.prepare()
    except graphlib.CycleError:
        pass  # get_ready() still gives every node before the cycle; the check below names one after it
    order: list[int] = []
    ready = sorted(sorter.get_ready())
    while ready:
        order += ready
        sorter.done(*ready)
        ready = list(sorter.get_ready())
    if len(order) != len(nodes):
        placed = set(order)
        stuck = next(nodes[i] for i in range(len(nodes)) if i not in placed)
        raise ValueError(f"the graph has a cycle (through node {stuck.name or stuck.op_type!r})")
    return order


def _shape_of(vi: Any) -> tuple[int | None, ...] | None:
    t = vi.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.tensor_type.shape.dim)


def from_model(model: Any, name: str = "model", base_dir: str | None = None) -> Graph:
    """A ModelProto as a finished graph: built, then the pass pipeline
    (``load_graph`` does the same for a file)."""
    return finish(build_model(model, name, base_dir), RELABELS)


def build_model(model: Any, name: str = "model", base_dir: str | None = None) -> Graph:
    """A ModelProto into the common graph, as built (no passes run yet);
    ``base_dir``: where its external data lives (read only if an executor asks)."""
    g = model.graph
    if len(g.node) > MAX_NODES:
        raise LoadError(name, f"{len(g.node):,} nodes is more than archlint reads ({MAX_NODES:,})")
    inits = {t.name: t for t in g.initializer}
    consts: dict[str, list[float] | None] = {}
    const_dims: dict[str, list[int]] = {t.name: list(t.dims) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant" and n.output:
            t = _attr(n, "value")
            consts[n.output[0]] = _static_value(t) if t is not None and hasattr(t, "dims") else None
            if t is not None and hasattr(t, "dims"):
                const_dims[n.output[0]] = list(t.dims)
    static = set(inits) | set(consts)

    def value_of(vname: str) -> list[float] | None:
        if vname in consts:
            return consts[vname]
        t = inits.get(vname)
        return _static_value(t) if t is not None else None

    nonconst = [n for n in g.node if n.op_type != "Constant"]
    try:
        order = _topological_positions(nonconst, static)
    except ValueError as e:
        raise LoadError(name, str(e)) from None
    ordered = [nonconst[i] for i in order]
    del nonconst
    # weights that pass through Transpose / Cast / Identity on their way to a
    # MatMul (the dynamo exporter writes W^T as Transpose(W)) are still weights
    weight_of: dict[str, str] = {t: t for t in inits}
    for n in ordered:
        if n.op_type in _WEIGHT_VIEWS and n.input and n.input[0] in static and n.output and n.output[0]:
            src = n.input[0]
            d = const_dims.get(src)
            if d is not None and n.op_type == "Transpose":
                perm = _attr(n, "perm") or list(range(len(d)))[::-1]
                d = [d[int(i)] for i in perm] if len(perm) == len(d) and all(0 <= int(i) < len(d) for i in perm) else None
            if d is not None:
                const_dims[n.output[0]] = d
            static.add(n.output[0])
            weight_of[n.output[0]] = weight_of.get(src, src)

    b = GraphBuilder(name, "onnx")
    b.graph.meta.update(
        producer=model.producer_name,
        producer_version=model.producer_version,
        opset=max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=None),
    )
    for vi in g.input:
        if vi.name in static:
            continue
        shape = _shape_of(vi)
        b.add_input(vi.name, shape)

    known_shapes = {vi.name: _shape_of(vi) for vi in list(g.value_info) + list(g.output)}

    # MatMul followed by a bias Add with a constant: one dense layer
    matmuls = [n for n in ordered if n.op_type == "MatMul" and len(n.input) == 2 and n.input[1] in static and n.output]
    consumers: dict[str, list[Any]] = {n.output[0]: [] for n in matmuls}  # the readers of those MatMuls only
    if consumers:
        for n in ordered:
            for x in n.input:
                if x in consumers:
                    consumers[x].append(n)
    fused_add: dict[int, Any] = {}  # id(matmul) -> add node
    skip: set[int] = set()
    for n in matmuls:
        users = consumers[n.output[0]]
        if len(users) == 1 and users[0].op_type == "Add":
            add = users[0]
            others = [x for x in add.input if x != n.output[0]]
            if len(others) == 1 and others[0] in static:
                fused_add[id(n)] = add
                skip.add(id(add))

    # values computed from the graph inputs; nodes reading none of them (random
    # masks, shape constants) are constant subgraphs, not layers
    data_vals = {vi.name for vi in g.input if vi.name not in static}
    for n in ordered:
        if n.op_type in _SHAPE_OPS:
            continue  # a tensor's shape is arithmetic on sizes, not features
        if any(x in data_vals for x in n.input if x):
            data_vals.update(o for o in n.output if o)
    notes: list[ExportNote] = []
    from archlint.frontends._onnx_exec import Recorder

    recorder = Recorder(g, order, data_vals)
    built: list[Node] = []  # the graph nodes, with their positions in ``ordered`` and fused bias adds
    built_at = array("q")
    built_adds: dict[int, Any] = {}
    for pos, n in enumerate(ordered):
        if id(n) in skip or n.op_type in _SHAPE_OPS:
            continue
        data_in = [x for x in n.input if x and x in data_vals]
        if not data_in and data_vals:
            continue
        meta = {p.key: p.value for p in n.metadata_props}
        layer, source = _layer_and_source(n, meta)
        outs = [o for o in n.output if o]
        kind, attrs = _classify(n, data_in, inits, const_dims, value_of)
        if kind is OpKind.MATMUL:
            attrs = matmul_attrs([known_shapes.get(x) for x in data_in], attrs.get("equation"))
        if kind in (OpKind.EMBEDDING, OpKind.DENSE):
            w = n.input[0] if kind is OpKind.EMBEDDING else (n.input[1] if len(n.input) > 1 else "")
            if w in weight_of:
                attrs["weight"] = weight_of[w]
        module_class = _module_class(meta)
        if module_class:
            attrs["module_class"] = module_class
            if module_class.rsplit(".", 1)[-1] in _DROPOUT_MODULES and kind is not OpKind.DROPOUT:
                # the dynamo exporter writes training-mode Dropout2d as mask arithmetic
                spatial = _DROPOUT_MODULES[module_class.rsplit(".", 1)[-1]]
                kind, attrs = OpKind.DROPOUT, {**attrs, "rate": None, "spatial": spatial, "flavour": "decomposed"}
        if id(n) in fused_add:
            add = fused_add[id(n)]
            outs = [o for o in add.output if o]
            bias = [x for x in add.input if x in static][0]
            attrs["bias"] = True
            attrs["params"] = attrs.get("params", 0) + math.prod(const_dims.get(bias, [0]) or [1])
        node = b.add(kind, n.op_type, layer, inputs=data_in, outputs=outs, attrs=attrs, source=source, name=n.name or None)
        if id(n) in fused_add:
            built_adds[len(built)] = fused_add[id(n)]
        built.append(node)
        built_at.append(pos)
        for o in outs[:1]:
            if known_shapes.get(o) is not None:
                node.outputs[0].shape = known_shapes[o]
        rule_name = meta.get("pkg.onnxscript.rewriter.rule_name", "")
        if "FuseBatchNorm" in rule_name:
            bn_layer = layer
            conv_layer = _layer_from_weight(n)
            if conv_layer:  # the metadata names the folded BN; the node is the conv
                node.layer = conv_layer
            notes.append(
                ExportNote(
                    "bn-folded",
                    f"batch norm folded into {n.op_type} by the exporter ({rule_name})",
                    layer=bn_layer,
                    node=node,
                )
            )
        text = f"{n.name} {meta.get('namespace', '')} {module_class or ''}".lower()
        if kind is OpKind.IDENTITY and "dropout" in text:
            notes.append(ExportNote("dropout-removed", "dropout exported as Identity", layer=layer, node=node))
    for o in g.output:
        b.mark_output(o.name)
    graph = b.finish()
    graph.notes = notes
    recorder.defer(built, built_at, built_adds)  # how to run each node (archlint.execute), built when first read
    graph.meta["weights"] = recorder.table(base_dir)
    return graph


def _relabel_flatten(graph: Graph) -> bool:
    """A Reshape that flattens everything after the batch axis is a Flatten."""
    changed = False
    for node in graph.nodes:
        if node.kind is OpKind.RESHAPE and node.op_type == "Reshape" and _flattens_from_1(node):
            node.relabel(OpKind.FLATTEN, axis=1)
            changed = True
    return changed


def _note_hidden(graph: Graph) -> bool:
    """Uncertain notes on layers a PyTorch export hides (after fusion: it reads the norm kinds)."""
    guessed = _guess_hidden(graph, graph.notes)
    graph.notes = graph.notes + guessed
    return bool(guessed)


#: the ONNX frontend's relabels, run by the pass pipeline after shapes and patterns
RELABELS = (FunctionPass("onnx-reshape-to-flatten", _relabel_flatten), FunctionPass("onnx-hidden-layers", _note_hidden))


def _layer_from_weight(n: Any) -> str | None:
    """``conv1.weight`` -> ``conv1``: the module a fused conv's weight came from."""
    w = n.input[1] if len(n.input) > 1 else ""
    return w[: -len(".weight")] if w.endswith(".weight") and len(w) > len(".weight") else None


def _flattens_from_1(node: Any) -> bool:
    """A Reshape of (N, ...) to (N, prod(...)): torch's flatten / x.view(n, -1)."""
    x = node.inputs[0].shape if node.inputs else None
    y = node.output.shape if node.outputs else None
    if y is None or len(y) != 2:
        return False
    target = node.attrs.get("target")
    if x is None:
        return bool(target) and len(target) == 2 and target[1] == -1
    return len(x) >= 3 and x[0] == y[0]


def _guess_hidden(graph: Graph, notes: list[ExportNote]) -> list[ExportNote]:
    """Uncertain notes for PyTorch exports that show no Dropout / BN at all."""
    if str(graph.meta.get("producer", "")).lower() not in ("pytorch", "torch"):
        return []
    convs = sum(1 for _ in graph.of_kind(OpKind.CONV))
    if convs < 2:
        return []
    kinds = {n.kind for n in graph.nodes}
    have = {x.kind for x in notes}
    training = any(
        n.kind is OpKind.BATCH_NORM and (len(n.outputs) > 1 or n.attrs.get("training_mode")) for n in graph.nodes
    )
    out: list[ExportNote] = []
    if OpKind.DROPOUT not in kinds and "dropout-removed" not in have and not training:
        first = next(graph.of_kind(OpKind.CONV))
        out.append(
            ExportNote(
                "dropout-removed",
                "a PyTorch export with no Dropout node: an eval-mode export removes dropout, so whether "
                "the model has dropout cannot be seen",
                node=first,
                certain=False,
            )
        )
    other_norms = bool(kinds & {OpKind.LAYER_NORM, OpKind.RMS_NORM, OpKind.NORM})  # normalises without BN
    if OpKind.BATCH_NORM not in kinds and "bn-folded" not in have and not training and not other_norms:
        first = next(graph.of_kind(OpKind.CONV))
        out.append(
            ExportNote(
                "bn-folded",
                "a PyTorch export with no BatchNormalization node: exporters fold batch norm into the "
                "convolution, so where the model normalises cannot be seen",
                node=first,
                certain=False,
            )
        )
    return out


def _pad_attr(n: Any) -> Any:
    auto = _attr(n, "auto_pad", b"NOTSET")
    auto = auto.decode("utf-8", "replace") if isinstance(auto, bytes) else str(auto)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        return "same"
    if auto == "VALID":
        return "valid"
    pads = _attr(n, "pads")
    return tuple(int(x) for x in pads) if pads else "valid"


def _scalar_operand(ins: list[str], data_in: list[str], value_of: Any) -> dict[str, Any]:
    """The one-element constant operand of an elementwise op, as ``scalar``."""
    for i, x in enumerate(ins):
        if x and x not in data_in:
            v = value_of(x)
            if v is not None and len(v) == 1:
                out: dict[str, Any] = {"scalar": v[0]}
                if i == 0:
                    out["scalar_first"] = True
                return out
    return {}


def _classify(
    n: Any,
    data_in: list[str],
    inits: dict[str, Any],
    dims: dict[str, list[int]],
    value_of: Any,
) -> tuple[OpKind, dict[str, Any]]:
    op = n.op_type
    if n.domain not in ("", "ai.onnx", "ai.onnx.ml"):
        return OpKind.UNKNOWN, {"domain": n.domain}
    ins = list(n.input)

    def d(i: int) -> list[int] | None:
        return dims.get(ins[i]) if i < len(ins) and ins[i] else None

    if op in ("Conv", "ConvTranspose"):
        w = d(1) or []
        group = int(_attr(n, "group", 1) or 1)
        kernel = tuple(int(x) for x in (_attr(n, "kernel_shape") or w[2:]))
        nd = len(kernel)
        transposed = op == "ConvTranspose"
        channels = (w[1] * group if transposed else w[0]) if len(w) >= 2 else None
        in_ch = (w[0] if transposed else w[1] * group) if len(w) >= 2 else None
        bias = d(2)
        params = (math.prod(w) if w else 0) + (math.prod(bias) if bias else 0)
        attrs: dict[str, Any] = {
            "channels": channels,
            "in_channels": in_ch,
            "kernel": kernel,
            "stride": tuple(int(x) for x in (_attr(n, "strides") or [1] * nd)),
            "dilation": tuple(int(x) for x in (_attr(n, "dilations") or [1] * nd)),
            "groups": group,
            "padding": _pad_attr(n),
            "bias": bool(bias),
            "params": params,
            "rank": nd,
        }
        if transposed:
            attrs["transposed"] = True
        if group > 1 and in_ch is not None and group == in_ch:
            attrs["depthwise"] = True
        return OpKind.CONV, attrs
    if op == "Gemm" and len(data_in) == 1:
        w = d(1) or []
        trans_b = int(_attr(n, "transB", 0) or 0)
        units = (w[0] if trans_b else w[1]) if len(w) == 2 else None
        in_f = (w[1] if trans_b else w[0]) if len(w) == 2 else None
        bias = d(2)
        return OpKind.DENSE, {
            "units": units,
            "in_features": in_f,
            "bias": bool(bias),
            "params": (math.prod(w) if w else 0) + (math.prod(bias) if bias else 0),
        }
    if op == "MatMul" and len(data_in) == 1 and len(ins) == 2 and ins[1] not in data_in:
        w = d(1) or []
        return OpKind.DENSE, {
            "units": w[-1] if w else None,
            "in_features": w[-2] if len(w) >= 2 else None,
            "bias": False,
            "params": math.prod(w) if w else 0,
        }
    if op == "BatchNormalization":
        c = d(1)
        return OpKind.BATCH_NORM, {
            "channels": c[0] if c else None,
            "epsilon": _attr(n, "epsilon", 1e-5),
            "momentum": _attr(n, "momentum", 0.9),
            "training_mode": bool(_attr(n, "training_mode", 0)) or len([o for o in n.output if o]) > 1,
            "params": 2 * c[0] if c else 0,
        }
    if op in _NORMS:
        c = d(1)
        kind = names.norm_kind(_NORMS[op])
        return kind, {"norm": _NORMS[op], "params": (1 if op == "RMSNormalization" else 2) * math.prod(c) if c else 0}
    if op == "Dropout":
        rate = _attr(n, "ratio")
        if rate is None and len(ins) > 1 and ins[1]:
            v = value_of(ins[1])
            rate = v[0] if v else None
        if rate is None and not (len(ins) > 1 and ins[1]):
            rate = 0.5
        return OpKind.DROPOUT, {"rate": rate, "spatial": False, "flavour": "dropout"}
    if op in _ACTIVATIONS:
        attrs = {"activation": _ACTIVATIONS[op]}
        if op == "PRelu":
            s = d(1)
            attrs["params"] = math.prod(s) if s else 0
        if op in ("Softmax", "LogSoftmax"):
            attrs["axis"] = _attr(n, "axis", -1)
        return OpKind.ACTIVATION, attrs
    if op == "Clip":
        lo = _attr(n, "min")
        hi = _attr(n, "max")
        if lo is None and len(ins) > 1 and ins[1]:
            v = value_of(ins[1])
            lo = v[0] if v else None
        if hi is None and len(ins) > 2 and ins[2]:
            v = value_of(ins[2])
            hi = v[0] if v else None
        if lo == 0 and hi == 6:
            return OpKind.ACTIVATION, {"activation": "relu6"}
        if lo == 0 and hi is None:
            return OpKind.ACTIVATION, {"activation": "relu"}
        return OpKind.ACTIVATION, {"activation": "clip", "min": lo, "max": hi}
    if op in ("MaxPool", "AveragePool", "LpPool"):
        kernel = tuple(int(x) for x in (_attr(n, "kernel_shape") or ()))
        nd = len(kernel)
        return OpKind.POOL, {
            "pool": {"MaxPool": "max", "AveragePool": "avg", "LpPool": "lp"}[op],
            "kernel": kernel,
            "stride": tuple(int(x) for x in (_attr(n, "strides") or [1] * nd)),
            "dilation": tuple(int(x) for x in (_attr(n, "dilations") or [1] * nd)),
            "padding": _pad_attr(n),
        }
    if op in ("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"):
        return OpKind.GLOBAL_POOL, {"pool": "max" if "Max" in op else "avg", "keepdims": True}
    if op in ("ReduceMean", "ReduceMax") and data_in:
        axes = _attr(n, "axes")
        if axes is None and len(ins) > 1 and ins[1]:
            v = value_of(ins[1])
            axes = [int(x) for x in v] if v else None
        keep = bool(_attr(n, "keepdims", 1))
        if axes is not None and {int(a) for a in axes} in _GLOBAL_AXES:
            return OpKind.GLOBAL_POOL, {
                "pool": "avg" if op == "ReduceMean" else "max",
                "keepdims": keep,
                "axes": tuple(int(a) for a in axes),
            }
        return OpKind.UNKNOWN, {"axes": axes}
    if op == "Gather" and ins and ins[0] in inits and ins[0] not in data_in:
        w = d(0) or []
        return OpKind.EMBEDDING, {"vocab": w[0] if len(w) == 2 else None, "dim": w[1] if len(w) == 2 else None,
                                  "params": math.prod(w) if w else 0}
    if op == "Attention":
        q = None
        heads = _attr(n, "q_num_heads")
        scale = _attr(n, "scale")
        attrs = {"heads": heads, "causal": bool(_attr(n, "is_causal", 0)) or None,
                 "masked": len(ins) > 3 and bool(ins[3])}
        attrs["scale"] = float(scale) if isinstance(scale, (int, float)) else None
        if scale is None:
            attrs["scale_default"] = True
        del q
        return OpKind.ATTENTION, attrs
    if op in _RNN_OPS:
        cell, gates = _RNN_OPS[op]
        hidden = _attr(n, "hidden_size")
        params = sum(math.prod(d(i) or [0]) for i in (1, 2, 3) if d(i))
        dirs = 2 if str(_attr(n, "direction", b"forward")).find("bidirectional") >= 0 else 1
        return OpKind.RNN, {"cell": cell, "units": hidden * dirs if isinstance(hidden, int) else None,
                            "hidden": hidden, "layers": 1, "bidirectional": dirs == 2, "dropout": 0.0,
                            "recurrent_dropout": 0.0, "variational": False, "params": params}
    if op in ("MatMul", "Einsum") and len(data_in) == 2:  # two activations: scores, relative positions
        eq = _attr(n, "equation") if op == "Einsum" else None
        return OpKind.MATMUL, {"equation": eq.decode("utf-8", "replace") if isinstance(eq, bytes) else eq}
    if op == "Transpose":
        perm = _attr(n, "perm")
        return OpKind.RESHAPE, {"perm": [int(x) for x in perm]} if perm else {}
    if op in _VIEWS:
        return OpKind.RESHAPE, {"view": op.lower()}
    if op == "Neg":
        return OpKind.IDENTITY, {"constant_mul": True, "scalar": -1.0}
    if op == "Where":
        return OpKind.IDENTITY, {"constant_where": True, **_scalar_operand(ins, data_in, value_of)}
    if op == "Flatten":
        return OpKind.FLATTEN, {"axis": _attr(n, "axis", 1)}
    if op in _RESHAPES:
        attrs = {}
        if op == "Reshape" and len(ins) > 1:
            v = value_of(ins[1])
            if v is not None:
                attrs["target"] = tuple(int(x) for x in v)
        return OpKind.RESHAPE, attrs
    if op in ("Add", "Sum"):
        if len(data_in) >= 2:
            return OpKind.ADD, {}
        return OpKind.IDENTITY, {"constant_add": True, **_scalar_operand(ins, data_in, value_of)}
    if op == "Mul":
        if len(data_in) >= 2:
            return OpKind.MUL, {}
        return OpKind.IDENTITY, {"constant_mul": True, **_scalar_operand(ins, data_in, value_of)}
    if op in ("Sub", "Div") and len(data_in) == 1:
        return OpKind.IDENTITY, {"constant_" + op.lower(): True, **_scalar_operand(ins, data_in, value_of)}
    if op == "Pow" and len(data_in) == 1:
        return OpKind.UNKNOWN, _scalar_operand(ins, data_in, value_of)
    if op == "Concat":
        return OpKind.CONCAT, {"axis": int(_attr(n, "axis", 1))}
    if op in _PASSTHROUGH:
        return OpKind.IDENTITY, {}
    if op == "Pad":
        return OpKind.PAD, {}
    return OpKind.UNKNOWN, {}
