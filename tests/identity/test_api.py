"""The Identity HTTP API as clients see it: discovery, token routes, errors, request ids."""

import re
import time

import httpx

REQ_ID = re.compile(r"^req-[0-9a-f-]{36}$")


def test_version_discovery(cloud):
    root = httpx.get(f"{cloud.auth_url}/")
    assert root.status_code == 300
    version = root.json()["versions"]["values"][0]
    assert version["id"].startswith("v3.") and version["status"] == "stable"
    assert version["links"][0]["href"] == f"{cloud.auth_url}/v3/"
    v3 = httpx.get(f"{cloud.auth_url}/v3")
    assert v3.status_code == 200 and v3.json()["version"]["media-types"][0]["base"] == "application/json"


def test_validate_returns_what_issue_returned(cloud, api):
    auth = cloud.cloud("monostack")["auth"]
    issued = httpx.post(f"{cloud.auth_url}/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": auth["username"], "domain": {"id": "default"},
                                                       "password": auth["password"]}}}}})
    assert issued.status_code == 201
    subject = issued.headers["x-subject-token"]
    validated = api.get("/auth/tokens", headers={"X-Subject-Token": subject})
    assert validated.status_code == 200 and validated.json() == issued.json()
    assert validated.headers["x-subject-token"] == subject
    catalog = validated.json()["token"]["catalog"]
    identity = next(s for s in catalog if s["type"] == "identity")
    assert {e["interface"] for e in identity["endpoints"]} == {"public", "internal", "admin"}
    assert all(e["region_id"] == "RegionOne" for e in identity["endpoints"])
    assert "catalog" not in api.get("/auth/tokens?nocatalog", headers={"X-Subject-Token": subject}).json()["token"]
    assert api.head("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 200
    assert api.delete("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 204
    assert api.get("/auth/tokens", headers={"X-Subject-Token": subject}).status_code == 404


def test_auth_scope_listings(cloud):
    token = cloud.token("monostack")
    headers = {"X-Auth-Token": token}
    projects = httpx.get(f"{cloud.auth_url}/v3/auth/projects", headers=headers).json()["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    catalog = httpx.get(f"{cloud.auth_url}/v3/auth/catalog", headers=headers).json()["catalog"]
    assert any(s["type"] == "identity" for s in catalog)
    assert httpx.get(f"{cloud.auth_url}/v3/auth/system", headers=headers).json()["system"] == []
    admin = {"X-Auth-Token": cloud.token("monostack-admin")}
    assert httpx.get(f"{cloud.auth_url}/v3/auth/system", headers=admin).json()["system"] == [{"all": True}]
    assert "default" in [d["id"] for d in httpx.get(f"{cloud.auth_url}/v3/auth/domains", headers=admin)
                         .json()["domains"]]


def test_errors_are_keystone_shaped_with_request_ids(cloud, api):
    missing = httpx.get(f"{cloud.auth_url}/v3/users")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == 401 and missing.json()["error"]["title"] == "Unauthorized"
    assert missing.headers["www-authenticate"] == f'Keystone uri="{cloud.auth_url}"'
    not_found = api.get("/users/nope")
    assert not_found.status_code == 404 and not_found.json()["error"]["title"] == "Not Found"
    bad = api.post("/projects", content=b"{not json", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == 400
    huge = api.post("/projects", json={"project": {"name": "x", "description": "y" * 200000}})
    assert huge.status_code == 413
    for response in (missing, not_found, bad, huge):
        assert REQ_ID.match(response.headers["x-openstack-request-id"])
    # The log is written by a writer thread: give it a moment.
    log_file = cloud.data_dir / "logs" / "monostack.log"
    for _ in range(50):
        if not_found.headers["x-openstack-request-id"] in log_file.read_text():
            break
        time.sleep(0.05)
    assert not_found.headers["x-openstack-request-id"] in log_file.read_text()


def test_member_is_forbidden_admin_calls(cloud):
    headers = {"X-Auth-Token": cloud.token("monostack")}
    for method, path in (("GET", "/users"), ("POST", "/projects"), ("GET", "/roles"), ("GET", "/domains")):
        response = httpx.request(method, f"{cloud.auth_url}/v3{path}", headers=headers,
                                 json={"project": {"name": "x"}} if method == "POST" else None)
        assert response.status_code == 403, (method, path, response.text)
        assert "not authorized" in response.json()["error"]["message"]
    me = httpx.get(f"{cloud.auth_url}/v3/auth/tokens", headers={**headers, "X-Subject-Token": headers["X-Auth-Token"]})
    user_id = me.json()["token"]["user"]["id"]
    assert httpx.get(f"{cloud.auth_url}/v3/users/{user_id}", headers=headers).status_code == 200


def test_openapi_schema_is_published(cloud):
    schema = httpx.get(f"{cloud.auth_url}/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/v3/auth/tokens" in schema["paths"] and "/v3/projects" in schema["paths"]
