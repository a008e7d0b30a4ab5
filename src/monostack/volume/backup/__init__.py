"""Volume backups: a chunking engine (engine.BackupEngine: full and incremental backups,
restores, deletes) over interchangeable stores (stores.DirectoryStore under
<data dir>/backups, stores.SwiftStore in Object Storage).  See engine for the format."""

from __future__ import annotations

import pathlib
from typing import Any

from monostack.volume.backup.engine import BackupEngine, BackupError, Manifest
from monostack.volume.backup.stores import BackupStore, BackupStoreError, DirectoryStore, SwiftStore
from monostack.volume.drivers.options import option

__all__ = ["BackupEngine", "BackupError", "BackupStore", "BackupStoreError", "DirectoryStore", "Manifest",
           "SwiftStore", "make_engine"]


def make_engine(conf: Any, data_dir: pathlib.Path, *, auth: Any = None) -> BackupEngine:
    """The engine over Object Storage when an auth (common.service_auth.ServiceAuth) is given and the
    cloud has one, else over <data dir>/backups.  Chunks pass through <data dir>/backups/.work."""
    data_dir = pathlib.Path(data_dir)
    store: BackupStore
    if auth is not None:
        store = SwiftStore(auth, str(option(conf, "backup_swift_container")))
    else:
        store = DirectoryStore(data_dir / "backups")
    return BackupEngine(store, data_dir / "backups" / ".work" if auth is None else data_dir / "backup-work",
                        conf=conf)
