"""Outbound HTTP from a spell, seen from Python: `guest/examples/fetch.c` (built with clang-14)
against an HTTP server this test starts on 127.0.0.1, granted explicitly; the usage record's
network counters and the `network_limit` outcome."""

import http.server
import shutil
import ssl
import subprocess
import threading
from typing import Iterator

import pytest
import trustme

import spell
from conftest import ROOT

BODY = b"x" * 5000


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def fetch_wasm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    clang = shutil.which("clang-14")
    assert clang, "clang-14 not found: run scripts/install-deps.sh"
    wasm = tmp_path_factory.mktemp("guest") / "fetch.wasm"
    source = ROOT / "guest" / "examples" / "fetch.c"
    include = ROOT / "guest" / "include"
    subprocess.run(
        [clang, "--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-I", str(include), "-o", str(wasm), str(source)],
        check=True,
    )
    return wasm.read_bytes()


def load_fetch(runtime: spell.Runtime, wasm: bytes, origin: str) -> spell.Spell:
    """The fetch guest on `runtime`, granted `origin` (loopback allowed explicitly)."""
    manifest = {"name": "fetch", "version": "1.0.0", "license": "MIT", "capabilities": {"network": [origin]}}
    policy = f'allow_unsigned = true\n[capabilities]\nnetwork = ["{origin}"]\n[network]\nallow_addresses = ["127.0.0.1/32"]\n'
    return runtime.load(spell.pack(manifest, wasm), spell.Policy.from_toml(policy))


@pytest.fixture(scope="module")
def fetch(runtime: spell.Runtime, server: str, fetch_wasm: bytes) -> spell.Spell:
    return load_fetch(runtime, fetch_wasm, server)


def test_a_granted_request_is_counted_in_the_usage_record(fetch: spell.Spell, server: str) -> None:
    outcome = fetch.cast([f"{server}/data"])
    assert outcome.outcome == "ok", outcome.stderr
    assert b"< rc=0 status=200 " in outcome.stdout
    assert outcome.stdout.endswith(BODY + b"\n")
    usage = outcome.usage
    assert usage.net_requests == 1
    # The response: status line and headers from http.server, then the body.
    assert usage.net_bytes_in > len(BODY)
    assert usage.net_bytes_out > len(b"GET /data HTTP/1.1\r\n")


def test_a_byte_cap_below_the_response_ends_the_cast_as_network_limit(fetch: spell.Spell, server: str) -> None:
    outcome = fetch.cast([f"{server}/data"], limits={"net_bytes": 1000})
    assert outcome.outcome == "network_limit", outcome.detail
    assert outcome.usage.net_requests == 1
    assert outcome.usage.net_bytes_in + outcome.usage.net_bytes_out <= 1000


def test_an_address_outside_the_grant_is_refused_to_the_guest(fetch: spell.Spell) -> None:
    outcome = fetch.cast(["http://127.0.0.2:9/"])
    assert (outcome.outcome, outcome.exit_code) == ("exit", 1)
    assert outcome.usage.net_requests == 0


def test_https_to_a_private_ca_trusted_by_the_runtime(runtime: spell.Runtime, fetch_wasm: bytes) -> None:
    ca = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        origin = f"https://127.0.0.1:{httpd.server_address[1]}"
        root = ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())
        trusting = load_fetch(spell.Runtime(tls_root_certificates=[root]), fetch_wasm, origin)
        outcome = trusting.cast([f"{origin}/data"])
        assert outcome.outcome == "ok", outcome.stdout[:200]
        assert outcome.stdout.endswith(BODY + b"\n") and outcome.usage.net_bytes_in > len(BODY)
        # The session runtime does not trust that CA.
        refused = load_fetch(runtime, fetch_wasm, origin).cast([f"{origin}/data"])
        assert refused.outcome == "exit" and b"UnknownIssuer" in refused.stdout
    finally:
        httpd.shutdown()
    with pytest.raises(spell.SpellError) as raised:
        spell.Runtime(tls_root_certificates=[b"not a certificate"])
    assert raised.value.code == "E-RUN-002"
