#!/usr/bin/env python3
"""HTTP/1.1 side of a check of the Autobahn bridge (crates/wsx/examples/
autobahn_bridge.rs) in server mode: Python `websockets` clients, over
HTTP/1.1, through the bridge to an HTTP/2 echo (hypercorn_echo.py).

    bridge_check.py --url ws://127.0.0.1:BRIDGE/echo [--sockets N] [--subprotocol chat]
                    [--refused-url ws://...] [--timeout SECONDS]

Each socket (half offering permessage-deflate, half not) sends binary
messages of 0 B, 10 B, 70 kB and 3 MB and a text message and checks each
echo, checks the agreed subprotocol if --subprotocol is given, then closes
with 1000. With --refused-url, a handshake there must be refused with a 4xx
or 5xx (the target's refusal, passed on).

stdout, one JSON object per line: {"socket": I, "ok": true, "extensions":
E, "subprotocol": S, "close": C} or {"socket": I, "error": "..."}, then
{"summary": {"sockets": N, "ok": K}}. Exit status 0 only if all is well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


async def one(args: argparse.Namespace, i: int) -> bool:
    try:
        kw = {} if i % 2 == 0 else {"compression": None}
        subprotocols = [args.subprotocol] if args.subprotocol else None
        async with connect(f"{args.url}?socket={i}", subprotocols=subprotocols, open_timeout=args.timeout,
                           close_timeout=args.timeout, max_size=None, **kw) as ws:
            if args.subprotocol and ws.subprotocol != args.subprotocol:
                raise AssertionError(f"subprotocol {ws.subprotocol!r}")
            for n in (0, 10, 70_000, 3_000_000):
                data = os.urandom(n)
                await ws.send(data)
                got = await asyncio.wait_for(ws.recv(), args.timeout)
                if got != data:
                    raise AssertionError(f"echo of {n} bytes differs")
            text = f"héllo {i} ✓"
            await ws.send(text)
            if await asyncio.wait_for(ws.recv(), args.timeout) != text:
                raise AssertionError("text echo differs")
        emit({"socket": i, "ok": True, "extensions": ws.response.headers.get("sec-websocket-extensions"),
              "subprotocol": ws.subprotocol, "close": ws.close_code})
        return ws.close_code == 1000
    except Exception as err:  # noqa: BLE001 - every failure is reported
        emit({"socket": i, "error": f"{type(err).__name__}: {err}"})
        return False


async def refused(args: argparse.Namespace) -> bool:
    try:
        async with connect(args.refused_url, open_timeout=args.timeout):
            pass
    except InvalidStatus as err:
        status = err.response.status_code
        emit({"refused": status})
        return 400 <= status < 600
    except Exception as err:  # noqa: BLE001
        emit({"refused": None, "error": f"{type(err).__name__}: {err}"})
        return False
    emit({"refused": None, "error": "accepted"})
    return False


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--subprotocol")
    parser.add_argument("--refused-url")
    parser.add_argument("--timeout", type=float, default=20.0)
    args = parser.parse_args()
    results = await asyncio.gather(*(one(args, i) for i in range(args.sockets)))
    ok = sum(results)
    emit({"summary": {"sockets": args.sockets, "ok": ok}})
    good = ok == args.sockets
    if args.refused_url:
        good = await refused(args) and good
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
