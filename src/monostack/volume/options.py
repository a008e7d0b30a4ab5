"""The [volume] options (registered when the Block Storage service is imported)."""

from monostack.common.config import BOOL, FLOAT, INT, LIST, Opt, register

register(
    "volume",
    Opt("connection", "", "SQLAlchemy URL of the Block Storage database; empty: [database] connection."),
    Opt("driver", "file", "Volume driver of this host's backend: file (qcow2/raw files made with qemu-img), "
        "or fake (a test double only)."),
    Opt("backend_name", "file", "Name of this host's backend (host@backend; extra spec volume_backend_name)."),
    Opt("enabled_backends", "", "Backends this host runs, comma separated (Cinder's enabled_backends): one "
        "manager each, host@<name>, files under state_dir/<name>, all on [volume] driver; empty: backend_name "
        "alone.", LIST),
    Opt("run_manager", True, "Run the volume manager of this host's backend in this process.", BOOL),
    Opt("state_dir", "{data_dir}/volume", "Where the backend keeps volume files and snapshots."),
    Opt("storage_availability_zone", "nova", "Availability zone of this host's backend."),
    Opt("default_availability_zone", "", "Zone of a volume created without one; empty: the backend's."),
    Opt("default_volume_type", "__DEFAULT__", "Volume type of a volume created without one."),
    Opt("max_over_subscription_ratio", 20.0, "Provisioned GiB per free GiB the scheduler may place "
        "on a thin backend.", FLOAT),
    Opt("reserved_percentage", 0, "Percent of a backend's capacity the scheduler keeps free.", INT),
    Opt("heartbeat_interval", 10, "Seconds between a backend's service reports (capacity and heartbeat).", INT),
    Opt("service_down_time", 60, "Seconds without a report after which a service is down.", INT),
    Opt("osapi_max_limit", 1000, "Largest page a list returns.", INT),
    Opt("image_upload_use_internal_tenant", False, "Unused; kept for Cinder parity.", BOOL),
    # Quotas: Cinder's defaults (the Operations Guide's table); -1 is unlimited.
    Opt("quota_volumes", 10, "Volumes per project.", INT),
    Opt("quota_snapshots", 10, "Snapshots per project.", INT),
    Opt("quota_gigabytes", 1000, "GiB of volumes and snapshots per project.", INT),
    Opt("quota_backups", 10, "Backups per project.", INT),
    Opt("quota_backup_gigabytes", 1000, "GiB of backups per project.", INT),
    Opt("quota_groups", 10, "Volume groups per project.", INT),
    Opt("per_volume_size_limit", -1, "Largest volume in GiB.", INT),
)
