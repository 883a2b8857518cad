"""Apply a rewrite's edits to an ONNX model (the protobuf, initialisers kept).

Nodes of archlint's graph are found in the file by the values they produce (a
graph node's first output is the ONNX value of the same name). New nodes are
named ``archlint_fix/...``; new tensors get fresh names, so an initialiser that
other nodes share is never changed in place. Value infos are cleared and shapes
inferred again after the edits, since a rewrite may change them.
"""

from __future__ import annotations

import math
from typing import Any

from archlint.errors import ArchlintError
from archlint.fixes.edits import Delete, Edit, Insert, Move, NewLayer, Remove, Resize, SetAttrs, SetLoss, fresh_name
from archlint.graph import Node, OpKind

_ACT_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax", "elu": "Elu",
            "gelu": "Gelu", "selu": "Selu", "softplus": "Softplus", "log_softmax": "LogSoftmax"}
#: the metadata torch's exporter writes for a module; archlint's ONNX reader takes it as the layer's class
_CLASS_KEY = "pkg.torch.onnx.class_hierarchy"


class Unsupported(ArchlintError):
    """An edit this writer cannot make in this file (the rewrite is skipped, the finding stays)."""


class OnnxEditor:
    """Edits one in-memory ``onnx.ModelProto``; :meth:`finish` writes the node list back."""

    def __init__(self, model: Any, created: set[str] | None = None) -> None:
        import onnx

        #: names of the nodes rewrites added (across rounds): unused ones are dropped at the end
        self.created = created if created is not None else set()
        self.onnx = onnx
        self.model = model
        self.nodes = [_copy(n) for n in model.graph.node]
        self.inits = {t.name: t for t in model.graph.initializer}
        self.graph_outputs = {o.name for o in model.graph.output}
        self.opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)
        self._names = {n.name for n in self.nodes} | {o for n in self.nodes for o in n.output} | set(self.inits)
        self._names |= {i.name for i in model.graph.input}

    # -- lookup --------------------------------------------------------------
    def fresh(self, stem: str) -> str:
        return fresh_name(stem, self._names)

    def producer(self, value: str) -> Any:
        for n in self.nodes:
            if value in n.output:
                return n
        raise Unsupported(f"no ONNX node produces {value!r}")

    def node_of(self, g: Node) -> Any:
        if not g.outputs:
            raise Unsupported(f"'{g.layer}' has no output")
        return self.producer(g.outputs[0].name)

    def consumers(self, value: str) -> list[Any]:
        return [n for n in self.nodes if value in n.input]

    def init_array(self, name: str) -> Any:
        from onnx import numpy_helper

        t = self.inits.get(name)
        if t is not None:
            return numpy_helper.to_array(t)
        for n in self.nodes:
            if n.op_type == "Constant" and name in n.output:
                for a in n.attribute:
                    if a.name == "value":
                        return numpy_helper.to_array(a.t)
        raise Unsupported(f"{name!r} is computed, not stored: cannot rewrite it")

    def add_init(self, stem: str, array: Any) -> str:
        from onnx import numpy_helper

        name = self.fresh(stem)
        t = numpy_helper.from_array(array, name)
        self.model.graph.initializer.append(t)
        self.inits[name] = self.model.graph.initializer[-1]
        return name

    def make(self, op: str, inputs: list[str], outputs: list[str], stem: str, **attrs: Any) -> Any:
        n = self.onnx.helper.make_node(op, inputs, outputs, name=self.fresh(stem), **attrs)
        self.created.add(n.name)
        return n

    def place(self, new: Any, *, after: Any = None, before: Any = None) -> None:
        i = self.nodes.index(after) + 1 if after is not None else self.nodes.index(before)
        self.nodes.insert(i, new)

    def rename_uses(self, old: str, new: str, *, skip: Any = None) -> None:
        for n in self.nodes:
            if n is skip:
                continue
            for i, x in enumerate(n.input):
                if x == old:
                    n.input[i] = new

    # -- edits ---------------------------------------------------------------
    def apply(self, edit: Edit) -> None:
        if isinstance(edit, Remove):
            self.remove(edit.node)
        elif isinstance(edit, Delete):
            self.delete(edit.node)
        elif isinstance(edit, SetAttrs):
            self.set_attrs(edit)
        elif isinstance(edit, Insert):
            self.insert(edit.anchor, edit.where, edit.new)
        elif isinstance(edit, Move):
            self.move(edit.node, edit.before)
        elif isinstance(edit, Resize):
            self.resize(edit.node, edit.in_features)
        elif isinstance(edit, SetLoss):
            raise Unsupported("an ONNX file carries no loss")
        else:  # pragma: no cover - the edit types are closed
            raise Unsupported(f"unknown edit {edit!r}")

    def _take_out(self, g: Node) -> tuple[Any, str, str]:
        """Disconnect ``g``'s node: its readers read its data input. Returns (node, x, y)."""
        if not g.inputs:
            raise Unsupported(f"'{g.layer}' has no data input")
        n = self.node_of(g)
        x, y = g.inputs[0].name, g.outputs[0].name
        if y in self.graph_outputs:
            # keep the model's output name: the layer that produced x now produces y
            p = self.producer(x) if any(x in m.output for m in self.nodes) else None
            if p is None or x in self.graph_outputs:
                ident = self.make("Identity", [x], [y], "identity")
                self.place(ident, after=n)
                self.nodes.remove(n)
                return n, x, y
            p.output[list(p.output).index(x)] = y
            self.rename_uses(x, y)
            self.nodes.remove(n)
            return n, y, y
        self.rename_uses(y, x, skip=n)
        self.nodes.remove(n)
        return n, x, y

    def remove(self, g: Node) -> None:
        self._take_out(g)

    def delete(self, g: Node) -> None:
        n = self.node_of(g)
        self.nodes.remove(n)
        if g.op_type == "MatMul" and g.attrs.get("bias") and n.op_type == "Add":
            for x in n.input:  # the MatMul of a fused dense layer
                if any(x in m.output for m in self.nodes):
                    p = self.producer(x)
                    if p.op_type == "MatMul":
                        self.nodes.remove(p)

    def move(self, g: Node, before: Node) -> None:
        """Take ``g`` out and put it on ``before``'s data input."""
        target = self.node_of(before)
        n, _x, _y = self._take_out(g)
        x2 = before.inputs[0].name
        out = self.fresh(f"{g.outputs[0].name}_moved")
        n.input[0] = x2
        n.output[0] = out  # further outputs (a training-mode batch norm's statistics) stay
        for i, v in enumerate(target.input):
            if v == x2:
                target.input[i] = out
        self.place(n, before=target)

    def set_attrs(self, e: SetAttrs) -> None:
        g, attrs = e.node, e.attrs
        for key, value in attrs.items():
            if key == "rate":
                self._set_rate(g, float(value))
            elif key == "spatial" and value:
                self._spatial_dropout(g)
            elif key == "activation":
                self._set_activation(g, str(value))
            elif key == "bias" and value is False:
                self._drop_bias(g, e.fold_into)
            elif key == "stride":
                n = self.node_of(g)
                if n.op_type not in ("Conv", "MaxPool", "AveragePool"):
                    raise Unsupported(f"'{g.layer}' has no strides")
                kept = [a for a in n.attribute if a.name != "strides"]
                del n.attribute[:]
                n.attribute.extend(kept)
                n.attribute.append(self.onnx.helper.make_attribute("strides", [int(x) for x in value]))
            else:
                raise Unsupported(f"cannot set {key} in an ONNX file")

    def _set_rate(self, g: Node, rate: float) -> None:
        import numpy as np

        n = self.node_of(g)
        if n.op_type != "Dropout":
            raise Unsupported(f"'{g.layer}' is not an ONNX Dropout")
        for a in n.attribute:
            if a.name == "ratio":
                a.f = rate
                return
        name = self.add_init(f"{g.layer}/ratio", np.array(rate, dtype=np.float32))
        if len(n.input) > 1:
            n.input[1] = name
        else:
            n.input.append(name)

    def _spatial_dropout(self, g: Node) -> None:
        """Dropout(x) -> x * Dropout(ones(N, C, 1, ...)): one mask value per channel."""
        import numpy as np

        n = self.node_of(g)
        if n.op_type != "Dropout":
            raise Unsupported(f"'{g.layer}' is not an ONNX Dropout")
        shape = g.inputs[0].shape
        if shape is None or len(shape) < 3:
            raise Unsupported(f"'{g.layer}' reads no feature map")
        x, y = n.input[0], n.output[0]
        stem = g.layer
        shp = self.make("Shape", [x], [self.fresh(f"{stem}/shape")], f"{stem}/shape")
        starts = self.add_init(f"{stem}/starts", np.array([0], dtype=np.int64))
        ends = self.add_init(f"{stem}/ends", np.array([2], dtype=np.int64))
        nc = self.make("Slice", [shp.output[0], starts, ends], [self.fresh(f"{stem}/nc")], f"{stem}/nc")
        ones_tail = self.add_init(f"{stem}/ones", np.ones(len(shape) - 2, dtype=np.int64))
        mshape = self.make("Concat", [nc.output[0], ones_tail], [self.fresh(f"{stem}/mask_shape")], f"{stem}/mask_shape", axis=0)
        one = self.onnx.helper.make_tensor("one", self.onnx.TensorProto.FLOAT, [1], [1.0])
        ones = self.make("ConstantOfShape", [mshape.output[0]], [self.fresh(f"{stem}/mask_ones")], f"{stem}/mask_ones", value=one)
        n.input[0] = ones.output[0]
        mask = self.fresh(f"{stem}/mask")
        n.output[0] = mask
        del n.output[1:]
        mul = self.make("Mul", [x, mask], [y], f"{stem}/apply")
        mul.name, n.name = n.name, mul.name  # the layer keeps its name; the mask's Dropout is new
        self.created.discard(mul.name)
        self.created.add(n.name)
        mul.metadata_props.add(key=_CLASS_KEY, value="['torch.nn.modules.dropout.Dropout2d']")
        i = self.nodes.index(n)
        self.nodes[i:i] = [shp, nc, mshape, ones]
        self.place(mul, after=n)

    def _set_activation(self, g: Node, act: str) -> None:
        n = self.node_of(g)
        if g.kind is not OpKind.ACTIVATION:
            raise Unsupported(f"'{g.layer}' has no activation node to change")
        if act == "linear":
            self.remove(g)
            return
        op = _ACT_OPS.get(act)
        if op is None:
            raise Unsupported(f"no ONNX op for activation {act!r}")
        was_softmax = n.op_type in ("Softmax", "LogSoftmax")
        axis = next((a.i for a in n.attribute if a.name == "axis"), -1) if was_softmax else -1
        if len(n.input) > 1 and n.op_type not in ("PRelu",):
            del n.input[1:]
        n.op_type = op
        del n.attribute[:]
        if op in ("Softmax", "LogSoftmax"):
            n.attribute.append(self.onnx.helper.make_attribute("axis", axis if was_softmax else (1 if self.opset < 13 else -1)))

    def _bias_input(self, g: Node) -> tuple[Any, int | None, Any]:
        """(node, index of the bias input or None for a fused Add, bias array)."""
        n = self.node_of(g)
        if n.op_type in ("Conv", "ConvTranspose", "Gemm") and len(n.input) > 2 and n.input[2]:
            return n, 2, self.init_array(n.input[2])
        if n.op_type == "Add":
            const = [x for x in n.input if x in self.inits or not any(x in m.output for m in self.nodes)]
            if len(const) == 1:
                return n, None, self.init_array(const[0])
        raise Unsupported(f"'{g.layer}' has no stored bias")

    def _drop_bias(self, g: Node, fold_into: Node | None) -> None:
        import numpy as np

        n, idx, bias = self._bias_input(g)
        if fold_into is not None:
            bn = self.node_of(fold_into)
            if bn.op_type != "BatchNormalization" or len(bn.input) < 5:
                raise Unsupported(f"'{fold_into.layer}' is not a batch norm with running statistics")
            mean = self.init_array(bn.input[3]).astype(np.float32)
            b = np.asarray(bias, dtype=np.float32).reshape(-1)
            if b.size not in (1, mean.size):
                raise Unsupported(f"bias of '{g.layer}' does not match '{fold_into.layer}'")
            bn.input[3] = self.add_init(f"{fold_into.layer}/running_mean", mean - b)
        if idx is not None:
            del n.input[idx:]
            return
        # a MatMul + Add dense layer: the Add goes, the MatMul writes its output
        data = [x for x in n.input if x not in self.inits and any(x in m.output for m in self.nodes)]
        mm = self.producer(data[0])
        mm.output[0] = n.output[0]
        self.nodes.remove(n)

    def insert(self, anchor: Node, where: str, new: NewLayer) -> None:
        if where == "before":
            target = self.node_of(anchor)
            if anchor.op_type == "MatMul" and target.op_type == "Add":
                target = self.producer(next(x for x in target.input if any(x in m.output for m in self.nodes)))
            x = anchor.inputs[0].name
            out = self.fresh(f"{new.name}:0")
            made = self._new_nodes(new, x, out)
            for i, v in enumerate(target.input):
                if v == x:
                    target.input[i] = out
            for m in made:
                self.place(m, before=target)
            return
        n = self.node_of(anchor)
        y = anchor.outputs[0].name
        t = self.fresh(f"{y}_pre")
        n.output[list(n.output).index(y)] = t
        made = self._new_nodes(new, t, y)
        for m in reversed(made):
            self.place(m, after=n)

    def _new_nodes(self, new: NewLayer, x: str, y: str) -> list[Any]:
        import numpy as np

        a = new.attrs
        if new.kind is OpKind.ACTIVATION:
            op = _ACT_OPS.get(a.get("activation", "relu"))
            if op is None:
                raise Unsupported(f"no ONNX op for activation {a.get('activation')!r}")
            return [self.make(op, [x], [y], new.name)]
        if new.kind is OpKind.BATCH_NORM:
            c = int(a["channels"])
            ins = [x] + [
                self.add_init(f"{new.name}/{k}", np.full(c, v, dtype=np.float32))
                for k, v in (("gamma", 1.0), ("beta", 0.0), ("running_mean", 0.0), ("running_var", 1.0))
            ]
            return [self.make("BatchNormalization", ins, [y], new.name, epsilon=1e-5, momentum=0.9)]
        if new.kind is OpKind.LAYER_NORM:
            if self.opset < 17:
                raise Unsupported(f"LayerNormalization needs opset 17; the file has {self.opset}")
            d = int(a["dim"])
            scale = self.add_init(f"{new.name}/scale", np.ones(d, dtype=np.float32))
            shift = self.add_init(f"{new.name}/bias", np.zeros(d, dtype=np.float32))
            return [self.make("LayerNormalization", [x, scale, shift], [y], new.name, axis=-1, epsilon=1e-5)]
        if new.kind is OpKind.GLOBAL_POOL and a.get("features_last"):
            # (N, *positions, C) -> (N, C): a mean over the axes between batch and features
            axes = list(range(1, int(a.get("rank", 2)) + 1))
            op = "ReduceMax" if a.get("pool") == "max" else "ReduceMean"
            if self.opset >= 18:
                ax = self.add_init(f"{new.name}/axes", np.array(axes, dtype=np.int64))
                return [self.make(op, [x, ax], [y], new.name, keepdims=0)]
            return [self.make(op, [x], [y], new.name, axes=axes, keepdims=0)]
        if new.kind is OpKind.GLOBAL_POOL:
            op = "GlobalMaxPool" if a.get("pool") == "max" else "GlobalAveragePool"
            return [self.make(op, [x], [y], new.name)]
        if new.kind is OpKind.POOL and a.get("pool") == "avg":
            k = [int(v) for v in a["kernel"]]
            # ceil_mode: the output size of the strided 1x1 convolution it stands in for, odd maps too
            return [self.make("AveragePool", [x], [y], new.name, kernel_shape=k, strides=[int(v) for v in a["stride"]],
                              ceil_mode=1, count_include_pad=0)]
        raise Unsupported(f"cannot add a {new.kind.value} layer to an ONNX file")

    def resize(self, g: Node, in_features: int) -> None:
        """A dense layer now reads C pooled channels instead of C*H*W flattened values:
        its weight is summed over the positions (the same output on a constant map)."""
        n = self.node_of(g)
        if n.op_type == "Add":
            n = self.producer(next(x for x in n.input if any(x in m.output for m in self.nodes)))
        if n.op_type not in ("Gemm", "MatMul") or len(n.input) < 2:
            raise Unsupported(f"'{g.layer}' is not a Gemm or MatMul")
        w = self.init_array(n.input[1])
        trans_b = n.op_type == "Gemm" and any(a.name == "transB" and a.i for a in n.attribute)
        if w.ndim != 2:
            raise Unsupported(f"'{g.layer}' has a {w.ndim}-D weight")
        rows = w.shape[1] if trans_b else w.shape[0]
        if rows % in_features:
            raise Unsupported(f"'{g.layer}' reads {rows} values, not a multiple of {in_features} channels")
        hw = rows // in_features
        if trans_b:
            new = w.reshape(w.shape[0], in_features, hw).sum(axis=2)
        else:
            new = w.reshape(in_features, hw, w.shape[1]).sum(axis=1)
        n.input[1] = self.add_init(f"{g.layer}/weight_pooled", new.astype(w.dtype))

    # -- output ----------------------------------------------------------------
    def finish(self) -> Any:
        """Write the node list back, drop unused initialisers, infer shapes again."""
        g = self.model.graph
        while True:  # nodes a rewrite added whose outputs nothing reads any more (a replaced mask)
            read = {x for n in self.nodes for x in n.input} | {o.name for o in g.output}
            dead = [n for n in self.nodes if (n.name in self.created or n.op_type == "Constant")
                    and not any(o in read for o in n.output if o)]
            if not dead:
                break
            for n in dead:
                self.nodes.remove(n)
        del g.node[:]
        g.node.extend(self.nodes)
        used = {x for n in self.nodes for x in n.input} | {o.name for o in g.output}
        used |= {x for n in self.nodes for a in n.attribute if a.g for m in a.g.node for x in m.input}
        keep = [t for t in g.initializer if t.name in used]
        if len(keep) != len(g.initializer):
            del g.initializer[:]
            g.initializer.extend(keep)
            gone = {i.name for i in g.input} - used - {t.name for t in keep}
            inputs = [i for i in g.input if i.name not in gone or not _is_weight_input(i, self.inits)]
            del g.input[:]
            g.input.extend(inputs)
        del g.value_info[:]
        before = {}
        for o in g.output:
            if o.type.tensor_type.HasField("shape"):
                before[o.name] = self.onnx.TensorShapeProto()
                before[o.name].CopyFrom(o.type.tensor_type.shape)
            o.type.tensor_type.ClearField("shape")
        try:
            inferred = self.onnx.shape_inference.infer_shapes(self.model)
            g.value_info.extend(inferred.graph.value_info)
            shapes = {o.name: o for o in inferred.graph.output}
            for o in g.output:
                if o.name in shapes and shapes[o.name].type.tensor_type.HasField("shape"):
                    o.type.tensor_type.shape.CopyFrom(shapes[o.name].type.tensor_type.shape)
        except Exception:  # noqa: BLE001 - shapes are a convenience; archlint infers its own
            pass
        for o in g.output:  # where inference gave nothing, the shape the file had
            if not o.type.tensor_type.HasField("shape") and o.name in before:
                o.type.tensor_type.shape.CopyFrom(before[o.name])
        return self.model


def _is_weight_input(vi: Any, inits: dict[str, Any]) -> bool:
    return vi.name in inits


def _copy(n: Any) -> Any:
    import onnx

    c = onnx.NodeProto()
    c.CopyFrom(n)
    return c


def prod(xs: Any) -> int:
    return math.prod(int(x) for x in xs)


def _checkpoint(self: OnnxEditor) -> tuple[list[Any], int]:
    return [_copy(n) for n in self.nodes], len(self.model.graph.initializer)


def _restore(self: OnnxEditor, mark: tuple[list[Any], int]) -> None:
    nodes, n_inits = mark
    self.nodes = nodes
    g = self.model.graph
    while len(g.initializer) > n_inits:
        name = g.initializer[-1].name
        del g.initializer[-1]
        self.inits.pop(name, None)


OnnxEditor.checkpoint = _checkpoint  # type: ignore[attr-defined]
OnnxEditor.restore = _restore  # type: ignore[attr-defined]
