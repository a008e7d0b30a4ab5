"""The service layer without HTTP: the scheduler's choice by capacity, zone and backend name,
heartbeats, and quota counting."""

import datetime

import pytest

from monostack.common.context import RequestContext
from monostack.volume import models
from monostack.volume.service.hosts import NoValidBackend
from tests.volume.harness import DEMO_PROJECT


def ctx():
    return RequestContext(user_id="demo-user", project_id=DEMO_PROJECT, roles=["member", "reader"])


def report(svc, backend, zone="nova", **cap):
    capacity = {"total_gb": 100.0, "free_gb": 100.0, "thin_provisioning": True, "max_over_subscription_ratio": 1.0,
                "volume_backend_name": backend.partition("@")[2], **cap}
    svc.hosts.report(backend, "cinder-volume", zone, capacity)


def schedule(svc, size, zone=None, specs=None):
    with svc.db.reader() as session:
        return svc.hosts.schedule(session, size, zone, specs or {})


def test_scheduler_picks_most_free_backend(make_volume_svc):
    svc = make_volume_svc()
    report(svc, "a@file", free_gb=10.0)
    report(svc, "b@file", free_gb=50.0)
    assert schedule(svc, 1).backend == "b@file"
    assert schedule(svc, 1).host == "b@file#file"


def test_scheduler_filters_zone_backend_name_and_disabled(make_volume_svc):
    svc = make_volume_svc()
    report(svc, "a@fast", zone="az1")
    report(svc, "b@slow", zone="az2")
    assert schedule(svc, 1, zone="az1").backend == "a@fast"
    assert schedule(svc, 1, specs={"volume_backend_name": "slow"}).backend == "b@slow"
    svc.hosts.set_enabled("b@slow", "cinder-volume", False, "maintenance")
    with pytest.raises(NoValidBackend):
        schedule(svc, 1, specs={"volume_backend_name": "slow"})


def test_scheduler_respects_over_subscription_and_thick_free_space(make_volume_svc):
    svc = make_volume_svc()
    report(svc, "thin@file", total_gb=10.0, free_gb=10.0, max_over_subscription_ratio=2.0)
    assert schedule(svc, 20).backend == "thin@file"
    with pytest.raises(NoValidBackend):
        schedule(svc, 21)
    report(svc, "thick@file", total_gb=10.0, free_gb=5.0, thin_provisioning=False)
    with svc.db.reader() as session:
        assert svc.hosts.schedule(session, 5, None, {"volume_backend_name": "file"}).free_gb >= 5


def test_scheduler_counts_provisioned_volumes(make_volume_svc):
    svc = make_volume_svc()
    report(svc, "a@file", total_gb=10.0, free_gb=10.0, max_over_subscription_ratio=1.0)
    svc.volumes.create(ctx(), {"size": 8})
    with pytest.raises(NoValidBackend):
        schedule(svc, 3)


def test_stale_heartbeat_means_down(make_volume_svc):
    svc = make_volume_svc()
    report(svc, "a@file")
    with svc.db.writer() as session:
        row = session.query(models.Service).filter_by(host="a@file").one()
        row.updated_at = row.updated_at - datetime.timedelta(seconds=600)
    assert [s.host for s in svc.hosts.list() if svc.hosts.is_up(s)] == []
    assert svc.hosts.zones() == [("nova", False)]
    row = svc.volumes.create(ctx(), {"size": 1})
    assert row.status == "error" and row.status_reason == "No valid backend was found."


async def test_manager_heartbeat_reports_driver_capacity(vol):
    services = vol.hosts.list(binary="cinder-volume")
    assert [s.host for s in services] == ["testhost@fake"]
    assert services[0].capacity["total_gb"] > 0 and services[0].capacity["volume_backend_name"] == "fake"


def test_quota_usage_counts_rows(make_volume_svc):
    svc = make_volume_svc()
    report(svc, "a@fake")
    svc.volumes.create(ctx(), {"size": 2})
    svc.volumes.create(ctx(), {"size": 3})
    usage = svc.quotas.show(DEMO_PROJECT, usage=True)
    assert usage["volumes"]["in_use"] == 2 and usage["gigabytes"]["in_use"] == 5
    assert usage["volumes___DEFAULT__"]["in_use"] == 2


def test_scheduler_matches_type_capabilities(make_volume_svc):
    from monostack.volume.service.hosts import satisfies

    caps = {"storage_protocol": "file", "vendor_name": "Monostack", "multiattach": True, "total_gb": 100}
    assert satisfies(caps, {"multiattach": "<is> True", "capabilities:storage_protocol": "file"})
    assert satisfies(caps, {"vendor_name": "<or> Other <or> Monostack", "total_gb": ">= 50", "RESKEY:x": "y"})
    assert not satisfies(caps, {"vendor_name": "Open Source"})
    assert not satisfies(caps, {"unknown_capability": "1"})
    svc = make_volume_svc()
    report(svc, "a@file", vendor_name="Monostack", storage_protocol="file")
    with pytest.raises(NoValidBackend):
        schedule(svc, 1, specs={"storage_protocol": "iSCSI"})
    assert schedule(svc, 1, specs={"storage_protocol": "file"}).backend == "a@file"


async def test_two_backends_on_one_host(make_volume_svc):
    """enabled_backends: one manager per backend; a type's volume_backend_name picks one."""
    from tests.volume.harness import start_manager

    svc = make_volume_svc()
    await start_manager(svc, backend="fast")
    await start_manager(svc, backend="slow")
    assert sorted(s.host for s in svc.hosts.list(binary="cinder-volume")) == ["testhost@fast", "testhost@slow"]
    slow = svc.types.create("slow-type", None, True, {"volume_backend_name": "slow"})
    admin = RequestContext(user_id="admin", project_id=DEMO_PROJECT, roles=["admin"])
    row = svc.volumes.create(admin, {"size": 1, "volume_type": slow.id})
    assert row.host == "testhost@slow#slow"
    await svc.managers["testhost@slow"].create_volume(row.id)
    assert svc.volumes.get(admin, row.id).status == "available"
    assert row.id in await svc.managers["testhost@slow"].driver.list_volumes()
    assert row.id not in await svc.managers["testhost@fast"].driver.list_volumes()


def test_concurrent_creates_do_not_break_the_quota(make_volume_svc):
    """Eight creates at once against a quota of three volumes: exactly three pass (every backend)."""
    import concurrent.futures

    from monostack.volume.service.quotas import OverQuota

    svc = make_volume_svc()
    report(svc, "a@fake")
    svc.quotas.update(DEMO_PROJECT, {"volumes": 3})

    def create(_: int) -> str:
        try:
            svc.volumes.create(ctx(), {"size": 1})
            return "ok"
        except OverQuota:
            return "over"

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(create, range(8)))
    assert outcomes.count("ok") == 3 and outcomes.count("over") == 5
    assert svc.quotas.show(DEMO_PROJECT, usage=True)["volumes"]["in_use"] == 3
