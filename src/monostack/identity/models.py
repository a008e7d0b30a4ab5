"""Identity tables.

Domains are projects with `is_domain` set, as in Keystone: a domain's own
`domain_id` is the sentinel ROOT_DOMAIN so that (domain_id, name) stays unique
for domains too.  Role assignments of every kind (user/group on
project/domain/system) share one table keyed by actor, target and role.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from monostack.common.db import declarative_base

Base = declarative_base()

ROOT_DOMAIN = "<<keystone.domain.root>>"
GLOBAL_ROLE_DOMAIN = "<<null>>"  # roles that belong to no domain
SYSTEM_TARGET = "system"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# Microsecond timestamps everywhere (MariaDB's DATETIME drops them otherwise):
# revocation compares issue and revoke times closer than a second apart.
DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
ID = sa.String(64)
NAME = sa.String(255)
JSON = sa.JSON


class Project(Base):
    __tablename__ = "project"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    domain_id: Mapped[str] = mapped_column(ID, index=True)
    parent_id: Mapped[str | None] = mapped_column(ID, index=True)
    is_domain: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list["ProjectTag"]] = orm.relationship(cascade="all, delete-orphan", lazy="selectin")


class ProjectTag(Base):
    __tablename__ = "project_tag"
    project_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255), primary_key=True)


class User(Base):
    __tablename__ = "identity_user"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(NAME)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    default_project_id: Mapped[str | None] = mapped_column(ID)
    description: Mapped[str | None] = mapped_column(sa.Text)
    email: Mapped[str | None] = mapped_column(sa.String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME, default=utcnow)
    last_active_at: Mapped[dt.date | None] = mapped_column(sa.Date)
    failed_auth_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    failed_auth_at: Mapped[dt.datetime | None] = mapped_column(DATETIME)
    passwords: Mapped[list["Password"]] = orm.relationship(
        cascade="all, delete-orphan", order_by="Password.created_at", lazy="selectin")


class Password(Base):
    """Every password a user has had; the newest one is current (history for
    unique_last_password_count)."""

    __tablename__ = "password"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("identity_user.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME, default=utcnow)
    # Microseconds since the epoch: created_at alone cannot order two changes within one second on MariaDB.
    created_at_int: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DATETIME)
    self_service: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class Group(Base):
    __tablename__ = "identity_group"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    description: Mapped[str | None] = mapped_column(sa.Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class GroupMembership(Base):
    __tablename__ = "user_group_membership"
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("identity_user.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("identity_group.id", ondelete="CASCADE"),
                                          primary_key=True, index=True)


class Role(Base):
    __tablename__ = "role"
    __table_args__ = (sa.UniqueConstraint("name", "domain_id"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    domain_id: Mapped[str] = mapped_column(ID, default=GLOBAL_ROLE_DOMAIN)
    description: Mapped[str | None] = mapped_column(sa.Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ImpliedRole(Base):
    __tablename__ = "implied_role"
    prior_role_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)
    implied_role_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True)


class Assignment(Base):
    """type: UserProject, GroupProject, UserDomain, GroupDomain, UserSystem, GroupSystem."""

    __tablename__ = "assignment"
    type: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    target_id: Mapped[str] = mapped_column(ID, primary_key=True, index=True)
    role_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("role.id", ondelete="CASCADE"), primary_key=True, index=True)
    inherited: Mapped[bool] = mapped_column(sa.Boolean, primary_key=True, default=False)


class Region(Base):
    __tablename__ = "region"
    id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    description: Mapped[str] = mapped_column(sa.String(255), default="")
    parent_region_id: Mapped[str | None] = mapped_column(sa.String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Service(Base):
    __tablename__ = "service"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # name, description, ...


class Endpoint(Base):
    __tablename__ = "endpoint"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    legacy_endpoint_id: Mapped[str | None] = mapped_column(ID)
    interface: Mapped[str] = mapped_column(sa.String(8))
    service_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("service.id"), index=True)
    url: Mapped[str] = mapped_column(sa.Text)
    region_id: Mapped[str | None] = mapped_column(sa.String(255), sa.ForeignKey("region.id"))
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EndpointGroup(Base):
    __tablename__ = "endpoint_group"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(sa.Text)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProjectEndpoint(Base):
    __tablename__ = "project_endpoint"
    endpoint_id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)


class ProjectEndpointGroup(Base):
    __tablename__ = "project_endpoint_group"
    endpoint_group_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("endpoint_group.id", ondelete="CASCADE"),
                                                   primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)


class Policy(Base):
    """The (mostly historical) /v3/policies blobs."""

    __tablename__ = "policy"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    blob: Mapped[str] = mapped_column(sa.Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PolicyAssociation(Base):
    """OS-ENDPOINT-POLICY: a policy for an endpoint, a service, or a service in a region."""

    __tablename__ = "policy_association"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    policy_id: Mapped[str] = mapped_column(ID)
    endpoint_id: Mapped[str | None] = mapped_column(ID)
    service_id: Mapped[str | None] = mapped_column(ID)
    region_id: Mapped[str | None] = mapped_column(sa.String(255))


class Credential(Base):
    """Credentials (ec2, totp, cert, ...); the blob is Fernet-encrypted with the
    credential keys.  EC2 credentials' id is the sha256 of their access key."""

    __tablename__ = "credential"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    type: Mapped[str] = mapped_column(sa.String(255))
    encrypted_blob: Mapped[str] = mapped_column(sa.Text)
    key_hash: Mapped[str] = mapped_column(sa.String(64))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ApplicationCredential(Base):
    __tablename__ = "application_credential"
    __table_args__ = (sa.UniqueConstraint("user_id", "name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    description: Mapped[str | None] = mapped_column(sa.Text)
    user_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    system: Mapped[str | None] = mapped_column(sa.String(16))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DATETIME)
    unrestricted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DATETIME, default=utcnow)
    roles: Mapped[list["ApplicationCredentialRole"]] = orm.relationship(cascade="all, delete-orphan",
                                                                       lazy="selectin")
    access_rules: Mapped[list["ApplicationCredentialAccessRule"]] = orm.relationship(
        cascade="all, delete-orphan", lazy="selectin")


class ApplicationCredentialRole(Base):
    __tablename__ = "application_credential_role"
    application_credential_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("application_credential.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ID, primary_key=True)


class AccessRule(Base):
    __tablename__ = "access_rule"
    __table_args__ = (sa.UniqueConstraint("user_id", "service", "path", "method"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, index=True)
    service: Mapped[str] = mapped_column(sa.String(64))
    path: Mapped[str] = mapped_column(sa.String(128))
    method: Mapped[str] = mapped_column(sa.String(16))


class ApplicationCredentialAccessRule(Base):
    __tablename__ = "application_credential_access_rule"
    application_credential_id: Mapped[str] = mapped_column(
        ID, sa.ForeignKey("application_credential.id", ondelete="CASCADE"), primary_key=True)
    access_rule_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("access_rule.id"), primary_key=True)


class Trust(Base):
    __tablename__ = "trust"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    trustor_user_id: Mapped[str] = mapped_column(ID, index=True)
    trustee_user_id: Mapped[str] = mapped_column(ID, index=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    impersonation: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DATETIME)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DATETIME)
    remaining_uses: Mapped[int | None] = mapped_column(sa.Integer)
    redelegated_trust_id: Mapped[str | None] = mapped_column(ID)
    redelegation_count: Mapped[int | None] = mapped_column(sa.Integer)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    roles: Mapped[list["TrustRole"]] = orm.relationship(cascade="all, delete-orphan", lazy="selectin")


class TrustRole(Base):
    __tablename__ = "trust_role"
    trust_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("trust.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[str] = mapped_column(ID, primary_key=True)


class RevocationEvent(Base):
    """A token is revoked when every non-null field matches it and it was
    issued before `issued_before`."""

    __tablename__ = "revocation_event"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    domain_id: Mapped[str | None] = mapped_column(ID)
    project_id: Mapped[str | None] = mapped_column(ID)
    user_id: Mapped[str | None] = mapped_column(ID)
    role_id: Mapped[str | None] = mapped_column(ID)
    trust_id: Mapped[str | None] = mapped_column(ID)
    consumer_id: Mapped[str | None] = mapped_column(ID)
    access_token_id: Mapped[str | None] = mapped_column(ID)
    issued_before: Mapped[dt.datetime] = mapped_column(DATETIME, index=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DATETIME)
    revoked_at: Mapped[dt.datetime] = mapped_column(DATETIME, default=utcnow, index=True)
    audit_id: Mapped[str | None] = mapped_column(sa.String(32))
    audit_chain_id: Mapped[str | None] = mapped_column(sa.String(32))


class RegisteredLimit(Base):
    __tablename__ = "registered_limit"
    __table_args__ = (sa.UniqueConstraint("service_id", "region_id", "resource_name"),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    service_id: Mapped[str] = mapped_column(ID)
    region_id: Mapped[str | None] = mapped_column(sa.String(255))
    resource_name: Mapped[str] = mapped_column(sa.String(255))
    default_limit: Mapped[int] = mapped_column(sa.Integer)
    description: Mapped[str | None] = mapped_column(sa.Text)


class Limit(Base):
    __tablename__ = "limit"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    project_id: Mapped[str | None] = mapped_column(ID)
    domain_id: Mapped[str | None] = mapped_column(ID)
    service_id: Mapped[str] = mapped_column(ID)
    region_id: Mapped[str | None] = mapped_column(sa.String(255))
    resource_name: Mapped[str] = mapped_column(sa.String(255))
    resource_limit: Mapped[int] = mapped_column(sa.Integer)
    description: Mapped[str | None] = mapped_column(sa.Text)


class DomainConfig(Base):
    """Domain-specific identity driver configuration (/v3/domains/{id}/config)."""

    __tablename__ = "domain_config"
    domain_id: Mapped[str] = mapped_column(ID, primary_key=True)
    group: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    option: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)
    sensitive: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class IdentityProvider(Base):
    __tablename__ = "identity_provider"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    domain_id: Mapped[str] = mapped_column(ID)
    authorization_ttl: Mapped[int | None] = mapped_column(sa.Integer)
    remote_ids: Mapped[list[str]] = mapped_column(JSON, default=list)


class FederationProtocol(Base):
    __tablename__ = "federation_protocol"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    idp_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("identity_provider.id", ondelete="CASCADE"),
                                        primary_key=True)
    mapping_id: Mapped[str] = mapped_column(ID)
    remote_id_attribute: Mapped[str | None] = mapped_column(sa.String(64))


class Mapping(Base):
    __tablename__ = "mapping"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    rules: Mapped[Any] = mapped_column(JSON)
    schema_version: Mapped[str] = mapped_column(sa.String(5), default="1.0")


class ServiceProvider(Base):
    __tablename__ = "service_provider"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    auth_url: Mapped[str] = mapped_column(sa.String(256))
    sp_url: Mapped[str] = mapped_column(sa.String(256))
    relay_state_prefix: Mapped[str] = mapped_column(sa.String(256))


class OAuth1Consumer(Base):
    """OS-OAUTH1 consumers; the secret is shown once, on create."""

    __tablename__ = "oauth1_consumer"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    description: Mapped[str | None] = mapped_column(sa.Text)
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
