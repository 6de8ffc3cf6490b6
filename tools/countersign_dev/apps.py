"""Operator actions on applications, shared by `countersign apps ...` for local and deployed stacks."""

from __future__ import annotations

from typing import Any

from countersign import clock
from countersign.admin_tokens import hash_admin_token, new_admin_token, new_app_id
from countersign.errors import ApiError
from countersign.store.control import ControlStore


def create_application(dynamodb: Any, control_table: str, name: str) -> dict[str, str]:
    """Create an application and its first admin token; only the token's hash is stored."""
    app_id = new_app_id()
    token = new_admin_token()
    ControlStore(control_table, dynamodb).create_app(app_id, name, hash_admin_token(token), clock.now_iso())
    return {"appId": app_id, "adminToken": token}


def rotate_admin_token(dynamodb: Any, control_table: str, app_id: str) -> dict[str, Any]:
    """Issue a new admin token and revoke every other token of the application."""
    token = new_admin_token()
    revoked = ControlStore(control_table, dynamodb).add_admin_token(
        app_id, hash_admin_token(token), clock.now_iso(), revoke_others=True
    )
    return {"appId": app_id, "adminToken": token, "revokedTokens": revoked}


def set_rate_limits(dynamodb: Any, control_table: str, app_id: str, changes: dict[str, int | None]) -> dict[str, int]:
    """Override (a number) or restore to the stack default (None) an application's rate limits."""
    store = ControlStore(control_table, dynamodb)
    if not changes:
        if store.get_app(app_id) is None:
            raise ApiError("app_not_found", f"No application {app_id} exists.")
        return store.get_limits(app_id)
    return store.set_limits(app_id, changes)
