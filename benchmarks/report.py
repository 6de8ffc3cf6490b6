"""Figures, budgets and the table `make bench` prints: every budget is a ratio or a count."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    """One measured figure; `limit` makes it a budget (`value <= limit` passes)."""

    section: str
    name: str
    value: float
    unit: str  # "x" for a ratio, "calls", "WCU/event", "events/s" ...
    limit: float | None = None
    context: str = ""  # absolute numbers behind a ratio, for the reader: never judged

    @property
    def passed(self) -> bool | None:
        return None if self.limit is None else self.value <= self.limit + 1e-9

    def cell(self) -> str:
        if self.unit == "x":
            return f"{self.value:.2f}x"
        if self.value == int(self.value):
            return f"{int(self.value)} {self.unit}"
        return f"{self.value:.3f} {self.unit}"

    def verdict(self) -> str:
        if self.limit is None:
            return ""
        bound = f"{self.limit:.2f}x" if self.unit == "x" else f"{self.limit:g}"
        return f"{'ok  ' if self.passed else 'MISS'} (budget <= {bound})"


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def print_section(title: str, figures: list[Figure]) -> None:
    print(f"\n== {title}")
    width = max((len(f.name) for f in figures), default=0)
    for figure in figures:
        line = f"  {figure.name:<{width}}  {figure.cell():>14}  {figure.verdict()}"
        if figure.context:
            line += f"   [{figure.context}]"
        print(line.rstrip())


def print_summary(figures: list[Figure]) -> int:
    """Print which budgets held; the exit code is the number of budgets missed (0: all held)."""
    budgets = [f for f in figures if f.limit is not None]
    missed = [f for f in budgets if not f.passed]
    print(f"\n{len(budgets) - len(missed)} of {len(budgets)} budgets held.")
    for figure in missed:
        print(f"  MISSED: {figure.section}: {figure.name} = {figure.cell()} (budget <= {figure.limit:g})")
    return len(missed)
