"""nftables tables we own, replaced whole and atomically.

A table is (re)written as one `nft -f` transaction: "add table" (so the delete
cannot fail), "delete table", then the new table: packets see either the old
rules or the new ones, never none. Conntrack entries live outside the table,
so established connections survive a rewrite.
"""

from __future__ import annotations

import json
import os

from monostack.network.dataplane import host


def replace_script(family: str, name: str, body: str) -> str:
    return f"add table {family} {name}\ndelete table {family} {name}\ntable {family} {name} {{\n{body}}}\n"


async def load(script: str, netns: str | None = None) -> None:
    await host.run("nft", "-f", "-", input=script.encode(), netns=netns)


async def tables(netns: str | None = None) -> set[tuple[str, str]]:
    out = await host.run("nft", "-j", "list", "tables", netns=netns)
    data = json.loads(out) if out.strip() else {"nftables": []}
    return {(item["table"]["family"], item["table"]["name"])
            for item in data.get("nftables", []) if "table" in item}


async def delete(family: str, name: str, netns: str | None = None) -> None:
    await host.run("nft", "delete", "table", family, name, netns=netns, check=False)


async def count_rules(family: str, name: str, netns: str | None = None) -> int:
    out = await host.run("nft", "-j", "list", "table", family, name, netns=netns, check=False)
    if not out.strip():
        return 0
    return sum(1 for item in json.loads(out).get("nftables", []) if "rule" in item)


def quote(name: str) -> str:
    return '"' + name + '"'


def anon_set(items: list[str] | set[str]) -> str:
    items = sorted(items)
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _record_path(state_dir: str, key: str) -> str:
    return os.path.join(state_dir, "nft", key + ".nft")


async def ensure_table(family: str, name: str, body: str, state_dir: str, key: str,
                       netns: str | None = None) -> bool:
    return await ensure_tables([(family, name, body)], state_dir, key, netns)


async def ensure_tables(specs: list[tuple[str, str, str]], state_dir: str, key: str,
                        netns: str | None = None) -> bool:
    """Load the tables (one transaction) unless they all exist and the script
    we last loaded for them (kept under state_dir, so this holds across agent
    restarts) is the same. True when loaded."""
    script = "".join(replace_script(*spec) for spec in specs)
    path = _record_path(state_dir, key)
    try:
        with open(path) as f:
            same = f.read() == script
    except FileNotFoundError:
        same = False
    if same and {(f, n) for f, n, _ in specs} <= await tables(netns):
        return False
    await load(script, netns)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        f.write(script)
    os.replace(path + ".tmp", path)
    return True


def forget(state_dir: str, key: str) -> None:
    try:
        os.unlink(_record_path(state_dir, key))
    except FileNotFoundError:
        pass
