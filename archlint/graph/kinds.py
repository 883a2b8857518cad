"""The closed set of op kinds, the kind families rules use, and :class:`GraphError`.

Imported by every other module of the graph package; imports none of them.
"""

from __future__ import annotations

import enum


class OpKind(str, enum.Enum):
    """The closed set of operation kinds rules reason about."""

    INPUT = "input"
    OUTPUT = "output"
    CONV = "conv"  # Conv1D/2D/3D, depthwise, separable, transposed (attrs say which)
    DENSE = "dense"  # Gemm, MatMul(+Add), Linear, Dense
    BATCH_NORM = "batch_norm"
    NORM = "norm"  # group/instance/other norm (attrs["norm"])
    LAYER_NORM = "layer_norm"  # LayerNorm, incl. the written-out mean/var/rsqrt form (attrs["norm"] = "layer")
    RMS_NORM = "rms_norm"  # RMSNorm, incl. the written-out pow-mean-rsqrt-mul form (attrs["norm"] = "rms")
    ATTENTION = "attention"  # scaled dot-product attention (attrs: heads, head_dim, scale, causal)
    MATMUL = "matmul"  # a product with no weight operand (MatMul, bmm, einsum): scores, relative positions
    EMBEDDING = "embedding"  # a lookup in a weight table (attrs: vocab, dim, tied)
    RNN = "rnn"  # LSTM / GRU / simple RNN (attrs: cell, layers, dropout, recurrent_dropout)
    DROPOUT = "dropout"  # all dropout flavours (attrs["spatial"], attrs["flavour"])
    ACTIVATION = "activation"  # attrs["activation"]: relu, sigmoid, softmax, ...
    POOL = "pool"  # local max/avg pooling (attrs["pool"])
    GLOBAL_POOL = "global_pool"  # global max/avg pooling, mean over H and W
    FLATTEN = "flatten"
    RESHAPE = "reshape"
    ADD = "add"
    MUL = "mul"
    CONCAT = "concat"
    IDENTITY = "identity"
    PAD = "pad"
    UNKNOWN = "unknown"


#: Kinds that hold trainable weights and transform features.
WEIGHT_KINDS = frozenset({OpKind.CONV, OpKind.DENSE})
#: Kinds that normalise their input.
NORM_KINDS = frozenset({OpKind.BATCH_NORM, OpKind.NORM, OpKind.LAYER_NORM, OpKind.RMS_NORM})
#: Layouts of values whose trailing axes are spatial (canonical channel-first maps).
SPATIAL_LAYOUTS = frozenset({"NCL", "NCHW", "NCDHW"})
#: Kinds that merge several data inputs.
MERGE_KINDS = frozenset({OpKind.ADD, OpKind.MUL, OpKind.CONCAT})


class GraphError(ValueError):
    """A graph that breaks its invariants (see :meth:`Graph.lint`)."""

