"""Which accelerator QEMU guests get on this host: KVM only when it really works.

/dev/kvm opening is not enough: under nested virtualisation KVM may accept a
guest and then run it so slowly that it never boots (seen here: GRUB's LZMA
decompressor hangs for minutes), or abort on a CPU model it cannot provide.
So the probe boots a guest: a 512-byte boot sector that switches to 32-bit
protected mode, does 20 million loop iterations (a few milliseconds under a
working KVM, ~0.1 s under TCG, tens of seconds under the broken nested KVM),
writes a marker to the serial port and exits QEMU through isa-debug-exit.
KVM is used only when that finishes within the timeout with the CPU model
guests get under KVM (-cpu host); otherwise TCG.

The result is cached per process and per QEMU binary, and in a file per boot of the host
(`/run/monostack` for root, else the temp dir; MONOSTACK_RUNTIME_DIR to choose): where KVM hangs,
the probe waits its whole timeout, and a restart of the cloud should not pay that again.
Delete the file when the host's KVM changes. `[compute] accelerator`
(env MONOSTACK_COMPUTE__ACCELERATOR) = kvm or tcg skips the probe.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pathlib
import shutil
import tempfile
import weakref
from typing import Any

from monostack.compute.drivers.options import option

LOG = logging.getLogger(__name__)

MARKER = b"MONOSTACK-ACCEL-PROBE-OK"
EXIT_CODE = (0x31 << 1) | 1  # isa-debug-exit turns the byte written to its port into (value << 1) | 1

# The boot sector (GNU as, .code16 at 0x7c00):
#   cli; cld; xor ax,ax; mov ds,ax; mov ss,ax; mov sp,0x7c00
#   lgdt [gdtr]; mov eax,cr0; or eax,1; mov cr0,eax; ljmp 0x08:pm
# pm (.code32): mov ax,0x10; mov ds/es/ss,ax
#   mov ecx,20000000; xor ebx,ebx
#   1: add ebx,ecx; rol ebx,3; dec ecx; jnz 1b
#   mov esi,msg; mov dx,0x3f8; 2: lodsb; test al,al; jz 3f; out dx,al; jmp 2b
#   3: mov dx,0xf4; mov al,0x31; out dx,al; 4: hlt; jmp 4b
# gdt: null, flat 4 GiB code (0x00cf9a000000ffff), flat data (0x00cf92000000ffff)
# msg: "MONOSTACK-ACCEL-PROBE-OK\n\0"
BOOT_SECTOR_CODE = bytes.fromhex(
    "fafc31c08ed88ed0bc007c0f0116707c0f20c06683c8010f22c0ea1f7c080066b810008ed88ec08ed0b9002d3101"
    "31db01cbc1c3034975f8be767c000066baf803ac84c07403eeebf866baf400b031eef4ebfd8d7426009000000000"
    "00000000ffff0000009acf00ffff00000092cf001700587c00004d4f4e4f535441434b2d414343454c2d50524f42"
    "452d4f4b0a00")


def boot_sector() -> bytes:
    return BOOT_SECTOR_CODE.ljust(510, b"\0") + b"\x55\xaa"


_CACHE: dict[str, str] = {}
_LOCKS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def kvm_device_usable() -> bool:
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


async def boots_under(qemu: str, accel: str, timeout: float) -> bool:
    """Boot the probe sector under accel ("kvm" or "tcg"); True when it reached its marker in time."""
    cpu = ["-cpu", "host"] if accel == "kvm" else ["-cpu", "max"]
    with tempfile.TemporaryDirectory(prefix="monostack-accel-probe-") as tmp:
        disk = os.path.join(tmp, "probe.img")
        with open(disk, "wb") as f:
            f.write(boot_sector())
        argv = [qemu, "-accel", accel, *cpu, "-machine", "pc", "-m", "16", "-nodefaults", "-no-user-config",
                "-display", "none", "-drive", f"file={disk},format=raw,if=ide",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-serial", "stdio"]
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE, start_new_session=True)
        except OSError as err:
            LOG.warning("accelerator probe: cannot run %s: %s", qemu, err)
            return False
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except asyncio.TimeoutError:
            LOG.warning("accelerator probe: a %s guest did not finish within %.0fs", accel, timeout)
            return False
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    if proc.returncode == EXIT_CODE and MARKER in out:
        return True
    LOG.warning("accelerator probe: %s guest failed (exit %s): %s", accel, proc.returncode,
                err.decode(errors="replace").strip()[-500:])
    return False


async def probe_accelerator(qemu: str = "qemu-system-x86_64", timeout: float = 15.0) -> str:
    """"kvm" when /dev/kvm opens and a probe guest runs under it in time, else "tcg" (no cache)."""
    if not kvm_device_usable():
        LOG.info("accelerator: tcg (/dev/kvm cannot be opened)")
        return "tcg"
    if await boots_under(qemu, "kvm", timeout):
        LOG.info("accelerator: kvm (a probe guest ran under it)")
        return "kvm"
    LOG.warning("accelerator: tcg (/dev/kvm opens but a guest does not run under it)")
    return "tcg"


async def accelerator(conf: Any = None) -> str:
    """The accelerator guests get: "kvm" or "tcg".

    `[compute] accelerator` kvm|tcg wins; auto probes once per process (and
    QEMU binary) and remembers the answer.
    """
    choice = str(option(conf, "accelerator") or "auto").strip().lower()
    if choice in ("kvm", "tcg"):
        return choice
    if choice != "auto":
        raise ValueError(f"[compute] accelerator must be auto, kvm or tcg, not {choice!r}")
    qemu = option(conf, "qemu_binary")
    lock = _LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())  # one probe at a time
    async with lock:
        if qemu not in _CACHE:
            remembered = await asyncio.to_thread(_boot_cache_file, qemu)
            found = await asyncio.to_thread(_read, remembered) if remembered else None
            if found in ("kvm", "tcg"):
                LOG.info("accelerator: %s (probed earlier in this boot of the host: %s)", found, remembered)
                _CACHE[qemu] = found
            else:
                _CACHE[qemu] = await probe_accelerator(qemu, float(option(conf, "accel_probe_timeout")))
                if remembered:
                    await asyncio.to_thread(_write, remembered, _CACHE[qemu])
        return _CACHE[qemu]


def _boot_cache_file(qemu: str) -> pathlib.Path | None:
    """Where this boot's probe result for this QEMU binary is kept (None: cannot tell the boot or
    the binary, so no file)."""
    try:
        boot_id = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        binary = os.path.realpath(shutil.which(qemu) or qemu)
        stamp = os.stat(binary).st_mtime_ns
    except OSError:
        return None
    base = os.environ.get("MONOSTACK_RUNTIME_DIR") or (
        "/run/monostack" if os.geteuid() == 0 else os.path.join(tempfile.gettempdir(), f"monostack-{os.geteuid()}"))
    key = hashlib.sha256(f"{boot_id} {binary} {stamp}".encode()).hexdigest()[:16]
    return pathlib.Path(base) / f"accelerator-{key}"


def _read(path: pathlib.Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _write(path: pathlib.Path, value: str) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(value + "\n")
        os.replace(tmp, path)
    except OSError as err:  # a read-only runtime dir: the next start probes again
        LOG.debug("could not remember the accelerator in %s: %s", path, err)


def forget() -> None:
    """Drop the cached probe results (tests; a host whose KVM changed)."""
    _CACHE.clear()
