"""Hypervisors through the API: list, detail, show, statistics, search, servers and uptime,
per microversion."""

from __future__ import annotations

import socket

from tests.compute.api.harness import add_node, add_server, add_service


def two_hosts(svc):
    add_service(svc, "compute1")
    add_service(svc, "compute2", disabled=True, disabled_reason="broken")
    one = add_node(svc, "compute1", vcpus_used=2, memory_mb_used=1024, local_gb_used=10, running_vms=1)
    two = add_node(svc, "compute2")
    add_node(svc, "orphan")  # no service: not shown
    add_server(svc, host="compute1", display_name="busy", task_state="rebooting")
    return one, two


async def test_list_and_detail(compute_api, compute_svc) -> None:
    one, two = two_hosts(compute_svc)
    listed = (await compute_api.get("/os-hypervisors")).json()["hypervisors"]
    assert listed == [
        {"id": one.id, "hypervisor_hostname": "compute1.example.org", "state": "up", "status": "enabled"},
        {"id": two.id, "hypervisor_hostname": "compute2.example.org", "state": "up", "status": "disabled"}]
    detail = (await compute_api.get("/os-hypervisors/detail")).json()["hypervisors"][0]
    assert detail["vcpus"] == 8 and detail["vcpus_used"] == 2 and detail["free_ram_mb"] == 16384 - 1024
    assert detail["free_disk_gb"] == 90 and detail["current_workload"] == 1 and detail["running_vms"] == 1
    assert detail["service"] == {"id": detail["service"]["id"], "host": "compute1", "disabled_reason": None}
    assert isinstance(detail["cpu_info"], str) and detail["host_ip"] == "192.0.2.10"
    assert (await compute_api.get("/os-hypervisors/detail", version="2.28")).json()["hypervisors"][0][
        "cpu_info"] == {"arch": "x86_64", "model": "host"}
    v288 = (await compute_api.get("/os-hypervisors/detail", version="2.88")).json()["hypervisors"][0]
    assert "vcpus" not in v288 and "uptime" in v288 and v288["id"] == one.uuid
    assert (await compute_api.as_("demo").get("/os-hypervisors")).status_code == 403


async def test_pages_patterns_and_servers(compute_api, compute_svc) -> None:
    one, two = two_hosts(compute_svc)
    page = (await compute_api.get("/os-hypervisors?limit=1", version="2.33")).json()
    assert [h["id"] for h in page["hypervisors"]] == [one.id]
    assert f"marker={one.id}" in page["hypervisors_links"][0]["href"]
    rest = (await compute_api.get(f"/os-hypervisors?marker={one.id}", version="2.33")).json()
    assert [h["id"] for h in rest["hypervisors"]] == [two.id]
    assert (await compute_api.get("/os-hypervisors?marker=999", version="2.33")).status_code == 400
    api = compute_api.at("2.53")
    matched = (await api.get("/os-hypervisors?hypervisor_hostname_pattern=compute2")).json()["hypervisors"]
    assert [h["id"] for h in matched] == [two.uuid]
    assert (await api.get("/os-hypervisors?hypervisor_hostname_pattern=nope")).status_code == 404
    assert (await api.get("/os-hypervisors?hypervisor_hostname_pattern=c&limit=1")).status_code == 400
    with_servers = (await api.get("/os-hypervisors?with_servers=true")).json()["hypervisors"]
    assert with_servers[0]["servers"][0]["name"] == "busy" and "servers" not in with_servers[1]
    assert (await compute_api.get("/os-hypervisors?with_servers=1", version="2.75")).json()["hypervisors"][1][
        "servers"] == []
    assert (await api.get("/os-hypervisors?with_servers=maybe")).status_code == 400
    # Before 2.53: the search and servers routes.
    searched = (await compute_api.get("/os-hypervisors/compute1/search")).json()["hypervisors"]
    assert [h["hypervisor_hostname"] for h in searched] == ["compute1.example.org"]
    servers = (await compute_api.get("/os-hypervisors/compute/servers")).json()["hypervisors"]
    assert servers[0]["servers"][0]["name"] == "busy"
    assert (await compute_api.get("/os-hypervisors/zzz/search")).status_code == 404
    assert (await api.get("/os-hypervisors/compute1/search")).status_code == 404


async def test_show_statistics_and_uptime(compute_api, compute_svc) -> None:
    one, two = two_hosts(compute_svc)
    shown = (await compute_api.get(f"/os-hypervisors/{one.id}")).json()["hypervisor"]
    assert shown["hypervisor_hostname"] == "compute1.example.org" and shown["memory_mb_used"] == 1024
    assert (await compute_api.get("/os-hypervisors/12345")).status_code == 404
    assert (await compute_api.get("/os-hypervisors/abc")).status_code == 404
    assert (await compute_api.get(f"/os-hypervisors/{one.id}", version="2.53")).status_code == 400
    v253 = (await compute_api.get(f"/os-hypervisors/{one.uuid}?with_servers=true", version="2.53")).json()
    assert v253["hypervisor"]["servers"][0]["name"] == "busy"
    stats = (await compute_api.get("/os-hypervisors/statistics")).json()["hypervisor_statistics"]
    assert stats["count"] == 1 and stats["vcpus"] == 8 and stats["current_workload"] == 1  # compute2 is disabled
    assert (await compute_api.get("/os-hypervisors/statistics", version="2.88")).status_code == 404
    local = socket.gethostname()
    add_service(compute_svc, local)
    here = add_node(compute_svc, local)
    uptime = (await compute_api.get(f"/os-hypervisors/{here.id}/uptime")).json()["hypervisor"]
    assert " up " in uptime["uptime"] and "load average" in uptime["uptime"]
    assert (await compute_api.get(f"/os-hypervisors/{one.id}/uptime")).status_code == 501
