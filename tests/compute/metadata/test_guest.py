"""The project's guest image reads what this package makes: a config drive
built by build_config_drive, and the metadata API behind a metadata proxy.

Uses the guest image and the QEMU helpers of tests/image/test_guest_image.py
(the image is built once and cached). Every QEMU and server started here is
stopped at the end of its test.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import shutil
import sys
import threading
import time
import uuid

import pytest
import uvicorn

from monostack.compute.metadata import InstanceMetadata, Keypair, build_app, build_config_drive

from tests.compute.metadata.memory_source import MemorySource
from tests.compute.metadata.sample import PROJECT, sample
from tests.image.test_guest_image import (MARK, USER_DATA, Guest, _free_port, accel,  # noqa: F401
                                          guest_image, guests, ssh_key)

pytestmark = pytest.mark.qemu

GUEST_ADDRESS = "169.254.0.15"  # what slirp's DHCP gives the guest (tests/image MD_NET)
SECRET = "qemu-test-secret"
RELAY = pathlib.Path(__file__).resolve().parent / "proxy_relay.py"


def _server(name: str, key: pathlib.Path) -> InstanceMetadata:
    pub = key.with_suffix(".pub").read_text()
    return sample(uuid=str(uuid.uuid4()), hostname=name, name=name, key_name="testkey",
                  keypairs=[Keypair("testkey", pub)], user_data=USER_DATA.encode(), network_info=[])


def _assert_configured(guest: Guest, meta: InstanceMetadata, source: str) -> None:
    guest.wait_for(MARK + "login prompt")
    marks = guest.markers()
    for expected in (f"metadata from {source}", f"instance-id {meta.uuid}",
                     f"hostname {meta.hostname}", "keys installed 1", "user-data ran (exit 0)"):
        assert expected in marks, (expected, marks, guest.text())
    assert f"USER-DATA: hello from {meta.hostname}" in guest.text()


def test_guest_reads_config_drive(guest_image, accel, tmp_path, ssh_key, guests) -> None:
    meta = _server("cd-guest", ssh_key)
    drive = tmp_path / "disk.config"
    asyncio.run(build_config_drive(meta, drive))
    guest = Guest(guest_image, tmp_path, accel, ssh=True,
                  extra=["-drive", f"file={drive},if=ide,media=cdrom,format=raw,readonly=on"])
    guests.append(guest)
    _assert_configured(guest, meta, "config-drive /dev/sr0")
    if shutil.which("ssh"):
        out = guest.ssh(ssh_key, "root", "hostname; cat /root/user-data-was-here; "
                        "cat /run/monostack/meta_data.json")
        host, ran, doc = out.split("\n", 2)
        assert (host, ran) == ("cd-guest", "ran")
        assert json.loads(doc)["uuid"] == meta.uuid  # the drive's meta_data.json, read by the guest


class _ApiServer:
    """The metadata API on 127.0.0.1:<port> in a thread (uvicorn)."""

    def __init__(self, source: MemorySource) -> None:
        self.port = _free_port()
        config = uvicorn.Config(build_app(source, shared_secret=SECRET), host="127.0.0.1",
                                port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "_ApiServer":
        self.thread.start()
        end = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < end and self.thread.is_alive(), "metadata API did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def test_guest_reads_metadata_service(guest_image, accel, tmp_path, ssh_key, guests) -> None:
    meta = _server("md-guest", ssh_key)
    source = MemorySource(meta)
    with _ApiServer(source) as api:
        # The guest's 169.254.169.254:80 runs the relay, which signs the
        # request as the networking service's metadata proxy does.
        relay = f"{sys.executable} {RELAY} {api.port} {meta.uuid} {PROJECT} {SECRET} {GUEST_ADDRESS}"
        guest = Guest(guest_image, tmp_path, accel, ssh=True,
                      extra=["-set", f"netdev.n0.guestfwd=tcp:169.254.169.254:80-cmd:{relay}"])
        guests.append(guest)
        _assert_configured(guest, meta, "http://169.254.169.254 (openstack)")
        assert ("id", meta.uuid) in source.calls
        assert not [c for c in source.calls if c[0] == "address"]
        if shutil.which("ssh"):
            # The guest posts its (encrypted) password once; the second POST is refused.
            post = ("wget -q -O - --post-data=c2VjcmV0 http://169.254.169.254/openstack/latest/password"
                    " >/dev/null 2>&1; echo $?")
            assert guest.ssh(ssh_key, "root", post).strip() == "0"
            assert source.metas[meta.uuid].password == "c2VjcmV0"
            assert guest.ssh(ssh_key, "root", post).strip() != "0"
            out = guest.ssh(ssh_key, "root", "wget -q -O - http://169.254.169.254/openstack/latest/password;"
                            " echo; wget -q -O - http://169.254.169.254/latest/meta-data/instance-id")
            assert out.split() == ["c2VjcmV0", "i-0000002a"]
        guest.stop()
