"""The `monostack` command.

  monostack up [--data-dir DIR] [--bind ADDR]   run the whole cloud in the foreground
  monostack network-agent                       run only this host's Networking agent (another host)
  monostack status                              each service: up or down
  monostack db upgrade                          apply database migrations
  monostack identity rotate-keys                rotate the token Fernet keys
  monostack object ring ...                     build the object storage rings (see monostack.object.ring.cli)
  monostack object replicate|audit|update --once  one pass of a storage daemon
  monostack config sample                       print a documented configuration file
  monostack version
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from monostack import __version__


def _conf(args: argparse.Namespace, **overrides: dict) -> "object":
    from monostack.cloud import default_data_dir
    from monostack.common.config import Config
    import monostack.identity.options  # noqa: F401  (registers options)
    import monostack.image.options  # noqa: F401

    data_dir = pathlib.Path(args.data_dir or os.environ.get("MONOSTACK_DATA_DIR") or default_data_dir())
    defaults: dict[str, dict] = {}
    if getattr(args, "bind", None):
        defaults.setdefault("DEFAULT", {})["bind"] = args.bind
    return Config(data_dir, args.config_file, overrides=defaults)


def cmd_up(args: argparse.Namespace) -> int:
    from monostack.cloud import run
    run(_conf(args))  # type: ignore[arg-type]
    return 0


def cmd_network_agent(args: argparse.Namespace) -> int:
    from monostack.network.agent_host import run
    return run(_conf(args))  # type: ignore[arg-type]


def cmd_status(args: argparse.Namespace) -> int:
    import asyncio

    from monostack.cloud import Cloud
    cloud = Cloud(_conf(args))  # type: ignore[arg-type]
    rows, healthy = [], True
    for entry in cloud.catalog_entries():
        ok = asyncio.run(cloud.answers(entry))
        healthy &= ok
        rows.append((entry.name, entry.type, cloud.host, "up" if ok else "down"))
    width = max(len(r[0]) for r in rows)
    print(f"{'Binary'.ljust(width)}  {'Type':<12} {'Host':<16} State")
    for name, kind, host_name, state in rows:
        print(f"{name.ljust(width)}  {kind:<12} {host_name:<16} {state}")
    return 0 if healthy else 1


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from monostack.cloud import Cloud
    from monostack.common.migrate import upgrade
    cloud = Cloud(_conf(args))  # type: ignore[arg-type]
    upgrade(cloud.database("identity"), "identity", args.revision)
    print(f"identity: at {args.revision}")
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    from monostack.identity.fernet import KeyRepository
    conf = _conf(args)
    repo = KeyRepository(conf.identity.fernet_key_repository, conf.identity.max_active_keys)  # type: ignore
    if repo.setup():
        print(f"created the key repository {repo.path}")
    primary = repo.rotate()
    print(f"rotated: key {primary} is now primary in {repo.path}")
    return 0


def cmd_config_sample(args: argparse.Namespace) -> int:
    import importlib
    from monostack.common.config import sample
    for module in ("identity.options", "image.options", "placement.options", "compute.options",
                   "compute.drivers.options", "object.options"):  # every service's options
        importlib.import_module(f"monostack.{module}")
    print(sample())
    return 0


def cmd_version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="monostack", description="An OpenStack-compatible cloud in one process.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="where the cloud keeps its state (default: "
                        "$MONOSTACK_DATA_DIR, else $XDG_DATA_HOME/monostack, else ~/.local/share/monostack)")
    common.add_argument("--config-file", help="configuration file (default: DATA_DIR/monostack.conf)")
    sub = top.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", parents=[common], help="run the whole cloud in the foreground")
    up.add_argument("--bind", help="HOST:PORT the API listens on (default 127.0.0.1:5000)")
    up.set_defaults(func=cmd_up)

    sub.add_parser("network-agent", parents=[common], help="run only this host's Networking agent, which reaches "
                   "the cloud over [bus] url (a host that does not run the cloud)").set_defaults(func=cmd_network_agent)

    status = sub.add_parser("status", parents=[common], help="each service: up or down")
    status.add_argument("--bind", help="HOST:PORT of the running cloud")
    status.set_defaults(func=cmd_status)

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    db_up = db.add_parser("upgrade", parents=[common], help="apply migrations")
    db_up.add_argument("revision", nargs="?", default="head")
    db_up.set_defaults(func=cmd_db_upgrade)

    identity = sub.add_parser("identity", help="identity maintenance").add_subparsers(dest="identity_command",
                                                                                      required=True)
    identity.add_parser("rotate-keys", parents=[common], help="rotate the token Fernet keys").set_defaults(
        func=cmd_rotate_keys)

    config = sub.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    config.add_parser("sample", help="print a documented configuration file").set_defaults(func=cmd_config_sample)

    obj = sub.add_parser("object", help="object storage: rings, replication, auditing").add_subparsers(
        dest="object_command", required=True)
    from monostack.object.ring.cli import add_commands as add_object_storage_commands
    add_object_storage_commands(obj, common)

    sub.add_parser("version", help="print the version").set_defaults(func=cmd_version)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
