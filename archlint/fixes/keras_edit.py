"""Apply a rewrite's edits to a Keras model config (Sequential or Functional,
Keras 3 ``.keras`` or Keras 2 ``.h5``). Layers are found by name at the top level
of the model; an activation built into a layer (``Dense(..., activation="relu")``)
is that layer's ``activation`` field, split out into an ``Activation`` layer where
a new layer must go between the two. Keras is never imported."""

from __future__ import annotations

import copy
from typing import Any

from archlint.fixes.edits import Delete, Edit, Insert, Move, NewLayer, Remove, Resize, SetAttrs, SetLoss, fresh_name
from archlint.fixes.onnx_edit import Unsupported
from archlint.graph import Node, OpKind

_INITS = {"he_normal": "HeNormal", "glorot_uniform": "GlorotUniform"}
_LOSSES = {"binary_crossentropy": "BinaryCrossentropy", "categorical_crossentropy": "CategoricalCrossentropy",
           "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy"}
_ACT_LAYERS = {"ReLU": "relu", "Softmax": "softmax", "ELU": "elu", "LeakyReLU": "leaky_relu", "Activation": None}


class KerasEditor:
    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self.keras2 = doc.keras2
        _layers_of(doc.config)  # a config with no layer list cannot be edited
        self._names = set(_all_names(doc.config))

    # -- helpers ----------------------------------------------------------------
    @property
    def layers(self) -> list[dict[str, Any]]:
        return _layers_of(self.doc.config)

    @staticmethod
    def _name(layer: Any) -> str | None:
        if not isinstance(layer, dict):
            return None
        cfg = layer.get("config")
        return (cfg.get("name") if isinstance(cfg, dict) else None) or layer.get("name")

    def _scope(self, path: str) -> tuple[dict[str, Any], str]:
        """The model config holding layer ``path`` (``block1/conv_a`` is in the nested model
        ``block1``) and the layer's own name."""
        model = self.doc.config
        parts = path.split("/")
        for i, part in enumerate(parts[:-1]):
            inner = next((x for x in _layers_of(model) if self._name(x) == part), None)
            if inner is None or not isinstance((inner.get("config") or {}).get("layers"), list):
                # a name with a slash of its own
                return model, "/".join(parts[i:])
            model = inner
        return model, parts[-1]

    def _is_sequential(self, model: dict[str, Any]) -> bool:
        return model.get("class_name") == "Sequential" or not any(
            isinstance(x, dict) and x.get("inbound_nodes") for x in _layers_of(model))

    def find(self, path: str) -> dict[str, Any]:
        model, name = self._scope(path)
        for x in _layers_of(model):
            if self._name(x) == name:
                return x
        raise Unsupported(f"layer '{path}' is not in the model config")

    def fresh(self, stem: str) -> str:
        return fresh_name(stem, self._names)

    def checkpoint(self) -> Any:
        return copy.deepcopy(self.doc.config), copy.deepcopy(self.doc.meta), self.doc.weights_valid, set(self.doc.reinit)

    def restore(self, mark: Any) -> None:
        self.doc.config, self.doc.meta, self.doc.weights_valid, self.doc.reinit = mark
        self._names = set(_all_names(self.doc.config))

    def finish(self) -> None:
        pass

    def _layer_dict(self, cls: str, cfg: dict[str, Any]) -> dict[str, Any]:
        if self.keras2:
            return {"class_name": cls, "config": cfg, "name": cfg["name"]}
        return {"module": "keras.layers", "class_name": cls, "config": cfg, "registered_name": None, "name": cfg["name"]}

    def _new(self, new: NewLayer) -> dict[str, Any]:
        name = self.fresh(new.name.rsplit("/", 1)[-1])
        a = new.attrs
        if new.kind is OpKind.ACTIVATION:
            return self._layer_dict("Activation", {"name": name, "trainable": True, "activation": a.get("activation", "relu")})
        if new.kind is OpKind.BATCH_NORM:
            return self._layer_dict("BatchNormalization", {"name": name, "trainable": True, "axis": -1, "momentum": 0.99,
                                                           "epsilon": 0.001, "center": True, "scale": True})
        if new.kind is OpKind.LAYER_NORM:
            return self._layer_dict("LayerNormalization", {"name": name, "trainable": True, "axis": -1,
                                                           "epsilon": 1e-6, "center": True, "scale": True})
        if new.kind is OpKind.GLOBAL_POOL:
            rank = int(a.get("rank", 2))
            kind = "Max" if a.get("pool") == "max" else "Average"
            return self._layer_dict(f"Global{kind}Pooling{rank}D", {"name": name, "trainable": True,
                                                                   "data_format": "channels_last", "keepdims": False})
        if new.kind is OpKind.POOL and a.get("pool") == "avg":
            k = [int(v) for v in a["kernel"]]
            return self._layer_dict(f"AveragePooling{len(k)}D", {"name": name, "trainable": True, "pool_size": k,
                                                                "strides": [int(v) for v in a["stride"]],
                                                                "padding": "same", "data_format": "channels_last"})
        raise Unsupported(f"cannot add a {new.kind.value} layer to a Keras model")

    # -- functional wiring ---------------------------------------------------------
    def _inbound_ref(self, layer: dict[str, Any]) -> tuple[str, int, int]:
        """The single tensor a layer reads (its one call, one input)."""
        from archlint.frontends.keras import node_refs

        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise Unsupported(f"layer '{self._name(layer)}' is called {len(nodes)} times")
        refs = node_refs(nodes[0])
        if len(refs) != 1:
            raise Unsupported(f"layer '{self._name(layer)}' reads {len(refs)} tensors")
        return refs[0]

    def _replace(self, obj: Any, old: tuple[str, int, int], new: tuple[str, int, int]) -> Any:
        if isinstance(obj, dict):
            hist = obj.get("keras_history")
            if isinstance(hist, list) and len(hist) >= 3 and tuple(hist[:3]) == old:
                obj["keras_history"] = [new[0], new[1], new[2], *hist[3:]]
                return obj
            for k, v in obj.items():
                obj[k] = self._replace(v, old, new)
            return obj
        if isinstance(obj, list):
            if len(obj) in (3, 4) and tuple(obj[:3]) == old:
                return [new[0], new[1], new[2], *obj[3:]]
            return [self._replace(v, old, new) for v in obj]
        return obj

    def _rewire(self, model: dict[str, Any], old: tuple[str, int, int], new: tuple[str, int, int], *,
                only: str | None = None, skip: str | None = None) -> None:
        body = model["config"]
        for x in _layers_of(model):
            name = self._name(x)
            if name == skip or (only is not None and name != only):
                continue
            if "inbound_nodes" in x:
                x["inbound_nodes"] = self._replace(x["inbound_nodes"], old, new)
        if only is None and "output_layers" in body:
            body["output_layers"] = self._replace(body["output_layers"], old, new)

    def _inbound_for(self, ref: tuple[str, int, int], like: dict[str, Any] | None) -> list[Any]:
        if self.keras2:
            return [[[ref[0], ref[1], ref[2], {}]]]
        tensor = {"class_name": "__keras_tensor__", "config": {"shape": None, "dtype": "float32",
                                                                "keras_history": list(ref)}}
        if like is not None:  # the tensor record of the layer we take the place of, its history updated
            try:
                t = copy.deepcopy(like["inbound_nodes"][0]["args"][0])
                if isinstance(t, dict) and "keras_history" in t.get("config", {}):
                    t["config"]["keras_history"] = list(ref)
                    tensor = t
            except (KeyError, IndexError, TypeError):
                pass
        return [{"args": [tensor], "kwargs": {}}]

    # -- primitive layer moves -----------------------------------------------------
    def _take(self, path: str) -> dict[str, Any]:
        """Take a one-input layer out; its readers read its input."""
        model, name = self._scope(path)
        layer = self.find(path)
        if not self._is_sequential(model):
            src = self._inbound_ref(layer)
            self._rewire(model, (name, 0, 0), src, skip=name)
        _layers_of(model).remove(layer)
        return layer

    def _put_after(self, layer: dict[str, Any], path: str) -> None:
        model, anchor = self._scope(path)
        a = self.find(path)
        layers = _layers_of(model)
        name = self._name(layer)
        if self._is_sequential(model):
            layer.pop("inbound_nodes", None)
            layers.insert(layers.index(a) + 1, layer)
            return
        self._rewire(model, (anchor, 0, 0), (name, 0, 0))
        layer["inbound_nodes"] = self._inbound_for((anchor, 0, 0), a if a.get("inbound_nodes") else None)
        layers.insert(layers.index(a) + 1, layer)

    def _put_before(self, layer: dict[str, Any], path: str) -> None:
        model, anchor = self._scope(path)
        b = self.find(path)
        layers = _layers_of(model)
        name = self._name(layer)
        if self._is_sequential(model):
            layer.pop("inbound_nodes", None)
            i = layers.index(b)
            if i == 0:
                raise Unsupported(f"nothing comes before '{path}'")
            layers.insert(i, layer)
            return
        src = self._inbound_ref(b)
        self._rewire(model, src, (name, 0, 0), only=anchor)
        layer["inbound_nodes"] = self._inbound_for(src, b)
        layers.insert(layers.index(b), layer)

    def _split_activation(self, owner: str) -> str:
        """Move ``owner``'s built-in activation into an Activation layer after it; its name."""
        layer = self.find(owner)
        act = layer["config"].get("activation")
        layer["config"]["activation"] = "linear"
        stem = owner.rsplit("/", 1)[-1]
        new = self._layer_dict("Activation", {"name": self.fresh(f"{stem}_activation"), "trainable": True,
                                              "activation": act})
        self._put_after(new, owner)
        return self._name(new)

    @staticmethod
    def _fused(g: Node) -> bool:
        return g.kind is OpKind.ACTIVATION and bool(g.attrs.get("fused"))

    def _has_builtin_activation(self, name: str) -> bool:
        act = self.find(name).get("config", {}).get("activation")
        return isinstance(act, (str, dict)) and act not in ("linear", None)

    def _insert_layer(self, layer: dict[str, Any], anchor: Node, where: str) -> None:
        if self._fused(anchor):  # between a layer and its built-in activation
            self._split_activation(anchor.layer)
            self._put_after(layer, anchor.layer)
            return
        if where == "after" and anchor.kind in (OpKind.CONV, OpKind.DENSE) and self._has_builtin_activation(anchor.layer):
            self._split_activation(anchor.layer)
        (self._put_after if where == "after" else self._put_before)(layer, anchor.layer)

    # -- edits -----------------------------------------------------------------------
    def apply(self, edit: Edit) -> None:
        self.doc.edited = True
        if isinstance(edit, Remove):
            if self._fused(edit.node):
                self.find(edit.node.layer)["config"]["activation"] = "linear"
            else:
                if edit.node.params:
                    self.doc.weights_valid = False
                self._take(edit.node.layer)
        elif isinstance(edit, Delete):
            if self._fused(edit.node):
                return  # goes with its layer
            model, _name = self._scope(edit.node.layer)
            _layers_of(model).remove(self.find(edit.node.layer))
            if edit.node.params:
                self.doc.weights_valid = False
        elif isinstance(edit, SetAttrs):
            self._set(edit)
        elif isinstance(edit, Insert):
            self._insert_layer(self._new(edit.new), edit.anchor, edit.where)
            if edit.new.kind in (OpKind.BATCH_NORM, OpKind.LAYER_NORM):
                self.doc.weights_valid = False
        elif isinstance(edit, Move):
            layer = self._take(edit.node.layer)
            self._insert_layer(layer, edit.before, "before")
        elif isinstance(edit, Resize):
            self.doc.weights_valid = False  # Dense infers its input width; only the stored kernel changes
        elif isinstance(edit, SetLoss):
            self._set_loss(edit)
        else:  # pragma: no cover
            raise Unsupported(f"unknown edit {edit!r}")

    def _set(self, e: SetAttrs) -> None:
        g = e.node
        layer = self.find(g.layer)
        cfg = layer["config"]
        for key, value in e.attrs.items():
            if key == "rate":
                cfg["rate"] = value
            elif key == "spatial" and value:
                shape = g.inputs[0].shape if g.inputs else None
                rank = len(shape) - 2 if shape else 2
                if rank not in (1, 2, 3):
                    raise Unsupported(f"'{g.layer}' reads no 1-3-D feature map")
                layer["class_name"] = f"SpatialDropout{rank}D"
                # SpatialDropoutND takes (rate, seed, name, dtype) and nothing else
                layer["config"] = {k: cfg[k] for k in ("name", "rate", "seed", "dtype") if k in cfg}
                if "module" in layer:
                    layer["module"] = "keras.layers"
            elif key == "activation":
                if layer.get("class_name") in _ACT_LAYERS:
                    layer["class_name"] = "Activation"
                    layer["config"] = {k: cfg[k] for k in ("name", "trainable", "dtype") if k in cfg}
                    layer["config"]["activation"] = value
                elif "activation" in cfg:
                    cfg["activation"] = value
                else:
                    raise Unsupported(f"'{g.layer}' ({layer.get('class_name')}) has no activation to set")
            elif key == "bias" and value is False:
                if "use_bias" not in cfg:
                    raise Unsupported(f"'{g.layer}' has no use_bias option")
                cfg["use_bias"] = False
                self.doc.weights_valid = False
            elif key == "stride":
                if "strides" not in cfg:
                    raise Unsupported(f"'{g.layer}' has no strides")
                cfg["strides"] = [int(v) for v in value]
            elif key == "kernel_initializer":
                cls = _INITS[value]
                cfg["kernel_initializer"] = ({"class_name": cls, "config": {"seed": None}} if self.keras2 else
                                             {"module": "keras.initializers", "class_name": cls,
                                              "config": {"seed": None}, "registered_name": None})
                self.doc.weights_valid = False
                self.doc.reinit.add(g.layer)
            else:
                raise Unsupported(f"cannot set {key} on a Keras layer")

    def _set_loss(self, e: SetLoss) -> None:
        if e.from_logits:
            cls = _LOSSES.get(e.loss)
            if cls is None:
                raise Unsupported(f"no Keras loss class for {e.loss}")
            loss: Any = ({"class_name": cls, "config": {"from_logits": True, "name": e.loss}} if self.keras2 else
                         {"module": "keras.losses", "class_name": cls, "config": {"from_logits": True, "name": e.loss,
                          "reduction": "sum_over_batch_size"}, "registered_name": None})
        else:
            loss = e.loss
        if not self.keras2 and isinstance(self.doc.config.get("compile_config"), dict):
            self.doc.config["compile_config"]["loss"] = loss
            return
        import json

        raw = self.doc.meta.get("training_config")
        if not isinstance(raw, str):
            raise Unsupported("the file records no loss")
        tc = json.loads(raw)
        tc["loss"] = loss
        self.doc.meta["training_config"] = json.dumps(tc)


def _layers_of(model: dict[str, Any]) -> list[dict[str, Any]]:
    body = model.get("config")
    if isinstance(body, list):  # Keras 2.2 wrote a Sequential's config as the bare layer list
        return body
    layers = body.get("layers") if isinstance(body, dict) else None
    if not isinstance(layers, list):
        raise Unsupported("the model config has no layer list")
    return layers


def _all_names(model: dict[str, Any]) -> list[str]:
    out = []
    for x in _layers_of(model):
        cfg = x.get("config") if isinstance(x, dict) else None
        name = (cfg.get("name") if isinstance(cfg, dict) else None) or (x.get("name") if isinstance(x, dict) else None)
        if name:
            out.append(name)
        if isinstance(cfg, dict) and isinstance(cfg.get("layers"), list):
            out += _all_names(x)
    return out
