"""S3 errors: the code, status and message S3 gives, as an XML body."""

from __future__ import annotations

from xml.sax.saxutils import escape

from monostack.object.proxy.http import Response

# code -> (status, message)
ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the X-Amz-Credential parameter."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyExists": (409, "The requested bucket name is not available. The bucket namespace is shared by "
                            "all users of the system. Please select a different name and try again."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you "
                                "already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length HTTP "
                       "header."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid Argument."),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified was invalid."),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part might not have been "
                    "uploaded, or the specified entity tag might not have matched the part's entity tag."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. The parts list must be specified in "
                         "order by part number."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Your key is too long."),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our published "
                     "schema."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": (400, "Your request was missing a required header."),
    "NoSuchBucket": (404, "The specified bucket does not exist."),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, "The specified multipart upload does not exist. The upload ID might be invalid, or the "
                     "multipart upload might have been aborted or completed."),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented."),
    "PreconditionFailed": (412, "At least one of the preconditions you specified did not hold."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current time is too large."),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you "
                              "provided. Check your key and signing method."),
    "TooManyBuckets": (400, "You have attempted to create more buckets than allowed."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not match what was "
                                  "computed."),
    "QuotaExceeded": (403, "The quota of this account or bucket would be exceeded."),
}


class S3Error(Exception):
    def __init__(self, code: str, message: str | None = None, status: int | None = None, **details: str):
        default_status, default_message = ERRORS.get(code, (500, code))
        super().__init__(code)
        self.code = code
        self.status = status or default_status
        self.message = message or default_message
        self.details = details

    def response(self, request_id: str, method: str = "GET") -> Response:
        parts = [f"<Code>{escape(self.code)}</Code>", f"<Message>{escape(self.message)}</Message>"]
        for key, value in self.details.items():
            parts.append(f"<{key}>{escape(str(value))}</{key}>")
        parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
        body = ("<?xml version='1.0' encoding='UTF-8'?>\n<Error>" + "".join(parts) + "</Error>").encode("utf-8")
        headers = {"content-type": "application/xml", "content-length": str(len(body)),
                   "x-amz-request-id": request_id, "x-amz-id-2": request_id}
        return Response(self.status, headers, b"" if method == "HEAD" else body)
