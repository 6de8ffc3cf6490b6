"""The service's one clock format: UTC ISO 8601 with a `Z`, to the second (API answers, stored
timestamps), to the millisecond (the data lake's records, as precise as what is stored) or to the
microsecond (drop records, which are ordered by it); and the one rule of a scheduled run's time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: Milliseconds of an invocation a scheduled run's next piece of work needs at least (a commit of
#: the fold, a store's step or a chunk of landing objects of an erasure): with less, the run ends
#: cleanly where it stands and the next run goes on from there (the tables and erasure functions).
SAFETY_MS = 120_000


def time_to_go_on(remaining_ms: Callable[[], int] | None) -> Callable[[], bool]:
    """Whether a scheduled run may start its next piece of work: SAFETY_MS of the invocation are
    left (`remaining_ms` is the Lambda context's clock; None, as a tool or test calling the module
    directly, is always yes)."""
    return lambda: remaining_ms is None or remaining_ms() > SAFETY_MS


_SECONDS = "%Y-%m-%dT%H:%M:%SZ"
_MICROSECONDS = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | float, *, microseconds: bool = False, milliseconds: bool = False) -> str:
    """`moment` (a datetime, or epoch seconds) as `2026-01-31T12:00:00Z` in UTC."""
    when = datetime.fromtimestamp(moment, UTC) if isinstance(moment, (int, float)) else moment.astimezone(UTC)
    if milliseconds:
        return when.strftime(_MICROSECONDS)[:-4] + "Z"
    return when.strftime(_MICROSECONDS if microseconds else _SECONDS)


def utc_day(moment: datetime | float) -> str:
    """The UTC date of `moment` (a datetime, or epoch seconds): `2026-01-31`."""
    when = datetime.fromtimestamp(moment, UTC) if isinstance(moment, (int, float)) else moment.astimezone(UTC)
    return when.strftime("%Y-%m-%d")


def now_iso(*, microseconds: bool = False) -> str:
    """The current time as `iso` writes it."""
    return iso(now(), microseconds=microseconds)


def parse_iso(text: str) -> datetime:
    """A timestamp `iso` wrote (to the second) back as an aware UTC datetime."""
    return datetime.strptime(text, _SECONDS).replace(tzinfo=UTC)


def parse_iso_ms(text: str) -> float:
    """Epoch seconds of a timestamp `iso` wrote to the second or the millisecond."""
    for layout in (_SECONDS, "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(f"not a timestamp of ours: {text!r}")
