from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from archlint.findings import Finding, Severity
from archlint.graph import Graph, Node, OpKind
from archlint.rules._match import dims, spatial
from archlint.rules.base import Rule, RuleContext


@dataclass
class _Stage:
    size: tuple[int, ...]
    channels: int = 0
    convs: list[Node] = field(default_factory=list)


def _upsampled(graph: Graph) -> set[int]:
    """Nodes at or after an upsampling step (a decoder): their widths say nothing about the encoder."""
    out: set[int] = set()
    for n in graph.nodes:
        if any(id(p) in out for p in n.predecessors()):
            out.add(id(n))
            continue
        before = spatial(n.inputs[0].shape) if n.inputs else None
        after = spatial(n.outputs[0].shape) if n.outputs else None
        if n.attrs.get("transposed") or (before and after and math.prod(after) > math.prod(before)):
            out.add(id(n))
    return out


def _stages(graph: Graph) -> list[_Stage]:
    """Resolution stages with convolutions, finest first, and their widest feature map.
    Decoders (after an upsampling) and 1x1 maps (squeeze-and-excitation on pooled
    vectors) are left out."""
    by_size: dict[tuple[int, ...], _Stage] = {}
    decoder = _upsampled(graph)
    for n in graph.nodes:
        if not n.outputs or n.kind in (OpKind.INPUT, OpKind.GLOBAL_POOL) or id(n) in decoder:
            continue
        shape = n.outputs[0].shape
        size = spatial(shape)
        if size is None or shape is None or shape[1] is None or set(size) == {1}:
            continue
        st = by_size.setdefault(size, _Stage(size))
        st.channels = max(st.channels, int(shape[1]))
        if n.kind is OpKind.CONV and not n.attrs.get("depthwise") and not n.attrs.get("transposed"):
            st.convs.append(n)
    stages = [s for s in by_size.values() if s.convs]
    stages.sort(key=lambda s: -math.prod(s.size))
    return stages


def _downsampler(graph: Graph, fine: _Stage, coarse: _Stage) -> Node:
    for n in graph.nodes:
        if not n.inputs or not n.outputs:
            continue
        if spatial(n.outputs[0].shape) == coarse.size and spatial(n.inputs[0].shape) == fine.size:
            return n
    return coarse.convs[0]


class ChannelsNotGrowingAfterDownsampling(Rule):
    """The feature maps shrink spatially but the channel count does not grow.

    ## What it flags
    A downsampling step (strided convolution or pooling) after which the
    widest feature map of the new, smaller resolution has no more channels
    than the widest of the previous one, while that width is below
    `cap_channels` (default 512, where VGG and ResNet-18 stop doubling).
    Fewer channels after downsampling is always flagged. A stage with a
    single convolution (a stem), depthwise convolutions, 1x1 maps
    (squeeze-and-excitation) and decoders (anything after an upsampling) do
    not count.

    ## Why it hurts
    Halving height and width divides the representation by four; without
    more channels the network squeezes information through a bottleneck just
    where features become more abstract and need more dimensions. Simonyan &
    Zisserman (2015) double the width after every pooling; Szegedy et al.
    (2016) state it as a design principle: avoid representational
    bottlenecks, decrease the representation size gently.

    ## Example
    ```python
    Conv2D(60, 3), Conv2D(60, 3), MaxPooling2D(2), Conv2D(60, 3), Conv2D(60, 3), MaxPooling2D(2), ...
    ```

    ## Use instead
    ```python
    Conv2D(64, 3), Conv2D(64, 3), MaxPooling2D(2), Conv2D(128, 3), Conv2D(128, 3), MaxPooling2D(2), ...
    ```

    ## References
    - K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for
      Large-Scale Image Recognition", ICLR 2015.
    - C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the
      Inception Architecture for Computer Vision", CVPR 2016.
    """

    code = "AL016"
    name = "channels-not-growing-after-downsampling"
    severity = Severity.INFO
    references = ("Simonyan & Zisserman 2015, ICLR", "Szegedy et al. 2016, CVPR, Sec. 2")
    options = {"cap_channels": 512}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        cap = int(ctx.option("cap_channels", 512))
        stages = _stages(graph)
        for fine, coarse in zip(stages, stages[1:], strict=False):
            if len(fine.convs) < 2:
                continue
            if coarse.channels > fine.channels or (coarse.channels == fine.channels and fine.channels >= cap):
                continue
            down = _downsampler(graph, fine, coarse)
            verb = "shrink" if coarse.channels < fine.channels else "stay"
            yield self.finding(
                down,
                f"'{down.layer}' downsamples {dims(fine.size)} -> {dims(coarse.size)} but the channels "
                f"{verb} at {coarse.channels} (widest before: {fine.channels}): a representational bottleneck",
                f"double the channels of the convolutions after '{down.layer}' (e.g. {fine.channels} -> "
                f"{2 * fine.channels})",
                ctx,
                before=fine.channels,
                after=coarse.channels,
            )
