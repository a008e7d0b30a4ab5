"""KeypairManager: import and generation, fingerprints, the lookup servers use, quota."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from monostack.common import errors
from monostack.common.context import RequestContext
from monostack.compute.service.keypairs import generate_ssh, generate_x509, ssh_fingerprint, x509_fingerprint
from tests.compute.api.harness import compute_db_url, compute_svc, make_compute_svc  # noqa: F401

CTX = RequestContext(user_id="u", project_id="p", roles=["member"])


def test_ssh_fingerprint_matches_openssh_md5() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    fingerprint = ssh_fingerprint(line + " me@host")
    assert len(fingerprint.split(":")) == 16 and fingerprint == ssh_fingerprint(line)
    with pytest.raises(errors.BadRequest):
        ssh_fingerprint("ssh-rsa bm90IGEga2V5")
    with pytest.raises(errors.BadRequest):
        ssh_fingerprint("")


def test_generated_keys_work() -> None:
    private, public, fingerprint = generate_ssh()
    loaded = serialization.load_pem_private_key(private.encode(), None)
    derived = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    assert public.startswith(derived) and fingerprint == ssh_fingerprint(public)
    assert private.startswith("-----BEGIN RSA PRIVATE KEY-----")
    bundle, certificate, cert_fingerprint = generate_x509("someone")
    assert x509_fingerprint(certificate) == cert_fingerprint and bundle


def test_get_is_what_servers_embed(compute_svc) -> None:
    assert compute_svc.keypairs.get("u", "k") is None
    created = compute_svc.keypairs.create(CTX, "u", "k")
    assert "private_key" in created
    stored = compute_svc.keypairs.get("u", "k")
    assert stored["name"] == "k" and stored["public_key"] == created["public_key"] and stored["type"] == "ssh"
    assert stored["fingerprint"] == created["fingerprint"] and "private_key" not in stored
    assert compute_svc.keypairs.get("someone-else", "k") is None


def test_quota_counts_the_users_keys(make_compute_svc) -> None:
    svc = make_compute_svc(quota={"key_pairs": 2})
    svc.keypairs.create(CTX, "u", "a")
    svc.keypairs.create(CTX, "u", "b")
    with pytest.raises(errors.Forbidden, match="too many key pairs"):
        svc.keypairs.create(CTX, "u", "c")
    svc.keypairs.create(CTX, "other-user", "a")
    svc.keypairs.delete(CTX, "u", "a")
    svc.keypairs.create(CTX, "u", "c")
    assert [k["name"] for k in svc.keypairs.list("u")] == ["b", "c"]
