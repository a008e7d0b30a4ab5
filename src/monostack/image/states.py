"""The image lifecycle: Glance's statuses and the transitions between them.

Every status change asks `MACHINE.next(status, event)`; a transition the
machine does not declare is refused (409 at the API).  `STUCK` names the
statuses a crash can leave behind (data was being received or imported):
`ImageService.recover()` takes them back to `queued` at start-up.

    queued --upload--> saving --upload_done--> active
    queued --stage--> uploading --import_start--> importing --import_done--> active
    queued --import_start--> importing                      (web-download)
    saving --upload_failed--> queued      uploading --stage_failed--> queued
    importing --import_failed--> queued   saving --kill--> killed
    active --deactivate--> deactivated --reactivate--> active
    any --delete--> deleted
"""

from __future__ import annotations

from monostack.common.lifecycle import InvalidTransition, Machine  # noqa: F401 (raised by MACHINE.next)

QUEUED = "queued"
SAVING = "saving"
UPLOADING = "uploading"
IMPORTING = "importing"
ACTIVE = "active"
KILLED = "killed"
DELETED = "deleted"
DEACTIVATED = "deactivated"
PENDING_DELETE = "pending_delete"

STATUSES = (QUEUED, SAVING, UPLOADING, IMPORTING, ACTIVE, KILLED, DELETED, DEACTIVATED, PENDING_DELETE)
# A crash in these leaves a half-received upload or a half-done import.
STUCK = (SAVING, IMPORTING)


MACHINE = Machine("Image")
MACHINE.add_transition(QUEUED, SAVING, "upload")
MACHINE.add_transition(SAVING, ACTIVE, "upload_done")
MACHINE.add_transition(SAVING, QUEUED, "upload_failed")
MACHINE.add_transition(SAVING, KILLED, "kill")
MACHINE.add_transition(QUEUED, UPLOADING, "stage")
MACHINE.add_transition(UPLOADING, QUEUED, "stage_failed")
MACHINE.add_transition(UPLOADING, IMPORTING, "import_start")
MACHINE.add_transition(QUEUED, IMPORTING, "import_start")
MACHINE.add_transition(IMPORTING, ACTIVE, "import_done")
MACHINE.add_transition(IMPORTING, QUEUED, "import_failed")
MACHINE.add_transition(ACTIVE, DEACTIVATED, "deactivate")
MACHINE.add_transition(DEACTIVATED, ACTIVE, "reactivate")
# Idempotent, as Glance: deactivating a deactivated image (or reactivating an active one) is a no-op.
MACHINE.add_transition(DEACTIVATED, DEACTIVATED, "deactivate")
MACHINE.add_transition(ACTIVE, ACTIVE, "reactivate")
# Crash recovery at start-up.
MACHINE.add_transition(SAVING, QUEUED, "recover")
MACHINE.add_transition(IMPORTING, QUEUED, "recover")
for _status in (QUEUED, SAVING, UPLOADING, IMPORTING, ACTIVE, KILLED, DEACTIVATED, PENDING_DELETE):
    MACHINE.add_transition(_status, DELETED, "delete")
