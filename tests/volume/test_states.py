"""The volume, snapshot and backup state machines and the recovery rules."""

import pytest

from monostack.volume import states


def test_volume_lifecycle_transitions():
    m = states.VOLUME
    assert m.next(states.CREATING, "created") == states.AVAILABLE
    assert m.next(states.CREATING, "create_failed") == states.ERROR
    assert m.next(states.AVAILABLE, "reserve") == states.RESERVED
    assert m.next(states.RESERVED, "attach_start") == states.ATTACHING
    assert m.next(states.ATTACHING, "attached") == states.IN_USE
    assert m.next(states.IN_USE, "detach_start") == states.DETACHING
    assert m.next(states.DETACHING, "detached") == states.AVAILABLE
    assert m.next(states.DETACHING, "roll_detaching") == states.IN_USE
    assert m.next(states.AVAILABLE, "extend") == states.EXTENDING
    assert m.next(states.EXTENDING, "extend_failed") == states.ERROR_EXTENDING
    assert m.next(states.AVAILABLE, "transfer") == states.AWAITING_TRANSFER
    assert m.next(states.RESTORING_BACKUP, "restore_failed") == states.ERROR_RESTORING


@pytest.mark.parametrize("status", [states.IN_USE, states.CREATING, states.ATTACHING, states.DELETING,
                                    states.MAINTENANCE, states.AWAITING_TRANSFER, states.UPLOADING])
def test_delete_refused_from_busy_statuses(status):
    assert not states.VOLUME.allows(status, "delete")
    with pytest.raises(states.InvalidVolume) as err:
        states.VOLUME.next(status, "delete")
    assert err.value.code == 400
    assert err.value.message.startswith("Invalid volume: ")


@pytest.mark.parametrize("status", states.DELETABLE)
def test_delete_allowed_from_stable_statuses(status):
    assert states.VOLUME.next(status, "delete") == states.DELETING


def test_every_status_has_cinder_name():
    assert "backing-up" in states.VOLUME_STATUSES and "awaiting-transfer" in states.VOLUME_STATUSES
    assert "restoring-backup" in states.VOLUME_STATUSES and "error_restoring" in states.VOLUME_STATUSES
    assert set(states.ATTACH_STATUSES) >= {"attached", "detached", "attaching", "detaching", "reserved"}


def test_recovery_covers_every_transitional_status():
    transitional = {states.CREATING, states.ATTACHING, states.DETACHING, states.DELETING, states.EXTENDING,
                    states.BACKING_UP, states.RESTORING_BACKUP, states.UPLOADING, states.DOWNLOADING,
                    states.RETYPING}
    assert transitional <= set(states.RECOVERY)
    for status, (outcome, reason) in states.RECOVERY.items():
        assert reason and outcome
        # the outcome is always a stable status (or the row's removal)
        for target in outcome.split("|"):
            assert target == "deleted" or target not in states.RECOVERY
    assert set(states.SNAPSHOT_RECOVERY.values()) <= {states.SNAP_ERROR, states.SNAP_ERROR_DELETING}
    assert states.BACKUP_RECOVERY[states.BK_RESTORING] == states.BK_AVAILABLE


def test_snapshot_and_backup_machines():
    assert states.SNAPSHOT.next(states.SNAP_CREATING, "created") == states.SNAP_AVAILABLE
    assert not states.SNAPSHOT.allows(states.SNAP_CREATING, "delete")
    assert states.BACKUP.next(states.BK_AVAILABLE, "restore") == states.BK_RESTORING
    assert not states.BACKUP.allows(states.BK_CREATING, "delete")
