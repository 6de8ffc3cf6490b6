"""`countersign jwks-serve`: publish a JWKS file over HTTPS on loopback, to try RS256 on one machine.

A customer JWKS URI must be https on a public address. The local stack can be told to accept a
loopback host and to trust a private CA (`countersign local --allow-private-jwks-hosts
--jwks-ca-bundle PEM`, SPEC 3.2); this command is the other half:

- a throw-away CA and a server certificate for `localhost`, `127.0.0.1` and `::1`, written once to
  `DIR/jwks-tls/` (`ca.pem`, `server.pem`, `server-key.pem`) and reused while valid, so a local
  stack started with `--jwks-ca-bundle DIR/jwks-tls/ca.pem` keeps trusting later runs;
- an HTTPS server on loopback answering `GET /jwks.json` and `GET /.well-known/jwks.json` with the
  file's current content, read on every request: a key added by `countersign keygen` is published
  at once (what a rotation needs);
- `DIR/jwks-serve.json` (`jwksUri`, `caBundle`, `jwksFile`) while it runs, removed on Ctrl-C.

Never for production: the CA's private key is discarded, the server binds loopback only.
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import ipaddress
import json
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from countersign_dev.errors import CliError

TLS_DIR = "jwks-tls"
STATE_FILE = "jwks-serve.json"
SERVED_PATHS = ("/jwks.json", "/.well-known/jwks.json")
CERT_VALIDITY = datetime.timedelta(days=30)
# Certificates closer than this to expiry are replaced before serving.
_RENEW_BEFORE = datetime.timedelta(hours=1)
_HOSTNAMES = ("localhost",)
_ADDRESSES = ("127.0.0.1", "::1")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA to trust (`--jwks-ca-bundle`) and the server's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def tls_files(directory: Path) -> TlsFiles:
    return TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")


def ensure_tls_files(directory: Path) -> TlsFiles:
    """The CA and server certificate in `directory`: reused while valid, else made afresh."""
    files = tls_files(directory)
    if all(path.is_file() for path in (files.ca_cert, files.server_cert, files.server_key)) and all(
        _valid_for_a_while(path) for path in (files.ca_cert, files.server_cert)
    ):
        return files
    write_tls_files(files, hostnames=_HOSTNAMES, addresses=_ADDRESSES, validity=CERT_VALIDITY)
    return files


def _valid_for_a_while(path: Path) -> bool:
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except ValueError:
        return False
    return certificate.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + _RENEW_BEFORE


def write_tls_files(
    files: TlsFiles,
    *,
    hostnames: Sequence[str],
    addresses: Sequence[str],
    validity: datetime.timedelta,
    ca_common_name: str = "Countersign local JWKS CA (throw-away)",
) -> None:
    """Write a throw-away CA and a server certificate it signs for `hostnames` and `addresses`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + validity
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_common_name)])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in hostnames]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in addresses]
    common_name = hostnames[0] if hostnames else addresses[0]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    files.server_key.chmod(0o600)


class JwksServer:
    """Serves one JWKS file over HTTPS on loopback from a background thread: `start()`, `stop()`."""

    def __init__(
        self, jwks_file: Path, tls: TlsFiles, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True
    ) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(tls.server_cert, tls.server_key)
        self._httpd = _TlsServer((host, port), context, jwks_file, quiet=quiet)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="jwks-serve", daemon=True)
        self.jwks_file = jwks_file
        self.host = host

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """The JWKS URI to test and save (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{SERVED_PATHS[0]}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread.is_alive():
            self._httpd.shutdown()
            self._thread.join(timeout=5)
        self._httpd.server_close()

    def __enter__(self) -> JwksServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


class _TlsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, jwks_file: Path, *, quiet: bool) -> None:
        self._tls = context
        self.jwks_file = jwks_file
        self.quiet = quiet
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _JwksHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN (a DNS query) that a loopback server needs not.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # The handshake runs in the handler thread: a client that never finishes it blocks no one.
        return self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that rejects the certificate (e.g. a stack without --jwks-ca-bundle) is expected.
        if not self.quiet:
            print(f"[jwks] connection from {client_address[0]} failed: {sys.exc_info()[1]}", file=sys.stderr)


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    server: _TlsServer
    protocol_version = "HTTP/1.1"
    server_version = "countersign-jwks-serve"

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, *, send_body: bool) -> None:
        if self.path in SERVED_PATHS:
            try:
                status, body = 200, self.server.jwks_file.read_bytes()
            except OSError as error:
                status, body = 500, json.dumps({"error": f"cannot read the JWKS file: {error.strerror}"}).encode()
        else:
            status, body = 404, json.dumps({"error": f"not found: the JWKS is at {SERVED_PATHS[0]}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if send_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            sys.stderr.write(f"[jwks] {self.command} {self.path} -> {args[1] if len(args) > 1 else ''}\n")


def jwks_serve_command(args: argparse.Namespace) -> None:
    """Serve `--jwks FILE` until Ctrl-C; print where, and which CA to trust."""
    if args.host not in _LOOPBACK_HOSTS:
        raise CliError("jwks-serve listens on loopback only (--host 127.0.0.1)")
    if not args.jwks.is_file():
        raise CliError(f"--jwks {args.jwks}: no such file (make one with: countersign keygen)")
    tls = ensure_tls_files(args.state_dir / TLS_DIR)
    try:
        server = JwksServer(args.jwks, tls, host=args.host, port=args.port, quiet=args.quiet)
    except OSError as error:
        raise CliError(f"cannot listen on {args.host}:{args.port} ({error.strerror or error})") from error
    state_file = args.state_dir / STATE_FILE
    uri = server.start()
    try:
        state = {"jwksUri": uri, "caBundle": str(tls.ca_cert.resolve()), "jwksFile": str(args.jwks.resolve())}
        state_file.write_text(json.dumps(state, indent=2) + "\n")
        print(_banner(state), flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        state_file.unlink(missing_ok=True)
    print("countersign jwks-serve: stopped", file=sys.stderr)


def _banner(state: dict[str, str]) -> str:
    return f"""
Serving {state["jwksFile"]} over HTTPS (loopback only; re-read on every request)

  JWKS URI   {state["jwksUri"]}
  CA         {state["caBundle"]}

Local development only: start the local stack so that it accepts this loopback host and trusts this CA:
  .venv/bin/countersign local --allow-private-jwks-hosts --jwks-ca-bundle {state["caBundle"]}
Ctrl-C stops the server.
"""
