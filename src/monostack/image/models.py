"""The Image tables: images, their additional properties, tags and members."""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql

from monostack.common.db import declarative_base

Base = declarative_base()
# Microseconds on MariaDB too: lists sort by created_at.
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")


class Image(Base):
    __tablename__ = "images"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(30), index=True)
    visibility: orm.Mapped[str] = orm.mapped_column(sa.String(20), index=True)
    protected: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    os_hidden: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), index=True)
    size: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    virtual_size: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    checksum: orm.Mapped[str | None] = orm.mapped_column(sa.String(32))
    os_hash_algo: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    os_hash_value: orm.Mapped[str | None] = orm.mapped_column(sa.String(128))
    disk_format: orm.Mapped[str | None] = orm.mapped_column(sa.String(20))
    container_format: orm.Mapped[str | None] = orm.mapped_column(sa.String(20))
    min_disk: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    min_ram: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    # The bytes staged for an import (the data's stores are in `locations`).
    staged_size: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)

    properties: orm.Mapped[list["ImageProperty"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    tags: orm.Mapped[list["ImageTag"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    members: orm.Mapped[list["ImageMember"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin")
    locations: orm.Mapped[list["ImageLocation"]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, lazy="selectin", order_by="ImageLocation.position")


class ImageLocation(Base):
    """One copy of an image's data: the store (its id in enabled_backends) and the URL there."""
    __tablename__ = "image_locations"
    image_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("images.id", ondelete="CASCADE"),
                                                  primary_key=True)
    store: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    url: orm.Mapped[str] = orm.mapped_column(sa.Text)
    position: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class ImageProperty(Base):
    __tablename__ = "image_properties"
    image_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("images.id", ondelete="CASCADE"),
                                                  primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.Text)


class ImageTag(Base):
    __tablename__ = "image_tags"
    image_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("images.id", ondelete="CASCADE"),
                                                  primary_key=True)
    value: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True)


class ImageMember(Base):
    __tablename__ = "image_members"
    image_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("images.id", ondelete="CASCADE"),
                                                  primary_key=True)
    member: orm.Mapped[str] = orm.mapped_column(sa.String(255), primary_key=True, index=True)
    status: orm.Mapped[str] = orm.mapped_column(sa.String(20), default="pending")
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class ImageTask(Base):
    """An interoperable import of an image (Glance's `api_image_import` task)."""
    __tablename__ = "image_tasks"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    image_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("images.id", ondelete="CASCADE"), index=True)
    type: orm.Mapped[str] = orm.mapped_column(sa.String(30))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(30))
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    user_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    request_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(64))
    input: orm.Mapped[str] = orm.mapped_column(sa.Text)
    result: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    message: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


# -- metadata definitions (metadefs) -----------------------------------------------------------
class MetadefNamespace(Base):
    __tablename__ = "metadef_namespaces"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    namespace: orm.Mapped[str] = orm.mapped_column(sa.String(80), unique=True)
    display_name: orm.Mapped[str | None] = orm.mapped_column(sa.String(80))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    visibility: orm.Mapped[str] = orm.mapped_column(sa.String(32), default="private")
    protected: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), index=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class MetadefObject(Base):
    __tablename__ = "metadef_objects"
    __table_args__ = (sa.UniqueConstraint("namespace_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    namespace_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(80))
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    required: orm.Mapped[str | None] = orm.mapped_column(sa.Text)  # JSON list
    json_schema: orm.Mapped[str] = orm.mapped_column(sa.Text)  # JSON {property name: schema}
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class MetadefProperty(Base):
    __tablename__ = "metadef_properties"
    __table_args__ = (sa.UniqueConstraint("namespace_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    namespace_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(80))
    json_schema: orm.Mapped[str] = orm.mapped_column(sa.Text)  # JSON: the property's definition
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class MetadefTag(Base):
    __tablename__ = "metadef_tags"
    __table_args__ = (sa.UniqueConstraint("namespace_id", "name"),)
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    namespace_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: orm.Mapped[str] = orm.mapped_column(sa.String(80))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class MetadefResourceType(Base):
    __tablename__ = "metadef_resource_types"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(80), unique=True)
    protected: orm.Mapped[bool] = orm.mapped_column(sa.Boolean, default=False)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class MetadefResourceTypeAssociation(Base):
    __tablename__ = "metadef_namespace_resource_types"
    namespace_id: orm.Mapped[str] = orm.mapped_column(sa.ForeignKey("metadef_namespaces.id", ondelete="CASCADE"),
                                                      primary_key=True)
    resource_type_id: orm.Mapped[str] = orm.mapped_column(
        sa.ForeignKey("metadef_resource_types.id", ondelete="CASCADE"), primary_key=True)
    prefix: orm.Mapped[str | None] = orm.mapped_column(sa.String(80))
    properties_target: orm.Mapped[str | None] = orm.mapped_column(sa.String(80))
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class LegacyTask(Base):
    """A task of Glance's legacy tasks API (`POST /v2/tasks`, type `import`): it creates an image
    and imports it from a URL (web-download); `image_id` is set once the image exists."""
    __tablename__ = "image_legacy_tasks"
    id: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    type: orm.Mapped[str] = orm.mapped_column(sa.String(30))
    status: orm.Mapped[str] = orm.mapped_column(sa.String(30))
    owner: orm.Mapped[str | None] = orm.mapped_column(sa.String(255), index=True)
    image_id: orm.Mapped[str | None] = orm.mapped_column(sa.String(36))
    input: orm.Mapped[str] = orm.mapped_column(sa.Text)
    result: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    message: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp, index=True)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    expires_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)
