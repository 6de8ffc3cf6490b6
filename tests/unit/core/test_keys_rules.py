"""countersign.keys on plain values: key names, secrets and the description rule (SPEC 3.1)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from countersign.errors import ApiError
from countersign.keys import MAX_DESCRIPTION_CHARS, key_json, new_key_name, new_secret, read_description
from countersign.store.keys import StoredKey


def test_key_names_are_prefixed_url_safe_and_random() -> None:
    names = {new_key_name() for _ in range(1000)}
    assert len(names) == 1000
    assert all(re.fullmatch(r"key_[0-9a-f]{12}", name) for name in names)


def test_secrets_carry_256_random_bits_in_47_url_safe_characters() -> None:
    secrets_drawn = {new_secret() for _ in range(1000)}
    assert len(secrets_drawn) == 1000
    for secret in secrets_drawn:
        # 32 random bytes in unpadded base64url: 43 characters of 6 bits (the last holds 4) = 256 bits.
        assert re.fullmatch(r"css_[A-Za-z0-9_-]{43}", secret)
        assert len(secret.encode("utf-8")) == 47


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"description": "Production server"}, "Production server"),
        ({"description": "  padded\t\n"}, "padded"),
        ({"description": "x" * MAX_DESCRIPTION_CHARS}, "x" * MAX_DESCRIPTION_CHARS),
        ({"description": "  " + "x" * MAX_DESCRIPTION_CHARS + "  "}, "x" * MAX_DESCRIPTION_CHARS),
        ({"description": "é" * MAX_DESCRIPTION_CHARS}, "é" * MAX_DESCRIPTION_CHARS),  # characters, not bytes
    ],
)
def test_descriptions_are_trimmed_and_kept(body: dict[str, Any], expected: str) -> None:
    assert read_description(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"description": None},
        {"description": 7},
        {"description": ["a"]},
        {"description": ""},
        {"description": " \t\n "},
        {"description": "x" * (MAX_DESCRIPTION_CHARS + 1)},
        {"description": "ok", "secret": "mine"},
        {"description": "ok", "keyName": "key_chosen"},
    ],
)
def test_bad_descriptions_are_invalid_requests(body: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as raised:
        read_description(body)
    assert raised.value.code == "invalid_request"
    assert raised.value.status == 400


def test_the_key_object_has_exactly_the_spec_fields() -> None:
    key = StoredKey("key_0123456789ab", "Server", "active", "2026-11-21T00:00:00Z", None, 1, None)
    assert key_json(key, last_used_ms=None) == {
        "keyName": "key_0123456789ab",
        "description": "Server",
        "status": "active",
        "createdAt": "2026-11-21T00:00:00Z",
        "revokedAt": None,
        "lastUsedAt": None,
    }
    # SPEC 3.5: the minute of the last use, in the service's one timestamp format.
    assert key_json(key, last_used_ms=1_795_219_260_000)["lastUsedAt"] == "2026-11-21T00:01:00Z"
