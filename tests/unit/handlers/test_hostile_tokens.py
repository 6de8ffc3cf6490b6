"""A catalogue of hostile tokens sent to POST /v1/apps/{appId}/sessions in-process (SPEC 3.3, 3.4, 4).

The target application accepts HS256 (a real key generated and revealed through the keys routes)
and RS256 (a JWKS URI tested and saved through the jwks routes, served over real HTTPS on
127.0.0.1 by a throw-away CA, with the local-development override). Every token is built with real
cryptography (PyJWT, cryptography) or raw base64url surgery, and every one must be refused with
SPEC's status and code: never a session, never a 5xx, and each drop counted for diagnostics.

Anchors: RFC 8725 (JWT best current practices), jwt_tool's attack modes (alg none, key
confusion, psychic signature, jwk/jku/x5u/x5c injection, kid injection), PyJWT's advisories
(CVE-2022-29217: an RSA public key as PEM, SSH or DER used as an HMAC secret).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from countersign import app_view, clock
from countersign.errors import DROP_CODES, ERRORS
from countersign.store.counters import counter_store
from tests.support.tenant import Tenant
from tests.support.tls import HttpsServer, Reply, make_test_pki, serve_https
from tests.support.world import World, mocked_world

Body = dict[str, Any] | bytes


# ---------------------------------------------------------------------------------- token surgery


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: Any) -> str:
    """A JOSE segment: bytes as they are, anything else as compact JSON."""
    return b64(value if isinstance(value, bytes) else json.dumps(value, separators=(",", ":")).encode())


def compact(header: Any, payload: Any, signature: bytes = b"") -> str:
    return f"{segment(header)}.{segment(payload)}.{b64(signature)}"


def signing_input(header: Any, payload: Any) -> bytes:
    return f"{segment(header)}.{segment(payload)}".encode("ascii")


def hmac_token(header: Any, payload: Any, key: bytes, digest: Callable[..., Any] = hashlib.sha256) -> str:
    signature = hmac.new(key, signing_input(header, payload), digest).digest()
    return compact(header, payload, signature)


def rsa_token(
    header: Any, payload: Any, key: rsa.RSAPrivateKey, algorithm: hashes.HashAlgorithm | None = None, pss: bool = False
) -> str:
    chosen = algorithm or hashes.SHA256()
    scheme = padding.PSS(padding.MGF1(chosen), chosen.digest_size) if pss else padding.PKCS1v15()
    return compact(header, payload, key.sign(signing_input(header, payload), scheme, chosen))


def ec_token(header: Any, payload: Any, key: ec.EllipticCurvePrivateKey) -> str:
    r, s = decode_dss_signature(key.sign(signing_input(header, payload), ec.ECDSA(hashes.SHA256())))
    return compact(header, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def with_signature(token: str, change: Callable[[str], str]) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{change(signature)}"


def flip_bit(signature: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return b64(bytes(raw))


def keep_bytes(count: int) -> Callable[[str], str]:
    """A signature cut to its first `count` bytes (still canonical base64url)."""
    return lambda signature: b64(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))[:count])


def set_spare_bits(signature: str) -> str:
    """The same bytes, spelled differently: the unused low bits of the last character set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(signature) % 4 == 3  # 32 bytes: 43 characters, 2 spare bits
    return signature[:-1] + alphabet[alphabet.index(signature[-1]) | 0b01]


def uint(value: int) -> str:
    return b64(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": uint(numbers.n), "e": uint(numbers.e)}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str) -> dict[str, Any]:
    numbers = key.public_key().public_numbers()
    x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
    return {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(x), "y": b64(y)}


def self_signed_der(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


# ---------------------------------------------------------------------------------- the stage

HS256 = {"alg": "HS256", "typ": "JWT"}
OWN = "<the target's own key name>"


@dataclass
class Kit:
    """What the hostile tokens are made from: the target's keys, its JWKS, another app's key."""

    key_name: str
    secret: str
    other_key_name: str
    other_secret: str
    signing_key: rsa.RSAPrivateKey  # published as kid "k1"
    weak_key: rsa.RSAPrivateKey  # 1024 bits, published as kid "weak-1024" (unusable)
    ec_key: ec.EllipticCurvePrivateKey  # published as kid "ec-1" (not RSA: unusable)
    oct_key: bytes  # published as a kty "oct" JWK "oct-1" (not RSA: unusable)
    attacker_key: rsa.RSAPrivateKey  # published nowhere
    ed_key: ed25519.Ed25519PrivateKey
    attacker_jwks_uri: str

    # claims and bodies ---------------------------------------------------------------------

    @staticmethod
    def claims(**extra: Any) -> dict[str, Any]:
        return {"nonce": uuid.uuid4().hex, "visitor": {"id": "v-hostile"}, "account": {"id": "a-hostile"}, **extra}

    def hs256(
        self,
        payload: Any = None,
        *,
        header: Any = None,
        key: bytes | None = None,
        key_name: Any = None,
    ) -> dict[str, Any]:
        """A session body with an HS256 token (by default valid for the target application)."""
        token = hmac_token(
            HS256 if header is None else header,
            self.claims() if payload is None else payload,
            self.secret.encode() if key is None else key,
        )
        return {"jwt": token, "signingKeyName": self.key_name if key_name is None else key_name}

    def rs256_token(self, payload: Any = None, *, header: Any = None, key: rsa.RSAPrivateKey | None = None) -> str:
        return rsa_token(
            {"alg": "RS256", "typ": "JWT", "kid": "k1"} if header is None else header,
            self.claims() if payload is None else payload,
            key or self.signing_key,
        )

    def rs256(self, payload: Any = None, *, header: Any = None, key: rsa.RSAPrivateKey | None = None) -> dict[str, Any]:
        """A session body with an RS256 token (by default valid for the target application)."""
        return {"jwt": self.rs256_token(payload, header=header, key=key)}

    def hs(self, token: str) -> dict[str, Any]:
        return {"jwt": token, "signingKeyName": self.key_name}

    # the RSA public key in every form an HMAC secret could be confused with ----------------

    @property
    def public_pem(self) -> bytes:
        return self.signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_der(self) -> bytes:
        return self.signing_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def public_pkcs1_pem(self) -> bytes:
        return self.signing_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)

    @property
    def public_ssh(self) -> bytes:
        return self.signing_key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )

    @property
    def public_jwk_json(self) -> bytes:
        return json.dumps(rsa_jwk(self.signing_key, "k1")).encode()


@dataclass
class Stage:
    world: World
    target: Tenant
    other: Tenant
    kit: Kit
    jwks_server: HttpsServer
    jwks_uri: str

    def sessions_of(self, tenant: Tenant) -> list[dict[str, Any]]:
        prefix = f"SESSION#{tenant.app_id}#"
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {"TableName": self.world.data_table}
        while True:
            page = self.world.dynamodb.scan(**request)
            items += [item for item in page["Items"] if item["pk"]["S"].startswith(prefix)]
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def dropped(self, tenant: Tenant) -> dict[str, int]:
        """The drop counters diagnostics reports as `counts.dropped`, read from the store it reads."""
        now = clock.now()
        totals = counter_store().totals(tenant.app_id, now - datetime.timedelta(hours=1), now)
        return {name.removeprefix("dropped_"): n for name, n in totals.items() if name.startswith("dropped_")}

    def send(self, tenant: Tenant, body: Body) -> tuple[int, Any, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = self.world.invoke_raw("POST", f"/v1/apps/{tenant.app_id}/sessions", raw_body=raw)
        text = response.get("body") or ""
        return response["statusCode"], json.loads(text) if text else None, response


def _keys() -> dict[str, Any]:
    return {
        "signing": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "weak": rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505 - refused, as it must be
        "attacker": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
        "oct": b"an oct key published in the JWKS, 32+ bytes long!!",
    }


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    keys = _keys()
    published = {
        "keys": [
            rsa_jwk(keys["signing"], "k1"),
            rsa_jwk(keys["weak"], "weak-1024"),
            ec_jwk(keys["ec"], "ec-1"),
            {"kty": "oct", "kid": "oct-1", "k": b64(keys["oct"])},
        ]
    }
    attacker = {"keys": [rsa_jwk(keys["attacker"], "k1"), rsa_jwk(keys["attacker"], "attacker")]}

    def answer(path: str) -> Reply:
        if path == "/jwks.json":
            return Reply.json(published)
        if path == "/attacker.json":
            return Reply.json(attacker)
        return Reply.json({"error": "not here"}, status=404)

    pki = make_test_pki(Path(tmp_path_factory.mktemp("hostile-pki")))
    with pytest.MonkeyPatch.context() as monkeypatch, serve_https(pki, answer) as server:
        # Read by countersign.config when the handlers first need it (after mocked_world's reset).
        monkeypatch.setenv("ALLOW_PRIVATE_JWKS_HOSTS", "true")
        monkeypatch.setenv("JWKS_CA_BUNDLE", str(pki.ca_cert))
        with mocked_world(monkeypatch) as world:
            target, other = Tenant(world), Tenant(world)
            target.settings(useSignedMetadata=True)
            key_name, secret = target.new_key()
            uri = server.url("/jwks.json")
            target.save_jwks_uri(uri)
            other.settings(useSignedMetadata=True)
            other_key_name, other_secret = other.new_key()
            kit = Kit(
                key_name=key_name,
                secret=secret,
                other_key_name=other_key_name,
                other_secret=other_secret,
                signing_key=keys["signing"],
                weak_key=keys["weak"],
                ec_key=keys["ec"],
                oct_key=keys["oct"],
                attacker_key=keys["attacker"],
                ed_key=keys["ed"],
                attacker_jwks_uri=server.url("/attacker.json"),
            )
            yield Stage(world, target, other, kit, server, uri)


# ---------------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Hostile:
    name: str
    body: Callable[[Kit], Body]
    status: int
    code: str


def none_token(alg: Any) -> Callable[[Kit], Body]:
    def build(kit: Kit) -> Body:
        header = {"typ": "JWT"} if alg is ... else {"alg": alg, "typ": "JWT"}
        return kit.hs(compact(header, kit.claims()))

    return build


def hs_other_alg(alg: str, digest: Callable[..., Any]) -> Callable[[Kit], Body]:
    return lambda kit: kit.hs(hmac_token({"alg": alg, "typ": "JWT"}, kit.claims(), kit.secret.encode(), digest))


def rs_other_alg(alg: str, algorithm: hashes.HashAlgorithm, pss: bool = False) -> Callable[[Kit], Body]:
    return lambda kit: {
        "jwt": rsa_token({"alg": alg, "typ": "JWT", "kid": "k1"}, kit.claims(), kit.signing_key, algorithm, pss)
    }


def hmac_with_public_key(form: str, *, key_name: str | None = OWN, alg: str = "HS256") -> Callable[[Kit], Body]:
    """CVE-2022-29217 style key confusion: the published RSA key, in some form, as an HMAC secret.

    `key_name` is the signingKeyName sent: the target's own key name by default, or none.
    """

    def build(kit: Kit) -> Body:
        secret = {
            "pem": kit.public_pem,
            "crlf-pem": kit.public_pem.replace(b"\n", b"\r\n"),
            "der": kit.public_der,
            "pkcs1-pem": kit.public_pkcs1_pem,
            "ssh": kit.public_ssh,
            "jwk": kit.public_jwk_json,
        }[form]
        header = {"alg": alg, "typ": "JWT", "kid": "k1"}
        token = hmac_token(header, kit.claims(), secret)
        if key_name is None:
            return {"jwt": token}
        return {"jwt": token, "signingKeyName": kit.key_name if key_name is OWN else key_name}

    return build


def hs_header(**members: Any) -> Callable[[Kit], Body]:
    return lambda kit: kit.hs256(header={**HS256, **members})


def rs_header(**members: Any) -> Callable[[Kit], Body]:
    return lambda kit: kit.rs256(header={"alg": "RS256", "typ": "JWT", "kid": "k1", **members})


def rs_kid(kid: Any, *, key: str = "signing") -> Callable[[Kit], Body]:
    def build(kit: Kit) -> Body:
        header = {"alg": "RS256", "typ": "JWT"} if kid is ... else {"alg": "RS256", "typ": "JWT", "kid": kid}
        signer = {"signing": kit.signing_key, "weak": kit.weak_key, "attacker": kit.attacker_key}[key]
        return kit.rs256(header=header, key=signer)

    return build


def hs_key_name(key_name: Any) -> Callable[[Kit], Body]:
    return lambda kit: kit.hs256(key_name=key_name)


def raw_token(text: Callable[[Kit], Any]) -> Callable[[Kit], Body]:
    return lambda kit: {"jwt": text(kit), "signingKeyName": kit.key_name}


def raw_segments(header: bytes, payload: bytes) -> Callable[[Kit], Body]:
    """A token whose header/payload bytes are given as they are (not JSON-encoded by us), signed
    with the target's own secret: only the parse can refuse it."""

    def build(kit: Kit) -> Body:
        signing = f"{b64(header)}.{b64(payload)}".encode()
        signature = hmac.new(kit.secret.encode(), signing, hashlib.sha256).digest()
        return kit.hs(f"{signing.decode()}.{b64(signature)}")

    return build


def hs_claims(**claims: Any) -> Callable[[Kit], Body]:
    return lambda kit: kit.hs256({**kit.claims(), **claims})


def hs_claims_without(*names: str, **extra: Any) -> Callable[[Kit], Body]:
    return lambda kit: kit.hs256({**{k: v for k, v in kit.claims().items() if k not in names}, **extra})


def jku_token(kit: Kit) -> Body:
    header = {"alg": "RS256", "typ": "JWT", "kid": "attacker", "jku": kit.attacker_jwks_uri}
    return kit.rs256(header=header, key=kit.attacker_key)


def x5u_token(kit: Kit) -> Body:
    header = {"alg": "RS256", "typ": "JWT", "kid": "k1", "x5u": kit.attacker_jwks_uri}
    return kit.rs256(header=header, key=kit.attacker_key)


def embedded_jwk_token(kit: Kit) -> Body:
    header = {"alg": "RS256", "typ": "JWT", "kid": "k1", "jwk": rsa_jwk(kit.attacker_key, "k1")}
    return kit.rs256(header=header, key=kit.attacker_key)


def x5c_token(kit: Kit) -> Body:
    chain = [base64.b64encode(self_signed_der(kit.attacker_key)).decode()]
    return kit.rs256(header={"alg": "RS256", "typ": "JWT", "kid": "k1", "x5c": chain}, key=kit.attacker_key)


def eddsa_token(kit: Kit) -> Body:
    header, claims = {"alg": "EdDSA", "typ": "JWT"}, kit.claims()
    return {"jwt": compact(header, claims, kit.ed_key.sign(signing_input(header, claims)))}


def now() -> int:
    return int(time.time())


def hs_times(**offsets: int) -> Callable[[Kit], Body]:
    """An HS256 body whose time claims are now + offset seconds, at the time it is built."""
    return lambda kit: kit.hs256({**kit.claims(), **{name: now() + offset for name, offset in offsets.items()}})


CATALOGUE: list[Hostile] = [
    # alg none, in every spelling, and no alg at all
    Hostile("alg-none", none_token("none"), 401, "unsupported_token"),
    Hostile("alg-None", none_token("None"), 401, "unsupported_token"),
    Hostile("alg-NONE", none_token("NONE"), 401, "unsupported_token"),
    Hostile("alg-nOnE", none_token("nOnE"), 401, "unsupported_token"),
    Hostile("alg-empty-string", none_token(""), 401, "unsupported_token"),
    Hostile("alg-null", none_token(None), 401, "unsupported_token"),
    Hostile("alg-missing", none_token(...), 401, "unsupported_token"),
    Hostile(
        "alg-none-with-a-valid-hmac-signature",
        lambda kit: kit.hs(hmac_token({"alg": "none", "typ": "JWT"}, kit.claims(), kit.secret.encode())),
        401,
        "unsupported_token",
    ),
    Hostile(
        "alg-none-in-rs256-mode",
        lambda kit: {"jwt": compact({"alg": "none", "typ": "JWT", "kid": "k1"}, kit.claims())},
        401,
        "unsupported_token",
    ),
    # empty, truncated and bit-flipped signatures
    Hostile(
        "hs256-empty-signature",
        lambda kit: kit.hs(with_signature(kit.hs256()["jwt"], lambda s: "")),
        401,
        "invalid_signature",
    ),
    Hostile(
        "hs256-truncated-signature",
        lambda kit: kit.hs(with_signature(kit.hs256()["jwt"], keep_bytes(16))),
        401,
        "invalid_signature",
    ),
    Hostile(
        "hs256-bit-flipped-signature",
        lambda kit: kit.hs(with_signature(kit.hs256()["jwt"], flip_bit)),
        401,
        "invalid_signature",
    ),
    Hostile(
        "hs256-signature-of-impossible-length",
        lambda kit: kit.hs(with_signature(kit.hs256()["jwt"], lambda s: s[:41])),  # 41 % 4 == 1
        400,
        "malformed_token",
    ),
    Hostile(
        "hs256-signature-non-canonical-base64url",
        lambda kit: kit.hs(with_signature(kit.hs256()["jwt"], set_spare_bits)),
        400,
        "malformed_token",
    ),
    Hostile(
        "rs256-empty-signature",
        lambda kit: {"jwt": with_signature(kit.rs256_token(), lambda s: "")},
        401,
        "invalid_signature",
    ),
    Hostile(
        "rs256-truncated-signature",
        lambda kit: {"jwt": with_signature(kit.rs256_token(), keep_bytes(128))},
        401,
        "invalid_signature",
    ),
    Hostile(
        "rs256-bit-flipped-signature",
        lambda kit: {"jwt": with_signature(kit.rs256_token(), flip_bit)},
        401,
        "invalid_signature",
    ),
    # HS256 with an empty, weak or guessable secret
    Hostile("hs256-empty-secret", lambda kit: kit.hs256(key=b""), 401, "invalid_signature"),
    Hostile("hs256-weak-secret", lambda kit: kit.hs256(key=b"secret"), 401, "invalid_signature"),
    Hostile("hs256-key-name-as-secret", lambda kit: kit.hs256(key=kit.key_name.encode()), 401, "invalid_signature"),
    Hostile(
        "hs256-secret-without-prefix",
        lambda kit: kit.hs256(key=kit.secret.removeprefix("css_").encode()),
        401,
        "invalid_signature",
    ),
    # key confusion: the published RSA key used as an HMAC secret while RS256 is configured
    Hostile("confusion-pem", hmac_with_public_key("pem"), 401, "invalid_signature"),
    Hostile("confusion-crlf-pem", hmac_with_public_key("crlf-pem"), 401, "invalid_signature"),
    Hostile("confusion-der", hmac_with_public_key("der"), 401, "invalid_signature"),
    Hostile("confusion-pkcs1-pem", hmac_with_public_key("pkcs1-pem"), 401, "invalid_signature"),
    Hostile("confusion-openssh", hmac_with_public_key("ssh"), 401, "invalid_signature"),
    Hostile("confusion-jwk-json", hmac_with_public_key("jwk"), 401, "invalid_signature"),
    Hostile("confusion-pem-kid-only", hmac_with_public_key("pem", key_name=None), 400, "signing_key_name_required"),
    Hostile("confusion-kid-as-key-name", hmac_with_public_key("pem", key_name="k1"), 401, "unknown_signing_key"),
    Hostile(
        "confusion-rs256-header-hmac-pem",
        hmac_with_public_key("pem", key_name=None, alg="RS256"),
        401,
        "invalid_signature",
    ),
    Hostile(
        "confusion-rs256-header-hmac-with-the-hs256-secret",
        lambda kit: {"jwt": hmac_token({"alg": "RS256", "typ": "JWT", "kid": "k1"}, kit.claims(), kit.secret.encode())},
        401,
        "invalid_signature",
    ),
    Hostile(
        "confusion-hs256-header-rsa-signature",
        lambda kit: kit.hs(rsa_token(HS256, kit.claims(), kit.signing_key)),
        401,
        "invalid_signature",
    ),
    Hostile(
        "confusion-published-oct-jwk-as-hmac-secret",
        lambda kit: kit.hs256(header={**HS256, "kid": "oct-1"}, key=kit.oct_key),
        401,
        "invalid_signature",
    ),
    # other algorithms, each signed correctly with a real key
    Hostile("alg-HS384", hs_other_alg("HS384", hashlib.sha384), 401, "unsupported_token"),
    Hostile("alg-HS512", hs_other_alg("HS512", hashlib.sha512), 401, "unsupported_token"),
    Hostile("alg-RS384", rs_other_alg("RS384", hashes.SHA384()), 401, "unsupported_token"),
    Hostile("alg-RS512", rs_other_alg("RS512", hashes.SHA512()), 401, "unsupported_token"),
    Hostile("alg-PS256", rs_other_alg("PS256", hashes.SHA256(), pss=True), 401, "unsupported_token"),
    Hostile(
        "alg-ES256",
        lambda kit: {"jwt": ec_token({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}, kit.claims(), kit.ec_key)},
        401,
        "unsupported_token",
    ),
    Hostile(
        "alg-ES256-psychic-signature",  # CVE-2022-21449: r = s = 0
        lambda kit: {"jwt": compact({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}, kit.claims(), bytes(64))},
        401,
        "unsupported_token",
    ),
    Hostile("alg-EdDSA", eddsa_token, 401, "unsupported_token"),
    Hostile(
        "alg-lowercase-hs256", lambda kit: kit.hs256(header={"alg": "hs256", "typ": "JWT"}), 401, "unsupported_token"
    ),
    Hostile(
        "alg-with-trailing-space",
        lambda kit: kit.hs256(header={"alg": "HS256 ", "typ": "JWT"}),
        401,
        "unsupported_token",
    ),
    Hostile("alg-as-list", lambda kit: kit.hs256(header={"alg": ["HS256"], "typ": "JWT"}), 401, "unsupported_token"),
    Hostile("alg-RSA-OAEP-with-enc", hs_header(alg="RSA-OAEP", enc="A256GCM"), 401, "unsupported_token"),
    # headers that choose their own key or processing, on otherwise valid tokens
    Hostile("header-embedded-jwk", embedded_jwk_token, 401, "unsupported_token"),
    Hostile("header-jwk-on-valid-hs256", hs_header(jwk={"kty": "oct", "k": "QUJD"}), 401, "unsupported_token"),
    Hostile("header-jku", jku_token, 401, "unsupported_token"),
    Hostile("header-x5u", x5u_token, 401, "unsupported_token"),
    Hostile("header-x5c", x5c_token, 401, "unsupported_token"),
    Hostile("header-jku-on-valid-rs256", rs_header(jku="https://127.0.0.1:1/jwks.json"), 401, "unsupported_token"),
    Hostile(
        "header-unknown-crit",
        hs_header(crit=["urn:example:unknown"], **{"urn:example:unknown": True}),
        401,
        "unsupported_token",
    ),
    Hostile("header-crit-exp", rs_header(crit=["exp"]), 401, "unsupported_token"),
    Hostile("header-b64-false", hs_header(b64=False, crit=["b64"]), 401, "unsupported_token"),
    Hostile("header-b64-false-without-crit", hs_header(b64=False), 401, "unsupported_token"),
    Hostile("header-zip", hs_header(zip="DEF"), 401, "unsupported_token"),
    Hostile("header-typ-not-jwt", hs_header(typ="at+jwt"), 401, "unsupported_token"),
    Hostile("header-typ-not-a-string", hs_header(typ=1), 401, "unsupported_token"),
    Hostile(
        "header-duplicate-alg",  # a parser-differential attack: which alg wins?
        raw_segments(b'{"alg":"HS256","alg":"none","typ":"JWT"}', json.dumps(Kit.claims()).encode()),
        400,
        "malformed_token",
    ),
    # key names: path traversal, SQL, shell, separators, shapes
    Hostile("key-name-path-traversal", hs_key_name("../../../../etc/passwd"), 401, "unknown_signing_key"),
    Hostile("key-name-sql", hs_key_name("key_' OR '1'='1' --"), 401, "unknown_signing_key"),
    Hostile("key-name-shell", hs_key_name("$(curl http://127.0.0.1:1/x);`id`|sh"), 401, "unknown_signing_key"),
    Hostile("key-name-dynamodb-separator", hs_key_name("KEY#key_0123456789ab"), 401, "unknown_signing_key"),
    Hostile("key-name-null-byte", hs_key_name("key_\u0000"), 401, "unknown_signing_key"),
    Hostile("key-name-too-long", hs_key_name("k" * 129), 400, "signing_key_name_required"),
    Hostile("key-name-empty", hs_key_name(""), 400, "signing_key_name_required"),
    Hostile("key-name-not-a-string", hs_key_name(7), 400, "signing_key_name_required"),
    Hostile("key-name-list", hs_key_name(["key_0123456789ab"]), 400, "signing_key_name_required"),
    Hostile(
        "key-name-missing",
        lambda kit: {"jwt": kit.hs256()["jwt"]},
        400,
        "signing_key_name_required",
    ),
    # kids: injection strings, missing, empty, non-string, random, unusable keys of the JWKS
    Hostile("kid-path-traversal", rs_kid("../../../../etc/passwd"), 401, "unknown_kid"),
    Hostile("kid-sql", rs_kid("k1' OR '1'='1"), 401, "unknown_kid"),
    Hostile("kid-shell", rs_kid("k1; curl http://127.0.0.1:1/x"), 401, "unknown_kid"),
    Hostile("kid-missing", rs_kid(...), 401, "unknown_kid"),
    Hostile("kid-empty", rs_kid(""), 401, "unknown_kid"),
    Hostile("kid-number", rs_kid(1), 401, "unknown_kid"),
    Hostile("kid-object", rs_kid({"kid": "k1"}), 401, "unknown_kid"),
    Hostile("kid-random", rs_kid(uuid.uuid4().hex), 401, "unknown_kid"),
    Hostile("kid-too-long", rs_kid("k" * 257), 401, "unknown_kid"),
    Hostile("kid-lone-surrogate", rs_kid("k1\ud800"), 401, "unknown_kid"),
    Hostile("kid-of-the-ec-key", rs_kid("ec-1"), 401, "unknown_kid"),
    Hostile("kid-of-the-oct-key", rs_kid("oct-1"), 401, "unknown_kid"),
    Hostile("kid-of-the-1024-bit-key", rs_kid("weak-1024", key="weak"), 401, "unknown_kid"),
    Hostile("kid-k1-signed-by-another-key", rs_kid("k1", key="attacker"), 401, "invalid_signature"),
    # structure: segments, base64url, padding, whitespace, encodings
    Hostile("jwt-empty", raw_token(lambda kit: ""), 400, "malformed_token"),
    Hostile("jwt-one-segment", raw_token(lambda kit: "eyJhbGciOiJIUzI1NiJ9"), 400, "malformed_token"),
    Hostile("jwt-two-segments", raw_token(lambda kit: kit.hs256()["jwt"].rsplit(".", 1)[0]), 400, "malformed_token"),
    Hostile("jwt-four-segments", raw_token(lambda kit: kit.hs256()["jwt"] + ".AAAA"), 400, "malformed_token"),
    Hostile("jwt-trailing-dot", raw_token(lambda kit: kit.hs256()["jwt"] + "."), 400, "malformed_token"),
    Hostile(
        "jwt-five-segments-jwe",
        raw_token(lambda kit: "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA"),
        400,
        "malformed_token",
    ),
    Hostile(
        "jwt-standard-base64-alphabet", raw_token(lambda kit: kit.hs256()["jwt"][:-2] + "+/"), 400, "malformed_token"
    ),
    Hostile(
        "jwt-padded-segment",
        raw_token(lambda kit: "=.".join(kit.hs256()["jwt"].split(".", 1))),
        400,
        "malformed_token",
    ),
    Hostile("jwt-leading-space", raw_token(lambda kit: " " + kit.hs256()["jwt"]), 400, "malformed_token"),
    Hostile("jwt-trailing-newline", raw_token(lambda kit: kit.hs256()["jwt"] + "\n"), 400, "malformed_token"),
    Hostile(
        "jwt-inner-whitespace", raw_token(lambda kit: kit.hs256()["jwt"].replace(".", ". ", 1)), 400, "malformed_token"
    ),
    Hostile(
        "jwt-non-ascii", raw_token(lambda kit: kit.hs256()["jwt"].replace("e", "\u0435", 1)), 400, "malformed_token"
    ),
    Hostile("jwt-not-a-string", raw_token(lambda kit: 12345), 400, "malformed_token"),
    Hostile("jwt-null", raw_token(lambda kit: None), 400, "malformed_token"),
    Hostile("jwt-object", raw_token(lambda kit: {"alg": "none"}), 400, "malformed_token"),
    Hostile("header-not-json", raw_segments(b"not json", json.dumps(Kit.claims()).encode()), 400, "malformed_token"),
    Hostile("header-json-array", raw_segments(b'["HS256"]', json.dumps(Kit.claims()).encode()), 400, "malformed_token"),
    Hostile("header-json-string", raw_segments(b'"HS256"', json.dumps(Kit.claims()).encode()), 400, "malformed_token"),
    Hostile("payload-json-array", raw_segments(b'{"alg":"HS256"}', b"[1,2,3]"), 400, "malformed_token"),
    Hostile("payload-json-number", raw_segments(b'{"alg":"HS256"}', b"42"), 400, "malformed_token"),
    Hostile(
        "header-invalid-utf8",
        raw_segments(b'{"alg":"HS256","x":"\xff\xfe"}', json.dumps(Kit.claims()).encode()),
        400,
        "malformed_token",
    ),
    Hostile("payload-invalid-utf8", raw_segments(b'{"alg":"HS256"}', b'{"nonce":"\xc3\x28"}'), 400, "malformed_token"),
    Hostile("payload-nan", raw_segments(b'{"alg":"HS256"}', b'{"nonce":"n","exp":NaN}'), 400, "malformed_token"),
    Hostile(
        "payload-infinite-number",
        raw_segments(b'{"alg":"HS256"}', b'{"nonce":"n","exp":1e999}'),
        400,
        "malformed_token",
    ),
    Hostile(
        "payload-nested-5000-deep",  # deeper than any recursive parser's stack
        raw_segments(b'{"alg":"HS256"}', b'{"nonce":"n","x":' + b"[" * 5000 + b"]" * 5000 + b"}"),
        400,
        "malformed_token",
    ),
    Hostile("payload-nested-25-deep", lambda kit: kit.hs256({**kit.claims(), "x": deep(25)}), 400, "malformed_token"),
    Hostile("header-nested-25-deep", hs_header(x=deep(25)), 400, "malformed_token"),
    Hostile("jwt-over-16-kib", lambda kit: kit.hs256({**kit.claims(), "pad": "x" * 20_000}), 400, "malformed_token"),
    Hostile(
        "jwt-multi-megabyte",  # the body limit answers first: 413 in SPEC's shape
        lambda kit: kit.hs256({**kit.claims(), "pad": "x" * 3_000_000}),
        413,
        "payload_too_large",
    ),
    Hostile(
        "jwt-and-metadata", lambda kit: {**kit.hs256(), "metadata": {"visitor": {"id": "v"}}}, 400, "invalid_request"
    ),
    # time claims
    Hostile("exp-string", hs_claims(exp="4102444800"), 400, "invalid_claims"),
    Hostile("exp-boolean", hs_claims(exp=True), 400, "invalid_claims"),
    Hostile("exp-null", hs_claims(exp=None), 400, "invalid_claims"),
    Hostile("exp-list", hs_claims(exp=[4102444800]), 400, "invalid_claims"),
    Hostile("nbf-string", hs_claims(nbf="0"), 400, "invalid_claims"),
    Hostile("iat-object", hs_claims(iat={"t": 0}), 400, "invalid_claims"),
    Hostile("exp-past", hs_times(exp=-3600), 401, "token_expired"),
    Hostile("exp-past-just-beyond-leeway", hs_times(exp=-90), 401, "token_expired"),
    Hostile("exp-far-past-negative", hs_claims(exp=-(10**12)), 401, "token_expired"),
    Hostile("nbf-future", hs_times(nbf=3600), 401, "token_not_yet_valid"),
    Hostile("iat-future", hs_times(iat=3600), 401, "token_not_yet_valid"),
    Hostile("rs256-exp-past", lambda kit: kit.rs256({**kit.claims(), "exp": now() - 3600}), 401, "token_expired"),
    # claims
    Hostile("nonce-missing", hs_claims_without("nonce"), 400, "missing_nonce"),
    Hostile(
        "nonce-only-inside-visitor", hs_claims_without("nonce", visitor={"id": "v", "nonce": "n"}), 400, "missing_nonce"
    ),
    Hostile("nonce-empty", hs_claims(nonce=""), 400, "missing_nonce"),
    Hostile("nonce-number", hs_claims(nonce=1), 400, "missing_nonce"),
    Hostile("aud-claim", hs_claims(aud="https://another-service.example"), 400, "invalid_claims"),
    Hostile("visitor-id-number", hs_claims(visitor={"id": 42}), 400, "invalid_claims"),
    Hostile(
        "rs256-without-account", lambda kit: kit.rs256({"nonce": "n", "visitor": {"id": "v"}}), 400, "invalid_claims"
    ),
    # another application's key
    Hostile(
        "other-apps-secret-and-key-name",
        lambda kit: kit.hs256(key=kit.other_secret.encode(), key_name=kit.other_key_name),
        401,
        "unknown_signing_key",
    ),
    Hostile(
        "other-apps-secret-with-own-key-name",
        lambda kit: kit.hs256(key=kit.other_secret.encode()),
        401,
        "invalid_signature",
    ),
]


def test_the_catalogue_is_large_and_uses_known_codes() -> None:
    assert len(CATALOGUE) >= 40
    assert len({case.name for case in CATALOGUE}) == len(CATALOGUE)
    for case in CATALOGUE:
        assert ERRORS[case.code][0] == case.status, case.name


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_hostile_token_is_refused(stage: Stage, case: Hostile) -> None:
    # Each token meets a container whose JWKS refetch budget is whole: a random kid is looked for
    # (401), whatever the cases before it spent (a spent budget answers 503: test_jwks.py).
    app_view._jwks_cache.cache_clear()
    target = stage.target
    before = stage.dropped(target)
    status, answer, response = stage.send(target, case.body(stage.kit))

    assert status < 500, answer
    assert (status, answer["error"]["code"]) == (case.status, case.code), answer
    assert set(answer) == {"error"} and set(answer["error"]) <= {"code", "message", "detail"}
    assert answer["error"]["message"]
    assert stage.sessions_of(target) == []
    after = stage.dropped(target)
    counted = {reason: n - before.get(reason, 0) for reason, n in after.items() if n != before.get(reason, 0)}
    assert counted == ({case.code: 1} if case.code in DROP_CODES else {})
    assert stage.kit.secret not in json.dumps(answer) and stage.kit.secret not in str(response)


def test_valid_tokens_made_the_same_way_are_accepted(stage: Stage) -> None:
    """The control: the catalogue's starting points are real, valid tokens (for a twin application)."""
    twin = Tenant(stage.world)
    twin.settings(useSignedMetadata=True)
    key_name, secret = twin.new_key()
    twin.save_jwks_uri(stage.jwks_uri)
    kit = Kit(**{**stage.kit.__dict__, "key_name": key_name, "secret": secret})
    for body, mode in ((kit.hs256(), "hs256"), (kit.rs256(), "rs256"), (hs_times(exp=3600, nbf=-10)(kit), "hs256")):
        status, answer, _ = stage.send(twin, body)
        assert (status, answer["signed"]) == (201, mode), answer
    assert len(stage.sessions_of(twin)) == 3
    # An exp past the end of year 9999 is a valid (if odd) token: the session ends then, never a 500.
    status, answer, _ = stage.send(twin, kit.hs256({**kit.claims(), "exp": 10**20}))
    assert (status, answer["expiresAt"]) == (201, "9999-12-31T23:59:59Z"), answer


def test_diagnostics_show_hostile_drops_without_their_tokens(stage: Stage) -> None:
    body = stage.kit.hs256(header={"alg": "none", "typ": "JWT"})
    assert stage.send(stage.target, body)[0] == 401
    status, diagnostics = stage.target.admin("GET", "/diagnostics")
    assert status == 200 and diagnostics["counts"]["dropped"]["unsupported_token"] >= 1
    latest = diagnostics["recentDrops"][0]
    assert latest["reason"] == "unsupported_token" and latest["route"] == "sessions"
    assert latest["keyName"] == stage.kit.key_name
    assert body["jwt"] not in json.dumps(diagnostics) and stage.kit.secret not in json.dumps(diagnostics)


def test_no_token_makes_the_service_fetch_a_url_it_names(stage: Stage) -> None:
    before = stage.jwks_server.paths
    for build in (jku_token, x5u_token, embedded_jwk_token, x5c_token):
        status, answer, _ = stage.send(stage.target, build(stage.kit))
        assert (status, answer["error"]["code"]) == (401, "unsupported_token")
    assert "/attacker.json" not in stage.jwks_server.paths[len(before) :]
    assert "/attacker.json" not in stage.jwks_server.paths


def test_pyjwt_itself_refuses_the_public_key_as_an_hmac_secret(stage: Stage) -> None:
    """CVE-2022-29217 is fixed in the pinned PyJWT: the library the core delegates to refuses it too."""
    token = hmac_token(HS256, Kit.claims(), stage.kit.public_pem)
    with pytest.raises(jwt.exceptions.InvalidKeyError):
        jwt.decode(token, stage.kit.public_pem, algorithms=["HS256"])
