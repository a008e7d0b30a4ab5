"""The [compute] and [quota] options (registered when the Compute service is imported)."""

from monostack.common.config import BOOL, FLOAT, INT, Opt, register

register(
    "compute",
    Opt("connection", "", "SQLAlchemy URL of the Compute database; empty: [database] connection."),
    Opt("driver", "qemu", "Hypervisor driver of this host's agent: qemu, or fake (a test and scale double only)."),
    Opt("run_agent", True, "Run a compute agent for this host in this process.", BOOL),
    Opt("state_dir", "{data_dir}/compute", "Where the agent keeps guests (disks, consoles, sockets) and the image cache."),
    Opt("accelerator", "auto", "auto (KVM when a probe guest really runs under it, else TCG), kvm or tcg."),
    Opt("cpu_allocation_ratio", 16.0, "Virtual CPUs per physical CPU the scheduler may place.", FLOAT),
    Opt("ram_allocation_ratio", 1.5, "Guest RAM per MiB of host RAM the scheduler may place.", FLOAT),
    Opt("disk_allocation_ratio", 1.0, "Guest disk per GiB of host disk the scheduler may place.", FLOAT),
    Opt("reserved_host_memory_mb", 512, "Host memory kept out of Placement for the host itself.", INT),
    Opt("reserved_host_disk_mb", 0, "Host disk kept out of Placement.", INT),
    Opt("reserved_host_cpus", 0, "Host CPUs kept out of Placement.", INT),
    Opt("default_availability_zone", "nova", "Availability zone of hosts in no zone-bearing aggregate."),
    Opt("default_schedule_zone", "", "Zone a server goes to when it names none; empty: any."),
    Opt("max_attempts", 3, "Hosts a build is tried on before it fails with NoValidHost.", INT),
    Opt("heartbeat_interval", 10, "Seconds between a compute agent's service reports.", INT),
    Opt("service_down_time", 60, "Seconds without a report after which a service is down.", INT),
    Opt("sync_power_state_interval", 30, "Seconds between power state syncs of the guests (-1: never).", INT),
    Opt("resource_update_interval", 60, "Seconds between inventory reports to Placement.", INT),
    Opt("force_config_drive", False, "Give every server a config drive (always on without a networking service).",
        BOOL),
    Opt("console_output_lines", 1000, "Lines os-getConsoleOutput returns when no length is asked.", INT),
    Opt("network_api", "auto", "How servers get networks: neutron (the Networking service's ports on Linux bridges), "
        "user (QEMU user-mode NICs), or auto (neutron when this cloud runs the network service)."),
    Opt("vif_plugging_timeout", 300, "Seconds a build waits for the Networking service to report each port plugged.",
        INT),
    Opt("vif_plugging_is_fatal", True, "A port not reported plugged in time fails the build.", BOOL),
    Opt("default_floating_pool", "public", "External network os-floating-ips allocates from when no pool is named "
        "(Nova's [neutron] default_floating_pool)."),
    Opt("metadata_proxy_shared_secret", "", "Secret the networking service's metadata proxy signs instance ids with."),
    Opt("reclaim_instance_interval", 0, "Seconds a deleted server is kept as SOFT_DELETED (0: deleted at once).", INT),
    Opt("max_local_block_devices", 3, "Local disks (image and blank) a server may have (-1: unlimited).", INT),
    Opt("default_flavors", True, "Create the m1.* flavors when the database is new.", BOOL),
)

# Nova's defaults (the Operations Guide's table): -1 is unlimited.
register(
    "quota",
    Opt("instances", 10, "Servers per project.", INT),
    Opt("cores", 20, "Virtual CPUs per project.", INT),
    Opt("ram", 51200, "MiB of RAM per project.", INT),
    Opt("metadata_items", 128, "Metadata items per server.", INT),
    Opt("injected_files", 5, "Files injected into a server.", INT),
    Opt("injected_file_content_bytes", 10240, "Bytes per injected file.", INT),
    Opt("injected_file_path_length", 255, "Length of an injected file's path.", INT),
    Opt("key_pairs", 100, "Key pairs per user.", INT),
    Opt("server_groups", 10, "Server groups per project.", INT),
    Opt("server_group_members", 10, "Servers per server group.", INT),
)
