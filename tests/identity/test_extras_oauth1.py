"""OS-OAUTH1 consumers: Tempest's four test_oauth_consumers flows and validation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from monostack.common import errors


def test_consumer_crud(identity: Any) -> None:
    oauth = identity.extras.oauth1
    created = oauth.create_consumer({"description": "d", "contact": "ops@example.com"})
    assert set(created) == {"id", "description", "secret", "contact"}
    assert oauth.check_secret(created["id"], created["secret"])
    assert not oauth.check_secret(created["id"], "wrong")
    shown = oauth.get_consumer(created["id"])
    assert "secret" not in shown and shown["description"] == "d"
    assert created["id"] in [c["id"] for c in oauth.list_consumers()]
    assert oauth.update_consumer(created["id"], {"description": None})["description"] is None
    oauth.delete_consumer(created["id"])
    with pytest.raises(errors.NotFound):
        oauth.get_consumer(created["id"])
    with pytest.raises(errors.NotFound):
        oauth.delete_consumer(created["id"])


def test_consumer_validation(identity: Any) -> None:
    oauth = identity.extras.oauth1
    with pytest.raises(errors.ValidationError):
        oauth.create_consumer({"description": 5})
    consumer = oauth.create_consumer({})
    assert consumer["description"] is None
    for bad in ({}, {"secret": "mine"}, {"id": "other"}, {"description": ["x"]}):
        with pytest.raises(errors.ValidationError):
            oauth.update_consumer(consumer["id"], bad)


# -- over HTTP: Tempest's OAUTHConsumersV3Test -------------------------------------------
def _create(api: httpx.Client, description: str = "tempest-like") -> dict[str, Any]:
    response = api.post("/OS-OAUTH1/consumers", json={"consumer": {"description": description}})
    assert response.status_code == 201, response.text
    return response.json()["consumer"]


def test_tempest_create_and_show_consumer(api: httpx.Client) -> None:
    consumer = _create(api)
    assert consumer["secret"]
    fetched = api.get(f"/OS-OAUTH1/consumers/{consumer['id']}").json()["consumer"]
    for key in ("description", "id", "links"):
        assert consumer[key] == fetched[key]
    assert "secret" not in fetched
    assert fetched["links"]["self"].endswith(f"/v3/OS-OAUTH1/consumers/{consumer['id']}")


def test_tempest_delete_consumer(api: httpx.Client) -> None:
    consumer = _create(api)
    assert api.get(f"/OS-OAUTH1/consumers/{consumer['id']}").json()["consumer"]["id"] == consumer["id"]
    assert api.delete(f"/OS-OAUTH1/consumers/{consumer['id']}").status_code == 204
    assert api.get(f"/OS-OAUTH1/consumers/{consumer['id']}").status_code == 404


def test_tempest_update_consumer(api: httpx.Client) -> None:
    consumer = _create(api)
    response = api.patch(f"/OS-OAUTH1/consumers/{consumer['id']}", json={"consumer": {"description": "new"}})
    assert response.status_code == 200, response.text
    assert api.get(f"/OS-OAUTH1/consumers/{consumer['id']}").json()["consumer"]["description"] == "new"


def test_tempest_list_consumers(api: httpx.Client) -> None:
    one, two = _create(api), _create(api)
    ids = [c["id"] for c in api.get("/OS-OAUTH1/consumers").json()["consumers"]]
    assert one["id"] in ids and two["id"] in ids


def test_http_errors(api: httpx.Client) -> None:
    consumer = _create(api)
    assert api.patch(f"/OS-OAUTH1/consumers/{consumer['id']}",
                     json={"consumer": {"secret": "x"}}).status_code == 400
    assert api.post("/OS-OAUTH1/consumers", json={"consumer": {"description": 1}}).status_code == 400
    assert api.post("/OS-OAUTH1/consumers", json={}).status_code == 400
    assert api.patch("/OS-OAUTH1/consumers/nope", json={"consumer": {"description": "x"}}).status_code == 404
