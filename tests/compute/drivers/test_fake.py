"""FakeDriver: the in-memory double follows the real driver's state transitions."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from monostack.compute.drivers import load
from monostack.compute.drivers.base import DriverError, GuestNotFound, GuestSpec, HostResources, PowerState
from monostack.compute.drivers.fake import FakeDriver


def spec(uuid: str = "u1", **kw) -> GuestSpec:
    values = dict(uuid=uuid, name="instance-00000001", vcpus=2, memory_mb=512, root_gb=1)
    values.update(kw)
    return GuestSpec(**values)


async def test_lifecycle(tmp_path: pathlib.Path) -> None:
    driver = load("fake", tmp_path)
    assert isinstance(driver, FakeDriver)
    await driver.spawn(spec())
    assert await driver.power_state("u1") == PowerState.RUNNING
    with pytest.raises(DriverError):
        await driver.spawn(spec())
    with pytest.raises(DriverError):
        await driver.unpause("u1")
    await driver.pause("u1")
    assert await driver.power_state("u1") == PowerState.PAUSED
    await driver.unpause("u1")
    await driver.suspend("u1")
    assert await driver.power_state("u1") == PowerState.SUSPENDED
    await driver.resume(spec())
    assert await driver.power_state("u1") == PowerState.RUNNING
    await driver.power_off("u1")
    assert [(g.uuid, g.power_state) for g in await driver.list_guests()] == [("u1", PowerState.SHUTDOWN)]
    await driver.power_on(spec())
    await driver.resize(spec(root_gb=2, vcpus=4))
    await driver.revert_resize(spec())
    with pytest.raises(DriverError):
        await driver.revert_resize(spec())
    assert "login: " in await driver.console_output("u1", 1)
    diag = await driver.diagnostics("u1")
    assert diag["state"] == "running" and diag["num_cpus"] == 2
    await driver.destroy("u1")
    await driver.destroy("u1")  # idempotent
    with pytest.raises(GuestNotFound):
        await driver.power_state("u1")


async def test_console_stream_echoes(tmp_path: pathlib.Path) -> None:
    driver = FakeDriver(tmp_path)
    await driver.spawn(spec())
    stream = driver.console_stream("u1")
    reader = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0)
    await driver.console_write("u1", b"ls\r")
    assert await asyncio.wait_for(reader, 2) == b"ls\r"
    await stream.aclose()


async def test_resources_configurable_for_scale_tests(tmp_path: pathlib.Path) -> None:
    hosts = [FakeDriver(tmp_path / f"h{i}", resources=HostResources(hostname=f"host-{i}", vcpus=128,
                                                                    memory_mb=1 << 20, disk_gb=10000))
             for i in range(3)]
    await hosts[1].spawn(spec())
    res = [await h.host_resources() for h in hosts]
    assert [r.hostname for r in res] == ["host-0", "host-1", "host-2"]
    assert res[1].vcpus == 128 and res[1].vcpus_used == 2 and res[1].memory_mb_used == 512
    assert res[0].vcpus_used == 0


def test_unknown_driver(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError):
        load("xen", tmp_path)
