"""Configuration: one INI file plus environment overrides.

Every option is declared here (or by a service through `register`) with its
type, default and help text, so `monostack config sample` can print a fully
documented file.  Precedence, lowest first: declared default, the file
(`DIR/monostack.conf`, or `--config-file`), then the environment:
`MONOSTACK_<SECTION>__<OPTION>` (upper case, double underscore between the
section and the option), e.g. `MONOSTACK_DATABASE__CONNECTION=postgresql+psycopg://...`.

Defaults may refer to `{data_dir}`; it is substituted when read.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import pathlib
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class Opt:
    name: str
    default: Any
    help: str
    type: Callable[[str], Any] = str


def _bool(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _list(value: str | list) -> list[str]:
    if isinstance(value, list):
        return value
    return [item.strip() for item in value.split(",") if item.strip()]


BOOL, INT, FLOAT, LIST = _bool, int, float, _list

_OPTIONS: dict[str, dict[str, Opt]] = {}


def register(section: str, *opts: Opt) -> None:
    group = _OPTIONS.setdefault(section, {})
    for opt in opts:
        group[opt.name] = opt


register(
    "DEFAULT",
    Opt("bind", "127.0.0.1:5000", "Address and port the API listens on (all services share it, each under its own path)."),
    Opt("public_url", "", "Base URL clients use to reach the API, for the catalog; empty: http://<bind>."),
    Opt("region", "RegionOne", "Region name of this cloud."),
    Opt("host", "", "This host's name in service lists; empty: the machine's hostname."),
    Opt("log_level", "INFO", "Log level: DEBUG, INFO, WARNING, ERROR."),
    Opt("max_request_body_size", 114688, "Largest request body accepted by JSON APIs, in bytes (413 above).", INT),
    Opt("services", "identity,image,placement,compute,network,volume,object", "Services this process runs, comma "
        "separated.", LIST),
    Opt("api_workers", 0, "Threads for blocking work (database, disk); 0: 64.", INT),
)
register(
    "database",
    Opt("connection", "sqlite:///{data_dir}/monostack.db",
        "SQLAlchemy URL of the database; a service's own [<service>] connection overrides it. "
        "e.g. postgresql+psycopg://user@127.0.0.1/monostack, mysql+pymysql://root@127.0.0.1/monostack"),
    Opt("pool_size", 10, "Connections kept open per process (not for SQLite).", INT),
    Opt("busy_timeout", 30, "SQLite: seconds a writer waits for the lock before giving up.", INT),
)
register(
    "bus",
    Opt("url", "memory://", "Message bus: memory:// (in-process) or rabbit://user:password@host:5672/vhost."),
    Opt("heartbeat", 60, "AMQP heartbeat interval in seconds.", INT),
    Opt("control_exchange", "monostack", "Prefix of the RabbitMQ exchanges (<prefix>_rpc, <prefix>_notifications); "
        "every process of one cloud uses the same, two clouds on one broker differ."),
)
register(
    "policy",
    Opt("file", "{data_dir}/policy.yaml", "Operator policy overrides (oslo.policy YAML); a missing file means the defaults."),
    Opt("enforce_scope", False, "Reject tokens whose scope type a rule does not allow.", BOOL),
    Opt("enforce_new_defaults", True, "Use the current default rules (admin/member/reader personas) only.", BOOL),
)


class Section:
    def __init__(self, conf: "Config", name: str):
        self._conf = conf
        self._name = name

    def __getattr__(self, option: str) -> Any:
        return self._conf.get(self._name, option)


class Config:
    def __init__(self, data_dir: str | os.PathLike, config_file: str | os.PathLike | None = None,
                 overrides: dict[str, dict[str, Any]] | None = None, environ: dict[str, str] | None = None):
        self.data_dir = pathlib.Path(data_dir).expanduser().resolve()
        self.config_file = pathlib.Path(config_file) if config_file else self.data_dir / "monostack.conf"
        self._file = configparser.ConfigParser(interpolation=None)
        if self.config_file.exists():
            self._file.read(self.config_file)
        self._overrides = overrides or {}
        self._environ = os.environ if environ is None else environ

    def get(self, section: str, option: str) -> Any:
        opt = _OPTIONS.get(section, {}).get(option)
        if opt is None:
            raise AttributeError(f"no option [{section}] {option}")
        raw: Any = opt.default
        if section in self._overrides and option in self._overrides[section]:
            raw = self._overrides[section][option]
        else:
            env = self._environ.get(f"MONOSTACK_{section.upper()}__{option.upper()}")
            if env is not None:
                raw = env
            elif self._file.has_option(section, option):
                raw = self._file.get(section, option)
        if isinstance(raw, str):
            raw = raw.replace("{data_dir}", str(self.data_dir))
            return opt.type(raw)
        return raw

    def has(self, section: str, option: str) -> bool:
        """True when the file or the environment sets the option explicitly."""
        if option in self._overrides.get(section, {}):
            return True
        if f"MONOSTACK_{section.upper()}__{option.upper()}" in self._environ:
            return True
        return self._file.has_option(section, option)

    def __getattr__(self, section: str) -> Section:
        if section.startswith("_") or section not in _OPTIONS:
            raise AttributeError(section)
        return Section(self, section)

    @property
    def default(self) -> Section:
        return Section(self, "DEFAULT")

    def database_url(self, service: str) -> str:
        """The service's own connection if set, else the shared one."""
        if "connection" in _OPTIONS.get(service, {}) and self.has(service, "connection"):
            return self.get(service, "connection")
        return self.get("database", "connection")


def sample() -> str:
    """A documented configuration file with every option at its default."""
    lines = ["# Monostack configuration. Every option is shown at its default.",
             "# Environment overrides: MONOSTACK_<SECTION>__<OPTION>.", ""]
    for section in sorted(_OPTIONS, key=lambda s: (s != "DEFAULT", s)):
        lines.append(f"[{section}]")
        for opt in _OPTIONS[section].values():
            lines.append(f"# {opt.help}")
            default = ",".join(opt.default) if isinstance(opt.default, list) else opt.default
            if isinstance(default, bool):
                default = str(default).lower()
            lines.append(f"#{opt.name} = {default}")
        lines.append("")
    return "\n".join(lines)


def config_of(conf: Any) -> "Config":
    """The Config a driver was given: a Config, a Section of one, or None (environment and
    defaults only: drivers and tests built without a cloud)."""
    if isinstance(conf, Config):
        return conf
    if conf is not None and isinstance(getattr(conf, "_conf", None), Config):
        return conf._conf
    return Config("/nonexistent", environ=dict(os.environ))
