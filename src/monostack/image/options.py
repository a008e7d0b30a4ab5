"""The [image] options (registered when the Image service is imported)."""

from monostack.common.config import BOOL, INT, LIST, Opt, register

register(
    "image",
    Opt("connection", "", "SQLAlchemy URL of the Image database; empty: [database] connection."),
    Opt("store_dir", "{data_dir}/images", "Directory of the filesystem store (image data, staging area)."),
    Opt("image_size_cap", 1099511627776, "Largest image accepted, in bytes (413 above).", INT),
    Opt("quota_image_count", -1, "Images a project may own (-1: unlimited).", INT),
    Opt("quota_image_size_total", -1, "Bytes of image data (stored and staged) a project may own (-1: unlimited).",
        INT),
    Opt("image_member_quota", 128, "Members an image may have (-1: unlimited).", INT),
    Opt("image_tag_quota", 128, "Tags an image may have (-1: unlimited).", INT),
    Opt("image_property_quota", 128, "Additional properties an image may have (-1: unlimited).", INT),
    Opt("limit_param_default", 25, "Images a list returns when the request names no limit.", INT),
    Opt("api_limit_max", 1000, "Largest page a list returns.", INT),
    Opt("enabled_import_methods", "glance-direct,web-download,copy-image",
        "Interoperable import methods offered (copy-image only when more than one store is enabled).", LIST),
    Opt("web_download_allowed_urls", "",
        "URL prefixes web-download may fetch from (comma separated, e.g. https://cloud-images.example.org/); "
        "empty: none, web-download refuses every URL.", LIST),
    # Multi-store, as Glance's enabled_backends / [glance_store] default_backend.
    Opt("enabled_backends", "file:file", "Stores image data is kept in, as <store id>:<type> pairs (types: file, "
        "swift), e.g. 'file:file,swift:swift'. Images name their stores by these ids.", LIST),
    Opt("default_backend", "", "Store an upload or import goes to when the request names none; empty: the "
        "first of enabled_backends."),
    # The swift store (glance_store's swift driver options; they apply to every swift backend).
    Opt("swift_store_container", "glance", "Container of the service project's account holding the images "
        "(the prefix of the containers with swift_store_multiple_containers_seed)."),
    Opt("swift_store_multiple_containers_seed", 0, "0: one container; 1-32: one container per that many "
        "leading characters of the image id (e.g. glance_3a1).", INT),
    Opt("swift_store_create_container_on_put", True, "Create a missing container on the first write.", BOOL),
    Opt("swift_store_large_object_size", 5120, "Size in MiB from which an image is stored as segments "
        "(a static large object), and always when its size is not known beforehand.", INT),
    Opt("swift_store_large_object_chunk_size", 200, "Size in MiB of the segments of a large image.", INT),
    Opt("swift_store_auth_address", "", "Identity URL the swift store authenticates to; empty: this cloud's."),
    Opt("swift_store_user", "admin", "User of the swift store's credentials (domain default)."),
    Opt("swift_store_key", "", "Password of swift_store_user; empty: this cloud's admin password."),
    Opt("swift_store_project", "service", "Project whose account keeps the images (domain default); the "
        "all-in-one cloud gives swift_store_user the admin role on it."),
    Opt("swift_store_region", "", "Region of the object-store endpoint; empty: [DEFAULT] region."),
    Opt("swift_store_endpoint_type", "publicURL", "Catalog interface of the object-store endpoint "
        "(publicURL, internalURL, adminURL)."),
    Opt("swift_store_endpoint", "", "Account URL to use instead of the catalog's, e.g. "
        "http://host:5000/object-store/v1/AUTH_<project id>."),
    Opt("fsync", True, "Flush image data to disk before an upload completes.", BOOL),
    Opt("guest_images", True, "Register the project's guest images (monostack-guest, monostack-guest-alt) at "
        "start-up, building the image from Debian packages when it is not cached.", BOOL),
    Opt("guest_cache_dir", "{data_dir}/cache/guest", "Where the built guest image is kept "
        "(the environment variable MONOSTACK_GUEST_CACHE overrides it)."),
)
