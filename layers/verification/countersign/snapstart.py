"""Lambda SnapStart (template parameter `SnapStart`): the runtime hooks of every function.

With SnapStart, Lambda initialises a published version once, snapshots the memory of that
environment and resumes every new environment from the same snapshot. Whatever the snapshot
holds is therefore shared by every environment restored from it, so after a restore:

- Python's `random` generator is reseeded from the OS (otherwise every environment draws the same
  retry jitter; `secrets`, which makes keys, tokens and ids, reads the OS and needs nothing);
- every per-container cache is dropped (`countersign.container.reset`): AWS clients and their
  pooled connections, settings, keys and the decrypted secrets cache; and boto3's default session,
  which remembers the credentials it resolved (the snapshot's would expire).

Before the snapshot, the modules a first request imports lazily (botocore's client machinery,
PyJWT and cryptography) are imported, so a restored environment starts with them loaded.

`snapshot_restore_py` is part of Lambda's Python runtimes (not of the layer). Elsewhere, locally
and in tests without it, `register` does nothing: no snapshot is ever taken there. The hooks also
do nothing harmful without SnapStart: Lambda then never calls them.
"""

from __future__ import annotations

import importlib
import random
import sys

from countersign import container

#: What a first request imports lazily (cheap cold imports), loaded into the snapshot instead.
SNAPSHOT_IMPORTS = (
    "boto3",
    "botocore.client",
    "botocore.config",
    "botocore.exceptions",
    "jwt.algorithms",
    "countersign.jwks",
)


def before_snapshot() -> None:
    """Load what the first request would otherwise import, so the snapshot already holds it."""
    for module in SNAPSHOT_IMPORTS:
        importlib.import_module(module)


def after_restore() -> None:
    """Make this restored environment its own: fresh randomness, no shared client or cache."""
    random.seed()  # from os.urandom, which the restored microVM reseeds
    container.reset()
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        # Its cached credentials belong to the snapshot's environment.
        boto3.DEFAULT_SESSION = None  # type: ignore[attr-defined]


def register() -> bool:
    """Register the hooks with Lambda's runtime, once; False where there is no runtime to call them."""
    try:
        from snapshot_restore_py import get_after_restore, register_after_restore, register_before_snapshot
    except ImportError:
        return False
    if not any(hook is after_restore for hook, _args, _kwargs in get_after_restore()):
        register_before_snapshot(before_snapshot)
        register_after_restore(after_restore)
    return True
