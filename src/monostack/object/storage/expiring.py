"""Where the object servers queue objects with an X-Delete-At for the expirer: Swift's hidden
account ".expiring_objects", one container per day (spread over 100 containers by name hash),
one row "<delete_at>-<account>/<container>/<object>" per scheduled deletion."""

from __future__ import annotations

from monostack.object.ring.hashing import HashPath
from monostack.object.storage.constraints import EXPIRING_OBJECTS_ACCOUNT, normalize_delete_at

DIVISOR = 86400
CONTAINERS_PER_DIVISOR = 100
TASK_CONTENT_TYPE = "text/plain"


def task_container(delete_at: int | str, account: str, container: str, obj: str, hash_path: HashPath,
                   divisor: int = DIVISOR) -> str:
    shard = int(hash_path.hexdigest(account, container, obj), 16) % CONTAINERS_PER_DIVISOR
    return normalize_delete_at(int(float(delete_at)) // divisor * divisor - shard)


def task_object(delete_at: int | str, account: str, container: str, obj: str) -> str:
    return f"{normalize_delete_at(delete_at)}-{account}/{container}/{obj}"


def task_location(delete_at: int | str, account: str, container: str, obj: str, hash_path: HashPath,
                  divisor: int = DIVISOR) -> tuple[str, str, str]:
    """(account, container, object) of the queue entry."""
    return (EXPIRING_OBJECTS_ACCOUNT, task_container(delete_at, account, container, obj, hash_path, divisor),
            task_object(delete_at, account, container, obj))
