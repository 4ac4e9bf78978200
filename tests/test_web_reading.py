"""The review queue's reading tools without a browser (TestClient over the UI, real SQLite): filters from
the query string, bad input, the bulk confirmation rebuilt from the store, undo once only."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from newsdesk.web.routes import create_web_app
from tests.test_web import Seeded, csrf_of, seeded, sign_in

seeded = seeded  # test_web's fixture: the seed on SQLite

CARD = re.compile(r'id="card-(\d+)"')


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    with TestClient(create_web_app(seeded.nd)) as c:
        sign_in(c, seeded.write_token)
        yield c


def cards(client: TestClient, query: str = "") -> list[int]:
    answer = client.get("/review" + query)
    assert answer.status_code == 200, answer.text
    return [int(i) for i in CARD.findall(answer.text)]


def test_filters_and_sort_from_the_query_string(client: TestClient, seeded: Seeded) -> None:
    ids = seeded.ids
    assert set(cards(client, "?topic=Rates")) == {ids["rates"], ids["rates2"]}
    assert cards(client, "?sort=quality")[0] == ids["ai"]  # quality 81, the highest
    assert set(cards(client, "?min_heat=20")) == {ids["rates"], ids["rates2"]}
    every = cards(client)
    for odd in ("?topic=Nope", "?min_quality=abc", "?since=yesterday", "?sort=<b>", "?source=-1", "?offset=x",
                "?show=everything", "?language=%00"):  # fmt: skip
        assert cards(client, odd) == every, odd  # a bad value is dropped, never a crash
    assert 'value="Nope"' not in client.get("/review?topic=Nope").text


def test_bulk_bad_input_decides_nothing(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client, "/review")
    rates = seeded.ids["rates"]
    cases = [
        ({"csrf_token": token, "action": "publish"}, 400),  # nothing ticked
        ({"csrf_token": token, "action": "publish", "ids": [rates, 999_999]}, 404),
        ({"csrf_token": token, "action": "reject", "ids": [rates], "reason": "  "}, 400),
        ({"csrf_token": token, "action": "delete", "ids": [rates]}, 400),
        ({"action": "publish", "ids": [rates]}, 403),  # no CSRF token
        ({"csrf_token": token, "action": "publish", "ids": ["x"]}, 422),
    ]
    for form, status in cases:
        assert client.post("/review/bulk", data=form, follow_redirects=False).status_code == status, form
    assert seeded.nd.store.decisions(rates) == []


def test_the_bulk_confirmation_and_undo_belong_to_the_editor(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client, "/review")
    chosen = [seeded.ids["rates"], seeded.ids["ai"]]
    done = client.post("/review/bulk", data={"csrf_token": token, "action": "reject", "reason": "thin",
                                             "ids": chosen, "next": "/review?sort=heat"}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    location = done.headers["location"]
    assert location.startswith("/review?sort=heat&bulk=")
    page = client.get(location).text
    assert "Rejected 2 articles" in page and 'id="undo-form"' in page
    decisions = re.findall(r'name="decisions" value="(\d+)"', page)
    assert len(decisions) == 2
    with TestClient(create_web_app(seeded.nd)) as other:  # another editor cannot see or use the flash
        sign_in(other, seeded.nd.tokens.create("olga", "write")[1])
        assert "Rejected 2" not in other.get(location).text
    undo = {"csrf_token": token, "decisions": decisions, "next": "/review"}
    assert client.post("/review/undo", data=undo, follow_redirects=False).status_code == 303
    assert {seeded.nd.store.get_article(i).review_state for i in chosen} == {"pending"}
    assert client.post("/review/undo", data=undo, follow_redirects=False).status_code == 409  # once only
    assert "Undone" in client.get(location).text and 'id="undo-form"' not in client.get(location).text


def test_flags_need_a_selection_and_a_flag(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client, "/review")
    rates = seeded.ids["rates"]
    assert client.post("/review/flags", data={"csrf_token": token, "ids": [rates]}).status_code == 400
    assert client.post("/review/flags", data={"csrf_token": token, "starred": "1"}).status_code == 400
    ok = client.post("/review/flags", data={"csrf_token": token, "ids": [rates], "starred": "1"},
                     follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303
    assert cards(client, "?show=starred") == [rates]
    assert cards(client, "?show=unread") == cards(client)  # starring is not reading
