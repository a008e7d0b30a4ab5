"""The backup store as the volume manager uses it (see service/backups.py for the
interface), over the chunking engine of monostack.volume.backup: a volume's file
and its format come from the backend's driver."""

from __future__ import annotations

import pathlib
from typing import Any


class EngineBackupStore:
    def __init__(self, engine: Any, volume_format: str):
        self.engine = engine
        self.volume_format = volume_format

    async def backup(self, backup_id: str, volume_path: pathlib.Path, *, parent_id: str | None = None,
                     volume_id: str | None = None, volume_format: str | None = None) -> dict[str, Any]:
        """volume_format: the file's when it is not the backend's (a point-in-time copy is qcow2)."""
        parent = await self.engine.manifest(parent_id) if parent_id else None
        manifest = await self.engine.backup(backup_id, volume_id or "", volume_path,
                                            volume_format or self.volume_format, parent=parent)
        return {"object_count": manifest.stored_chunks + 1}

    async def restore(self, backup_id: str, target_path: pathlib.Path) -> None:
        await self.engine.restore(backup_id, target_path, self.volume_format)

    async def delete(self, backup_id: str) -> None:
        await self.engine.delete(backup_id)
