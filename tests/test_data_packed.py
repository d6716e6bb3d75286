"""Packed token files: exact round trips (property-based), format checks, text encoding."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextterm.data.encode import encode_sequence, encode_text_ids, truncate_text
from nextterm.data.packed import MAGIC, PackedFormatError, PackedReader, PackedWriter, write_packed
from nextterm.tokenizer import EOS_ID, decode_terms, encode_terms

token_lists = st.lists(st.lists(st.integers(0, 15), max_size=40), max_size=30)
term_lists = st.lists(st.integers(-(10**40), 10**40), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(sequences=token_lists)
def test_round_trip_any_token_lists(tmp_path_factory, sequences):
    path = tmp_path_factory.mktemp("packed") / "x.packed"
    write_packed(path, sequences)
    reader = PackedReader(path)
    assert len(reader) == len(sequences)
    assert reader.lengths.tolist() == [len(s) for s in sequences]
    assert reader.total_tokens == sum(len(s) for s in sequences)
    assert [reader[i].tolist() for i in range(len(reader))] == sequences
    assert [s.tolist() for s in reader] == sequences


@settings(max_examples=40, deadline=None)
@given(sequences=st.lists(term_lists, min_size=1, max_size=10))
def test_round_trip_terms_through_encoding(tmp_path_factory, sequences):
    path = tmp_path_factory.mktemp("packed") / "t.packed"
    write_packed(path, (encode_sequence(terms) for terms in sequences))
    reader = PackedReader(path)
    assert [decode_terms(reader[i]) for i in range(len(reader))] == sequences
    for i, terms in enumerate(sequences):
        assert reader[i].tolist() == encode_terms(terms) + [EOS_ID]


def test_writer_flushes_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr("nextterm.data.packed._FLUSH_TOKENS", 7)
    rng = np.random.default_rng(0)
    sequences = [rng.integers(0, 16, size=int(rng.integers(0, 20))).tolist() for _ in range(50)]
    write_packed(tmp_path / "c.packed", sequences)
    reader = PackedReader(tmp_path / "c.packed")
    assert [s.tolist() for s in reader] == sequences


def test_header_and_index(tmp_path):
    path = write_packed(tmp_path / "h.packed", [[1, 2, 3], [4]])
    raw = path.read_bytes()
    assert raw[:8] == MAGIC
    assert int.from_bytes(raw[16:24], "little") == 2
    assert int.from_bytes(raw[24:32], "little") == 4
    reader = PackedReader(path)
    assert reader.offsets.tolist() == [0, 3]
    assert raw[32 + 24 :] == bytes([1 | 2 << 4, 3 | 4 << 4])


def test_bad_files_and_tokens(tmp_path):
    with pytest.raises(PackedFormatError, match="bad magic"):
        (tmp_path / "bad").write_bytes(b"x" * 64)
        PackedReader(tmp_path / "bad")
    with pytest.raises(PackedFormatError, match="too short"):
        (tmp_path / "short").write_bytes(b"NT")
        PackedReader(tmp_path / "short")
    with pytest.raises(PackedFormatError, match="cannot read"):
        PackedReader(tmp_path / "missing")
    path = write_packed(tmp_path / "ok.packed", [[1] * 10])
    (tmp_path / "cut").write_bytes(path.read_bytes()[:-2])
    with pytest.raises(PackedFormatError, match="truncated"):
        PackedReader(tmp_path / "cut")
    with pytest.raises(PackedFormatError, match="0..15"):
        with PackedWriter(tmp_path / "never.packed") as writer:
            writer.add([3, 16])
    with pytest.raises(PackedFormatError, match="0..15"):
        with PackedWriter(tmp_path / "never.packed") as writer:
            writer.add(np.array([3, 16], dtype=np.uint8))  # uint8 arrays are checked in bulk
    assert not (tmp_path / "never.packed").exists()
    assert not list(tmp_path.glob(".never*"))


def test_index_out_of_range(tmp_path):
    reader = PackedReader(write_packed(tmp_path / "r.packed", [[1]]))
    with pytest.raises(IndexError):
        reader[1]
    assert reader[-1].tolist() == [1]


def test_text_encoding_and_truncation():
    assert encode_text_ids("1,-2,").tolist() == [12, 1, 11, 10, 2, 11, 13]
    with pytest.raises(ValueError, match="character other"):
        encode_text_ids("1,x,")
    assert truncate_text("10,20,30,", 8) == "10,20,"
    assert truncate_text("10,20,30,", 11) == "10,20,30,"
    assert decode_terms(encode_sequence([123, 456, 789], max_tokens=10)) == [123, 456]
