"""The Monostack guest image: a small BIOS-bootable qcow2 built from Debian
packages (kernel, busybox, dropbear), like CirrOS. See build.py.

``from monostack.image.guest import ensure_guest_image`` (imported lazily, so
``python -m monostack.image.guest.build`` runs cleanly)."""

__all__ = ["IMAGE_NAME", "GuestBuildError", "default_cache_dir", "ensure_guest_image",
           "image_path"]


def __getattr__(name):
    if name in __all__:
        from monostack.image.guest import build
        return getattr(build, name)
    raise AttributeError(name)
