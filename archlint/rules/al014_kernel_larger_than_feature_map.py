from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import dims, spatial
from archlint.rules.base import Ref, Rule, RuleContext


class KernelLargerThanFeatureMap(Rule):
    """A convolution or pooling window is larger than the feature map it reads.

    ## What it flags
    A (non-transposed) convolution or local pooling layer whose input is
    smaller than its (dilated) kernel in some spatial dimension, e.g. a 3x3
    convolution on a 2x2 map, usually because the network downsampled too
    often for its input size. When the window does not fit even with the
    padding ('valid' padding), the output is an empty feature map: that is
    reported as an error, once, at the layer that empties it (layers after
    it are not reported again).

    ## Why it hurts
    Most of every window is padding: a 3x3 kernel on a 2x2 map spends over
    half its weights on zeros, and a 1x1 map makes a 3x3 convolution an
    expensive 1x1. Spatial structure is gone, so the layer pays for
    context it cannot see. It is a sign that the input resolution and the
    number of downsampling steps do not match.

    ## Example
    ```python
    # 32x32 input, four 2x2 max pools -> 2x2 map
    MaxPooling2D(2), Conv2D(100, 3, padding="same")
    ```

    ## Use instead
    Downsample fewer times for small inputs (CIFAR variants of ResNet use
    three stages for 32x32), or use 1x1 convolutions / global pooling once the
    map is this small.
    """

    code = "AL014"
    name = "kernel-larger-than-feature-map"
    severity = Severity.INFO
    references = (
        Ref("Simonyan & Zisserman 2015, ICLR",
            'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.'),
        Ref("He et al. 2016, CVPR, Sec. 4.2",
            'K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.'),
    )

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        for node in graph.of_kind(OpKind.CONV, OpKind.POOL):
            if node.attrs.get("transposed") or not node.inputs:
                continue
            size = spatial(node.inputs[0].shape)
            kernel = tuple(node.attrs.get("kernel") or ())
            if size is None or len(kernel) != len(size) or 0 in size:
                continue  # unknown, or already empty (reported where it emptied)
            dil = tuple(node.attrs.get("dilation") or (1,) * len(kernel))
            eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil, strict=False))
            if all(s >= e for s, e in zip(size, eff, strict=False)):
                continue
            what = "convolution" if node.kind is OpKind.CONV else "pooling"
            padded = _padded(node, size)
            if padded is not None and any(p < e for p, e in zip(padded, eff, strict=False)):
                yield self.finding(
                    node,
                    f"{dims(eff)} {what} '{node.layer}' reads a {dims(size)} feature map with no padding to "
                    "fill the window: its output is an empty feature map",
                    "downsample fewer times for this input size, use padding='same', or a smaller window here",
                    ctx,
                    severity=Severity.ERROR,
                    kernel=list(eff),
                    input_size=list(size),
                    empty=True,
                )
                continue
            yield self.finding(
                node,
                f"{dims(eff)} {what} '{node.layer}' reads a {dims(size)} feature map: most of each window is padding",
                "downsample fewer times for this input size, or use a 1x1 convolution / global pooling here",
                ctx,
                kernel=list(eff),
                input_size=list(size),
            )

    autofix = 'none: the remedy (downsample less, or smaller kernels) changes every later feature map'



def _padded(node: Node, size: tuple[int, ...]) -> tuple[int, ...] | None:
    """The input size plus the padding on each axis; None for 'same' padding or when unknown."""
    pad = node.attrs.get("padding", "valid")
    n = len(size)
    if pad == "valid":
        return size
    if isinstance(pad, (list, tuple)) and len(pad) == 2 * n:
        try:
            return tuple(s + int(pad[i]) + int(pad[i + n]) for i, s in enumerate(size))
        except (TypeError, ValueError):
            return None
    return None
