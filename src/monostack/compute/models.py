"""The Compute tables (Nova's API and cell databases in one): servers and what
hangs off them, flavors, keypairs, quotas, server groups, the compute services
and nodes, aggregates and migrations."""

from __future__ import annotations

import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql

from monostack.common.db import declarative_base

Base = declarative_base()
# Microseconds on MariaDB too: lists sort by created_at and changes-since compares updated_at.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
Json = sa.JSON()


def _col(type_: Any, **kwargs: Any) -> Any:
    return orm.mapped_column(type_, **kwargs)


class Instance(Base):
    __tablename__ = "instances"
    # The integer id names the guest (instance-0000000a) and its EC2 id (i-0000000a).
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)
    project_id: orm.Mapped[str] = _col(sa.String(255), index=True)
    user_id: orm.Mapped[str] = _col(sa.String(255))
    display_name: orm.Mapped[str | None] = _col(sa.String(255))
    display_description: orm.Mapped[str | None] = _col(sa.Text)
    hostname: orm.Mapped[str | None] = _col(sa.String(255))
    host: orm.Mapped[str | None] = _col(sa.String(255), index=True)
    node: orm.Mapped[str | None] = _col(sa.String(255))
    availability_zone: orm.Mapped[str | None] = _col(sa.String(255))
    # The flavor as it was at boot (Nova embeds a copy: later flavor edits don't change servers).
    flavor: orm.Mapped[dict] = _col(Json)
    old_flavor: orm.Mapped[dict | None] = _col(Json)
    new_flavor: orm.Mapped[dict | None] = _col(Json)
    vcpus: orm.Mapped[int] = _col(sa.Integer, default=0)
    memory_mb: orm.Mapped[int] = _col(sa.Integer, default=0)
    root_gb: orm.Mapped[int] = _col(sa.Integer, default=0)
    ephemeral_gb: orm.Mapped[int] = _col(sa.Integer, default=0)
    image_ref: orm.Mapped[str | None] = _col(sa.String(255))
    image_meta: orm.Mapped[dict | None] = _col(Json)  # name, disk_format, min_disk, properties
    key_name: orm.Mapped[str | None] = _col(sa.String(255))
    key_data: orm.Mapped[str | None] = _col(sa.Text)
    user_data: orm.Mapped[str | None] = _col(sa.Text)  # base64, as given
    injected_files: orm.Mapped[list | None] = _col(Json)  # personality: [[path, base64 contents], ...]
    config_drive: orm.Mapped[bool] = _col(sa.Boolean, default=False)
    vm_state: orm.Mapped[str] = _col(sa.String(32), index=True)
    task_state: orm.Mapped[str | None] = _col(sa.String(64))
    power_state: orm.Mapped[int] = _col(sa.Integer, default=0)
    locked: orm.Mapped[bool] = _col(sa.Boolean, default=False)
    locked_by: orm.Mapped[str | None] = _col(sa.String(16))  # "owner" or "admin"
    locked_reason: orm.Mapped[str | None] = _col(sa.String(255))
    access_ip_v4: orm.Mapped[str | None] = _col(sa.String(39))
    access_ip_v6: orm.Mapped[str | None] = _col(sa.String(39))
    disk_config: orm.Mapped[str] = _col(sa.String(16), default="MANUAL")
    progress: orm.Mapped[int] = _col(sa.Integer, default=0)
    reservation_id: orm.Mapped[str | None] = _col(sa.String(255))
    launch_index: orm.Mapped[int] = _col(sa.Integer, default=0)
    root_device_name: orm.Mapped[str | None] = _col(sa.String(255))
    # What the user asked for and what the network gave (Nova's request spec and info cache).
    requested_networks: orm.Mapped[Any] = _col(Json)
    network_info: orm.Mapped[list | None] = _col(Json)
    security_groups: orm.Mapped[list | None] = _col(Json)
    scheduler_hints: orm.Mapped[dict | None] = _col(Json)
    requested_az: orm.Mapped[str | None] = _col(sa.String(255))
    build_attempts: orm.Mapped[int] = _col(sa.Integer, default=0)
    tried_hosts: orm.Mapped[list | None] = _col(Json)
    rescue_image_ref: orm.Mapped[str | None] = _col(sa.String(255))
    shelved_image_id: orm.Mapped[str | None] = _col(sa.String(36))
    trusted_image_certificates: orm.Mapped[list | None] = _col(Json)
    guest_password: orm.Mapped[str | None] = _col(sa.Text)  # what the guest POSTed to the metadata service
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp, index=True)
    updated_at: orm.Mapped[datetime.datetime] = _col(Timestamp, index=True)
    launched_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)
    terminated_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)
    deleted_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)
    deleted: orm.Mapped[bool] = _col(sa.Boolean, default=False, index=True)

    metadata_items: orm.Mapped[list["InstanceMetadata"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    tags: orm.Mapped[list["InstanceTag"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    faults: orm.Mapped[list["InstanceFault"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin",
        order_by="InstanceFault.id.desc()")
    # Read for the server's view (volumes_attached); written through ComputeService.servers only.
    block_devices: orm.Mapped[list["BlockDeviceMapping"]] = orm.relationship(
        lazy="selectin", viewonly=True, order_by="BlockDeviceMapping.id")


class InstanceMetadata(Base):
    __tablename__ = "instance_metadata"
    instance_uuid: orm.Mapped[str] = _col(sa.ForeignKey("instances.uuid", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = _col(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = _col(sa.String(255))


class InstanceTag(Base):
    __tablename__ = "instance_tags"
    instance_uuid: orm.Mapped[str] = _col(sa.ForeignKey("instances.uuid", ondelete="CASCADE"), primary_key=True)
    tag: orm.Mapped[str] = _col(sa.String(80), primary_key=True)


class InstanceFault(Base):
    __tablename__ = "instance_faults"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid: orm.Mapped[str] = _col(sa.ForeignKey("instances.uuid", ondelete="CASCADE"), index=True)
    code: orm.Mapped[int] = _col(sa.Integer)
    message: orm.Mapped[str] = _col(sa.String(255))
    details: orm.Mapped[str | None] = _col(sa.Text)
    host: orm.Mapped[str | None] = _col(sa.String(255))
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)


class InstanceAction(Base):
    __tablename__ = "instance_actions"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    instance_uuid: orm.Mapped[str] = _col(sa.String(36), index=True)
    request_id: orm.Mapped[str] = _col(sa.String(255), index=True)
    action: orm.Mapped[str] = _col(sa.String(255))
    project_id: orm.Mapped[str | None] = _col(sa.String(255))
    user_id: orm.Mapped[str | None] = _col(sa.String(255))
    message: orm.Mapped[str | None] = _col(sa.String(255))
    start_time: orm.Mapped[datetime.datetime] = _col(Timestamp)
    finish_time: orm.Mapped[datetime.datetime | None] = _col(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = _col(Timestamp, index=True)

    events: orm.Mapped[list["InstanceActionEvent"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin", order_by="InstanceActionEvent.id")


class InstanceActionEvent(Base):
    __tablename__ = "instance_action_events"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    action_id: orm.Mapped[int] = _col(sa.ForeignKey("instance_actions.id", ondelete="CASCADE"), index=True)
    event: orm.Mapped[str] = _col(sa.String(255))
    result: orm.Mapped[str | None] = _col(sa.String(255))
    traceback: orm.Mapped[str | None] = _col(sa.Text)
    details: orm.Mapped[str | None] = _col(sa.Text)
    host: orm.Mapped[str | None] = _col(sa.String(255))
    start_time: orm.Mapped[datetime.datetime] = _col(Timestamp)
    finish_time: orm.Mapped[datetime.datetime | None] = _col(Timestamp)


class BlockDeviceMapping(Base):
    __tablename__ = "block_device_mappings"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)
    instance_uuid: orm.Mapped[str] = _col(sa.ForeignKey("instances.uuid", ondelete="CASCADE"), index=True)
    source_type: orm.Mapped[str] = _col(sa.String(16))  # image, volume, snapshot, blank
    destination_type: orm.Mapped[str] = _col(sa.String(16))  # local, volume
    boot_index: orm.Mapped[int | None] = _col(sa.Integer)
    device_name: orm.Mapped[str | None] = _col(sa.String(255))
    device_type: orm.Mapped[str | None] = _col(sa.String(32))
    disk_bus: orm.Mapped[str | None] = _col(sa.String(32))
    guest_format: orm.Mapped[str | None] = _col(sa.String(32))
    image_id: orm.Mapped[str | None] = _col(sa.String(36))
    volume_id: orm.Mapped[str | None] = _col(sa.String(36), index=True)
    snapshot_id: orm.Mapped[str | None] = _col(sa.String(36))
    volume_size: orm.Mapped[int | None] = _col(sa.Integer)
    volume_type: orm.Mapped[str | None] = _col(sa.String(255))
    delete_on_termination: orm.Mapped[bool] = _col(sa.Boolean, default=False)
    tag: orm.Mapped[str | None] = _col(sa.String(255))
    attachment_id: orm.Mapped[str | None] = _col(sa.String(36))
    connection_info: orm.Mapped[dict | None] = _col(Json)
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)


class Flavor(Base):
    __tablename__ = "flavors"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    flavorid: orm.Mapped[str] = _col(sa.String(255), unique=True)
    name: orm.Mapped[str] = _col(sa.String(255), unique=True)
    memory_mb: orm.Mapped[int] = _col(sa.Integer)
    vcpus: orm.Mapped[int] = _col(sa.Integer)
    root_gb: orm.Mapped[int] = _col(sa.Integer, default=0)
    ephemeral_gb: orm.Mapped[int] = _col(sa.Integer, default=0)
    swap: orm.Mapped[int] = _col(sa.Integer, default=0)
    rxtx_factor: orm.Mapped[float] = _col(sa.Float, default=1.0)
    is_public: orm.Mapped[bool] = _col(sa.Boolean, default=True)
    disabled: orm.Mapped[bool] = _col(sa.Boolean, default=False)
    description: orm.Mapped[str | None] = _col(sa.Text)
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)

    extra_specs: orm.Mapped[list["FlavorExtraSpec"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    projects: orm.Mapped[list["FlavorProject"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")


class FlavorExtraSpec(Base):
    __tablename__ = "flavor_extra_specs"
    flavor_id: orm.Mapped[int] = _col(sa.ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = _col(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = _col(sa.String(255))


class FlavorProject(Base):
    __tablename__ = "flavor_projects"
    flavor_id: orm.Mapped[int] = _col(sa.ForeignKey("flavors.id", ondelete="CASCADE"), primary_key=True)
    project_id: orm.Mapped[str] = _col(sa.String(255), primary_key=True)


class KeyPair(Base):
    __tablename__ = "key_pairs"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    name: orm.Mapped[str] = _col(sa.String(255))
    user_id: orm.Mapped[str] = _col(sa.String(255), index=True)
    fingerprint: orm.Mapped[str] = _col(sa.String(255))
    public_key: orm.Mapped[str] = _col(sa.Text)
    type: orm.Mapped[str] = _col(sa.String(16), default="ssh")
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)


class Quota(Base):
    """A project's (user_id NULL) or a user's own limit for one resource."""
    __tablename__ = "quotas"
    __table_args__ = (sa.UniqueConstraint("project_id", "user_id", "resource"),)
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    project_id: orm.Mapped[str] = _col(sa.String(255), index=True)
    user_id: orm.Mapped[str | None] = _col(sa.String(255))
    resource: orm.Mapped[str] = _col(sa.String(255))
    hard_limit: orm.Mapped[int] = _col(sa.Integer)


class QuotaClass(Base):
    """Defaults ("default" class) that override the configured ones."""
    __tablename__ = "quota_classes"
    class_name: orm.Mapped[str] = _col(sa.String(255), primary_key=True)
    resource: orm.Mapped[str] = _col(sa.String(255), primary_key=True)
    hard_limit: orm.Mapped[int] = _col(sa.Integer)


class ServerGroup(Base):
    __tablename__ = "server_groups"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)
    name: orm.Mapped[str] = _col(sa.String(255))
    project_id: orm.Mapped[str] = _col(sa.String(255), index=True)
    user_id: orm.Mapped[str] = _col(sa.String(255))
    policy: orm.Mapped[str] = _col(sa.String(32))  # affinity, anti-affinity, soft-affinity, soft-anti-affinity
    rules: orm.Mapped[dict | None] = _col(Json)  # {"max_server_per_host": N}
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)

    members: orm.Mapped[list["ServerGroupMember"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")


class ServerGroupMember(Base):
    __tablename__ = "server_group_members"
    group_id: orm.Mapped[int] = _col(sa.ForeignKey("server_groups.id", ondelete="CASCADE"), primary_key=True)
    instance_uuid: orm.Mapped[str] = _col(sa.String(36), primary_key=True, index=True)


class Service(Base):
    """A compute agent, the scheduler or the API of a host (os-services)."""
    __tablename__ = "services"
    __table_args__ = (sa.UniqueConstraint("host", "binary"),)
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)
    host: orm.Mapped[str] = _col(sa.String(255))
    binary: orm.Mapped[str] = _col(sa.String(255))
    topic: orm.Mapped[str | None] = _col(sa.String(255))
    disabled: orm.Mapped[bool] = _col(sa.Boolean, default=False)
    disabled_reason: orm.Mapped[str | None] = _col(sa.String(255))
    forced_down: orm.Mapped[bool] = _col(sa.Boolean, default=False)
    last_seen_up: orm.Mapped[datetime.datetime | None] = _col(Timestamp)
    report_count: orm.Mapped[int] = _col(sa.Integer, default=0)
    version: orm.Mapped[int] = _col(sa.Integer, default=1)
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)


class ComputeNode(Base):
    """A hypervisor: what a compute agent's host offers (also a Placement resource provider)."""
    __tablename__ = "compute_nodes"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)  # = its Placement resource provider
    host: orm.Mapped[str] = _col(sa.String(255), index=True)
    hypervisor_hostname: orm.Mapped[str] = _col(sa.String(255), unique=True)
    hypervisor_type: orm.Mapped[str] = _col(sa.String(255), default="QEMU")
    hypervisor_version: orm.Mapped[int] = _col(sa.Integer, default=0)
    host_ip: orm.Mapped[str | None] = _col(sa.String(39))
    vcpus: orm.Mapped[int] = _col(sa.Integer)
    memory_mb: orm.Mapped[int] = _col(sa.Integer)
    local_gb: orm.Mapped[int] = _col(sa.Integer)
    vcpus_used: orm.Mapped[int] = _col(sa.Integer, default=0)
    memory_mb_used: orm.Mapped[int] = _col(sa.Integer, default=0)
    local_gb_used: orm.Mapped[int] = _col(sa.Integer, default=0)
    running_vms: orm.Mapped[int] = _col(sa.Integer, default=0)
    cpu_info: orm.Mapped[dict | None] = _col(Json)
    cpu_allocation_ratio: orm.Mapped[float] = _col(sa.Float, default=16.0)
    ram_allocation_ratio: orm.Mapped[float] = _col(sa.Float, default=1.5)
    disk_allocation_ratio: orm.Mapped[float] = _col(sa.Float, default=1.0)
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)


class Aggregate(Base):
    __tablename__ = "aggregates"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)  # also its Placement aggregate
    name: orm.Mapped[str] = _col(sa.String(255), unique=True)
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)

    hosts: orm.Mapped[list["AggregateHost"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    metadata_items: orm.Mapped[list["AggregateMetadata"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")


class AggregateHost(Base):
    __tablename__ = "aggregate_hosts"
    aggregate_id: orm.Mapped[int] = _col(sa.ForeignKey("aggregates.id", ondelete="CASCADE"), primary_key=True)
    host: orm.Mapped[str] = _col(sa.String(255), primary_key=True)


class AggregateMetadata(Base):
    __tablename__ = "aggregate_metadata"
    aggregate_id: orm.Mapped[int] = _col(sa.ForeignKey("aggregates.id", ondelete="CASCADE"), primary_key=True)
    key: orm.Mapped[str] = _col(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = _col(sa.String(255))


class Migration(Base):
    __tablename__ = "migrations"
    id: orm.Mapped[int] = _col(sa.Integer, primary_key=True, autoincrement=True)
    uuid: orm.Mapped[str] = _col(sa.String(36), unique=True)  # also the Placement consumer holding the source
    instance_uuid: orm.Mapped[str] = _col(sa.String(36), index=True)
    migration_type: orm.Mapped[str] = _col(sa.String(32))  # resize, migration, live-migration, evacuation
    status: orm.Mapped[str] = _col(sa.String(32), index=True)
    source_compute: orm.Mapped[str | None] = _col(sa.String(255))
    source_node: orm.Mapped[str | None] = _col(sa.String(255))
    dest_compute: orm.Mapped[str | None] = _col(sa.String(255))
    dest_node: orm.Mapped[str | None] = _col(sa.String(255))
    dest_host: orm.Mapped[str | None] = _col(sa.String(255))
    old_flavor_id: orm.Mapped[str | None] = _col(sa.String(255))
    new_flavor_id: orm.Mapped[str | None] = _col(sa.String(255))
    project_id: orm.Mapped[str | None] = _col(sa.String(255))
    user_id: orm.Mapped[str | None] = _col(sa.String(255))
    created_at: orm.Mapped[datetime.datetime] = _col(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = _col(Timestamp)
