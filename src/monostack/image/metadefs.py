"""Glance's metadata definitions (metadefs): namespaces and, inside them, objects,
properties, tags and resource type associations.

A namespace is seen by admin, by everyone when public, and by its owner
(project) when private; one a caller may not see is a 404.  Writes need the
`*_metadef_*` policy rules (admin by default, as Glance).  A protected
namespace (or its contents) cannot be deleted: 403.  Names are unique in
their scope: 409.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy import orm

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.common.db import Database
from monostack.common.policy import Policy
from monostack.image.models import (MetadefNamespace, MetadefObject, MetadefProperty,
                                    MetadefResourceType, MetadefResourceTypeAssociation, MetadefTag)
from monostack.image.service import isotime, now

# The resource types Glance's bundled definitions register.
RESOURCE_TYPES = ("OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Aggregate",
                  "OS::Nova::Server", "OS::Trove::Instance", "OS::Glance::Metadef")
VISIBILITIES = ("public", "private")
PROPERTY_TYPES = ("array", "boolean", "integer", "number", "object", "string")
PROPERTY_KEYS = ("title", "description", "operators", "type", "enum", "default", "readonly", "minimum",
                 "maximum", "minLength", "maxLength", "pattern", "items", "uniqueItems", "minItems", "maxItems",
                 "additionalItems")


def _schema_error(schema: str, message: str) -> errors.BadRequest:
    return errors.BadRequest(f"Provided object does not match schema '{schema}': {message}")


def _name(body: dict[str, Any], key: str, schema: str, *, required: bool = True, limit: int = 80) -> Any:
    value = body.get(key)
    if value is None:
        if required:
            raise _schema_error(schema, f"'{key}' is a required property")
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise _schema_error(schema, f"{value!r} is not a valid {key}")
    return value


def _dict_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.BadRequest("Request body must be a JSON object.")
    return body


def _strip(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if v is not None}


class MetadefService:
    def __init__(self, db: Database, policy: Policy):
        self.db = db
        self.policy = policy

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _visible(row: MetadefNamespace, ctx: RequestContext) -> bool:
        return ctx.is_admin or row.visibility == "public" or (
            ctx.project_id is not None and row.owner == ctx.project_id)

    def _authorize(self, ctx: RequestContext, rule: str, row: MetadefNamespace | None = None) -> None:
        target = ({"project_id": row.owner, "visibility": row.visibility} if row is not None
                  else {"project_id": ctx.project_id})
        self.policy.authorize(ctx, rule, target)

    def _namespace(self, session: orm.Session, ctx: RequestContext, name: str) -> MetadefNamespace:
        row = session.scalars(sa.select(MetadefNamespace).where(MetadefNamespace.namespace == name)).first()
        if row is None or not self._visible(row, ctx):
            raise errors.NotFound(f"Metadata definition namespace={name} was not found.")
        return row

    def _writable(self, session: orm.Session, ctx: RequestContext, name: str, rule: str) -> MetadefNamespace:
        row = self._namespace(session, ctx, name)
        self._authorize(ctx, rule, row)
        if not ctx.is_admin and row.owner != ctx.project_id:
            raise errors.Forbidden(f"You are not permitted to modify namespace {name}.")
        return row

    @staticmethod
    def _flush(session: orm.Session, message: str) -> None:
        try:
            session.flush()
        except sa_exc.IntegrityError:
            raise errors.Conflict(message) from None

    def _ensure_resource_types(self, session: orm.Session) -> None:
        known = set(session.scalars(sa.select(MetadefResourceType.name)))
        stamp = now()
        missing = [n for n in RESOURCE_TYPES if n not in known]
        if not missing:
            return
        try:
            with session.begin_nested():
                for name in missing:
                    session.add(MetadefResourceType(id=str(uuid.uuid4()), name=name, protected=True,
                                                    created_at=stamp, updated_at=stamp))
                session.flush()
        except sa_exc.IntegrityError:  # another request seeded them first
            pass

    # -- views -----------------------------------------------------------------------------
    @staticmethod
    def association_view(assoc: MetadefResourceTypeAssociation, name: str) -> dict[str, Any]:
        return _strip({"name": name, "prefix": assoc.prefix, "properties_target": assoc.properties_target,
                       "created_at": isotime(assoc.created_at), "updated_at": isotime(assoc.updated_at)})

    def _associations(self, session: orm.Session, row: MetadefNamespace) -> list[dict[str, Any]]:
        pairs = session.execute(
            sa.select(MetadefResourceTypeAssociation, MetadefResourceType.name)
            .join(MetadefResourceType, MetadefResourceType.id == MetadefResourceTypeAssociation.resource_type_id)
            .where(MetadefResourceTypeAssociation.namespace_id == row.id)
            .order_by(MetadefResourceType.name)).all()
        return [self.association_view(assoc, name) for assoc, name in pairs]

    def namespace_view(self, session: orm.Session, row: MetadefNamespace, *, full: bool = False) -> dict[str, Any]:
        view = _strip({"namespace": row.namespace, "display_name": row.display_name,
                       "description": row.description, "visibility": row.visibility,
                       "protected": bool(row.protected), "owner": row.owner,
                       "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
                       "schema": "/v2/schemas/metadefs/namespace",
                       "self": f"/v2/metadefs/namespaces/{row.namespace}"})
        associations = self._associations(session, row)
        if associations:
            view["resource_type_associations"] = associations
        if full:
            props = self._properties(session, row)
            if props:
                view["properties"] = {p.name: self.property_view(p, with_name=False) for p in props}
            objects = self._objects(session, row)
            if objects:
                view["objects"] = [self.object_view(o, row.namespace) for o in objects]
            tags = self._tags(session, row)
            if tags:
                view["tags"] = [{"name": t.name} for t in tags]
        return view

    @staticmethod
    def object_view(row: MetadefObject, namespace: str) -> dict[str, Any]:
        return _strip({"name": row.name, "description": row.description,
                       "required": json.loads(row.required) if row.required else None,
                       "properties": json.loads(row.json_schema),
                       "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at),
                       "schema": "/v2/schemas/metadefs/object",
                       "self": f"/v2/metadefs/namespaces/{namespace}/objects/{row.name}"})

    @staticmethod
    def property_view(row: MetadefProperty, *, with_name: bool = True) -> dict[str, Any]:
        view = json.loads(row.json_schema)
        if with_name:
            view = {"name": row.name, **view}
        return view

    @staticmethod
    def tag_view(row: MetadefTag) -> dict[str, Any]:
        return {"name": row.name, "created_at": isotime(row.created_at), "updated_at": isotime(row.updated_at)}

    @staticmethod
    def _objects(session: orm.Session, ns: MetadefNamespace) -> list[MetadefObject]:
        return list(session.scalars(sa.select(MetadefObject).where(MetadefObject.namespace_id == ns.id)
                                    .order_by(MetadefObject.created_at, MetadefObject.name)))

    @staticmethod
    def _properties(session: orm.Session, ns: MetadefNamespace) -> list[MetadefProperty]:
        return list(session.scalars(sa.select(MetadefProperty).where(MetadefProperty.namespace_id == ns.id)
                                    .order_by(MetadefProperty.name)))

    @staticmethod
    def _tags(session: orm.Session, ns: MetadefNamespace) -> list[MetadefTag]:
        return list(session.scalars(sa.select(MetadefTag).where(MetadefTag.namespace_id == ns.id)
                                    .order_by(MetadefTag.created_at, MetadefTag.name)))

    # -- namespaces ------------------------------------------------------------------------
    def _namespace_fields(self, body: dict[str, Any], row: MetadefNamespace, *, creating: bool) -> None:
        row.namespace = _name(body, "namespace", "namespace")
        if "display_name" in body or creating:
            row.display_name = _name(body, "display_name", "namespace", required=False)
        if "description" in body or creating:
            value = body.get("description")
            if value is not None and (not isinstance(value, str) or len(value) > 500):
                raise _schema_error("namespace", f"{value!r} is not a valid description")
            row.description = value
        if "visibility" in body or creating:
            value = body.get("visibility", "private")
            if value not in VISIBILITIES:
                raise _schema_error("namespace", f"{value!r} is not one of {list(VISIBILITIES)}")
            row.visibility = value
        if "protected" in body or creating:
            value = body.get("protected", False)
            if not isinstance(value, bool):
                raise _schema_error("namespace", f"{value!r} is not of type 'boolean'")
            row.protected = value

    def create_namespace(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        self._authorize(ctx, "add_metadef_namespace")
        owner = body.get("owner", ctx.project_id)
        if owner != ctx.project_id and not ctx.is_admin:
            raise errors.Forbidden("You are not permitted to create a namespace owned by another project.")
        stamp = now()
        row = MetadefNamespace(id=str(uuid.uuid4()), owner=owner, created_at=stamp, updated_at=stamp)
        self._namespace_fields(body, row, creating=True)
        with self.db.writer() as session:
            session.add(row)
            self._flush(session, f"A metadata definition namespace with name={row.namespace} already exists.")
            for assoc in body.get("resource_type_associations") or []:
                self._associate(session, row, assoc)
            for prop_name, prop in (body.get("properties") or {}).items():
                self._add_property(session, row, {**(prop if isinstance(prop, dict) else {}), "name": prop_name})
            for obj in body.get("objects") or []:
                self._add_object(session, row, _dict_body(obj))
            for tag in body.get("tags") or []:
                self._add_tag(session, row, _name(_dict_body(tag), "name", "tag", limit=255))
            return self.namespace_view(session, row, full=True)

    def list_namespaces(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        self._authorize(ctx, "get_metadef_namespaces")
        with self.db.reader() as session:
            query = sa.select(MetadefNamespace).order_by(MetadefNamespace.created_at, MetadefNamespace.namespace)
            if params.get("visibility"):
                query = query.where(MetadefNamespace.visibility == params["visibility"])
            rows = [r for r in session.scalars(query) if self._visible(r, ctx)]
            views = [self.namespace_view(session, r) for r in rows]
        if params.get("resource_types"):
            wanted = set(params["resource_types"].split(","))
            views = [v for v in views if wanted & {a["name"] for a in v.get("resource_type_associations", [])}]
        return views

    def get_namespace(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.db.reader() as session:
            row = self._namespace(session, ctx, name)
            self._authorize(ctx, "get_metadef_namespace", row)
            return self.namespace_view(session, row, full=True)

    def update_namespace(self, ctx: RequestContext, name: str, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        with self.db.writer() as session:
            row = self._writable(session, ctx, name, "modify_metadef_namespace")
            self._namespace_fields(body, row, creating=False)
            if "owner" in body and body["owner"] != row.owner:
                if not ctx.is_admin:
                    raise errors.Forbidden("Only admin may change the owner of a namespace.")
                row.owner = body["owner"]
            row.updated_at = now()
            self._flush(session, f"A metadata definition namespace with name={row.namespace} already exists.")
            return self.namespace_view(session, row)

    def delete_namespace(self, ctx: RequestContext, name: str) -> None:
        with self.db.writer() as session:
            row = self._writable(session, ctx, name, "delete_metadef_namespace")
            if row.protected:
                raise errors.Forbidden(f"Namespace {name} is protected and cannot be deleted.")
            for model in (MetadefObject, MetadefProperty, MetadefTag, MetadefResourceTypeAssociation):
                session.execute(sa.delete(model).where(model.namespace_id == row.id))
            session.delete(row)

    # -- objects ---------------------------------------------------------------------------
    def _object_fields(self, row: MetadefObject, body: dict[str, Any]) -> None:
        row.name = _name(body, "name", "object")
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise _schema_error("object", f"{description!r} is not of type 'string'")
        row.description = description
        required = body.get("required")
        if required is not None and (not isinstance(required, list) or
                                     not all(isinstance(r, str) for r in required)):
            raise _schema_error("object", f"{required!r} is not a list of property names")
        row.required = json.dumps(required) if required is not None else None
        props = body.get("properties") or {}
        if not isinstance(props, dict):
            raise _schema_error("object", f"{props!r} is not of type 'object'")
        row.json_schema = json.dumps({k: self._property_definition(k, _dict_body(v)) for k, v in props.items()})

    def _add_object(self, session: orm.Session, ns: MetadefNamespace, body: dict[str, Any]) -> MetadefObject:
        stamp = now()
        row = MetadefObject(id=str(uuid.uuid4()), namespace_id=ns.id, created_at=stamp, updated_at=stamp)
        self._object_fields(row, body)
        session.add(row)
        self._flush(session, f"A metadata definition object with name={row.name} already exists in "
                             f"namespace={ns.namespace}.")
        return row

    def _object(self, session: orm.Session, ns: MetadefNamespace, name: str) -> MetadefObject:
        row = session.scalars(sa.select(MetadefObject).where(MetadefObject.namespace_id == ns.id,
                                                             MetadefObject.name == name)).first()
        if row is None:
            raise errors.NotFound(f"Metadata definition object not found for namespace={ns.namespace} "
                                  f"and object={name}.")
        return row

    def create_object(self, ctx: RequestContext, namespace: str, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "add_metadef_object")
            return self.object_view(self._add_object(session, ns, body), namespace)

    def list_objects(self, ctx: RequestContext, namespace: str) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_objects", ns)
            return [self.object_view(o, namespace) for o in self._objects(session, ns)]

    def get_object(self, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_object", ns)
            return self.object_view(self._object(session, ns, name), namespace)

    def update_object(self, ctx: RequestContext, namespace: str, name: str, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "modify_metadef_object")
            row = self._object(session, ns, name)
            self._object_fields(row, body)
            row.updated_at = now()
            self._flush(session, f"A metadata definition object with name={row.name} already exists in "
                                 f"namespace={namespace}.")
            return self.object_view(row, namespace)

    def delete_object(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "delete_metadef_object")
            if ns.protected:
                raise errors.Forbidden(f"Namespace {namespace} is protected: its objects cannot be deleted.")
            session.delete(self._object(session, ns, name))

    # -- properties ------------------------------------------------------------------------
    @staticmethod
    def _property_definition(name: str, body: dict[str, Any]) -> dict[str, Any]:
        definition = {k: body[k] for k in PROPERTY_KEYS if k in body}
        if not isinstance(definition.get("title"), str) or not definition["title"]:
            raise _schema_error("property", f"'title' is a required property of {name!r}")
        if definition.get("type") not in PROPERTY_TYPES:
            raise _schema_error("property", f"{definition.get('type')!r} is not one of {list(PROPERTY_TYPES)}")
        if "enum" in definition and not isinstance(definition["enum"], list):
            raise _schema_error("property", f"{definition['enum']!r} is not of type 'array'")
        return definition

    def _add_property(self, session: orm.Session, ns: MetadefNamespace, body: dict[str, Any]) -> MetadefProperty:
        name = _name(body, "name", "property", limit=255)
        stamp = now()
        row = MetadefProperty(id=str(uuid.uuid4()), namespace_id=ns.id, name=name,
                              json_schema=json.dumps(self._property_definition(name, body)),
                              created_at=stamp, updated_at=stamp)
        session.add(row)
        self._flush(session, f"A metadata definition property with name={name} already exists in "
                             f"namespace={ns.namespace}.")
        return row

    def _property(self, session: orm.Session, ns: MetadefNamespace, name: str) -> MetadefProperty:
        row = session.scalars(sa.select(MetadefProperty).where(MetadefProperty.namespace_id == ns.id,
                                                               MetadefProperty.name == name)).first()
        if row is None:
            raise errors.NotFound(f"Metadata definition property not found for namespace={ns.namespace} "
                                  f"and property={name}.")
        return row

    def create_property(self, ctx: RequestContext, namespace: str, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "add_metadef_property")
            return self.property_view(self._add_property(session, ns, body))

    def list_properties(self, ctx: RequestContext, namespace: str) -> dict[str, Any]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_properties", ns)
            return {p.name: self.property_view(p, with_name=False) for p in self._properties(session, ns)}

    def get_property(self, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_property", ns)
            return self.property_view(self._property(session, ns, name))

    def update_property(self, ctx: RequestContext, namespace: str, name: str, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "modify_metadef_property")
            row = self._property(session, ns, name)
            row.name = _name(body, "name", "property", limit=255)
            row.json_schema = json.dumps(self._property_definition(row.name, body))
            row.updated_at = now()
            self._flush(session, f"A metadata definition property with name={row.name} already exists in "
                                 f"namespace={namespace}.")
            return self.property_view(row)

    def delete_property(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "remove_metadef_property")
            if ns.protected:
                raise errors.Forbidden(f"Namespace {namespace} is protected: its properties cannot be deleted.")
            session.delete(self._property(session, ns, name))

    # -- tags ------------------------------------------------------------------------------
    def _add_tag(self, session: orm.Session, ns: MetadefNamespace, name: str) -> MetadefTag:
        stamp = now()
        row = MetadefTag(id=str(uuid.uuid4()), namespace_id=ns.id, name=name, created_at=stamp, updated_at=stamp)
        session.add(row)
        self._flush(session, f"A metadata tag with name={name} already exists in namespace={ns.namespace}.")
        return row

    def _tag(self, session: orm.Session, ns: MetadefNamespace, name: str) -> MetadefTag:
        row = session.scalars(sa.select(MetadefTag).where(MetadefTag.namespace_id == ns.id,
                                                          MetadefTag.name == name)).first()
        if row is None:
            raise errors.NotFound(f"Metadata tag not found for namespace={ns.namespace} and tag={name}.")
        return row

    def create_tag(self, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
        if not name or len(name) > 255:
            raise _schema_error("tag", f"{name!r} is not a valid name")
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "add_metadef_tag")
            return self.tag_view(self._add_tag(session, ns, name))

    def create_tags(self, ctx: RequestContext, namespace: str, body: Any, *, append: bool) -> list[dict[str, Any]]:
        body = _dict_body(body)
        tags = body.get("tags")
        if not isinstance(tags, list):
            raise _schema_error("tags", "'tags' is a required property")
        names = [_name(_dict_body(t), "name", "tag", limit=255) for t in tags]
        if len(set(names)) != len(names):
            raise errors.Conflict("A metadata tag name appears more than once in the request.")
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "add_metadef_tags")
            if not append:
                session.execute(sa.delete(MetadefTag).where(MetadefTag.namespace_id == ns.id))
            for name in names:
                self._add_tag(session, ns, name)
        return [{"name": n} for n in names]

    def list_tags(self, ctx: RequestContext, namespace: str) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_tags", ns)
            return [self.tag_view(t) for t in self._tags(session, ns)]

    def get_tag(self, ctx: RequestContext, namespace: str, name: str) -> dict[str, Any]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_tag", ns)
            return self.tag_view(self._tag(session, ns, name))

    def update_tag(self, ctx: RequestContext, namespace: str, name: str, body: Any) -> dict[str, Any]:
        new_name = _name(_dict_body(body), "name", "tag", limit=255)
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "modify_metadef_tag")
            row = self._tag(session, ns, name)
            row.name = new_name
            row.updated_at = now()
            self._flush(session, f"A metadata tag with name={new_name} already exists in namespace={namespace}.")
            return self.tag_view(row)

    def delete_tag(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "delete_metadef_tag")
            if ns.protected:
                raise errors.Forbidden(f"Namespace {namespace} is protected: its tags cannot be deleted.")
            session.delete(self._tag(session, ns, name))

    def delete_tags(self, ctx: RequestContext, namespace: str) -> None:
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "delete_metadef_tags")
            if ns.protected:
                raise errors.Forbidden(f"Namespace {namespace} is protected: its tags cannot be deleted.")
            session.execute(sa.delete(MetadefTag).where(MetadefTag.namespace_id == ns.id))

    # -- resource types --------------------------------------------------------------------
    def list_resource_types(self, ctx: RequestContext) -> list[dict[str, Any]]:
        self._authorize(ctx, "list_metadef_resource_types")
        with self.db.writer() as session:
            self._ensure_resource_types(session)
            rows = session.scalars(sa.select(MetadefResourceType).order_by(MetadefResourceType.name))
            return [{"name": r.name, "created_at": isotime(r.created_at), "updated_at": isotime(r.updated_at)}
                    for r in rows]

    def _associate(self, session: orm.Session, ns: MetadefNamespace, body: Any) -> dict[str, Any]:
        body = _dict_body(body)
        name = _name(body, "name", "resource_type_association")
        prefix = _name(body, "prefix", "resource_type_association", required=False)
        target = _name(body, "properties_target", "resource_type_association", required=False)
        self._ensure_resource_types(session)
        rtype = session.scalars(sa.select(MetadefResourceType).where(MetadefResourceType.name == name)).first()
        stamp = now()
        if rtype is None:
            rtype = MetadefResourceType(id=str(uuid.uuid4()), name=name, protected=False,
                                        created_at=stamp, updated_at=stamp)
            session.add(rtype)
            self._flush(session, f"A resource type with name={name} already exists.")
        assoc = MetadefResourceTypeAssociation(namespace_id=ns.id, resource_type_id=rtype.id, prefix=prefix,
                                               properties_target=target, created_at=stamp, updated_at=stamp)
        session.add(assoc)
        self._flush(session, f"The metadata definition resource-type association of resource-type={name} to "
                             f"namespace={ns.namespace}, already exists.")
        return self.association_view(assoc, name)

    def create_association(self, ctx: RequestContext, namespace: str, body: Any) -> dict[str, Any]:
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "add_metadef_resource_type_association")
            return self._associate(session, ns, body)

    def list_associations(self, ctx: RequestContext, namespace: str) -> list[dict[str, Any]]:
        with self.db.reader() as session:
            ns = self._namespace(session, ctx, namespace)
            self._authorize(ctx, "get_metadef_resource_type", ns)
            return self._associations(session, ns)

    def delete_association(self, ctx: RequestContext, namespace: str, name: str) -> None:
        with self.db.writer() as session:
            ns = self._writable(session, ctx, namespace, "remove_metadef_resource_type_association")
            if ns.protected:
                raise errors.Forbidden(f"Namespace {namespace} is protected: its resource type associations "
                                       f"cannot be deleted.")
            assoc = session.scalars(
                sa.select(MetadefResourceTypeAssociation)
                .join(MetadefResourceType, MetadefResourceType.id == MetadefResourceTypeAssociation.resource_type_id)
                .where(MetadefResourceTypeAssociation.namespace_id == ns.id, MetadefResourceType.name == name)).first()
            if assoc is None:
                raise errors.NotFound(f"Failed to find resource type association of resource type {name} with "
                                      f"namespace {namespace}.")
            session.delete(assoc)
