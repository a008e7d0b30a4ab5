"""The S3 API with boto3 (Signature Version 4 with the project's EC2 credentials)."""

from __future__ import annotations

import hashlib
import os
import uuid

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.object.api.conftest import User


@pytest.fixture
def bucket(s3):
    name = f"bkt-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=name)


def error_code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def test_buckets(s3, api: httpx.Client) -> None:
    name = f"bkt-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    # A bucket is a container of the project's account.
    assert api.head(f"/{name}").status_code == 204
    s3.head_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert error_code(exc.value) == "BucketAlreadyOwnedByYou"
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] in (None, "us-east-1")
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert error_code(exc.value) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="Invalid_Name")
    assert error_code(exc.value) == "InvalidBucketName"


def test_object_round_trip(s3, bucket: str) -> None:
    data = os.urandom(200_000)
    put = s3.put_object(Bucket=bucket, Key="dir/file.bin", Body=data, ContentType="application/x-test",
                        Metadata={"color": "blue"})
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert got["Body"].read() == data
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"color": "blue"}
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/file.bin")
    assert head["ContentLength"] == len(data)
    ranged = s3.get_object(Bucket=bucket, Key="dir/file.bin", Range="bytes=100-199")
    assert ranged["Body"].read() == data[100:200]
    assert ranged["ContentRange"] == f"bytes 100-199/{len(data)}"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="dir/file.bin", IfMatch='"abc"')
    assert error_code(exc.value) == "PreconditionFailed"
    copy = s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "dir/file.bin"})
    assert copy["CopyObjectResult"]["ETag"] == put["ETag"]
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Metadata"] == {"color": "blue"}
    replaced = s3.copy_object(Bucket=bucket, Key="copy2.bin", CopySource=f"{bucket}/dir/file.bin",
                              MetadataDirective="REPLACE", Metadata={"shape": "round"})
    assert replaced["CopyObjectResult"]["ETag"] == put["ETag"]
    assert s3.head_object(Bucket=bucket, Key="copy2.bin")["Metadata"] == {"shape": "round"}
    s3.delete_object(Bucket=bucket, Key="dir/file.bin")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="dir/file.bin")
    assert error_code(exc.value) == "NoSuchKey"
    s3.delete_object(Bucket=bucket, Key="never-there")  # deleting nothing is fine in S3
    odd = "odd/with space+plus/ünïcode~(1).txt"
    s3.put_object(Bucket=bucket, Key=odd, Body=b"odd")
    assert s3.get_object(Bucket=bucket, Key=odd)["Body"].read() == b"odd"
    assert odd in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="odd/")["Contents"]]


def test_listing_v2_and_v1(s3, bucket: str) -> None:
    keys = ["a/1", "a/2", "b", "c/d/e", "f"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listing = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listing["Contents"]] == keys
    assert listing["KeyCount"] == 5 and not listing["IsTruncated"]
    assert listing["Contents"][0]["Size"] == 3
    assert listing["Contents"][0]["ETag"] == f'"{hashlib.md5(b"a/1").hexdigest()}"'
    grouped = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in grouped["Contents"]] == ["b", "f"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "c/"]
    prefixed = s3.list_objects_v2(Bucket=bucket, Prefix="a/")
    assert [o["Key"] for o in prefixed["Contents"]] == ["a/1", "a/2"]
    seen = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        seen.extend(o["Key"] for o in page.get("Contents", []))
    assert seen == keys
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/",
                                                              PaginationConfig={"PageSize": 1}))
    flat = [o["Key"] for p in pages for o in p.get("Contents", [])] + \
        [c["Prefix"] for p in pages for c in p.get("CommonPrefixes", [])]
    assert sorted(flat) == ["a/", "b", "c/", "f"]
    v1 = s3.list_objects(Bucket=bucket, MaxKeys=2)
    assert v1["IsTruncated"] and [o["Key"] for o in v1["Contents"]] == ["a/1", "a/2"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="b")
    assert [o["Key"] for o in after["Contents"]] == ["c/d/e", "f"]
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=f"missing-{uuid.uuid4().hex[:8]}")
    assert error_code(exc.value) == "NoSuchBucket"


def test_multipart_upload(s3, bucket: str, tmp_path, api: httpx.Client) -> None:
    data = os.urandom(17 * 1024 * 1024 + 3)
    source = tmp_path / "mp.bin"
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=6 * 1024 * 1024)
    s3.upload_file(str(source), bucket, "mp.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="mp.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "mp.bin", str(target), Config=config)
    assert hashlib.md5(target.read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    # The low-level calls: initiate, upload parts, list them, complete.
    upload = s3.create_multipart_upload(Bucket=bucket, Key="manual", Metadata={"kind": "manual"})
    upload_id = upload["UploadId"]
    part1 = s3.upload_part(Bucket=bucket, Key="manual", UploadId=upload_id, PartNumber=1, Body=data[:5 * 1024 * 1024])
    part2 = s3.upload_part(Bucket=bucket, Key="manual", UploadId=upload_id, PartNumber=2, Body=b"tail")
    parts = s3.list_parts(Bucket=bucket, Key="manual", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * 1024 * 1024), (2, 4)]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload_id]
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="manual", UploadId=upload_id, MultipartUpload={"Parts": [
            {"PartNumber": 2, "ETag": part2["ETag"]}, {"PartNumber": 1, "ETag": part1["ETag"]}]})
    assert error_code(exc.value) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="manual", UploadId=upload_id, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]})
    assert error_code(exc.value) == "InvalidPart"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="manual", UploadId=upload_id, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": part1["ETag"]}, {"PartNumber": 2, "ETag": part2["ETag"]}]})
    assert done["ETag"].endswith('-2"')
    got = s3.get_object(Bucket=bucket, Key="manual")
    assert got["Body"].read() == data[:5 * 1024 * 1024] + b"tail"
    assert got["Metadata"] == {"kind": "manual"}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    # Small parts (but the last) are refused, an aborted upload is gone.
    small = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    p1 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=1, Body=b"a")
    p2 = s3.upload_part(Bucket=bucket, Key="small", UploadId=small, PartNumber=2, Body=b"b")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=small, MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    assert error_code(exc.value) == "EntityTooSmall"
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=small)
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="small", UploadId=small)
    assert error_code(exc.value) == "NoSuchUpload"
    # Deleting a completed upload removes its parts too.
    s3.delete_object(Bucket=bucket, Key="manual")
    s3.delete_object(Bucket=bucket, Key="mp.bin")
    # (the parts live in the Swift container "<bucket>+segments")
    assert api.get(f"/{bucket}+segments").status_code in (204, 404)


def test_delete_objects_and_presigned_urls(s3, bucket: str) -> None:
    for key in ("x", "y", "z"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "y"}, {"Key": "nope"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["nope", "x", "y"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["z"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "z"}, ExpiresIn=60)
    assert httpx.get(url).content == b"z"
    v4 = boto3.client("s3", endpoint_url=s3.meta.endpoint_url, region_name="us-east-1",
                      aws_access_key_id=s3._request_signer._credentials.access_key,
                      aws_secret_access_key=s3._request_signer._credentials.secret_key,
                      config=Config(signature_version="s3v4"))
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "z"}, ExpiresIn=60)
    assert "X-Amz-Signature" in url and httpx.get(url).content == b"z"
    assert httpx.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0")).status_code == 403


def test_s3_errors(s3, demo: User) -> None:
    bad = boto3.client("s3", endpoint_url=s3.meta.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=s3._request_signer._credentials.access_key,
                       aws_secret_access_key="wrong-secret")
    with pytest.raises(ClientError) as exc:
        bad.list_buckets()
    assert error_code(exc.value) == "SignatureDoesNotMatch"
    unknown = boto3.client("s3", endpoint_url=s3.meta.endpoint_url, region_name="us-east-1",
                           aws_access_key_id="nobody", aws_secret_access_key="nothing")
    with pytest.raises(ClientError) as exc:
        unknown.list_buckets()
    assert error_code(exc.value) == "InvalidAccessKeyId"
    anonymous = httpx.get(s3.meta.endpoint_url)
    assert anonymous.status_code == 403
    assert b"<Code>AccessDenied</Code>" in anonymous.content
    assert anonymous.headers["content-type"] == "application/xml"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=f"missing-{uuid.uuid4().hex[:8]}", Key="k")
    assert error_code(exc.value) == "NoSuchBucket"
