"""The server lifecycle: Nova's vm_state, task_state and power_state, in one place.

A server is in one vm_state (what it is) and at most one task_state (what it
is doing).  Every action is declared once in ACTIONS: the vm_states (and
task_states) it may start from, the task_state it sets while the agent works,
and the vm_state it ends in.  The API calls `begin(action, server)` (409
`conflictingRequest` otherwise, with Nova's message); the agent calls
`finish(...)`.  The API's `status` is derived from the pair as Nova derives it.

Crash repair: a server found with a task_state when its agent starts is in
the middle of something that will never finish.  `RECOVERY` says what it
becomes (Nova's _init_instance): builds go to ERROR with a fault, reboots are
retried, most other tasks are cleared and the power state decides.
"""

from __future__ import annotations

import dataclasses

from monostack.common import errors

# vm_states
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# task_states
SCHEDULING = "scheduling"
BLOCK_DEVICE_MAPPING = "block_device_mapping"
NETWORKING = "networking"
SPAWNING = "spawning"
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_PENDING_UPLOAD = "image_pending_upload"
IMAGE_UPLOADING = "image_uploading"
RESIZE_PREP = "resize_prep"
RESIZE_MIGRATING = "resize_migrating"
RESIZE_FINISH = "resize_finish"
RESIZE_REVERTING = "resize_reverting"
RESIZE_CONFIRMING = "resize_confirming"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
RESCUING = "rescuing"
UNRESCUING = "unrescuing"
REBUILDING = "rebuilding"
REBUILD_BLOCK_DEVICE_MAPPING = "rebuild_block_device_mapping"
REBUILD_SPAWNING = "rebuild_spawning"
MIGRATING = "migrating"
DELETING = "deleting"
SHELVING = "shelving"
SHELVING_IMAGE_UPLOADING = "shelving_image_uploading"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
UPDATING_PASSWORD = "updating_password"

# power_state (see drivers.base.PowerState): the API shows the number.
NOSTATE, RUNNING, POWER_PAUSED, SHUTDOWN, CRASHED, POWER_SUSPENDED = 0, 1, 3, 4, 6, 7

_STATUS = {
    ACTIVE: "ACTIVE", BUILDING: "BUILD", PAUSED: "PAUSED", SUSPENDED: "SUSPENDED", STOPPED: "SHUTOFF",
    RESCUED: "RESCUE", RESIZED: "VERIFY_RESIZE", SOFT_DELETED: "SOFT_DELETED", DELETED: "DELETED",
    ERROR: "ERROR", SHELVED: "SHELVED", SHELVED_OFFLOADED: "SHELVED_OFFLOADED",
}
# task_states that show through the status, by vm_state (Nova's _STATE_MAP).
_TASK_STATUS = {
    ACTIVE: {REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT", UPDATING_PASSWORD: "PASSWORD",
             REBUILDING: "REBUILD", REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD", REBUILD_SPAWNING: "REBUILD",
             MIGRATING: "MIGRATING",
             RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE", RESIZE_FINISH: "RESIZE"},
    STOPPED: {RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE", RESIZE_FINISH: "RESIZE",
              REBUILDING: "REBUILD", REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD", REBUILD_SPAWNING: "REBUILD",
              REBOOTING_HARD: "HARD_REBOOT"},
    RESIZED: {RESIZE_REVERTING: "REVERT_RESIZE"},
    PAUSED: {MIGRATING: "MIGRATING", REBOOTING_HARD: "HARD_REBOOT"},
    SUSPENDED: {REBOOTING_HARD: "HARD_REBOOT"},
    ERROR: {REBUILDING: "REBUILD", REBUILD_BLOCK_DEVICE_MAPPING: "REBUILD", REBUILD_SPAWNING: "REBUILD",
            REBOOTING_HARD: "HARD_REBOOT"},
}


def status(vm_state: str, task_state: str | None) -> str:
    """The API's status of a server (e.g. ("active", "rebooting") -> "REBOOT")."""
    return _TASK_STATUS.get(vm_state, {}).get(task_state or "", _STATUS.get(vm_state, "UNKNOWN"))


# The vm_states a status filter (?status=ACTIVE) selects, Nova's reverse map.
def vm_states_for_status(status_name: str) -> list[str]:
    return [vm for vm, name in _STATUS.items() if name == status_name.upper()]


ANY = None  # any task_state accepted


@dataclasses.dataclass(frozen=True)
class Action:
    name: str  # the method name in Nova's 409 message
    from_vm: tuple[str, ...]  # allowed vm_states (empty: any)
    task: str | None  # the task_state while the agent works
    done: str | None  # the vm_state on success (None: unchanged)
    from_task: tuple[str | None, ...] | None = (None,)  # allowed task_states (None: any)


_A = Action
ACTIONS: dict[str, Action] = {a.name: a for a in (
    _A("reboot", (ACTIVE,), REBOOTING, ACTIVE, (None, REBOOTING)),
    _A("reboot_hard", (ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR), REBOOTING_HARD, ACTIVE,
       (None, REBOOTING, REBOOTING_HARD, PAUSING, UNPAUSING, SUSPENDING, RESUMING)),
    _A("stop", (ACTIVE, RESCUED, ERROR), POWERING_OFF, STOPPED),
    _A("start", (STOPPED,), POWERING_ON, ACTIVE),
    _A("pause", (ACTIVE,), PAUSING, PAUSED),
    _A("unpause", (PAUSED,), UNPAUSING, ACTIVE),
    _A("suspend", (ACTIVE,), SUSPENDING, SUSPENDED),
    _A("resume", (SUSPENDED,), RESUMING, ACTIVE),
    _A("rescue", (ACTIVE, STOPPED, ERROR), RESCUING, RESCUED),
    _A("unrescue", (RESCUED,), UNRESCUING, ACTIVE),
    _A("resize", (ACTIVE, STOPPED), RESIZE_PREP, RESIZED),
    _A("confirm_resize", (RESIZED,), RESIZE_CONFIRMING, None),  # back to active or stopped
    _A("revert_resize", (RESIZED,), RESIZE_REVERTING, None),
    _A("rebuild", (ACTIVE, STOPPED, ERROR), REBUILDING, None),
    _A("snapshot", (ACTIVE, STOPPED, PAUSED, SUSPENDED), IMAGE_SNAPSHOT, None),
    _A("shelve", (ACTIVE, STOPPED, PAUSED, SUSPENDED), SHELVING, SHELVED),
    _A("shelve_offload", (SHELVED,), SHELVING_OFFLOADING, SHELVED_OFFLOADED),
    _A("unshelve", (SHELVED, SHELVED_OFFLOADED), UNSHELVING, ACTIVE),
    _A("migrate", (ACTIVE, STOPPED), RESIZE_PREP, RESIZED),
    _A("live_migrate", (ACTIVE, PAUSED), MIGRATING, None),
    _A("evacuate", (ACTIVE, STOPPED, ERROR), REBUILDING, None, None),
    _A("attach_interface", (ACTIVE, PAUSED, STOPPED), None, None, None),
    _A("detach_interface", (ACTIVE, PAUSED, STOPPED), None, None, None),
    _A("attach_volume", (ACTIVE, PAUSED, STOPPED, SUSPENDED, RESIZED, SHELVED, SHELVED_OFFLOADED), None, None),
    _A("detach_volume", (ACTIVE, PAUSED, STOPPED, SUSPENDED, RESIZED, SHELVED, SHELVED_OFFLOADED), None, None),
    _A("set_admin_password", (ACTIVE,), UPDATING_PASSWORD, None),
    _A("get_console_output", (ACTIVE, PAUSED, RESCUED, RESIZED, STOPPED, SUSPENDED, ERROR), None, None, None),
    _A("get_serial_console", (ACTIVE, PAUSED, RESCUED, RESIZED), None, None, None),
    _A("trigger_crash_dump", (ACTIVE, PAUSED, RESCUED, RESIZED, ERROR), None, None),
    _A("delete", (), DELETING, DELETED, None),
    _A("force_delete", (), DELETING, DELETED, None),
    _A("restore", (SOFT_DELETED,), None, ACTIVE, None),
)}


class InvalidState(errors.Conflict):
    """Nova's InstanceInvalidState (409 conflictingRequest)."""


def check(action_name: str, uuid: str, vm_state: str, task_state: str | None) -> Action:
    """The action if the server may start it now; else Nova's 409."""
    action = ACTIONS[action_name]
    method = action_name.replace("reboot_hard", "reboot")
    if action.from_vm and vm_state not in action.from_vm:
        raise InvalidState(f"Cannot '{method}' instance {uuid} while it is in vm_state {vm_state}")
    if action.from_task is not None and task_state not in action.from_task:
        raise InvalidState(f"Cannot '{method}' instance {uuid} while it is in task_state {task_state}")
    return action


# What a task left behind by a crash becomes when the agent starts again (Nova's _init_instance):
#   "error": the server goes to ERROR with a fault (a build that never finished);
#   "retry": the agent performs the action again (reboots, power changes: the user still wants them);
#   "clear": the task is dropped and the vm_state follows the guest's real power state.
RECOVERY = {
    SCHEDULING: "error", BLOCK_DEVICE_MAPPING: "error", NETWORKING: "error", SPAWNING: "error",
    REBOOTING: "retry", REBOOTING_HARD: "retry", POWERING_OFF: "retry", POWERING_ON: "retry",
    DELETING: "retry", PAUSING: "clear", UNPAUSING: "clear", SUSPENDING: "clear", RESUMING: "clear",
    RESCUING: "error", UNRESCUING: "error", REBUILDING: "error", REBUILD_BLOCK_DEVICE_MAPPING: "error",
    REBUILD_SPAWNING: "error",
    IMAGE_SNAPSHOT: "clear", IMAGE_PENDING_UPLOAD: "clear", IMAGE_UPLOADING: "clear",
    RESIZE_PREP: "error", RESIZE_MIGRATING: "error", RESIZE_FINISH: "error", RESIZE_REVERTING: "error",
    RESIZE_CONFIRMING: "retry", MIGRATING: "clear", SHELVING: "clear", SHELVING_IMAGE_UPLOADING: "clear",
    SHELVING_OFFLOADING: "retry", UNSHELVING: "error", UPDATING_PASSWORD: "clear",
}

# The vm_state that matches a guest's observed power state when a task is cleared.
VM_STATE_FOR_POWER = {RUNNING: ACTIVE, POWER_PAUSED: PAUSED, POWER_SUSPENDED: SUSPENDED,
                      SHUTDOWN: STOPPED, CRASHED: STOPPED, NOSTATE: STOPPED}
