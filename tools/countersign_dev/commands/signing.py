"""`countersign sign` and `countersign keygen`: what a customer's server does, for testing."""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from countersign_dev.errors import CliError
from countersign_dev.render import json_text

#: Where `countersign sign` reads an HS256 secret from (keeps it out of shell history and `ps`).
SECRET_ENV = "COUNTERSIGN_SIGNING_SECRET"  # noqa: S105 - the variable's name, not a secret
#: HS256 keys shorter than the hash (256 bits) are weak; the service's secrets are longer.
MIN_SECRET_BYTES = 32


def register(commands: Any) -> None:
    sign = commands.add_parser(
        "sign",
        help="print a signed JWT for testing (adds a random nonce)",
        description=f"Print a signed JWT. HS256 reads the secret from {SECRET_ENV}, --secret-file or --secret-stdin.",
        epilog=(
            "example: countersign sign --key-name KEY --visitor-id v-1 --session-body "
            "(with COUNTERSIGN_SIGNING_SECRET=$(countersign keys reveal KEY -q --local))"
        ),
    )
    claims = sign.add_mutually_exclusive_group()
    claims.add_argument("--claims", help="claims as a JSON object")
    claims.add_argument("--claims-file", type=Path, help="file holding the claims JSON object")
    sign.add_argument("--visitor-id", help="shortcut: sets visitor.id")
    sign.add_argument("--account-id", help="shortcut: sets account.id")
    sign.add_argument("--expires-in", type=int, metavar="SECONDS", help="adds exp = now + SECONDS")
    sign.add_argument("--key-name", help="HS256: the signing key name")
    secret = sign.add_mutually_exclusive_group()
    # Refused with a clear line: a secret on the command line lands in shell history and `ps`.
    secret.add_argument("--secret", help=argparse.SUPPRESS)
    secret.add_argument("--secret-file", type=Path, help=f"HS256: file holding the secret (or set {SECRET_ENV})")
    secret.add_argument("--secret-stdin", action="store_true", help="HS256: read the secret from standard input")
    sign.add_argument("--private-key", type=Path, help="RS256: PEM private key")
    sign.add_argument("--kid", help="RS256: key id of the key in your JWKS")
    sign.add_argument("--session-body", action="store_true", help="print the POST /sessions body, not just the JWT")
    sign.set_defaults(run=lambda args: print(sign_command(args)))

    keygen = commands.add_parser(
        "keygen",
        help="write an RSA private key and the matching JWKS",
        epilog="example: countersign keygen --kid k-2026 --private-key rs256.pem --jwks jwks.json",
    )
    keygen.add_argument("--kid", required=True, help="key id to publish")
    keygen.add_argument("--private-key", type=Path, required=True, help="where to write the PEM private key")
    keygen.add_argument("--jwks", type=Path, required=True, help="JWKS file to write (an existing one gains the key)")
    keygen.add_argument(
        "--bits", type=int, default=2048, choices=[2048, 3072, 4096], help="RSA key size (default 2048)"
    )
    keygen.set_defaults(run=lambda args: print(json_text(keygen_command(args)), end=""))


def sign_command(args: argparse.Namespace) -> str:
    """A signed JWT (or the whole POST /sessions body with --session-body)."""
    if args.secret is not None:
        raise CliError(
            f"--secret is refused: a secret on the command line lands in shell history and `ps`; "
            f"set {SECRET_ENV}, or use --secret-file FILE or --secret-stdin"
        )
    claims = _claims(args)
    rs256 = args.private_key is not None
    if rs256 == (args.key_name is not None):
        raise CliError(
            f"give either --key-name (HS256, the secret in {SECRET_ENV} or --secret-file)"
            " or --private-key with --kid (RS256)"
        )
    if rs256:
        if not args.kid:
            raise CliError("RS256 needs --kid (the key id published in your JWKS)")
        try:
            key: Any = args.private_key.read_bytes()
        except OSError as error:
            raise CliError(f"--private-key {args.private_key}: {error.strerror}") from error
        token = _encode(claims, key, "RS256", {"kid": args.kid}, f"--private-key {args.private_key}")
        body: dict[str, Any] = {"jwt": token}
    else:
        secret = _secret(args).encode("utf-8")
        if len(secret) < MIN_SECRET_BYTES:
            raise CliError(
                f"the HS256 secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed"
                " (use the secret `keys reveal` shows)"
            )
        token = _encode(claims, secret, "HS256", None, "the secret")
        body = {"jwt": token, "signingKeyName": args.key_name}
    return json.dumps(body) if args.session_body else token


def _encode(claims: dict[str, Any], key: Any, algorithm: str, headers: dict[str, str] | None, what: str) -> str:
    """jwt.encode where a library warning (a weak key) is a one-line refusal, never printed."""
    import jwt

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            return str(jwt.encode(claims, key, algorithm=algorithm, headers=headers))
        except Warning as warning:
            raise CliError(f"{what} is refused: {warning}") from warning
        except (ValueError, TypeError, jwt.PyJWTError) as error:
            raise CliError(f"{what} is not an RSA private key in PEM") from error


def keygen_command(args: argparse.Namespace) -> dict[str, Any]:
    """Write a PEM private key and add its public half to a JWKS file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    if args.private_key.exists():
        raise CliError(f"{args.private_key} exists: refusing to overwrite a private key")
    private = rsa.generate_private_key(public_exponent=65537, key_size=args.bits)
    numbers = private.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
        "kid": args.kid,
        "n": _b64url_uint(numbers.n),
        "e": _b64url_uint(numbers.e),
    }
    jwks: dict[str, Any] = {"keys": []}
    if args.jwks.exists():
        try:
            jwks = json.loads(args.jwks.read_text())
            assert isinstance(jwks.get("keys"), list)
        except (ValueError, AssertionError, AttributeError) as error:
            raise CliError(f"{args.jwks} is not a JWKS document") from error
        if any(k.get("kid") == args.kid for k in jwks["keys"]):
            raise CliError(f"{args.jwks} already has a key with kid {args.kid}")
    jwks["keys"].append(jwk)
    args.private_key.parent.mkdir(parents=True, exist_ok=True)
    args.private_key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    args.private_key.chmod(0o600)
    args.jwks.parent.mkdir(parents=True, exist_ok=True)
    args.jwks.write_text(json.dumps(jwks, indent=2) + "\n")
    return {"kid": args.kid, "privateKey": str(args.private_key), "jwks": str(args.jwks), "bits": args.bits}


def _claims(args: argparse.Namespace) -> dict[str, Any]:
    raw = args.claims
    if args.claims_file is not None:
        try:
            raw = args.claims_file.read_text()
        except OSError as error:
            raise CliError(f"--claims-file {args.claims_file}: {error.strerror}") from error
    try:
        claims = json.loads(raw) if raw else {}
    except ValueError as error:
        raise CliError(f"the claims are not valid JSON ({error})") from error
    if not isinstance(claims, dict):
        raise CliError("the claims must be a JSON object")
    if args.visitor_id is not None:
        claims.setdefault("visitor", {})["id"] = args.visitor_id
    if args.account_id is not None:
        claims.setdefault("account", {})["id"] = args.account_id
    if args.expires_in is not None:
        claims["exp"] = int(time.time()) + args.expires_in
    claims.setdefault("nonce", secrets.token_urlsafe(16))
    return claims


def _secret(args: argparse.Namespace) -> str:
    """The HS256 secret: a file, standard input or the environment, never an argument."""
    if args.secret_file is not None:
        try:
            return str(args.secret_file.read_text().strip())
        except OSError as error:
            raise CliError(f"--secret-file {args.secret_file}: {error.strerror}") from error
    if args.secret_stdin:
        return sys.stdin.readline().strip()
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV].strip()
    raise CliError(f"HS256 needs the secret: set {SECRET_ENV}, or use --secret-stdin or --secret-file")


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
