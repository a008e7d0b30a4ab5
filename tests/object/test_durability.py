"""Durability: 1,000 objects written with three replicas survive the loss of a disk and bit rot
on others.  The auditor finds the rot, the replicator rebuilds the replaced disk and the
quarantined replicas from the good ones: every object has three good replicas again."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import shutil
from typing import Any

import pytest

from tests.object.storage.conftest import Backend, backend, node  # noqa: F401  (the storage node fixtures)

pytestmark = pytest.mark.asyncio

A, C = "AUTH_durable", "keep"
OBJECTS = 1000
CORRUPTED = 10


def hashdir(storage: Any, obj: str, device: str) -> str:
    part = storage.ring("object").get_part(A, C, obj)
    name_hash = storage.hash_path.hexdigest(A, C, obj)
    return os.path.join(storage.devices_dir, device, "objects", str(part), name_hash[-3:], name_hash)


async def quorum_put(client: Backend, obj: str, data: bytes) -> str:
    """What the proxy does: the object to each primary (each with one container replica to update);
    the write stands when a majority stored it."""
    statuses = await client.put_object(A, C, obj, data)
    assert sum(status == 201 for status in statuses) >= 2, statuses
    return hashlib.md5(data).hexdigest()


async def test_objects_survive_a_lost_disk_and_bit_rot(backend: Backend) -> None:  # noqa: F811
    storage = backend.node
    rng = random.Random(42)
    await backend.create_account(A)
    await backend.create_container(A, C)

    # -- 1,000 objects, three replicas each (every 50th large enough to be streamed) --------------------
    expected: dict[str, str] = {}
    semaphore = asyncio.Semaphore(16)

    async def write(index: int) -> None:
        name = f"object-{index:04d}"
        size = 300_000 if index % 50 == 0 else rng.randrange(0, 20_000)
        async with semaphore:
            expected[name] = await quorum_put(backend, name, rng.randbytes(size))

    await asyncio.gather(*(write(index) for index in range(OBJECTS)))
    assert len(expected) == OBJECTS

    devices = ["d1", "d2", "d3"]
    for name in expected:
        for device in devices:
            assert _good_replica(storage, name, device, expected[name]) is None

    # -- a disk dies and is replaced by an empty one ------------------------------------------------------
    shutil.rmtree(os.path.join(storage.devices_dir, "d2"))
    part = storage.ring("object").get_part(A, C, "object-0000")
    response = await backend.request("object", "GET", f"/d2/{part}/{A}/{C}/object-0000")
    assert response.status_code == 507  # unmounted meanwhile
    os.mkdir(os.path.join(storage.devices_dir, "d2"))

    # -- bit rot in ten replicas on the surviving disks ----------------------------------------------------
    victims = rng.sample(sorted(expected), CORRUPTED)
    for index, name in enumerate(victims):
        device = "d1" if index % 2 else "d3"
        directory = hashdir(storage, name, device)
        (data_file,) = [f for f in os.listdir(directory) if f.endswith(".data")]
        path = os.path.join(directory, data_file)
        size = os.path.getsize(path)
        with open(path, "r+b") as target:
            if size:
                target.seek(rng.randrange(size))
                byte = target.read(1)
                target.seek(-1, os.SEEK_CUR)
                target.write(bytes([byte[0] ^ 0xFF]))
            else:
                target.write(b"!")  # an empty object that is not empty any more

    # -- the auditor finds the rot, the replicator rebuilds ---------------------------------------------------
    audit = await storage.audit_once()
    assert audit["quarantined"] == CORRUPTED
    quarantined = sum(len(os.listdir(os.path.join(storage.devices_dir, device, "quarantined", "objects")))
                      for device in ("d1", "d3"))
    assert quarantined == CORRUPTED
    for _ in range(3):
        stats = await storage.replicate_once()
        if stats["object"]["objects_sent"] == 0 and stats["container"]["rows_sent"] == 0:
            break
    assert stats["object"]["failures"] == 0

    # -- every object has three good replicas, none is lost ---------------------------------------------------
    problems = [f"{name} on {device}: {problem}" for name in sorted(expected) for device in devices
                if (problem := _good_replica(storage, name, device, expected[name]))]
    assert problems == []
    for name in rng.sample(sorted(expected), 20):  # and the servers serve them
        part = storage.ring("object").get_part(A, C, name)
        for device in devices:
            response = await backend.request("object", "GET", f"/{device}/{part}/{A}/{C}/{name}")
            assert response.status_code == 200 and hashlib.md5(response.content).hexdigest() == expected[name]
    # the container's database came back to the replaced disk too, with every row
    cpart, cnodes = storage.ring("container").get_nodes(A, C)
    for cnode in cnodes:
        listing = await backend.request("container", "GET", f"/{cnode['device']}/{cpart}/{A}/{C}",
                                        params={"format": "json"})
        assert listing.status_code == 200
        rows = listing.json()
        assert len(rows) == OBJECTS
        assert {row["name"]: row["hash"] for row in rows} == expected


def _good_replica(storage: Any, name: str, device: str, md5: str) -> str | None:
    """None when the device holds exactly one data file of the object, whose bytes and metadata match."""
    directory = hashdir(storage, name, device)
    if not os.path.isdir(directory):
        return "missing"
    files = os.listdir(directory)
    data_files = [f for f in files if f.endswith(".data")]
    if len(data_files) != 1 or len(files) != 1:
        return f"files {files}"
    path = os.path.join(directory, data_files[0])
    with open(path, "rb") as source:
        content = source.read()
    if hashlib.md5(content).hexdigest() != md5:
        return "content differs"
    metadata = json.loads(os.getxattr(path, "user.swift.metadata"))
    if metadata["ETag"] != md5 or int(metadata["Content-Length"]) != len(content):
        return f"metadata {metadata}"
    if metadata["name"] != f"/{A}/{C}/{name}":
        return f"name {metadata['name']}"
    return None
