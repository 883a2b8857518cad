from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from archlint.findings import Finding, Severity
from archlint.graph import WEIGHT_KINDS, Graph, Node, OpKind
from archlint.rules._match import ELEMENTWISE, NORMALISATIONS, REGULARISERS, dims, feeding, nearest_downstream, spatial, through
from archlint.rules.base import Ref, Rule, RuleContext


@dataclass
class _Stage:
    level: int
    size: tuple[int, ...] | None = None
    channels: int = 0
    convs: list[Node] = field(default_factory=list)
    trunk: int = 0  # last merge (Add / Concat) output: the residual or dense stream, 0 when none
    down: Node | None = None  # the layer that downsampled into this stage
    fallback: int = 0  # the last convolution's width, expansions included
    width_convs: int = 0  # width-setting convolutions on one path (parallel re-param branches count once)
    first: int = 0  # the first such convolution's width
    first_trunk: int = 0  # the first merge's width
    entry: int = 0  # the narrowest of the first and last widths: what the stage grew from


def _spatial_elems(v, cache: dict | None = None) -> int | None:
    if cache is not None:
        key = ("e", id(v))
        if key in cache:
            return cache[key]
    size = spatial(v.shape) if v is not None else None
    out = math.prod(size) if size else None
    if cache is not None:
        cache[key] = out
    return out


def _is_downsampler(n: Node, cache: dict | None = None) -> bool:
    """A strided convolution or pooling that shrinks a map of more than one pixel
    (global pooling to 1x1, as in squeeze-and-excitation, is not a stage). ``cache``:
    one dict per rule run, shared by these helpers (a node's answer never changes)."""
    if n.kind not in (OpKind.CONV, OpKind.POOL):
        return False
    if cache is not None:
        key = ("d", id(n))
        if key not in cache:
            cache[key] = _is_downsampler(n)
        return cache[key]
    if n.attrs.get("transposed") or not n.inputs:
        return False
    before, after = _spatial_elems(n.inputs[0]), _spatial_elems(n.outputs[0]) if n.outputs else None
    if before is None or after is None or after <= 1:
        return False
    strided = any(int(x) > 1 for x in (n.attrs.get("stride") or ()))
    return strided or (n.kind is OpKind.POOL and after * 2 <= before)


def _upsampled(graph: Graph, cache: dict | None = None) -> set[int]:
    """Nodes at or after an upsampling step (a decoder): their widths say nothing about the encoder.
    A merge compares its output with its largest input, so a broadcast multiply
    (squeeze-and-excitation's ``scale[1, C, 1, 1] * x``) is no upsampling."""
    out: set[int] = set()
    for n in graph.nodes:
        if any(id(p) in out for p in n.predecessors()):
            out.add(id(n))
            continue
        ins = [e for e in (_spatial_elems(v, cache) for v in n.inputs) if e is not None]
        after = _spatial_elems(n.outputs[0], cache) if n.outputs else None
        if n.attrs.get("transposed") or (ins and after and after > max(ins)):
            out.add(id(n))
    return out


_TO_DOWN = through(ELEMENTWISE, REGULARISERS, {OpKind.IDENTITY, OpKind.PAD, OpKind.MUL}, NORMALISATIONS,
                   norm="normalisation keeps a map's channels and size, which is what the rule compares")


def _feeds_downsampler(n: Node, cache: dict | None = None) -> bool:
    """Whether ``n``'s output goes, through activations and normalisation only (SiLU
    written as ``x * sigmoid(x)`` included), into strided convolutions: the expansion
    convolution of a block whose 3x3 or depthwise convolution is strided."""
    nxt = nearest_downstream(n, _TO_DOWN)
    return bool(nxt) and all(m.kind is OpKind.CONV and _is_downsampler(m, cache) for m in nxt)


def _stages(graph: Graph) -> list[_Stage]:
    """Stages between downsampling steps, finest first. A node's stage is the most
    downsampling steps on any path from the input to it. A stage's width is its
    last merge output (Add / Concat) where it has one, else its last
    convolution output, leaving out convolutions that only expand the input of
    the next stage's strided layer. Decoders and 1x1 maps are left out."""
    cache: dict = {}
    decoder = _upsampled(graph, cache)
    hidden = feeding(graph.nodes, WEIGHT_KINDS)
    level: dict[int, int] = {}
    depth: dict[int, int] = {}  # width-setting convolutions on the longest path within the stage
    stages: dict[int, _Stage] = {}
    for n in graph.nodes:
        preds = n.predecessors()
        lv = max((level.get(id(p), 0) for p in preds), default=0)
        down = _is_downsampler(n, cache)
        if down:
            lv += 1
        level[id(n)] = lv
        depth[id(n)] = max((depth[id(p)] for p in preds if level[id(p)] == lv), default=0)
        if not n.outputs or id(n) in decoder or n.kind in (OpKind.INPUT, OpKind.GLOBAL_POOL):
            continue
        shape = n.outputs[0].shape
        size = spatial(shape)
        if size is None or shape is None or shape[1] is None or set(size) == {1}:
            continue
        st = stages.setdefault(lv, _Stage(lv))
        if down and st.down is None:
            st.down = n
        if st.size is None or math.prod(size) > math.prod(st.size):
            st.size = size
        if n.kind in (OpKind.ADD, OpKind.CONCAT) and len(preds) > 1:
            st.trunk = int(shape[1])  # the last merge is the stage's output
            st.first_trunk = st.first_trunk or int(shape[1])
        if n.kind is OpKind.CONV and not n.attrs.get("depthwise") and not n.attrs.get("transposed"):
            if id(n) not in hidden:
                continue  # the classifier convolution (NiN, SqueezeNet): its width is the class count
            st.convs.append(n)
            st.fallback = int(shape[1])
            if not _feeds_downsampler(n, cache):
                st.channels = int(shape[1])  # the last convolution, when the stage has no merge
                st.first = st.first or int(shape[1])
                depth[id(n)] += 1
                st.width_convs = max(st.width_convs, depth[id(n)])
    out = [s for s in stages.values() if s.convs and s.size is not None]
    for s in out:
        if s.trunk:
            s.entry = min(s.first_trunk, s.trunk)
            s.channels = s.trunk
        else:
            s.channels = s.channels or s.fallback
            s.entry = min(s.first or s.channels, s.channels)
    out.sort(key=lambda s: s.level)
    return [s for s in out if s.channels]


def _downsampler(graph: Graph, fine: _Stage, coarse: _Stage) -> Node:
    return coarse.down or coarse.convs[0]


class ChannelsNotGrowingAfterDownsampling(Rule):
    """The feature maps shrink spatially but the channel count does not grow.

    ## What it flags
    A downsampling step (strided convolution or pooling) after which the
    new, smaller stage is no wider than the previous one, while that width
    is below `cap_channels` (default 512, where VGG and ResNet-18 stop doubling).
    Fewer channels after downsampling is always flagged, even in small
    nets (LeNet-style 32 -> 16 -> 8). The same width is not flagged after a
    stage with a single convolution when that stage is the first (a stem)
    or is its own strided convolution (a strided encoder such as wav2vec2's,
    every convolution striding at one width), but is after a single
    convolution entered through pooling (LeNet-style 32 -> pool -> 32 ->
    pool -> 32). A stage runs from one
    downsampling layer (stride above 1, or pooling that shrinks the map) to
    the next; its width is the width of its output: its last merge (the
    residual stream of a ResNet, the concatenated features of a DenseNet or
    Inception block) where it has one, else its last convolution, leaving
    out a convolution that only expands the input of the next strided layer
    (MobileNet and RegNet blocks). A stage that already widened before its
    downsampling (Xception's entry blocks: 64 -> 128, then pool) is compared
    by the narrower of its first and last widths.
    Depthwise convolutions, a last convolution that is the classifier
    (NiN, SqueezeNet), 1x1 maps (squeeze-and-excitation) and decoders
    (anything after an upsampling) do not count; 'valid' padding that trims
    a border is no downsampling.

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
    """

    code = "AL016"
    name = "channels-not-growing-after-downsampling"
    severity = Severity.INFO
    references = (
        Ref("Simonyan & Zisserman 2015, ICLR",
            'K. Simonyan, A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.'),
        Ref("Szegedy et al. 2016, CVPR, Sec. 2",
            'C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna, "Rethinking the Inception Architecture for Computer Vision", CVPR 2016.'),
    )
    options = {"cap_channels": 512}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        cap = int(ctx.option("cap_channels"))
        stages = _stages(graph)
        for fine, coarse in zip(stages, stages[1:], strict=False):
            if coarse.level != fine.level + 1:
                continue
            before = fine.entry
            if coarse.channels > before or (coarse.channels == before and before >= cap):
                continue
            if coarse.channels == before and fine.width_convs < 2 and (
                fine is stages[0] or (fine.down is not None and fine.down.kind is OpKind.CONV)
            ):
                # a stem's single convolution, or a strided-convolution encoder (wav2vec2's feature
                # extractor: every convolution strides at one width): keeping the width is by design
                continue
            down = _downsampler(graph, fine, coarse)
            verb = "shrink" if coarse.channels < before else "stay"
            yield self.finding(
                down,
                f"'{down.layer}' downsamples {dims(fine.size)} -> {dims(coarse.size)} but the channels "
                f"{verb} at {coarse.channels} (before: {before}): a representational bottleneck",
                f"double the channels of the convolutions after '{down.layer}' (e.g. {before} -> "
                f"{2 * before})",
                ctx,
                before=before,
                after=coarse.channels,
            )

    autofix = 'none: widening a stage changes the weights of every layer after it'
