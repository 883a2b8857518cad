"""The rule registry: every rule class, in code order."""

from __future__ import annotations

from archlint.rules.al001_dropout_between_conv import DropoutBetweenConv
from archlint.rules.al002_bn_after_activation import BnAfterActivation
from archlint.rules.al003_dense_head import DenseHead
from archlint.rules.al004_dropout_before_batch_norm import DropoutBeforeBatchNorm
from archlint.rules.al005_bias_before_batch_norm import BiasBeforeBatchNorm
from archlint.rules.al006_dropout_rate_too_high import DropoutRateTooHigh
from archlint.rules.al007_dropout_on_logits import DropoutOnLogits
from archlint.rules.al008_consecutive_activations import ConsecutiveActivations
from archlint.rules.al009_stacked_linear_layers import StackedLinearLayers
from archlint.rules.al010_deep_saturating_stack import DeepSaturatingStack
from archlint.rules.al011_softmax_in_hidden_layer import SoftmaxInHiddenLayer
from archlint.rules.al012_unnormalised_deep_conv_stack import UnnormalisedDeepConvStack
from archlint.rules.al013_deep_plain_stack import DeepPlainStack
from archlint.rules.al014_kernel_larger_than_feature_map import KernelLargerThanFeatureMap
from archlint.rules.al015_imagenet_stem_on_small_input import ImagenetStemOnSmallInput
from archlint.rules.al016_channels_not_growing_after_downsampling import ChannelsNotGrowingAfterDownsampling
from archlint.rules.al017_activation_on_narrow_residual import ActivationOnNarrowResidual
from archlint.rules.al018_dominant_dense_layer import DominantDenseLayer
from archlint.rules.al019_unfoldable_batch_norm import UnfoldableBatchNorm
from archlint.rules.al020_channels_not_multiple_of_8 import ChannelsNotMultipleOf8
from archlint.rules.al021_dangling_node import DanglingNode
from archlint.rules.al022_large_kernel_deep import LargeKernelDeep
from archlint.rules.al023_stride_exceeds_kernel import StrideExceedsKernel
from archlint.rules.al024_consecutive_normalisation import ConsecutiveNormalisation
from archlint.rules.al025_loss_output_mismatch import LossOutputMismatch
from archlint.rules.al026_single_unit_softmax import SingleUnitSoftmax
from archlint.rules.al027_dense_on_feature_map import DenseOnFeatureMap
from archlint.rules.al028_constant_kernel_initialiser import ConstantKernelInitialiser
from archlint.rules.al029_initialiser_scale import InitialiserScale
from archlint.rules.al030_kernel_grows_with_depth import KernelGrowsWithDepth
from archlint.rules.al031_dense_widens_toward_output import DenseWidensTowardOutput
from archlint.rules.al032_no_downsampling_before_head import NoDownsamplingBeforeHead
from archlint.rules.al033_dropout_before_max_pooling import DropoutBeforeMaxPooling
from archlint.rules.al101_missing_final_norm import MissingFinalNorm
from archlint.rules.al102_unscaled_attention import UnscaledAttention
from archlint.rules.al103_no_positional_information import NoPositionalInformation
from archlint.rules.al104_attention_head_dim import AttentionHeadDim
from archlint.rules.al105_vocab_size_not_aligned import VocabSizeNotAligned
from archlint.rules.al106_softmax_into_log import SoftmaxIntoLog
from archlint.rules.al107_fp16_unsafe_constant import Fp16UnsafeConstant
from archlint.rules.al108_dropout_in_rnn import DropoutInRnn
from archlint.rules.al900_export_hides_layers import ExportHidesLayers
from archlint.rules.base import Rule, RuleContext

ALL_RULES: tuple[type[Rule], ...] = (
    DropoutBetweenConv,
    BnAfterActivation,
    DenseHead,
    DropoutBeforeBatchNorm,
    BiasBeforeBatchNorm,
    DropoutRateTooHigh,
    DropoutOnLogits,
    ConsecutiveActivations,
    StackedLinearLayers,
    DeepSaturatingStack,
    SoftmaxInHiddenLayer,
    UnnormalisedDeepConvStack,
    DeepPlainStack,
    KernelLargerThanFeatureMap,
    ImagenetStemOnSmallInput,
    ChannelsNotGrowingAfterDownsampling,
    ActivationOnNarrowResidual,
    DominantDenseLayer,
    UnfoldableBatchNorm,
    ChannelsNotMultipleOf8,
    DanglingNode,
    LargeKernelDeep,
    StrideExceedsKernel,
    ConsecutiveNormalisation,
    LossOutputMismatch,
    SingleUnitSoftmax,
    DenseOnFeatureMap,
    ConstantKernelInitialiser,
    InitialiserScale,
    KernelGrowsWithDepth,
    DenseWidensTowardOutput,
    NoDownsamplingBeforeHead,
    DropoutBeforeMaxPooling,
    MissingFinalNorm,
    UnscaledAttention,
    NoPositionalInformation,
    AttentionHeadDim,
    VocabSizeNotAligned,
    SoftmaxIntoLog,
    Fp16UnsafeConstant,
    DropoutInRnn,
    ExportHidesLayers,
)

_BY_CODE: dict[str, type[Rule]] = {}
for _r in ALL_RULES:
    for _c in (_r.code, *_r.aliases):
        if _c in _BY_CODE:
            raise RuntimeError(f"rule code {_c} used twice")
        _BY_CODE[_c] = _r
_BY_NAME = {r.name: r for r in ALL_RULES}


def get_rule(code_or_name: str) -> type[Rule] | None:
    """A rule by code (or alias) or by name, case-insensitive for codes."""
    return _BY_CODE.get(code_or_name.upper()) or _BY_NAME.get(code_or_name.lower())


__all__ = ["ALL_RULES", "Rule", "RuleContext", "get_rule"]
