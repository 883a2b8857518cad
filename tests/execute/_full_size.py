"""Full-size models for the parameter-total test, built from their default
configs (no hub access; archlint builds them on the meta device, so no weight
is allocated). Each factory returns ``(model, example kwargs)``."""

from __future__ import annotations

from typing import Any


def _ids(n: int = 8) -> Any:
    import torch

    return torch.randint(0, 100, (1, n))


def gpt2() -> Any:
    import transformers as T

    return T.GPT2LMHeadModel(T.GPT2Config(use_cache=False)), {"input_ids": _ids()}


def bert() -> Any:
    import transformers as T

    return T.BertModel(T.BertConfig()), {"input_ids": _ids()}


def t5() -> Any:
    import transformers as T

    return T.T5Model(T.T5Config(use_cache=False, decoder_start_token_id=0)), {"input_ids": _ids(), "decoder_input_ids": _ids(4)}


def clip() -> Any:
    import torch
    import transformers as T

    return T.CLIPModel(T.CLIPConfig()), {"input_ids": _ids(), "pixel_values": torch.randn(1, 3, 224, 224)}


def vit_b_16() -> Any:
    import torch

    from archlint.frontends import _torchvision_compat

    _torchvision_compat.install()
    from torchvision.models import vit_b_16 as make

    return make(), (torch.randn(1, 3, 224, 224),)
