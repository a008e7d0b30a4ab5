"""The port lifecycle, and the statuses of the other resources.

A port is DOWN until the data-plane agent of its host reports its device
plugged and wired (`device_up`); it is then ACTIVE until the agent reports it
gone (`device_down`) or the binding moves.  BUILD is a port the agent is
configuring now; ERROR a binding no mechanism could complete.

    any --bind/unbind--> DOWN --wire--> BUILD --device_up--> ACTIVE --device_down--> DOWN
    DOWN --device_up--> ACTIVE        BUILD/DOWN --bind_failed--> ERROR

Nothing is left in BUILD across a restart: `recover()` takes BUILD ports back
to DOWN, and the agent reports them up again once it has rewired them.
"""

from __future__ import annotations

from monostack.common.lifecycle import InvalidTransition, Machine  # noqa: F401 (raised by MACHINE.next)

DOWN = "DOWN"
BUILD = "BUILD"
ACTIVE = "ACTIVE"
ERROR = "ERROR"
PORT_STATUSES = (DOWN, BUILD, ACTIVE, ERROR)
STUCK = (BUILD,)

# Networks and routers: ACTIVE from creation (their data plane is built from the database).
NETWORK_ACTIVE = ACTIVE
ROUTER_ACTIVE = ACTIVE
# Floating IPs: DOWN until the L3 agent has wired them, ACTIVE after.
FIP_DOWN = DOWN
FIP_ACTIVE = ACTIVE


PORT = Machine("Port")
for _status in PORT_STATUSES:
    # A new or moved binding: the port is down until the agent of the new host has wired it.
    PORT.add_transition(_status, DOWN, "bind")
    PORT.add_transition(_status, DOWN, "unbind")
    PORT.add_transition(_status, ACTIVE, "device_up")
    PORT.add_transition(_status, DOWN, "device_down")
PORT.add_transition(DOWN, BUILD, "wire")
PORT.add_transition(BUILD, BUILD, "wire")
PORT.add_transition(BUILD, ERROR, "bind_failed")
PORT.add_transition(DOWN, ERROR, "bind_failed")
PORT.add_transition(BUILD, DOWN, "recover")
