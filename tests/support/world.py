"""An in-process Countersign on moto's `mock_aws`: the template's tables and key, its handlers.

Used by unit tests that invoke handlers exactly as `sam local invoke` would (an API Gateway
event and a context in, a proxy response out), with no HTTP in between.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from countersign import clock, container
from countersign.admin_tokens import hash_admin_token
from countersign.config import get_config
from countersign.envelope import seal_secret
from countersign.keys import MAX_ACTIVE_KEYS
from countersign.store.control import ControlStore
from countersign.store.data import DataStore, SessionRecord
from countersign.store.keys import KeyStore
from countersign_dev.apps import create_application
from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.containers import LambdaContext, import_handler_module
from countersign_dev.emulation.local_stack import proxy_event
from countersign_dev.emulation.provision import REGION, Provisioned, provision

#: The example application every file in events/ addresses (see events/README.md).
EXAMPLE_APP_ID = "app_0123456789abcdef"
EXAMPLE_ADMIN_TOKEN = "csa_example-admin-token-for-events-0000000000000"
#: Its signing key (events/keys-reveal.json, keys-revoke.json); a public example, never a real secret.
EXAMPLE_KEY_NAME = "key_0123456789ab"
EXAMPLE_SECRET = "css_example-signing-secret-for-events-000000000"
#: The session events/events-send.json and sessions-update.json address (ends 2099-01-01).
EXAMPLE_SESSION_ID = "s_example-session-000000000000000000000"
EXAMPLE_SESSION_ENDS = 4070908800.0

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


#: The client address API Gateway reports for a test's requests, unless a test names another.
DEFAULT_SOURCE_IP = "198.51.100.7"


@dataclass
class World:
    template: dict[str, Any]
    provisioned: Provisioned
    monkeypatch: pytest.MonkeyPatch
    handlers: dict[str, Handler] = field(default_factory=dict)

    @property
    def dynamodb(self) -> Any:
        return boto3.client("dynamodb", region_name=REGION)

    @property
    def control_table(self) -> str:
        return self.provisioned.refs["ControlTable"]

    @property
    def data_table(self) -> str:
        return self.provisioned.refs["DataTable"]

    def handler(self, function: str) -> Handler:
        """The function's lambda_handler, imported with the environment the template gives it."""
        if function not in self.handlers:
            env = self.provisioned.function_environment(self.template, function)
            for key, value in env.items():
                self.monkeypatch.setenv(key, value)
            get_config.cache_clear()  # on Lambda each function reads its own environment
            spec = tpl.functions(self.template)[function]
            module = import_handler_module(spec, env)
            self.handlers[function] = getattr(module, spec.handler)
        return self.handlers[function]

    def context(self, function: str) -> LambdaContext:
        """A Lambda context with the function's Timeout and MemorySize from template.yaml."""
        spec = tpl.functions(self.template)[function]
        return LambdaContext(function, spec.timeout, spec.memory_mb)

    def function_for(self, event: dict[str, Any]) -> str:
        """Which function template.yaml routes this event to (specific method before ANY)."""
        for route in tpl.routes(self.template):
            if route.resource == event["resource"] and route.method in (event["httpMethod"], "ANY"):
                return route.function
        raise LookupError(f"no route in template.yaml for {event['httpMethod']} {event['resource']}")

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        function = self.function_for(event)
        return self.handler(function)(event, LambdaContext(function))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = None,
        query: str = "",
        raw_body: bytes | None = None,
        source_ip: str = DEFAULT_SOURCE_IP,
    ) -> tuple[int, Any]:
        """Send one request through its function; returns (status, parsed JSON body)."""
        response = self.invoke_raw(method, path, body, token=token, query=query, raw_body=raw_body, source_ip=source_ip)
        text = response.get("body") or ""
        return response["statusCode"], json.loads(text) if text else None

    def invoke_raw(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        query: str = "",
        raw_body: bytes | None = None,
        source_ip: str = DEFAULT_SOURCE_IP,
    ) -> dict[str, Any]:
        """Build the proxy event API Gateway would send and return the function's raw response."""
        for route in tpl.routes(self.template):
            params = route.match(path)
            if params is not None and route.method in (method, "ANY"):
                break
        else:
            raise LookupError(f"no route for {method} {path}")
        headers = [("Content-Type", "application/json")]
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        payload = raw_body if raw_body is not None else (json.dumps(body).encode() if body is not None else b"")
        event = proxy_event(route, method, path, query, headers, payload, params, source_ip)
        return self.handler(route.function)(event, LambdaContext(route.function))

    def create_app(self, name: str = "Test app") -> dict[str, str]:
        return create_application(self.dynamodb, self.control_table, name)

    def seed_example_app(self) -> None:
        """The application the files in events/ use, with its documented admin token."""
        now = clock.now_iso()
        ControlStore(self.control_table, self.dynamodb).create_app(
            EXAMPLE_APP_ID, "Example application", hash_admin_token(EXAMPLE_ADMIN_TOKEN), now
        )
        self.seed_example_key()
        self.seed_example_session()

    def seed_example_session(self) -> None:
        """HS256 accepted, and the HS256 session `EXAMPLE_SESSION_ID` the events files send on."""
        control = ControlStore(self.control_table, self.dynamodb)
        settings = control.get_settings(EXAMPLE_APP_ID)
        control.replace_settings(EXAMPLE_APP_ID, replace(settings, use_signed_metadata=True), settings.version)
        DataStore(self.data_table, self.dynamodb).put_session(
            SessionRecord(
                app_id=EXAMPLE_APP_ID,
                session_id=EXAMPLE_SESSION_ID,
                visitor_id="visitor-42",
                account_id="acme",
                visitor={"plan": "pro"},
                account={},
                anonymous=False,
                signed="hs256",
                key_name=EXAMPLE_KEY_NAME,
                kid=None,
                created_ms=int(time.time() * 1000),
                expires_at=EXAMPLE_SESSION_ENDS,
            )
        )

    def seed_example_key(self) -> None:
        """The example app's active signing key `EXAMPLE_KEY_NAME`, its secret sealed by envelope.py."""
        self.monkeypatch.setenv("SECRETS_KEY_ID", self.provisioned.attrs[("SecretsKey", "Arn")])
        # Seal with the provisioned key even before a handler set the environment, and let the
        # handlers read their whole configuration afresh afterwards.
        get_config.cache_clear()
        ciphertext = seal_secret(EXAMPLE_APP_ID, EXAMPLE_KEY_NAME, EXAMPLE_SECRET)
        get_config.cache_clear()
        KeyStore(self.control_table, self.dynamodb).create_key(
            EXAMPLE_APP_ID, EXAMPLE_KEY_NAME, "Example key", ciphertext, datetime.now(UTC), max_active=MAX_ACTIVE_KEYS
        )


@cache
def _template() -> dict[str, Any]:
    """template.yaml parsed once per process: every world reads it, none changes it."""
    return tpl.load_template()


#: Held by one in-process moto request at a time (re-entrant: a backend may call another).
_MOTO_LOCK = threading.RLock()


def serialize_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    """One in-process moto request at a time, as the local stack serves moto server.

    moto's in-memory backends are not thread-safe, and the handlers call them from thread pools
    (the ingest's event writers, the export's partition groups). Unserialized, a DynamoDB stream
    could number two records alike and append them out of order, which a shard on AWS never does:
    the export then read a wrong retry point and a test reported a lost line that AWS cannot lose.
    """
    process = BotocoreStubber.process_request

    def serialized(stubber: BotocoreStubber, request: Any) -> Any:
        with _MOTO_LOCK:
            return process(stubber, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialized)


@contextmanager
def mocked_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """moto's mock_aws with the template provisioned, and a cold container around it."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "CountersignTest",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    serialize_moto(monkeypatch)
    with mock_aws():
        template = _template()
        provisioned = provision(
            template, boto3.client("dynamodb"), boto3.client("kms"), s3=boto3.client("s3"), sqs=boto3.client("sqs")
        )
        container.reset()
        try:
            yield World(template, provisioned, monkeypatch)
        finally:
            container.reset()
