"""The Block Storage tables: volumes and their attachments, snapshots, backups,
volume types (extra specs and access), QoS specs, quotas, transfers, and the
backend services with their heartbeats and capacity.

Metadata maps live in JSON columns: Cinder never queries them but by exact
key/value (list filters), which the service layer does after the SQL filters.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql

from monostack.common.db import declarative_base

Base = declarative_base()
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class Volume(Base):
    __tablename__ = "volumes"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    size: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32), index=True)
    attach_status: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="detached")
    previous_status: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    migration_status: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    # Why the volume is in its status after something went wrong (error, recovery).
    status_reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    availability_zone: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), index=True)  # host@backend#pool
    volume_type_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    snapshot_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    source_volid: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    image_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    backup_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    group_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), index=True)
    bootable: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    multiattach: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    metadata_: orm.Mapped[dict] = orm.mapped_column("metadata", sa.JSON, default=dict)
    admin_metadata: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    image_metadata: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
    launched_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)

    attachments: orm.Mapped[list["Attachment"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin", order_by="Attachment.created_at")


class Attachment(Base):
    __tablename__ = "volume_attachments"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("volumes.id", ondelete="CASCADE"), index=True)
    instance_uuid: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    attached_host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    mountpoint: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    attach_status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    attach_mode: orm.Mapped[str] = orm.mapped_column(sa.String(8), default="rw")
    connector: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON)
    connection_info: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON)
    attach_time: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
    detach_time: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class Snapshot(Base):
    __tablename__ = "snapshots"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    status_reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    progress: orm.Mapped[str] = orm.mapped_column(sa.String(8), default="0%")
    group_snapshot_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36), index=True)
    volume_size: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    metadata_: orm.Mapped[dict] = orm.mapped_column("metadata", sa.JSON, default=dict)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class Backup(Base):
    __tablename__ = "backups"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    snapshot_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    fail_reason: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    size: orm.Mapped[int] = orm.mapped_column(sa.Integer)
    object_count: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    container: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    availability_zone: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    is_incremental: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    parent_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    # The volume a restore is writing to (recovery needs it).
    restore_volume_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    # The backup whose stored data this row stands for (an imported record); None: its own id.
    data_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    metadata_: orm.Mapped[dict] = orm.mapped_column("metadata", sa.JSON, default=dict)
    # The backed-up volume's own metadata and image metadata, given back by a restore (as Cinder's
    # backup metadata): {"metadata": {...}, "image_metadata": {...}}.
    volume_metadata: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON)
    data_timestamp: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class VolumeType(Base):
    __tablename__ = "volume_types"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    is_public: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    extra_specs: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    qos_specs_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class VolumeTypeEncryption(Base):
    """A type's encryption specs (Cinder's `encryption` table): volumes of the type would be
    encrypted by the consumer (front-end) or the backend with a key from a key manager."""
    __tablename__ = "volume_type_encryption"
    volume_type_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("volume_types.id", ondelete="CASCADE"),
                                                        primary_key=True)
    encryption_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), unique=True)
    provider: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    cipher: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    key_size: orm.Mapped[int | None] = orm.mapped_column(sa.Integer)
    control_location: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class VolumeTypeAccess(Base):
    __tablename__ = "volume_type_projects"
    volume_type_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("volume_types.id", ondelete="CASCADE"),
                                                        primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)


class QosSpecs(Base):
    __tablename__ = "qos_specs"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    consumer: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="back-end")
    specs: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)


class Quota(Base):
    __tablename__ = "volume_quotas"
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), primary_key=True)
    resource: orm.Mapped[str] = orm.mapped_column(sa.String(300), primary_key=True)
    hard_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class QuotaClass(Base):
    __tablename__ = "volume_quota_classes"
    class_name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    resource: orm.Mapped[str] = orm.mapped_column(sa.String(300), primary_key=True)
    hard_limit: orm.Mapped[int] = orm.mapped_column(sa.Integer)


class Service(Base):
    """A cinder-volume (one per backend), cinder-scheduler or cinder-backup, with its heartbeat."""
    __tablename__ = "volume_services"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    host: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    binary: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    topic: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    availability_zone: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    disabled: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    disabled_reason: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    frozen: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    capacity: orm.Mapped[dict | None] = orm.mapped_column(sa.JSON)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
    __table_args__ = (sa.UniqueConstraint("host", "binary"),)


class Transfer(Base):
    __tablename__ = "transfers"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    volume_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    salt: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    crypt_hash: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    source_project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64))
    no_snapshots: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)


class Message(Base):
    """User messages (the messages API): what went wrong with a user's resource."""
    __tablename__ = "messages"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    resource_type: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    resource_uuid: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    event_id: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    message_level: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="ERROR")
    user_message: orm.Mapped[str] = orm.mapped_column(sa.Text)
    request_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)
    expires_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class GroupType(Base):
    __tablename__ = "group_types"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    is_public: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=True)
    group_specs: orm.Mapped[dict] = orm.mapped_column(sa.JSON, default=dict)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, default=utcnow)


class Group(Base):
    """A generic volume group (3.13+): volumes of given types managed (and snapshotted) together."""
    __tablename__ = "volume_groups"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    availability_zone: orm.Mapped[str] = orm.mapped_column(sa.String(255))
    host: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    group_type_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    volume_type_ids: orm.Mapped[list] = orm.mapped_column(sa.JSON, default=list)
    group_snapshot_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    source_group_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class GroupSnapshot(Base):
    __tablename__ = "group_snapshots"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    group_id: orm.Mapped[str] = orm.mapped_column(sa.String(36), index=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(64), index=True)
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(32))
    group_type_id: orm.Mapped[str] = orm.mapped_column(sa.String(36))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True, default=utcnow)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
