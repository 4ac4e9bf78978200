"""Saved searches and alerts end to end: a finished run's new articles become alerts (text, semantic and
filters), go out as webhook events, and are mailed in digests through a real SMTP server (aiosmtpd) that
the test starts, with STARTTLS on a self-signed certificate and AUTH; the unsubscribe link works without
signing in. Real store (SQLite and PostgreSQL), real SMTP and HTTP on loopback."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from newsdesk.alerts.digest import MailError, unsubscribe_token
from newsdesk.app import Newsdesk
from newsdesk.config import load_settings
from newsdesk.errors import NewsdeskError
from newsdesk.model import Article, Provider
from tests.conftest import quiet_env

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SMTP_USER, SMTP_PASSWORD = "desk", "s3cret-pass"


def make_desk(root: Path, database_url: str = "", **settings: str) -> Newsdesk:
    env = quiet_env(root / "data", database_url) | {f"NEWSDESK_{k.upper()}": v for k, v in settings.items()}
    return Newsdesk(load_settings(env=env, base_dir=root))


@pytest.fixture
def desk(tmp_path: Path, store_url: str) -> Iterator[Newsdesk]:
    nd = make_desk(tmp_path, store_url)
    nd.readers.add_user("eve", "editor")
    yield nd
    nd.close()


def _article(nd: Newsdesk, n: int, title: str, **fields: Any) -> int:
    values: dict[str, Any] = {
        "title": title, "web_url": f"https://a.example.com/{n}", "original_url": f"https://a.example.com/{n}",
        "provider": Provider("A", "a.example.com"), "published_at": T0, "excerpt": f"About {title.lower()}.",
        "quality": 50, "heat": 10, "topics": ("AI",), "language": "en",
    } | fields  # fmt: skip
    saved = nd.store.save_article(Article(**values)).id
    assert saved is not None
    return saved


def _matched(nd: Newsdesk, search_id: int) -> set[int]:
    return {a["article_id"] for a in nd.alerts.alerts(search_id=search_id)}


# -------------------------------------------------------------------------------------------- matching


def test_new_articles_become_alerts_by_text_and_filters_once(desk: Newsdesk) -> None:
    banks = _article(desk, 1, "Central banks test AI models", quality=70, heat=40)
    weak = _article(desk, 2, "Central banks test AI models again", quality=20, heat=40)
    other = _article(desk, 3, "Football results", topics=())
    german = _article(desk, 4, "Central banks in Berlin", language="de", quality=80)
    alerts = desk.alerts
    text = alerts.save("eve", "banks", {"q": "central bank", "min_quality": 40, "language": "en"})
    topical = alerts.save("eve", "AI beat", {"topics": ["AI"], "language": "en"})
    hot = alerts.save("eve", "hot", {"min_heat": 30})
    assert alerts.match([banks, weak, other, german]) == {"alerts": 1 + 2 + 2}
    assert _matched(desk, text) == {banks}  # "bank" is a prefix of "banks"; the weak one and German one fall
    assert _matched(desk, topical) == {banks, weak}
    assert _matched(desk, hot) == {banks, weak}
    assert alerts.match([banks, weak, other, german]) == {"alerts": 0}  # a resumed run adds nothing


def test_a_semantic_search_matches_by_meaning(desk: Newsdesk) -> None:
    from newsdesk.enrich.embed import load_embedder

    embedder = load_embedder(backend="onnx")
    ids = [
        _article(desk, 1, "Federal Reserve raises interest rates to fight inflation"),
        _article(desk, 2, "New smartphone camera reviewed"),
    ]
    for article_id in ids:
        title = desk.store.get_article(article_id).title
        desk.store.save_embedding(article_id, embedder.name, embedder.embed([title])[0])
    search = desk.alerts.save("eve", "rates", {"q": "central bank monetary policy", "mode": "semantic"})
    desk_settings = desk.settings.with_values(embed_backend="onnx")
    desk.settings = desk_settings
    desk.alerts.match(ids)
    assert _matched(desk, search) == {ids[0]}


def test_alerts_are_matched_when_a_run_finishes_and_go_out_by_webhook(desk: Newsdesk) -> None:
    hook, _ = desk.webhooks.add("https://hooks.example.com/in", ["alert"])
    search = desk.alerts.save("eve", "AI", {"topics": ["AI"]})
    article = _article(desk, 1, "AI in lending")
    asyncio.run(desk.finish_pending())  # the finishing stages of a run, on what is not finished yet
    [alert] = desk.alerts.alerts(user="eve", unseen=True)
    assert (alert["search_id"], alert["article_id"]) == (search, article)
    [delivery] = desk.webhooks.deliveries(webhook_id=hook)
    assert delivery["event"] == "alert" and f'"id":{article}' in delivery["body"]
    assert desk.alerts.mark_seen([alert["id"]]) == 1
    assert desk.alerts.alerts(user="eve", unseen=True) == []
    assert desk.alerts.mark_seen([alert["id"]]) == 0


@pytest.mark.parametrize(
    ("user", "name", "query", "digest", "email", "message"),
    [
        ("nobody", "x", {}, "off", None, "no such user"),
        ("eve", "", {}, "off", None, "name"),
        ("eve", "x", {"mode": "vector", "q": "a"}, "off", None, "mode"),
        ("eve", "x", {"mode": "semantic"}, "off", None, "needs q"),
        ("eve", "x", {"topics": ["Knitting"]}, "off", None, "unknown topic"),
        ("eve", "x", {"min_quality": 101}, "off", None, "0-100"),
        ("eve", "x", {"colour": "red"}, "off", None, "unknown field"),
        ("eve", "x", {"q": "a" * 201}, "off", None, "at most"),
        ("eve", "x", {}, "monthly", "e@example.com", "digest must be"),
        ("eve", "x", {}, "daily", None, "needs an email"),
        ("eve", "x", {}, "daily", "not-an-address", "not an email"),
    ],
)
def test_bad_saved_searches_are_refused_and_nothing_is_stored(
    desk: Newsdesk, user: str, name: str, query: dict[str, Any], digest: str, email: str | None, message: str
) -> None:
    with pytest.raises(NewsdeskError, match=message):
        desk.alerts.save(user, name, query, digest=digest, email=email)
    assert desk.alerts.list() == []


# --------------------------------------------------------------------------------------------- digests


class Inbox:
    """What the SMTP server received, and whether the sender used TLS and signed in."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tls: list[bool] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(email.message_from_bytes(envelope.content))
        self.tls.append(session.ssl is not None)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            SMTP_USER.encode(),
            SMTP_PASSWORD.encode(),
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    import ipaddress

    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_file, key_file = folder / "smtp.pem", folder / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_file, key_file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    inbox = Inbox()
    port = _free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=inbox.authenticate, auth_required=True, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        yield inbox, port, cert_file
    finally:
        controller.stop()


def _mail_desk(tmp_path: Path, store_url: str, port: int, ca: Path, **extra: str) -> Newsdesk:
    settings = {"smtp_host": "127.0.0.1", "smtp_port": str(port), "smtp_user": SMTP_USER,
                "smtp_password": SMTP_PASSWORD, "smtp_ca_file": str(ca), "mail_from": "desk@example.com",
                "public_url": "https://desk.example.com"} | extra  # fmt: skip
    nd = make_desk(tmp_path, store_url, **settings)
    if nd.store.find_user("eve") is None:
        nd.readers.add_user("eve", "editor")
    return nd


def test_a_digest_goes_out_over_starttls_with_auth_as_text_and_html(
    tmp_path: Path, store_url: str, smtp: tuple[Inbox, int, Path]
) -> None:
    inbox, port, ca = smtp
    nd = _mail_desk(tmp_path, store_url, port, ca)
    try:
        search = nd.alerts.save(
            "eve", "AI <beat>", {"topics": ["AI"]}, digest="hourly", email="eve@example.com"
        )
        ids = [_article(nd, 1, "AI & lending"), _article(nd, 2, "AI in insurance")]
        nd.alerts.match(ids)
        assert nd.alerts.send_digests() == {"digests": 1, "alerts_mailed": 2}
        assert nd.alerts.send_digests() == {"digests": 0, "alerts_mailed": 0}  # nothing new, and not due
        [message] = inbox.messages
        assert inbox.tls == [True] and inbox.logins == [SMTP_USER]
        assert message["To"] == "eve@example.com" and message["From"] == "desk@example.com"
        parts = {
            p.get_content_type(): p.get_payload(decode=True).decode()
            for p in message.walk()
            if not p.is_multipart()
        }
        assert set(parts) == {"text/plain", "text/html"}
        assert "AI & lending" in parts["text/plain"] and "AI &amp; lending" in parts["text/html"]
        assert "AI &lt;beat&gt;" in parts["text/html"] and "<beat>" not in parts["text/html"]
        assert f"https://desk.example.com/articles/{ids[0]}" in parts["text/plain"]
        token = unsubscribe_token(nd.store, search)
        link = f"https://desk.example.com/alerts/unsubscribe?token={token}"
        assert link in parts["text/plain"] and link in parts["text/html"]
        assert message["List-Unsubscribe"] == f"<{link}>"
        assert all(a["mailed_at"] is not None for a in nd.alerts.alerts(search_id=search))
        # an hour later a new alert is due again
        nd.alerts.match([_article(nd, 3, "AI in payments")])
        later = datetime.now(UTC) + timedelta(hours=1, minutes=1)
        from newsdesk.alerts.digest import send_due

        assert send_due(nd.store, nd.settings, at=later) == {"digests": 1, "alerts_mailed": 1}
    finally:
        nd.close()


def test_a_refused_send_marks_nothing_and_a_server_without_starttls_is_refused(
    tmp_path: Path, store_url: str, smtp: tuple[Inbox, int, Path]
) -> None:
    inbox, port, ca = smtp
    nd = _mail_desk(tmp_path, store_url, port, ca, smtp_password="wrong")
    try:
        nd.alerts.save("eve", "AI", {"topics": ["AI"]}, digest="daily", email="eve@example.com")
        nd.alerts.match([_article(nd, 1, "AI in lending")])
        with pytest.raises(MailError):
            nd.alerts.send_digests()
        assert inbox.messages == []
        assert all(a["mailed_at"] is None for a in nd.alerts.alerts())
    finally:
        nd.close()
    plain = Controller(Inbox(), hostname="127.0.0.1", port=_free_port())
    plain.start()
    try:
        nd = _mail_desk(tmp_path, store_url, plain.port, ca)
        with pytest.raises(MailError, match="STARTTLS"):
            nd.alerts.send_digests()
        nd.close()
    finally:
        plain.stop()


def test_the_unsubscribe_token_is_bound_to_its_search(desk: Newsdesk) -> None:
    first = desk.alerts.save("eve", "one", {}, digest="daily", email="eve@example.com")
    second = desk.alerts.save("eve", "two", {}, digest="weekly", email="eve@example.com")
    token = unsubscribe_token(desk.store, first)
    forged = f"{second}.{token.split('.', 1)[1]}"
    for bad in (forged, "", "x.y", f"{first}.00", "9" * 30 + ".ab"):
        with pytest.raises(NewsdeskError, match="not valid"):
            desk.alerts.unsubscribe(bad)
    assert desk.alerts.unsubscribe(token)["digest"] == "off"
    assert {s["id"]: s["digest"] for s in desk.alerts.list()} == {first: "off", second: "weekly"}


# ------------------------------------------------------------------------------------------ the web UI


def test_the_alerts_page_lists_alerts_and_marks_them_seen(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from newsdesk.api import create_app
    from tests.test_users_page_and_cli import csrf, signed_in

    nd = make_desk(tmp_path)
    try:
        nd.readers.add_user("eve", "editor")
        nd.alerts.save("eve", "AI <watch>", {"topics": ["AI"]})
        nd.alerts.match([_article(nd, 1, "AI in lending"), _article(nd, 2, "AI in insurance")])
        assert TestClient(create_app(nd)).get("/alerts", follow_redirects=False).status_code == 303
        editor = signed_in(nd, "write")
        page = editor.get("/alerts")
        assert page.status_code == 200 and "AI in lending" in page.text and "AI &lt;watch&gt;" in page.text
        first = nd.alerts.alerts()[-1]["id"]
        assert editor.post("/alerts/seen", data={"ids": [str(first)]}).status_code == 403  # no CSRF token
        answer = editor.post(
            "/alerts/seen", data={"ids": [str(first)], "csrf_token": csrf(editor)}, follow_redirects=False
        )
        assert answer.status_code == 303
        unseen = {a["id"] for a in nd.alerts.alerts(unseen=True)}
        assert unseen and first not in unseen
        assert "AI in lending" not in editor.get("/alerts?unseen=true").text
    finally:
        nd.close()


def test_the_unsubscribe_link_works_without_signing_in_and_only_by_post(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from newsdesk.api import create_app

    nd = make_desk(tmp_path)
    try:
        nd.readers.add_user("eve", "editor")
        search = nd.alerts.save("eve", "AI", {}, digest="daily", email="eve@example.com")
        token = unsubscribe_token(nd.store, search)
        client = TestClient(create_app(nd))
        page = client.get(f"/alerts/unsubscribe?token={token}")
        assert page.status_code == 200 and 'name="token"' in page.text
        assert nd.alerts.list()[0]["digest"] == "daily"  # looking at the link changes nothing
        assert client.get("/alerts/unsubscribe?token=1.forged").status_code == 400
        assert client.post("/alerts/unsubscribe?token=1.forged").status_code == 400
        assert client.get("/alerts/unsubscribe?token=" + "9" * 500).status_code == 422
        one_click = client.post(f"/alerts/unsubscribe?token={token}", data={"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200 and "no more digests" in one_click.text
        assert nd.alerts.list()[0]["digest"] == "off"
    finally:
        nd.close()


def test_the_webhook_log_page_is_for_admins_and_redelivers(tmp_path: Path) -> None:
    from newsdesk import events
    from tests.test_users_page_and_cli import csrf, signed_in

    nd = make_desk(tmp_path)
    try:
        nd.webhooks.add("https://hooks.example.com/in", ["story"])
        events.emit(nd.store, "story", {"story": {"id": 1}})
        [delivery] = nd.webhooks.deliveries()
        nd.store.record_attempt(
            delivery["id"], state="dead", status=500, error="HTTP 500", next_at=datetime.now(UTC)
        )
        assert signed_in(nd, "write").get("/webhooks").status_code == 403
        admin = signed_in(nd, "admin")
        page = admin.get("/webhooks")
        assert page.status_code == 200 and "hooks.example.com/in" in page.text and "HTTP 500" in page.text
        url = f"/webhooks/deliveries/{delivery['id']}/redeliver"
        assert admin.post(url, data={"csrf_token": csrf(admin)}, follow_redirects=False).status_code == 303
        assert nd.webhooks.deliveries()[0]["state"] == "pending"
        assert (
            admin.post("/webhooks/deliveries/999/redeliver", data={"csrf_token": csrf(admin)}).status_code
            == 404
        )
    finally:
        nd.close()


# ------------------------------------------------------------------------------------------------ the API


def test_the_api_saves_searches_lists_alerts_and_marks_them_seen(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from newsdesk.api import create_app

    nd = make_desk(tmp_path)
    base = "/api/v1"
    try:
        nd.readers.add_user("eve", "editor")
        writer = {"Authorization": "Bearer " + nd.tokens.create("ed", "write")[1]}
        reader = {"Authorization": "Bearer " + nd.tokens.create("r", "read")[1]}
        with TestClient(create_app(nd, include_web=False)) as client:
            body = {
                "user": "eve",
                "name": "AI",
                "query": {"topics": ["AI"], "minQuality": 40},
                "digest": "daily",
                "email": "eve@example.com",
            }
            made = client.post(f"{base}/saved-searches", json=body, headers=writer)
            assert made.status_code == 201, made.text
            assert made.json()["query"]["min_quality"] == 40 and made.json()["user"] == "eve"
            bad = [
                (body | {"user": "nobody"}, 400),
                (body | {"email": None}, 400),
                (body | {"query": {"topics": ["Knitting"]}}, 400),
                (body | {"query": {"mode": "vector"}}, 422),
                (body | {"query": {"mode": "semantic"}}, 400),
                (body | {"digest": "monthly"}, 422),
                (body | {"query": {"minHeat": 500}}, 422),
                (body | {"extra": 1}, 422),
                (body | {"name": "x" * 5000}, 422),
            ]
            for sent, status in bad:
                assert (
                    client.post(f"{base}/saved-searches", json=sent, headers=writer).status_code == status
                ), sent
            huge = body | {"query": {"topics": ["AI"] * 300_000}}
            assert client.post(f"{base}/saved-searches", json=huge, headers=writer).status_code == 413
            assert len(nd.alerts.list()) == 1  # nothing stored by the bad ones
            assert client.get(f"{base}/alerts", headers=reader).status_code == 403
            assert client.get(f"{base}/alerts").status_code == 401
            nd.alerts.match(
                [_article(nd, 1, "AI in lending", quality=60), _article(nd, 2, "AI weak", quality=10)]
            )
            items = client.get(f"{base}/alerts?unseen=true", headers=writer).json()["items"]
            assert [a["title"] for a in items] == ["AI in lending"]
            seen = client.post(f"{base}/alerts/seen", json={"ids": [items[0]["id"], 999]}, headers=writer)
            assert seen.json() == {"changed": 1}
            assert client.get(f"{base}/alerts?unseen=true", headers=writer).json()["items"] == []
            assert client.post(f"{base}/alerts/seen", json={"ids": []}, headers=writer).status_code == 422
            assert client.post(f"{base}/alerts/seen", json={"ids": [0]}, headers=writer).status_code == 422
            assert client.get(f"{base}/alerts?search=999", headers=writer).status_code == 422
            assert client.get(f"{base}/saved-searches?user=nobody", headers=writer).status_code == 422
            search = made.json()["id"]
            assert client.delete(f"{base}/saved-searches/{search}", headers=writer).status_code == 200
            assert client.delete(f"{base}/saved-searches/{search}", headers=writer).status_code == 404
        assert nd.alerts.list() == [] and nd.alerts.alerts() == []
    finally:
        nd.close()


# ------------------------------------------------------------------------------------ the CLI and the desk


def test_the_alert_and_digest_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: tuple[Inbox, int, Path]
) -> None:
    import json

    from typer.testing import CliRunner

    from newsdesk.cli import app

    inbox, port, ca = smtp
    env = quiet_env(tmp_path / "data", NEWSDESK_SMTP_HOST="127.0.0.1", NEWSDESK_SMTP_PORT=str(port),
                    NEWSDESK_SMTP_USER=SMTP_USER, NEWSDESK_SMTP_PASSWORD=SMTP_PASSWORD, NEWSDESK_SMTP_CA_FILE=str(ca))  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    assert runner.invoke(app, ["user", "add", "eve", "--role", "editor"]).exit_code == 0
    made = runner.invoke(app, ["alert", "save", "AI", "--user", "eve", "--topic", "AI", "--min-quality", "40",
                               "--digest", "weekly", "--email", "eve@example.com"])  # fmt: skip
    assert made.exit_code == 0, made.output
    assert (
        runner.invoke(app, ["alert", "save", "x", "--user", "eve", "--mode", "vector", "--q", "a"]).exit_code
        == 1
    )
    [saved] = json.loads(runner.invoke(app, ["alert", "searches", "--json"]).stdout)
    assert saved["query"]["topics"] == ["AI"] and saved["digest"] == "weekly"
    nd = make_desk(tmp_path)
    try:
        nd.alerts.match([_article(nd, 1, "AI in lending", quality=60)])
    finally:
        nd.close()
    [alert] = json.loads(runner.invoke(app, ["alert", "list", "--unseen", "--json"]).stdout)
    assert runner.invoke(app, ["digest", "send", "--due", "--json"]).exit_code == 0
    assert len(inbox.messages) == 1  # never sent before: due
    assert (
        json.loads(runner.invoke(app, ["digest", "send", "--json"]).stdout)["digests"] == 0
    )  # nothing unmailed
    assert runner.invoke(app, ["alert", "seen", str(alert["id"])]).exit_code == 0
    assert json.loads(runner.invoke(app, ["alert", "list", "--unseen", "--json"]).stdout) == []
    assert runner.invoke(app, ["alert", "remove", str(saved["id"])]).exit_code == 0
    assert runner.invoke(app, ["alert", "remove", str(saved["id"])]).exit_code == 1


def test_the_desk_sends_due_digests_in_its_loop(tmp_path: Path, smtp: tuple[Inbox, int, Path]) -> None:
    from newsdesk.desk import Desk, OutputTargets

    inbox, port, ca = smtp
    nd = _mail_desk(tmp_path, "", port, ca)
    try:
        nd.alerts.save("eve", "AI", {"topics": ["AI"]}, digest="daily", email="eve@example.com")
        nd.alerts.match([_article(nd, 1, "AI in lending")])
        Desk(nd, OutputTargets())._step()  # one turn of the loop, as the thread runs it
        assert len(inbox.messages) == 1
    finally:
        nd.close()
