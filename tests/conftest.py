"""Shared test helpers: the smallest Qwen3 NextTerm model that still exercises every code path."""

TINY_QWEN3 = {
    "num_hidden_layers": 1,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "max_position_embeddings": 64,
}
"""Overrides of the ``nextterm-1m`` preset for a model that builds and runs in milliseconds."""
