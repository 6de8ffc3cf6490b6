"""A small thread-safe cache whose entries expire: the bound on how stale a warm container can be."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    """`get_or_load(key, load)` returns a value at most `ttl_seconds` old; LRU beyond `max_entries`.

    Every instance is made by an lru_cache'd factory that registers with `countersign.container`,
    so a reset drops the whole cache. Loads are not serialised across keys; two threads missing
    the same key may both load it, which is harmless for the idempotent reads cached here.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = 4096, clock: Callable[[], float] | None = None):
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_load(self, key: Hashable, load: Callable[[], V]) -> V:
        now = self._now()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < self.ttl_seconds:
                self._entries.move_to_end(key)
                return found[1]
        value = load()
        self.put(key, value, loaded_at=now)
        return value

    def put(self, key: Hashable, value: V, *, loaded_at: float | None = None) -> None:
        with self._lock:
            self._entries[key] = (self._now() if loaded_at is None else loaded_at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def _now(self) -> float:
        # time.monotonic is looked up at each call, so a test can hold every cache's clock still.
        return self._clock() if self._clock is not None else time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
