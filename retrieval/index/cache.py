"""A small LRU cache of rows read from a remote store, filled many keys to one read."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BatchCache(Generic[K, V]):
    """Keeps the ``size`` values last asked for; ``many`` reads all the keys it lacks with one call of
    ``fetch`` (which returns the values it found: a key it leaves out is not in the store, and is asked
    for again next time). Safe to share between threads (a read runs outside the lock)."""

    def __init__(self, fetch: Callable[[list[K]], Mapping[K, V]], size: int) -> None:
        self._fetch = fetch
        self._size = size
        self._kept: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def many(self, keys: Iterable[K]) -> dict[K, V]:
        """The value of each of ``keys`` that the store holds (the cached ones, and the rest read at once)."""
        wanted = list(dict.fromkeys(keys))
        out: dict[K, V] = {}
        with self._lock:
            for key in wanted:
                if key in self._kept:
                    self._kept.move_to_end(key)
                    out[key] = self._kept[key]
        missing = [key for key in wanted if key not in out]
        if not missing:
            return out
        found = self._fetch(missing)
        with self._lock:
            for key in missing:
                if key in found:
                    out[key] = self._kept[key] = found[key]
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return {key: out[key] for key in wanted if key in out}
