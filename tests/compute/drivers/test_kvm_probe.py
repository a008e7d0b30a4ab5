"""The accelerator probe: KVM only when a probe guest really runs under it.

Fake `qemu-system` scripts stand in for the three behaviours seen on hosts:
a guest that hangs under KVM (nested virtualisation here), one that aborts,
and one that works. One real boot under TCG checks the probe's boot sector.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import time

import pytest

from monostack.compute.drivers import accelerator, kvm_probe, process


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path):
    kvm_probe.forget()
    monkeypatch.setenv("MONOSTACK_RUNTIME_DIR", str(tmp_path / "run"))  # this test's own per-boot memory
    monkeypatch.delenv("MONOSTACK_COMPUTE__ACCELERATOR", raising=False)
    monkeypatch.setattr(kvm_probe, "kvm_device_usable", lambda: True)  # the probe must boot, whatever the host
    yield
    kvm_probe.forget()


def fake_qemu(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    """An executable named qemu-system-x86_64 that logs each run (its pid and args) and does body."""
    script = tmp_path / "qemu-system-x86_64"
    script.write_text(f"#!/bin/sh\necho \"$$ $*\" >> {tmp_path}/runs\n{body}\n")
    script.chmod(0o755)
    return script


def runs(tmp_path: pathlib.Path) -> list[str]:
    log = tmp_path / "runs"
    return log.read_text().splitlines() if log.exists() else []


async def test_hanging_kvm_falls_back_to_tcg(tmp_path: pathlib.Path) -> None:
    qemu = fake_qemu(tmp_path, "exec sleep 60")  # /dev/kvm opened, the guest never gets anywhere
    started = time.monotonic()
    assert await kvm_probe.probe_accelerator(str(qemu), timeout=1.5) == "tcg"
    assert time.monotonic() - started < 10
    (run,) = runs(tmp_path)
    pid, args = int(run.split()[0]), run.split()[1:]
    assert args[:2] == ["-accel", "kvm"] and "-cpu" in args and args[args.index("-cpu") + 1] == "host"
    assert not process.alive(pid), "the hanging probe guest was left running"


async def test_aborting_kvm_falls_back_to_tcg(tmp_path: pathlib.Path) -> None:
    qemu = fake_qemu(tmp_path, "echo 'error: failed to set MSR 0x10a' >&2; kill -ABRT $$")
    assert await kvm_probe.probe_accelerator(str(qemu), timeout=10) == "tcg"


async def test_marker_without_debug_exit_is_not_enough(tmp_path: pathlib.Path) -> None:
    qemu = fake_qemu(tmp_path, "echo MONOSTACK-ACCEL-PROBE-OK; exit 0")
    assert await kvm_probe.probe_accelerator(str(qemu), timeout=10) == "tcg"


async def test_working_kvm_is_used(tmp_path: pathlib.Path) -> None:
    qemu = fake_qemu(tmp_path, "echo MONOSTACK-ACCEL-PROBE-OK; exit 99")
    assert await kvm_probe.probe_accelerator(str(qemu), timeout=10) == "kvm"


async def test_no_kvm_device_means_tcg_without_a_boot(tmp_path: pathlib.Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kvm_probe, "kvm_device_usable", lambda: False)
    qemu = fake_qemu(tmp_path, "echo MONOSTACK-ACCEL-PROBE-OK; exit 99")
    assert await kvm_probe.probe_accelerator(str(qemu), timeout=10) == "tcg"
    assert runs(tmp_path) == []


async def test_probe_is_cached_per_process(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qemu = fake_qemu(tmp_path, "exec sleep 60")
    monkeypatch.setenv("MONOSTACK_COMPUTE__QEMU_BINARY", str(qemu))
    monkeypatch.setenv("MONOSTACK_COMPUTE__ACCEL_PROBE_TIMEOUT", "1")
    assert await accelerator() == "tcg"
    assert await accelerator() == "tcg"
    assert len(runs(tmp_path)) == 1


async def test_probe_is_remembered_for_this_boot(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restarted cloud (a new process) does not wait for a hanging KVM probe again."""
    qemu = fake_qemu(tmp_path, "exec sleep 60")
    monkeypatch.setenv("MONOSTACK_COMPUTE__QEMU_BINARY", str(qemu))
    monkeypatch.setenv("MONOSTACK_COMPUTE__ACCEL_PROBE_TIMEOUT", "1")
    assert await accelerator() == "tcg"
    kvm_probe.forget()  # as a new process
    started = time.monotonic()
    assert await accelerator() == "tcg"
    assert time.monotonic() - started < 0.5 and len(runs(tmp_path)) == 1
    qemu.write_text(qemu.read_text().replace("exec sleep 60", "echo MONOSTACK-ACCEL-PROBE-OK; exit 99"))
    os.utime(qemu, ns=(time.time_ns(), time.time_ns() + 10**9))  # another QEMU binary: probed anew
    kvm_probe.forget()
    assert await accelerator() == "kvm"
    assert len(runs(tmp_path)) == 2


@pytest.mark.parametrize("forced", ["kvm", "tcg"])
async def test_override_skips_the_probe(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                        forced: str) -> None:
    qemu = fake_qemu(tmp_path, "exec sleep 60")
    monkeypatch.setenv("MONOSTACK_COMPUTE__QEMU_BINARY", str(qemu))
    monkeypatch.setenv("MONOSTACK_COMPUTE__ACCELERATOR", forced)
    assert await accelerator() == forced
    assert runs(tmp_path) == []


async def test_override_from_config(tmp_path: pathlib.Path) -> None:
    from monostack.common.config import Config
    conf = Config(tmp_path, environ={}, overrides={"compute": {"accelerator": "tcg"}})
    assert await accelerator(conf) == "tcg"
    assert await accelerator(conf.compute) == "tcg"  # a driver may be handed the [compute] section
    with pytest.raises(ValueError):
        await accelerator(Config(tmp_path, environ={}, overrides={"compute": {"accelerator": "xen"}}))


@pytest.mark.qemu
async def test_probe_guest_boots_under_tcg() -> None:
    """The boot sector really reaches its marker (so a KVM that runs it is a KVM that works)."""
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 missing")
    assert await kvm_probe.boots_under("qemu-system-x86_64", "tcg", 60)


@pytest.mark.qemu
async def test_real_probe_answers(tmp_path: pathlib.Path) -> None:
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 missing")
    kvm_probe.forget()
    choice = await kvm_probe.probe_accelerator("qemu-system-x86_64", timeout=15)
    assert choice in ("kvm", "tcg")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        assert choice == "tcg"
