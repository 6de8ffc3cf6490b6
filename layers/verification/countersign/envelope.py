"""KMS protection of HS256 signing secrets: the only code that encrypts or decrypts them.

Each secret is encrypted directly by the customer-managed KMS key (template.yaml `SecretsKey`)
with the encryption context `{"appId": <appId>, "keyName": <keyName>}`. A secret is 47 bytes,
far below KMS Encrypt's 4 KiB limit, so a generated data key would add a second secret to
protect and no security: here "envelope" means the KMS key wraps each secret, bound to where it
belongs. KMS authenticates the context with the ciphertext, so a ciphertext copied to another
application's or key name's item cannot be decrypted there; IAM (template.yaml) only allows
Encrypt and Decrypt with exactly these two context keys.

Only ciphertext is stored (`countersign.store.keys`). Plaintext never reaches a log or an error.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from countersign import aws
from countersign.config import get_config
from countersign.errors import ApiError

logger = Logger(child=True)

# KMS's answers for a ciphertext that does not belong to this key and context: an integrity
# problem of the stored item, not an outage (see the `key_unreadable` error).
_INTEGRITY_ERROR_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


def encryption_context(app_id: str, key_name: str) -> dict[str, str]:
    """The context every Encrypt and Decrypt of this key's secret passes (IAM requires both keys)."""
    return {"appId": app_id, "keyName": key_name}


def seal_secret(app_id: str, key_name: str, secret: str) -> bytes:
    """Encrypt `secret` (its UTF-8 bytes) under the secrets key, bound to this app and key name.

    KMS failures (throttling, outage, access) raise DependencyUnavailable("kms"): a 503.
    """
    with aws.calling("kms"):
        response = _kms().encrypt(
            KeyId=get_config().kms_key_id,
            Plaintext=secret.encode("utf-8"),
            EncryptionContext=encryption_context(app_id, key_name),
        )
    return bytes(response["CiphertextBlob"])


def open_secret(app_id: str, key_name: str, ciphertext: bytes) -> bytes:
    """The UTF-8 bytes of the secret sealed for this app and key name: what HS256 signs with.

    A ciphertext that was made for another application or key name (or is damaged) raises
    ApiError("key_unreadable"); other KMS failures raise DependencyUnavailable("kms").
    """
    from botocore.exceptions import ClientError

    with aws.calling("kms"):
        try:
            response = _kms().decrypt(
                # Naming the key makes KMS refuse a ciphertext made under any other key.
                KeyId=get_config().kms_key_id,
                CiphertextBlob=ciphertext,
                EncryptionContext=encryption_context(app_id, key_name),
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code not in _INTEGRITY_ERROR_CODES:
                raise
            logger.error(
                "stored signing secret does not decrypt for its own app and key name",
                extra={"key_name": key_name, "target_app_id": app_id, "error_code": code},
            )
            raise ApiError("key_unreadable") from error
    return bytes(response["Plaintext"])


def _kms() -> Any:
    return aws.client("kms")
