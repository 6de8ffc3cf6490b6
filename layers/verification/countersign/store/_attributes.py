"""DynamoDB attribute values and item keys, for the store modules only (nothing outside `store`
builds DynamoDB items)."""

from __future__ import annotations

from typing import Any


def string(value: str) -> dict[str, str]:
    """A string attribute value (`{"S": ...}`)."""
    return {"S": value}


def number(value: int | float) -> dict[str, str]:
    """A number attribute value (`{"N": ...}`: DynamoDB sends numbers as text)."""
    return {"N": str(value)}


def app_key(app_id: str, sort_key: str) -> dict[str, Any]:
    """The key of an application's item: every item key starts with its application."""
    return {"pk": string(f"APP#{app_id}"), "sk": string(sort_key)}
