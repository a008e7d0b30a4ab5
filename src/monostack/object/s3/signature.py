"""AWS request signatures: what the client signed (the string to sign), rebuilt from
the request, for Signature Version 4 (Authorization header or pre-signed query)
and Version 2.  The check itself is Identity's (an EC2 credential's secret never
leaves it), as Keystone's /v3/s3tokens does for Swift's s3token middleware."""

from __future__ import annotations

import calendar
import dataclasses
import email.utils
import hashlib
import time
import urllib.parse

from monostack.object.proxy.http import Request
from monostack.object.s3.errors import S3Error

MAX_SKEW = 900  # seconds a signed request may be away from our clock
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
             "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
V2_SUBRESOURCES = {"acl", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
                   "requestPayment", "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
                   "versions", "website", "cors", "restore", "response-content-type", "response-content-language",
                   "response-expires", "response-cache-control", "response-content-disposition",
                   "response-content-encoding"}


@dataclasses.dataclass
class SignedRequest:
    access_key: str
    signature: str
    string_to_sign: bytes
    version: int
    payload_hash: str = UNSIGNED


def _quote(value: str, safe: str = "-_.~") -> str:
    return urllib.parse.quote(value, safe=safe)


def _parse_amz_date(value: str) -> float:
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None


def _check_skew(when: float) -> None:
    if abs(time.time() - when) > MAX_SKEW:
        raise S3Error("RequestTimeTooSkewed")


def _canonical_headers(req: Request, signed: list[str]) -> tuple[str, str]:
    lines = []
    for name in signed:
        value = req.headers.get(name)
        if value is None:
            raise S3Error("AccessDenied", f"The request is missing the signed header {name}")
        lines.append(f"{name}:{' '.join(value.strip().split())}\n")
    return "".join(lines), ";".join(signed)


def _canonical_query(req: Request, skip: str) -> str:
    pairs = urllib.parse.parse_qsl(req.query_string, keep_blank_values=True)
    return "&".join(f"{_quote(k)}={_quote(v)}" for k, v in sorted(pairs) if k != skip)


def _v4(req: Request, full_path: str, credential: str, signed_headers: str, signature: str, amz_date: str,
        query_auth: bool) -> SignedRequest:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or parts[3] != "s3":
        raise S3Error("AuthorizationHeaderMalformed" if not query_auth else "AuthorizationQueryParametersError",
                      "The authorization header is malformed; the Credential is mal-formed; expecting "
                      '"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    access, date, region, service, _terminal = parts
    if not amz_date.startswith(date):
        raise S3Error("AuthorizationHeaderMalformed" if not query_auth else "AuthorizationQueryParametersError",
                      "The authorization header is malformed; Invalid credential date. Date is not the same as "
                      "X-Amz-Date.")
    signed = [h.strip().lower() for h in signed_headers.split(";") if h.strip()]
    if "host" not in signed:
        raise S3Error("AccessDenied", "Host must be signed")
    for name in req.headers:
        if name.startswith("x-amz-") and name not in signed and not query_auth:
            raise S3Error("AccessDenied", "There were headers present in the request which were not signed",
                          HeadersNotSigned=name)
    headers, names = _canonical_headers(req, signed)
    if query_auth:
        payload = UNSIGNED
        query = _canonical_query(req, "X-Amz-Signature")
    else:
        payload = req.headers.get("x-amz-content-sha256")
        if payload is None:
            raise S3Error("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        query = _canonical_query(req, "X-Amz-Signature")
    canonical = "\n".join((req.method, full_path, query, headers, names, payload))
    scope = "/".join((date, region, service, "aws4_request"))
    to_sign = "\n".join(("AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode("utf-8")).hexdigest()))
    return SignedRequest(access, signature, to_sign.encode("utf-8"), 4, payload)


def _v2(req: Request, full_path: str, access: str, signature: str, query_auth: bool) -> SignedRequest:
    amz = {}
    for name, value in req.headers.items():
        if name.startswith("x-amz-"):
            amz[name] = value.strip()
    lines = [req.method, req.headers.get("content-md5", "").strip(), req.headers.get("content-type", "").strip()]
    if query_auth:
        lines.append(req.params.get("Expires", ""))
    elif "x-amz-date" in amz:
        lines.append("")
    else:
        lines.append(req.headers.get("date", ""))
    for name in sorted(amz):
        lines.append(f"{name}:{amz[name]}")
    resource = full_path
    subresources = [(k, v) for k, v in urllib.parse.parse_qsl(req.query_string, keep_blank_values=True)
                    if k in V2_SUBRESOURCES]
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in sorted(subresources))
    lines.append(resource)
    return SignedRequest(access, signature, "\n".join(lines).encode("utf-8"), 2)


def parse(req: Request, full_path: str, resource: str | None = None) -> SignedRequest | None:
    """The signature of an S3 request (None: anonymous); S3Error when it is malformed or out of date.

    Paths are as the client sent them (percent-encoded: what it signed).  Version 4 signs the URL's
    whole path (`full_path`, with the mount point of the API); version 2 the S3 resource
    (`resource`: /<bucket>/<key>) alone."""
    resource = full_path if resource is None else resource
    auth = req.headers.get("authorization", "")
    params = req.params
    if auth.startswith("AWS4-HMAC-SHA256"):
        fields = {}
        for item in auth[len("AWS4-HMAC-SHA256"):].split(","):
            key, _, value = item.strip().partition("=")
            fields[key.strip()] = value.strip()
        if not all(k in fields for k in ("Credential", "SignedHeaders", "Signature")):
            raise S3Error("AuthorizationHeaderMalformed")
        amz_date = req.headers.get("x-amz-date")
        if amz_date:
            when = _parse_amz_date(amz_date)
        else:
            date = req.headers.get("date")
            if not date:
                raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
            parsed = email.utils.parsedate_tz(date)
            if parsed is None:
                raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
            when = email.utils.mktime_tz(parsed)
            amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))
        _check_skew(when)
        return _v4(req, full_path, fields["Credential"], fields["SignedHeaders"], fields["Signature"], amz_date,
                   False)
    if params.get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256":
        for name in ("X-Amz-Credential", "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Date", "X-Amz-Expires"):
            if name not in params:
                raise S3Error("AuthorizationQueryParametersError",
                              "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                              "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                              "X-Amz-Expires parameters.")
        when = _parse_amz_date(params["X-Amz-Date"])
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires should be a number") from None
        if expires < 0 or expires > 604800:
            raise S3Error("AuthorizationQueryParametersError",
                          "X-Amz-Expires must be non-negative and less than a week")
        if time.time() > when + expires:
            raise S3Error("AccessDenied", "Request has expired")
        if when > time.time() + MAX_SKEW:
            raise S3Error("AccessDenied", "Request is not valid yet")
        return _v4(req, full_path, params["X-Amz-Credential"], params["X-Amz-SignedHeaders"],
                   params["X-Amz-Signature"], params["X-Amz-Date"], True)
    if auth.startswith("AWS "):
        access, _, signature = auth[4:].strip().rpartition(":")
        if not access or not signature:
            raise S3Error("AccessDenied")
        date = req.headers.get("x-amz-date") or req.headers.get("date")
        parsed = email.utils.parsedate_tz(date) if date else None
        if parsed is None:
            raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
        _check_skew(email.utils.mktime_tz(parsed))
        return _v2(req, resource, access, signature, False)
    if "AWSAccessKeyId" in params and "Signature" in params:
        try:
            expires = int(params.get("Expires", "0"))
        except ValueError:
            raise S3Error("AccessDenied") from None
        if time.time() > expires:
            raise S3Error("AccessDenied", "Request has expired")
        return _v2(req, resource, params["AWSAccessKeyId"], params["Signature"], True)
    return None
