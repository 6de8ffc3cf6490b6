"""The store owns DataTable's item layout (docs/architecture.md): the pure rule modules import no
store module and no AWS library, not even through another module; nothing outside `store/` reads or
writes a DynamoDB attribute value by hand; the hour-bucket items have one module."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import boto3.dynamodb.types
import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from countersign.store._attributes import typed
from tests.unit.core.test_layer_imports import PACKAGE
from tests.unit.core.test_tables_off_the_hot_path import reachable

ROOT = Path(__file__).resolve().parents[3]
#: The rules: what is accepted and why, on plain values (the package docstring's "pure" modules).
PURE = [
    "admin_tokens", "ascii_escape", "claims", "clock", "coverage", "errors", "events", "numerals",
    "policy", "sdk_requests", "settings", "static_files", "strict_json", "tokens", "verify",
]  # fmt: skip
FORBIDDEN = ("countersign.store", "countersign.aws", "boto3", "botocore")
#: DynamoDB's attribute value types: reading or writing one by hand is the store's business.
ATTRIBUTE_TYPES = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}
OUTSIDE_THE_STORE = sorted(
    [path for path in PACKAGE.rglob("*.py") if "store" not in path.relative_to(PACKAGE).parts]
    + list((ROOT / "functions").glob("*/app.py"))
)


@pytest.mark.parametrize("module", PURE)
def test_a_pure_rule_module_reaches_no_store_and_no_aws(module: str) -> None:
    reached = reachable(PACKAGE / f"{module}.py")
    assert not sorted(name for name in reached if name.startswith(FORBIDDEN)), f"{module} reaches the store or AWS"


def test_the_import_check_sees_a_store_import() -> None:
    """The check above is not vacuous: an import of the store, direct or through a module, is seen."""
    reached = reachable(PACKAGE / "reporting.py")
    assert "countersign.store.counters" in reached and "countersign.store.data" in reached
    assert any(name.startswith("countersign.store") for name in reachable(PACKAGE / "lake.py"))


def attribute_value_accesses(path: Path, *, root: Path = ROOT) -> list[str]:
    """`x["S"]`, `x.get("N")` and `{"S": ...}` written in `path`: hand-made DynamoDB attribute values."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        keys: list[ast.expr | None] = []
        if isinstance(node, ast.Subscript):
            keys = [node.slice]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            keys = node.args[:1]
        elif isinstance(node, ast.Dict):
            keys = list(node.keys)
        for key in keys:
            if isinstance(key, ast.Constant) and key.value in ATTRIBUTE_TYPES:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


@pytest.mark.parametrize("path", OUTSIDE_THE_STORE, ids=lambda path: str(path.relative_to(ROOT)))
def test_no_attribute_value_is_read_or_written_outside_the_store(path: Path) -> None:
    assert attribute_value_accesses(path) == []


def test_the_attribute_value_check_sees_a_hand_written_read(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('def f(image):\n    return image["receivedMs"]["N"], image.get("kid", {}).get("S"), {"S": "x"}\n')
    assert len(attribute_value_accesses(sample, root=tmp_path)) == 3


def code_strings(path: Path) -> list[str]:
    """The string literals of `path`'s code (docstrings and comments left out)."""
    tree = ast.parse(path.read_text())
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_hour_bucket_items_have_one_module() -> None:
    """STATS# items (hour-bucket counters and the rate window) are written and read in store/counters.py only."""
    holders = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any("STATS#" in text for text in code_strings(path))
    )
    assert holders == ["store/counters.py"]


STREAM_IMAGE = {
    "pk": {"S": "EVENT#app_1#k"},
    "receivedMs": {"N": "1800000000123"},
    "expiresAt": {"N": "1800003600.25"},
    "anonymous": {"BOOL": False},
    "keys": {"L": [{"S": "a"}, {"S": "b"}]},
    "nothing": {"NULL": True},
}


def test_the_stores_decoder_gives_what_powertools_stream_classes_and_boto3_give() -> None:
    """`typed` uses Powertools' deserializer module directly (cheap to import): it must agree with
    the public stream event class and with boto3's TypeDeserializer, whatever Powertools version."""
    record = DynamoDBRecord({"eventName": "INSERT", "dynamodb": {"NewImage": STREAM_IMAGE}})
    deserializer = boto3.dynamodb.types.TypeDeserializer()
    assert typed(STREAM_IMAGE) == record.dynamodb.new_image  # type: ignore[union-attr]
    assert typed(STREAM_IMAGE) == {name: deserializer.deserialize(value) for name, value in STREAM_IMAGE.items()}
    assert typed(STREAM_IMAGE)["expiresAt"] == Decimal("1800003600.25")
