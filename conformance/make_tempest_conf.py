#!/usr/bin/env python3
"""Write a tempest.conf for a Monostack cloud from its clouds.yaml.

The generated file mirrors what DevStack's ``lib/tempest`` writes for the
Identity service (see conformance/README.md for the option-by-option
rationale):

* ``[auth]``: the admin credentials of the ``monostack-admin`` cloud, with
  ``use_dynamic_credentials = True`` so Tempest creates (and deletes) its own
  projects and users for every test class.
* ``[identity]``: ``uri_v3``, ``auth_version = v3``, region, default domain
  and the security-compliance values that must equal the server's
  ``[security_compliance]`` settings (Monostack uses DevStack's: lockout after
  2 failures for 10 s, last 2 passwords unique, minimum password age 0).
* ``[identity-feature-enabled]``: DevStack's flags (security_compliance,
  trust, access_rules, project_tags, application_credentials, api_v2=False,
  api_extensions=all, ...).
* ``[service_available]``: derived from the service catalog that the cloud
  actually returns (admin password token via plain ``POST /v3/auth/tokens``),
  so the file stays right as services land.
* ``[compute]`` / ``[compute-feature-enabled]`` (when the catalog has
  ``compute``): the guest images ``monostack-guest`` and
  ``monostack-guest-alt`` (looked up in the Image service, waiting for their
  background registration), flavors m1.nano (42) and m1.micro (84), the
  microversion range from the Compute version document, and feature flags
  that say what Monostack's Compute service really supports.

Only the standard library and PyYAML are needed, so the script runs in the
project venv as well as in the Tempest venv.

Usage::

    make_tempest_conf.py --clouds-yaml DATA/clouds.yaml --output etc/tempest.conf \\
        [--cloud monostack-admin] [--workspace DIR] [--offline] \\
        [--set section.option=value ...] [--extra-conf FILE ...]

``--offline`` skips the catalog query (nothing is contacted); the available
services are then taken from ``--services`` (default: identity only).  That is
enough for ``tempest run --list-tests`` and for counting skips.
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from typing import Any, Iterable

import yaml

DEFAULT_CLOUD = "monostack-admin"
FALLBACK_CLOUDS = ("monostack-admin", "devstack-admin")

# Keystone [security_compliance] values of Monostack's Identity service
# (DevStack's lib/keystone defaults: KEYSTONE_LOCKOUT_FAILURE_ATTEMPTS=2,
# KEYSTONE_LOCKOUT_DURATION=10, KEYSTONE_UNIQUE_LAST_PASSWORD_COUNT=2;
# minimum_password_age is left at keystone's default 0).
DEFAULT_LOCKOUT_FAILURE_ATTEMPTS = 2
DEFAULT_LOCKOUT_DURATION = 10
DEFAULT_UNIQUE_LAST_PASSWORD_COUNT = 2
DEFAULT_MINIMUM_PASSWORD_AGE = 0

# tempest [service_available] flag -> catalog service types that satisfy it.
# (DevStack writes the flags for "key,glance,nova,neutron,cinder,swift,horizon";
# "key" belongs to the barbican plugin and has no option in tempest itself.)
SERVICE_TYPES: dict[str, tuple[str, ...]] = {
    "nova": ("compute",),
    "glance": ("image",),
    "neutron": ("network",),
    "cinder": ("block-storage", "volumev3", "volume"),
    "swift": ("object-store",),
    "horizon": ("dashboard",),
}


# Compute: the images and flavors a Monostack cloud provides for tests (DevStack
# has cirros and m1.nano/m1.micro for the same purpose).
GUEST_IMAGE = "monostack-guest"
GUEST_IMAGE_ALT = "monostack-guest-alt"
FLAVOR_REF = "42"       # m1.nano
FLAVOR_REF_ALT = "84"   # m1.micro
# Used offline; online the range comes from GET /compute/v2.1.
DEFAULT_COMPUTE_MICROVERSIONS = ("2.1", "2.96")
# How long to wait for the guest images (registered in the background after
# the API answers; a first start builds the image).
DEFAULT_IMAGE_WAIT = 600.0

# What Monostack's Compute service supports ([compute-feature-enabled]).
# True only for what works end to end; interface_attach and metadata_service
# are turned on with Networking (compute_network_sections); the rest waits for
# a key manager (attach_encrypted_volume), swap_volume, or a second host
# (migrations).
COMPUTE_FEATURES: dict[str, bool] = {
    "console_output": True,
    "resize": True,
    "pause": True,
    "suspend": True,
    "shelve": True,
    "shelve_migrate": False,
    "rescue": True,
    "stable_rescue": True,
    "snapshot": True,
    "config_drive": True,
    "disk_config": True,
    # Hostnames from display names turn dots into dashes (Nova since Wallaby).
    "hostname_fqdn_sanitization": True,
    "serial_console": False,
    "vnc_console": False,
    "spice_console": False,
    "live_migration": False,
    "cold_migration": False,
    "block_migration_for_live_migration": False,
    "interface_attach": False,
    "attach_encrypted_volume": False,
    "swap_volume": False,
    "volume_multiattach": True,
    "volume_backed_live_migration": False,
    "change_password": False,
    "personality": True,
    "metadata_service": False,
    "enable_instance_password": True,
    "unified_limits": False,
}
# The filters of monostack.compute.scheduler.filters (Tempest skips the
# scheduler-hint tests of filters not listed).
SCHEDULER_FILTERS = (
    "AvailabilityZoneFilter", "ComputeFilter", "ImagePropertiesFilter",
    "AggregateInstanceExtraSpecsFilter", "AggregateMultiTenancyIsolation",
    "ServerGroupAffinityFilter", "ServerGroupAntiAffinityFilter",
)


class ConfError(Exception):
    """A problem with the input (clouds.yaml, catalog query, --set)."""


# --------------------------------------------------------------------------
# clouds.yaml
# --------------------------------------------------------------------------
def load_cloud(clouds_yaml: str, cloud_name: str | None = None) -> dict[str, Any]:
    """Return the cloud entry ``cloud_name`` of a clouds.yaml file.

    Without a name, ``monostack-admin`` is used, then ``devstack-admin``.
    """
    with open(clouds_yaml, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    clouds = data.get("clouds") or {}
    names = [cloud_name] if cloud_name else list(FALLBACK_CLOUDS)
    for name in names:
        if name in clouds:
            cloud = dict(clouds[name])
            cloud["_name"] = name
            if not isinstance(cloud.get("auth"), dict):
                raise ConfError(f"cloud {name!r} in {clouds_yaml} has no auth section")
            return cloud
    raise ConfError(
        f"none of the clouds {names} found in {clouds_yaml} "
        f"(it has: {', '.join(sorted(clouds)) or 'nothing'})"
    )


def identity_v3_url(auth_url: str) -> str:
    """``http://h:p/identity`` -> ``http://h:p/identity/v3`` (idempotent)."""
    url = auth_url.rstrip("/")
    if url.endswith("/v3"):
        return url
    return url + "/v3"


def _domain_name_guess(domain_id: str | None, domain_name: str | None) -> str:
    """Keystone's default domain is id ``default`` / name ``Default``."""
    if domain_name:
        return domain_name
    if domain_id in (None, "", "default"):
        return "Default"
    return domain_id  # last resort; the catalog query normally supplies it


# --------------------------------------------------------------------------
# Catalog query: plain POST /v3/auth/tokens
# --------------------------------------------------------------------------
def _ssl_context(cloud: dict[str, Any]) -> ssl.SSLContext | None:
    verify = cloud.get("verify", True)
    cacert = cloud.get("cacert")
    if verify is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if cacert:
        return ssl.create_default_context(cafile=cacert)
    return None


def password_auth_body(auth: dict[str, Any]) -> dict[str, Any]:
    """Build a Keystone v3 password auth request body from a clouds.yaml auth."""
    user: dict[str, Any] = {"password": auth["password"]}
    if auth.get("user_id"):
        user["id"] = auth["user_id"]
    else:
        user["name"] = auth["username"]
        if auth.get("user_domain_id"):
            user["domain"] = {"id": auth["user_domain_id"]}
        else:
            user["domain"] = {"name": auth.get("user_domain_name", "Default")}
    body: dict[str, Any] = {
        "auth": {"identity": {"methods": ["password"], "password": {"user": user}}}
    }
    if auth.get("system_scope"):
        body["auth"]["scope"] = {"system": {auth["system_scope"]: True}}
    elif auth.get("project_id"):
        body["auth"]["scope"] = {"project": {"id": auth["project_id"]}}
    elif auth.get("project_name"):
        project: dict[str, Any] = {"name": auth["project_name"]}
        if auth.get("project_domain_id"):
            project["domain"] = {"id": auth["project_domain_id"]}
        else:
            project["domain"] = {"name": auth.get("project_domain_name", "Default")}
        body["auth"]["scope"] = {"project": project}
    return body


def fetch_token(cloud: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Authenticate with the cloud's credentials; return the ``token`` dict.

    The token body carries the catalog and the names of the user's and
    project's domains (tempest.conf wants domain *names*).
    """
    url = identity_v3_url(cloud["auth"]["auth_url"]) + "/auth/tokens"
    data = json.dumps(password_auth_body(cloud["auth"])).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    # No proxy: the cloud is local (and *_proxy env vars must not leak in).
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=_ssl_context(cloud)),
    )
    try:
        with opener.open(req, timeout=timeout) as resp:
            body = json.loads(resp.read().decode() or "{}")
            subject_token = resp.headers.get("X-Subject-Token")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ConfError(f"POST {url} -> HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ConfError(f"POST {url} failed: {exc}") from exc
    if "token" not in body:
        raise ConfError(f"POST {url}: response has no 'token': {str(body)[:300]}")
    token = body["token"]
    # Kept beside the body for the Compute/Image look-ups (discover_compute).
    token["_subject_token"] = subject_token
    return token


def _get_json(cloud: dict[str, Any], url: str, token_id: str | None,
              timeout: float, *, method: str = "GET", body: Any = None) -> dict[str, Any]:
    """A JSON answer (GET, or `method` with a JSON `body`)."""
    headers = {"Accept": "application/json"}
    if token_id:
        headers["X-Auth-Token"] = token_id
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=_ssl_context(cloud)),
    )
    try:
        request = urllib.request.Request(url, headers=headers, data=data, method=method)
        with opener.open(request, timeout=timeout) as resp:
            return json.loads(resp.read().decode() or "{}")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:300]
        raise ConfError(f"{method} {url} -> HTTP {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConfError(f"{method} {url} failed: {exc}") from exc


def endpoint_url(catalog: Iterable[dict[str, Any]], service_type: str,
                 region: str | None, interface: str = "public") -> str | None:
    """The ``interface`` URL of ``service_type`` in ``region`` (None if absent)."""
    for service in catalog or ():
        if service.get("type") != service_type:
            continue
        for ep in service.get("endpoints") or ():
            ep_region = ep.get("region_id") or ep.get("region")
            if ep.get("interface", interface) == interface and not (
                    region and ep_region and ep_region != region):
                return ep.get("url")
    return None


def discover_compute(cloud: dict[str, Any], token: dict[str, Any], *, timeout: float = 30.0,
                     image_wait: float = DEFAULT_IMAGE_WAIT) -> dict[str, str]:
    """The cloud's values for ``[compute]``: guest image ids and microversion range.

    The guest images are registered in the background once the cloud
    answers, so this waits up to ``image_wait`` seconds for both to be active.
    """
    import time

    region = cloud.get("region_name") or "RegionOne"
    interface = (cloud.get("interface") or "public").removesuffix("URL")
    catalog = token.get("catalog") or []
    token_id = token.get("_subject_token")
    found: dict[str, str] = {}

    compute_url = endpoint_url(catalog, "compute", region, interface)
    if compute_url:
        doc = _get_json(cloud, compute_url.rstrip("/"), token_id, timeout).get("version") or {}
        if doc.get("min_version") and doc.get("version"):
            found["min_microversion"] = doc["min_version"]
            found["max_microversion"] = doc["version"]

    image_url = endpoint_url(catalog, "image", region, interface)
    if image_url:
        deadline = time.monotonic() + image_wait
        wanted = {"image_ref": GUEST_IMAGE, "image_ref_alt": GUEST_IMAGE_ALT}
        while True:
            for option, name in wanted.items():
                if option in found:
                    continue
                url = f"{image_url.rstrip('/')}/v2/images?name={name}&status=active"
                images = _get_json(cloud, url, token_id, timeout).get("images") or []
                if images:
                    found[option] = images[0]["id"]
            if all(option in found for option in wanted) or time.monotonic() >= deadline:
                break
            time.sleep(2)
        missing = [name for option, name in wanted.items() if option not in found]
        if missing:
            raise ConfError(f"no active image {', '.join(missing)} after {image_wait:.0f}s "
                            "(is [image] guest_images on, or MONOSTACK_GUEST_CACHE set?)")
    return found


def discover_object_storage(cloud: dict[str, Any], token: dict[str, Any], *,
                            timeout: float = 30.0) -> list[str]:
    """The middleware Object Storage announces in /info (Tempest's discoverable_apis)."""
    region = cloud.get("region_name") or "RegionOne"
    interface = (cloud.get("interface") or "public").removesuffix("URL")
    url = endpoint_url(token.get("catalog") or [], "object-store", region, interface)
    if not url:
        return []
    root = url.rstrip("/").split("/v1/")[0]
    info = _get_json(cloud, f"{root}/info", token.get("_subject_token"), timeout)
    return sorted(key for key in info if key != "swift")


def discover_network(cloud: dict[str, Any], token: dict[str, Any], *,
                     timeout: float = 30.0) -> dict[str, Any]:
    """The Networking service's extensions (exactly what /v2.0/extensions lists)
    and its external network, if the cloud has one (Tempest's public_network_id)."""
    region = cloud.get("region_name") or "RegionOne"
    interface = (cloud.get("interface") or "public").removesuffix("URL")
    url = endpoint_url(token.get("catalog") or [], "network", region, interface)
    if not url:
        return {}
    base = url.rstrip("/") + "/v2.0"
    token_id = token.get("_subject_token")
    try:
        extensions = _get_json(cloud, f"{base}/extensions", token_id, timeout).get("extensions") or []
        external = _get_json(cloud, f"{base}/networks?router:external=True", token_id,
                             timeout).get("networks") or []
    except ConfError as exc:  # the conf still names the extensions the code declares
        print(f"make_tempest_conf: warning: {exc}", file=sys.stderr)
        return {}
    found: dict[str, Any] = {"api_extensions": sorted(e["alias"] for e in extensions)}
    if external:
        found["public_network_id"] = external[0]["id"]
        found["floating_network_name"] = external[0]["name"]
    return found


def _volume_url(cloud: dict[str, Any], token: dict[str, Any]) -> str | None:
    """The Block Storage v3 endpoint of the cloud's region and interface, if it has one."""
    region = cloud.get("region_name") or "RegionOne"
    interface = (cloud.get("interface") or "public").removesuffix("URL")
    catalog = token.get("catalog") or []
    return endpoint_url(catalog, "block-storage", region, interface) or endpoint_url(
        catalog, "volumev3", region, interface)


def discover_volume_backends(cloud: dict[str, Any], token: dict[str, Any], *,
                             timeout: float = 30.0) -> list[str]:
    """The backend names of the cloud's cinder-volume services (host@<name>), for
    [volume] backend_names and multi_backend."""
    url = _volume_url(cloud, token)
    if not url:
        return []
    try:
        services = _get_json(cloud, f"{url.rstrip('/')}/os-services?binary=cinder-volume",
                             token.get("_subject_token"), timeout).get("services") or []
    except ConfError:  # no os-services (not Monostack's, or not admin): the defaults
        return []
    return sorted({s["host"].partition("@")[2] for s in services if "@" in s.get("host", "")})


MULTIATTACH_TYPE = "multiattach"


def ensure_multiattach_type(cloud: dict[str, Any], token: dict[str, Any], *, timeout: float = 30.0) -> str | None:
    """The volume type Tempest's multiattach tests use ([volume] volume_type_multiattach), made as
    DevStack's lib/tempest makes it (extra spec multiattach="<is> True") when the cloud lacks it."""
    url = _volume_url(cloud, token)
    if not url:
        return None
    types_url, token_id = f"{url.rstrip('/')}/types", token.get("_subject_token")
    try:
        types = _get_json(cloud, types_url, token_id, timeout).get("volume_types") or []
        if not any(t.get("name") == MULTIATTACH_TYPE for t in types):
            _get_json(cloud, types_url, token_id, timeout, method="POST", body={"volume_type": {
                "name": MULTIATTACH_TYPE, "extra_specs": {"multiattach": "<is> True"}}})
    except ConfError:  # not admin, or not a Block Storage that takes it: the tests skip
        return None
    return MULTIATTACH_TYPE


def catalog_service_types(
    catalog: Iterable[dict[str, Any]], region: str | None, interface: str = "public"
) -> set[str]:
    """Service types that have an ``interface`` endpoint in ``region``.

    An endpoint without region information counts for every region; when
    ``region`` is None any region counts.
    """
    types: set[str] = set()
    for service in catalog or ():
        for ep in service.get("endpoints") or ():
            if ep.get("interface", interface) != interface:
                continue
            ep_region = ep.get("region_id") or ep.get("region")
            if region and ep_region and ep_region != region:
                continue
            types.add(service.get("type", ""))
            break
    types.discard("")
    return types


def service_available(types: set[str]) -> dict[str, bool]:
    """Map catalog service types to tempest's [service_available] flags."""
    return {flag: any(t in types for t in cands) for flag, cands in SERVICE_TYPES.items()}


# --------------------------------------------------------------------------
# tempest.conf content
# --------------------------------------------------------------------------
def _b(value: bool) -> str:
    return "True" if value else "False"


def _lit(value: Any) -> str:
    """Quote a literal for oslo.config, which substitutes ``$name``."""
    return str(value).replace("$", "$$")


def build_conf(
    cloud: dict[str, Any],
    token: dict[str, Any] | None,
    *,
    services: set[str] | None = None,
    workspace: str | None = None,
    security_compliance: bool = True,
    lockout_failure_attempts: int = DEFAULT_LOCKOUT_FAILURE_ATTEMPTS,
    lockout_duration: int = DEFAULT_LOCKOUT_DURATION,
    unique_last_password_count: int = DEFAULT_UNIQUE_LAST_PASSWORD_COUNT,
    minimum_password_age: int = DEFAULT_MINIMUM_PASSWORD_AGE,
    enforce_scope_keystone: bool = True,
    compute: dict[str, str] | None = None,
    object_apis: list[str] | None = None,
    volume_backends: list[str] | None = None,
    network: dict[str, Any] | None = None,
) -> dict[str, dict[str, str]]:
    """Return ``{section: {option: value}}`` for tempest.conf.

    ``token`` is the body returned by :func:`fetch_token` (or None when
    offline, in which case ``services`` lists the available service types).
    ``compute`` is what :func:`discover_compute` found (image ids,
    microversions); offline the image refs stay unset.
    """
    auth = cloud["auth"]
    region = cloud.get("region_name") or "RegionOne"
    interface = cloud.get("interface") or "public"
    if interface.endswith("URL"):
        interface = interface[: -len("URL")]

    user_domain_id = auth.get("user_domain_id")
    project_domain_id = auth.get("project_domain_id") or user_domain_id
    user_domain_name = _domain_name_guess(user_domain_id, auth.get("user_domain_name"))
    project_domain_name = _domain_name_guess(project_domain_id, auth.get("project_domain_name"))
    if token is not None:
        # The token tells the real names (and ids) of the domains.
        tdom = (token.get("user") or {}).get("domain") or {}
        user_domain_name = tdom.get("name") or user_domain_name
        user_domain_id = user_domain_id or tdom.get("id")
        pdom = (token.get("project") or {}).get("domain") or {}
        project_domain_name = pdom.get("name") or project_domain_name
        project_domain_id = project_domain_id or pdom.get("id")
        types = catalog_service_types(token.get("catalog") or [], region, interface)
    else:
        types = set(services or {"identity"})
    default_domain_id = project_domain_id or user_domain_id or "default"

    conf: dict[str, dict[str, str]] = {}
    conf["DEFAULT"] = {
        "debug": "True",
        "use_stderr": "False",
        "log_file": "tempest.log",
    }
    if workspace:
        conf["DEFAULT"]["log_dir"] = os.path.join(workspace, "logs")
        conf["oslo_concurrency"] = {"lock_path": os.path.join(workspace, "tempest_lock")}

    conf["auth"] = {
        "use_dynamic_credentials": "True",
        "admin_username": _lit(auth["username"]),
        "admin_password": _lit(auth["password"]),
        "admin_project_name": _lit(auth.get("project_name", "admin")),
        "admin_domain_name": _lit(project_domain_name),
        "admin_user_domain_name": _lit(user_domain_name),
        "admin_project_domain_name": _lit(project_domain_name),
        # Tempest creates its dynamic users/projects in this domain.
        "default_credentials_domain_name": _lit(project_domain_name),
    }

    identity = {
        "uri_v3": identity_v3_url(auth["auth_url"]),
        "auth_version": "v3",
        "region": region,
        "v3_endpoint_type": interface,
        "default_domain_id": default_domain_id,
        "admin_role": "admin",
        # Must equal keystone.conf [security_compliance] (see README).
        "user_lockout_failure_attempts": str(lockout_failure_attempts),
        "user_lockout_duration": str(lockout_duration),
        "user_unique_last_password_count": str(unique_last_password_count),
        "user_minimum_password_age": str(minimum_password_age),
        # DevStack leaves these at their defaults (project-scoped admin token).
        "use_system_token": "False",
        "admin_domain_scope": "False",
    }
    if auth["auth_url"].startswith("https"):
        if cloud.get("verify") is False:
            identity["disable_ssl_certificate_validation"] = "True"
        if cloud.get("cacert"):
            identity["ca_certificates_file"] = cloud["cacert"]
    conf["identity"] = identity

    conf["identity-feature-enabled"] = {
        # DevStack: KEYSTONE_SECURITY_COMPLIANCE_ENABLED=True by default.
        "security_compliance": _b(security_compliance),
        "trust": "True",
        "api_v2": "False",
        "api_v3": "True",
        # OS-INHERIT and OS-EC2 gate test_inherits / test_ec2_credentials.
        "api_extensions": "all",
        "access_rules": "True",
        # DevStack sets these two; current tempest removed the options, so
        # they are ignored, kept for parity with DevStack's file.
        "project_tags": "True",
        "application_credentials": "True",
        # True only with LDAP in DevStack; Monostack has SQL identity only.
        "domain_specific_drivers": "False",
        "immutable_user_source": "False",
    }

    available = service_available(types)
    conf["service_available"] = {k: _b(v) for k, v in available.items()}

    if available.get("glance"):
        # Monostack's Image service does not inspect uploaded data for its
        # format; with Tempest's default (True) ListUserImagesTest is skipped.
        conf["image-feature-enabled"] = {"image_format_enforcement": "False"}

    if available["nova"]:
        conf.update(compute_sections(compute or {}, region))

    if available["swift"]:
        # Tempest's defaults (operator role member, ResellerAdmin) are Monostack's;
        # container sync is not offered, and only what /info announces is tested.
        conf["object-storage"] = {"operator_role": "member", "reseller_admin_role": "ResellerAdmin"}
        features = {"container_sync": "False"}
        if object_apis:
            features["discoverable_apis"] = ",".join(object_apis)
        conf["object-storage-feature-enabled"] = features

    if available.get("neutron"):
        for section, values in network_sections(network or {}).items():
            conf.setdefault(section, {}).update(values)
        if available["nova"]:
            for section, values in compute_network_sections(network or {}).items():
                conf.setdefault(section, {}).update(values)

    # Catalog type of the block-storage service when it is not the default.
    if available["cinder"] and "block-storage" not in types:
        for cand in ("volumev3", "volume"):
            if cand in types:
                conf["volume"] = {"catalog_type": cand}
                break

    if available["cinder"]:
        for section, values in volume_sections(volume_backends).items():
            conf.setdefault(section, {}).update(values)
        if not available["nova"]:
            for option in ("image_ref", "image_ref_alt"):
                if (compute or {}).get(option):
                    conf.setdefault("compute", {})[option] = compute[option]

    # DevStack: [enforce_scope] keystone = true when KEYSTONE_ENFORCE_NEW_DEFAULTS
    # (its default).  Tempest itself only reads it in plugins today.
    conf["enforce_scope"] = {"keystone": _b(enforce_scope_keystone)}
    return conf


def compute_sections(found: dict[str, str], region: str) -> dict[str, dict[str, str]]:
    """``[compute]``, ``[compute-feature-enabled]`` and ``[validation]``."""
    compute = {
        "region": region,
        "flavor_ref": FLAVOR_REF,
        "flavor_ref_alt": FLAVOR_REF_ALT,
        "min_microversion": found.get("min_microversion", DEFAULT_COMPUTE_MICROVERSIONS[0]),
        "max_microversion": found.get("max_microversion", DEFAULT_COMPUTE_MICROVERSIONS[1]),
        # Monostack's default shelved_offload_time (offloaded at once), as Nova's.
        "shelved_offload_time": "0",
        "min_compute_nodes": "1",
    }
    # No fixed_network_name: without a networking service servers get no
    # network choice (a QEMU user-mode NIC).
    for option in ("image_ref", "image_ref_alt"):
        if found.get(option):
            compute[option] = found[option]
    features = {k: _b(v) for k, v in COMPUTE_FEATURES.items()}
    features["scheduler_enabled_filters"] = ",".join(SCHEDULER_FILTERS)
    return {
        "compute": compute,
        "compute-feature-enabled": features,
        # No guest is reachable over the network yet (no floating IPs/SSH).
        "validation": {"run_validation": "False"},
    }


def compute_network_sections(found: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What Compute adds once Networking runs: NICs hot-plugged into guests, the
    metadata service, DevStack's ``private`` network, and, with an external
    network, Tempest's validation: each test server gets a floating IP, Tempest
    pings it and logs in as root with the test's key (the guest image has the
    ``lsblk`` and ``sudo`` its checks run)."""
    sections: dict[str, dict[str, str]] = {
        "compute": {"fixed_network_name": "private"},
        "compute-feature-enabled": {"interface_attach": "True", "metadata_service": "True"},
    }
    if found.get("public_network_id"):
        sections["validation"] = {
            "run_validation": "True", "connect_method": "floating", "auth_method": "keypair",
            "image_ssh_user": "root", "image_alt_ssh_user": "root", "ip_version_for_ssh": "4",
            "security_group": "True", "security_group_rules": "True",
            "ping_timeout": "120", "connect_timeout": "60", "ssh_timeout": "300",
        }
    return sections


def network_sections(found: dict[str, Any]) -> dict[str, dict[str, str]]:
    """``[network]`` and ``[network-feature-enabled]``: the extensions are exactly
    the ones the service lists (offline: the ones its code declares)."""
    extensions = found.get("api_extensions")
    if extensions is None:
        try:
            from monostack.network.api.extensions import aliases
            extensions = aliases()
        except ImportError:
            extensions = []
    network = {"project_network_cidr": "10.100.0.0/16", "project_network_mask_bits": "28",
               "project_network_v6_cidr": "2001:db8::/48", "project_network_v6_mask_bits": "64",
               "project_networks_reachable": "False", "shared_physical_network": "False"}
    for option in ("public_network_id", "floating_network_name"):
        if found.get(option):
            network[option] = found[option]
    return {
        "network": network,
        "network-feature-enabled": {"api_extensions": ",".join(extensions), "ipv6": "True",
                                    "ipv6_subnet_attributes": "True", "port_security": "True",
                                    "port_admin_state_change": "True", "floating_ips": "True"},
    }


# Block Storage: the microversion range of monostack.volume.api.common and what
# the service really does ([volume-feature-enabled]); extending an attached
# volume and attaching need Compute's side of the volume seam.
VOLUME_MICROVERSIONS = ("3.0", "3.70")
VOLUME_FEATURES: dict[str, bool] = {
    "backup": True,
    "snapshot": True,
    "clone": True,
    "multi_backend": False,
    "manage_volume": False,
    "manage_snapshot": False,
    "extend_attached_volume": True,
    "extend_volume_with_snapshot": True,
    "volume_revert": False,
    "cluster_active_active": False,
}


def volume_sections(backends: list[str] | None = None) -> dict[str, dict[str, str]]:
    """``[volume]`` and ``[volume-feature-enabled]`` (multi_backend when the cloud runs several)."""
    features = {k: _b(v) for k, v in VOLUME_FEATURES.items()}
    features["api_extensions"] = "all"
    backends = backends or ["file"]
    features["multi_backend"] = _b(len(backends) > 1)
    return {
        "volume": {"min_microversion": VOLUME_MICROVERSIONS[0], "max_microversion": VOLUME_MICROVERSIONS[1],
                   "backend_names": ",".join(backends), "storage_protocol": "file", "vendor_name": "Monostack",
                   "build_timeout": "120"},
        "volume-feature-enabled": features,
    }


def apply_overrides(
    conf: dict[str, dict[str, str]],
    sets: Iterable[str] = (),
    extra_files: Iterable[str] = (),
) -> None:
    """Merge INI files and ``section.option=value`` strings into ``conf``.

    Extra files are applied first, then ``sets``, in the order given.
    """
    for path in extra_files:
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # keep option case
        with open(path, encoding="utf-8") as fh:
            parser.read_file(fh)
        for key, value in parser.defaults().items():
            conf.setdefault("DEFAULT", {})[key] = value
        for section in parser.sections():
            for key in parser.options(section):
                if key in parser.defaults():
                    continue
                conf.setdefault(section, {})[key] = parser.get(section, key, raw=True)
    for item in sets:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfError(f"--set wants section.option=value, got {item!r}")
        left, value = item.split("=", 1)
        # The section may itself contain dots? No tempest section does;
        # split on the last dot so "identity-feature-enabled.trust" works.
        section, option = left.rsplit(".", 1)
        conf.setdefault(section, {})[option] = value


def render(conf: dict[str, dict[str, str]], header: str = "") -> str:
    """Serialise ``conf`` as INI text (DEFAULT first, then in insertion order)."""
    lines: list[str] = []
    if header:
        lines.extend("# " + h if h else "#" for h in header.splitlines())
        lines.append("")
    sections = list(conf)
    if "DEFAULT" in sections:
        sections.remove("DEFAULT")
        sections.insert(0, "DEFAULT")
    for section in sections:
        lines.append(f"[{section}]")
        for key, value in conf[section].items():
            lines.append(f"{key} = {value}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clouds-yaml", required=True, help="path of the cloud's clouds.yaml")
    ap.add_argument("--cloud", default=None,
                    help="admin cloud entry (default: monostack-admin, then devstack-admin)")
    ap.add_argument("--output", "-o", default="-", help="tempest.conf to write ('-' = stdout)")
    ap.add_argument("--workspace", default=None,
                    help="tempest workspace dir (sets log_dir and lock_path under it)")
    ap.add_argument("--offline", action="store_true",
                    help="do not contact the cloud; take available services from --services")
    ap.add_argument("--services", default="identity",
                    help="comma-separated catalog types assumed available with --offline")
    ap.add_argument("--timeout", type=float, default=30.0, help="catalog query timeout (s)")
    ap.add_argument("--no-security-compliance", dest="security_compliance",
                    action="store_false", help="set security_compliance = False")
    ap.add_argument("--lockout-failure-attempts", type=int,
                    default=DEFAULT_LOCKOUT_FAILURE_ATTEMPTS)
    ap.add_argument("--lockout-duration", type=int, default=DEFAULT_LOCKOUT_DURATION)
    ap.add_argument("--unique-last-password-count", type=int,
                    default=DEFAULT_UNIQUE_LAST_PASSWORD_COUNT)
    ap.add_argument("--minimum-password-age", type=int, default=DEFAULT_MINIMUM_PASSWORD_AGE)
    ap.add_argument("--no-enforce-scope", dest="enforce_scope", action="store_false",
                    help="write [enforce_scope] keystone = False")
    ap.add_argument("--image-wait", type=float, default=DEFAULT_IMAGE_WAIT,
                    help="seconds to wait for the guest images to be active (compute)")
    ap.add_argument("--extra-conf", action="append", default=[],
                    help="INI file merged over the generated options (repeatable)")
    ap.add_argument("--set", dest="sets", action="append", default=[],
                    metavar="SECTION.OPTION=VALUE", help="override one option (repeatable)")
    args = ap.parse_args(argv)

    try:
        cloud = load_cloud(args.clouds_yaml, args.cloud)
        token = None if args.offline else fetch_token(cloud, timeout=args.timeout)
        services = {s.strip() for s in args.services.split(",") if s.strip()}
        compute = None
        types = catalog_service_types(token.get("catalog") or [], cloud.get("region_name") or "RegionOne",
                                      (cloud.get("interface") or "public").removesuffix("URL")) \
            if token is not None else set()
        # Block Storage's tests make volumes from [compute] image_ref even without Compute.
        if "compute" in types or ({"image"} <= types and types & {"block-storage", "volumev3"}):
            compute = discover_compute(cloud, token, timeout=args.timeout,
                                       image_wait=args.image_wait)
        object_apis = discover_object_storage(cloud, token, timeout=args.timeout) if token is not None else None
        volume_backends = discover_volume_backends(cloud, token, timeout=args.timeout) \
            if token is not None and types & {"block-storage", "volumev3"} else None
        network = discover_network(cloud, token, timeout=args.timeout) if token is not None else None
        multiattach_type = ensure_multiattach_type(cloud, token, timeout=args.timeout) \
            if token is not None and types & {"block-storage", "volumev3"} else None
        conf = build_conf(
            cloud,
            token,
            services=services,
            workspace=os.path.abspath(args.workspace) if args.workspace else None,
            security_compliance=args.security_compliance,
            lockout_failure_attempts=args.lockout_failure_attempts,
            lockout_duration=args.lockout_duration,
            unique_last_password_count=args.unique_last_password_count,
            minimum_password_age=args.minimum_password_age,
            enforce_scope_keystone=args.enforce_scope,
            compute=compute,
            object_apis=object_apis,
            volume_backends=volume_backends,
            network=network,
        )
        if multiattach_type and "volume" in conf:
            conf["volume"]["volume_type_multiattach"] = multiattach_type
        apply_overrides(conf, args.sets, args.extra_conf)
    except (ConfError, OSError, KeyError, yaml.YAMLError) as exc:
        print(f"make_tempest_conf: error: {exc}", file=sys.stderr)
        return 1

    source = "offline (--services %s)" % ",".join(sorted(services)) if token is None \
        else "catalog of " + identity_v3_url(cloud["auth"]["auth_url"])
    header = (
        "tempest.conf generated by conformance/make_tempest_conf.py\n"
        f"clouds.yaml: {os.path.abspath(args.clouds_yaml)} (cloud {cloud['_name']})\n"
        f"[service_available] from: {source}"
    )
    text = render(conf, header)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(args.output, 0o600)  # holds the admin password
        # tempest fails to load its config when log_dir does not exist.
        for key in ("log_dir",):
            if conf.get("DEFAULT", {}).get(key):
                os.makedirs(conf["DEFAULT"][key], exist_ok=True)
        if conf.get("oslo_concurrency", {}).get("lock_path"):
            os.makedirs(conf["oslo_concurrency"]["lock_path"], exist_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
