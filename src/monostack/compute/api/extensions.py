"""The legacy extension list (/v2.1/extensions): v2.1 has no extensions any
more, but clients and Tempest still list them; these are the ones whose API
this service implements."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from monostack.common import errors
from monostack.common.auth import authenticated
from monostack.common.context import RequestContext
from monostack.common.http import JSONResponse
from monostack.compute.api import common

router = APIRouter()

# alias -> (name, description), as Nova names them.
_SUPPORTED = {
    "OS-DCF": ("DiskConfig", "Disk Management Extension."),
    "OS-EXT-AZ": ("ExtendedAvailabilityZone", "Extended Availability Zone support."),
    "OS-EXT-IPS": ("ExtendedIps", "Adds type parameter to the ip list."),
    "OS-EXT-IPS-MAC": ("ExtendedIpsMac", "Adds mac address parameter to the ip list."),
    "OS-EXT-SRV-ATTR": ("ExtendedServerAttributes", "Extended Server Attributes support."),
    "OS-EXT-STS": ("ExtendedStatus", "Extended Status support."),
    "OS-FLV-DISABLED": ("FlavorDisabled", "Support to show the disabled status of a flavor."),
    "OS-FLV-EXT-DATA": ("FlavorExtraData", "Provide additional data for flavors."),
    "OS-SCH-HNT": ("SchedulerHints", "Pass arbitrary key/value pairs to the scheduler."),
    "OS-SRV-USG": ("ServerUsage", "Adds launched_at and terminated_at on Servers."),
    "os-access-ips": ("AccessIPs", "Access IPs support."),
    "os-admin-actions": ("AdminActions", "Enable admin-only server actions."),
    "os-admin-password": ("AdminPassword", "Admin password management support."),
    "os-aggregates": ("Aggregates", "Admin-only aggregate administration."),
    "os-attach-interfaces": ("AttachInterfaces", "Attach interface support."),
    "os-availability-zone": ("AvailabilityZone", "1. Add availability_zone to the Create Server API.\n"
                                                 "2. Add availability zones describing."),
    "os-block-device-mapping": ("BlockDeviceMapping", "Block device mapping boot support."),
    "os-block-device-mapping-v2-boot": ("BlockDeviceMappingV2Boot", "Allow boot with the new BDM data format."),
    "os-config-drive": ("ConfigDrive", "Config Drive Extension."),
    "os-consoles": ("Consoles", "Interactive Console support."),
    "os-console-output": ("ConsoleOutput", "Console log output support, with tailing ability."),
    "os-create-backup": ("CreateBackup", "Create a backup of a server."),
    "os-create-server-ext": ("Createserverext", "Extended support to the Create Server v1.1 API."),
    "os-deferred-delete": ("DeferredDelete", "Instance deferred delete."),
    "os-evacuate": ("Evacuate", "Enables server evacuation."),
    "os-extended-evacuate-find-host": ("ExtendedEvacuateFindHost",
                                       "Enables server evacuation without target host. Scheduler will select one "
                                       "to target."),
    "os-extended-hypervisors": ("ExtendedHypervisors", "Extended hypervisors support."),
    "os-extended-quotas": ("ExtendedQuotas", "Adds ability for admins to delete quota and optionally force the "
                                             "update Quota command."),
    "os-extended-services": ("ExtendedServices", "Extended services support."),
    "os-extended-services-delete": ("ExtendedServicesDelete", "Extended services deletion support."),
    "os-extended-status": ("ExtendedStatus", "Extended Status support."),
    "os-extended-volumes": ("ExtendedVolumes", "Extended Volumes support."),
    "os-flavor-access": ("FlavorAccess", "Flavor access support."),
    "os-flavor-extra-specs": ("FlavorExtraSpecs", "Flavors extra specs support."),
    "os-flavor-manage": ("FlavorManage", "Flavor create/delete API support."),
    "os-flavor-rxtx": ("FlavorRxtx", "Support to show the rxtx status of a flavor."),
    "os-flavor-swap": ("FlavorSwap", "Support to show the swap status of a flavor."),
    "os-floating-ip-pools": ("FloatingIpPools", "Floating IPs support."),
    "os-floating-ips": ("FloatingIps", "Floating IPs support."),
    "os-hosts": ("Hosts", "Admin-only host administration."),
    "os-hypervisor-status": ("HypervisorStatus", "Show hypervisor status."),
    "os-hypervisors": ("Hypervisors", "Admin-only hypervisor administration."),
    "os-instance-actions": ("InstanceActions", "View a log of actions and events taken on an instance."),
    "os-instance-usage-audit-log": ("OSInstanceUsageAuditLog", "Admin-only Task Log Monitoring."),
    "os-keypairs": ("Keypairs", "Keypair Support."),
    "os-lock-server": ("LockServer", "Enable lock/unlock server actions."),
    "os-migrate-server": ("MigrateServer", "Enable migrate and live-migrate server actions."),
    "os-migrations": ("Migrations", "Provide data on migrations."),
    "os-multiple-create": ("MultipleCreate", "Allow multiple create in the Create Server v2.1 API."),
    "os-networks": ("Networks", "Admin-only Network Management Extension."),
    "os-pause-server": ("PauseServer", "Enable pause/unpause server actions."),
    "os-personality": ("Personality", "Personality support."),
    "os-preserve-ephemeral-rebuild": ("PreserveEphemeralOnRebuild",
                                      "Allow preservation of the ephemeral partition on rebuild."),
    "os-quota-class-sets": ("QuotaClasses", "Quota classes management support."),
    "os-quota-sets": ("Quotas", "Quotas management support."),
    "os-rescue": ("Rescue", "Instance rescue mode."),
    "os-security-groups": ("SecurityGroups", "Security group support."),
    "os-server-diagnostics": ("ServerDiagnostics", "Allow Admins to view server diagnostics through server id."),
    "os-server-external-events": ("ServerExternalEvents", "Server External Event Triggers."),
    "os-server-group-quotas": ("ServerGroupQuotas", "Adds quota support to server groups."),
    "os-server-groups": ("ServerGroups", "Server group support."),
    "os-server-list-multi-status": ("ServerListMultiStatus", "Allow to filter the servers by a set of status "
                                                             "values."),
    "os-server-password": ("ServerPassword", "Server password support."),
    "os-server-sort-keys": ("ServerSortKeys", "Add sorting support in get Server v2 API."),
    "os-server-start-stop": ("ServerStartStop", "Start/Stop instance compute API support."),
    "os-services": ("Services", "Services support."),
    "os-shelve": ("Shelve", "Instance shelve mode."),
    "os-simple-tenant-usage": ("SimpleTenantUsage", "Simple tenant usage extension."),
    "os-suspend-server": ("SuspendServer", "Enable suspend/resume server actions."),
    "os-tenant-networks": ("TenantNetworks", "Tenant-based Network Management Extension."),
    "os-used-limits": ("UsedLimits", "Provide data on limited resources that are being used."),
    "os-used-limits-for-admin": ("UsedLimitsForAdmin", "Provide data to admin on limited resources used by other "
                                                       "tenants."),
    "os-user-data": ("UserData", "Add user_data to the Create Server API."),
    "os-user-quotas": ("UserQuotas", "Project user quota support."),
    "os-volumes": ("Volumes", "Volumes support."),
}


def _extension(alias: str) -> dict[str, object]:
    name, description = _SUPPORTED[alias]
    return {"alias": alias, "description": description, "links": [], "name": name,
            "namespace": "http://docs.openstack.org/compute/ext/fake_xml", "updated": "2014-12-03T00:00:00Z"}


@router.get("/v2.1/extensions")
async def index(request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:extensions", {})
    return JSONResponse({"extensions": [_extension(alias) for alias in sorted(_SUPPORTED)]})


@router.get("/v2.1/extensions/{alias}")
async def show(alias: str, request: Request, ctx: RequestContext = Depends(authenticated)) -> JSONResponse:
    common.authorize(request, ctx, "os_compute_api:extensions", {})
    if alias not in _SUPPORTED:
        raise errors.NotFound("The resource could not be found.")
    return JSONResponse({"extension": _extension(alias)})
