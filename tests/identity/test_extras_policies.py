"""/v3/policies and OS-ENDPOINT-POLICY associations."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from monostack.common import errors


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_policy_crud(identity: Any) -> None:
    pol = identity.extras.policies
    kind = _name()
    created = pol.create_policy({"blob": "{}", "type": kind, "owner": "ops"})
    assert created == {"id": created["id"], "blob": "{}", "type": kind, "owner": "ops"}
    assert pol.get_policy(created["id"]) == created
    assert [p["id"] for p in pol.list_policies({"type": kind})] == [created["id"]]
    assert pol.list_policies({"type": _name()}) == []
    updated = pol.update_policy(created["id"], {"type": "text/plain", "owner": "dev"})
    assert (updated["type"], updated["blob"], updated["owner"]) == ("text/plain", "{}", "dev")
    pol.delete_policy(created["id"])
    with pytest.raises(errors.NotFound):
        pol.get_policy(created["id"])
    with pytest.raises(errors.NotFound):
        pol.delete_policy(created["id"])


@pytest.mark.parametrize("ref", [{}, {"blob": "x"}, {"type": "t"}, {"blob": 1, "type": "t"},
                                 {"blob": "x", "type": "t" * 256}, {"blob": "x", "type": None}])
def test_policy_create_validation(identity: Any, ref: dict[str, Any]) -> None:
    with pytest.raises(errors.ValidationError):
        identity.extras.policies.create_policy(ref)


def test_policy_update_validation(identity: Any) -> None:
    pol = identity.extras.policies
    created = pol.create_policy({"blob": "x", "type": "t"})
    for bad in ({}, {"blob": 5}, {"id": "other"}):
        with pytest.raises(errors.ValidationError):
            pol.update_policy(created["id"], bad)


@pytest.fixture
def topology(identity: Any) -> dict[str, Any]:
    """RegionOne > child region; a service with an endpoint in the child and one without region."""
    cat = identity.catalog
    child = cat.create_region({"parent_region_id": "RegionOne"}, _name())
    service = cat.create_service({"type": "image"})
    in_child = cat.create_endpoint({"service_id": service["id"], "interface": "public", "url": "http://a",
                                    "region_id": child["id"]})
    nowhere = cat.create_endpoint({"service_id": service["id"], "interface": "internal", "url": "http://b"})
    return {"child": child, "service": service, "in_child": in_child, "nowhere": nowhere}


def test_policy_for_endpoint_resolution(identity: Any, topology: dict[str, Any]) -> None:
    pol = identity.extras.policies
    by_service = pol.create_policy({"blob": "s", "type": "t"})
    by_region = pol.create_policy({"blob": "r", "type": "t"})
    by_endpoint = pol.create_policy({"blob": "e", "type": "t"})
    sid, ep = topology["service"]["id"], topology["in_child"]["id"]
    with pytest.raises(errors.NotFound):
        pol.policy_for_endpoint(ep)
    pol.associate(by_service["id"], service_id=sid)
    assert pol.policy_for_endpoint(ep)["id"] == by_service["id"]
    pol.associate(by_region["id"], service_id=sid, region_id="RegionOne")  # the parent region counts
    assert pol.policy_for_endpoint(ep)["id"] == by_region["id"]
    assert pol.policy_for_endpoint(topology["nowhere"]["id"])["id"] == by_service["id"]
    pol.associate(by_endpoint["id"], endpoint_id=ep)
    assert pol.policy_for_endpoint(ep)["id"] == by_endpoint["id"]
    pol.check_association(by_endpoint["id"], endpoint_id=ep)
    with pytest.raises(errors.NotFound):
        pol.check_association(by_service["id"], endpoint_id=ep)
    # Endpoints a policy applies to: through the region tree, or the whole service.
    assert [e["id"] for e in pol.endpoints_for_policy(by_region["id"])] == [ep]
    assert {e["id"] for e in pol.endpoints_for_policy(by_service["id"])} == {ep, topology["nowhere"]["id"]}
    # A target has one policy: associating another replaces it.
    pol.associate(by_service["id"], endpoint_id=ep)
    assert pol.policy_for_endpoint(ep)["id"] == by_service["id"]
    pol.dissociate(by_service["id"], endpoint_id=ep)
    pol.dissociate(by_service["id"], endpoint_id=ep)  # 204 again, as Keystone
    assert pol.policy_for_endpoint(ep)["id"] == by_region["id"]
    pol.delete_policy(by_region["id"])  # its associations go with it
    assert pol.policy_for_endpoint(ep)["id"] == by_service["id"]


def test_association_targets_must_exist(identity: Any, topology: dict[str, Any]) -> None:
    pol = identity.extras.policies
    policy = pol.create_policy({"blob": "x", "type": "t"})
    with pytest.raises(errors.NotFound):
        pol.associate(policy["id"], endpoint_id="nope")
    with pytest.raises(errors.NotFound):
        pol.associate(policy["id"], service_id=topology["service"]["id"], region_id="nope")
    with pytest.raises(errors.NotFound):
        pol.associate("nope", service_id=topology["service"]["id"])
    with pytest.raises(errors.NotFound):
        pol.policy_for_endpoint("nope")


# -- over HTTP ---------------------------------------------------------------------------
def test_http_policies_like_tempest(api: Any) -> None:
    created = api.post("/policies", json={"policy": {"blob": "b", "type": "t1"}})
    assert created.status_code == 201, created.text
    policy = created.json()["policy"]
    assert policy["links"]["self"].endswith(f"/v3/policies/{policy['id']}")
    updated = api.patch(f"/policies/{policy['id']}", json={"policy": {"type": "t2"}}).json()["policy"]
    assert updated["type"] == "t2"
    shown = api.get(f"/policies/{policy['id']}").json()["policy"]
    assert (shown["blob"], shown["type"]) == ("b", "t2")
    assert policy["id"] in [p["id"] for p in api.get("/policies").json()["policies"]]
    assert api.post("/policies", json={"policy": {"blob": "b"}}).status_code == 400
    assert api.patch(f"/policies/{policy['id']}", json={"policy": {}}).status_code == 400
    assert api.delete(f"/policies/{policy['id']}").status_code == 204
    assert api.get(f"/policies/{policy['id']}").status_code == 404


def test_http_endpoint_policy(api: Any) -> None:
    service = api.post("/services", json={"service": {"type": _name()}}).json()["service"]
    ref = {"service_id": service["id"], "interface": "public", "url": "http://x", "region_id": "RegionOne"}
    endpoint = api.post("/endpoints", json={"endpoint": ref}).json()["endpoint"]
    policy = api.post("/policies", json={"policy": {"blob": "b", "type": "t"}}).json()["policy"]
    base = f"/policies/{policy['id']}/OS-ENDPOINT-POLICY"
    assert api.get(f"/endpoints/{endpoint['id']}/OS-ENDPOINT-POLICY/policy").status_code == 404
    for target in (f"/endpoints/{endpoint['id']}", f"/services/{service['id']}",
                   f"/services/{service['id']}/regions/RegionOne"):
        assert api.get(f"{base}{target}").status_code == 404
        assert api.put(f"{base}{target}").status_code == 204
        assert api.head(f"{base}{target}").status_code == 204
        assert api.get(f"{base}{target}").status_code == 204
    shown = api.get(f"/endpoints/{endpoint['id']}/OS-ENDPOINT-POLICY/policy").json()["policy"]
    assert shown["id"] == policy["id"] and shown["links"]["self"].endswith(f"/policies/{policy['id']}")
    assert [e["id"] for e in api.get(f"{base}/endpoints").json()["endpoints"]] == [endpoint["id"]]
    assert api.delete(f"{base}/endpoints/{endpoint['id']}").status_code == 204
    assert api.put(f"{base}/services/{service['id']}/regions/nope").status_code == 404
    assert api.put(f"/policies/nope/OS-ENDPOINT-POLICY/services/{service['id']}").status_code == 404
    assert api.delete(f"/policies/{policy['id']}").status_code == 204
    assert api.get(f"/endpoints/{endpoint['id']}/OS-ENDPOINT-POLICY/policy").status_code == 404
