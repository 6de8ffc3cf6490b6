"""Rollout insight (SPEC 3.5), on plain values: hour buckets, counter names, windows, what would drop.

Accepted sessions and events are counted per hour, by how they were verified, in the counter item
the request writes anyway (`countersign.store.counters`): a session start adds one to its bucket,
an events batch adds its accepted events to the same item as its outcome counts. No write is
added to `POST /events`.

Counter names (attributes of an hour item; the outcome counters `accepted`, `duplicates`,
`rejected_<code>` and `dropped_<code>` live next to them):

    s:unsigned             e:unsigned               sessions / events with unsigned metadata
    s:hs256:<keyName>      e:hs256:<keyName>        verified with this HS256 key
    s:rs256:<kid>          e:rs256:<kid>            verified with this RS256 kid

A name holds a key name or kid only after it verified a signature, so it is the customer's own
string, not a stranger's; still, a kid is any JSON string of up to `tokens.MAX_KID_CHARS`
characters, so it is written in its ASCII form (`ascii_escape.storable`), which every
DynamoDB attribute name can hold and which reads back exactly.

Windows: `hours=N` counts the current hour so far and the N full hours before it, so the answer
always covers at least the last N hours (`from` is the start of the oldest bucket, `to` is now).
The store keeps a bucket long enough for the longest window (`store.counters.RETENTION_HOURS`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from countersign import clock, policy
from countersign.ascii_escape import storable, unstorable
from countersign.errors import ApiError
from countersign.numerals import decimal_at_most
from countersign.settings import Settings, apply_patch

MAX_HOURS = 720
DEFAULT_HOURS = 24
#: The window of a settings dry-run's `impact` (SPEC 3.5).
IMPACT_HOURS = 24

Mode = Literal["hs256", "rs256", "unsigned"]
Counted = Literal["s", "e"]  # sessions, events


@dataclass(frozen=True)
class Window:
    """`hours` asked for; counted are the hour buckets from `start` to `end`'s hour, up to `end`."""

    hours: int
    start: datetime
    end: datetime


def window(hours: int, now: datetime) -> Window:
    """The buckets of the last `hours` hours: the current one and the `hours` before it."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be 1 to {MAX_HOURS}")
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return Window(hours, current - timedelta(hours=hours), now.astimezone(UTC))


def parse_hours(raw: str | None) -> int:
    """The `hours` query parameter of GET /coverage: an integer from 1 to 720, 24 when absent."""
    if raw is None:
        return DEFAULT_HOURS
    hours = decimal_at_most(raw, MAX_HOURS)
    if hours is None or not 1 <= hours <= MAX_HOURS:
        raise ApiError("invalid_request", f"hours must be an integer from 1 to {MAX_HOURS} (default {DEFAULT_HOURS}).")
    return hours


# counter names -------------------------------------------------------------------------------


def counter_name(counted: Counted, mode: Mode, key_name: str | None = None, kid: str | None = None) -> str:
    """The attribute that counts a session (`s`) or events (`e`) verified this way."""
    if mode == "unsigned":
        return f"{counted}:unsigned"
    if mode == "hs256":
        if not key_name:
            raise ValueError("an HS256 count names its key")
        return f"{counted}:hs256:{storable(key_name)}"
    if not kid:
        raise ValueError("an RS256 count names its kid")
    return f"{counted}:rs256:{storable(kid)}"


def is_counter_name(name: str) -> bool:
    return name.startswith(("s:", "e:"))


# what the buckets say ------------------------------------------------------------------------


@dataclass
class Counts:
    sessions: int = 0
    events: int = 0

    def add(self, counted: Counted, value: int) -> None:
        if counted == "s":
            self.sessions += value
        else:
            self.events += value

    def to_json(self) -> dict[str, int]:
        return {"sessions": self.sessions, "events": self.events}


@dataclass
class Tally:
    """Accepted sessions and events of a window, by how they were verified."""

    unsigned: Counts = field(default_factory=Counts)
    keys: dict[str, Counts] = field(default_factory=dict)
    kids: dict[str, Counts] = field(default_factory=dict)

    @property
    def hs256(self) -> Counts:
        return _sum(self.keys.values())

    @property
    def rs256(self) -> Counts:
        return _sum(self.kids.values())

    def by_mode(self) -> dict[Mode, Counts]:
        return {"hs256": self.hs256, "rs256": self.rs256, "unsigned": self.unsigned}


def tally(totals: Mapping[str, int]) -> Tally:
    """Read the coverage counters out of summed bucket attributes (other counters are ignored)."""
    result = Tally()
    for name, value in totals.items():
        if not is_counter_name(name):
            continue
        counted, _, rest = name.partition(":")
        mode, _, labelled = rest.partition(":")
        if mode == "unsigned":
            result.unsigned.add("s" if counted == "s" else "e", value)
        elif mode in {"hs256", "rs256"} and labelled:
            table = result.keys if mode == "hs256" else result.kids
            table.setdefault(unstorable(labelled), Counts()).add("s" if counted == "s" else "e", value)
    return result


def would_drop(traffic: Tally, settings: Settings) -> Counts:
    """What the acceptance table (SPEC 3.4) would drop of `traffic` under `settings`.

    Only what the settings decide: each mode is taken as verified with a valid signature and an
    active key or kid, so a key revoked since is not counted here (its own numbers show it).
    """
    dropped = Counts()
    for mode, counts in traffic.by_mode().items():
        facts = policy.Facts(
            kind=mode,
            use_signed_metadata=settings.use_signed_metadata,
            use_rs256_signed_metadata=settings.use_rs256_signed_metadata,
            jwks_uri_saved=bool(settings.jwks_uri),
            only_allow_signed_metadata=settings.only_allow_signed_metadata,
            key_status="active",
            signature_valid=True,
            subject_suppressed=False,  # suppressed subjects' traffic is not counted as accepted
        )
        if isinstance(policy.decide(facts), str):
            dropped.sessions += counts.sessions
            dropped.events += counts.events
    return dropped


def coverage_json(
    counts: Tally,
    span: Window,
    *,
    keys: list[tuple[str, bool, str | None]],
    kid_last_used: Mapping[str, str],
) -> dict[str, Any]:
    """The answer of GET /coverage (SPEC 3.5).

    `keys` is every HS256 key of the application in display order as (keyName, active,
    lastUsedAt); `kid_last_used` the lastUsedAt of every kid ever used. A key is listed if it is
    active or was used in the window; a kid if it was used in the window.
    """
    since = clock.iso(span.start)
    listed_keys = [
        _usage_row("keyName", name, counts.keys.get(name, Counts()), last_used)
        for name, active, last_used in keys
        if active or name in counts.keys or (last_used is not None and last_used >= since)
    ]
    kids = set(counts.kids) | {kid for kid, last_used in kid_last_used.items() if last_used >= since}
    listed_kids = [
        _usage_row("kid", kid, counts.kids.get(kid, Counts()), kid_last_used.get(kid))
        for kid in sorted(kids, key=lambda kid: (-counts.kids.get(kid, Counts()).sessions, kid))
    ]
    return {
        "hours": span.hours,
        "from": since,
        "to": clock.iso(span.end),
        "sessions": {mode: mode_counts.sessions for mode, mode_counts in counts.by_mode().items()},
        "events": {mode: mode_counts.events for mode, mode_counts in counts.by_mode().items()},
        "keys": listed_keys,
        "kids": listed_kids,
        # Enforcing onlyAllowSignedMetadata refuses unsigned metadata and never a verified token
        # (the acceptance table's rows; tests/unit hold this equal to `would_drop` when enforced).
        "wouldDrop": counts.unsigned.to_json(),
    }


def hourly_json(hours: Mapping[datetime, Mapping[str, int]], span: Window) -> list[dict[str, Any]]:
    """Every hour of `span`, oldest first, with its accepted sessions and events signed (HS256 or
    RS256) and unsigned: the trend the console draws. Hours with no counters are zeros."""
    trend = []
    hour = span.start
    while hour <= span.end:
        counted = tally(hours.get(hour, {}))
        signed = _sum([counted.hs256, counted.rs256])
        trend.append(
            {
                "hour": clock.iso(hour),
                "sessions": {"signed": signed.sessions, "unsigned": counted.unsigned.sessions},
                "events": {"signed": signed.events, "unsigned": counted.unsigned.events},
            }
        )
        hour += timedelta(hours=1)
    return trend


def preview(current: Settings, patch: dict[str, Any], *, now: str, traffic: Callable[[], Tally]) -> dict[str, Any]:
    """The answer of a PATCH /settings dry-run: the same rules and errors as the real change
    (`settings.apply_patch`), what the settings would become, and what `traffic` (the last
    IMPACT_HOURS, read only once the patch passed) would have lost under them. Writes nothing."""
    changed = apply_patch(current, patch, now=now, would_drop=dropped_of(traffic))
    return {
        "dryRun": True,
        "settings": changed.to_json(),
        "impact": {"hours": IMPACT_HOURS, "wouldDrop": would_drop(traffic(), changed).to_json()},
    }


def dropped_of(traffic: Callable[[], Tally]) -> Callable[[Settings], tuple[int, int]]:
    """`apply_patch`'s `would_drop`: (sessions, events) of `traffic` (read once, when first asked)
    that the acceptance table would drop under the given settings."""
    read: list[Tally] = []

    def dropped(settings: Settings) -> tuple[int, int]:
        if not read:
            read.append(traffic())
        counts = would_drop(read[0], settings)
        return counts.sessions, counts.events

    return dropped


def last_used_minute(moment: datetime) -> datetime:
    """lastUsedAt's precision: the minute (SPEC 3.5)."""
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def _usage_row(field_name: str, name: str, counts: Counts, last_used: str | None) -> dict[str, Any]:
    return {field_name: name, **counts.to_json(), "lastUsedAt": last_used}


def _sum(all_counts: Any) -> Counts:
    total = Counts()
    for counts in all_counts:
        total.sessions += counts.sessions
        total.events += counts.events
    return total
