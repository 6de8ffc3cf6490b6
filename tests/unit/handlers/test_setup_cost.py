"""tests/support/setup_cost.py changes what moto costs, never what it answers: every page of every
query, on the table and on its indexes, forwards and backwards, is the same with and without it.

The suite's own session fixture applies the change to every test, so here it is undone for the
reference answers (`pytest.MonkeyPatch.context` restores moto's methods on exit)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from tests.support.setup_cost import queries_read_only_what_they_can_answer


@contextmanager
def _moto_as_shipped() -> Iterator[None]:
    """moto's own Table.query and Table.all_items, whatever the session fixture put in their place."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("query", "all_items"):
            method = getattr(Table, name)
            patch.setattr(Table, name, getattr(method, "__wrapped__", method))
        yield


def _tables(client: Any) -> None:
    keys = [("pk", "S"), ("sk", "S"), ("gpk", "S"), ("gsk", "N")]
    client.create_table(
        TableName="ranged",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": t} for n, t in keys],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-group",
                "KeySchema": [
                    {"AttributeName": "gpk", "KeyType": "HASH"},
                    {"AttributeName": "gsk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "group-only",
                "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            },
        ],
    )
    client.create_table(
        TableName="flat",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    rng = random.Random(22)
    for n in range(400):
        item = {"pk": {"S": f"p{rng.randrange(12)}"}, "sk": {"S": f"s{rng.randrange(10_000):05d}"}, "n": {"N": str(n)}}
        if rng.random() < 0.8:  # some items are not in the indexes
            item |= {"gpk": {"S": f"g{rng.randrange(4)}"}, "gsk": {"N": str(rng.randrange(20))}}  # ties on gsk
        client.put_item(TableName="ranged", Item=item)
        client.put_item(TableName="flat", Item={"pk": {"S": f"f{n}"}, "n": {"N": str(n)}})


def _query(condition: str, values: dict[str, Any], index: str | None = None, **more: Any) -> dict[str, Any]:
    typed = {name: {"N" if isinstance(value, int) else "S": str(value)} for name, value in values.items()}
    query = {"TableName": "ranged", "KeyConditionExpression": condition, "ExpressionAttributeValues": typed, **more}
    return query | ({"IndexName": index} if index else {})


QUERIES: list[dict[str, Any]] = [
    _query("pk = :p", {":p": "p3"}),
    _query("pk = :p AND begins_with(sk, :s)", {":p": "p5", ":s": "s0"}, ScanIndexForward=False),
    _query(
        "pk = :p AND sk BETWEEN :a AND :b",
        {":p": "p7", ":a": "s02000", ":b": "s07000", ":n": 100},
        FilterExpression="n > :n",
    ),
    _query("pk = :p", {":p": "none"}),
    *(_query("gpk = :g", {":g": f"g{group}"}, index) for index in ("by-group", "group-only") for group in range(4)),
    _query("gpk = :g AND gsk >= :k", {":g": "g2", ":k": 7}, "by-group", ScanIndexForward=False),
    _query("pk = :p", {":p": "f42"}) | {"TableName": "flat"},
]


def _pages(client: Any, query: dict[str, Any], limit: int | None) -> list[list[dict[str, Any]]]:
    request = dict(query)
    if limit:
        request["Limit"] = limit
    pages = []
    while True:
        answer = client.query(**request)
        pages.append(answer["Items"])
        if "LastEvaluatedKey" not in answer:
            return pages
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


@pytest.mark.parametrize("limit", [None, 7])
def test_every_query_answers_the_same_pages_with_and_without_the_shortcut(
    monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        _tables(client)
        with _moto_as_shipped():
            expected = [_pages(client, query, limit) for query in QUERIES]
            with queries_read_only_what_they_can_answer():
                got = [_pages(client, query, limit) for query in QUERIES]
    assert sum(len(page) for pages in expected for page in pages) > 200  # the queries do find items
    assert got == expected
