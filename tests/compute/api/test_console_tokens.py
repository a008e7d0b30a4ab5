"""Serial console tokens (compute/api/consoles.py): signed, expiring, bound to one server."""

from __future__ import annotations

import base64
import uuid

from monostack.compute.api.consoles import check_token, make_token


def test_every_token_made_is_accepted() -> None:
    # The signature is raw bytes after a dot: one that holds a dot itself (about one token in
    # sixteen) was once split at the wrong place and refused.
    tokens = [make_token(str(uuid.uuid4())) for _ in range(2000)]  # (a token is the same for a second)
    assert [t for t in tokens if check_token(t) is None] == []
    server = str(uuid.uuid4())
    found = check_token(make_token(server))
    assert found is not None and found[0] == server


def test_forged_expired_and_altered_tokens_are_refused() -> None:
    server = str(uuid.uuid4())
    assert check_token("forged") is None and check_token("") is None
    assert check_token(make_token(server, ttl=-1)) is None
    raw = base64.urlsafe_b64decode(make_token(server) + "==")
    other = base64.urlsafe_b64encode(raw.replace(server.encode(), str(uuid.uuid4()).encode(), 1)).decode()
    assert check_token(other.rstrip("=")) is None
