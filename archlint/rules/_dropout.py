"""What kind of dropout a DROPOUT node is, for the dropout rules (AL001, AL004, AL006, AL007).

Frontends set ``attrs["flavour"]``: ``dropout`` (element-wise), ``spatial``
(whole channels: SpatialDropout, nn.Dropout2d, Keras ``noise_shape=(None, 1, 1, C)``),
``stochastic_depth`` (whole samples of a residual branch: Keras
``noise_shape=(None, 1, 1, 1)``, StochasticDepth, DropPath), ``gaussian``
(multiplicative Gaussian noise, drops nothing) and ``alpha`` (AlphaDropout,
which keeps a SELU network's mean and variance).
"""

from __future__ import annotations

from archlint.graph import Node


def flavour(node: Node) -> str:
    f = node.attrs.get("flavour")
    if isinstance(f, str):
        return f
    return "spatial" if node.attrs.get("spatial") else "dropout"


def is_noop(node: Node) -> bool:
    """Dropout with rate 0 (``nn.Dropout(p=0.0)``, timm's default ``drop_rate=0``) does nothing."""
    rate = node.attrs.get("rate")
    return isinstance(rate, (int, float)) and rate == 0


def is_stochastic_depth(node: Node) -> bool:
    return flavour(node) == "stochastic_depth"


def drops_units(node: Node) -> bool:
    """Whether the layer zeroes units (so a rate is a fraction of units dropped)."""
    return flavour(node) not in ("gaussian",)
