"""/v3/{project_id}/extensions: the API extensions this service answers (Cinder's names)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse

router = APIRouter()

EXTENSIONS = [
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("BackupActions", "os-backup-actions", "Enable admin actions on backups (reset_status, force_delete)."),
    ("Backups", "backups", "Backups support."),
    ("ExtendedServices", "os-extended-services", "Extended services support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("SchedulerStats", "scheduler-stats", "Scheduler stats support."),
    ("Capabilities", "capabilities", "Capabilities support."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes", "Extended SnapshotAttributes support."),
    ("Qos_specs_manage", "qos-specs", "QoS specs support."),
    ("QuotaClasses", "os-quota-class-sets", "Quota classes management support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("Services", "os-services", "Services support."),
    ("SnapshotActions", "os-snapshot-actions", "Enable snapshot manager actions."),
    ("TypesExtraSpecs", "os-types-extra-specs", "Type extra specs support."),
    ("TypesManage", "os-types-manage", "Types manage support."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being used."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeAdminActions", "os-admin-actions", "Enable admin actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "Show image metadata associated with the volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as an attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as an attribute of a volume."),
    ("VolumeTransfer", "os-volume-transfer", "Volume transfer management support."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
]


@router.get("/v3/extensions")
async def extensions(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    return JSONResponse({"extensions": [
        {"alias": alias, "description": description, "links": [], "name": name,
         "namespace": f"https://docs.openstack.org/volume/ext/{alias}/api/v1", "updated": "2013-04-18T00:00:00+00:00"}
        for name, alias, description in EXTENSIONS]})
