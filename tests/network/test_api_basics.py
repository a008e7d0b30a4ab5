"""The Networking API through the real HTTP app: versions, errors, networks, subnets,
policy, filters, fields, sorting, pagination, tags, extensions."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import ALT_PROJECT, DEMO_PROJECT


async def make_net(api: Any, token: str = "demo", **fields: Any) -> dict[str, Any]:
    r = await api.as_(token).post("/networks", json={"network": {"name": "n", **fields}})
    assert r.status_code == 201, r.text
    return r.json()["network"]


async def make_subnet(api: Any, net: dict[str, Any], cidr: str = "10.0.0.0/24", token: str = "demo",
                      **fields: Any) -> dict[str, Any]:
    body = {"network_id": net["id"], "cidr": cidr, "ip_version": 6 if ":" in cidr else 4, **fields}
    r = await api.as_(token).post("/subnets", json={"subnet": body})
    assert r.status_code == 201, r.text
    return r.json()["subnet"]


def error_type(response: Any) -> str:
    return response.json()["NeutronError"]["type"]


async def test_versions_and_resources(api: Any) -> None:
    r = await api.get("/")
    assert r.status_code == 200
    assert r.json()["versions"][0]["id"] == "v2.0"
    assert r.json()["versions"][0]["links"][0]["href"] == "http://network.test/v2.0/"
    r = await api.get("/v2.0")
    assert {"name": "network", "collection": "networks"}.items() <= r.json()["resources"][0].items()


async def test_unauthenticated_and_not_found(api: Any) -> None:
    r = await api.as_("nobody").get("/networks")
    assert r.status_code == 401
    r = await api.get("/networks/4e8e5957-649f-477b-9e5b-f1f75b21c03c")
    assert r.status_code == 404
    assert r.json() == {"NeutronError": {"type": "NetworkNotFound", "detail": "",
                                         "message": "Network 4e8e5957-649f-477b-9e5b-f1f75b21c03c could not be found."}}


async def test_network_defaults_and_admin_only_attributes(api: Any) -> None:
    net = await make_net(api)
    assert net["status"] == "ACTIVE" and net["mtu"] == 1450 and net["shared"] is False
    assert net["router:external"] is False and net["port_security_enabled"] is True
    assert net["project_id"] == DEMO_PROJECT == net["tenant_id"]
    assert net["revision_number"] == 0 and net["created_at"].endswith("Z") and net["tags"] == []
    assert "provider:network_type" not in net  # admin-only attribute
    shown = (await api.get(f"/networks/{net['id']}")).json()["network"]
    assert shown["provider:network_type"] == "vxlan" and shown["provider:segmentation_id"] >= 1
    r = await api.as_("demo").post("/networks", json={"network": {"shared": True}})
    assert r.status_code == 403 and error_type(r) == "PolicyNotAuthorized"
    r = await api.as_("demo").post("/networks", json={"network": {"project_id": ALT_PROJECT}})
    assert r.status_code == 403


async def test_bad_bodies(api: Any) -> None:
    r = await api.post("/networks", json={"network": {"bogus": 1}})
    assert r.status_code == 400 and error_type(r) == "HTTPBadRequest"
    assert "Unrecognized attribute(s) 'bogus'" in r.json()["NeutronError"]["message"]
    r = await api.post("/networks", json={"network": {"admin_state_up": "maybe"}})
    assert r.status_code == 400
    r = await api.post("/networks", content=b"{not json")
    assert r.status_code == 400
    r = await api.post("/networks", json={"net": {}})
    assert r.status_code == 400
    r = await api.put("/networks/x", json={"network": {"status": "DOWN"}})
    assert r.status_code == 400


async def test_provider_networks_and_segments(api: Any) -> None:
    flat = await make_net(api, "admin", **{"provider:network_type": "flat", "provider:physical_network": "public"})
    assert flat["provider:segmentation_id"] is None and flat["mtu"] == 1500
    r = await api.post("/networks", json={"network": {"provider:network_type": "flat",
                                                      "provider:physical_network": "public"}})
    assert r.status_code == 409 and error_type(r) == "FlatNetworkInUse"
    vlan = await make_net(api, "admin", **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                           "provider:segmentation_id": 1234})
    assert vlan["provider:segmentation_id"] == 1234
    r = await api.post("/networks", json={"network": {"provider:network_type": "vlan",
                                                      "provider:physical_network": "physnet1",
                                                      "provider:segmentation_id": 1234}})
    assert r.status_code == 409 and error_type(r) == "VlanIdInUse"
    a, b = await make_net(api), await make_net(api)
    ids = [(await api.get(f"/networks/{n['id']}")).json()["network"]["provider:segmentation_id"] for n in (a, b)]
    assert ids[0] != ids[1]
    r = await api.delete(f"/networks/{vlan['id']}")
    assert r.status_code == 204
    again = await make_net(api, "admin", **{"provider:network_type": "vlan", "provider:physical_network": "physnet1",
                                            "provider:segmentation_id": 1234})
    assert again["provider:segmentation_id"] == 1234


async def test_visibility_shared_and_update(api: Any) -> None:
    private = await make_net(api, "demo", name="mine")
    assert (await api.as_("alt").get(f"/networks/{private['id']}")).status_code == 404
    assert private["id"] not in [n["id"] for n in (await api.as_("alt").get("/networks")).json()["networks"]]
    shared = await make_net(api, "admin", name="shared", shared=True)
    seen = (await api.as_("alt").get(f"/networks/{shared['id']}")).json()["network"]
    assert seen["shared"] is True
    r = await api.as_("alt").put(f"/networks/{shared['id']}", json={"network": {"name": "x"}})
    assert r.status_code == 403
    r = await api.as_("demo").put(f"/networks/{private['id']}", json={"network": {"name": "renamed"}})
    assert r.status_code == 200 and r.json()["network"]["name"] == "renamed"
    assert r.json()["network"]["revision_number"] == 1
    r = await api.as_("demo").put(f"/networks/{private['id']}", json={"network": {"name": "y"}},
                                  headers={"If-Match": "revision_number=0"})
    assert r.status_code == 412
    r = await api.as_("reader").put(f"/networks/{private['id']}", json={"network": {"name": "z"}})
    assert r.status_code == 403
    r = await api.as_("alt").delete(f"/networks/{private['id']}")
    assert r.status_code == 404


async def test_filters_fields_sorting_pagination(api: Any) -> None:
    for name in ("c", "a", "b", "d"):
        await make_net(api, name=name, admin_state_up=name != "d")
    r = await api.as_("demo").get("/networks", params=[("name", "a"), ("name", "b")])
    assert sorted(n["name"] for n in r.json()["networks"]) == ["a", "b"]
    r = await api.as_("demo").get("/networks", params={"admin_state_up": "false"})
    assert [n["name"] for n in r.json()["networks"]] == ["d"]
    r = await api.as_("demo").get("/networks", params=[("fields", "id"), ("fields", "name")])
    assert all(set(n) == {"id", "name"} for n in r.json()["networks"])
    r = await api.as_("demo").get("/networks", params={"sort_key": "name", "sort_dir": "desc"})
    assert [n["name"] for n in r.json()["networks"]] == ["d", "c", "b", "a"]
    r = await api.as_("demo").get("/networks", params={"sort_key": "bogus"})
    assert r.status_code == 400
    r = await api.as_("demo").get("/networks", params={"sort_key": "name", "limit": 3})
    body = r.json()
    assert [n["name"] for n in body["networks"]] == ["a", "b", "c"]
    nxt = [link for link in body["networks_links"] if link["rel"] == "next"][0]["href"]
    assert "marker=" in nxt
    r = await api.as_("demo").get(nxt.split("network.test")[1])
    body = r.json()
    assert [n["name"] for n in body["networks"]] == ["d"]
    assert [link["rel"] for link in body["networks_links"]] == ["previous"]


async def test_tags(api: Any) -> None:
    net = await make_net(api)
    base = f"/networks/{net['id']}/tags"
    assert (await api.as_("demo").put(base, json={"tags": ["red", "blue"]})).json() == {"tags": ["red", "blue"]}
    assert (await api.as_("demo").put(f"{base}/green")).status_code == 201
    assert (await api.as_("demo").get(f"{base}/green")).status_code == 204
    assert (await api.as_("demo").get(f"{base}/pink")).status_code == 404
    assert (await api.as_("demo").delete(f"{base}/red")).status_code == 204
    assert (await api.as_("demo").get(base)).json()["tags"] == ["blue", "green"]
    other = await make_net(api)
    r = await api.as_("demo").get("/networks", params={"tags": "blue,green"})
    assert [n["id"] for n in r.json()["networks"]] == [net["id"]]
    r = await api.as_("demo").get("/networks", params={"not-tags-any": "blue"})
    assert net["id"] not in [n["id"] for n in r.json()["networks"]] and other["id"] in [
        n["id"] for n in r.json()["networks"]]
    assert (await api.as_("alt").put(f"{base}/x")).status_code == 404
    assert (await api.as_("demo").delete(base)).status_code == 204
    assert (await api.as_("demo").get(base)).json()["tags"] == []


async def test_extensions(api: Any) -> None:
    r = await api.get("/extensions")
    aliases = {e["alias"] for e in r.json()["extensions"]}
    assert {"router", "security-group", "binding", "quotas", "external-net"} <= aliases
    assert "dns-integration" not in aliases
    assert (await api.get("/extensions/router")).json()["extension"]["alias"] == "router"
    assert (await api.get("/extensions/nope")).status_code == 404


async def test_bulk_create(api: Any) -> None:
    r = await api.as_("demo").post("/networks", json={"networks": [{"name": "b1"}, {"name": "b2"}]})
    assert r.status_code == 201 and [n["name"] for n in r.json()["networks"]] == ["b1", "b2"]
