"""The Image service layer alone (no HTTP): lifecycle, visibility, members, data, quotas,
import, recovery.  Every test works in projects of its own (the database is shared)."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import os
import shutil
import subprocess
import threading
import uuid
from typing import Any, AsyncIterator

import pytest

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.image import states


def user(project: str | None = None, *roles: str) -> RequestContext:
    return RequestContext(user_id=uuid.uuid4().hex, project_id=project or uuid.uuid4().hex,
                          roles=list(roles or ("member", "reader")))


def admin() -> RequestContext:
    return RequestContext(user_id=uuid.uuid4().hex, project_id=uuid.uuid4().hex, roles=["admin", "member", "reader"])


async def _chunks(data: bytes, size: int = 65536, fail_after: int | None = None) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        if fail_after is not None and offset >= fail_after:
            raise ConnectionResetError("client went away")
        yield data[offset:offset + size]


def upload(svc: Any, ctx: RequestContext, image_id: str, data: bytes, *, staging: bool = False,
           fail_after: int | None = None) -> dict[str, Any]:
    ingest = svc.begin_upload(ctx, image_id, staging=staging)
    try:
        asyncio.run(ingest.consume(_chunks(data, fail_after=fail_after)))
    except BaseException:
        svc.abort_upload(ingest)
        raise
    return svc.finish_upload(ctx, ingest)


def new_image(svc: Any, ctx: RequestContext, **body: Any) -> dict[str, Any]:
    body.setdefault("name", f"img-{uuid.uuid4().hex[:8]}")
    body.setdefault("disk_format", "raw")
    body.setdefault("container_format", "bare")
    return svc.create(ctx, body)


def store_files(svc: Any) -> list[str]:
    return sorted(str(p.relative_to(svc.store.root)) for p in svc.store.root.rglob("*") if p.is_file())


# -- the state machine ------------------------------------------------------------------------
def test_state_machine_declares_glance_transitions():
    machine = states.MACHINE
    assert machine.next(states.QUEUED, "upload") == states.SAVING
    assert machine.next(states.SAVING, "upload_done") == states.ACTIVE
    assert machine.next(states.SAVING, "upload_failed") == states.QUEUED
    assert machine.next(states.QUEUED, "stage") == states.UPLOADING
    assert machine.next(states.UPLOADING, "import_start") == states.IMPORTING
    assert machine.next(states.ACTIVE, "deactivate") == states.DEACTIVATED
    assert machine.next(states.DEACTIVATED, "reactivate") == states.ACTIVE
    assert machine.targets(states.KILLED) == {states.DELETED}
    for stuck in states.STUCK:
        assert machine.next(stuck, "recover") == states.QUEUED
    with pytest.raises(states.InvalidTransition):
        machine.next(states.ACTIVE, "upload")
    with pytest.raises(states.InvalidTransition):
        machine.next(states.QUEUED, "deactivate")


# -- create, show, update, delete ---------------------------------------------------------------
def test_create_defaults_and_properties(image_service):
    ctx = user()
    image = image_service.create(ctx, {"name": "cirros", "disk_format": "qcow2", "container_format": "bare",
                                       "tags": ["a", "b", "a"], "hw_disk_bus": "virtio", "min_ram": 64})
    assert image["status"] == "queued" and image["visibility"] == "shared" and image["owner"] == ctx.project_id
    assert image["tags"] == ["a", "b"] and image["hw_disk_bus"] == "virtio" and image["min_ram"] == 64
    assert image["size"] is None and image["checksum"] is None and image["os_hash_value"] is None
    assert image["self"] == f"/v2/images/{image['id']}" and image["file"].endswith("/file")
    assert image_service.get(ctx, image["id"]) == image


@pytest.mark.parametrize("body, error", [
    ({"disk_format": "floppy"}, errors.BadRequest), ({"container_format": "box"}, errors.BadRequest),
    ({"visibility": "everyone"}, errors.BadRequest), ({"name": "x" * 256}, errors.BadRequest),
    ({"min_ram": -1}, errors.BadRequest), ({"protected": "yes"}, errors.BadRequest),
    ({"custom": 5}, errors.BadRequest), ({"status": "active"}, errors.Forbidden),
    ({"size": 5}, errors.Forbidden), ({"location": "file:///etc/passwd"}, errors.Forbidden),
    ({"os_glance_import_task": "x"}, errors.Forbidden), ({"id": "not-a-uuid"}, errors.BadRequest),
])
def test_create_rejects_bad_input(image_service, body, error):
    with pytest.raises(error):
        image_service.create(user(), body)


def test_create_with_id_twice_conflicts_and_publicize_needs_admin(image_service):
    ctx = user()
    image_id = str(uuid.uuid4())
    image_service.create(ctx, {"id": image_id})
    with pytest.raises(errors.Conflict):
        image_service.create(ctx, {"id": image_id})
    with pytest.raises(errors.Forbidden):
        image_service.create(ctx, {"visibility": "public"})
    assert image_service.create(admin(), {"visibility": "public"})["visibility"] == "public"
    assert image_service.create(ctx, {"visibility": "community"})["visibility"] == "community"
    with pytest.raises(errors.Forbidden):
        image_service.create(ctx, {"owner": uuid.uuid4().hex})
    with pytest.raises(errors.Forbidden):  # a reader may not create
        image_service.create(user(ctx.project_id, "reader"), {})


def test_json_patch_semantics(image_service):
    ctx = user()
    image = new_image(image_service, ctx, extra="1")
    changed = image_service.update(ctx, image["id"], [
        {"op": "replace", "path": ["name"], "value": "renamed"},
        {"op": "add", "path": ["extra"], "value": "2"},  # add on an existing property replaces it
        {"op": "add", "path": ["new"], "value": "x"},
        {"op": "replace", "path": ["tags"], "value": ["t1", "t2"]},
        {"op": "replace", "path": ["protected"], "value": True}])
    assert (changed["name"], changed["extra"], changed["new"], changed["tags"], changed["protected"]) == \
        ("renamed", "2", "x", ["t1", "t2"], True)
    removed = image_service.update(ctx, image["id"], [{"op": "remove", "path": ["new"]}])
    assert "new" not in removed
    for change, error in [
        ({"op": "replace", "path": ["missing"], "value": "x"}, errors.Conflict),
        ({"op": "remove", "path": ["missing"]}, errors.Conflict),
        ({"op": "replace", "path": ["status"], "value": "active"}, errors.Forbidden),
        ({"op": "replace", "path": ["checksum"], "value": "x"}, errors.Forbidden),
        ({"op": "replace", "path": ["disk_format"], "value": "floppy"}, errors.BadRequest),
        ({"op": "replace", "path": ["visibility"], "value": "public"}, errors.Forbidden),
        ({"op": "add", "path": ["os_glance_x"], "value": "x"}, errors.Forbidden),
        ({"op": "remove", "path": ["name"]}, errors.Forbidden),
    ]:
        with pytest.raises(error):
            image_service.update(ctx, image["id"], [change])
    # Another project may not modify it even when it can see it.
    image_service.update(ctx, image["id"], [{"op": "replace", "path": ["visibility"], "value": "community"}])
    with pytest.raises(errors.Forbidden):
        image_service.update(user(), image["id"], [{"op": "replace", "path": ["name"], "value": "x"}])


def test_delete_protected_and_deleted(image_service):
    ctx = user()
    image = new_image(image_service, ctx, protected=True)
    with pytest.raises(errors.Forbidden):
        image_service.delete(ctx, image["id"])
    image_service.update(ctx, image["id"], [{"op": "replace", "path": ["protected"], "value": False}])
    image_service.delete(ctx, image["id"])
    with pytest.raises(errors.NotFound):
        image_service.get(ctx, image["id"])
    with pytest.raises(errors.NotFound):
        image_service.delete(ctx, image["id"])


def test_tags(image_service):
    ctx = user()
    image = new_image(image_service, ctx)
    image_service.add_tag(ctx, image["id"], "x")
    image_service.add_tag(ctx, image["id"], "x")
    assert image_service.get(ctx, image["id"])["tags"] == ["x"]
    image_service.delete_tag(ctx, image["id"], "x")
    with pytest.raises(errors.NotFound):
        image_service.delete_tag(ctx, image["id"], "x")
    with pytest.raises(errors.NotFound):
        image_service.add_tag(ctx, str(uuid.uuid4()), "x")


# -- visibility and members ---------------------------------------------------------------------
def test_visibility_rules_and_members(image_service):
    owner, other, third = user(), user(), user()
    private = new_image(image_service, owner, visibility="private")
    shared = new_image(image_service, owner, visibility="shared")
    community = new_image(image_service, owner, visibility="community")
    public = new_image(admin(), admin(), visibility="public") if False else image_service.create(
        admin(), {"visibility": "public", "name": "pub"})

    def listed(ctx: RequestContext, *params: tuple[str, str]) -> set[str]:
        images, _ = image_service.list(ctx, [("limit", "1000"), *params])
        return {i["id"] for i in images}

    mine = {private["id"], shared["id"], community["id"]}
    assert mine <= listed(owner)
    seen = listed(other)
    assert public["id"] in seen and not (mine & seen)  # community only when asked for
    assert community["id"] in listed(other, ("visibility", "community"))
    with pytest.raises(errors.NotFound):
        image_service.get(other, private["id"])
    with pytest.raises(errors.NotFound):
        image_service.get(other, shared["id"])
    assert image_service.get(other, community["id"])["id"] == community["id"]

    with pytest.raises(errors.Forbidden):  # only shared images have members
        image_service.add_member(owner, private["id"], other.project_id)
    member = image_service.add_member(owner, shared["id"], other.project_id)
    assert member["status"] == "pending" and member["member_id"] == other.project_id
    with pytest.raises(errors.Conflict):
        image_service.add_member(owner, shared["id"], other.project_id)
    with pytest.raises(errors.NotFound):  # not a member: cannot even see it
        image_service.add_member(third, shared["id"], third.project_id)
    # A pending member sees the image but does not list it, except with member_status.
    assert image_service.get(other, shared["id"])["id"] == shared["id"]
    assert shared["id"] not in listed(other)
    assert shared["id"] in listed(other, ("member_status", "pending"))
    with pytest.raises(errors.Forbidden):  # only the member accepts
        image_service.update_member(owner, shared["id"], other.project_id, "accepted")
    with pytest.raises(errors.BadRequest):
        image_service.update_member(other, shared["id"], other.project_id, "maybe")
    assert image_service.update_member(other, shared["id"], other.project_id, "accepted")["status"] == "accepted"
    assert shared["id"] in listed(other) and shared["id"] in listed(other, ("visibility", "shared"))
    assert [m["member_id"] for m in image_service.list_members(other, shared["id"])] == [other.project_id]
    with pytest.raises(errors.Forbidden):  # a member may not share further or modify the image
        image_service.add_member(other, shared["id"], third.project_id)
    image_service.update_member(other, shared["id"], other.project_id, "rejected")
    assert shared["id"] not in listed(other)
    image_service.delete_member(owner, shared["id"], other.project_id)
    with pytest.raises(errors.NotFound):
        image_service.get(other, shared["id"])


# -- list: filters, sorting, pagination -------------------------------------------------------
def test_list_filters_sort_and_pages(image_service):
    ctx = user()
    made = []
    for index, (fmt, size) in enumerate([("raw", 10), ("qcow2", 20), ("raw", 30)]):
        image = new_image(image_service, ctx, name=f"n{index}", disk_format=fmt, visibility="private",
                          tags=["even"] if index % 2 == 0 else [], flavour=str(index))
        upload(image_service, ctx, image["id"], os.urandom(size))
        made.append(image["id"])
    hidden = new_image(image_service, ctx, os_hidden=True, visibility="private")

    def ids(*params: tuple[str, str]) -> list[str]:
        images, _ = image_service.list(ctx, [("visibility", "private"), *params])
        return [i["id"] for i in images]

    assert ids() == made[::-1]  # newest first
    assert ids(("sort_key", "name"), ("sort_dir", "asc")) == made
    assert ids(("sort", "size:desc")) == made[::-1]
    assert ids(("disk_format", "raw")) == [made[2], made[0]]
    assert ids(("tag", "even")) == [made[2], made[0]]
    assert ids(("flavour", "1")) == [made[1]]
    assert ids(("size_min", "15"), ("size_max", "25")) == [made[1]]
    assert ids(("size", "30")) == [made[2]]
    checksum = image_service.get(ctx, made[0])["checksum"]
    assert ids(("checksum", checksum)) == [made[0]]
    assert ids(("name", "in:n0,n2")) == [made[2], made[0]]
    assert ids(("status", "active")) == made[::-1]
    assert hidden["id"] in ids(("os_hidden", "true"))
    assert ids(("created_at", "gte:2000-01-01T00:00:00Z")) == made[::-1]
    assert ids(("created_at", "lt:2000-01-01T00:00:00Z")) == []
    first = ids(("limit", "2"))
    assert first == made[:0:-1] and ids(("limit", "2"), ("marker", first[-1])) == [made[0]]
    for bad in [("limit", "x"), ("limit", "-1"), ("sort_key", "bogus"), ("sort_dir", "up"),
                ("marker", str(uuid.uuid4())), ("size_min", "big"), ("size", "big"), ("member_status", "x"),
                ("created_at", "gte:yesterday")]:
        with pytest.raises(errors.BadRequest):
            ids(bad)


# -- data ---------------------------------------------------------------------------------------
def test_upload_download_checksums(image_service):
    ctx = user()
    data = os.urandom(9 * 1024 * 1024 + 17)  # more than two blocks
    image = new_image(image_service, ctx)
    with pytest.raises(errors.Conflict):  # cannot upload twice
        active = upload(image_service, ctx, image["id"], data)
        upload(image_service, ctx, image["id"], data)
    assert active["status"] == "active" and active["size"] == len(data) and active["virtual_size"] == len(data)
    assert active["checksum"] == hashlib.md5(data).hexdigest()
    assert active["os_hash_algo"] == "sha512" and active["os_hash_value"] == hashlib.sha512(data).hexdigest()
    shown, chunks, span = image_service.open_data(ctx, image["id"])
    assert b"".join(chunks) == data and span is None
    _, chunks, span = image_service.open_data(ctx, image["id"], (10, 19))
    assert b"".join(chunks) == data[10:20] and span == (10, 19)
    _, chunks, span = image_service.open_data(ctx, image["id"], (None, 5))
    assert b"".join(chunks) == data[-5:]
    with pytest.raises(errors.APIError) as raised:
        image_service.open_data(ctx, image["id"], (len(data) + 1, None))
    assert raised.value.code == 416
    queued = new_image(image_service, ctx)
    assert image_service.open_data(ctx, queued["id"])[1] is None
    image_service.delete(ctx, image["id"])
    assert store_files(image_service) == []


def test_upload_needs_formats_and_a_member(image_service):
    ctx = user()
    image = image_service.create(ctx, {"name": "no-formats"})
    with pytest.raises(errors.BadRequest):
        image_service.begin_upload(ctx, image["id"])
    formatted = new_image(image_service, ctx)
    with pytest.raises(errors.Forbidden):
        image_service.begin_upload(user(ctx.project_id, "reader"), formatted["id"])


def test_truncated_upload_goes_back_to_queued_and_leaves_no_file(image_service):
    ctx = user()
    image = new_image(image_service, ctx)
    with pytest.raises(ConnectionResetError):
        upload(image_service, ctx, image["id"], os.urandom(10 * 1024 * 1024), fail_after=6 * 1024 * 1024)
    shown = image_service.get(ctx, image["id"])
    assert shown["status"] == "queued" and shown["size"] is None and shown["checksum"] is None
    assert store_files(image_service) == []
    assert upload(image_service, ctx, image["id"], b"second try")["status"] == "active"


def test_image_deleted_during_upload_is_gone(image_service):
    ctx = user()
    image = new_image(image_service, ctx)
    ingest = image_service.begin_upload(ctx, image["id"])
    asyncio.run(ingest.consume(_chunks(b"data")))
    image_service.delete(ctx, image["id"])
    with pytest.raises(errors.Gone):
        image_service.finish_upload(ctx, ingest)
    assert store_files(image_service) == []


def test_deactivate_reactivate(image_service):
    ctx, boss = user(), admin()
    image = new_image(image_service, ctx, visibility="community")
    upload(image_service, ctx, image["id"], b"payload")
    with pytest.raises(errors.Forbidden):  # another project
        image_service.set_status(user(), image["id"], "deactivate")
    with pytest.raises(errors.Forbidden):  # a reader of the project
        image_service.set_status(user(ctx.project_id, "reader"), image["id"], "deactivate")
    image_service.set_status(ctx, image["id"], "deactivate")
    image_service.set_status(boss, image["id"], "deactivate")  # idempotent
    assert image_service.get(ctx, image["id"])["status"] == "deactivated"
    with pytest.raises(errors.Forbidden):
        image_service.open_data(user(), image["id"])
    assert b"".join(image_service.open_data(boss, image["id"])[1]) == b"payload"
    image_service.set_status(boss, image["id"], "reactivate")
    assert b"".join(image_service.open_data(user(), image["id"])[1]) == b"payload"
    queued = new_image(image_service, ctx)
    with pytest.raises(errors.Forbidden):
        image_service.set_status(boss, queued["id"], "deactivate")


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_virtual_size_of_qcow2(image_service, tmp_path):
    path = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(path), "64M"], check=True, capture_output=True)
    ctx = user()
    image = new_image(image_service, ctx, disk_format="qcow2")
    active = upload(image_service, ctx, image["id"], path.read_bytes())
    assert active["virtual_size"] == 64 * 1024 * 1024 and active["size"] == path.stat().st_size
    # Data that is not qcow2: no virtual size, no failure.
    other = new_image(image_service, ctx, disk_format="qcow2")
    assert upload(image_service, ctx, other["id"], b"not a qcow2 file")["virtual_size"] is None


# -- quotas -------------------------------------------------------------------------------------
def test_quota_on_image_count(make_image_service):
    svc = make_image_service(quota_image_count=2)
    ctx = user()
    new_image(svc, ctx)
    new_image(svc, ctx)
    with pytest.raises(errors.OverLimit) as raised:
        new_image(svc, ctx)
    assert raised.value.code == 413
    new_image(svc, user())  # per project


def test_quota_on_stored_bytes(make_image_service):
    svc = make_image_service(quota_image_size_total=10 * 1024 * 1024)
    ctx = user()
    upload(svc, ctx, new_image(svc, ctx)["id"], os.urandom(6 * 1024 * 1024))
    over = new_image(svc, ctx)
    with pytest.raises(errors.OverLimit):
        upload(svc, ctx, over["id"], os.urandom(6 * 1024 * 1024))
    assert svc.get(ctx, over["id"])["status"] == "queued" and len(store_files(svc)) == 1
    upload(svc, ctx, over["id"], os.urandom(4 * 1024 * 1024))
    with pytest.raises(errors.OverLimit):  # at the quota: refused before any data
        svc.begin_upload(ctx, new_image(svc, ctx)["id"])
    assert svc.usage(ctx)["image_size_total"] == {"limit": 10 * 1024 * 1024, "usage": 10 * 1024 * 1024}


# -- import -------------------------------------------------------------------------------------
def test_glance_direct_import(image_service):
    ctx = user()
    data = os.urandom(100000)
    image = new_image(image_service, ctx)
    with pytest.raises(errors.Conflict):  # not staged yet
        image_service.import_image(ctx, image["id"], {"method": {"name": "glance-direct"}})
    upload(image_service, ctx, image["id"], data, staging=True)
    assert image_service.get(ctx, image["id"])["status"] == "uploading"
    image_service.import_image(ctx, image["id"], {"method": {"name": "glance-direct"}}).result(30)
    active = image_service.get(ctx, image["id"])
    assert active["status"] == "active" and active["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert store_files(image_service) == [image["id"]]
    (task,) = image_service.tasks(ctx, image["id"])
    assert task["status"] == "success" and task["input"]["import_req"]["method"]["name"] == "glance-direct"
    assert task["request_id"] == ctx.request_id and active["os_glance_import_task"] == task["id"]
    with pytest.raises(errors.BadRequest):
        image_service.import_image(ctx, image["id"], {"method": {"name": "copy-image"}})


@pytest.fixture
def http_server(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "disk.raw").write_bytes(b"web-data" * 1000)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, directory=str(tmp_path / "www"), **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_web_download_import_only_from_allowed_urls(make_image_service, http_server):
    svc = make_image_service(web_download_allowed_urls=http_server)
    ctx = user()
    image = new_image(svc, ctx)
    for uri in ["http://169.254.169.254/latest", "file:///etc/passwd", http_server.replace("127.0.0.1", "localhost")]:
        with pytest.raises(errors.BadRequest):
            svc.import_image(ctx, image["id"], {"method": {"name": "web-download", "uri": uri}})
    svc.import_image(ctx, image["id"], {"method": {"name": "web-download", "uri": http_server + "disk.raw"}}).result(30)
    active = svc.get(ctx, image["id"])
    assert active["status"] == "active" and active["size"] == 8000
    # A URL that fails: the image goes back to queued, marked.
    broken = new_image(svc, ctx)
    svc.import_image(ctx, broken["id"], {"method": {"name": "web-download", "uri": http_server + "missing"}}).result(30)
    shown = svc.get(ctx, broken["id"])
    assert shown["status"] == "queued" and shown["os_glance_failed_import"] == "file"
    assert [t["status"] for t in svc.tasks(ctx, broken["id"])] == ["failure"]


def test_create_from_file_as_the_cloud(image_service, tmp_path):
    path = tmp_path / "guest.raw"
    path.write_bytes(os.urandom(5 * 1024 * 1024 + 1))
    owner = uuid.uuid4().hex
    image = image_service.create_from_file(RequestContext.service(), {
        "name": "shipped", "visibility": "public", "disk_format": "raw", "container_format": "bare",
        "owner": owner}, str(path))
    assert image["status"] == "active" and image["owner"] == owner and image["visibility"] == "public"
    assert image["checksum"] == hashlib.md5(path.read_bytes()).hexdigest()
    assert image_service.get(user(), image["id"])["id"] == image["id"]


# -- recovery -----------------------------------------------------------------------------------
def test_recover_stuck_images(make_image_service):
    svc = make_image_service()
    ctx = user()
    image = new_image(svc, ctx)
    ingest = svc.begin_upload(ctx, image["id"])
    ingest.feed_blocking(b"half an upload")  # then the process "dies": no commit, no abort
    assert svc.get(ctx, image["id"])["status"] == "saving" and store_files(svc)
    restarted = make_image_service()
    assert image["id"] in restarted.recover()
    assert restarted.get(ctx, image["id"])["status"] == "queued" and store_files(restarted) == []
