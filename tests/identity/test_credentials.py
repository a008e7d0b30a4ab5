"""Credentials, EC2 credentials, and the EC2/S3 signature logins (ec2tokens, s3tokens)."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from types import SimpleNamespace

import httpx
import pytest

from monostack.common import errors
from monostack.identity import models

Ec2Signer = pytest.importorskip("keystoneclient.contrib.ec2.utils").Ec2Signer


def new_user(identity, *roles):
    """A fresh user with `roles` (default: member) on a fresh project: the tests share one database."""
    suffix = uuid.uuid4().hex[:10]
    project = identity.resources.create_project({"name": f"p-{suffix}", "domain_id": "default"})
    user = identity.users.create_user({"name": f"u-{suffix}", "password": uuid.uuid4().hex, "domain_id": "default"})
    with identity.db.reader() as session:
        wanted = [identity.assignments.role_by_name(session, n).id for n in roles or ("member",)]
    for role_id in wanted:
        identity.assignments.grant("user", user["id"], "project", project["id"], role_id)
    return SimpleNamespace(id=user["id"], project_id=project["id"])


def ec2_blob(access=None, secret=None, **more):
    return json.dumps({"access": access or uuid.uuid4().hex, "secret": secret or uuid.uuid4().hex, **more})


# -- /v3/credentials (service layer) ---------------------------------------------------------------
def test_blob_is_encrypted_with_the_primary_key(identity):
    cred = identity.credentials.create({"user_id": new_user(identity).id, "type": "totp", "blob": "JBSWY3DPEHPK3PXP",
                                        "label": "phone"})
    assert cred["blob"] == "JBSWY3DPEHPK3PXP" and cred["project_id"] is None and cred["label"] == "phone"
    with identity.db.reader() as session:
        row = session.get(models.Credential, cred["id"])
    assert "JBSWY3DPEHPK3PXP" not in row.encrypted_blob
    assert identity.credential_keys.decrypt(row.encrypted_blob) == b"JBSWY3DPEHPK3PXP"
    keys = identity.credential_keys.path
    primary = max(int(p.name) for p in keys.iterdir() if p.name.isdigit())
    assert row.key_hash == hashlib.sha1((keys / str(primary)).read_bytes().strip()).hexdigest()
    assert identity.credentials.get(cred["id"])["blob"] == "JBSWY3DPEHPK3PXP"


def test_ec2_credential_id_is_the_access_hash(identity):
    user, access = new_user(identity), f"AKID{uuid.uuid4().hex}"
    blob = ec2_blob(access=access)
    cred = identity.credentials.create({"user_id": user.id, "project_id": user.project_id, "type": "ec2",
                                        "blob": blob})
    assert cred["id"] == hashlib.sha256(access.encode()).hexdigest() and json.loads(cred["blob"])["access"]
    with pytest.raises(errors.Conflict):
        identity.credentials.create({"user_id": user.id, "project_id": user.project_id, "type": "ec2",
                                     "blob": blob})


@pytest.mark.parametrize("ref", [
    {"type": "ec2", "blob": ec2_blob()},  # no project
    {"type": "ec2", "blob": "not json", "project_id": "p"},
    {"type": "ec2", "blob": json.dumps({"secret": "x"}), "project_id": "p"},
    {"type": "ec2", "blob": json.dumps(["access"]), "project_id": "p"},
    {"type": "cert"},  # no blob
    {"type": "cert", "blob": {"not": "a string"}},
    {"blob": "x"},  # no type
])
def test_create_bad_input_is_400(identity, ref):
    with pytest.raises(errors.ValidationError):
        identity.credentials.create({"user_id": uuid.uuid4().hex, **ref})


def test_list_filters_update_and_delete(identity):
    user, other = new_user(identity), new_user(identity)
    mine = identity.credentials.create({"user_id": user.id, "type": "cert", "blob": "a"})
    ec2 = identity.credentials.create({"user_id": user.id, "project_id": user.project_id, "type": "ec2",
                                       "blob": ec2_blob()})
    theirs = identity.credentials.create({"user_id": other.id, "type": "cert", "blob": "b"})
    assert {c["id"] for c in identity.credentials.list({"user_id": user.id})} == {mine["id"], ec2["id"]}
    assert [c["id"] for c in identity.credentials.list({"user_id": user.id, "type": "ec2"})] == [ec2["id"]]
    assert {mine["id"], ec2["id"], theirs["id"]} <= {c["id"] for c in identity.credentials.list({})}

    updated = identity.credentials.update(mine["id"], {"blob": "c", "project_id": user.project_id, "note": 1})
    assert updated["blob"] == "c" and updated["project_id"] == user.project_id and updated["note"] == 1
    assert identity.credentials.get(mine["id"])["blob"] == "c"
    with pytest.raises(errors.ValidationError):
        identity.credentials.update(mine["id"], {"id": "other"})
    with pytest.raises(errors.ValidationError):
        identity.credentials.update(mine["id"], {})
    with pytest.raises(errors.ValidationError):
        identity.credentials.update(ec2["id"], {"blob": "not json"})
    with pytest.raises(errors.ValidationError):
        identity.credentials.update(ec2["id"], {"project_id": None})
    identity.credentials.delete(mine["id"])
    with pytest.raises(errors.NotFound):
        identity.credentials.get(mine["id"])
    with pytest.raises(errors.NotFound):
        identity.credentials.delete(mine["id"])


def test_delegation_is_kept_in_ec2_blobs(identity):
    user = new_user(identity)
    cred = identity.credentials.create({"user_id": user.id, "project_id": user.project_id, "type": "ec2",
                                        "blob": ec2_blob()}, trust_id="some-trust")
    blob = json.loads(cred["blob"])
    assert blob["trust_id"] == "some-trust"
    with pytest.raises(errors.ValidationError):  # the trust cannot be dropped or changed
        identity.credentials.update(cred["id"], {"blob": json.dumps({**blob, "trust_id": None})})
    identity.credentials.update(cred["id"], {"blob": json.dumps({**blob, "secret": "new"})})


# -- OS-EC2 and signed logins (service layer) -------------------------------------------------------
def test_ec2_credentials_crud(identity):
    user, other = new_user(identity), new_user(identity)
    made = identity.credentials.create_ec2(user.id, user.project_id)
    assert made["tenant_id"] == user.project_id and made["trust_id"] is None and len(made["secret"]) == 32
    assert [c["access"] for c in identity.credentials.list_ec2(user.id)] == [made["access"]]
    assert identity.credentials.get_ec2(user.id, made["access"])["secret"] == made["secret"]
    with pytest.raises(errors.NotFound):
        identity.credentials.get_ec2(other.id, made["access"])
    with pytest.raises(errors.NotFound):
        identity.credentials.create_ec2(user.id, "nowhere")
    with pytest.raises(errors.ValidationError):
        identity.credentials.create_ec2(user.id, None)
    identity.credentials.delete_ec2(user.id, made["access"])
    with pytest.raises(errors.NotFound):
        identity.credentials.get_ec2(user.id, made["access"])
    identity.credentials.create_ec2(user.id, user.project_id)
    identity.users.delete_user(user.id)
    assert identity.credentials.list({"user_id": user.id}) == []


def s3_v2(secret, string_to_sign):
    signature = base64.encodebytes(hmac.new(secret.encode(), string_to_sign, hashlib.sha1).digest()).decode()
    return {"token": base64.urlsafe_b64encode(string_to_sign).decode(), "signature": signature.strip()}


def s3_v4(secret, string_to_sign, service=b"s3"):
    date, region = string_to_sign.split(b"\n")[2].split(b"/")[:2]
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, b"aws4_request"):
        key = hmac.new(key, part, hashlib.sha256).digest()
    return {"token": base64.urlsafe_b64encode(string_to_sign).decode(),
            "signature": hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()}


V4_STRING = (b"AWS4-HMAC-SHA256\n20260101T000000Z\n20260101/RegionOne/s3/aws4_request\n"
             + hashlib.sha256(b"canonical request").hexdigest().encode())


def test_s3_signatures_v2_and_v4(identity):
    user = new_user(identity)
    made = identity.credentials.create_ec2(user.id, user.project_id)
    for signed in (s3_v2(made["secret"], b"GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/bucket/key"),
                   s3_v4(made["secret"], V4_STRING)):
        token = identity.credentials.authenticate_signed({"credentials": {"access": made["access"], **signed}},
                                                         s3=True)
        assert token.project["id"] == user.project_id and token.user["id"] == user.id
        assert {r["name"] for r in token.roles} == {"member", "reader"}
        bad = {"access": made["access"], **signed, "signature": signed["signature"][:-2] + "xx"}
        with pytest.raises(errors.Unauthorized):
            identity.credentials.authenticate_signed({"credentials": bad}, s3=True)
    for wrong_scope in (V4_STRING.replace(b"/s3/", b"/ec2/"), V4_STRING.replace(b"aws4_request", b"aws4")):
        with pytest.raises(errors.Unauthorized):
            identity.credentials.authenticate_signed(
                {"credentials": {"access": made["access"], **s3_v4(made["secret"], wrong_scope)}}, s3=True)
    with pytest.raises(errors.NotFound):
        identity.credentials.authenticate_signed({"credentials": {"access": "unknown", "token": "", "signature": ""}},
                                                 s3=True)
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed({"credentials": {"token": "x"}}, s3=True)
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed(
            {"credentials": {"access": made["access"], "token": "!!!", "signature": "x"}}, s3=True)


def ec2_request(access, secret, version, host="ec2.example.com:8773"):
    now = dt.datetime.utcnow()
    if version == "4":
        params = {"Action": "DescribeInstances"}
        headers = {"Host": host, "X-Amz-Date": now.strftime("%Y%m%dT%H%M%SZ"),
                   "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{now:%Y%m%d}/RegionOne/ec2/aws4_request, "
                                    f"SignedHeaders=host;x-amz-date, Signature=x"}
    else:
        params = {"Action": "DescribeInstances", "AWSAccessKeyId": access, "SignatureVersion": version,
                  "Timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2010-08-31"}
        headers = {}
    creds = {"access": access, "host": host, "verb": "GET", "path": "/", "params": dict(params),
             "headers": headers, "body_hash": hashlib.sha256(b"").hexdigest()}
    creds["signature"] = Ec2Signer(secret).generate(dict(creds, params=dict(params)))
    return creds


@pytest.mark.parametrize("version", ["0", "1", "2", "4"])
def test_ec2_signatures_match_keystoneclient(identity, version):
    user = new_user(identity)
    made = identity.credentials.create_ec2(user.id, user.project_id)
    creds = ec2_request(made["access"], made["secret"], version)
    token = identity.credentials.authenticate_signed({"credentials": creds}, s3=False)
    assert token.project["id"] == user.project_id
    assert token.body(None)["token"]["methods"]
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed({"credentials": {**creds, "signature": "AAAA"}}, s3=False)


def test_ec2_port_less_host_and_stale_requests(identity):
    user = new_user(identity)
    made = identity.credentials.create_ec2(user.id, user.project_id)
    creds = ec2_request(made["access"], made["secret"], "2", host="ec2.example.com")
    identity.credentials.authenticate_signed({"credentials": {**creds, "host": "ec2.example.com:8773"}}, s3=False)
    stale = ec2_request(made["access"], made["secret"], "2")
    stale["params"]["Timestamp"] = "2001-01-01T00:00:00Z"
    stale["signature"] = Ec2Signer(made["secret"]).generate(dict(stale, params=dict(stale["params"])))
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed({"ec2Credentials": stale}, s3=False)
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed({"credentials": {**creds, "params": {"SignatureVersion": "9"}}},
                                                 s3=False)


def test_delegated_ec2_credentials_give_delegated_tokens(identity):
    trustor, trustee = new_user(identity), new_user(identity)
    trust = identity.trusts.create({"trustor_user_id": trustor.id, "trustee_user_id": trustee.id,
                                    "project_id": trustor.project_id, "impersonation": False,
                                    "roles": [{"name": "reader"}]})
    made = identity.credentials.create_ec2(trustee.id, trustor.project_id, trust_id=trust["id"])
    signed = s3_v2(made["secret"], b"GET\n\n\n\n/bucket")
    token = identity.credentials.authenticate_signed({"credentials": {"access": made["access"], **signed}},
                                                     s3=True)
    assert token.payload.trust_id == trust["id"] and [r["name"] for r in token.roles] == ["reader"]
    identity.trusts.delete(trust["id"])
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed({"credentials": {"access": made["access"], **signed}}, s3=True)


def test_ec2_credentials_made_with_an_app_cred_are_bound_to_it(identity):
    user = new_user(identity)
    with identity.db.reader() as session:
        held = identity.assignments.effective_role_ids(session, user.id, project_id=user.project_id)
    app_cred = identity.app_creds.create(user.id, {"name": uuid.uuid4().hex, "roles": [{"name": "reader"}]},
                                         project_id=user.project_id, system=None, token_role_ids=held)
    made = identity.credentials.create_ec2(user.id, user.project_id, app_cred_id=app_cred["id"])
    signed = {"access": made["access"], **s3_v2(made["secret"], b"GET\n\n\n\n/bucket")}
    token = identity.credentials.authenticate_signed({"credentials": signed}, s3=True)
    assert token.payload.app_cred_id == app_cred["id"] and [r["name"] for r in token.roles] == ["reader"]
    identity.app_creds.delete(user.id, app_cred["id"])
    with pytest.raises(errors.Unauthorized):
        identity.credentials.authenticate_signed({"credentials": signed}, s3=True)


# -- HTTP API --------------------------------------------------------------------------------------
def client_for(cloud, name):
    token = cloud.token(name)
    client = httpx.Client(base_url=f"{cloud.auth_url}/v3", headers={"X-Auth-Token": token}, timeout=30)
    return client, client.get("/auth/tokens", headers={"X-Subject-Token": token}).json()["token"]


def test_api_credentials_crud_and_ownership(cloud, api):
    demo, me = client_for(cloud, "monostack")
    alt, alt_me = client_for(cloud, "monostack-alt")
    uid, project = me["user"]["id"], me["project"]["id"]
    blob = ec2_blob()
    response = demo.post("/credentials", json={"credential": {"user_id": uid, "project_id": project, "type": "ec2",
                                                              "blob": blob}})
    assert response.status_code == 201, response.text
    cred = response.json()["credential"]
    assert cred["id"] == hashlib.sha256(json.loads(blob)["access"].encode()).hexdigest()
    assert cred["links"]["self"].endswith(f"/v3/credentials/{cred['id']}") and cred["blob"] == blob
    assert demo.post("/credentials", json={"credential": {"user_id": alt_me["user"]["id"], "type": "cert",
                                                          "blob": "x"}}).status_code == 403
    assert alt.get(f"/credentials/{cred['id']}").status_code == 403
    assert cred["id"] not in [c["id"] for c in alt.get("/credentials").json()["credentials"]]
    assert cred["id"] in [c["id"] for c in demo.get("/credentials").json()["credentials"]]
    assert cred["id"] in [c["id"] for c in api.get("/credentials", params={"user_id": uid}).json()["credentials"]]
    # A user cannot give a credential away.
    assert demo.patch(f"/credentials/{cred['id']}",
                      json={"credential": {"user_id": alt_me["user"]["id"]}}).status_code == 403
    new_blob = json.dumps({**json.loads(blob), "secret": "changed"})
    patched = demo.patch(f"/credentials/{cred['id']}", json={"credential": {"blob": new_blob}})
    assert patched.status_code == 200 and patched.json()["credential"]["blob"] == new_blob
    assert demo.patch(f"/credentials/{cred['id']}", json={"credential": {"id": "x"}}).status_code == 400
    assert demo.post("/credentials", json={"credential": {"user_id": uid, "type": "ec2",
                                                          "blob": ec2_blob()}}).status_code == 400
    assert demo.post("/credentials", json={"credential": "x"}).status_code == 400
    assert alt.delete(f"/credentials/{cred['id']}").status_code == 403
    assert demo.delete(f"/credentials/{cred['id']}").status_code == 204
    assert demo.get(f"/credentials/{cred['id']}").status_code == 404


def test_api_os_ec2_and_signed_logins(cloud, api):
    demo, me = client_for(cloud, "monostack")
    uid, project = me["user"]["id"], me["project"]["id"]
    response = demo.post(f"/users/{uid}/credentials/OS-EC2", json={"tenant_id": project})
    assert response.status_code == 201, response.text
    made = response.json()["credential"]
    assert made["user_id"] == uid and made["tenant_id"] == project and made["access"] and made["secret"]
    assert made["links"]["self"].endswith(f"/v3/users/{uid}/credentials/OS-EC2/{made['access']}")
    listed = demo.get(f"/users/{uid}/credentials/OS-EC2").json()["credentials"]
    assert made["access"] in [c["access"] for c in listed]
    shown = demo.get(f"/users/{uid}/credentials/OS-EC2/{made['access']}").json()["credential"]
    assert {k: shown[k] for k in ("access", "secret", "user_id", "tenant_id")} == \
        {k: made[k] for k in ("access", "secret", "user_id", "tenant_id")}
    alt, alt_me = client_for(cloud, "monostack-alt")
    assert alt.get(f"/users/{uid}/credentials/OS-EC2").status_code == 403
    assert alt.post(f"/users/{uid}/credentials/OS-EC2", json={"tenant_id": project}).status_code == 403

    signed = s3_v4(made["secret"], V4_STRING)
    body = {"credentials": {"access": made["access"], **signed}}
    response = api.post("/s3tokens", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["token"]["project"]["id"] == project
    assert response.json()["token"]["user"]["id"] == uid
    assert demo.post("/s3tokens", json=body).status_code == 403  # admins and services only
    assert httpx.post(f"{cloud.auth_url}/v3/s3tokens", json=body, timeout=30).status_code == 401
    assert api.post("/s3tokens", json={"credentials": {**body["credentials"], "signature": "0"}}).status_code == 401
    assert api.post("/s3tokens", json={}).status_code == 400
    assert api.get("/s3tokens").status_code == 405
    ec2 = ec2_request(made["access"], made["secret"], "2")
    response = api.post("/ec2tokens", json={"credentials": ec2})
    assert response.status_code == 200, response.text
    subject = response.headers["x-subject-token"]
    assert api.get("/auth/tokens", headers={"X-Subject-Token": subject}).json()["token"]["project"]["id"] == project

    assert demo.delete(f"/users/{uid}/credentials/OS-EC2/{made['access']}").status_code == 204
    assert demo.get(f"/users/{uid}/credentials/OS-EC2/{made['access']}").status_code == 404
    assert api.post("/s3tokens", json=body).status_code == 404
