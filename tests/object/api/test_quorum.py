"""Quorum writes and handoffs through the proxy: a cloud whose rings have four devices
(three replicas), with primaries taken out (an unmounted device answers 507)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import time
import uuid
from typing import Iterator

import pytest

from tests.conftest import RunningCloud, _drop, _server_url, start_cloud, stop_cloud
from tests.object.api.conftest import login, object_env

DEVICES = ("d1", "d2", "d3", "d4")


def build_rings(data_dir: pathlib.Path, env: dict[str, str]) -> None:
    from monostack.common.config import Config
    from monostack.object.ring import RingBuilder, builder_path, ring_path
    from monostack.object.ring.defaults import ensure_hash_path

    conf = Config(data_dir, environ=env)
    import monostack.object.options  # noqa: F401

    ensure_hash_path(conf)
    ports = {"account": env["MONOSTACK_OBJECT__ACCOUNT_PORT"], "container": env["MONOSTACK_OBJECT__CONTAINER_PORT"],
             "object": env["MONOSTACK_OBJECT__OBJECT_PORT"]}
    for kind, port in ports.items():
        builder = RingBuilder(6, 3, 1)
        for zone, device in enumerate(DEVICES, start=1):
            builder.add_dev({"region": 1, "zone": zone, "ip": "127.0.0.1", "port": int(port), "device": device,
                             "weight": 100.0})
        builder.rebalance(seed=1)
        builder.save(builder_path(conf, kind))
        builder.write_ring(ring_path(conf, kind))
    for device in DEVICES:
        (pathlib.Path(conf.object.devices_dir) / device).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module", params=["in-process", "http"])
def quorum_cloud(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 db_backend: str) -> Iterator[RunningCloud]:
    """Once with the proxy calling the storage servers of its process directly, once over HTTP
    (as it reaches the servers of other hosts: 100 Continue, pooled connections)."""
    data_dir = tmp_path_factory.mktemp("object-quorum")
    # No replicator moving data while we look; a device back in is used again after a second.
    env = object_env(MONOSTACK_OBJECT__DAEMONS="false", MONOSTACK_OBJECT__ERROR_SUPPRESSION_INTERVAL="1",
                     MONOSTACK_OBJECT__LOCAL_DISPATCH=str(request.param == "in-process").lower())
    build_rings(data_dir, env)
    name = url = None
    if db_backend != "sqlite":
        name = f"monostack_test_{uuid.uuid4().hex[:12]}"
        url = _server_url(db_backend, name)
    running = start_cloud(data_dir, url, extra_env=env)
    try:
        yield running
    finally:
        stop_cloud(running)
        if name:
            _drop(db_backend, name)


@contextlib.contextmanager
def unmounted(cloud: RunningCloud, *devices: str) -> Iterator[None]:
    """Take devices out (as an unmounted disk: the directory is gone), put them back after."""
    base = cloud.data_dir / "object" / "devices"
    for device in devices:
        (base / device).rename(base / f"{device}.out")
    try:
        yield
    finally:
        for device in devices:
            (base / f"{device}.out").rename(base / device)
        time.sleep(1.2)  # the proxy's error suppression of those devices runs out


def primaries(cloud: RunningCloud, account: str, container: str, obj: str) -> tuple[int, list[str], list[str]]:
    from monostack.object.ring import Ring

    ring = Ring.load(cloud.data_dir / "object" / "rings" / "object.ring.gz")
    part, nodes = ring.get_nodes(account, container, obj)
    handoffs = [n["device"] for n in ring.get_more_nodes(part)]
    return part, [n["device"] for n in nodes], handoffs


def stored_on(cloud: RunningCloud, device: str, part: int) -> bool:
    """Whether the device holds data of this partition (any .data file under it)."""
    base = cloud.data_dir / "object" / "devices" / device / "objects" / str(part)
    return any(path.suffix == ".data" for path in base.rglob("*")) if base.exists() else False


def test_write_with_a_primary_down_goes_to_a_handoff(quorum_cloud: RunningCloud) -> None:
    user = login(quorum_cloud, "demo")
    with user.client() as api:
        container = f"q-{uuid.uuid4().hex[:8]}"
        assert api.put(f"/{container}").status_code == 201
        part, devices, handoffs = primaries(quorum_cloud, user.account, container, "obj")
        data = os.urandom(50_000)
        with unmounted(quorum_cloud, devices[0]):
            put = api.put(f"/{container}/obj", content=data)
            assert put.status_code == 201
            assert put.headers["etag"] == hashlib.md5(data).hexdigest()
            # The read moves on past the missing device.
            for _ in range(3):
                assert api.get(f"/{container}/obj").content == data
        assert stored_on(quorum_cloud, handoffs[0], part), "the handoff did not take the missing primary's copy"
        assert not stored_on(quorum_cloud, devices[0], part)
        big = os.urandom(3 * 1024 * 1024)  # streamed (100-continue) rather than sent at once
        with unmounted(quorum_cloud, devices[1]):
            assert api.put(f"/{container}/obj", content=big).status_code == 201
            assert api.get(f"/{container}/obj").content == big


def test_reads_and_writes_with_two_primaries_down(quorum_cloud: RunningCloud) -> None:
    user = login(quorum_cloud, "demo")
    with user.client() as api:
        container = f"q-{uuid.uuid4().hex[:8]}"
        assert api.put(f"/{container}").status_code == 201
        part, devices, _handoffs = primaries(quorum_cloud, user.account, container, "obj")
        assert api.put(f"/{container}/obj", content=b"before").status_code == 201
        with unmounted(quorum_cloud, devices[0], devices[1]):
            # One primary and the handoff: still a quorum of two.
            assert api.put(f"/{container}/obj", content=b"after").status_code == 201
            assert api.get(f"/{container}/obj").content == b"after"
        with unmounted(quorum_cloud, *DEVICES[:]):
            assert api.put(f"/{container}/obj2", content=b"nowhere").status_code == 503
            assert api.get(f"/{container}/obj").status_code == 503


def test_container_listing_follows_the_writes(quorum_cloud: RunningCloud) -> None:
    user = login(quorum_cloud, "demo")
    with user.client() as api:
        container = f"q-{uuid.uuid4().hex[:8]}"
        assert api.put(f"/{container}").status_code == 201
        for i in range(5):
            assert api.put(f"/{container}/o{i}", content=b"x" * i).status_code == 201
        listing = api.get(f"/{container}", params={"format": "json"}).json()
        assert [o["name"] for o in listing] == [f"o{i}" for i in range(5)]
        head = api.head(f"/{container}")
        assert head.headers["x-container-object-count"] == "5"
        assert head.headers["x-container-bytes-used"] == str(sum(range(5)))
