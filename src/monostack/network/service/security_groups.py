"""Security groups and their rules, with each project's "default" group made on first need."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common.context import RequestContext
from monostack.network import exceptions as nexc
from monostack.network import models
from monostack.network.service.base import Events, ServiceBase, bump, iso, new_id, owner, std_dict, std_new, utcnow

# Neutron's protocol names (neutron-lib IP_PROTOCOL_MAP).
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "igmp": 2,
             "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58,
             "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46,
             "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112, "any": None}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}
ICMP_PROTOCOLS = {1, 58}


def rule_dict(row: models.SecurityGroupRule) -> dict[str, Any]:
    return {"id": row.id, **owner(row), "security_group_id": row.security_group_id, "direction": row.direction,
            "ethertype": row.ethertype, "protocol": row.protocol, "port_range_min": row.port_range_min,
            "port_range_max": row.port_range_max, "remote_ip_prefix": row.remote_ip_prefix,
            "remote_group_id": row.remote_group_id, "remote_address_group_id": None,
            "normalized_cidr": _normalized(row.remote_ip_prefix), "description": row.description,
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
            "revision_number": row.revision_number, "belongs_to_default_sg": None}


def _normalized(prefix: str | None) -> str | None:
    return str(ipaddress.ip_network(prefix, strict=False)) if prefix else None


def protocol_number(protocol: str | None) -> int | None:
    if protocol is None:
        return None
    if protocol.isdigit():
        return int(protocol)
    return PROTOCOLS.get(protocol.lower())


class SecurityGroupsMixin(ServiceBase):
    def _group_dict(self, row: models.SecurityGroup) -> dict[str, Any]:
        return {"id": row.id, "name": row.name, **owner(row), "stateful": row.stateful, "shared": False,
                "security_group_rules": [rule_dict(r) for r in sorted(row.rules, key=lambda r: (r.created_at, r.id))],
                **std_dict(row)}

    def _ensure_default_group(self, session: orm.Session, project: str) -> models.SecurityGroup:
        """The project's default group: egress anywhere, ingress from members of the group itself.
        A unique column (`default_for`) makes two racing first requests create one group."""
        existing = session.scalars(sa.select(models.SecurityGroup).where(
            models.SecurityGroup.default_for == project)).first()
        if existing is not None:
            return existing
        group = models.SecurityGroup(id=new_id(), project_id=project, name="default", stateful=True,
                                     default_for=project, **std_new("Default security group"))
        session.add(group)
        session.flush()
        now = utcnow()
        for direction, ethertype, remote in (("egress", "IPv4", None), ("egress", "IPv6", None),
                                             ("ingress", "IPv4", group.id), ("ingress", "IPv6", group.id)):
            session.add(models.SecurityGroupRule(
                id=new_id(), project_id=project, security_group_id=group.id, direction=direction,
                ethertype=ethertype, remote_group_id=remote, description="", created_at=now, updated_at=now,
                revision_number=0))
        session.flush()
        session.refresh(group)
        return group

    def ensure_default_group(self, project: str) -> str:
        def work(session: orm.Session, _events: Events) -> str:
            return self._ensure_default_group(session, project).id

        return self.write(work)

    def _get_group_row(self, session: orm.Session, ctx: RequestContext | None, group_id: str) -> models.SecurityGroup:
        row = session.get(models.SecurityGroup, group_id)
        if row is None or (ctx is not None and not ctx.is_admin and row.project_id != ctx.project_id):
            raise nexc.SecurityGroupNotFound(group_id)
        return row

    def list_security_groups(self, ctx: RequestContext) -> list[dict[str, Any]]:
        if ctx.project_id:
            self.ensure_default_group(ctx.project_id)
        with self.db.reader() as session:
            query = sa.select(models.SecurityGroup).order_by(models.SecurityGroup.created_at, models.SecurityGroup.id)
            if not ctx.is_admin:
                query = query.where(models.SecurityGroup.project_id == ctx.project_id)
            return [self._group_dict(row) for row in session.scalars(query)]

    def get_security_group(self, ctx: RequestContext | None, group_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            return self._group_dict(self._get_group_row(session, ctx, group_id))

    def create_security_group(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            project = body.get("project_id") or ctx.project_id or ""
            # The project's default group is made on first need; a second "default" is refused.
            self._ensure_default_group(session, project)
            if body.get("name") == "default":
                raise nexc.errors.Conflict("Default security group already exists.",
                                           error_type="SecurityGroupDefaultAlreadyExists")
            self.check_quota(session, project, "security_group")
            row = models.SecurityGroup(id=new_id(), project_id=project, name=body.get("name") or "",
                                       stateful=body.get("stateful", True), default_for=None,
                                       **std_new(body.get("description")))
            session.add(row)
            session.flush()
            now = utcnow()
            # Neutron gives every new group the default egress rules.
            for ethertype in ("IPv4", "IPv6"):
                session.add(models.SecurityGroupRule(
                    id=new_id(), project_id=project, security_group_id=row.id, direction="egress",
                    ethertype=ethertype, description="", created_at=now, updated_at=now, revision_number=0))
            session.flush()
            session.refresh(row)
            result = self._group_dict(row)
            events.append(("security_group.create.end", {"security_group": result}))
            return result

        return self.write(work)

    def update_security_group(self, ctx: RequestContext, group_id: str, body: dict[str, Any],
                              revision: int | None = None) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            row = self._get_group_row(session, ctx, group_id)
            self._check_revision(row, revision)
            if row.default_for is not None and body.get("name") not in (None, "default"):
                raise nexc.SecurityGroupCannotUpdateDefault()
            if row.default_for is None and body.get("name") == "default":
                raise nexc.errors.Conflict("Default security group already exists.",
                                           error_type="SecurityGroupDefaultAlreadyExists")
            for key in ("name", "description"):
                if key in body:
                    setattr(row, key, body[key] or "")
            if "stateful" in body and body["stateful"] != row.stateful:
                if self._group_in_use(session, row.id):
                    raise nexc.SecurityGroupInUse(row.id)
                row.stateful = body["stateful"]
            bump(row)
            session.flush()
            result = self._group_dict(row)
            events.append(("security_group.update.end", {"security_group": result}))
            return result

        return self.write(work)

    def _group_in_use(self, session: orm.Session, group_id: str) -> bool:
        # security_groups is a JSON list on the port: match its text, then confirm in Python.
        candidates = session.scalars(sa.select(models.Port).where(
            sa.cast(models.Port.security_groups, sa.String).contains(group_id)))
        return any(group_id in (p.security_groups or []) for p in candidates)

    def delete_security_group(self, ctx: RequestContext, group_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = self._get_group_row(session, ctx, group_id)
            if row.default_for is not None and not ctx.is_admin:
                raise nexc.SecurityGroupCannotRemoveDefault()
            if self._group_in_use(session, group_id):
                raise nexc.SecurityGroupInUse(group_id)
            others = session.scalars(sa.select(models.SecurityGroupRule).where(
                models.SecurityGroupRule.remote_group_id == group_id,
                models.SecurityGroupRule.security_group_id != group_id)).all()
            for rule in others:
                session.delete(rule)
            session.delete(row)
            events.append(("security_group.delete.end", {"security_group_id": group_id}))

        self.write(work)

    # -- rules ----------------------------------------------------------------------------------
    def _visible_rule(self, ctx: RequestContext, rule: models.SecurityGroupRule, group_owner: str) -> bool:
        return ctx.is_admin or rule.project_id == ctx.project_id or group_owner == ctx.project_id

    def list_security_group_rules(self, ctx: RequestContext) -> list[dict[str, Any]]:
        if ctx.project_id:
            self.ensure_default_group(ctx.project_id)
        with self.db.reader() as session:
            owners = dict(session.execute(sa.select(models.SecurityGroup.id, models.SecurityGroup.project_id)).all())
            rows = session.scalars(sa.select(models.SecurityGroupRule).order_by(models.SecurityGroupRule.created_at,
                                                                                models.SecurityGroupRule.id))
            return [rule_dict(r) for r in rows if self._visible_rule(ctx, r, owners.get(r.security_group_id, ""))]

    def get_security_group_rule(self, ctx: RequestContext | None, rule_id: str) -> dict[str, Any]:
        with self.db.reader() as session:
            row = session.get(models.SecurityGroupRule, rule_id)
            if row is None:
                raise nexc.SecurityGroupRuleNotFound(rule_id)
            group = session.get(models.SecurityGroup, row.security_group_id)
            if ctx is not None and not self._visible_rule(ctx, row, group.project_id if group else ""):
                raise nexc.SecurityGroupRuleNotFound(rule_id)
            return rule_dict(row)

    @staticmethod
    def _validate_rule(body: dict[str, Any]) -> dict[str, Any]:
        ethertype = body.get("ethertype") or "IPv4"
        protocol = body.get("protocol")
        if protocol is not None:
            protocol = str(protocol)
            number = protocol_number(protocol)
            if protocol.isdigit():
                if not 0 <= int(protocol) <= 255:
                    raise nexc.errors.BadRequest(f"Security group rule protocol {protocol} not supported. Only "
                                                 "protocol values [...] and integer representations [0 to 255] "
                                                 "are supported.", error_type="SecurityGroupRuleInvalidProtocol")
            elif protocol.lower() not in PROTOCOLS:
                raise nexc.errors.BadRequest(f"Security group rule protocol {protocol} not supported. Only "
                                             f"protocol values {sorted(k for k in PROTOCOLS)} and integer "
                                             "representations [0 to 255] are supported.",
                                             error_type="SecurityGroupRuleInvalidProtocol")
            if protocol.lower() == "any":
                protocol, number = None, None
            if number == 1 and ethertype == "IPv6" and protocol and protocol.lower() == "icmp":
                protocol = "ipv6-icmp"  # Neutron stores ICMP for IPv6 as ipv6-icmp
            if number == 58 and ethertype == "IPv4":
                raise nexc.errors.BadRequest("Protocol ipv6-icmp is not supported with ethertype IPv4",
                                             error_type="SecurityGroupEthertypeConflictWithProtocol")
        else:
            number = None
        low, high = body.get("port_range_min"), body.get("port_range_max")
        if low is not None or high is not None:
            if number in PORT_PROTOCOLS:
                if low is None or high is None:
                    raise nexc.errors.BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                                                 error_type="SecurityGroupInvalidPortRange")
                if not (1 <= low <= 65535 and 1 <= high <= 65535):
                    raise nexc.errors.BadRequest(f"Invalid value for port {low if not 1 <= low <= 65535 else high}",
                                                 error_type="SecurityGroupInvalidPortValue")
                if low > high:
                    raise nexc.errors.BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                                                 error_type="SecurityGroupInvalidPortRange")
            elif number in ICMP_PROTOCOLS:
                for name, value in (("type", low), ("code", high)):
                    if value is not None and not 0 <= value <= 255:
                        raise nexc.errors.BadRequest(f"Invalid value for ICMP {name} (port-range-"
                                                     f"{'min' if name == 'type' else 'max'}): {value}. It must be 0 "
                                                     "to 255.", error_type="SecurityGroupInvalidIcmpValue")
                if low is None and high is not None:
                    raise nexc.errors.BadRequest(f"ICMP code (port-range-max) {high} is provided but ICMP type "
                                                 "(port-range-min) is missing.",
                                                 error_type="SecurityGroupMissingIcmpType")
            else:
                raise nexc.errors.BadRequest("Invalid protocol for port range, only supported for TCP, UDP, UDPLITE, "
                                             "SCTP and DCCP", error_type="SecurityGroupInvalidProtocolForPortRange")
        prefix = body.get("remote_ip_prefix")
        if prefix is not None:
            net = ipaddress.ip_network(prefix, strict=False)
            if (net.version == 4) != (ethertype == "IPv4"):
                raise nexc.errors.BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                                             error_type="SecurityGroupRuleParameterConflict")
        if prefix is not None and body.get("remote_group_id"):
            raise nexc.errors.BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                                         error_type="SecurityGroupRemoteGroupAndRemoteIpPrefix")
        return {"direction": body["direction"], "ethertype": ethertype, "protocol": protocol,
                "port_range_min": low, "port_range_max": high, "remote_ip_prefix": prefix,
                "remote_group_id": body.get("remote_group_id")}

    @staticmethod
    def _same_rule(row: models.SecurityGroupRule, spec: dict[str, Any]) -> bool:
        def norm_proto(value: str | None) -> int | None:
            return protocol_number(value) if value is not None else None
        return (row.direction == spec["direction"] and row.ethertype == spec["ethertype"]
                and norm_proto(row.protocol) == norm_proto(spec["protocol"])
                and row.port_range_min == spec["port_range_min"] and row.port_range_max == spec["port_range_max"]
                and _normalized(row.remote_ip_prefix) == _normalized(spec["remote_ip_prefix"])
                and row.remote_group_id == spec["remote_group_id"])

    def create_security_group_rule(self, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
        def work(session: orm.Session, events: Events) -> dict[str, Any]:
            group = self._get_group_row(session, ctx, body["security_group_id"])
            project = body.get("project_id") or ctx.project_id or group.project_id
            spec = self._validate_rule(body)
            if spec["remote_group_id"]:
                self._get_group_row(session, ctx, spec["remote_group_id"])
            for existing in group.rules:
                if self._same_rule(existing, spec):
                    raise nexc.SecurityGroupRuleExists(existing.id)
            self.check_quota(session, project, "security_group_rule")
            now = utcnow()
            row = models.SecurityGroupRule(id=new_id(), project_id=project, security_group_id=group.id,
                                           description=body.get("description") or "", created_at=now,
                                           updated_at=now, revision_number=0, **spec)
            session.add(row)
            bump(group)
            session.flush()
            result = rule_dict(row)
            events.append(("security_group_rule.create.end", {"security_group_rule": result}))
            return result

        return self.write(work)

    def delete_security_group_rule(self, ctx: RequestContext, rule_id: str) -> None:
        def work(session: orm.Session, events: Events) -> None:
            row = session.get(models.SecurityGroupRule, rule_id)
            if row is None:
                raise nexc.SecurityGroupRuleNotFound(rule_id)
            group = session.get(models.SecurityGroup, row.security_group_id)
            if not self._visible_rule(ctx, row, group.project_id if group else ""):
                raise nexc.SecurityGroupRuleNotFound(rule_id)
            session.delete(row)
            if group is not None:
                bump(group)
            events.append(("security_group_rule.delete.end", {"security_group_rule_id": rule_id,
                                                              "security_group_id": row.security_group_id}))

        self.write(work)

