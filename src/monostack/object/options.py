"""The [object] options (registered when Object Storage is imported).

The storage side (rings, the account/container/object servers and their background daemons)
registers its options here; the proxy side adds its own below in a second `register` call.
"""

from monostack.common.config import BOOL, FLOAT, INT, LIST, Opt, register

register(
    "object",
    # -- rings and devices ------------------------------------------------------------------------
    Opt("rings_dir", "{data_dir}/object/rings",
        "Directory of the account, container and object rings (*.ring.gz) and their builders (*.builder)."),
    Opt("devices_dir", "{data_dir}/object/devices",
        "Directory of this host's devices: one directory per device named as in the rings "
        "(a missing directory is an unmounted device: 507)."),
    Opt("part_power", 10, "Partition power of the rings a new all-in-one creates (2**part_power partitions).", INT),
    Opt("replicas", 3, "Replicas of the rings a new all-in-one creates.", INT),
    Opt("min_part_hours", 1, "Hours a partition stays put after a move before a rebalance may move it again "
        "(rings a new all-in-one creates).", INT),
    Opt("storage_ip", "127.0.0.1", "IP address of the devices of the rings a new all-in-one creates."),
    Opt("object_port", 6200, "Port of the object servers of the rings a new all-in-one creates.", INT),
    Opt("container_port", 6201, "Port of the container servers of the rings a new all-in-one creates.", INT),
    Opt("account_port", 6202, "Port of the account servers of the rings a new all-in-one creates.", INT),
    Opt("node_ips", "", "IP addresses that are this host's in the rings (this node serves the devices of "
        "the rings at these addresses); empty: every address this host can bind.", LIST),
    Opt("hash_path_prefix", "", "Secret prefix of the hash that places names on partitions. Set it (and the "
        "suffix) identically on every host before storing anything, never change it after. Empty (both): "
        "a random suffix is generated once and kept beside the rings (rings_dir/hash_path.json)."),
    Opt("hash_path_suffix", "", "Secret suffix of the hash that places names on partitions (see hash_path_prefix)."),
    # -- servers ----------------------------------------------------------------------------------
    Opt("storage_servers", True, "Run the account, container and object servers of this host's devices "
        "(and their background daemons) in this process.", BOOL),
    Opt("node_timeout", 10.0, "Seconds a storage server waits on another one (container and account updates, "
        "replication) for each read or write.", FLOAT),
    Opt("conn_timeout", 0.5, "Seconds a storage server waits to connect to another one.", FLOAT),
    Opt("container_update_timeout", 1.0, "Seconds an object write waits for its container updates before "
        "answering (they carry on in the background; a failed one is saved for the updater).", FLOAT),
    Opt("client_timeout", 60.0, "Seconds a server waits for the next piece of a request body (408 after).", FLOAT),
    Opt("disk_chunk_size", 1048576, "Bytes read from or written to disk at once for large objects.", INT),
    Opt("small_object_size", 65536, "Objects up to this size are written and read in one piece by one worker "
        "thread (a thread hop per chunk costs more than it saves for them).", INT),
    Opt("keep_cache_size", 5242880, "Objects up to this size stay in the page cache after a write; larger "
        "ones are dropped from it (they would only push smaller, hotter objects out).", INT),
    Opt("db_pending_max", 131072, "Bytes of queued row updates a container or account database collects "
        "in its .pending file before they are merged into it.", INT),
    Opt("account_report_delay", 1.0, "Seconds a container server waits after a change of a container's object "
        "count or bytes before telling the account servers (changes in between are sent together; 0: only "
        "the container updater reports them).", FLOAT),
    # -- background daemons -----------------------------------------------------------------------
    Opt("daemons", True, "Run the replicator, auditor and updaters in the background of each storage node.",
        BOOL),
    Opt("replicator_interval", 30.0, "Seconds between two replication passes (objects, containers, accounts).",
        FLOAT),
    Opt("updater_interval", 30.0, "Seconds between two passes of the object updater (container updates saved "
        "for later) and the container updater (container stats the account servers missed).", FLOAT),
    Opt("auditor_interval", 1800.0, "Seconds between two auditor passes over every object and database.", FLOAT),
    Opt("auditor_files_per_second", 20, "Objects the auditor checks per second at most (0: no limit).", INT),
    Opt("auditor_bytes_per_second", 10000000, "Bytes the auditor reads per second at most (0: no limit).", INT),
    Opt("reclaim_age", 604800, "Seconds tombstones (deleted objects, containers, rows) are kept before they are "
        "removed for good; longer than any node may stay down.", INT),
    Opt("replication_concurrency", 2, "Partitions the object replicator works on at once.", INT),
)

# -- the proxy (the Swift and S3 APIs in front of the storage servers) ---------------------------------
register(
    "object",
    Opt("recheck_account_existence", 60.0, "Seconds the proxy trusts what it learnt about an account "
        "(existence, metadata); its own changes show at once.", FLOAT),
    Opt("recheck_container_existence", 60.0, "Seconds the proxy trusts what it learnt about a container "
        "(existence, ACLs, metadata, versioning); its own changes show at once.", FLOAT),
    Opt("error_suppression_interval", 60.0, "Seconds a storage node in error is skipped by the proxy.", FLOAT),
    Opt("error_suppression_limit", 10, "Errors within error_suppression_interval after which the proxy "
        "skips a storage node (an unmounted device is skipped at once).", INT),
    Opt("post_quorum_timeout", 0.5, "Seconds the proxy still waits for the other replicas once a quorum "
        "answered.", FLOAT),
    Opt("object_chunk_size", 1048576, "Bytes the proxy reads from an object server at once.", INT),
    Opt("client_chunk_size", 1048576, "Bytes of a client's upload the proxy collects before it sends them on to "
        "the object servers, in one piece.", INT),
    Opt("account_autocreate", True, "Create an account on its first write (Keystone projects' accounts).", BOOL),
    Opt("allow_account_management", False, "Allow PUT and DELETE of accounts (reseller admins only).", BOOL),
    Opt("cors_allow_origin", "", "Origins allowed for CORS on every container (besides each container's "
        "X-Container-Meta-Access-Control-Allow-Origin), comma separated.", LIST),
    Opt("cors_expose_headers", "", "Headers exposed to CORS clients on every response, comma separated.", LIST),
    Opt("strict_cors_mode", True, "Add CORS headers only for origins a container allows.", BOOL),
    Opt("reseller_prefix", "AUTH_", "Prefix of the accounts of Keystone projects: <prefix><project id>."),
    Opt("operator_roles", "admin,member", "Roles that own their project's account.", LIST),
    Opt("project_reader_roles", "reader", "Roles that may read (GET, HEAD) their project's account.", LIST),
    Opt("reseller_admin_role", "ResellerAdmin", "Role with every right on every account (account quotas)."),
    Opt("expirer", True, "Run the object expirer (removes objects past their X-Delete-At).", BOOL),
    Opt("expirer_interval", 300.0, "Seconds between two passes of the object expirer.", FLOAT),
    Opt("expiring_objects_container_divisor", 86400, "Seconds of expiry times one expirer queue container "
        "holds.", INT),
    Opt("tempurl_methods", "GET,HEAD,PUT,POST,DELETE", "Methods a TempURL may allow.", LIST),
    Opt("tempurl_allowed_digests", "sha1,sha256,sha512", "Digests a TempURL signature may use.", LIST),
    Opt("max_manifest_segments", 1000, "Segments a static large object manifest may list.", INT),
    Opt("max_manifest_size", 8388608, "Bytes a static large object manifest may have.", INT),
    Opt("max_get_time", 86400, "Seconds a large object download may take.", INT),
    Opt("bulk_max_containers_per_extraction", 10000, "Containers one archive extraction may create.", INT),
    Opt("bulk_max_failed_extractions", 1000, "Failed files after which an archive extraction stops.", INT),
    Opt("bulk_max_deletes_per_request", 10000, "Paths one bulk delete may name.", INT),
    Opt("bulk_max_failed_deletes", 1000, "Failed deletes after which a bulk delete stops.", INT),
    Opt("s3_location", "us-east-1", "Region the S3 API reports for buckets (GetBucketLocation)."),
    Opt("s3_max_parts", 10000, "Parts an S3 multipart upload may have.", INT),
    Opt("local_dispatch", True, "Call the storage servers this process runs directly rather than over HTTP "
        "(the same requests, without the loopback network); servers of other hosts are always reached "
        "over HTTP.", BOOL),
)
