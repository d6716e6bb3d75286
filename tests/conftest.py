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


def write_progression_data(directory, train: int, val: int, items: int):
    """A tiny data build of arithmetic progressions (``train.packed``, ``val.packed`` and
    ``val.jsonl`` with ``items`` next-term questions), the same for every seed-0 caller."""
    import json
    import random

    from nextterm.data.encode import encode_sequence
    from nextterm.data.packed import write_packed

    rng = random.Random(0)

    def progressions(count: int):
        for _ in range(count):
            start, step = rng.randint(-20, 50), rng.randint(1, 9)
            yield [start + step * i for i in range(rng.randint(4, 14))]

    write_packed(directory / "train.packed", (encode_sequence(s) for s in progressions(train)))
    write_packed(directory / "val.packed", (encode_sequence(s) for s in progressions(val)))
    with (directory / "val.jsonl").open("w") as handle:
        for index, terms in enumerate(progressions(items)):
            handle.write(
                json.dumps({"id": f"v{index}", "prompt": terms[:-1], "answer": terms[-1]}) + "\n"
            )
    return directory


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
