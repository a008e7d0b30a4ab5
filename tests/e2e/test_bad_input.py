"""Bad requests against /identity/v3, over raw HTTP: each must get Keystone's status
code and error body {"error": {"code", "title", "message"}}, never a 5xx, and
carry an x-openstack-request-id (req-<uuid>) that the cloud's log file names."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Iterator

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

REQUEST_ID = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
          405: "Method Not Allowed", 409: "Conflict", 413: "Request Entity Too Large"}
MAX_BODY = 114688
SEEN_REQUEST_IDS: list[tuple[str, str]] = []  # (URL, request id) of every response checked


def unique(prefix: str) -> str:
    return f"e2e-bad-{prefix}-{uuid.uuid4().hex[:10]}"


def check_request_id(response: httpx.Response) -> str:
    request_id = response.headers.get("x-openstack-request-id", "")
    assert REQUEST_ID.match(request_id), (response.request.method, response.request.url, response.headers)
    SEEN_REQUEST_IDS.append((str(response.request.url), request_id))
    return request_id


def assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Keystone's error: the status, {"error": {"code", "title", "message"}}, a request id."""
    request = f"{response.request.method} {response.request.url}"
    assert response.status_code < 500, f"{request}: server error {response.status_code} {response.text}"
    assert response.status_code == status, f"{request}: {response.status_code} {response.text}"
    check_request_id(response)
    if response.request.method == "HEAD":
        assert response.content == b""
        return {}
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) == {"code", "title", "message"}, error
    assert error["code"] == status and error["title"] == TITLES[status], error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def assert_unauthorized(cloud: Any, response: httpx.Response) -> dict[str, Any]:
    error = assert_error(response, 401)
    assert response.headers.get("www-authenticate") == f'Keystone uri="{cloud.auth_url}"', response.headers
    return error


@pytest.fixture
def anon(cloud) -> Iterator[httpx.Client]:
    """No token."""
    with httpx.Client(base_url=f"{cloud.auth_url}/v3", timeout=30) as client:
        yield client


def password_auth(name: str, password: Any, scope: Any = None, domain: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": name, "domain": domain if domain is not None else {"id": "default"}, "password": password}}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return body


def admin_password(cloud: Any) -> str:
    return cloud.cloud("monostack-admin")["auth"]["password"]


def create(api: httpx.Client, collection: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(f"/{collection}", json={key: body})
    assert response.status_code == 201, response.text
    check_request_id(response)
    return response.json()[key]


# -- malformed bodies -------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/projects", "/users", "/groups", "/roles", "/domains", "/regions"])
def test_malformed_json(api, path):
    response = api.post(path, content=b'{"name": ', headers={"Content-Type": "application/json"})
    assert_error(response, 400)


def test_malformed_json_on_token_issue_and_update(api, anon):
    assert_error(anon.post("/auth/tokens", content=b'{"auth": {', headers={"Content-Type": "application/json"}),
                 400)
    user = create(api, "users", "user", {"name": unique("patch")})
    assert_error(api.patch(f"/users/{user['id']}", content=b"not json",
                           headers={"Content-Type": "application/json"}), 400)
    api.delete(f"/users/{user['id']}")


@pytest.mark.parametrize("body", [[], "project", 42, None, {"project": "x"}, {"project": []},
                                  {"projects": {"name": "x"}}], ids=repr)
def test_body_not_the_expected_object(api, body):
    assert_error(api.post("/projects", json=body), 400)


def test_empty_body(api, anon):
    assert_error(api.post("/projects", content=b"", headers={"Content-Type": "application/json"}), 400)
    assert_error(anon.post("/auth/tokens", content=b"", headers={"Content-Type": "application/json"}), 400)


# -- wrong types ---------------------------------------------------------------------------------
WRONG_TYPES = [
    pytest.param("projects", "project", {"name": 123}, id="project-name-int"),
    pytest.param("projects", "project", {"name": 2**70}, id="project-name-bigint"),
    pytest.param("projects", "project", {"enabled": "yes"}, id="project-enabled-str"),
    pytest.param("projects", "project", {"is_domain": "no"}, id="project-is_domain-str"),
    pytest.param("projects", "project", {"tags": "abc"}, id="project-tags-str"),
    pytest.param("projects", "project", {"tags": [None]}, id="project-tags-null-item"),
    pytest.param("projects", "project", {"description": 5}, id="project-description-int"),
    pytest.param("projects", "project", {"description": []}, id="project-description-list"),
    pytest.param("projects", "project", {"options": "x"}, id="project-options-str"),
    pytest.param("users", "user", {"name": 123}, id="user-name-int"),
    pytest.param("users", "user", {"enabled": "yes"}, id="user-enabled-str"),
    pytest.param("users", "user", {"password": 5}, id="user-password-int"),
    pytest.param("users", "user", {"description": 5}, id="user-description-int"),
    pytest.param("users", "user", {"email": []}, id="user-email-list"),
    pytest.param("users", "user", {"email": {}}, id="user-email-object"),
    pytest.param("users", "user", {"options": {"lock_password": "x"}}, id="user-option-str"),
    pytest.param("groups", "group", {"name": []}, id="group-name-list"),
    pytest.param("groups", "group", {"description": {}}, id="group-description-object"),
    pytest.param("groups", "group", {"description": []}, id="group-description-list"),
    pytest.param("roles", "role", {"name": 5}, id="role-name-int"),
    pytest.param("roles", "role", {"description": 5}, id="role-description-int"),
    pytest.param("roles", "role", {"description": []}, id="role-description-list"),
    pytest.param("domains", "domain", {"enabled": "true"}, id="domain-enabled-str"),
    pytest.param("domains", "domain", {"name": True}, id="domain-name-bool"),
    pytest.param("domains", "domain", {"description": 5}, id="domain-description-int"),
    pytest.param("domains", "domain", {"description": []}, id="domain-description-list"),
    pytest.param("domains", "domain", {"options": [None]}, id="domain-options-list"),
    pytest.param("domains", "domain", {"explicit_domain_id": 5}, id="domain-explicit-id-int"),
    pytest.param("regions", "region", {"id": 5}, id="region-id-int"),
    pytest.param("regions", "region", {"parent_region_id": []}, id="region-parent-list"),
    pytest.param("regions", "region", {"parent_region_id": {}}, id="region-parent-object"),
    pytest.param("services", "service", {"type": []}, id="service-type-list"),
    pytest.param("services", "service", {"enabled": "x"}, id="service-enabled-str"),
    pytest.param("services", "service", {"name": []}, id="service-name-list"),
    pytest.param("services", "service", {"description": []}, id="service-description-list"),
]


def _discard(api: httpx.Client, collection: str, key: str, response: httpx.Response) -> None:
    """Delete what a request that should have failed created, so it disturbs no other test."""
    if response.status_code == 201:
        entity_id = response.json()[key]["id"]
        if key == "domain":
            api.patch(f"/domains/{entity_id}", json={"domain": {"enabled": False}})
        api.delete(f"/{collection}/{entity_id}")


@pytest.mark.parametrize("collection,key,bad", WRONG_TYPES)
def test_wrong_types_on_create(api, collection, key, bad):
    body = {"name": unique(key), **bad} if key not in ("region", "service") else dict(bad)
    if key == "service":
        body = {"type": unique("type"), **bad}
    response = api.post(f"/{collection}", json={key: body})
    _discard(api, collection, key, response)
    assert_error(response, 400)


def test_wrong_types_on_catalog_updates(api):
    region = create(api, "regions", "region", {"description": "target"})
    service = create(api, "services", "service", {"type": unique("svc")})
    endpoint = create(api, "endpoints", "endpoint", {"service_id": service["id"], "interface": "public",
                                                     "url": "http://127.0.0.1:1/"})
    assert_error(api.patch(f"/services/{service['id']}", json={"service": {"enabled": "no"}}), 400)
    assert_error(api.patch(f"/services/{service['id']}", json={"service": {"type": None}}), 400)
    assert_error(api.patch(f"/endpoints/{endpoint['id']}", json={"endpoint": {"interface": "sideways"}}), 400)
    assert_error(api.patch(f"/endpoints/{endpoint['id']}", json={"endpoint": {"enabled": "no"}}), 400)
    assert_error(api.post("/endpoints", json={"endpoint": {"service_id": service["id"], "interface": "public",
                                                          "url": 5}}), 400)
    api.delete(f"/endpoints/{endpoint['id']}")
    api.delete(f"/services/{service['id']}")
    api.delete(f"/regions/{region['id']}")


@pytest.mark.parametrize("collection,key", [("projects", "project"), ("domains", "domain")])
def test_update_with_options_not_an_object(api, collection, key):
    entity = create(api, collection, key, {"name": unique("opts")})
    try:
        for options in ("x", [None]):
            assert_error(api.patch(f"/{collection}/{entity['id']}", json={key: {"options": options}}), 400)
    finally:
        if key == "domain":
            api.patch(f"/domains/{entity['id']}", json={"domain": {"enabled": False}})
        api.delete(f"/{collection}/{entity['id']}")


def test_region_update_with_list_parent(api):
    region = create(api, "regions", "region", {"description": "target"})
    try:
        assert_error(api.patch(f"/regions/{region['id']}", json={"region": {"parent_region_id": []}}), 400)
    finally:
        api.delete(f"/regions/{region['id']}")


def test_endpoint_with_list_region(api):
    service = create(api, "services", "service", {"type": unique("svc")})
    try:
        response = api.post("/endpoints", json={"endpoint": {"service_id": service["id"], "interface": "public",
                                                            "url": "http://127.0.0.1:1/", "region": []}})
        _discard(api, "endpoints", "endpoint", response)
        assert_error(response, 400)
    finally:
        api.delete(f"/services/{service['id']}")


def test_big_integer_extra_attribute_does_not_break_the_collection(fresh_cloud):
    """An integer beyond 64 bits in an extra attribute: whatever the answer to the create, it is a
    clean one and the collection keeps answering (once, such a value was stored and then every
    response carrying it failed in orjson: 500 on GET /v3/roles for everyone)."""
    with httpx.Client(base_url=f"{fresh_cloud.auth_url}/v3", timeout=30,
                      headers={"X-Auth-Token": fresh_cloud.token("monostack-admin")}) as client:
        created = client.post("/roles", json={"role": {"name": unique("bigint"), "big": 2**70}})
        if created.status_code != 201:
            assert_error(created, 400)
        else:
            assert created.json()["role"]["big"] == 2**70
        listed = client.get("/roles")
        assert listed.status_code == 200, listed.text


def test_big_integer_extra_attribute_is_stored_as_keystone_does(fresh_cloud):
    with httpx.Client(base_url=f"{fresh_cloud.auth_url}/v3", timeout=30,
                      headers={"X-Auth-Token": fresh_cloud.token("monostack-admin")}) as client:
        created = client.post("/roles", json={"role": {"name": unique("bigint"), "big": 2**70}})
        assert created.status_code == 201, created.text
        assert created.json()["role"]["big"] == 2**70
        role_id = created.json()["role"]["id"]
        assert client.get(f"/roles/{role_id}").json()["role"]["big"] == 2**70


def test_wrong_types_on_update(api):
    project = create(api, "projects", "project", {"name": unique("upd")})
    user = create(api, "users", "user", {"name": unique("upd")})
    assert_error(api.patch(f"/projects/{project['id']}", json={"project": {"enabled": "no"}}), 400)
    assert_error(api.patch(f"/projects/{project['id']}", json={"project": {"name": 7}}), 400)
    assert_error(api.patch(f"/users/{user['id']}", json={"user": {"name": 1}}), 400)
    assert_error(api.patch(f"/users/{user['id']}", json={"user": {"enabled": "false"}}), 400)
    assert api.get(f"/projects/{project['id']}").json()["project"]["enabled"] is True
    assert api.get(f"/users/{user['id']}").json()["user"]["enabled"] is True
    api.delete(f"/projects/{project['id']}")
    api.delete(f"/users/{user['id']}")




@pytest.mark.parametrize("auth", [
    pytest.param({"identity": {"methods": "password", "password": {}}}, id="methods-str"),
    pytest.param({"identity": {"methods": [1], "password": {}}}, id="methods-int-item"),
    pytest.param({"identity": {"methods": ["password"], "password": "secret"}}, id="password-str"),
    pytest.param({"identity": {"methods": ["password"], "password": {"user": "admin"}}}, id="user-str"),
    pytest.param({"identity": {"methods": ["token"], "token": {"id": 5}}}, id="token-id-int"),
    pytest.param(password_auth("admin", "x", scope={"system": {"all": "yes"}})["auth"], id="system-all-str"),
    pytest.param(password_auth("admin", 123)["auth"], id="password-int"),
    pytest.param(password_auth(123, "x")["auth"], id="user-name-int"),
    pytest.param(password_auth("admin", "x", domain={"id": 5})["auth"], id="user-domain-id-int"),
    pytest.param(password_auth("admin", "x", scope={"project": {"id": 5}})["auth"], id="scope-project-id-int"),
])
def test_wrong_types_on_token_issue(anon, auth):
    assert_error(anon.post("/auth/tokens", json={"auth": auth}), 400)


# -- missing required fields ----------------------------------------------------------------------
@pytest.mark.parametrize("collection,key", [("projects", "project"), ("users", "user"), ("groups", "group"),
                                            ("roles", "role"), ("domains", "domain")])
def test_missing_required_fields(api, collection, key):
    assert_error(api.post(f"/{collection}", json={}), 400)
    assert_error(api.post(f"/{collection}", json={key: {}}), 400)
    assert_error(api.post(f"/{collection}", json={key: {"description": "no name"}}), 400)


def test_missing_required_catalog_fields(api):
    assert_error(api.post("/services", json={"service": {"name": "no type"}}), 400)
    assert_error(api.post("/endpoints", json={"endpoint": {"interface": "public"}}), 400)


@pytest.mark.parametrize("body", [
    pytest.param({}, id="no-auth"),
    pytest.param({"auth": {}}, id="no-identity"),
    pytest.param({"auth": {"identity": {}}}, id="no-methods"),
    pytest.param({"auth": {"identity": {"methods": ["password"]}}}, id="no-password-member"),
    pytest.param({"auth": {"identity": {"methods": ["password"], "password": {}}}}, id="no-user"),
    pytest.param({"auth": {"identity": {"methods": ["token"], "token": {}}}}, id="no-token-id"),
    pytest.param({"auth": {"identity": {"methods": ["password"], "password": {"user": {"password": "x"}}}}},
                 id="user-without-id-or-name"),
])
def test_missing_required_fields_on_token_issue(anon, body):
    assert_error(anon.post("/auth/tokens", json=body), 400)


# -- scopes ------------------------------------------------------------------------------------
def test_unknown_scope(cloud, anon):
    password = admin_password(cloud)
    assert_error(anon.post("/auth/tokens", json=password_auth("admin", password, {"galaxy": {"id": "x"}})), 400)
    both = {"project": {"name": "admin", "domain": {"id": "default"}}, "system": {"all": True}}
    assert_error(anon.post("/auth/tokens", json=password_auth("admin", password, both)), 400)
    assert_error(anon.post("/auth/tokens", json=password_auth("admin", password, {"project": {}})), 400)
    assert_error(anon.post("/auth/tokens", json=password_auth("admin", password, {"system": {"all": "yes"}})), 400)
    # Well-formed scopes naming nothing that exists: 401, as Keystone.
    for scope in ({"project": {"id": uuid.uuid4().hex}},
                  {"project": {"name": unique("nope"), "domain": {"id": "default"}}},
                  {"domain": {"id": uuid.uuid4().hex}},
                  {"domain": {"name": unique("nope")}}):
        assert_unauthorized(cloud, anon.post("/auth/tokens", json=password_auth("admin", password, scope)))


# -- size limit --------------------------------------------------------------------------------
def test_oversized_body_is_413(api, anon):
    padding = "a" * (MAX_BODY + 1)
    assert_error(api.post("/projects", json={"project": {"name": unique("big"), "description": padding}}), 413)
    assert_error(anon.post("/auth/tokens", json={"auth": {"padding": padding}}), 413)
    user = create(api, "users", "user", {"name": unique("big")})
    assert_error(api.patch(f"/users/{user['id']}", json={"user": {"description": padding}}), 413)
    api.delete(f"/users/{user['id']}")
    # Just under the limit is not refused for its size.
    small = create(api, "projects", "project", {"name": unique("fits"), "description": "a" * 100_000})
    api.delete(f"/projects/{small['id']}")


def _chunks(total: int, prefix: bytes, suffix: bytes) -> Iterator[bytes]:
    yield prefix
    sent = 0
    while sent < total:
        yield b"a" * 8192
        sent += 8192
    yield suffix


def test_oversized_chunked_body_is_413(api, anon):
    headers = {"Content-Type": "application/json"}
    response = api.post("/projects", headers=headers,
                        content=_chunks(MAX_BODY + 1, b'{"project": {"name": "x", "description": "', b'"}}'))
    assert_error(response, 413)
    response = anon.post("/auth/tokens", headers=headers, content=_chunks(MAX_BODY + 1, b'{"auth": "', b'"}'))
    assert_error(response, 413)


# -- authentication failures ----------------------------------------------------------------------
def test_wrong_password_and_unknown_user(cloud, anon):
    wrong = assert_unauthorized(cloud, anon.post("/auth/tokens", json=password_auth("admin", "wrong")))
    unknown = assert_unauthorized(cloud, anon.post("/auth/tokens", json=password_auth(unique("ghost"), "x")))
    by_id = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": uuid.uuid4().hex, "password": "x"}}}}}
    unknown_id = assert_unauthorized(cloud, anon.post("/auth/tokens", json=by_id))
    # The same answer either way: no hint whether the user exists.
    assert wrong["message"] == unknown["message"] == unknown_id["message"]
    unknown_domain = password_auth("admin", admin_password(cloud), domain={"name": unique("nodomain")})
    assert_unauthorized(cloud, anon.post("/auth/tokens", json=unknown_domain))
    bad_token = {"auth": {"identity": {"methods": ["token"], "token": {"id": "not-a-token"}}}}
    response = anon.post("/auth/tokens", json=bad_token)
    assert response.status_code in (401, 404)  # Keystone answers 404 for an unknown token being rescoped
    assert_error(response, response.status_code)


def test_unsupported_auth_method(cloud, anon):
    body = {"auth": {"identity": {"methods": ["magic"], "magic": {}}}}
    assert_unauthorized(cloud, anon.post("/auth/tokens", json=body))


def test_disabled_user(cloud, api, anon):
    name, password = unique("disabled"), uuid.uuid4().hex
    user = create(api, "users", "user", {"name": name, "password": password})
    assert anon.post("/auth/tokens", json=password_auth(name, password)).status_code == 201
    assert api.patch(f"/users/{user['id']}", json={"user": {"enabled": False}}).status_code == 200
    assert_unauthorized(cloud, anon.post("/auth/tokens", json=password_auth(name, password)))
    api.delete(f"/users/{user['id']}")


def test_disabled_project_scope(cloud, api, anon):
    name, password = unique("scoped"), uuid.uuid4().hex
    user = create(api, "users", "user", {"name": name, "password": password})
    project = create(api, "projects", "project", {"name": unique("off")})
    member = api.get("/roles", params={"name": "member"}).json()["roles"][0]["id"]
    assert api.put(f"/projects/{project['id']}/users/{user['id']}/roles/{member}").status_code == 204
    scope = {"project": {"id": project["id"]}}
    assert anon.post("/auth/tokens", json=password_auth(name, password, scope)).status_code == 201
    assert api.patch(f"/projects/{project['id']}", json={"project": {"enabled": False}}).status_code == 200
    assert_unauthorized(cloud, anon.post("/auth/tokens", json=password_auth(name, password, scope)))
    by_name = {"project": {"name": project["name"], "domain": {"id": "default"}}}
    assert_unauthorized(cloud, anon.post("/auth/tokens", json=password_auth(name, password, by_name)))
    api.delete(f"/projects/{project['id']}")
    api.delete(f"/users/{user['id']}")


def test_user_of_disabled_domain(cloud, api, anon):
    domain = create(api, "domains", "domain", {"name": unique("dom")})
    name, password = unique("inside"), uuid.uuid4().hex
    create(api, "users", "user", {"name": name, "password": password, "domain_id": domain["id"]})
    auth = password_auth(name, password, domain={"id": domain["id"]})
    assert anon.post("/auth/tokens", json=auth).status_code == 201
    assert api.patch(f"/domains/{domain['id']}", json={"domain": {"enabled": False}}).status_code == 200
    assert_unauthorized(cloud, anon.post("/auth/tokens", json=auth))
    assert api.delete(f"/domains/{domain['id']}").status_code == 204


# -- conflicts and unknown ids --------------------------------------------------------------------
@pytest.mark.parametrize("collection,key", [("projects", "project"), ("users", "user"), ("groups", "group"),
                                            ("roles", "role"), ("domains", "domain")])
def test_duplicate_names_conflict(api, collection, key):
    name = unique("dup")
    first = create(api, collection, key, {"name": name})
    assert_error(api.post(f"/{collection}", json={key: {"name": name}}), 409)
    listed = api.get(f"/{collection}", params={"name": name}).json()[collection]
    assert [item["id"] for item in listed] == [first["id"]]
    if key == "domain":
        api.patch(f"/domains/{first['id']}", json={"domain": {"enabled": False}})
    assert api.delete(f"/{collection}/{first['id']}").status_code == 204


def test_duplicate_rename_conflicts(api):
    a = create(api, "projects", "project", {"name": unique("a")})
    b = create(api, "projects", "project", {"name": unique("b")})
    assert_error(api.patch(f"/projects/{b['id']}", json={"project": {"name": a["name"]}}), 409)
    for project in (a, b):
        api.delete(f"/projects/{project['id']}")


@pytest.mark.parametrize("collection,key", [("projects", "project"), ("users", "user"), ("groups", "group"),
                                            ("roles", "role"), ("domains", "domain"), ("regions", "region"),
                                            ("services", "service"), ("endpoints", "endpoint")])
def test_unknown_ids_are_404(api, collection, key):
    missing = uuid.uuid4().hex
    assert_error(api.get(f"/{collection}/{missing}"), 404)
    assert_error(api.patch(f"/{collection}/{missing}", json={key: {"description": "x"}}), 404)
    assert_error(api.delete(f"/{collection}/{missing}"), 404)


def test_unknown_ids_in_relations_are_404(api):
    user = create(api, "users", "user", {"name": unique("rel")})
    project = create(api, "projects", "project", {"name": unique("rel")})
    missing = uuid.uuid4().hex
    member = api.get("/roles", params={"name": "member"}).json()["roles"][0]["id"]
    assert_error(api.put(f"/projects/{project['id']}/users/{user['id']}/roles/{missing}"), 404)
    assert_error(api.put(f"/projects/{missing}/users/{user['id']}/roles/{member}"), 404)
    assert_error(api.put(f"/projects/{project['id']}/users/{missing}/roles/{member}"), 404)
    assert_error(api.head(f"/projects/{project['id']}/users/{user['id']}/roles/{member}"), 404)
    assert_error(api.delete(f"/projects/{project['id']}/users/{user['id']}/roles/{member}"), 404)
    assert_error(api.put(f"/groups/{missing}/users/{user['id']}"), 404)
    assert_error(api.get(f"/users/{missing}/groups"), 404)
    assert_error(api.get(f"/users/{missing}/projects"), 404)
    assert_error(api.put(f"/roles/{missing}/implies/{member}"), 404)
    assert_error(api.get(f"/projects/{project['id']}/tags/{unique('tag')}"), 404)
    api.delete(f"/projects/{project['id']}")
    api.delete(f"/users/{user['id']}")


def test_unknown_route_and_method(api):
    assert_error(api.get("/no-such-collection"), 404)
    assert_error(api.put("/users"), 405)
    assert_error(api.delete("/projects"), 405)


def test_domain_enabled_cannot_be_deleted(api):
    domain = create(api, "domains", "domain", {"name": unique("on")})
    assert_error(api.delete(f"/domains/{domain['id']}"), 403)
    api.patch(f"/domains/{domain['id']}", json={"domain": {"enabled": False}})
    assert api.delete(f"/domains/{domain['id']}").status_code == 204


def test_region_put_with_conflicting_id(api):
    region_id = unique("region")
    response = api.put(f"/regions/{region_id}", json={"region": {"id": unique("other")}})
    if response.status_code == 201:
        api.delete(f"/regions/{region_id}")
    assert_error(response, 400)


# -- tokens -------------------------------------------------------------------------------------
def test_invalid_subject_token_is_404(api):
    for method in ("GET", "HEAD", "DELETE"):
        for subject in ("garbage", "gAAAAABnot-a-real-fernet-token", uuid.uuid4().hex):
            assert_error(api.request(method, "/auth/tokens", headers={"X-Subject-Token": subject}), 404)


def test_missing_auth_token_is_401(cloud, anon):
    for method, path in (("GET", "/users"), ("POST", "/projects"), ("GET", "/auth/tokens"),
                         ("GET", "/auth/catalog"), ("DELETE", f"/roles/{uuid.uuid4().hex}"),
                         ("GET", "/role_assignments")):
        kwargs = {"json": {"project": {"name": "x"}}} if method == "POST" else {}
        assert_unauthorized(cloud, anon.request(method, path, **kwargs))


def test_revoked_token(cloud, api, anon):
    issued = anon.post("/auth/tokens", json=password_auth("admin", admin_password(cloud)))
    assert issued.status_code == 201
    subject = issued.headers["x-subject-token"]
    assert api.get("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 200
    revoked = api.delete("/auth/tokens", headers={"X-Subject-Token": subject})
    assert revoked.status_code == 204
    check_request_id(revoked)
    assert_error(api.get("/auth/tokens", headers={"X-Subject-Token": subject}), 404)
    assert_error(api.head("/auth/tokens", headers={"X-Subject-Token": subject}), 404)
    assert_error(api.delete("/auth/tokens", headers={"X-Subject-Token": subject}), 404)
    assert_error(anon.get("/auth/projects", headers={"X-Auth-Token": subject}), 401)
    # A token rescoped from a revoked token is refused too.
    rescope = {"auth": {"identity": {"methods": ["token"], "token": {"id": subject}},
                        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    response = anon.post("/auth/tokens", json=rescope)
    assert response.status_code in (401, 404)
    assert_error(response, response.status_code)


def test_every_401_has_www_authenticate(cloud, api, anon):
    assert_unauthorized(cloud, anon.get("/users", headers={"X-Auth-Token": "not-a-token"}))
    issued = anon.post("/auth/tokens", json=password_auth("admin", admin_password(cloud)))
    subject = issued.headers["x-subject-token"]
    assert api.delete("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 204
    assert_unauthorized(cloud, anon.get("/users", headers={"X-Auth-Token": subject}))
    user = create(api, "users", "user", {"name": unique("pwchange"), "password": "original-1"})
    change = {"user": {"original_password": "wrong", "password": "new-password-2"}}
    assert_unauthorized(cloud, anon.post(f"/users/{user['id']}/password", json=change))
    api.delete(f"/users/{user['id']}")


# -- request ids ----------------------------------------------------------------------------------
def test_request_ids_are_unique_and_logged(cloud, api, anon):
    responses = [
        api.get("/users"),  # 200
        anon.get("/users"),  # 401
        api.get(f"/projects/{uuid.uuid4().hex}"),  # 404
        api.post("/projects", content=b"{", headers={"Content-Type": "application/json"}),  # 400
        anon.post("/auth/tokens", json=password_auth("admin", "wrong")),  # 401
        api.put("/users"),  # 405
        api.post("/projects", json={"project": {"name": "x", "description": "a" * (MAX_BODY + 1)}}),  # 413
        httpx.get(f"{cloud.auth_url}/", timeout=30),  # 300, version discovery
        httpx.get(f"{cloud.auth_url}/nowhere", timeout=30),  # 404 outside /v3
    ]
    ids = [check_request_id(r) for r in responses]
    assert len(set(ids)) == len(ids)
    assert all(r.status_code < 500 for r in responses)
    # An inbound request id does not replace the cloud's own.
    inbound = "req-" + str(uuid.uuid4())
    echoed = check_request_id(api.get("/users", headers={"X-OpenStack-Request-ID": inbound}))
    assert echoed != inbound
    ids.append(echoed)

    log = cloud.data_dir / "logs" / "monostack.log"
    deadline = time.monotonic() + 10
    while True:
        text = log.read_text(errors="replace")
        seen_here = [rid for url, rid in SEEN_REQUEST_IDS if url.startswith(cloud.url + "/")]
        missing = [rid for rid in ids + seen_here if rid not in text]
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not missing, f"request ids absent from {log}: {missing[:5]}"
    for rid, response in zip(ids, responses):
        lines = [line for line in text.splitlines() if rid in line]
        assert any(f"status: {response.status_code}" in line for line in lines), (rid, lines)


# -- random member objects -------------------------------------------------------------------------
# Keystone's own attribute names, so that the random values reach the validation of each field
# (a random key is just an extra attribute).
FIELDS = {
    "project": ["name", "description", "enabled", "domain_id", "parent_id", "is_domain", "tags", "options"],
    "user": ["name", "password", "enabled", "email", "description", "default_project_id", "domain_id",
             "options", "federated"],
    "group": ["name", "description", "domain_id"],
    "role": ["name", "description", "domain_id", "options"],
    "domain": ["name", "description", "enabled", "tags", "options", "explicit_domain_id"],
    "region": ["id", "description", "parent_region_id"],
    "service": ["type", "name", "enabled", "description"],
    "endpoint": ["interface", "url", "service_id", "region_id", "region", "enabled"],
}
COLLECTIONS = {key: f"{key}s" for key in FIELDS}
# Deterministic (derandomize) and bounded: a failure is reported as found, without minimising it.
NO_SHRINK = [Phase.explicit, Phase.generate]


def _json_values() -> Any:
    scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
               | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12)
               | st.sampled_from(["default", "", " ", "public", "RegionOne", "admin", "http://x", "\x00", "é" * 300]))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8) | st.sampled_from(
                            ["id", "name", "lock_password", "ignore_password_expiry", "idp_id", "protocols"]),
                            inner, max_size=3), max_leaves=6)


def _members(key: str) -> Any:
    fields = st.sampled_from(FIELDS[key]) | st.text(min_size=1, max_size=8)
    return st.dictionaries(fields, _json_values(), max_size=5)




@pytest.mark.parametrize("key", [pytest.param(key) if key != "service" else key for key in FIELDS])
def test_random_members_never_5xx(private_api, key):
    """Random values for every attribute of a create and an update: 4xx or success, never 5xx.
    On a private cloud: what gets stored is random."""
    api = private_api
    base = {"project": {"name": unique("target")}, "user": {"name": unique("target")},
            "group": {"name": unique("target")}, "role": {"name": unique("target")},
            "domain": {"name": unique("target")}, "region": {"description": "target"},
            "service": {"type": unique("target")}}
    if key in base:
        target = create(api, COLLECTIONS[key], key, base[key])
    else:
        service = create(api, "services", "service", {"type": unique("svc")})
        target = create(api, "endpoints", "endpoint", {"service_id": service["id"], "interface": "public",
                                                           "url": "http://127.0.0.1:1/"})

    @given(create_body=_members(key), update_body=_members(key))
    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              phases=NO_SHRINK, suppress_health_check=list(HealthCheck))
    def exercise(create_body: dict[str, Any], update_body: dict[str, Any]) -> None:
        created = api.post(f"/{COLLECTIONS[key]}", json={key: create_body})
        try:
            assert created.status_code < 500, (create_body, created.status_code, created.text)
            check_request_id(created)
            updated = api.patch(f"/{COLLECTIONS[key]}/{target['id']}", json={key: update_body})
            assert updated.status_code < 500, (update_body, updated.status_code, updated.text)
            check_request_id(updated)
        finally:
            _discard(api, COLLECTIONS[key], key, created)

    exercise()


def test_random_auth_bodies_never_5xx(private_cloud):
    cloud = private_cloud
    values = _json_values()
    password = admin_password(cloud)
    user = st.fixed_dictionaries({}, optional={
        "id": values, "name": st.just("admin") | values, "password": st.just(password) | values,
        "domain": st.fixed_dictionaries({}, optional={"id": st.just("default") | values, "name": values})
        | values})
    identity = st.fixed_dictionaries({}, optional={
        "methods": st.lists(st.sampled_from(["password", "token", "application_credential", "totp"]) | values,
                            max_size=3) | values,
        "password": st.fixed_dictionaries({}, optional={"user": user | values}) | values,
        "token": st.fixed_dictionaries({}, optional={"id": values}) | values,
        "application_credential": st.fixed_dictionaries({}, optional={
            "id": values, "name": values, "secret": values, "user": user | values}) | values})
    scope = st.fixed_dictionaries({}, optional={
        "project": st.fixed_dictionaries({}, optional={"id": values, "name": st.just("admin") | values,
                                                       "domain": values}) | values,
        "domain": values, "system": st.fixed_dictionaries({}, optional={"all": values}) | values,
        "OS-TRUST:trust": values, "unscoped": values}) | values
    auth = st.fixed_dictionaries({}, optional={"identity": identity | values, "scope": scope})

    @given(body=st.fixed_dictionaries({"auth": auth}) | values)
    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              phases=NO_SHRINK, suppress_health_check=list(HealthCheck))
    def exercise(body: Any) -> None:
        response = anon.post("/auth/tokens", json=body)
        assert response.status_code < 500, (body, response.status_code, response.text)
        if response.status_code >= 400:
            assert_error(response, response.status_code)

    with httpx.Client(base_url=f"{cloud.auth_url}/v3", timeout=30) as anon:
        exercise()
