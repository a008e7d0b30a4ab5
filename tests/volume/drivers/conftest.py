"""Helpers of the volume driver and backup tests: write and check a volume's bytes with qemu-io
(the tool QEMU ships for exactly that), independently of the code under test."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
from typing import Any

import pytest

from monostack.common.config import Config

MiB = 1024 ** 2
GiB = 1024 ** 3


def need_tools() -> None:
    if not all(shutil.which(t) for t in ("qemu-img", "qemu-io")):
        pytest.skip("qemu-utils (qemu-img, qemu-io) missing")


def make_conf(tmp: pathlib.Path, **volume: Any) -> Config:
    return Config(tmp, environ=dict(os.environ), overrides={"volume": volume})


def fmt_of(path: pathlib.Path) -> str:
    return path.suffix[1:] if path.suffix in (".qcow2", ".raw") else "raw"


def qemu_io(path: pathlib.Path, *commands: str, fmt: str | None = None) -> str:
    argv = ["qemu-io", "-f", fmt or fmt_of(path)]
    for command in commands:
        argv += ["-c", command]
    out = subprocess.run(argv + [str(path)], capture_output=True, text=True, check=True)
    return out.stdout + out.stderr


def write(path: pathlib.Path, pattern: int, offset: int, length: int, fmt: str | None = None) -> None:
    out = qemu_io(path, f"write -P {pattern:#x} {offset} {length}", fmt=fmt)
    assert "wrote" in out, out


def holds(path: pathlib.Path, pattern: int, offset: int, length: int, fmt: str | None = None) -> bool:
    """Whether the guest-visible bytes [offset, offset+length) all equal pattern."""
    out = qemu_io(path, f"read -P {pattern:#x} {offset} {length}", fmt=fmt)
    return "read " in out and "Pattern verification failed" not in out


def digest(path: pathlib.Path, fmt: str | None = None) -> str:
    """sha256 of the guest-visible bytes (through qemu-img convert to raw)."""
    raw = path.with_name(path.name + ".digest.raw")
    try:
        subprocess.run(["qemu-img", "convert", "-U", "-f", fmt or fmt_of(path), "-O", "raw", str(path), str(raw)],
                       check=True, capture_output=True)
        h = hashlib.sha256()
        with open(raw, "rb") as f:
            while block := f.read(4 * MiB):
                h.update(block)
        return h.hexdigest()
    finally:
        raw.unlink(missing_ok=True)


def img_info(path: pathlib.Path, fmt: str | None = None) -> dict[str, Any]:
    return json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", "-f", fmt or fmt_of(path),
                                      str(path)], check=True, capture_output=True, text=True).stdout)


def chain_names(path: pathlib.Path) -> list[str]:
    out = json.loads(subprocess.run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", "-f",
                                     fmt_of(path), str(path)], check=True, capture_output=True, text=True).stdout)
    return [pathlib.Path(i["filename"]).name for i in out]
