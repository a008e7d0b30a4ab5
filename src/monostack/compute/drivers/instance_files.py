"""What a guest keeps in its instance directory, by name (Nova's names for the disks).

    disk               root disk: qcow2 overlay on the cached image
    disk.eph0          ephemeral disk (raw, ext4 "ephemeral0")
    disk.swap          swap disk (raw, mkswap)
    disk.config        config drive (ISO9660 "config-2", made by the agent)
    disk.rescue        rescue disk while rescued (overlay on the rescue image)
    disk.resize-orig   the root disk as it was before a resize, until confirm/revert
    memory.state       the saved memory of a suspended guest
    console.log        serial console log (bounded), console.sock the live console
    qmp.sock           QEMU's monitor (QMP), qemu.pid its process, qemu.log its messages
    guest.json         the spec the running guest was started with (diagnostics)
    devices.json       PCI slots of its devices, taps the driver created
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any


class InstanceFiles:
    def __init__(self, directory: pathlib.Path):
        self.dir = directory
        self.root = directory / "disk"
        self.ephemeral = directory / "disk.eph0"
        self.swap = directory / "disk.swap"
        self.config_drive = directory / "disk.config"
        self.rescue = directory / "disk.rescue"
        self.resize_kept = directory / "disk.resize-orig"
        self.saved_state = directory / "memory.state"
        self.console_log = directory / "console.log"
        self.console_sock = directory / "console.sock"
        self.qmp_sock = directory / "qmp.sock"
        self.pidfile = directory / "qemu.pid"
        self.qemu_log = directory / "qemu.log"
        self.guest_json = directory / "guest.json"
        self.devices_json = directory / "devices.json"

    def transient(self) -> list[pathlib.Path]:
        """Files of a running QEMU, stale once it is gone."""
        return [self.qmp_sock, self.console_sock, self.pidfile]

    def read_json(self, path: pathlib.Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def write_json(self, path: pathlib.Path, data: dict[str, Any]) -> None:
        """Written whole then renamed: a crash leaves the old or the new file, never half of one."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
