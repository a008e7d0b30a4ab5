"""Restart recovery: rows a crash left in transitional statuses are finished or rolled back
to a stable status with the reason recorded (states.RECOVERY), by the backend's manager at start."""

import uuid

from monostack.volume import models, states
from monostack.volume.service.common import utcnow
from tests.volume.harness import DEMO_PROJECT, FakeBackupStore, start_manager

BACKEND = "testhost@fake"


def add_volume(svc, status, *, attach_status="detached", size=1, host=f"{BACKEND}#fake", attachments=()):
    with svc.db.writer() as session:
        vtype = svc.types.default(session)
        row = models.Volume(id=str(uuid.uuid4()), project_id=DEMO_PROJECT, user_id="demo-user", size=size,
                            status=status, attach_status=attach_status, availability_zone="nova", host=host,
                            volume_type_id=vtype.id, metadata_={}, admin_metadata={}, image_metadata={},
                            created_at=utcnow(), updated_at=utcnow())
        session.add(row)
        for attach_status_ in attachments:
            session.add(models.Attachment(id=str(uuid.uuid4()), volume_id=row.id, instance_uuid=str(uuid.uuid4()),
                                          attach_status=attach_status_, attach_mode="rw", created_at=utcnow(),
                                          connection_info={"x": 1}))
        return row.id


def volume(svc, volume_id):
    with svc.db.reader() as session:
        row = session.get(models.Volume, volume_id)
        if row is not None:
            row.attachments  # noqa: B018 (loaded in the session)
        return row


async def test_recover_repairs_every_transitional_status(make_volume_svc):
    svc = make_volume_svc()
    first = await start_manager(svc)  # makes the driver's state directory
    driver = first.driver
    await driver.create_volume("keep-placeholder", 1)  # an unrelated file on the backend
    creating = add_volume(svc, states.CREATING)
    await driver.create_volume(creating, 1)  # a partial volume the crash left
    deleting_gone = add_volume(svc, states.DELETING)
    deleting_present = add_volume(svc, states.DELETING)
    await driver.create_volume(deleting_present, 1)
    attaching_old_path = add_volume(svc, states.ATTACHING)
    attaching_api = add_volume(svc, states.ATTACHING, attach_status="attaching", attachments=["attaching"])
    attaching_multi = add_volume(svc, states.ATTACHING, attach_status="attached",
                                 attachments=["attached", "attaching"])
    detaching = add_volume(svc, states.DETACHING, attach_status="attached", attachments=["attached"])
    extending = add_volume(svc, states.EXTENDING, size=1)
    await driver.create_volume(extending, 1)
    uploading = add_volume(svc, states.UPLOADING)
    backing_up = add_volume(svc, states.BACKING_UP)
    restoring = add_volume(svc, states.RESTORING_BACKUP)
    other_backend = add_volume(svc, states.CREATING, host="elsewhere@file#file")
    with svc.db.writer() as session:
        session.add(models.Snapshot(id="s-creating", volume_id=uploading, project_id=DEMO_PROJECT, status="creating",
                                    volume_size=1, metadata_={}, created_at=utcnow()))
        session.add(models.Backup(id="b-creating", volume_id=backing_up, project_id=DEMO_PROJECT, status="creating",
                                  size=1, host=f"{BACKEND}#fake", metadata_={}, created_at=utcnow()))
        session.add(models.Backup(id="b-restoring", volume_id=restoring, project_id=DEMO_PROJECT,
                                  status="restoring", size=1, host=f"{BACKEND}#fake", metadata_={},
                                  created_at=utcnow()))

    # "restart": a new manager on the same backend runs recover() at start
    svc.managers.clear()
    manager = await start_manager(svc, backup_store=FakeBackupStore())

    row = volume(svc, creating)
    assert row.status == states.ERROR and "creating" in row.status_reason
    assert creating not in await manager.driver.list_volumes()
    assert volume(svc, deleting_gone) is None
    assert volume(svc, deleting_present) is None
    assert deleting_present not in await manager.driver.list_volumes()
    assert volume(svc, attaching_old_path).status == states.AVAILABLE
    row = volume(svc, attaching_api)
    assert row.status == states.RESERVED and row.attachments[0].attach_status == "reserved"
    assert row.attachments[0].connection_info is None and "attaching" in row.status_reason
    row = volume(svc, attaching_multi)
    assert row.status == states.IN_USE and row.attach_status == "attached"
    assert volume(svc, detaching).status == states.IN_USE
    assert volume(svc, extending).status == states.ERROR_EXTENDING
    assert volume(svc, uploading).status == states.AVAILABLE
    assert volume(svc, backing_up).status == states.AVAILABLE
    assert volume(svc, restoring).status == states.ERROR_RESTORING
    assert volume(svc, other_backend).status == states.CREATING  # another backend recovers its own
    with svc.db.reader() as session:
        assert session.get(models.Snapshot, "s-creating").status == states.SNAP_ERROR
        assert session.get(models.Backup, "b-creating").status == states.BK_ERROR
        assert session.get(models.Backup, "b-restoring").status == states.BK_AVAILABLE
        stuck = session.query(models.Volume).filter(models.Volume.status.in_(list(states.RECOVERY))).all()
        assert [r.id for r in stuck] == [other_backend]
        messages = session.query(models.Message).filter_by(resource_uuid=creating).all()
        assert messages and "restart" in messages[0].user_message


async def test_recover_marks_error_deleting_when_the_driver_fails(make_volume_svc):
    svc = make_volume_svc()
    manager = await start_manager(svc)
    stuck = add_volume(svc, states.DELETING)
    await manager.driver.create_volume(stuck, 1)
    manager.driver.fail["delete_volume"] = "device busy"
    await manager.recover()
    row = volume(svc, stuck)
    assert row.status == states.ERROR_DELETING and "device busy" in row.status_reason


async def test_recover_is_idempotent(make_volume_svc):
    svc = make_volume_svc()
    manager = await start_manager(svc)
    add_volume(svc, states.CREATING)
    first = await manager.recover()
    assert first == {"creating": 1}
    assert await manager.recover() == {}
