"""Every metadata document of one server, by path, as Nova's metadata API
and config drive present them (nova/api/metadata/base.py).

`Documents(meta).lookup(path)` answers one request path of the metadata
service; `Documents(meta, config_drive=True).config_drive_files()` lists the
files of a config drive. Paths not under ``/openstack`` are EC2 paths
(``/latest/meta-data/...``; ``/ec2/...`` works too).
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import posixpath
from dataclasses import dataclass
from typing import Any, Iterator

from monostack.compute.metadata import ec2
from monostack.compute.metadata.instance import InstanceMetadata
from monostack.compute.metadata.network import network_data

# The OpenStack metadata versions, each named after the release that made it.
FOLSOM = "2012-08-10"
GRIZZLY = "2013-04-04"  # random_seed, password
HAVANA = "2013-10-17"  # vendor_data.json
LIBERTY = "2015-10-15"  # project_id, network_data.json
NEWTON_ONE = "2016-06-30"  # devices
NEWTON_TWO = "2016-10-06"  # vendor_data2.json
OCATA = "2017-02-22"  # devices: vlan
ROCKY = "2018-08-27"  # devices: vf_trusted
VICTORIA = "2020-10-14"  # dedicated_cpus
EPOXY = "2025-04-04"  # devices: shares
OPENSTACK_VERSIONS = [FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY,
                      VICTORIA, EPOXY]

MD_JSON = "meta_data.json"
VD_JSON = "vendor_data.json"
VD2_JSON = "vendor_data2.json"
NW_JSON = "network_data.json"
USER_DATA = "user_data"
PASSWORD = "password"
CONTENT_DIR = "content"

TEXT = "text/plain; charset=UTF-8"
JSON = "application/json"


class NotFoundPath(Exception):
    """No document at this path (the API answers 404)."""


@dataclass
class Document:
    body: bytes
    content_type: str = TEXT


class PasswordPath:
    """The /openstack/<version>/password endpoint: GET and POST, handled by the API."""


PASSWORD_ENDPOINT = PasswordPath()


def _dump(obj: Any) -> bytes:
    # Nova's jsonutils: the standard encoder, ASCII only, ", " and ": ".
    return json.dumps(obj).encode()


def render_listing(data: Any) -> bytes:
    """A tree node as the metadata service prints it: a directory lists its
    entries one a line, sorted, sub-directories with a trailing slash (or
    their "_name"); a list one item a line; anything else as text."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, dict):
        lines = []
        for key in sorted(data):
            if key == ec2.NAME_KEY:
                continue
            value = data[key]
            if isinstance(value, dict):
                lines.append(str(value[ec2.NAME_KEY]) if ec2.NAME_KEY in value else f"{key}/")
            else:
                lines.append(key)
        text = "\n".join(lines)
    elif isinstance(data, list):
        text = "\n".join(str(item) for item in data)
    else:
        text = str(data)
    return text.encode()


def _since(required: str, version: str, versions: list[str] = OPENSTACK_VERSIONS) -> bool:
    return versions.index(version) >= versions.index(required)


def listed_openstack_versions(today: datetime.date | None = None) -> list[str]:
    """The /openstack listing: versions dated in the future are hidden (they
    can still be asked for by name)."""
    day = (today or datetime.datetime.now(datetime.timezone.utc).date()).isoformat()
    return [v for v in OPENSTACK_VERSIONS if v <= day] + ["latest"]


class Documents:
    """The metadata of one server. `address` is the requester's address
    (EC2 local-ipv4 falls back to it); `config_drive` adds what only the
    config drive carries (admin_pass, injected files)."""

    def __init__(self, meta: InstanceMetadata, *, address: str | None = None,
                 config_drive: bool = False) -> None:
        self.meta = meta
        self.address = address
        self.config_drive = config_drive
        self.network = network_data(meta.network_info)
        # Injected files are served from openstack/content/<nnnn>.
        self.content: dict[str, bytes] = {}
        self.file_entries: list[dict[str, str]] = []
        if config_drive:
            for path, data in meta.files:
                key = f"{len(self.content):04d}"
                self.content[key] = data
                self.file_entries.append({"path": path, "content_path": f"/{CONTENT_DIR}/{key}"})

    # ---------------------------------------------------------------- OpenStack

    @staticmethod
    def openstack_version(version: str) -> str:
        if version == "latest":
            return OPENSTACK_VERSIONS[-1]
        if version not in OPENSTACK_VERSIONS:
            raise NotFoundPath(version)
        return version

    def meta_data(self, version: str) -> dict[str, Any]:
        meta = self.meta
        version = self.openstack_version(version)
        doc: dict[str, Any] = {"uuid": meta.uuid}
        if meta.metadata:
            doc["meta"] = dict(meta.metadata)
        if self.file_entries:
            doc["files"] = self.file_entries
        if self.config_drive and meta.admin_pass:
            doc["admin_pass"] = meta.admin_pass
        keypair = meta.keypairs[0] if meta.keypairs else None
        if meta.key_name and keypair is not None:
            doc["public_keys"] = {keypair.name: keypair.public_key}
            doc["keys"] = [{"name": keypair.name, "type": keypair.type, "data": keypair.public_key}]
        doc["hostname"] = meta.fqdn
        doc["name"] = meta.name
        doc["launch_index"] = meta.launch_index
        doc["availability_zone"] = meta.availability_zone
        if _since(GRIZZLY, version):
            seed = meta.random_seed if meta.random_seed is not None else os.urandom(512)
            doc["random_seed"] = base64.b64encode(seed).decode()
        if _since(LIBERTY, version):
            doc["project_id"] = meta.project_id
        if _since(NEWTON_ONE, version):
            doc["devices"] = self.devices(version)
        if _since(VICTORIA, version):
            doc["dedicated_cpus"] = sorted(meta.dedicated_cpus)
        return doc

    def devices(self, version: str) -> list[dict[str, Any]]:
        out = []
        for dev in self.meta.devices:
            item: dict[str, Any] = {}
            if dev.type == "nic":
                if _since(OCATA, version) and dev.vlan is not None:
                    item["vlan"] = dev.vlan
                if _since(ROCKY, version):
                    item["vf_trusted"] = bool(dev.vf_trusted)
                item["type"] = "nic"
                item["mac"] = dev.mac
                # A NIC with neither tags, VLAN nor trust flag says nothing.
                if dev.tags is None and "vlan" not in item and "vf_trusted" not in item:
                    continue
            elif dev.type == "disk":
                item["type"] = "disk"
                if dev.serial is not None:
                    item["serial"] = dev.serial
                if dev.path is not None:
                    item["path"] = dev.path
            elif dev.type == "share" and _since(EPOXY, version):
                item["type"] = "share"
                item["share_id"] = dev.share_id
                item["tag"] = dev.tag
            else:
                continue
            item["bus"] = dev.bus or "none"
            item["address"] = dev.address if dev.bus and dev.address else "none"
            if dev.tags is not None:
                item["tags"] = list(dev.tags)
            out.append(item)
        return out

    def vendor_data(self, version: str) -> dict[str, Any]:
        if not _since(HAVANA, self.openstack_version(version)) or self.meta.vendor_data is None:
            raise NotFoundPath(VD_JSON)
        return self.meta.vendor_data

    def vendor_data2(self, version: str) -> dict[str, Any]:
        if not _since(NEWTON_TWO, self.openstack_version(version)):
            raise NotFoundPath(VD2_JSON)
        doc: dict[str, Any] = {}
        if self.meta.vendor_data is not None:
            doc["static"] = self.meta.vendor_data
        for name, value in self.meta.dynamic_vendor_data.items():
            if name not in doc:  # a target named like an earlier key is dropped, as in Nova
                doc[name] = value
        return doc

    def version_listing(self, version: str) -> list[str]:
        version = self.openstack_version(version)
        names = [MD_JSON]
        if self.meta.user_data is not None:
            names.append(USER_DATA)
        if _since(GRIZZLY, version):
            names.append(PASSWORD)
        if _since(HAVANA, version):
            names.append(VD_JSON)
        if _since(LIBERTY, version):
            names.append(NW_JSON)
        if _since(NEWTON_TWO, version):
            names.append(VD2_JSON)
        return names

    def openstack_item(self, tokens: list[str]) -> Document | PasswordPath:
        if tokens[0] == CONTENT_DIR:
            if len(tokens) != 2 or tokens[1] not in self.content:
                raise NotFoundPath("/".join(tokens))
            return Document(self.content[tokens[1]])
        version = tokens[0]
        if len(tokens) == 1:
            return Document(render_listing(self.version_listing(version)))
        name = "/".join(tokens[1:])
        if name == MD_JSON:
            return Document(_dump(self.meta_data(version)), JSON)
        if name == USER_DATA:
            self.openstack_version(version)
            if self.meta.user_data is None:
                raise NotFoundPath(name)
            return Document(self.meta.user_data)
        if name == NW_JSON:
            # Served as text/plain by Nova, and on every version.
            self.openstack_version(version)
            return Document(_dump(self.network if self.network is not None else {}))
        if name == VD_JSON:
            return Document(_dump(self.vendor_data(version)), JSON)
        if name == VD2_JSON:
            return Document(_dump(self.vendor_data2(version)), JSON)
        if name == PASSWORD and _since(GRIZZLY, self.openstack_version(version)):
            return PASSWORD_ENDPOINT
        raise NotFoundPath(name)

    # ---------------------------------------------------------------- EC2

    def ec2_item(self, tokens: list[str]) -> Document:
        try:
            node: Any = ec2.ec2_metadata(self.meta, tokens[0], self.address)
        except ec2.UnknownVersion:
            raise NotFoundPath(tokens[0]) from None
        for token in tokens[1:]:
            if not isinstance(node, dict) or token not in node:
                raise NotFoundPath("/".join(tokens))
            node = node[token]
        return Document(render_listing(node))

    # ---------------------------------------------------------------- paths

    def lookup(self, path: str) -> Document | PasswordPath:
        """The document at a metadata service path (without the mount prefix)."""
        path = posixpath.normpath("/" + path.lstrip("/"))
        tokens = [t for t in path.split("/") if t]
        if not tokens or tokens[0] not in ("ec2", "openstack"):
            tokens = ["ec2"] + tokens
        if len(tokens) == 1:
            if tokens[0] == "openstack":
                return Document(render_listing(listed_openstack_versions()))
            return Document(render_listing(ec2.VERSIONS + ["latest"]))
        if tokens[0] == "openstack":
            return self.openstack_item(tokens[1:])
        return self.ec2_item(tokens[1:])

    # ---------------------------------------------------------------- config drive

    def config_drive_files(self) -> Iterator[tuple[str, bytes]]:
        """(path, contents) of every file of the config drive."""
        for version in ec2.VERSIONS + ["latest"]:
            if version in ec2.CONFIG_DRIVE_SKIP_VERSIONS:
                continue
            data = ec2.ec2_metadata(self.meta, version, self.address)
            if "user-data" in data:
                yield f"ec2/{version}/user-data", data["user-data"]
            md = data["meta-data"]
            if "public-keys" in md:
                md["public-keys"]["0"].pop(ec2.NAME_KEY, None)
            yield f"ec2/{version}/meta-data.json", _dump(md)
        all_versions = OPENSTACK_VERSIONS + ["latest"]
        for version in all_versions:
            base = f"openstack/{version}"
            yield f"{base}/{MD_JSON}", _dump(self.meta_data(version))
            if self.meta.user_data is not None:
                yield f"{base}/{USER_DATA}", self.meta.user_data
            if _since(HAVANA, version, all_versions) and self.meta.vendor_data is not None:
                yield f"{base}/{VD_JSON}", _dump(self.vendor_data(version))
            if _since(LIBERTY, version, all_versions):
                yield f"{base}/{NW_JSON}", _dump(self.network if self.network is not None else {})
            if _since(NEWTON_TWO, version, all_versions):
                yield f"{base}/{VD2_JSON}", _dump(self.vendor_data2(version))
        for key, data in self.content.items():
            yield f"openstack/{CONTENT_DIR}/{key}", data
