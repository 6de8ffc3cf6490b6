"""The files the web function serves: an allow-listed manifest built once, and how each is answered.

The manifest maps a request path (`sdk/countersign.js`) to a file's bytes read at import, so a
request can only name a listed file: there is no path joining, hence no `..` or symlink escape.
SDK files are served under their plain name (cached briefly, so a new release reaches pages
within minutes) and under a content-hashed name (`sdk/countersign.<hash>.js`, cached for a year
as immutable), which pages may pin. Console files get a strict Content-Security-Policy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response

from countersign.errors import ApiError

#: Text types only: API Gateway passes text bodies through as they are (binary would need
#: BinaryMediaTypes on the API). A file of another type fails the import, so tests catch it.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".ts": "application/typescript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}

HASH_LENGTH = 12
IMMUTABLE = "public, max-age=31536000, immutable"
#: The plain SDK name is the "latest" pointer: short enough that a release spreads within minutes.
LATEST = "public, max-age=300"

_COMMON = {"X-Content-Type-Options": "nosniff"}
#: Any page may import the SDK module (module scripts are fetched in CORS mode); the answer does not
#: depend on the Origin, so a shared cache may keep one copy for everyone.
SDK_HEADERS = {
    **_COMMON,
    "Access-Control-Allow-Origin": "*",
    "Cross-Origin-Resource-Policy": "cross-origin",
}
#: The console runs only its own files, talks only to its own origin, and is never framed.
CONSOLE_HEADERS = {
    **_COMMON,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    # Console files keep their names between releases: revalidate (ETag) on every load.
    "Cache-Control": "no-cache",
}


class StaticSiteError(Exception):
    """static/ holds a file the web function cannot serve as text."""


@dataclass(frozen=True)
class Asset:
    body: str
    headers: dict[str, str]
    etag: str


@dataclass(frozen=True)
class Site:
    assets: dict[str, Asset]

    @classmethod
    def from_directory(cls, root: Path) -> Site:
        """Read every file under `root` (sdk/ and console/) into the manifest."""
        assets: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            name = path.relative_to(root).as_posix()
            if path.is_symlink():  # a link could point anywhere on the machine: never follow one
                raise StaticSiteError(f"{name}: a symbolic link; put the file itself in static/")
            if not path.is_file() or any(part.startswith(".") for part in path.relative_to(root).parts):
                continue
            content_type = CONTENT_TYPES.get(path.suffix)
            if content_type is None:
                raise StaticSiteError(f"{name}: no text content type for {path.suffix!r} (see CONTENT_TYPES)")
            raw = path.read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            etag = f'"{digest[:32]}"'
            body = raw.decode("utf-8")
            base = {"Content-Type": content_type, "ETag": etag}
            if name.startswith("sdk/"):
                pinned = hashed_name(name, digest)
                assets[pinned] = Asset(body, {**base, **SDK_HEADERS, "Cache-Control": IMMUTABLE}, etag)
                link = f'<{pinned.rpartition("/")[2]}>; rel="canonical"'
                assets[name] = Asset(body, {**base, **SDK_HEADERS, "Cache-Control": LATEST, "Link": link}, etag)
            elif name.startswith("console/"):
                assets[name] = Asset(body, {**base, **CONSOLE_HEADERS}, etag)
            else:
                raise StaticSiteError(f"{name}: static files live in sdk/ or console/")
        return cls(assets)

    def answer(self, name: str, *, if_none_match: str | None = None, head: bool = False) -> Response[Any]:
        """The file listed under `name` (304 when the client holds this version), or 404; with
        `head`, the same answer without its body."""
        asset = self.assets.get(name)
        if asset is None:
            raise ApiError("not_found", "No file is served under this path.")
        if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Response(status_code=304, headers=dict(asset.headers), body="")
        return Response(status_code=200, headers=dict(asset.headers), body="" if head else asset.body)

    def pinned_name(self, name: str) -> str:
        """The content-hashed name under which `name` (an sdk/ file) is also served."""
        link = self.assets[name].headers["Link"]
        return name.rpartition("/")[0] + "/" + link[1 : link.index(">")]


def hashed_name(name: str, digest: str) -> str:
    """`sdk/countersign.js` -> `sdk/countersign.<hash>.js` (`.d.ts` stays whole at the end)."""
    folder, _, file = name.rpartition("/")
    stem, dot, rest = file.partition(".")
    return f"{folder}/{stem}.{digest[:HASH_LENGTH]}{dot}{rest}"
