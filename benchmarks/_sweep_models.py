"""Factories the precision sweep names as ``benchmarks/_sweep_models.py:NAME`` (with ``--arg``),
so every model goes through archlint's own loading path (meta build, CPU rebuild, default
inputs), as ``archlint check SPEC --arg ...`` would.

Not part of the package: the libraries here (diffusers, segmentation_models_pytorch, monai) are
installed only for the sweep (``pip install -e '.[sweep]'``).
"""

from __future__ import annotations

from typing import Any

#: config attributes holding a layer count; capped so the sweep stays cheap on a shared CPU
LAYER_ATTRS = ("num_hidden_layers", "encoder_layers", "decoder_layers", "n_layer", "num_layers",
               "num_decoder_layers", "n_layers", "encoder_depth")
MAX_LAYERS = 4


def hf(model_type: str) -> Any:
    """``AutoModel`` for a transformers model type, from its default config, at most 4 layers deep."""
    import transformers as T

    cfg = T.AutoConfig.for_model(model_type)
    for attr in LAYER_ATTRS:
        v = getattr(cfg, attr, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > MAX_LAYERS:
            setattr(cfg, attr, MAX_LAYERS)
    if hasattr(cfg, "use_cache"):
        cfg.use_cache = False
    return T.AutoModel.from_config(cfg)


def smp(arch: str) -> Any:
    """A segmentation_models_pytorch architecture with its default encoder, random weights."""
    import segmentation_models_pytorch as S

    return getattr(S, arch)(encoder_weights=None)


def diffusers_model(cls: str) -> Any:
    """A diffusers model class from its default config (random weights), with an example input."""
    import torch

    import diffusers as D

    if cls == "UNet2DModel":
        m = D.UNet2DModel(sample_size=32)
        return m, (torch.randn(2, 3, 32, 32), torch.tensor([1, 2]))
    if cls == "AutoencoderKL":
        m = D.AutoencoderKL()
        return m, (torch.randn(2, 3, 32, 32),)
    if cls == "UNet2DConditionModel":
        m = D.UNet2DConditionModel(sample_size=16, cross_attention_dim=64, block_out_channels=(32, 64, 64, 64),
                                   attention_head_dim=8)
        return m, (torch.randn(2, 4, 16, 16), torch.tensor([1, 2]), torch.randn(2, 7, 64))
    if cls == "VQModel":
        return D.VQModel(), (torch.randn(2, 3, 32, 32),)
    raise ValueError(cls)


def monai_net(name: str) -> Any:
    """A MONAI network at a small 3-D size, random weights, with an example input."""
    import torch
    from monai import networks as N

    x3 = torch.randn(2, 1, 32, 32, 32)
    nets = {
        "UNet": lambda: N.nets.UNet(3, 1, 2, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2),
        "BasicUNet": lambda: N.nets.BasicUNet(spatial_dims=3, in_channels=1, out_channels=2),
        "SegResNet": lambda: N.nets.SegResNet(spatial_dims=3, in_channels=1, out_channels=2),
        "DynUNet": lambda: N.nets.DynUNet(3, 1, 2, kernel_size=[3, 3, 3, 3], strides=[1, 2, 2, 2], upsample_kernel_size=[2, 2, 2]),
        "UNETR": lambda: N.nets.UNETR(1, 2, img_size=(32, 32, 32), feature_size=16, hidden_size=192, num_heads=4),
        "SwinUNETR": lambda: N.nets.SwinUNETR(in_channels=1, out_channels=2, feature_size=24),
        "DenseNet121": lambda: N.nets.DenseNet121(spatial_dims=3, in_channels=1, out_channels=2),
        "AttentionUnet": lambda: N.nets.AttentionUnet(3, 1, 2, channels=(16, 32, 64), strides=(2, 2)),
        "VNet": lambda: N.nets.VNet(spatial_dims=3, in_channels=1, out_channels=2),
        "HighResNet": lambda: N.nets.HighResNet(spatial_dims=3, in_channels=1, out_channels=2),
        "ResNet18_3d": lambda: N.nets.resnet18(spatial_dims=3, n_input_channels=1, num_classes=2),
        "AutoEncoder": lambda: N.nets.AutoEncoder(3, 1, 1, channels=(8, 16, 32), strides=(2, 2, 2)),
    }
    return nets[name](), (x3,)
