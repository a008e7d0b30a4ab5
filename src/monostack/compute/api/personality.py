"""Personality: files a server's create or rebuild asks to have in the guest (Nova up to 2.56).

They reach the guest on its config drive (`openstack/content/NNNN`, listed in
meta_data.json's `files`), as under Nova, whose injection into disk images is
off by default; a server with files always gets a config drive, so they are
never dropped.  The metadata service does not serve them (neither does Nova's).
From 2.57 the field is refused, as Nova's schema does.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from monostack.common import errors
from monostack.common.http import run_blocking
from monostack.compute.api.common import at_least, svc, validate

SCHEMA = {"type": "array", "items": {
    "type": "object", "additionalProperties": False, "required": ["path", "contents"],
    "properties": {"path": {"type": "string"}, "contents": {"type": "string"}}}}


async def injected_files(request: Any, body: dict[str, Any], field: str, project_id: str) -> list[list[str]] | None:
    """[[path, base64 contents], ...] of body["personality"], checked against the project's
    injected-file quotas; None when the body has none."""
    if "personality" not in body:
        return None
    if at_least(request, "2.57"):
        raise errors.BadRequest(f"Invalid input for field/attribute {field}. Value: {body}. Additional "
                                "properties are not allowed ('personality' was unexpected)")
    files = body["personality"]
    validate(files, SCHEMA)
    decoded = []
    for item in files:
        try:
            decoded.append((item["path"], base64.b64decode(item["contents"], validate=True)))
        except (binascii.Error, ValueError):
            raise errors.BadRequest(f"Personality content for {item['path']} cannot be decoded") from None
    service = svc(request)

    def read_limits() -> dict[str, int]:
        with service.db.reader() as session:
            return service.quotas.limits(session, project_id)

    limits = await run_blocking(read_limits)
    if 0 <= limits["injected_files"] < len(decoded):
        raise errors.Forbidden("Personality file limit exceeded")
    for path, contents in decoded:
        if 0 <= limits["injected_file_path_bytes"] < len(path.encode()):
            raise errors.Forbidden(f"Personality file path exceeds maximum {limits['injected_file_path_bytes']}")
        if 0 <= limits["injected_file_content_bytes"] < len(contents):
            raise errors.Forbidden("Personality file content exceeds maximum "
                                   f"{limits['injected_file_content_bytes']}")
    return [[item["path"], item["contents"]] for item in files]
