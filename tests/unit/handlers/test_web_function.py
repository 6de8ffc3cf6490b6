"""The web function serves the SDK and the console files: types, caching, CORS, security headers, and
nothing but the files of its manifest (SPEC 7, 8)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from countersign.static_files import IMMUTABLE, Site, StaticSiteError
from countersign_dev.emulation import template as tpl
from countersign_dev.emulation.local_stack import proxy_event
from tests.support.world import LambdaContext, World

STATIC = Path(__file__).resolve().parents[3] / "functions" / "web" / "static"
SDK = STATIC / "sdk" / "countersign.js"


def get(world: World, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> dict[str, Any]:
    """The web function's raw answer to `method path`, routed as template.yaml declares."""
    for route in tpl.routes(world.template):
        params = route.match(path)
        if params is not None and route.method in (method, "ANY"):
            break
    else:
        raise LookupError(path)
    event = proxy_event(route, method, path, "", list((headers or {}).items()), b"", params, "198.51.100.7")
    response = world.handler(route.function)(event, LambdaContext(route.function))
    response["headers"] = {k.lower(): v[-1] for k, v in (response.get("multiValueHeaders") or {}).items()}
    return response


def test_the_sdk_is_a_module_any_origin_may_import(world: World) -> None:
    response = get(world, "/sdk/countersign.js", {"Origin": "https://shop.example"})
    assert response["statusCode"] == 200
    assert response["body"] == SDK.read_text()
    headers = response["headers"]
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cross-origin-resource-policy"] == "cross-origin"
    # The plain name is the "latest" pointer: cached briefly, and it names its immutable twin.
    assert headers["cache-control"] == "public, max-age=300"
    assert headers["link"].startswith("<countersign.") and headers["link"].endswith('.js>; rel="canonical"')


def test_the_content_hashed_name_is_cached_for_a_year(world: World) -> None:
    link = get(world, "/sdk/countersign.js")["headers"]["link"]
    pinned = link[1 : link.index(">")]
    response = get(world, f"/sdk/{pinned}", {"Origin": "https://shop.example"})
    assert response["statusCode"] == 200
    assert response["body"] == SDK.read_text()
    assert response["headers"]["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert response["headers"]["access-control-allow-origin"] == "*"
    # Another hash is not a file: a page can never pin a version that does not exist.
    assert get(world, "/sdk/countersign.000000000000.js")["statusCode"] == 404


def test_a_client_holding_the_version_gets_304(world: World) -> None:
    etag = get(world, "/sdk/countersign.js")["headers"]["etag"]
    response = get(world, "/sdk/countersign.js", {"If-None-Match": etag})
    assert response["statusCode"] == 304 and not response["body"]
    assert get(world, "/sdk/countersign.js", {"If-None-Match": '"other"'})["statusCode"] == 200


def test_the_type_declarations_are_served_too(world: World) -> None:
    response = get(world, "/sdk/countersign.d.ts")
    assert response["statusCode"] == 200
    assert "initialize(options: InitializeOptions): Promise<Session | null>;" in response["body"]


def test_the_sdk_is_small() -> None:
    for built in (SDK, STATIC / "sdk" / "countersign.iife.js"):
        assert len(gzip.compress(built.read_bytes(), 9)) < 8 * 1024, built.name


def test_the_console_page_has_strict_security_headers(world: World) -> None:
    for path in ("/console", "/console/index.html"):
        response = get(world, path, {"Origin": "https://evil.example"})
        assert response["statusCode"] == 200, path
        headers = response["headers"]
        assert headers["content-type"] == "text/html; charset=utf-8"
        csp = [part.strip() for part in headers["content-security-policy"].split(";")]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "access-control-allow-origin" not in headers  # the console is for its own origin only


@pytest.mark.parametrize(
    "path",
    [
        "/console/../app.py",
        "/console/..%2Fapp.py",
        "/console/%2e%2e/%2e%2e/template.yaml",
        "/console/static/console/index.html",
        "/console//etc/passwd",
        "/console/sdk/countersign.js",
        "/sdk/..%2Fapp.py",
        "/sdk/app.py",
        "/sdk/.hidden",
    ],
)
def test_no_path_reaches_a_file_outside_the_manifest(world: World, path: str) -> None:
    response = get(world, path)
    assert response["statusCode"] == 404, path
    assert json.loads(response["body"])["error"]["code"] == "not_found"


def test_only_get_is_allowed(world: World) -> None:
    response = get(world, "/sdk/countersign.js", method="POST")
    assert response["statusCode"] == 405


def test_the_manifest_lists_only_servable_text_files(tmp_path: Path) -> None:
    (tmp_path / "sdk").mkdir()
    (tmp_path / "console" / "assets").mkdir(parents=True)
    (tmp_path / "sdk" / "x.js").write_text("export const x = 1;\n")
    (tmp_path / "sdk" / ".DS_Store").write_text("junk")
    (tmp_path / "console" / "assets" / "app.css").write_text("body { margin: 0 }\n")
    site = Site.from_directory(tmp_path)
    assert set(site.assets) == {"sdk/x.js", site.pinned_name("sdk/x.js"), "console/assets/app.css"}

    (tmp_path / "console" / "logo.png").write_bytes(b"\x89PNG")
    with pytest.raises(StaticSiteError, match=r"logo\.png"):
        Site.from_directory(tmp_path)
    (tmp_path / "console" / "logo.png").unlink()

    (tmp_path / "console" / "passwd.txt").symlink_to("/etc/passwd")
    with pytest.raises(StaticSiteError, match="symbolic link"):
        Site.from_directory(tmp_path)


@pytest.mark.parametrize(
    "path", ["/sdk/countersign.js", "/sdk/countersign.iife.js", "/sdk/countersign.d.ts", "/console"]
)
def test_head_answers_200_with_the_get_headers_and_no_body(world: World, path: str) -> None:
    got = get(world, path, {"Origin": "https://shop.example"})
    head = get(world, path, {"Origin": "https://shop.example"}, method="HEAD")
    assert (head["statusCode"], head["body"]) == (200, "")
    assert head["headers"] == got["headers"] and head["headers"]["etag"]


def test_the_iife_is_served_like_the_module_with_its_own_pinned_name(world: World) -> None:
    response = get(world, "/sdk/countersign.iife.js", {"Origin": "https://shop.example"})
    assert response["statusCode"] == 200
    assert response["body"] == (STATIC / "sdk" / "countersign.iife.js").read_text()
    assert response["headers"]["access-control-allow-origin"] == "*"
    pinned = response["headers"]["link"][1 : response["headers"]["link"].index(">")]
    assert re.fullmatch(r"countersign\.[0-9a-f]{12}\.iife\.js", pinned), pinned
    assert get(world, f"/sdk/{pinned}")["body"] == response["body"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/sdk/countersign.js", "GET, HEAD"),
        ("DELETE", "/console", "GET, HEAD"),
        ("PUT", "/v1/apps/app_0123456789abcdef/events", "OPTIONS, POST"),
        ("GET", "/v1/apps/app_0123456789abcdef/sessions", "OPTIONS, POST"),
        ("DELETE", "/v1/apps/app_0123456789abcdef/sessions/s_example-session-000000000000000000000", "OPTIONS, PATCH"),
    ],
)
def test_every_405_says_which_methods_the_path_allows(world: World, method: str, path: str, allow: str) -> None:
    world.seed_example_app()
    response = get(world, path, method=method)
    assert response["statusCode"] == 405
    assert json.loads(response["body"])["error"]["code"] == "method_not_allowed"
    assert response["headers"]["allow"] == allow


def test_the_documented_snippet_pins_the_served_iife_by_name_and_integrity() -> None:
    """docs/sdk-web.md's snippet loads the IIFE under the content-hashed name the API serves it by,
    with the SRI hash of exactly that file (a stale snippet would be blocked by the browser)."""
    site = Site.from_directory(STATIC)
    iife = (STATIC / "sdk" / "countersign.iife.js").read_bytes()
    docs = (STATIC.parents[2] / "docs" / "sdk-web.md").read_text()
    snippet = docs[docs.index("<!-- snippet: iife -->") :].split("```")[1]
    pinned = site.pinned_name("sdk/countersign.iife.js")
    assert f'"https://API_ID.execute-api.REGION.amazonaws.com/api/{pinned}"' in snippet
    sri = "sha384-" + base64.b64encode(hashlib.sha384(iife).digest()).decode()
    assert f'"{sri}"' in snippet
    # The console fills the same template (served as a console file) for the signed-in application.
    template = (STATIC / "console" / "snippet.txt").read_text()
    values = {
        "API_URL": "https://API_ID.execute-api.REGION.amazonaws.com/api",
        "APP_ID": "app_0123456789abcdef",
        "FILE": pinned.removeprefix("sdk/"),
        "SRI": sri,
    }
    assert snippet == "html\n" + re.sub(r"\{\{(\w+)\}\}", lambda match: values[match[1]], template)
