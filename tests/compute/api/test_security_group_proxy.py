"""Nova's security group proxy (/os-security-groups and friends) on a cloud with the
Networking service: groups and rules made through Compute are Neutron's, in Nova's shapes."""

from __future__ import annotations

from typing import Iterator

import httpx
import pytest

from tests.conftest import RunningCloud, own_cloud


@pytest.fixture(scope="module")
def net_cloud(tmp_path_factory: pytest.TempPathFactory, db_backend: str) -> Iterator[RunningCloud]:
    yield from own_cloud(tmp_path_factory, db_backend, "sgproxy", extra_env={
        "MONOSTACK_DEFAULT__SERVICES": "identity,image,placement,compute,network",
        "MONOSTACK_COMPUTE__DRIVER": "fake"})


def test_groups_and_rules_through_compute_are_neutrons(net_cloud: RunningCloud) -> None:
    token = net_cloud.token("monostack")
    nova = httpx.Client(base_url=f"{net_cloud.url}/compute/v2.1", headers={"X-Auth-Token": token}, timeout=30)
    neutron = httpx.Client(base_url=f"{net_cloud.url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=30)
    made = nova.post("/os-security-groups", json={"security_group": {"name": "web", "description": "http"}})
    assert made.status_code == 200, made.text
    group = made.json()["security_group"]
    assert group["name"] == "web" and group["rules"] == []
    assert neutron.get(f"/security-groups/{group['id']}").json()["security_group"]["name"] == "web"

    rule = nova.post("/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 80, "to_port": 80,
        "cidr": "10.0.0.0/8"}})
    assert rule.status_code == 200, rule.text
    view = rule.json()["security_group_rule"]
    assert (view["ip_protocol"], view["from_port"], view["to_port"], view["ip_range"]) == (
        "tcp", 80, 80, {"cidr": "10.0.0.0/8"})
    again = nova.post("/os-security-group-rules", json={"security_group_rule": {
        "parent_group_id": group["id"], "ip_protocol": "tcp", "from_port": 80, "to_port": 80,
        "cidr": "10.0.0.0/8"}})
    assert again.status_code == 400  # Nova's answer to a duplicate rule
    shown = nova.get(f"/os-security-groups/{group['id']}").json()["security_group"]
    assert [r["id"] for r in shown["rules"]] == [view["id"]]
    assert group["id"] in [g["id"] for g in nova.get("/os-security-groups").json()["security_groups"]]

    default = next(g for g in nova.get("/os-security-groups").json()["security_groups"] if g["name"] == "default")
    assert nova.delete(f"/os-security-groups/{default['id']}").status_code == 400
    assert nova.delete(f"/os-security-group-rules/{view['id']}").status_code == 202
    assert nova.delete(f"/os-security-groups/{group['id']}").status_code == 202
    assert neutron.get(f"/security-groups/{group['id']}").status_code == 404
    assert nova.get(f"/os-security-groups/{group['id']}").status_code == 404
    # Gone from 2.36, as in Nova.
    assert nova.get("/os-security-groups", headers={"OpenStack-API-Version": "compute 2.36"}).status_code == 404
