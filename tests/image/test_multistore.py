"""Multi-store in the service layer (no HTTP): two filesystem stores ("fast", the default, and
"cheap"), uploads to either, copy-image, imports to several stores with and without
all_stores_must_succeed, deleting from one store, and what a restart does to an import."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest

from monostack.common import errors
from tests.image.test_service import admin, new_image, store_files, upload, user

BACKENDS = {"enabled_backends": "fast:file,cheap:file", "default_backend": "fast"}


@pytest.fixture
def svc(make_image_service: Any) -> Any:
    return make_image_service(**BACKENDS)


class BrokenWriter:
    def write(self, data: bytes) -> None:
        raise OSError("the disk is gone")

    def commit(self) -> str:
        raise AssertionError("never committed")

    def abort(self) -> None:
        pass


def break_store(svc: Any, store_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svc.backends[store_id], "writer", lambda *a, **k: BrokenWriter())


def test_stores_and_methods(svc, make_image_service):
    assert svc.stores() == [{"id": "fast", "description": "Filesystem store", "default": True},
                            {"id": "cheap", "description": "Filesystem store"}]
    assert "copy-image" in svc.import_methods()
    assert svc.backends["cheap"].root == svc.backends["fast"].root / "cheap"
    assert "copy-image" not in make_image_service().import_methods()  # one store: nothing to copy to
    with pytest.raises(ValueError):
        make_image_service(enabled_backends="fast:file", default_backend="other")
    with pytest.raises(ValueError):
        make_image_service(enabled_backends="fast:tape")


def test_upload_to_a_chosen_store_then_copy(svc):
    ctx = admin()
    data = os.urandom(300_000)
    image = new_image(svc, ctx, visibility="public")
    with pytest.raises(errors.BadRequest):
        svc.begin_upload(ctx, image["id"], store_id="nowhere")
    ingest = svc.begin_upload(ctx, image["id"], store_id="cheap")
    ingest.feed_blocking(data)
    done = svc.finish_upload(ctx, ingest)
    assert done["stores"] == "cheap" and (svc.backends["cheap"].root / image["id"]).exists()
    assert not (svc.backends["fast"].root / image["id"]).exists()
    svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["fast"]}).result(30)
    copied = svc.get(ctx, image["id"])
    assert copied["stores"] == "cheap,fast" and copied["status"] == "active"
    assert copied["os_glance_importing_to_stores"] == "" and copied["os_glance_failed_import"] == ""
    assert (svc.backends["fast"].root / image["id"]).read_bytes() == data
    with pytest.raises(errors.BadRequest):  # already there
        svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["fast"]})
    assert svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "all_stores": True}) is None
    with pytest.raises(errors.Forbidden):  # copy-image is an admin's (Glance's default policy)
        svc.import_image(user(), image["id"], {"method": {"name": "copy-image"}, "stores": ["fast"]})

    svc.delete_from_store(ctx, "cheap", image["id"])
    assert svc.get(ctx, image["id"])["stores"] == "fast" and not (svc.backends["cheap"].root / image["id"]).exists()
    _, chunks, _ = svc.open_data(ctx, image["id"])
    assert b"".join(chunks) == data
    with pytest.raises(errors.Forbidden):  # the last copy
        svc.delete_from_store(ctx, "fast", image["id"])
    with pytest.raises(errors.Conflict):
        svc.delete_from_store(ctx, "nowhere", image["id"])
    svc.delete(ctx, image["id"])
    assert store_files(svc) == []


def test_copy_of_an_image_that_is_not_active(svc):
    ctx = admin()
    image = new_image(svc, ctx)
    with pytest.raises(errors.Conflict):
        svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["cheap"]})


def staged(svc: Any, ctx: Any, data: bytes) -> dict[str, Any]:
    image = new_image(svc, ctx)
    upload(svc, ctx, image["id"], data, staging=True)
    return image


def test_import_to_every_store(svc):
    ctx = user()
    data = os.urandom(200_000)
    image = staged(svc, ctx, data)
    with pytest.raises(errors.Conflict):
        svc.import_image(ctx, image["id"], {"method": {"name": "glance-direct"}, "stores": ["fast", "nowhere"]})
    with pytest.raises(errors.BadRequest):
        svc.import_image(ctx, image["id"], {"method": {"name": "glance-direct"}, "all_stores_must_succeed": "no"})
    svc.import_image(ctx, image["id"], {"method": {"name": "glance-direct"}, "all_stores": True}).result(30)
    done = svc.get(ctx, image["id"])
    assert done["status"] == "active" and done["stores"] == "cheap,fast"
    assert done["checksum"] == hashlib.md5(data).hexdigest()
    assert store_files(svc) == sorted([image["id"], f"cheap/{image['id']}"])  # nothing left staged


def test_one_failing_store_undoes_the_import(svc, monkeypatch):
    ctx = user()
    image = staged(svc, ctx, os.urandom(100_000))
    break_store(svc, "cheap", monkeypatch)
    svc.import_image(ctx, image["id"], {"method": {"name": "glance-direct"},
                                        "stores": ["fast", "cheap"]}).result(30)
    failed = svc.get(ctx, image["id"])
    assert failed["status"] == "queued" and "stores" not in failed and failed["checksum"] is None
    assert failed["os_glance_failed_import"] == "cheap" and failed["os_glance_importing_to_stores"] == ""
    assert [t["status"] for t in svc.tasks(ctx, image["id"])] == ["failure"]
    assert store_files(svc) == []  # fast's copy removed, the staged data too


def test_a_failing_store_may_be_allowed(svc, monkeypatch):
    ctx = user()
    image = staged(svc, ctx, os.urandom(100_000))
    break_store(svc, "cheap", monkeypatch)
    svc.import_image(ctx, image["id"], {"method": {"name": "glance-direct"}, "stores": ["cheap", "fast"],
                                        "all_stores_must_succeed": False}).result(30)
    done = svc.get(ctx, image["id"])
    assert done["status"] == "active" and done["stores"] == "fast"
    assert done["os_glance_failed_import"] == "cheap" and done["os_glance_importing_to_stores"] == ""
    assert [t["status"] for t in svc.tasks(ctx, image["id"])] == ["success"]


def test_a_failed_copy_keeps_the_image(svc, monkeypatch):
    ctx = admin()
    image = new_image(svc, ctx)
    upload(svc, ctx, image["id"], b"bits" * 1000)
    break_store(svc, "cheap", monkeypatch)
    svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["cheap"]}).result(30)
    shown = svc.get(ctx, image["id"])
    assert shown["status"] == "active" and shown["stores"] == "fast" and shown["os_glance_failed_import"] == "cheap"


def test_restart_fails_an_interrupted_copy(svc, make_image_service, monkeypatch):
    ctx = admin()
    image = new_image(svc, ctx)
    upload(svc, ctx, image["id"], b"bits")
    monkeypatch.setattr(svc, "_run_import", lambda *args: None)  # the copy never runs: the process "died"
    svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["cheap"]}).result(30)
    with pytest.raises(errors.Conflict):  # the import lock
        svc.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["cheap"]})
    restarted = make_image_service(**BACKENDS)
    restarted.recover()
    shown = restarted.get(ctx, image["id"])
    assert shown["status"] == "active" and shown["os_glance_failed_import"] == "cheap"
    assert [t["status"] for t in restarted.tasks(ctx, image["id"])] == ["failure"]
    restarted.import_image(ctx, image["id"], {"method": {"name": "copy-image"}, "stores": ["cheap"]}).result(30)
    assert restarted.get(ctx, image["id"])["stores"] == "cheap,fast"


def test_stores_detail_is_for_admins(svc):
    detail = svc.stores_detail(admin())
    assert [(s["id"], s["type"], s.get("default", False)) for s in detail] == [("fast", "file", True),
                                                                             ("cheap", "file", False)]
    assert detail[1]["properties"]["data_dir"].endswith("/cheap") and detail[0]["weight"] == 0
    with pytest.raises(errors.Forbidden):
        svc.stores_detail(user())
