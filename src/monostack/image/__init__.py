"""The Image service (Glance v2): images, their data in a store, members, import."""
