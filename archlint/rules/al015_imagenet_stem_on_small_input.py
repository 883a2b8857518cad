from __future__ import annotations

from collections.abc import Iterator

from archlint.findings import Finding, Severity
from archlint.graph import Graph, OpKind, Value
from archlint.rules._match import ELEMENTWISE, NORMALISATIONS, REGULARISERS, dims, nearest_downstream, spatial, through
from archlint.rules.base import Ref, Rule, RuleContext

_TO_POOL = through(NORMALISATIONS, ELEMENTWISE, {OpKind.IDENTITY, OpKind.PAD}, REGULARISERS,
                   norm="the stem's normalisation keeps its map's size, which is what the rule measures")


def _before_padding(v: Value) -> Value:
    """The value an explicit padding layer (``ZeroPadding2D(3)`` before a
    ``padding="valid"`` stem, as DenseNet and ResNet write it) was applied to: the
    image the stem really sees."""
    while v.producer is not None and v.producer.kind in (OpKind.PAD, OpKind.IDENTITY) and v.producer.inputs:
        v = v.producer.inputs[0]
    return v


class ImagenetStemOnSmallInput(Rule):
    """An ImageNet stem (7x7 stride-2 conv + stride-2 pool) is used on a small input.

    ## What it flags
    A first convolution with a kernel of 7 or more and stride 2, followed by
    a stride-2 pooling layer, on an input no larger than `max_input` pixels
    per side (default 64), e.g. torchvision's ResNet on 32x32 CIFAR images.

    ## Why it hurts
    The stem was designed to cut a 224x224 image to 56x56 cheaply. On a
    32x32 image it leaves an 8x8 map before the first block: a quarter of the
    pixels survive the first two layers, fine detail is lost and the later
    stages run on 4x4, 2x2 and 1x1 maps. CIFAR variants replace the stem with
    one 3x3 stride-1 convolution and no pooling.

    ## Example
    ```python
    torchvision.models.resnet18(num_classes=10)   # trained on 32x32 CIFAR-10
    ```

    ## Use instead
    ```python
    model.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    ```
    """

    code = "AL015"
    name = "imagenet-stem-on-small-input"
    severity = Severity.WARNING
    references = (
        Ref("He et al. 2016, CVPR, Sec. 4.2",
            'K. He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, Section 4.2.'),
    )
    options = {"max_input": 64, "min_kernel": 7}

    def check(self, graph: Graph, ctx: RuleContext) -> Iterator[Finding]:
        max_input = int(ctx.option("max_input"))
        min_kernel = int(ctx.option("min_kernel"))
        conv = next(graph.of_kind(OpKind.CONV), None)
        if conv is None or not conv.inputs:
            return
        size = spatial(_before_padding(conv.inputs[0]).shape)
        if size is None or max(size) > max_input:
            return
        kernel = tuple(conv.attrs.get("kernel") or ())
        stride = tuple(conv.attrs.get("stride") or ())
        if not kernel or min(kernel) < min_kernel or not stride or min(stride) < 2:
            return
        pools = [n for n in nearest_downstream(conv, _TO_POOL) if n.kind is OpKind.POOL]
        pool = next((p for p in pools if min(p.attrs.get("stride") or (1,)) >= 2), None)
        if pool is None:
            return
        after = spatial(pool.output.shape)
        left = f" shrink it to {dims(after)}" if after else " downsample it 4x"
        yield self.finding(
            conv,
            f"ImageNet stem on a {dims(size)} input: the {dims(kernel)} stride-{stride[0]} convolution "
            f"'{conv.layer}' and the stride-2 pooling '{pool.layer}'{left} before the first block",
            f"for small inputs use a 3x3 stride-1 first convolution and drop '{pool.layer}'",
            ctx,
            pool=pool.layer,
            input_size=list(size),
        )

    autofix = "none: a 3x3 stride-1 stem without the pooling changes every later feature map size and the stem's weights"
