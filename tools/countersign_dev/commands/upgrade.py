"""`countersign upgrade ...`: one-off steps after upgrading a deployed stack."""

from __future__ import annotations

import argparse
from typing import Any

from countersign_dev.render import json_text
from countersign_dev.target import add_target_options, resolve


def register(commands: Any) -> None:
    group = commands.add_parser("upgrade", help="one-off steps after upgrading a deployed stack")
    steps = group.add_subparsers(dest="action_name", required=True, metavar="STEP")
    receipts = steps.add_parser(
        "index-receipts",
        help="put the receipts written before the VisitorReceipts index into it (raw events by visitor)",
        epilog="example: countersign upgrade index-receipts --stack countersign-prod",
    )
    add_target_options(receipts, app=False)
    receipts.set_defaults(run=index_receipts)


def index_receipts(args: argparse.Namespace) -> None:
    from countersign.store.data import DataStore

    client, table = resolve(args, ("local", "stack")).table("DataTableName")
    print(json_text({"indexedReceipts": DataStore(table, client).index_unindexed_receipts()}), end="")
