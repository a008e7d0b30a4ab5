"""Key pairs: a user's SSH public keys (or x509 certificates) that servers
receive through the metadata service and config drive.

Keys are imported, or (before microversion 2.92) generated here: the private
half is returned once and never stored.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute import models
from monostack.compute.service import utcnow

if TYPE_CHECKING:
    from monostack.compute.service import ComputeService

SSH, X509 = "ssh", "x509"


def _colon_hex(digest: str) -> str:
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def ssh_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint of an OpenSSH public key (aa:bb:...), as Nova shows it; 400 if not a key."""
    from cryptography.hazmat.primitives import serialization

    try:
        serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1])
    except Exception:  # noqa: BLE001 - any parse failure is the user's bad key
        raise errors.BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    return _colon_hex(hashlib.md5(blob, usedforsecurity=False).hexdigest())


def x509_fingerprint(pem: str) -> str:
    """The SHA-1 fingerprint of a PEM certificate; 400 if not a certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError, binascii.Error) as err:
        raise errors.BadRequest(f"Keypair data is invalid: failed to generate X509 fingerprint. "
                                f"Error message: {err}") from None
    return _colon_hex(cert.fingerprint(hashes.SHA1()).hex())


def generate_ssh() -> tuple[str, str, str]:
    """(private PEM, public OpenSSH line, fingerprint) of a new RSA 2048 key, as Nova makes them."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode() + " Generated-by-Nova"
    return private, public, ssh_fingerprint(public)


def generate_x509(user_id: str) -> tuple[str, str, str]:
    """(base64 PKCS#12 bundle, PEM certificate, fingerprint): a WinRM client certificate for the user."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user_id)])
    now = datetime.datetime.now(datetime.timezone.utc)
    upn = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # Microsoft User Principal Name
    # An otherName value is DER: a UTF8String (tag 0x0c) holding "user@localhost".
    upn_value = f"{user_id}@localhost".encode()
    der = b"\x0c" + _der_length(len(upn_value)) + upn_value
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.OtherName(upn, der)]), critical=False)
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    bundle = pkcs12.serialize_key_and_certificates(None, key, cert, None, serialization.NoEncryption())
    return base64.b64encode(bundle).decode(), pem, x509_fingerprint(pem)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def to_dict(row: models.KeyPair) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "user_id": row.user_id, "public_key": row.public_key,
            "fingerprint": row.fingerprint, "type": row.type, "created_at": row.created_at}


def _not_found(name: str, user_id: str) -> errors.NotFound:
    return errors.NotFound(f"Keypair {name} not found for user {user_id}")


class KeypairManager:
    def __init__(self, svc: "ComputeService"):
        self.svc = svc

    def get(self, user_id: str, name: str) -> dict[str, Any] | None:
        """The user's key pair ({"name", "public_key", "fingerprint", "type", ...}) or None."""
        with self.svc.db.reader() as session:
            row = session.scalar(sa.select(models.KeyPair).where(models.KeyPair.user_id == user_id,
                                                                 models.KeyPair.name == name))
            return to_dict(row) if row is not None else None

    def show(self, user_id: str, name: str) -> dict[str, Any]:
        keypair = self.get(user_id, name)
        if keypair is None:
            raise _not_found(name, user_id)
        return keypair

    def list(self, user_id: str, *, limit: int | None = None, marker: str | None = None) -> list[dict[str, Any]]:
        """The user's key pairs by name; marker is a key pair name (400 if unknown)."""
        query = sa.select(models.KeyPair).where(models.KeyPair.user_id == user_id).order_by(models.KeyPair.name)
        with self.svc.db.reader() as session:
            if marker is not None:
                if session.scalar(sa.select(models.KeyPair.id).where(
                        models.KeyPair.user_id == user_id, models.KeyPair.name == marker)) is None:
                    raise errors.BadRequest(f"Marker {marker} could not be found.")
                query = query.where(models.KeyPair.name > marker)
            if limit:
                query = query.limit(limit)
            return [to_dict(row) for row in session.scalars(query).all()]

    def create(self, ctx: RequestContext, user_id: str, name: str, *, key_type: str = SSH,
               public_key: str | None = None) -> dict[str, Any]:
        """Import `public_key`, or generate a key pair (the result then carries `private_key`)."""
        private_key = None
        if public_key is not None:
            fingerprint = ssh_fingerprint(public_key) if key_type == SSH else x509_fingerprint(public_key)
        elif key_type == SSH:
            private_key, public_key, fingerprint = generate_ssh()
        else:
            private_key, public_key, fingerprint = generate_x509(user_id)
        try:
            with self.svc.db.writer() as session:
                self.svc.quotas.check_key_pairs(session, ctx.project_id, user_id)
                if session.scalar(sa.select(models.KeyPair.id).where(models.KeyPair.user_id == user_id,
                                                                     models.KeyPair.name == name)) is not None:
                    raise errors.Conflict(f"Key pair '{name}' already exists.")
                row = models.KeyPair(name=name, user_id=user_id, fingerprint=fingerprint, public_key=public_key,
                                     type=key_type, created_at=utcnow())
                session.add(row)
                session.flush()
                result = to_dict(row)
        except sa_exc.IntegrityError:  # the same name created concurrently
            raise errors.Conflict(f"Key pair '{name}' already exists.") from None
        self.svc.notify("keypair.import.end" if private_key is None else "keypair.create.end",
                        {"tenant_id": ctx.project_id, "user_id": user_id, "key_name": name})
        if private_key is not None:
            result["private_key"] = private_key
        return result

    def delete(self, ctx: RequestContext, user_id: str, name: str) -> None:
        with self.svc.db.writer() as session:
            row = session.scalar(sa.select(models.KeyPair).where(models.KeyPair.user_id == user_id,
                                                                 models.KeyPair.name == name))
            if row is None:
                raise _not_found(name, user_id)
            session.delete(row)
        self.svc.notify("keypair.delete.end", {"tenant_id": ctx.project_id, "user_id": user_id, "key_name": name})

    def count(self, session: Any, user_id: str) -> int:
        return int(session.scalar(sa.select(sa.func.count()).select_from(models.KeyPair)
                                  .where(models.KeyPair.user_id == user_id)) or 0)
