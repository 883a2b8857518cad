"""Editable model documents for ``archlint fix``: the file's own representation,
read once, edited in memory by rounds of rewrites, written on request."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

from archlint.errors import ArchlintError
from archlint.graph import Graph


class OnnxDocument:
    """An ONNX model with its initialisers (external data read in)."""

    def __init__(self, path: str) -> None:
        import onnx

        from archlint.frontends.onnx import clean_strings

        self.path = Path(path)
        try:
            self.model = onnx.load(str(self.path), load_external_data=True)
        except Exception as e:  # noqa: BLE001 - any failure to read is one error line
            raise ArchlintError(f"{path}: cannot read the model with its weights ({type(e).__name__}: {e})") from None
        clean_strings(self.model)
        self.notes: list[str] = []
        self.created: set[str] = set()

    def graph(self) -> Graph:
        from archlint.frontends.onnx import from_model

        return from_model(self.model, name=self.path.stem)

    def editor(self) -> Any:
        from archlint.fixes.onnx_edit import OnnxEditor

        return OnnxEditor(self.model, self.created)

    def save(self, out: Path) -> list[str]:
        import onnx

        try:
            onnx.checker.check_model(self.model)
        except Exception as e:  # noqa: BLE001
            raise ArchlintError(f"the fixed model does not pass onnx.checker: {e}") from None
        big = self.model.ByteSize() > 1_500_000_000
        onnx.save_model(self.model, str(out), save_as_external_data=big,
                        location=f"{out.name}.data" if big else None)
        return [str(out)] + ([str(out.with_name(f"{out.name}.data"))] if big else [])


class TorchDocument(OnnxDocument):
    """A PyTorch factory, exported to ONNX in training mode (the legacy exporter,
    dropout and batch norm kept as training ops, no constant folding); the fix
    edits and writes that ONNX model. The factory is called for real (weights
    allocated), with the inputs ``archlint check`` would give it."""

    def __init__(self, spec: str, options: Any) -> None:
        import tempfile

        from archlint.frontends.torch import (
            factory_object,
            build_factory,
            default_example,
            import_torch,
            user_example,
        )

        torch = import_torch(spec)
        model, example = build_factory(spec, options)
        specs = options.example_inputs()
        if specs:
            example = user_example(torch, model, specs)
        elif example is None:
            example = default_example(torch, model, factory_object(spec))
        model.train()
        tries = [example]
        if example.origin == "default":  # the image sizes archlint check tries too
            from archlint.frontends.torch import DEFAULT_INPUT_SHAPE, Example, model_device

            tries += [Example((torch.randn(*shape, device=model_device(model)),), origin="default")
                      for shape in ((2, 3, 224, 224), DEFAULT_INPUT_SHAPE, (1, 3, 32, 32))]
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / (spec.rsplit(":", 1)[-1].replace(".", "_") + ".onnx")
            error = None
            for ex in tries:
                try:
                    self._export(torch, model, ex, path)
                except Exception as e:  # noqa: BLE001 - user code and the exporter's limits
                    error = error or e
                    continue
                example, error = ex, None
                break
            if error is not None:
                first = str(error).splitlines()[0] if str(error) else ""
                raise ArchlintError(f"{spec}: the ONNX export that 'archlint fix' edits failed ({type(error).__name__}: "
                                    f"{first}); export the model yourself and fix the .onnx")
            super().__init__(str(path))
        # exported in training mode: nothing is hidden (archlint's reader guesses folded batch norm and
        # removed dropout only in PyTorch's eval-mode exports)
        self.model.producer_name = "archlint-fix"
        self.model.doc_string = f"{spec}, exported by torch.onnx.export in training mode and fixed by archlint"
        self.notes.append(f"exported with torch.onnx.export in training mode on input {example.describe()}; "
                          "the fixed model is ONNX")

    @staticmethod
    def _export(torch: Any, model: Any, example: Any, path: Path) -> None:
        import warnings

        args = (*example.args, example.kwargs) if example.kwargs else tuple(example.args)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, args, str(path), dynamo=False, training=torch.onnx.TrainingMode.PRESERVE,
                              do_constant_folding=False, opset_version=17)


#: edits that leave every stored weight valid (the rest drop a Keras file's weights)
_WEIGHTLESS_ATTRS = frozenset({"rate", "spatial", "activation"})


class KerasDocument:
    """A Keras model config (``.keras`` config.json, or an ``.h5`` model_config)."""

    def __init__(self, path: str) -> None:
        from archlint.frontends.keras import read_h5, read_keras_zip

        self.path = Path(path)
        self.members: dict[str, bytes] = {}
        if self.path.suffix.lower() == ".keras":
            self.config, self.meta = read_keras_zip(self.path)
            with zipfile.ZipFile(self.path) as zf:
                for name in zf.namelist():
                    if name != "config.json":
                        self.members[name] = zf.read(name)
        else:
            self.config, self.meta = read_h5(self.path)
        self.weights_valid = True
        self.edited = False
        #: layers whose kernel initialiser a rewrite changed: drawn afresh, never kept
        self.reinit: set[str] = set()
        self.notes: list[str] = []

    @property
    def keras2(self) -> bool:
        return self.path.suffix.lower() != ".keras"

    def graph(self) -> Graph:
        from archlint.frontends.keras import from_config

        return from_config(copy.deepcopy(self.config), name=self.path.stem, path=str(self.path), meta=dict(self.meta))

    def editor(self) -> Any:
        from archlint.fixes.keras_edit import KerasEditor

        return KerasEditor(self)

    def _layers(self) -> list[dict[str, Any]]:
        body = self.config.get("config")
        return body if isinstance(body, list) else body.get("layers", []) if isinstance(body, dict) else []

    def _strip_build_configs(self) -> None:
        """Layers rebuild from the inputs they are called on: a recorded input shape
        the fix changed (a dense layer that now reads pooled channels) must not be replayed."""
        for layer in self._layers():
            if isinstance(layer, dict):
                layer.pop("build_config", None)

    def save(self, out: Path) -> list[str]:
        if self.edited:
            self._strip_build_configs()
        if out.suffix.lower() == ".keras":
            if self.keras2:
                raise ArchlintError(f"{out}: a Keras 2 .h5 model is written back as .h5 (give -o NAME.h5)")
            self._keras3_weights()
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in self.members.items():
                    zf.writestr(name, data)
                zf.writestr("config.json", json.dumps(self.config))
            return [str(out)]
        if out.suffix.lower() in (".h5", ".hdf5"):
            if not self.keras2:
                raise ArchlintError(f"{out}: a .keras model is written back as .keras (give -o NAME.keras)")
            return [self._save_h5(out)]
        raise ArchlintError(f"{out}: write a Keras model as .keras or .h5 (ONNX output from a Keras file needs "
                            "the graph executor)")

    def _keras3_weights(self) -> None:
        from archlint.fixes.keras_weights import NoWeights, keras3_weights, read_keras3

        stored = self.members.get("model.weights.h5")
        if stored is not None and not self.edited:
            return  # nothing changed: the file as it was
        old = read_keras3(stored, self._layers()) if stored is not None else {}
        try:
            self.members["model.weights.h5"] = keras3_weights(self.config, self._layers(), self.graph(), old,
                                                            reinit=frozenset(self.reinit))
        except NoWeights as e:
            self.members.pop("model.weights.h5", None)
            self.notes.append(f"no weights written: archlint cannot lay out the variables of {e}; "
                              "build the model from config.json (keras.models.model_from_json)")
            return
        self.members.setdefault("metadata.json", json.dumps({"keras_version": "3.0.0"}).encode())
        if stored is None:
            self.notes.append("the input stored no weights: model.weights.h5 holds freshly initialised ones")
        elif not self.weights_valid:
            self.notes.append("weights kept where a layer's shapes are unchanged; new and reshaped layers are "
                              "freshly initialised")

    def _save_h5(self, out: Path) -> str:
        import h5py

        from archlint.fixes.keras_weights import NoWeights, keras2_weights, read_keras2

        with h5py.File(self.path, "r") as src:
            attrs = dict(src.attrs)
            had = "model_weights" in src and len(src["model_weights"]) > 0
        if had and not self.edited:
            import shutil

            shutil.copyfile(self.path, out)
            with h5py.File(out, "r+") as f:
                f.attrs["model_config"] = json.dumps(self.config)
                if "training_config" in self.meta:
                    f.attrs["training_config"] = self.meta["training_config"]
            return str(out)
        old = read_keras2(self.path) if had else {}
        with h5py.File(out, "w") as f:
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["model_config"] = json.dumps(self.config)
            if "training_config" in self.meta:
                f.attrs["training_config"] = self.meta["training_config"]
            try:
                keras2_weights(f, self._layers(), self.graph(), old, reinit=frozenset(self.reinit))
            except NoWeights as e:
                if "model_weights" in f:
                    del f["model_weights"]
                self.notes.append(f"no weights written: archlint cannot lay out the variables of {e}")
                return str(out)
        if not had or not self.weights_valid:
            self.notes.append("the input stored no weights: model_weights holds freshly initialised ones" if not had
                              else "weights kept where a layer's shapes are unchanged; new and reshaped layers are "
                              "freshly initialised")
        return str(out)
