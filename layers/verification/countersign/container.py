"""State a warm Lambda container keeps between invocations (clients, caches), in one registry.

Everything cached per container registers its reset here, so a test can start a "cold" container
with `reset()` and the cache bounds stay easy to find.
"""

from __future__ import annotations

from collections.abc import Callable

_resets: list[Callable[[], None]] = []


def on_reset(reset: Callable[[], None]) -> Callable[[], None]:
    """Register what clears a piece of per-container state; returns it unchanged."""
    _resets.append(reset)
    return reset


def reset() -> None:
    """Forget every cached client, setting, key and secret, as a cold start would."""
    for clear in _resets:
        clear()
