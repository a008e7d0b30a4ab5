"""Credentials (/v3/credentials), EC2 credentials (/v3/users/{id}/credentials/OS-EC2),
and the EC2/S3 signature logins (/v3/ec2tokens, /v3/s3tokens).

Blobs are encrypted with the credential Fernet keys; each row keeps the SHA-1
of the primary key that encrypted it (Keystone's `key_hash`, which tells a
rotation whether every blob has been re-encrypted).  An EC2 credential's id is
the SHA-256 of its access key, so a signed request finds its secret by id.
A credential made with a trust- or application-credential token remembers the
trust or credential in its blob, and the tokens it later yields are limited to
the same delegation.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import orm

from monostack.common import errors
from monostack.identity import models
from monostack.identity import token_format as tf
from monostack.identity.fernet import InvalidToken, KeyRepository
from monostack.identity.service import new_id
from monostack.identity.service.util import extra_fields, flatten_extra, utcnow

if TYPE_CHECKING:
    from monostack.identity.service import IdentityService
    from monostack.identity.service.tokens import ValidatedToken

EC2 = "ec2"
CRED_FIELDS = {"id", "user_id", "project_id", "type", "blob"}
SCOPE_KEYS = ("trust_id", "app_cred_id", "access_token_id", "access_id")  # fixed once an EC2 blob has them
AUTH_TTL = dt.timedelta(minutes=15)  # Keystone's [credential] auth_ttl: how old a signed request may be
# Keystone names these tokens' method "ec2credential"; the token format must know it to pack it.
EC2_METHODS = ["ec2credential"]


def hash_access(access: str) -> str:
    return hashlib.sha256(access.encode("utf-8")).hexdigest()


def primary_key_hash(repo: KeyRepository) -> str:
    """SHA-1 of the key that encrypts (the highest-numbered file of the repository), as Keystone records it."""
    numbers = [int(p.name) for p in repo.path.iterdir() if p.name.isdigit()]
    return hashlib.sha1((repo.path / str(max(numbers))).read_bytes().strip()).hexdigest()


def ec2_dict(row: models.Credential, blob: dict[str, Any]) -> dict[str, Any]:
    return {"user_id": row.user_id, "tenant_id": row.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id")}


def _load_blob(blob: str) -> dict[str, Any]:
    """An EC2 blob: a JSON object with an access key, else 400 (Keystone's _validate_blob_json)."""
    try:
        data = json.loads(blob)
    except (ValueError, TypeError):
        raise errors.ValidationError("Invalid blob in credential") from None
    if not data or not isinstance(data, dict):
        raise errors.ValidationError("Invalid input for field 'blob': an ec2 blob is a JSON object.")
    if data.get("access") is None:
        raise errors.ValidationError("Invalid input for field 'blob': an ec2 blob needs 'access'.")
    if not isinstance(data["access"], str):
        raise errors.ValidationError("Invalid input for field 'blob': 'access' must be a string.")
    return data


def _loads(blob: str) -> dict[str, Any]:
    try:
        data = json.loads(blob)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _check_types(ref: dict[str, Any]) -> None:
    for field in ("blob", "type", "user_id"):
        if field in ref and not isinstance(ref[field], str):
            raise errors.ValidationError(f"Invalid input for field '{field}': {ref[field]!r} is not of type 'string'")
    if ref.get("project_id") is not None and not isinstance(ref["project_id"], str):
        raise errors.ValidationError("Invalid input for field 'project_id': must be a string or null.")


class CredentialManager:
    def __init__(self, svc: "IdentityService"):
        self.svc = svc

    # -- storage ------------------------------------------------------------------------
    def _encrypt(self, row: models.Credential, blob: str) -> None:
        keys = self.svc.credential_keys
        row.encrypted_blob = keys.encrypt(blob.encode("utf-8"))
        row.key_hash = primary_key_hash(keys)

    def _blob(self, row: models.Credential) -> str:
        try:
            return self.svc.credential_keys.decrypt(row.encrypted_blob).decode("utf-8")
        except (InvalidToken, ValueError, TypeError):
            raise errors.APIError("Credential could not be decrypted. Please contact the administrator") from None

    def _dict(self, row: models.Credential) -> dict[str, Any]:
        data = {"id": row.id, "user_id": row.user_id, "project_id": row.project_id, "type": row.type,
                "blob": self._blob(row)}
        return flatten_extra(data, row.extra)

    def _row(self, session: orm.Session, credential_id: str) -> models.Credential:
        row = session.get(models.Credential, credential_id)
        if row is None:
            raise errors.NotFound(f"Could not find credential: {credential_id}.")
        return row

    # -- /v3/credentials --------------------------------------------------------------------
    def create(self, ref: dict[str, Any], *, trust_id: str | None = None,
               app_cred_id: str | None = None) -> dict[str, Any]:
        for field in ("blob", "type", "user_id"):
            if field not in ref:
                raise errors.ValidationError(f"Invalid input for field 'credential': '{field}' is a required "
                                             f"property")
        _check_types(ref)
        blob = ref["blob"]
        if ref["type"].lower() == EC2:
            if not ref.get("project_id"):
                raise errors.ValidationError("Invalid input for field 'credential': 'project_id' is a required "
                                             "property of an ec2 credential")
            data = _load_blob(blob)
            credential_id = hash_access(data["access"])
            # Remember the delegation, so ec2tokens yields tokens with the same limits.
            if trust_id or app_cred_id:
                data.update({k: v for k, v in (("trust_id", trust_id), ("app_cred_id", app_cred_id)) if v})
                blob = json.dumps(data)
        else:
            credential_id = new_id()
        with self.svc.db.writer() as session:
            if session.get(models.Credential, credential_id) is not None:
                raise errors.Conflict(f"Conflict occurred attempting to store credential - Duplicate entry found "
                                      f"with ID {credential_id}.")
            row = models.Credential(id=credential_id, user_id=ref["user_id"], project_id=ref.get("project_id"),
                                    type=ref["type"], extra=extra_fields(ref, CRED_FIELDS))
            self._encrypt(row, blob)
            session.add(row)
            session.flush()
            result = self._dict(row)
        self.svc.changed("credential", "created", credential_id)
        return result

    def get(self, credential_id: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            return self._dict(self._row(session, credential_id))

    def list(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            query = sa.select(models.Credential).order_by(models.Credential.id)
            for field in ("user_id", "type"):
                if filters.get(field):
                    query = query.where(getattr(models.Credential, field) == filters[field])
            return [self._dict(r) for r in session.scalars(query).all()]

    def update(self, credential_id: str, ref: dict[str, Any]) -> dict[str, Any]:
        if not ref:
            raise errors.ValidationError("Invalid input for field 'credential': it must have at least one property.")
        if "id" in ref and ref["id"] != credential_id:
            raise errors.ValidationError("Cannot change the ID of a credential.")
        _check_types(ref)
        with self.svc.db.writer() as session:
            row = self._row(session, credential_id)
            new_type = ref.get("type", row.type)
            if new_type.lower() == EC2 and not ref.get("project_id", row.project_id):
                raise errors.ValidationError("Invalid input for field 'credential': 'project_id' is a required "
                                             "property of an ec2 credential")
            if "blob" in ref and row.type.lower() == EC2:
                old, new = _loads(self._blob(row)), _load_blob(ref["blob"])
                for key in SCOPE_KEYS:
                    if old.get(key) != new.get(key):
                        raise errors.ValidationError(f"{key} can not be updated for credential")
            for field in ("user_id", "project_id", "type"):
                if field in ref:
                    setattr(row, field, ref[field])
            if "blob" in ref:
                self._encrypt(row, ref["blob"])
            extra = extra_fields(ref, CRED_FIELDS)
            if extra:
                row.extra = {**(row.extra or {}), **extra}
            session.flush()
            result = self._dict(row)
        self.svc.changed("credential", "updated", credential_id)
        return result

    def delete(self, credential_id: str) -> None:
        with self.svc.db.writer() as session:
            session.delete(self._row(session, credential_id))
        self.svc.changed("credential", "deleted", credential_id)

    def delete_for_user(self, session: orm.Session, user_id: str) -> None:
        session.execute(sa.delete(models.Credential).where(models.Credential.user_id == user_id))

    def delete_for_project(self, session: orm.Session, project_id: str) -> None:
        session.execute(sa.delete(models.Credential).where(models.Credential.project_id == project_id))

    # -- OS-EC2 -----------------------------------------------------------------------------
    def create_ec2(self, user_id: str, project_id: Any, *, trust_id: str | None = None,
                   app_cred_id: str | None = None) -> dict[str, Any]:
        if not isinstance(project_id, str) or not project_id:
            raise errors.ValidationError("Invalid input for field 'tenant_id': 'tenant_id' is a required property")
        with self.svc.db.reader() as session:
            self.svc.users.get_row(session, user_id)
            self.svc.resources.get_project_row(session, project_id)
        blob: dict[str, Any] = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": trust_id}
        if app_cred_id:
            blob["app_cred_id"] = app_cred_id
        created = self.create({"user_id": user_id, "project_id": project_id, "type": EC2,
                               "blob": json.dumps(blob)})
        return {"user_id": user_id, "tenant_id": project_id, "access": blob["access"], "secret": blob["secret"],
                "trust_id": trust_id, "id": created["id"]}

    def list_ec2(self, user_id: str) -> list[dict[str, Any]]:
        with self.svc.db.reader() as session:
            self.svc.users.get_row(session, user_id)
            rows = session.scalars(sa.select(models.Credential).where(
                models.Credential.user_id == user_id, models.Credential.type == EC2)).all()
            return [ec2_dict(r, _loads(self._blob(r))) for r in rows]

    def get_ec2(self, user_id: str, access: str) -> dict[str, Any]:
        with self.svc.db.reader() as session:
            self.svc.users.get_row(session, user_id)
            row = self._row(session, hash_access(access))
            if row.type != EC2 or row.user_id != user_id:
                raise errors.NotFound(f"Could not find credential: {access}.")
            return ec2_dict(row, _loads(self._blob(row)))

    def delete_ec2(self, user_id: str, access: str) -> None:
        self.get_ec2(user_id, access)
        self.delete(hash_access(access))

    # -- /v3/ec2tokens and /v3/s3tokens -------------------------------------------------------
    def authenticate_signed(self, body: Any, *, s3: bool) -> "ValidatedToken":
        """Blocking: check an AWS-style signature made with an EC2 credential's secret; a project-scoped
        token for the credential's user (limited to its trust or application credential, if any)."""
        if not isinstance(body, dict) or not body:
            raise errors.ValidationError("request must include a request body")
        creds = body.get("credentials") or body.get("credential") or body.get("ec2Credentials") or {}
        if not isinstance(creds, dict) or not isinstance(creds.get("access"), str):
            raise errors.Unauthorized("EC2 Signature not supplied")
        with self.svc.db.reader() as session:
            row = session.get(models.Credential, hash_access(creds["access"]))
            if row is None or row.type != EC2:
                raise errors.NotFound("EC2 access key not found.")
            blob = _loads(self._blob(row))
            user_id, project_id = row.user_id, row.project_id
        if not isinstance(blob.get("secret"), str):
            raise errors.Unauthorized("Invalid EC2 signature.")
        if s3:
            check_s3_signature(blob["secret"], creds)
        else:
            check_ec2_signature(blob["secret"], creds)
        check_timestamp(creds)
        return self._issue(user_id, project_id, blob.get("trust_id"), blob.get("app_cred_id"))

    def _issue(self, user_id: str, project_id: str | None, trust_id: str | None,
               app_cred_id: str | None) -> "ValidatedToken":
        now = utcnow()
        expires_at = now + dt.timedelta(seconds=self.svc.conf.identity.token_expiration)
        limit = None
        if trust_id:
            trust = self.svc.trusts.lookup(trust_id)
            # The credential's user is the token's user: the trustor when impersonating, else the trustee.
            holder = trust and trust["trustor_user_id" if trust["impersonation"] else "trustee_user_id"]
            if trust is None or trust["project_id"] != project_id or holder != user_id:
                raise errors.Unauthorized("The trust of this EC2 credential is no longer valid.")
            limit = trust["expires_at"]
        elif app_cred_id:
            app_cred = self.svc.app_creds.lookup(app_cred_id)
            if app_cred is None or app_cred["project_id"] != project_id or app_cred["user_id"] != user_id:
                raise errors.Unauthorized("EC2 credential project does not match the application credential "
                                          "project.")
            limit = app_cred["expires_at"]
        if limit is not None and limit < expires_at:
            expires_at = limit
        payload = tf.TokenPayload(user_id=user_id, methods=list(EC2_METHODS), expires_at=expires_at, issued_at=now,
                                  audit_ids=[tf.new_audit_id()], scope_type=tf.PROJECT, scope_id=project_id,
                                  app_cred_id=app_cred_id if not trust_id else None, trust_id=trust_id)
        token_id = self.svc.token_keys.encrypt(tf.pack(payload))
        try:
            # Validation checks the user, the project (both enabled) and that some role is left.
            return self.svc.tokens.validate(token_id)
        except errors.NotFound:
            raise errors.Unauthorized("User not valid for project.") from None


# -- signatures ---------------------------------------------------------------------------------
def _equal(given: Any, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _b64_hmac(secret: str, data: bytes, digest: Any) -> str:
    return base64.b64encode(hmac.new(secret.encode("utf-8"), data, digest).digest()).decode("ascii")


def _canonical_qs(params: dict[str, Any]) -> str:
    return "&".join(urllib.parse.quote(str(k), safe="") + "=" + urllib.parse.quote(str(params[k]), safe="-_~")
                    for k in sorted(params))


def check_ec2_signature(secret: str, creds: dict[str, Any]) -> None:
    """/v3/ec2tokens: signature versions 0, 1, 2 and 4 (Keystone's Ec2Signer); a client that signed
    without the port in the host is given a second chance."""
    if not creds.get("signature"):
        raise errors.Unauthorized("EC2 signature not supplied.")
    if _equal(creds["signature"], ec2_signature(secret, creds)):
        return
    host = creds.get("host")
    if isinstance(host, str) and ":" in host:
        stripped = dict(creds, host=urllib.parse.urlsplit("//" + host).hostname)
        if _equal(creds["signature"], ec2_signature(secret, stripped)):
            return
    raise errors.Unauthorized("Invalid EC2 signature.")


def ec2_signature(secret: str, creds: dict[str, Any]) -> str:
    params = creds.get("params") or {}
    headers = creds.get("headers") or {}
    if not isinstance(params, dict) or not isinstance(headers, dict):
        raise errors.Unauthorized("Invalid EC2 signature.")
    params = {k: v for k, v in params.items() if k != "Signature"}
    version = params.get("SignatureVersion")
    try:
        if version == "0":
            return _b64_hmac(secret, (params["Action"] + params["Timestamp"]).encode("utf-8"), hashlib.sha1)
        if version == "1":
            data = "".join(k + str(params[k]) for k in sorted(params, key=str.lower))
            return _b64_hmac(secret, data.encode("utf-8"), hashlib.sha1)
        if version == "2":
            sha1 = params.get("SignatureMethod") == "HmacSHA1"
            if not sha1:
                params["SignatureMethod"] = "HmacSHA256"
            text = f"{creds['verb']}\n{creds['host']}\n{creds['path']}\n{_canonical_qs(params)}"
            return _b64_hmac(secret, text.encode("utf-8"), hashlib.sha1 if sha1 else hashlib.sha256)
        if _is_v4(params, headers):
            return _ec2_signature_v4(secret, creds, params, headers)
    except (KeyError, TypeError, AttributeError, IndexError):
        pass
    raise errors.Unauthorized("Invalid EC2 signature.")


def _header(headers: dict[str, Any], name: str) -> Any:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _is_v4(params: dict[str, Any], headers: dict[str, Any]) -> bool:
    auth = _header(headers, "Authorization")
    if isinstance(auth, str):
        return auth.startswith("AWS4-HMAC-SHA256")
    return params.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256"


def _ec2_signature_v4(secret: str, creds: dict[str, Any], params: dict[str, Any], headers: dict[str, Any]) -> str:
    auth = _header(headers, "Authorization")

    def auth_param(name: str) -> str:
        if isinstance(auth, str):
            return auth.partition(f"{name}=")[2].split(",")[0].strip()
        return params[f"X-Amz-{name}"]

    lower = {k.lower().strip(): str(v).strip() for k, v in headers.items()}
    strip_port = re.match(r"Boto/2\.[0-9]\.[0-2]", lower.get("user-agent", ""))
    signed = auth_param("SignedHeaders")
    lines = []
    for name in signed.split(";"):
        if name in lower:
            value = lower[name].split(":")[0] if name == "host" and strip_port else lower[name]
            lines.append(f"{name}:{value}")
    verb = creds["verb"].upper()
    query = "" if verb == "POST" else _canonical_qs({k: v for k, v in params.items() if k != "X-Amz-Signature"})
    request = "\n".join((verb, creds["path"], query, "\n".join(lines) + "\n", signed, creds["body_hash"]))
    credential = auth_param("Credential").split("/")
    date = _header(headers, "X-Amz-Date") or params.get("X-Amz-Date") or ""
    if len(credential) != 5 or not date.startswith(credential[1]):
        raise errors.Unauthorized("Invalid EC2 signature.")
    string_to_sign = "\n".join(("AWS4-HMAC-SHA256", date, "/".join(credential[1:]),
                                hashlib.sha256(request.encode("utf-8")).hexdigest()))
    key = _v4_key(secret, *[part.encode("utf-8") for part in credential[1:4]])
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _v4_key(secret: str, date: bytes, region: bytes, service: bytes) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (date, region, service, b"aws4_request"):
        key = hmac.new(key, part, hashlib.sha256).digest()
    return key


def check_s3_signature(secret: str, creds: dict[str, Any]) -> None:
    """/v3/s3tokens: `token` is the base64 string-to-sign; v2 (HMAC-SHA1, base64) or v4 (HMAC-SHA256, hex)."""
    try:
        string_to_sign = base64.urlsafe_b64decode(str(creds["token"]))
    except (KeyError, ValueError, binascii.Error):
        raise errors.Unauthorized("Credential signature mismatch") from None
    if string_to_sign[:4] != b"AWS4":
        expected = base64.encodebytes(hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha1).digest())
        signature = expected.decode("ascii").strip()
    else:
        parts = string_to_sign.split(b"\n")
        scope = parts[2].split(b"/") if len(parts) == 4 else []
        if parts[0] != b"AWS4-HMAC-SHA256" or len(scope) != 4 or scope[3] != b"aws4_request" \
                or scope[2] not in (b"s3", b"iam", b"sts"):
            raise errors.Unauthorized("Invalid EC2 signature.")
        key = _v4_key(secret, scope[0], scope[1], scope[2])
        signature = hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()
    if not _equal(creds.get("signature"), signature):
        raise errors.Unauthorized("Credential signature mismatch")


def check_timestamp(creds: dict[str, Any]) -> None:
    """A signed request older than AUTH_TTL is refused (replay protection); none given: not checked."""
    params = creds.get("params") if isinstance(creds.get("params"), dict) else {}
    headers = creds.get("headers") if isinstance(creds.get("headers"), dict) else {}
    stamp = params.get("Timestamp") or _header(headers, "X-Amz-Date") or params.get("X-Amz-Date")
    if not stamp:
        return
    try:
        text = str(stamp)
        when = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError as exc:
        raise errors.Unauthorized(f"Credential timestamp is invalid: {exc}") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if utcnow() > when + AUTH_TTL:
        raise errors.Unauthorized("Credential is expired")
