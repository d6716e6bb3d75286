"""Augmentations and synthetic families: each transform's definition, the chain rules, seeding."""

from __future__ import annotations

import random

import pytest

from nextterm.data import augment as aug
from nextterm.data import synthetic as syn

TERMS = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]


def test_transforms():
    assert aug.scale([1, -2], 3) == [3, -6]
    assert aug.negate([1, -2, 0]) == [-1, 2, 0]
    assert aug.alternate([1, 2, 3, 4]) == [1, -2, 3, -4]
    assert aug.add_constant([1, 2], -5) == [-4, -3]
    assert aug.swap_pairs([1, 2, 3, 4, 5]) == [2, 1, 4, 3, 5]
    assert aug.swap_pairs([1, 2, 3, 4]) == [2, 1, 4, 3]
    assert aug.partial_sums([1, 2, 3]) == [1, 3, 6]
    assert aug.reduce_mod([-1, 7, 9], 4) == [3, 3, 1]
    assert aug.every_kth(TERMS, 3, 1) == [1, 5, 21]
    assert aug.first_differences([1, 4, 9, 16]) == [3, 5, 7]
    assert aug.sub_range(TERMS, 2, 3) == [2, 3, 5]


def test_chain_rules_and_seeding():
    config = aug.AugmentConfig()
    outputs = []
    for seed in range(300):
        result = aug.augment(TERMS, random.Random(seed), config)
        if result is None:
            continue
        terms, chain = result
        outputs.append(result)
        assert 1 <= len(chain) <= 3 and len(set(chain)) == len(chain)
        assert sum(name in aug.REDUCING for name in chain) <= 1
        assert sum(name in aug.PRESERVING for name in chain) <= 2
        assert len(terms) >= config.min_terms and terms != TERMS
        if not any(name in aug.REDUCING for name in chain):
            assert len(terms) == len(TERMS)
    used = {name for _, chain in outputs for name in chain}
    assert used == set(aug.PRESERVING) | set(aug.REDUCING)
    again = [aug.augment(TERMS, random.Random(seed), config) for seed in range(300)]
    assert [r for r in again if r is not None] == outputs


def test_config_restricts_transforms():
    config = aug.AugmentConfig(weights={"negate": 1.0}, p_reduce=0.0)
    for seed in range(20):
        terms, chain = aug.augment(TERMS, random.Random(seed), config)
        assert chain == ("negate",) and terms == [-t for t in TERMS]
    with pytest.raises(ValueError, match="unknown"):
        aug.AugmentConfig(weights={"rotate": 1.0})
    with pytest.raises(ValueError):
        aug.AugmentConfig(weights={"negate": 0.0})


def test_too_short_results_are_rejected():
    config = aug.AugmentConfig(weights={"every_kth": 1.0}, p_reduce=1.0)
    assert all(aug.augment([1, 2, 3, 4, 5], random.Random(s), config) is None for s in range(10))


@pytest.mark.parametrize("family", sorted(syn.FAMILIES))
def test_synthetic_families(family):
    config = syn.SyntheticConfig()
    rng = random.Random(1)
    for _ in range(50):
        terms = syn.FAMILIES[family](rng, 12, config)
        assert len(terms) == 12 and all(isinstance(t, int) for t in terms)


def test_family_rules():
    config = syn.SyntheticConfig()
    rng = random.Random(5)
    for _ in range(20):
        terms = syn.polynomial(rng, 10, config)
        for _ in range(5):  # a degree <= 4 polynomial has vanishing 5th differences
            terms = [b - a for a, b in zip(terms, terms[1:])]
        assert set(terms) == {0}
        g = syn.geometric(rng, 6, config)
        assert all(g[i + 1] * g[0] == g[i] * g[1] for i in range(5))
        p = syn.periodic(rng, 30, config)
        assert any(all(p[i] == p[i + k] for i in range(30 - k)) for k in range(2, 7))


def test_generate_mix_and_cap():
    config = syn.SyntheticConfig(
        mix={"geometric": 1.0}, max_term_digits=5, min_terms=3, max_terms=30
    )
    rng = random.Random(2)
    results = [syn.generate(rng, config) for _ in range(200)]
    kept = [r for r in results if r is not None]
    assert kept and all(family == "geometric" for family, _ in kept)
    assert all(abs(t) < 10**5 for _, terms in kept for t in terms)
    assert syn.cap_digits([1, 10**5, 3], 5) == [1]
    assert syn.cap_digits([99999, -99999], 5) == [99999, -99999]
    first = [syn.generate(random.Random(9), syn.SyntheticConfig()) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    with pytest.raises(ValueError, match="unknown"):
        syn.SyntheticConfig(mix={"fractal": 1.0})
