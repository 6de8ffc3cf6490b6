"""EventBridge schedules -> function, for the local stack: the template's `Type: Schedule` events.

Locally a minute of the template is a second (SPEEDUP): the tables function folds every 5 s
instead of every 5 minutes, so a line is in the tables within 30 s of acceptance (SPEC 6.2), and
maintenance and reconcile run every minute instead of every hour. Each function's schedules run
one at a time on one thread, as its reserved concurrency of 1 does on AWS. The first run waits a
whole period, so nothing of this slows the stack's start.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from countersign_dev.emulation import template as tpl

#: Template seconds per local second.
SPEEDUP = 60.0

Invoke = Callable[[str, dict[str, Any]], Any]


class ScheduleRunner:
    """Runs one function's schedules in turn on a daemon thread until stopped."""

    def __init__(self, function: str, schedules: list[tpl.Schedule], invoke: Invoke, *, speedup: float = SPEEDUP):
        self.function = function
        self.schedules = schedules
        self._invoke = invoke
        self._speedup = speedup
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"schedule-{function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Start no new run (the stack asks every runner first, then waits for each: in parallel)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        start = time.monotonic()
        due = {schedule.name: start + schedule.every_seconds / self._speedup for schedule in self.schedules}
        while not self._stop.is_set():
            name = min(due, key=lambda key: due[key])
            if self._stop.wait(max(0.0, due[name] - time.monotonic())):
                return
            (schedule,) = [item for item in self.schedules if item.name == name]
            try:
                self._invoke(self.function, schedule.input)
            except Exception as error:  # noqa: BLE001 - a failed run is logged; the next one goes on, as on AWS
                print(f"schedule {self.function}.{name} failed: {error}", file=sys.stderr)
            due[name] = time.monotonic() + schedule.every_seconds / self._speedup


def start_schedule_runners(
    template: dict[str, Any], invoke: Invoke, *, speedup: float = SPEEDUP
) -> list[ScheduleRunner]:
    """One started runner per function that has schedules."""
    by_function: dict[str, list[tpl.Schedule]] = {}
    for schedule in tpl.schedules(template):
        by_function.setdefault(schedule.function, []).append(schedule)
    runners = [ScheduleRunner(function, items, invoke, speedup=speedup) for function, items in by_function.items()]
    for runner in runners:
        runner.start()
    return runners


def scheduled_only(template: dict[str, Any]) -> set[str]:
    """Functions that only schedules invoke (no API, no stream): the stack need not warm them."""
    found = set()
    for name, res in tpl.resources_of_type(template, "AWS::Serverless::Function").items():
        kinds = {event.get("Type") for event in res["Properties"].get("Events", {}).values()}
        if kinds and kinds <= {"Schedule", "ScheduleV2"}:
            found.add(str(name))
    return found
