"""QoS specs and their association with volume types (a type has at most one)."""

from __future__ import annotations

from typing import Any

from monostack.common import errors
from monostack.volume import models
from monostack.volume.service.common import utcnow

CONSUMERS = ("front-end", "back-end", "both")


class Qos:
    def __init__(self, svc: Any):
        self.svc = svc

    def _get(self, session: Any, qos_id: str) -> models.QosSpecs:
        row = session.get(models.QosSpecs, qos_id)
        if row is None:
            raise errors.NotFound(f"QoS Specs {qos_id} could not be found.")
        return row

    def list(self) -> list[models.QosSpecs]:
        with self.svc.db.reader() as session:
            return session.query(models.QosSpecs).order_by(models.QosSpecs.created_at, models.QosSpecs.id).all()

    def get(self, qos_id: str) -> models.QosSpecs:
        with self.svc.db.reader() as session:
            return self._get(session, qos_id)

    def create(self, name: str, consumer: str, specs: dict[str, str]) -> models.QosSpecs:
        from monostack.volume.service import new_id
        if consumer not in CONSUMERS:
            raise errors.BadRequest(f"Invalid input received: Consumer {consumer} is not valid; it must be one of "
                                    f"{', '.join(CONSUMERS)}.")
        with self.svc.db.writer() as session:
            if session.query(models.QosSpecs).filter_by(name=name).one_or_none() is not None:
                raise errors.Conflict(f"QoS Specs {name} already exists.")
            row = models.QosSpecs(id=new_id(), name=name, consumer=consumer, specs=dict(specs), created_at=utcnow())
            session.add(row)
            return row

    def set_keys(self, qos_id: str, specs: dict[str, str]) -> dict[str, str]:
        with self.svc.db.writer() as session:
            row = self._get(session, qos_id)
            if "consumer" in specs:
                consumer = specs.pop("consumer")
                if consumer not in CONSUMERS:
                    raise errors.BadRequest(f"Invalid input received: Consumer {consumer} is not valid.")
                row.consumer = consumer
            row.specs = {**row.specs, **specs}
            return dict(specs)

    def delete_keys(self, qos_id: str, keys: list[str]) -> None:
        with self.svc.db.writer() as session:
            row = self._get(session, qos_id)
            specs = dict(row.specs)
            for key in keys:
                if key not in specs:
                    raise errors.NotFound(f"QoS spec {qos_id} has no key {key}.")
                specs.pop(key)
            row.specs = specs

    def delete(self, qos_id: str, force: bool = False) -> None:
        with self.svc.db.writer() as session:
            row = self._get(session, qos_id)
            types = session.query(models.VolumeType).filter_by(qos_specs_id=qos_id).all()
            if types and not force:
                raise errors.BadRequest(f"QoS Specs {qos_id} is still associated with entities.")
            for vtype in types:
                vtype.qos_specs_id = None
            session.delete(row)

    def associations(self, qos_id: str) -> list[dict[str, str]]:
        with self.svc.db.reader() as session:
            self._get(session, qos_id)
            return [{"association_type": "volume_type", "name": t.name, "id": t.id}
                    for t in session.query(models.VolumeType).filter_by(qos_specs_id=qos_id)]

    def associate(self, qos_id: str, type_id: str) -> None:
        with self.svc.db.writer() as session:
            self._get(session, qos_id)
            vtype = session.get(models.VolumeType, type_id)
            if vtype is None:
                raise errors.NotFound(f"Volume type {type_id} could not be found.")
            if vtype.qos_specs_id not in (None, qos_id):
                raise errors.BadRequest(f"Invalid input received: Type {type_id} is already associated with "
                                        f"another qos specs: {vtype.qos_specs_id}")
            vtype.qos_specs_id = qos_id

    def disassociate(self, qos_id: str, type_id: str | None = None) -> None:
        with self.svc.db.writer() as session:
            self._get(session, qos_id)
            query = session.query(models.VolumeType).filter_by(qos_specs_id=qos_id)
            if type_id is not None:
                if session.get(models.VolumeType, type_id) is None:
                    raise errors.NotFound(f"Volume type {type_id} could not be found.")
                query = query.filter_by(id=type_id)
            for vtype in query:
                vtype.qos_specs_id = None
