"""AggregateManager: zones of hosts for the scheduler and the servers API."""

from __future__ import annotations

from tests.compute.api.harness import add_service, compute_db_url, compute_svc, make_compute_svc  # noqa: F401


def test_zones_of_hosts(make_compute_svc) -> None:
    svc = make_compute_svc(compute={"default_availability_zone": "main"})
    for host in ("c1", "c2", "c3"):
        add_service(svc, host)
    east = svc.aggregates.create("east", "zone-east")
    plain = svc.aggregates.create("plain")
    svc.aggregates.add_host(east["id"], "c1")
    svc.aggregates.add_host(plain["id"], "c1")
    svc.aggregates.add_host(plain["id"], "c2")
    svc.aggregates.set_metadata(plain["id"], {"filter_tenant_id": "p1"})
    assert svc.aggregates.zone_of_host("c1") == "zone-east"
    assert svc.aggregates.zone_of_host("c2") == "main"
    assert svc.aggregates.zone_of_host("unknown") == "main"
    assert svc.aggregates.hosts_in_zone("zone-east") == {"c1"}
    assert svc.aggregates.hosts_in_zone("main") == {"c2", "c3"}
    assert svc.aggregates.hosts_in_zone("nowhere") == set()
    assert svc.aggregates.zones_of_hosts() == {"c1": "zone-east", "c2": "main", "c3": "main"}
    aggregates = svc.aggregates.aggregates_of_host("c1")
    assert [a["name"] for a in aggregates] == ["east", "plain"]
    assert aggregates[1] == {**aggregates[1], "uuid": plain["uuid"], "metadata": {"filter_tenant_id": "p1"},
                             "hosts": ["c1", "c2"]}
    assert svc.aggregates.aggregates_of_host("c3") == []


class FakePlacement:
    """A test double of the PlacementClient's aggregate calls."""

    def __init__(self, failing: bool = False) -> None:
        self.aggregates: dict[str, set[str]] = {}
        self.failing = failing

    async def get_aggregates(self, uuid: str) -> dict:
        if self.failing:
            raise RuntimeError("placement is down")
        return {"aggregates": sorted(self.aggregates.get(uuid, set())), "resource_provider_generation": 1}

    async def set_aggregates(self, uuid: str, aggregates) -> None:
        self.aggregates[uuid] = set(aggregates)


async def test_membership_is_mirrored_to_placement(compute_svc) -> None:
    from tests.compute.api.harness import add_node

    add_service(compute_svc, "c1")
    node = add_node(compute_svc, "c1")
    compute_svc.placement = FakePlacement()
    compute_svc.placement.aggregates[node.uuid] = {"sharing-aggregate"}
    one = compute_svc.aggregates.create("one")
    two = compute_svc.aggregates.create("two")
    compute_svc.aggregates.add_host(one["id"], "c1")
    await compute_svc.aggregates.sync_placement("c1")
    compute_svc.aggregates.add_host(two["id"], "c1")
    await compute_svc.aggregates.sync_placement("c1")
    assert compute_svc.placement.aggregates[node.uuid] == {"sharing-aggregate", one["uuid"], two["uuid"]}
    compute_svc.aggregates.remove_host(one["id"], "c1")
    await compute_svc.aggregates.sync_placement("c1", removed=one["uuid"])
    assert compute_svc.placement.aggregates[node.uuid] == {"sharing-aggregate", two["uuid"]}
    compute_svc.placement = FakePlacement(failing=True)
    await compute_svc.aggregates.sync_placement("c1")  # logged, not raised
