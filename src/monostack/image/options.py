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
    Opt("enabled_import_methods", "glance-direct,web-download", "Interoperable import methods offered.", LIST),
    Opt("web_download_allowed_urls", "",
        "URL prefixes web-download may fetch from (comma separated, e.g. https://cloud-images.example.org/); "
        "empty: none, web-download refuses every URL.", LIST),
    Opt("fsync", True, "Flush image data to disk before an upload completes.", BOOL),
    Opt("guest_images", True, "Register the project's guest images (monostack-guest, monostack-guest-alt) at "
        "start-up, building the image from Debian packages when it is not cached.", BOOL),
    Opt("guest_cache_dir", "{data_dir}/cache/guest", "Where the built guest image is kept "
        "(the environment variable MONOSTACK_GUEST_CACHE overrides it)."),
)
