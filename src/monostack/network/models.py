"""The Networking tables.

Every top-level resource carries Neutron's standard attributes (description,
created_at, updated_at, revision_number, tags).  List-valued attributes that are
only ever read with their owner (DNS servers, host routes, allocation pools,
address pairs, tags) are JSON columns; what must be unique across requests is a
constraint the database enforces:
  - `ip_allocations` (network_id, ip_address): an address is handed out once
    per network, whatever the number of API workers racing for it;
  - `ports` (network_id, mac_address);
  - `segment_allocations` (network_type, physical_network, segmentation_id):
    one network per VLAN/VNI (and per flat physical network, segmentation id 0).
"""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql

from monostack.common.db import declarative_base

Base = declarative_base()
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
JSON = sa.JSON


class StandardAttrs:
    description: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    revision_number: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    tags: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)


class Network(StandardAttrs, Base):
    __tablename__ = "networks"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    mtu: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    external: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    is_default: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    port_security_enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    network_type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    physical_network: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    segmentation_id: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    availability_zone_hints: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)
    dns_domain: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")


class SegmentAllocation(Base):
    __tablename__ = "segment_allocations"
    network_type: orm.Mapped[str] = orm.mapped_column(sa.String(32), primary_key=True)
    physical_network: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)  # "" for tunnels
    segmentation_id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)  # 0 for flat
    network_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("networks.id", ondelete="CASCADE"), index=True)


class SubnetPool(StandardAttrs, Base):
    __tablename__ = "subnetpools"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    ip_version: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    prefixes: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)
    default_prefixlen: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    min_prefixlen: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    max_prefixlen: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    default_quota: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    shared: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    is_default: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    address_scope_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))


class Subnet(StandardAttrs, Base):
    __tablename__ = "subnets"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    network_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("networks.id"), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    ip_version: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    cidr: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    gateway_ip: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    enable_dhcp: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    ipv6_ra_mode: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    ipv6_address_mode: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    subnetpool_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), index=True)
    allocation_pools: orm.Mapped[list[dict[str, str]]] = orm.mapped_column(JSON, default=list)
    dns_nameservers: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)
    host_routes: orm.Mapped[list[dict[str, str]]] = orm.mapped_column(JSON, default=list)
    service_types: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)
    dns_publish_fixed_ip: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)


class Port(StandardAttrs, Base):
    __tablename__ = "ports"
    __table_args__ = (sa.UniqueConstraint("network_id", "mac_address"),)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    network_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("networks.id"), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    mac_address: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    device_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="", index=True)
    device_owner: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="", index=True)
    host_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="", index=True)
    vif_type: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="unbound")
    vif_details: orm.Mapped[dict[str, Any]] = orm.mapped_column(JSON, default=dict)
    vnic_type: orm.Mapped[str] = orm.mapped_column(sa.String(64), default="normal")
    profile: orm.Mapped[dict[str, Any]] = orm.mapped_column(JSON, default=dict)
    port_security_enabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    security_groups: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)
    allowed_address_pairs: orm.Mapped[list[dict[str, str]]] = orm.mapped_column(JSON, default=list)
    dns_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")

    fixed_ips: orm.Mapped[list["IPAllocation"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin", order_by="IPAllocation.seq")


class IPAllocation(Base):
    __tablename__ = "ip_allocations"
    __table_args__ = (sa.UniqueConstraint("network_id", "ip_address"),)
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    port_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("ports.id", ondelete="CASCADE"), index=True)
    subnet_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("subnets.id"), index=True)
    network_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    ip_address: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    # The order the port's fixed_ips were given in.
    seq: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "security_groups"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    stateful: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    # The project's "default" group; unique so that two racing first requests make one.
    default_for: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), unique=True)

    rules: orm.Mapped[list["SecurityGroupRule"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin",
        foreign_keys="SecurityGroupRule.security_group_id")


class SecurityGroupRule(Base):
    __tablename__ = "security_group_rules"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    security_group_id: orm.Mapped[str] = orm.mapped_column(
        sa.ForeignKey("security_groups.id", ondelete="CASCADE"), index=True)
    direction: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    ethertype: orm.Mapped[str] = orm.mapped_column(sa.String(8))
    protocol: orm.Mapped[str | None] = orm.mapped_column(sa.String(40))
    port_range_min: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    port_range_max: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    remote_ip_prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    remote_group_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), index=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    revision_number: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)


class Router(StandardAttrs, Base):
    __tablename__ = "routers"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    gw_port_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    gw_network_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    enable_snat: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    routes: orm.Mapped[list[dict[str, str]]] = orm.mapped_column(JSON, default=list)
    availability_zone_hints: orm.Mapped[list[str]] = orm.mapped_column(JSON, default=list)


class FloatingIP(StandardAttrs, Base):
    __tablename__ = "floatingips"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    floating_network_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    floating_ip_address: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    floating_port_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    # One floating IP per (port, fixed address).
    port_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), index=True)
    fixed_ip_address: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    router_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), index=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(16))
    dns_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    dns_domain: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")


class RBACPolicy(Base):
    __tablename__ = "rbac_policies"
    __table_args__ = (sa.UniqueConstraint("object_type", "object_id", "action", "target_project"),)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    object_type: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    object_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    action: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    target_project: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)


class Quota(Base):
    __tablename__ = "network_quotas"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    resource: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (sa.UniqueConstraint("agent_type", "host"),)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    agent_type: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    binary: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    topic: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    availability_zone: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    admin_state_up: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    description: orm.Mapped[str] = orm.mapped_column(sa.String(255), default="")
    configurations: orm.Mapped[dict[str, Any]] = orm.mapped_column(JSON, default=dict)
    resources_synced: orm.Mapped[bool | None] = orm.mapped_column(sa.Boolean)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    started_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    heartbeat_timestamp: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
