"""Claims racing for the same capacity: exactly as many win as fit, on every database backend."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

from monostack.common import errors
from monostack.placement.service import ConsumerWrite
from tests.placement.helpers import allocate, make_provider, new_uuid

RACERS = 16


def _race(svc, writes_per_racer):
    """Run each racer's write in its own thread, all released at once; the outcome of each."""
    barrier = threading.Barrier(len(writes_per_racer))

    def run(writes):
        barrier.wait()
        try:
            svc.allocations.replace(writes, check_generation=True, set_type=True)
            return "won"
        except errors.Conflict:
            return "conflict"

    with concurrent.futures.ThreadPoolExecutor(len(writes_per_racer)) as pool:
        return list(pool.map(run, writes_per_racer))


def test_racing_for_the_last_unit_one_wins(placement_service):
    svc = placement_service
    rp = svc.providers.create(new_uuid(), "last-slot")
    svc.inventories.replace(rp["uuid"], 0, {"VCPU": {"total": 4}, "MEMORY_MB": {"total": 4096}})
    # Three of four VCPUs already taken.
    svc.allocations.replace([ConsumerWrite(new_uuid(), {rp["uuid"]: {"VCPU": 3}}, project_id="p", user_id="u")],
                            check_generation=True, set_type=False)
    outcomes = _race(svc, [[ConsumerWrite(new_uuid(), {rp["uuid"]: {"VCPU": 1, "MEMORY_MB": 256}}, project_id="p",
                                          user_id="u", consumer_type="INSTANCE")] for _ in range(RACERS)])
    assert outcomes.count("won") == 1, outcomes
    _, usages = svc.allocations.provider_usages(rp["uuid"])
    assert usages == {"VCPU": 4, "MEMORY_MB": 256}
    _, consumers = svc.allocations.for_provider(rp["uuid"])
    assert len(consumers) == 2
    assert svc.allocations.resync_usage() == 0  # the sums kept match the rows


def test_racing_across_providers_in_both_orders(placement_service):
    """Claims spanning two providers, named in either order, racing for a capacity of 5 on each:
    five win, none fail with anything but a conflict (no deadlock surfaces as an error)."""
    svc = placement_service
    a = svc.providers.create(new_uuid(), "pair-a")["uuid"]
    b = svc.providers.create(new_uuid(), "pair-b")["uuid"]
    for rp in (a, b):
        svc.inventories.replace(rp, 0, {"VCPU": {"total": 5}})
    writes = []
    for i in range(RACERS):
        first, second = (a, b) if i % 2 else (b, a)
        writes.append([ConsumerWrite(new_uuid(), {first: {"VCPU": 1}, second: {"VCPU": 1}}, project_id="p",
                                     user_id="u", consumer_type="INSTANCE")])
    outcomes = _race(svc, writes)
    assert outcomes.count("won") == 5, outcomes
    for rp in (a, b):
        assert svc.allocations.provider_usages(rp)[1] == {"VCPU": 5}


def test_racing_writes_of_one_consumer_generation_one_wins(placement_service):
    svc = placement_service
    rp = svc.providers.create(new_uuid(), "gen")["uuid"]
    svc.inventories.replace(rp, 0, {"VCPU": {"total": 100}})
    consumer = new_uuid()
    svc.allocations.replace([ConsumerWrite(consumer, {rp: {"VCPU": 1}}, project_id="p", user_id="u")],
                            check_generation=True, set_type=False)
    outcomes = _race(svc, [[ConsumerWrite(consumer, {rp: {"VCPU": n + 2}}, project_id="p", user_id="u", generation=1,
                                          consumer_type="INSTANCE")] for n in range(8)])
    assert outcomes.count("won") == 1, outcomes
    assert svc.allocations.for_consumer(consumer)["consumer_generation"] == 2


async def test_racing_over_http_for_the_last_unit(client):
    rp = await make_provider(client, inventories={"VCPU": {"total": 2}})
    assert (await allocate(client, new_uuid(), {rp: {"VCPU": 1}})).status_code == 204
    responses = await asyncio.gather(*(allocate(client, new_uuid(), {rp: {"VCPU": 1}}) for _ in range(RACERS)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [204] + [409] * (RACERS - 1), statuses
    assert (await client.get(f"/resource_providers/{rp}/usages")).json()["usages"] == {"VCPU": 2}
