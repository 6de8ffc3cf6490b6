"""The acceptance table of SPEC 3.4: one pure function over plain values, and nothing else.

`decide(facts)` answers, for one credential and the application's current settings, either a drop
code, `None` (accepted), or a `Pending` step: the fact it needs next. The verification core
(`countersign.verify`) starts with only the credential kind and the settings, and gathers the key
status and then the signature only when `decide` asks for them, so no key is looked up, no JWKS
fetched and no signature computed for a request the settings already drop.

Rows, first match wins:

| credential  | settings and facts                                            | result                      |
| ----------- | ------------------------------------------------------------- | --------------------------- |
| malformed   | (any)                                                         | malformed_token *           |
| unsupported | (any): alg none/HS384/RS512/PS256/ES256/..., jku/x5u/jwk/...  | unsupported_token           |
| unsigned    | onlyAllowSignedMetadata on                                    | unsigned_metadata_rejected  |
| unsigned    | updates a session started with a verified JWT                 | unsigned_metadata_rejected  |
| unsigned    | otherwise                                                     | accepted                    |
| hs256       | useSignedMetadata off                                         | signed_metadata_disabled    |
| hs256       | key status not known yet                                      | Pending.KEY_STATUS          |
| hs256       | key unknown                                                   | unknown_signing_key         |
| hs256       | key revoked                                                   | revoked_signing_key         |
| hs256       | key active, signature not checked yet                         | Pending.SIGNATURE           |
| hs256       | key active, bad signature                                     | invalid_signature           |
| hs256       | key active, good signature                                    | accepted                    |
| rs256       | useRs256SignedMetadata off, or no saved JWKS URI              | rs256_not_configured        |
| rs256       | key status not known yet                                      | Pending.KEY_STATUS          |
| rs256       | kid missing or not in the JWK Set ("unknown" or "revoked")    | unknown_kid                 |
| rs256       | key found, signature not checked yet                          | Pending.SIGNATURE           |
| rs256       | key found, bad signature                                      | invalid_signature           |
| rs256       | key found, good signature                                     | accepted                    |
| (accepted)  | its visitor or account is suppressed by an erasure (SPEC 9)   | subject_suppressed          |

* "malformed token or claims" is dropped with a specific code: the parser or the claims rules
  name it (malformed_token, token_expired, missing_nonce, ...); `malformed_token` is this table's
  answer when nothing more specific is known.

`onlyAllowSignedMetadata` never drops a verified token: it only refuses unsigned metadata.
Metadata proven by a signature cannot be changed without one, whatever the settings, so an
unsigned update of a signed session is refused (SPEC 3.3 is silent on mixing; this is what a
customer who signs expects). A session is re-checked on every events batch by running the same
table with `signature_valid=True` (see `countersign.verify.recheck`).

The last row applies only to what every other row accepts: whether the subject is suppressed is
known once the claims are verified (a subject id is only worth looking up when proven), so the
core asks for it last (`Pending.SUBJECT`). Nothing of a suppressed subject is stored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal, TypeAlias

from countersign.errors import ErrorCode

#: How a token is signed: the two signing modes a session can be verified by.
TokenKind = Literal["hs256", "rs256"]
CredentialKind = Literal["unsigned", "hs256", "rs256", "unsupported", "malformed"]
KeyStatus = Literal["active", "revoked", "unknown"]

_KINDS = frozenset({"unsigned", "hs256", "rs256", "unsupported", "malformed"})
_KEY_STATUSES = frozenset({"active", "revoked", "unknown"})


class Pending(enum.Enum):
    """The fact `decide` needs next before it can accept or drop."""

    KEY_STATUS = "key_status"
    SIGNATURE = "signature"
    SUBJECT = "subject"


#: A drop code (a row of `countersign.errors.ERRORS`), a pending step, or None for accepted.
Decision: TypeAlias = "ErrorCode | Pending | None"


@dataclass(frozen=True)
class Facts:
    """Everything the acceptance table looks at, as plain values.

    `key_status` is the HS256 key's status, or for RS256 whether the kid is in the JWK Set
    ("active") or not ("unknown"); `signature_valid` is the signature check. Both stay None until
    `decide` asks for them with a `Pending` step. `updates_signed_session` is True when the
    request is a metadata update of a session that was started with a verified JWT.
    `subject_suppressed` says whether the visitor or account of an otherwise accepted request is
    under an erasure's suppression; None until `decide` asks for it (`Pending.SUBJECT`).
    """

    kind: CredentialKind
    use_signed_metadata: bool
    use_rs256_signed_metadata: bool
    jwks_uri_saved: bool
    only_allow_signed_metadata: bool
    key_status: KeyStatus | None = None
    signature_valid: bool | None = None
    updates_signed_session: bool = False
    subject_suppressed: bool | None = None

    def __post_init__(self) -> None:
        # Literal types are not checked at run time; a typo here would silently change a row.
        if self.kind not in _KINDS:
            raise ValueError(f"unknown credential kind {self.kind!r}")
        if self.key_status is not None and self.key_status not in _KEY_STATUSES:
            raise ValueError(f"unknown key status {self.key_status!r}")


def decide(facts: Facts) -> Decision:
    """Apply the acceptance table (module docstring) to `facts`.

    Returns a drop code, `None` when the credential is accepted, or the `Pending` fact to gather
    before calling again.
    """
    decision = _credential_decision(facts)
    if decision is not None:
        return decision
    if facts.subject_suppressed is None:
        return Pending.SUBJECT
    return "subject_suppressed" if facts.subject_suppressed else None


def _credential_decision(facts: Facts) -> Decision:
    """Every row but the last: the credential against the settings and keys."""
    if facts.kind == "malformed":
        return "malformed_token"
    if facts.kind == "unsupported":
        return "unsupported_token"
    if facts.kind == "unsigned":
        refused = facts.only_allow_signed_metadata or facts.updates_signed_session
        return "unsigned_metadata_rejected" if refused else None

    if facts.kind == "hs256":
        if not facts.use_signed_metadata:
            return "signed_metadata_disabled"
        if facts.key_status is None:
            return Pending.KEY_STATUS
        if facts.key_status == "unknown":
            return "unknown_signing_key"
        if facts.key_status == "revoked":
            return "revoked_signing_key"
    else:  # rs256
        if not (facts.use_rs256_signed_metadata and facts.jwks_uri_saved):
            return "rs256_not_configured"
        if facts.key_status is None:
            return Pending.KEY_STATUS
        # RS256 keys are revoked by removing them from the JWK Set: either way the kid is unknown.
        if facts.key_status != "active":
            return "unknown_kid"

    if facts.signature_valid is None:
        return Pending.SIGNATURE
    return None if facts.signature_valid else "invalid_signature"
