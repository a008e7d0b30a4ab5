"""Rings: where accounts, containers and objects live (see ring.py for reading, builder.py for building)."""

from monostack.object.ring.builder import RingBuilder, RingBuilderError
from monostack.object.ring.defaults import RING_TYPES, builder_path, ensure_default_rings, load_rings, ring_path
from monostack.object.ring.hashing import HashPath
from monostack.object.ring.ring import Ring, RingError

__all__ = ["HashPath", "RING_TYPES", "Ring", "RingBuilder", "RingBuilderError", "RingError", "builder_path",
           "ensure_default_rings", "load_rings", "ring_path"]
