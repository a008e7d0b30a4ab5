"""Block Storage (Cinder v3 with microversions)."""
