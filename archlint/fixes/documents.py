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

        from archlint.frontends.onnx import _clean_strings

        self.path = Path(path)
        try:
            self.model = onnx.load(str(self.path), load_external_data=True)
        except Exception as e:  # noqa: BLE001 - any failure to read is one error line
            raise ArchlintError(f"{path}: cannot read the model with its weights ({type(e).__name__}: {e})") from None
        _clean_strings(self.model)
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

    def save(self, out: Path) -> list[str]:
        has_weights = any(n.endswith(".h5") for n in self.members) if not self.keras2 else True
        if has_weights and not self.weights_valid:
            self.notes.append("the stored weights were left out: a rewrite changed layers that hold weights, "
                              "so the model loads with freshly initialised weights")
        if out.suffix.lower() == ".keras":
            if self.keras2:
                raise ArchlintError(f"{out}: a Keras 2 .h5 model is written back as .h5 (give -o NAME.h5)")
            with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
                for name, data in self.members.items():
                    if name.endswith(".h5") and not self.weights_valid:
                        continue
                    zf.writestr(name, data)
                zf.writestr("config.json", json.dumps(self.config))
            return [str(out)]
        if out.suffix.lower() in (".h5", ".hdf5"):
            if not self.keras2:
                raise ArchlintError(f"{out}: a .keras model is written back as .keras (give -o NAME.keras)")
            return [self._save_h5(out)]
        raise ArchlintError(f"{out}: write a Keras model as .keras or .h5")

    def _save_h5(self, out: Path) -> str:
        import shutil

        import h5py

        if self.weights_valid:
            shutil.copyfile(self.path, out)
            mode = "r+"
        else:
            mode = "w"
        with h5py.File(out, mode) as f:
            if not self.weights_valid:
                with h5py.File(self.path, "r") as src:
                    for k, v in src.attrs.items():
                        f.attrs[k] = v
            f.attrs["model_config"] = json.dumps(self.config)
            if "training_config" in self.meta:
                f.attrs["training_config"] = self.meta["training_config"]
        return str(out)
