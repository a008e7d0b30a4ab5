"""The [volume] options the volume drivers and the backup stores read.

The rest of [volume] (which driver, backends, the scheduler, ...) belongs to
the volume service; these options join the same section (config.register is
additive).  Names follow Cinder's where Cinder has one.
"""

from __future__ import annotations

from typing import Any

from monostack.common.config import FLOAT, INT, Opt, config_of, register

register(
    "volume",
    Opt("file_volume_format", "qcow2", "file driver: the format of new volumes, qcow2 (thin, snapshots and clones "
        "are backing chains) or raw (every snapshot and clone is a full, reflinked where possible, copy)."),
    Opt("file_max_chain_depth", 5, "file driver: the most files a volume's backing chain may have (the volume's "
        "own file counted); a clone, snapshot or volume from a snapshot that would make it longer is flattened "
        "(Cinder's rbd_max_clone_depth).", INT),
    Opt("file_convert_coroutines", 16, "file driver: parallel coroutines of qemu-img convert (-m); writes go "
        "out of order (-W).", INT),
    Opt("file_max_over_subscription_ratio", 20.0, "file driver: reported with the capacity, for the "
        "scheduler (thin provisioning; Cinder's max_over_subscription_ratio).", FLOAT),
    Opt("fake_total_gb", 100000, "fake driver: the capacity the simulated backend reports.", INT),
    Opt("backup_chunk_size_mb", 32, "Backups cut a volume into chunks of this size; an incremental backup "
        "stores only the chunks whose sha256 changed (Cinder's backup_file_size).", INT),
    Opt("backup_compression", "zlib", "Compression of backup chunks: zlib or none "
        "(Cinder's backup_compression_algorithm)."),
    Opt("backup_swift_container", "volumebackups", "The Object Storage container backups go to "
        "(Cinder's backup_swift_container)."),
)


config = config_of  # the Config a driver was given (see common.config.config_of)


def option(conf: Any, name: str) -> Any:
    """[volume] <name> from the driver's conf (see config)."""
    return config(conf).get("volume", name)
