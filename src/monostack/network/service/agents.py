"""Agents (one row per agent type and host, kept current by heartbeats) and the
availability zones they are in."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service.base import Events, ServiceBase, iso, new_id, utcnow

AGENT_TYPES = {  # agent_type -> (binary, topic, availability zone resource)
    "Linux bridge agent": ("neutron-linuxbridge-agent", "N/A", None),
    "DHCP agent": ("neutron-dhcp-agent", "dhcp_agent", "network"),
    "L3 agent": ("neutron-l3-agent", "l3_agent", "router"),
    "Metadata agent": ("neutron-metadata-agent", "N/A", None),
}


class AgentsMixin(ServiceBase):
    def _alive(self, row: models.Agent, now: datetime.datetime | None = None) -> bool:
        now = now or utcnow()
        return (now - row.heartbeat_timestamp).total_seconds() <= self.conf.network.agent_down_time

    def _agent_dict(self, row: models.Agent) -> dict[str, Any]:
        return {"id": row.id, "agent_type": row.agent_type, "binary": row.binary, "topic": row.topic,
                "host": row.host, "admin_state_up": row.admin_state_up, "alive": self._alive(row),
                "availability_zone": row.availability_zone, "description": row.description,
                "configurations": dict(row.configurations or {}), "created_at": iso(row.created_at),
                "started_at": iso(row.started_at), "heartbeat_timestamp": iso(row.heartbeat_timestamp),
                "resources_synced": row.resources_synced, "resource_versions": {}}

    def report_state(self, agent_type: str, host: str, *, configurations: dict[str, Any] | None = None,
                     start_flag: bool = False, availability_zone: str | None = None) -> dict[str, Any]:
        """A heartbeat from an agent: registers it on first report, refreshes it after.  A new agent,
        or one whose tunnel address changed, is announced (`agent.create.end` / `agent.update.end`):
        the other hosts' agents add it to their VXLAN flood entries."""
        if agent_type not in AGENT_TYPES:
            raise nexc.InvalidInput(f"unknown agent type {agent_type}")

        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            now = utcnow()
            row = session.scalars(sa.select(models.Agent).where(models.Agent.agent_type == agent_type,
                                                                models.Agent.host == host)).first()
            binary, topic, az_resource = AGENT_TYPES[agent_type]
            zone = (availability_zone or self.conf.network.default_availability_zone) if az_resource else None
            if row is None:
                row = models.Agent(id=new_id(), agent_type=agent_type, binary=binary, topic=topic, host=host,
                                   availability_zone=zone, admin_state_up=True, description="",
                                   configurations=configurations or {}, created_at=now, started_at=now,
                                   heartbeat_timestamp=now, resources_synced=None)
                session.add(row)
                event = "agent.create.end"
            else:
                row.heartbeat_timestamp = now
                if start_flag:
                    row.started_at = now
                tunnel = (row.configurations or {}).get("tunneling_ip")
                if configurations is not None:
                    row.configurations = configurations
                row.availability_zone = zone
                event = "agent.update.end" if (row.configurations or {}).get("tunneling_ip") != tunnel else ""
            session.flush()
            agent = self._agent_dict(row)
            if event:
                events.append((event, {"agent": agent}))
            return agent

        return self.write(work)

    def list_agents(self) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            rows = session.scalars(sa.select(models.Agent).order_by(models.Agent.host, models.Agent.agent_type))
            return [self._agent_dict(r) for r in rows]

    def get_agent(self, agent_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            row = session.get(models.Agent, agent_id)
            if row is None:
                raise nexc.AgentNotFound(agent_id)
            return self._agent_dict(row)

    def update_agent(self, agent_id: str, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, _events: Events) -> dict[str, Any]:
            row = session.get(models.Agent, agent_id)
            if row is None:
                raise nexc.AgentNotFound(agent_id)
            if "admin_state_up" in body:
                row.admin_state_up = bool(body["admin_state_up"])
            if "description" in body:
                row.description = body["description"] or ""
            session.flush()
            return self._agent_dict(row)

        return self.write(work)

    def delete_agent(self, agent_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = session.get(models.Agent, agent_id)
            if row is None:
                raise nexc.AgentNotFound(agent_id)
            events.append(("agent.delete.end", {"agent": self._agent_dict(row)}))
            session.delete(row)

        self.write(work)

    # -- availability zones ---------------------------------------------------------------------
    def _agent_zones(self, session: orm.Session, agent_type: str) -> list[str]:
        rows = session.scalars(sa.select(models.Agent).where(models.Agent.agent_type == agent_type,
                                                             models.Agent.admin_state_up.is_(True)))
        now = utcnow()
        return sorted({r.availability_zone for r in rows if r.availability_zone and self._alive(r, now)})

    def _validate_zones(self, session: orm.Session, hints: list[str], agent_type: str) -> None:
        if not hints:
            return
        known = set(self._all_zones(session))
        for zone in hints:
            if zone not in known:
                raise nexc.AvailabilityZoneNotFound(f"AvailabilityZone {zone} could not be found.")

    def _all_zones(self, session: orm.Session) -> list[str]:
        rows = session.scalars(sa.select(models.Agent.availability_zone).where(
            models.Agent.availability_zone.is_not(None)))
        return sorted(set(rows))

    def list_availability_zones(self) -> list[dict[str, Any]]:
        """Neutron's zones: one entry per (zone, resource) of the DHCP and L3 agents."""
        with self.db.reader() as session:
            now = utcnow()
            zones: dict[tuple[str, str], bool] = {}
            for row in session.scalars(sa.select(models.Agent)):
                resource = AGENT_TYPES.get(row.agent_type, (None, None, None))[2]
                if resource is None or not row.availability_zone:
                    continue
                key = (row.availability_zone, resource)
                zones[key] = zones.get(key, False) or (row.admin_state_up and self._alive(row, now))
            return [{"name": name, "resource": resource, "state": "available" if up else "unavailable"}
                    for (name, resource), up in sorted(zones.items())]
