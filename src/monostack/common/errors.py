"""API errors shared by every service.

Service code raises these; each service's HTTP layer renders them in its own
wire format (Keystone `{"error": {...}}`, Nova `{"itemNotFound": {...}}`,
Neutron `{"NeutronError": {...}}`) through an `ErrorFormat`.
"""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    code = 500
    title = "Internal Server Error"
    # Nova/Cinder style body key; Neutron style type name.
    nova_key = "computeFault"
    default_message = "An unexpected error prevented the server from fulfilling your request."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None,
                 error_type: str | None = None, **details: Any):
        self.message = message or self.default_message
        self.headers = headers or {}
        self.error_type = error_type or type(self).__name__
        self.details = details
        super().__init__(self.message)


class BadRequest(APIError):
    code, title, nova_key = 400, "Bad Request", "badRequest"
    default_message = "The request you have made requires a valid body."


class ValidationError(BadRequest):
    default_message = "Expecting to find valid input in the request."


class Unauthorized(APIError):
    code, title, nova_key = 401, "Unauthorized", "unauthorized"
    default_message = "The request you have made requires authentication."


class Forbidden(APIError):
    code, title, nova_key = 403, "Forbidden", "forbidden"
    default_message = "You are not authorized to perform the requested action."


class NotFound(APIError):
    code, title, nova_key = 404, "Not Found", "itemNotFound"
    default_message = "Could not find the requested resource."


class MethodNotAllowed(APIError):
    code, title, nova_key = 405, "Method Not Allowed", "badMethod"
    default_message = "The method is not allowed for the requested URL."


class NotAcceptable(APIError):
    code, title, nova_key = 406, "Not Acceptable", "notAcceptable"
    default_message = "The requested version or media type is not supported."


class Conflict(APIError):
    code, title, nova_key = 409, "Conflict", "conflictingRequest"
    default_message = "Conflict occurred attempting to store the resource."


class Gone(APIError):
    code, title, nova_key = 410, "Gone", "gone"


class RequestTooLarge(APIError):
    code, title, nova_key = 413, "Request Entity Too Large", "overLimit"
    default_message = "Request is too large."


class UnsupportedMediaType(APIError):
    code, title, nova_key = 415, "Unsupported Media Type", "unsupportedMediaType"
    default_message = "The media type of the request is not supported."


class OverLimit(APIError):
    code, title, nova_key = 413, "Request Entity Too Large", "overLimit"
    default_message = "Quota exceeded."


class NotImplementedAPI(APIError):
    code, title, nova_key = 501, "Not Implemented", "notImplemented"
    default_message = "The action you have requested has not been implemented."


class ServiceUnavailable(APIError):
    code, title, nova_key = 503, "Service Unavailable", "serviceUnavailable"
    default_message = "The service is unavailable."


_BY_CODE = {cls.code: cls for cls in (BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed,
                                     NotAcceptable, Conflict, Gone, RequestTooLarge, UnsupportedMediaType,
                                     NotImplementedAPI, ServiceUnavailable)}


def for_status(code: int, message: str | None = None) -> APIError:
    cls = _BY_CODE.get(code, APIError)
    err = cls(message)
    err.code = code
    return err
