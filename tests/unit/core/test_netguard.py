"""The JWKS address policy (SPEC 3.2): hostile URIs never open a socket; real HTTPS on loopback."""

from __future__ import annotations

import functools
import ipaddress
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import pytest

from countersign import netguard
from countersign.errors import ApiError
from countersign.netguard import AddressPolicy, check_uri, fetch, is_public_address
from tests.support.tls import Reply, TestPki, free_port, serve_https

STRICT = AddressPolicy()


class NetworkUsed(AssertionError):
    """Raised by the socket traps: a refused URI must never reach the network."""


@pytest.fixture
def network_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Trap every way netguard could open a socket or look a name up; returns what was tried."""
    calls: list[str] = []

    def trap(name: str) -> Callable[..., Any]:
        def record(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise NetworkUsed(f"{name} called with {args!r} {kwargs!r}")

        return record

    for name in ("socket", "create_connection", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, trap(name))
    return calls


class StubResolver:
    """A resolver with a fixed answer per host name, counting its calls."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str) -> Sequence[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


def api_error(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


# ---------------------------------------------------------------------------------------------
# Hostile URIs: refused before any socket, with the right code and a detail.

HOSTILE_URIS: list[tuple[str, str]] = [
    # IPv4 loopback in every notation
    ("https://127.0.0.1/jwks.json", "jwks_uri_invalid"),
    ("https://2130706433/", "jwks_uri_invalid"),
    ("https://0177.0.0.1/", "jwks_uri_invalid"),
    ("https://0x7f.1/", "jwks_uri_invalid"),
    ("https://0x7f000001/", "jwks_uri_invalid"),
    ("https://017700000001/", "jwks_uri_invalid"),
    ("https://127.1/", "jwks_uri_invalid"),
    ("https://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "jwks_uri_invalid"),  # Lambda runtime API
    # cloud metadata (link-local) in every notation
    ("https://169.254.169.254/latest/meta-data/", "jwks_uri_invalid"),
    ("https://2852039166/", "jwks_uri_invalid"),
    ("https://0xa9.0xfe.0xa9.0xfe/", "jwks_uri_invalid"),
    ("https://0251.0376.0251.0376/", "jwks_uri_invalid"),
    ("https://169.254.43518/", "jwks_uri_invalid"),
    # other special IPv4 ranges
    ("https://10.1/", "jwks_uri_invalid"),
    ("https://172.16.0.1/", "jwks_uri_invalid"),
    ("https://192.168.1.1/", "jwks_uri_invalid"),
    ("https://100.64.0.1/", "jwks_uri_invalid"),
    ("https://0.0.0.0/", "jwks_uri_invalid"),
    ("https://0/", "jwks_uri_invalid"),
    ("https://224.0.0.1/", "jwks_uri_invalid"),
    ("https://240.0.0.1/", "jwks_uri_invalid"),
    ("https://255.255.255.255/", "jwks_uri_invalid"),
    ("https://198.18.0.1/", "jwks_uri_invalid"),
    ("https://192.0.2.1/", "jwks_uri_invalid"),
    ("https://192.0.0.8/", "jwks_uri_invalid"),
    # IPv6, including addresses that embed IPv4
    ("https://[::1]/", "jwks_uri_invalid"),
    ("https://[::]/", "jwks_uri_invalid"),
    ("https://[::ffff:127.0.0.1]/", "jwks_uri_invalid"),
    ("https://[::ffff:7f00:1]/", "jwks_uri_invalid"),
    ("https://[::ffff:8.8.8.8]/", "jwks_uri_invalid"),  # IPv4-mapped is refused whatever it embeds
    ("https://[::127.0.0.1]/", "jwks_uri_invalid"),  # IPv4-compatible
    ("https://[64:ff9b::a9fe:a9fe]/", "jwks_uri_invalid"),  # NAT64 of 169.254.169.254
    ("https://[64:ff9b::7f00:1]/", "jwks_uri_invalid"),  # NAT64 of 127.0.0.1
    ("https://[2002:7f00:1::]/", "jwks_uri_invalid"),  # 6to4 of 127.0.0.1
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "jwks_uri_invalid"),  # Teredo
    ("https://[fe80::1]/", "jwks_uri_invalid"),
    ("https://[fc00::1]/", "jwks_uri_invalid"),
    ("https://[fd00:ec2::254]/", "jwks_uri_invalid"),  # the EC2 IPv6 metadata endpoint
    ("https://[fec0::1]/", "jwks_uri_invalid"),
    ("https://[ff02::1]/", "jwks_uri_invalid"),
    ("https://[2001:db8::1]/", "jwks_uri_invalid"),
    ("https://[fe80::1%25eth0]/", "jwks_uri_invalid"),
    ("https://[127.0.0.1]/", "jwks_uri_invalid"),
    # shape of the URI
    ("https://user@example.com/jwks.json", "jwks_uri_invalid"),
    ("https://user:secret@example.com/jwks.json", "jwks_uri_invalid"),
    ("https://example.com@127.0.0.1/", "jwks_uri_invalid"),
    ("http://example.com/jwks.json", "jwks_uri_invalid"),
    ("file:///etc/passwd", "jwks_uri_invalid"),
    ("ftp://example.com/jwks.json", "jwks_uri_invalid"),
    ("gopher://example.com/", "jwks_uri_invalid"),
    ("https://example.com/jwks.json?tenant=1", "jwks_uri_invalid"),
    ("https://example.com/jwks.json?", "jwks_uri_invalid"),
    ("https://example.com/jwks.json#keys", "jwks_uri_invalid"),
    ("https://example.com/jwks.json#", "jwks_uri_invalid"),
    ("https://example.com\\@127.0.0.1/", "jwks_uri_invalid"),
    ("https://example.com /", "jwks_uri_invalid"),
    ("https://example.com/\njwks", "jwks_uri_invalid"),
    (" https://example.com/", "jwks_uri_invalid"),
    ("https://example.com:0/", "jwks_uri_invalid"),
    ("https://example.com:65536/", "jwks_uri_invalid"),
    ("https://example.com:/", "jwks_uri_invalid"),
    ("https:example.com/jwks.json", "jwks_uri_invalid"),
    ("https:///jwks.json", "jwks_uri_invalid"),
    ("https://1.2.3.4.5/", "jwks_uri_invalid"),
    ("https://127.0.0.1./", "jwks_uri_invalid"),
    ("https://exämple.com/", "jwks_uri_invalid"),
    ("https://127\u30020\u30020\u30021/", "jwks_uri_invalid"),  # ideographic full stops
    ("https://%31%32%37.0.0.1/", "jwks_uri_invalid"),
    ("https://example.com/" + "a" * 2048, "jwks_uri_invalid"),
    ("", "jwks_uri_empty"),
    ("   ", "jwks_uri_empty"),
]


def test_at_least_25_hostile_uris() -> None:
    assert len(HOSTILE_URIS) >= 25


@pytest.mark.parametrize(("uri", "code"), HOSTILE_URIS)
def test_hostile_uri_is_refused_without_opening_a_socket(
    uri: str,
    code: str,
    network_calls: list[str],
) -> None:
    resolver = StubResolver({"example.com": ["93.184.215.14"]})
    error = api_error(lambda: fetch(uri, STRICT, resolver=resolver))
    assert error.code == code
    assert error.status == 422
    assert error.extra["detail"]
    assert network_calls == []
    assert resolver.calls == []  # refused on its text alone: not even resolved


@pytest.mark.parametrize(
    ("value", "code"),
    [(None, "jwks_uri_empty"), (42, "jwks_uri_invalid"), (b"https://example.com/", "jwks_uri_invalid")],
)
def test_not_a_string(value: object, code: str) -> None:
    assert api_error(lambda: check_uri(value)).code == code


def test_userinfo_is_never_echoed() -> None:
    error = api_error(lambda: check_uri("https://admin:hunter2@example.com/jwks.json"))
    assert "hunter2" not in str(error.body())


def test_messages_are_the_spec_sentences() -> None:
    assert api_error(lambda: check_uri("")).message == "The JWKS URI cannot be empty."
    assert api_error(lambda: check_uri("http://x.example/")).message == "The JWKS URI is invalid."


# Host names whose DNS answer is not (only) public: refused after resolving, before connecting.
RESOLVED_HOSTILE: list[tuple[str, list[str]]] = [
    ("localhost", ["127.0.0.1", "::1"]),
    ("metadata.attacker.example", ["169.254.169.254"]),
    ("internal.attacker.example", ["10.0.0.5"]),
    ("mixed.attacker.example", ["93.184.215.14", "192.168.0.10"]),  # one public, one private
    ("mixed6.attacker.example", ["2606:4700:4700::1111", "fd00::1"]),
    ("mapped.attacker.example", ["::ffff:169.254.169.254"]),
    ("nat64.attacker.example", ["64:ff9b::a00:1"]),  # NAT64 of 10.0.0.1
    ("cgnat.attacker.example", ["100.100.100.200"]),
    ("zero.attacker.example", ["0.0.0.0"]),  # noqa: S104 (an answer to refuse, not a bind)
    ("scoped.attacker.example", ["fe80::1%eth0"]),
    ("garbage.attacker.example", ["not-an-address"]),
]


@pytest.mark.parametrize(("host", "answer"), RESOLVED_HOSTILE)
def test_host_resolving_to_a_non_public_address_is_refused_without_a_socket(
    host: str, answer: list[str], network_calls: list[str]
) -> None:
    resolver = StubResolver({host: answer})
    error = api_error(lambda: fetch(f"https://{host}/.well-known/jwks.json", STRICT, resolver=resolver))
    assert error.code == "jwks_uri_invalid"
    assert "resolves to" in error.extra["detail"]
    assert resolver.calls == [host]
    assert network_calls == []


def test_dns_failure_is_unreachable(network_calls: list[str]) -> None:
    error = api_error(lambda: fetch("https://nowhere.example/jwks.json", STRICT, resolver=StubResolver({})))
    assert error.code == "jwks_uri_unreachable"
    assert "resolved" in error.extra["detail"]
    empty = api_error(lambda: fetch("https://x.example/", STRICT, resolver=StubResolver({"x.example": []})))
    assert empty.code == "jwks_uri_unreachable"
    assert network_calls == []


# ---------------------------------------------------------------------------------------------
# What is allowed, and what the policy means by "public".

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e"]
PUBLIC += ["64:ff9b::808:808"]  # NAT64 of 8.8.8.8, as a DNS64 resolver synthesises it

NOT_PUBLIC = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "0.0.0.0",  # noqa: S104 (an address to refuse, not a bind)
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "198.18.0.1",
    "198.19.255.255",
    "192.0.0.8",
    "192.0.2.1",
    "198.51.100.1",
    "203.0.113.1",
    "192.88.99.1",
    "::",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:8.8.8.8",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b:1::808:808",
    "2002:7f00:1::",
    "2002:808:808::",
    "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "2001:db8::1",
    "3fff::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "fec0::1",
    "ff02::1",
    "100::1",
    "5f00::1",
    "4000::1",
    "fe80::1%eth0",
    "not-an-address",
    "1.2.3.4.5",
    "127.1",
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    assert is_public_address(address)
    assert is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize(
    ("uri", "host", "port", "path"),
    [
        ("https://example.com/.well-known/jwks.json", "example.com", 443, "/.well-known/jwks.json"),
        ("HTTPS://Keys.Example.COM:8443/a/b%20c.json", "keys.example.com", 8443, "/a/b%20c.json"),
        ("https://example.com", "example.com", 443, "/"),
        ("https://134744072/jwks", "8.8.8.8", 443, "/jwks"),  # the integer form of 8.8.8.8
        ("https://[2606:4700:4700::1111]:443/k", "2606:4700:4700::1111", 443, "/k"),
    ],
)
def test_accepted_uris(uri: str, host: str, port: int, path: str) -> None:
    checked = check_uri(uri)
    assert (checked.uri, checked.host, checked.port, checked.path) == (uri, host, port, path)


LEGACY_IPV4 = ["0x7f.1", "0177.0.0.1", "127.1", "10.1", "2130706433", "0xa9.0xfe.0xa9.0xfe", "134744072"]


@pytest.mark.parametrize("text", [*LEGACY_IPV4, "8.8.2056", "0x8.0x8.0x8.0x8"])
def test_legacy_ipv4_forms_mean_what_inet_aton_says(text: str) -> None:
    meant = socket.inet_ntoa(socket.inet_aton(text))
    if is_public_address(meant):
        assert check_uri(f"https://{text}/").host == meant
    else:
        assert meant in api_error(lambda: check_uri(f"https://{text}/")).extra["detail"]


def test_local_development_override_allows_loopback_and_private_only() -> None:
    dev = AddressPolicy(allow_private_hosts=True)
    for uri in ("https://127.0.0.1:8443/jwks.json", "https://[::1]/", "https://10.0.0.2/", "https://0x7f.1/"):
        check_uri(uri, dev)
    for uri in (
        "https://169.254.169.254/",
        "https://[fe80::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://224.0.0.1/",
        "https://0.0.0.0/",
        "http://127.0.0.1/",
        "https://127.0.0.1/?x",
        "https://u@127.0.0.1/",
    ):
        assert api_error(functools.partial(check_uri, uri, dev)).code == "jwks_uri_invalid"


class RefusingSocket:
    """Stands in for socket.socket: records the address connected to, then refuses."""

    connected: ClassVar[list[object]] = []

    def __init__(self, family: int, kind: int) -> None:
        self.family = family

    def settimeout(self, timeout: float) -> None:
        assert 0 < timeout <= 1.5

    def connect(self, address: object) -> None:
        RefusingSocket.connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    def close(self) -> None:
        return None


def test_connects_to_each_checked_address_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    RefusingSocket.connected = []
    monkeypatch.setattr(socket, "socket", RefusingSocket)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("second DNS lookup"))
    resolver = StubResolver({"keys.example.com": ["93.184.215.14", "2606:4700:4700::1111", "93.184.215.14"]})
    error = api_error(lambda: fetch("https://keys.example.com:8443/jwks.json", STRICT, resolver=resolver))
    assert error.code == "jwks_uri_unreachable"
    assert "refused" in error.extra["detail"]
    assert resolver.calls == ["keys.example.com"]
    assert RefusingSocket.connected == [("93.184.215.14", 8443), ("2606:4700:4700::1111", 8443, 0, 0)]


# ---------------------------------------------------------------------------------------------
# Real HTTPS on 127.0.0.1 with a test CA (local-development policy).

JWKS_BODY = b'{"keys": []}'


@pytest.fixture
def dev(pki: TestPki) -> AddressPolicy:
    return AddressPolicy(allow_private_hosts=True, ca_bundle=str(pki.ca_cert))


def test_fetch_200(pki: TestPki, dev: AddressPolicy) -> None:
    with serve_https(pki, Reply.json({"keys": []})) as server:
        assert fetch(server.url("/.well-known/jwks.json"), dev) == JWKS_BODY
        assert server.paths == ["/.well-known/jwks.json"]
        headers = server.request_headers[0]
    assert headers["accept"] == "application/json"
    assert headers["user-agent"] == "Countersign-JWKS/1"
    assert headers["host"] == f"127.0.0.1:{server.port}"


def test_fetch_by_name_uses_the_resolver_once_and_verifies_the_name(
    pki: TestPki, dev: AddressPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = StubResolver({"localhost": ["127.0.0.1"], "jwks.other.test": ["127.0.0.1"]})
    with serve_https(pki, Reply(body=JWKS_BODY)) as server:
        monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: pytest.fail("second DNS lookup"))
        assert fetch(server.url(host="localhost"), dev, resolver=resolver) == JWKS_BODY
        # Same address, but the certificate is not for this name: TLS checks the URI's host.
        error = api_error(lambda: fetch(server.url(host="jwks.other.test"), dev, resolver=resolver))
    assert error.code == "jwks_uri_unreachable"
    assert "certificate" in error.extra["detail"]
    assert resolver.calls == ["localhost", "jwks.other.test"]


def test_fetch_tries_the_checked_addresses_in_order(
    pki: TestPki, dev: AddressPolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    connected: list[object] = []

    class RecordingSocket(socket.socket):
        def connect(self, address: Any) -> None:
            connected.append(address[:2])
            super().connect(address)

    resolver = StubResolver({"localhost": ["::1", "127.0.0.1"]})
    with serve_https(pki, Reply(body=JWKS_BODY)) as server:
        monkeypatch.setattr(socket, "socket", RecordingSocket)
        # The server listens on 127.0.0.1 only: ::1 fails, then the second checked address answers.
        assert fetch(server.url(host="localhost"), dev, resolver=resolver) == JWKS_BODY
    assert connected == [("::1", server.port), ("127.0.0.1", server.port)]


def test_redirect_is_not_followed(pki: TestPki, dev: AddressPolicy) -> None:
    with serve_https(pki, Reply(status=302, headers={"Location": "/elsewhere"})) as server:
        error = api_error(lambda: fetch(server.url(), dev))
        assert server.paths == ["/jwks.json"]
    assert error.code == "jwks_uri_unreachable"
    assert "redirects are not followed" in error.extra["detail"]


@pytest.mark.parametrize("status", [404, 500, 204])
def test_non_200_is_unreachable(pki: TestPki, dev: AddressPolicy, status: int) -> None:
    with serve_https(pki, Reply(status=status, body=JWKS_BODY if status != 204 else b"")) as server:
        error = api_error(lambda: fetch(server.url(), dev))
    assert error.code == "jwks_uri_unreachable"
    assert str(status) in error.extra["detail"]


@pytest.mark.parametrize("send_length", [True, False])
def test_body_over_150_kb_is_refused(pki: TestPki, dev: AddressPolicy, send_length: bool) -> None:
    with serve_https(pki, Reply(body=b" " * 150_001, send_length=send_length)) as server:
        error = api_error(lambda: fetch(server.url(), dev))
    assert error.code == "jwks_document_invalid"
    assert "larger than 150 KB" in error.extra["detail"]
    with serve_https(pki, Reply(body=b" " * 150_000, send_length=send_length)) as server:
        assert len(fetch(server.url(), dev)) == 150_000


@pytest.mark.parametrize(
    ("declared", "code"),
    [
        ("\u00b2", "jwks_uri_unreachable"),  # "²": str.isdigit() accepts it, int() does not
        ("12abc", "jwks_uri_unreachable"),
        ("-1", "jwks_uri_unreachable"),
        ("9" * 4_301, "jwks_document_invalid"),  # past int()'s 4,300 digits: above any limit
        ("9" * 20_000, "jwks_document_invalid"),
    ],
)
def test_a_content_length_that_is_no_number_or_huge_is_422(
    pki: TestPki, dev: AddressPolicy, declared: str, code: str
) -> None:
    reply = Reply(body=JWKS_BODY, headers={"Content-Length": declared}, send_length=False)
    with serve_https(pki, reply) as server:
        error = api_error(lambda: fetch(server.url(), dev))
    assert error.code == code


def test_a_content_length_that_is_no_number_is_a_503_for_ingest_with_nothing_cached(
    pki: TestPki, dev: AddressPolicy
) -> None:
    from countersign.errors import DependencyUnavailable
    from countersign.jwks import JwksCache

    reply = Reply(body=JWKS_BODY, headers={"Content-Length": "\u00b2"}, send_length=False)
    with serve_https(pki, reply) as server:
        cache = JwksCache(lambda uri: fetch(uri, dev))
        with pytest.raises(DependencyUnavailable) as raised:
            cache.public_key(server.url(), "k1")
    assert raised.value.status == 503 and "Retry-After" in raised.value.headers()


def test_slow_drip_body_is_cut_at_the_deadline(pki: TestPki, dev: AddressPolicy) -> None:
    # Each byte arrives well within any per-read timeout; only an overall deadline stops this.
    with serve_https(pki, Reply(body=b"x" * 10_000, drip_seconds=0.05)) as server:
        started = time.monotonic()
        error = api_error(lambda: fetch(server.url(), dev))
        elapsed = time.monotonic() - started
    assert error.code == "jwks_uri_unreachable"
    assert "did not answer within 3 seconds" in error.extra["detail"]
    assert 2.5 < elapsed < 3.5


def test_slow_drip_headers_are_cut_at_the_deadline(pki: TestPki, dev: AddressPolicy) -> None:
    with serve_https(pki, Reply(body=JWKS_BODY, drip_seconds=0.05, drip_headers=True)) as server:
        started = time.monotonic()
        error = api_error(lambda: fetch(server.url(), dev, total_timeout=1.0))
        elapsed = time.monotonic() - started
    assert error.code == "jwks_uri_unreachable"
    assert elapsed < 1.5


def test_untrusted_certificate_is_unreachable(pki: TestPki) -> None:
    system_trust = AddressPolicy(allow_private_hosts=True)
    with serve_https(pki, Reply(body=JWKS_BODY)) as server:
        error = api_error(lambda: fetch(server.url(), system_trust))
        assert server.request_count == 0
    assert error.code == "jwks_uri_unreachable"
    assert "certificate" in error.extra["detail"]


def test_strict_policy_refuses_the_loopback_server_without_a_socket(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    def trap(*args: object, **kwargs: object) -> None:
        calls.append(args)
        raise NetworkUsed

    with serve_https(pki, Reply(body=JWKS_BODY)) as server:
        url = server.url()
        with monkeypatch.context() as patch:
            patch.setattr(socket, "socket", trap)
            patch.setattr(socket, "create_connection", trap)
            error = api_error(lambda: fetch(url, AddressPolicy(ca_bundle=str(pki.ca_cert))))
        assert server.request_count == 0
    assert error.code == "jwks_uri_invalid"
    assert calls == []


def test_connection_refused_is_unreachable(dev: AddressPolicy) -> None:
    error = api_error(lambda: fetch(f"https://127.0.0.1:{free_port()}/jwks.json", dev))
    assert error.code == "jwks_uri_unreachable"
    assert "refused" in error.extra["detail"]


def test_ssl_context_is_built_once_per_trust_store(dev: AddressPolicy) -> None:
    assert dev.ssl_context() is AddressPolicy(True, dev.ca_bundle).ssl_context()
    assert dev.ssl_context().check_hostname


def test_default_resolver_returns_addresses() -> None:
    # "localhost" comes from the hosts file: no network.
    addresses = netguard.resolve_host("localhost")
    assert addresses
    assert all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)
