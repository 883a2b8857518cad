"""Run what archlint read: the common graph as a trainable ``torch.nn.Module``.

Public API (torch is imported only when these are called)::

    from archlint.api import load_graph          # path or factory spec -> Graph
    from archlint.execute import to_module, ExecutionError

    graph = load_graph("model.onnx")            # .onnx, .keras/.h5, a torch factory spec
    module = to_module(graph)                   # nn.Module: forward(*inputs) -> output(s)
    module.eval(); y = module(x)                # the file's weights; train()/eval() respected

Each node runs the operation the file wrote, recorded by its frontend in
``node.impl`` (:mod:`archlint.execute.spec`): the ATen call of a torch capture
(``torch.ops.aten.*``), the ONNX op with its attributes (a table of ONNX ops
in :mod:`archlint.execute._onnx_ops`), the Keras layer with its config
(:mod:`archlint.execute._keras_layers`, run channels-last as Keras does).
Weights come from the file (ONNX initialisers, the Keras weights, a torch
module's state) and are loaded when the module is built; trainable ones
become ``nn.Parameter`` (under their own names: a torch model's
``state_dict`` keys are the original's), running statistics buffers. A node
without a recorded impl (one a fix inserted) is built from its kind and
attributes with its declared initialiser (:mod:`archlint.execute._kinds`).
Dropout and batch norm follow ``module.train()``/``module.eval()``.

Anything the executor cannot run raises one :class:`ExecutionError` naming
the node and the op, when the module is built (not half-way through a
forward pass). ``archlint check`` never imports this package's torch parts.
"""

from __future__ import annotations

from typing import Any

from archlint.errors import ExecutionError


def to_module(graph: Any, *, weights: Any = None) -> Any:
    """The graph as a ``torch.nn.Module`` (see the module docstring).

    ``weights`` overrides the graph's weight table (a mapping key -> tensor,
    e.g. a torch ``state_dict``); without either, declared initialisers are used."""
    from archlint.execute._module import GraphModule

    return GraphModule(graph, weights=weights)


__all__ = ["ExecutionError", "to_module"]
