"""DynamoDB attribute values and item keys, for the store modules only (nothing outside `store`
builds or reads DynamoDB items)."""

from __future__ import annotations

from typing import Any

# Powertools' copy of boto3's TypeDeserializer, the one its DynamoDB stream event classes use:
# about 1 ms to import, where boto3's costs the whole of boto3 (which the export function's cold
# start never imports) and the stream event classes every Powertools event class (docs/architecture.md).
from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer


def string(value: str) -> dict[str, str]:
    """A string attribute value (`{"S": ...}`)."""
    return {"S": value}


def number(value: int | float) -> dict[str, str]:
    """A number attribute value (`{"N": ...}`: DynamoDB sends numbers as text)."""
    return {"N": str(value)}


def app_key(app_id: str, sort_key: str) -> dict[str, Any]:
    """The key of an application's item: every item key starts with its application."""
    return {"pk": string(f"APP#{app_id}"), "sk": string(sort_key)}


def typed(item: dict[str, Any]) -> dict[str, Any]:
    """An item's attribute values (`{"S": ...}`, `{"N": ...}`, as GetItem, Query and streams give
    them) as Python values: str, Decimal, bool, list, dict."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


_DESERIALIZER = TypeDeserializer()
