"""Key pairs through the API: generation and import, types, per-user lists and pages,
admins acting for other users, quota and errors, per microversion."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from monostack.compute import models
from tests.compute.api.harness import count_rows


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def md5_fingerprint(line: str) -> str:
    digest = hashlib.md5(base64.b64decode(line.split()[1])).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


async def test_generate_returns_the_private_key_once(compute_api) -> None:
    demo = compute_api.as_("demo")
    response = await demo.post("/os-keypairs", json={"keypair": {"name": "gen"}})
    assert response.status_code == 200, response.text
    keypair = response.json()["keypair"]
    assert set(keypair) == {"name", "public_key", "fingerprint", "user_id", "private_key"}
    assert keypair["user_id"] == "demo-user" and keypair["public_key"].startswith("ssh-rsa ")
    assert keypair["public_key"].endswith(" Generated-by-Nova")
    private = serialization.load_pem_private_key(keypair["private_key"].encode(), None)
    assert private.key_size == 2048
    assert keypair["fingerprint"] == md5_fingerprint(keypair["public_key"])
    shown = (await demo.get("/os-keypairs/gen")).json()["keypair"]
    assert "private_key" not in shown
    assert set(shown) == {"name", "public_key", "fingerprint", "user_id", "created_at", "deleted", "deleted_at",
                          "id", "updated_at"}
    assert shown["deleted"] is False and shown["deleted_at"] is None and isinstance(shown["id"], int)


async def test_import_with_types_and_codes_per_microversion(compute_api) -> None:
    demo = compute_api.as_("demo", "2.2")
    key = public_key()
    response = await demo.post("/os-keypairs", json={"keypair": {"name": "imported", "public_key": key}})
    assert response.status_code == 201
    keypair = response.json()["keypair"]
    assert keypair == {"name": "imported", "public_key": key, "fingerprint": md5_fingerprint(key),
                       "user_id": "demo-user", "type": "ssh"}
    listed = (await demo.get("/os-keypairs")).json()
    assert listed == {"keypairs": [{"keypair": {"name": "imported", "public_key": key,
                                                "fingerprint": md5_fingerprint(key), "type": "ssh"}}]}
    assert (await demo.get("/os-keypairs/imported")).json()["keypair"]["type"] == "ssh"
    assert (await demo.delete("/os-keypairs/imported")).status_code == 204
    assert (await demo.get("/os-keypairs/imported")).status_code == 404
    old = compute_api.as_("demo", "2.1")
    await old.post("/os-keypairs", json={"keypair": {"name": "old", "public_key": key}})
    assert (await old.delete("/os-keypairs/old")).status_code == 202


async def test_x509_generated_and_imported(compute_api) -> None:
    demo = compute_api.as_("demo", "2.2")
    response = await demo.post("/os-keypairs", json={"keypair": {"name": "win", "type": "x509"}})
    assert response.status_code == 201, response.text
    keypair = response.json()["keypair"]
    assert keypair["type"] == "x509" and keypair["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    assert len(keypair["fingerprint"].split(":")) == 20  # SHA-1
    base64.b64decode(keypair["private_key"])  # a PKCS#12 bundle
    again = await demo.post("/os-keypairs", json={"keypair": {"name": "win2", "type": "x509",
                                                              "public_key": keypair["public_key"]}})
    assert again.status_code == 201 and again.json()["keypair"]["fingerprint"] == keypair["fingerprint"]
    bad = await demo.post("/os-keypairs", json={"keypair": {"name": "w3", "type": "x509", "public_key": "junk"}})
    assert bad.status_code == 400


async def test_errors(compute_api) -> None:
    demo = compute_api.as_("demo", "2.2")
    key = public_key()
    assert (await demo.post("/os-keypairs", json={"keypair": {"name": "k", "public_key": key}})).status_code == 201
    dup = await demo.post("/os-keypairs", json={"keypair": {"name": "k", "public_key": key}})
    assert dup.status_code == 409
    assert dup.json()["conflictingRequest"]["message"] == "Key pair 'k' already exists."
    bad_key = await demo.post("/os-keypairs", json={"keypair": {"name": "b", "public_key": "ssh-rsa AAAAnot"}})
    assert bad_key.status_code == 400
    assert bad_key.json()["badRequest"]["message"] == "Keypair data is invalid: failed to generate fingerprint"
    for name in ("", "a/b", " lead", "x" * 256, "a@b"):
        assert (await demo.post("/os-keypairs", json={"keypair": {"name": name, "public_key": key}})
                ).status_code == 400, name
    assert (await demo.post("/os-keypairs", json={"keypair": {"name": "t", "type": "pgp"}})).status_code == 400
    missing = await demo.get("/os-keypairs/nope")
    assert missing.json()["itemNotFound"]["message"] == "Keypair nope not found for user demo-user"
    assert (await demo.delete("/os-keypairs/nope")).status_code == 404
    # Another user of the same project has their own key pairs.
    assert (await compute_api.as_("demo2").get("/os-keypairs/k")).status_code == 404


async def test_2_92_requires_a_public_key_and_allows_more_characters(compute_api) -> None:
    demo = compute_api.as_("demo", "2.92")
    assert (await demo.post("/os-keypairs", json={"keypair": {"name": "gen"}})).status_code == 400
    response = await demo.post("/os-keypairs", json={"keypair": {"name": "me@host.example",
                                                                 "public_key": public_key()}})
    assert response.status_code == 201 and "private_key" not in response.json()["keypair"]


async def test_admin_acts_for_other_users_from_2_10(compute_api) -> None:
    key = public_key()
    admin = compute_api.at("2.10")
    made = await admin.post("/os-keypairs", json={"keypair": {"name": "forhim", "public_key": key,
                                                              "user_id": "demo-user"}})
    assert made.status_code == 201 and made.json()["keypair"]["user_id"] == "demo-user"
    assert [k["keypair"]["name"] for k in (await admin.get("/os-keypairs?user_id=demo-user")).json()["keypairs"]] \
        == ["forhim"]
    assert (await admin.get("/os-keypairs/forhim?user_id=demo-user")).status_code == 200
    assert (await compute_api.as_("demo").get("/os-keypairs/forhim")).status_code == 200
    # A non-admin may not act for someone else.
    alt = compute_api.as_("alt", "2.10")
    assert (await alt.get("/os-keypairs?user_id=demo-user")).status_code == 403
    assert (await alt.post("/os-keypairs", json={"keypair": {"name": "x", "public_key": key,
                                                             "user_id": "demo-user"}})).status_code == 403
    assert (await admin.delete("/os-keypairs/forhim?user_id=demo-user")).status_code == 204


async def test_pages_from_2_35(compute_api) -> None:
    demo = compute_api.as_("demo", "2.35")
    for name in ("c", "a", "d", "b"):
        await demo.post("/os-keypairs", json={"keypair": {"name": name, "public_key": public_key()}})
    page = (await demo.get("/os-keypairs?limit=2")).json()
    assert [k["keypair"]["name"] for k in page["keypairs"]] == ["a", "b"]
    assert "marker=b" in page["keypairs_links"][0]["href"]
    rest = (await demo.get("/os-keypairs?limit=2&marker=b")).json()
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == ["c", "d"]
    assert (await demo.get("/os-keypairs?marker=zz")).status_code == 400
    assert "keypairs_links" not in (await compute_api.as_("demo", "2.34").get("/os-keypairs?limit=2")).json()


async def test_quota(compute_api, compute_svc) -> None:
    await compute_api.put(f"/os-quota-sets/{'d0000000000000000000000000000002'}?user_id=demo-user",
                          json={"quota_set": {"key_pairs": 1}})
    demo = compute_api.as_("demo")
    assert (await demo.post("/os-keypairs", json={"keypair": {"name": "one", "public_key": public_key()}})
            ).status_code == 200
    over = await demo.post("/os-keypairs", json={"keypair": {"name": "two", "public_key": public_key()}})
    assert over.status_code == 403
    assert over.json() == {"forbidden": {"code": 403, "message": "Quota exceeded, too many key pairs."}}
    assert count_rows(compute_svc, models.KeyPair) == 1
