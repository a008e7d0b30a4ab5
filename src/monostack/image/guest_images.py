"""The cloud's own guest images, registered at start-up.

Like the CirrOS image every OpenStack test cloud has: `monostack-guest` and a
second copy `monostack-guest-alt` (for tests that need two images), public
qcow2, built by the project from Debian packages (monostack.image.guest) and
cached, so a restart or a second cloud reuses the build.  Registration runs in
the background once the API answers, so a first start does not wait for the
build; an image a crash left half-registered is replaced.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from monostack.common.context import RequestContext

if TYPE_CHECKING:
    from monostack.image.service import ImageService

LOG = logging.getLogger(__name__)

NAMES = ("monostack-guest", "monostack-guest-alt")


def cache_dir(configured: str) -> Path:
    """MONOSTACK_GUEST_CACHE (one build per machine, e.g. for test runs) wins over the configured dir."""
    return Path(os.environ.get("MONOSTACK_GUEST_CACHE") or configured)


def register(service: "ImageService", cache: Path, owner: str | None) -> list[str]:
    """Blocking: build the image if needed and register the missing copies; returns their ids."""
    from monostack.image.guest import ensure_guest_image

    path = ensure_guest_image(cache)
    ctx = RequestContext.service()
    registered = []
    for name in NAMES:
        images, _ = service.list(ctx, [("name", name)])
        if any(image["status"] == "active" for image in images):
            continue
        for stale in images:  # what an interrupted registration left behind
            service.delete(ctx, stale["id"])
        image = service.create_from_file(ctx, {
            "name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "public",
            "owner": owner, "os_distro": "monostack-guest", "os_type": "linux",
            "monostack_guest_build": path.stem}, str(path))
        LOG.info("registered the guest image %s (%s)", name, image["id"])
        registered.append(image["id"])
    return registered
