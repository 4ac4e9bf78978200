"""The fetcher against a real HTTP server on 127.0.0.1 (tests/httpserver.py); no other network."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import datetime
import ipaddress
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpcore
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsdesk.errors import (
    BlockedURLError,
    ContentTypeError,
    FetchError,
    RedirectError,
    RobotsDisallowed,
    SettingsError,
    TooLargeError,
)
from newsdesk.fetch import ssrf
from newsdesk.fetch.client import Fetcher, FetchPolicy, FetchResult, KeptConnections, keep_connections
from newsdesk.fetch.streams import SocketStream, TLSStream, open_tcp
from newsdesk.fetch.transport import GuardedBackend, TrustOnFirstUse, parse_override
from tests.httpserver import LoopbackServer, Reply, Seen, compressed, drip, huge, redirect

LOOPBACK = ("127.0.0.0/8", "::1/128")
T = TypeVar("T")

PAGE = "<html><head><title>Café</title></head><body><p>Le café — «naïve» résumé, 5 €.</p></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + struct.pack(">II", 1, 1) + b"\x08\x02\x00\x00\x00"
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n"


def make_policy(**overrides: Any) -> FetchPolicy:
    settings: dict[str, Any] = {
        "per_host_delay": 0.0,
        "allowed_networks": LOOPBACK,
        "respect_robots": False,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "total_timeout": 5.0,
    }
    return FetchPolicy(**(settings | overrides))


def run(policy: FetchPolicy, use: Callable[[Fetcher], Awaitable[T]], **kwargs: Any) -> T:
    async def main() -> T:
        async with Fetcher(policy, **kwargs) as fetcher:
            return await use(fetcher)

    return asyncio.run(main())


def fetch(url: str, policy: FetchPolicy | None = None, **get_kwargs: Any) -> FetchResult:
    return run(policy or make_policy(), lambda f: f.get(url, **get_kwargs))


def fetch_error(url: str, policy: FetchPolicy | None = None, **get_kwargs: Any) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(url, policy, **get_kwargs)
    return caught.value


# -- basics --------------------------------------------------------------------------------------------


def test_ok_page_reports_headers_validators_and_text() -> None:
    reply = Reply(
        body=PAGE.encode(),
        headers={
            "ETag": '"v1"',
            "Last-Modified": "Wed, 01 Jan 2025 00:00:00 GMT",
            "Cache-Control": "max-age=60",
        },
    )
    with LoopbackServer({"/a": reply}) as server:
        result = fetch(server.url("/a"), expect="html")
        seen = server.requests[0]
    assert (result.status, result.url, result.original_url, result.redirects) == (
        200,
        server.url("/a"),
        server.url("/a"),
        (),
    )
    assert result.text == PAGE and result.encoding == "utf-8" and result.content_type == "text/html"
    assert (result.etag, result.max_age, result.not_modified) == ('"v1"', 60, False)
    assert result.last_modified == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert seen.headers["user-agent"] == FetchPolicy().user_agent
    assert "text/html" in seen.headers["accept"]


@pytest.mark.parametrize("status", [404, 410, 500])
def test_http_errors_carry_status_and_kind(status: int) -> None:
    with LoopbackServer({"/x": Reply(status=status, body=b"no")}) as server:
        error = fetch_error(server.url("/x"))
    assert (error.status, error.kind, error.url) == (status, f"http-{status}", server.url("/x"))


def test_not_modified_on_matching_etag() -> None:
    def conditional(seen: Seen) -> Reply:
        if seen.headers.get("if-none-match") == '"v2"':
            return Reply(status=304, content_type=None)
        return Reply(body=b"<p>new</p>", headers={"ETag": '"v2"'})

    with LoopbackServer({"/feed": conditional}) as server:
        fresh = fetch(server.url("/feed"))
        again = fetch(server.url("/feed"), etag=fresh.etag, last_modified="Wed, 01 Jan 2025 00:00:00 GMT")
        sent = server.requests[1].headers
    assert fresh.not_modified is False and fresh.content == b"<p>new</p>"
    assert again.not_modified is True and again.status == 304 and again.content == b""
    assert again.etag == '"v2"'  # kept from the request when the 304 omits it
    assert sent["if-modified-since"] == "Wed, 01 Jan 2025 00:00:00 GMT"


def test_gzip_and_brotli_bodies_are_decoded() -> None:
    body = (PAGE * 50).encode()
    routes = {"/gz": compressed(body, "gzip"), "/br": compressed(body, "br")}
    with LoopbackServer(routes) as server:
        gz = fetch(server.url("/gz"), expect="html")
        br = fetch(server.url("/br"), expect="html")
    assert gz.content == body and br.content == body
    assert br.headers["content-encoding"] == "br"


def test_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = fetch_error(f"http://127.0.0.1:{port}/")
    assert error.kind == "connect"


@pytest.mark.parametrize("url", ["ftp://example.com/file", "/relative/path", "http:///nohost"])
def test_non_http_urls_are_refused(url: str) -> None:
    assert fetch_error(url).kind == "invalid-url"


# -- time and size limits ------------------------------------------------------------------------------


def test_slow_headers_time_out() -> None:
    with LoopbackServer({"/slow": Reply(body=b"late", delay=3.0)}) as server:
        error = fetch_error(server.url("/slow"), make_policy(read_timeout=0.3))
    assert error.kind == "timeout"


def test_drip_fed_body_hits_the_total_timeout() -> None:
    # Each byte arrives well within the read timeout, so only the total timeout can stop this.
    with LoopbackServer({"/drip": drip(b"x", every=0.1, count=200)}) as server:
        error = fetch_error(server.url("/drip"), make_policy(read_timeout=2.0, total_timeout=0.6))
    assert error.kind == "timeout"


def test_fifty_megabyte_body_is_aborted_at_the_cap() -> None:
    with LoopbackServer({"/big": huge(50_000_000)}) as server, pytest.raises(TooLargeError) as caught:
        fetch(server.url("/big"), make_policy(max_bytes=1_000_000))
    assert caught.value.kind == "too-large" and "1000000-byte cap" in caught.value.message


def test_declared_oversize_is_refused_before_reading() -> None:
    reply = Reply(body=b"x" * 100, content_length=50_000_000)
    with LoopbackServer({"/big": reply}) as server, pytest.raises(TooLargeError) as caught:
        fetch(server.url("/big"), make_policy(max_bytes=1_000_000))
    assert "Content-Length 50000000" in caught.value.message


def test_gzip_bomb_is_capped_on_decoded_size() -> None:
    bomb = zlib.compress(b"\x00" * 20_000_000, 9)
    deflate_bomb = Reply(body=bomb, headers={"Content-Encoding": "deflate"})
    with LoopbackServer({"/bomb": deflate_bomb}) as server, pytest.raises(TooLargeError):
        fetch(server.url("/bomb"), make_policy(max_bytes=1_000_000))


def test_content_length_longer_than_body_is_a_protocol_error() -> None:
    with LoopbackServer({"/short": Reply(body=b"only this", content_length=5000)}) as server:
        error = fetch_error(server.url("/short"))
    assert error.kind == "protocol"


# -- content checks and charsets -----------------------------------------------------------------------


@pytest.mark.parametrize("body", [PNG, PDF, b"<html>\x00\x00\x00binary</html>"])
def test_binary_served_as_html_is_refused(body: bytes) -> None:
    with LoopbackServer({"/page": Reply(body=body, content_type="text/html")}) as server:
        with pytest.raises(ContentTypeError):
            fetch(server.url("/page"), expect="html")
        assert fetch(server.url("/page"), expect="any").content == body


def test_image_expectation_needs_a_real_image() -> None:
    routes = {
        "/ok.png": Reply(body=PNG, content_type="image/png"),
        "/fake.png": Reply(body=b"<html>not an image</html>", content_type="image/png"),
    }
    with LoopbackServer(routes) as server:
        ok = fetch(server.url("/ok.png"), expect="image")
        with pytest.raises(ContentTypeError):
            fetch(server.url("/fake.png"), expect="image")
    assert ok.content == PNG and ok.text is None


def test_feed_expectation_sniffs_past_a_wrong_type() -> None:
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
    routes = {"/rss": Reply(body=rss, content_type="text/html"), "/page": Reply(body=PAGE.encode())}
    with LoopbackServer(routes) as server:
        feed = fetch(server.url("/rss"), expect="feed")
        with pytest.raises(ContentTypeError):
            fetch(server.url("/page"), expect="feed")
    assert feed.text is not None and feed.text.startswith("<?xml")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (PAGE.encode("cp1252"), "text/html; charset=utf-8"),  # mislabelled
        (codecs.BOM_UTF16_LE + PAGE.encode("utf-16-le"), "text/html"),  # BOM only
        (codecs.BOM_UTF16_LE + PAGE.encode("utf-16-le"), "text/html; charset=utf-8"),  # BOM beats label
        (('<meta charset="windows-1252">' + PAGE).encode("cp1252"), "text/html"),  # meta only
        (PAGE.encode("utf-8"), None),  # no type at all
    ],
)
def test_wrong_or_missing_charsets_decode_correctly(body: bytes, content_type: str | None) -> None:
    with LoopbackServer({"/p": Reply(body=body, content_type=content_type)}) as server:
        result = fetch(server.url("/p"), expect="html")
    assert result.text is not None and "«naïve» résumé, 5 €" in result.text
    assert result.utf8_body().decode("utf-8") == result.text  # what the extraction workers receive
    if body == PAGE.encode("utf-8"):
        assert result.utf8_body() is result.content  # valid UTF-8 is shipped as it came, not re-encoded


def test_invalid_utf8_reaches_the_workers_repaired() -> None:
    """A body that is not valid UTF-8 in any candidate encoding decodes with replacement characters;
    the workers get that text re-encoded, never the broken bytes."""
    broken = PAGE.encode("utf-8") + b"\xff\xfe\xc3(broken"
    with LoopbackServer({"/p": Reply(body=broken, content_type="text/html; charset=utf-8")}) as server:
        result = fetch(server.url("/p"), expect="html")
    assert result.utf8_body() != result.content
    assert result.utf8_body().decode("utf-8") == result.text


# -- redirects and the SSRF guard ----------------------------------------------------------------------


def test_redirect_chain_is_followed_and_recorded() -> None:
    routes = {"/a": redirect("/b", 301), "/b": redirect("c?x=1", 307), "/c": Reply(body=b"end")}
    with LoopbackServer(routes) as server:
        result = fetch(server.url("/a"))
    assert result.url == server.url("/c?x=1") and result.content == b"end"
    assert result.redirects == (server.url("/a"), server.url("/b"))
    assert result.original_url == server.url("/a")


def test_redirect_loop_is_detected() -> None:
    with LoopbackServer({"/x": redirect("/y"), "/y": redirect("/x")}) as server:
        with pytest.raises(RedirectError) as caught:
            fetch(server.url("/x"), make_policy(max_redirects=10))
        assert server.hits("/x") == 1 and server.hits("/y") == 1
    assert "loop" in caught.value.message


def test_too_many_redirects() -> None:
    routes = {f"/r{i}": redirect(f"/r{i + 1}") for i in range(10)}
    with LoopbackServer(routes) as server:
        with pytest.raises(RedirectError):
            fetch(server.url("/r0"), make_policy(max_redirects=3))
        assert server.hits("/r3") == 1 and server.hits("/r4") == 0


def test_redirect_to_a_private_address_is_refused_before_connecting() -> None:
    with LoopbackServer({"/go": redirect("http://10.0.0.1/admin")}) as server:
        with pytest.raises(BlockedURLError) as caught:
            fetch(server.url("/go"))
        assert server.hits("/go") == 1
    assert "10.0.0.1" in caught.value.message and "private" in caught.value.message


def test_resolve_override_keeps_the_host_name() -> None:
    with LoopbackServer({"/story": Reply(body=b"demo")}) as server:
        policy = make_policy(resolve={"news.example": f"127.0.0.1:{server.port}"})
        result = fetch("http://news.example/story", policy)
        host_header = server.requests[0].headers["host"]
    assert result.content == b"demo" and result.url == "http://news.example/story"
    assert host_header == "news.example"


def test_resolve_override_to_loopback_is_blocked_unless_allowed() -> None:
    with LoopbackServer({"/story": Reply(body=b"demo")}) as server:
        policy = make_policy(resolve={"news.example": f"127.0.0.1:{server.port}"}, allowed_networks=())
        with pytest.raises(BlockedURLError) as caught:
            fetch("http://news.example/story", policy)
        assert server.hits("/story") == 0
        assert fetch("http://news.example/story", policy, allow_private=True).content == b"demo"
    assert "loopback" in caught.value.message


def test_dns_rebinding_is_caught_at_connect_time() -> None:
    answers = [["93.184.216.34"], ["127.0.0.1"]]  # public for the check, loopback for the connection

    async def rebinding(host: str, port: int) -> list[str]:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    with LoopbackServer({"/": Reply(body=b"secret")}) as server:
        policy = make_policy(allowed_networks=())
        with pytest.raises(BlockedURLError):
            run(policy, lambda f: f.get(f"http://rebind.test:{server.port}/"), resolver=rebinding)
        assert server.hits("/") == 0


# -- robots.txt ----------------------------------------------------------------------------------------


def test_robots_disallow_is_honoured_and_fetched_once() -> None:
    rules = b"User-agent: *\nAllow: /\nDisallow: /private\n"
    routes = {"/robots.txt": Reply(body=rules, content_type="text/plain"), "/public": Reply(body=b"ok")}
    with LoopbackServer(routes) as server:
        policy = make_policy(respect_robots=True)

        async def use(fetcher: Fetcher) -> tuple[list[FetchResult], RobotsDisallowed]:
            results = await asyncio.gather(*(fetcher.get(server.url("/public")) for _ in range(4)))
            with pytest.raises(RobotsDisallowed) as caught:
                await fetcher.get(server.url("/private/page"))
            return list(results), caught.value

        results, refused = run(policy, use)
        assert server.hits("/robots.txt") == 1 and server.hits("/private/page") == 0
    assert all(r.content == b"ok" for r in results)
    assert refused.kind == "robots"


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True), (500, False), (503, False)])
def test_robots_fetch_status_decides(status: int, allowed: bool) -> None:
    routes = {"/robots.txt": Reply(status=status, body=b"x"), "/page": Reply(body=b"ok")}
    with LoopbackServer(routes) as server:
        policy = make_policy(respect_robots=True)
        if allowed:
            assert fetch(server.url("/page"), policy).content == b"ok"
        else:
            with pytest.raises(RobotsDisallowed):
                fetch(server.url("/page"), policy)
            assert server.hits("/page") == 0


# -- politeness ----------------------------------------------------------------------------------------


def test_retry_after_is_reported_and_defers_the_host() -> None:
    with LoopbackServer({"/busy": Reply(status=429, headers={"Retry-After": "120"})}) as server:

        async def use(fetcher: Fetcher) -> tuple[FetchError, FetchError]:
            with pytest.raises(FetchError) as first:
                await fetcher.get(server.url("/busy"))
            with pytest.raises(FetchError) as second:
                await fetcher.get(server.url("/busy"))
            return first.value, second.value

        first, second = run(make_policy(), use)
        assert server.hits("/busy") == 1  # the second call never reached the server
    assert (first.status, first.kind, getattr(first, "retry_after", None)) == (429, "http-429", 120.0)
    assert second.kind == "deferred" and 100 < getattr(second, "retry_after", 0) <= 120
    assert second.url == server.url("/busy")


def test_robots_crawl_delay_spaces_later_requests() -> None:
    routes = {"/robots.txt": Reply(body=b"User-agent: *\nCrawl-delay: 1\n", content_type="text/plain"),
              "/a": Reply(body=b"ok")}  # fmt: skip
    with LoopbackServer(routes) as server:

        async def use(fetcher: Fetcher) -> float:
            await fetcher.get(server.url("/a"))
            started = time.monotonic()
            await fetcher.get(server.url("/a"))
            return time.monotonic() - started

        waited = run(make_policy(respect_robots=True), use)
    assert 0.9 < waited < 3.0  # the second request started a Crawl-delay (1 s) after the first


def test_retry_after_http_date_on_503() -> None:
    reply = Reply(status=503, headers={"Retry-After": "Fri, 31 Dec 1999 23:59:59 GMT"})
    with LoopbackServer({"/down": reply}) as server:
        error = fetch_error(server.url("/down"))
    assert error.kind == "http-503" and getattr(error, "retry_after", None) == 0.0


@pytest.mark.parametrize(("per_host", "overall"), [(2, 16), (4, 1)])
def test_concurrency_limits_hold_at_the_server(per_host: int, overall: int) -> None:
    with LoopbackServer({"/slow": Reply(body=b"ok", delay=0.2)}) as server:
        policy = make_policy(per_host_concurrency=per_host, concurrency=overall)

        async def use(fetcher: Fetcher) -> list[FetchResult]:
            return list(await asyncio.gather(*(fetcher.get(server.url("/slow")) for _ in range(6))))

        results = run(policy, use)
        assert server.max_in_flight == min(per_host, overall)
    assert len(results) == 6


@pytest.mark.parametrize("target", ["news.example:80", "127.0.0.1:http", "not an ip"])
def test_bad_resolve_override_is_a_settings_error(target: str) -> None:
    with pytest.raises(SettingsError):
        Fetcher(make_policy(resolve={"news.example": target}))


def test_override_forms_are_parsed() -> None:
    assert parse_override("News.Example.", "[::1]:8080") == ("news.example", ("::1", 8080))
    assert parse_override("a.example", "127.0.0.1") == ("a.example", ("127.0.0.1", None))


def test_a_get_that_dies_in_transit_is_sent_once_more() -> None:
    """The first connection is reset without a response; the retry gets the page."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]
    seen: list[int] = []

    def serve() -> None:
        for attempt in range(2):
            conn, _ = listener.accept()
            conn.recv(65536)
            seen.append(attempt)
            if attempt == 0:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                conn.close()  # RST: no response at all
                continue
            body = b"<html><body><p>second time lucky</p></body></html>"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)  # fmt: skip
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    async def go() -> FetchResult:
        policy = FetchPolicy(allowed_networks=("127.0.0.0/8",), respect_robots=False, per_host_delay=0)
        async with Fetcher(policy) as fetcher:
            return await fetcher.get(f"http://127.0.0.1:{port}/page", expect="html")

    result = asyncio.run(go())
    assert result.text is not None and "second time lucky" in result.text
    assert seen == [0, 1]
    listener.close()


# -- keep-alive ----------------------------------------------------------------------------------------


def test_the_idle_probe_sees_a_connection_the_server_closed() -> None:
    """httpcore asks each pooled connection whether it is readable before reusing it; the stream answers
    from its socket, as anyio's stream (httpcore's own backend) answers for the same kind of connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    async def probe() -> list[tuple[bool, bool]]:
        stream = await open_tcp("127.0.0.1", port, timeout=5)
        ours, _ = listener.accept()
        other = await httpcore.AnyIOBackend().connect_tcp("127.0.0.1", port)
        theirs, _ = listener.accept()
        answers = [(stream.get_extra_info("is_readable"), other.get_extra_info("is_readable"))]
        ours.close()  # the server drops the idle keep-alive connections
        theirs.close()
        await asyncio.sleep(0.05)
        answers.append((stream.get_extra_info("is_readable"), other.get_extra_info("is_readable")))
        assert stream.get_extra_info("server_addr") == ("127.0.0.1", port)
        await stream.aclose()
        await other.aclose()
        assert stream.get_extra_info("is_readable")  # a closed stream is never reused
        return answers

    try:
        assert asyncio.run(probe()) == [(False, False), (True, True)]
    finally:
        listener.close()


def test_the_socket_stream_maps_failures_to_httpcore_errors() -> None:
    """A refused connection, a read past the timeout and a write to a reset peer raise httpcore's
    errors, which httpx (and then the fetcher's kinds) understand."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    closed = socket.create_server(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()

    async def go() -> None:
        with pytest.raises(httpcore.ConnectError):
            await open_tcp("127.0.0.1", refused_port, timeout=5)
        stream = await open_tcp("127.0.0.1", port, timeout=5)
        peer, _ = listener.accept()
        with pytest.raises(httpcore.ReadTimeout):
            await stream.read(1024, timeout=0.05)
        peer.sendall(b"hello")
        assert await stream.read(1024, timeout=5) == b"hello"
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # a reset, not a clean close
        await asyncio.sleep(0.05)
        with pytest.raises((httpcore.WriteError, httpcore.ReadError)):
            for _ in range(20):
                await stream.write(b"x" * 65536, timeout=5)
                await stream.read(1024, timeout=5)
        await stream.aclose()

    try:
        asyncio.run(go())
    finally:
        listener.close()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_the_socket_stream_carries_tls(tmp_path: Path) -> None:
    """Every https fetch goes through SocketStream.start_tls: the TLS stream must talk HTTP and keep
    answering the idle probe (not readable while the server holds the connection open)."""
    cert_file, key_file = self_signed(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with server_context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            tls.recv(1)  # hold the connection open until the client closes it

    async def exchange() -> tuple[bytes, bool]:
        client_context = ssl.create_default_context(cafile=str(cert_file))
        stream = await open_tcp("127.0.0.1", port, timeout=5)
        assert isinstance(stream, SocketStream)
        tls = await stream.start_tls(client_context, server_hostname="127.0.0.1", timeout=5)
        assert isinstance(tls, TLSStream) and tls.get_extra_info("ssl_object") is not None
        await tls.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        reply = b""
        while not reply.endswith(b"ok"):
            reply += await tls.read(65536, timeout=5)
        idle_readable = tls.get_extra_info("is_readable")
        await tls.aclose()
        return reply, idle_readable

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        reply, idle_readable = asyncio.run(exchange())
    finally:
        listener.close()
    assert reply.startswith(b"HTTP/1.1 200 OK") and not idle_readable


def _tls_server(tmp: Path) -> tuple[socket.socket, int, threading.Thread]:
    """A TLS listener on loopback with a self-signed certificate no CA bundle trusts; it takes one
    connection and tries its handshake (which the client is expected to abandon)."""
    cert_file, key_file = self_signed(tmp)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_file, key_file)
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with contextlib.suppress(OSError), server_context.wrap_socket(conn, server_side=True) as tls:
            tls.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener, listener.getsockname()[1], thread


def test_an_untrusted_certificate_is_refused(tmp_path: Path) -> None:
    """https is verified against the CA bundle: a self-signed certificate ends the fetch as a
    connection error, and nothing of the page is read."""
    listener, port, thread = _tls_server(tmp_path)
    try:
        error = fetch_error(f"https://127.0.0.1:{port}/")
    finally:
        listener.close()
        thread.join(5)
    assert error.kind == "connect" and "CERTIFICATE_VERIFY_FAILED" in error.message


def test_the_ca_bundle_is_read_at_the_first_handshake_not_before(tmp_path: Path) -> None:
    """A context that has only made plain-http connections holds no CA (a cold 304 poll of http feeds
    never pays for reading the bundle); its first handshake reads the bundle before verifying."""
    context = TrustOnFirstUse()
    assert context.cert_store_stats()["x509_ca"] == 0
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    listener, port, thread = _tls_server(tmp_path)

    async def handshake() -> None:
        stream = await open_tcp("127.0.0.1", port, timeout=5)
        await stream.start_tls(context, server_hostname="127.0.0.1", timeout=5)

    try:
        with pytest.raises(httpcore.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(handshake())
    finally:
        listener.close()
        thread.join(5)
    assert context.cert_store_stats()["x509_ca"] > 50  # certifi's bundle: over a hundred roots


# -- connections kept between fetchers (the desk's cycles) ---------------------------------------------


def test_kept_connections_serve_the_next_fetcher_and_close_when_idle_too_long() -> None:
    with LoopbackServer({"/feed": Reply(body=b"<rss/>", content_type="application/rss+xml")}) as server:
        policy = make_policy(
            resolve={"a.example": f"127.0.0.1:{server.port}", "b.example": f"127.0.0.1:{server.port}"}
        )

        async def cycle(kept: KeptConnections, *hosts: str) -> None:
            async with Fetcher(policy, connections=kept) as fetcher:
                for host in hosts:
                    await fetcher.get(f"http://{host}/feed")

        async def main() -> list[int]:
            kept = keep_connections(policy)
            await cycle(kept, "a.example", "b.example")
            await cycle(kept, "a.example", "b.example")  # the first fetcher is closed: its pools are not
            assert kept.origins == 2
            kept_idle = kept._idle_s
            kept._idle_s = 0.0  # as if the next cycle came after the keep window
            await kept.sweep()
            assert kept.origins == 0
            kept._idle_s = kept_idle
            await cycle(kept, "a.example")
            await kept.close()
            return [seen.client_port for seen in server.requests]

        ports = asyncio.run(main())
    assert ports[2:4] == ports[0:2] and ports[0] != ports[1]  # one connection per host, reused
    assert ports[4] not in ports[:4]  # swept: dialled anew


def test_fetchers_that_borrow_kept_connections_read_robots_txt_once() -> None:
    """The desk's cycles share robots.txt rules with the connections: a host's robots.txt is asked for
    once within its lifetime, not at every cycle; a fetcher of its own asks again."""
    routes = {
        "/feed": Reply(body=b"<rss/>", content_type="application/rss+xml"),
        "/robots.txt": Reply(body=b"User-agent: *\nDisallow: /private\n", content_type="text/plain"),
    }
    with LoopbackServer(routes) as server:
        policy = make_policy(resolve={"a.example": f"127.0.0.1:{server.port}"}, respect_robots=True)

        async def main() -> None:
            kept = keep_connections(policy)
            for _ in range(2):
                async with Fetcher(policy, connections=kept) as fetcher:
                    await fetcher.get("http://a.example/feed")
                    with pytest.raises(RobotsDisallowed):
                        await fetcher.get("http://a.example/private")
            await kept.close()
            async with Fetcher(policy) as alone:
                await alone.get("http://a.example/feed")

        asyncio.run(main())
    assert [seen.path for seen in server.requests].count("/robots.txt") == 2


def test_kept_connections_are_not_shared_across_guard_rules() -> None:
    """A connection dialled for a request allowed onto private networks does not serve one under other
    rules (the pools are keyed by the guard's rules too), and one the early guard refuses sends nothing."""
    with LoopbackServer({"/feed": Reply(body=b"<rss/>", content_type="application/rss+xml")}) as server:
        target = f"127.0.0.1:{server.port}"
        lifted = make_policy(resolve={"a.example": target})  # loopback let through by allowed_networks
        guarded = make_policy(resolve={"a.example": target}, allowed_networks=())

        async def main() -> int:
            kept = keep_connections(lifted)
            async with Fetcher(lifted, connections=kept) as fetcher:
                await fetcher.get("http://a.example/feed", allow_private=True)
                await fetcher.get("http://a.example/feed")
            async with Fetcher(guarded, connections=kept) as fetcher:
                with pytest.raises(BlockedURLError):
                    await fetcher.get("http://a.example/feed")
            origins = kept.origins
            await kept.close()
            return origins

        assert asyncio.run(main()) == 2
        first, second = (seen.client_port for seen in server.requests)
    assert first != second and server.hits("/feed") == 2


def test_a_fetcher_refuses_connections_kept_for_another_resolve_map() -> None:
    kept = keep_connections(make_policy(resolve={"a.example": "127.0.0.1:1"}))
    with pytest.raises(ValueError, match="dial differently"):
        Fetcher(make_policy(resolve={"a.example": "127.0.0.1:2"}), connections=kept)


def test_kept_connections_hold_at_most_their_origin_cap() -> None:
    with LoopbackServer({"/feed": Reply(body=b"<rss/>", content_type="application/rss+xml")}) as server:
        hosts = [f"h{i}.example" for i in range(4)]
        policy = make_policy(resolve={h: f"127.0.0.1:{server.port}" for h in hosts})

        async def main() -> int:
            kept = KeptConnections(
                GuardedBackend(
                    dict(parse_override(h, t) for h, t in policy.resolve.items()), ssrf.system_resolver
                ),
                per_host=policy.per_host_concurrency,
                http2=False,
                max_origins=2,
            )
            async with Fetcher(policy, connections=kept) as fetcher:
                for host in hosts:
                    await fetcher.get(f"http://{host}/feed")
            origins = kept.origins
            await kept.close()
            return origins

        assert asyncio.run(main()) == 2  # the least recently used idle ones were closed on the way
