"""The one verification core: session start and metadata updates both come through here.

    credentials -> classify -> policy (settings gate) -> key status -> signature -> claims -> Verified
    Verified + the subject's ids -> subject_allowed (the suppression row of the same table)

Each step runs only when `countersign.policy.decide` asks for its fact, so a request the settings
already drop never reaches the key directory, the JWKS endpoint or the cryptography. Every drop is
raised as `ApiError(code)`; a failing dependency raises `DependencyUnavailable` (503, never a
drop). `recheck` re-applies the same table to an existing session on every events batch.

The dependencies are small protocols so that the core needs no AWS and tests need no mocks of it:
`SettingsView` (the settings object), `SigningKeyDirectory` (HS256 keys, e.g. the store with its
short cache) and `RsaKeySource` (the JWKS cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Protocol

from countersign import policy, tokens
from countersign.claims import check_claims
from countersign.errors import ApiError
from countersign.policy import CredentialKind, Facts, Pending, TokenKind
from countersign.sdk_requests import MAX_KEY_NAME_CHARS, Credentials

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey


class SettingsView(Protocol):
    """The parts of an application's settings the acceptance table reads."""

    @property
    def use_signed_metadata(self) -> bool: ...

    @property
    def use_rs256_signed_metadata(self) -> bool: ...

    @property
    def jwks_uri(self) -> str | None: ...

    @property
    def only_allow_signed_metadata(self) -> bool: ...


class SigningKeyDirectory(Protocol):
    """An application's HS256 signing keys. Both methods may raise DependencyUnavailable."""

    def status(self, key_name: str) -> Literal["active", "revoked", "unknown"]:
        """Whether `key_name` is an active, revoked or unknown key of the application."""
        ...

    def secret(self, key_name: str) -> bytes:
        """The UTF-8 bytes of an active key's secret."""
        ...


class RsaKeySource(Protocol):
    """The RS256 public keys published at a JWKS URI (the JWKS cache)."""

    def public_key(self, uri: str, kid: str) -> RSAPublicKey:
        """The key for `kid`; ApiError("unknown_kid") if absent, DependencyUnavailable if unreachable."""
        ...


@dataclass(frozen=True)
class Verified:
    """Claims that passed the acceptance table and the common claims rules, and how.

    `facts` is what the table was last asked with: it still needs the subject's suppression
    (`subject_allowed`) before anything is stored.
    """

    claims: dict[str, Any]
    signed: TokenKind | None
    key_name: str | None
    kid: str | None
    facts: Facts


def subject_allowed(verified: Verified, *, suppressed: bool) -> None:
    """The table's last row: raise `subject_suppressed` when the verified subject is suppressed."""
    _settle(_with(verified.facts, subject_suppressed=suppressed), expect=None)


def verify_credentials(
    credentials: Credentials,
    settings: SettingsView,
    keys: SigningKeyDirectory,
    jwks: RsaKeySource,
    *,
    now: float,
    session_signed: TokenKind | None = None,
) -> Verified:
    """Verify the credentials of a session start or metadata update (read by `Credentials.from_body`).

    They are a JWT with a signingKeyName (HS256), a JWT (RS256; a signingKeyName is ignored) or a
    metadata object (unsigned); a body with both or neither is `invalid_request`. For a metadata
    update, `session_signed` is how the session was verified: an unsigned update of a signed
    session is refused. `now` is the request time: a JWT's `exp`/`nbf` are held against it (as
    well as against PyJWT's clock). The returned claims passed `countersign.claims.check_claims`;
    the caller then applies `session_identity(...)` or `metadata_update(...)`.
    """
    credential = credentials.usable_proof()

    def facts_of(kind: CredentialKind) -> Facts:
        return Facts(
            kind=kind,
            use_signed_metadata=settings.use_signed_metadata,
            use_rs256_signed_metadata=settings.use_rs256_signed_metadata,
            jwks_uri_saved=bool(settings.jwks_uri),
            only_allow_signed_metadata=settings.only_allow_signed_metadata,
            updates_signed_session=session_signed is not None,
        )

    if not isinstance(credential, str):
        facts = facts_of("unsigned")
        _settle(facts, expect=Pending.SUBJECT, reason=_unsigned_reason(facts))
        return Verified(check_claims(credential, signed=None), None, None, None, facts)

    classified = _classify(credential)
    if isinstance(classified, ApiError):
        _drop(facts_of(_refused_kind(classified)), reason=classified)
    parsed, kind = classified
    facts = facts_of(kind)
    _settle(facts, expect=Pending.KEY_STATUS)

    if kind == "hs256":
        key_name = _signing_key_name(credentials)
        facts = _with(facts, key_status=keys.status(key_name))
        _settle(facts, expect=Pending.SIGNATURE)
        secret = keys.secret(key_name)
        payload = _check_signature(facts, lambda: tokens.verify_hs256(parsed, secret))
        return Verified(
            check_claims(payload, signed="hs256", now=now), "hs256", key_name, None, _with(facts, signature_valid=True)
        )

    kid = tokens.rs256_kid(parsed.header)
    uri = settings.jwks_uri
    public_key: RSAPublicKey | None = None
    kid_refusal: ApiError | None = None
    if kid is not None and uri:
        try:
            public_key = jwks.public_key(uri, kid)
        except ApiError as error:
            if error.code != "unknown_kid":
                raise  # DependencyUnavailable and anything else is not a drop of this row
            kid_refusal = error
    if public_key is None:
        _drop(_with(facts, key_status="unknown"), reason=kid_refusal)
    facts = _with(facts, key_status="active")
    _settle(facts, expect=Pending.SIGNATURE)
    found_key = public_key
    payload = _check_signature(facts, lambda: tokens.verify_rs256(parsed, found_key))
    return Verified(
        check_claims(payload, signed="rs256", now=now), "rs256", None, kid, _with(facts, signature_valid=True)
    )


def recheck(
    signed: TokenKind | None,
    key_name: str | None,
    kid: str | None,
    settings: SettingsView,
    keys: SigningKeyDirectory,
    jwks: RsaKeySource,
    *,
    suppressed: bool = False,
) -> None:
    """Re-apply the acceptance table to a session verified earlier (every events batch).

    HS256: useSignedMetadata still on and the key still active. RS256: RS256 still on with a saved
    JWKS URI, and the session's `kid` still published there (the JWKS cache's answer: a set at most
    its TTL old, so removing a key from the set is how a customer revokes it). Unsigned:
    onlyAllowSignedMetadata still off. The signature is not checked again: it was verified when the
    session started. `suppressed` is whether the session's visitor or account is now suppressed
    by an erasure (the last row). Raises the drop code of the first row that no longer holds; a
    JWK Set that cannot be had raises DependencyUnavailable (503, retried), never a drop.
    """
    facts = Facts(
        kind="unsigned" if signed is None else signed,
        use_signed_metadata=settings.use_signed_metadata,
        use_rs256_signed_metadata=settings.use_rs256_signed_metadata,
        jwks_uri_saved=bool(settings.jwks_uri),
        only_allow_signed_metadata=settings.only_allow_signed_metadata,
    )
    if signed is None:
        _settle(_with(facts, subject_suppressed=suppressed), expect=None)
        return
    _settle(facts, expect=Pending.KEY_STATUS)
    if signed == "hs256":
        if not key_name:
            raise ValueError("an HS256 session always records its signing key name")
        facts = _with(facts, key_status=keys.status(key_name))
    else:
        if not kid or not settings.jwks_uri:
            raise ValueError("an RS256 session always records its kid, and the table checked the URI")
        facts = _with(facts, key_status=_published(jwks, settings.jwks_uri, kid))
    _settle(_with(facts, signature_valid=True, subject_suppressed=suppressed), expect=None)


def _published(jwks: RsaKeySource, uri: str, kid: str) -> Literal["active", "unknown"]:
    """Whether `kid` is (still) in the JWK Set at `uri`, as the JWKS cache knows it."""
    try:
        jwks.public_key(uri, kid)
    except ApiError as error:
        if error.code != "unknown_kid":
            raise  # DependencyUnavailable: the set cannot be had now, which is not a drop
        return "unknown"
    return "active"


def credential_labels(credentials: Credentials) -> dict[str, str]:
    """`keyName` / `kid` of the credentials, for diagnostics of a drop; never raises.

    Only well-formed, bounded values are returned (a kid is read from the header without any
    verification, so it is a label, not a fact).
    """
    labels: dict[str, str] = {}
    if credentials.signing_key_name is not None:
        labels["keyName"] = credentials.signing_key_name
    try:
        kid = tokens.rs256_kid(tokens.read_header(credentials.jwt))
    except ApiError:
        kid = None
    if kid is not None:
        labels["kid"] = kid
    return labels


def _classify(token: str) -> tuple[tokens.ParsedToken, TokenKind] | ApiError:
    # Refusals become the "malformed" / "unsupported" kinds of the table; the parser's error is
    # kept so that the drop carries its specific message. The token is parsed once, here: the
    # signature check reuses the parse.
    try:
        parsed = tokens.parse(token)
        return parsed, tokens.token_kind(parsed.header, require_kid=False)
    except ApiError as refusal:
        return refusal


def _refused_kind(refusal: ApiError) -> Literal["unsupported", "malformed"]:
    return "unsupported" if refusal.code == "unsupported_token" else "malformed"


def _signing_key_name(credentials: Credentials) -> str:
    if credentials.signing_key_name is None:
        raise ApiError(
            "signing_key_name_required",
            f"An HS256 token needs signingKeyName, a string of 1 to {MAX_KEY_NAME_CHARS} characters.",
        )
    return credentials.signing_key_name


def _check_signature(facts: Facts, verify: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # Only a bad signature is a row of the table; the other token errors (expired, malformed
    # claims, ...) are the "specific code" drops of the malformed row and propagate as they are.
    try:
        payload = verify()
    except ApiError as error:
        if error.code != "invalid_signature":
            raise
        _drop(_with(facts, signature_valid=False), reason=error)
    _settle(_with(facts, signature_valid=True), expect=Pending.SUBJECT)
    return payload


def _unsigned_reason(facts: Facts) -> ApiError | None:
    if facts.updates_signed_session and not facts.only_allow_signed_metadata:
        return ApiError(
            "unsigned_metadata_rejected",
            "This session was started with signed metadata: its updates must be signed too.",
        )
    return None


def _drop(facts: Facts, *, reason: ApiError | None) -> NoReturn:
    """Raise the table's drop for facts the core knows must drop (refused token, unknown key)."""
    _settle(facts, expect=Pending.SUBJECT, reason=reason)
    raise RuntimeError(f"acceptance table accepted {facts!r}, which the core knows is refused")


def _with(facts: Facts, **changes: Any) -> Facts:
    """`dataclasses.replace(facts, **changes)` without its per-call field introspection, which
    was a tenth of a session start's verification (BENCHMARKS.md); Facts still validates itself."""
    return Facts(**{**facts.__dict__, **changes})


def _settle(facts: Facts, *, expect: Pending | None, reason: ApiError | None = None) -> None:
    """Raise the table's drop for `facts`, or check that it asks for the step the core takes next."""
    decision = policy.decide(facts)
    if isinstance(decision, str):
        # Keep the specific message of the component that found the problem, if it agrees.
        if reason is not None and reason.code == decision:
            raise reason
        raise ApiError(decision)
    if decision is not expect:
        raise RuntimeError(f"acceptance table answered {decision!r} where the core expected {expect!r}")
