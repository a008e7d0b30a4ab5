"""Identity configuration options ([identity] and [security_compliance])."""

from monostack.common.config import BOOL, INT, Opt, register

register(
    "identity",
    Opt("connection", "", "Database URL for Identity alone; empty: [database] connection."),
    Opt("token_expiration", 3600, "Token lifetime in seconds.", INT),
    Opt("allow_expired_window", 172800, "Seconds after expiry during which allow_expired=true still validates a token.",
        INT),
    Opt("fernet_key_repository", "{data_dir}/fernet-keys", "Directory of the token Fernet keys."),
    Opt("credential_key_repository", "{data_dir}/credential-keys", "Directory of the credential encryption keys."),
    Opt("max_active_keys", 3, "Fernet keys kept by rotation (staged + primary + secondaries).", INT),
    Opt("password_hash_rounds", 12, "bcrypt cost of stored password and secret hashes (Keystone's default: 12).", INT),
    Opt("max_password_length", 4096, "Longest password accepted.", INT),
    Opt("list_limit", 0, "Most entities a list returns (0: no limit); a cut list says truncated.", INT),
    Opt("cache_size", 10000, "Validated tokens kept in the validation cache.", INT),
    Opt("trust_enabled", True, "Allow OS-TRUST delegation.", BOOL),
)
register(
    "security_compliance",
    Opt("lockout_failure_attempts", 2, "Failed password attempts before a user is locked out (0: never).", INT),
    Opt("lockout_duration", 10, "Seconds a locked-out user stays locked.", INT),
    Opt("unique_last_password_count", 2, "A new password must differ from this many previous ones (1: only the "
        "current one).", INT),
    Opt("minimum_password_age", 0, "Days a password must be kept before the user may change it.", INT),
    Opt("password_expires_days", 0, "Days after which a password expires (0: never).", INT),
    Opt("password_regex", "", "Regular expression new passwords must match (empty: any)."),
    Opt("password_regex_description", "", "Human description of password_regex, shown on rejection."),
    Opt("change_password_upon_first_use", False, "Users must change a password an admin set before using it.", BOOL),
    Opt("disable_user_account_days_inactive", 0, "Disable users inactive this many days (0: never).", INT),
)
