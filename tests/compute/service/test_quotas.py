"""QuotaManager: the order limits are found in, the server quota check the servers API
runs in its create transaction (Nova's messages), headroom, and per-user limits."""

from __future__ import annotations

import pytest

from monostack.common import errors
from monostack.compute import models
from tests.compute.api.harness import (add_server, compute_db_url, compute_svc, count_rows,  # noqa: F401
                                       make_compute_svc, server_row)


def test_limits_come_from_user_project_class_then_options(make_compute_svc) -> None:
    svc = make_compute_svc(quota={"instances": 7})
    assert svc.quotas.limit("p", "instances") == 7
    assert svc.quotas.limit("p", "floating_ips") == -1
    svc.quotas.update_class("default", {"instances": 8})
    assert svc.quotas.limit("p", "instances") == 8
    svc.quotas.update("p", {"instances": 9})
    assert svc.quotas.limit("p", "instances") == 9
    svc.quotas.update("p", {"instances": 4}, user_id="u")
    assert svc.quotas.limit("p", "instances", "u") == 4
    assert svc.quotas.limit("p", "instances", "other") == 9
    svc.quotas.delete("p")
    assert svc.quotas.limit("p", "instances", "u") == 8


def test_check_servers_counts_live_servers(compute_svc) -> None:
    add_server(compute_svc, project_id="p", vcpus=16, ram=1024)
    add_server(compute_svc, project_id="p", vcpus=16, ram=1024, deleted=True)
    with compute_svc.db.writer() as session:
        compute_svc.quotas.check_servers(session, "p", "u", instances=1, cores=4, ram=512)
        with pytest.raises(errors.Forbidden) as caught:
            compute_svc.quotas.check_servers(session, "p", "u", instances=2, cores=8, ram=512)
    assert caught.value.message == "Quota exceeded for cores: Requested 8, but already used 16 of 20 cores"
    compute_svc.quotas.update("p", {"instances": 1, "ram": 2048}, force=True)
    with compute_svc.db.writer() as session:
        with pytest.raises(errors.Forbidden) as caught:
            compute_svc.quotas.check_servers(session, "p", "u", instances=1, cores=8, ram=2048)
    assert caught.value.message == ("Quota exceeded for cores, instances, ram: Requested 8, 1, 2048, but already "
                                    "used 16, 1, 1024 of 20, 1, 2048 cores, instances, ram")


def test_user_limits_are_checked_too(compute_svc) -> None:
    add_server(compute_svc, project_id="p", user_id="u")
    compute_svc.quotas.update("p", {"instances": 1}, user_id="u")
    with compute_svc.db.writer() as session:
        compute_svc.quotas.check_servers(session, "p", "v", instances=5, cores=5, ram=5)
        with pytest.raises(errors.Forbidden, match="instances"):
            compute_svc.quotas.check_servers(session, "p", "u", instances=1, cores=1, ram=1)
        assert compute_svc.quotas.headroom(session, "p", "u", vcpus=1, ram=1) == 0
        assert compute_svc.quotas.headroom(session, "p", "v", vcpus=2, ram=128) == 9


def test_a_refused_check_rolls_back_the_callers_transaction(compute_svc) -> None:
    compute_svc.quotas.update("p", {"instances": 1})
    with pytest.raises(errors.Forbidden):
        with compute_svc.db.writer() as session:
            for _ in range(2):
                compute_svc.quotas.check_servers(session, "p", "u", instances=1, cores=1, ram=64)
                session.add(server_row(project_id="p", user_id="u", vcpus=1, ram=64, vm_state="building"))
                session.flush()
    assert count_rows(compute_svc, models.Instance) == 0


def test_metadata_limit(compute_svc) -> None:
    compute_svc.quotas.check_metadata(128, "p")
    with pytest.raises(errors.Forbidden, match="Maximum number of metadata items exceeds 128"):
        compute_svc.quotas.check_metadata(129, "p")
    compute_svc.quotas.update("p", {"metadata_items": -1})
    compute_svc.quotas.check_metadata(10000, "p")


def test_details_show_usage(compute_svc) -> None:
    add_server(compute_svc, project_id="p", user_id="u", vcpus=2, ram=256)
    add_server(compute_svc, project_id="p", user_id="v", vcpus=1, ram=64, vm_state="soft-delete")
    details = compute_svc.quotas.details("p")
    assert details["instances"] == {"limit": 10, "in_use": 1, "reserved": 0}
    assert details["cores"]["in_use"] == 2 and details["ram"]["in_use"] == 256
    assert compute_svc.quotas.details("p", "v")["instances"]["in_use"] == 0


def test_concurrent_creates_cannot_share_the_last_unit(compute_svc) -> None:
    """Two transactions check and add a server at the same time; with one unit left only one
    may pass (SQLite serialises writers; PostgreSQL and MariaDB need the project lock)."""
    import threading
    import time

    compute_svc.quotas.update("p", {"instances": 1})
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def create() -> None:
        barrier.wait()
        try:
            with compute_svc.db.writer() as session:
                compute_svc.quotas.check_servers(session, "p", "u", instances=1, cores=1, ram=64)
                session.add(server_row(project_id="p", user_id="u", vcpus=1, ram=64))
                session.flush()
                time.sleep(0.3)  # hold the transaction open while the other one checks
            outcomes.append("created")
        except errors.Forbidden:
            outcomes.append("refused")

    threads = [threading.Thread(target=create) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["created", "refused"]
    assert count_rows(compute_svc, models.Instance) == 1
