"""The lifecycles of volumes, attachments, snapshots and backups, with Cinder's names.

Every status change of a volume asks `VOLUME.next(status, event)`; a transition
the machine does not declare is refused with Cinder's 400 ("Invalid volume:
...").  `RECOVERY` says, per transitional status a crash can leave behind, what
`VolumeManager.recover()` does with it at start-up; the reason is recorded on
the row (`status_reason`, shown to admins, and a user message).

    creating --created--> available          creating --failed--> error
    available --reserve--> reserved --unreserve--> available
    available|reserved|in-use(multiattach) --attach_start--> attaching --attached--> in-use
    attaching --attach_failed--> available|reserved
    in-use --detach_start--> detaching --detached--> available | in-use (other attachments left)
    detaching --roll_detaching--> in-use
    available --extend--> extending --extended--> available   (in-use too, 3.42+)
    available|error|... --delete--> deleting --deleted--> (row soft deleted) | --delete_failed--> error_deleting
    available --upload--> uploading --uploaded--> available | in-use
    available --backup--> backing-up --backed_up--> available
    available --restore--> restoring-backup --restored--> available | --restore_failed--> error_restoring
    available --transfer--> awaiting-transfer --accept|cancel--> available
    available --retype--> retyping --retyped--> available
"""

from __future__ import annotations

from monostack.common import errors
from monostack.common.lifecycle import Machine

# -- volume status -----------------------------------------------------------------
CREATING = "creating"
AVAILABLE = "available"
RESERVED = "reserved"
ATTACHING = "attaching"
IN_USE = "in-use"
DETACHING = "detaching"
MAINTENANCE = "maintenance"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
ERROR_EXTENDING = "error_extending"
EXTENDING = "extending"
DOWNLOADING = "downloading"
UPLOADING = "uploading"
RETYPING = "retyping"
BACKING_UP = "backing-up"
RESTORING_BACKUP = "restoring-backup"
AWAITING_TRANSFER = "awaiting-transfer"
ERROR_RESTORING = "error_restoring"

VOLUME_STATUSES = (CREATING, AVAILABLE, RESERVED, ATTACHING, IN_USE, DETACHING, MAINTENANCE, DELETING, ERROR,
                   ERROR_DELETING, ERROR_EXTENDING, EXTENDING, DOWNLOADING, UPLOADING, RETYPING, BACKING_UP,
                   RESTORING_BACKUP, AWAITING_TRANSFER, ERROR_RESTORING)
# Statuses a volume may be deleted from (Cinder's volume.api.delete without force).
DELETABLE = (AVAILABLE, ERROR, ERROR_RESTORING, ERROR_EXTENDING, ERROR_DELETING)

# -- attach_status --------------------------------------------------------------------
ATTACHED = "attached"
DETACHED = "detached"
ATTACH_ATTACHING = "attaching"
ATTACH_DETACHING = "detaching"
ATTACH_RESERVED = "reserved"
ATTACH_ERROR_ATTACHING = "error_attaching"
ATTACH_ERROR_DETACHING = "error_detaching"
ATTACH_STATUSES = (ATTACHED, DETACHED, ATTACH_ATTACHING, ATTACH_DETACHING, ATTACH_RESERVED,
                   ATTACH_ERROR_ATTACHING, ATTACH_ERROR_DETACHING)

# -- snapshot status --------------------------------------------------------------
SNAP_CREATING = "creating"
SNAP_AVAILABLE = "available"
SNAP_DELETING = "deleting"
SNAP_ERROR = "error"
SNAP_ERROR_DELETING = "error_deleting"
SNAP_BACKING_UP = "backing-up"
SNAP_RESTORING = "restoring"
SNAPSHOT_STATUSES = (SNAP_CREATING, SNAP_AVAILABLE, SNAP_DELETING, SNAP_ERROR, SNAP_ERROR_DELETING,
                     SNAP_BACKING_UP, SNAP_RESTORING)

# -- backup status -----------------------------------------------------------------
BK_CREATING = "creating"
BK_AVAILABLE = "available"
BK_DELETING = "deleting"
BK_ERROR = "error"
BK_RESTORING = "restoring"
BK_ERROR_DELETING = "error_deleting"
BACKUP_STATUSES = (BK_CREATING, BK_AVAILABLE, BK_DELETING, BK_ERROR, BK_RESTORING, BK_ERROR_DELETING)


class InvalidVolume(errors.BadRequest):
    """Cinder's InvalidVolume: 400 'Invalid volume: ...'."""

    def __init__(self, reason: str):
        super().__init__(f"Invalid volume: {reason}")


def _invalid(machine: Machine, status: str, event: str) -> Exception:
    return InvalidVolume(f"{machine.kind} status must be one of {', '.join(sorted(machine.sources(event))) or 'none'} "
                         f"to {event} (it is {status}).")


VOLUME = Machine("Volume", _invalid)
VOLUME.add(CREATING, AVAILABLE, "created")
VOLUME.add(CREATING, ERROR, "create_failed")
VOLUME.add(AVAILABLE, RESERVED, "reserve")
VOLUME.add(RESERVED, AVAILABLE, "unreserve")
# Multiattach volumes go back to attaching from in-use; the API checks multiattach first.
VOLUME.add((AVAILABLE, RESERVED, IN_USE), ATTACHING, "attach_start")
VOLUME.add(ATTACHING, IN_USE, "attached")
VOLUME.add(ATTACHING, AVAILABLE, "attach_failed")
VOLUME.add(IN_USE, DETACHING, "detach_start")
VOLUME.add(DETACHING, IN_USE, "roll_detaching")
VOLUME.add(DETACHING, AVAILABLE, "detached")
VOLUME.add((AVAILABLE, IN_USE), EXTENDING, "extend")
VOLUME.add(EXTENDING, AVAILABLE, "extended")
VOLUME.add(EXTENDING, ERROR_EXTENDING, "extend_failed")
VOLUME.add(DELETABLE, DELETING, "delete")
VOLUME.add(DELETING, ERROR_DELETING, "delete_failed")
VOLUME.add((AVAILABLE, IN_USE), UPLOADING, "upload")
VOLUME.add(UPLOADING, AVAILABLE, "uploaded")
VOLUME.add((AVAILABLE, IN_USE), BACKING_UP, "backup")
VOLUME.add(BACKING_UP, AVAILABLE, "backed_up")
VOLUME.add(AVAILABLE, RESTORING_BACKUP, "restore")
VOLUME.add(RESTORING_BACKUP, AVAILABLE, "restored")
VOLUME.add(RESTORING_BACKUP, ERROR_RESTORING, "restore_failed")
VOLUME.add(AVAILABLE, AWAITING_TRANSFER, "transfer")
VOLUME.add(AWAITING_TRANSFER, AVAILABLE, "transfer_done")
VOLUME.add(AVAILABLE, RETYPING, "retype")
VOLUME.add(RETYPING, AVAILABLE, "retyped")
# os-reimage (3.68): reserved only for Nova rebuilding the server the volume boots (reimage_reserved).
VOLUME.add((AVAILABLE, ERROR, RESERVED), DOWNLOADING, "reimage")
VOLUME.add(DOWNLOADING, AVAILABLE, "reimaged")
VOLUME.add(DOWNLOADING, RESERVED, "reimaged_reserved")
VOLUME.add(DOWNLOADING, ERROR, "reimage_failed")

SNAPSHOT = Machine("Snapshot", _invalid)
SNAPSHOT.add(SNAP_CREATING, SNAP_AVAILABLE, "created")
SNAPSHOT.add(SNAP_CREATING, SNAP_ERROR, "create_failed")
SNAPSHOT.add((SNAP_AVAILABLE, SNAP_ERROR, SNAP_ERROR_DELETING), SNAP_DELETING, "delete")
SNAPSHOT.add(SNAP_DELETING, SNAP_ERROR_DELETING, "delete_failed")

BACKUP = Machine("Backup", _invalid)
BACKUP.add(BK_CREATING, BK_AVAILABLE, "created")
BACKUP.add(BK_CREATING, BK_ERROR, "create_failed")
BACKUP.add(BK_AVAILABLE, BK_RESTORING, "restore")
BACKUP.add(BK_RESTORING, BK_AVAILABLE, "restored")
BACKUP.add((BK_AVAILABLE, BK_ERROR, BK_ERROR_DELETING), BK_DELETING, "delete")
BACKUP.add(BK_DELETING, BK_ERROR_DELETING, "delete_failed")

# -- restart recovery ---------------------------------------------------------------
# What VolumeManager.recover() does with a row a crash left in a transitional status.
# "check" means: ask the driver whether the volume exists and decide from that.
RECOVERY: dict[str, tuple[str, str]] = {
    # status: (outcome, reason recorded)
    CREATING: (ERROR, "creation was interrupted by a restart; the partial volume was removed"),
    DELETING: (ERROR_DELETING + "|deleted",
               "deletion was interrupted by a restart; finished if the volume file is gone, else error_deleting"),
    ATTACHING: (AVAILABLE + "|in-use",
                "attach was interrupted by a restart; its unfinished attachment was rolled back"),
    DETACHING: (IN_USE + "|available",
                "detach was interrupted by a restart; rolled back to the attachments still complete"),
    EXTENDING: (ERROR_EXTENDING + "|available",
                "extend was interrupted by a restart; kept when the disk has the new size, else error_extending"),
    UPLOADING: (AVAILABLE + "|in-use", "upload to the Image service was interrupted by a restart"),
    BACKING_UP: (AVAILABLE + "|in-use", "backup was interrupted by a restart; the backup is in error"),
    RESTORING_BACKUP: (ERROR_RESTORING, "restore from a backup was interrupted by a restart"),
    DOWNLOADING: (ERROR, "download of an image was interrupted by a restart"),
    RETYPING: (AVAILABLE, "retype was interrupted by a restart; the old type is kept"),
}
SNAPSHOT_RECOVERY = {SNAP_CREATING: SNAP_ERROR, SNAP_DELETING: SNAP_ERROR_DELETING}
BACKUP_RECOVERY = {BK_CREATING: BK_ERROR, BK_DELETING: BK_ERROR_DELETING, BK_RESTORING: BK_AVAILABLE}

# -- generic volume groups and their snapshots (3.13+) -------------------------------------
GROUP_CREATING = "creating"
GROUP_AVAILABLE = "available"
GROUP_DELETING = "deleting"
GROUP_ERROR = "error"
GROUP_ERROR_DELETING = "error_deleting"
GROUP_STATUSES = (GROUP_CREATING, GROUP_AVAILABLE, GROUP_DELETING, GROUP_ERROR, GROUP_ERROR_DELETING, "in-use",
                  "updating")
GROUP = Machine("Group", _invalid)
GROUP.add(GROUP_CREATING, GROUP_AVAILABLE, "created")
GROUP.add(GROUP_CREATING, GROUP_ERROR, "create_failed")
GROUP.add((GROUP_AVAILABLE, GROUP_ERROR, GROUP_ERROR_DELETING, "in-use"), GROUP_DELETING, "delete")
GROUP.add(GROUP_DELETING, GROUP_ERROR_DELETING, "delete_failed")
GROUP_SNAPSHOT = Machine("Group snapshot", _invalid)
GROUP_SNAPSHOT.add(SNAP_CREATING, SNAP_AVAILABLE, "created")
GROUP_SNAPSHOT.add(SNAP_CREATING, SNAP_ERROR, "create_failed")
GROUP_SNAPSHOT.add((SNAP_AVAILABLE, SNAP_ERROR, SNAP_ERROR_DELETING), SNAP_DELETING, "delete")
GROUP_SNAPSHOT.add(SNAP_DELETING, SNAP_ERROR_DELETING, "delete_failed")
# Restart recovery of groups: their volumes and snapshots are recovered one by one (RECOVERY);
# the group itself goes to error (creating) or error_deleting (deleting).
GROUP_RECOVERY = {GROUP_CREATING: GROUP_ERROR, GROUP_DELETING: GROUP_ERROR_DELETING}
GROUP_SNAPSHOT_RECOVERY = {SNAP_CREATING: SNAP_ERROR, SNAP_DELETING: SNAP_ERROR_DELETING}
