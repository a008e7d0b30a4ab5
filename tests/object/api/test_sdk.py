"""openstacksdk's object_store proxy against the cloud (found through the catalog)."""

from __future__ import annotations

import hashlib
import os
import uuid

import openstack
import pytest
from openstack.config import loader

from tests.conftest import RunningCloud


@pytest.fixture
def conn(object_cloud: RunningCloud):
    config = loader.OpenStackConfig(config_files=[str(object_cloud.clouds_yaml)])
    connection = openstack.connection.Connection(config=config.get_one(cloud="monostack"))
    yield connection
    connection.close()


def test_object_store_round_trip(conn) -> None:
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    container = conn.object_store.create_container(name=name)
    try:
        conn.object_store.set_container_metadata(container, color="green")
        assert conn.object_store.get_container_metadata(name).metadata["color"] == "green"
        data = os.urandom(1024 * 1024 + 7)
        conn.object_store.upload_object(container=name, name="blob", data=data, content_type="application/x-blob")
        obj = conn.object_store.get_object_metadata("blob", container=name)
        assert obj.content_length == len(data)
        assert obj.etag == hashlib.md5(data).hexdigest()
        assert conn.object_store.download_object("blob", container=name) == data
        conn.object_store.set_object_metadata("blob", container=name, shape="square")
        assert conn.object_store.get_object_metadata("blob", container=name).metadata["shape"] == "square"
        assert [o.name for o in conn.object_store.objects(name)] == ["blob"]
        assert name in [c.name for c in conn.object_store.containers()]
        info = conn.object_store.get_info()
        assert info.swift["max_object_name_length"] == 1024
        assert "tempurl" in info
        conn.object_store.delete_object("blob", container=name)
        assert list(conn.object_store.objects(name)) == []
    finally:
        conn.object_store.delete_container(name, ignore_missing=True)


def test_sdk_large_object_upload(conn, tmp_path) -> None:
    """The cloud layer splits large files into an SLO when the server allows it (from /info)."""
    name = f"sdk-{uuid.uuid4().hex[:8]}"
    conn.create_container(name)
    try:
        source = tmp_path / "large.bin"
        source.write_bytes(os.urandom(3 * 1024 * 1024))
        conn.create_object(name, "large.bin", filename=str(source), segment_size=1024 * 1024)
        assert conn.object_store.download_object("large.bin", container=name) == source.read_bytes()
        head = conn.object_store.get_object_metadata("large.bin", container=name)
        assert head.is_static_large_object
        # The SDK puts the segments beside the object: large.bin/000000 ...
        assert [o["name"] for o in conn.list_objects(name)] == ["large.bin"] + [
            f"large.bin/{i:06d}" for i in range(3)]
        conn.delete_object(name, "large.bin")  # the manifest and its segments
        assert conn.list_objects(name) == []
    finally:
        for container in (name, name + "_segments"):
            if conn.get_container(container):
                for obj in conn.list_objects(container):
                    conn.object_store.delete_object(obj["name"], container=container)
                conn.delete_container(container)
