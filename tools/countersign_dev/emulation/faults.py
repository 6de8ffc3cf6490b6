"""Opt-in fault injection for the local stack: a flaky API for the SDK routes (`countersign local --sdk-faults`).

A share of SDK requests (session start, metadata update, events) fails the way a deployed API
fails under load or a dependency outage, so an SDK's retries can be tried end to end:

- `unavailable`: 503 with Retry-After before the function runs (nothing happened);
- `throttled`: 429 with Retry-After before the function runs (a rate limit);
- `lost_answer`: the function runs (the events are stored) and the answer is replaced by a 503,
  as when a connection drops after the write: the retry must not store anything twice.

Answers carry the CORS headers the API's own have, so a browser page can read them. The local
stack calls `SdkFaults.pick` for each request; the deployed template never has this.
"""

from __future__ import annotations

import json
import random
import re
import threading
from dataclasses import dataclass

from countersign_dev.emulation.gateway import Answer

SDK_PATH = re.compile(r"/v1/apps/[^/]+/(?:sessions(?:/[^/]+)?|events)")
KINDS = ("unavailable", "throttled", "lost_answer")
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Fault:
    kind: str

    @property
    def before_function(self) -> bool:
        """True if the request never reaches the function; False if only its answer is lost."""
        return self.kind != "lost_answer"

    def answer(self) -> Answer:
        status, code, message = (
            (429, "throttled", "Too many requests: retry later.")
            if self.kind == "throttled"
            else (503, "service_unavailable", "The service is unavailable; retry the same request later.")
        )
        headers = {
            "Content-Type": ["application/json"],
            "Retry-After": [str(RETRY_AFTER_SECONDS)],
            "Access-Control-Allow-Origin": ["*"],
            "Access-Control-Expose-Headers": ["Retry-After"],
        }
        return status, headers, json.dumps({"error": {"code": code, "message": message}}).encode()


class SdkFaults:
    """Decides, request by request, which SDK requests fail (reproducibly with a seed)."""

    def __init__(self, rate: float, seed: int | None = None) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("the fault rate is a share from 0 to 1")
        self.rate = rate
        self._random = random.Random(seed)  # noqa: S311 - test traffic shaping, not security
        self._lock = threading.Lock()
        self.injected: dict[str, int] = dict.fromkeys(KINDS, 0)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault for this request, or None to serve it normally (CORS preflights always are)."""
        if method == "OPTIONS" or not SDK_PATH.fullmatch(path):
            return None
        with self._lock:
            if self._random.random() >= self.rate:
                return None
            kind = self._random.choice(KINDS)
            self.injected[kind] += 1
        return Fault(kind)
