"""The agent as a process: `python -m monostack.network.dataplane --config C.json --state S.json`.

Applies the state file (re-read every --interval seconds, and on SIGHUP) and
serves the metadata proxy. SIGTERM/SIGINT stop it without touching the data
plane (guests keep their connectivity); so does SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal

from monostack.network.dataplane.agent import Agent, AgentConfig, ApplyError
from monostack.network.dataplane.desired import HostState

LOG = logging.getLogger("monostack.network.dataplane")


async def main(args: argparse.Namespace) -> None:
    with open(args.config) as f:
        agent = Agent(AgentConfig(**json.load(f)))
    stop = asyncio.Event()
    wake = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, wake.set)
    try:
        while not stop.is_set():
            with open(args.state) as f:
                state = HostState.from_dict(json.load(f))
            try:
                changes = await agent.apply(state)
                print(json.dumps({"applied": changes}), flush=True)
            except ApplyError as exc:
                print(json.dumps({"errors": exc.errors, "applied": exc.changes}), flush=True)
            wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
            await asyncio.wait(waiters, timeout=args.interval, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
    finally:
        await agent.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--interval", type=float, default=30.0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(main(parser.parse_args()))
