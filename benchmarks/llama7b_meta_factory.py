"""A 7B-parameter Llama (the Llama-2-7B shape) built on the meta device: no weight is allocated.

    archlint check benchmarks/llama7b_meta_factory.py:make_model
"""

from __future__ import annotations

import torch


def make_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, vocab_size=32000, max_position_embeddings=4096)
    with torch.device("meta"):
        return LlamaForCausalLM(cfg)
