"""The one address policy for customer JWKS URIs: what may be fetched, and how (SPEC 3.2).

Every fetch of a customer URI (the `test` route, the `save` route and every later key refresh) goes
through `fetch`, which:

1. checks the URI text (`check_uri`): `https` only, no userinfo, no query, no fragment (not even an
   empty `?` or `#`), ASCII only, at most 2048 characters;
2. judges IP literals by the address they mean, in any notation (`2130706433`, `0177.0.0.1`,
   `0x7f.1`, `127.1`, `[::ffff:127.0.0.1]`, NAT64, 6to4, Teredo ...), the way browsers and
   `inet_aton` read them;
3. resolves a host name once, with an injectable resolver, and refuses the URI unless *every*
   resolved address passes the policy (`is_public_address`, or `AddressPolicy`'s local-development
   override);
4. connects to a checked address itself (no second DNS lookup), verifies TLS against the host name,
   sends one GET, never follows redirects, accepts only 200, and reads at most `max_bytes` within
   one overall deadline.

No socket is opened before steps 1-3 pass. Timeouts: 1.5 s to connect (per address), 3 s overall,
body capped at 150 KB; DNS resolution is not interruptible, so its time counts against the overall
deadline but cannot be cut short.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Final, NoReturn

from countersign.errors import ApiError
from countersign.numerals import decimal_at_most

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Resolves a host name to the IP addresses (as text) it may be reached at.
Resolver = Callable[[str], Sequence[str]]

MAX_URI_LENGTH: Final = 2048
CONNECT_TIMEOUT_SECONDS: Final = 1.5
TOTAL_TIMEOUT_SECONDS: Final = 3.0
MAX_DOCUMENT_BYTES: Final = 150_000
USER_AGENT: Final = "Countersign-JWKS/1"

_READ_CHUNK_BYTES = 16_384

# RFC 3986 characters; anything else (space, quotes, backslash, non-ASCII ...) must be percent-encoded.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f-\x9f\s]")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Special-purpose IPv4 ranges (IANA registry and friends), each with the words the detail uses.
# Checked before `is_global`, so the verdict does not depend on the Python version's tables.
_IPV4_REFUSED: Final[tuple[tuple[ipaddress.IPv4Network, str], ...]] = (
    (_V4("0.0.0.0/8"), "this-network (0.0.0.0/8)"),
    (_V4("10.0.0.0/8"), "private (10.0.0.0/8)"),
    (_V4("100.64.0.0/10"), "carrier-grade NAT (100.64.0.0/10)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local, cloud metadata included (169.254.0.0/16)"),
    (_V4("172.16.0.0/12"), "private (172.16.0.0/12)"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"),
    (_V4("192.0.2.0/24"), "documentation (192.0.2.0/24)"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast (192.88.99.0/24)"),
    (_V4("192.168.0.0/16"), "private (192.168.0.0/16)"),
    (_V4("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"),
    (_V4("198.51.100.0/24"), "documentation (198.51.100.0/24)"),
    (_V4("203.0.113.0/24"), "documentation (203.0.113.0/24)"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("255.255.255.255/32"), "broadcast"),
    (_V4("240.0.0.0/4"), "reserved (240.0.0.0/4)"),
)

_IPV6_GLOBAL_UNICAST = _V6("2000::/3")
_IPV6_NAT64 = _V6("64:ff9b::/96")
_IPV6_TEREDO = _V6("2001::/32")
_IPV6_6TO4 = _V6("2002::/16")
_IPV6_COMPATIBLE = _V6("::/96")

# Special-purpose IPv6 ranges. The transition ranges (6to4, Teredo, IPv4-mapped and -compatible)
# are refused outright: they reach IPv4 hosts through gateways nobody publishes a JWKS behind.
# NAT64 (64:ff9b::/96) is judged by the IPv4 address it embeds, because DNS64 resolvers (e.g. an
# IPv6-only VPC) synthesise such addresses for ordinary public hosts.
_IPV6_REFUSED: Final[tuple[tuple[ipaddress.IPv6Network, str], ...]] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::ffff:0:0/96"), "IPv4-mapped (::ffff:0:0/96)"),
    (_IPV6_COMPATIBLE, "IPv4-compatible (::/96, deprecated)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64 (64:ff9b:1::/48)"),
    (_V6("100::/64"), "discard-only (100::/64)"),
    (_IPV6_TEREDO, "Teredo (2001::/32)"),
    (_V6("2001::/23"), "IETF protocol assignments (2001::/23)"),
    (_V6("2001:db8::/32"), "documentation (2001:db8::/32)"),
    (_IPV6_6TO4, "6to4 (2002::/16)"),
    (_V6("3fff::/20"), "documentation (3fff::/20)"),
    (_V6("5f00::/16"), "SRv6 segment identifiers (5f00::/16)"),
    (_V6("fc00::/7"), "unique local, i.e. private (fc00::/7)"),
    (_V6("fe80::/10"), "link-local (fe80::/10)"),
    (_V6("fec0::/10"), "site-local (fec0::/10, deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)

# What the local-development override lets through on top of public addresses: loopback and
# private ranges only. Link-local (cloud metadata), multicast, reserved and the like stay refused.
_LOCAL_DEV_NETWORKS: Final[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]] = (
    _V4("127.0.0.0/8"),
    _V4("10.0.0.0/8"),
    _V4("172.16.0.0/12"),
    _V4("192.168.0.0/16"),
    _V6("::1/128"),
    _V6("fc00::/7"),
)


@dataclass(frozen=True)
class CheckedUri:
    """A JWKS URI that passed `check_uri`.

    `host` is lower-case; for an IP literal it is the canonical text of the address it means
    (`https://0x7f.1/` has host `127.0.0.1`). `path` is the request target ("/" when empty).
    """

    uri: str
    host: str
    port: int
    path: str

    @property
    def address(self) -> IPAddress | None:
        """The IP address when the host is an IP literal, else None."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses a JWKS URI may point at, and which certificates its TLS server may present.

    The default is the deployed behaviour: public addresses only, system trust store. The
    local-development override (SPEC 3.2, never set by the deployed template) also allows loopback
    and private addresses (10/8, 172.16/12, 192.168/16, fc00::/7) and may replace the trust store
    with `ca_bundle`, a PEM file. It changes nothing else: https only, no userinfo, query or
    fragment, and link-local, multicast or reserved addresses stay refused.
    """

    allow_private_hosts: bool = False
    ca_bundle: str | None = None

    def permits(self, ip: IPAddress) -> bool:
        """Whether a connection to `ip` is allowed under this policy."""
        if is_public_address(ip):
            return True
        if not self.allow_private_hosts or _has_scope(ip):
            return False
        return any(ip.version == net.version and ip in net for net in _LOCAL_DEV_NETWORKS)

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS client context: hostname verification on, TLS 1.2 or later."""
        return _ssl_context(self.ca_bundle)


STRICT_POLICY: Final = AddressPolicy()


@lru_cache(maxsize=8)
def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    # Loading the trust store costs milliseconds: build each context once per container.
    # With `cafile`, create_default_context trusts that bundle only, not the system store.
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _has_scope(ip: IPAddress) -> bool:
    return isinstance(ip, ipaddress.IPv6Address) and bool(ip.scope_id)


def _refusal_reason(ip: IPAddress) -> str | None:
    """Why `ip` is not a public unicast address, or None when it is. The one verdict of the policy."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_refusal_reason(ip)
    return _ipv6_refusal_reason(ip)


def _ipv4_refusal_reason(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _IPV4_REFUSED:
        if ip in network:
            return reason
    return None if ip.is_global else "not globally routable"


def _ipv6_refusal_reason(ip: ipaddress.IPv6Address) -> str | None:
    if ip.scope_id:
        return "an address with a zone index"
    if ip in _IPV6_NAT64:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        inner = _ipv4_refusal_reason(embedded)
        return None if inner is None else f"NAT64 (64:ff9b::/96) embedding {embedded}, which is {inner}"
    for network, reason in _IPV6_REFUSED:
        if ip in network:
            embedded_v4 = _embedded_ipv4(ip)
            return reason if embedded_v4 is None else f"{reason} embedding {embedded_v4}"
    if ip not in _IPV6_GLOBAL_UNICAST:
        return "reserved (outside global unicast 2000::/3)"
    return None if ip.is_global else "not globally routable"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a transition address carries, for the detail message."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _IPV6_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(ip: str | IPAddress) -> bool:
    """Whether `ip` is a globally routable unicast address (the only kind a JWKS URI may reach).

    Loopback, private, link-local (169.254.169.254 included), CGNAT, multicast, broadcast,
    reserved, unspecified, documentation, benchmarking and the other special-purpose ranges are
    refused, as are IPv4-mapped/-compatible, 6to4 and Teredo addresses; a NAT64 address is judged
    by the IPv4 address it embeds. Text that is not an address is refused.
    """
    if isinstance(ip, str):
        try:
            ip = ipaddress.ip_address(ip)
        except ValueError:
            return False
    return _refusal_reason(ip) is None


def _describe(ip: IPAddress) -> str:
    reason = _refusal_reason(ip)
    return str(ip) if reason is None else f"{ip}, which is {reason}"


def _invalid(detail: str) -> NoReturn:
    raise ApiError("jwks_uri_invalid", detail=detail)


def _unreachable(detail: str) -> ApiError:
    return ApiError("jwks_uri_unreachable", detail=detail)


def check_uri(uri: object, policy: AddressPolicy = STRICT_POLICY) -> CheckedUri:
    """Check the text of a JWKS URI, and an IP-literal host against `policy`; no network access.

    Raises `ApiError` `jwks_uri_empty` (None, empty or blank) or `jwks_uri_invalid` (with a detail
    naming the failed requirement). A host name still has to resolve to permitted addresses:
    `fetch` checks that.
    """
    if uri is None or (isinstance(uri, str) and not uri.strip()):
        raise ApiError("jwks_uri_empty", detail="A JWKS URI is required.")
    if not isinstance(uri, str):
        _invalid("The JWKS URI must be a string.")
    if len(uri) > MAX_URI_LENGTH:
        _invalid(f"The JWKS URI must be at most {MAX_URI_LENGTH} characters long.")
    if _CONTROL_OR_SPACE.search(uri):
        _invalid("The JWKS URI must not contain whitespace or control characters.")
    if not _URI_CHARS.fullmatch(uri):
        _invalid(
            "The JWKS URI contains a character that is not allowed in a URI: use ASCII, "
            "percent-encoding in the path and punycode for international host names."
        )
    if _BAD_PERCENT.search(uri):
        _invalid("Every % in the JWKS URI must start a percent-encoded byte (%XX).")
    scheme, colon, rest = uri.partition(":")
    if not colon or scheme.lower() != "https":
        _invalid("The JWKS URI must use the https scheme.")
    # Name whichever of ? and # comes first: everything after a # is fragment.
    marks = [index for index in (uri.find("?"), uri.find("#")) if index >= 0]
    if marks and uri[min(marks)] == "?":
        _invalid("The JWKS URI must not contain query parameters (not even an empty '?').")
    if marks:
        _invalid("The JWKS URI must not contain a fragment (not even an empty '#').")
    if not rest.startswith("//"):
        _invalid("The JWKS URI must include a host (https://host/path).")
    authority, slash, path = rest[2:].partition("/")
    if "@" in authority:
        # The userinfo may hold a password: never echo it.
        _invalid("The JWKS URI must not contain user information (user@ or user:password@).")
    host_text, port = _split_authority(authority)
    host, address = _parse_host(host_text)
    if address is not None and not policy.permits(address):
        refused = _describe(address)
        _invalid(f"The JWKS URI's host is {refused}: only publicly routable addresses are allowed.")
    return CheckedUri(uri=uri, host=host, port=port, path=slash + path if slash else "/")


def _split_authority(authority: str) -> tuple[str, int]:
    if not authority:
        _invalid("The JWKS URI must include a host (https://host/path).")
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            _invalid("The JWKS URI's IPv6 host is missing its closing bracket.")
        host_text, after = authority[: end + 1], authority[end + 1 :]
        if after and not after.startswith(":"):
            _invalid("The JWKS URI's authority must be host or host:port.")
        port_text = after[1:] if after else None
    else:
        if authority.count(":") > 1:
            _invalid("An IPv6 host in the JWKS URI must be written in brackets ([2001:db8::1]).")
        host_text, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
    if port_text is None:
        return host_text, 443
    if not _PORT.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        _invalid("The JWKS URI's port must be a number from 1 to 65535.")
    return host_text, int(port_text)


def _parse_host(text: str) -> tuple[str, IPAddress | None]:
    """Canonical host and, for an IP literal in any notation, the address it means."""
    if not text:
        _invalid("The JWKS URI must include a host (https://host/path).")
    if text.startswith("["):
        inner = text[1:-1]
        if "%" in inner:
            _invalid("The JWKS URI's IPv6 host must not carry a zone index (%...).")
        try:
            v6 = ipaddress.IPv6Address(inner)
        except ValueError:
            _invalid("The JWKS URI's bracketed host is not a valid IPv6 address.")
        return str(v6), v6
    host = text.lower()
    labels = host.split(".")
    if _is_ipv4_number(labels[-1]):
        # A host ending in a number is an IPv4 address to browsers and to inet_aton/getaddrinfo,
        # however it is written: judge the address it means, or refuse it.
        v4 = _parse_legacy_ipv4(labels)
        if v4 is None:
            _invalid("The JWKS URI's host looks like an IPv4 address but is not a valid one.")
        return str(v4), v4
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        _invalid(
            "The JWKS URI's host must be a DNS name (letters, digits, hyphens; labels of 1 to 63 "
            "characters; no empty label or trailing dot) or an IP address."
        )
    return host, None


def _ipv4_number(part: str) -> int | None:
    """One part of an IPv4 address as inet_aton reads it: 0x hex, leading-zero octal, or decimal."""
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
        if not digits:
            return 0
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    else:
        digits, base = part, 10
    if not digits.isascii() or not digits.isalnum():
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _is_ipv4_number(label: str) -> bool:
    return bool(label) and (decimal_at_most(label, 0xFFFFFFFF) is not None or _ipv4_number(label) is not None)


def _parse_legacy_ipv4(parts: list[str]) -> ipaddress.IPv4Address | None:
    """The address of `a`, `a.b`, `a.b.c` or `a.b.c.d` in decimal, octal or hex (WHATWG/inet_aton)."""
    if not 1 <= len(parts) <= 4 or any(not part for part in parts):
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if any(number is None for number in numbers):
        return None
    values = [number for number in numbers if number is not None]
    *leading, last = values
    # Leading parts are one byte each; the last part fills the remaining bytes.
    if any(value > 255 for value in leading) or last >= 256 ** (5 - len(values)):
        return None
    total = last
    for position, value in enumerate(leading):
        total |= value << (8 * (3 - position))
    return ipaddress.IPv4Address(total)


def resolve_host(host: str) -> list[str]:
    """The default resolver: every address `socket.getaddrinfo` gives for `host`, in its order."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def fetch(
    uri: str,
    policy: AddressPolicy,
    *,
    resolver: Resolver = resolve_host,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    total_timeout: float = TOTAL_TIMEOUT_SECONDS,
    max_bytes: int = MAX_DOCUMENT_BYTES,
) -> bytes:
    """GET a customer JWKS URI under `policy` and return the body of its 200 answer.

    Raises `ApiError`: `jwks_uri_empty` / `jwks_uri_invalid` (URI text or address policy, before
    any socket is opened), `jwks_uri_unreachable` (DNS, connect, TLS, timeout, redirect, non-200)
    or `jwks_document_invalid` (body over `max_bytes`). The addresses tried are exactly the
    resolved ones that were checked, in resolver order, until one accepts the connection.
    """
    checked = check_uri(uri, policy)
    deadline = time.monotonic() + total_timeout
    addresses = _checked_addresses(checked, policy, resolver)
    context = policy.ssl_context()
    last_error: OSError | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            sock = _connect(address, checked.port, min(connect_timeout, remaining))
        except OSError as exc:
            last_error = exc
            continue
        return _exchange(sock, checked, context, deadline, total_timeout, max_bytes)
    if last_error is None:
        raise _unreachable(f"The JWKS URI did not answer within {total_timeout:g} seconds.")
    raise _unreachable(f"Could not connect to the JWKS host: {_os_error_text(last_error)}.")


def _checked_addresses(checked: CheckedUri, policy: AddressPolicy, resolver: Resolver) -> list[IPAddress]:
    literal = checked.address
    if literal is not None:
        return [literal]  # check_uri already judged it
    try:
        resolved = list(resolver(checked.host))
    except (OSError, UnicodeError) as exc:
        raise _unreachable(f"The JWKS host name could not be resolved ({_os_error_text(exc)}).") from None
    if not resolved:
        raise _unreachable("The JWKS host name did not resolve to any address.")
    addresses: list[IPAddress] = []
    for text in resolved:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            _invalid("The JWKS host resolves to something that is not an IP address.")
        if not policy.permits(address):
            _invalid(
                f"The JWKS host resolves to {_describe(address)}: "
                "every address it resolves to must be publicly routable."
            )
        if address not in addresses:
            addresses.append(address)
    return addresses


def _connect(address: IPAddress, port: int, timeout: float) -> socket.socket:
    # A socket on the checked address itself: no getaddrinfo, so no second DNS answer can sneak in.
    if isinstance(address, ipaddress.IPv6Address):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sockaddr: tuple[str, int] | tuple[str, int, int, int] = (str(address), port, 0, 0)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sockaddr = (str(address), port)
    try:
        sock.settimeout(timeout)
        sock.connect(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


def _exchange(
    sock: socket.socket,
    checked: CheckedUri,
    context: ssl.SSLContext,
    deadline: float,
    total_timeout: float,
    max_bytes: int,
) -> bytes:
    connection = _PinnedHTTPSConnection(checked, sock, context, deadline)
    try:
        connection.request(
            "GET",
            checked.path,
            headers={"Accept": "application/json", "User-Agent": USER_AGENT, "Connection": "close"},
        )
        response = connection.getresponse()
        if 300 <= response.status < 400:
            raise _unreachable(
                f"The JWKS URI answered with a redirect (HTTP {response.status}); redirects are not "
                "followed: use the final URI."
            )
        if response.status != 200:
            raise _unreachable(f"The JWKS URI answered HTTP {response.status}; only 200 is accepted.")
        return _read_body(response, max_bytes)
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or "untrusted certificate"
        raise _unreachable(f"The JWKS host's TLS certificate was not accepted: {reason}.") from None
    except ssl.SSLError:
        raise _unreachable("The TLS handshake with the JWKS host failed.") from None
    except TimeoutError:
        raise _unreachable(f"The JWKS URI did not answer within {total_timeout:g} seconds.") from None
    except OSError as exc:
        raise _unreachable(f"The connection to the JWKS host failed: {_os_error_text(exc)}.") from None
    except http.client.HTTPException:
        raise _unreachable("The JWKS host did not answer with valid HTTP.") from None
    finally:
        connection.close()
        if connection.tls_sock is not None:
            connection.tls_sock.close()
        sock.close()


def _read_body(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    too_large = ApiError(
        "jwks_document_invalid",
        detail=f"The JWK Set document is larger than {max_bytes // 1000} KB.",
    )
    declared = response.getheader("Content-Length")
    if declared is not None:
        length = decimal_at_most(declared.strip(), max_bytes)
        if length is None:
            # RFC 9112 6.3: a response whose framing cannot be trusted is discarded, not read.
            raise ApiError(
                "jwks_uri_unreachable",
                detail="The server's answer is not valid HTTP: its Content-Length is not a number.",
            )
        if length > max_bytes:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    while True:
        # Ask for one byte more than allowed, so an oversized body is detected without reading it all.
        chunk = response.read(min(_READ_CHUNK_BYTES, max_bytes + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)


def _os_error_text(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return exc.strerror or "name resolution failed"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection over an already connected socket to the checked address.

    TLS verifies the certificate against the URI's host (SNI and hostname check), and every
    read and write is bounded by one absolute deadline, so a slow-drip server cannot hold the
    fetch past it. The caller closes `tls_sock` when done.
    """

    def __init__(
        self,
        checked: CheckedUri,
        sock: socket.socket,
        context: ssl.SSLContext,
        deadline: float,
    ) -> None:
        super().__init__(checked.host, checked.port, context=context)
        self._raw_sock = sock
        self._tls_context = context
        self._deadline = deadline
        self.tls_sock: ssl.SSLSocket | None = None

    def connect(self) -> None:
        _arm(self._raw_sock, self._deadline)
        # The timeout bounds the whole handshake (CPython gives the handshake one deadline).
        self.tls_sock = self._tls_context.wrap_socket(self._raw_sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(self.tls_sock, self._deadline)


def _arm(sock: socket.socket, deadline: float) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("JWKS fetch deadline passed")
    sock.settimeout(remaining)


class _DeadlineSocket:
    """The part of a socket `http.client` uses, with each call given only the time left.

    `close` does nothing: http.client closes its socket as soon as the response headers say
    "Connection: close", while the body is still to be read; `_exchange` closes the TLS socket.
    """

    def __init__(self, sock: ssl.SSLSocket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        _arm(self._sock, self._deadline)
        self._sock.sendall(data)

    def makefile(self, mode: str) -> io.BufferedReader:
        del mode  # http.client only ever reads the response ("rb")
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        return None


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: ssl.SSLSocket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        _arm(self._sock, self._deadline)
        return self._sock.recv_into(memoryview(buffer).cast("B"))
