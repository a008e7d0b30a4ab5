"""Flavors: the sizes servers are built with, who may use the private ones,
and their extra specs.

A server embeds a copy of its flavor (`to_dict`) when it is built, so
editing or deleting a flavor later never changes existing servers.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from monostack.common import errors, pagination
from monostack.common.context import RequestContext
from monostack.compute import models
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

LOG = logging.getLogger(__name__)

# DevStack's and Tempest's usual sizes: (flavorid, name, vcpus, ram MiB, disk GiB).
DEFAULT_FLAVORS = [
    ("42", "m1.nano", 1, 128, 1),
    ("84", "m1.micro", 1, 192, 1),
    ("1", "m1.tiny", 1, 512, 1),
    ("2", "m1.small", 1, 2048, 20),
    ("3", "m1.medium", 2, 4096, 40),
    ("4", "m1.large", 4, 8192, 80),
    ("5", "m1.xlarge", 8, 16384, 160),
]

# The API's sort keys and the columns they sort (Nova's VALID_SORT_KEYS; vcpu_weight is not kept).
SORT_COLUMNS = {
    "created_at": models.Flavor.created_at, "description": models.Flavor.description,
    "disabled": models.Flavor.disabled, "ephemeral_gb": models.Flavor.ephemeral_gb,
    "flavorid": models.Flavor.flavorid, "id": models.Flavor.id, "is_public": models.Flavor.is_public,
    "memory_mb": models.Flavor.memory_mb, "name": models.Flavor.name, "root_gb": models.Flavor.root_gb,
    "rxtx_factor": models.Flavor.rxtx_factor, "swap": models.Flavor.swap,
    "updated_at": models.Flavor.updated_at, "vcpu_weight": models.Flavor.id, "vcpus": models.Flavor.vcpus,
}


def to_dict(row: models.Flavor) -> dict[str, Any]:
    """The flavor as servers embed it and the API renders it."""
    return {"id": row.flavorid, "name": row.name, "vcpus": row.vcpus, "ram": row.memory_mb, "disk": row.root_gb,
            "ephemeral": row.ephemeral_gb or 0, "swap": row.swap or 0, "rxtx_factor": row.rxtx_factor,
            "is_public": row.is_public, "disabled": row.disabled, "description": row.description,
            "extra_specs": {spec.key: spec.value for spec in row.extra_specs}}


def _not_found(flavorid: str) -> errors.NotFound:
    return errors.NotFound(f"Flavor {flavorid} could not be found.")


class FlavorManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    # -- defaults ----------------------------------------------------------------------
    def ensure_defaults(self) -> None:
        """The m1.* flavors in a new cloud ([compute] default_flavors), once: never recreated after deletes
        by an operator who has since made flavors of their own."""
        if not self.svc.conf.compute.default_flavors:
            return
        try:
            with self.svc.db.writer() as session:
                if session.scalar(sa.select(sa.func.count()).select_from(models.Flavor)):
                    return
                now = utcnow()
                for flavorid, name, vcpus, ram, disk in DEFAULT_FLAVORS:
                    session.add(models.Flavor(flavorid=flavorid, name=name, vcpus=vcpus, memory_mb=ram,
                                              root_gb=disk, ephemeral_gb=0, swap=0, rxtx_factor=1.0,
                                              is_public=True, disabled=False, created_at=now))
        except sa_exc.IntegrityError:
            LOG.debug("default flavors made by another process meanwhile")

    # -- reading -----------------------------------------------------------------------
    def _visible(self, row: models.Flavor, ctx: RequestContext | None) -> bool:
        if ctx is None or ctx.is_admin or row.is_public:
            return True
        return any(p.project_id == ctx.project_id for p in row.projects)

    def _row(self, session: Any, flavorid: str) -> models.Flavor | None:
        return session.scalar(sa.select(models.Flavor).where(models.Flavor.flavorid == str(flavorid)))

    def get(self, flavorid: str, ctx: RequestContext | None = None) -> dict[str, Any]:
        """The flavor (the dict servers embed); 404 when missing or private to other projects."""
        with self.svc.db.reader() as session:
            row = self._row(session, flavorid)
            if row is None or not self._visible(row, ctx):
                raise _not_found(flavorid)
            return to_dict(row)

    def list(self, ctx: RequestContext, *, is_public: bool | None = True, min_ram: int | None = None,
             min_disk: int | None = None, sort_key: str = "flavorid", sort_dir: str = "asc",
             limit: int | None = None, marker: str | None = None) -> list[dict[str, Any]]:
        """Nova's flavor list: is_public True also shows private flavors the caller's project may use,
        None shows all (admins only); non-admins never see disabled flavors."""
        query = sa.select(models.Flavor)
        if is_public is not None:
            shown = models.Flavor.is_public.is_(is_public)
            if is_public and ctx.project_id:
                shown = sa.or_(shown, models.Flavor.projects.any(models.FlavorProject.project_id == ctx.project_id))
            query = query.where(shown)
        if not ctx.is_admin:
            query = query.where(models.Flavor.disabled.is_(False))
        if min_ram is not None:
            query = query.where(models.Flavor.memory_mb >= min_ram)
        if min_disk is not None:
            query = query.where(models.Flavor.root_gb >= min_disk)
        column = SORT_COLUMNS.get(sort_key, models.Flavor.flavorid)
        order = [column.desc() if sort_dir == "desc" else column.asc(),
                 models.Flavor.id.desc() if sort_dir == "desc" else models.Flavor.id.asc()]
        with self.svc.db.reader() as session:
            rows = [to_dict(row) for row in session.scalars(query.order_by(*order)).all()]
        # Flavors are few: the page is cut from the sorted list (a marker must be among the shown ones).
        return pagination.paginate(rows, pagination.PageRequest(limit=limit or None, marker=marker),
                                   lambda f: f["id"])

    # -- changing ----------------------------------------------------------------------
    def create(self, *, name: str, ram: int, vcpus: int, disk: int, flavorid: str | None = None,
               ephemeral: int = 0, swap: int = 0, rxtx_factor: float = 1.0, is_public: bool = True,
               description: str | None = None) -> dict[str, Any]:
        flavorid = str(flavorid) if flavorid is not None else str(uuid.uuid4())
        with self.svc.db.writer() as session:
            if session.scalar(sa.select(models.Flavor.id).where(models.Flavor.name == name)) is not None:
                raise errors.Conflict(f"Flavor with name {name} already exists.")
            if self._row(session, flavorid) is not None:
                raise errors.Conflict(f"Flavor with ID {flavorid} already exists.")
            row = models.Flavor(flavorid=flavorid, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk,
                                ephemeral_gb=ephemeral, swap=swap, rxtx_factor=rxtx_factor, is_public=is_public,
                                disabled=False, description=description, created_at=utcnow())
            session.add(row)
            session.flush()
            result = to_dict(row)
        self.svc.notify("flavor.create", {"flavorid": flavorid, "name": name})
        return result

    def update_description(self, flavorid: str, description: str | None) -> dict[str, Any]:
        with self.svc.db.writer() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            row.description = description
            row.updated_at = utcnow()
            session.flush()
            return to_dict(row)

    def delete(self, flavorid: str) -> None:
        with self.svc.db.writer() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            session.delete(row)
        self.svc.notify("flavor.delete", {"flavorid": flavorid})

    # -- access ------------------------------------------------------------------------
    def access_list(self, flavorid: str) -> list[str]:
        """The projects a private flavor is shared with (404 for public flavors, as Nova)."""
        with self.svc.db.reader() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            if row.is_public:
                raise errors.NotFound("Access list not available for public flavors.")
            return sorted(p.project_id for p in row.projects)

    def add_access(self, flavorid: str, project_id: str, *, refuse_public: bool) -> list[str]:
        with self.svc.db.writer() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            if refuse_public and row.is_public:
                raise errors.Conflict("Can not add access to a public flavor.")
            if any(p.project_id == project_id for p in row.projects):
                raise errors.Conflict(f"Flavor access already exists for flavor {flavorid} and project "
                                      f"{project_id} combination.")
            row.projects.append(models.FlavorProject(project_id=project_id))
            session.flush()
            return sorted(p.project_id for p in row.projects)

    def remove_access(self, flavorid: str, project_id: str) -> list[str]:
        with self.svc.db.writer() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            match = [p for p in row.projects if p.project_id == project_id]
            if not match:
                raise errors.NotFound(f"Flavor access not found for {flavorid} / {project_id} combination.")
            row.projects.remove(match[0])
            session.flush()
            return sorted(p.project_id for p in row.projects)

    # -- extra specs -------------------------------------------------------------------
    def set_extra_specs(self, flavorid: str, specs: dict[str, str]) -> dict[str, str]:
        """Adds or replaces the given keys; returns all of the flavor's extra specs."""
        with self.svc.db.writer() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            current = {spec.key: spec for spec in row.extra_specs}
            for key, value in specs.items():
                if key in current:
                    current[key].value = value
                else:
                    row.extra_specs.append(models.FlavorExtraSpec(key=key, value=value))
            row.updated_at = utcnow()
            session.flush()
            return {spec.key: spec.value for spec in row.extra_specs}

    def delete_extra_spec(self, flavorid: str, key: str) -> None:
        with self.svc.db.writer() as session:
            row = self._row(session, flavorid)
            if row is None:
                raise _not_found(flavorid)
            match = [spec for spec in row.extra_specs if spec.key == key]
            if not match:
                raise errors.NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
            row.extra_specs.remove(match[0])
            row.updated_at = utcnow()


# -- extra spec validation (microversion 2.86) ---------------------------------------------
# The specs Nova knows in its own namespaces: a spec in one of these namespaces that is not
# listed is refused; specs in other namespaces (or none) pass unchecked, as in Nova.
_INT, _BOOL, _STR = "int", "bool", "str"
_CPU_LIST = r"\^?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"
_GROUP = r"([a-zA-Z0-9_-]{1,64})?"
_KNOWN: list[tuple[str, str, dict[str, Any]]] = [
    ("hw:cpu_policy", _STR, {"enum": ["shared", "dedicated", "mixed"]}),
    ("hw:cpu_thread_policy", _STR, {"enum": ["prefer", "isolate", "require"]}),
    ("hw:emulator_threads_policy", _STR, {"enum": ["share", "isolate"]}),
    ("hw:cpu_dedicated_mask", _STR, {"pattern": _CPU_LIST}),
    ("hw:cpu_realtime", _BOOL, {}),
    ("hw:cpu_realtime_mask", _STR, {"pattern": r"(\^)?\d+((-\d+)?(,\^?\d+(-\d+)?)?)*"}),
    ("hw:hide_hypervisor_id", _BOOL, {}),
    ("hw:mem_page_size", _STR, {"pattern": r"(large|small|any|\d+([kKMGT]i?)?(b|bit|B)?)"}),
    ("hw:locked_memory", _BOOL, {}),
    ("hw:numa_nodes", _INT, {"min": 1}),
    (r"hw:numa_cpus\.\d+", _STR, {"pattern": _CPU_LIST}),
    (r"hw:numa_mem\.\d+", _INT, {"min": 1}),
    ("hw:pci_numa_affinity_policy", _STR, {"enum": ["required", "preferred", "legacy", "socket"]}),
    ("hw:cpu_sockets", _INT, {"min": 1}), ("hw:cpu_cores", _INT, {"min": 1}),
    ("hw:cpu_threads", _INT, {"min": 1}), ("hw:cpu_max_sockets", _INT, {"min": 1}),
    ("hw:cpu_max_cores", _INT, {"min": 1}), ("hw:cpu_max_threads", _INT, {"min": 1}),
    ("hw:boot_menu", _BOOL, {}), ("hw:vif_multiqueue_enabled", _BOOL, {}),
    ("hw:mem_encryption", _BOOL, {}), ("hw:mem_encryption_model", _STR, {"enum": ["amd-sev", "amd-sev-es"]}),
    ("hw:pmem", _STR, {"pattern": r"([a-zA-Z0-9_]+(,)?)+"}), ("hw:pmu", _BOOL, {}),
    ("hw:serial_port_count", _INT, {"min": 0}),
    ("hw:tpm_model", _STR, {"enum": ["tpm-tis", "tpm-crb"]}), ("hw:tpm_version", _STR, {"enum": ["1.2", "2.0"]}),
    ("hw:watchdog_action", _STR, {"enum": ["none", "pause", "poweroff", "reset", "disabled"]}),
    ("hw:viommu_model", _STR, {"enum": ["intel", "smmuv3", "virtio", "auto"]}),
    ("hw:virtio_packed_ring", _BOOL, {}),
    ("hw:redirected_usb_ports", _INT, {"min": 0, "max": 15}),
    ("hw:ephemeral_encryption", _BOOL, {}),
    ("hw_rng:allowed", _BOOL, {}), ("hw_rng:rate_bytes", _INT, {"min": 0}), ("hw_rng:rate_period", _INT, {"min": 0}),
    ("hw_video:ram_max_mb", _INT, {"min": 0}),
    (rf"resources{_GROUP}:[A-Z0-9_]+", _INT, {"min": 0}),
    (rf"trait{_GROUP}:[a-zA-Z0-9_]+", _STR, {"enum": ["required", "forbidden"]}),
    ("os:secure_boot", _STR, {"enum": ["required", "disabled", "optional"]}),
    ("accel:device_profile", _STR, {}),
    ("pci_passthrough:alias", _STR, {"pattern": r"[^:]+:\d+(?:\s*,\s*[^:]+:\d+)*"}),
    (r"quota:(cpu|memory|disk_io|vif)_(limit|reservation|shares_share)", _INT, {"min": 0}),
    (r"quota:(cpu|memory|disk_io|vif)_shares_level", _STR, {"enum": ["custom", "high", "normal", "low"]}),
    (r"quota:(cpu_shares|cpu_period|cpu_quota|disk_read_bytes_sec|disk_read_iops_sec|disk_write_bytes_sec|"
     r"disk_write_iops_sec|disk_total_bytes_sec|disk_total_iops_sec|disk_total_bytes_sec_max|"
     r"disk_total_iops_sec_max|disk_read_bytes_sec_max|disk_read_iops_sec_max|disk_write_bytes_sec_max|"
     r"disk_write_iops_sec_max|disk_size_iops_sec|vif_inbound_average|vif_inbound_peak|vif_inbound_burst|"
     r"vif_outbound_average|vif_outbound_peak|vif_outbound_burst)", _INT, {"min": 0}),
    ("hide_hypervisor_id", _BOOL, {}),
    ("group_policy", _STR, {"enum": ["isolate", "none"]}),
]
_KNOWN_RE = [(re.compile(name), kind, rules) for name, kind, rules in _KNOWN]
_NAMESPACES = {"hw", "hw_rng", "hw_video", "os", "accel", "pci_passthrough", "quota"}
_NAMESPACE_RE = [re.compile(rf"resources{_GROUP}"), re.compile(rf"trait{_GROUP}")]
_BOOL_WORDS = {"true", "false", "1", "0", "yes", "no", "on", "off", "t", "f", "y", "n"}


def validate_extra_spec(name: str, value: str) -> None:
    """Nova's 2.86 extra spec validation of its own namespaces (400 on failure)."""
    for pattern, kind, rules in _KNOWN_RE:
        if pattern.fullmatch(name):
            _check_value(value, kind, rules)
            return
    if ":" not in name:
        return
    namespace = name.split(":", 1)[0]
    if namespace in _NAMESPACES or any(p.fullmatch(namespace) for p in _NAMESPACE_RE):
        raise errors.BadRequest(f"Validation failed; extra spec '{name}' does not appear to be a valid extra spec.")


def _check_value(value: str, kind: str, rules: dict[str, Any]) -> None:
    if kind == _INT:
        try:
            number = int(value)
        except ValueError:
            raise errors.BadRequest(f"Validation failed; '{value}' is not a valid integer value.") from None
        if "max" in rules and number > rules["max"]:
            raise errors.BadRequest(f"Validation failed; '{value}' is greater than the max value of "
                                    f"'{rules['max']}'.")
        if "min" in rules and number < rules["min"]:
            raise errors.BadRequest(f"Validation failed; '{value}' is less than the min value of '{rules['min']}'.")
    elif kind == _BOOL:
        if str(value).strip().lower() not in _BOOL_WORDS:
            raise errors.BadRequest(f"Validation failed; '{value}' is not a valid boolean-like value.")
    elif "pattern" in rules:
        if not re.fullmatch(rules["pattern"], value):
            raise errors.BadRequest(f"Validation failed; '{value}' is not of the format '{rules['pattern']}'.")
    elif "enum" in rules and value not in rules["enum"]:
        raise errors.BadRequest(f"Validation failed; '{value}' is not one of: {', '.join(rules['enum'])}.")
