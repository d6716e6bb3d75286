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


import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _no_user_cache(tmp_path_factory):
    """Tests never see a lookup index a user fetched: the cache folder is an empty temporary one
    (subprocesses inherit it)."""
    import os

    saved = {name: os.environ.get(name) for name in ("NEXTTERM_CACHE", "NEXTTERM_LOOKUP_INDEX")}
    os.environ["NEXTTERM_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    os.environ.pop("NEXTTERM_LOOKUP_INDEX", None)
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
