"""Request bodies of the core Identity resources, as Keystone's JSON schemas define them.

Strict: no coercion ("yes" is not a boolean, 5 is not a string).  Unknown
attributes are allowed and kept, as Keystone keeps them.  The service layer
still checks what needs the database (uniqueness, existence).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Name255 = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Id64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
DomainIdText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-zA-Z0-9-]+$")]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^,/]*$")]
Url = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class _Ref(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    def ref(self) -> dict[str, Any]:
        """What the client sent (unset fields left out), extra attributes included."""
        return self.model_dump(exclude_unset=True)


class ImmutableOption(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    immutable: bool | None = None


class UserOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    ignore_change_password_upon_first_use: bool | None = None
    ignore_password_expiry: bool | None = None
    ignore_lockout_failure_attempts: bool | None = None
    lock_password: bool | None = None
    ignore_user_inactivity: bool | None = None
    multi_factor_auth_enabled: bool | None = None
    multi_factor_auth_rules: list[list[str]] | None = None


# -- domains and projects ---------------------------------------------------------
class DomainCreate(_Ref):
    name: Name64
    description: str | None = None
    enabled: bool = True
    explicit_domain_id: DomainIdText | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=80)
    options: ImmutableOption = Field(default_factory=ImmutableOption)


class DomainUpdate(_Ref):
    name: Name64 | None = None
    description: str | None = None
    enabled: bool | None = None
    tags: list[Tag] | None = Field(default=None, max_length=80)
    options: ImmutableOption | None = None


class ProjectCreate(DomainCreate):
    domain_id: Id64 | None = None
    parent_id: Id64 | None = None
    is_domain: bool = False


class ProjectUpdate(DomainUpdate):
    domain_id: Id64 | None = None
    parent_id: Id64 | None = None
    is_domain: bool | None = None


class DomainBody(BaseModel):
    domain: DomainCreate


class DomainUpdateBody(BaseModel):
    domain: DomainUpdate


class ProjectBody(BaseModel):
    project: ProjectCreate


class ProjectUpdateBody(BaseModel):
    project: ProjectUpdate


class TagsBody(BaseModel):
    model_config = ConfigDict(strict=True)
    tags: list[Tag] = Field(max_length=80)


# -- users and groups ---------------------------------------------------------------
class UserCreate(_Ref):
    name: Name255
    domain_id: Id64 | None = None
    default_project_id: Id64 | None = None
    description: str | None = None
    email: str | None = None
    enabled: bool = True
    password: str | None = None
    options: UserOptions = Field(default_factory=UserOptions)


class UserUpdate(_Ref):
    name: Name255 | None = None
    domain_id: Id64 | None = None
    default_project_id: Id64 | None = None
    description: str | None = None
    email: str | None = None
    enabled: bool | None = None
    password: str | None = None
    options: UserOptions | None = None


class PasswordChange(BaseModel):
    model_config = ConfigDict(strict=True)
    password: str
    original_password: str


class GroupCreate(_Ref):
    name: Name64
    domain_id: Id64 | None = None
    description: str | None = None


class GroupUpdate(_Ref):
    name: Name64 | None = None
    domain_id: Id64 | None = None
    description: str | None = None


class UserBody(BaseModel):
    user: UserCreate


class UserUpdateBody(BaseModel):
    user: UserUpdate


class PasswordChangeBody(BaseModel):
    user: PasswordChange


class GroupBody(BaseModel):
    group: GroupCreate


class GroupUpdateBody(BaseModel):
    group: GroupUpdate


# -- roles --------------------------------------------------------------------------
class RoleCreate(_Ref):
    name: Name255
    domain_id: Id64 | None = None
    description: str | None = None
    options: ImmutableOption = Field(default_factory=ImmutableOption)


class RoleUpdate(_Ref):
    name: Name255 | None = None
    domain_id: Id64 | None = None
    description: str | None = None
    options: ImmutableOption | None = None


class RoleBody(BaseModel):
    role: RoleCreate


class RoleUpdateBody(BaseModel):
    role: RoleUpdate


# -- catalog ------------------------------------------------------------------------
class RegionCreate(_Ref):
    id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    description: str | None = None
    parent_region_id: Annotated[str, StringConstraints(max_length=255)] | None = None


class RegionUpdate(_Ref):
    description: str | None = None
    parent_region_id: Annotated[str, StringConstraints(max_length=255)] | None = None


class ServiceCreate(_Ref):
    type: Name255
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: str | None = None
    enabled: bool = True


class ServiceUpdate(_Ref):
    type: Name255 | None = None
    name: Annotated[str, StringConstraints(max_length=255)] | None = None
    description: str | None = None
    enabled: bool | None = None


class EndpointCreate(_Ref):
    service_id: Id64
    interface: Annotated[str, StringConstraints(pattern=r"^(public|internal|admin)$")]
    url: Url
    region_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    region: Annotated[str, StringConstraints(max_length=255)] | None = None
    enabled: bool = True


class EndpointUpdate(_Ref):
    service_id: Id64 | None = None
    interface: Annotated[str, StringConstraints(pattern=r"^(public|internal|admin)$")] | None = None
    url: Url | None = None
    region_id: Annotated[str, StringConstraints(max_length=255)] | None = None
    region: Annotated[str, StringConstraints(max_length=255)] | None = None
    enabled: bool | None = None


class RegionBody(BaseModel):
    region: RegionCreate = Field(default_factory=RegionCreate)


class RegionUpdateBody(BaseModel):
    region: RegionUpdate


class ServiceBody(BaseModel):
    service: ServiceCreate


class ServiceUpdateBody(BaseModel):
    service: ServiceUpdate


class EndpointBody(BaseModel):
    endpoint: EndpointCreate


class EndpointUpdateBody(BaseModel):
    endpoint: EndpointUpdate
