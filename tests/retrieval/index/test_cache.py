"""The batch cache: one read per call for the keys it lacks, the last ``size`` kept."""

from __future__ import annotations

from retrieval.index.cache import BatchCache

STORE = {n: f"row {n}" for n in range(10)}


def _cache(size: int) -> tuple[BatchCache[int, str], list[list[int]]]:
    reads: list[list[int]] = []

    def fetch(keys: list[int]) -> dict[int, str]:
        reads.append(keys)
        return {key: STORE[key] for key in keys if key in STORE}

    return BatchCache(fetch, size), reads


def test_the_missing_keys_are_read_together_and_the_cached_not_again() -> None:
    cache, reads = _cache(8)
    assert cache.many([3, 1, 3, 2]) == {3: "row 3", 1: "row 1", 2: "row 2"}
    assert list(cache.many([2, 5, 1])) == [2, 5, 1]  # in the order asked
    assert cache.many([1, 2, 3, 5]) == {n: STORE[n] for n in (1, 2, 3, 5)}
    assert reads == [[3, 1, 2], [5]]


def test_a_key_the_store_lacks_is_left_out_and_asked_for_again() -> None:
    cache, reads = _cache(8)
    assert cache.many([1, 42]) == {1: "row 1"}
    assert cache.many([42]) == {}
    assert reads == [[1, 42], [42]]


def test_the_least_recently_used_go_first() -> None:
    cache, reads = _cache(3)
    cache.many([0, 1, 2])
    cache.many([0])  # 0 used again: 1 is now the oldest
    cache.many([3])
    assert len(cache) == 3
    cache.many([0, 2, 3])
    assert reads[-1] == [3]
    cache.many([1])
    assert reads[-1] == [1]


def test_more_keys_than_it_keeps_are_all_returned() -> None:
    cache, _ = _cache(2)
    assert cache.many(range(6)) == {n: STORE[n] for n in range(6)}
    assert len(cache) == 2
