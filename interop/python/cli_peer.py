#!/usr/bin/env python3
"""A Python `websockets` server that ends connections in chosen ways, the peer
for the `wsx connect` tests (crates/wsx-cli/tests/connect.rs).

    cli_peer.py --port 0 --mode MODE [ARG...]

Modes, applied to every connection:

    echo                 echo every message with its type
    delay SECS           echo every message SECS seconds after it arrived
    close CODE REASON    on the first message, close with CODE and REASON
    drop                 on the first message, reset the TCP connection (no Close frame)
    bad-frame            on the first message, send a frame with a reserved opcode (0xF)
    headers              first send the request's headers as one JSON text message, then echo

stdout, one JSON object per line, flushed:

    {"listening": PORT}                              once, when ready
    {"kind": "text"|"binary", "len": N}              per message received
    {"closed": {"code": C, "reason": R}}             per connection, the client's Close (1006: none)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys


def emit(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", nargs="+", required=True)
    args = parser.parse_args()
    mode, *mode_args = args.mode

    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed

    async def handler(ws: ServerConnection) -> None:
        try:
            if mode == "headers":
                await ws.send(json.dumps({k.lower(): v for k, v in ws.request.headers.raw_items()}))
            async for message in ws:
                emit({"kind": "text" if isinstance(message, str) else "binary", "len": len(message)})
                if mode == "close":
                    await ws.close(int(mode_args[0]), mode_args[1])
                    break
                if mode == "drop":
                    ws.transport.abort()
                    break
                if mode == "bad-frame":
                    ws.transport.write(b"\x8f\x00")
                    continue
                if mode == "delay":
                    await asyncio.sleep(float(mode_args[0]))
                await ws.send(message)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        emit({"closed": {"code": ws.close_code, "reason": ws.close_reason}})

    async with serve(handler, "127.0.0.1", args.port, compression=None, max_size=None,
                     ping_interval=None, close_timeout=5) as server:
        emit({"listening": server.sockets[0].getsockname()[1]})
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(130)
