"""The Placement tables: providers (trees by parent/root), their inventories, traits and
aggregates; consumers and their allocations; resource classes and traits by name.

Resource classes and traits are referred to by integer id (standard classes keep their
os-resource-classes index, custom ones start at 10000, as in Placement).

`inventories.used` is the sum of the allocations against that inventory, kept in the same
transaction as every allocation write: a claim is one conditional UPDATE of that row
("used + requested fits the capacity"), which the database serialises on the row lock, and
allocation candidates filter on capacity without summing the allocations table.
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql

from monostack.common.db import declarative_base

Base = declarative_base()
Timestamp = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql")
# Double precision everywhere (MariaDB's FLOAT is single precision: 1.1 would read back 1.1000000238).
Ratio = sa.Double()

CUSTOM_ID_START = 10000


class ResourceClass(Base):
    __tablename__ = "placement_resource_classes"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class Trait(Base):
    __tablename__ = "placement_traits"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(255), unique=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime | None] = orm.mapped_column(Timestamp)


class ResourceProvider(Base):
    __tablename__ = "placement_providers"
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), unique=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.String(200), unique=True)
    generation: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    # A provider with children cannot be deleted (RESTRICT); the root is the top of the tree,
    # itself for a root provider (set right after the insert gives the id, hence nullable).
    parent_provider_id: orm.Mapped[int | None] = orm.mapped_column(
        sa.ForeignKey("placement_providers.id", ondelete="RESTRICT", name="fk_placement_providers_parent"), index=True)
    root_provider_id: orm.Mapped[int | None] = orm.mapped_column(sa.Integer, index=True)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class Inventory(Base):
    __tablename__ = "placement_inventories"
    resource_provider_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_providers.id", ondelete="CASCADE", name="fk_placement_inventories_provider"),
        primary_key=True)
    resource_class_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_resource_classes.id", ondelete="RESTRICT", name="fk_placement_inventories_class"),
        primary_key=True, index=True)
    total: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    reserved: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    min_unit: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=1)
    max_unit: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    step_size: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=1)
    allocation_ratio: orm.Mapped[float] = orm.mapped_column(Ratio, default=1.0)
    used: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class ProviderTrait(Base):
    __tablename__ = "placement_provider_traits"
    resource_provider_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_providers.id", ondelete="CASCADE", name="fk_placement_provider_traits_provider"),
        primary_key=True)
    trait_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_traits.id", ondelete="RESTRICT", name="fk_placement_provider_traits_trait"),
        primary_key=True, index=True)


class ProviderAggregate(Base):
    __tablename__ = "placement_provider_aggregates"
    resource_provider_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_providers.id", ondelete="CASCADE", name="fk_placement_provider_aggs_provider"),
        primary_key=True)
    aggregate_uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True, index=True)


class Consumer(Base):
    __tablename__ = "placement_consumers"
    uuid: orm.Mapped[str] = orm.mapped_column(sa.String(36), primary_key=True)
    project_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    user_id: orm.Mapped[str] = orm.mapped_column(sa.String(255), index=True)
    # None: allocations written before microversion 1.38 ("unknown" in usages).
    consumer_type: orm.Mapped[str | None] = orm.mapped_column(sa.String(255))
    generation: orm.Mapped[int] = orm.mapped_column(sa.Integer, default=0)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)


class Allocation(Base):
    __tablename__ = "placement_allocations"
    __table_args__ = (sa.Index("ix_placement_allocations_provider_class", "resource_provider_id",
                               "resource_class_id"),)
    id: orm.Mapped[int] = orm.mapped_column(sa.Integer, primary_key=True)
    resource_provider_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_providers.id", ondelete="RESTRICT", name="fk_placement_allocations_provider"))
    resource_class_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("placement_resource_classes.id", ondelete="RESTRICT", name="fk_placement_allocations_class"))
    consumer_id: orm.Mapped[str] = orm.mapped_column(
        sa.ForeignKey("placement_consumers.uuid", ondelete="CASCADE", name="fk_placement_allocations_consumer"),
        index=True)
    used: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    created_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
    updated_at: orm.Mapped[datetime.datetime] = orm.mapped_column(Timestamp)
