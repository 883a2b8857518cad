"""A 4-layer Llama (transformers, random weights, a small config) for the capture benchmark.

    archlint check benchmarks/llama4_factory.py:make_model
"""

from __future__ import annotations


def make_model():
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(num_hidden_layers=4, hidden_size=256, intermediate_size=688, num_attention_heads=8,
                      num_key_value_heads=8, vocab_size=32000, max_position_embeddings=512)
    return LlamaForCausalLM(cfg)
