"""Volume drivers: where a volume's bytes live (see base.VolumeDriver)."""
