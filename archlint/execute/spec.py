"""What a frontend records so a node can be executed (framework-free, no torch).

A node's :attr:`~archlint.graph.Node.impl` is an :class:`Impl`: the calls that
compute the node's output(s) in the file's own terms -- ATen targets for a
torch capture, ONNX op types with their attributes, Keras layer classes with
their configs -- in order, the last one giving the node's result. Arguments
are plain Python values with these leaves:

- :class:`In` -- the node's ``i``-th data input (``node.inputs[i]``), with
  ``picks`` indexing into a tuple value (an ATen op returning several tensors);
- :class:`V` -- any graph value by name (shape arithmetic reading a tensor the
  node does not take as data, as ONNX exporters write ``Shape(x)``);
- :class:`W` -- a weight, buffer or constant of the file, by name (see
  :class:`WeightTable`);
- :class:`T` -- the result of an earlier call of the same :class:`Impl`;
- :data:`MODE` -- ``True`` in training mode, ``False`` in eval mode (dropout
  and batch norm read it, so train/eval semantics follow ``module.train()``).

A node fused from several (:meth:`archlint.graph.GraphBuilder.fuse`) gets a
:class:`Fused` impl: its members, run in order. A node without an impl (one a
fix inserted) is built from its kind and attributes with its declared
initialiser.

Weights are references: :class:`WeightTable` maps names to shapes, dtypes and
roles, and loads the tensors only when asked (ONNX initialisers, a Keras
file's weights, a torch module's state).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from archlint.graph.core import Fused  # the graph records fusions; the executor runs them


@dataclass(frozen=True)
class In:
    """The node's ``index``-th data input, then ``picks`` item by item."""

    index: int
    picks: tuple[int, ...] = ()


@dataclass(frozen=True)
class V:
    """A graph value by name (then ``picks``)."""

    name: str
    picks: tuple[int, ...] = ()


@dataclass(frozen=True)
class W:
    """A weight, buffer or constant of the file, by name."""

    name: str


@dataclass(frozen=True)
class T:
    """The result of an earlier call of the same impl (then ``picks``)."""

    name: str
    picks: tuple[int, ...] = ()


class _Mode:
    def __repr__(self) -> str:
        return "MODE"


#: the module's training flag at run time
MODE = _Mode()


@dataclass(frozen=True)
class TrainOnly:
    """``value`` in training mode, ``off`` in eval mode (a dropout probability
    recorded from a training-mode capture, such as SDPA's ``dropout_p``)."""

    value: Any
    off: Any = 0.0


@dataclass
class Call:
    """One operation: ``domain`` ("aten", "onnx", "keras"), the op, its arguments."""

    domain: str
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    out: str = ""


@dataclass
class Impl:
    """The calls that compute a node; the last one's result is the node's."""

    calls: list[Call] = field(default_factory=list)
    #: in eval mode the node passes this data input through (a random mask a
    #: training-mode capture recorded: stochastic depth, hand-written dropout)
    eval_input: int | None = None

    def ops(self) -> list[str]:
        return [f"{c.domain}:{c.op}" for c in self.calls]


def leaves(obj: Any) -> Iterator[Any]:
    """Every leaf of an argument tree (lists, tuples, dicts)."""
    if isinstance(obj, dict):
        for v in obj.values():
            yield from leaves(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from leaves(v)
    else:
        yield obj


@dataclass
class WeightRef:
    """One tensor of the file: its ``key`` in the loaded state (a torch FQN such
    as ``features.0.weight``, an ONNX initialiser name, ``layer/kernel``),
    shape, dtype and role: "param" (trainable), "frozen" (a parameter that does
    not train, such as Whisper's sinusoidal positions: counted, not trained),
    "buffer" (running statistics) or "constant"."""

    name: str
    key: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    role: str = "param"


class WeightTable:
    """Names -> :class:`WeightRef`, and a loader that returns ``{key: array}``
    when the tensors are first needed (numpy arrays or torch tensors)."""

    def __init__(self, loader: Callable[[], Mapping[str, Any]] | None = None, source: str = "",
                 fill: Callable[[WeightTable], None] | None = None) -> None:
        self._refs: dict[str, WeightRef] = {}
        self._fill = fill
        self._loader = loader
        self._tensors: Mapping[str, Any] | None = None
        self.source = source  # where the tensors come from, for messages

    @property
    def refs(self) -> dict[str, WeightRef]:
        """Name -> reference; a table made with ``fill`` calls it on first use to add them
        (the ONNX frontend's, whose references are found while its deferred impls are built)."""
        if self._fill is not None:
            fill, self._fill = self._fill, None
            fill(self)
        return self._refs

    def add(self, ref: WeightRef) -> WeightRef:
        self.refs.setdefault(ref.name, ref)
        return self.refs[ref.name]

    def __contains__(self, name: object) -> bool:
        return name in self.refs

    def __getitem__(self, name: str) -> WeightRef:
        return self.refs[name]

    def get(self, name: str) -> WeightRef | None:
        return self.refs.get(name)

    def __len__(self) -> int:
        return len(self.refs)

    @property
    def has_tensors(self) -> bool:
        return self._loader is not None or self._tensors is not None

    def tensors(self) -> Mapping[str, Any]:
        """The loaded tensors by key (loaded once, on first call)."""
        if self._tensors is None:
            self._tensors = dict(self._loader()) if self._loader is not None else {}
            self._loader = None
        return self._tensors

    def set_loader(self, loader: Callable[[], Mapping[str, Any]]) -> None:
        """Load the tensors with ``loader`` instead (when first asked)."""
        self._loader = loader
        self._tensors = None

    def set_tensors(self, tensors: Mapping[str, Any]) -> None:
        self._tensors = tensors
        self._loader = None
