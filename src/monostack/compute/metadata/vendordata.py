"""Vendor data: what the operator gives every guest, as Nova's two providers
make it (nova/api/metadata/vendordata_json.py, vendordata_dynamic.py).

* StaticJSON: one JSON file ([api] vendordata_jsonfile_path), read once;
  it is vendor_data.json and the "static" key of vendor_data2.json.
* DynamicJSON: for each target ``name@url`` ([api] vendordata_dynamic_targets)
  a POST of the server's facts to the URL; each answer (JSON) is served under
  its name in vendor_data2.json. A failing target gives ``{}`` unless
  `failure_fatal`.

The compute service puts the results in InstanceMetadata.vendor_data and
.dynamic_vendor_data.
"""

from __future__ import annotations

import base64
import json
import logging
import pathlib
from typing import Any

import httpx

from monostack.compute.metadata.instance import InstanceMetadata

LOG = logging.getLogger(__name__)


class VendorDataError(Exception):
    pass


def load_static(path: str | pathlib.Path | None) -> dict[str, Any]:
    """The StaticJSON document; {} without a file. Blocking: call it at
    start-up or in a thread. A missing or invalid file is an error, as in Nova."""
    if not path:
        return {}
    try:
        data = json.loads(pathlib.Path(path).read_bytes())
    except OSError as exc:
        raise VendorDataError(f"vendordata_jsonfile_path {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise VendorDataError(f"vendordata_jsonfile_path {path}: not JSON: {exc}") from exc
    return data


def request_body(meta: InstanceMetadata) -> dict[str, Any]:
    """What a DynamicJSON target is told about the server."""
    user_data = None
    if meta.user_data is not None:
        user_data = base64.b64encode(meta.user_data).decode()  # stored base64 in Nova
    return {
        "project-id": meta.project_id,
        "instance-id": meta.uuid,
        "image-id": meta.image_id or "",
        "user-data": user_data,
        "hostname": meta.hostname,
        "metadata": dict(meta.metadata),
        "boot-roles": meta.boot_roles,
    }


async def fetch_dynamic(meta: InstanceMetadata, targets: list[str], *, client: httpx.AsyncClient,
                        token: str | None = None, connect_timeout: float = 5.0,
                        read_timeout: float = 5.0, failure_fatal: bool = False) -> dict[str, Any]:
    """The answers of the DynamicJSON targets, by target name. `token`, when
    given, is sent as X-Auth-Token (Nova's [vendordata_dynamic_auth])."""
    result: dict[str, Any] = {}
    headers = {"Content-Type": "application/json", "Accept": "application/json",
               "User-Agent": "openstack-nova-vendordata"}
    if token:
        headers["X-Auth-Token"] = token
    timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
    body = json.dumps(request_body(meta))
    for target in targets:
        if "@" not in target:
            LOG.warning("Vendordata target %s lacks a name. Skipping", target)
            continue
        name, url = target.split("@", 1)
        if name in result:
            LOG.warning("Vendordata already contains an entry named %s. Skipping", target)
            continue
        try:
            resp = await client.post(url, content=body, headers=headers, timeout=timeout)
            resp.raise_for_status()
            result[name] = json.loads(resp.text) if resp.text else {}
        except (httpx.HTTPError, ValueError) as exc:
            LOG.warning("Error from dynamic vendordata service %s at %s: %s", name, url, exc)
            if failure_fatal:
                raise VendorDataError(f"dynamic vendordata {name} at {url}: {exc}") from exc
            result[name] = {}
    return result
