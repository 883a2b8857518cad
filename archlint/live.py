"""``archlint.check``: lint a live model (a ``torch.nn.Module``, a ``keras.Model``) or a
path, and get a result that shows itself in a notebook and a terminal.

    >>> import archlint, torchvision
    >>> result = archlint.check(torchvision.models.resnet18(num_classes=10), inputs=(2, 3, 32, 32))
    >>> [f.code for f in result.findings]
    ['AL015', ...]
    >>> result            # in Jupyter / VS Code: the HTML report; in a terminal: the text report

A torch module is captured as archlint captures a factory (``torch.export``, else
``torch.fx``; training mode, then back to the mode it was in); a Keras model is run once
on the torch backend (:mod:`archlint.frontends.keras_live`). Nothing is written to disk.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archlint.api import FileResult, LintResult, result_for_graph
from archlint.config import Config
from archlint.errors import LoadError, UsageError
from archlint.graph import Graph


@dataclass
class CheckResult(LintResult):
    """The result of :func:`check`: ``findings`` (each with its ``code``), ``files`` (one
    :class:`~archlint.api.FileResult`), and the graph read (``graph``). Displays itself
    as archlint's HTML report in a notebook and as the text report in a terminal."""

    graph: Graph | None = None

    def text(self, verbose: bool = False) -> str:
        from archlint.reporters import emit

        buf = io.StringIO()
        emit("text", self, buf, verbose=verbose, color=False)
        return buf.getvalue()

    def html(self) -> str:
        """The self-contained HTML report (the one ``--format html`` writes)."""
        from archlint.reporters import html_reporter

        return html_reporter.render(self)

    def _repr_html_(self) -> str:
        # an iframe keeps the report's own styles, script and CSP apart from the notebook's
        # page; srcdoc keeps it self-contained (no file, no server), as JupyterLab and VS Code render it
        from html import escape  # here: html's entity table is not worth importing for every run

        return (
            f'<iframe srcdoc="{escape(self.html(), quote=True)}" sandbox="allow-scripts" '
            'style="width:100%;height:640px;border:1px solid #d0d7de;border-radius:6px" '
            'title="archlint report"></iframe>'
        )

    def __rich__(self) -> Any:
        from rich.text import Text

        return Text(self.text().rstrip("\n"))

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        codes = ", ".join(sorted({f.code for f in self.findings})) or "no findings"
        name = self.files[0].path if self.files else "?"
        return f"<archlint.CheckResult {name}: {len(self.findings)} findings ({codes})>"


def _kind(model: Any) -> str:
    if isinstance(model, (str, Path)):
        return "path"
    for cls in type(model).__mro__:
        mod = getattr(cls, "__module__", "") or ""
        if mod.startswith("torch.nn.modules.module"):
            # a Keras model on the torch backend is an nn.Module too: Keras first
            return "keras" if any((getattr(c, "__module__", "") or "").startswith("keras.") for c in type(model).__mro__) else "torch"
        if mod.startswith("keras.src.models") or mod.startswith("keras.engine") or mod.startswith("tf_keras."):
            return "keras"
    return "other"


def graph_of(model: Any, inputs: Any = None, *, name: str | None = None, config: Config | None = None) -> Graph:
    """Read a live model or a path into archlint's graph (see :func:`check`)."""
    kind = _kind(model)
    label = name or (str(model) if kind == "path" else type(model).__name__)
    if kind == "path":
        from archlint.frontends import load_graph

        return load_graph(str(model), (config or Config()).load)
    if kind == "keras":
        from archlint.frontends.keras import Loader
        from archlint.frontends.keras_live import from_model

        return from_model(model, Loader, name=label, inputs=inputs)
    if kind == "torch":
        return _torch_graph(model, inputs, label)
    raise UsageError(f"archlint.check takes a torch.nn.Module, a keras.Model or a path, not a {type(model).__name__}")


def _torch_graph(model: Any, inputs: Any, name: str) -> Graph:
    import torch

    from archlint.frontends.torch import Example, capture, default_example

    if inputs is None:
        example = default_example(torch, model)
    elif isinstance(inputs, torch.Tensor):
        example = Example((inputs,), origin="user")
    elif isinstance(inputs, dict):
        example = Example((), dict(inputs), origin="user")
    elif isinstance(inputs, (tuple, list)) and inputs and all(isinstance(d, int) for d in inputs):
        example = Example((torch.randn(*inputs),), origin="user")  # a shape
    elif isinstance(inputs, (tuple, list)):
        example = Example(tuple(inputs), origin="user")
    else:
        raise UsageError("inputs: a tensor, a tuple of tensors, a dict of keyword tensors, or a shape such as (2, 3, 32, 32)")
    was_training = bool(getattr(model, "training", True))
    try:
        return capture(model, example, name)
    finally:
        model.train(was_training)


def check(
    model: Any,
    inputs: Any = None,
    *,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] | None = None,
    config: Config | None = None,
    name: str | None = None,
) -> CheckResult:
    """Lint ``model`` (a ``torch.nn.Module``, a ``keras.Model`` or a path) and return a
    :class:`CheckResult`. ``inputs``: for a torch module, a tensor, a tuple of tensors,
    a dict of keyword tensors or an input shape (default: one suited to the model, as
    for a factory); for a Keras model, what ``model(...)`` takes (default: its declared
    inputs with unknown sizes filled). ``select``/``ignore``: rule codes or names.

    Raises :class:`archlint.errors.LoadError` when the model cannot be read."""
    import dataclasses

    from archlint.config import config_from_table

    config = dataclasses.replace(config or Config())
    # the codes and names checked as a config file's would be (an unknown code is an error)
    config_from_table({k: list(v) for k, v in (("select", select), ("ignore", ignore)) if v is not None}, source="check()")
    if select is not None:
        config.select = list(select)
    if ignore is not None:
        config.ignore = [*config.ignore, *ignore]
    graph = graph_of(model, inputs, name=name, config=config)
    label = name or (str(model) if _kind(model) == "path" else graph.name or type(model).__name__)
    fr, used = result_for_graph(graph, label, config, keep_views=True, fr=FileResult(path=label))
    result = CheckResult(files=[fr], graph=graph, config_source=config.source)
    result.unused_suppressions = [f"{e} {code}" for e, code in config.declared_suppressions() if (e, code) not in used]
    return result


__all__ = ["CheckResult", "LoadError", "check", "graph_of"]
